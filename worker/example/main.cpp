// example-app: a small notes API on the corral worker SDK, to copy as a start.
//
//   cmake --build build && build/bin/corral -w 2 -b 127.0.0.1:8000 -- build/bin/example-app
//   curl -d '{"text":"buy milk"}' localhost:8000/notes    -> 201 {"id":1,"text":"buy milk"}
//   curl localhost:8000/notes/1                            -> {"id":1,"text":"buy milk"}
//   curl localhost:8000/notes                              -> [{"id":1,...}]
//   curl -X DELETE localhost:8000/notes/1                  -> 204
//   curl localhost:8000/stats                              -> word counts, computed off the loop
//   python3 -m websockets ws://localhost:8000/notes/ws     -> each line sent becomes a note
//
// Each worker process has its own store: a real app keeps its data in a database that all
// workers share (open the pool in on_start, close it in on_stop). Its tests are
// notes_app_test.cpp.

#include "corral/log.hpp"
#include "corral/worker.hpp"
#include "notes_app.hpp"

int main() {
    notes::note_store store;  // outlives run_worker(): the handlers' references stay valid
    auto routes = notes::make_routes(store);
    return corral::run_worker(routes, {.on_start = [] { corral::log::info("Notes store open"); },
                                       .on_stop = [] { corral::log::info("Notes store closed"); }});
}
