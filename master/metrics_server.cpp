#include "master/metrics_server.hpp"

#include <fmt/format.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <memory>

#include "master/metrics_endpoint.hpp"
#include "shared/log.hpp"

namespace corral {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct metrics_session : std::enable_shared_from_this<metrics_session> {
    tcp::socket socket;
    asio::streambuf input{16 * 1024};
    std::string output;

    explicit metrics_session(tcp::socket s) : socket(std::move(s)) {}

    void start(const std::function<std::string()>& render) {
        asio::async_read_until(
            socket, input, "\r\n\r\n",
            [self = shared_from_this(), &render](boost::system::error_code ec, std::size_t) {
                if (ec) return;
                std::string head(asio::buffers_begin(self->input.data()),
                                 asio::buffers_end(self->input.data()));
                bool wanted = head.starts_with("GET /metrics ") || head.starts_with("GET / ");
                std::string body = wanted ? render() : "Not Found: try /metrics\n";
                self->output = fmt::format(
                    "HTTP/1.1 {}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                    "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                    wanted ? "200 OK" : "404 Not Found", body.size(), body);
                asio::async_write(self->socket, asio::buffer(self->output),
                                  [self](boost::system::error_code, std::size_t) {});
            });
    }
};

}  // namespace

metrics_server::metrics_server(asio::io_context& io, const std::string& address,
                               std::function<std::string()> render)
    : acceptor_(listen_on_metrics_bind(io, address)), render_(std::move(render)) {
    log::info("Metrics at: http://{}/metrics", address);
    do_accept();
}

void metrics_server::do_accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) std::make_shared<metrics_session>(std::move(socket))->start(render_);
        do_accept();
    });
}

}  // namespace corral
