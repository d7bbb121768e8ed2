// Small pure parts of the worker protocol: bind addresses (and metrics_bind), notify
// datagrams, exit reports.

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>
#include <stdexcept>

#include "master/exit_description.hpp"
#include "shared/bind_address.hpp"
#include "shared/notify.hpp"

using namespace corral;

TEST_CASE("bind addresses parse as an operator writes them") {
    auto v4 = parse_bind_address("127.0.0.1:8000");
    CHECK(v4.type == bind_address::kind::tcp);
    CHECK(v4.host == "127.0.0.1");
    CHECK(v4.port == 8000);
    CHECK(v4.display() == "http://127.0.0.1:8000");
    auto v6 = parse_bind_address("[::1]:9000");
    CHECK(v6.host == "::1");
    CHECK(v6.port == 9000);
    CHECK(v6.display() == "http://[::1]:9000");
    CHECK(parse_bind_address("localhost").port == 8000);
    CHECK(parse_bind_address(":8080").host == "0.0.0.0");
    auto unix_socket = parse_bind_address("unix:/run/app.sock");
    CHECK(unix_socket.type == bind_address::kind::unix_path);
    CHECK(unix_socket.path == "/run/app.sock");
    auto inherited = parse_bind_address("fd://5");
    CHECK(inherited.type == bind_address::kind::inherited_fd);
    CHECK(inherited.fd == 5);
}

TEST_CASE("bad bind addresses say what is wrong") {
    CHECK_THROWS_WITH_AS(parse_bind_address(""), "the address is empty", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_bind_address("host:http"),
                         "the port must be a number from 0 to 65535", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_bind_address("::1:80"),
                         "an IPv6 address needs brackets, as in [::1]:8000", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_bind_address("[::1:80"), "'[' without a closing ']'",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_bind_address("unix:"), "unix: needs a path", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_bind_address("8000"),
                         "a bare number is not an address: write 127.0.0.1:8000 or 0.0.0.0:8000",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_bind_address("fd://2"),
                         "fd://N needs N >= 3 (0-2 are stdin, stdout, stderr)",
                         std::invalid_argument);
}

TEST_CASE("notify datagrams split into assignments") {
    auto assignments =
        parse_notify_message("READY=1\nSTATUS=serving a=b\nnonsense\nX_CORRAL_REQUESTS=7\n");
    REQUIRE(assignments.size() == 3);
    CHECK(assignments[0] == std::pair<std::string_view, std::string_view>{"READY", "1"});
    CHECK(assignments[1].second == "serving a=b");
    CHECK(assignments[2].first == "X_CORRAL_REQUESTS");
    CHECK(parse_notify_message("").empty());
}

TEST_CASE("exits are described in words an operator can act on") {
    CHECK(describe_exit(3 << 8, false) == "exited with code 3");
    CHECK(describe_exit(SIGKILL, false) ==
          "was killed by signal 9 (SIGKILL)! Perhaps out of memory?");
    CHECK(describe_exit(SIGKILL, true) == "was killed by signal 9 (SIGKILL)");
    CHECK(describe_exit(SIGSEGV | 0x80, false) ==
          "was killed by signal 11 (SIGSEGV) and dumped core");
    CHECK(signal_name(SIGTERM) == "SIGTERM");
}

TEST_CASE("a unix socket path must fit in sun_path: 107 bytes and the NUL") {
    std::string longest = "/" + std::string(106, 'x');
    CHECK(parse_bind_address("unix:" + longest).path == longest);
    CHECK(unix_path_problem(longest).empty());
    CHECK_THROWS_WITH_AS(parse_bind_address("unix:" + longest + "x"),
                         "the path is 108 bytes long; a unix socket path can be at most 107 bytes",
                         std::invalid_argument);
}

TEST_CASE("metrics_bind takes HOST:PORT with the port written out") {
    CHECK(parse_host_port("127.0.0.1:9100").port == 9100);
    CHECK(parse_host_port("[::1]:9100").host == "::1");
    CHECK(parse_host_port(":9100").host == "0.0.0.0");
    struct example {
        const char* text;
        const char* message;
    };
    const example examples[] = {
        {"localhost", "the port is missing: write HOST:PORT, e.g. 127.0.0.1:9100"},
        {"[::1]", "the port is missing: write HOST:PORT, e.g. 127.0.0.1:9100"},
        {"9100", "a bare number is not an address: write 127.0.0.1:9100 or 0.0.0.0:9100"},
        {"unix:/run/metrics.sock", "expected HOST:PORT, not a unix: or fd:// address"},
        {"fd://3", "expected HOST:PORT, not a unix: or fd:// address"},
        {"host:metrics", "the port must be a number from 0 to 65535"},
    };
    for (const auto& [text, message] : examples) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS(parse_host_port(text), message, std::invalid_argument);
    }
}
