#pragma once
// The PROXY protocol header that HAProxy (`send-proxy`, `send-proxy-v2`) and nginx
// (`proxy_protocol on`) put before the first request: versions 1 (text) and 2 (binary).
// Pure: bytes in, a verdict out.

#include <cstddef>
#include <string>
#include <string_view>

namespace corral {

struct proxy_header {
    enum class kind {
        incomplete,  ///< could still become a header: read more
        absent,      ///< the bytes are not a PROXY header (plain HTTP)
        parsed,      ///< a header of `size` bytes
        invalid,     ///< a malformed header: refuse the connection
    };
    kind outcome = kind::incomplete;
    std::size_t size = 0;
    std::string source;  ///< the client's address as the proxy saw it; "" for LOCAL/UNKNOWN
    std::string reason;  ///< invalid: what is wrong
};

/// Looks for a PROXY header at the start of a connection's first bytes.
proxy_header parse_proxy_header(std::string_view bytes);

}  // namespace corral
