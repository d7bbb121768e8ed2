// The arbiter's part in a binary upgrade (upgrade.hpp), on both sides: the old master that
// starts the new binary beside itself and hands over once it is ready, and the new master
// that boots in standby (serving, but routing, listening and telling systemd nothing)
// until it is told to take charge.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/read.hpp>

#include "master/arbiter.hpp"
#include "master/exit_description.hpp"
#include "shared/exit_codes.hpp"
#include "shared/log.hpp"
#include "shared/plural.hpp"

namespace corral {
namespace {

/// How long the new binary's --check-config may take before the upgrade is abandoned.
constexpr std::chrono::seconds binary_check_limit{30};

std::string lookup(const std::map<std::string, std::string>& environment, const char* key) {
    auto found = environment.find(key);
    return found == environment.end() ? "" : found->second;
}

}  // namespace

std::optional<upgrade_state> arbiter::take_upgrade_state(
    std::map<std::string, std::string>& environment) {
    auto found = environment.find(upgrade_state_variable);
    if (found == environment.end()) return std::nullopt;
    auto state = decode_upgrade_state(found->second);
    environment.erase(found);  // not for the workers, nor the next upgrade
    if (state.version == 1) return state;
    // NOTIFY_SOCKET is the previous master's socket for us; systemd's comes back for when
    // we are in charge (and goes on to the next upgrade), with its watchdog.
    state.predecessor_notify_socket = lookup(environment, "NOTIFY_SOCKET");
    environment.erase("NOTIFY_SOCKET");
    environment.erase("WATCHDOG_PID");
    environment.erase("WATCHDOG_USEC");
    if (!state.service_notify_socket.empty())
        environment["NOTIFY_SOCKET"] = state.service_notify_socket;
    if (!state.service_watchdog_usec.empty())
        environment["WATCHDOG_USEC"] = state.service_watchdog_usec;
    return state;
}

std::string arbiter::check_upgrade() {
    std::string problem =
        phase_ != phase::running ? "corral is stopping"
        : reload_                ? "a reload is under way; upgrade when it is complete"
        : upgrade_               ? "an upgrade is under way"
        : standby_               ? "this master is itself still taking over from an upgrade"
        : ::getpid() == 1
            ? "corral is PID 1 here, and the container would end with it after handing over; "
              "start a new container with the new binary instead"
            : "";
    if (!problem.empty()) log::error("Upgrade aborted: {}; this master keeps serving", problem);
    return problem;
}

void arbiter::request_upgrade(std::optional<control_server::reply> waiter) {
    auto problem = check_upgrade();
    if (problem.empty()) {
        // The binary's own --check-config first, in a process of its own: the loop goes on
        // supervising meanwhile, and the reaper hears its exit (finish_binary_check).
        try {
            pid_t pid = start_binary_check(executable_, arguments_, started_in_);
            upgrade_ = upgrade_child{pid, -1, -1, supervision_clock::now() + binary_check_limit};
            upgrade_->checking = true;
            if (waiter) upgrade_->waiters.push_back(std::move(*waiter));
            return;
        } catch (const std::system_error& e) {
            problem = e.what();
            log::error("Upgrade aborted: {}; this master keeps serving", problem);
        }
    }
    if (waiter) (*waiter)({{"ok", false}, {"error", problem}});
}

void arbiter::finish_binary_check(int wait_status) {
    auto waiters = std::move(upgrade_->waiters);
    auto problem = !upgrade_->failure.empty() ? upgrade_->failure
                                              : binary_check_problem(executable_, wait_status);
    upgrade_.reset();
    if (problem.empty() && phase_ != phase::running) problem = "corral is stopping";
    if (!problem.empty()) {
        log::error("Upgrade aborted: {}; this master keeps serving", problem);
    } else if (problem = start_upgrade(); !problem.empty()) {
        log::error("Upgrade failed: {}; this master keeps serving", problem);
    } else {
        upgrade_->waiters = std::move(waiters);
        return;
    }
    for (auto& reply : waiters) reply({{"ok", false}, {"error", problem}});
}

std::string arbiter::start_upgrade() {
    inherited_fds fds;
    upgrade_state state;
    state.last_generation = last_generation_;
    state.target_generation = target_.generation;
    state.count = target_.count;
    state.configured_workers = target_spec().cfg.workers;
    for (const auto& item : target_spec().listeners.items()) {
        handed_listener handed{
            item->address.text, item->name, fds.pass(item->fd), {}, socket_activated_};
        if (item->shards)
            for (int shard : item->shards->extra_fds()) handed.shards.push_back(fds.pass(shard));
        state.listeners.push_back(std::move(handed));
    }
    if (control_) {
        state.control_path = control_->path();
        state.control_fd = fds.pass(control_->native_handle());
    }
    if (metrics_) {
        state.metrics_address = metrics_->address();
        state.metrics_fd = fds.pass(metrics_->native_handle());
    }
    int pipe_ends[2];
    if (::pipe2(pipe_ends, O_CLOEXEC) != 0)
        return std::string("pipe2() failed while preparing the upgrade: ") + std::strerror(errno);
    state.handover_fd = fds.pass(pipe_ends[0]);
    state.previous_master = ::getpid();
    state.service_notify_socket = lookup(sources_.environment, "NOTIFY_SOCKET");
    state.service_watchdog_usec = lookup(sources_.environment, "WATCHDOG_USEC");

    int channel = notify_->open(std::nullopt);
    std::vector<std::string> environment;
    for (const auto& [key, value] : sources_.environment)
        if (!key.starts_with("LISTEN_") && !key.starts_with("WATCHDOG_") && key != "NOTIFY_SOCKET")
            environment.push_back(key + "=" + value);
    environment.push_back("NOTIFY_SOCKET=" + notify_->path(channel));
    environment.push_back(std::string(upgrade_state_variable) + "=" + encode_upgrade_state(state));
    pid_t pid = 0;
    try {
        pid = spawn_new_master(executable_, arguments_, environment, fds.fds(), started_in_);
    } catch (const std::system_error& e) {
        notify_->close(channel);
        ::close(pipe_ends[0]);
        ::close(pipe_ends[1]);
        return e.what();
    }
    ::close(pipe_ends[0]);
    auto limit = new_master_deadline(target_spec().cfg.boot_timeout);
    upgrade_ =
        upgrade_child{pid, channel, pipe_ends[1], supervision_clock::now() + to_duration(limit)};
    log::info(
        "Upgrading: started {} as pid {}; this master serves until it is ready (at most "
        "{:.0f} s)",
        executable_.string(), pid, limit.count());
    return "";
}

namespace {

/// Whether `pid`, a child, has exited: it is left to the reaper (WNOWAIT).
bool has_exited(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
}

}  // namespace

void arbiter::on_new_master_message(std::string_view message) {
    for (auto [key, value] : parse_notify_message(message))
        if (key == "READY" && value == "1") return complete_upgrade();
}

void arbiter::complete_upgrade() {
    // It may have died since it said READY=1: then its exit, not yet reaped, is the answer.
    if (upgrade_->killed || has_exited(upgrade_->pid)) return;
    log::info("Upgrade: the new master (pid {}) is ready; handing over to it", upgrade_->pid);
    systemd_.main_pid(upgrade_->pid);  // before the new master speaks to systemd as main pid
    if (::write(upgrade_->handover_fd, "1", 1) != 1) {
        systemd_.main_pid(::getpid());
        upgrade_->failure =
            fmt::format("write() failed while handing over to the new master (pid {}): {}",
                        upgrade_->pid, std::strerror(errno));
        upgrade_->killed = true;
        ::kill(upgrade_->pid, SIGKILL);  // reaped, then fail_upgrade() with this reason
        return;
    }
    upgrade_child child = std::move(*upgrade_);
    upgrade_.reset();
    notify_->close(child.channel);
    ::close(child.handover_fd);
    for (auto& reply : child.waiters)
        reply({{"ok", true}, {"pid", child.pid}, {"generation", last_generation_ + 1}});
    if (control_) control_->hand_over();  // the file is the new master's now
    control_.reset();
    metrics_.reset();
    for (const auto& [number, spec] : generations_) spec.listeners.release_socket_files();
    if (pidfile_) pidfile_->release();
    drain_after_handover();
}

void arbiter::drain_after_handover() {
    auto now = supervision_clock::now();
    phase_ = phase::handed_over;
    exit_status_ = exit_code::clean_stop;
    stop_deadline_ = now + to_duration(deadlines_.graceful + shard_handover_limit);
    for (auto& slot : workers_) {
        if (slot.draining()) continue;
        slot.state = worker_state::draining;
        slot.draining_since = now;
        // Each stops once the new master's worker on its shard has taken the queue.
        if (uses_a_sharded_listener(slot))
            slot.handover_since = now;
        else
            signal_worker(slot, SIGTERM);
    }
    log::info("Draining {}; then this master exits",
              count_of(static_cast<long long>(workers_.size()), "worker"));
    reap_workers();
}

void arbiter::fail_upgrade(const std::string& why) {
    upgrade_child child = std::move(*upgrade_);
    upgrade_.reset();
    notify_->close(child.channel);
    ::close(child.handover_fd);  // EOF: a new master still alive gives up
    log::error("Upgrade failed: {}; this master keeps serving", why);
    for (auto& reply : child.waiters) reply({{"ok", false}, {"error", why}});
}

void arbiter::check_upgrade_deadline() {
    if (!upgrade_ || upgrade_->killed || supervision_clock::now() < upgrade_->deadline) return;
    upgrade_->failure =
        upgrade_->checking
            ? fmt::format("{} --check-config did not finish within {} s", executable_.string(),
                          binary_check_limit.count())
            : fmt::format("the new master (pid {}) was not ready within {:.0f} s", upgrade_->pid,
                          new_master_deadline(target_spec().cfg.boot_timeout).count());
    upgrade_->killed = true;
    ::kill(upgrade_->pid, SIGKILL);  // its workers get SIGTERM (parent-death signal)
}

bool arbiter::reap_upgrade_child(pid_t pid, int wait_status) {
    if (!upgrade_ || pid != upgrade_->pid) return false;
    if (upgrade_->checking) {
        finish_binary_check(wait_status);
        return true;
    }
    fail_upgrade(!upgrade_->failure.empty()
                     ? upgrade_->failure
                     : fmt::format("the new master (pid {}) {} before it was ready", pid,
                                   describe_exit(wait_status, false)));
    return true;
}

void arbiter::stop_upgrade(bool quick) {
    if (!upgrade_ || upgrade_->killed) return;
    upgrade_->failure = "corral is stopping";
    upgrade_->killed = true;
    ::kill(upgrade_->pid, upgrade_->checking ? SIGKILL : quick ? SIGQUIT : SIGTERM);
}

void arbiter::await_handover() {
    standby_->handover_pipe =
        std::make_unique<boost::asio::posix::stream_descriptor>(io_, inherited_->handover_fd);
    standby_->handover_pipe->async_read_some(
        boost::asio::buffer(&standby_->handover_byte, 1),
        [this](boost::system::error_code ec, std::size_t) {
            if (ec == boost::asio::error::operation_aborted) return;
            if (!ec && standby_->handover_byte == '1') return take_charge();
            log::error(
                "The previous master (pid {}) gave up on this upgrade or is gone; "
                "stopping",
                inherited_->previous_master);
            begin_stop(phase::stopping_gracefully, exit_code::runtime_failure);
        });
}

void arbiter::tell_predecessor_ready() {
    if (!standby_ || standby_->told_predecessor || !replacement_complete(workers_, target_)) return;
    standby_->told_predecessor = true;
    log::info("Ready with {}: asking the previous master (pid {}) to hand over",
              count_of(target_.count, "worker"), inherited_->previous_master);
    notifier(inherited_->predecessor_notify_socket).send("READY=1\nSTATUS=" + status_line());
}

void arbiter::take_charge() {
    standby_.reset();
    const auto& cfg = target_spec().cfg;
    try {
        if (!cfg.pidfile.empty())
            pidfile_ = std::make_unique<pidfile>(cfg.pidfile, inherited_->previous_master);
    } catch (const std::exception& e) {
        log::error("{}", e.what());  // serving matters more than the pidfile
    }
    if (control_) control_->start();
    if (metrics_) metrics_->start();
    route_connections();
    log::info(
        "Upgrade complete: this master (pid {}) serves generation {}; the previous master "
        "(pid {}) drains its workers",
        ::getpid(), target_.generation, inherited_->previous_master);
    report_to_service_manager();
}

void arbiter::close_unused_inheritance(const generation_spec& spec) {
    if (!inherited_) return;
    const auto& used = spec.listeners.items();
    for (const auto& kept : inherited_->listeners) {
        if (std::any_of(used.begin(), used.end(), [&](const auto& l) { return l->fd == kept.fd; }))
            continue;
        ::close(kept.fd);  // no longer in the configuration
        for (int shard : kept.shards) ::close(shard);
    }
    for (int* fd : {&inherited_->control_fd, &inherited_->metrics_fd})
        if (*fd >= 0) ::close(std::exchange(*fd, -1));  // not taken by open_endpoints
}

void arbiter::adopt_upgraded_workers(const upgrade_state& state) {
    // A build that executed the new binary in place (state version 1) kept its workers as
    // children of this process: adopt them, and replace them as a reload would.
    auto now = supervision_clock::now();
    for (const auto& adopted : state.workers) {
        worker_slot slot;
        slot.pid = adopted.pid;
        slot.generation = adopted.generation;
        slot.state = adopted.ready ? worker_state::ready : worker_state::booting;
        slot.spawned_at = now - to_duration(seconds_f{adopted.age_seconds});
        slot.shard = adopted.shard;
        slot.full = adopted.full;
        workers_.push_back(slot);
    }
    boots_.any_worker_booted = true;
    // The old generation's spec is this one (its own is gone with the old image): enough to
    // roll back to, with this binary's worker.
    generation_spec spec = std::move(generations_.at(target_.generation));
    generations_.clear();
    generations_[state.target_generation] = spec;
    target_.generation = last_generation_ = state.last_generation + 1;
    generations_[target_.generation] = std::move(spec);
    reload_ = reload_state{state.target_generation, state.count};
    target_.count = state.count;
    apply_settings(target_spec().cfg);
    log::info("Upgraded in place: generation {} ({}) replaces generation {} ({} adopted)",
              target_.generation, count_of(target_.count, "worker"), state.target_generation,
              state.workers.size());
}

}  // namespace corral
