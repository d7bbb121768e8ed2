#pragma once
// The access log: one line per request, in Gunicorn's format language
// (`%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`, `%({header}i)s`, ...) or as
// JSON lines. Lines are buffered and written in batches by a timer, at most every 100 ms:
// one write(2) for many requests, not one per request, on the event loop's hot path.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "corral/request.hpp"
#include "corral/response.hpp"

namespace corral {

struct access_entry {
    const request& req;
    const response& res;
    std::chrono::system_clock::time_point started;
    std::chrono::steady_clock::duration took;
};

class access_log {
  public:
    /// `path`: "" = off, "-" = stderr, else a file opened for appending. `format`: "" =
    /// Gunicorn's default, "json" = JSON lines, else Gunicorn's atoms.
    access_log(boost::asio::io_context& io, const std::string& path, const std::string& format);
    ~access_log();

    /// Whether requests are to be logged: `path` was set (even if it cannot be opened: then
    /// each line counts as dropped).
    bool enabled() const { return !path_.empty(); }
    void record(const access_entry& entry);
    /// Lines lost since start: the file could not be opened, or writes fell more than
    /// max_buffered behind. Reported to the master with each heartbeat.
    std::uint64_t dropped() const { return dropped_total_; }
    /// Writes what is buffered now (at exit).
    void flush();
    /// USR1: the file at `path` again, for logrotate.
    void reopen();

    /// One line for `entry` in `format` (no newline); public for tests.
    static std::string format_line(const std::string& format, const access_entry& entry);

  private:
    void schedule_flush();

    boost::asio::steady_timer timer_;
    std::string path_, format_;
    int fd_ = -1;
    bool socket_ = false;  ///< fd_ is a socket: written with send(MSG_DONTWAIT)
    std::string buffer_;
    bool flush_scheduled_ = false;
    std::size_t dropped_ = 0;          ///< since the last warning about them
    std::uint64_t dropped_total_ = 0;  ///< since start
};

}  // namespace corral
