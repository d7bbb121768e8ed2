#pragma once
// Routing requests to handlers by method and path pattern ("/users/{id}"). A path that
// matches no pattern gets 404; one that matches with another method, 405 with Allow; a
// plain request to a WebSocket endpoint, 426.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <vector>

#include "corral/request.hpp"
#include "corral/response.hpp"
#include "corral/websocket.hpp"

namespace corral {

/// A handler is a coroutine on the worker's event loop: it must not block.
using handler = std::function<boost::asio::awaitable<response>(request&)>;

class router {
  public:
    router& add(std::string method, std::string pattern, handler h);
    router& get(std::string pattern, handler h) {
        return add("GET", std::move(pattern), std::move(h));
    }
    router& post(std::string pattern, handler h) {
        return add("POST", std::move(pattern), std::move(h));
    }
    router& put(std::string pattern, handler h) {
        return add("PUT", std::move(pattern), std::move(h));
    }
    router& del(std::string pattern, handler h) {
        return add("DELETE", std::move(pattern), std::move(h));
    }
    /// A WebSocket endpoint: upgrade requests to `pattern` run `h` (see corral/websocket.hpp).
    router& websocket(std::string pattern, websocket_handler h, websocket_options options = {});
    /// Answers every request that no route matches (instead of 404/405).
    router& fallback(handler h) {
        fallback_ = std::move(h);
        return *this;
    }

    /// Runs the matching handler; 404/405 when none matches; a handler's exception becomes
    /// a 500, with the error logged. HEAD is served by the GET handler.
    boost::asio::awaitable<response> dispatch(request& req) const;

    /// dispatch() in two steps, for a server that runs the handler in its own coroutine
    /// (one coroutine frame fewer per request): the handler that matches, with the path
    /// parameters filled in, or else the answer (404, 405 with Allow, 426).
    struct match {
        const handler* chosen = nullptr;
        response answer;  ///< when chosen is nullptr
    };
    match resolve(request& req) const;
    /// Logs a handler's exception (`what`) and returns the 500 that replaces its response.
    static response handler_failed(const request& req, std::string_view what);

    struct websocket_endpoint {
        std::vector<std::string> segments;
        websocket_handler handler;
        websocket_options options;
    };
    /// The WebSocket endpoint for the request's path, with its path parameters filled in;
    /// nullptr when there is none.
    const websocket_endpoint* find_websocket(request& req) const;

  private:
    struct route {
        std::string method;
        std::vector<std::string> segments;  ///< "{name}" segments capture
        handler h;
    };
    std::vector<route> routes_;
    std::vector<websocket_endpoint> websockets_;
    handler fallback_;
};

}  // namespace corral
