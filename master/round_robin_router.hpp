#pragma once
// Routes a reuseport group's new connections to its shards in turn: an eBPF program
// (SO_ATTACH_REUSEPORT_EBPF) with a counter in a one-slot array map. Loading it needs
// CAP_BPF (root, outside most containers); without it, accept_shards falls back to the
// classic BPF program that picks at random (accept_shards.hpp). In turn rather than at
// random, 64 connections opened at once split 32/32 over two workers, not 39/25 as often
// as one time in ten.

#include <linux/bpf.h>

#include <string>
#include <vector>

namespace corral {

/// The program for `routable` (shard indexes; not empty), counting in map `counter_fd`:
/// shard routable[count % n], the count going up by one per connection.
std::vector<bpf_insn> round_robin_program(int counter_fd, const std::vector<int>& routable);

class round_robin_router {
  public:
    round_robin_router() = default;
    ~round_robin_router();
    round_robin_router(const round_robin_router&) = delete;
    round_robin_router& operator=(const round_robin_router&) = delete;

    /// Loads the program for `routable` and attaches it to `socket_fd`'s group; "" when
    /// done, else what failed (the group keeps its previous program), and why in errno.
    std::string attach(int socket_fd, const std::vector<int>& routable);

  private:
    int counter_fd_ = -1;  ///< the map, made at the first attach; kept so the turn carries on
};

}  // namespace corral
