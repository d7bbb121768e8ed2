// The worker SDK's request helpers, router and response serialization.

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "corral/router.hpp"
#include "http1/response_writer.hpp"

using namespace corral;
namespace asio = boost::asio;

namespace {

response route(const router& routes, request req) {
    asio::io_context io;
    auto result = asio::co_spawn(
        io, [&]() -> asio::awaitable<response> { co_return co_await routes.dispatch(req); },
        asio::use_future);
    io.run();
    return result.get();
}

request make_request(std::string method, std::string target) {
    request req;
    req.method = std::move(method);
    req.target = std::move(target);
    return req;
}

asio::awaitable<response> user(request& req) {
    co_return response::text("user " + std::string(*req.path_parameter("id")));
}

asio::awaitable<response> fails(request&) {
    throw std::runtime_error("boom");
    co_return response::text("unreachable");
}

}  // namespace

TEST_CASE("requests expose path, query parameters and case-insensitive headers") {
    auto req = make_request("GET", "/search?q=hello+world&x=%2Fy&empty&q=second");
    req.headers = {{"Content-Type", "text/plain"}};
    CHECK(req.path() == "/search");
    CHECK(req.query_parameter("q") == "hello world");
    CHECK(req.query_parameter("x") == "/y");
    CHECK(req.query_parameter("empty") == "");
    CHECK(!req.query_parameter("missing"));
    CHECK(req.header("content-type") == "text/plain");
    CHECK(!req.header("accept"));
    CHECK(make_request("GET", "/plain").query().empty());
}

TEST_CASE("the router matches methods and path parameters, else 404 or 405") {
    router routes;
    routes.get("/users/{id}", user).post("/users/{id}", user);
    CHECK(route(routes, make_request("GET", "/users/7")).body == "user 7");
    CHECK(route(routes, make_request("HEAD", "/users/7")).status == 200);
    CHECK(route(routes, make_request("GET", "/users")).status == 404);
    CHECK(route(routes, make_request("GET", "/users/7/extra")).status == 404);
    auto not_allowed = route(routes, make_request("DELETE", "/users/7"));
    CHECK(not_allowed.status == 405);
    CHECK(not_allowed.headers.back() == std::pair<std::string, std::string>{"Allow", "GET, POST"});
}

TEST_CASE("a handler's exception becomes a 500, not a crash") {
    router routes;
    routes.get("/", fails);
    CHECK(route(routes, make_request("GET", "/")).status == 500);
}

TEST_CASE("responses serialize with Content-Length, Date and Connection") {
    std::string out;
    append_response(out, response::text("hi"), true, false);
    CHECK(out.starts_with("HTTP/1.1 200 OK\r\nServer: corral\r\nDate: "));
    CHECK(out.ends_with("Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nhi"));
    out.clear();
    append_response(out, response::status_only(404), false, true);
    CHECK(out.find("Connection: close\r\n\r\n") != std::string::npos);
    CHECK(out.ends_with("\r\n\r\n"));  // HEAD: no body, but its length
    CHECK(out.find("Content-Length: 10\r\n") != std::string::npos);
    CHECK(http_date().ends_with(" GMT"));
    out.clear();
    append_chunk(out, "hello");
    append_chunk(out, "");
    CHECK(out == "5\r\nhello\r\n0\r\n\r\n");
    out.clear();
    append_response(out, response{204, {}, "ignored"}, true, false);
    CHECK(out.find("Content-Length") == std::string::npos);
    CHECK(out.ends_with("\r\n\r\n"));
}
