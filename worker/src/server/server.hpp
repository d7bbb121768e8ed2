#pragma once
// The accepting side of a worker: one accept loop per inherited listener, the set of live
// connections, and the graceful drain (stop accepting, let every connection finish).

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_set>
#include <vector>

#include "corral/router.hpp"
#include "http1/request_head_check.hpp"
#include "server/access_log.hpp"
#include "shared/address_list.hpp"
#include "shared/config.hpp"

namespace corral {

class connection;

/// What a worker's settings say about serving, in the units the server uses. Made from
/// the configuration alone (from()), so the settings table stays the one home of each
/// default; a field a setting does not decide has its value here.
struct server_limits {
    std::chrono::milliseconds keepalive{};         ///< idle keep-alive connection
    std::chrono::milliseconds header_timeout{};    ///< a started head must be complete
    std::chrono::milliseconds body_timeout{};      ///< between two pieces of a body
    std::chrono::milliseconds drain_period{1000};  ///< idle connections when draining
    head_limits head;
    std::uint64_t max_body_size = 0;
    std::uint64_t websocket_max_message_size = 0;
    std::chrono::milliseconds websocket_ping_interval{};  ///< 0: no pings
    std::uint64_t max_requests = 0;                       ///< then ask to be recycled; 0 = never
    std::size_t max_connections = 0;
    std::string server_header;
    address_list forwarded_trusted{""};  ///< forwarded_allow_ips
    bool proxy_protocol = false;
    address_list proxy_trusted{""};  ///< proxy_allow_ips

    /// The limits `cfg` sets; `request_limit` is this worker's max_requests with its
    /// jitter (CORRAL_WORKER_REQUEST_LIMIT), 0 = none.
    static server_limits from(const config& cfg, std::uint64_t request_limit = 0);

    bool operator==(const server_limits&) const = default;
};

class server {
  public:
    server(boost::asio::io_context& io, const router& routes, server_limits limits,
           access_log& requests_log);
    ~server();

    /// Accepts on the listening socket `fd` (inherited from the master) from start() on.
    void add_listener(int fd);
    void start();
    /// Stops accepting; `on_drained` runs once the last connection has closed. With
    /// `serve_queued`, first accepts what is already waiting in the listeners' queues (a
    /// final stop: nobody else will), answering each with `Connection: close`.
    void drain(bool serve_queued, std::function<void()> on_drained);

    /// Serves one connected socket (from an accept loop, or a fuzzer's socket pair).
    void serve(boost::asio::generic::stream_protocol::socket socket);
    /// The same with the peer's address as accept() gave it.
    void serve(boost::asio::generic::stream_protocol::socket socket,
               const boost::asio::generic::stream_protocol::endpoint& peer);

    bool draining() const { return draining_; }
    std::uint64_t requests() const { return requests_; }
    std::uint64_t connections() const { return live_.size(); }

    // For connections.
    const router& routes() const { return routes_; }
    const server_limits& limits() const { return limits_; }
    access_log& requests_log() { return access_log_; }
    void count_request() {
        if (++requests_ == limits_.max_requests && on_request_limit_) on_request_limit_();
    }
    /// Called once, when max_requests is reached (the worker keeps serving).
    void on_request_limit(std::function<void()> callback) {
        on_request_limit_ = std::move(callback);
    }
    /// Called with true when worker_connections is reached and accepting stops, and with
    /// false once a tenth of the connections (at least one) have closed again and stay
    /// closed for 100 ms: at most ten changes a second, however fast connections come
    /// and go at the limit.
    void on_full(std::function<void(bool)> callback) { on_full_ = std::move(callback); }
    void attach(connection* c) { live_.insert(c); }
    void detach(connection* c);
    /// Runs a response's background tasks, in order, on the loop; a drain waits for them.
    void run_background(std::vector<background_task> tasks);
    std::size_t background_tasks_running() const { return background_running_; }

  private:
    using acceptor = boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol>;
    boost::asio::awaitable<void> accept_loop(acceptor& listener);
    void accept_queued(acceptor& listener);
    /// Calls on_drained once draining and nothing is left: no connection, no task.
    void finish_drain_if_done();
    bool drained() const;
    bool drain_check_posted_ = false;

    boost::asio::io_context& io_;
    const router& routes_;
    server_limits limits_;
    std::vector<std::unique_ptr<acceptor>> acceptors_;
    std::unordered_set<connection*> live_;
    access_log& access_log_;
    boost::asio::steady_timer room_;  ///< wakes the accept loops when a connection closes
    std::function<void()> on_drained_;
    std::function<void()> on_request_limit_;
    std::function<void(bool)> on_full_;
    bool said_full_ = false;
    boost::asio::steady_timer room_report_;  ///< delays on_full_(false)
    bool room_report_pending_ = false;
    /// Whether a tenth of worker_connections (at least one) is free.
    bool has_room() const;
    void report_room_soon();
    bool draining_ = false;
    std::uint64_t requests_ = 0;
    std::size_t background_running_ = 0;  ///< responses whose tasks have not finished
};

}  // namespace corral
