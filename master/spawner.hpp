#pragma once
// Starting worker processes: Boost.Process v2's fork + exec, with the worker protocol's
// file descriptors and environment set up in the child between the two.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "master/credentials.hpp"
#include "master/listeners.hpp"
#include "shared/config.hpp"

namespace corral {

/// The program every worker runs, resolved once at start.
struct worker_command {
    std::filesystem::path executable;    ///< absolute
    std::vector<std::string> arguments;  ///< argv[1..]
};

/// $PATH in `environment`, where a worker command without '/' is looked up; "" = none.
inline std::string search_path(const std::map<std::string, std::string>& environment) {
    auto found = environment.find("PATH");
    return found == environment.end() ? "" : found->second;
}

/// `command` as configured (empty = the built-in corral-worker beside this binary), with
/// argv[0] looked up in `search_path` when it has no '/'. Relative paths are taken from
/// `working_directory` ("" = the current directory), so that --check-config can resolve
/// them as the master will after `chdir`. Throws std::runtime_error naming the setting
/// (worker_command) and the program when it does not exist or cannot be executed, a
/// script's `#!` interpreter included.
worker_command resolve_worker_command(const std::vector<std::string>& command,
                                      const std::string& search_path,
                                      const std::filesystem::path& working_directory = {});

/// What a worker of `generation` finds in its environment: the master's own environment
/// (less what systemd told the master), the config's [env], the worker-side settings as
/// CORRAL_<NAME>, and the protocol's LISTEN_*, NOTIFY_SOCKET, WATCHDOG_*, and
/// CORRAL_WORKER_GENERATION and CORRAL_WORKER_REQUEST_LIMIT (this worker's limit, jitter
/// included; worker_values.hpp), with the deprecated CORRAL_GENERATION.
/// LISTEN_PID and WATCHDOG_PID are placeholders filled in the child.
std::vector<std::string> worker_environment(const std::map<std::string, std::string>& base,
                                            const config& cfg, const listener_set& listeners,
                                            const std::string& notify_address, int generation,
                                            std::uint64_t request_limit);

/// Forks and execs one worker running `command` with `listeners` as fds 3.., stdin on
/// /dev/null and stdout/stderr on `log_fd`, as `run_as` when given; returns its pid. Throws
/// std::system_error when the program cannot be executed. The caller reaps it (waitpid).
pid_t spawn_worker_process(boost::asio::io_context& io, const worker_command& command,
                           const std::vector<int>& listen_fds, std::vector<std::string> environment,
                           int log_fd, const std::optional<credentials>& run_as);

}  // namespace corral
