#include "corral/router.hpp"

#include "shared/log.hpp"

namespace corral {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> segments;
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        auto slash = path.find('/');
        segments.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash);
    }
    return segments;
}

bool is_capture(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

/// Whether `path` matches `pattern` segment by segment, without splitting it into a
/// vector (this runs per request); fills `captures` when given.
bool matches(const std::vector<std::string>& pattern, std::string_view path,
             request::field_list* captures) {
    std::size_t index = 0;
    for (;;) {
        while (!path.empty() && path.front() == '/') path.remove_prefix(1);
        if (path.empty()) return index == pattern.size();
        auto segment = path.substr(0, path.find('/'));
        if (index == pattern.size()) return false;
        const auto& expected = pattern[index++];
        if (is_capture(expected)) {
            if (captures) captures->emplace_back(expected.substr(1, expected.size() - 2), segment);
        } else if (expected != segment) {
            return false;
        }
        path.remove_prefix(segment.size());
    }
}

}  // namespace

router& router::add(std::string method, std::string pattern, handler h) {
    route r{std::move(method), {}, std::move(h)};
    for (auto segment : split_path(pattern)) r.segments.emplace_back(segment);
    routes_.push_back(std::move(r));
    return *this;
}

router& router::websocket(std::string pattern, websocket_handler h, websocket_options options) {
    websocket_endpoint endpoint{{}, std::move(h), std::move(options)};
    for (auto segment : split_path(pattern)) endpoint.segments.emplace_back(segment);
    websockets_.push_back(std::move(endpoint));
    return *this;
}

const router::websocket_endpoint* router::find_websocket(request& req) const {
    for (const auto& endpoint : websockets_)
        if (matches(endpoint.segments, req.path(), nullptr)) {
            req.path_parameters.clear();
            matches(endpoint.segments, req.path(), &req.path_parameters);
            return &endpoint;
        }
    return nullptr;
}

router::match router::resolve(request& req) const {
    auto path = req.path();
    std::string allowed;
    std::string_view method = req.method == "HEAD" ? "GET" : std::string_view(req.method);
    for (const auto& r : routes_) {
        if (!matches(r.segments, path, nullptr)) continue;
        if (r.method == method) {
            matches(r.segments, path, &req.path_parameters);
            return {&r.h, {}};
        }
        if (allowed.find(r.method) == std::string::npos)
            allowed += (allowed.empty() ? "" : ", ") + r.method;
    }
    if (fallback_) return {&fallback_, {}};
    if (allowed.empty() && find_websocket(req))
        return {nullptr,
                response::text("This is a WebSocket endpoint: send an upgrade request.\n", 426)
                    .header("Upgrade", "websocket")
                    .header("Connection", "Upgrade")};
    if (allowed.empty()) return {nullptr, response::status_only(404)};
    return {nullptr, response::status_only(405).header("Allow", allowed)};
}

response router::handler_failed(const request& req, std::string_view what) {
    log::error("Handler for {} {} failed: {}", req.method, req.path(), what);
    return response::status_only(500);
}

boost::asio::awaitable<response> router::dispatch(request& req) const {
    auto found = resolve(req);
    if (!found.chosen) co_return std::move(found.answer);
    try {
        co_return co_await (*found.chosen)(req);
    } catch (const std::exception& e) {
        co_return handler_failed(req, e.what());
    } catch (...) {
        co_return handler_failed(req, "it threw something not derived from std::exception");
    }
}

}  // namespace corral
