#include "shared/address_list.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace corral {
namespace {

/// The address as 16 bytes, IPv4 mapped into IPv6 (::ffff:a.b.c.d); nullopt if invalid.
std::optional<std::array<std::uint8_t, 16>> to_bytes(std::string_view text) {
    std::string address(text);
    std::array<std::uint8_t, 16> bytes{};
    in_addr v4{};
    if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) {
        bytes[10] = bytes[11] = 0xff;
        std::memcpy(bytes.data() + 12, &v4, 4);
        return bytes;
    }
    if (::inet_pton(AF_INET6, address.c_str(), bytes.data()) == 1) return bytes;
    return std::nullopt;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    return text;
}

}  // namespace

address_list::address_list(std::string_view text) {
    while (!text.empty()) {
        auto comma = text.find(',');
        auto entry = trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? "" : text.substr(comma + 1);
        if (entry.empty()) continue;
        if (entry == "*") {
            anyone_ = true;
            continue;
        }
        auto slash = entry.find('/');
        auto bytes = to_bytes(entry.substr(0, slash));
        network net;
        if (!bytes) throw std::invalid_argument("\"" + std::string(entry) + "\" is not an address");
        net.bytes = *bytes;
        bool v4 = entry.find(':') == std::string_view::npos;
        if (slash != std::string_view::npos) {
            int prefix = -1;
            auto digits = entry.substr(slash + 1);
            std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
            if (prefix < 0 || prefix > (v4 ? 32 : 128))
                throw std::invalid_argument("\"" + std::string(entry) +
                                            "\" has a bad prefix length");
            net.prefix = v4 ? prefix + 96 : prefix;
        }
        networks_.push_back(net);
    }
}

bool address_list::contains(std::string_view address) const {
    if (anyone_) return true;
    if (address == "unix") return !networks_.empty();
    auto bytes = to_bytes(address);
    if (!bytes) return false;
    for (const auto& net : networks_) {
        int bits = net.prefix;
        bool match = true;
        for (std::size_t i = 0; i < 16 && bits > 0 && match; ++i, bits -= 8) {
            auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
            match = ((*bytes)[i] & mask) == (net.bytes[i] & mask);
        }
        if (match) return true;
    }
    return false;
}

}  // namespace corral
