#pragma once
// systemd's notification protocol (sd_notify): newline-separated KEY=VALUE assignments in
// one datagram to the unix socket named by $NOTIFY_SOCKET. Workers speak it to the master,
// and the master to systemd.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral {

/// Sends notifications to one NOTIFY_SOCKET; does nothing when there is none.
class notifier {
  public:
    /// Connects to `socket_name` (a path, or `@name` for the abstract namespace); "" = none.
    explicit notifier(std::string_view socket_name);
    /// Reads $NOTIFY_SOCKET.
    static notifier from_environment();
    ~notifier();
    notifier(notifier&& other) noexcept;
    notifier& operator=(notifier&&) = delete;

    bool enabled() const { return fd_ >= 0; }
    /// Sends one message such as "READY=1" or "WATCHDOG=1\nX_CORRAL_REQUESTS=5"; returns
    /// false (and leaves errno) when it could not be sent.
    bool send(std::string_view message) const;

  private:
    int fd_ = -1;
};

/// The assignments in one datagram, in order; lines without '=' are skipped.
std::vector<std::pair<std::string_view, std::string_view>> parse_notify_message(
    std::string_view datagram);

}  // namespace corral
