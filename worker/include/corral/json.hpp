#pragma once
// JSON responses with Boost.JSON.

#include <boost/json/value.hpp>

#include "corral/response.hpp"

namespace corral {

/// An application/json response holding `value`.
response json(const boost::json::value& value, int status = 200);

}  // namespace corral
