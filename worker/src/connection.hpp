#pragma once
// One client connection: the keep-alive loop of read, parse, handle, write. Pipelined
// requests already in the buffer are all answered before the next read, in one write.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <vector>

namespace corral {

class server;

class connection : public std::enable_shared_from_this<connection> {
public:
    using socket_type = boost::asio::generic::stream_protocol::socket;

    connection(server& owner, socket_type socket, std::string remote_address);

    /// Serves requests until the client closes, a timeout or an error; then closes.
    boost::asio::awaitable<void> run();
    /// The worker is draining: an idle connection closes after the drain period.
    void drain();

private:
    boost::asio::awaitable<void> serve();
    boost::asio::awaitable<bool> read_more();
    boost::asio::awaitable<bool> flush();
    boost::asio::awaitable<void> reply_and_close(int status);
    void arm_timer(std::chrono::milliseconds timeout);
    void make_room();

    server& server_;
    socket_type socket_;
    boost::asio::steady_timer timer_;
    std::string remote_address_;
    std::vector<char> buffer_;  ///< bytes read; [begin_, end_) not yet parsed
    std::size_t begin_ = 0, end_ = 0;
    std::string output_;        ///< responses not yet written
    bool idle_ = true;          ///< between requests: nothing of the next one has arrived
    bool timed_out_ = false;
};

}  // namespace corral
