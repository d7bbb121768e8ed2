#pragma once
// Logging for apps: `corral::log::info("Notes store open")`, and debug, warning, error and
// critical, with fmt's format strings. Lines go to corral's error log in its format (text,
// JSON or journald, as `log_format` says) at the `loglevel` the worker was given; each
// line is one write, so lines of several workers never interleave. The implementation is
// the master's and the workers' own logger (shared/log.hpp); apps use only the functions
// above and `log::enabled(level)`, and leave opening and reopening the log to the worker.

#include "shared/log.hpp"
