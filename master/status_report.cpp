#include "master/status_report.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/json/array.hpp>

#include "shared/plural.hpp"

namespace corral {
namespace {

double seconds_between(time_point from, time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

std::string human_duration(double seconds) {
    auto whole = static_cast<long long>(seconds);
    if (whole < 60) return fmt::format("{:.1f}s", seconds);
    if (whole < 3600) return fmt::format("{}m{}s", whole / 60, whole % 60);
    if (whole < 86400) return fmt::format("{}h{}m", whole / 3600, whole / 60 % 60);
    return fmt::format("{}d{}h", whole / 86400, whole / 3600 % 24);
}

std::string human_bytes(double bytes) {
    if (bytes < 1024 * 1024) return fmt::format("{:.0f} KiB", bytes / 1024);
    return fmt::format("{:.1f} MiB", bytes / (1024 * 1024));
}

boost::json::object worker_object(const worker_slot& slot, time_point now) {
    boost::json::object worker{{"pid", slot.pid},
                               {"generation", slot.generation},
                               {"state", to_string(slot.state)},
                               {"age_seconds", seconds_between(slot.spawned_at, now)},
                               {"requests", slot.requests},
                               {"connections", slot.connections},
                               {"access_log_dropped_lines", slot.access_log_dropped},
                               {"shard", slot.shard},
                               {"full", slot.full}};
    worker["heartbeat_age_seconds"] =
        slot.last_heartbeat ? boost::json::value(seconds_between(*slot.last_heartbeat, now))
                            : boost::json::value(nullptr);
    worker["memory_bytes"] = slot.memory ? boost::json::value(*slot.memory) : nullptr;
    if (!slot.replace_reason.empty()) worker["replace_reason"] = slot.replace_reason;
    if (!slot.status.empty()) worker["status"] = slot.status;  // the worker's own STATUS=
    return worker;
}

/// Waiting in the listener's queue, or in the queues of all its shards.
long queued_connections(const listener& item) {
    return item.shards ? item.shards->queued() : accept_queue_length(item.fd);
}

/// "3 accept shards, " when the listener is sharded; older masters do not say.
std::string shards_text(const boost::json::object& listener) {
    const auto* shards = listener.if_contains("accept_shards");
    long count = shards ? shards->to_number<long>() : 0;
    return count > 0 ? count_of(count, "accept shard") + ", " : "";
}

}  // namespace

boost::json::object status_object(const supervision_snapshot& snapshot) {
    boost::json::array listeners, workers;
    for (const auto& item : snapshot.listeners.items())
        listeners.push_back({{"address", item->bound_address()},
                             {"fd", item->fd},
                             {"name", item->name},
                             {"accept_shards", item->shards ? item->shards->count() : 0},
                             {"queued", queued_connections(*item)}});
    std::uint64_t requests = 0, connections = 0;
    int ready = 0;
    for (const auto& slot : snapshot.workers) {
        workers.push_back(worker_object(slot, snapshot.now));
        requests += slot.requests;
        connections += slot.connections;
        ready += slot.state == worker_state::ready;
    }
    return {{"master_pid", ::getpid()},
            {"version", CORRAL_VERSION},
            {"uptime_seconds", seconds_between(snapshot.started_at, snapshot.now)},
            {"generation", snapshot.generation},
            {"target_workers", snapshot.target_count},
            {"listeners", std::move(listeners)},
            {"workers", std::move(workers)},
            {"totals",
             {{"workers", snapshot.workers.size()},
              {"ready", ready},
              {"requests", requests},
              {"connections", connections}}}};
}

std::string format_status(const boost::json::object& status) {
    std::string out = fmt::format(
        "corral {}, master pid {}, up {}, generation {}, {} workers wanted\n",
        status.at("version").as_string().c_str(), status.at("master_pid").to_number<long>(),
        human_duration(status.at("uptime_seconds").to_number<double>()),
        status.at("generation").to_number<long>(), status.at("target_workers").to_number<long>());
    for (const auto& item : status.at("listeners").as_array())
        out += fmt::format("listening at {} (fd {}, {}{} queued)\n",
                           item.at("address").as_string().c_str(), item.at("fd").to_number<long>(),
                           shards_text(item.as_object()), item.at("queued").to_number<long>());
    out += fmt::format("{:>8} {:>4} {:<9} {:>8} {:>10} {:>6} {:>10} {:>10}\n", "PID", "GEN",
                       "STATE", "AGE", "REQUESTS", "CONNS", "HEARTBEAT", "MEMORY");
    for (const auto& value : status.at("workers").as_array()) {
        const auto& w = value.as_object();
        const auto& beat = w.at("heartbeat_age_seconds");
        const auto& memory = w.at("memory_bytes");
        out += fmt::format(
            "{:>8} {:>4} {:<9} {:>8} {:>10} {:>6} {:>10} {:>10}\n", w.at("pid").to_number<long>(),
            w.at("generation").to_number<long>(), w.at("state").as_string().c_str(),
            human_duration(w.at("age_seconds").to_number<double>()),
            w.at("requests").to_number<std::uint64_t>(),
            w.at("connections").to_number<std::uint64_t>(),
            beat.is_null() ? "none" : human_duration(beat.to_number<double>()) + " ago",
            memory.is_null() ? "-" : human_bytes(memory.to_number<double>()));
    }
    const auto& totals = status.at("totals").as_object();
    out += fmt::format("total: {}, {} ready, {} requests, {} connections\n",
                       count_of(totals.at("workers").to_number<long>(), "worker"),
                       totals.at("ready").to_number<long>(),
                       totals.at("requests").to_number<std::uint64_t>(),
                       totals.at("connections").to_number<std::uint64_t>());
    return out;
}

std::string metrics_text(const supervision_snapshot& snapshot) {
    std::string out;
    auto family = [&](const char* name, const char* type, const char* help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    family("corral_worker_requests_total", "counter", "Requests answered, per live worker.");
    for (const auto& slot : snapshot.workers)
        out += fmt::format("corral_worker_requests_total{{pid=\"{}\",generation=\"{}\"}} {}\n",
                           slot.pid, slot.generation, slot.requests);
    family("corral_requests_total", "counter",
           "Requests answered by all workers, past and present.");
    std::uint64_t requests = snapshot.counters.requests_of_exited_workers;
    for (const auto& slot : snapshot.workers) requests += slot.requests;
    out += fmt::format("corral_requests_total {}\n", requests);
    family("corral_access_log_dropped_lines_total", "counter",
           "Access log lines the workers could not write (the file could not be opened, or "
           "writes fell 1 MiB behind), past and present workers.");
    std::uint64_t dropped = snapshot.counters.access_log_dropped_of_exited_workers;
    for (const auto& slot : snapshot.workers) dropped += slot.access_log_dropped;
    out += fmt::format("corral_access_log_dropped_lines_total {}\n", dropped);
    family("corral_worker_connections", "gauge", "Open client connections, per live worker.");
    for (const auto& slot : snapshot.workers)
        out +=
            fmt::format("corral_worker_connections{{pid=\"{}\"}} {}\n", slot.pid, slot.connections);
    family("corral_workers", "gauge", "Worker processes by state.");
    for (auto state : {worker_state::booting, worker_state::ready, worker_state::draining}) {
        auto count = std::count_if(snapshot.workers.begin(), snapshot.workers.end(),
                                   [state](const worker_slot& s) { return s.state == state; });
        out += fmt::format("corral_workers{{state=\"{}\"}} {}\n", to_string(state), count);
    }
    family("corral_worker_heartbeat_age_seconds", "gauge",
           "Time since each worker's last WATCHDOG=1.");
    for (const auto& slot : snapshot.workers)
        if (slot.last_heartbeat)
            out += fmt::format("corral_worker_heartbeat_age_seconds{{pid=\"{}\"}} {:.3f}\n",
                               slot.pid, seconds_between(*slot.last_heartbeat, snapshot.now));
    family("corral_worker_memory_bytes", "gauge", "Proportional set size (PSS) of each worker.");
    for (const auto& slot : snapshot.workers)
        if (slot.memory)
            out += fmt::format("corral_worker_memory_bytes{{pid=\"{}\"}} {}\n", slot.pid,
                               *slot.memory);
    family("corral_worker_restarts_total", "counter",
           "Workers that ended and were replaced, by reason.");
    for (const auto& [reason, count] : snapshot.counters.restarts)
        out += fmt::format("corral_worker_restarts_total{{reason=\"{}\"}} {}\n", reason, count);
    family("corral_reloads_total", "counter", "Reloads by result.");
    out +=
        fmt::format("corral_reloads_total{{result=\"complete\"}} {}\n", snapshot.counters.reloads);
    out += fmt::format("corral_reloads_total{{result=\"failed\"}} {}\n",
                       snapshot.counters.failed_reloads);
    family("corral_generation", "gauge", "The generation of workers the master converges on.");
    out += fmt::format("corral_generation {}\n", snapshot.generation);
    family("corral_listener_queue_length", "gauge",
           "Connections waiting in each listener's accept queue.");
    for (const auto& item : snapshot.listeners.items())
        out += fmt::format("corral_listener_queue_length{{listener=\"{}\"}} {}\n", item->name,
                           queued_connections(*item));
    return out;
}

double request_rate::sample(std::uint64_t total, time_point now) {
    if (std::chrono::duration<double> elapsed = now - sampled_at_; elapsed.count() >= 5) {
        if (sampled_at_ != time_point{})
            per_second_ = static_cast<double>(total - sampled_total_) / elapsed.count();
        sampled_at_ = now;
        sampled_total_ = total;
    }
    return per_second_;
}

}  // namespace corral
