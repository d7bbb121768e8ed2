// Boost.Process v2's implementation, compiled once (BOOST_PROCESS_V2_SEPARATE_COMPILATION).
// 1.81's launcher calls asio::detail::throw_error without including it.
#include <boost/asio/detail/throw_error.hpp>
#include <boost/process/v2/src.hpp>
