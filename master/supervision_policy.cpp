#include "master/supervision_policy.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <numeric>
#include <set>

namespace corral {

bool is_outdated(const worker_slot& slot, const supervision_target& target) {
    return slot.generation != target.generation || !slot.replace_reason.empty();
}

namespace {

/// Booting before ready, then oldest first: the order in which workers are retired.
/// Booting ones first, then those whose accept shard a ready replacement already serves
/// (`served`), then the oldest.
void sort_for_retirement(std::vector<const worker_slot*>& slots, const std::set<int>& served) {
    std::sort(slots.begin(), slots.end(), [&](const worker_slot* a, const worker_slot* b) {
        bool a_booting = a->state == worker_state::booting;
        bool b_booting = b->state == worker_state::booting;
        if (a_booting != b_booting) return a_booting;
        bool a_served = served.count(a->shard) > 0, b_served = served.count(b->shard) > 0;
        if (a_served != b_served) return a_served;
        return a->spawned_at < b->spawned_at;
    });
}

}  // namespace

manage_plan plan_workers(const std::vector<worker_slot>& table, const supervision_target& target) {
    std::vector<const worker_slot*> current, outdated;
    std::set<int> served;  // shards with a ready current worker
    for (const auto& slot : table) {
        if (slot.draining()) continue;
        if (is_outdated(slot, target)) {
            outdated.push_back(&slot);
        } else {
            current.push_back(&slot);
            if (slot.state == worker_state::ready) served.insert(slot.shard);
        }
    }
    int ready_current =
        static_cast<int>(std::count_if(current.begin(), current.end(), [](auto* slot) {
            return slot->state == worker_state::ready;
        }));
    int alive = static_cast<int>(current.size() + outdated.size());
    manage_plan plan;
    plan.spawn = std::max(0, std::min(target.count - static_cast<int>(current.size()),
                                      target.count + std::max(target.surge, 1) - alive));
    // Negative while fewer than `count` are ready: then none is replaced yet.
    int replaced =
        std::max(0, std::min(static_cast<int>(outdated.size()),
                             ready_current + static_cast<int>(outdated.size()) - target.count));
    sort_for_retirement(outdated, served);
    for (std::size_t i = 0; i < static_cast<std::size_t>(replaced); ++i)
        plan.retire.push_back(outdated[i]->pid);
    int surplus = static_cast<int>(current.size()) - target.count;
    if (surplus > 0) {
        std::sort(current.begin(), current.end(),
                  [](auto* a, auto* b) { return a->spawned_at < b->spawned_at; });
        for (std::size_t i = 0; i < static_cast<std::size_t>(surplus); ++i)
            plan.retire.push_back(current[i]->pid);
    }
    return plan;
}

int choose_shard(const std::vector<worker_slot>& table, const supervision_target& target,
                 const std::vector<int>& queued) {
    auto shards =
        std::max<std::size_t>(static_cast<std::size_t>(std::max(target.count, 1)), queued.size());
    std::vector<int> holders(shards, 0);
    for (const auto& slot : table)
        if (!slot.draining() && !is_outdated(slot, target) && slot.shard >= 0 &&
            slot.shard < static_cast<int>(shards))
            ++holders[static_cast<std::size_t>(slot.shard)];
    auto waiting = [&](std::size_t shard) { return shard < queued.size() && queued[shard] > 0; };
    std::size_t best = 0;
    for (std::size_t shard = 1; shard < shards; ++shard)
        if (holders[shard] < holders[best] ||
            (holders[shard] == holders[best] && waiting(shard) && !waiting(best)))
            best = shard;
    return static_cast<int>(best);
}

std::vector<int> shards_to_route(const std::vector<worker_slot>& table, int count,
                                 const std::function<bool(const worker_slot&)>& gets_listener) {
    std::set<int> with_room, ready, booting;
    for (const auto& slot : table) {
        if (!gets_listener(slot)) continue;
        if (slot.state == worker_state::ready) (slot.full ? ready : with_room).insert(slot.shard);
        if (slot.state == worker_state::booting) booting.insert(slot.shard);
    }
    if (!with_room.empty()) return {with_room.begin(), with_room.end()};
    if (!ready.empty()) return {ready.begin(), ready.end()};
    if (!booting.empty()) return {booting.begin(), booting.end()};
    std::vector<int> all(static_cast<std::size_t>(std::max(count, 1)));
    std::iota(all.begin(), all.end(), 0);
    return all;
}

bool replacement_complete(const std::vector<worker_slot>& table, const supervision_target& target) {
    int ready_current = 0;
    for (const auto& slot : table) {
        if (slot.draining()) continue;
        if (is_outdated(slot, target)) return false;
        ready_current += slot.state == worker_state::ready;
    }
    return ready_current >= target.count;
}

void note_memory_sample(worker_slot& slot, std::uint64_t bytes, double max_memory) {
    slot.memory = bytes;
    if (max_memory > 0 && static_cast<double>(bytes) > max_memory) {
        ++slot.memory_samples_over;
    } else {
        slot.memory_samples_over = 0;
        slot.memory_was_under = true;
    }
}

bool born_over_memory_limit(const worker_slot& slot, double max_memory) {
    return max_memory > 0 && slot.memory_samples_over > 0 && !slot.memory_was_under;
}

std::string recycle_reason(const worker_slot& slot, const recycle_limits& limits, time_point now) {
    if (limits.max_memory > 0 && slot.memory_was_under &&
        slot.memory_samples_over >= memory_samples_to_recycle)
        return "max_worker_memory";
    if (limits.max_lifetime.count() > 0 && seconds_f(now - slot.spawned_at) > limits.max_lifetime)
        return "max_worker_lifetime";
    return "";
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
                if (slot.boot_extended_until && now <= *slot.boot_extended_until) break;
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

handover_verdict decide_handover(const worker_slot& slot, time_point now,
                                 const std::function<int()>& queued) {
    if (!slot.handover_since || now - *slot.handover_since < shard_handover_settle)
        return handover_verdict::wait;
    if (queued() == 0) return handover_verdict::stop;
    if (now - *slot.handover_since >= to_duration(shard_handover_limit))
        return handover_verdict::stop_before_empty;
    return handover_verdict::wait;
}

bool died_young(const worker_slot& slot, time_point now) {
    return !slot.ready_at || seconds_f(now - *slot.ready_at) < crash_loop_window;
}

bool proved_stable(const worker_slot& slot, time_point now) {
    return !slot.stable && slot.state == worker_state::ready && slot.ready_at &&
           seconds_f(now - *slot.ready_at) >= crash_loop_window;
}

boot_backoff::boot_backoff(std::function<double()> random_fraction, seconds_f first, seconds_f cap)
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
