#pragma once
// How much memory a worker really uses: its proportional set size, which splits pages
// shared with the master and the other workers among them (RSS counts them in full).

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace corral {

/// Pss from /proc/PID/smaps_rollup in bytes; nullopt when the process is gone or the file
/// cannot be read.
std::optional<std::uint64_t> proportional_set_size(pid_t pid);

}  // namespace corral
