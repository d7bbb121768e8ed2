#pragma once
// Serializes responses straight into a connection's output buffer: status line, cached
// Date, Server, the handler's headers, Content-Length, Connection. No Beast message types:
// this is the worker's hot path, and Beast's serializer costs several times more per response.

#include <string>
#include <string_view>

#include "corral/response.hpp"

namespace corral {

/// Appends `res` as HTTP/1.1 to `out`. `keep_alive` false adds `Connection: close`;
/// `head_only` leaves out the body but keeps its Content-Length; an empty `server` header
/// is left out.
void append_response(std::string& out, const response& res, bool keep_alive, bool head_only,
                     std::string_view server = "corral");

/// Appends the head of a streamed response: `chunked` adds Transfer-Encoding: chunked
/// (HTTP/1.1); without it the body ends when the connection closes (HTTP/1.0).
void append_stream_head(std::string& out, const response& res, bool keep_alive, bool chunked,
                        std::string_view server = "corral");

/// Appends one chunk of a chunked body (an empty `piece` is the last chunk).
void append_chunk(std::string& out, std::string_view piece);

/// The current `Date` header value, formatted at most once per second.
std::string_view http_date();

}  // namespace corral
