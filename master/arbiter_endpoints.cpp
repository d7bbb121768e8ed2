// How the master is reached and what it reports: the listeners it takes (from systemd,
// a previous master or bind), the workers' notify sockets, the control socket with its
// commands, the metrics endpoint, and what it tells systemd.

#include <unistd.h>

#include "master/arbiter.hpp"
#include "master/control_commands.hpp"
#include "shared/exit_codes.hpp"
#include "shared/listen_fds.hpp"
#include "shared/log.hpp"

namespace corral {

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
    spec.listeners = listener_set::bind_all(spec.cfg.bind, bind_options_for(spec.cfg), nullptr,
                                            inherited_ ? &inherited : nullptr);
}

std::string arbiter::control_socket_for(const config& cfg) const {
    auto runtime_directory = sources_.environment.count("RUNTIME_DIRECTORY")
                                 ? sources_.environment.at("RUNTIME_DIRECTORY")
                                 : "";
    auto path = control_socket_path(cfg.control_socket, cfg.pidfile, runtime_directory);
    if (!path.empty() || cfg.control_socket == "off") return path;
    // Nothing names one: the default in the user's runtime directory, which `corral status`
    // finds by itself. A reload keeps it, and an upgrade keeps the previous master's.
    auto directory = user_runtime_directory(sources_.environment);
    if (directory.empty()) return "";
    for (const std::string* kept :
         {control_ ? &control_->path() : nullptr, inherited_ ? &inherited_->control_path : nullptr})
        if (kept && kept->starts_with(directory + "/")) return *kept;
    remove_stale_control_sockets(directory);
    return default_control_socket(directory, ::getpid());
}

void arbiter::open_endpoints(const config& cfg) {
    auto path = control_socket_for(cfg);
    // A previous master's sockets, when this one is its upgrade and the address is the same.
    auto handed = [&](const std::string& wanted, const std::string& given, int& fd) {
        return inherited_ && wanted == given ? std::exchange(fd, -1) : -1;
    };
    std::unique_ptr<control_server> control;
    if (!path.empty() && (!control_ || control_->path() != path))
        control = std::make_unique<control_server>(
            io_, path,
            [this](const boost::json::object& request, control_server::reply reply) {
                run_control_command(request, std::move(reply), control_hooks_);
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
    // Per worker that may yet start beside those alive (whose notify sockets are open
    // already): its notify socket. Plus what one spawn holds while it runs (a pipe, a
    // pidfd; spawns happen one at a time) and the master's own files (a pidfile being
    // written, a log reopened, a config read on HUP).
    int alive = static_cast<int>(workers_.size());
    return 16 + std::max(0, target_.count + target_.surge - alive);
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

control_operations arbiter::control_hooks() {
    control_operations hooks;
    hooks.status = [this] { return status_object(snapshot()); };
    hooks.reload = [this](auto waiter) { request_reload(std::move(waiter)); };
    hooks.worker_count = [this] { return target_.count; };
    hooks.scale = [this](int count) { scale_to(count); };
    hooks.stop = [this](bool quick) {
        begin_stop(quick ? phase::stopping_quickly : phase::stopping_gracefully,
                   exit_code::clean_stop);
    };
    hooks.reopen_logs = [this] { handle_usr1(); };
    hooks.upgrade = [this](auto waiter) { request_upgrade(std::move(waiter)); };
    return hooks;
}

std::string arbiter::status_line() {
    auto now = supervision_clock::now();
    std::uint64_t total = counters_.requests_of_exited_workers;
    int ready = 0;
    for (const auto& slot : workers_) {
        total += slot.requests;
        ready += slot.state == worker_state::ready && slot.generation == target_.generation;
    }
    return fmt::format("{}/{} workers ready, generation {}, {:.0f} req/s", ready, target_.count,
                       target_.generation, request_rate_.sample(total, now));
}

void arbiter::report_to_service_manager() {
    if (!systemd_.enabled() || phase_ != phase::running || standby_) return;
    if (!systemd_.announced_ready() && !reload_ && replacement_complete(workers_, target_))
        systemd_.ready(status_line());
    if (systemd_.announced_ready()) systemd_.status(status_line());
    bool healthy = !boots_.any_worker_booted ||
                   std::any_of(workers_.begin(), workers_.end(),
                               [](const worker_slot& s) { return s.state == worker_state::ready; });
    if (healthy) systemd_.watchdog_ping_when_due(supervision_clock::now());
}

supervision_snapshot arbiter::snapshot() const {
    return {workers_,    target_spec().listeners, counters_, target_.generation, target_.count,
            started_at_, supervision_clock::now()};
}

}  // namespace corral
