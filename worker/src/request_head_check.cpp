#include "request_head_check.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "field_text.hpp"

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
    for (int ch = 0; ch < 256; ++ch) table[ch] = is_alnum(static_cast<char>(ch));
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
struct framing {
    bool http_1_0 = false;
    std::size_t hosts = 0, content_types = 0;
    std::vector<std::string_view> content_lengths;
    std::vector<std::string> transfer_codings;
    bool has_transfer_encoding = false;
};

void append_codings(framing& f, std::string_view value) {
    f.has_transfer_encoding = true;
    while (true) {
        auto comma = value.find(',');
        f.transfer_codings.push_back(lowercase(trim_whitespace(value.substr(0, comma))));
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

/// Codings a server may meet before the final chunked; only their names are checked, the
/// body is passed on still encoded.
bool is_known_coding(std::string_view coding) {
    for (std::string_view known : {"gzip", "x-gzip", "deflate", "compress", "x-compress"})
        if (coding == known) return true;
    return false;
}

verdict check_framing(framing f) {
    if (f.hosts > 1) return reject(400, "more than one Host");
    if (f.content_types > 1) return reject(400, "more than one Content-Type");
    // "identity" means no coding (RFC 2616; gone from RFC 9112): as if not written.
    std::erase(f.transfer_codings, "identity");
    if (f.has_transfer_encoding && f.transfer_codings.empty()) f.has_transfer_encoding = false;
    if (f.has_transfer_encoding && f.http_1_0)
        return reject(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (f.has_transfer_encoding && !f.content_lengths.empty())
        return reject(400, "both Content-Length and Transfer-Encoding");
    if (f.content_lengths.size() > 1) return reject(400, "more than one Content-Length");
    for (auto length : f.content_lengths)
        if (length.empty() || !std::all_of(length.begin(), length.end(),
                                           [](char ch) { return ch >= '0' && ch <= '9'; }))
            return reject(400, "Content-Length is not a number");
    if (!f.has_transfer_encoding) return {};
    const auto& codings = f.transfer_codings;
    if (std::any_of(codings.begin(), codings.end(), [](auto& c) { return c.empty(); }))
        return reject(400, "an empty transfer coding");
    if (codings.back() != "chunked")
        return reject(400, "Transfer-Encoding does not end in chunked");
    if (std::count(codings.begin(), codings.end(), "chunked") > 1)
        return reject(400, "chunked is applied twice");
    for (const auto& coding : codings)
        if (coding != "chunked" && !is_known_coding(coding))
            return reject(501, "transfer coding " + coding + " is not supported");
    return {};
}

verdict check_field_line(std::string_view line, const head_limits& limits, framing& f) {
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
    framing f;
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
            if (auto problem = check_framing(f); problem.outcome == verdict::kind::rejected)
                return problem;
            return {verdict::kind::complete, 0, "", end + 1, fields};
        }
        if (++fields > limits.fields)
            return reject(431, "more header fields than limit_request_fields");
        if (auto problem = check_field_line(line, limits, f);
            problem.outcome == verdict::kind::rejected)
            return problem;
        start = end + 1;
    }
}

}  // namespace corral
