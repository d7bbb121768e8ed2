// The worker's limits come from the configuration alone (server_limits::from): every
// setting marked for workers either changes them or has a use of its own listed here, so a
// new worker setting cannot be forgotten on its way to the worker.

#include "server/server_limits.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

#include "shared/settings.hpp"

using namespace corral;

namespace {

/// Worker settings the worker process uses itself rather than through server_limits.
const std::set<std::string_view> used_by_the_worker_process{
    "graceful_timeout",                       // the drain's end once the master is gone
    "threads",                                // the thread pool
    "accesslog",        "access_log_format",  // the access log
    "loglevel",         "errorlog",          "log_format",  // the error log
    "debug_endpoints",                                      // the demo app's routes
};

/// `cfg` with setting `s` changed to another valid value.
config with_other_value(const setting& s) {
    config cfg;
    std::visit(
        [&](auto member) {
            auto& value = cfg.*member;
            using value_type = std::remove_cvref_t<decltype(value)>;
            if constexpr (std::is_same_v<value_type, bool>) {
                value = !value;
            } else if constexpr (std::is_same_v<value_type, int>) {
                value = value + 1;
            } else if constexpr (std::is_same_v<value_type, double>) {
                value = value / 2 + 0.5;
            } else if constexpr (std::is_same_v<value_type, std::string>) {
                if (!s.choices.empty())
                    value = value == "refuse" ? "dangerous" : "refuse";
                else if (std::string_view(s.name).ends_with("_ips"))
                    value = "10.0.0.0/8";
                else
                    value += "-changed";
            }
        },
        s.field);
    return cfg;
}

}  // namespace

TEST_CASE("every worker setting reaches the worker: its limits, or a use of its own") {
    const auto defaults = server_limits::from(config{});
    for (const auto& s : settings()) {
        if (!s.for_workers) continue;
        CAPTURE(s.name);
        bool changes_limits = !(server_limits::from(with_other_value(s)) == defaults);
        bool used_elsewhere = used_by_the_worker_process.count(s.name) > 0;
        CHECK(changes_limits != used_elsewhere);
    }
}

TEST_CASE("the limits are the settings in the server's units") {
    config cfg;
    cfg.keepalive = 0.0004;  // rounded up: a positive setting must not become 0 (off)
    cfg.header_timeout = 2.5;
    cfg.limit_request_line = 100;
    cfg.header_map = "refuse";
    auto limits = server_limits::from(cfg, 12345);
    CHECK(limits.keepalive == std::chrono::milliseconds(1));
    CHECK(limits.header_timeout == std::chrono::milliseconds(2500));
    CHECK(limits.head.request_line == 100);
    CHECK(limits.head.header_map == head_limits::underscore::refuse);
    CHECK(limits.max_requests == 12345);
}
