#include "corral/events.hpp"

#include <algorithm>

namespace corral {
namespace {

/// A field value must not hold a line break: one would end the field early.
std::string one_line(std::string_view text) {
    std::string line(text);
    std::replace_if(
        line.begin(), line.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    return line;
}

}  // namespace

std::string format_event(const server_sent_event& event) {
    std::string text;
    if (!event.event.empty()) text += "event: " + one_line(event.event) + "\n";
    if (!event.id.empty()) {
        auto id = one_line(event.id);
        std::erase(id, '\0');  // an id with NUL is ignored by clients
        text += "id: " + id + "\n";
    }
    if (event.retry) text += "retry: " + std::to_string(event.retry->count()) + "\n";
    // Each line of the data is a data: field; CRLF, CR and LF all end a line.
    std::string_view data = event.data;
    for (;;) {
        auto end = data.find_first_of("\r\n");
        text += "data: ";
        text += data.substr(0, end);
        text += "\n";
        if (end == std::string_view::npos) break;
        data.remove_prefix(end + (data.substr(end, 2) == "\r\n" ? 2 : 1));
    }
    text += "\n";
    return text;
}

boost::asio::awaitable<void> event_stream::write(std::string_view text) {
    co_await out_.write(text);
    last_write_ = std::chrono::steady_clock::now();
}

boost::asio::awaitable<void> event_stream::send(const server_sent_event& event) {
    auto text = format_event(event);
    co_await write(text);
}

boost::asio::awaitable<void> event_stream::comment(std::string_view text) {
    auto line = ": " + one_line(text) + "\n\n";
    co_await write(line);
}

boost::asio::awaitable<bool> event_stream::sleep(std::chrono::milliseconds delay) {
    using namespace std::chrono;
    auto until = steady_clock::now() + delay;
    for (;;) {
        auto now = steady_clock::now();
        if (now >= until) co_return !draining();
        auto next_heartbeat = last_write_ + heartbeat_;
        if (now >= next_heartbeat) {
            co_await comment("keep-alive");
            continue;
        }
        auto wake = std::min(until, next_heartbeat);
        if (!co_await out_.pause(duration_cast<milliseconds>(wake - now) + milliseconds(1)))
            co_return false;
    }
}

response server_sent_events(event_producer producer, std::chrono::milliseconds heartbeat) {
    auto body = [producer = std::move(producer),
                 heartbeat](body_writer& out) -> boost::asio::awaitable<void> {
        event_stream events(out, heartbeat);
        co_await producer(events);
    };
    return response::streamed(std::move(body), "text/event-stream")
        .header("Cache-Control", "no-cache")
        .header("X-Accel-Buffering", "no");  // nginx passes each event on at once
}

}  // namespace corral
