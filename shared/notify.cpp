#include "shared/notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace corral {

notifier::notifier(std::string_view socket_name) {
    sockaddr_un address{};
    if (socket_name.empty() || socket_name.size() >= sizeof address.sun_path) return;
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, socket_name.data(), socket_name.size());
    if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_name.size());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

notifier notifier::from_environment() {
    const char* name = std::getenv("NOTIFY_SOCKET");
    return notifier(name ? name : "");
}

notifier::~notifier() {
    if (fd_ >= 0) ::close(fd_);
}

notifier::notifier(notifier&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

bool notifier::send(std::string_view message) const {
    if (fd_ < 0) return false;
    return ::send(fd_, message.data(), message.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(message.size());
}

std::vector<std::pair<std::string_view, std::string_view>> parse_notify_message(
    std::string_view datagram) {
    std::vector<std::pair<std::string_view, std::string_view>> assignments;
    while (!datagram.empty()) {
        auto end = datagram.find('\n');
        auto line = datagram.substr(0, end);
        if (auto equals = line.find('='); equals != std::string_view::npos && equals > 0)
            assignments.emplace_back(line.substr(0, equals), line.substr(equals + 1));
        if (end == std::string_view::npos) break;
        datagram.remove_prefix(end + 1);
    }
    return assignments;
}

}  // namespace corral
