#pragma once
// The error log of the master and the workers: one line per message,
// `[2026-11-23 16:48:28 +0000] [PID] [LEVEL] message`, written with one write(2) so lines
// of several processes sharing the file never interleave. On stderr connected to journald
// (JOURNAL_STREAM names it), lines start with a `<N>` syslog priority instead of a time,
// so `journalctl -p` filters them; `log_format = "json"` writes JSON objects instead.

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace corral::log {

enum class level { debug, info, warning, error, critical };

/// "debug", "info", "warning", "error" or "critical" (anything else: info).
level parse_level(std::string_view name);
void set_level(level least_severe);
/// "text" (the default) or "json": one JSON object per line.
void set_format(std::string_view format);
bool enabled(level severity);

/// Sends messages to `path`, opened for appending ("-" = stderr); throws std::system_error,
/// leaving the old file in use, and `path` the one reopen() tries.
void open(const std::string& path);
/// Opens the same path again (after logrotate moved it); on failure, logs an ERROR and
/// keeps the old file (the next reopen tries again). Returns whether it reopened.
bool reopen();
/// A worker's stdout and stderr are the master's error log, inherited at spawn: after
/// logrotate moved the file, points both at the file that now has the name ("-" = leave
/// them). Failures are logged and change nothing.
void reopen_standard_streams(const std::string& path);
/// The descriptor messages go to (2 for stderr).
int descriptor();

void write(level severity, std::string_view message);

template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level::debug))
        write(level::debug, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level::info)) write(level::info, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level::warning))
        write(level::warning, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level::error))
        write(level::error, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void critical(fmt::format_string<Args...> format, Args&&... args) {
    write(level::critical, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace corral::log
