#pragma once
// The demo app: what `corral` runs when no worker command is given.

#include "corral/router.hpp"

namespace corral::demo {

/// GET / (Hello, World!), GET /json, GET /healthz, GET /info, GET /sleep?ms=N (async
/// timer), GET /blocking?ms=N (a blocking sleep on the thread pool), POST /echo; with
/// debug_endpoints on, GET /stall?ms=N (blocks the loop) and GET /cpu?n=N.
router make_routes();

}  // namespace corral::demo
