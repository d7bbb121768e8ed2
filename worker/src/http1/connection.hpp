#pragma once
// One HTTP/1.1 client connection: the keep-alive loop of read, parse, handle, write.
// Pipelined requests already in the buffer are all answered before the next read, in one
// write. The server hands connections over through serve_http1 (server::protocol).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "corral/response.hpp"
#include "corral/router.hpp"
#include "http1/request_head_check.hpp"
#include "server/server.hpp"
#include "transport/transport_stream.hpp"
#include "websocket/websocket_handshake.hpp"

namespace corral {

class websocket_session;

/// The HTTP/1.1 protocol for server: serves one accepted connection (server::protocol).
void serve_http1(server& owner, transport_stream stream, std::string remote_address);

class connection : public served_connection, public std::enable_shared_from_this<connection> {
  public:
    connection(server& owner, transport_stream stream, std::string remote_address);

    /// Serves requests until the client closes, a timeout or an error; then closes. The
    /// coroutine owns `self`: a connection lives exactly as long as it runs.
    static boost::asio::awaitable<void> run(std::shared_ptr<connection> self);
    /// The worker is draining: an idle connection closes after the drain period, a
    /// WebSocket closes with 1001, a streamed response's pause() returns early.
    void drain() override;

  private:
    class body_parser;   ///< Beast's request parser; its templates stay in connection.cpp
    class chunk_writer;  ///< what a streamed response's producer writes to

    /// A point in time a whole request head must arrive by, once it has started.
    struct head_deadline {
        bool armed = false;
        std::chrono::steady_clock::time_point at{};
        static head_deadline after(std::chrono::milliseconds timeout);
        std::chrono::milliseconds remaining() const;
    };

    boost::asio::awaitable<void> serve();
    /// The common case, without a coroutine: the whole request is in the buffer already.
    /// False (and `req` left empty) when it is not, or is malformed: read_request then
    /// starts again.
    bool parse_buffered_request(const head_verdict& head, request& req, bool& keep_alive);
    body_parser make_parser(const head_verdict& head, request& req) const;
    /// Reads the body; false when the connection was answered with an error, or the client
    /// left, and must close.
    boost::asio::awaitable<bool> read_request(const head_verdict& head, request& req,
                                              bool& keep_alive);
    /// Fills in the addresses (forwarded headers resolved) and checks the trailers; what
    /// is wrong, or "".
    std::string complete_request(request& req) const;
    /// Runs the handler and queues (or streams) the response; false when the connection
    /// must close.
    boost::asio::awaitable<bool> respond(request& req, bool keep_alive,
                                         std::chrono::steady_clock::time_point started);
    /// With proxy_protocol: reads a PROXY header, if one comes, and takes its source as the
    /// remote address; false when the connection is to be refused (malformed, or from a
    /// peer not in proxy_allow_ips) or closed.
    boost::asio::awaitable<bool> read_proxy_header();
    /// Reads until the buffer holds a whole head that passes check_request_head, or a
    /// verdict against it; `incomplete` means the connection closed or idled out.
    boost::asio::awaitable<head_verdict> read_head();
    /// Feeds Beast the head and the body; 0 when complete, an HTTP status to answer and
    /// close with, or -1 when the client went away.
    boost::asio::awaitable<int> read_body(body_parser& parser);
    boost::asio::awaitable<bool> read_more(std::chrono::milliseconds timeout);
    /// Sends the head, then lets the producer write the body; false when the connection
    /// must close (the client went away or the producer failed).
    boost::asio::awaitable<bool> stream_body(const response& res, bool chunked);
    /// Hands the transport to a WebSocket session when the upgrade request passes, else
    /// answers why not; the connection ends either way.
    boost::asio::awaitable<void> serve_websocket(request& req,
                                                 const router::websocket_endpoint& endpoint,
                                                 std::chrono::steady_clock::time_point started);
    /// Answers an upgrade request that did not pass, and logs why. Its own frame: the
    /// response it builds is not kept for the life of a WebSocket that did pass.
    boost::asio::awaitable<void> refuse_websocket(const request& req,
                                                  const upgrade_verdict& verdict,
                                                  std::chrono::steady_clock::time_point started);
    /// The WebSocket endpoint an upgrade request is for; nullptr for other requests.
    const router::websocket_endpoint* websocket_endpoint_for(request& req) const;
    void log_access(const request& req, const response& res,
                    std::chrono::steady_clock::time_point started);
    boost::asio::awaitable<bool> flush();
    /// Answers `status` (an error found before the whole request was read), then lingers.
    boost::asio::awaitable<void> reply_and_close(int status);
    /// The lingering close: shuts down our side, then reads and drops what the client still
    /// sends, within bounded time and bytes (connection.cpp says why); run() then closes.
    boost::asio::awaitable<void> linger();
    /// Lingering ends by the drain period at the latest, as an idle connection's wait does.
    void shorten_linger();
    void arm_timer(std::chrono::milliseconds timeout);
    void make_room();

    server& server_;
    transport_stream stream_;
    boost::asio::steady_timer timer_;
    boost::asio::steady_timer stream_pause_;  ///< a streamed response's pause(); drain wakes it
    std::shared_ptr<websocket_session> websocket_;  ///< once upgraded
    std::string remote_address_;
    std::vector<char> buffer_;  ///< bytes read; [begin_, end_) not yet parsed
    std::size_t begin_ = 0, end_ = 0;
    std::string output_;  ///< responses not yet written
    bool idle_ = true;    ///< between requests: nothing of the next one has arrived
    bool timed_out_ = false;
    bool client_finished_ = false;  ///< the last read met the end of the client's stream
    bool lingering_ = false;        ///< answered and shut down; dropping what still comes
    std::chrono::steady_clock::time_point linger_until_{};
    bool peer_trusted_ = false;  ///< the peer is in forwarded_allow_ips
};

}  // namespace corral
