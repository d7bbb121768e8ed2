// The arbiter and the accept shards (accept_shards.hpp): which shards new connections go
// to, and when a retiring worker that is the last on its shard may be told to stop.

#include <signal.h>

#include <set>

#include "master/arbiter.hpp"
#include "shared/log.hpp"
#include "shared/plural.hpp"

namespace corral {

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
        int queued = 0;
        auto verdict = decide_handover(slot, now, [&] {
            for (const auto& item : generations_.at(slot.generation).listeners.items())
                if (item->shards) queued += item->shards->queued(slot.shard);
            return queued;
        });
        if (verdict == handover_verdict::stop) hand_over(slot, "");
        if (verdict == handover_verdict::stop_before_empty)
            hand_over(slot,
                      fmt::format("{} still queued on its accept shard after {:.0f} s; they "
                                  "wait for the next worker put on that shard",
                                  count_of(queued, "connection"), shard_handover_limit.count()));
    }
}

void arbiter::hand_over(worker_slot& slot, const std::string& early) {
    if (!early.empty()) log::warning("Stopping worker {} now: {}", slot.pid, early);
    slot.handover_since.reset();
    slot.draining_since = supervision_clock::now();  // graceful_timeout counts from TERM
    signal_worker(slot, SIGTERM);
}

}  // namespace corral
