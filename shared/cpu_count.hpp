#pragma once
// How many CPUs this process may actually use: `workers = "auto"`.

namespace corral {

/// The CPUs in this process's affinity mask, lowered to the cgroup v2 CPU quota
/// (cpu.max) when one is set, rounded up; at least 1.
int available_cpus();

}  // namespace corral
