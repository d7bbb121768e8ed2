#include "http1/response_writer.hpp"

#include <charconv>
#include <ctime>

namespace corral {
namespace {

void append_number(std::string& out, std::size_t value) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, end);
}

}  // namespace

std::string_view http_date() {
    thread_local std::time_t cached_second = 0;
    thread_local char text[40];
    thread_local std::size_t length = 0;
    std::time_t now = std::time(nullptr);
    if (now != cached_second) {
        std::tm utc{};
        gmtime_r(&now, &utc);
        length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
        cached_second = now;
    }
    return {text, length};
}

namespace {

void append_status_and_headers(std::string& out, const response& res, std::string_view server) {
    out += "HTTP/1.1 ";
    append_number(out, static_cast<std::size_t>(res.status));
    out += ' ';
    out += reason_phrase(res.status);
    if (!server.empty()) {
        out += "\r\nServer: ";
        out += server;
    }
    out += "\r\nDate: ";
    out += http_date();
    out += "\r\n";
    for (const auto& [name, value] : res.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
}

}  // namespace

void append_stream_head(std::string& out, const response& res, bool keep_alive, bool chunked,
                        std::string_view server) {
    append_status_and_headers(out, res, server);
    if (chunked) out += "Transfer-Encoding: chunked\r\n";
    out += keep_alive && chunked ? "\r\n" : "Connection: close\r\n\r\n";
}

void append_chunk(std::string& out, std::string_view piece) {
    char size[20];
    auto [end, ec] = std::to_chars(size, size + sizeof size, piece.size(), 16);
    out.append(size, end);
    out += "\r\n";
    out += piece;
    out += "\r\n";  // an empty piece makes "0\r\n\r\n": the last chunk, no trailers
}

void append_response(std::string& out, const response& res, bool keep_alive, bool head_only,
                     std::string_view server) {
    append_status_and_headers(out, res, server);
    // 1xx, 204 and 304 have no content, and 204 must not even say its length (RFC 9110).
    bool no_content = res.status < 200 || res.status == 204 || res.status == 304;
    if (!no_content) {
        out += "Content-Length: ";
        append_number(out, res.body.size());
        out += "\r\n";
    }
    out += keep_alive ? "\r\n" : "Connection: close\r\n\r\n";
    if (!head_only && !no_content) out += res.body;
}

}  // namespace corral
