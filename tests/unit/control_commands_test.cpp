// The control socket's commands: decoding a request into the master's operations.

#include "master/control_commands.hpp"

#include <doctest/doctest.h>

using namespace corral;

TEST_CASE("scale takes N, +N or -N workers, from 1 to 4096") {
    struct example {
        const char* text;
        int current;
        std::variant<int, std::string> result;
    };
    for (const auto& [text, current, result] : std::vector<example>{
             {"3", 1, 3},
             {"+2", 4, 6},
             {"-1", 4, 3},
             {"4096", 1, 4096},
             {"0", 4, "scale would make 0 workers; it must be 1 to 4096"},
             {"-4", 4, "scale would make 0 workers; it must be 1 to 4096"},
             {"+4096", 1, "scale would make 4097 workers; it must be 1 to 4096"},
             {"", 1, "scale needs N, +N or -N, got \"\""},
             {"two", 1, "scale needs N, +N or -N, got \"two\""},
             {"3x", 1, "scale needs N, +N or -N, got \"3x\""},
         }) {
        CAPTURE(text);
        CHECK(scaled_count(text, current) == result);
    }
}

TEST_CASE("each control command calls its operation and replies") {
    std::vector<std::string> called;
    control_operations operations;
    int count = 2;
    operations.status = [&] { return boost::json::object{{"generation", 7}}; };
    operations.reload = [&](std::optional<control_server::reply> waiter) {
        called.push_back(waiter ? "reload --wait" : "reload");
        if (waiter) (*waiter)({{"ok", true}});
    };
    operations.worker_count = [&] { return count; };
    operations.scale = [&](int wanted) { count = wanted; };
    operations.stop = [&](bool quick) { called.push_back(quick ? "stop --quick" : "stop"); };
    operations.reopen_logs = [&] { called.push_back("reopen-logs"); };
    operations.upgrade = [&](control_server::reply) { called.push_back("upgrade"); };
    std::vector<boost::json::object> replies;
    auto run = [&](boost::json::object request) {
        run_control_command(
            request, [&](boost::json::object answer) { replies.push_back(answer); }, operations);
    };

    run({{"command", "status"}});
    CHECK(replies.back() == boost::json::object{{"generation", 7}, {"ok", true}});
    run({{"command", "reload"}, {"wait", true}});
    run({{"command", "reload"}});
    run({{"command", "scale"}, {"workers", "+3"}});
    CHECK(replies.back() == boost::json::object{{"ok", true}, {"workers", 5}});
    run({{"command", "scale"}, {"workers", "-9"}});
    CHECK(replies.back().at("ok") == false);
    CHECK(count == 5);
    run({{"command", "stop"}, {"quick", true}});
    run({{"command", "reopen-logs"}});
    run({{"command", "upgrade"}});
    run({{"command", "dance"}});
    CHECK(replies.back() ==
          boost::json::object{{"ok", false}, {"error", "unknown command \"dance\""}});
    CHECK(called == std::vector<std::string>{"reload --wait", "reload", "stop --quick",
                                             "reopen-logs", "upgrade"});
}
