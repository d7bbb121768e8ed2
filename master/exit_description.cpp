#include "master/exit_description.hpp"

#include <fmt/format.h>
#include <string.h>
#include <sys/wait.h>

#include <csignal>

namespace corral {

std::string signal_name(int signal_number) {
    if (const char* abbreviation = ::sigabbrev_np(signal_number))
        return std::string("SIG") + abbreviation;
    return fmt::format("signal {}", signal_number);
}

std::string describe_exit(int wait_status, bool expected) {
    if (WIFEXITED(wait_status)) return fmt::format("exited with code {}", WEXITSTATUS(wait_status));
    if (!WIFSIGNALED(wait_status)) return fmt::format("ended with wait status {}", wait_status);
    int signal_number = WTERMSIG(wait_status);
    auto text =
        fmt::format("was killed by signal {} ({})", signal_number, signal_name(signal_number));
    if (WCOREDUMP(wait_status)) text += " and dumped core";
    if (signal_number == SIGKILL && !expected) text += "! Perhaps out of memory?";
    return text;
}

}  // namespace corral
