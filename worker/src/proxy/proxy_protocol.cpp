#include "proxy/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <vector>

namespace corral {
namespace {

using header = proxy_header;
constexpr std::string_view v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr std::size_t v1_max_line = 107;  // the spec's bound, CRLF included

header invalid(std::string reason) { return {header::kind::invalid, 0, "", std::move(reason)}; }

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> words;
    while (!line.empty()) {
        auto space = line.find(' ');
        words.push_back(line.substr(0, space));
        line = space == std::string_view::npos ? "" : line.substr(space + 1);
    }
    return words;
}

bool is_port(std::string_view text) {
    int port = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    return !text.empty() && ec == std::errc{} && end == text.data() + text.size() && port >= 0 &&
           port <= 65535 && !(text.size() > 1 && text.front() == '0');
}

bool is_address(int family, std::string_view text) {
    unsigned char bytes[16];
    return ::inet_pton(family, std::string(text).c_str(), bytes) == 1;
}

header parse_v1(std::string_view bytes) {
    auto end = bytes.find("\r\n");
    if (end == std::string_view::npos)
        return bytes.size() >= v1_max_line ? invalid("PROXY line too long") : header{};
    auto words = split(bytes.substr(0, end));
    header parsed{header::kind::parsed, end + 2, "", ""};
    if (words.size() >= 2 && words[1] == "UNKNOWN") return parsed;
    if (words.size() != 6) return invalid("a PROXY v1 line has 6 words");
    int family = words[1] == "TCP4" ? AF_INET : words[1] == "TCP6" ? AF_INET6 : -1;
    if (family < 0) return invalid("unknown PROXY v1 protocol");
    if (!is_address(family, words[2]) || !is_address(family, words[3]))
        return invalid("a PROXY v1 address is malformed");
    if (!is_port(words[4]) || !is_port(words[5])) return invalid("a PROXY v1 port is malformed");
    parsed.source = words[2];
    return parsed;
}

header parse_v2(std::string_view bytes) {
    if (bytes.size() < 16) return {};
    auto version_command = static_cast<unsigned char>(bytes[12]);
    auto family = static_cast<unsigned char>(bytes[13]);
    std::size_t length = std::size_t{static_cast<unsigned char>(bytes[14])} << 8 |
                         std::size_t{static_cast<unsigned char>(bytes[15])};
    if ((version_command & 0xf0) != 0x20) return invalid("unknown PROXY v2 version");
    if (bytes.size() < 16 + length) return {};
    header parsed{header::kind::parsed, 16 + length, "", ""};
    if ((version_command & 0x0f) == 0x0) return parsed;  // LOCAL: the proxy's own check
    if ((version_command & 0x0f) != 0x1) return invalid("unknown PROXY v2 command");
    char text[INET6_ADDRSTRLEN] = "";
    if ((family >> 4) == 0x1 && length >= 12)
        ::inet_ntop(AF_INET, bytes.data() + 16, text, sizeof text);
    else if ((family >> 4) == 0x2 && length >= 36)
        ::inet_ntop(AF_INET6, bytes.data() + 16, text, sizeof text);
    else if ((family >> 4) != 0x0 && (family >> 4) != 0x3)
        return invalid("a PROXY v2 address block is too short");
    parsed.source = text;
    return parsed;
}

}  // namespace

proxy_header parse_proxy_header(std::string_view bytes) {
    std::string_view v1 = "PROXY ";
    if (bytes.substr(0, v1.size()) == v1.substr(0, std::min(bytes.size(), v1.size())))
        return bytes.size() < v1.size() ? header{} : parse_v1(bytes);
    if (bytes.substr(0, v2_signature.size()) ==
        v2_signature.substr(0, std::min(bytes.size(), v2_signature.size())))
        return bytes.size() < v2_signature.size() ? header{} : parse_v2(bytes);
    return {header::kind::absent, 0, "", ""};
}

}  // namespace corral
