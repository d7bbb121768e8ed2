#pragma once
// The master: one arbiter on one io_context. Signals, worker datagrams and reaped children
// only update the worker table or the target; a periodic tick then runs the two duties,
// murder_workers() (deadlines) and manage_workers() (converge on the target), as in
// Gunicorn's arbiter.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "master/listeners.hpp"
#include "master/notify_receiver.hpp"
#include "master/pidfile.hpp"
#include "master/spawner.hpp"
#include "master/supervision_policy.hpp"
#include "master/worker_slot.hpp"
#include "shared/config.hpp"

namespace corral {

class arbiter {
public:
    arbiter(config cfg, config_sources sources);
    ~arbiter();

    /// Binds, spawns and supervises until stopped; returns the exit status (exit_codes.hpp).
    /// Throws when start-up fails (a listener cannot be bound, the worker cannot be run).
    int run();

private:
    enum class phase { running, stopping_gracefully, stopping_quickly };

    void start();
    void do_wait_signal();
    void do_tick();
    void dispatch_signal(int signal_number);
    void on_notify(pid_t sender, std::string_view message);

    void handle_chld();   ///< reap exited workers; replace the ones that died
    void handle_hup();    ///< reload: not in this version, logged and ignored
    void handle_term();   ///< graceful stop: drain, then exit 0
    void handle_int();    ///< quick stop
    void handle_quit();   ///< quick stop
    void handle_ttin();   ///< one worker more
    void handle_ttou();   ///< one worker fewer, never below one
    void handle_usr1();   ///< reopen log files, and tell the workers to
    void handle_usr2();   ///< binary upgrade: not in this version, logged and ignored

    void reap_workers();
    void murder_workers();
    void manage_workers();
    void spawn_worker();
    void retire_worker(worker_slot& slot);
    void signal_worker(worker_slot& slot, int signal_number);
    void note_boot_failure(const worker_slot& slot, int wait_status);
    void begin_stop(phase how, int exit_status);
    worker_slot* find_worker(pid_t pid);

    config cfg_;
    config_sources sources_;
    boost::asio::io_context io_;
    boost::asio::signal_set signals_;
    boost::asio::steady_timer tick_;
    listener_set listeners_;
    std::unique_ptr<notify_receiver> notify_;
    std::unique_ptr<spawner> spawner_;
    std::unique_ptr<pidfile> pidfile_;

    std::vector<worker_slot> workers_;
    supervision_target target_;
    deadlines deadlines_;
    std::mt19937 random_;
    boot_backoff backoff_;

    phase phase_ = phase::running;
    time_point stop_deadline_{};
    int exit_status_ = 0;
    bool any_worker_booted_ = false;
    int first_generation_spawned_ = 0;
    int first_generation_failures_ = 0;
};

}  // namespace corral
