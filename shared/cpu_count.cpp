#include "shared/cpu_count.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>

namespace corral {
namespace {

int affinity_cpus() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

/// The quota of this process's cgroup (v2) in CPUs, or 0 when unlimited or unknown.
double cgroup_quota_cpus() {
    std::ifstream membership("/proc/self/cgroup");
    std::string line, group;
    while (std::getline(membership, line))
        if (line.starts_with("0::")) group = line.substr(3);
    if (group.empty()) return 0;
    std::ifstream limit("/sys/fs/cgroup" + group + "/cpu.max");
    std::string quota;
    double period = 0;
    if (!(limit >> quota >> period) || quota == "max" || period <= 0) return 0;
    return std::stod(quota) / period;
}

}  // namespace

int available_cpus() {
    int cpus = affinity_cpus();
    if (double quota = cgroup_quota_cpus(); quota > 0)
        cpus = std::min(cpus, static_cast<int>(std::ceil(quota)));
    return std::max(cpus, 1);
}

}  // namespace corral
