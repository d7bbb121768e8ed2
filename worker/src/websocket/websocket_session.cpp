#include "websocket/websocket_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "shared/log.hpp"

namespace corral {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ws = beast::websocket;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Beast sizes a read buffer before the first byte arrives: a small first read keeps an
// idle connection from holding one.
constexpr std::size_t first_read = 128, later_reads = 64 * 1024;

/// The close code a failed read leaves behind: the client's, or the one Beast sent for
/// the violation it found (it answers those itself: 1002, 1007, 1009).
int close_code_for(boost::system::error_code ec, const ws::close_reason& received) {
    if (ec == ws::error::closed) return received.code;
    if (ec == ws::error::message_too_big || ec == ws::error::buffer_overflow)
        return close_code::message_too_big;
    if (ec == ws::error::bad_frame_payload) return close_code::invalid_payload;
    if (ec == ws::condition::protocol_violation) return close_code::protocol_error;
    return 1006;  // no close frame: the connection dropped or timed out
}

}  // namespace

websocket_session::websocket_session(transport_stream stream, websocket_settings settings)
    : ws_(std::move(stream)),
      settings_(std::move(settings)),
      changed_(ws_.get_executor()),
      keepalive_(ws_.get_executor()) {
    changed_.expires_at(asio::steady_timer::time_point::max());  // only cancel() wakes it
}

void websocket_session::configure() {
    // Beast times the handshakes; keep_alive() does the pings. (Beast's own idle timeout
    // re-arms its timer on every read, which costs more than the echo itself.)
    ws::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = settings_.handshake_timeout;
    timeouts.idle_timeout = ws::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.control_callback([this](ws::frame_type, beast::string_view) { heard_from_client(); });
    ws_.read_message_max(settings_.max_message_size);
    ws_.auto_fragment(false);
    auto server = settings_.server_header;
    auto subprotocol = subprotocol_;
    ws_.set_option(ws::stream_base::decorator([server, subprotocol](ws::response_type& res) {
        if (server.empty())
            res.erase(http::field::server);
        else
            res.set(http::field::server, server);
        if (!subprotocol.empty()) res.set(http::field::sec_websocket_protocol, subprotocol);
    }));
}

asio::awaitable<bool> websocket_session::accept(request& req) {
    http::request<http::empty_body> upgrade{http::verb::get, req.target, 11};
    for (const auto& [name, value] : req.headers) upgrade.insert(name, value);
    configure();
    auto [ec] = co_await ws_.async_accept(upgrade, use_tuple);
    if (ec) {
        log::debug("WebSocket handshake with {} failed: {}", req.client_address, ec.message());
        co_return false;
    }
    co_return true;
}

asio::awaitable<bool> websocket_session::run(request& req, const websocket_handler& handler,
                                             std::string subprotocol) {
    subprotocol_ = std::move(subprotocol);
    if (!co_await accept(req)) co_return false;
    open_ = true;
    reading_ = true;
    heard_from_client();
    keep_alive();
    read_next();
    if (going_away_pending_) going_away();
    int code = close_code::normal;
    try {
        co_await handler(req, *this);
    } catch (const websocket_closed&) {
        // the handler sent after the close: its end, not an error
    } catch (const std::exception& e) {
        log::error("WebSocket handler for {} failed: {}", req.path(), e.what());
        code = close_code::internal_error;
    }
    if (!close_started_ && !closed_)
        co_await close(code, code == close_code::normal ? "" : "internal error");
    // The closing handshake ends the read loop, a send in progress and the close itself.
    while (reading_ || sending_ || (close_started_ && !closed_)) co_await wait_for_change();
    co_return true;
}

// The read loop is a chain of completion handlers, not a coroutine: an idle connection
// then holds only Beast's pending read (docs/benchmarks.md, memory per idle connection).
void websocket_session::read_next() {
    // Once our close frame is out, Beast's close operation reads the client's answer.
    if (close_started_) return stop_reading();
    // A handler waiting in receive() takes the inbox before this read can finish; one that
    // is not waiting stops the reading until it takes it (backpressure).
    if (inbox_ && !receiver_waiting_) {
        reader_parked_ = true;
        return;
    }
    read_buffer_.emplace(reading_message_.data);
    read_part(first_read);
}

void websocket_session::read_part(std::size_t limit) {
    ws_.async_read_some(*read_buffer_, limit,
                        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                            self->on_read(ec);
                        });
}

void websocket_session::on_read(boost::system::error_code ec) {
    if (ec) {
        note_read_error(ec);
        return stop_reading();
    }
    heard_from_client();
    if (!ws_.is_message_done()) return read_part(later_reads);
    reading_message_.type =
        ws_.got_text() ? websocket_message::kind::text : websocket_message::kind::binary;
    if (inbox_) {  // the handler was waiting but has not taken the last one yet
        reader_parked_ = true;
        message_ready_ = true;
        return;
    }
    deliver();
}

void websocket_session::deliver() {
    read_buffer_.reset();
    inbox_ = std::move(reading_message_);
    reading_message_ = {};
    message_ready_ = false;
    wake();
    read_next();
}

void websocket_session::unpark_reader() {
    if (!reader_parked_) return;
    reader_parked_ = false;
    if (close_started_) return stop_reading();
    if (message_ready_) return deliver();
    read_next();
}

void websocket_session::stop_reading() {
    reader_parked_ = false;
    reading_ = false;
    keepalive_.cancel();
    if (!close_started_) closed_ = true;  // the client closed (Beast answered) or vanished
    wake();
}

void websocket_session::note_read_error(boost::system::error_code ec) {
    if (closed_with_ == 0) closed_with_ = close_code_for(ec, ws_.reason());
    if (ec != ws::error::closed && ec != asio::error::operation_aborted)
        log::debug("WebSocket connection ended: {} (close code {})", ec.message(), closed_with_);
}

asio::awaitable<std::optional<websocket_message>> websocket_session::receive() {
    receiver_waiting_ = true;
    while (!inbox_ && reading_) {  // wait_for_change(), inline: one frame fewer while idle
        ++waiting_;
        co_await changed_.async_wait(use_tuple);
        --waiting_;
    }
    receiver_waiting_ = false;
    if (!inbox_) co_return std::nullopt;
    auto message = std::move(*inbox_);
    inbox_.reset();
    unpark_reader();
    co_return message;
}

asio::awaitable<void> websocket_session::send(websocket_message message) {
    while (sending_ && !closed_ && !close_started_) co_await wait_for_change();
    if (closed_ || close_started_) throw websocket_closed("the WebSocket connection is closed");
    sending_ = true;
    ws_.text(message.is_text());
    auto [ec, size] = co_await ws_.async_write(asio::buffer(message.data), use_tuple);
    sending_ = false;
    wake();
    if (ec) throw websocket_closed("sending on the WebSocket connection failed: " + ec.message());
}

asio::awaitable<void> websocket_session::close(int code, std::string_view reason) {
    if (close_started_ || closed_ || !open_) co_return;
    close_started_ = true;
    keepalive_.cancel();  // Beast's handshake_timeout bounds the closing handshake
    unpark_reader();      // a parked reader stops
    closed_with_ = code;
    reason = reason.substr(0, ws::reason_string::static_capacity);
    ws::close_reason why(static_cast<std::uint16_t>(code));
    why.reason.assign(reason.data(), reason.size());
    co_await ws_.async_close(why, use_tuple);  // then waits for the client's close frame
    closed_ = true;
    wake();
}

void websocket_session::going_away() {
    if (!open_) {
        going_away_pending_ = true;
        return;
    }
    if (close_started_ || closed_) return;
    auto closer = [self = shared_from_this()]() -> asio::awaitable<void> {
        co_await self->close(close_code::going_away, "the worker is shutting down");
    };
    asio::co_spawn(ws_.get_executor(), std::move(closer), asio::detached);
}

void websocket_session::keep_alive() {
    if (settings_.ping_interval.count() <= 0 || close_started_ || !reading_) return;
    auto now = std::chrono::steady_clock::now();
    // Answered: anything heard since the ping counts, however late this timer ran. (Judged
    // by the time now, a busy worker whose timer ran late dropped clients that had
    // answered in time.)
    if (pinged_ && last_heard_ >= pinged_at_) pinged_ = false;
    if (!pinged_ && now - last_heard_ < settings_.ping_interval) {
        keepalive_.expires_at(last_heard_ + settings_.ping_interval);
    } else if (!pinged_) {
        pinged_ = true;  // silent for a whole interval
        pinged_at_ = now;
        ws_.async_ping({}, [](boost::system::error_code) {});
        keepalive_.expires_at(now + settings_.ping_interval);
    } else {
        // Silent for an interval after the ping: gone. The pending read fails (close
        // code 1006) and the session ends.
        log::debug("WebSocket client silent for {} ms after a ping: disconnecting",
                   settings_.ping_interval.count());
        ws_.next_layer().shutdown_both();
        ws_.next_layer().cancel();
        if (reader_parked_) stop_reading();
        return;
    }
    keepalive_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        if (auto self = weak.lock(); self && !ec) self->keep_alive();
    });
}

asio::awaitable<void> websocket_session::wait_for_change() {
    ++waiting_;
    co_await changed_.async_wait(use_tuple);
    --waiting_;
}

}  // namespace corral
