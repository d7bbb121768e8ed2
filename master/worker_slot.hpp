#pragma once
// One record per worker process: everything the master knows about it. The worker table
// is a list of these; every supervision decision reads and writes these fields.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace corral {

using supervision_clock = std::chrono::steady_clock;
using time_point = supervision_clock::time_point;

enum class worker_state {
    booting,   ///< spawned, READY=1 not yet received
    ready,     ///< serving
    draining,  ///< told to stop (TERM), finishing its requests
};

/// The state's name, as `corral status` and the log show it.
inline const char* to_string(worker_state state) {
    switch (state) {
        case worker_state::booting:
            return "booting";
        case worker_state::ready:
            return "ready";
        case worker_state::draining:
            return "draining";
    }
    return "unknown";
}

struct worker_slot {
    pid_t pid = 0;
    int generation = 0;
    worker_state state = worker_state::booting;
    bool first_generation = false;  ///< one of the workers spawned at start
    int shard = 0;                  ///< its accept shard of each sharded listener
    int channel = -1;               ///< its notify socket (notify_channels); -1 = none
    /// Retiring, but not yet told: new connections no longer go to its shard, and TERM
    /// follows once the shard's queue is empty (arbiter::hand_over_shards).
    std::optional<time_point> handover_since;
    time_point spawned_at{};
    std::optional<time_point> ready_at;
    bool stable = false;  ///< served crash_loop_window after READY=1: the backoff was reset
    std::optional<time_point> boot_extended_until;  ///< EXTEND_TIMEOUT_USEC= while booting
    std::optional<time_point> draining_since;
    std::optional<time_point> last_heartbeat;  ///< none until the first WATCHDOG=1
    std::optional<time_point> aborted_at;      ///< SIGABRT sent for a missed heartbeat
    bool killed = false;                       ///< SIGKILL sent
    std::uint64_t requests = 0;                ///< X_CORRAL_REQUESTS
    std::uint64_t connections = 0;             ///< X_CORRAL_CONNECTIONS
    std::uint64_t access_log_dropped = 0;      ///< X_CORRAL_ACCESS_LOG_DROPPED
    bool full = false;                         ///< X_CORRAL_FULL: at worker_connections
    std::string status;                        ///< STATUS=
    std::string replace_reason;                ///< why it should be replaced; "" = it should not
    std::uint64_t request_limit = 0;           ///< its max_requests with jitter; 0 = none
    std::optional<std::uint64_t> memory;       ///< PSS in bytes, when last measured
    int memory_samples_over = 0;               ///< samples in a row over max_worker_memory
    bool memory_was_under = false;             ///< a sample under max_worker_memory was seen

    bool draining() const { return state == worker_state::draining; }
};

}  // namespace corral
