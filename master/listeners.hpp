#pragma once
// The listening sockets, bound by the master before any worker exists and handed to every
// worker as fds 3.. . The master never accepts on them; it only keeps them open. A TCP
// listener that corral binds itself is split into accept shards (accept_shards.hpp), one
// socket per worker slot, unless `reuse_port` is off.

#include <netdb.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "master/accept_shards.hpp"
#include "shared/bind_address.hpp"
#include "shared/config.hpp"

namespace corral {

/// One bound, listening socket; closed (and its socket file removed) when the last
/// listener_set holding it lets go.
struct listener {
    bind_address address;
    int fd = -1;
    std::string name{};  ///< its LISTEN_FDNAMES entry
    /// A unix socket file we created and remove at close; cleared when a new master (binary
    /// upgrade) takes the socket over, file and all.
    mutable bool owns_socket_file = false;
    /// One socket per worker slot, shard 0 being `fd`; null = every worker shares `fd`.
    std::shared_ptr<accept_shards> shards{};

    /// Where it listens, as the kernel says (getsockname): the port bound for `:0`, the
    /// address of a socket passed by the service manager; for logs and `corral status`.
    std::string bound_address() const;

    /// The socket worker slot `shard` gets.
    int fd_for_shard(int shard) const { return shards ? shards->fd(shard) : fd; }

    /// `fd_name` "" = made from the address.
    listener(bind_address where, int descriptor, bool created_file, std::string fd_name = "");
    ~listener();
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;
};

/// connect() to the unix stream socket at `path`, then close: 0 when a listener took the
/// connection, else the errno (ECONNREFUSED: a socket file nobody listens on).
int unix_connect_error(const std::string& path);

/// Mode and owner for the unix socket files corral creates (`socket_mode`,
/// `socket_owner`); 0 and -1 leave them as the umask and the master's identity make them.
struct socket_file_options {
    unsigned mode = 0;
    long uid = -1;
    long gid = -1;
};

/// How bind_all makes the sockets it has to create.
struct bind_options {
    int backlog = 2048;
    bool reuse_port = true;  ///< split TCP listeners into accept shards
    socket_file_options socket_files{};
};

/// getaddrinfo() as for a TCP listener on `address` (AI_PASSIVE, numeric port): 0, and
/// the list in `found` to freeaddrinfo(); or getaddrinfo()'s error code.
int resolve_for_listening(const bind_address& address, addrinfo** found);

/// How `cfg` (backlog, reuse_port, socket_mode, socket_owner) says listeners are bound.
/// Throws std::runtime_error naming an unknown socket_owner.
bind_options bind_options_for(const config& cfg);

/// A listener kept open across a binary upgrade: its descriptor and its shards 1.. .
struct inherited_listener {
    int fd = -1;
    std::vector<int> shards{};
};

/// The listeners of one worker generation. A reload builds a new set that shares every
/// unchanged listener with the old one, so a socket that a live generation still uses is
/// never closed and its queue of connections is never dropped.
class listener_set {
  public:
    /// Binds and listens on each address, reusing the listeners of `current` whose address
    /// is written the same, and adopting the descriptors in `inherited` (by bind text,
    /// from a binary upgrade); throws std::system_error or std::runtime_error naming the
    /// call and the address. Unix socket files are replaced only when nothing answers.
    static listener_set bind_all(
        const std::vector<std::string>& addresses, const bind_options& options,
        const listener_set* current = nullptr,
        const std::map<std::string, inherited_listener>* inherited = nullptr);

    /// Takes over sockets passed by the service manager (socket activation), keeping the
    /// names it gave them (LISTEN_FDNAMES).
    static listener_set adopt(const std::vector<std::pair<int, std::string>>& sockets);

    const std::vector<std::shared_ptr<const listener>>& items() const { return listeners_; }
    /// "a:b:c", for LISTEN_FDNAMES.
    std::string fd_names() const;
    /// Connections waiting in each accept shard, all sharded listeners together.
    std::vector<int> queued_per_shard() const;
    /// Leaves the unix socket files in place at close: a new master serves them now.
    void release_socket_files() const;

  private:
    std::vector<std::shared_ptr<const listener>> listeners_;
};

}  // namespace corral
