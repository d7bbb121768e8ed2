#pragma once
// What `corral status` and the metrics endpoint show, built from one snapshot of the
// worker table: the JSON object of `corral status --json`, its human rendering, and the
// Prometheus text format.

#include <boost/json/object.hpp>
#include <map>
#include <string>
#include <vector>

#include "master/listeners.hpp"
#include "master/worker_slot.hpp"

namespace corral {

/// Counters the master keeps over its lifetime, for metrics.
struct supervision_counters {
    std::map<std::string, std::uint64_t> restarts;  ///< by reason: crash, boot_failure, ...
    std::uint64_t reloads = 0;
    std::uint64_t failed_reloads = 0;
    std::uint64_t requests_of_exited_workers = 0;
    std::uint64_t access_log_dropped_of_exited_workers = 0;
};

/// Requests per second over the workers, from their counters: recomputed every 5 s, so
/// a rate in a STATUS= line does not jump with each heartbeat.
class request_rate {
  public:
    /// `total`: every request counted so far; returns the latest rate.
    double sample(std::uint64_t total, time_point now);

  private:
    time_point sampled_at_{};
    std::uint64_t sampled_total_ = 0;
    double per_second_ = 0;
};

struct supervision_snapshot {
    const std::vector<worker_slot>& workers;
    const listener_set& listeners;
    const supervision_counters& counters;
    int generation;
    int target_count;
    time_point started_at;
    time_point now;
};

/// `corral status --json`: master pid, version, uptime, generation, listeners, workers.
boost::json::object status_object(const supervision_snapshot& snapshot);

/// The same, as a few lines and a table for a terminal.
std::string format_status(const boost::json::object& status);

/// Prometheus text exposition format (version 0.0.4).
std::string metrics_text(const supervision_snapshot& snapshot);

}  // namespace corral
