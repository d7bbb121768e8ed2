// The state a master hands to the new master of a binary upgrade, in $CORRAL_UPGRADE_STATE.

#include <doctest/doctest.h>

#include "master/upgrade.hpp"

using namespace corral;

TEST_CASE("the upgrade state carries listeners, shards, endpoints and systemd's settings") {
    upgrade_state state;
    state.last_generation = 4;
    state.target_generation = 3;
    state.count = 2;
    state.configured_workers = 1;
    inherited_fds fds;
    state.listeners.push_back({"127.0.0.1:8000", "127.0.0.1_8000", fds.pass(17), {}, false});
    state.listeners.back().shards = {fds.pass(19), fds.pass(20)};
    state.listeners.push_back({"fd://3", "web", fds.pass(3), {}, true});
    state.control_path = "/run/corral/control.sock";
    state.control_fd = fds.pass(30);
    state.handover_fd = fds.pass(31);
    state.previous_master = 4242;
    state.service_notify_socket = "/run/systemd/notify";
    state.service_watchdog_usec = "60000000";
    CHECK(fds.fds() == std::vector<int>{17, 19, 20, 3, 30, 31});

    auto decoded = decode_upgrade_state(encode_upgrade_state(state));
    CHECK(decoded.version == 2);
    CHECK(decoded.count == 2);
    CHECK(decoded.configured_workers == 1);
    REQUIRE(decoded.listeners.size() == 2);
    CHECK(decoded.listeners[0].fd == 3);  // numbered as the new master gets them
    CHECK(decoded.listeners[0].shards == std::vector<int>{4, 5});
    CHECK(decoded.listeners[1].name == "web");
    CHECK(decoded.listeners[1].from_service_manager);
    CHECK(decoded.control_path == "/run/corral/control.sock");
    CHECK(decoded.control_fd == 7);
    CHECK(decoded.metrics_fd == -1);
    CHECK(decoded.handover_fd == 8);
    CHECK(decoded.previous_master == 4242);
    CHECK(decoded.service_notify_socket == "/run/systemd/notify");
    CHECK(decoded.service_watchdog_usec == "60000000");
    auto by_text = inherited_listeners(decoded);
    CHECK(by_text.size() == 1);  // systemd's sockets are adopted by name, not by bind text
    CHECK(by_text.at("127.0.0.1:8000").shards == std::vector<int>{4, 5});
}

TEST_CASE("a state from a build that executed in place (version 1) is still read") {
    auto old = decode_upgrade_state(
        R"({"version":1,"last_generation":2,"target_generation":2,"count":1,)"
        R"("listeners":{"127.0.0.1:8000":7},"shards":{"127.0.0.1:8000":[9,10]},)"
        R"("workers":[{"pid":100,"generation":2,"ready":true,"age_seconds":3.0,"shard":1}]})");
    CHECK(old.version == 1);
    CHECK(inherited_listeners(old).at("127.0.0.1:8000").fd == 7);
    CHECK(inherited_listeners(old).at("127.0.0.1:8000").shards == std::vector<int>{9, 10});
    REQUIRE(old.workers.size() == 1);
    CHECK(old.workers[0].shard == 1);
}

TEST_CASE("an unreadable upgrade state is an error that names the variable") {
    CHECK_THROWS_WITH(decode_upgrade_state("{}"),
                      doctest::Contains("CORRAL_UPGRADE_STATE is unreadable"));
    CHECK_THROWS_WITH(decode_upgrade_state(R"({"version":9})"),
                      doctest::Contains("written by another version"));
}
