#include "master/arbiter.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <cstring>
#include <set>
#include <system_error>

#include "master/exit_description.hpp"
#include "master/process_memory.hpp"
#include "master/setting_changes.hpp"
#include "master/system_limits.hpp"
#include "shared/exit_codes.hpp"
#include "shared/listen_fds.hpp"
#include "shared/log.hpp"
#include "shared/notify.hpp"
#include "shared/plural.hpp"
#include "shared/worker_signals.hpp"

namespace corral {
namespace {

using namespace std::chrono_literals;

constexpr auto tick_interval = 100ms;
constexpr auto quick_stop_grace = 500ms;  // QUIT, then SIGKILL: the master exits within 1 s
constexpr auto recycle_check_interval = 1s;
/// What systemd is told a stop may take beyond the workers' drain (EXTEND_TIMEOUT_USEC):
/// the master's own exit.
constexpr seconds_f own_exit_allowance{5};

std::string lowercase_signal(int signal_number) {
    std::string name = signal_name(signal_number).substr(3);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return name;
}

long long milliseconds_since(time_point then, time_point now) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - then).count();
}

std::uint64_t parse_counter(std::string_view text) {
    std::uint64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

}  // namespace

arbiter::arbiter(config cfg, config_sources sources, std::vector<std::string> arguments)
    : sources_(std::move(sources)),
      arguments_(std::move(arguments)),
      inherited_(take_upgrade_state(sources_.environment)),
      executable_(std::filesystem::read_symlink("/proc/self/exe")),
      started_in_(std::filesystem::current_path().string()),
      signals_(io_),
      tick_(io_),
      systemd_(sources_.environment),
      random_(std::random_device{}()),
      backoff_([this] { return std::uniform_real_distribution<double>(0, 1)(random_); }) {
    if (inherited_ && inherited_->version >= 2) standby_.emplace();
    pin_config_file(sources_);
    target_.count = cfg.workers;
    apply_settings(cfg);
    generations_[target_.generation].cfg = std::move(cfg);
}

arbiter::~arbiter() = default;

int arbiter::run() {
    start();
    io_.run();
    log::info("Shutting down: Master");
    return exit_status_;
}

void arbiter::start() {
    auto& spec = generations_.at(target_.generation);
    if (!spec.cfg.chdir.empty() && ::chdir(spec.cfg.chdir.c_str()) != 0)
        throw std::system_error(errno, std::generic_category(),
                                "chdir() failed while changing to " + spec.cfg.chdir);
    log::info("Starting corral {}", CORRAL_VERSION);
    ::signal(SIGPIPE, SIG_IGN);  // a closed stderr must not kill the master
    raise_open_files_limit();
    spec.command =
        resolve_worker_command(spec.cfg.worker_command, search_path(sources_.environment));
    spec.run_as = resolve_credentials(spec.cfg.user, spec.cfg.group);
    if (spec.run_as && spec.cfg.errorlog != "-")
        ::fchown(log::descriptor(), spec.run_as->uid, spec.run_as->gid);  // workers reopen it
    if ((!spec.run_as || spec.run_as->uid == 0) && ::geteuid() == 0)
        log::warning("Workers will run as root: set `user` to run them as an unprivileged user");
    take_listeners(spec);
    for (const auto& item : spec.listeners.items()) {
        if (socket_activated_)
            log::info("Listening at: {} (fd {}, named \"{}\" by the service manager)",
                      item->bound_address(), item->fd, item->name);
        else
            log::info("Listening at: {} (fd {}){}", item->bound_address(), item->fd,
                      item->shards ? ", an accept shard per worker" : "");
    }
    if (!spec.cfg.pidfile.empty() && !standby_)
        pidfile_ = std::make_unique<pidfile>(spec.cfg.pidfile);
    open_notify_channels(spec);
    log::info("Using worker: {}", spec.command.executable.string());
    open_endpoints(spec.cfg);
    for (int signal_number :
         {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGTTIN, SIGTTOU, SIGCHLD, SIGUSR1, SIGUSR2})
        signals_.add(signal_number);
    do_wait_signal();
    close_unused_inheritance(spec);
    if (inherited_ && inherited_->version == 1) adopt_upgraded_workers(*inherited_);
    if (standby_) {
        target_.generation = last_generation_ = inherited_->last_generation + 1;
        generations_[target_.generation] = std::move(generations_.begin()->second);
        generations_.erase(generations_.begin());
        if (target_spec().cfg.workers == inherited_->configured_workers)
            target_.count = inherited_->count;  // keep TTIN/TTOU/scale
        apply_settings(target_spec().cfg);
        log::info(
            "Upgrading: this master (pid {}) boots generation {} ({}) beside the previous "
            "one (pid {})",
            ::getpid(), target_.generation, count_of(target_.count, "worker"),
            inherited_->previous_master);
        await_handover();
    }
    manage_workers();
    do_tick();
}

void arbiter::apply_settings(const config& cfg) {
    target_.surge = cfg.max_surge > 0 ? cfg.max_surge : target_.count;
    deadlines_.boot = seconds_f{cfg.boot_timeout};
    deadlines_.heartbeat = seconds_f{cfg.timeout};
    deadlines_.graceful = seconds_f{cfg.graceful_timeout};
    recycle_limits_.max_memory = cfg.max_worker_memory;
    recycle_limits_.max_lifetime = seconds_f{cfg.max_worker_lifetime};
    log::set_level(log::parse_level(cfg.loglevel));
    log::set_format(cfg.log_format);
}

void arbiter::do_wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int signal_number) {
        if (ec) return;
        dispatch_signal(signal_number);
        do_wait_signal();
    });
}

void arbiter::dispatch_signal(int signal_number) {
    if (signal_number != SIGCHLD) log::info("Handling signal: {}", lowercase_signal(signal_number));
    switch (signal_number) {
        case SIGCHLD:
            handle_chld();
            break;
        case SIGHUP:
            handle_hup();
            break;
        case SIGTERM:
            handle_term();
            break;
        case SIGINT:
            handle_int();
            break;
        case SIGQUIT:
            handle_quit();
            break;
        case SIGTTIN:
            handle_ttin();
            break;
        case SIGTTOU:
            handle_ttou();
            break;
        case SIGUSR1:
            handle_usr1();
            break;
        case SIGUSR2:
            handle_usr2();
            break;
    }
}

void arbiter::do_tick() {
    tick_.expires_after(tick_interval);
    tick_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        reap_workers();  // a SIGCHLD can be merged with one already being handled
        hand_over_shards();
        murder_workers();
        note_stable_workers();
        check_upgrade_deadline();
        recycle_workers();
        manage_workers();
        report_to_service_manager();
        do_tick();
    });
}

void arbiter::handle_chld() { reap_workers(); }

void arbiter::handle_hup() { request_reload(std::nullopt); }

void arbiter::handle_term() { begin_stop(phase::stopping_gracefully, exit_code::clean_stop); }

void arbiter::handle_int() { begin_stop(phase::stopping_quickly, exit_code::clean_stop); }

void arbiter::handle_quit() { begin_stop(phase::stopping_quickly, exit_code::clean_stop); }

void arbiter::handle_ttin() { scale_to(target_.count + 1); }

void arbiter::handle_ttou() {
    if (target_.count <= 1 && phase_ == phase::running) {
        log::info("Number of workers stays at 1: TTOU never stops the last worker");
        return;
    }
    scale_to(target_.count - 1);
}

void arbiter::scale_to(int count) {
    if (phase_ != phase::running) return;
    target_.count = count;
    log::info("Number of workers: {}", target_.count);
    manage_workers();
}

void arbiter::handle_usr1() {
    const auto& spec = target_spec();
    if (log::reopen() && spec.cfg.errorlog != "-") {
        if (spec.run_as)  // logrotate made the new file root's
            ::fchown(log::descriptor(), spec.run_as->uid, spec.run_as->gid);
        log::info("Reopened the error log {}", spec.cfg.errorlog);
    }
    // Only ready workers: one still booting may have no handler yet, and USR1 kills it.
    for (auto& slot : workers_)
        if (slot.state == worker_state::ready) signal_worker(slot, SIGUSR1);
}

void arbiter::handle_usr2() { request_upgrade(std::nullopt); }

void arbiter::on_notify(int channel, std::string_view message) {
    if (upgrade_ && channel == upgrade_->channel) return on_new_master_message(message);
    auto found = std::find_if(workers_.begin(), workers_.end(),
                              [channel](const worker_slot& s) { return s.channel == channel; });
    if (found == workers_.end()) return;
    worker_slot* slot = &*found;
    auto now = supervision_clock::now();
    for (auto [key, value] : parse_notify_message(message)) {
        if (key == "READY" && value == "1" && slot->state == worker_state::booting) {
            slot->state = worker_state::ready;
            slot->ready_at = now;
            boots_.any_worker_booted = true;
            log::info("Worker {} ready in {} ms (generation {})", slot->pid,
                      milliseconds_since(slot->spawned_at, now), slot->generation);
            // Its size as it starts serving: what any replacement would be again.
            if (recycle_limits_.max_memory > 0) sample_memory(*slot);
        } else if (key == "WATCHDOG" && value == "1") {
            slot->last_heartbeat = now;  // from a booting worker too: the clock runs from it
        } else if (key == "EXTEND_TIMEOUT_USEC" && slot->state == worker_state::booting) {
            slot->boot_extended_until =
                now + std::chrono::microseconds(static_cast<long long>(parse_counter(value)));
        } else if (key == "X_CORRAL_REQUESTS") {
            slot->requests = parse_counter(value);
        } else if (key == "X_CORRAL_CONNECTIONS") {
            slot->connections = parse_counter(value);
        } else if (key == "X_CORRAL_ACCESS_LOG_DROPPED") {
            slot->access_log_dropped = parse_counter(value);
        } else if (key == "X_CORRAL_FULL") {
            slot->full = value == "1";
        } else if (key == "X_CORRAL_RECYCLE" && slot->replace_reason.empty() && !slot->draining()) {
            slot->replace_reason = value;
            log::info("Worker {} asks to be replaced ({})", slot->pid, value);
        } else if (key == "STATUS") {
            slot->status = value;
        }
    }
    manage_workers();
}

void arbiter::reap_workers() {
    int wait_status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &wait_status, WNOHANG)) > 0) {
        if (reap_upgrade_child(pid, wait_status)) continue;
        auto slot = std::find_if(workers_.begin(), workers_.end(),
                                 [pid](const worker_slot& s) { return s.pid == pid; });
        if (slot == workers_.end()) continue;  // not ours (orphans reaped as PID 1)
        worker_slot gone = std::move(*slot);
        workers_.erase(slot);
        notify_->close(gone.channel);
        counters_.requests_of_exited_workers += gone.requests;
        counters_.access_log_dropped_of_exited_workers += gone.access_log_dropped;
        bool expected = gone.killed || gone.draining();
        if (phase_ == phase::running && !gone.draining())
            ++counters_.restarts[gone.state == worker_state::booting ? "boot_failure"
                                 : gone.aborted_at                   ? "timeout"
                                                                     : "crash"];
        if (gone.state == worker_state::booting && phase_ == phase::running) {
            note_boot_failure(gone, wait_status);
        } else if (expected || phase_ != phase::running) {
            log::info("Worker {} {}", pid, describe_exit(wait_status, expected));
        } else if (auto now = supervision_clock::now(); died_young(gone, now)) {
            auto delay = backoff_.record_failure(now);
            log::error("Worker {} (generation {}) {} {} ms after READY=1; next start in {:.1f} s",
                       pid, gone.generation, describe_exit(wait_status, false),
                       milliseconds_since(*gone.ready_at, now), delay.count());
        } else {
            log::error("Worker {} (generation {}) {}", pid, gone.generation,
                       describe_exit(wait_status, false));
        }
    }
    if (phase_ != phase::running && workers_.empty() && !upgrade_) {
        signals_.cancel();
        tick_.cancel();
        io_.stop();
    } else if (phase_ == phase::running) {
        manage_workers();
        forget_unused_generations();
    }
}

void arbiter::note_boot_failure(const worker_slot& slot, int wait_status) {
    auto how = describe_exit(wait_status, slot.killed);
    if (reload_ && slot.generation == target_.generation) {
        roll_back(fmt::format("worker {} {} before sending READY=1", slot.pid, how));
        return;
    }
    auto delay = backoff_.record_failure(supervision_clock::now());
    log::error("Worker {} failed to boot: it {} before sending READY=1; next start in {:.1f} s",
               slot.pid, how, delay.count());
    if (slot.first_generation && !boots_.any_worker_booted &&
        ++boots_.first_generation_failures >= boots_.first_generation_spawned) {
        log::critical(
            "No worker of the first generation could boot ({} tried); stopping. "
            "Check the worker's output above.",
            boots_.first_generation_spawned);
        begin_stop(phase::stopping_quickly, exit_code::boot_failure);
    }
}

void arbiter::murder_workers() {
    auto now = supervision_clock::now();
    if (phase_ != phase::running && now >= stop_deadline_) {
        for (auto& slot : workers_)
            if (!slot.killed) {
                log::warning("Worker {} still running at the stop deadline; sending SIGKILL",
                             slot.pid);
                signal_worker(slot, SIGKILL);
            }
        return;
    }
    for (const auto& overdue : find_overdue_workers(workers_, deadlines_, now)) {
        worker_slot* slot = find_worker(overdue.pid);
        double waited = overdue.waited.count();
        switch (overdue.reason) {
            case overdue_reason::boot_timeout:
                log::error(
                    "Worker {} did not send READY=1 within {:.0f} s (boot_timeout); "
                    "sending SIGKILL",
                    slot->pid, deadlines_.boot.count());
                break;
            case overdue_reason::heartbeat_timeout:
                log::critical("Worker {} timed out (no heartbeat for {:.0f} s), sending SIGABRT",
                              slot->pid, waited);
                slot->aborted_at = now;
                break;
            case overdue_reason::drain_timeout:
                log::warning(
                    "Worker {} still draining after {:.0f} s (graceful_timeout); "
                    "sending SIGKILL",
                    slot->pid, waited);
                break;
            case overdue_reason::abort_ignored:
                log::error("Worker {} still running {:.0f} s after SIGABRT; sending SIGKILL",
                           slot->pid, waited);
                break;
        }
        signal_worker(*slot, overdue.signal_number);
    }
}

void arbiter::note_stable_workers() {
    auto now = supervision_clock::now();
    for (auto& slot : workers_)
        if (proved_stable(slot, now)) {
            slot.stable = true;
            backoff_.record_boot();
        }
}

void arbiter::recycle_workers() {
    auto now = supervision_clock::now();
    if (phase_ != phase::running || now - last_recycle_check_ < recycle_check_interval) return;
    last_recycle_check_ = now;
    for (auto& slot : workers_) {
        if (slot.draining()) continue;
        if (slot.state != worker_state::ready) {
            slot.memory = proportional_set_size(slot.pid);
            continue;
        }
        if (!sample_memory(slot) || !slot.replace_reason.empty()) continue;
        slot.replace_reason = recycle_reason(slot, recycle_limits_, now);
        if (!slot.replace_reason.empty())
            log::info("Worker {} will be replaced ({})", slot.pid, slot.replace_reason);
    }
}

bool arbiter::sample_memory(worker_slot& slot) {
    auto bytes = proportional_set_size(slot.pid);
    if (!bytes) {
        slot.memory = bytes;
        return false;
    }
    note_memory_sample(slot, *bytes, recycle_limits_.max_memory);
    if (born_over_memory_limit(slot, recycle_limits_.max_memory) &&
        memory_warned_generations_.insert(slot.generation).second)
        log::warning(
            "Worker {} (generation {}) uses {:.1f} MiB from its start, above max_worker_memory "
            "({:.1f} MiB): replacing it would not help, so workers that start above it are not "
            "recycled for memory; raise max_worker_memory",
            slot.pid, slot.generation, static_cast<double>(*bytes) / 1048576,
            recycle_limits_.max_memory / 1048576);
    return true;
}

void arbiter::manage_workers() {
    if (phase_ != phase::running) return;
    auto plan = plan_workers(workers_, target_);
    for (pid_t pid : plan.retire) retire_worker(*find_worker(pid));
    auto now = supervision_clock::now();
    for (int i = 0; i < plan.spawn && backoff_.may_spawn(now); ++i) {
        spawn_worker();
        if (backoff_.consecutive_failures() > 0) break;  // one at a time while failing
    }
    finish_reload_if_done();
    if (!plan.retire.empty()) forget_unused_generations();
    route_connections();
    tell_predecessor_ready();
}

void arbiter::spawn_worker() {
    const auto& spec = target_spec();
    worker_slot slot;
    slot.generation = target_.generation;
    slot.spawned_at = supervision_clock::now();
    slot.first_generation =
        !boots_.any_worker_booted && boots_.first_generation_spawned < spec.cfg.workers;
    slot.shard = choose_shard(workers_, target_, spec.listeners.queued_per_shard());
    if (spec.cfg.max_requests > 0)
        slot.request_limit =
            static_cast<std::uint64_t>(spec.cfg.max_requests) +
            std::uniform_int_distribution<std::uint64_t>(
                0, static_cast<std::uint64_t>(spec.cfg.max_requests_jitter))(random_);
    try {
        slot.channel = notify_->open(spec.run_as);
        auto environment =
            worker_environment(sources_.environment, spec.cfg, spec.listeners,
                               notify_->path(slot.channel), slot.generation, slot.request_limit);
        std::vector<int> listen_fds;
        for (const auto& item : spec.listeners.items())
            listen_fds.push_back(item->fd_for_shard(slot.shard));
        slot.pid = spawn_worker_process(io_, spec.command, listen_fds, std::move(environment),
                                        log::descriptor(), spec.run_as);
    } catch (const std::system_error& e) {
        notify_->close(slot.channel);
        if (!boots_.any_worker_booted) {  // it will not get better by itself: say so and stop
            log::critical("{}", e.what());
            begin_stop(phase::stopping_quickly, exit_code::runtime_failure);
            return;
        }
        auto delay = backoff_.record_failure(slot.spawned_at);
        log::error("{}; next try in {:.1f} s", e.what(), delay.count());
        return;
    }
    if (slot.first_generation) ++boots_.first_generation_spawned;
    log::info("Booting worker with pid: {} (generation {})", slot.pid, slot.generation);
    workers_.push_back(std::move(slot));
}

void arbiter::retire_worker(worker_slot& slot) {
    log::info("Retiring worker {} (generation {}{}{})", slot.pid, slot.generation,
              slot.replace_reason.empty() ? "" : ", ", slot.replace_reason);
    bool hand_over_first = serves_shard_alone(slot);
    slot.state = worker_state::draining;
    slot.draining_since = supervision_clock::now();
    if (hand_over_first) {
        // New connections go elsewhere from now on; it accepts what its shard still holds,
        // then hand_over_shards() tells it to stop.
        slot.handover_since = slot.draining_since;
        route_connections();
        return;
    }
    signal_worker(slot, SIGTERM);
}

void arbiter::signal_worker(worker_slot& slot, int signal_number) {
    if (::kill(slot.pid, signal_number) != 0 && errno != ESRCH)
        log::error("kill({}, {}) failed: {}", slot.pid, signal_name(signal_number),
                   std::strerror(errno));
    if (signal_number == SIGKILL) slot.killed = true;
}

void arbiter::begin_stop(phase how, int exit_status) {
    if (phase_ == phase::stopping_quickly) return;
    bool handed_over = phase_ == phase::handed_over;  // draining already, systemd not ours
    if (how == phase::stopping_gracefully && phase_ != phase::running) return;
    phase_ = how;
    if (!handed_over) exit_status_ = exit_status;
    auto now = supervision_clock::now();
    bool quick = how == phase::stopping_quickly;
    if (!handed_over && !standby_)
        systemd_.stopping(std::chrono::duration_cast<std::chrono::microseconds>(
            (quick ? seconds_f{quick_stop_grace} * 2 : deadlines_.graceful) + own_exit_allowance));
    stop_upgrade(quick);
    stop_deadline_ =
        now + (quick ? to_duration(quick_stop_grace) : to_duration(deadlines_.graceful));
    for (auto& slot : workers_) {
        slot.state = worker_state::draining;
        slot.handover_since.reset();  // every worker serves its shard's queue, then stops
        if (!slot.draining_since) slot.draining_since = now;
        if (quick) {
            signal_worker(slot, SIGQUIT);
        } else if (::sigqueue(slot.pid, SIGTERM, sigval{.sival_int = final_stop_value}) != 0) {
            signal_worker(slot, SIGTERM);  // a final stop: serve what is queued, then drain
        }
    }
    reap_workers();
}

worker_slot* arbiter::find_worker(pid_t pid) {
    for (auto& slot : workers_)
        if (slot.pid == pid) return &slot;
    return nullptr;
}

}  // namespace corral
