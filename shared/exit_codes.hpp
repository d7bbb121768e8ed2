#pragma once
// The master's exit statuses: part of its interface to operators and to systemd.

namespace corral::exit_code {

inline constexpr int clean_stop = 0;       ///< stopped on request, every worker reaped
inline constexpr int runtime_failure = 1;  ///< e.g. a listener cannot be bound, exec failed
inline constexpr int usage_error = 2;      ///< bad flags, bad config file or environment
inline constexpr int boot_failure = 3;     ///< no worker of the first generation booted

}  // namespace corral::exit_code
