#pragma once
// Signal values of the worker protocol that both sides must agree on.

namespace corral {

/// The sigqueue() value the master attaches to a final stop's SIGTERM. A worker that sees
/// it accepts the connections already queued on its listeners before it drains, since no
/// other worker will; a plain SIGTERM (reload, scale-down) stops accepting at once.
inline constexpr int final_stop_value = 1;

}  // namespace corral
