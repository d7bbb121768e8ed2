#include "shared/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <system_error>

namespace corral::log {
namespace {

level least_severe_ = level::info;
int fd_ = STDERR_FILENO;
std::string path_ = "-";

const char* level_name(level severity) {
    switch (severity) {
        case level::debug: return "DEBUG";
        case level::info: return "INFO";
        case level::warning: return "WARNING";
        case level::error: return "ERROR";
        case level::critical: return "CRITICAL";
    }
    return "INFO";
}

int open_for_append(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(),
                                "open() failed while opening log file " + path);
    return fd;
}

}  // namespace

level parse_level(std::string_view name) {
    if (name == "debug") return level::debug;
    if (name == "warning") return level::warning;
    if (name == "error") return level::error;
    if (name == "critical") return level::critical;
    return level::info;
}

void set_level(level least_severe) { least_severe_ = least_severe; }

bool enabled(level severity) { return severity >= least_severe_; }

void open(const std::string& path) {
    int fd = path == "-" ? STDERR_FILENO : open_for_append(path);
    if (fd_ != STDERR_FILENO) ::close(fd_);
    fd_ = fd;
    path_ = path;
}

void reopen() {
    try {
        open(path_);
    } catch (const std::system_error& e) {
        error("{}; still logging to the old file", e.what());
    }
}

void reopen_standard_streams(const std::string& path) {
    if (path == "-") return;
    try {
        int fd = open_for_append(path);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
    } catch (const std::system_error& e) {
        error("{}; still writing to the old file", e.what());
    }
}

int descriptor() { return fd_; }

void write(level severity, std::string_view message) {
    std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char stamp[40];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S %z", &local);
    std::string line =
        fmt::format("[{}] [{}] [{}] {}\n", stamp, ::getpid(), level_name(severity), message);
    std::string_view rest = line;
    while (!rest.empty()) {
        ssize_t written = ::write(fd_, rest.data(), rest.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;  // nowhere left to say it
        rest.remove_prefix(static_cast<std::size_t>(written));
    }
}

}  // namespace corral::log
