// docs/examples/testing.cpp: an app's tests with corral::test_client (doctest here).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "corral/test_client.hpp"

namespace asio = boost::asio;

corral::router make_routes() {
    corral::router routes;
    routes
        .get("/hello/{name}",
             [](corral::request& req) -> asio::awaitable<corral::response> {
                 co_return corral::response::text("hello " +
                                                  std::string(*req.path_parameter("name")));
             })
        .websocket("/ws/shout",
                   [](corral::request&, corral::websocket& ws) -> asio::awaitable<void> {
                       while (auto message = co_await ws.receive()) {
                           for (auto& c : message->data) c = static_cast<char>(std::toupper(c));
                           co_await ws.send(std::move(*message));
                       }
                   });
    return routes;
}

TEST_CASE("the app answers over HTTP and WebSocket") {
    auto routes = make_routes();
    corral::test_client client(routes);

    auto res = client.get("/hello/ann");
    CHECK(res.status == 200);
    CHECK(res.body == "hello ann");
    CHECK(client.get("/nowhere").status == 404);

    auto ws = client.websocket("/ws/shout");
    ws.send_text("hi");
    CHECK(ws.receive().data == "HI");
    ws.close();
}
