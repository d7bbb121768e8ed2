#pragma once
// Checking a WebSocket upgrade request (RFC 6455 4.2.1) before anything is upgraded, so a
// malformed one gets a plain HTTP answer that says what is wrong.

#include <string>

#include "corral/request.hpp"
#include "corral/websocket.hpp"

namespace corral {

/// Whether the request asks to switch to WebSocket (Upgrade: websocket).
bool asks_for_websocket(const request& req);

struct upgrade_verdict {
    int status = 101;         ///< 101 to upgrade; else 400, 403 or 426 to answer and close
    std::string reason;       ///< why not, for the log and the response body
    std::string subprotocol;  ///< the one chosen, "" for none
};

/// Method, version, Connection, Sec-WebSocket-Key and -Version, no body, the endpoint's
/// accept hook, and the subprotocol choice.
upgrade_verdict check_websocket_upgrade(const request& req, const websocket_options& options);

}  // namespace corral
