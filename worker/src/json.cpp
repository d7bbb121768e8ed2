#include <boost/json/serialize.hpp>

#include "corral/json.hpp"

namespace corral {

response json(const boost::json::value& value, int status) {
    return response::json_text(boost::json::serialize(value), status);
}

}  // namespace corral
