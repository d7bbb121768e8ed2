#pragma once
// Blocking code off the event loop: `co_await offload(fn)` runs fn on the worker's thread
// pool (`threads` threads) and resumes the handler on the loop with its result; an
// exception thrown by fn is rethrown in the handler (and becomes a 500 if not caught).
// `blocking(fn)` makes a route handler of a plain function that way. This is FastAPI's
// run_in_threadpool made explicit: use it for calls that block (a synchronous database
// driver, file I/O, CPU work over a few milliseconds); keep everything else a coroutine.
//
// With g++ 12, name the function first (`auto work = [..] {..}; co_await
// offload(std::move(work));`): a temporary with a destructor inside a co_await expression
// is destroyed twice by that compiler.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

#include "corral/request.hpp"
#include "corral/response.hpp"

namespace corral {

/// The worker's thread pool: process-wide, as a worker process runs one server. Set while
/// run_worker() or a test_client runs (use_thread_pool()); otherwise this throws
/// std::logic_error, so offload() outside them fails loudly rather than running inline.
boost::asio::any_io_executor thread_pool_executor();

template <typename Function>
boost::asio::awaitable<std::invoke_result_t<Function&>> offload(Function fn) {
    using result_type = std::invoke_result_t<Function&>;
    // A coroutine spawned on the pool runs there; awaiting it resumes this one on its own
    // executor, the event loop, with the result or the exception. The executor and the
    // task are named: g++ 12 destroys temporaries of a co_await expression twice.
    auto pool = thread_pool_executor();
    auto task = [&fn]() -> boost::asio::awaitable<result_type> { co_return fn(); };
    co_return co_await boost::asio::co_spawn(pool, std::move(task), boost::asio::use_awaitable);
}

/// A route handler that runs `fn(request&) -> response` on the thread pool.
template <typename Function>
auto blocking(Function fn) {
    return [fn = std::move(fn)](request& req) -> boost::asio::awaitable<response> {
        auto call = [&fn, &req] { return fn(req); };
        co_return co_await offload(std::move(call));
    };
}

}  // namespace corral
