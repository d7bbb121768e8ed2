#include "server/server_limits.hpp"

#include <cmath>

namespace corral {
namespace {

/// Rounds up: a positive setting under a millisecond must not become 0, which means "off"
/// for some (websocket_ping_interval).
std::chrono::milliseconds to_milliseconds(double seconds) {
    return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
}

}  // namespace

server_limits server_limits::from(const config& cfg, std::uint64_t request_limit) {
    server_limits limits;
    limits.keepalive = to_milliseconds(cfg.keepalive);
    limits.header_timeout = to_milliseconds(cfg.header_timeout);
    limits.body_timeout = to_milliseconds(cfg.body_timeout);
    limits.head.request_line = static_cast<std::size_t>(cfg.limit_request_line);
    limits.head.fields = static_cast<std::size_t>(cfg.limit_request_fields);
    limits.head.field_size = static_cast<std::size_t>(cfg.limit_request_field_size);
    limits.head.header_map = cfg.header_map == "refuse"      ? head_limits::underscore::refuse
                             : cfg.header_map == "dangerous" ? head_limits::underscore::dangerous
                                                             : head_limits::underscore::drop;
    limits.max_body_size = static_cast<std::uint64_t>(cfg.max_body_size);
    limits.websocket_max_message_size = static_cast<std::uint64_t>(cfg.websocket_max_message_size);
    limits.websocket_ping_interval = to_milliseconds(cfg.websocket_ping_interval);
    limits.max_connections = static_cast<std::size_t>(cfg.worker_connections);
    limits.server_header = cfg.server_header;
    limits.forwarded_trusted = address_list(cfg.forwarded_allow_ips);
    limits.proxy_protocol = cfg.proxy_protocol;
    limits.proxy_trusted = address_list(cfg.proxy_allow_ips);
    limits.max_requests = request_limit;
    return limits;
}

}  // namespace corral
