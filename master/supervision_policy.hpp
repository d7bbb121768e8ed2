#pragma once
// The master's decisions, as pure functions over the worker table and the clock, so tests
// can drive them without forking: how many workers to start or retire, which to kill for
// a missed deadline, and how long to wait after boot failures.

#include <chrono>
#include <functional>
#include <vector>

#include "master/worker_slot.hpp"

namespace corral {

using seconds_f = std::chrono::duration<double>;

inline supervision_clock::duration to_duration(seconds_f seconds) {
    return std::chrono::duration_cast<supervision_clock::duration>(seconds);
}

/// A retiring worker that is the last one on its accept shard keeps accepting for at least
/// shard_handover_settle after new connections stop going there (handshakes under way still
/// land in its queue), and at most shard_handover_limit.
inline constexpr std::chrono::milliseconds shard_handover_settle{50};
inline constexpr seconds_f shard_handover_limit{2};

/// What manage_workers() converges on: `count` ready workers of `generation`.
struct supervision_target {
    int generation = 1;
    int count = 1;
    int surge = 1;  ///< workers that may boot beyond `count` while others are replaced
};

struct manage_plan {
    int spawn = 0;              ///< workers of the target generation to start now
    std::vector<pid_t> retire;  ///< workers to drain (TERM)
};

/// Whether a worker is to be replaced: of another generation, or asking to be recycled.
bool is_outdated(const worker_slot& slot, const supervision_target& target);

/// The reconciler. Draining workers do not count. Starts target-generation workers while
/// fewer than `count` are booting or ready, keeping at most `count + surge` alive; retires
/// an outdated worker for each replacement that is ready (booting ones first, then those
/// whose accept shard a ready replacement serves, then the oldest), so ready capacity never dips
/// below `count`; retires the oldest current workers above `count`.
manage_plan plan_workers(const std::vector<worker_slot>& table, const supervision_target& target);

/// The accept shard (accept_shards.hpp) a new worker gets: the one that the fewest workers
/// hold that stay (neither draining nor outdated), of shards 0 to count - 1 and any others
/// that exist (`queued`: connections waiting in each existing shard); of those, one with
/// connections waiting, else the lowest. A replacement thus lands on the shard of the
/// worker it replaces, and a shard left with a queue (its worker crashed after a
/// scale-down) gets the next worker.
int choose_shard(const std::vector<worker_slot>& table, const supervision_target& target,
                 const std::vector<int>& queued = {});

/// The shards of a listener that new connections should go to, given which workers get
/// that listener: those with a ready worker that has room (not at worker_connections);
/// else those with a ready worker; else those with a booting one (connections wait there
/// for it); else 0 to count - 1, where the next workers will go.
std::vector<int> shards_to_route(const std::vector<worker_slot>& table, int count,
                                 const std::function<bool(const worker_slot&)>& gets_listener);

/// Whether every outdated worker is gone and `count` target-generation workers are ready.
bool replacement_complete(const std::vector<worker_slot>& table, const supervision_target& target);

struct deadlines {
    seconds_f boot{30};        ///< booting -> killed
    seconds_f heartbeat{30};   ///< ready and silent -> SIGABRT
    seconds_f graceful{30};    ///< draining -> SIGKILL
    seconds_f abort_grace{5};  ///< SIGABRT ignored -> SIGKILL
};

enum class overdue_reason { boot_timeout, heartbeat_timeout, drain_timeout, abort_ignored };

struct overdue_worker {
    pid_t pid;
    int signal_number;
    overdue_reason reason;
    seconds_f waited;
};

/// The workers past a deadline and the signal each gets now. A worker is listed once per
/// step: SIGABRT for a missed heartbeat, SIGKILL for the rest and for an ignored SIGABRT.
std::vector<overdue_worker> find_overdue_workers(const std::vector<worker_slot>& table,
                                                 const deadlines& limits, time_point now);

/// Limits that recycle a worker: memory (PSS) and age.
struct recycle_limits {
    double max_memory = 0;      ///< bytes; 0 = off
    seconds_f max_lifetime{0};  ///< 0 = off
};

/// Memory samples (one a second) in a row over max_worker_memory before a worker is
/// recycled for it: one sample is a moment, such as a large response being built.
inline constexpr int memory_samples_to_recycle = 3;

/// Records a memory sample of a ready worker: counts the samples in a row over
/// `max_memory` (0 = off), and whether it was ever under it.
void note_memory_sample(worker_slot& slot, std::uint64_t bytes, double max_memory);

/// Whether `slot` has been over `max_memory` since its first sample, taken at READY=1: a
/// fresh worker is already that big, so replacing it cannot help (the limit is too low).
bool born_over_memory_limit(const worker_slot& slot, double max_memory);

/// Why `slot` should be replaced now, or "": "max_worker_memory" once it has been over
/// the limit for memory_samples_to_recycle samples in a row after having been under it,
/// "max_worker_lifetime" once it has run that long.
std::string recycle_reason(const worker_slot& slot, const recycle_limits& limits, time_point now);

/// Whether a retiring worker that is the last on its accept shard (worker_slot::
/// handover_since) may be told to stop now.
enum class handover_verdict {
    wait,               ///< not yet: settling, or connections still queued on its shard
    stop,               ///< its shard's queue is empty
    stop_before_empty,  ///< shard_handover_limit reached with connections still queued
};

/// Not before shard_handover_settle, then once its shard's queue is empty, and at
/// shard_handover_limit in any case. `queued` (the shard's queue length) is called only
/// once it matters. A worker that is not handing over gets `wait`.
handover_verdict decide_handover(const worker_slot& slot, time_point now,
                                 const std::function<int()>& queued);

/// A worker that exits on its own within this time of its READY=1 failed to start, as
/// one that never said it: the backoff below applies. One that has served this long
/// resets the backoff.
inline constexpr seconds_f crash_loop_window{1};

/// Whether `slot`, gone without being told to stop, died within crash_loop_window of
/// READY=1 (or before it).
bool died_young(const worker_slot& slot, time_point now);

/// Whether `slot` has served for crash_loop_window since READY=1 and was not yet counted
/// as stable (worker_slot::stable).
bool proved_stable(const worker_slot& slot, time_point now);

/// Exponential backoff with jitter between spawns after failed starts, so a worker that
/// cannot boot, or that crashes right after READY=1, is never respawned in a busy loop.
/// Reset once a worker has served for crash_loop_window.
class boot_backoff {
  public:
    /// `random_fraction` returns a value in [0, 1); the delay is scaled by 0.5 to 1 of it.
    explicit boot_backoff(std::function<double()> random_fraction, seconds_f first = seconds_f{0.1},
                          seconds_f cap = seconds_f{30});

    /// Records a failed start (died_young); returns the wait before the next spawn.
    seconds_f record_failure(time_point now);
    /// A worker proved stable: spawn freely again.
    void record_boot();
    bool may_spawn(time_point now) const { return now >= next_spawn_; }
    int consecutive_failures() const { return failures_; }

  private:
    std::function<double()> random_fraction_;
    seconds_f first_, cap_;
    int failures_ = 0;
    time_point next_spawn_{};
};

}  // namespace corral
