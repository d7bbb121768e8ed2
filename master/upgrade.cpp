#include "master/upgrade.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "master/exit_description.hpp"

namespace corral {
namespace {

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    for (auto& text : strings) pointers.push_back(text.data());
    pointers.push_back(nullptr);
    return pointers;
}

void set_close_on_exec(int fd, bool on) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC);
}

}  // namespace

std::string encode_upgrade_state(const upgrade_state& state) {
    boost::json::object listeners, shards;
    for (const auto& [text, kept] : state.listeners) {
        listeners[text] = kept.fd;
        if (!kept.shards.empty()) shards[text] = boost::json::value_from(kept.shards);
    }
    boost::json::array workers;
    for (const auto& w : state.workers)
        workers.push_back({{"pid", w.pid},
                           {"generation", w.generation},
                           {"ready", w.ready},
                           {"age_seconds", w.age_seconds},
                           {"shard", w.shard},
                           {"full", w.full}});
    return boost::json::serialize(
        boost::json::object{{"version", 1},
                            {"last_generation", state.last_generation},
                            {"target_generation", state.target_generation},
                            {"count", state.count},
                            {"listeners", std::move(listeners)},
                            {"shards", std::move(shards)},
                            {"workers", std::move(workers)}});
}

upgrade_state decode_upgrade_state(const std::string& text) {
    try {
        auto document = boost::json::parse(text).as_object();
        if (document.at("version").to_number<int>() != 1)
            throw std::invalid_argument("written by another version");
        upgrade_state state;
        state.last_generation = document.at("last_generation").to_number<int>();
        state.target_generation = document.at("target_generation").to_number<int>();
        state.count = document.at("count").to_number<int>();
        for (const auto& [key, fd] : document.at("listeners").as_object())
            state.listeners[std::string(key)].fd = fd.to_number<int>();
        // Written since accept shards exist; older images have neither "shards" nor "shard".
        if (const auto* shards = document.if_contains("shards"))
            for (const auto& [key, fds] : shards->as_object())
                state.listeners[std::string(key)].shards =
                    boost::json::value_to<std::vector<int>>(fds);
        for (const auto& value : document.at("workers").as_array()) {
            const auto& w = value.as_object();
            state.workers.push_back({w.at("pid").to_number<pid_t>(),
                                     w.at("generation").to_number<int>(), w.at("ready").as_bool(),
                                     w.at("age_seconds").to_number<double>(),
                                     w.contains("shard") ? w.at("shard").to_number<int>() : 0,
                                     w.contains("full") && w.at("full").as_bool()});
        }
        return state;
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string(upgrade_state_variable) +
                                    " is unreadable: " + e.what());
    }
}

std::string check_new_binary(const std::filesystem::path& executable,
                             const std::vector<std::string>& arguments) {
    std::vector<std::string> argv{executable.string(), "--check-config"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    auto pointers = c_strings(argv);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int error =
        ::posix_spawn(&pid, executable.c_str(), &actions, nullptr, pointers.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (error != 0) return "cannot run " + executable.string() + ": " + std::strerror(error);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    return executable.string() + " --check-config " + describe_exit(status, false);
}

std::string exec_in_place(const std::filesystem::path& executable,
                          const std::vector<std::string>& arguments,
                          const std::vector<std::string>& environment,
                          const std::vector<int>& keep_fds) {
    std::vector<std::string> argv{executable.string()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    std::vector<std::string> env = environment;
    auto argv_pointers = c_strings(argv);
    auto env_pointers = c_strings(env);
    ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    for (int fd : keep_fds) set_close_on_exec(fd, false);
    ::execve(executable.c_str(), argv_pointers.data(), env_pointers.data());
    int error = errno;
    for (int fd : keep_fds) set_close_on_exec(fd, true);
    return "execve() of " + executable.string() + " failed: " + std::strerror(error);
}

}  // namespace corral
