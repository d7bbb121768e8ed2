#pragma once
// WebSocket endpoints (RFC 6455). A route registered with router::websocket() gets the
// connection after the server has checked the upgrade request and answered 101; its
// handler is a coroutine that receives and sends messages until either side closes.
// Ping/pong, fragmentation, UTF-8 checks of text messages and the closing handshake are
// the server's business (Boost.Beast's websocket stream underneath).
//
//   routes.websocket("/ws/echo", [](corral::request&, corral::websocket& ws)
//                                     -> boost::asio::awaitable<void> {
//       while (auto message = co_await ws.receive())
//           co_await ws.send(*message);
//   });

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "corral/request.hpp"

namespace corral {

/// One whole message (fragments are joined before the handler sees it).
struct websocket_message {
    enum class kind { text, binary };
    kind type = kind::text;
    std::string data;

    static websocket_message text(std::string data) { return {kind::text, std::move(data)}; }
    static websocket_message binary(std::string data) { return {kind::binary, std::move(data)}; }
    bool is_text() const { return type == kind::text; }
};

/// Close codes a handler is likely to use (RFC 6455 7.4.1).
namespace close_code {
constexpr int normal = 1000;
constexpr int going_away = 1001;  ///< the worker is draining (reload, stop, scale-down)
constexpr int protocol_error = 1002;
constexpr int unsupported_data = 1003;
constexpr int invalid_payload = 1007;  ///< e.g. invalid UTF-8 in a text message
constexpr int policy_violation = 1008;
constexpr int message_too_big = 1009;
constexpr int internal_error = 1011;  ///< the handler threw
}  // namespace close_code

/// Thrown by send() once the connection is closed or closing: the handler should return.
class websocket_closed : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// The handler's side of one WebSocket connection. One receive() and one send() may be
/// pending at a time each; more sends wait their turn.
class websocket {
  public:
    virtual ~websocket() = default;

    /// The next message; std::nullopt once the connection is closed (by the client, by the
    /// worker draining, a protocol error or a timeout): the handler should return then.
    virtual boost::asio::awaitable<std::optional<websocket_message>> receive() = 0;
    /// Sends one message; returns once it is handed to the kernel, so a slow client makes
    /// the sender wait. Throws websocket_closed when the connection is closed.
    virtual boost::asio::awaitable<void> send(websocket_message message) = 0;
    /// Starts the closing handshake (once; later calls do nothing).
    virtual boost::asio::awaitable<void> close(int code = corral::close_code::normal,
                                               std::string_view reason = "") = 0;
    /// The subprotocol chosen at the handshake ("" when none).
    virtual std::string_view subprotocol() const = 0;
    /// The close code received or sent (0 while open).
    virtual int closed_with() const = 0;

    // The messages are named before co_await: g++ 12 destroys a temporary of a co_await
    // expression twice (handlers should do the same).
    boost::asio::awaitable<void> send_text(std::string text) {
        auto message = websocket_message::text(std::move(text));
        co_await send(std::move(message));
    }
    boost::asio::awaitable<void> send_binary(std::string data) {
        auto message = websocket_message::binary(std::move(data));
        co_await send(std::move(message));
    }
};

/// A WebSocket route's handler: runs once the connection is upgraded. When it returns,
/// the server closes with 1000 (or 1011 when it threw), unless it closed already.
using websocket_handler = std::function<boost::asio::awaitable<void>(request&, websocket&)>;

struct websocket_options {
    /// Subprotocols this endpoint speaks, preferred first; the first one the client also
    /// offers (Sec-WebSocket-Protocol) is chosen. None offered in common: no subprotocol.
    std::vector<std::string> subprotocols{};
    /// Decides on the upgrade request, e.g. from its Origin header (cross-site WebSocket
    /// hijacking): false answers 403 and nothing is upgraded. Unset accepts every origin.
    std::function<bool(const request&)> accept{};
    /// Largest message accepted, in bytes; larger closes with 1009. 0: the
    /// websocket_max_message_size setting.
    std::uint64_t max_message_size = 0;
};

/// Accepts only requests without Origin (non-browser clients) or whose Origin is listed
/// ("https://example.com").
std::function<bool(const request&)> allow_origins(std::vector<std::string> origins);

}  // namespace corral
