#include "master/notify_receiver.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

#include "shared/log.hpp"

namespace corral {
namespace {

[[noreturn]] void fail(const char* call, const std::string& address) {
    throw std::system_error(
        errno, std::generic_category(),
        std::string(call) + " failed while creating the notify socket " + address);
}

int bind_abstract_socket(const std::string& address) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) fail("socket()", address);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path + 1, address.data() + 1, address.size() - 1);
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    int on = 1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&un), length) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        int error = errno;
        ::close(fd);
        errno = error;
        fail("bind()", address);
    }
    return fd;
}

/// The pid namespace's inode ("4026531836"), or "0" when /proc cannot tell: abstract
/// socket names are shared by every pid namespace on one network namespace, so two
/// masters with the same pid (each PID 1 of its container, two containers of one pod)
/// must not pick the same name. It stays the same across an exec (USR2), as the pid does.
std::string pid_namespace_id() {
    char target[64] = {};
    auto length = ::readlink("/proc/self/ns/pid", target, sizeof target - 1);
    std::string_view link(target, length > 0 ? static_cast<std::size_t>(length) : 0);
    auto open = link.find('['), close = link.find(']');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return "0";
    return std::string(link.substr(open + 1, close - open - 1));
}

}  // namespace

notify_receiver::notify_receiver(boost::asio::io_context& io)
    : socket_(io),
      address_("@corral/" + pid_namespace_id() + "/" + std::to_string(::getpid()) + "/notify") {
    socket_.assign(boost::asio::local::datagram_protocol(), bind_abstract_socket(address_));
}

void notify_receiver::start(handler on_message) {
    on_message_ = std::move(on_message);
    do_receive();
}

void notify_receiver::do_receive() {
    socket_.async_wait(boost::asio::socket_base::wait_read, [this](boost::system::error_code ec) {
        if (ec == boost::asio::error::operation_aborted) return;
        if (ec) log::error("waiting on the notify socket failed: {}", ec.message());
        drain_datagrams();
        do_receive();
    });
}

void notify_receiver::drain_datagrams() {
    std::array<char, 4096> buffer;
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control;
    for (;;) {
        iovec io{buffer.data(), buffer.size()};
        msghdr message{};
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        ssize_t received =
            ::recvmsg(socket_.native_handle(), &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (received < 0) {
            if (errno != EAGAIN && errno != EINTR)
                log::error("recvmsg() failed on the notify socket: {}", std::strerror(errno));
            if (errno != EINTR) return;
            continue;
        }
        pid_t sender = 0;
        for (cmsghdr* header = CMSG_FIRSTHDR(&message); header;
             header = CMSG_NXTHDR(&message, header)) {
            if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_CREDENTIALS) {
                ucred credentials;
                std::memcpy(&credentials, CMSG_DATA(header), sizeof credentials);
                sender = credentials.pid;
            }
        }
        on_message_(sender, std::string_view(buffer.data(), static_cast<std::size_t>(received)));
    }
}

}  // namespace corral
