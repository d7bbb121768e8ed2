#pragma once
// `corral status|reload|scale|stop|reopen-logs|upgrade`: the operator's side of the control
// socket, with signals to the pid in the pidfile as a fallback where a signal can do it.

namespace corral {

/// True when argv[1] names a control command.
bool is_control_command(int argc, const char* const* argv);

/// Runs the control command in argv[1..]; returns the exit status: 0 done, 1 the master
/// refused or could not be reached, 2 usage error.
int run_control_command(int argc, const char* const* argv);

}  // namespace corral
