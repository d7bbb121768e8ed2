#pragma once
// The notes app's routes and state, apart from main() so its tests can call them in
// process (corral::test_client) without a master or sockets.

#include <map>
#include <string>

#include "corral/router.hpp"

namespace notes {

/// The app's state: one per worker process, made by main() before the worker starts and
/// destroyed after it returns, so every handler may hold a reference to it. Touched only
/// on the worker's event loop (handlers run there); offloaded work gets a copy.
struct note_store {
    std::map<long, std::string> notes;
    long next_id = 1;
    long indexed = 0;  ///< notes the background indexer has seen
};

/// GET/POST /notes, GET/DELETE /notes/{id}, GET /stats, WebSocket /notes/ws.
corral::router make_routes(note_store& store);

}  // namespace notes
