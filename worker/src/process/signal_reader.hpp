#pragma once
// The worker's signals, read from a signalfd on the event loop. Unlike asio::signal_set it
// shows the value a sender attached with sigqueue(): the master marks the TERM of a final
// stop that way (see docs/worker-protocol.md).

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <initializer_list>

namespace corral {

class signal_reader {
  public:
    /// `value` is the sigqueue() value, 0 for a plain kill().
    using handler = std::function<void(int signal_number, int value)>;

    /// Blocks `signals` for this thread (threads started later inherit that) and reads them
    /// from a signalfd; throws std::system_error.
    signal_reader(boost::asio::io_context& io, std::initializer_list<int> signals);

    void start(handler on_signal);

  private:
    void do_read();

    boost::asio::posix::stream_descriptor descriptor_;
    handler on_signal_;
};

}  // namespace corral
