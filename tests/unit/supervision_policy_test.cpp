// The master's decisions over the worker table, driven without forking.

#include <doctest/doctest.h>

#include <csignal>

#include "master/supervision_policy.hpp"

using namespace corral;
using namespace std::chrono_literals;

namespace {

const time_point start = supervision_clock::now();

worker_slot slot(pid_t pid, worker_state state, time_point spawned = start) {
    worker_slot s;
    s.pid = pid;
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

TEST_CASE("boot backoff jitter keeps delays between half and all of the step") {
    boot_backoff backoff([] { return 0.0; }, 1s, 30s);
    CHECK(backoff.record_failure(start).count() == doctest::Approx(0.5));
}
