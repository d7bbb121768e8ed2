#include "master/control_server.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
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
using stream = asio::local::stream_protocol;
constexpr std::size_t max_request_size = 64 * 1024;

/// One client: read a line, hand the request over, write the reply whenever it comes.
/// The deadline bounds the read, and then the write; not the wait for a reply in between.
struct control_session : std::enable_shared_from_this<control_session> {
    stream::socket socket;
    guarded_acceptor<stream>::lease lease;
    asio::streambuf input{max_request_size};
    asio::steady_timer deadline;
    std::string output;

    control_session(stream::socket s, guarded_acceptor<stream>::lease l)
        : socket(std::move(s)), lease(std::move(l)), deadline(socket.get_executor()) {}

    void start(std::shared_ptr<const control_server::handler> on_request) {
        arm_deadline();
        asio::async_read_until(
            socket, input, '\n',
            [self = shared_from_this(), on_request](boost::system::error_code ec, std::size_t) {
                self->deadline.cancel();
                if (!ec) self->dispatch(*on_request);
            });
    }

    void arm_deadline() {
        deadline.expires_after(control_request_timeout);
        deadline.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) self->socket.close(ec);  // fails the read or write under way
        });
    }

    void dispatch(const control_server::handler& on_request) {
        std::istream request_text(&input);
        std::string line;
        std::getline(request_text, line);
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
        if (!output.empty() || !socket.is_open()) return;  // one reply per request
        output = boost::json::serialize(answer) + "\n";
        arm_deadline();
        asio::async_write(socket, asio::buffer(output),
                          [self = shared_from_this()](boost::system::error_code, std::size_t) {
                              self->deadline.cancel();
                          });
    }
};

}  // namespace

control_server::control_server(asio::io_context& io, const std::string& path, handler on_request,
                               descriptor_budget& budget, int inherited_fd)
    : path_(path), on_request_(std::make_shared<const handler>(std::move(on_request))) {
    std::map<std::string, inherited_listener> inherited;
    if (inherited_fd >= 0) inherited["unix:" + path].fd = inherited_fd;
    mode_t previous = ::umask(0177);  // the socket file is created 0600
    try {
        socket_file_ = listener_set::bind_all({"unix:" + path}, bind_options{.backlog = 16},
                                              nullptr, &inherited);
    } catch (...) {
        ::umask(previous);
        throw;
    }
    ::umask(previous);
    stream::acceptor acceptor(io);
    acceptor.assign(stream(), ::fcntl(socket_file_.items().front()->fd, F_DUPFD_CLOEXEC, 3));
    acceptor_ = std::make_unique<guarded_acceptor<stream>>(
        std::move(acceptor), "control socket " + path, max_control_connections, budget, 0,
        [handler = on_request_](stream::socket socket, guarded_acceptor<stream>::lease lease) {
            std::make_shared<control_session>(std::move(socket), std::move(lease))->start(handler);
        });
}

void control_server::hand_over() {
    acceptor_->pause();
    socket_file_.release_socket_files();
}

}  // namespace corral
