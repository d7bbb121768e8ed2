#include "corral/test_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>

#include "process/thread_pool.hpp"
#include "shared/log.hpp"
#include "websocket/websocket_handshake.hpp"

namespace corral {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace detail {

/// Both ends of an in-process WebSocket: the handler's (this class, as corral::websocket)
/// and the state test_websocket reads and writes, on the client's one loop.
struct in_process_websocket final : websocket {
    explicit in_process_websocket(asio::io_context& io) : changed(io) {
        changed.expires_at(asio::steady_timer::time_point::max());  // cancel() wakes
    }

    asio::awaitable<std::optional<websocket_message>> receive() override {
        while (to_server.empty() && !client_closed && !server_closed)
            co_await changed.async_wait(asio::as_tuple(asio::use_awaitable));
        if (to_server.empty()) co_return std::nullopt;
        auto message = std::move(to_server.front());
        to_server.pop_front();
        co_return message;
    }

    asio::awaitable<void> send(websocket_message message) override {
        if (server_closed || client_closed) throw websocket_closed("the WebSocket is closed");
        to_client.push_back(std::move(message));
        changed.cancel();
        co_return;
    }

    asio::awaitable<void> close(int code, std::string_view) override {
        close_from_server(code);
        co_return;
    }

    std::string_view subprotocol() const override { return chosen_subprotocol; }
    int closed_with() const override { return server_code ? server_code : client_code; }

    void close_from_server(int code) {
        if (server_closed || client_closed) return;
        server_closed = true;
        server_code = code;
        changed.cancel();
    }

    request req;
    std::string chosen_subprotocol;
    std::deque<websocket_message> to_server, to_client;
    asio::steady_timer changed;
    bool client_closed = false, server_closed = false, handler_done = false;
    int client_code = 0, server_code = 0;
};

}  // namespace detail

namespace {

/// Collects a streamed body.
class collecting_writer final : public body_writer {
  public:
    asio::awaitable<void> write(std::string_view piece) override {
        body.append(piece);
        co_return;
    }
    std::string body;
};

request make_request(std::string method, std::string target, request::field_list headers,
                     std::string body) {
    request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.headers = std::move(headers);
    req.body = std::move(body);
    req.remote_address = req.client_address = "testclient";
    return req;
}

}  // namespace

test_client::test_client(const router& routes, std::size_t threads)
    : routes_(routes), pool_(threads) {
    use_thread_pool(&pool_);
}

test_client::~test_client() {
    use_thread_pool(nullptr);
    pool_.join();
}

void test_client::run_until(const bool& done, milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done) {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero())
            throw std::runtime_error("test_client: the handler did not finish within " +
                                     std::to_string(timeout.count()) + " ms");
        io_.restart();
        io_.run_one_for(left);
    }
}

response test_client::send(request req) {
    if (req.remote_address.empty()) req.remote_address = req.client_address = "testclient";
    bool done = false;
    std::optional<response> result;
    std::exception_ptr failure;
    auto call = [&]() -> asio::awaitable<void> {
        auto res = co_await routes_.dispatch(req);
        if (res.stream) {
            collecting_writer writer;
            co_await res.stream(writer);
            res.body = std::move(writer.body);
            res.stream = nullptr;
        }
        if (req.method == "HEAD") res.body.clear();
        for (const auto& task : res.background_tasks) co_await task();
        res.background_tasks.clear();
        result = std::move(res);
    };
    asio::co_spawn(io_, std::move(call), [&](std::exception_ptr error) {
        failure = error;
        done = true;
    });
    run_until(done, std::chrono::minutes(1));
    if (failure) std::rethrow_exception(failure);
    return std::move(*result);
}

response test_client::get(std::string target, request::field_list headers) {
    return send(make_request("GET", std::move(target), std::move(headers), ""));
}

response test_client::del(std::string target, request::field_list headers) {
    return send(make_request("DELETE", std::move(target), std::move(headers), ""));
}

response test_client::post(std::string target, std::string body, std::string content_type) {
    return send(make_request("POST", std::move(target), {{"Content-Type", std::move(content_type)}},
                             std::move(body)));
}

response test_client::put(std::string target, std::string body, std::string content_type) {
    return send(make_request("PUT", std::move(target), {{"Content-Type", std::move(content_type)}},
                             std::move(body)));
}

test_websocket test_client::websocket(std::string target, request::field_list headers) {
    auto state = std::make_shared<detail::in_process_websocket>(io_);
    headers.insert(headers.end(), {{"Upgrade", "websocket"},
                                   {"Connection", "Upgrade"},
                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                   {"Sec-WebSocket-Version", "13"}});
    state->req = make_request("GET", std::move(target), std::move(headers), "");
    state->req.version = 11;
    const auto* endpoint = routes_.find_websocket(state->req);
    if (!endpoint) throw websocket_refused(404, "no WebSocket endpoint at " + state->req.target);
    auto verdict = check_websocket_upgrade(state->req, endpoint->options);
    if (verdict.status != 101) throw websocket_refused(verdict.status, verdict.reason);
    state->chosen_subprotocol = verdict.subprotocol;
    auto run_handler = [state, handler = &endpoint->handler]() -> asio::awaitable<void> {
        int code = close_code::normal;
        try {
            co_await (*handler)(state->req, *state);
        } catch (const websocket_closed&) {
        } catch (const std::exception& e) {
            log::error("WebSocket handler for {} failed: {}", state->req.path(), e.what());
            code = close_code::internal_error;
        }
        state->close_from_server(code);
        state->handler_done = true;
    };
    asio::co_spawn(io_, std::move(run_handler), asio::detached);
    io_.restart();
    io_.poll();  // the handler runs up to its first wait
    return test_websocket(io_, std::move(state));
}

test_websocket::test_websocket(asio::io_context& io,
                               std::shared_ptr<detail::in_process_websocket> state)
    : io_(&io), state_(std::move(state)) {}

test_websocket::test_websocket(test_websocket&&) noexcept = default;
test_websocket& test_websocket::operator=(test_websocket&&) noexcept = default;

test_websocket::~test_websocket() {
    if (!state_) return;
    try {
        close();
    } catch (const std::exception& e) {
        log::error("test_websocket: {}", e.what());
    }
}

void test_websocket::send(websocket_message message) {
    if (state_->client_closed || state_->server_closed)
        throw websocket_closed("the WebSocket is closed (server code " +
                               std::to_string(state_->server_code) + ")");
    state_->to_server.push_back(std::move(message));
    state_->changed.cancel();
    io_->restart();
    io_->poll();
}

websocket_message test_websocket::receive(milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (!state_->to_client.empty()) {
            auto message = std::move(state_->to_client.front());
            state_->to_client.pop_front();
            return message;
        }
        if (state_->server_closed || state_->handler_done)
            throw websocket_closed("the server closed the WebSocket with " +
                                   std::to_string(state_->server_code));
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero())
            throw std::runtime_error("test_websocket: no message within " +
                                     std::to_string(timeout.count()) + " ms");
        io_->restart();
        io_->run_one_for(left);
    }
}

void test_websocket::close(int code) {
    if (!state_->client_closed && !state_->server_closed) {
        state_->client_closed = true;
        state_->client_code = code;
        state_->changed.cancel();
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!state_->handler_done) {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero())
            throw std::runtime_error("test_websocket: the handler did not return after the close");
        io_->restart();
        io_->run_one_for(left);
    }
}

int test_websocket::server_close_code() const { return state_->server_code; }

std::string test_websocket::subprotocol() const { return state_->chosen_subprotocol; }

}  // namespace corral
