#include "process/supervisor_link.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "shared/log.hpp"

namespace corral {
namespace {

/// WATCHDOG_USEC, when WATCHDOG_PID is unset or names this process; 0 otherwise.
long long watchdog_usec() {
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    if (!usec || (pid && std::atol(pid) != ::getpid())) return 0;
    return std::atoll(usec);
}

}  // namespace

supervisor_link::supervisor_link(boost::asio::io_context& io, std::function<std::string()> counters,
                                 std::function<void()> on_master_gone)
    : notifier_(notifier::from_environment()),
      timer_(io),
      interval_(std::chrono::seconds(1)),
      parent_(::getppid()),
      counters_(std::move(counters)),
      on_master_gone_(std::move(on_master_gone)) {
    if (long long usec = watchdog_usec(); usec > 0) {
        heartbeat_ = true;
        // Counters ride on the beat: at least once a second, as `corral status` shows them.
        interval_ = std::min<std::chrono::microseconds>(std::chrono::microseconds(usec / 2),
                                                        std::chrono::seconds(1));
    }
}

void supervisor_link::ready() { notifier_.send("READY=1\nSTATUS=serving"); }

void supervisor_link::stopping() { notifier_.send("STOPPING=1\nSTATUS=draining"); }

void supervisor_link::request_recycle(std::string_view reason) {
    log::info("Worker reached {}; asking the master for a replacement", reason);
    notifier_.send("X_CORRAL_RECYCLE=" + std::string(reason));
}

void supervisor_link::report_full(bool full) {
    notifier_.send(full ? "X_CORRAL_FULL=1" : "X_CORRAL_FULL=0");
}

void supervisor_link::start() {
    if (heartbeat_) notifier_.send("WATCHDOG=1\n" + counters_());
    do_beat();
}

void supervisor_link::do_beat() {
    timer_.expires_after(interval_);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        if (::getppid() != parent_) {
            log::warning("Master {} is gone; finishing the connections in flight", parent_);
            on_master_gone_();
            return;
        }
        if (heartbeat_) notifier_.send("WATCHDOG=1\n" + counters_());
        do_beat();
    });
}

}  // namespace corral
