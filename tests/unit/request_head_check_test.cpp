// The raw-head checks in front of Beast's parser: limits, request smuggling defences, the
// framing a passed head promises (and that Beast's parser keeps), and chunk framing.

#include "http1/request_head_check.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../support/beast_framing.hpp"
#include "server/server.hpp"

using namespace corral;

namespace {

/// The limits of the default settings, as a worker has them.
head_limits defaults() { return server_limits::from(config{}).head; }

head_verdict check(std::string_view bytes, head_limits limits = defaults()) {
    return check_request_head(bytes, limits);
}

int status_of(std::string_view bytes, head_limits limits = defaults()) {
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
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nOk: 123456\r\n\r\n", limits) ==
          0);  // 12 with CRLF
}

TEST_CASE("request smuggling defences answer 400, unknown codings 501") {
    struct example {
        const char* head;
        int status;
    };
    const example examples[] = {
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: brotli9, chunked\r\n\r\n", 501},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"get / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n", 0},
        {"GET foo/bar HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400},                       // bare LF
        {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},                       // after the request line
        {"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n folded\r\n\r\n", 400},  // obs-fold
        {"GET / HTTP/1.1\r\nHost: a\r\nHo st: a\r\n\r\n", 400},         // invalid name
        {"GET / HTTP/1.1\r\nHost: a\r\nX-Y : a\r\n\r\n", 400},          // space before the colon
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /\r\nHost: a\r\n\r\n", 400},
    };
    for (const auto& [head, status] : examples) {
        CAPTURE(head);
        CHECK(status_of(head) == status);
    }
    CHECK(status_of(std::string_view("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 28)) == 400);  // NUL
}

TEST_CASE("an HTTP/1.1 request needs exactly one Host; HTTP/1.0 may go without") {
    CHECK(check("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n").reason ==
          "an HTTP/1.1 request without Host");
    CHECK(status_of("GET http://example.com/ HTTP/1.1\r\n\r\n") == 400);  // absolute-form too
    CHECK(status_of("OPTIONS * HTTP/1.1\r\n\r\n") == 400);
    CHECK(check("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n").reason == "more than one Host");
    CHECK(status_of("GET / HTTP/1.1\r\nHOST: a\r\n\r\n") == 0);
    CHECK(status_of("GET / HTTP/1.1\r\nHost:\r\n\r\n") == 0);  // empty: a target without one
    CHECK(status_of("GET / HTTP/1.0\r\n\r\n") == 0);
    CHECK(status_of("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
}

TEST_CASE("the final transfer coding must be chunked, once; a coding before it must be known") {
    struct example {
        const char* codings;  ///< Transfer-Encoding lines, one per \n
        int status;
        const char* reason;
    };
    const example examples[] = {
        {"chunked", 0, ""},
        {"Chunked", 0, ""},
        {"gzip, chunked", 0, ""},
        {"gzip ,\tCHUNKED", 0, ""},
        {"gzip\nchunked", 0, ""},  // two lines make one list
        {"x-gzip, deflate, compress, x-compress, chunked", 0, ""},
        {"identity", 400, "the final transfer coding is not chunked"},
        {"chunked, identity", 400, "the final transfer coding is not chunked"},
        {"chunked\nidentity", 400, "the final transfer coding is not chunked"},
        {"chunked, gzip", 400, "the final transfer coding is not chunked"},
        {"gzip", 400, "the final transfer coding is not chunked"},
        {"chunked;q=1", 400, "the final transfer coding is not chunked"},
        {"chunked, chunked", 400, "chunked is applied twice"},
        {"chunked\nchunked", 400, "chunked is applied twice"},
        {"", 400, "an empty transfer coding"},
        {"gzip, , chunked", 400, "an empty transfer coding"},
        {",chunked", 400, "an empty transfer coding"},
        {"identity, chunked", 501, "transfer coding identity is not implemented"},
        {"identity\nchunked", 501, "transfer coding identity is not implemented"},
        {"br, chunked", 501, "transfer coding br is not implemented"},
        {"gzip;level=1, chunked", 501, "transfer coding gzip;level=1 is not implemented"},
    };
    for (const auto& [codings, status, reason] : examples) {
        std::string head = "POST / HTTP/1.1\r\nHost: a\r\n";
        std::string_view rest = codings;
        for (auto end = rest.find('\n');; end = rest.find('\n')) {
            head += "Transfer-Encoding: " + std::string(rest.substr(0, end)) + "\r\n";
            if (end == std::string_view::npos) break;
            rest.remove_prefix(end + 1);
        }
        head += "\r\n";
        CAPTURE(head);
        auto verdict = check(head);
        CHECK(status_of(head) == status);
        CHECK(verdict.reason == reason);
        if (status == 0) CHECK(verdict.framing == body_framing::chunked);
    }
}

TEST_CASE("Transfer-Encoding goes with neither Content-Length nor HTTP/1.0") {
    CHECK(check("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
                "Content-Length: 5\r\n\r\n")
              .reason == "both Content-Length and Transfer-Encoding");
    CHECK(check("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                "Transfer-Encoding: chunked\r\n\r\n")
              .reason == "both Content-Length and Transfer-Encoding");
    CHECK(check("POST / HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n").reason ==
          "Transfer-Encoding in an HTTP/1.0 request");
}

TEST_CASE("a head that passes says how its body ends") {
    auto none = check("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(none.framing == body_framing::none);
    auto sized = check("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0012\r\n\r\n");
    CHECK(sized.framing == body_framing::content_length);
    CHECK(sized.content_length == 12);
    auto largest =
        check("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n");
    CHECK(largest.content_length == 18446744073709551615u);
    CHECK(check("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n")
              .reason == "Content-Length does not fit in 64 bits");
    auto chunked = check("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(chunked.framing == body_framing::chunked);
}

namespace {

/// The heads the agreement test runs over: the request seeds of the process test and the
/// fuzzer, and heads made of each Transfer-Encoding and Content-Length shape below.
std::vector<std::string> heads_to_compare() {
    std::vector<std::string> heads;
    auto seeds = std::filesystem::path(CORRAL_SOURCE_DIR) / "tests/fuzz/seeds";
    for (const auto& entry : std::filesystem::directory_iterator(seeds)) {
        if (entry.path().extension() != ".http") continue;
        std::ifstream file(entry.path(), std::ios::binary);
        heads.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
    const char* fields[] = {
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: identity",
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: identity, chunked",
        "Transfer-Encoding: chunked;a=b",
        "Transfer-Encoding: chunked , ",
        "Transfer-Encoding: ,chunked",
        "Transfer-Encoding: \tchunked\t",
        "Transfer-Encoding: gzip;q=1, chunked",
        "Transfer-Encoding: \"chunked\"",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
        "Content-Length: 5",
        "Content-Length: 0",
        "Content-Length: 5, 5",
        "Content-Length: +5",
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: gzip\r\nContent-Length: 5",
        "Content-Length: 18446744073709551616",
        "Transfer_Encoding: chunked",
        "Content_Length: 5",
    };
    for (const char* version : {"HTTP/1.1", "HTTP/1.0"})
        for (const char* field : fields)
            heads.push_back(std::string("POST / ") + version + "\r\nHost: a\r\n" + field +
                            "\r\n\r\n");
    return heads;
}

}  // namespace

TEST_CASE("Beast's parser frames every head that passes as the check says") {
    std::size_t passed = 0;
    for (const auto& bytes : heads_to_compare()) {
        auto verdict = check(bytes);
        if (verdict.outcome != head_verdict::kind::complete) continue;
        ++passed;
        CAPTURE(bytes);
        auto beast = testing::beast_framing(bytes, verdict.head_size);
        REQUIRE(beast.has_value());
        CHECK(*beast == testing::promised_framing(verdict));
    }
    CHECK(passed >= 10);
}

TEST_CASE("chunk framing held back: a bare LF or CR gets 400, beyond a head's fields 431") {
    head_limits limits = defaults();
    auto status = [&](std::string_view framing, std::size_t checked = 0) {
        auto verdict = check_chunk_framing(framing, checked, limits);
        return verdict.outcome == head_verdict::kind::rejected ? verdict.status : 0;
    };
    CHECK(status("5") == 0);
    CHECK(status("\r\n5;name=value") == 0);  // the CRLF after a chunk's data, the next size
    CHECK(status("\r") == 0);                // its CR: what comes next decides
    CHECK(status("0\r\nX-Trailer: 1\r\n") == 0);
    CHECK(status("5\n") == 400);          // a chunk-size line ended by LF
    CHECK(status("\n5") == 400);          // chunk data ended by LF
    CHECK(status("\rx") == 400);          // by CR
    CHECK(status("0\r\nX: 1\n") == 400);  // a trailer line
    CHECK(status("5\r\r\n") == 400);
    // Scanned bytes are not scanned again, but the byte before the new ones still counts.
    CHECK(status("5\r\nabc\n", 5) == 400);
    CHECK(status("5\r\n", 2) == 0);
    CHECK(status("5\n", 1) == 400);
    CHECK(status("5\r", 2) == 0);
    limits.fields = 2;
    limits.field_size = 10;
    CHECK(status(std::string(20, 'a')) == 0);
    CHECK(status(std::string(21, 'a')) == 431);
    limits.field_size = 0;  // no limit
    CHECK(status(std::string(100000, 'a')) == 0);
}

TEST_CASE("header names with '_' are dropped, refused or passed as header_map says") {
    std::string_view head = "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n";
    CHECK(status_of(head) == 0);
    head_limits refuse = defaults();
    refuse.header_map = head_limits::underscore::refuse;
    CHECK(status_of(head, refuse) == 400);
    CHECK(has_underscore("X_Forwarded_For"));
    CHECK(!has_underscore("X-Forwarded-For"));
}
