#pragma once
// Which thread pool offload() runs on: the worker process's, or a test_client's.

#include <boost/asio/thread_pool.hpp>

namespace corral {

/// Makes `pool` the one thread_pool_executor() returns (nullptr: none); returns the
/// previous one.
boost::asio::thread_pool* use_thread_pool(boost::asio::thread_pool* pool);

}  // namespace corral
