#pragma once
// What a handler returns: status, headers and body. The server adds Date, Server,
// Content-Length (or Transfer-Encoding: chunked for a streamed body) and Connection.

#include <boost/asio/awaitable.hpp>
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
};

/// Produces a body piece by piece, for large or long responses.
using body_producer = std::function<boost::asio::awaitable<void>(body_writer&)>;

struct response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    body_producer stream{};  ///< when set, the body is this, sent chunked (body is ignored)

    /// A response whose body `producer` writes as it goes (chunked for HTTP/1.1 clients,
    /// up to the connection's close for HTTP/1.0 ones).
    static response streamed(body_producer producer, std::string content_type,
                             int status = 200);

    /// A text/plain response.
    static response text(std::string body, int status = 200);
    /// An application/json response from already serialized JSON (see corral/json.hpp).
    static response json_text(std::string json, int status = 200);
    /// A short text/plain response whose body is the status's reason phrase.
    static response status_only(int status);

    response& header(std::string name, std::string value);
};

/// "OK" for 200, "Not Found" for 404, ...; "Unknown" when not listed.
std::string_view reason_phrase(int status);

}  // namespace corral
