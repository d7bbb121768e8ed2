#include "master/control_client.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>

#include "master/control_server.hpp"
#include "master/control_socket_location.hpp"
#include "master/pidfile.hpp"
#include "master/status_report.hpp"
#include "shared/exit_codes.hpp"
#include "shared/plural.hpp"

namespace corral {
namespace {

constexpr std::array control_commands{"status", "reload",      "scale",
                                      "stop",   "reopen-logs", "upgrade"};

struct options {
    std::string command;
    std::string control, pidfile, config;
    bool json = false, wait = false, quick = false;
    std::string workers;
};

/// How to reach the master: its control socket, or its pid for signals.
struct master_address {
    std::string socket;
    int pid = 0;
};

struct control_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// control_socket and pidfile from a config file, even when the file is otherwise invalid
/// (the running master may predate the mistake).
std::pair<std::string, std::string> socket_and_pidfile_from(const std::string& path) {
    try {
        auto document = toml::parse_file(path);
        return {document["control_socket"].value_or(std::string()),
                document["pidfile"].value_or(std::string())};
    } catch (const toml::parse_error&) {
    }
    std::ifstream file(path);
    std::string line, control, pidfile;
    std::regex assignment(R"(^\s*(control_socket|pidfile)\s*=\s*["']([^"']*)["'])");
    std::smatch match;
    while (std::getline(file, line))
        if (std::regex_search(line, match, assignment))
            (match[1] == "control_socket" ? control : pidfile) = match[2];
    return {control, pidfile};
}

master_address from_pidfile(const std::string& pidfile, const std::string& control) {
    master_address address;
    std::string socket = control.empty() ? pidfile + ".sock" : control;
    if (std::filesystem::exists(socket)) address.socket = socket;
    address.pid = read_pidfile(pidfile);
    return address;
}

/// The one master of this user that answers in the user's runtime directory, where a
/// master whose settings name no control socket makes it.
master_address search_user_runtime_directory() {
    auto directory = user_runtime_directory(current_environment());
    std::vector<std::string> answering;
    if (!directory.empty())
        for (const auto& path : default_control_sockets(directory))
            if (control_socket_answers(path)) answering.push_back(path);
    if (answering.size() == 1) return {answering.front(), 0};
    if (answering.size() > 1)
        throw CLI::ValidationError(
            fmt::format("{} masters answer in {} ({}): choose one with --control SOCKET",
                        answering.size(), directory, fmt::join(answering, ", ")));
    throw CLI::ValidationError(fmt::format(
        "cannot find the master: no control socket answers in {}; give --control SOCKET, "
        "--pid FILE or -c CONFIG (with pidfile or control_socket set)",
        directory.empty() ? "this user's runtime directory (there is none: $XDG_RUNTIME_DIR "
                            "is not set and /run/user/UID does not exist)"
                          : directory));
}

master_address find_master(const options& given) {
    if (!given.control.empty()) return {given.control, 0};
    if (!given.pidfile.empty()) return from_pidfile(given.pidfile, "");
    const char* runtime = std::getenv("RUNTIME_DIRECTORY");
    std::string config = !given.config.empty()                    ? given.config
                         : std::filesystem::exists("corral.toml") ? "corral.toml"
                                                                  : "";
    if (!config.empty()) {
        auto [control, pidfile] = socket_and_pidfile_from(config);
        auto socket = control_socket_path(control, pidfile, runtime ? runtime : "");
        if (!pidfile.empty()) return from_pidfile(pidfile, socket);
        if (!socket.empty()) return {socket, 0};
    }
    if (runtime) return {std::string(runtime) + "/control.sock", 0};
    return search_user_runtime_directory();
}

/// How long a command that the master answers at once may wait for its answer; a master
/// that does not answer within it is stuck, and saying so beats hanging.
constexpr int answer_timeout_seconds = 10;

/// Whether the master answers `given` only once something has happened (a reload with
/// --wait, an upgrade): those are bounded by the master's own deadlines instead.
bool answer_waits(const options& given) {
    return (given.command == "reload" && given.wait) || given.command == "upgrade";
}

boost::json::object ask(const std::string& socket_path, const boost::json::object& request,
                        int timeout_seconds) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && timeout_seconds > 0) {
        timeval timeout{timeout_seconds, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        std::string why = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        throw control_failure("connect() failed while reaching the master at " + socket_path +
                              ": " + why);
    }
    std::string line = boost::json::serialize(request) + "\n", answer;
    bool sent =
        ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
    char buffer[4096];
    ssize_t got = -1;
    while (sent && (got = ::read(fd, buffer, sizeof buffer)) > 0)
        answer.append(buffer, static_cast<std::size_t>(got));
    bool timed_out = got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);  // SO_RCVTIMEO
    ::close(fd);
    if (timed_out)
        throw control_failure(fmt::format("the master at {} did not answer within {} s",
                                          socket_path, timeout_seconds));
    boost::system::error_code ec;
    auto reply = boost::json::parse(answer, ec);
    if (ec || !reply.is_object())
        throw control_failure("the master at " + socket_path + " sent no answer");
    return reply.as_object();
}

/// The signal that does the same as the command, when there is one.
std::optional<int> signal_for(const options& given) {
    if (given.command == "reload" && !given.wait) return SIGHUP;
    if (given.command == "stop") return given.quick ? SIGQUIT : SIGTERM;
    if (given.command == "reopen-logs") return SIGUSR1;
    return std::nullopt;  // upgrade too: only the socket tells whether it completed
}

int signal_master(const options& given, int pid) {
    auto signal_number = signal_for(given);
    if (given.command == "upgrade")
        throw control_failure(fmt::format(
            "`corral upgrade` needs the control socket, which was not found: only the master's "
            "answer tells whether the upgrade completed (to start one without waiting for it, "
            "send USR2: kill -USR2 {})",
            pid));
    if (!signal_number)
        throw control_failure("`corral " + given.command +
                              "` needs the control socket, which "
                              "was not found");
    if (::kill(pid, *signal_number) != 0)
        throw control_failure("kill() failed while signalling master " + std::to_string(pid) +
                              ": " + std::strerror(errno));
    std::cout << given.command << ": signal sent to master " << pid << "\n";
    return exit_code::clean_stop;
}

boost::json::object request_for(const options& given) {
    boost::json::object request{{"command", given.command}};
    if (given.wait) request["wait"] = true;
    if (given.quick) request["quick"] = true;
    if (given.command == "scale") request["workers"] = given.workers;
    return request;
}

int report(const options& given, const boost::json::object& reply) {
    bool ok = reply.contains("ok") && reply.at("ok").is_bool() && reply.at("ok").as_bool();
    if (!ok) {
        const auto* error = reply.if_contains("error");
        std::cerr << "corral " << given.command << ": "
                  << (error && error->is_string() ? error->as_string().c_str() : "failed") << "\n";
        return exit_code::runtime_failure;
    }
    if (given.json)
        std::cout << boost::json::serialize(reply) << "\n";
    else if (given.command == "status")
        std::cout << format_status(reply);
    else if (given.command == "scale")
        std::cout << "scale: " << count_of(reply.at("workers").to_number<long>(), "worker") << "\n";
    else if (given.command == "upgrade")
        std::cout << "upgrade: the new master, pid " << reply.at("pid").to_number<long>()
                  << ", serves generation " << reply.at("generation").to_number<long>() << "\n";
    else if (given.command == "reload" && given.wait)
        std::cout << "reload: generation " << reply.at("generation").to_number<long>()
                  << " serves\n";
    else
        std::cout << given.command << ": done\n";
    return exit_code::clean_stop;
}

options parse(int argc, const char* const* argv) {
    options given;
    given.command = argv[1];
    CLI::App app{"corral " + given.command + ": a control command for a running master",
                 "corral " + given.command};
    app.add_option("--control", given.control, "The master's control socket");
    app.add_option("-p,--pid", given.pidfile, "The master's pidfile (signals when no socket)");
    app.add_option("-c,--config", given.config, "Find the socket from this config file");
    if (given.command == "status") app.add_flag("--json", given.json, "Print JSON");
    if (given.command == "reload")
        app.add_flag("--wait", given.wait, "Return when the new generation serves; exit 1 if not");
    if (given.command == "stop") app.add_flag("--quick", given.quick, "Quick stop (QUIT)");
    if (given.command == "scale")
        app.add_option("workers", given.workers, "N, +N or -N workers")->required();
    app.parse(argc - 1, argv + 1);
    return given;
}

}  // namespace

bool is_control_command(int argc, const char* const* argv) {
    return argc > 1 && std::find(control_commands.begin(), control_commands.end(),
                                 std::string_view(argv[1])) != control_commands.end();
}

int run_control_command(int argc, const char* const* argv) {
    options given;
    master_address master;
    try {
        given = parse(argc, argv);
        master = find_master(given);
    } catch (const CLI::CallForHelp&) {
        std::cout << "corral " << argv[1] << " [--control SOCKET | --pid FILE | -c CONFIG]\n";
        return exit_code::clean_stop;
    } catch (const CLI::Error& e) {
        std::cerr << "corral " << argv[1] << ": " << e.what() << "\n";
        return exit_code::usage_error;
    }
    try {
        if (!master.socket.empty())
            return report(given, ask(master.socket, request_for(given),
                                     answer_waits(given) ? 0 : answer_timeout_seconds));
        if (master.pid > 0) return signal_master(given, master.pid);
        throw control_failure("no control socket and no running master's pid were found");
    } catch (const control_failure& e) {
        std::cerr << "corral " << given.command << ": " << e.what() << "\n";
        return exit_code::runtime_failure;
    }
}

}  // namespace corral
