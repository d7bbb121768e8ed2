#include "master/control_server.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <istream>
#include <memory>

#include "shared/log.hpp"

namespace corral {
namespace {

namespace asio = boost::asio;
constexpr std::size_t max_request_size = 64 * 1024;

/// One client: read a line, hand the request over, write the reply whenever it comes.
struct control_session : std::enable_shared_from_this<control_session> {
    asio::local::stream_protocol::socket socket;
    asio::streambuf input{max_request_size};
    std::string output;

    explicit control_session(asio::local::stream_protocol::socket s) : socket(std::move(s)) {}

    void start(const control_server::handler& on_request) {
        asio::async_read_until(
            socket, input, '\n',
            [self = shared_from_this(), &on_request](boost::system::error_code ec, std::size_t) {
                if (ec) return;
                self->dispatch(on_request);
            });
    }

    void dispatch(const control_server::handler& on_request) {
        std::istream stream(&input);
        std::string line;
        std::getline(stream, line);
        boost::system::error_code ec;
        auto request = boost::json::parse(line, ec);
        auto self = shared_from_this();
        auto reply = [self](boost::json::object answer) { self->send(std::move(answer)); };
        if (ec || !request.is_object()) {
            reply({{"ok", false}, {"error", "the request is not a JSON object on one line"}});
            return;
        }
        on_request(request.as_object(), reply);
    }

    void send(boost::json::object answer) {
        output = boost::json::serialize(answer) + "\n";
        asio::async_write(socket, asio::buffer(output),
                          [self = shared_from_this()](boost::system::error_code, std::size_t) {});
    }
};

}  // namespace

control_server::control_server(asio::io_context& io, const std::string& path, handler on_request)
    : path_(path), acceptor_(io), on_request_(std::move(on_request)) {
    mode_t previous = ::umask(0177);  // the socket file is created 0600
    try {
        socket_file_ = listener_set::bind_all({"unix:" + path}, bind_options{.backlog = 16});
    } catch (...) {
        ::umask(previous);
        throw;
    }
    ::umask(previous);
    acceptor_.assign(asio::local::stream_protocol(),
                     ::fcntl(socket_file_.items().front()->fd, F_DUPFD_CLOEXEC, 3));
    do_accept();
}

void control_server::do_accept() {
    acceptor_.async_accept(
        [this](boost::system::error_code ec, asio::local::stream_protocol::socket socket) {
            if (ec == asio::error::operation_aborted) return;
            if (!ec) std::make_shared<control_session>(std::move(socket))->start(on_request_);
            do_accept();
        });
}

std::string control_socket_path(const std::string& configured, const std::string& pidfile,
                                const std::string& runtime_directory) {
    if (configured == "off") return "";
    if (!configured.empty()) return configured;
    if (!runtime_directory.empty()) return runtime_directory + "/control.sock";
    if (!pidfile.empty()) return pidfile + ".sock";
    return "";
}

}  // namespace corral
