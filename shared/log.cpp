#include "shared/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <system_error>

namespace corral::log {
namespace {

/// The one logger of this process, set up by its entry point.
struct logger {
    level least_severe = level::info;
    bool json = false;
    int fd = STDERR_FILENO;
    std::string path = "-";  ///< what fd was opened from ("-" = stderr), for reopen()
} the_log;

const char* level_name(level severity) {
    switch (severity) {
        case level::debug:
            return "DEBUG";
        case level::info:
            return "INFO";
        case level::warning:
            return "WARNING";
        case level::error:
            return "ERROR";
        case level::critical:
            return "CRITICAL";
    }
    return "INFO";
}

/// syslog priorities, as journald reads them from a `<N>` prefix.
int priority(level severity) {
    switch (severity) {
        case level::debug:
            return 7;
        case level::info:
            return 6;
        case level::warning:
            return 4;
        case level::error:
            return 3;
        case level::critical:
            return 2;
    }
    return 6;
}

/// Whether `fd` is the stream journald gave this service (JOURNAL_STREAM=DEVICE:INODE).
bool is_journal_stream(int fd) {
    const char* stream = std::getenv("JOURNAL_STREAM");
    struct stat info {};
    if (!stream || ::fstat(fd, &info) != 0) return false;
    unsigned long long device = 0, inode = 0;
    return std::sscanf(stream, "%llu:%llu", &device, &inode) == 2 && info.st_dev == device &&
           info.st_ino == inode;
}

std::string timestamp(const char* format) {
    std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char text[40];
    std::strftime(text, sizeof text, format, &local);
    return text;
}

std::string format_line(level severity, std::string_view message) {
    if (the_log.json) {
        std::string name = level_name(severity);
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return fmt::format(R"({{"time":"{}","pid":{},"level":"{}","message":{}}})",
                           timestamp("%Y-%m-%dT%H:%M:%S%z"), ::getpid(), name,
                           boost::json::serialize(boost::json::string(message))) +
               "\n";
    }
    if (is_journal_stream(the_log.fd))  // journald stamps the time itself
        return fmt::format("<{}>[{}] [{}] {}\n", priority(severity), ::getpid(),
                           level_name(severity), message);
    return fmt::format("[{}] [{}] [{}] {}\n", timestamp("%Y-%m-%d %H:%M:%S %z"), ::getpid(),
                       level_name(severity), message);
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

void set_level(level least_severe) { the_log.least_severe = least_severe; }

void set_format(std::string_view format) { the_log.json = format == "json"; }

bool enabled(level severity) { return severity >= the_log.least_severe; }

void open(const std::string& path) {
    the_log.path = path;  // what reopen() tries next, even when this attempt fails
    int fd = path == "-" ? STDERR_FILENO : open_for_append(path);
    if (the_log.fd != STDERR_FILENO) ::close(the_log.fd);
    the_log.fd = fd;
}

bool reopen() {
    try {
        open(the_log.path);
        return true;
    } catch (const std::system_error& e) {
        error("{}; still logging to the old file until it can be opened (tried again on USR1)",
              e.what());
        return false;
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

int descriptor() { return the_log.fd; }

void write(level severity, std::string_view message) {
    std::string line = format_line(severity, message);
    std::string_view rest = line;
    while (!rest.empty()) {
        ssize_t written = ::write(the_log.fd, rest.data(), rest.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;  // nowhere left to say it
        rest.remove_prefix(static_cast<std::size_t>(written));
    }
}

}  // namespace corral::log
