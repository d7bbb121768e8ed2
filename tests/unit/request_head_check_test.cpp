// The raw-head checks in front of Beast's parser: limits and request smuggling defences.

#include "request_head_check.hpp"

#include <doctest/doctest.h>

using namespace corral;

namespace {

head_verdict check(std::string_view bytes, head_limits limits = {}) {
    return check_request_head(bytes, limits);
}

int status_of(std::string_view bytes, head_limits limits = {}) {
    auto verdict = check(bytes, limits);
    return verdict.outcome == head_verdict::kind::rejected ? verdict.status : 0;
}

}  // namespace

TEST_CASE("a complete head is measured up to and including its empty line") {
    auto verdict = check("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody");
    CHECK(verdict.outcome == head_verdict::kind::complete);
    CHECK(verdict.head_size == 27);
}

TEST_CASE("a head still arriving asks for more bytes") {
    CHECK(check("GET / HTTP/1.1\r\nHost: a\r\n").outcome == head_verdict::kind::incomplete);
    CHECK(check("GET / HT").outcome == head_verdict::kind::incomplete);
}

TEST_CASE("limits answer 414 and 431, as Gunicorn's do") {
    head_limits limits;
    limits.request_line = 20;
    limits.fields = 2;
    limits.field_size = 12;
    CHECK(status_of("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", limits) == 414);
    CHECK(status_of("GET /aaaaaaaaaaaaaaaaaaaaaaaaa", limits) == 414);  // before the line ends
    CHECK(status_of("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits) == 431);
    CHECK(status_of("GET / HTTP/1.1\r\nLong: 123456\r\n\r\n", limits) == 431);  // 14 with CRLF
    CHECK(status_of("GET / HTTP/1.1\r\nOk: 123456\r\n\r\n", limits) == 0);      // 12 with CRLF
}

TEST_CASE("request smuggling defences answer 400, unknown codings 501") {
    struct example {
        const char* head;
        int status;
    };
    const example examples[] = {
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0},  // known coding
        {"POST / HTTP/1.1\r\nTransfer-Encoding: brotli9, chunked\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\n", 0},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"get / HTTP/1.1\r\n\r\n", 400},
        {"GET * HTTP/1.1\r\n\r\n", 400},
        {"OPTIONS * HTTP/1.1\r\n\r\n", 0},
        {"GET http://example.com/x HTTP/1.1\r\n\r\n", 0},
        {"GET foo/bar HTTP/1.1\r\n\r\n", 400},
        {"CONNECT example.com:443 HTTP/1.1\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400},               // bare LF
        {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},               // bare LF after the request line
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},  // obs-fold
        {"GET / HTTP/1.1\r\nHo st: a\r\n\r\n", 400},            // invalid name
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},            // space before the colon
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET / HTTP/1.x\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\n\r\n", 400},
        {"GET /\r\n\r\n", 400},
    };
    for (const auto& [head, status] : examples) {
        CAPTURE(head);
        CHECK(status_of(head) == status);
    }
    CHECK(status_of(std::string_view("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 28)) == 400);  // NUL
}

TEST_CASE("header names with '_' are dropped, refused or passed as header_map says") {
    std::string_view head = "GET / HTTP/1.1\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n";
    CHECK(status_of(head) == 0);
    head_limits refuse;
    refuse.header_map = head_limits::underscore::refuse;
    CHECK(status_of(head, refuse) == 400);
    CHECK(has_underscore("X_Forwarded_For"));
    CHECK(!has_underscore("X-Forwarded-For"));
}
