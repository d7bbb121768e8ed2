#pragma once
// Prometheus metrics over HTTP on `metrics_bind`: GET /metrics answers the text format.
// A deliberately small responder: one request per connection, then close. Anyone who can
// reach the address can connect, so it takes at most max_metrics_connections at once and
// gives each metrics_session_timeout for the whole exchange (guarded_acceptor.hpp).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "master/guarded_acceptor.hpp"

namespace corral {

inline constexpr int max_metrics_connections = 32;
inline constexpr std::chrono::seconds metrics_session_timeout{5};

class metrics_server {
  public:
    /// Binds `address` (HOST:PORT), or takes over `inherited_fd` (a listening socket from a
    /// binary upgrade) when >= 0; `render` produces the metrics text per request; accepts
    /// once start() is called. Throws std::runtime_error naming `metrics_bind`.
    metrics_server(boost::asio::io_context& io, const std::string& address,
                   std::function<std::string()> render, descriptor_budget& budget, int keep_free,
                   int inherited_fd = -1);

    const std::string& address() const { return address_; }
    int native_handle() { return acceptor_.native_handle(); }
    void start() { acceptor_.start(); }
    /// Stops accepting; the socket stays open (for a binary upgrade to take over).
    void pause() { acceptor_.pause(); }

  private:
    std::string address_;
    /// Shared with the sessions, which may outlive the server (a reload that moves it).
    std::shared_ptr<const std::function<std::string()>> render_;
    guarded_acceptor<boost::asio::ip::tcp> acceptor_;
};

}  // namespace corral
