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

std::string search_path(const config_sources& sources) {
    auto found = sources.environment.find("PATH");
    return found == sources.environment.end() ? "" : found->second;
}

/// Makes the config file's path absolute, so that reloads after `chdir` read the same file
/// (and ./corral.toml is the one found at start, or none).
void pin_config_file(config_sources& sources) {
    if (sources.file) {
        sources.file = std::filesystem::absolute(*sources.file);
    } else if (sources.look_for_default_file) {
        if (std::filesystem::exists("corral.toml"))
            sources.file = std::filesystem::absolute("corral.toml");
        sources.look_for_default_file = false;
    }
}

bind_options listener_options(const config& cfg) {
    bind_options options{
        cfg.backlog, cfg.reuse_port, {static_cast<unsigned>(cfg.socket_mode), -1, -1}};
    if (auto owner = resolve_owner(cfg.socket_owner)) {
        options.socket_files.uid = owner->uid;
        options.socket_files.gid = owner->gid;
    }
    return options;
}

/// Connections waiting in each accept shard, all sharded listeners together.
std::vector<int> queued_per_shard(const listener_set& listeners) {
    std::vector<int> queued;
    for (const auto& item : listeners.items()) {
        if (!item->shards) continue;
        queued.resize(std::max(queued.size(), static_cast<std::size_t>(item->shards->count())));
        for (int shard = 0; shard < item->shards->count(); ++shard)
            queued[static_cast<std::size_t>(shard)] += item->shards->queued(shard);
    }
    return queued;
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
    standby_ = inherited_ && inherited_->version >= 2;
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
    spec.command = resolve_worker_command(spec.cfg.worker_command, search_path(sources_));
    spec.run_as = resolve_credentials(spec.cfg.user, spec.cfg.group);
    if (spec.run_as && spec.cfg.errorlog != "-")
        ::fchown(log::descriptor(), spec.run_as->uid, spec.run_as->gid);  // workers reopen it
    if ((!spec.run_as || spec.run_as->uid == 0) && ::geteuid() == 0)
        log::warning("Workers will run as root: set `user` to run them as an unprivileged user");
    take_listeners(spec);
    for (const auto& item : spec.listeners.items()) {
        if (socket_activated_)
            log::info("Listening at: {} (fd {}, named \"{}\" by the service manager)",
                      item->address.display(), item->fd, item->name);
        else
            log::info("Listening at: {} (fd {}){}", item->address.display(), item->fd,
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

void arbiter::take_listeners(generation_spec& spec) {
    std::vector<std::pair<int, std::string>> activated;
    if (inherited_) {
        for (const auto& item : inherited_->listeners)
            if (item.from_service_manager) activated.emplace_back(item.fd, item.name);
    } else {
        for (const auto& socket : take_listen_fds()) activated.emplace_back(socket.fd, socket.name);
    }
    if (!activated.empty()) {
        spec.listeners = listener_set::adopt(activated);
        socket_activated_ = true;
        log::info("Using {} socket(s) from the service manager (LISTEN_FDS); `bind` is ignored",
                  activated.size());
        return;
    }
    auto inherited =
        inherited_ ? inherited_listeners(*inherited_) : std::map<std::string, inherited_listener>{};
    spec.listeners = listener_set::bind_all(spec.cfg.bind, listener_options(spec.cfg), nullptr,
                                            inherited_ ? &inherited : nullptr);
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

void arbiter::open_endpoints(const config& cfg) {
    auto runtime_directory = sources_.environment.count("RUNTIME_DIRECTORY")
                                 ? sources_.environment.at("RUNTIME_DIRECTORY")
                                 : "";
    auto path = control_socket_path(cfg.control_socket, cfg.pidfile, runtime_directory);
    // A previous master's sockets, when this one is its upgrade and the address is the same.
    auto handed = [&](const std::string& wanted, const std::string& given, int& fd) {
        return inherited_ && wanted == given ? std::exchange(fd, -1) : -1;
    };
    std::unique_ptr<control_server> control;
    if (!path.empty() && (!control_ || control_->path() != path))
        control = std::make_unique<control_server>(
            io_, path,
            [this](const boost::json::object& request, control_server::reply reply) {
                handle_control(request, std::move(reply));
            },
            descriptors_,
            inherited_ ? handed(path, inherited_->control_path, inherited_->control_fd) : -1);
    std::unique_ptr<metrics_server> metrics;
    if (!cfg.metrics_bind.empty() && (!metrics_ || metrics_->address() != cfg.metrics_bind))
        metrics = std::make_unique<metrics_server>(
            io_, cfg.metrics_bind, [this] { return metrics_text(snapshot()); }, descriptors_,
            max_control_connections,
            inherited_
                ? handed(cfg.metrics_bind, inherited_->metrics_address, inherited_->metrics_fd)
                : -1);
    // Both are bound: nothing can fail from here on.
    if (path.empty() && control_) log::info("Control socket {} closed", control_->path());
    if (control) {
        control_ = std::move(control);
        if (!standby_) control_->start();
        log::info("Control socket: {}", path);
    } else if (path.empty()) {
        control_.reset();
    }
    if (cfg.metrics_bind.empty() && metrics_)
        log::info("Metrics at {} closed", metrics_->address());
    if (metrics) {
        metrics_ = std::move(metrics);
        if (!standby_) metrics_->start();
    } else if (cfg.metrics_bind.empty()) {
        metrics_.reset();
    }
}

int arbiter::descriptor_reserve() const {
    // Per worker that may be starting: its notify socket, and the pipe and pidfd of the
    // spawn; plus the master's own files.
    return 16 + 2 * (target_.count + target_.surge);
}

void arbiter::open_notify_channels(const generation_spec& spec) {
    notify_ = std::make_unique<notify_channels>(
        io_, spec.cfg.worker_tmp_dir, sources_.environment,
        [this](int channel, std::string_view message) { on_notify(channel, message); });
    check_notify_reachable(spec);
    log::debug("Notify sockets in {}", notify_->directory());
}

void arbiter::check_notify_reachable(const generation_spec& spec) const {
    if (!spec.run_as) return;
    if (auto why = unreachable_reason(notify_->directory(), *spec.run_as); !why.empty())
        throw std::runtime_error(fmt::format(
            "worker_tmp_dir: workers running as {} could not reach their notify sockets in {}: "
            "{}; set worker_tmp_dir to a directory they can reach",
            spec.run_as->name, notify_->directory(), why));
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
    any_worker_booted_ = true;
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

void arbiter::request_reload(std::optional<control_server::reply> waiter) {
    if (phase_ != phase::running) {
        if (waiter) (*waiter)({{"ok", false}, {"error", "corral is stopping"}});
        return;
    }
    if (upgrade_ || standby_) {
        auto problem = upgrade_ ? "an upgrade is under way; reload when it is complete"
                                : "this master is still taking over from an upgrade";
        log::error("Reload refused: {}", problem);
        if (waiter) (*waiter)({{"ok", false}, {"error", problem}});
        return;
    }
    if (reload_) {
        reload_requested_ = true;
        if (waiter) next_reload_waiters_.push_back(std::move(*waiter));
        log::info("A reload is under way; one more will follow it with the newest config");
        return;
    }
    if (waiter) reload_waiters_.push_back(std::move(*waiter));
    if (auto error = start_reload(); !error.empty()) answer_reload_waiters(error);
}

void arbiter::answer_reload_waiters(const std::string& error) {
    boost::json::object answer{{"ok", error.empty()}, {"generation", target_.generation}};
    if (!error.empty()) answer["error"] = error;
    for (auto& reply : std::exchange(reload_waiters_, {})) reply(answer);
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

std::string arbiter::start_reload() {
    const generation_spec& current = target_spec();
    generation_spec next;
    std::unique_ptr<pidfile> moved_pidfile;
    try {
        next.cfg = load_config(sources_);
        working_directory_change directory(next.cfg.chdir, started_in_);
        next.command = resolve_worker_command(next.cfg.worker_command, search_path(sources_));
        next.run_as = resolve_credentials(next.cfg.user, next.cfg.group);
        check_notify_reachable(next);
        next.listeners = socket_activated_
                             ? current.listeners
                             : listener_set::bind_all(next.cfg.bind, listener_options(next.cfg),
                                                      &current.listeners);
        if (!next.cfg.pidfile.empty() && next.cfg.pidfile != current.cfg.pidfile)
            moved_pidfile = std::make_unique<pidfile>(next.cfg.pidfile);
        open_endpoints(next.cfg);  // last: it changes them once nothing else can fail
        directory.keep();
    } catch (const std::exception& e) {
        log::error("Reload failed: {}; generation {} keeps serving", e.what(), target_.generation);
        ++counters_.failed_reloads;
        return e.what();
    }
    apply_master_settings(current, next, std::move(moved_pidfile));
    reload_ = reload_state{target_.generation, target_.count};
    if (next.cfg.workers != current.cfg.workers) target_.count = next.cfg.workers;
    apply_settings(next.cfg);
    target_.generation = ++last_generation_;
    for (const auto& item : next.listeners.items())
        if (std::find(current.listeners.items().begin(), current.listeners.items().end(), item) ==
            current.listeners.items().end())
            log::info("Listening at: {} (fd {}), from generation {} on", item->address.display(),
                      item->fd, target_.generation);
    generations_[target_.generation] = std::move(next);
    log::info("Reloading: generation {} ({}) replaces generation {}", target_.generation,
              count_of(target_.count, "worker"), reload_->previous_generation);
    systemd_.reloading();
    manage_workers();
    return "";
}

void arbiter::apply_master_settings(const generation_spec& current, const generation_spec& next,
                                    std::unique_ptr<pidfile> moved_pidfile) {
    const config &before = current.cfg, &after = next.cfg;
    log_setting_changes(before, after);
    if (after.pidfile != before.pidfile) pidfile_ = std::move(moved_pidfile);  // old one removed
    if (after.umask != before.umask) ::umask(static_cast<mode_t>(after.umask));
    if (after.errorlog != before.errorlog) {
        try {
            log::open(after.errorlog);
        } catch (const std::system_error& e) {
            log::error("{}; the error log stays where it was", e.what());
        }
    }
    if (after.worker_tmp_dir != before.worker_tmp_dir)
        log::warning(
            "Reload: worker_tmp_dir takes effect at the next start or binary upgrade; "
            "notify sockets stay in {} until then",
            notify_->directory());
    std::vector<const listener*> kept;
    for (const auto& item : next.listeners.items())
        if (std::find(current.listeners.items().begin(), current.listeners.items().end(), item) !=
            current.listeners.items().end())
            kept.push_back(item.get());
    refresh_kept_listeners(kept, before, after);
}

void arbiter::finish_reload_if_done() {
    if (!reload_ || !replacement_complete(workers_, target_)) return;
    log::info("Reload complete: generation {} serves with {}", target_.generation,
              count_of(target_.count, "worker"));
    reload_.reset();
    ++counters_.reloads;
    forget_unused_generations();
    systemd_.ready(status_line());
    answer_reload_waiters("");
    start_coalesced_reload();
}

void arbiter::roll_back(const std::string& why) {
    int failed = target_.generation;
    log::error("Reload to generation {} failed: {}; rolling back to generation {}", failed, why,
               reload_->previous_generation);
    target_.generation = reload_->previous_generation;
    target_.count = reload_->previous_count;
    apply_settings(target_spec().cfg);
    auto now = supervision_clock::now();
    for (auto& slot : workers_) {
        if (slot.generation != failed || slot.draining()) continue;
        if (slot.state == worker_state::booting) {
            slot.state = worker_state::draining;
            slot.draining_since = now;
            signal_worker(slot, SIGKILL);
        } else {
            retire_worker(slot);
        }
    }
    reload_.reset();
    ++counters_.failed_reloads;
    systemd_.ready(status_line());  // serving still, with the old generation
    answer_reload_waiters(
        fmt::format("the new generation could not boot ({}); rolled back to "
                    "generation {}",
                    why, target_.generation));
    manage_workers();
    start_coalesced_reload();
}

void arbiter::start_coalesced_reload() {
    if (!std::exchange(reload_requested_, false)) return;
    reload_waiters_ = std::exchange(next_reload_waiters_, {});
    if (auto error = start_reload(); !error.empty()) answer_reload_waiters(error);
}

void arbiter::forget_unused_generations() {
    for (auto it = generations_.begin(); it != generations_.end();) {
        int number = it->first;
        bool in_use =
            number == target_.generation || (reload_ && number == reload_->previous_generation) ||
            std::any_of(workers_.begin(), workers_.end(),
                        [number](const worker_slot& s) { return s.generation == number; });
        it = in_use ? std::next(it) : generations_.erase(it);  // closes listeners no longer used
    }
}

void arbiter::handle_control(const boost::json::object& request, control_server::reply reply) {
    const auto* command = request.if_contains("command");
    std::string name = command && command->is_string() ? command->as_string().c_str() : "";
    auto flag = [&](const char* key) {
        const auto* value = request.if_contains(key);
        return value && value->is_bool() && value->as_bool();
    };
    if (name != "status") log::info("Control command: {}", name);
    if (name == "status") {
        auto status = status_object(snapshot());
        status["ok"] = true;
        reply(std::move(status));
    } else if (name == "reload") {
        if (flag("wait")) {
            request_reload(std::move(reply));
        } else {
            request_reload(std::nullopt);
            reply({{"ok", true}});
        }
    } else if (name == "scale") {
        control_scale(request, reply);
    } else if (name == "stop") {
        reply({{"ok", true}});
        begin_stop(flag("quick") ? phase::stopping_quickly : phase::stopping_gracefully,
                   exit_code::clean_stop);
    } else if (name == "reopen-logs") {
        handle_usr1();
        reply({{"ok", true}});
    } else if (name == "upgrade") {
        request_upgrade(std::move(reply));
    } else {
        reply({{"ok", false}, {"error", "unknown command \"" + name + "\""}});
    }
}

void arbiter::control_scale(const boost::json::object& request,
                            const control_server::reply& reply) {
    const auto* value = request.if_contains("workers");
    std::string text = value && value->is_string() ? value->as_string().c_str() : "";
    long number = 0;
    auto [end, ec] = std::from_chars(text.data() + (text.starts_with('+') ? 1 : 0),
                                     text.data() + text.size(), number);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        reply({{"ok", false}, {"error", "scale needs N, +N or -N, got \"" + text + "\""}});
        return;
    }
    long wanted = text.starts_with('+') || text.starts_with('-') ? target_.count + number : number;
    if (wanted < 1 || wanted > 4096) {
        reply(
            {{"ok", false},
             {"error", fmt::format("scale would make {} workers; it must be 1 to 4096", wanted)}});
        return;
    }
    if (phase_ == phase::running) {
        target_.count = static_cast<int>(wanted);
        log::info("Number of workers: {}", target_.count);
        manage_workers();
    }
    reply({{"ok", true}, {"workers", target_.count}});
}

std::string arbiter::status_line() {
    auto now = supervision_clock::now();
    std::uint64_t total = counters_.requests_of_exited_workers;
    int ready = 0;
    for (const auto& slot : workers_) {
        total += slot.requests;
        ready += slot.state == worker_state::ready && slot.generation == target_.generation;
    }
    if (seconds_f elapsed = now - rate_sampled_at_; elapsed >= seconds_f{5}) {
        if (rate_sampled_at_ != time_point{})
            requests_per_second_ =
                static_cast<double>(total - rate_sampled_requests_) / elapsed.count();
        rate_sampled_at_ = now;
        rate_sampled_requests_ = total;
    }
    return fmt::format("{}/{} workers ready, generation {}, {:.0f} req/s", ready, target_.count,
                       target_.generation, requests_per_second_);
}

void arbiter::report_to_service_manager() {
    if (!systemd_.enabled() || phase_ != phase::running || standby_) return;
    auto now = supervision_clock::now();
    if (!announced_ready_ && !reload_ && replacement_complete(workers_, target_)) {
        announced_ready_ = true;
        systemd_.ready(status_line());
    }
    if (announced_ready_) systemd_.status(status_line());
    bool healthy = !any_worker_booted_ ||
                   std::any_of(workers_.begin(), workers_.end(),
                               [](const worker_slot& s) { return s.state == worker_state::ready; });
    if (auto interval = systemd_.watchdog_interval();
        interval && healthy && now - last_watchdog_ping_ >= *interval / 2) {
        systemd_.watchdog_ping();
        last_watchdog_ping_ = now;
    }
}

supervision_snapshot arbiter::snapshot() const {
    return {workers_,    target_spec().listeners, counters_, target_.generation, target_.count,
            started_at_, supervision_clock::now()};
}

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
            any_worker_booted_ = true;
            log::info("Worker {} ready in {} ms (generation {})", slot->pid,
                      milliseconds_since(slot->spawned_at, now), slot->generation);
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
    if (slot.first_generation && !any_worker_booted_ &&
        ++first_generation_failures_ >= first_generation_spawned_) {
        log::critical(
            "No worker of the first generation could boot ({} tried); stopping. "
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
                log::error(
                    "Worker {} did not send READY=1 within {:.0f} s (boot_timeout); "
                    "sending SIGKILL",
                    slot->pid, deadlines_.boot.count());
                break;
            case overdue_reason::heartbeat_timeout:
                log::critical("worker {} timed out (no heartbeat for {:.0f} s), sending SIGABRT",
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
        auto bytes = proportional_set_size(slot.pid);
        if (!bytes || slot.state != worker_state::ready) {
            slot.memory = bytes;
            continue;
        }
        note_memory_sample(slot, *bytes, recycle_limits_.max_memory);
        if (born_over_memory_limit(slot, recycle_limits_.max_memory) &&
            memory_warned_generations_.insert(slot.generation).second)
            log::warning(
                "Worker {} (generation {}) uses {:.1f} MiB from its start, above "
                "max_worker_memory ({:.1f} MiB): replacing it would not help, so "
                "workers that start above it are not recycled for memory; raise "
                "max_worker_memory",
                slot.pid, slot.generation, static_cast<double>(*bytes) / 1048576,
                recycle_limits_.max_memory / 1048576);
        if (!slot.replace_reason.empty()) continue;
        slot.replace_reason = recycle_reason(slot, recycle_limits_, now);
        if (!slot.replace_reason.empty())
            log::info("Worker {} will be replaced ({})", slot.pid, slot.replace_reason);
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
    finish_reload_if_done();
    if (!plan.retire.empty()) forget_unused_generations();
    route_connections();
    tell_predecessor_ready();
}

void arbiter::route_connections() {
    // Not while stopping (each worker serves its own queue) nor beside another master.
    if (standby_ || phase_ != phase::running) return;
    std::map<accept_shards*, std::set<int>> users;  // a sharded listener -> generations using it
    for (const auto& [number, spec] : generations_)
        for (const auto& item : spec.listeners.items())
            if (item->shards) users[item->shards.get()].insert(number);
    for (auto& [shards, generations] : users)
        shards->route(shards_to_route(workers_, target_.count, [&](const worker_slot& slot) {
            return generations.count(slot.generation) > 0;
        }));
}

bool arbiter::uses_a_sharded_listener(const worker_slot& slot) const {
    const auto& listeners = generations_.at(slot.generation).listeners.items();
    return std::any_of(listeners.begin(), listeners.end(),
                       [](const auto& item) { return item->shards != nullptr; });
}

bool arbiter::serves_shard_alone(const worker_slot& retiring) const {
    const auto& listeners = generations_.at(retiring.generation).listeners.items();
    auto shares_a_sharded_listener = [&](const worker_slot& other) {
        const auto& theirs = generations_.at(other.generation).listeners.items();
        return std::any_of(listeners.begin(), listeners.end(), [&](const auto& mine) {
            return mine->shards && std::find(theirs.begin(), theirs.end(), mine) != theirs.end();
        });
    };
    if (retiring.state != worker_state::ready || !shares_a_sharded_listener(retiring)) return false;
    return std::none_of(workers_.begin(), workers_.end(), [&](const worker_slot& other) {
        return &other != &retiring && other.shard == retiring.shard &&
               other.state == worker_state::ready && shares_a_sharded_listener(other);
    });
}

void arbiter::hand_over_shards() {
    auto now = supervision_clock::now();
    for (auto& slot : workers_) {
        if (!slot.handover_since || now - *slot.handover_since < shard_handover_settle) continue;
        int queued = 0;
        for (const auto& item : generations_.at(slot.generation).listeners.items())
            if (item->shards) queued += item->shards->queued(slot.shard);
        if (queued == 0) {
            hand_over(slot, "");
        } else if (now - *slot.handover_since >= to_duration(shard_handover_limit)) {
            hand_over(slot,
                      fmt::format("{} still queued on its accept shard after {:.0f} s; they "
                                  "wait for the next worker put on that shard",
                                  count_of(queued, "connection"), shard_handover_limit.count()));
        }
    }
}

void arbiter::hand_over(worker_slot& slot, const std::string& early) {
    if (!early.empty()) log::warning("Stopping worker {} now: {}", slot.pid, early);
    slot.handover_since.reset();
    slot.draining_since = supervision_clock::now();  // graceful_timeout counts from TERM
    signal_worker(slot, SIGTERM);
}

void arbiter::spawn_worker() {
    const auto& spec = target_spec();
    worker_slot slot;
    slot.generation = target_.generation;
    slot.spawned_at = supervision_clock::now();
    slot.first_generation = !any_worker_booted_ && first_generation_spawned_ < spec.cfg.workers;
    slot.shard = choose_shard(workers_, target_, queued_per_shard(spec.listeners));
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
        if (!any_worker_booted_) {  // it will not get better by itself: say so and stop
            log::critical("{}", e.what());
            begin_stop(phase::stopping_quickly, exit_code::runtime_failure);
            return;
        }
        auto delay = backoff_.record_failure(slot.spawned_at);
        log::error("{}; next try in {:.1f} s", e.what(), delay.count());
        return;
    }
    if (slot.first_generation) ++first_generation_spawned_;
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
            (quick ? seconds_f{1} : deadlines_.graceful) + seconds_f{5}));
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
