#pragma once
// Where the metrics endpoint listens: `metrics_bind` resolved and bound, with errors that
// name the setting. Shared by the metrics server and --check-config, so that both say the
// same thing about the same value.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace corral {

/// `metrics_bind` (HOST:PORT) resolved to the address to listen on: the first one its host
/// resolves to. Throws std::runtime_error naming metrics_bind and why.
boost::asio::ip::tcp::endpoint resolve_metrics_bind(const std::string& text);

/// An acceptor listening on `metrics_bind`. Throws std::runtime_error as
/// resolve_metrics_bind does, or std::system_error naming metrics_bind, the call and the
/// address (`metrics_bind: bind() failed while binding 127.0.0.1:9100: Address already
/// in use`).
boost::asio::ip::tcp::acceptor listen_on_metrics_bind(boost::asio::io_context& io,
                                                      const std::string& text);

}  // namespace corral
