#pragma once
// Process-wide limits the master sets at start.

namespace corral {

/// Raises the soft RLIMIT_NOFILE to the hard limit (workers inherit it); returns the new
/// soft limit.
long raise_open_files_limit();

}  // namespace corral
