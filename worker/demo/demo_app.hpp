#pragma once
// The demo app: what `corral` runs when no worker command is given.

#include "corral/router.hpp"

namespace corral::demo {

/// GET / (Hello, World!), GET /json, GET /healthz, GET /info, GET /sleep?ms=N (async
/// timer), GET /blocking?ms=N (a blocking sleep on the thread pool), GET /stream, GET
/// /events (server-sent events), POST /echo, POST /background?ms=N (a background task),
/// WebSocket /ws/echo; with debug_endpoints on, GET /stall?ms=N (blocks the loop) and
/// GET /cpu?n=N.
router make_routes();

}  // namespace corral::demo
