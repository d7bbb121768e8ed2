// Boost.JSON's implementation, compiled once for every target.
#include <boost/json/src.hpp>
