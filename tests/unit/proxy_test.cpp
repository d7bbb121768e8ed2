// Trusting proxies: address lists, forwarded headers and the PROXY protocol.

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "proxy/forwarded.hpp"
#include "proxy/proxy_protocol.hpp"
#include "shared/address_list.hpp"

using namespace corral;

TEST_CASE("address lists hold addresses, networks and a wildcard") {
    address_list local("127.0.0.1, ::1");
    CHECK(local.contains("127.0.0.1"));
    CHECK(local.contains("::1"));
    CHECK(!local.contains("10.0.0.1"));
    CHECK(local.contains("unix"));
    address_list networks("10.0.0.0/8,2001:db8::/32");
    CHECK(networks.contains("10.20.30.40"));
    CHECK(!networks.contains("11.0.0.1"));
    CHECK(networks.contains("2001:db8::5"));
    CHECK(networks.contains("::ffff:10.1.1.1"));
    CHECK(address_list("*").contains("203.0.113.9"));
    CHECK(!address_list("").contains("unix"));
    CHECK_THROWS_WITH_AS(address_list("10.0.0.x"), "\"10.0.0.x\" is not an address",
                         std::invalid_argument);
    CHECK_THROWS_AS(address_list("10.0.0.0/33"), std::invalid_argument);
}

TEST_CASE("forwarded headers count only from a trusted peer") {
    address_list trusted("127.0.0.1,10.0.0.0/8");
    request::field_list headers{{"X-Forwarded-For", "203.0.113.7, 10.1.1.1"},
                                {"X-Forwarded-Proto", "https"}};
    auto origin = resolve_forwarded(headers, "127.0.0.1", true, trusted);
    CHECK(origin.client == "203.0.113.7");  // 10.1.1.1 is a trusted proxy: skipped
    CHECK(origin.scheme == "https");
    auto spoofed = resolve_forwarded(headers, "198.51.100.1", false, trusted);
    CHECK(spoofed.client == "198.51.100.1");
    CHECK(spoofed.scheme == "http");
}

TEST_CASE("Forwarded (RFC 7239) gives the client and the scheme") {
    address_list trusted("127.0.0.1");
    request::field_list headers{
        {"Forwarded", R"(for="[2001:db8::1]:4711";proto=https, for=127.0.0.1)"}};
    auto origin = resolve_forwarded(headers, "127.0.0.1", true, trusted);
    CHECK(origin.client == "2001:db8::1");
    CHECK(origin.scheme == "https");
}

TEST_CASE("forwarding headers that disagree on the scheme are an error") {
    request::field_list headers{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Ssl", "off"}};
    CHECK(!resolve_forwarded(headers, "127.0.0.1", true, address_list("*")).error.empty());
}

TEST_CASE("PROXY v1 lines give the source address") {
    auto header = parse_proxy_header("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /");
    CHECK(header.outcome == proxy_header::kind::parsed);
    CHECK(header.size == 47);
    CHECK(header.source == "192.168.0.1");
    CHECK(parse_proxy_header("PROXY TCP6 2001:db8::1 ::1 1 2\r\n").source == "2001:db8::1");
    CHECK(parse_proxy_header("PROXY UNKNOWN\r\n").outcome == proxy_header::kind::parsed);
    CHECK(parse_proxy_header("PROXY TCP4 192.16").outcome == proxy_header::kind::incomplete);
    CHECK(parse_proxy_header("PRO").outcome == proxy_header::kind::incomplete);
    CHECK(parse_proxy_header("GET / HTTP/1.1\r\n").outcome == proxy_header::kind::absent);
    CHECK(parse_proxy_header("PROPFIND / HTTP/1.1\r\n").outcome == proxy_header::kind::absent);
}

TEST_CASE("malformed PROXY v1 lines are refused") {
    for (const char* line : {"PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
                             "PROXY TCP4 not-an-ip 192.168.0.11 1 2\r\n",
                             "PROXY TCP4 192.168.0.1\r\n", "PROXY TCP9 1.1.1.1 1.1.1.1 1 2\r\n"}) {
        CAPTURE(line);
        CHECK(parse_proxy_header(line).outcome == proxy_header::kind::invalid);
    }
}

TEST_CASE("PROXY v2 binary headers give the source address") {
    std::string header("\r\n\r\n\0\r\nQUIT\n", 12);
    header += "\x21\x11";  // PROXY, TCP over IPv4
    header += std::string("\x00\x0c", 2);
    header += std::string("\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb", 12);
    auto parsed = parse_proxy_header(header + "GET / HTTP/1.1\r\n");
    CHECK(parsed.outcome == proxy_header::kind::parsed);
    CHECK(parsed.size == 28);
    CHECK(parsed.source == "192.168.0.1");
    CHECK(parse_proxy_header(header.substr(0, 20)).outcome == proxy_header::kind::incomplete);
}
