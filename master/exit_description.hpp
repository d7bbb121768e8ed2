#pragma once
// A worker's wait status in words an operator can act on.

#include <string>

namespace corral {

/// "exited with code 3", "was killed by signal 9 (SIGKILL)", "... and dumped core".
/// `expected` (we sent the signal or asked it to stop) drops the out-of-memory hint.
std::string describe_exit(int wait_status, bool expected);

/// "SIGTERM" for 15; "signal 99" when unknown.
std::string signal_name(int signal_number);

}  // namespace corral
