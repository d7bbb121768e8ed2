#include "demo_app.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdlib>
#include <thread>

#include "corral/events.hpp"
#include "corral/json.hpp"
#include "corral/offload.hpp"
#include "corral/websocket.hpp"
#include "corral/worker.hpp"
#include "shared/log.hpp"

namespace corral::demo {
namespace {

namespace asio = boost::asio;

constexpr long max_sleep_ms = 600'000;

/// A query parameter as a whole number in [low, high]; `fallback` when absent or invalid.
long number_parameter(const request& req, std::string_view name, long fallback, long low,
                      long high) {
    auto text = req.query_parameter(name);
    if (!text) return fallback;
    long value = fallback;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc{} || end != text->data() + text->size()) return fallback;
    return std::clamp(value, low, high);
}

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

/// Keeps ?mb megabytes allocated and touched for the worker's life: a leak, for
/// max_worker_memory.
asio::awaitable<response> grow(request& req) {
    static std::vector<std::vector<char>> kept;
    long mb = number_parameter(req, "mb", 1, 0, 1024);
    kept.emplace_back(static_cast<std::size_t>(mb) << 20, 'x');
    co_return response::text("kept " + std::to_string(mb) + " MB more\n");
}

/// ?lines=N lines, one every ?ms milliseconds, each padded with dots to ?pad bytes: a
/// long response streamed as it is produced (a large pad shows the backpressure).
asio::awaitable<response> stream(request& req) {
    long lines = number_parameter(req, "lines", 5, 0, 1'000'000);
    long ms = number_parameter(req, "ms", 0, 0, 10'000);
    auto pad = static_cast<std::size_t>(number_parameter(req, "pad", 0, 0, 1 << 20));
    co_return response::streamed(
        [lines, ms, pad](body_writer& out) -> asio::awaitable<void> {
            asio::steady_timer timer(co_await asio::this_coro::executor);
            for (long i = 1; i <= lines; ++i) {
                if (ms > 0) {
                    timer.expires_after(std::chrono::milliseconds(ms));
                    co_await timer.async_wait(asio::use_awaitable);
                }
                auto line = "line " + std::to_string(i);
                if (line.size() + 1 < pad) line.append(pad - line.size() - 1, '.');
                line += '\n';
                co_await out.write(line);
            }
        },
        "text/plain; charset=utf-8");
}

asio::awaitable<response> echo(request& req) {
    auto type = req.header("Content-Type").value_or("application/octet-stream");
    co_return response{200, {{"Content-Type", std::string(type)}}, std::move(req.body)};
}

/// Echoes every message back with its type. With ?hello=1 it first sends which worker
/// (pid, generation) holds the connection.
asio::awaitable<void> websocket_echo(request& req, websocket& ws) {
    if (req.query_parameter("hello") == "1") {
        auto worker = current_worker();
        auto hello = boost::json::serialize(
            boost::json::object{{"pid", worker.pid}, {"generation", worker.generation}});
        co_await ws.send_text(std::move(hello));
    }
    while (auto message = co_await ws.receive()) co_await ws.send(std::move(*message));
}

/// Server-sent events: ?count=N events (0 = until the worker drains), one every
/// ?interval_ms (default 1000); numbering goes on from the client's Last-Event-ID.
asio::awaitable<response> events(request& req) {
    long count = number_parameter(req, "count", 0, 0, 1'000'000);
    long interval = number_parameter(req, "interval_ms", 1000, 0, max_sleep_ms);
    long first = 1;
    if (auto last = req.header("Last-Event-ID")) {
        long seen = 0;
        if (std::from_chars(last->data(), last->data() + last->size(), seen).ec == std::errc{})
            first = seen + 1;
    }
    co_return server_sent_events([=](event_stream& stream) -> asio::awaitable<void> {
        auto pid = current_worker().pid;
        for (long n = first; count == 0 || n < first + count; ++n) {
            if (!co_await stream.sleep(std::chrono::milliseconds(interval))) break;
            auto data = boost::json::serialize(boost::json::object{{"n", n}, {"pid", pid}});
            server_sent_event tick{
                .data = std::move(data), .event = "tick", .id = std::to_string(n), .retry = {}};
            co_await stream.send(tick);
        }
    });
}

/// Answers 202 at once, then works ?ms milliseconds on the loop: a background task, which
/// a graceful stop waits for.
asio::awaitable<response> background(request& req) {
    long ms = number_parameter(req, "ms", 100, 0, max_sleep_ms);
    auto task = [ms]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
        co_await timer.async_wait(asio::use_awaitable);
        log::info("Background task finished after {} ms", ms);
    };
    co_return response::text("accepted: working " + std::to_string(ms) + " ms after this answer\n",
                             202)
        .add_background_task(std::move(task));
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
        .get("/events", events)
        .post("/echo", echo)
        .post("/background", background)
        .websocket("/ws/echo", websocket_echo);
    if (const char* debug = std::getenv("CORRAL_DEBUG_ENDPOINTS");
        debug && std::string_view(debug) == "true")
        routes.get("/stall", stall).get("/cpu", cpu).get("/grow", grow);
    return routes;
}

}  // namespace corral::demo
