#include "master/metrics_server.hpp"

#include <fmt/format.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <memory>

#include "master/metrics_endpoint.hpp"
#include "shared/log.hpp"

namespace corral {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// One request, one response, then close; the connection ends at the deadline whatever
/// state it is in.
struct metrics_session : std::enable_shared_from_this<metrics_session> {
    tcp::socket socket;
    guarded_acceptor<tcp>::lease lease;
    asio::streambuf input{16 * 1024};
    asio::steady_timer deadline;
    std::string output;

    metrics_session(tcp::socket s, guarded_acceptor<tcp>::lease l)
        : socket(std::move(s)), lease(std::move(l)), deadline(socket.get_executor()) {}

    void start(std::shared_ptr<const std::function<std::string()>> render) {
        deadline.expires_after(metrics_session_timeout);
        deadline.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) self->socket.close(ec);  // fails the read or write under way
        });
        asio::async_read_until(
            socket, input, "\r\n\r\n",
            [self = shared_from_this(), render](boost::system::error_code ec, std::size_t) {
                if (ec) return self->finish();
                self->respond(*render);
            });
    }

    void respond(const std::function<std::string()>& render) {
        std::string head(asio::buffers_begin(input.data()), asio::buffers_end(input.data()));
        bool wanted = head.starts_with("GET /metrics ") || head.starts_with("GET / ");
        std::string body = wanted ? render() : "Not Found: try /metrics\n";
        output = fmt::format(
            "HTTP/1.1 {}\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            wanted ? "200 OK" : "404 Not Found", body.size(), body);
        asio::async_write(socket, asio::buffer(output),
                          [self = shared_from_this()](boost::system::error_code, std::size_t) {
                              self->finish();
                          });
    }

    void finish() { deadline.cancel(); }  // the last handler lets go of the session
};

/// The listening socket: a previous master's (binary upgrade) when `inherited_fd` >= 0,
/// else one bound now.
tcp::acceptor open_acceptor(asio::io_context& io, const std::string& text, int inherited_fd) {
    if (inherited_fd < 0) return listen_on_metrics_bind(io, text);
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    ::getsockname(inherited_fd, reinterpret_cast<sockaddr*>(&local), &length);
    tcp::acceptor adopted(io);
    adopted.assign(local.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), inherited_fd);
    return adopted;
}

}  // namespace

metrics_server::metrics_server(asio::io_context& io, const std::string& address,
                               std::function<std::string()> render, descriptor_budget& budget,
                               int keep_free, int inherited_fd)
    : address_(address),
      render_(std::make_shared<const std::function<std::string()>>(std::move(render))),
      acceptor_(open_acceptor(io, address, inherited_fd), "metrics_bind " + address,
                max_metrics_connections, budget, keep_free,
                [this](tcp::socket socket, guarded_acceptor<tcp>::lease lease) {
                    std::make_shared<metrics_session>(std::move(socket), std::move(lease))
                        ->start(render_);
                }) {
    log::info("Metrics at: http://{}/metrics", address);
}

}  // namespace corral
