#include "master/system_limits.hpp"

#include <sys/resource.h>

#include "shared/log.hpp"

namespace corral {

long raise_open_files_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    if (limit.rlim_cur < limit.rlim_max) {
        rlim_t previous = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
            log::warning(
                "setrlimit(RLIMIT_NOFILE) failed while raising the open files limit "
                "from {}",
                previous);
            return static_cast<long>(previous);
        }
    }
    return static_cast<long>(limit.rlim_cur);
}

}  // namespace corral
