#include "master/supervision_policy.hpp"

#include <csignal>

#include <algorithm>
#include <cmath>

namespace corral {

const char* to_string(worker_state state) {
    switch (state) {
        case worker_state::booting: return "booting";
        case worker_state::ready: return "ready";
        case worker_state::draining: return "draining";
    }
    return "unknown";
}

manage_plan plan_workers(const std::vector<worker_slot>& table, const supervision_target& target) {
    std::vector<const worker_slot*> serving;
    for (const auto& slot : table)
        if (slot.alive_for_capacity()) serving.push_back(&slot);
    manage_plan plan;
    int alive = static_cast<int>(serving.size());
    if (alive < target.count) plan.spawn = target.count - alive;
    if (alive > target.count) {
        std::sort(serving.begin(), serving.end(),
                  [](auto* a, auto* b) { return a->spawned_at < b->spawned_at; });
        for (int i = 0; i < alive - target.count; ++i) plan.retire.push_back(serving[i]->pid);
    }
    return plan;
}

std::vector<overdue_worker> find_overdue_workers(const std::vector<worker_slot>& table,
                                                 const deadlines& limits, time_point now) {
    std::vector<overdue_worker> overdue;
    for (const auto& slot : table) {
        if (slot.killed) continue;
        if (slot.aborted_at) {
            if (seconds_f waited = now - *slot.aborted_at; waited > limits.abort_grace)
                overdue.push_back({slot.pid, SIGKILL, overdue_reason::abort_ignored, waited});
            continue;
        }
        switch (slot.state) {
            case worker_state::booting:
                if (seconds_f waited = now - slot.spawned_at; waited > limits.boot)
                    overdue.push_back({slot.pid, SIGKILL, overdue_reason::boot_timeout, waited});
                break;
            case worker_state::ready:
                if (!slot.last_heartbeat) break;  // never beat: supervised by its exit alone
                if (seconds_f waited = now - *slot.last_heartbeat; waited > limits.heartbeat)
                    overdue.push_back(
                        {slot.pid, SIGABRT, overdue_reason::heartbeat_timeout, waited});
                break;
            case worker_state::draining:
                if (seconds_f waited = now - *slot.draining_since; waited > limits.graceful)
                    overdue.push_back({slot.pid, SIGKILL, overdue_reason::drain_timeout, waited});
                break;
        }
    }
    return overdue;
}

boot_backoff::boot_backoff(std::function<double()> random_fraction, seconds_f first,
                           seconds_f cap)
    : random_fraction_(std::move(random_fraction)), first_(first), cap_(cap) {}

seconds_f boot_backoff::record_failure(time_point now) {
    ++failures_;
    seconds_f delay = first_ * std::pow(2.0, std::min(failures_ - 1, 30));
    delay = std::min(delay, cap_) * (0.5 + 0.5 * random_fraction_());
    next_spawn_ = now + std::chrono::duration_cast<supervision_clock::duration>(delay);
    return delay;
}

void boot_backoff::record_boot() {
    failures_ = 0;
    next_spawn_ = {};
}

}  // namespace corral
