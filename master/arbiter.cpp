#include "master/arbiter.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <system_error>

#include "master/exit_description.hpp"
#include "master/system_limits.hpp"
#include "shared/exit_codes.hpp"
#include "shared/log.hpp"
#include "shared/notify.hpp"

namespace corral {
namespace {

using namespace std::chrono_literals;

constexpr auto tick_interval = 100ms;
constexpr auto quick_stop_grace = 500ms;  // QUIT, then SIGKILL: the master exits within 1 s

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

arbiter::arbiter(config cfg, config_sources sources)
    : cfg_(std::move(cfg)),
      sources_(std::move(sources)),
      signals_(io_),
      tick_(io_),
      random_(std::random_device{}()),
      backoff_([this] { return std::uniform_real_distribution<double>(0, 1)(random_); }) {
    target_.count = cfg_.workers;
    deadlines_.boot = seconds_f{cfg_.boot_timeout};
    deadlines_.heartbeat = seconds_f{cfg_.timeout};
    deadlines_.graceful = seconds_f{cfg_.graceful_timeout};
}

arbiter::~arbiter() = default;

int arbiter::run() {
    start();
    io_.run();
    log::info("Shutting down: Master");
    return exit_status_;
}

void arbiter::start() {
    if (!cfg_.chdir.empty() && ::chdir(cfg_.chdir.c_str()) != 0)
        throw std::system_error(errno, std::generic_category(),
                                "chdir() failed while changing to " + cfg_.chdir);
    log::info("Starting corral {}", CORRAL_VERSION);
    ::signal(SIGPIPE, SIG_IGN);  // a closed stderr must not kill the master
    raise_open_files_limit();
    auto path = sources_.environment.count("PATH") ? sources_.environment.at("PATH") : "";
    spawner_ = std::make_unique<spawner>(io_, resolve_worker_command(cfg_.worker_command, path));
    listeners_ = listener_set::bind_all(cfg_.bind, cfg_.backlog);
    for (const auto& item : listeners_.items())
        log::info("Listening at: {} (fd {})", item.address.display(), item.fd);
    if (!cfg_.pidfile.empty()) pidfile_ = std::make_unique<pidfile>(cfg_.pidfile);
    notify_ = std::make_unique<notify_receiver>(io_);
    notify_->start([this](pid_t sender, std::string_view message) { on_notify(sender, message); });
    log::info("Using worker: {}", spawner_->command().executable.string());
    for (int signal_number : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGTTIN, SIGTTOU, SIGCHLD,
                              SIGUSR1, SIGUSR2})
        signals_.add(signal_number);
    do_wait_signal();
    manage_workers();
    do_tick();
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
        case SIGCHLD: handle_chld(); break;
        case SIGHUP: handle_hup(); break;
        case SIGTERM: handle_term(); break;
        case SIGINT: handle_int(); break;
        case SIGQUIT: handle_quit(); break;
        case SIGTTIN: handle_ttin(); break;
        case SIGTTOU: handle_ttou(); break;
        case SIGUSR1: handle_usr1(); break;
        case SIGUSR2: handle_usr2(); break;
    }
}

void arbiter::do_tick() {
    tick_.expires_after(tick_interval);
    tick_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        reap_workers();  // a SIGCHLD can be merged with one already being handled
        murder_workers();
        manage_workers();
        do_tick();
    });
}

void arbiter::handle_chld() { reap_workers(); }

void arbiter::handle_hup() {
    log::warning("Reloading is not available in this version; the workers keep running");
}

void arbiter::handle_term() { begin_stop(phase::stopping_gracefully, exit_code::clean_stop); }

void arbiter::handle_int() { begin_stop(phase::stopping_quickly, exit_code::clean_stop); }

void arbiter::handle_quit() { begin_stop(phase::stopping_quickly, exit_code::clean_stop); }

void arbiter::handle_ttin() {
    if (phase_ != phase::running) return;
    ++target_.count;
    log::info("Number of workers: {}", target_.count);
    manage_workers();
}

void arbiter::handle_ttou() {
    if (phase_ != phase::running) return;
    if (target_.count <= 1) {
        log::info("Number of workers stays at 1: TTOU never stops the last worker");
        return;
    }
    --target_.count;
    log::info("Number of workers: {}", target_.count);
    manage_workers();
}

void arbiter::handle_usr1() {
    log::reopen();
    for (auto& slot : workers_) signal_worker(slot, SIGUSR1);
}

void arbiter::handle_usr2() {
    log::warning("Binary upgrade is not available in this version; nothing changed");
}

void arbiter::on_notify(pid_t sender, std::string_view message) {
    worker_slot* slot = find_worker(sender);
    if (!slot) {
        log::debug("Dropped a notification from pid {}: not a worker", sender);
        return;
    }
    auto now = supervision_clock::now();
    for (auto [key, value] : parse_notify_message(message)) {
        if (key == "READY" && value == "1" && slot->state == worker_state::booting) {
            slot->state = worker_state::ready;
            slot->ready_at = now;
            any_worker_booted_ = true;
            backoff_.record_boot();
            log::info("Worker {} ready in {} ms (generation {})", slot->pid,
                      milliseconds_since(slot->spawned_at, now), slot->generation);
        } else if (key == "WATCHDOG" && value == "1") {
            slot->last_heartbeat = now;
        } else if (key == "X_CORRAL_REQUESTS") {
            slot->requests = parse_counter(value);
        } else if (key == "X_CORRAL_CONNECTIONS") {
            slot->connections = parse_counter(value);
        } else if (key == "STATUS") {
            slot->status = value;
        }
    }
}

void arbiter::reap_workers() {
    int wait_status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &wait_status, WNOHANG)) > 0) {
        auto slot = std::find_if(workers_.begin(), workers_.end(),
                                 [pid](const worker_slot& s) { return s.pid == pid; });
        if (slot == workers_.end()) continue;  // not ours (orphans reaped as PID 1)
        bool expected = slot->killed || slot->state == worker_state::draining;
        if (slot->state == worker_state::booting && phase_ == phase::running) {
            note_boot_failure(*slot, wait_status);
        } else if (expected || phase_ != phase::running) {
            log::info("Worker {} {}", pid, describe_exit(wait_status, expected));
        } else {
            log::error("Worker {} (generation {}) {}", pid, slot->generation,
                       describe_exit(wait_status, false));
        }
        workers_.erase(slot);
    }
    if (phase_ != phase::running && workers_.empty()) {
        signals_.cancel();
        tick_.cancel();
        io_.stop();
    } else if (phase_ == phase::running) {
        manage_workers();
    }
}

void arbiter::note_boot_failure(const worker_slot& slot, int wait_status) {
    auto delay = backoff_.record_failure(supervision_clock::now());
    log::error("Worker {} failed to boot: it {} before sending READY=1; next start in {:.1f} s",
               slot.pid, describe_exit(wait_status, slot.killed), delay.count());
    if (slot.first_generation && !any_worker_booted_ &&
        ++first_generation_failures_ >= first_generation_spawned_) {
        log::critical("No worker of the first generation could boot ({} tried); stopping. "
                      "Check the worker's output above.",
                      first_generation_spawned_);
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
                log::error("Worker {} did not send READY=1 within {:.0f} s (boot_timeout); "
                           "sending SIGKILL", slot->pid, waited);
                break;
            case overdue_reason::heartbeat_timeout:
                log::critical("Worker {} timed out (no heartbeat for {:.0f} s), sending SIGABRT",
                              slot->pid, waited);
                slot->aborted_at = now;
                break;
            case overdue_reason::drain_timeout:
                log::warning("Worker {} still draining after {:.0f} s (graceful_timeout); "
                             "sending SIGKILL", slot->pid, waited);
                break;
            case overdue_reason::abort_ignored:
                log::error("Worker {} still running {:.0f} s after SIGABRT; sending SIGKILL",
                           slot->pid, waited);
                break;
        }
        signal_worker(*slot, overdue.signal_number);
    }
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
}

void arbiter::spawn_worker() {
    worker_slot slot;
    slot.generation = target_.generation;
    slot.spawned_at = supervision_clock::now();
    slot.first_generation = !any_worker_booted_ && first_generation_spawned_ < cfg_.workers;
    try {
        slot.pid = spawner_->spawn(
            listeners_,
            worker_environment(sources_.environment, cfg_, listeners_, notify_->address(),
                               slot.generation),
            log::descriptor());
    } catch (const std::system_error& e) {
        auto delay = backoff_.record_failure(slot.spawned_at);
        log::error("{}; next try in {:.1f} s", e.what(), delay.count());
        return;
    }
    if (slot.first_generation) ++first_generation_spawned_;
    log::info("Booting worker with pid: {} (generation {})", slot.pid, slot.generation);
    workers_.push_back(std::move(slot));
}

void arbiter::retire_worker(worker_slot& slot) {
    log::info("Retiring worker {} (generation {})", slot.pid, slot.generation);
    slot.state = worker_state::draining;
    slot.draining_since = supervision_clock::now();
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
    if (phase_ == phase::stopping_gracefully && how == phase::stopping_gracefully) return;
    phase_ = how;
    exit_status_ = exit_status;
    auto now = supervision_clock::now();
    bool quick = how == phase::stopping_quickly;
    stop_deadline_ = now + (quick ? std::chrono::duration_cast<supervision_clock::duration>(
                                        quick_stop_grace)
                                  : std::chrono::duration_cast<supervision_clock::duration>(
                                        deadlines_.graceful));
    for (auto& slot : workers_) {
        slot.state = worker_state::draining;
        if (!slot.draining_since) slot.draining_since = now;
        signal_worker(slot, quick ? SIGQUIT : SIGTERM);
    }
    reap_workers();
}

worker_slot* arbiter::find_worker(pid_t pid) {
    for (auto& slot : workers_)
        if (slot.pid == pid) return &slot;
    return nullptr;
}

}  // namespace corral
