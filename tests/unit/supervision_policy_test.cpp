// The master's decisions over the worker table, driven without forking.

#include "master/supervision_policy.hpp"

#include <doctest/doctest.h>

#include <csignal>

using namespace corral;
using namespace std::chrono_literals;

namespace {

const time_point start = supervision_clock::now();

worker_slot slot(pid_t pid, worker_state state, time_point spawned = start, int generation = 1) {
    worker_slot s;
    s.pid = pid;
    s.generation = generation;
    s.state = state;
    s.spawned_at = spawned;
    if (state == worker_state::draining) s.draining_since = spawned;
    return s;
}

}  // namespace

TEST_CASE("plan_workers starts workers up to the target count") {
    std::vector<worker_slot> table{slot(1, worker_state::ready)};
    CHECK(plan_workers(table, {1, 3}).spawn == 2);
    CHECK(plan_workers(table, {1, 1}).spawn == 0);
    CHECK(plan_workers({}, {1, 2}).spawn == 2);
}

TEST_CASE("draining workers do not count toward the target") {
    std::vector<worker_slot> table{slot(1, worker_state::draining), slot(2, worker_state::ready)};
    auto plan = plan_workers(table, {1, 2});
    CHECK(plan.spawn == 1);
    CHECK(plan.retire.empty());
}

TEST_CASE("plan_workers retires the oldest workers above the target") {
    std::vector<worker_slot> table{slot(3, worker_state::ready, start + 2s),
                                   slot(1, worker_state::ready, start),
                                   slot(2, worker_state::booting, start + 1s)};
    auto plan = plan_workers(table, {1, 1});
    CHECK(plan.spawn == 0);
    CHECK(plan.retire == std::vector<pid_t>{1, 2});
}

TEST_CASE("a reload starts the new generation and drains an old worker per ready new one") {
    supervision_target target{2, 3, 3};
    std::vector<worker_slot> table{slot(1, worker_state::ready, start, 1),
                                   slot(2, worker_state::ready, start + 1s, 1),
                                   slot(3, worker_state::ready, start + 2s, 1)};
    auto plan = plan_workers(table, target);
    CHECK(plan.spawn == 3);
    CHECK(plan.retire.empty());  // nothing new is ready yet: old ones keep serving

    table.push_back(slot(4, worker_state::ready, start + 3s, 2));
    table.push_back(slot(5, worker_state::booting, start + 3s, 2));
    table.push_back(slot(6, worker_state::booting, start + 3s, 2));
    plan = plan_workers(table, target);
    CHECK(plan.spawn == 0);
    CHECK(plan.retire == std::vector<pid_t>{1});
    CHECK(!replacement_complete(table, target));
}

TEST_CASE("max_surge = 1 rolls through the workers one by one") {
    supervision_target target{2, 2, 1};
    std::vector<worker_slot> table{slot(1, worker_state::ready, start, 1),
                                   slot(2, worker_state::ready, start + 1s, 1)};
    CHECK(plan_workers(table, target).spawn == 1);
    table.push_back(slot(3, worker_state::booting, start + 2s, 2));
    CHECK(plan_workers(table, target).spawn == 0);  // count + surge alive already
    table.back().state = worker_state::ready;
    auto plan = plan_workers(table, target);
    CHECK(plan.retire == std::vector<pid_t>{1});
    table[0].state = worker_state::draining;
    CHECK(plan_workers(table, target).spawn == 1);
}

TEST_CASE("a booting outdated worker is retired before a ready one") {
    supervision_target target{2, 1, 1};
    std::vector<worker_slot> table{slot(1, worker_state::ready, start, 1),
                                   slot(2, worker_state::booting, start + 1s, 1),
                                   slot(3, worker_state::ready, start + 2s, 2)};
    CHECK(plan_workers(table, target).retire == std::vector<pid_t>{2, 1});
}

TEST_CASE("a reload is complete when only ready workers of the target generation remain") {
    supervision_target target{2, 2, 2};
    std::vector<worker_slot> table{slot(1, worker_state::draining, start, 1),
                                   slot(3, worker_state::ready, start, 2),
                                   slot(4, worker_state::ready, start, 2)};
    CHECK(replacement_complete(table, target));
    table[1].state = worker_state::booting;
    CHECK(!replacement_complete(table, target));
}

TEST_CASE("a worker asking to be recycled is replaced first, then drained") {
    supervision_target target{1, 1, 1};
    std::vector<worker_slot> table{slot(1, worker_state::ready)};
    table[0].replace_reason = "max_requests";
    auto plan = plan_workers(table, target);
    CHECK(plan.spawn == 1);
    CHECK(plan.retire.empty());
    table.push_back(slot(2, worker_state::ready, start + 1s));
    CHECK(plan_workers(table, target).retire == std::vector<pid_t>{1});
}

TEST_CASE("a new worker takes the accept shard that the fewest staying workers hold") {
    supervision_target target{1, 3, 3};
    std::vector<worker_slot> table;
    CHECK(choose_shard(table, target) == 0);
    table.push_back(slot(1, worker_state::ready));
    table.back().shard = 0;
    table.push_back(slot(2, worker_state::booting));
    table.back().shard = 1;
    CHECK(choose_shard(table, target) == 2);
    table.push_back(slot(3, worker_state::draining));  // leaving: its shard is free
    table.back().shard = 2;
    CHECK(choose_shard(table, target) == 2);
    table[0].replace_reason = "max_requests";  // being replaced: the replacement takes its shard
    CHECK(choose_shard(table, target) == 0);
    CHECK(choose_shard(table, {2, 3, 3}) == 0);  // a reload: every old worker is outdated
}

TEST_CASE("a shard left with a queue gets the next worker, even beyond the count") {
    // TTOU took 3 workers to 2 and retired the oldest, on shard 0: workers on 1 and 2.
    supervision_target target{1, 2, 2};
    std::vector<worker_slot> table{slot(2, worker_state::ready), slot(3, worker_state::ready)};
    table[0].shard = 1;
    table[1].shard = 2;
    table.pop_back();  // the worker on shard 2 crashed, leaving connections in its queue
    CHECK(choose_shard(table, target, {0, 0, 5}) == 2);
    CHECK(choose_shard(table, target, {0, 0, 0}) == 0);  // nothing waits: the lowest free one
    CHECK(choose_shard(table, target) == 0);
}

TEST_CASE(
    "connections go to shards with a ready worker with room, else a ready or booting one, else "
    "any") {
    auto every = [](const worker_slot&) { return true; };
    std::vector<worker_slot> table{slot(1, worker_state::booting), slot(2, worker_state::ready),
                                   slot(3, worker_state::draining)};
    table[0].shard = 0;
    table[1].shard = 2;
    table[2].shard = 1;
    CHECK(shards_to_route(table, 3, every) == std::vector<int>{2});
    table.push_back(slot(4, worker_state::ready));
    table.back().shard = 1;
    table.back().full = true;  // at worker_connections: others first
    CHECK(shards_to_route(table, 3, every) == std::vector<int>{2});
    table[1].full = true;  // all full: spread over them anyway
    CHECK(shards_to_route(table, 3, every) == std::vector<int>{1, 2});
    table.pop_back();
    table[1].state = worker_state::draining;
    CHECK(shards_to_route(table, 3, every) == std::vector<int>{0});
    table[0].state = worker_state::draining;
    CHECK(shards_to_route(table, 3, every) == std::vector<int>{0, 1, 2});
    // Only the workers that get the listener count (a reload may add one).
    table[1].state = worker_state::ready;
    CHECK(shards_to_route(table, 2, [](const worker_slot& s) { return s.pid != 2; }) ==
          std::vector<int>{0, 1});
}

TEST_CASE("a reload retires first the old workers whose shard a ready new one serves") {
    supervision_target target{2, 2, 2};
    std::vector<worker_slot> table{slot(1, worker_state::ready, start, 1),
                                   slot(2, worker_state::ready, start + 1s, 1),
                                   slot(3, worker_state::ready, start + 2s, 2)};
    table[0].shard = 0;
    table[1].shard = 1;
    table[2].shard = 1;  // the new worker took shard 1: worker 2 goes first, not the oldest
    CHECK(plan_workers(table, target).retire == std::vector<pid_t>{2});
}

TEST_CASE("memory and age limits name the reason to recycle") {
    recycle_limits limits{.max_memory = 1000, .max_lifetime = 60s};
    auto worker = slot(1, worker_state::ready);
    note_memory_sample(worker, 500, limits.max_memory);
    CHECK(recycle_reason(worker, limits, start + 1s).empty());
    for (int sample = 1; sample < memory_samples_to_recycle; ++sample) {
        note_memory_sample(worker, 1001, limits.max_memory);
        CHECK(recycle_reason(worker, limits, start + 1s).empty());  // a moment, not a leak
    }
    note_memory_sample(worker, 1001, limits.max_memory);
    CHECK(recycle_reason(worker, limits, start + 1s) == "max_worker_memory");
    note_memory_sample(worker, 10, limits.max_memory);
    CHECK(recycle_reason(worker, limits, start + 1s).empty());
    CHECK(recycle_reason(worker, limits, start + 61s) == "max_worker_lifetime");
    CHECK(recycle_reason(worker, {}, start + 1h).empty());
}

TEST_CASE("a worker over the memory limit from its start is not recycled for it") {
    recycle_limits limits{.max_memory = 1000};
    auto worker = slot(1, worker_state::ready);
    for (int sample = 0; sample < 10; ++sample) note_memory_sample(worker, 5000, 1000);
    CHECK(born_over_memory_limit(worker, limits.max_memory));
    CHECK(recycle_reason(worker, limits, start + 1s).empty());
    note_memory_sample(worker, 900, 1000);  // it can get under: then it is recycled when over
    CHECK(!born_over_memory_limit(worker, limits.max_memory));
    for (int sample = 0; sample < memory_samples_to_recycle; ++sample)
        note_memory_sample(worker, 5000, 1000);
    CHECK(recycle_reason(worker, limits, start + 1s) == "max_worker_memory");
}

TEST_CASE("a worker that does not boot in time is killed") {
    deadlines limits;
    limits.boot = 5s;
    std::vector<worker_slot> table{slot(1, worker_state::booting)};
    CHECK(find_overdue_workers(table, limits, start + 4s).empty());
    auto overdue = find_overdue_workers(table, limits, start + 6s);
    REQUIRE(overdue.size() == 1);
    CHECK(overdue[0].signal_number == SIGKILL);
    CHECK(overdue[0].reason == overdue_reason::boot_timeout);
}

TEST_CASE("EXTEND_TIMEOUT_USEC keeps a booting worker alive until the extension runs out") {
    deadlines limits;
    limits.boot = 5s;
    std::vector<worker_slot> table{slot(1, worker_state::booting)};
    table[0].boot_extended_until = start + 20s;
    CHECK(find_overdue_workers(table, limits, start + 19s).empty());
    auto overdue = find_overdue_workers(table, limits, start + 21s);
    REQUIRE(overdue.size() == 1);
    CHECK(overdue[0].reason == overdue_reason::boot_timeout);
    SUBCASE("an extension shorter than boot_timeout does not shorten it") {
        table[0].boot_extended_until = start + 1s;
        CHECK(find_overdue_workers(table, limits, start + 4s).empty());
    }
}

TEST_CASE("a silent worker gets SIGABRT, then SIGKILL if it ignores it") {
    deadlines limits;
    limits.heartbeat = 10s;
    limits.abort_grace = 3s;
    auto worker = slot(1, worker_state::ready);
    SUBCASE("a worker that never beat is supervised by its exit alone") {
        CHECK(find_overdue_workers({worker}, limits, start + 1h).empty());
    }
    worker.last_heartbeat = start;
    CHECK(find_overdue_workers({worker}, limits, start + 9s).empty());
    auto overdue = find_overdue_workers({worker}, limits, start + 11s);
    REQUIRE(overdue.size() == 1);
    CHECK(overdue[0].signal_number == SIGABRT);
    CHECK(overdue[0].reason == overdue_reason::heartbeat_timeout);
    worker.aborted_at = start + 11s;
    CHECK(find_overdue_workers({worker}, limits, start + 13s).empty());
    overdue = find_overdue_workers({worker}, limits, start + 15s);
    REQUIRE(overdue.size() == 1);
    CHECK(overdue[0].signal_number == SIGKILL);
    CHECK(overdue[0].reason == overdue_reason::abort_ignored);
}

TEST_CASE("a draining worker is killed after the graceful timeout, once") {
    deadlines limits;
    limits.graceful = 30s;
    auto worker = slot(1, worker_state::draining);
    CHECK(find_overdue_workers({worker}, limits, start + 29s).empty());
    CHECK(find_overdue_workers({worker}, limits, start + 31s).size() == 1);
    worker.killed = true;
    CHECK(find_overdue_workers({worker}, limits, start + 31s).empty());
}

TEST_CASE("boot backoff doubles up to the cap and resets after a boot") {
    boot_backoff backoff([] { return 1.0; }, 0.1s, 1s);  // no jitter: the full delay
    CHECK(backoff.may_spawn(start));
    CHECK(backoff.record_failure(start).count() == doctest::Approx(0.1));
    CHECK(!backoff.may_spawn(start + 50ms));
    CHECK(backoff.may_spawn(start + 101ms));
    CHECK(backoff.record_failure(start).count() == doctest::Approx(0.2));
    CHECK(backoff.record_failure(start).count() == doctest::Approx(0.4));
    CHECK(backoff.record_failure(start).count() == doctest::Approx(0.8));
    CHECK(backoff.record_failure(start).count() == doctest::Approx(1.0));
    CHECK(backoff.record_failure(start).count() == doctest::Approx(1.0));
    CHECK(backoff.consecutive_failures() == 6);
    backoff.record_boot();
    CHECK(backoff.consecutive_failures() == 0);
    CHECK(backoff.may_spawn(start));
}

TEST_CASE(
    "a worker that dies soon after READY=1 failed to start; one that served a while did not") {
    auto worker = slot(1, worker_state::ready);
    worker.ready_at = start;
    CHECK(died_young(worker, start + 100ms));
    CHECK(died_young(worker, start + to_duration(crash_loop_window) - 1ms));
    CHECK(!died_young(worker, start + to_duration(crash_loop_window) + 1ms));
    worker.ready_at.reset();  // never said READY=1
    CHECK(died_young(worker, start + 1h));
}

TEST_CASE("a worker proves stable once, after serving for the crash-loop window") {
    auto worker = slot(1, worker_state::ready);
    worker.ready_at = start;
    CHECK(!proved_stable(worker, start + to_duration(crash_loop_window) - 1ms));
    CHECK(proved_stable(worker, start + to_duration(crash_loop_window)));
    worker.stable = true;
    CHECK(!proved_stable(worker, start + 1h));
    CHECK(!proved_stable(slot(2, worker_state::booting), start + 1h));
}

TEST_CASE("boot backoff jitter keeps delays between half and all of the step") {
    boot_backoff backoff([] { return 0.0; }, 1s, 30s);
    CHECK(backoff.record_failure(start).count() == doctest::Approx(0.5));
}

TEST_CASE("a worker handing its shard over stops once the queue is empty, or at the limit") {
    auto worker = slot(1, worker_state::draining);
    int asked = 0;
    auto queued = [&](int length) {
        return [&asked, length] {
            ++asked;
            return length;
        };
    };
    CHECK(decide_handover(worker, start + 1h, queued(0)) == handover_verdict::wait);  // none
    worker.handover_since = start;
    CHECK(decide_handover(worker, start + 10ms, queued(0)) == handover_verdict::wait);
    CHECK(asked == 0);  // settling: the queue is not even read
    CHECK(decide_handover(worker, start + 100ms, queued(3)) == handover_verdict::wait);
    CHECK(decide_handover(worker, start + 100ms, queued(0)) == handover_verdict::stop);
    CHECK(decide_handover(worker, start + to_duration(shard_handover_limit), queued(3)) ==
          handover_verdict::stop_before_empty);
    CHECK(asked == 3);
}
