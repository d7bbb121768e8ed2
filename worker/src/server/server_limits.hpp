#pragma once
// What a worker's settings say about serving, in the units the server and its protocols
// use: made from the configuration alone, so the settings table stays the one home of
// each default (tests/unit/server_limits_test.cpp guards the mapping).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "shared/address_list.hpp"
#include "shared/config.hpp"

namespace corral {

/// From the settings limit_request_line, limit_request_fields, limit_request_field_size
/// and header_map (server_limits::from); a default head_limits limits nothing.
struct head_limits {
    std::size_t request_line = 0;  ///< bytes without CRLF; 0 = no limit
    std::size_t fields = 0;        ///< 0 = no limit
    std::size_t field_size = 0;    ///< bytes of a header line with its CRLF; 0 = no limit
    enum class underscore { drop, refuse, dangerous } header_map = underscore::drop;

    bool operator==(const head_limits&) const = default;
};

/// A field that no setting decides has its value here.
struct server_limits {
    std::chrono::milliseconds keepalive{};         ///< idle keep-alive connection
    std::chrono::milliseconds header_timeout{};    ///< a started head must be complete
    std::chrono::milliseconds body_timeout{};      ///< between two pieces of a body
    std::chrono::milliseconds drain_period{1000};  ///< idle connections when draining
    head_limits head;
    std::uint64_t max_body_size = 0;
    std::uint64_t websocket_max_message_size = 0;
    std::chrono::milliseconds websocket_ping_interval{};  ///< 0: no pings
    std::uint64_t max_requests = 0;                       ///< then ask to be recycled; 0 = never
    std::size_t max_connections = 0;
    std::string server_header;
    address_list forwarded_trusted{""};  ///< forwarded_allow_ips
    bool proxy_protocol = false;
    address_list proxy_trusted{""};  ///< proxy_allow_ips

    /// The limits `cfg` sets; `request_limit` is this worker's max_requests with its
    /// jitter (CORRAL_WORKER_REQUEST_LIMIT), 0 = none.
    static server_limits from(const config& cfg, std::uint64_t request_limit = 0);

    bool operator==(const server_limits&) const = default;
};

}  // namespace corral
