#pragma once
// Lists of trusted peers, as Gunicorn writes them: "127.0.0.1,::1", networks such as
// "10.0.0.0/8", or "*" for anyone. Used for forwarded_allow_ips and proxy_allow_ips.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace corral {

class address_list {
  public:
    /// Parses a comma-separated list; throws std::invalid_argument naming a bad entry.
    explicit address_list(std::string_view text);

    /// Whether `address` (text, as inet_ntop writes it; "unix" for unix sockets) is listed.
    /// Unix-socket peers count as listed when the list is not empty: only local processes
    /// can reach a unix socket.
    bool contains(std::string_view address) const;

    bool operator==(const address_list&) const = default;

  private:
    struct network {
        std::array<std::uint8_t, 16> bytes{};  ///< IPv4 as IPv4-mapped IPv6
        int prefix = 128;
        bool operator==(const network&) const = default;
    };
    bool anyone_ = false;
    std::vector<network> networks_;
};

}  // namespace corral
