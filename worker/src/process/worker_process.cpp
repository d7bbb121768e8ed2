// The worker process: settings from the environment, sockets from the master, one event
// loop, and the signals of the worker protocol (TERM drains, QUIT and INT exit now, USR1
// reopens logs).

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "corral/offload.hpp"
#include "corral/worker.hpp"
#include "http1/connection.hpp"
#include "process/signal_reader.hpp"
#include "process/supervisor_link.hpp"
#include "process/thread_pool.hpp"
#include "server/server.hpp"
#include "shared/config.hpp"
#include "shared/exit_codes.hpp"
#include "shared/listen_fds.hpp"
#include "shared/log.hpp"
#include "shared/worker_signals.hpp"
#include "shared/worker_values.hpp"

namespace corral {
namespace {

// The process-wide state behind current_worker() and offload() (corral/worker.hpp,
// corral/offload.hpp): a worker process runs one server, and handlers reach these without
// a context argument, as Gunicorn's handlers reach their worker.
server* running_server = nullptr;
boost::asio::thread_pool* running_pool = nullptr;
int generation = 0;

class worker_process {
  public:
    worker_process(const router& routes, worker_hooks hooks, const config& cfg,
                   const worker_values& values)
        : hooks_(std::move(hooks)),
          signals_(io_, {SIGTERM, SIGINT, SIGQUIT, SIGUSR1}),
          pool_(static_cast<std::size_t>(cfg.threads)),
          requests_log_(io_, cfg.accesslog, cfg.access_log_format),
          server_(io_, routes, server_limits::from(cfg, values.request_limit), requests_log_,
                  serve_http1),
          link_(
              io_, [this] { return counters(); }, [this] { on_master_gone(); }),
          drain_deadline_(io_),
          graceful_timeout_(cfg.graceful_timeout),
          errorlog_(cfg.errorlog) {
        server_.on_request_limit([this] { link_.request_recycle("max_requests"); });
        server_.on_full([this](bool full) { link_.report_full(full); });
    }

    int run() {
        use_thread_pool(&pool_);
        auto sockets = take_listen_fds();
        if (sockets.empty()) {
            log::critical(
                "No listening sockets: LISTEN_FDS is not set for this process. "
                "Run workers under corral.");
            return exit_code::worker_boot_error;
        }
        for (const auto& socket : sockets) server_.add_listener(socket.fd);
        running_server = &server_;
        if (hooks_.on_start) hooks_.on_start();
        signals_.start([this](int signal_number, int value) { on_signal(signal_number, value); });
        server_.start();
        link_.ready();
        link_.start();
        io_.run();
        if (hooks_.on_stop) hooks_.on_stop();
        requests_log_.flush();
        running_server = nullptr;
        pool_.stop();  // a blocking call still running is abandoned: the worker exits
        return 0;
    }

  private:
    std::string counters() const {
        auto lines = fmt::format("X_CORRAL_REQUESTS={}\nX_CORRAL_CONNECTIONS={}",
                                 server_.requests(), server_.connections());
        if (requests_log_.enabled())
            lines += fmt::format("\nX_CORRAL_ACCESS_LOG_DROPPED={}", requests_log_.dropped());
        return lines;
    }

    void on_signal(int signal_number, int value) {
        if (signal_number == SIGTERM) {
            drain(value == final_stop_value);
        } else if (signal_number == SIGUSR1) {
            log::reopen_standard_streams(errorlog_);
            requests_log_.reopen();
            log::info("Worker reopened its log files");
        } else {
            io_.stop();  // QUIT, INT: exit now
        }
    }

    /// Stops accepting and exits once the connections are done (the master sends SIGKILL
    /// after graceful_timeout).
    void drain(bool final_stop) {
        if (draining_) return;
        draining_ = true;
        log::info("Worker draining{}: finishing {} connection(s)",
                  final_stop ? " (final stop: serving queued connections first)" : "",
                  server_.connections());
        link_.stopping();
        server_.drain(final_stop, [this] {
            drain_deadline_.cancel();
            io_.stop();
        });
    }

    /// The master died (even of SIGKILL; PR_SET_PDEATHSIG usually says so first): finish
    /// what is in flight and what waits in this worker's queue, as at a final stop, and end
    /// the drain after graceful_timeout, which no master will do now.
    void on_master_gone() {
        drain(true);
        drain_deadline_.expires_after(std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::duration<double>(graceful_timeout_)));
        drain_deadline_.async_wait([this](boost::system::error_code ec) {
            if (ec) return;
            log::warning(
                "Worker still draining {} s after its master died (graceful_timeout); "
                "exiting",
                graceful_timeout_);
            io_.stop();
        });
    }

    boost::asio::io_context io_{1};
    worker_hooks hooks_;
    signal_reader signals_;  ///< before the pool: its threads inherit the blocked signals
    boost::asio::thread_pool pool_;
    access_log requests_log_;
    server server_;
    supervisor_link link_;
    boost::asio::steady_timer drain_deadline_;
    double graceful_timeout_;  ///< seconds
    bool draining_ = false;
    std::string errorlog_;  ///< what stdout and stderr are reopened as on USR1
};

}  // namespace

int run_worker(const router& routes, worker_hooks hooks) {
    config cfg;
    worker_values values;
    try {
        auto environment = current_environment();
        cfg = load_worker_config(environment);
        values = read_worker_values(environment);
    } catch (const std::exception& e) {
        log::critical("Worker settings from the environment are invalid: {}", e.what());
        return exit_code::worker_boot_error;
    }
    log::set_level(log::parse_level(cfg.loglevel));
    log::set_format(cfg.log_format);
    generation = values.generation;
    try {
        return worker_process(routes, std::move(hooks), cfg, values).run();
    } catch (const std::exception& e) {
        log::critical("Worker failed: {}", e.what());
        return exit_code::worker_boot_error;
    }
}

boost::asio::thread_pool* use_thread_pool(boost::asio::thread_pool* pool) {
    return std::exchange(running_pool, pool);
}

boost::asio::any_io_executor thread_pool_executor() {
    if (!running_pool) throw std::logic_error("offload() needs a running worker or a test_client");
    return running_pool->get_executor();
}

worker_info current_worker() {
    return {static_cast<int>(::getpid()), generation,
            running_server ? running_server->requests() : 0,
            running_server ? running_server->connections() : 0};
}

}  // namespace corral
