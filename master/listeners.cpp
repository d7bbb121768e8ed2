#include "master/listeners.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <system_error>
#include <utility>

#include "master/credentials.hpp"
#include "shared/log.hpp"

namespace corral {
namespace {

[[noreturn]] void fail(const char* call, const bind_address& address, int error = errno) {
    throw std::system_error(error, std::generic_category(),
                            std::string(call) + " failed while binding " + address.display());
}

/// Closes the fd unless released: keeps error paths from leaking sockets.
struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
    int release() { return std::exchange(fd, -1); }
};

void set_option(int fd, int level, int option, const bind_address& address) {
    int on = 1;
    if (::setsockopt(fd, level, option, &on, sizeof on) != 0) fail("setsockopt()", address);
}

int bind_tcp(const bind_address& address, int backlog, bool reuse_port) {
    addrinfo* found = nullptr;
    if (int rc = resolve_for_listening(address, &found); rc != 0)
        throw std::runtime_error("getaddrinfo() failed while binding " + address.display() + ": " +
                                 ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> result(found, ::freeaddrinfo);
    fd_guard socket_fd{::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (socket_fd.fd < 0) fail("socket()", address);
    set_option(socket_fd.fd, SOL_SOCKET, SO_REUSEADDR, address);
    // Lets 0.0.0.0:P and [::]:P be bound side by side.
    if (found->ai_family == AF_INET6) set_option(socket_fd.fd, IPPROTO_IPV6, IPV6_V6ONLY, address);
    // Bound without SO_REUSEPORT, so a port that another process holds is still "in use".
    if (::bind(socket_fd.fd, found->ai_addr, found->ai_addrlen) != 0) fail("bind()", address);
    if (reuse_port && !enable_reuse_port(socket_fd.fd)) fail("setsockopt(SO_REUSEPORT)", address);
    if (::listen(socket_fd.fd, backlog) != 0) fail("listen()", address);
    return socket_fd.release();
}

/// Whether a listening socket has SO_REUSEPORT: only then can shards join it.
bool has_reuse_port(int fd) {
    int on = 0;
    socklen_t length = sizeof on;
    return ::getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &length) == 0 && on;
}

std::shared_ptr<const listener> tcp_listener(const bind_address& address, int fd,
                                             const bind_options& options,
                                             std::vector<int> inherited_shards = {}) {
    auto made = std::make_shared<listener>(address, fd, false);
    if (!inherited_shards.empty() || (options.reuse_port && has_reuse_port(fd)))
        made->shards = std::make_shared<accept_shards>(fd, options.backlog, address.display(),
                                                       std::move(inherited_shards));
    return made;
}

sockaddr_un unix_address(const bind_address& address) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (address.path.size() >= sizeof un.sun_path) fail("bind()", address, ENAMETOOLONG);
    std::memcpy(un.sun_path, address.path.c_str(), address.path.size() + 1);
    return un;
}

/// An existing socket file is stale when connecting to it is refused: remove it then.
void remove_stale_socket_file(const bind_address& address) {
    struct stat info {};
    if (::lstat(address.path.c_str(), &info) != 0) return;
    if (!S_ISSOCK(info.st_mode))
        throw std::runtime_error("cannot bind " + address.display() +
                                 ": the file exists and is not a socket; refusing to replace it");
    int error = unix_connect_error(address.path);
    if (error == 0)
        throw std::runtime_error("cannot bind " + address.display() +
                                 ": another process is listening on it");
    if (error != ECONNREFUSED) fail("connect() to the existing socket file", address, error);
    if (::unlink(address.path.c_str()) != 0) fail("unlink() of the stale socket file", address);
    log::info("Removed stale socket file {}", address.path);
}

int bind_unix(const bind_address& address, int backlog, const socket_file_options& file) {
    sockaddr_un un = unix_address(address);
    remove_stale_socket_file(address);
    fd_guard socket_fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (socket_fd.fd < 0) fail("socket()", address);
    if (::bind(socket_fd.fd, reinterpret_cast<const sockaddr*>(&un), sizeof un) != 0)
        fail("bind()", address);
    // Before listen(): nobody can connect yet, so no client sees the file's first mode.
    if (file.mode != 0 && ::chmod(address.path.c_str(), file.mode) != 0) fail("chmod()", address);
    if ((file.uid >= 0 || file.gid >= 0) &&
        ::chown(address.path.c_str(), static_cast<uid_t>(file.uid), static_cast<gid_t>(file.gid)) !=
            0)
        fail("chown()", address);
    if (::listen(socket_fd.fd, backlog) != 0) fail("listen()", address);
    return socket_fd.release();
}

int adopt_fd(const bind_address& address) {
    int type = 0, listening = 0;
    socklen_t length = sizeof type;
    if (::getsockopt(address.fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0)
        fail("getsockopt(SO_TYPE) on the inherited descriptor", address);
    length = sizeof listening;
    if (type != SOCK_STREAM ||
        ::getsockopt(address.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || !listening)
        throw std::runtime_error("cannot adopt " + address.display() +
                                 ": it is not a listening stream socket");
    if (::fcntl(address.fd, F_SETFD, FD_CLOEXEC) != 0) fail("fcntl(FD_CLOEXEC)", address);
    return address.fd;
}

/// A LISTEN_FDNAMES entry: printable, without ':' (the list separator).
std::string fd_name(const bind_address& address) {
    std::string name = address.text;
    for (char& ch : name)
        if (ch == ':' || ch < 0x21 || ch > 0x7e) ch = '_';
    return name.substr(0, 255);
}

}  // namespace

listener::listener(bind_address where, int descriptor, bool created_file, std::string fd_name_)
    : address(std::move(where)),
      fd(descriptor),
      name(fd_name_.empty() ? fd_name(address) : std::move(fd_name_)),
      owns_socket_file(created_file) {}

int unix_connect_error(const std::string& path) {
    sockaddr_un address{};
    if (path.size() >= sizeof address.sun_path) return ENAMETOOLONG;
    fd_guard probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (probe.fd < 0) return errno;
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return ::connect(probe.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0
               ? 0
               : errno;
}

std::string listener::bound_address() const {
    sockaddr_storage storage{};
    socklen_t size = sizeof storage;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &size) != 0)
        return address.display();
    char text[INET6_ADDRSTRLEN] = "";
    if (storage.ss_family == AF_INET) {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(storage);
        ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
        return fmt::format("http://{}:{}", text, ntohs(v4.sin_port));
    }
    if (storage.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(storage);
        ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
        return fmt::format("http://[{}]:{}", text, ntohs(v6.sin6_port));
    }
    if (storage.ss_family == AF_UNIX && address.type == bind_address::kind::inherited_fd) {
        const auto& local = reinterpret_cast<const sockaddr_un&>(storage);
        auto length = size - offsetof(sockaddr_un, sun_path);
        if (length > 0 && local.sun_path[0] == '\0')  // abstract: shown as ss does
            return "unix:@" + std::string(local.sun_path + 1, length - 1);
        if (length > 0) return "unix:" + std::string(local.sun_path);
    }
    return address.display();
}

listener_set listener_set::adopt(const std::vector<std::pair<int, std::string>>& sockets) {
    listener_set set;
    for (const auto& [fd, name] : sockets) {
        auto address = parse_bind_address("fd://" + std::to_string(fd));
        set.listeners_.push_back(
            std::make_shared<listener>(address, adopt_fd(address), false, name));
    }
    return set;
}

listener::~listener() {
    if (owns_socket_file) ::unlink(address.path.c_str());
    if (fd >= 0) ::close(fd);
}

listener_set listener_set::bind_all(const std::vector<std::string>& addresses,
                                    const bind_options& options, const listener_set* current,
                                    const std::map<std::string, inherited_listener>* inherited) {
    listener_set set;
    for (const auto& text : addresses) {
        std::shared_ptr<const listener> reused;
        if (current)
            for (const auto& item : current->listeners_)
                if (item->address.text == text) reused = item;
        if (reused) {
            set.listeners_.push_back(std::move(reused));
            continue;
        }
        auto address = parse_bind_address(text);
        if (inherited && inherited->count(text)) {
            const auto& kept = inherited->at(text);
            ::fcntl(kept.fd, F_SETFD, FD_CLOEXEC);
            for (int shard : kept.shards) ::fcntl(shard, F_SETFD, FD_CLOEXEC);
            if (address.type == bind_address::kind::tcp)
                set.listeners_.push_back(tcp_listener(address, kept.fd, options, kept.shards));
            else
                set.listeners_.push_back(std::make_shared<listener>(
                    address, kept.fd, address.type == bind_address::kind::unix_path));
            continue;
        }
        switch (address.type) {
            case bind_address::kind::tcp:
                set.listeners_.push_back(tcp_listener(
                    address, bind_tcp(address, options.backlog, options.reuse_port), options));
                break;
            case bind_address::kind::unix_path:
                set.listeners_.push_back(std::make_shared<listener>(
                    address, bind_unix(address, options.backlog, options.socket_files), true));
                break;
            case bind_address::kind::inherited_fd:
                set.listeners_.push_back(
                    std::make_shared<listener>(address, adopt_fd(address), false));
                break;
        }
    }
    return set;
}

int resolve_for_listening(const bind_address& address, addrinfo** found) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    return ::getaddrinfo(address.host.c_str(), std::to_string(address.port).c_str(), &hints, found);
}

bind_options bind_options_for(const config& cfg) {
    bind_options options{
        cfg.backlog, cfg.reuse_port, {static_cast<unsigned>(cfg.socket_mode), -1, -1}};
    if (auto owner = resolve_owner(cfg.socket_owner)) {
        options.socket_files.uid = owner->uid;
        options.socket_files.gid = owner->gid;
    }
    return options;
}

std::vector<int> listener_set::queued_per_shard() const {
    std::vector<int> queued;
    for (const auto& item : listeners_) {
        if (!item->shards) continue;
        queued.resize(std::max(queued.size(), static_cast<std::size_t>(item->shards->count())));
        for (int shard = 0; shard < item->shards->count(); ++shard)
            queued[static_cast<std::size_t>(shard)] += item->shards->queued(shard);
    }
    return queued;
}

void listener_set::release_socket_files() const {
    for (const auto& item : listeners_) item->owns_socket_file = false;
}

std::string listener_set::fd_names() const {
    std::string names;
    for (const auto& item : listeners_) names += (names.empty() ? "" : ":") + item->name;
    return names;
}

}  // namespace corral
