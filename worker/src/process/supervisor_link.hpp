#pragma once
// The worker's side of the worker protocol towards its master: READY=1 once serving,
// WATCHDOG=1 with counters every WATCHDOG_USEC/2 from a timer on the event loop (so a
// blocked loop stops the beat), STOPPING=1 when draining; and the exit when the master dies.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

#include "shared/notify.hpp"

namespace corral {

class supervisor_link {
  public:
    /// `counters` returns the X_CORRAL_* lines appended to each heartbeat.
    supervisor_link(boost::asio::io_context& io, std::function<std::string()> counters,
                    std::function<void()> on_master_gone);

    void ready();
    void stopping();
    /// Asks the master for a replacement; it drains this worker once one is ready.
    void request_recycle(std::string_view reason);
    /// X_CORRAL_FULL=1 at worker_connections, =0 once there is room: the master sends new
    /// connections to other workers' accept shards meanwhile.
    void report_full(bool full);
    /// Starts the heartbeat (and the parent check, also when no heartbeat is asked for).
    void start();

  private:
    void do_beat();

    notifier notifier_;
    boost::asio::steady_timer timer_;
    std::chrono::microseconds interval_;
    bool heartbeat_ = false;
    pid_t parent_;
    std::function<std::string()> counters_;
    std::function<void()> on_master_gone_;
};

}  // namespace corral
