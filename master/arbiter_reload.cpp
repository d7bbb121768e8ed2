// The arbiter's reload (HUP, `corral reload`): a new configuration read and checked, the
// master's own settings applied, a new generation made the target, and the way back if
// it cannot boot. manage_workers() does the replacing itself.

#include <sys/stat.h>

#include "master/arbiter.hpp"
#include "master/setting_changes.hpp"
#include "shared/log.hpp"
#include "shared/plural.hpp"

namespace corral {

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
        reload_queue_.another_requested = true;
        if (waiter) reload_queue_.next_waiters.push_back(std::move(*waiter));
        log::info("A reload is under way; one more will follow it with the newest config");
        return;
    }
    if (waiter) reload_queue_.waiters.push_back(std::move(*waiter));
    if (auto error = start_reload(); !error.empty()) answer_reload_waiters(error);
}

void arbiter::answer_reload_waiters(const std::string& error) {
    boost::json::object answer{{"ok", error.empty()}, {"generation", target_.generation}};
    if (!error.empty()) answer["error"] = error;
    for (auto& reply : std::exchange(reload_queue_.waiters, {})) reply(answer);
}

std::string arbiter::start_reload() {
    const generation_spec& current = target_spec();
    generation_spec next;
    std::unique_ptr<pidfile> moved_pidfile;
    try {
        next.cfg = load_config(sources_);
        working_directory_change directory(next.cfg.chdir, started_in_);
        next.command =
            resolve_worker_command(next.cfg.worker_command, search_path(sources_.environment));
        next.run_as = resolve_credentials(next.cfg.user, next.cfg.group);
        check_notify_reachable(next);
        next.listeners = socket_activated_
                             ? current.listeners
                             : listener_set::bind_all(next.cfg.bind, bind_options_for(next.cfg),
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
            log::info("Listening at: {} (fd {}), from generation {} on", item->bound_address(),
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
            log::error(
                "{}; still logging to the old file until it can be opened (tried again on "
                "USR1)",
                e.what());
        }
    }
    if (socket_activated_ && after.bind != before.bind)
        log::warning(
            "Reload: bind changed, but the listeners are the sockets the service manager "
            "passed (LISTEN_FDS), which stay as they are: change the .socket unit instead");
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
    if (!std::exchange(reload_queue_.another_requested, false)) return;
    reload_queue_.waiters = std::exchange(reload_queue_.next_waiters, {});
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

}  // namespace corral
