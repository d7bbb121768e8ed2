// Accept shards on real sockets: the kernel's reuseport group, the routing program, the
// queue lengths the arbiter's handover reads.

#include "master/accept_shards.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "master/round_robin_router.hpp"

using namespace corral;

namespace {

/// Shard 0 the way listeners.cpp makes it: bound to 127.0.0.1 on a free port, then
/// SO_REUSEPORT, then listen().
int first_shard(sockaddr_in& address) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    REQUIRE(enable_reuse_port(fd));
    REQUIRE(::listen(fd, 128) == 0);
    return fd;
}

/// Client ends of connections, closed when it goes out of scope.
struct open_clients {
    std::vector<int> fds;
    open_clients() = default;
    open_clients(open_clients&&) = default;
    ~open_clients() {
        for (int fd : fds) ::close(fd);
    }
};

/// Opens `count` connections (the handshake completes in the kernel; nobody accepts).
open_clients connect_times(const sockaddr_in& address, int count) {
    open_clients clients;
    for (int i = 0; i < count; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
        clients.fds.push_back(fd);
    }
    return clients;
}

/// Accepts and closes everything queued on shard `index`.
void drain(accept_shards& shards, int index) {
    while (shards.queued(index) > 0) ::close(::accept(shards.fd(index), nullptr, nullptr));
}

}  // namespace

TEST_CASE("the routing program picks at random among the routable shards") {
    auto contiguous = routing_program({0, 1, 2});
    REQUIRE(contiguous.size() == 3);  // A = random; A %= 3; return A
    CHECK(contiguous[0].k == static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM));
    CHECK(contiguous[1].code == (BPF_ALU | BPF_MOD | BPF_K));
    CHECK(contiguous[1].k == 3);
    CHECK(contiguous[2].code == (BPF_RET | BPF_A));

    auto table = routing_program({1, 3});  // A %= 2; A == 0 ? 1 : 3
    REQUIRE(table.size() == 5);
    CHECK(table[1].k == 2);
    CHECK(table[3].k == 1);
    CHECK(table[4].k == 3);

    auto none = routing_program({});  // an index no group has: the kernel's own hash
    REQUIRE(none.size() == 1);
    CHECK(none[0].k == 0xffffffffU);
}

TEST_CASE("the round-robin program counts in its map and picks routable[count % n]") {
    auto contiguous = round_robin_program(7, {0, 1});
    auto table = round_robin_program(7, {1, 3, 4});
    CHECK(table.size() == contiguous.size() + 3);  // three instructions per extra shard
    CHECK(int{table[1].src_reg} == BPF_PSEUDO_MAP_FD);
    CHECK(table[1].imm == 7);
    CHECK(table.back().code == (BPF_JMP | BPF_EXIT));
    CHECK(table[table.size() - 2].imm == 4);
}

TEST_CASE("shards join one reuseport group and route() decides which get connections") {
    sockaddr_in address{};
    int listener = first_shard(address);
    {
        accept_shards shards(listener, 128, "test listener", {}, spread::at_random);
        CHECK(shards.fd(2) != listener);
        CHECK(shards.count() == 3);
        CHECK(shards.fd(1) != shards.fd(2));

        shards.route({1});
        auto clients = connect_times(address, 20);
        CHECK(shards.queued(0) == 0);
        CHECK(shards.queued(1) == 20);
        CHECK(shards.queued(2) == 0);
        drain(shards, 1);

        shards.route({0, 2});
        auto more = connect_times(address, 40);
        CHECK(shards.queued(1) == 0);
        CHECK(shards.queued(0) + shards.queued(2) == 40);
        CHECK(shards.queued(0) > 0);  // 40 coin tosses: all alike once in 2^39
        CHECK(shards.queued(2) > 0);
    }
    ::close(listener);
}

TEST_CASE("in turn, connections alternate exactly between the routable shards") {
    sockaddr_in address{};
    int listener = first_shard(address);
    {
        accept_shards shards(listener, 128, "test listener");
        shards.fd(2);
        shards.route({0, 2});
        auto clients = connect_times(address, 40);
        if (!shards.routes_in_turn()) {
            MESSAGE("the round-robin program cannot be loaded here (no CAP_BPF): at random");
            CHECK(shards.queued(0) + shards.queued(2) == 40);
        } else {
            CHECK(shards.queued(0) == 20);
            CHECK(shards.queued(1) == 0);
            CHECK(shards.queued(2) == 20);
            drain(shards, 0);
            drain(shards, 2);
            shards.route({1});  // a new program; the same counter
            auto more = connect_times(address, 5);
            CHECK(shards.queued(1) == 5);
        }
    }
    ::close(listener);
}

TEST_CASE("another socket cannot bind the port of a sharded listener without SO_REUSEPORT") {
    sockaddr_in address{};
    int listener = first_shard(address);
    int intruder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(::bind(intruder, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0);
    ::close(intruder);
    ::close(listener);
}
