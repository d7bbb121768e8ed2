#include "master/pidfile.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace corral {
namespace {

bool process_exists(int pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

[[noreturn]] void fail(const char* call, const std::string& path, int error) {
    throw std::system_error(error, std::generic_category(),
                            std::string(call) + " failed while writing pidfile " + path);
}

/// Writes `text` to a new file of a random name beside `path` (mkostemp: O_EXCL, so a
/// file or symlink someone put there in advance is never written through), then renames
/// it over `path` (which replaces a symlink there rather than following it).
void write_atomically(const std::string& path, const std::string& text) {
    std::string temporary = path + ".XXXXXX";
    int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
    if (fd < 0) fail("mkostemp()", path, errno);
    mode_t mask = ::umask(0);
    ::umask(mask);
    bool written = ::fchmod(fd, 0666 & ~mask) == 0 &&
                   ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    int error = errno;
    if (::close(fd) != 0 && written) {
        written = false;
        error = errno;
    }
    if (written && ::rename(temporary.c_str(), path.c_str()) == 0) return;
    if (written) error = errno;
    ::unlink(temporary.c_str());
    fail(written ? "rename()" : "write()", path, error);
}

}  // namespace

int read_pidfile(const std::string& path) {
    std::ifstream file(path);
    int pid = 0;
    if (!(file >> pid) || pid <= 0) return 0;
    return pid;
}

pidfile::pidfile(const std::string& path, pid_t predecessor)
    : path_(std::filesystem::absolute(path).string()) {  // a later chdir must not move it
    int existing = read_pidfile(path_);
    if (existing > 0 && existing != ::getpid() && existing != predecessor &&
        process_exists(existing))
        throw std::runtime_error("pidfile " + path_ + " names process " + std::to_string(existing) +
                                 ", which is running: is corral already running? (if not, "
                                 "remove the file)");
    write_atomically(path_, std::to_string(::getpid()) + "\n");
}

pidfile::~pidfile() {
    if (!path_.empty() && read_pidfile(path_) == ::getpid()) ::unlink(path_.c_str());
}

}  // namespace corral
