#pragma once
// How a WebSocket connection on the worker's socket type ends after the close frame:
// shut down our side, read and discard what the client still sends until it closes its
// side, then close the socket.
//
// Beast 1.81's teardown for TCP sockets stops after the first read that returns data (it
// tests the bytes_transferred of its own call, always 0) and closes the socket with the
// client's data unread: the kernel then answers with a reset, and a client still sending
// (a message over the size limit, say) may lose the close frame before it reads it.
// Beast looks this overload up when it tears a stream down (its customization point);
// being more specialized than Beast's, it wins for this one socket type. The closing
// handshake's timeout (handshake_timeout) still bounds it: Beast closes the socket when
// it expires, which ends the read here.

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <memory>

namespace corral {

using websocket_socket = boost::asio::basic_stream_socket<boost::asio::generic::stream_protocol,
                                                          boost::asio::any_io_executor>;

/// The composed operation behind async_teardown below.
struct drain_and_close {
    websocket_socket& socket;
    boost::beast::role_type role;
    std::unique_ptr<std::array<char, 2048>> discard = std::make_unique<std::array<char, 2048>>();
    bool started = false;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t = 0) {
        if (!started) {
            started = true;
            boost::system::error_code ignored;
            if (role == boost::beast::role_type::server)
                socket.shutdown(boost::asio::socket_base::shutdown_send, ignored);
        } else if (ec) {  // the client's end (eof), the timeout's close, or an error
            if (ec == boost::asio::error::eof) ec = {};
            boost::system::error_code ignored;
            if (role == boost::beast::role_type::client)
                socket.shutdown(boost::asio::socket_base::shutdown_send, ignored);
            socket.close(ignored);
            self.complete(ec);
            return;
        }
        socket.async_read_some(boost::asio::buffer(*discard), std::move(self));
    }
};

}  // namespace corral

namespace boost::beast::websocket {

template <class TeardownHandler>
void async_teardown(role_type role, corral::websocket_socket& socket, TeardownHandler&& handler) {
    boost::asio::async_compose<TeardownHandler, void(boost::system::error_code)>(
        corral::drain_and_close{socket, role}, handler, socket);  // moves from handler
}

}  // namespace boost::beast::websocket
