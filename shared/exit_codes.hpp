#pragma once
// The exit statuses of corral's processes: the master's are part of its interface to
// operators and to systemd; the worker's tell the master how it ended.

namespace corral::exit_code {

inline constexpr int clean_stop = 0;       ///< stopped on request, every worker reaped
inline constexpr int runtime_failure = 1;  ///< e.g. a listener cannot be bound, exec failed
inline constexpr int usage_error = 2;      ///< bad flags, bad config file or environment
inline constexpr int boot_failure = 3;     ///< no worker of the first generation booted

/// corral-worker could not start serving (bad settings, no listeners): Gunicorn's
/// WORKER_BOOT_ERROR. The master counts any exit before READY=1 as a boot failure.
inline constexpr int worker_boot_error = 3;

}  // namespace corral::exit_code
