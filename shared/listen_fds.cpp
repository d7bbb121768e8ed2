#include "shared/listen_fds.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace corral {

std::vector<inherited_socket> take_listen_fds() {
    const char* count_text = std::getenv("LISTEN_FDS");
    const char* pid_text = std::getenv("LISTEN_PID");
    std::vector<inherited_socket> sockets;
    if (count_text && pid_text && std::atol(pid_text) == ::getpid()) {
        std::string_view names = std::getenv("LISTEN_FDNAMES") ? std::getenv("LISTEN_FDNAMES") : "";
        int count = std::atoi(count_text);
        for (int i = 0; i < count; ++i) {
            auto colon = names.find(':');
            std::string name(names.substr(0, colon));
            names = colon == std::string_view::npos ? "" : names.substr(colon + 1);
            int fd = 3 + i;
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            sockets.push_back({fd, name.empty() ? "unknown" : name});
        }
    }
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDNAMES");
    return sockets;
}

}  // namespace corral
