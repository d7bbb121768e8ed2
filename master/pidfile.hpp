#pragma once
// The pidfile: written after binding, refused when it names another live process,
// removed at a clean stop.

#include <sys/types.h>

#include <string>

namespace corral {

class pidfile {
  public:
    /// Writes this process's pid to `path` (atomically, via a temporary file and rename).
    /// A file naming a dead process, or this one (a container restarted with the same pid),
    /// is replaced; one naming another live process is an error (std::runtime_error).
    /// `predecessor`: a live process the file may name and that this one replaces (the
    /// previous master of a binary upgrade).
    explicit pidfile(const std::string& path, pid_t predecessor = 0);
    /// Removes the file if it still holds this process's pid.
    ~pidfile();
    /// Leaves the file to a new master (binary upgrade): the destructor will not remove it.
    void release() { path_.clear(); }
    pidfile(const pidfile&) = delete;
    pidfile& operator=(const pidfile&) = delete;

    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

/// The pid written in a pidfile, or 0 when it is missing or unreadable.
int read_pidfile(const std::string& path);

}  // namespace corral
