#pragma once
// What the server needs of a connection it handed to a protocol (HTTP/1.1 today): to be
// told that the worker drains. The server counts its connections through this interface
// and knows nothing else of them; the protocol calls attach() and detach().

namespace corral {

class served_connection {
  public:
    virtual ~served_connection() = default;
    /// The worker is draining: finish what is under way and close, in the protocol's way
    /// (an idle HTTP/1.1 connection after the drain period, a WebSocket with 1001).
    virtual void drain() = 0;
};

}  // namespace corral
