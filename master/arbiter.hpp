#pragma once
// The master: one arbiter on one io_context. Signals, worker datagrams and reaped children
// only update the worker table or the target; a periodic tick then runs the duties,
// murder_workers() (deadlines), recycle_workers() (memory, age) and manage_workers()
// (converge on the target), as in Gunicorn's arbiter.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "master/control_commands.hpp"
#include "master/control_server.hpp"
#include "master/listeners.hpp"
#include "master/metrics_server.hpp"
#include "master/notify_channels.hpp"
#include "master/pidfile.hpp"
#include "master/service_notifier.hpp"
#include "master/spawner.hpp"
#include "master/status_report.hpp"
#include "master/supervision_policy.hpp"
#include "master/upgrade.hpp"
#include "master/worker_slot.hpp"
#include "shared/config.hpp"

namespace corral {

/// What the workers of one generation are started with. A reload makes a new one.
struct generation_spec {
    config cfg;
    listener_set listeners;
    worker_command command;
    std::optional<credentials> run_as;  ///< user and group, when set
};

class arbiter {
  public:
    /// `arguments` is the command line as given (argv[1..]), for a binary upgrade.
    arbiter(config cfg, config_sources sources, std::vector<std::string> arguments);
    ~arbiter();

    /// Binds, spawns and supervises until stopped; returns the exit status (exit_codes.hpp).
    /// Throws when start-up fails (a listener cannot be bound, the worker cannot be run).
    int run();

  private:
    /// `handed_over`: a binary upgrade's new master serves; this one drains its workers
    /// and exits, leaving routing, endpoints, pidfile and systemd to the new one.
    enum class phase { running, stopping_gracefully, stopping_quickly, handed_over };

    /// The new master of a binary upgrade, from its start until it is ready (or fails).
    struct upgrade_child {
        pid_t pid;
        int channel;      ///< its notify socket, for READY=1
        int handover_fd;  ///< write '1' to hand over; closing it says "give up"
        time_point deadline;
        std::vector<control_server::reply> waiters{};  ///< `corral upgrade` clients
        bool killed = false;    ///< signalled by this master (deadline, or stopping)
        std::string failure{};  ///< why, when this master ended it
        bool checking = false;  ///< pid is the new binary's --check-config, not yet a master
    };

    /// A reload under way: what to go back to if the new generation cannot boot.
    struct reload_state {
        int previous_generation;
        int previous_count;
    };

    void start();
    /// The listeners: systemd's, or a previous master's, or bound now.
    void take_listeners(generation_spec& spec);
    /// Closes what a previous master handed over that this configuration does not use.
    void close_unused_inheritance(const generation_spec& spec);
    void adopt_upgraded_workers(const upgrade_state& state);

    // A binary upgrade (arbiter_upgrade.cpp). The old master's side:
    /// Takes $CORRAL_UPGRADE_STATE out of `environment` and puts systemd's settings back.
    static std::optional<upgrade_state> take_upgrade_state(
        std::map<std::string, std::string>& environment);
    /// Whether an upgrade may start now; "" = yes.
    std::string check_upgrade();
    /// USR2 or `corral upgrade`: runs the new binary's --check-config, then (once it exits
    /// 0, finish_binary_check) starts the new master.
    void request_upgrade(std::optional<control_server::reply> waiter);
    void finish_binary_check(int wait_status);
    /// Starts the new master beside this one; returns why it could not ("" when it did).
    std::string start_upgrade();
    void on_new_master_message(std::string_view message);
    void complete_upgrade();
    void drain_after_handover();
    void fail_upgrade(const std::string& why);
    void check_upgrade_deadline();
    /// Whether `pid` was the upgrade's new master (then the upgrade has failed).
    bool reap_upgrade_child(pid_t pid, int wait_status);
    void stop_upgrade(bool quick);
    // The new master's side:
    void await_handover();
    /// READY=1 to the previous master once this one's workers are all ready.
    void tell_predecessor_ready();
    void take_charge();
    void do_wait_signal();
    void do_tick();
    void dispatch_signal(int signal_number);
    void open_notify_channels(const generation_spec& spec);
    /// Opens the control socket and the metrics endpoint `cfg` asks for, keeping those that
    /// did not change and closing the others; throws, changing nothing, if one cannot be bound.
    void open_endpoints(const config& cfg);
    /// The control socket `cfg` asks for (control_socket_location.hpp); "" = none.
    std::string control_socket_for(const config& cfg) const;
    /// Descriptors kept for spawning and hearing workers: the endpoints use the rest.
    int descriptor_reserve() const;
    /// Throws when the workers of `spec` could not reach their notify sockets.
    void check_notify_reachable(const generation_spec& spec) const;
    void on_notify(int channel, std::string_view message);

    void handle_chld();  ///< reap exited workers; replace the ones that died
    void handle_hup();   ///< reload: new config, new generation, then drain the old one
    void handle_term();  ///< graceful stop: drain, then exit 0
    void handle_int();   ///< quick stop
    void handle_quit();  ///< quick stop
    void handle_ttin();  ///< one worker more
    void handle_ttou();  ///< one worker fewer, never below one
    void handle_usr1();  ///< reopen log files, and tell the ready workers to
    void handle_usr2();  ///< binary upgrade: start the binary on disk beside, hand over

    /// What control commands do (control_commands.hpp), in this master's terms.
    control_operations control_hooks();
    /// Makes `count` workers the target (TTIN, TTOU, `corral scale`), while running.
    void scale_to(int count);
    void request_reload(std::optional<control_server::reply> waiter);
    void answer_reload_waiters(const std::string& error);
    supervision_snapshot snapshot() const;
    /// Tells systemd what changed: READY=1 once serving, STATUS=, WATCHDOG=1.
    void report_to_service_manager();
    std::string status_line();

    void reap_workers();
    void murder_workers();
    /// Resets the start backoff once a worker has served for crash_loop_window.
    void note_stable_workers();
    void recycle_workers();
    /// Measures a ready worker's memory (PSS) for recycling, and warns once per generation
    /// when it started above max_worker_memory; false when it could not be measured.
    bool sample_memory(worker_slot& slot);
    void manage_workers();
    void spawn_worker();
    void retire_worker(worker_slot& slot);
    /// Sends new connections of each sharded listener to the shards with a ready worker.
    void route_connections();
    /// Whether a worker is the last ready one on its accept shard, which would be left
    /// with a queue nobody accepts from if it stopped now.
    bool serves_shard_alone(const worker_slot& retiring) const;
    bool uses_a_sharded_listener(const worker_slot& slot) const;
    /// TERM to each retiring worker whose shard queue is empty (or that waited too long).
    void hand_over_shards();
    /// `early`: why TERM comes before the queue is empty; "" = it is empty.
    void hand_over(worker_slot& slot, const std::string& early);
    void signal_worker(worker_slot& slot, int signal_number);
    void note_boot_failure(const worker_slot& slot, int wait_status);
    /// Starts a reload; returns why it could not start ("" when it did).
    std::string start_reload();
    /// A reload's changes to the master's own settings, once nothing can fail any more.
    void apply_master_settings(const generation_spec& current, const generation_spec& next,
                               std::unique_ptr<pidfile> moved_pidfile);
    void finish_reload_if_done();
    void start_coalesced_reload();
    void roll_back(const std::string& why);
    void apply_settings(const config& cfg);
    void forget_unused_generations();
    void begin_stop(phase how, int exit_status);
    worker_slot* find_worker(pid_t pid);
    const generation_spec& target_spec() const { return generations_.at(target_.generation); }

    config_sources sources_;
    std::vector<std::string> arguments_;
    /// What a previous master handed over (binary upgrade); set before systemd_ is made.
    std::optional<upgrade_state> inherited_;
    std::optional<upgrade_child> upgrade_;  ///< the new master, while an upgrade is under way
    std::filesystem::path executable_;      ///< this binary's path, resolved at start
    std::string started_in_;                ///< the working directory before `chdir`
    boost::asio::io_context io_;
    boost::asio::signal_set signals_;
    boost::asio::steady_timer tick_;
    /// Started by a previous master and not yet in charge: serves, but neither routes,
    /// accepts on the control and metrics sockets, writes the pidfile, nor tells systemd.
    struct standby_state {
        std::unique_ptr<boost::asio::posix::stream_descriptor> handover_pipe;
        char handover_byte = 0;  ///< '1' = take charge
        bool told_predecessor = false;
    };
    std::optional<standby_state> standby_;
    std::unique_ptr<notify_channels> notify_;
    std::unique_ptr<pidfile> pidfile_;
    descriptor_budget descriptors_{[this] { return descriptor_reserve(); }};
    control_operations control_hooks_ = control_hooks();
    std::unique_ptr<control_server> control_;
    service_notifier systemd_;
    bool socket_activated_ = false;  ///< listeners came from systemd: `bind` is ignored
    request_rate request_rate_;      ///< for the STATUS= line
    std::unique_ptr<metrics_server> metrics_;

    std::map<int, generation_spec> generations_;
    std::vector<worker_slot> workers_;
    supervision_target target_;
    deadlines deadlines_;
    recycle_limits recycle_limits_;
    std::mt19937 random_;
    boot_backoff backoff_;
    std::optional<reload_state> reload_;
    /// Reloads asked for: `reload --wait` clients of the reload under way, and of one more
    /// that a HUP during it asked for.
    struct {
        std::vector<control_server::reply> waiters;
        bool another_requested = false;
        std::vector<control_server::reply> next_waiters;
    } reload_queue_;
    supervision_counters counters_;
    time_point started_at_ = supervision_clock::now();
    int last_generation_ = 1;
    time_point last_recycle_check_{};
    std::set<int> memory_warned_generations_;  ///< told that workers start above the limit

    phase phase_ = phase::running;
    time_point stop_deadline_{};
    int exit_status_ = 0;
    /// Whether corral ever served, and how the first generation is doing: if none of its
    /// workers can boot, the master stops (exit 3) instead of retrying forever.
    struct {
        bool any_worker_booted = false;
        int first_generation_spawned = 0;
        int first_generation_failures = 0;
    } boots_;
};

}  // namespace corral
