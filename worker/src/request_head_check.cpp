#include "request_head_check.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace corral {
namespace {

using verdict = head_verdict;

verdict reject(int status, std::string reason) {
    return {verdict::kind::rejected, status, std::move(reason), 0};
}

bool is_token_char(char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

bool is_token(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

/// Field values may hold visible characters, obs-text, SP and HTAB; no other control.
bool is_field_value(std::string_view value) {
    return std::none_of(value.begin(), value.end(), [](char ch) {
        auto byte = static_cast<unsigned char>(ch);
        return (byte < 0x20 && ch != '\t') || byte == 0x7f;
    });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

/// The request line without its CRLF: method SP target SP HTTP/1.x.
verdict check_request_line(std::string_view line) {
    if (line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos)
        return reject(400, "a bare CR or a NUL in the request line");
    auto first = line.find(' '), last = line.rfind(' ');
    if (first == std::string_view::npos || first == last)
        return reject(400, "the request line is not METHOD TARGET VERSION");
    if (!is_token(line.substr(0, first))) return reject(400, "the method is not a token");
    auto version = line.substr(last + 1);
    bool shaped = version.size() == 8 && version.starts_with("HTTP/") &&
                  std::isdigit(static_cast<unsigned char>(version[5])) && version[6] == '.' &&
                  std::isdigit(static_cast<unsigned char>(version[7]));
    if (!shaped) return reject(400, "the HTTP version is malformed");
    if (version[5] != '1') return reject(505, "HTTP version " + std::string(version) + " is not served");
    return {};
}

/// What the framing fields say, gathered over the head.
struct framing {
    std::vector<std::string_view> content_lengths;
    std::vector<std::string> transfer_codings;
    bool has_transfer_encoding = false;
};

void append_codings(framing& f, std::string_view value) {
    f.has_transfer_encoding = true;
    while (true) {
        auto comma = value.find(',');
        f.transfer_codings.push_back(lowercase(trim(value.substr(0, comma))));
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

verdict check_framing(const framing& f) {
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
    if (codings.back() != "chunked") return reject(400, "Transfer-Encoding does not end in chunked");
    if (std::count(codings.begin(), codings.end(), "chunked") > 1)
        return reject(400, "chunked is applied twice");
    if (codings.size() > 1) return reject(501, "transfer coding " + codings.front() + " is not supported");
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
    auto lower = lowercase(name);
    if (lower == "content-length") f.content_lengths.push_back(trim(value));
    if (lower == "transfer-encoding") append_codings(f, value);
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
            return {verdict::kind::complete, 0, "", end + 1};
        }
        if (++fields > limits.fields)
            return reject(431, "more header fields than limit_request_fields");
        if (auto problem = check_field_line(line, limits, f); problem.outcome == verdict::kind::rejected)
            return problem;
        start = end + 1;
    }
}

}  // namespace corral
