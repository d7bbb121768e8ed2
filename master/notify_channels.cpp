#include "master/notify_channels.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "shared/log.hpp"

namespace corral {
namespace {

/// A datagram carries at most this much (docs/worker-protocol.md); the rest is cut.
constexpr std::size_t max_datagram = 4096;
/// Datagrams read from one channel per wake-up, so a worker that sends without pause
/// cannot keep the master's loop to itself.
constexpr int datagrams_per_turn = 16;
/// Room a channel's name needs after the directory: "/" and a number.
constexpr std::size_t channel_name_room = 12;
/// A notify directory younger than this is never taken for abandoned: its master may not
/// have locked it yet (it does so right after mkdtemp).
constexpr auto abandoned_after = std::chrono::seconds(10);

[[noreturn]] void fail(const char* call, const std::string& what) {
    throw std::system_error(errno, std::generic_category(),
                            std::string(call) + " failed while " + what);
}

bool searchable(const struct stat& info, const credentials& who) {
    if (who.uid == 0) return true;
    if (info.st_uid == who.uid) return info.st_mode & S_IXUSR;
    bool in_group = info.st_gid == who.gid || std::find(who.groups.begin(), who.groups.end(),
                                                        info.st_gid) != who.groups.end();
    return info.st_mode & (in_group ? S_IXGRP : S_IXOTH);
}

/// Whether `name` is what notify_channels names its directories: corral-<pid>.XXXXXX.
bool is_notify_directory_name(std::string_view name) {
    if (!name.starts_with("corral-")) return false;
    auto dot = name.find('.');
    if (dot == std::string_view::npos || name.size() - dot - 1 != 6 || dot == 7) return false;
    return std::all_of(name.begin() + 7, name.begin() + static_cast<std::ptrdiff_t>(dot),
                       [](char c) { return c >= '0' && c <= '9'; });
}

/// Calls `visit` with the name of each entry of the open directory `directory_fd`.
void each_entry(int directory_fd, const std::function<void(const char*)>& visit) {
    int own = ::openat(directory_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* entries = own >= 0 ? ::fdopendir(own) : nullptr;
    if (!entries) {
        if (own >= 0) ::close(own);
        return;
    }
    while (const dirent* entry = ::readdir(entries)) visit(entry->d_name);
    ::closedir(entries);  // closes `own`
}

/// Removes directory `name` of `parent_fd` if it is this user's, old enough, and no master
/// holds its lock; only the sockets in it go with it. True if removed.
bool remove_if_abandoned(int parent_fd, const char* name) {
    int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat info {};
    auto now = std::chrono::system_clock::now().time_since_epoch();
    bool candidate = ::fstat(fd, &info) == 0 && info.st_uid == ::geteuid() &&
                     now - std::chrono::seconds(info.st_mtime) > abandoned_after &&
                     ::flock(fd, LOCK_EX | LOCK_NB) == 0;  // a live master holds it shared
    bool removed = false;
    if (candidate) {
        each_entry(fd, [fd](const char* entry) {
            struct stat socket_info {};
            if (::fstatat(fd, entry, &socket_info, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISSOCK(socket_info.st_mode))
                ::unlinkat(fd, entry, 0);
        });
        removed = ::unlinkat(parent_fd, name, AT_REMOVEDIR) == 0;
    }
    ::close(fd);
    return removed;
}

/// A master killed with SIGKILL leaves its notify directory behind; the next master of the
/// same user in the same place removes those that no master holds any more.
void remove_abandoned_notify_directories(const std::string& parent) {
    int parent_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0) return;
    int removed = 0;
    each_entry(parent_fd, [&](const char* entry) {
        if (is_notify_directory_name(entry) && remove_if_abandoned(parent_fd, entry)) ++removed;
    });
    ::close(parent_fd);
    if (removed > 0)
        log::info("Removed {} notify director{} in {} left by masters that are gone", removed,
                  removed == 1 ? "y" : "ies", parent);
}

}  // namespace

std::string notify_base_directory(const std::string& base,
                                  const std::map<std::string, std::string>& environment) {
    if (!base.empty()) return base;
    auto tmpdir = environment.find("TMPDIR");
    if (tmpdir != environment.end() && tmpdir->second.starts_with('/')) return tmpdir->second;
    return "/tmp";
}

std::string notify_base_problem(const std::string& base) {
    // <base>/corral-<pid>.XXXXXX/<n>: a pid has at most 7 digits (pid_max 4194304).
    auto longest =
        base.size() + std::string_view("/corral-4194304.XXXXXX").size() + channel_name_room;
    if (longest >= sizeof(sockaddr_un::sun_path))
        return fmt::format(
            "{} is too long for the workers' notify sockets ({} bytes; a socket path holds "
            "{}, and {} go to the names in it): choose a shorter directory",
            base, base.size(), sizeof(sockaddr_un::sun_path) - 1, longest - base.size());
    struct stat info {};
    if (::stat(base.c_str(), &info) != 0) return fmt::format("{}: {}", base, std::strerror(errno));
    if (!S_ISDIR(info.st_mode)) return fmt::format("{}: it is not a directory", base);
    if (::access(base.c_str(), W_OK | X_OK) != 0)
        return fmt::format("{}: {}", base, std::strerror(errno));
    return "";
}

std::string unreachable_reason(const std::string& directory, const credentials& who) {
    std::vector<std::filesystem::path> on_the_way{"/"};
    for (const auto& part : std::filesystem::absolute(directory).relative_path())
        on_the_way.push_back(on_the_way.back() / part);
    for (const auto& walked : on_the_way) {
        struct stat info {};
        if (::stat(walked.c_str(), &info) != 0)
            return fmt::format("{}: {}", walked.string(), std::strerror(errno));
        if (!searchable(info, who))
            return fmt::format("{} (mode {:04o}, owner {}:{}) is not searchable by user {}",
                               walked.string(), info.st_mode & 07777, info.st_uid, info.st_gid,
                               who.name);
    }
    return "";
}

notify_channels::notify_channels(boost::asio::io_context& io, const std::string& base,
                                 const std::map<std::string, std::string>& environment,
                                 handler on_message)
    : io_(io), on_message_(std::move(on_message)) {
    std::string parent = notify_base_directory(base, environment);
    if (auto problem = notify_base_problem(parent); !problem.empty())
        throw std::runtime_error("worker_tmp_dir: " + problem);
    remove_abandoned_notify_directories(parent);
    std::string pattern = fmt::format("{}/corral-{}.XXXXXX", parent, ::getpid());
    if (!::mkdtemp(pattern.data()))
        throw std::runtime_error(fmt::format(
            "worker_tmp_dir: mkdtemp() failed while creating the workers' notify directory in "
            "{}: {}",
            parent, std::strerror(errno)));
    directory_ = pattern;
    // Others may pass through to the socket of their own, each 0600; they cannot list.
    directory_fd_ = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_fd_ < 0 || ::fchmod(directory_fd_, 0711) != 0) {
        int error = errno;
        if (directory_fd_ >= 0) ::close(directory_fd_);
        ::rmdir(directory_.c_str());
        errno = error;
        fail("chmod()", "preparing the workers' notify directory " + directory_);
    }
    ::flock(directory_fd_, LOCK_SH | LOCK_NB);  // systemd-tmpfiles skips locked directories
}

notify_channels::~notify_channels() {
    for (auto& [number, open] : channels_) ::unlink(open->path.c_str());
    channels_.clear();
    if (directory_fd_ >= 0) ::close(directory_fd_);
    ::rmdir(directory_.c_str());
}

int notify_channels::open(const std::optional<credentials>& owner) {
    int number = next_number_++;
    std::string path = fmt::format("{}/{}", directory_, number);
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) fail("socket()", "opening the notify socket " + path);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    mode_t previous = ::umask(0177);  // created 0600: nobody else may send before chown
    int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::umask(previous);
    auto name = std::to_string(number);
    if (bound != 0 || (owner && owner->uid != ::geteuid() &&
                       ::fchownat(directory_fd_, name.c_str(), owner->uid, owner->gid,
                                  AT_SYMLINK_NOFOLLOW) != 0)) {
        int error = errno;
        ::close(fd);
        ::unlink(path.c_str());
        errno = error;
        fail(bound != 0 ? "bind()" : "chown()", "opening the notify socket " + path);
    }
    auto opened = std::make_unique<channel>(
        channel{boost::asio::local::datagram_protocol::socket(io_), std::move(path)});
    opened->socket.assign(boost::asio::local::datagram_protocol(), fd);
    channels_.emplace(number, std::move(opened));
    do_receive(number);
    return number;
}

const std::string& notify_channels::path(int number) const { return channels_.at(number)->path; }

void notify_channels::close(int number) {
    auto found = channels_.find(number);
    if (found == channels_.end()) return;
    ::unlink(found->second->path.c_str());
    channels_.erase(found);  // cancels its wait
}

void notify_channels::do_receive(int number) {
    channels_.at(number)->socket.async_wait(
        boost::asio::socket_base::wait_read, [this, number](boost::system::error_code ec) {
            if (ec == boost::asio::error::operation_aborted || !channels_.count(number)) return;
            if (ec) log::error("waiting on notify socket {} failed: {}", number, ec.message());
            if (drain(number)) do_receive(number);
        });
}

bool notify_channels::drain(int number) {
    std::array<char, max_datagram> buffer;
    for (int turn = 0; turn < datagrams_per_turn; ++turn) {
        auto found = channels_.find(number);
        if (found == channels_.end()) return false;  // the handler closed it
        ssize_t received = ::recv(found->second->socket.native_handle(), buffer.data(),
                                  buffer.size(), MSG_DONTWAIT);
        if (received < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN)
                log::error("recv() failed on notify socket {}: {}", found->second->path,
                           std::strerror(errno));
            return true;
        }
        on_message_(number, std::string_view(buffer.data(), static_cast<std::size_t>(received)));
    }
    return channels_.count(number) > 0;
}

}  // namespace corral
