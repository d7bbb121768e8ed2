#include "master/pidfile.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace corral {
namespace {

bool process_exists(int pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

int read_pidfile(const std::string& path) {
    std::ifstream file(path);
    int pid = 0;
    if (!(file >> pid) || pid <= 0) return 0;
    return pid;
}

pidfile::pidfile(std::string path, pid_t predecessor) : path_(std::move(path)) {
    int existing = read_pidfile(path_);
    if (existing > 0 && existing != ::getpid() && existing != predecessor &&
        process_exists(existing))
        throw std::runtime_error("pidfile " + path_ + " names process " + std::to_string(existing) +
                                 ", which is running: is corral already running? (if not, "
                                 "remove the file)");
    std::string temporary = path_ + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream file(temporary, std::ios::trunc);
        file << ::getpid() << "\n";
        if (!file.flush())
            throw std::system_error(errno, std::generic_category(),
                                    "write() failed while creating pidfile " + temporary);
    }
    if (std::rename(temporary.c_str(), path_.c_str()) != 0) {
        int error = errno;
        std::remove(temporary.c_str());
        throw std::system_error(error, std::generic_category(),
                                "rename() failed while creating pidfile " + path_);
    }
}

pidfile::~pidfile() {
    if (!path_.empty() && read_pidfile(path_) == ::getpid()) ::unlink(path_.c_str());
}

}  // namespace corral
