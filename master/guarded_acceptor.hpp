#pragma once
// The accept loop of every endpoint the master listens on itself (the control socket,
// metrics): what keeps whoever can connect to one from disturbing supervision.
//  - At most `max_connections` sessions at once. Further connections wait in the kernel's
//    backlog, costing the master nothing, until a session ends.
//  - No accept while the master's descriptors run low (descriptor_budget): the ones it
//    needs to spawn and hear workers come first.
//  - When accept() fails for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM), the loop
//    pauses, 100 ms doubling to 1 s, instead of retrying at once: a retry at once spins at
//    100% CPU for as long as the shortage lasts.
// Each session holds a `lease`, and its slot frees when the last copy is dropped. Sessions
// bound their own idle time: the acceptor cannot tell an idle client from a slow one.

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "master/system_limits.hpp"
#include "shared/log.hpp"

namespace corral {

template <class Protocol>
class guarded_acceptor {
  public:
    using acceptor_type = typename Protocol::acceptor;
    using socket_type = typename Protocol::socket;
    using lease = std::shared_ptr<void>;
    using session_starter = std::function<void(socket_type, lease)>;

    /// `name` for log lines ("metrics_bind 127.0.0.1:9100"); `keep_free`: descriptors this
    /// endpoint leaves to others beyond the budget's reserve (the control socket's share,
    /// for metrics).
    guarded_acceptor(acceptor_type acceptor, std::string name, int max_connections,
                     descriptor_budget& budget, int keep_free, session_starter start)
        : core_(std::make_shared<core>(std::move(acceptor), std::move(name), max_connections,
                                       budget, keep_free, std::move(start))) {}
    ~guarded_acceptor() { core_->close(); }
    guarded_acceptor(const guarded_acceptor&) = delete;
    guarded_acceptor& operator=(const guarded_acceptor&) = delete;

    /// Starts accepting (again, after pause()).
    void start() { core_->resume(); }
    /// Stops accepting; the socket stays open and listening (an upgrade hands it over).
    void pause() { core_->pause(); }
    int native_handle() { return core_->acceptor.native_handle(); }
    int sessions() const { return core_->sessions; }

  private:
    struct core : std::enable_shared_from_this<core> {
        acceptor_type acceptor;
        boost::asio::steady_timer retry;
        std::string name;
        int max_connections;
        descriptor_budget& budget;
        int keep_free;
        session_starter start;
        int sessions = 0;
        bool accepting = false;  ///< an async_accept or a retry is under way
        bool wanted = false;     ///< start() was called and pause() was not
        bool closed = false;     ///< the acceptor is gone: leases only count down
        std::chrono::milliseconds backoff{0};
        bool warned = false;         ///< about this shortage, once until it ends
        bool at_cap_warned = false;  ///< about max_connections, once until all close

        core(acceptor_type a, std::string n, int cap, descriptor_budget& b, int k,
             session_starter s)
            : acceptor(std::move(a)),
              retry(acceptor.get_executor()),
              name(std::move(n)),
              max_connections(cap),
              budget(b),
              keep_free(k),
              start(std::move(s)) {}

        void close() {
            closed = true;
            wanted = false;
            retry.cancel();
            boost::system::error_code ignored;
            acceptor.close(ignored);
        }

        void pause() {
            wanted = false;
            retry.cancel();
            boost::system::error_code ignored;
            acceptor.cancel(ignored);
        }

        void resume() {
            if (closed) return;
            wanted = true;
            do_accept();
        }

        void do_accept() {
            if (accepting || !wanted) return;
            if (sessions >= max_connections) {
                if (!at_cap_warned)
                    log::warning("{}: {} connections open, the most allowed; others wait", name,
                                 sessions);
                at_cap_warned = true;
                return;
            }
            if (sessions == 0) at_cap_warned = false;
            if (!budget.take(keep_free)) {
                wait_then_accept(std::chrono::milliseconds(250),
                                 fmt::format("{} of {} descriptors in use, {} kept for workers",
                                             budget.in_use(), budget.limit(), budget.reserve()));
                return;
            }
            accepting = true;
            acceptor.async_accept([self = this->shared_from_this()](boost::system::error_code ec,
                                                                    socket_type socket) {
                self->accepting = false;
                if (ec == boost::asio::error::operation_aborted || self->closed) return;
                if (!ec) {
                    self->backoff = std::chrono::milliseconds(0);
                    self->warned = false;
                    self->start(std::move(socket), self->make_lease());
                } else if (short_of_resources(ec)) {
                    self->backoff = std::min(std::max(self->backoff * 2, first_backoff()),
                                             std::chrono::milliseconds(1000));
                    self->wait_then_accept(self->backoff, "accept() failed: " + ec.message());
                    return;
                }
                self->do_accept();
            });
        }

        void wait_then_accept(std::chrono::milliseconds delay, const std::string& why) {
            if (!warned) log::warning("{}: not accepting for now: {}", name, why);
            warned = true;
            accepting = true;
            retry.expires_after(delay);
            retry.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
                self->accepting = false;
                if (!ec) self->do_accept();
            });
        }

        lease make_lease() {
            ++sessions;
            return lease(nullptr, [self = this->shared_from_this()](void*) {
                --self->sessions;
                self->do_accept();
            });
        }

        static std::chrono::milliseconds first_backoff() { return std::chrono::milliseconds(100); }

        static bool short_of_resources(const boost::system::error_code& ec) {
            int value = ec.value();
            return value == EMFILE || value == ENFILE || value == ENOBUFS || value == ENOMEM;
        }
    };

    std::shared_ptr<core> core_;
};

}  // namespace corral
