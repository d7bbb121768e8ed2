#pragma once
// The listening sockets, bound by the master before any worker exists and handed to every
// worker as fds 3.. . The master never accepts on them; it only keeps them open.

#include <string>
#include <vector>

#include "shared/bind_address.hpp"

namespace corral {

/// One bound, listening socket.
struct listener {
    bind_address address;
    int fd = -1;
    std::string name{};           ///< its LISTEN_FDNAMES entry
    bool owns_socket_file = false;  ///< a unix socket file we created and remove at exit
};

/// Every listener of the master; closes them (and removes their socket files) when destroyed.
class listener_set {
public:
    /// Binds and listens on each address; throws std::system_error naming the call and the
    /// address. Unix socket files are replaced only when nothing answers on them.
    static listener_set bind_all(const std::vector<std::string>& addresses, int backlog);

    listener_set() = default;
    listener_set(listener_set&& other) noexcept;
    listener_set& operator=(listener_set&& other) noexcept;
    ~listener_set();

    const std::vector<listener>& items() const { return listeners_; }
    /// "a:b:c", for LISTEN_FDNAMES.
    std::string fd_names() const;

private:
    void close_all();
    std::vector<listener> listeners_;
};

}  // namespace corral
