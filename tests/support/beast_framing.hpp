#pragma once
// How Beast's parser frames a request head: for the unit test and the fuzzer that hold it
// against what the head check says (docs/http.md, "Where a body ends: one rule").

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

#include "http1/request_head_check.hpp"

namespace corral::testing {

struct framing_seen {
    body_framing framing = body_framing::none;
    std::uint64_t content_length = 0;  ///< with body_framing::content_length
    bool operator==(const framing_seen&) const = default;
};

/// What a head that passed the check promises.
inline framing_seen promised_framing(const head_verdict& verdict) {
    return {verdict.framing, verdict.content_length};
}

/// How Beast's parser, limited to the head as the connection limits it, frames the
/// `head_size` bytes at the start of `bytes`; nullopt when it refuses them.
inline std::optional<framing_seen> beast_framing(std::string_view bytes, std::size_t head_size) {
    namespace http = boost::beast::http;
    http::request_parser<http::empty_body> parser;
    parser.eager(false);
    parser.header_limit(static_cast<std::uint32_t>(head_size));
    parser.body_limit(boost::none);
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(bytes.data(), head_size), ec);
    if (ec || !parser.is_header_done()) return std::nullopt;
    if (parser.chunked()) return framing_seen{body_framing::chunked, 0};
    if (auto length = parser.content_length())
        return framing_seen{body_framing::content_length, *length};
    return framing_seen{};
}

}  // namespace corral::testing
