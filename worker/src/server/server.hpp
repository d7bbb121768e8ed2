#pragma once
// The accepting side of a worker: one accept loop per inherited listener, the set of live
// connections, and the graceful drain (stop accepting, let every connection finish). What
// is said on a connection is the protocol's (the `protocol` the server is given): the
// server accepts, hands each connection over, and drains.

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
#include "server/access_log.hpp"
#include "server/served_connection.hpp"
#include "server/server_limits.hpp"
#include "transport/transport_stream.hpp"

namespace corral {

class server {
  public:
    using socket_type = transport_stream::socket_type;
    /// Serves one accepted connection from the peer `remote_address` ("unix" for a unix
    /// socket) over its transport: makes the protocol's connection, attach()es it at once,
    /// runs it, and detach()es it when it closes. http1/connection.hpp's serve_http1 is one.
    using protocol = std::function<void(server&, transport_stream, std::string remote_address)>;

    server(boost::asio::io_context& io, const router& routes, server_limits limits,
           access_log& requests_log, protocol speak);
    ~server();

    /// Accepts on the listening socket `fd` (inherited from the master) from start() on.
    void add_listener(int fd);
    void start();
    /// Stops accepting; `on_drained` runs once the last connection has closed. With
    /// `serve_queued`, first accepts what is already waiting in the listeners' queues (a
    /// final stop: nobody else will), answering each with `Connection: close`.
    void drain(bool serve_queued, std::function<void()> on_drained);

    /// Serves one connected socket (from an accept loop, or a fuzzer's socket pair).
    void serve(socket_type socket);
    /// The same with the peer's address as accept() gave it.
    void serve(socket_type socket, const boost::asio::generic::stream_protocol::endpoint& peer);

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
    /// Counts `c` as live from now, before its first turn on the loop: a drain that
    /// begins in between waits for it, not exit and drop a connection nobody answered.
    void attach(served_connection* c) { live_.insert(c); }
    void detach(served_connection* c);
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
    protocol speak_;
    std::unordered_set<served_connection*> live_;
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
