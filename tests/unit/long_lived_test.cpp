// WebSocket upgrade checks, server-sent event framing, background tasks and the
// in-process test client.

#include <doctest/doctest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "corral/events.hpp"
#include "corral/offload.hpp"
#include "corral/test_client.hpp"
#include "websocket/websocket_handshake.hpp"

using namespace corral;
namespace asio = boost::asio;

namespace {

request upgrade_request(request::field_list extra = {}) {
    request req;
    req.method = "GET";
    req.target = "/ws";
    req.headers = {{"Host", "x"},
                   {"Upgrade", "websocket"},
                   {"Connection", "keep-alive, Upgrade"},
                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                   {"Sec-WebSocket-Version", "13"}};
    req.headers.insert(req.headers.end(), extra.begin(), extra.end());
    return req;
}

void set_header(request& req, std::string_view name, std::string value) {
    for (auto& [field, text] : req.headers)
        if (iequals(field, name)) text = std::move(value);
}

void drop_header(request& req, std::string_view name) {
    std::erase_if(req.headers, [&](const auto& field) { return iequals(field.first, name); });
}

asio::awaitable<void> echo(request&, websocket& ws) {
    while (auto message = co_await ws.receive()) co_await ws.send(std::move(*message));
}

}  // namespace

TEST_CASE("a valid WebSocket upgrade passes, choosing the first common subprotocol") {
    websocket_options options{.subprotocols = {"graphql-ws", "chat"}};
    auto verdict = check_websocket_upgrade(
        upgrade_request({{"Sec-WebSocket-Protocol", "chat, graphql-ws"}}), options);
    CHECK(verdict.status == 101);
    CHECK(verdict.subprotocol == "graphql-ws");  // ours, in our order of preference
    CHECK(asks_for_websocket(upgrade_request()));
}

TEST_CASE("malformed WebSocket upgrades get 400, 403 or 426 with the reason") {
    websocket_options none;
    auto req = upgrade_request();
    req.method = "POST";
    CHECK(check_websocket_upgrade(req, none).status == 400);

    req = upgrade_request();
    req.version = 10;
    CHECK(check_websocket_upgrade(req, none).status == 400);

    req = upgrade_request();
    set_header(req, "Connection", "keep-alive");
    CHECK(check_websocket_upgrade(req, none).reason.find("Connection") != std::string::npos);

    for (std::string key : {"", "short==", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25j*Q=="}) {
        req = upgrade_request();
        set_header(req, "Sec-WebSocket-Key", key);
        CHECK_MESSAGE(check_websocket_upgrade(req, none).status == 400, key);
    }
    req = upgrade_request();
    drop_header(req, "Sec-WebSocket-Key");
    CHECK(check_websocket_upgrade(req, none).status == 400);

    req = upgrade_request();
    drop_header(req, "Sec-WebSocket-Version");
    CHECK(check_websocket_upgrade(req, none).status == 400);
    req = upgrade_request();
    set_header(req, "Sec-WebSocket-Version", "8");
    CHECK(check_websocket_upgrade(req, none).status == 426);

    req = upgrade_request();
    req.body = "x";
    CHECK(check_websocket_upgrade(req, none).status == 400);

    websocket_options same_site{.accept = allow_origins({"https://example.com"})};
    CHECK(check_websocket_upgrade(upgrade_request({{"Origin", "https://evil.example"}}), same_site)
              .status == 403);
    CHECK(check_websocket_upgrade(upgrade_request({{"Origin", "https://example.com"}}), same_site)
              .status == 101);
    CHECK(check_websocket_upgrade(upgrade_request(), same_site).status == 101);  // no Origin
}

TEST_CASE("server-sent events are framed line by line") {
    CHECK(format_event({.data = "hello"}) == "data: hello\n\n");
    CHECK(format_event({.data = "a\nb\r\nc\rd",
                        .event = "tick",
                        .id = "7",
                        .retry = std::chrono::milliseconds(1500)}) ==
          "event: tick\nid: 7\nretry: 1500\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    CHECK(format_event({.data = "", .event = "x\ny", .id = "", .retry = {}}) ==
          "event: x y\ndata: \n\n");
}

TEST_CASE("the test client runs handlers in process: routes, HEAD, 404/405/426, exceptions") {
    router routes;
    routes
        .get("/users/{id}",
             [](request& req) -> asio::awaitable<response> {
                 co_return response::text("user " + std::string(*req.path_parameter("id")));
             })
        .post("/echo",
              [](request& req) -> asio::awaitable<response> {
                  co_return response::text(req.body + " from " + req.client_address);
              })
        .get("/fails",
             [](request&) -> asio::awaitable<response> {
                 throw std::runtime_error("boom");
                 co_return response::text("unreachable");
             })
        .websocket("/ws", echo);
    test_client client(routes);
    CHECK(client.get("/users/7").body == "user 7");
    CHECK(client.post("/echo", "hi", "text/plain").body == "hi from testclient");
    CHECK(client.get("/nowhere").status == 404);
    CHECK(client.del("/users/7").status == 405);
    CHECK(client.get("/ws").status == 426);
    CHECK(client.get("/fails").status == 500);
    request head;
    head.method = "HEAD";
    head.target = "/users/8";
    auto res = client.send(head);
    CHECK(res.status == 200);
    CHECK(res.body.empty());
}

TEST_CASE("the test client collects streams and runs background tasks and offloaded work") {
    int tasks_run = 0;
    router routes;
    routes
        .get("/stream",
             [](request&) -> asio::awaitable<response> {
                 co_return server_sent_events([](event_stream& events) -> asio::awaitable<void> {
                     for (int i = 1; i <= 3; ++i) {
                         if (!co_await events.sleep(std::chrono::milliseconds(1))) break;
                         server_sent_event event{.data = std::to_string(i)};
                         co_await events.send(event);
                     }
                 });
             })
        .post("/job",
              [&tasks_run](request&) -> asio::awaitable<response> {
                  auto task = [&tasks_run]() -> asio::awaitable<void> {
                      ++tasks_run;
                      co_return;
                  };
                  co_return response::status_only(202).add_background_task(std::move(task));
              })
        .get("/pool", blocking([](request&) {
                 return response::text(std::this_thread::get_id() == std::thread::id() ? ""
                                                                                       : "pool");
             }));
    test_client client(routes);
    auto stream = client.get("/stream");
    CHECK(stream.body == "data: 1\n\ndata: 2\n\ndata: 3\n\n");
    CHECK(stream.status == 200);
    CHECK(client.post("/job", "").status == 202);
    CHECK(tasks_run == 1);
    CHECK(client.get("/pool").body == "pool");
}

TEST_CASE("the test client talks to WebSocket endpoints") {
    router routes;
    routes.websocket("/ws/echo", echo)
        .websocket("/ws/greet/{name}",
                   [](request& req, websocket& ws) -> asio::awaitable<void> {
                       co_await ws.send_text("hello " + std::string(*req.path_parameter("name")) +
                                             " over " + std::string(ws.subprotocol()));
                       co_await ws.close(4000, "bye");
                   },
                   {.subprotocols = {"v2", "v1"}, .accept = allow_origins({"https://ok"})})
        .websocket("/ws/fails", [](request&, websocket&) -> asio::awaitable<void> {
            throw std::runtime_error("boom");
            co_return;
        });
    test_client client(routes);

    auto ws = client.websocket("/ws/echo");
    ws.send_text("one");
    ws.send_binary(std::string("\0\1", 2));
    auto first = ws.receive();
    CHECK(first.is_text());
    CHECK(first.data == "one");
    auto second = ws.receive();
    CHECK_FALSE(second.is_text());
    CHECK(second.data == std::string("\0\1", 2));
    ws.close();
    CHECK_THROWS_AS(ws.send_text("after close"), websocket_closed);

    auto greet = client.websocket("/ws/greet/ann", {{"Sec-WebSocket-Protocol", "v1, v2"}});
    CHECK(greet.subprotocol() == "v2");
    CHECK(greet.receive().data == "hello ann over v2");
    CHECK_THROWS_AS(greet.receive(), websocket_closed);
    CHECK(greet.server_close_code() == 4000);

    CHECK_THROWS_AS(client.websocket("/ws/greet/bob", {{"Origin", "https://evil"}}),
                    websocket_refused);
    CHECK_THROWS_AS(client.websocket("/ws/none"), websocket_refused);
    auto failing = client.websocket("/ws/fails");
    CHECK_THROWS_AS(failing.receive(), websocket_closed);
    CHECK(failing.server_close_code() == close_code::internal_error);
}
