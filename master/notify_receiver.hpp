#pragma once
// The master's end of the worker protocol: a datagram socket in the abstract namespace,
// named to workers as NOTIFY_SOCKET. The kernel stamps each datagram with the sender's pid
// (SO_PASSCRED), so the master knows which worker said READY=1 without trusting the text.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <functional>
#include <string>
#include <string_view>

namespace corral {

class notify_receiver {
  public:
    using handler = std::function<void(pid_t sender, std::string_view message)>;

    /// Binds `@corral/<pid namespace>/<pid>/notify`; throws std::system_error naming the call.
    explicit notify_receiver(boost::asio::io_context& io);

    /// The NOTIFY_SOCKET value for workers.
    const std::string& address() const { return address_; }

    /// Calls `on_message` for every datagram, on the io_context, until destroyed.
    void start(handler on_message);

  private:
    void do_receive();
    void drain_datagrams();

    boost::asio::local::datagram_protocol::socket socket_;
    std::string address_;
    handler on_message_;
};

}  // namespace corral
