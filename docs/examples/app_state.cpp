// docs/examples/app_state.cpp: state shared by the handlers of one worker, opened in
// on_start and closed in on_stop.
#include <fstream>

#include "corral/worker.hpp"

namespace asio = boost::asio;

struct app_state {
    std::ofstream audit;  // stands for a database pool, a cache client, ...
    long visits = 0;
};

int main() {
    app_state state;  // lives until main returns: longer than any handler
    corral::router routes;
    routes.get("/visit", [&state](corral::request& req) -> asio::awaitable<corral::response> {
        // Handlers run on the worker's one loop thread: no lock needed here.
        ++state.visits;
        state.audit << req.client_address << " visited\n";
        co_return corral::response::text("visit " + std::to_string(state.visits) + "\n");
    });
    return corral::run_worker(
        routes, {.on_start = [&state] { state.audit.open("/tmp/app-audit.log", std::ios::app); },
                 .on_stop = [&state] { state.audit.close(); }});
}
