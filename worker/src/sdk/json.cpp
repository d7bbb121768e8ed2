#include "corral/json.hpp"

#include <boost/json/serialize.hpp>

namespace corral {

response json(const boost::json::value& value, int status) {
    return response::json_text(boost::json::serialize(value), status);
}

}  // namespace corral
