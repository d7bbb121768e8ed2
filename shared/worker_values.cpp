#include "shared/worker_values.hpp"

#include <limits>

#include "shared/config.hpp"

namespace corral {

std::map<std::string, std::string> worker_value_variables(const worker_values& values) {
    return {{worker_generation_variable, std::to_string(values.generation)},
            {deprecated_generation_variable, std::to_string(values.generation)},
            {worker_request_limit_variable, std::to_string(values.request_limit)}};
}

worker_values read_worker_values(const std::map<std::string, std::string>& environment) {
    constexpr std::int64_t largest_generation = std::numeric_limits<int>::max();
    // TOML's integers are signed 64-bit; the master sends at most 2 * 2147483647.
    constexpr std::int64_t largest_limit = std::numeric_limits<std::int64_t>::max();
    worker_values values;
    auto generation =
        integer_variable(environment, worker_generation_variable, 1, largest_generation);
    if (!generation)
        generation =
            integer_variable(environment, deprecated_generation_variable, 1, largest_generation);
    values.generation = static_cast<int>(generation.value_or(0));
    values.request_limit = static_cast<std::uint64_t>(
        integer_variable(environment, worker_request_limit_variable, 0, largest_limit).value_or(0));
    return values;
}

}  // namespace corral
