#pragma once
// Prometheus metrics over HTTP on `metrics_bind`: GET /metrics answers the text format.
// A deliberately small responder: one request per connection, then close.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <string>

namespace corral {

class metrics_server {
  public:
    /// Binds `address` (HOST:PORT); `render` produces the metrics text per request.
    metrics_server(boost::asio::io_context& io, const std::string& address,
                   std::function<std::string()> render);

  private:
    void do_accept();

    boost::asio::ip::tcp::acceptor acceptor_;
    std::function<std::string()> render_;
};

}  // namespace corral
