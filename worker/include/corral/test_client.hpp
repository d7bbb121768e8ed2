#pragma once
// Calling a router in process, without sockets or a master (FastAPI's TestClient): for
// an app's unit tests. Each call runs the handler to completion on the client's own event
// loop and thread pool (so offload() works) and returns what the handler made: a streamed
// body is collected, background tasks have run. The server's own headers (Date, Server,
// Content-Length) are not added; the request's remote and client address are "testclient".
//
//   corral::test_client client(routes);
//   auto res = client.get("/notes/1");
//   CHECK(res.status == 200);
//   auto ws = client.websocket("/ws/echo");
//   ws.send_text("hi");
//   CHECK(ws.receive().data == "hi");

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "corral/request.hpp"
#include "corral/response.hpp"
#include "corral/router.hpp"
#include "corral/websocket.hpp"

namespace corral {

namespace detail {
struct in_process_websocket;
}

/// The client's end of a WebSocket opened by test_client::websocket().
class test_websocket {
  public:
    test_websocket(test_websocket&&) noexcept;
    test_websocket& operator=(test_websocket&&) noexcept;
    /// Closes with 1000 if neither side has closed, and waits for the handler to return.
    ~test_websocket();

    void send(websocket_message message);
    void send_text(std::string text) { send(websocket_message::text(std::move(text))); }
    void send_binary(std::string data) { send(websocket_message::binary(std::move(data))); }
    /// The next message from the handler; throws websocket_closed once the server closed
    /// with none left, and std::runtime_error after `timeout` without one.
    websocket_message receive(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// Closes from the client's side and waits (up to 5 s) for the handler to return.
    void close(int code = close_code::normal);
    /// The close code the server sent (0 while it has not closed).
    int server_close_code() const;
    /// The subprotocol the endpoint chose.
    std::string subprotocol() const;

  private:
    friend class test_client;
    test_websocket(boost::asio::io_context& io,
                   std::shared_ptr<detail::in_process_websocket> state);

    boost::asio::io_context* io_;
    std::shared_ptr<detail::in_process_websocket> state_;
};

/// Thrown by test_client::websocket() when the endpoint refuses the upgrade.
class websocket_refused : public std::runtime_error {
  public:
    websocket_refused(int refused_with, const std::string& reason)
        : std::runtime_error(reason), status(refused_with) {}
    int status;  ///< 400, 403, 404 (no such endpoint), 426
};

class test_client {
  public:
    explicit test_client(const router& routes, std::size_t threads = 2);
    ~test_client();
    test_client(const test_client&) = delete;
    test_client& operator=(const test_client&) = delete;

    /// Dispatches `req` as the server would: 404/405/426, HEAD by the GET handler (body
    /// left out), a handler's exception as 500.
    response send(request req);
    response get(std::string target, request::field_list headers = {});
    response del(std::string target, request::field_list headers = {});
    response post(std::string target, std::string body,
                  std::string content_type = "application/json");
    response put(std::string target, std::string body,
                 std::string content_type = "application/json");

    /// Opens a WebSocket to `target` (with `headers`, e.g. Origin or
    /// Sec-WebSocket-Protocol): the endpoint's upgrade checks run, then its handler, on
    /// this client's loop. Throws websocket_refused when it is not upgraded.
    test_websocket websocket(std::string target, request::field_list headers = {});

  private:
    /// Runs the loop until `done` is true; throws after `timeout`.
    void run_until(const bool& done, std::chrono::milliseconds timeout);

    const router& routes_;
    boost::asio::io_context io_;
    boost::asio::thread_pool pool_;
};

}  // namespace corral
