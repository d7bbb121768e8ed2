#include "demo_app.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <thread>

#include "corral/json.hpp"
#include "corral/offload.hpp"
#include "corral/worker.hpp"

namespace corral::demo {
namespace {

namespace asio = boost::asio;

constexpr long max_sleep_ms = 600'000;

asio::awaitable<response> hello(request&) { co_return response::text("Hello, World!"); }

asio::awaitable<response> healthz(request&) { co_return response::text("OK\n"); }

asio::awaitable<response> json_hello(request&) {
    co_return json(boost::json::object{{"message", "Hello, World!"}});
}

/// ms of blocking sleep, on the thread pool: the loop keeps serving meanwhile.
response blocking_sleep(request& req) {
    auto ms = std::stol(req.query_parameter("ms").value_or("0"));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(ms, 0L, max_sleep_ms)));
    return response::text("slept " + std::to_string(ms) + " ms on the thread pool\n");
}

asio::awaitable<response> info(request&) {
    auto worker = current_worker();
    co_return json(boost::json::object{{"pid", worker.pid},
                                       {"generation", worker.generation},
                                       {"requests", worker.requests},
                                       {"connections", worker.connections}});
}

/// Answers after an async timer: the loop keeps serving meanwhile.
asio::awaitable<response> sleep(request& req) {
    auto text = req.query_parameter("ms").value_or("0");
    long ms = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc{} || end != text.data() + text.size() || ms < 0 || ms > max_sleep_ms)
        co_return response::text("ms must be a whole number from 0 to 600000\n", 400);
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await timer.async_wait(asio::use_awaitable);
    co_return response::text("slept " + text + " ms\n");
}

/// Blocks the event loop for ms: what a stuck handler looks like to the master's watchdog.
asio::awaitable<response> stall(request& req) {
    auto ms = std::stol(req.query_parameter("ms").value_or("0"));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(ms, 0L, max_sleep_ms)));
    co_return response::text("stalled\n");
}

/// n rounds of arithmetic on the loop: CPU-bound work.
asio::awaitable<response> cpu(request& req) {
    auto n = std::stoull(req.query_parameter("n").value_or("1000000"));
    std::uint64_t x = 1;
    for (std::uint64_t i = 0; i < n; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    co_return response::text(std::to_string(x % 1000) + "\n");
}

/// n lines, one every ms milliseconds: a long response streamed as it is produced.
asio::awaitable<response> stream(request& req) {
    int lines = std::clamp(std::stoi(req.query_parameter("lines").value_or("5")), 0, 100000);
    int ms = std::clamp(std::stoi(req.query_parameter("ms").value_or("0")), 0, 10000);
    co_return response::streamed(
        [lines, ms](body_writer& out) -> asio::awaitable<void> {
            asio::steady_timer timer(co_await asio::this_coro::executor);
            for (int i = 1; i <= lines; ++i) {
                if (ms > 0) {
                    timer.expires_after(std::chrono::milliseconds(ms));
                    co_await timer.async_wait(asio::use_awaitable);
                }
                auto line = "line " + std::to_string(i) + "\n";
                co_await out.write(line);
            }
        },
        "text/plain; charset=utf-8");
}

asio::awaitable<response> echo(request& req) {
    auto type = req.header("Content-Type").value_or("application/octet-stream");
    co_return response{200, {{"Content-Type", std::string(type)}}, std::move(req.body)};
}

}  // namespace

router make_routes() {
    router routes;
    routes.get("/", hello)
        .get("/json", json_hello)
        .get("/blocking", blocking(blocking_sleep))
        .get("/stream", stream)
        .get("/healthz", healthz)
        .get("/info", info)
        .get("/sleep", sleep)
        .post("/echo", echo);
    if (const char* debug = std::getenv("CORRAL_DEBUG_ENDPOINTS"); debug && std::string_view(debug) == "true")
        routes.get("/stall", stall).get("/cpu", cpu);
    return routes;
}

}  // namespace corral::demo
