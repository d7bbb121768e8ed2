#include "http1/request_head_check.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <vector>

#include "http/field_text.hpp"

namespace corral {
namespace {

using verdict = head_verdict;

verdict reject(int status, std::string reason) {
    return {verdict::kind::rejected, status, std::move(reason), 0};
}

// ASCII classes by table, not <cctype>: these run for every byte of every head, and the
// C library's versions are locale-aware calls (docs/benchmarks.md, "Where the time goes").
constexpr bool is_alpha(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
constexpr bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
constexpr bool is_alnum(char ch) { return is_alpha(ch) || is_digit(ch); }
constexpr char to_lower(char ch) {
    return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch;
}

/// RFC 9110 5.6.2 tchar, one entry per byte.
constexpr auto token_chars = [] {
    std::array<bool, 256> table{};
    for (std::size_t ch = 0; ch < 256; ++ch) table[ch] = is_alnum(static_cast<char>(ch));
    for (char ch : std::string_view("!#$%&'*+-.^_`|~"))
        table[static_cast<unsigned char>(ch)] = true;
    return table;
}();

bool is_token(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char ch) {
        return token_chars[static_cast<unsigned char>(ch)];
    });
}

/// Field values may hold visible characters, obs-text, SP and HTAB; no other control.
bool is_field_value(std::string_view value) {
    return std::none_of(value.begin(), value.end(), [](char ch) {
        auto byte = static_cast<unsigned char>(ch);
        return (byte < 0x20 && ch != '\t') || byte == 0x7f;
    });
}

/// A header name against a lower-case one, without allocating (this runs per field).
bool same_name(std::string_view name, std::string_view lower) {
    if (name.size() != lower.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (to_lower(name[i]) != lower[i]) return false;
    return true;
}

bool is_scheme(std::string_view text) {
    return !text.empty() && is_alpha(text.front()) &&
           std::all_of(text.begin(), text.end(),
                       [](char ch) { return is_alnum(ch) || ch == '+' || ch == '-' || ch == '.'; });
}

/// [userinfo@]host[:port], with an IPv6 literal in brackets.
bool is_authority(std::string_view text) {
    if (auto at = text.rfind('@'); at != std::string_view::npos) text.remove_prefix(at + 1);
    if (text.empty()) return false;
    if (text.front() == '[') {
        auto close = text.find(']');
        return close != std::string_view::npos &&
               (close + 1 == text.size() || text[close + 1] == ':');
    }
    return text.find_first_of("[]") == std::string_view::npos;
}

/// RFC 9112 3.2: origin-form (/path), absolute-form (scheme://authority/path), asterisk-form
/// for OPTIONS only, authority-form for CONNECT only.
verdict check_target(std::string_view method, std::string_view target) {
    if (method == "CONNECT")
        return is_authority(target) ? verdict{} : reject(400, "CONNECT needs host:port");
    if (target == "*")
        return method == "OPTIONS" ? verdict{} : reject(400, "* is a target for OPTIONS only");
    if (target.starts_with('/')) return {};
    auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || !is_scheme(target.substr(0, scheme_end)))
        return reject(400, "the request target is in no form HTTP allows");
    auto authority = target.substr(scheme_end + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    return is_authority(authority) ? verdict{}
                                   : reject(400, "the request target's host is malformed");
}

/// The request line without its CRLF: method SP target SP HTTP/1.x.
verdict check_request_line(std::string_view line) {
    if (std::any_of(line.begin(), line.end(), [](char ch) { return ch == '\r' || ch == '\0'; }))
        return reject(400, "a bare CR or a NUL in the request line");
    auto first = line.find(' '), last = line.rfind(' ');
    if (first == std::string_view::npos || first == last)
        return reject(400, "the request line is not METHOD TARGET VERSION");
    auto method = line.substr(0, first);
    // Gunicorn's rule: upper case, 3 to 20 characters; "get" is not GET.
    if (!is_token(method) || method.size() < 3 || method.size() > 20 ||
        std::any_of(method.begin(), method.end(),
                    [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '#'; }))
        return reject(400, "the method is not an upper-case token of 3 to 20 characters");
    if (auto problem = check_target(method, line.substr(first + 1, last - first - 1));
        problem.outcome == verdict::kind::rejected)
        return problem;
    auto version = line.substr(last + 1);
    bool shaped = version.size() == 8 && version.starts_with("HTTP/") && is_digit(version[5]) &&
                  version[6] == '.' && is_digit(version[7]);
    if (!shaped) return reject(400, "the HTTP version is malformed");
    if (version[5] != '1')
        return reject(505, "HTTP version " + std::string(version) + " is not served");
    return {};
}

/// What the framing fields say, gathered over the head.
struct framing_fields {
    bool http_1_0 = false;
    std::size_t hosts = 0, content_types = 0;
    std::vector<std::string_view> content_lengths;
    std::vector<std::string_view> transfer_codings;  ///< over every Transfer-Encoding line
    bool has_transfer_encoding = false;
};

/// One list over all Transfer-Encoding lines, as RFC 9110 5.3 combines them. Elements are
/// split at commas and trimmed, as Beast's token_list reads them (OWS "," OWS); an empty
/// one stays, to be refused.
void append_codings(framing_fields& f, std::string_view value) {
    f.has_transfer_encoding = true;
    while (true) {
        auto comma = value.find(',');
        f.transfer_codings.push_back(trim_whitespace(value.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

/// Codings a server may meet before the final chunked; only their names are checked, the
/// body is passed on still encoded. Not `identity`: RFC 9112 dropped it, and a coding
/// that means "none" is what a smuggler writes to make two parsers disagree.
bool is_known_coding(std::string_view coding) {
    for (std::string_view known : {"gzip", "x-gzip", "deflate", "compress", "x-compress"})
        if (same_name(coding, known)) return true;
    return false;
}

/// RFC 9112 6.1 and 6.3: chunked exactly once and last; the codings before it known.
verdict check_transfer_codings(const std::vector<std::string_view>& codings) {
    if (std::any_of(codings.begin(), codings.end(), [](auto c) { return c.empty(); }))
        return reject(400, "an empty transfer coding");
    if (!same_name(codings.back(), "chunked"))
        return reject(400, "the final transfer coding is not chunked");
    if (std::count_if(codings.begin(), codings.end(),
                      [](auto c) { return same_name(c, "chunked"); }) > 1)
        return reject(400, "chunked is applied twice");
    for (std::size_t i = 0; i + 1 < codings.size(); ++i)
        if (!is_known_coding(codings[i]))
            return reject(501,
                          "transfer coding " + std::string(codings[i]) + " is not implemented");
    verdict passed;
    passed.framing = body_framing::chunked;
    return passed;
}

/// Digits only, as Beast's parse_dec reads them, and within 64 bits.
verdict check_content_length(std::string_view length) {
    if (length.empty() || !std::all_of(length.begin(), length.end(), is_digit))
        return reject(400, "Content-Length is not a number");
    std::uint64_t value = 0;
    for (char ch : length) {
        auto digit = static_cast<std::uint64_t>(ch - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
            return reject(400, "Content-Length does not fit in 64 bits");
        value = value * 10 + digit;
    }
    verdict passed;
    passed.framing = body_framing::content_length;
    passed.content_length = value;
    return passed;
}

/// Host (RFC 9112 3.2) and how the body ends (RFC 9112 6); the verdict's framing if it passes.
verdict check_framing(const framing_fields& f) {
    if (f.hosts > 1) return reject(400, "more than one Host");
    if (f.hosts == 0 && !f.http_1_0) return reject(400, "an HTTP/1.1 request without Host");
    if (f.content_types > 1) return reject(400, "more than one Content-Type");
    if (f.has_transfer_encoding) {
        if (f.http_1_0) return reject(400, "Transfer-Encoding in an HTTP/1.0 request");
        if (!f.content_lengths.empty())
            return reject(400, "both Content-Length and Transfer-Encoding");
        return check_transfer_codings(f.transfer_codings);
    }
    if (f.content_lengths.size() > 1) return reject(400, "more than one Content-Length");
    if (f.content_lengths.size() == 1) return check_content_length(f.content_lengths.front());
    return {};
}

verdict check_field_line(std::string_view line, const head_limits& limits, framing_fields& f) {
    if (line.front() == ' ' || line.front() == '\t')
        return reject(400, "obsolete line folding (obs-fold)");
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return reject(400, "a header line without a colon");
    auto name = line.substr(0, colon);
    if (!is_token(name)) return reject(400, "an invalid header name");
    auto value = line.substr(colon + 1);
    if (!is_field_value(value)) return reject(400, "a control character in a header value");
    if (limits.header_map == head_limits::underscore::refuse && has_underscore(name))
        return reject(400, "a header name with '_' (header_map = refuse)");
    if (same_name(name, "content-length")) f.content_lengths.push_back(trim_whitespace(value));
    if (same_name(name, "host")) ++f.hosts;
    if (same_name(name, "content-type")) ++f.content_types;
    if (same_name(name, "transfer-encoding")) append_codings(f, value);
    return {};
}

}  // namespace

bool has_underscore(std::string_view name) { return name.find('_') != std::string_view::npos; }

head_verdict check_chunk_framing(std::string_view framing, std::size_t checked,
                                 const head_limits& limits) {
    for (std::size_t i = checked; i < framing.size(); ++i) {
        bool after_cr = i > 0 && framing[i - 1] == '\r';
        if (framing[i] == '\n' ? !after_cr : after_cr)
            return reject(400, "a bare LF or CR in the chunk framing");
    }
    if (limits.field_size && framing.size() > limits.field_size * limits.fields)
        return reject(431, "chunk framing longer than a head's fields may be");
    return {};
}

head_verdict check_request_head(std::string_view bytes, const head_limits& limits) {
    auto line_end = bytes.find('\n');
    if (line_end == std::string_view::npos) {
        if (limits.request_line && bytes.size() > limits.request_line + 1)
            return reject(414, "the request line is longer than limit_request_line");
        return {};
    }
    if (line_end == 0 || bytes[line_end - 1] != '\r')
        return reject(400, "a bare LF ends the request line");
    if (limits.request_line && line_end - 1 > limits.request_line)
        return reject(414, "the request line is longer than limit_request_line");
    if (auto problem = check_request_line(bytes.substr(0, line_end - 1));
        problem.outcome == verdict::kind::rejected)
        return problem;
    framing_fields f;
    f.http_1_0 = bytes.substr(0, line_end - 1).ends_with("HTTP/1.0");
    std::size_t fields = 0;
    for (std::size_t start = line_end + 1;;) {
        auto end = bytes.find('\n', start);
        std::size_t line_size = (end == std::string_view::npos ? bytes.size() : end + 1) - start;
        if (limits.field_size && line_size > limits.field_size)
            return reject(431, "a header line is longer than limit_request_field_size");
        if (end == std::string_view::npos) return {};
        if (end == start || bytes[end - 1] != '\r') return reject(400, "a bare LF in the head");
        auto line = bytes.substr(start, end - 1 - start);
        if (line.empty()) {
            auto framing = check_framing(f);
            if (framing.outcome == verdict::kind::rejected) return framing;
            framing.outcome = verdict::kind::complete;
            framing.head_size = end + 1;
            framing.field_count = fields;
            return framing;
        }
        if (++fields > limits.fields && limits.fields != 0)
            return reject(431, "more header fields than limit_request_fields");
        if (auto problem = check_field_line(line, limits, f);
            problem.outcome == verdict::kind::rejected)
            return problem;
        start = end + 1;
    }
}

}  // namespace corral
