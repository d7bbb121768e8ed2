#pragma once
// Server-sent events (the HTML standard's text/event-stream): a streamed response whose
// producer sends events as they happen. Browsers' EventSource reconnects by itself when
// the stream ends, sending Last-Event-ID, which is how a reload hands a stream over:
// when the worker drains, sleep() returns false and the producer returns.
//
//   routes.get("/ticks", [](corral::request&) -> boost::asio::awaitable<corral::response> {
//       co_return corral::server_sent_events([](corral::event_stream& events)
//                                                -> boost::asio::awaitable<void> {
//           for (int i = 0; co_await events.sleep(std::chrono::seconds(1)); ++i) {
//               corral::server_sent_event tick{.data = std::to_string(i)};
//               co_await events.send(tick);  // named: see g++ 12 in docs/sdk.md
//           }
//       });
//   });

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "corral/response.hpp"

namespace corral {

struct server_sent_event {
    std::string data{};   ///< may hold newlines: each line becomes a data: line
    std::string event{};  ///< the event type; "" = "message"
    std::string id{};     ///< the client sends the last one back as Last-Event-ID
    std::optional<std::chrono::milliseconds> retry{};  ///< the client's reconnection delay
};

class event_stream {
  public:
    event_stream(body_writer& out, std::chrono::milliseconds heartbeat)
        : out_(out), heartbeat_(heartbeat) {}

    /// Sends one event. Throws std::system_error when the client has gone away.
    boost::asio::awaitable<void> send(const server_sent_event& event);
    /// A comment line, which clients ignore: keeps proxies from timing the stream out.
    boost::asio::awaitable<void> comment(std::string_view text);
    /// Waits `delay`, sending a heartbeat comment whenever the stream has been quiet for
    /// the heartbeat interval; false, early, once the worker is draining: return then.
    boost::asio::awaitable<bool> sleep(std::chrono::milliseconds delay);
    /// True once the worker is draining.
    bool draining() const { return out_.draining(); }

  private:
    boost::asio::awaitable<void> write(std::string_view text);

    body_writer& out_;
    std::chrono::milliseconds heartbeat_;
    std::chrono::steady_clock::time_point last_write_ = std::chrono::steady_clock::now();
};

using event_producer = std::function<boost::asio::awaitable<void>(event_stream&)>;

/// A text/event-stream response (not cached, not buffered by nginx) fed by `producer`.
response server_sent_events(event_producer producer,
                            std::chrono::milliseconds heartbeat = std::chrono::seconds(15));

/// The text of one event, as it goes on the wire.
std::string format_event(const server_sent_event& event);

}  // namespace corral
