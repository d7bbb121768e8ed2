#include "websocket/websocket_handshake.hpp"

#include <algorithm>
#include <string_view>

#include "http/field_text.hpp"

namespace corral {
namespace {

/// Calls `visit` with each comma-separated token of every `name` field.
template <typename Visit>
void for_each_token(const request& req, std::string_view name, Visit visit) {
    for (const auto& [field, value] : req.headers) {
        if (!iequals(field, name)) continue;
        std::string_view rest = value;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            auto token = trim_whitespace(rest.substr(0, comma));
            if (!token.empty()) visit(token);
            rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
        }
    }
}

bool has_token(const request& req, std::string_view name, std::string_view wanted) {
    bool found = false;
    for_each_token(req, name,
                   [&](std::string_view token) { found = found || iequals(token, wanted); });
    return found;
}

/// 16 random bytes in base64: 22 characters of the alphabet and "==".
bool valid_key(std::string_view key) {
    auto is_base64 = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    };
    return key.size() == 24 && key.substr(22) == "==" &&
           std::all_of(key.begin(), key.begin() + 22, is_base64);
}

std::string choose_subprotocol(const request& req, const std::vector<std::string>& ours) {
    for (const auto& candidate : ours)
        if (has_token(req, "sec-websocket-protocol", candidate)) return candidate;
    return "";
}

upgrade_verdict refuse(int status, std::string reason) { return {status, std::move(reason), ""}; }

}  // namespace

bool asks_for_websocket(const request& req) { return has_token(req, "upgrade", "websocket"); }

upgrade_verdict check_websocket_upgrade(const request& req, const websocket_options& options) {
    if (req.method != "GET") return refuse(400, "a WebSocket handshake must be a GET request");
    if (req.version < 11) return refuse(400, "a WebSocket handshake needs HTTP/1.1");
    if (!has_token(req, "connection", "upgrade"))
        return refuse(400, "the Connection header does not list \"upgrade\"");
    auto key = req.header("sec-websocket-key");
    if (!key) return refuse(400, "Sec-WebSocket-Key is missing");
    if (!valid_key(trim_whitespace(*key)))
        return refuse(400, "Sec-WebSocket-Key is not 16 bytes in base64");
    auto version = req.header("sec-websocket-version");
    if (!version) return refuse(400, "Sec-WebSocket-Version is missing");
    if (trim_whitespace(*version) != "13")
        return refuse(
            426, "Sec-WebSocket-Version " + std::string(*version) + " is not supported (only 13)");
    if (!req.body.empty() || req.header("transfer-encoding"))
        return refuse(400, "a WebSocket handshake has no body");
    if (options.accept && !options.accept(req))
        return refuse(403, "the endpoint refused this client (Origin " +
                               std::string(req.header("origin").value_or("none")) + ")");
    return {101, "", choose_subprotocol(req, options.subprotocols)};
}

std::function<bool(const request&)> allow_origins(std::vector<std::string> origins) {
    return [origins = std::move(origins)](const request& req) {
        auto origin = req.header("origin");
        return !origin || std::find(origins.begin(), origins.end(), *origin) != origins.end();
    };
}

}  // namespace corral
