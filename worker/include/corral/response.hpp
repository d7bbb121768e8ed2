#pragma once
// What a handler returns: status, headers and body. The server adds Date, Server,
// Content-Length (or Transfer-Encoding: chunked for a streamed body) and Connection.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral {

/// Sends one piece of a streamed body. `co_await write(...)` returns once the piece is
/// handed to the kernel: a slow client makes the producer wait, so memory stays bounded.
class body_writer {
  public:
    virtual ~body_writer() = default;
    /// Throws std::system_error when the client has gone away.
    virtual boost::asio::awaitable<void> write(std::string_view piece) = 0;
    /// True once the worker is draining (reload, stop, scale-down, recycle): a stream
    /// that could go on forever should end now; one that ends by itself may finish (it
    /// has up to graceful_timeout).
    virtual bool draining() const { return false; }
    /// Waits `delay` between two pieces; returns early, with false, when the worker
    /// starts draining (and at once if it is draining already).
    virtual boost::asio::awaitable<bool> pause(std::chrono::milliseconds delay);
};

/// Produces a body piece by piece, for large or long responses.
using body_producer = std::function<boost::asio::awaitable<void>(body_writer&)>;

/// Work to do after the response is sent (Starlette's BackgroundTasks): sending an email,
/// writing an audit record. It runs on the event loop (offload() what blocks); a graceful
/// drain waits for it, up to graceful_timeout.
using background_task = std::function<boost::asio::awaitable<void>()>;

struct response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    body_producer stream{};  ///< when set, the body is this, sent chunked (body is ignored)
    std::vector<background_task> background_tasks{};  ///< run in order, once it is sent

    /// A response whose body `producer` writes as it goes (chunked for HTTP/1.1 clients,
    /// up to the connection's close for HTTP/1.0 ones).
    static response streamed(body_producer producer, std::string content_type, int status = 200);

    /// A text/plain response.
    static response text(std::string body, int status = 200);
    /// An application/json response from already serialized JSON (see corral/json.hpp).
    static response json_text(std::string json, int status = 200);
    /// A short text/plain response whose body is the status's reason phrase.
    static response status_only(int status);

    response& header(std::string name, std::string value);
    /// Runs `task` after this response has been sent (see background_task).
    response& add_background_task(background_task task);
};

/// "OK" for 200, "Not Found" for 404, ...; "Unknown" when not listed.
std::string_view reason_phrase(int status);

}  // namespace corral
