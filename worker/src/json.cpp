// Boost.JSON's implementation is compiled here, once.
#include <boost/json/src.hpp>

#include "corral/json.hpp"

namespace corral {

response json(const boost::json::value& value, int status) {
    return response::json_text(boost::json::serialize(value), status);
}

}  // namespace corral
