// corral-worker: the demo app on the worker SDK.

#include "corral/worker.hpp"
#include "demo_app.hpp"

int main() {
    static const auto routes = corral::demo::make_routes();
    return corral::run_worker(routes);
}
