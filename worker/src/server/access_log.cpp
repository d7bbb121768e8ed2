#include "server/access_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cerrno>
#include <ctime>
#include <tuple>
#include <utility>

#include "shared/log.hpp"

namespace corral {
namespace {

using namespace std::chrono;
constexpr auto flush_interval = milliseconds(100);
constexpr std::size_t max_buffered = 1 << 20;  // beyond it (a stuck pipe), lines are dropped

const std::string gunicorn_default =
    R"(%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s")";

std::string common_log_time(system_clock::time_point when) {
    std::time_t seconds = system_clock::to_time_t(when);
    std::tm local{};
    localtime_r(&seconds, &local);
    char text[40];
    std::strftime(text, sizeof text, "[%d/%b/%Y:%H:%M:%S %z]", &local);
    return text;
}

std::string header_of(const std::vector<std::pair<std::string, std::string>>& fields,
                      std::string_view name) {
    for (const auto& [key, value] : fields)
        if (iequals(key, name)) return value;
    return "-";
}

std::string request_line(const request& req) {
    return fmt::format("{} {} HTTP/{}.{}", req.method, req.target, req.version / 10,
                       req.version % 10);
}

/// The value of one atom: `h`, `r`, `{user-agent}i`, ...
std::string atom(std::string_view name, const access_entry& e) {
    auto took_us = duration_cast<microseconds>(e.took).count();
    if (name.size() > 2 && name.front() == '{') {
        auto close = name.find('}');
        auto key = name.substr(1, close - 1);
        auto kind = name.substr(close + 1);
        if (kind == "i") return header_of(e.req.headers, key);
        if (kind == "o") return header_of(e.res.headers, key);
        if (kind == "e") {
            const char* value = std::getenv(std::string(key).c_str());
            return value ? value : "-";
        }
        return "-";
    }
    if (name == "h")
        return e.req.client_address.empty() ? e.req.remote_address : e.req.client_address;
    if (name == "l" || name == "u") return "-";
    if (name == "t") return common_log_time(e.started);
    if (name == "r") return request_line(e.req);
    if (name == "m") return e.req.method;
    if (name == "U") return std::string(e.req.path());
    if (name == "q") return std::string(e.req.query());
    if (name == "H") return fmt::format("HTTP/{}.{}", e.req.version / 10, e.req.version % 10);
    if (name == "s") return std::to_string(e.res.status);
    if (name == "B") return std::to_string(e.res.body.size());
    if (name == "b") return e.res.body.empty() ? "-" : std::to_string(e.res.body.size());
    if (name == "f") return header_of(e.req.headers, "Referer");
    if (name == "a") return header_of(e.req.headers, "User-Agent");
    if (name == "T") return std::to_string(took_us / 1'000'000);
    if (name == "D") return std::to_string(took_us);
    if (name == "M") return std::to_string(took_us / 1000);
    if (name == "L") return fmt::format("{:.6f}", static_cast<double>(took_us) / 1e6);
    if (name == "p") return std::to_string(::getpid());
    return "-";
}

std::string json_line(const access_entry& e) {
    auto quote = [](std::string_view text) {
        return boost::json::serialize(boost::json::string(text));
    };
    return fmt::format(
        R"({{"time":{},"remote":{},"method":{},"path":{},"query":{},"protocol":"HTTP/{}.{}",)"
        R"("status":{},"bytes":{},"referer":{},"user_agent":{},"duration_us":{},"pid":{}}})",
        quote(common_log_time(e.started)), quote(atom("h", e)), quote(e.req.method),
        quote(e.req.path()), quote(e.req.query()), e.req.version / 10, e.req.version % 10,
        e.res.status, e.res.body.size(), quote(atom("f", e)), quote(atom("a", e)),
        duration_cast<microseconds>(e.took).count(), ::getpid());
}

}  // namespace

std::string access_log::format_line(const std::string& format, const access_entry& entry) {
    if (format == "json") return json_line(entry);
    const std::string& text = format.empty() ? gunicorn_default : format;
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        auto start = text.find("%(", i);
        auto end = start == std::string::npos ? std::string::npos : text.find(")s", start);
        if (end == std::string::npos) {
            out.append(text, i);
            break;
        }
        out.append(text, i, start - i);
        out += atom(std::string_view(text).substr(start + 2, end - start - 2), entry);
        i = end + 2;
    }
    return out;
}

access_log::access_log(boost::asio::io_context& io, const std::string& path,
                       const std::string& format)
    : timer_(io), path_(path), format_(format) {
    reopen();
}

access_log::~access_log() {
    flush();
    if (fd_ > STDERR_FILENO) ::close(fd_);
}

namespace {

/// A descriptor for stderr that the access log may write to without blocking, and whether
/// it is a socket (journald's stream), where send(MSG_DONTWAIT) does that. Stderr's own
/// O_NONBLOCK flag is shared with the master and the other workers, so it stays as it is:
/// a pipe gets a description of its own instead.
std::pair<int, bool> stderr_without_blocking() {
    struct stat info {};
    if (::fstat(STDERR_FILENO, &info) == 0 && S_ISSOCK(info.st_mode)) return {STDERR_FILENO, true};
    if (S_ISFIFO(info.st_mode))
        if (int fd = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC); fd >= 0)
            return {fd, false};
    return {STDERR_FILENO, false};  // a file or a terminal: writes do not wait on a reader
}

}  // namespace

void access_log::reopen() {
    if (path_.empty()) return;
    bool is_socket = false;
    int fd = -1;
    if (path_ == "-")
        std::tie(fd, is_socket) = stderr_without_blocking();
    else  // a named pipe without a reader fails (ENXIO) rather than blocks
        fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
        log::error(
            "open() failed while opening the access log {}: {}; {} until it can be "
            "opened (tried again on USR1)",
            path_, std::strerror(errno),
            fd_ < 0 ? "requests are not logged" : "still writing to the old file");
        return;
    }
    if (fd_ > STDERR_FILENO) ::close(fd_);
    fd_ = fd;
    socket_ = is_socket;
}

void access_log::record(const access_entry& entry) {
    if (!enabled()) return;
    if (fd_ < 0) {  // could not be opened: said at the time; counted in /metrics
        ++dropped_total_;
        return;
    }
    if (buffer_.size() > max_buffered) {
        ++dropped_;
        ++dropped_total_;
        return;
    }
    buffer_ += format_line(format_, entry);
    buffer_ += '\n';
    schedule_flush();
}

void access_log::schedule_flush() {
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    timer_.expires_after(flush_interval);
    timer_.async_wait([this](boost::system::error_code ec) {
        flush_scheduled_ = false;
        if (!ec) flush();
    });
}

void access_log::flush() {
    std::size_t written = 0;
    while (written < buffer_.size()) {
        const char* rest = buffer_.data() + written;
        std::size_t size = buffer_.size() - written;
        ssize_t n = socket_ ? ::send(fd_, rest, size, MSG_DONTWAIT | MSG_NOSIGNAL)
                            : ::write(fd_, rest, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // full pipe: try again at the next flush
        written += static_cast<std::size_t>(n);
    }
    buffer_.erase(0, written);
    if (dropped_ > 0 && buffer_.empty()) {
        log::warning("The access log could not keep up: {} lines dropped",
                     std::exchange(dropped_, 0));
    }
    if (!buffer_.empty()) schedule_flush();
}

}  // namespace corral
