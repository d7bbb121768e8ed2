#pragma once
// corral towards its own service manager (systemd), the way workers talk to corral: READY=1
// once the first generation serves, RELOADING=1 (with MONOTONIC_USEC, for systemd 253+)
// and READY=1 around each reload, STOPPING=1, a STATUS= line, WATCHDOG=1 pings when the
// unit sets WatchdogSec=, and EXTEND_TIMEOUT_USEC= during long drains. Silent when
// NOTIFY_SOCKET is not set.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "shared/notify.hpp"

namespace corral {

class service_notifier {
  public:
    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `environment`.
    explicit service_notifier(const std::map<std::string, std::string>& environment);

    bool enabled() const { return notifier_.enabled(); }
    /// READY=1 with a STATUS= line; after the first one, announced_ready() is true.
    void ready(const std::string& status);
    bool announced_ready() const { return announced_ready_; }
    void reloading();
    void stopping(std::chrono::microseconds drain_time);
    /// Sends STATUS= when the line changed since the last one.
    void status(const std::string& line);
    /// The WatchdogSec= interval, when systemd asks this process for pings.
    std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }
    void watchdog_ping();
    /// WATCHDOG=1 when systemd asks for pings and half the interval has passed since the
    /// last one.
    void watchdog_ping_when_due(std::chrono::steady_clock::time_point now);
    /// MAINPID=: the new master of a binary upgrade is the service's main process now.
    void main_pid(pid_t pid);

  private:
    notifier notifier_;
    std::optional<std::chrono::microseconds> watchdog_;
    std::string last_status_;
    bool announced_ready_ = false;
    std::chrono::steady_clock::time_point last_ping_{};
};

}  // namespace corral
