#pragma once
// How a WebSocket connection ends after the close frame: shut down our side, read and
// discard what the client still sends until it closes its side, then close the stream.
//
// Beast 1.81's teardown for TCP sockets stops after the first read that returns data (it
// tests the bytes_transferred of its own call, always 0) and closes the socket with the
// client's data unread: the kernel then answers with a reset, and a client still sending
// (a message over the size limit, say) may lose the close frame before it reads it.
// Beast calls async_teardown unqualified (its customization point): argument-dependent
// lookup finds this one in transport_stream's namespace beside Beast's catch-all
// template, and this one, more specialized, is chosen (the catch-all's static_assert
// would stop the build otherwise). Code that makes a websocket::stream<transport_stream>
// includes this header. The closing handshake's timeout (handshake_timeout) still bounds
// it: Beast closes the stream when it expires (beast_close_socket), which ends the read.

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/role.hpp>
#include <memory>

#include "transport/transport_stream.hpp"

namespace corral {

/// The composed operation behind async_teardown below.
struct drain_and_close {
    transport_stream& stream;
    boost::beast::role_type role;
    std::unique_ptr<std::array<char, 2048>> discard = std::make_unique<std::array<char, 2048>>();
    bool started = false;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t = 0) {
        if (!started) {
            started = true;
            if (role == boost::beast::role_type::server) stream.shutdown_send();
        } else if (ec) {  // the client's end (eof), the timeout's close, or an error
            if (ec == boost::asio::error::eof) ec = {};
            if (role == boost::beast::role_type::client) stream.shutdown_send();
            stream.close();
            self.complete(ec);
            return;
        }
        stream.async_read_some(boost::asio::buffer(*discard), std::move(self));
    }
};

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, transport_stream& stream,
                    TeardownHandler&& on_done) {
    boost::asio::async_compose<TeardownHandler, void(boost::system::error_code)>(
        drain_and_close{stream, role}, on_done, stream);  // moves from on_done
}

}  // namespace corral
