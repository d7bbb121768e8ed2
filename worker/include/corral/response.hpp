#pragma once
// What a handler returns: status, headers and body. The server adds Date, Server,
// Content-Length and Connection.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral {

struct response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    /// A text/plain response.
    static response text(std::string body, int status = 200);
    /// An application/json response from already serialized JSON (see corral/json.hpp).
    static response json_text(std::string json, int status = 200);
    /// A short text/plain response whose body is the status's reason phrase.
    static response status_only(int status);

    response& header(std::string name, std::string value);
};

/// "OK" for 200, "Not Found" for 404, ...; "Unknown" when not listed.
std::string_view reason_phrase(int status);

}  // namespace corral
