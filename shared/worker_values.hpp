#pragma once
// What the master tells one worker about that worker alone, beside the settings: its
// generation and its request limit. They have their own prefix, CORRAL_WORKER_, because
// CORRAL_<NAME> always means the setting <name>: CORRAL_MAX_REQUESTS is max_requests as
// configured, CORRAL_WORKER_REQUEST_LIMIT is this worker's max_requests plus its draw of
// max_requests_jitter.

#include <cstdint>
#include <map>
#include <string>

namespace corral {

inline constexpr const char* worker_generation_variable = "CORRAL_WORKER_GENERATION";
inline constexpr const char* worker_request_limit_variable = "CORRAL_WORKER_REQUEST_LIMIT";
/// The old name of CORRAL_WORKER_GENERATION, still set by the master for one release.
inline constexpr const char* deprecated_generation_variable = "CORRAL_GENERATION";

struct worker_values {
    int generation = 0;               ///< 1 at start, one more per reload; 0 = not given
    std::uint64_t request_limit = 0;  ///< requests before asking to be recycled; 0 = none
};

/// The variables that carry `values`, as NAME=VALUE entries for a worker's environment.
std::map<std::string, std::string> worker_value_variables(const worker_values& values);

/// Reads CORRAL_WORKER_GENERATION (else CORRAL_GENERATION) and CORRAL_WORKER_REQUEST_LIMIT
/// as settings are read; throws config_error naming the variable when one is invalid.
worker_values read_worker_values(const std::map<std::string, std::string>& environment);

}  // namespace corral
