#pragma once
// Where a master's control socket is, for the master that binds it and for `corral status`
// that looks for it: `control_socket` when set; else $RUNTIME_DIRECTORY/control.sock (the
// shipped systemd unit); else <pidfile>.sock; else corral-<pid>.sock in the user's own
// runtime directory, which `corral status` searches when it is given nothing. That last
// directory must belong to the user and be writable by nobody else ($XDG_RUNTIME_DIR,
// /run/user/<uid>, or /run for root): a directory another user could create first, as in
// /tmp, is never used.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace corral {

/// The path the settings give the control socket; "" = none given (the default) or "off".
std::string control_socket_path(const std::string& configured, const std::string& pidfile,
                                const std::string& runtime_directory);

/// This user's own runtime directory; "" when there is none that only this user can write.
std::string user_runtime_directory(const std::map<std::string, std::string>& environment);

/// `directory`/corral-<pid>.sock, the control socket of master `pid` when nothing else
/// names one; corral-<pid>.<n>.sock when a live master (another pid namespace) has that.
std::string default_control_socket(const std::string& directory, pid_t pid);

/// The sockets in `directory` named as default_control_socket names them and owned by
/// this user, in name order.
std::vector<std::string> default_control_sockets(const std::string& directory);

/// Removes those of default_control_sockets(directory) whose master is gone (killed with
/// SIGKILL): connecting is refused, and the file is older than 10 s.
void remove_stale_control_sockets(const std::string& directory);

/// Whether a master answers on the unix socket `path` (a connection is accepted).
bool control_socket_answers(const std::string& path);

}  // namespace corral
