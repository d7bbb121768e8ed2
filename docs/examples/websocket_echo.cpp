// docs/examples/websocket_echo.cpp: a WebSocket endpoint that echoes every message.
#include "corral/worker.hpp"

namespace asio = boost::asio;

asio::awaitable<void> echo(corral::request&, corral::websocket& ws) {
    while (auto message = co_await ws.receive())  // std::nullopt once closed
        co_await ws.send(std::move(*message));
}  // returning closes with 1000 (1011 if it threw)

int main() {
    corral::router routes;
    routes.websocket("/ws/echo", echo,
                     {.subprotocols = {"echo.v1"},  // chosen if the client offers it
                      .accept = corral::allow_origins({"https://app.example.com"}),
                      .max_message_size = 64 * 1024});  // larger: close 1009
    return corral::run_worker(routes);
}
