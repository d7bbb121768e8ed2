#pragma once
// The master's control socket: a unix stream socket (mode 0600) speaking JSON lines. Each
// connection sends one request object, e.g. {"command":"scale","workers":"+1"}, and gets
// one reply object, {"ok":true,...} or {"ok":false,"error":"..."}, possibly later (a reload
// with "wait" replies when the new generation serves). At most max_control_connections at
// once; the request line must arrive within control_request_timeout, and the reply leave
// within as long again (guarded_acceptor.hpp).

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "master/control_socket_location.hpp"
#include "master/guarded_acceptor.hpp"
#include "master/listeners.hpp"

namespace corral {

inline constexpr int max_control_connections = 32;
inline constexpr std::chrono::seconds control_request_timeout{5};

class control_server {
  public:
    using reply = std::function<void(boost::json::object)>;
    using handler = std::function<void(const boost::json::object& request, reply)>;

    /// Binds `path` (a stale socket file is replaced, a live one is an error) readable and
    /// writable by the owner only, or takes over `inherited_fd` (bound to `path`, from a
    /// binary upgrade) when >= 0; accepts once start() is called. Throws like
    /// listener_set::bind_all.
    control_server(boost::asio::io_context& io, const std::string& path, handler on_request,
                   descriptor_budget& budget, int inherited_fd = -1);

    const std::string& path() const { return path_; }
    int native_handle() { return acceptor_->native_handle(); }
    void start() { acceptor_->start(); }
    /// Stops accepting and leaves the socket file to the new master of a binary upgrade.
    void hand_over();

  private:
    std::string path_;
    listener_set socket_file_;  ///< owns the bound socket and removes the file at exit
    std::shared_ptr<const handler> on_request_;  ///< shared with sessions, which may outlive this
    std::unique_ptr<guarded_acceptor<boost::asio::local::stream_protocol>> acceptor_;
};

}  // namespace corral
