#pragma once
// A listen address as an operator writes it: HOST:PORT, [V6]:PORT, unix:PATH or fd://N.

#include <cstdint>
#include <string>
#include <string_view>

namespace corral {

/// One parsed `bind` entry. Only the fields of its kind are meaningful.
struct bind_address {
    enum class kind { tcp, unix_path, inherited_fd };

    kind type = kind::tcp;
    std::string host;        ///< tcp: name or literal address, without brackets
    std::uint16_t port = 0;  ///< tcp
    std::string path;        ///< unix_path
    int fd = -1;             ///< inherited_fd
    std::string text;        ///< as written, for messages

    /// The address as a URL-ish string for logs: `http://127.0.0.1:8000`, `unix:/run/x.sock`.
    std::string display() const;
};

/// Parses one `bind` entry; throws std::invalid_argument saying what is wrong with it.
bind_address parse_bind_address(std::string_view text);

/// Parses HOST:PORT or [V6]:PORT with the port written out, as `metrics_bind` takes it;
/// throws std::invalid_argument saying what is wrong.
bind_address parse_host_port(std::string_view text);

/// Why a unix socket cannot be bound at `path` whatever the file system holds: "" when it
/// fits in sockaddr_un's sun_path (107 bytes and the NUL), else a sentence saying so.
std::string unix_path_problem(std::string_view path);

}  // namespace corral
