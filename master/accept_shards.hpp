#pragma once
// One TCP listener split into shards: sockets bound to the same address with SO_REUSEPORT,
// one per worker slot, so the kernel spreads new connections over the workers instead of
// letting the first one awake drain a shared queue (docs/design.md, "Accept shards").
//
// The master holds every shard for as long as the listener lives, so no queue is ever
// dropped: a worker that stops or dies leaves its shard's queue to the next worker given
// that shard. Which shards take new connections is a program on the group: the arbiter
// routes only to shards with a ready worker, in turn (round_robin_router.hpp) where the
// master may load eBPF, else at random (a classic BPF program, SO_ATTACH_REUSEPORT_CBPF).

#include <linux/filter.h>
#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "master/round_robin_router.hpp"

namespace corral {

/// The program that picks a shard at random among `routable` (shard indexes, which are
/// the sockets' places in the kernel's reuseport group). Empty `routable`: an index the
/// group does not have, so the kernel falls back to its own hash over every shard.
std::vector<sock_filter> routing_program(const std::vector<int>& routable);

/// How route() spreads connections over the routable shards.
enum class spread { in_turn, at_random };

class accept_shards {
  public:
    /// Shard 0 is `first_fd`, the listener's own socket, already listening with
    /// SO_REUSEPORT; `inherited` are shards 1.. from before a binary upgrade. `name` is for
    /// messages. Does not own `first_fd`; closes the rest. `how`: in turn when the eBPF
    /// program can be loaded, else (or with at_random) at random.
    accept_shards(int first_fd, int backlog, std::string name, std::vector<int> inherited = {},
                  spread how = spread::in_turn);
    ~accept_shards();
    accept_shards(const accept_shards&) = delete;
    accept_shards& operator=(const accept_shards&) = delete;

    /// The socket of shard `index`, binding the shards up to it when they do not exist
    /// yet. When one cannot be bound (the reason is logged once) the listener stops
    /// growing and the highest existing shard is returned instead.
    int fd(int index);
    /// How many shards are bound.
    int count() const { return static_cast<int>(fds_.size()); }
    /// listen() again on every shard with a new queue length, for the shards bound later
    /// too (a reload that changes `backlog`). Returns false if one failed (errno set).
    bool set_backlog(int backlog);
    /// Shards 1.. (for a binary upgrade: shard 0 is the listener's own descriptor).
    std::vector<int> extra_fds() const { return {fds_.begin() + 1, fds_.end()}; }

    /// Sends new connections only to `routable`; a no-op when that is what they already
    /// go to.
    void route(std::vector<int> routable);
    /// Whether route() installed the round-robin program (else the random one).
    bool routes_in_turn() const { return how_ == spread::in_turn; }
    /// Connections waiting in shard `index`'s accept queue; 0 when it cannot tell.
    int queued(int index) const;
    /// Connections waiting in all the shards.
    int queued() const;

  private:
    int bind_next();

    std::vector<int> fds_;
    int backlog_;
    std::string name_;
    bool cannot_grow_ = false;
    spread how_;
    round_robin_router round_robin_;
    std::optional<std::vector<int>> routed_;  ///< what route() last installed
};

/// Connections waiting in a listening TCP socket's accept queue; -1 when it cannot tell.
long accept_queue_length(int listener_fd);

/// Puts SO_REUSEPORT on a bound socket before listen(): binding first without it keeps
/// "address already in use" for a port some other process holds.
bool enable_reuse_port(int fd);

}  // namespace corral
