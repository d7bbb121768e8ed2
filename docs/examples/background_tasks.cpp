// docs/examples/background_tasks.cpp: answer first, then do the slow part.
#include <thread>

#include "corral/offload.hpp"
#include "corral/worker.hpp"

namespace asio = boost::asio;

/// Stands for a blocking client library (SMTP, a payment API).
void send_welcome_email(const std::string& address) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (void)address;
}

asio::awaitable<corral::response> sign_up(corral::request& req) {
    std::string address = req.body;
    auto email = [address]() -> asio::awaitable<void> {
        auto send = [address] { send_welcome_email(address); };
        co_await corral::offload(std::move(send));  // blocking: on the thread pool
    };
    co_return corral::response::text("welcome\n", 201).add_background_task(std::move(email));
}

int main() {
    corral::router routes;
    routes.post("/signup", sign_up);
    return corral::run_worker(routes);
}
