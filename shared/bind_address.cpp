#include "shared/bind_address.hpp"

#include <sys/un.h>

#include <charconv>
#include <stdexcept>

namespace corral {
namespace {

int parse_number(std::string_view digits, int max, const char* what) {
    int value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || value < 0 ||
        value > max)
        throw std::invalid_argument(std::string(what) + " must be a number from 0 to " +
                                    std::to_string(max));
    return value;
}

bind_address parse_tcp(std::string_view text) {
    if (text.find_first_not_of("0123456789") == std::string_view::npos)
        throw std::invalid_argument("a bare number is not an address: write 127.0.0.1:" +
                                    std::string(text) + " or 0.0.0.0:" + std::string(text));
    bind_address address;
    std::string_view port;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos)
            throw std::invalid_argument("'[' without a closing ']'");
        address.host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':'))
            throw std::invalid_argument("expected ':PORT' after ']'");
        port = rest.empty() ? "8000" : rest.substr(1);
    } else {
        auto colon = text.rfind(':');
        if (colon != std::string_view::npos && text.find(':') != colon)
            throw std::invalid_argument("an IPv6 address needs brackets, as in [::1]:8000");
        address.host = text.substr(0, colon);
        port = colon == std::string_view::npos ? "8000" : text.substr(colon + 1);
    }
    if (address.host.empty()) address.host = "0.0.0.0";
    address.port = static_cast<std::uint16_t>(parse_number(port, 65535, "the port"));
    return address;
}

}  // namespace

std::string bind_address::display() const {
    switch (type) {
        case kind::tcp:
            return host.find(':') != std::string::npos
                       ? "http://[" + host + "]:" + std::to_string(port)
                       : "http://" + host + ":" + std::to_string(port);
        case kind::unix_path:
            return "unix:" + path;
        case kind::inherited_fd:
            return "fd://" + std::to_string(fd);
    }
    return text;
}

bind_address parse_bind_address(std::string_view text) {
    if (text.empty()) throw std::invalid_argument("the address is empty");
    bind_address address;
    if (text.starts_with("unix:")) {
        address.type = bind_address::kind::unix_path;
        address.path = text.substr(5);
        if (address.path.empty()) throw std::invalid_argument("unix: needs a path");
        if (auto problem = unix_path_problem(address.path); !problem.empty())
            throw std::invalid_argument(problem);
    } else if (text.starts_with("fd://")) {
        address.type = bind_address::kind::inherited_fd;
        address.fd = parse_number(text.substr(5), 1 << 20, "the file descriptor");
        if (address.fd < 3)
            throw std::invalid_argument("fd://N needs N >= 3 (0-2 are stdin, stdout, stderr)");
    } else {
        address = parse_tcp(text);
    }
    address.text = text;
    return address;
}

bind_address parse_host_port(std::string_view text) {
    if (text.starts_with("unix:") || text.starts_with("fd://"))
        throw std::invalid_argument("expected HOST:PORT, not a unix: or fd:// address");
    auto address = parse_bind_address(text);
    bool port_given = text.starts_with('[') ? text.find("]:") != std::string_view::npos
                                            : text.find(':') != std::string_view::npos;
    if (!port_given)
        throw std::invalid_argument("the port is missing: write HOST:PORT, e.g. 127.0.0.1:9100");
    return address;
}

std::string unix_path_problem(std::string_view path) {
    constexpr std::size_t longest = sizeof(sockaddr_un{}.sun_path) - 1;  // and the NUL
    if (path.size() <= longest) return "";
    return "the path is " + std::to_string(path.size()) +
           " bytes long; a unix socket path can be at most " + std::to_string(longest) + " bytes";
}

}  // namespace corral
