#include "master/process_memory.hpp"

#include <fstream>
#include <string>

namespace corral {

std::optional<std::uint64_t> proportional_set_size(pid_t pid) {
    std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::string key;
    std::uint64_t kilobytes = 0;
    std::string unit;
    while (rollup >> key) {
        if (key == "Pss:" && rollup >> kilobytes >> unit) return kilobytes * 1024;
        rollup.ignore(1 << 12, '\n');
    }
    return std::nullopt;
}

}  // namespace corral
