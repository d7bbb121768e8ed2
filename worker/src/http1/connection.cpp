#include "http1/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "http1/response_writer.hpp"
#include "proxy/forwarded.hpp"
#include "proxy/proxy_protocol.hpp"
#include "server/server.hpp"
#include "shared/log.hpp"
#include "websocket/websocket_handshake.hpp"
#include "websocket/websocket_session.hpp"

namespace corral {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using std::chrono::milliseconds;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk = 4 * 1024;  // grows for a long head; idle connections stay small
// The lingering close after an answer given before the whole request was read (nginx's
// lingering_close; its defaults are lingering_time 30 s and lingering_timeout 5 s). The
// client may still be sending: closing a socket with unread bytes makes the kernel reset
// the connection, and the reset can destroy the answer before the client reads it. So the
// connection shuts down its sending side and reads and drops what still comes, until the
// client closes its side or one of these bounds: a client needs well under a second to
// stop sending once it reads the answer, and one that never stops may cost only this much.
constexpr std::chrono::seconds lingering_time{5};     // in all, from the answer on
constexpr std::chrono::seconds lingering_timeout{2};  // without a byte from the client
constexpr std::size_t lingering_bytes = 4 << 20;      // read and dropped

int status_for(boost::system::error_code ec) {
    return ec == http::error::body_limit ? 413 : 400;  // codings were checked before Beast
}

/// RFC 9110 6.5.1: fields that frame or route a message must not come as trailers.
std::string check_trailers(const request::field_list& trailers) {
    for (const auto& [name, value] : trailers)
        for (std::string_view forbidden :
             {"content-length", "transfer-encoding", "host", "trailer", "te", "authorization"})
            if (iequals(name, forbidden)) return name + " sent as a trailer field";
    return "";
}

}  // namespace

/// Beast's parser with the request built straight from its callbacks: no Beast message
/// and field nodes to allocate and then copy (see docs/benchmarks.md). Fields after the
/// head's `head_fields` are a chunked body's trailers.
class connection::body_parser : public http::basic_parser<true> {
  public:
    body_parser(request& req, const head_verdict& head, head_limits::underscore header_map)
        : req_(req),
          head_fields_(head.field_count),
          framing_(head.framing),
          content_length_(head.content_length),
          header_map_(header_map) {
        req_.headers.reserve(head_fields_);
    }

    bool expects_continue() const { return expects_continue_; }
    /// Beast framed the body otherwise than the head check: a bug in the check, refused.
    bool framing_disagrees() const { return framing_disagrees_; }

  private:
    using error_code = boost::system::error_code;
    using beast_view = boost::beast::string_view;

    static std::string_view view(beast_view text) { return {text.data(), text.size()}; }

    void on_request_impl(http::verb, beast_view method, beast_view target, int version,
                         error_code&) override {
        req_.method.assign(view(method));
        req_.target.assign(view(target));
        req_.version = version;
    }

    void on_response_impl(int, beast_view, int, error_code& ec) override {
        ec = http::error::bad_method;  // a request parser never sees a status line
    }

    void on_field_impl(http::field name, beast_view name_text, beast_view value,
                       error_code&) override {
        if (name == http::field::expect && req_.version >= 11 &&
            iequals(view(value), "100-continue"))
            expects_continue_ = true;
        auto& list = fields_seen_++ < head_fields_ ? req_.headers : req_.trailers;
        if (header_map_ == head_limits::underscore::drop && has_underscore(view(name_text))) return;
        list.emplace_back(view(name_text), view(value));
    }

    /// The head check decided how the body ends; a parser that would read it otherwise
    /// stops here, before the first byte of the body.
    void on_header_impl(error_code& ec) override {
        if (frames_as_head()) return;
        framing_disagrees_ = true;
        ec = http::error::bad_transfer_encoding;
    }

    bool frames_as_head() const {
        if (chunked()) return framing_ == body_framing::chunked;
        if (auto length = content_length())
            return framing_ == body_framing::content_length && *length == content_length_;
        return framing_ == body_framing::none;
    }

    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
        if (length) req_.body.reserve(static_cast<std::size_t>(*length));
    }

    std::size_t on_body_impl(beast_view body, error_code&) override {
        req_.body.append(view(body));
        return body.size();
    }

    void on_chunk_header_impl(std::uint64_t, beast_view, error_code&) override {}

    std::size_t on_chunk_body_impl(std::uint64_t, beast_view body, error_code&) override {
        req_.body.append(view(body));
        return body.size();
    }

    void on_finish_impl(error_code&) override {}

    request& req_;
    std::size_t head_fields_;
    body_framing framing_;
    std::uint64_t content_length_;
    std::size_t fields_seen_ = 0;
    head_limits::underscore header_map_;
    bool expects_continue_ = false;
    bool framing_disagrees_ = false;
};

class connection::chunk_writer : public body_writer {
  public:
    chunk_writer(connection& owner, bool chunked) : owner_(owner), chunked_(chunked) {}

    asio::awaitable<void> write(std::string_view piece) override {
        if (piece.empty()) co_return;  // an empty chunk would end the body
        if (chunked_)
            append_chunk(owner_.output_, piece);
        else
            owner_.output_.append(piece);
        owner_.arm_timer(owner_.server_.limits().body_timeout);  // a stuck client ends it
        bool sent = co_await owner_.flush();
        owner_.timer_.cancel();
        if (!sent)
            throw std::system_error(std::make_error_code(std::errc::connection_reset),
                                    "the client went away during a streamed response");
    }

    bool draining() const override { return owner_.server_.draining(); }

    asio::awaitable<bool> pause(milliseconds delay) override {
        if (draining()) co_return false;
        owner_.stream_pause_.expires_after(delay);
        co_await owner_.stream_pause_.async_wait(use_tuple);  // drain() cancels it
        co_return !draining();
    }

  private:
    connection& owner_;
    bool chunked_;
};

connection::head_deadline connection::head_deadline::after(milliseconds timeout) {
    return {true, std::chrono::steady_clock::now() + timeout};
}

milliseconds connection::head_deadline::remaining() const {
    auto left = std::chrono::duration_cast<milliseconds>(at - std::chrono::steady_clock::now());
    return std::max(left, milliseconds(1));
}

connection::connection(server& owner, transport_stream stream, std::string remote_address)
    : server_(owner),
      stream_(std::move(stream)),
      timer_(stream_.get_executor()),
      stream_pause_(stream_.get_executor()),
      remote_address_(std::move(remote_address)),
      buffer_(read_chunk) {}

void serve_http1(server& owner, transport_stream stream, std::string remote_address) {
    auto executor = stream.get_executor();
    auto c = std::make_shared<connection>(owner, std::move(stream), std::move(remote_address));
    owner.attach(c.get());  // before its coroutine first runs (server::attach)
    asio::co_spawn(executor, connection::run(std::move(c)), asio::detached);
}

asio::awaitable<void> connection::run(std::shared_ptr<connection> self) {
    try {
        co_await self->serve();
    } catch (const std::exception& e) {
        log::error("Connection from {} failed: {}", self->remote_address_, e.what());
    } catch (...) {
        log::error("Connection from {} failed with an unknown exception", self->remote_address_);
    }
    self->timer_.cancel();
    self->stream_.close();
    self->server_.detach(self.get());
}

asio::awaitable<void> connection::serve() {
    const auto& limits = server_.limits();
    if (limits.proxy_protocol && !co_await read_proxy_header()) co_return;
    peer_trusted_ = limits.forwarded_trusted.contains(remote_address_);
    for (;;) {
        auto head = co_await read_head();
        if (head.outcome == head_verdict::kind::incomplete) co_return;  // closed or timed out
        if (head.outcome == head_verdict::kind::rejected) {
            log::debug("Rejected a request from {} with {}: {}", remote_address_, head.status,
                       head.reason);
            co_return co_await reply_and_close(head.status);
        }
        // The clock is read only for the access log's durations (it costs 2% pipelined).
        auto started = server_.requests_log().enabled() ? std::chrono::steady_clock::now()
                                                        : std::chrono::steady_clock::time_point{};
        request req;
        bool keep_alive = false;
        if (!parse_buffered_request(head, req, keep_alive) &&
            !co_await read_request(head, req, keep_alive))
            co_return;
        if (auto problem = complete_request(req); !problem.empty()) {
            log::debug("Rejected a request from {} with 400: {}", remote_address_, problem);
            co_return co_await reply_and_close(400);
        }
        if (const auto* endpoint = websocket_endpoint_for(req)) {
            co_await serve_websocket(req, *endpoint, started);
            co_return;
        }
        if (!co_await respond(req, keep_alive, started)) co_return;
    }
}

bool connection::parse_buffered_request(const head_verdict& head, request& req, bool& keep_alive) {
    auto parser = make_parser(head, req);
    boost::system::error_code ec;
    auto used = parser.put(asio::buffer(buffer_.data() + begin_, end_ - begin_), ec);
    if (ec || !parser.is_done()) {
        req = request{};  // read_request starts again and deals with what is missing or wrong
        return false;
    }
    begin_ += used;
    keep_alive = parser.keep_alive();
    return true;
}

connection::body_parser connection::make_parser(const head_verdict& head, request& req) const {
    const auto& limits = server_.limits();
    body_parser parser(req, head, limits.head.header_map);
    parser.eager(true);
    parser.header_limit(static_cast<std::uint32_t>(head.head_size));
    parser.body_limit(limits.max_body_size);
    return parser;
}

asio::awaitable<bool> connection::read_request(const head_verdict& head, request& req,
                                               bool& keep_alive) {
    auto parser = make_parser(head, req);
    if (int status = co_await read_body(parser); status != 0) {
        if (status > 0) co_await reply_and_close(status);
        co_return false;
    }
    keep_alive = parser.keep_alive();
    co_return true;
}

std::string connection::complete_request(request& req) const {
    req.remote_address = remote_address_;
    auto origin = resolve_forwarded(req.headers, remote_address_, peer_trusted_,
                                    server_.limits().forwarded_trusted);
    req.client_address = std::move(origin.client);
    req.scheme = std::move(origin.scheme);
    return !origin.error.empty() ? origin.error : check_trailers(req.trailers);
}

asio::awaitable<bool> connection::respond(request& req, bool keep_alive,
                                          std::chrono::steady_clock::time_point started) {
    const auto& limits = server_.limits();
    // router::dispatch() inlined: its coroutine frame cost 3-4% pipelined.
    auto found = server_.routes().resolve(req);
    response res = std::move(found.answer);
    try {
        if (found.chosen) {
            auto handled = co_await (*found.chosen)(req);  // named: g++ 12 and co_await temporaries
            res = std::move(handled);
        }
    } catch (const std::exception& e) {
        res = router::handler_failed(req, e.what());
    } catch (...) {
        res = router::handler_failed(req, "it threw something not derived from std::exception");
    }
    log_access(req, res, started);
    keep_alive = keep_alive && !server_.draining();
    bool head_only = req.method == "HEAD";
    if (res.stream) {
        bool chunked = req.version >= 11;  // an HTTP/1.0 body ends with the connection
        keep_alive = keep_alive && chunked;
        append_stream_head(output_, res, keep_alive, chunked, limits.server_header);
        if (!head_only && !co_await stream_body(res, chunked)) co_return false;
    } else {
        append_response(output_, res, keep_alive, head_only, limits.server_header);
    }
    if (!res.background_tasks.empty()) {  // they run once the response is out
        bool sent = co_await flush();
        server_.run_background(std::move(res.background_tasks));
        if (!sent) co_return false;
    }
    if (!keep_alive || server_.draining()) {  // a long stream may have outlived a drain
        // Requests pipelined after this one stay unanswered: linger, as after an error.
        bool sent = co_await flush();
        if (sent && begin_ != end_) co_await linger();
        co_return false;
    }
    co_return true;
}

asio::awaitable<bool> connection::read_proxy_header() {
    const auto& limits = server_.limits();
    auto deadline = head_deadline::after(limits.header_timeout);
    for (;;) {
        auto header = parse_proxy_header({buffer_.data() + begin_, end_ - begin_});
        switch (header.outcome) {
            case proxy_header::kind::absent:
                co_return true;  // plain HTTP, as Gunicorn allows
            case proxy_header::kind::invalid:
                log::debug("Refused a PROXY header from {}: {}", remote_address_, header.reason);
                co_await reply_and_close(400);
                co_return false;
            case proxy_header::kind::parsed:
                if (!limits.proxy_trusted.contains(remote_address_)) {
                    log::warning("Refused a PROXY header from {}: not in proxy_allow_ips",
                                 remote_address_);
                    co_await reply_and_close(400);
                    co_return false;
                }
                begin_ += header.size;
                if (!header.source.empty()) remote_address_ = header.source;
                co_return true;
            case proxy_header::kind::incomplete:
                if (!co_await read_more(deadline.remaining())) co_return false;
        }
    }
}

asio::awaitable<head_verdict> connection::read_head() {
    const auto& limits = server_.limits();
    idle_ = begin_ == end_;
    head_deadline deadline;
    for (;;) {
        auto verdict = check_request_head({buffer_.data() + begin_, end_ - begin_}, limits.head);
        if (verdict.outcome != head_verdict::kind::incomplete) co_return verdict;
        if (idle_ && begin_ != end_) idle_ = false;
        if (!idle_ && !deadline.armed) deadline = head_deadline::after(limits.header_timeout);
        auto wait = idle_ ? (server_.draining() ? std::min(limits.drain_period, limits.keepalive)
                                                : limits.keepalive)
                          : deadline.remaining();
        if (!co_await read_more(wait)) {
            if (timed_out_ && !idle_)
                co_return head_verdict{head_verdict::kind::rejected, 408,
                                       "the request head took too long", 0};
            co_return head_verdict{};
        }
    }
}

asio::awaitable<int> connection::read_body(body_parser& parser) {
    bool continue_sent = false;
    std::size_t framing_checked = 0;  // bytes of held-back chunk framing already scanned
    while (!parser.is_done()) {
        if (begin_ < end_) {
            boost::system::error_code ec;
            auto used = parser.put(asio::buffer(buffer_.data() + begin_, end_ - begin_), ec);
            begin_ += used;
            if (ec && ec != http::error::need_more) {
                if (parser.framing_disagrees())
                    log::error(
                        "Refused a request from {} with 400: Beast would frame its body "
                        "otherwise than the head check did",
                        remote_address_);
                else
                    log::debug("Rejected a request from {}: {}", remote_address_, ec.message());
                co_return status_for(ec);
            }
            if (parser.is_done()) break;
            if (ec && parser.chunked()) {
                // Every byte Beast holds back now is chunk framing it has not seen the end
                // of. Beast 1.81 skips a bare LF there while it looks for CRLF, so framing
                // with bare LFs would wait for body_timeout; and it bounds neither a
                // chunk-size line nor the trailers, which would grow the buffer.
                std::string_view framing(buffer_.data() + begin_, end_ - begin_);
                if (used > 0) framing_checked = 0;
                auto problem = check_chunk_framing(framing, framing_checked, server_.limits().head);
                if (problem.outcome == head_verdict::kind::rejected) {
                    log::debug("Rejected a request body from {} with {}: {}", remote_address_,
                               problem.status, problem.reason);
                    co_return problem.status;
                }
                framing_checked = framing.size();
            }
            if (parser.is_header_done() && !continue_sent && parser.expects_continue()) {
                output_ += "HTTP/1.1 100 Continue\r\n\r\n";
                continue_sent = true;
            }
            if (!ec && used > 0) continue;
        }
        // A client that ends its side mid-body sent a broken message; one that vanished
        // (reset) hears nothing.
        if (!co_await read_more(server_.limits().body_timeout))
            co_return timed_out_ ? 408 : client_finished_ ? 400 : -1;
    }
    co_return 0;
}

asio::awaitable<bool> connection::stream_body(const response& res, bool chunked) {
    arm_timer(server_.limits().body_timeout);
    bool head_sent = co_await flush();
    timer_.cancel();
    if (!head_sent) co_return false;
    chunk_writer writer(*this, chunked);
    try {
        co_await res.stream(writer);
    } catch (const std::exception& e) {
        log::error("Streaming a response to {} stopped: {}", remote_address_, e.what());
        co_return false;  // the body is cut: closing says so to the client
    }
    if (chunked) append_chunk(output_, "");
    co_return true;
}

asio::awaitable<bool> connection::read_more(milliseconds timeout) {
    arm_timer(timeout);
    if (!output_.empty() && !co_await flush()) co_return false;
    make_room();
    auto [ec, n] = co_await stream_.async_read_some(
        asio::buffer(buffer_.data() + end_, buffer_.size() - end_), use_tuple);
    timer_.cancel();
    client_finished_ = ec == asio::error::eof;
    if (ec) co_return false;
    end_ += n;
    co_return true;
}

void connection::make_room() {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ < buffer_.size()) return;
    if (begin_ > 0) {
        std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(begin_),
                  buffer_.begin() + static_cast<std::ptrdiff_t>(end_), buffer_.begin());
        end_ -= begin_;
        begin_ = 0;
    }
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a head not yet complete
}

asio::awaitable<bool> connection::flush() {
    // No synchronous write_some before the asynchronous write: with one, clients lost a
    // request now and then while workers recycled under load (docs/benchmarks.md).
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(output_), use_tuple);
    output_.clear();
    co_return !ec;
}

asio::awaitable<void> connection::serve_websocket(request& req,
                                                  const router::websocket_endpoint& endpoint,
                                                  std::chrono::steady_clock::time_point started) {
    const auto& limits = server_.limits();
    auto verdict = check_websocket_upgrade(req, endpoint.options);
    if (verdict.status == 101 && begin_ != end_)  // RFC 6455 4.1: the client waits for 101
        verdict = {400, "data arrived after the upgrade request, before the answer to it", ""};
    if (verdict.status == 101 && server_.draining())
        verdict = {503, "the worker is shutting down; connect again", ""};
    if (verdict.status != 101) co_return co_await refuse_websocket(req, verdict, started);
    if (!output_.empty() && !co_await flush()) co_return;  // answers to pipelined requests
    log_access(req, response::status_only(101), started);
    websocket_settings settings{
        endpoint.options.max_message_size ? endpoint.options.max_message_size
                                          : limits.websocket_max_message_size,
        limits.websocket_ping_interval, limits.header_timeout, limits.server_header};
    // The session reads through its own buffer: the HTTP one goes, for a smaller idle
    // connection (docs/benchmarks.md counts the bytes).
    std::vector<char>().swap(buffer_);
    std::string().swap(output_);
    websocket_ = std::make_shared<websocket_session>(std::move(stream_), std::move(settings));
    auto session = websocket_;
    co_await session->run(req, endpoint.handler, std::move(verdict.subprotocol));
}

asio::awaitable<void> connection::refuse_websocket(const request& req,
                                                   const upgrade_verdict& verdict,
                                                   std::chrono::steady_clock::time_point started) {
    log::debug("Refused a WebSocket upgrade from {} to {} with {}: {}", req.client_address,
               req.path(), verdict.status, verdict.reason);
    auto res = response::text(verdict.reason + "\n", verdict.status);
    if (verdict.status == 426) res.header("Sec-WebSocket-Version", "13");
    log_access(req, res, started);
    append_response(output_, res, false, false, server_.limits().server_header);
    co_await flush();
}

const router::websocket_endpoint* connection::websocket_endpoint_for(request& req) const {
    return asks_for_websocket(req) ? server_.routes().find_websocket(req) : nullptr;
}

void connection::log_access(const request& req, const response& res,
                            std::chrono::steady_clock::time_point started) {
    server_.count_request();
    if (auto& requests_log = server_.requests_log(); requests_log.enabled())
        requests_log.record({req, res, std::chrono::system_clock::now(),
                             std::chrono::steady_clock::now() - started});
}

asio::awaitable<void> connection::reply_and_close(int status) {
    append_response(output_, response::status_only(status), false, false,
                    server_.limits().server_header);
    arm_timer(server_.limits().header_timeout);
    bool sent = co_await flush();  // named: g++ 12 and co_await temporaries
    if (sent) co_await linger();
}

asio::awaitable<void> connection::linger() {
    timer_.cancel();
    stream_.shutdown_send();  // the answer, then our FIN
    if (client_finished_) co_return;
    idle_ = false;
    lingering_ = true;
    linger_until_ = std::chrono::steady_clock::now() + lingering_time;
    if (server_.draining()) shorten_linger();
    std::size_t dropped = 0;
    while (dropped < lingering_bytes) {
        auto left = linger_until_ - std::chrono::steady_clock::now();
        if (left <= left.zero()) break;
        arm_timer(std::min<milliseconds>(lingering_timeout, std::chrono::ceil<milliseconds>(left)));
        auto [ec, n] = co_await stream_.async_read_some(
            asio::buffer(buffer_.data(), buffer_.size()), use_tuple);
        timer_.cancel();
        if (ec) break;  // the client's end, a timeout (or drain), or a reset
        dropped += n;
    }
    lingering_ = false;
}

void connection::shorten_linger() {
    auto drained = std::chrono::steady_clock::now() + server_.limits().drain_period;
    linger_until_ = std::min(linger_until_, drained);
}

void connection::arm_timer(milliseconds timeout) {
    timed_out_ = false;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return;
        self->timed_out_ = true;
        self->stream_.cancel();  // the pending read or write returns; run() closes
    });
}

void connection::drain() {
    stream_pause_.cancel();
    if (websocket_) {
        websocket_->going_away();
    } else if (lingering_) {  // the answer is out: a drain waits for it as for an idle one
        shorten_linger();
        auto left =
            std::chrono::ceil<milliseconds>(linger_until_ - std::chrono::steady_clock::now());
        arm_timer(std::clamp(left, milliseconds(1), milliseconds(lingering_timeout)));
    } else if (idle_) {
        arm_timer(std::min(server_.limits().drain_period, server_.limits().keepalive));
    }
}

}  // namespace corral
