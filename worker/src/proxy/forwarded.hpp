#pragma once
// Who the client is and which scheme it used, when a trusted proxy says so in
// X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Ssl or Forwarded (RFC 7239). From any
// other peer these headers are ignored: they are the client's word, not the proxy's.

#include <string>
#include <string_view>

#include "corral/request.hpp"
#include "shared/address_list.hpp"

namespace corral {

struct forwarded_origin {
    std::string client;  ///< the client's address
    std::string scheme;  ///< "http" or "https"
    std::string error;   ///< the headers contradict each other: answer 400
};

/// The client and scheme for a request from `peer`, reading the forwarding headers only
/// when `peer_trusted` (the peer is in forwarded_allow_ips, known per connection).
/// X-Forwarded-For is read right to left, skipping trusted proxies: the first other
/// address is the client.
forwarded_origin resolve_forwarded(const request::field_list& headers, std::string_view peer,
                                   bool peer_trusted, const address_list& trusted);

}  // namespace corral
