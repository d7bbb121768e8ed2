#pragma once
// One upgraded connection: Beast's websocket stream over the connection's transport, the
// handler's view of it (corral::websocket), and a read loop that always runs, so pings,
// pongs, the client's close and the idle timeout are handled even while the handler only
// sends. It holds at most one received message the handler has not taken yet (and reads
// the next only while the handler waits in receive()): a handler that stops receiving
// stops the reading (backpressure).

#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "corral/websocket.hpp"
#include "transport/transport_stream.hpp"
#include "websocket/websocket_teardown.hpp"  // Beast's teardown for transport_stream

namespace corral {

/// From the worker's server_limits (the settings websocket_max_message_size,
/// websocket_ping_interval, header_timeout and server_header), or an endpoint's own size.
struct websocket_settings {
    std::uint64_t max_message_size = 0;
    std::chrono::milliseconds ping_interval{};      ///< 0: no pings, no idle timeout
    std::chrono::milliseconds handshake_timeout{};  ///< opening and closing handshakes
    std::string server_header;
};

class websocket_session final : public websocket,
                                public std::enable_shared_from_this<websocket_session> {
  public:
    websocket_session(transport_stream stream, websocket_settings settings);

    /// Answers the upgrade request with 101, runs the handler, and closes (1000, or 1011
    /// when the handler threw) unless a close happened already. False when the handshake
    /// failed.
    boost::asio::awaitable<bool> run(request& req, const websocket_handler& handler,
                                     std::string subprotocol);
    /// The worker is draining: close with 1001 (at once, or right after the handshake).
    void going_away();

    boost::asio::awaitable<std::optional<websocket_message>> receive() override;
    boost::asio::awaitable<void> send(websocket_message message) override;
    boost::asio::awaitable<void> close(int code, std::string_view reason) override;
    std::string_view subprotocol() const override { return subprotocol_; }
    int closed_with() const override { return closed_with_; }

  private:
    /// Without permessage-deflate (not offered): a smaller stream.
    using stream_type = boost::beast::websocket::stream<transport_stream, false>;

    boost::asio::awaitable<bool> accept(request& req);
    /// The read loop: reads the next message unless the close started or the handler has
    /// not taken the last one (then it parks until receive() or close() unparks it).
    void read_next();
    void read_part(std::size_t limit);
    void on_read(boost::system::error_code ec);
    void deliver();  ///< the message read goes to the inbox; the next read starts
    void unpark_reader();
    void stop_reading();
    void configure();
    /// Waits until another party calls wake(): the handler, the read loop and senders
    /// each wait for a change of state this way.
    boost::asio::awaitable<void> wait_for_change();
    void wake() {
        if (waiting_ > 0) changed_.cancel();
    }
    void note_read_error(boost::system::error_code ec);
    void heard_from_client() { last_heard_ = std::chrono::steady_clock::now(); }
    /// Pings a client silent for ping_interval; disconnects one still silent an interval
    /// after the ping. Runs on keepalive_ from the handshake until the close starts.
    void keep_alive();

    stream_type ws_;
    websocket_settings settings_;
    boost::asio::steady_timer changed_;
    boost::asio::steady_timer keepalive_;
    std::chrono::steady_clock::time_point last_heard_{};  ///< the last frame read
    std::chrono::steady_clock::time_point pinged_at_{};   ///< the last keep-alive ping
    std::optional<websocket_message> inbox_;  ///< received, not yet taken by the handler
    websocket_message reading_message_;       ///< the one being read
    /// Beast reads into reading_message_.data through this (it keeps a reference).
    std::optional<
        boost::asio::dynamic_string_buffer<char, std::char_traits<char>, std::allocator<char>>>
        read_buffer_;
    std::string subprotocol_;
    int closed_with_ = 0;
    bool open_ = false;           ///< the handshake is done
    bool reading_ = false;        ///< the read loop runs (maybe parked)
    bool reader_parked_ = false;  ///< it waits for the handler to take the inbox
    bool message_ready_ = false;  ///< reading_message_ is whole, waiting for the inbox
    bool sending_ = false;        ///< a send() is writing
    bool close_started_ = false;  ///< we sent (or are sending) our close frame
    bool closed_ = false;         ///< no more messages either way
    bool going_away_pending_ = false;
    bool pinged_ = false;            ///< a keep-alive ping is unanswered
    bool receiver_waiting_ = false;  ///< the handler waits in receive()
    int waiting_ = 0;                ///< coroutines in wait_for_change()
};

}  // namespace corral
