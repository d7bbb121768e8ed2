#pragma once
// The master's control socket: a unix stream socket (mode 0600) speaking JSON lines. Each
// connection sends one request object, e.g. {"command":"scale","workers":"+1"}, and gets
// one reply object, {"ok":true,...} or {"ok":false,"error":"..."}, possibly later (a reload
// with "wait" replies when the new generation serves).

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <string>

#include "master/listeners.hpp"

namespace corral {

class control_server {
  public:
    using reply = std::function<void(boost::json::object)>;
    using handler = std::function<void(const boost::json::object& request, reply)>;

    /// Binds `path` (a stale socket file is replaced, a live one is an error) readable and
    /// writable by the owner only; throws like listener_set::bind_all.
    control_server(boost::asio::io_context& io, const std::string& path, handler on_request);

    const std::string& path() const { return path_; }

  private:
    void do_accept();

    std::string path_;
    listener_set socket_file_;  ///< owns the bound socket and removes the file at exit
    boost::asio::local::stream_protocol::acceptor acceptor_;
    handler on_request_;
};

/// Where the control socket goes for this configuration: `control_socket` when set,
/// else $RUNTIME_DIRECTORY/control.sock, else <pidfile>.sock; "" = none.
std::string control_socket_path(const std::string& configured, const std::string& pidfile,
                                const std::string& runtime_directory);

}  // namespace corral
