// libFuzzer target: the worker's connection state machine over a real socket pair. Each
// input is what a client sends (a PROXY header, heads, bodies, pipelined requests,
// garbage); the connection reads it, answers, and must end cleanly: no crash, no leak, no
// undefined behaviour (built with ASan and UBSan). The first head of each input must also
// be framed by Beast's parser as the head check says (docs/http.md, "Where a body ends"):
// a difference traps, so that the fuzzer looks for one.
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCORRAL_FUZZ=ON -DCORRAL_SANITIZE=ON
//   cmake --build build-fuzz --target http-connection-fuzzer
//   build-fuzz/bin/http-connection-fuzzer -max_total_time=600 CORPUS_DIR   # a longer run

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstdint>
#include <string_view>

#include "../support/beast_framing.hpp"
#include "corral/router.hpp"
#include "http1/connection.hpp"
#include "http1/request_head_check.hpp"
#include "server/access_log.hpp"
#include "server/server.hpp"
#include "shared/log.hpp"

namespace {

namespace asio = boost::asio;

asio::awaitable<corral::response> echo(corral::request& req) {
    co_return corral::response::text(req.body + req.client_address + req.scheme);
}

struct harness {
    asio::io_context io;
    corral::router routes;
    corral::access_log requests_log{io, "", ""};
    corral::server_limits limits = corral::server_limits::from(settings());
    std::unique_ptr<corral::server> server;

    /// The settings a worker would get, with small limits that reach the limit paths
    /// quickly, and every peer trusted so the forwarded and PROXY paths run.
    static corral::config settings() {
        corral::config cfg;
        cfg.limit_request_line = 200;
        cfg.limit_request_fields = 8;
        cfg.limit_request_field_size = 120;
        cfg.max_body_size = 4096;
        cfg.proxy_protocol = true;
        cfg.keepalive = cfg.header_timeout = cfg.body_timeout = 0.05;
        cfg.forwarded_allow_ips = cfg.proxy_allow_ips = "*";
        return cfg;
    }

    harness() {
        corral::log::set_level(corral::log::level::critical);
        routes.fallback(echo);
        server =
            std::make_unique<corral::server>(io, routes, limits, requests_log, corral::serve_http1);
    }
};

void check_framing_agrees(std::string_view input, const corral::head_limits& limits) {
    auto verdict = corral::check_request_head(input, limits);
    if (verdict.outcome != corral::head_verdict::kind::complete) return;
    auto beast = corral::testing::beast_framing(input, verdict.head_size);
    if (beast && *beast != corral::testing::promised_framing(verdict)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static harness h;
    check_framing_agrees({reinterpret_cast<const char*>(data), size}, h.limits.head);
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return 0;
    asio::generic::stream_protocol::socket server_end(
        h.io, asio::generic::stream_protocol(AF_UNIX, 0), pair[0]);
    h.server->serve(std::move(server_end));
    h.io.restart();
    h.io.poll();  // the connection starts and waits for bytes
    std::string_view input(reinterpret_cast<const char*>(data), size);
    char sink[65536];
    while (!input.empty()) {
        ssize_t sent = ::send(pair[1], input.data(), input.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) input.remove_prefix(static_cast<std::size_t>(sent));
        if (sent < 0 && errno != EAGAIN) break;
        h.io.poll();
        while (::recv(pair[1], sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
    }
    ::shutdown(pair[1], SHUT_WR);
    while (h.server->connections() > 0) {
        h.io.run_one();
        while (::recv(pair[1], sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
    }
    ::close(pair[1]);
    h.io.restart();
    return 0;
}
