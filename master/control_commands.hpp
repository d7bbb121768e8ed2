#pragma once
// What each control socket command means: the request's fields decoded, and a table from
// command name to the master's operation, as the arbiter's signal switch is for signals.
// The arbiter supplies the operations; this file knows the protocol.

#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "master/control_server.hpp"

namespace corral {

/// The master's operations that control commands call.
struct control_operations {
    std::function<boost::json::object()> status;  ///< `corral status --json`'s object
    /// A reload; `waiter` (reload --wait) gets the reply when it is complete or refused.
    std::function<void(std::optional<control_server::reply> waiter)> reload;
    std::function<int()> worker_count;     ///< the current target
    std::function<void(int count)> scale;  ///< makes `count` the target
    std::function<void(bool quick)> stop;
    std::function<void()> reopen_logs;
    /// A binary upgrade; `waiter` gets the reply when it is complete or has failed.
    std::function<void(control_server::reply waiter)> upgrade;
};

/// Carries out one request, {"command": NAME, ...}, and replies (perhaps later).
void run_control_command(const boost::json::object& request, control_server::reply reply,
                         const control_operations& operations);

/// `scale`'s argument: "N", "+N" or "-N" workers from `current`; the new count, or why
/// the text is refused (the count must be 1 to 4096).
std::variant<int, std::string> scaled_count(const std::string& text, int current);

}  // namespace corral
