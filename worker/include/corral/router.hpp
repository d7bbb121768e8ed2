#pragma once
// Routing requests to handlers by method and path pattern ("/users/{id}"). A path that
// matches no pattern gets 404; one that matches with another method, 405 with Allow.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <vector>

#include "corral/request.hpp"
#include "corral/response.hpp"

namespace corral {

/// A handler is a coroutine on the worker's event loop: it must not block.
using handler = std::function<boost::asio::awaitable<response>(request&)>;

class router {
public:
    router& add(std::string method, std::string pattern, handler h);
    router& get(std::string pattern, handler h) { return add("GET", std::move(pattern), std::move(h)); }
    router& post(std::string pattern, handler h) { return add("POST", std::move(pattern), std::move(h)); }
    router& put(std::string pattern, handler h) { return add("PUT", std::move(pattern), std::move(h)); }
    router& del(std::string pattern, handler h) { return add("DELETE", std::move(pattern), std::move(h)); }
    /// Answers every request that no route matches (instead of 404/405).
    router& fallback(handler h) {
        fallback_ = std::move(h);
        return *this;
    }

    /// Runs the matching handler; 404/405 when none matches; a handler's exception becomes
    /// a 500, with the error logged. HEAD is served by the GET handler.
    boost::asio::awaitable<response> dispatch(request& req) const;

private:
    struct route {
        std::string method;
        std::vector<std::string> segments;  ///< "{name}" segments capture
        handler h;
    };
    std::vector<route> routes_;
    handler fallback_;
};

}  // namespace corral
