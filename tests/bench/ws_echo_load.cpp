// corral-ws-load: WebSocket load for tests/bench/websocket.sh, on Beast's client stream.
//
//   corral-ws-load echo HOST PORT PATH CONNECTIONS SECONDS [MESSAGE_BYTES]
//       each connection sends a text message and waits for its echo, again and again;
//       prints "round_trips N errors E"
//   corral-ws-load idle HOST PORT PATH CONNECTIONS
//       opens the connections, prints "open N" and holds them until stdin closes

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace ws = boost::beast::websocket;
using tcp = asio::ip::tcp;
using stream_type = ws::stream<tcp::socket>;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct load {
    std::string host, port, path;
    std::chrono::steady_clock::time_point until;
    std::string message;
    std::uint64_t round_trips = 0, errors = 0, open = 0;
};

asio::awaitable<std::unique_ptr<stream_type>> connect(load& l) {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    auto endpoints = co_await resolver.async_resolve(l.host, l.port, asio::use_awaitable);
    auto stream = std::make_unique<stream_type>(executor);
    co_await asio::async_connect(stream->next_layer(), endpoints, asio::use_awaitable);
    stream->next_layer().set_option(tcp::no_delay(true));
    co_await stream->async_handshake(l.host, l.path, asio::use_awaitable);
    co_return stream;
}

asio::awaitable<void> echo_loop(load& l) {
    try {
        auto stream = co_await connect(l);
        stream->text(true);
        boost::beast::flat_buffer buffer;
        while (std::chrono::steady_clock::now() < l.until) {
            co_await stream->async_write(asio::buffer(l.message), asio::use_awaitable);
            buffer.clear();
            co_await stream->async_read(buffer, asio::use_awaitable);
            ++l.round_trips;
        }
        co_await stream->async_close(ws::close_code::normal, use_tuple);
    } catch (const std::exception&) {
        ++l.errors;
    }
}

asio::awaitable<void> hold_idle(load& l, std::vector<std::unique_ptr<stream_type>>& held) {
    try {
        held.push_back(co_await connect(l));
        ++l.open;
    } catch (const std::exception&) {
        ++l.errors;
    }
}

int main(int argc, char** argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: %s echo|idle HOST PORT PATH CONNECTIONS [SECONDS [BYTES]]\n",
                     argv[0]);
        return 2;
    }
    std::string mode = argv[1];
    load l{argv[2], argv[3], argv[4], {}, {}};
    int connections = std::stoi(argv[5]);
    asio::io_context io(1);
    if (mode == "echo") {
        int seconds = argc > 6 ? std::stoi(argv[6]) : 5;
        l.message.assign(argc > 7 ? std::stoul(argv[7]) : 32, 'x');
        l.until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        for (int i = 0; i < connections; ++i) asio::co_spawn(io, echo_loop(l), asio::detached);
        io.run();
        std::printf("round_trips %llu errors %llu\n",
                    static_cast<unsigned long long>(l.round_trips),
                    static_cast<unsigned long long>(l.errors));
        return l.errors ? 1 : 0;
    }
    std::vector<std::unique_ptr<stream_type>> held;
    for (int i = 0; i < connections; ++i) asio::co_spawn(io, hold_idle(l, held), asio::detached);
    io.run();
    std::printf("open %llu errors %llu\n", static_cast<unsigned long long>(l.open),
                static_cast<unsigned long long>(l.errors));
    std::fflush(stdout);
    char c;
    while (std::fread(&c, 1, 1, stdin) == 1) {
    }  // hold until stdin closes
    return 0;
}
