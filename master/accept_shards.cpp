#include "master/accept_shards.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "shared/log.hpp"

namespace corral {
namespace {

/// Classic BPF's cap on a program's length is 4096 instructions; the jump table takes two
/// per shard.
constexpr std::size_t most_routed_shards = 2000;

sock_filter statement(std::uint16_t code, std::uint32_t k) { return {code, 0, 0, k}; }
sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t if_true, std::uint8_t if_false) {
    return {code, if_true, if_false, k};
}

}  // namespace

std::vector<sock_filter> routing_program(const std::vector<int>& routable) {
    constexpr std::uint32_t no_such_shard = 0xffffffff;
    if (routable.empty() || routable.size() > most_routed_shards)
        return {statement(BPF_RET | BPF_K, no_such_shard)};
    auto n = static_cast<std::uint32_t>(routable.size());
    std::vector<sock_filter> program{
        statement(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)),
        statement(BPF_ALU | BPF_MOD | BPF_K, n)};
    bool contiguous = true;
    for (std::uint32_t i = 0; i < n; ++i) contiguous &= routable[i] == static_cast<int>(i);
    if (contiguous) {
        program.push_back(statement(BPF_RET | BPF_A, 0));
        return program;
    }
    // A = random % n; return routable[A].
    for (std::uint32_t i = 0; i + 1 < n; ++i) {
        program.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, i, 0, 1));
        program.push_back(statement(BPF_RET | BPF_K, static_cast<std::uint32_t>(routable[i])));
    }
    program.push_back(statement(BPF_RET | BPF_K, static_cast<std::uint32_t>(routable.back())));
    return program;
}

bool enable_reuse_port(int fd) {
    int on = 1;
    return ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0;
}

accept_shards::accept_shards(int first_fd, int backlog, std::string name,
                             std::vector<int> inherited, spread how)
    : fds_{first_fd}, backlog_(backlog), name_(std::move(name)), how_(how) {
    fds_.insert(fds_.end(), inherited.begin(), inherited.end());
}

accept_shards::~accept_shards() {
    for (std::size_t i = 1; i < fds_.size(); ++i) ::close(fds_[i]);
}

bool accept_shards::set_backlog(int backlog) {
    backlog_ = backlog;
    for (int fd : fds_)
        if (::listen(fd, backlog) != 0) return false;
    return true;
}

int accept_shards::fd(int index) {
    while (count() <= index && !cannot_grow_) {
        int next = bind_next();
        if (next < 0) break;
        fds_.push_back(next);
    }
    return fds_[std::min<std::size_t>(static_cast<std::size_t>(index), fds_.size() - 1)];
}

int accept_shards::bind_next() {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    int fd = -1;
    const char* failed = nullptr;
    if (::getsockname(fds_[0], reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        failed = "getsockname()";
    } else if ((fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        failed = "socket()";
    } else {
        int on = 1, v6only = 0;
        socklen_t size = sizeof v6only;
        if (address.ss_family == AF_INET6 &&
            (::getsockopt(fds_[0], IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &size) != 0 ||
             ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0))
            failed = "setsockopt(IPV6_V6ONLY)";
        else if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
                 !enable_reuse_port(fd))
            failed = "setsockopt(SO_REUSEPORT)";
        else if (::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0)
            failed = "bind()";
        else if (::listen(fd, backlog_) != 0)
            failed = "listen()";
    }
    if (!failed) return fd;
    int error = errno;
    if (fd >= 0) ::close(fd);
    cannot_grow_ = true;
    log::warning(
        "{} failed while adding accept shard {} to {}: {}; workers beyond {} share "
        "shard {}",
        failed, fds_.size(), name_, std::strerror(error), fds_.size(), fds_.size() - 1);
    return -1;
}

void accept_shards::route(std::vector<int> routable) {
    std::erase_if(routable, [&](int shard) { return shard >= count(); });  // could not be bound
    if (routed_ == routable) return;
    if (how_ == spread::in_turn && !routable.empty() && routable.size() <= most_routed_shards) {
        auto problem = round_robin_.attach(fds_[0], routable);
        if (problem.empty()) {
            routed_ = routable;
            return;
        }
        // Not allowed (no CAP_BPF) or not known (before Linux 5.12) will not change: say
        // it once and stay at random. Anything else (a program too large for
        // net.core.optmem_max, say): at random this time only.
        int error = errno;
        bool for_good = error == EPERM || error == EACCES || error == EINVAL;
        auto text =
            fmt::format("New connections to {} are spread at random, not in turn{}: {}{}", name_,
                        for_good ? "" : " for now", problem,
                        error == EPERM ? " (loading the round-robin program needs CAP_BPF)" : "");
        if (for_good) {
            how_ = spread::at_random;
            log::info("{}", text);
        } else {
            log::debug("{}", text);
        }
    }
    auto program = routing_program(routable);
    sock_fprog attached{static_cast<unsigned short>(program.size()), program.data()};
    if (::setsockopt(fds_[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &attached, sizeof attached) !=
        0) {
        if (!routed_ || !routed_->empty())  // say it once, not on every change
            log::warning(
                "setsockopt(SO_ATTACH_REUSEPORT_CBPF) failed while routing connections "
                "of {}: {}; the kernel spreads them over every shard",
                name_, std::strerror(errno));
        routed_ = std::vector<int>{};
        return;
    }
    routed_ = routable;
}

int accept_shards::queued(int index) const {
    if (index < 0 || index >= count()) return 0;
    return static_cast<int>(
        std::max(0L, accept_queue_length(fds_[static_cast<std::size_t>(index)])));
}

int accept_shards::queued() const {
    int total = 0;
    for (int shard = 0; shard < count(); ++shard) total += queued(shard);
    return total;
}

long accept_queue_length(int listener_fd) {
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(listener_fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -1;
    return static_cast<long>(info.tcpi_unacked);  // on a listener: its accept queue
}

}  // namespace corral
