#pragma once
// Sockets passed the systemd way: fds 3.. announced by LISTEN_FDS, LISTEN_PID and
// LISTEN_FDNAMES. Workers receive theirs from the master like this, and the master can
// receive its own from systemd the same way.

#include <string>
#include <vector>

namespace corral {

struct inherited_socket {
    int fd;
    std::string name;  ///< its LISTEN_FDNAMES entry, or "unknown"
};

/// The sockets passed to this process; none when LISTEN_FDS is unset or LISTEN_PID names
/// another process. Removes the three variables so that children do not see them, and
/// marks the fds close-on-exec.
std::vector<inherited_socket> take_listen_fds();

}  // namespace corral
