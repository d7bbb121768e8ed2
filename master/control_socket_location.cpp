#include "master/control_socket_location.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "master/listeners.hpp"

namespace corral {
namespace {

constexpr std::string_view prefix = "corral-", suffix = ".sock";

/// Whether `name` is what default_control_socket makes: corral-<pid>[.<n>].sock.
bool is_default_name(std::string_view name) {
    if (!name.starts_with(prefix) || !name.ends_with(suffix)) return false;
    auto middle = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    auto dot = middle.find('.');
    auto digits = [](std::string_view text) {
        return !text.empty() && text.size() <= 10 &&
               std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    return dot == std::string_view::npos
               ? digits(middle)
               : digits(middle.substr(0, dot)) && digits(middle.substr(dot + 1));
}

/// A directory this user owns and no one else may write to.
bool private_to_this_user(const std::string& directory) {
    struct stat info {};
    return !directory.empty() && directory.starts_with('/') &&
           ::stat(directory.c_str(), &info) == 0 && S_ISDIR(info.st_mode) &&
           info.st_uid == ::geteuid() && (info.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

}  // namespace

std::string control_socket_path(const std::string& configured, const std::string& pidfile,
                                const std::string& runtime_directory) {
    if (configured == "off") return "";
    if (!configured.empty()) return configured;
    if (!runtime_directory.empty()) return runtime_directory + "/control.sock";
    if (!pidfile.empty()) return pidfile + ".sock";
    return "";
}

std::string user_runtime_directory(const std::map<std::string, std::string>& environment) {
    if (auto xdg = environment.find("XDG_RUNTIME_DIR");
        xdg != environment.end() && private_to_this_user(xdg->second))
        return xdg->second;
    if (auto per_user = fmt::format("/run/user/{}", ::geteuid()); private_to_this_user(per_user))
        return per_user;
    if (::geteuid() == 0 && private_to_this_user("/run")) return "/run";
    return "";
}

std::string default_control_socket(const std::string& directory, pid_t pid) {
    // Another master with the same pid, in another pid namespace (two containers, each
    // PID 1, sharing the directory), may hold the plain name: then the next free number.
    for (int n = 1;; ++n) {
        auto path = n == 1 ? fmt::format("{}/{}{}{}", directory, prefix, pid, suffix)
                           : fmt::format("{}/{}{}.{}{}", directory, prefix, pid, n, suffix);
        struct stat info {};
        if (::lstat(path.c_str(), &info) != 0 || !control_socket_answers(path)) return path;
    }
}

std::vector<std::string> default_control_sockets(const std::string& directory) {
    std::vector<std::string> found;
    DIR* entries = ::opendir(directory.c_str());
    if (!entries) return found;
    while (dirent* entry = ::readdir(entries)) {
        if (!is_default_name(entry->d_name)) continue;
        auto path = directory + "/" + entry->d_name;
        struct stat info {};
        if (::lstat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode) &&
            info.st_uid == ::geteuid())
            found.push_back(std::move(path));
    }
    ::closedir(entries);
    std::sort(found.begin(), found.end());
    return found;
}

void remove_stale_control_sockets(const std::string& directory) {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    for (const auto& path : default_control_sockets(directory)) {
        struct stat info {};
        // A master binds, then listens: in between, a connection is refused too.
        bool old = ::lstat(path.c_str(), &info) == 0 &&
                   now - std::chrono::seconds(info.st_mtime) > std::chrono::seconds(10);
        if (old && unix_connect_error(path) == ECONNREFUSED) ::unlink(path.c_str());
    }
}

bool control_socket_answers(const std::string& path) { return unix_connect_error(path) == 0; }

}  // namespace corral
