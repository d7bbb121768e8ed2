#pragma once
// What a handler receives: one parsed HTTP request. Header names compare case-insensitively.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral {

struct request {
    using field_list = std::vector<std::pair<std::string, std::string>>;

    std::string method;   ///< "GET"
    std::string target;   ///< "/users/7?verbose=1", as sent
    int version = 11;     ///< 11 for HTTP/1.1, 10 for HTTP/1.0
    field_list headers;   ///< in arrival order
    field_list trailers;  ///< fields after a chunked body, in arrival order
    std::string body;
    std::string remote_address;   ///< the peer ("127.0.0.1", "::1", "unix"), or the
                                  ///< source a PROXY header named
    std::string client_address;   ///< the client: from X-Forwarded-For or Forwarded when the
                                  ///< peer is in forwarded_allow_ips, else remote_address
    std::string scheme = "http";  ///< "https" when a trusted proxy says so
    field_list path_parameters;   ///< filled by the router: {id} -> "7"

    /// The target before '?'.
    std::string_view path() const;
    /// The target after '?', undecoded; "" when there is none.
    std::string_view query() const;
    /// The first header with this name, case-insensitively.
    std::optional<std::string_view> header(std::string_view name) const;
    /// A query parameter, percent-decoded ('+' is a space).
    std::optional<std::string> query_parameter(std::string_view name) const;
    /// A path parameter captured by the route pattern, e.g. "id" for "/users/{id}".
    std::optional<std::string_view> path_parameter(std::string_view name) const;
};

/// ASCII case-insensitive equality, for header names.
bool iequals(std::string_view a, std::string_view b);

}  // namespace corral
