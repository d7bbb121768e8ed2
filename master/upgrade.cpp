#include "master/upgrade.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "master/exit_description.hpp"

namespace corral {
namespace {

namespace json = boost::json;

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    for (auto& text : strings) pointers.push_back(text.data());
    pointers.push_back(nullptr);
    return pointers;
}

std::string text_of(const json::object& document, const char* key) {
    const auto* value = document.if_contains(key);
    return value && value->is_string() ? std::string(value->as_string()) : "";
}

int number_of(const json::object& document, const char* key, int otherwise = -1) {
    const auto* value = document.if_contains(key);
    return value ? value->to_number<int>() : otherwise;
}

/// Version 1: {"listeners": {TEXT: FD}, "shards": {TEXT: [FD...]}, "workers": [...]}.
void decode_version_1(const json::object& document, upgrade_state& state) {
    for (const auto& [key, fd] : document.at("listeners").as_object()) {
        handed_listener item{std::string(key), "", fd.to_number<int>()};
        if (const auto* shards = document.if_contains("shards"))
            if (const auto* fds = shards->as_object().if_contains(key))
                item.shards = json::value_to<std::vector<int>>(*fds);
        state.listeners.push_back(std::move(item));
    }
    for (const auto& value : document.at("workers").as_array()) {
        const auto& w = value.as_object();
        state.workers.push_back({w.at("pid").to_number<pid_t>(),
                                 w.at("generation").to_number<int>(), w.at("ready").as_bool(),
                                 w.at("age_seconds").to_number<double>(),
                                 w.contains("shard") ? w.at("shard").to_number<int>() : 0,
                                 w.contains("full") && w.at("full").as_bool()});
    }
}

void decode_version_2(const json::object& document, upgrade_state& state) {
    for (const auto& value : document.at("listeners").as_array()) {
        const auto& item = value.as_object();
        state.listeners.push_back({text_of(item, "address"), text_of(item, "name"),
                                   item.at("fd").to_number<int>(),
                                   json::value_to<std::vector<int>>(item.at("shards")),
                                   item.at("from_service_manager").as_bool()});
    }
    state.configured_workers = number_of(document, "configured_workers", 0);
    state.control_path = text_of(document, "control_path");
    state.control_fd = number_of(document, "control_fd");
    state.metrics_address = text_of(document, "metrics_address");
    state.metrics_fd = number_of(document, "metrics_fd");
    state.handover_fd = document.at("handover_fd").to_number<int>();
    state.previous_master = document.at("previous_master").to_number<pid_t>();
    state.service_notify_socket = text_of(document, "service_notify_socket");
    state.service_watchdog_usec = text_of(document, "service_watchdog_usec");
}

}  // namespace

std::string encode_upgrade_state(const upgrade_state& state) {
    json::array listeners;
    for (const auto& item : state.listeners)
        listeners.push_back({{"address", item.address},
                             {"name", item.name},
                             {"fd", item.fd},
                             {"shards", json::value_from(item.shards)},
                             {"from_service_manager", item.from_service_manager}});
    return json::serialize(json::object{{"version", 2},
                                        {"last_generation", state.last_generation},
                                        {"target_generation", state.target_generation},
                                        {"count", state.count},
                                        {"configured_workers", state.configured_workers},
                                        {"listeners", std::move(listeners)},
                                        {"control_path", state.control_path},
                                        {"control_fd", state.control_fd},
                                        {"metrics_address", state.metrics_address},
                                        {"metrics_fd", state.metrics_fd},
                                        {"handover_fd", state.handover_fd},
                                        {"previous_master", state.previous_master},
                                        {"service_notify_socket", state.service_notify_socket},
                                        {"service_watchdog_usec", state.service_watchdog_usec}});
}

upgrade_state decode_upgrade_state(const std::string& text) {
    try {
        auto document = json::parse(text).as_object();
        upgrade_state state;
        state.version = document.at("version").to_number<int>();
        if (state.version != 1 && state.version != 2)
            throw std::invalid_argument("written by another version");
        state.last_generation = document.at("last_generation").to_number<int>();
        state.target_generation = document.at("target_generation").to_number<int>();
        state.count = document.at("count").to_number<int>();
        if (state.version == 1)
            decode_version_1(document, state);
        else
            decode_version_2(document, state);
        return state;
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string(upgrade_state_variable) +
                                    " is unreadable: " + e.what());
    }
}

std::map<std::string, inherited_listener> inherited_listeners(const upgrade_state& state) {
    std::map<std::string, inherited_listener> by_text;
    for (const auto& item : state.listeners)
        if (!item.from_service_manager) by_text[item.address] = {item.fd, item.shards};
    return by_text;
}

pid_t start_binary_check(const std::filesystem::path& executable,
                         const std::vector<std::string>& arguments, const std::string& directory) {
    std::vector<std::string> argv{executable.string(), "--check-config"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    auto pointers = c_strings(argv);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    ::posix_spawn_file_actions_addchdir_np(&actions, directory.c_str());
    pid_t pid = 0;
    int error =
        ::posix_spawn(&pid, executable.c_str(), &actions, nullptr, pointers.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (error != 0)
        throw std::system_error(error, std::generic_category(),
                                "cannot run " + executable.string());
    return pid;
}

std::string binary_check_problem(const std::filesystem::path& executable, int wait_status) {
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) return "";
    return executable.string() + " --check-config " + describe_exit(wait_status, false);
}

pid_t spawn_new_master(const std::filesystem::path& executable,
                       const std::vector<std::string>& arguments,
                       const std::vector<std::string>& environment, const std::vector<int>& fds,
                       const std::string& directory) {
    int count = static_cast<int>(fds.size());
    // Copies above the target range first, so no dup2 overwrites a source still needed.
    std::vector<int> sources;
    for (int fd : fds) {
        int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3 + count);
        if (copy < 0) {
            int error = errno;
            for (int made : sources) ::close(made);
            throw std::system_error(error, std::generic_category(),
                                    "fcntl(F_DUPFD) failed while starting the new master");
        }
        sources.push_back(copy);
    }
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    for (int i = 0; i < count; ++i)
        ::posix_spawn_file_actions_adddup2(&actions, sources[static_cast<std::size_t>(i)], 3 + i);
    ::posix_spawn_file_actions_addclosefrom_np(&actions, 3 + count);
    // Where this master was started: its command line's relative paths mean the same there.
    ::posix_spawn_file_actions_addchdir_np(&actions, directory.c_str());
    posix_spawnattr_t attributes;
    ::posix_spawnattr_init(&attributes);
    sigset_t none;
    ::sigemptyset(&none);
    ::posix_spawnattr_setsigmask(&attributes, &none);
    ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
    std::vector<std::string> argv{executable.string()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    std::vector<std::string> env = environment;
    auto argv_pointers = c_strings(argv);
    auto env_pointers = c_strings(env);
    pid_t pid = 0;
    int error = ::posix_spawn(&pid, executable.c_str(), &actions, &attributes, argv_pointers.data(),
                              env_pointers.data());
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attributes);
    for (int copy : sources) ::close(copy);
    if (error != 0)
        throw std::system_error(
            error, std::generic_category(),
            "posix_spawn() failed while starting the new master " + executable.string());
    return pid;
}

}  // namespace corral
