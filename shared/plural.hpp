#pragma once
// "1 worker", "2 workers": counts in log lines and command output read as English.

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace corral {

inline std::string count_of(long long n, std::string_view noun) {
    return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

}  // namespace corral
