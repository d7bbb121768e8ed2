#include "server/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <system_error>

#include "shared/log.hpp"

namespace corral {
namespace {

namespace asio = boost::asio;
using generic_stream = asio::generic::stream_protocol;

std::string peer_address(const generic_stream::endpoint& endpoint) {
    char text[INET6_ADDRSTRLEN] = "-";
    const auto* address = endpoint.data();
    if (address->sa_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text,
                    sizeof text);
    else if (address->sa_family == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text,
                    sizeof text);
    else if (address->sa_family == AF_UNIX)
        return "unix";
    return text;
}

}  // namespace

server::server(asio::io_context& io, const router& routes, server_limits limits,
               access_log& requests_log, protocol speak)
    : io_(io),
      routes_(routes),
      limits_(std::move(limits)),
      speak_(std::move(speak)),
      access_log_(requests_log),
      room_(io),
      room_report_(io) {
    room_.expires_at(asio::steady_timer::time_point::max());  // only cancel() wakes it
}

server::~server() = default;

void server::add_listener(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        throw std::system_error(errno, std::generic_category(),
                                "getsockname() failed on inherited fd " + std::to_string(fd));
    int socket_protocol = address.ss_family == AF_UNIX ? 0 : IPPROTO_TCP;
    auto listener = std::make_unique<acceptor>(io_);
    listener->assign(generic_stream(address.ss_family, socket_protocol), fd);
    acceptors_.push_back(std::move(listener));
}

void server::start() {
    for (auto& listener : acceptors_) asio::co_spawn(io_, accept_loop(*listener), asio::detached);
}

asio::awaitable<void> server::accept_loop(acceptor& listener) {
    asio::steady_timer pause(io_);
    while (!draining_) {
        // At worker_connections, stop accepting: the connection waits in the queue for
        // another worker, or for a connection here to close.
        while (live_.size() >= limits_.max_connections && !draining_) {
            if (!said_full_ && on_full_) on_full_(true);
            said_full_ = true;
            co_await room_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (draining_) co_return;
        generic_stream::endpoint peer;  // from accept() itself: no getpeername() per connection
        auto [ec, socket] =
            co_await listener.async_accept(peer, asio::as_tuple(asio::use_awaitable));
        if (!ec) {
            serve(std::move(socket), peer);  // even if a drain began meanwhile: it is ours now
            continue;
        }
        if (ec == asio::error::operation_aborted || draining_) co_return;
        // Out of descriptors or memory: let other workers take connections for a moment.
        log::warning("accept() failed: {}; pausing accepts for 100 ms", ec.message());
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

void server::serve(generic_stream::socket socket) {
    boost::system::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    serve(std::move(socket), ec ? generic_stream::endpoint{} : peer);
}

void server::serve(generic_stream::socket socket, const generic_stream::endpoint& peer) {
    auto family = peer.data()->sa_family;  // the listener's: a unix socket's peer is AF_UNIX too
    if (family == AF_INET || family == AF_INET6) {
        int on = 1;  // a response is written whole: never wait to coalesce it (Nagle)
        ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
    speak_(*this, transport_stream(std::move(socket)), peer_address(peer));
}

void server::accept_queued(acceptor& listener) {
    boost::system::error_code ec;
    listener.non_blocking(true, ec);
    while (!ec) {
        generic_stream::socket socket(io_);
        generic_stream::endpoint peer;
        listener.accept(socket, peer, ec);  // until the queue is empty (EAGAIN)
        if (!ec) serve(std::move(socket), peer);
    }
}

void server::drain(bool serve_queued, std::function<void()> on_drained) {
    if (draining_) return;
    draining_ = true;
    on_drained_ = std::move(on_drained);
    boost::system::error_code ignored;
    // The worker's copies of the listeners close; the master keeps its own open, so on a
    // reload new connections wait in the queue for the next generation.
    for (auto& listener : acceptors_) {
        if (serve_queued) accept_queued(*listener);
        listener->close(ignored);
    }
    room_.cancel();
    for (auto* c : std::vector<served_connection*>(live_.begin(), live_.end())) c->drain();
    if (background_running_ > 0)
        log::info("Waiting for {} response(s)' background tasks", background_running_);
    finish_drain_if_done();
}

void server::detach(served_connection* c) {
    live_.erase(c);
    if (live_.size() + 1 == limits_.max_connections) room_.cancel();
    if (said_full_ && has_room()) report_room_soon();
    finish_drain_if_done();
}

bool server::has_room() const {
    return live_.size() + std::max<std::size_t>(1, limits_.max_connections / 10) <=
           limits_.max_connections;
}

void server::report_room_soon() {
    if (room_report_pending_) return;
    room_report_pending_ = true;
    room_report_.expires_after(std::chrono::milliseconds(100));
    room_report_.async_wait([this](boost::system::error_code ec) {
        if (ec == asio::error::operation_aborted) return;
        room_report_pending_ = false;
        if (!said_full_ || draining_) return;
        if (!has_room()) return;  // full again: the master need not hear of it
        said_full_ = false;
        if (on_full_) on_full_(false);
    });
}

void server::run_background(std::vector<background_task> tasks) {
    ++background_running_;
    auto run_all = [this, tasks = std::move(tasks)]() -> asio::awaitable<void> {
        for (const auto& task : tasks) {
            try {
                co_await task();
            } catch (const std::exception& e) {
                log::error("A background task failed: {}", e.what());
            } catch (...) {
                log::error("A background task failed with an unknown exception");
            }
        }
        --background_running_;
        finish_drain_if_done();
    };
    asio::co_spawn(io_, std::move(run_all), asio::detached);
}

bool server::drained() const {
    return draining_ && live_.empty() && background_running_ == 0 && on_drained_;
}

void server::finish_drain_if_done() {
    if (!drained() || drain_check_posted_) return;
    // Checked again when it runs: an accept that completed just before the drain began is
    // still queued ahead of it and serves its connection first. Finishing at once lost
    // that connection: the worker exited with it unanswered.
    drain_check_posted_ = true;
    asio::post(io_, [this] {
        drain_check_posted_ = false;
        if (drained()) std::exchange(on_drained_, {})();
    });
}

}  // namespace corral
