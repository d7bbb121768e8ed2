#include "master/startup_checks.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "master/control_server.hpp"
#include "master/credentials.hpp"
#include "master/listeners.hpp"
#include "master/metrics_endpoint.hpp"
#include "master/notify_channels.hpp"
#include "master/spawner.hpp"
#include "shared/bind_address.hpp"

namespace corral {
namespace {

namespace fs = std::filesystem;

std::string environment_value(const std::map<std::string, std::string>& environment,
                              const std::string& name) {
    auto found = environment.find(name);
    return found == environment.end() ? "" : found->second;
}

/// "" when the control socket's path fits in sun_path, else why not, naming where the
/// path came from.
std::string control_socket_length_problem(const config& cfg,
                                          const std::map<std::string, std::string>& environment) {
    auto runtime_directory = environment_value(environment, "RUNTIME_DIRECTORY");
    auto path = control_socket_path(cfg.control_socket, cfg.pidfile, runtime_directory);
    auto problem = unix_path_problem(path);
    if (problem.empty()) return "";
    if (!cfg.control_socket.empty()) return "control_socket: " + problem;
    return fmt::format(
        "control_socket: the control socket would be {} ({}): {}; set control_socket to a "
        "shorter path, or to \"off\"",
        path,
        runtime_directory.empty() ? "the pidfile's path + \".sock\""
                                  : "$RUNTIME_DIRECTORY/control.sock",
        problem);
}

/// Looks at the configuration as the master will find it at start.
class startup_checker {
  public:
    startup_checker(const config& cfg, const config_sources& sources)
        : cfg_(cfg), sources_(sources) {}

    std::vector<std::string> run() {
        check_chdir();
        check_credentials();
        check_worker_command();
        check_bind();
        check_metrics_bind();
        check_control_socket();
        check_worker_tmp_dir();
        check_log_and_pid_files();
        return std::move(problems_);
    }

  private:
    void add(std::string problem) { problems_.push_back(std::move(problem)); }

    /// `path` as the master opens it once it has changed to `chdir`; nullopt when it is
    /// relative and `chdir` is wrong, which is already reported once.
    std::optional<fs::path> after_chdir(const std::string& path) const {
        if (!chdir_ok_ && fs::path(path).is_relative()) return std::nullopt;
        return fs::absolute(base_ / path);
    }

    /// "" when the directory of `file` exists and, if `create`, the master may create
    /// files in it; else why not.
    static std::string directory_problem(const fs::path& file, bool create) {
        auto directory = file.parent_path();
        std::error_code ec;
        auto status = fs::status(directory, ec);
        if (ec) return fmt::format("{}: {}", directory.string(), ec.message());
        if (!fs::is_directory(status))
            return fmt::format("{}: it is not a directory", directory.string());
        if (create && ::access(directory.c_str(), W_OK | X_OK) != 0)
            return fmt::format("{}: {}", directory.string(), std::strerror(errno));
        return "";
    }

    void check_chdir() {
        if (cfg_.chdir.empty()) return;
        base_ = fs::absolute(cfg_.chdir);
        std::error_code ec;
        auto status = fs::status(base_, ec);
        if (ec)
            add(fmt::format("chdir: cannot change to {}: {}", cfg_.chdir, ec.message()));
        else if (!fs::is_directory(status))
            add(fmt::format("chdir: cannot change to {}: it is not a directory", cfg_.chdir));
        else if (::access(base_.c_str(), X_OK) != 0)
            add(fmt::format("chdir: cannot change to {}: {}", cfg_.chdir, std::strerror(errno)));
        chdir_ok_ = problems_.empty();
    }

    void check_credentials() {
        try {
            resolve_credentials(cfg_.user, cfg_.group);
        } catch (const std::runtime_error& e) {
            add(e.what());
        }
        try {
            resolve_owner(cfg_.socket_owner);
        } catch (const std::runtime_error& e) {
            add(e.what());
        }
    }

    void check_worker_tmp_dir() {
        auto where = after_chdir(notify_base_directory(cfg_.worker_tmp_dir, sources_.environment));
        if (!where) return;
        if (auto problem = notify_base_problem(where->string()); !problem.empty()) {
            add("worker_tmp_dir: " + problem);
            return;
        }
        try {
            if (auto workers = resolve_credentials(cfg_.user, cfg_.group))
                if (auto why = unreachable_reason(where->string(), *workers); !why.empty())
                    add(
                        fmt::format("worker_tmp_dir: workers running as {} could not reach "
                                    "their notify sockets in {}: {}",
                                    workers->name, where->string(), why));
        } catch (const std::runtime_error&) {  // an unknown user: check_credentials says so
        }
    }

    void check_worker_command() {
        const auto& command = cfg_.worker_command;
        if (!command.empty() && command.front().find('/') != std::string::npos &&
            !after_chdir(command.front()))
            return;
        try {
            resolve_worker_command(cfg_.worker_command,
                                   environment_value(sources_.environment, "PATH"), base_);
        } catch (const std::exception& e) {
            add(e.what());
        }
    }

    void check_bind() {
        for (const auto& text : cfg_.bind) {
            auto address = parse_bind_address(text);  // load_config checked the syntax
            if (address.type == bind_address::kind::tcp) {
                check_host_resolves(address);
            } else if (address.type == bind_address::kind::unix_path) {
                if (auto path = after_chdir(address.path)) check_unix_socket_file("bind", *path);
            }
        }
    }

    void check_host_resolves(const bind_address& address) {
        addrinfo* found = nullptr;
        if (int rc = resolve_for_listening(address, &found); rc != 0) {
            add(fmt::format("bind: cannot resolve host \"{}\" of {}: {}", address.host,
                            address.text, ::gai_strerror(rc)));
            return;
        }
        ::freeaddrinfo(found);
    }

    /// The master binds a unix socket at `path`: its directory must take a new file, and
    /// a file already there must be a socket (a stale one is replaced; another file not).
    void check_unix_socket_file(const char* setting, const fs::path& path) {
        if (auto problem = directory_problem(path, true); !problem.empty()) {
            add(fmt::format("{}: cannot create the socket unix:{}: {}", setting, path.string(),
                            problem));
            return;
        }
        struct stat info {};
        if (::lstat(path.c_str(), &info) == 0 && !S_ISSOCK(info.st_mode))
            add(
                fmt::format("{}: cannot create the socket unix:{}: the file exists and is not a "
                            "socket",
                            setting, path.string()));
    }

    void check_metrics_bind() {
        if (cfg_.metrics_bind.empty()) return;
        try {
            resolve_metrics_bind(cfg_.metrics_bind);
        } catch (const std::exception& e) {
            add(e.what());
        }
    }

    void check_control_socket() {
        if (auto problem = control_socket_length_problem(cfg_, sources_.environment);
            !problem.empty()) {
            add(problem);
            return;
        }
        auto path =
            control_socket_path(cfg_.control_socket, cfg_.pidfile,
                                environment_value(sources_.environment, "RUNTIME_DIRECTORY"));
        if (path.empty()) return;  // "off", or nothing to derive it from
        if (auto file = after_chdir(path)) check_unix_socket_file("control_socket", *file);
    }

    void check_log_and_pid_files() {
        if (!cfg_.pidfile.empty()) {
            // Written as a temporary file renamed over the pidfile: the directory must take it.
            auto path = after_chdir(cfg_.pidfile);
            if (auto problem = path ? directory_problem(*path, true) : ""; !problem.empty())
                add(fmt::format("pidfile: cannot create {}: {}", path->string(), problem));
        }
        if (cfg_.errorlog.empty()) {
            add("errorlog: \"\" names no file: write \"-\" for stderr");
        } else if (cfg_.errorlog != "-") {
            // Opened for appending before the master changes directory.
            auto path = fs::absolute(cfg_.errorlog);
            bool exists = ::access(path.c_str(), F_OK) == 0;
            if (exists && ::access(path.c_str(), W_OK) != 0)
                add(fmt::format("errorlog: cannot open {}: {}", path.string(),
                                std::strerror(errno)));
            else if (auto problem = exists ? "" : directory_problem(path, true); !problem.empty())
                add(fmt::format("errorlog: cannot create {}: {}", path.string(), problem));
        }
        if (!cfg_.accesslog.empty() && cfg_.accesslog != "-") {
            // Opened by the workers, perhaps as `user`: only they can tell whether they may.
            auto path = after_chdir(cfg_.accesslog);
            if (auto problem = path ? directory_problem(*path, false) : ""; !problem.empty())
                add(fmt::format("accesslog: cannot create {}: {}", path->string(), problem));
        }
    }

    const config& cfg_;
    const config_sources& sources_;
    fs::path base_;  ///< where relative paths lead: `chdir`, or "" = the current directory
    bool chdir_ok_ = true;
    std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> startup_problems(const config& cfg, const config_sources& sources) {
    return startup_checker(cfg, sources).run();
}

void check_control_socket_path(const config& cfg,
                               const std::map<std::string, std::string>& environment) {
    if (auto problem = control_socket_length_problem(cfg, environment); !problem.empty())
        throw config_error(problem);
}

}  // namespace corral
