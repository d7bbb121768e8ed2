// docs/examples/event_stream.cpp: server-sent events, one a second, until the worker drains.
#include <cstdlib>
#include <string>

#include "corral/events.hpp"
#include "corral/worker.hpp"

namespace asio = boost::asio;

asio::awaitable<corral::response> ticks(corral::request& req) {
    // A reconnecting EventSource says where it was; carry on from there.
    std::string last(req.header("Last-Event-ID").value_or("0"));
    long next = std::strtol(last.c_str(), nullptr, 10) + 1;
    co_return corral::server_sent_events(
        [next](corral::event_stream& events) mutable -> asio::awaitable<void> {
            while (co_await events.sleep(std::chrono::seconds(1))) {  // false: the worker drains
                corral::server_sent_event tick{.data = "tick " + std::to_string(next),
                                               .event = "tick",
                                               .id = std::to_string(next)};
                co_await events.send(tick);
                ++next;
            }
        });  // returning ends the stream; the browser reconnects to another worker
}

int main() {
    corral::router routes;
    routes.get("/ticks", ticks);
    return corral::run_worker(routes);
}
