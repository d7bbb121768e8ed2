#include "corral/response.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace corral {

response response::text(std::string body, int status) {
    return response{status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

response response::json_text(std::string json, int status) {
    return response{status, {{"Content-Type", "application/json"}}, std::move(json)};
}

response response::status_only(int status) {
    return text(std::string(reason_phrase(status)) + "\n", status);
}

boost::asio::awaitable<bool> body_writer::pause(std::chrono::milliseconds delay) {
    if (draining()) co_return false;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, delay);
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return !draining();
}

response response::streamed(body_producer producer, std::string content_type, int status) {
    response res{status, {{"Content-Type", std::move(content_type)}}, ""};
    res.stream = std::move(producer);
    return res;
}

response& response::add_background_task(background_task task) {
    background_tasks.push_back(std::move(task));
    return *this;
}

response& response::header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 422:
            return "Unprocessable Content";
        case 426:
            return "Upgrade Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
    }
    return "Unknown";
}

}  // namespace corral
