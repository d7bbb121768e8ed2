#pragma once
// The byte stream a protocol speaks over, whatever carries it. A protocol (http1/, and
// the WebSocket session it hands a connection to) reads, writes, shuts down and closes
// through a transport_stream and never names a socket type, so a transport is added here
// once for every protocol: TLS becomes a second kind of stream in this class. Today it
// carries the accepted socket, and each operation is an inline forward to it.
//
// It is an Asio AsyncStream (get_executor, async_read_some, async_write_some), so
// asio::async_write and Beast's websocket::stream take it as it is; beast_close_socket
// and async_teardown (websocket/websocket_teardown.hpp) are Beast's customization points
// for it.

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>
#include <utility>

namespace corral {

class transport_stream {
  public:
    using socket_type = boost::asio::generic::stream_protocol::socket;
    using executor_type = socket_type::executor_type;

    explicit transport_stream(socket_type socket) : socket_(std::move(socket)) {}

    executor_type get_executor() { return socket_.get_executor(); }

    template <class MutableBuffers, class CompletionToken>
    auto async_read_some(const MutableBuffers& buffers, CompletionToken&& token) {
        return socket_.async_read_some(buffers, std::forward<CompletionToken>(token));
    }

    template <class ConstBuffers, class CompletionToken>
    auto async_write_some(const ConstBuffers& buffers, CompletionToken&& token) {
        return socket_.async_write_some(buffers, std::forward<CompletionToken>(token));
    }

    /// Ends our direction after what was written (the peer reads its end); reading on
    /// goes on working.
    void shutdown_send() {
        boost::system::error_code ignored;
        socket_.shutdown(boost::asio::socket_base::shutdown_send, ignored);
    }
    /// Ends both directions: a pending read completes, and the peer sees the end.
    void shutdown_both() {
        boost::system::error_code ignored;
        socket_.shutdown(boost::asio::socket_base::shutdown_both, ignored);
    }
    /// The pending read or write completes with operation_aborted.
    void cancel() {
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    }
    void close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

  private:
    socket_type socket_;
};

/// Beast closes the stream this way when a WebSocket handshake or close times out.
inline void beast_close_socket(transport_stream& stream) { stream.close(); }

}  // namespace corral
