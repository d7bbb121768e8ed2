#pragma once
// Binary upgrade (USR2, `corral upgrade`): the master starts the binary now on disk beside
// itself, as nginx and Gunicorn do, and hands it what it owns: the listeners with their
// accept shards, the control socket, the metrics endpoint and the service manager's
// settings, as inherited descriptors and $CORRAL_UPGRADE_STATE. The new master boots its
// own workers on the same sockets and says READY=1 on a notify socket of the old master's
// (the protocol its workers speak). Only then does the old master hand over: it tells
// systemd MAINPID=<new pid>, tells the new master to take charge (a byte on a pipe), and
// drains its own workers. If the new master exits or is not ready in time, nothing was
// handed over and the old master goes on serving. docs/design.md says why not exec in place.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "master/listeners.hpp"

namespace corral {

/// A listening socket the new master inherits: the bind text (or the name systemd gave
/// it), and its descriptors in the new master.
struct handed_listener {
    std::string address;        ///< the `bind` text; "fd://N" for a socket from systemd
    std::string name;           ///< its LISTEN_FDNAMES entry, for a socket from systemd
    int fd = -1;                ///< shard 0
    std::vector<int> shards{};  ///< shards 1..
    bool from_service_manager = false;
};

/// A worker a new image adopts. Only in states of version 1, written by builds that
/// executed the new binary in place (they kept their workers as children).
struct adopted_worker {
    pid_t pid;
    int generation;
    bool ready;
    double age_seconds;
    int shard = 0;
    bool full = false;
};

/// What the old master hands to the new one, in $CORRAL_UPGRADE_STATE.
struct upgrade_state {
    int version = 2;
    int last_generation = 0;     ///< the highest generation number used
    int target_generation = 0;   ///< the generation that was serving
    int count = 0;               ///< workers wanted (TTIN/TTOU/scale included)
    int configured_workers = 0;  ///< `workers` in the old master's config
    std::vector<handed_listener> listeners;
    std::string control_path;  ///< the control socket handed over; "" = none
    int control_fd = -1;
    std::string metrics_address;  ///< metrics_bind handed over; "" = none
    int metrics_fd = -1;
    int handover_fd = -1;  ///< the pipe's read end: '1' = take charge, EOF = give up
    pid_t previous_master = 0;
    /// The service manager's NOTIFY_SOCKET and WATCHDOG_USEC, for after the handover.
    std::string service_notify_socket;
    std::string service_watchdog_usec;
    std::vector<adopted_worker> workers;  ///< version 1 only
    /// Not handed over in the text: the NOTIFY_SOCKET the new master found, the previous
    /// master's socket for its READY=1.
    std::string predecessor_notify_socket;
};

inline constexpr const char* upgrade_state_variable = "CORRAL_UPGRADE_STATE";

/// The descriptors a new master inherits, in order: each becomes 3, 4, ... there.
class inherited_fds {
  public:
    /// Adds `fd`; returns its number in the new master.
    int pass(int fd) {
        fds_.push_back(fd);
        return 3 + static_cast<int>(fds_.size()) - 1;
    }
    const std::vector<int>& fds() const { return fds_; }

  private:
    std::vector<int> fds_;
};

std::string encode_upgrade_state(const upgrade_state& state);
/// Throws std::invalid_argument when the text is not a state this version can read.
upgrade_state decode_upgrade_state(const std::string& text);

/// Version 1's listeners by bind text, as listener_set::bind_all adopts them.
std::map<std::string, inherited_listener> inherited_listeners(const upgrade_state& state);

/// Starts `executable --check-config ARGS...` in `directory` without waiting for it (the
/// master's reaper hears its exit); throws std::system_error when it cannot be started.
pid_t start_binary_check(const std::filesystem::path& executable,
                         const std::vector<std::string>& arguments, const std::string& directory);

/// "" when the check exited 0 (`wait_status` from waitpid), else why not.
std::string binary_check_problem(const std::filesystem::path& executable, int wait_status);

/// Starts `executable ARGS...` in `directory` and `environment`, with `fds` as its
/// descriptors 3, 4, ... and nothing else of this process open; returns its pid. Throws
/// std::system_error naming the call.
pid_t spawn_new_master(const std::filesystem::path& executable,
                       const std::vector<std::string>& arguments,
                       const std::vector<std::string>& environment, const std::vector<int>& fds,
                       const std::string& directory);

/// How long a new master may take to say READY=1 before the old one gives up on it: its
/// workers' boot_timeout, and time to start.
inline std::chrono::duration<double> new_master_deadline(double boot_timeout) {
    return std::chrono::duration<double>(boot_timeout + 10);
}

}  // namespace corral
