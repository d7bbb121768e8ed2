#pragma once
// What --check-config finds beyond the values themselves (config.cpp checks those): the
// things that would otherwise stop the master only when it starts, such as a `user` that
// does not exist, a worker command that cannot be executed, or a `metrics_bind` host that
// does not resolve. Nothing is bound, created or changed: --check-config may run beside
// the master it checks (an upgrade runs it on the new binary).

#include <map>
#include <string>
#include <vector>

#include "shared/config.hpp"

namespace corral {

/// The problems found, one line each, each naming its setting first
/// (`user: unknown user "www"`); empty when none. Relative paths are taken from `chdir`,
/// as the master takes them once it has changed there.
///
/// Checked: `chdir` is a directory; `user`, `group` and `socket_owner` exist, and the
/// master has the capabilities to switch workers to `user` and `group`; the worker
/// command (`worker_command`) is an executable file, and so is a script's `#!`
/// interpreter; each `bind` host and the `metrics_bind` host resolve; the directory of
/// each unix socket (`bind`, the control socket), of `pidfile` and of `errorlog` exists
/// and the master may create files there; a unix `bind` path is not some other file; the
/// directory of `accesslog` exists; the control socket's path fits in sun_path.
///
/// Not checked, because only the start can tell or because the master being checked
/// holds them: whether a port is free, an `fd://N` descriptor (it belongs to the process
/// that will run corral), a pidfile naming a live process, a live control socket.
std::vector<std::string> startup_problems(const config& cfg, const config_sources& sources);

/// Throws config_error naming control_socket when the control socket's path, the one
/// control_socket_path() makes from `control_socket`, `pidfile` or $RUNTIME_DIRECTORY,
/// does not fit in sun_path. An explicit `control_socket` is checked by load_config; this
/// catches the path made from the others.
void check_control_socket_path(const config& cfg,
                               const std::map<std::string, std::string>& environment);

}  // namespace corral
