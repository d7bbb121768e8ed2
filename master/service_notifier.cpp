#include "master/service_notifier.hpp"

#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

namespace corral {
namespace {

std::string lookup(const std::map<std::string, std::string>& environment, const char* name) {
    auto found = environment.find(name);
    return found == environment.end() ? "" : found->second;
}

long long monotonic_usec() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<long long>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
}

}  // namespace

service_notifier::service_notifier(const std::map<std::string, std::string>& environment)
    : notifier_(lookup(environment, "NOTIFY_SOCKET")) {
    auto usec = lookup(environment, "WATCHDOG_USEC");
    auto pid = lookup(environment, "WATCHDOG_PID");
    if (!usec.empty() && (pid.empty() || std::atol(pid.c_str()) == ::getpid()) &&
        std::atoll(usec.c_str()) > 0)
        watchdog_ = std::chrono::microseconds(std::atoll(usec.c_str()));
}

void service_notifier::ready(const std::string& status) {
    announced_ready_ = true;
    last_status_ = status;
    notifier_.send("READY=1\nSTATUS=" + status);
}

void service_notifier::reloading() {
    notifier_.send(
        fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading", monotonic_usec()));
}

void service_notifier::stopping(std::chrono::microseconds drain_time) {
    notifier_.send(
        fmt::format("STOPPING=1\nEXTEND_TIMEOUT_USEC={}\nSTATUS=stopping", drain_time.count()));
}

void service_notifier::status(const std::string& line) {
    if (line == last_status_) return;
    last_status_ = line;
    notifier_.send("STATUS=" + line);
}

void service_notifier::watchdog_ping() { notifier_.send("WATCHDOG=1"); }

void service_notifier::watchdog_ping_when_due(std::chrono::steady_clock::time_point now) {
    if (!watchdog_ || now - last_ping_ < *watchdog_ / 2) return;
    watchdog_ping();
    last_ping_ = now;
}

void service_notifier::main_pid(pid_t pid) { notifier_.send(fmt::format("MAINPID={}", pid)); }

}  // namespace corral
