// What the master tells one worker about itself: CORRAL_WORKER_GENERATION and
// CORRAL_WORKER_REQUEST_LIMIT, beside the settings, which keep the CORRAL_<NAME> names.

#include "shared/worker_values.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "master/spawner.hpp"
#include "shared/config.hpp"

using namespace corral;

namespace {

std::string read_error(const std::map<std::string, std::string>& environment) {
    try {
        read_worker_values(environment);
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

bool holds(const std::vector<std::string>& environment, const std::string& entry) {
    return std::find(environment.begin(), environment.end(), entry) != environment.end();
}

}  // namespace

TEST_CASE("a worker reads back what the master wrote, limits beyond int included") {
    auto variables = worker_value_variables({7, 2147483647ULL + 2147483647ULL});
    CHECK(variables.at("CORRAL_WORKER_GENERATION") == "7");
    CHECK(variables.at("CORRAL_GENERATION") == "7");  // the deprecated name, for one release
    CHECK(variables.at("CORRAL_WORKER_REQUEST_LIMIT") == "4294967294");
    auto values = read_worker_values(variables);
    CHECK(values.generation == 7);
    CHECK(values.request_limit == 4294967294ULL);
}

TEST_CASE("CORRAL_WORKER_GENERATION wins over the deprecated CORRAL_GENERATION") {
    CHECK(read_worker_values({{"CORRAL_WORKER_GENERATION", "3"}, {"CORRAL_GENERATION", "2"}})
              .generation == 3);
    CHECK(read_worker_values({{"CORRAL_GENERATION", "2"}}).generation == 2);
    auto none = read_worker_values({});
    CHECK(none.generation == 0);
    CHECK(none.request_limit == 0);
}

TEST_CASE("CORRAL_MAX_REQUESTS is the setting, not this worker's limit") {
    CHECK(read_worker_values({{"CORRAL_MAX_REQUESTS", "1000"}}).request_limit == 0);
}

TEST_CASE("bad per-worker values are errors naming the variable, not a silent 0") {
    struct example {
        const char* variable;
        const char* value;
        const char* message;
    };
    const example examples[] = {
        {"CORRAL_WORKER_GENERATION", "two",
         "environment variable CORRAL_WORKER_GENERATION: expected an integer from 1 to "
         "2147483647, got string \"two\""},
        {"CORRAL_WORKER_GENERATION", "0",
         "environment variable CORRAL_WORKER_GENERATION: expected an integer from 1 to "
         "2147483647, got integer 0"},
        {"CORRAL_GENERATION", "2x",
         "environment variable CORRAL_GENERATION: expected an integer from 1 to 2147483647, got "
         "string \"2x\""},
        {"CORRAL_WORKER_REQUEST_LIMIT", "-1",
         "environment variable CORRAL_WORKER_REQUEST_LIMIT: expected an integer from 0 to "
         "9223372036854775807, got integer -1"},
        {"CORRAL_WORKER_REQUEST_LIMIT", "1.5",
         "environment variable CORRAL_WORKER_REQUEST_LIMIT: expected an integer from 0 to "
         "9223372036854775807, got number 1.5"},
        {"CORRAL_WORKER_REQUEST_LIMIT", "",
         "environment variable CORRAL_WORKER_REQUEST_LIMIT: expected an integer from 0 to "
         "9223372036854775807, got string \"\""},
    };
    for (const auto& [variable, value, message] : examples) {
        CAPTURE(variable);
        CAPTURE(value);
        CHECK(read_error({{variable, value}}) == message);
    }
}

TEST_CASE("a worker's environment has its own values under CORRAL_WORKER_*") {
    config cfg;
    cfg.max_requests = 2147483647;
    cfg.max_requests_jitter = 100;
    std::map<std::string, std::string> master_environment = {{"PATH", "/bin"}};
    auto environment = worker_environment(master_environment, cfg, listener_set{},
                                          "@corral/1/2/notify", 4, 2147483647ULL + 57);
    CHECK(holds(environment, "CORRAL_WORKER_GENERATION=4"));
    CHECK(holds(environment, "CORRAL_GENERATION=4"));
    CHECK(holds(environment, "CORRAL_WORKER_REQUEST_LIMIT=2147483704"));
    CHECK(std::none_of(environment.begin(), environment.end(), [](const std::string& entry) {
        return entry.starts_with("CORRAL_MAX_REQUESTS=");
    }));

    SUBCASE("a CORRAL_MAX_REQUESTS of the master's own environment passes as it is: the setting") {
        master_environment["CORRAL_MAX_REQUESTS"] = "2147483647";
        environment =
            worker_environment(master_environment, cfg, listener_set{}, "@x", 4, 2147483704);
        CHECK(holds(environment, "CORRAL_MAX_REQUESTS=2147483647"));
        CHECK(holds(environment, "CORRAL_WORKER_REQUEST_LIMIT=2147483704"));
    }
}
