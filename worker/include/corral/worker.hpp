#pragma once
// The worker process: takes its sockets from the master (LISTEN_FDS), serves `routes` on
// one event loop, reports readiness and heartbeats (NOTIFY_SOCKET), drains on SIGTERM and
// exits at once on SIGQUIT/SIGINT. A worker's main() is `return corral::run_worker(routes);`.

#include <cstdint>
#include <functional>

#include "corral/router.hpp"

namespace corral {

struct worker_hooks {
    std::function<void()> on_start{};  ///< before READY=1: open pools, warm caches
    std::function<void()> on_stop{};   ///< after the last connection drained
};

/// Runs the worker until it is told to stop; returns the process exit status
/// (3 = could not boot, as Gunicorn's workers).
int run_worker(const router& routes, worker_hooks hooks = {});

/// This worker's counters, for handlers that report them. A worker process runs one
/// server, so current_worker() reads process-wide state that run_worker() sets while it
/// runs: outside it (a test_client, a unit test) the counters are 0.
struct worker_info {
    int pid;
    int generation;             ///< the generation that spawned it (CORRAL_WORKER_GENERATION)
    std::uint64_t requests;     ///< requests answered so far
    std::uint64_t connections;  ///< open connections now
};
worker_info current_worker();

}  // namespace corral
