#include "master/system_limits.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include "shared/log.hpp"

namespace corral {
namespace {

using namespace std::chrono_literals;

/// How long a count of open descriptors is trusted (plus what was taken since).
constexpr auto recount_interval = 100ms;

}  // namespace

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

int open_descriptor_count() {
    DIR* directory = ::opendir("/proc/self/fd");
    if (!directory) return -1;
    int count = -1;  // the directory's own descriptor is listed too
    while (const dirent* entry = ::readdir(directory))
        if (entry->d_name[0] != '.') ++count;
    ::closedir(directory);
    return count;
}

bool descriptor_budget::take(int keep_free) {
    auto now = std::chrono::steady_clock::now();
    if (now - counted_at_ >= recount_interval) {
        rlimit limit{};
        limit_ = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                     ? static_cast<long>(limit.rlim_cur)
                     : 1L << 30;
        in_use_ = open_descriptor_count();
        taken_since_count_ = 0;
        counted_at_ = now;
    }
    if (in_use_ < 0) return true;  // no /proc: accept() reports EMFILE, and the loop backs off
    if (in_use() + 1 + reserve_() + keep_free > limit_) return false;
    ++taken_since_count_;
    return true;
}

}  // namespace corral
