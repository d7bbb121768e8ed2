// --check-config beyond the values: what would otherwise stop the master only at start.

#include "master/startup_checks.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

using namespace corral;

namespace {

namespace fs = std::filesystem;

/// A fresh temporary directory, removed at scope exit.
struct temp_directory {
    fs::path path;
    temp_directory() {
        path = fs::temp_directory_path() /
               ("corral-checks-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~temp_directory() { fs::remove_all(path); }
    /// A file in it holding `text`, with `mode`; returns its path.
    std::string file(const std::string& name, const std::string& text,
                     fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) const {
        std::ofstream(path / name) << text;
        fs::permissions(path / name, mode);
        return (path / name).string();
    }
    static inline int counter = 0;
};

/// A configuration that can start: the checks find nothing in it.
config startable() {
    config cfg;
    cfg.bind = {"127.0.0.1:8000"};
    cfg.worker_command = {"/bin/sh"};
    return cfg;
}

config_sources with_path(const std::string& path = "/usr/bin:/bin") {
    config_sources sources;
    sources.environment = {{"PATH", path}};
    return sources;
}

}  // namespace

TEST_CASE("--check-config finds nothing wrong with a configuration that can start") {
    temp_directory dir;
    auto cfg = startable();
    cfg.bind.push_back("unix:" + (dir.path / "app.sock").string());
    cfg.pidfile = (dir.path / "corral.pid").string();  // its control socket goes beside it
    cfg.errorlog = (dir.path / "error.log").string();
    cfg.accesslog = (dir.path / "access.log").string();
    cfg.worker_command = {"sh", "-c", "exec app"};
    CHECK(startup_problems(cfg, with_path()).empty());
}

TEST_CASE("each problem --check-config finds names its setting first") {
    temp_directory dir;
    auto regular_file = dir.file("file", "text\n");
    auto script =
        dir.file("script", "#!/nonexistent/python3 -u\nprint('hi')\n", fs::perms::owner_all);
    struct example {
        std::string what;
        std::function<void(config&)> change;
        std::string message;  ///< the whole line, or its start when it ends in ": "
    };
    const example examples[] = {
        {"unknown user", [](config& c) { c.user = "corral-test-no-such-user"; },
         "user: unknown user \"corral-test-no-such-user\""},
        {"unknown group", [](config& c) { c.group = "corral-test-no-such-group"; },
         "group: unknown group \"corral-test-no-such-group\""},
        {"unknown socket owner", [](config& c) { c.socket_owner = "corral-test-no-such-user"; },
         "socket_owner: unknown user \"corral-test-no-such-user\""},
        {"unknown socket group",
         [](config& c) { c.socket_owner = "root:corral-test-no-such-group"; },
         "socket_owner: unknown group \"corral-test-no-such-group\""},
        {"missing worker program", [](config& c) { c.worker_command = {"/nonexistent/app"}; },
         "worker_command: cannot execute worker command /nonexistent/app: no such file"},
        {"worker program not in PATH",
         [](config& c) { c.worker_command = {"corral-test-no-such-program"}; },
         "worker_command: cannot execute worker command \"corral-test-no-such-program\": not "
         "found in PATH (/usr/bin:/bin)"},
        {"worker program not executable", [&](config& c) { c.worker_command = {regular_file}; },
         "worker_command: cannot execute worker command " + regular_file +
             ": not an executable file"},
        {"worker script without its interpreter", [&](config& c) { c.worker_command = {script}; },
         "worker_command: cannot execute worker command " + script +
             ": the interpreter on its #! line, /nonexistent/python3, is not an executable file"},
        {"missing chdir", [](config& c) { c.chdir = "/nonexistent"; },
         "chdir: cannot change to /nonexistent: No such file or directory"},
        {"chdir to a file", [&](config& c) { c.chdir = regular_file; },
         "chdir: cannot change to " + regular_file + ": it is not a directory"},
        {"unix socket in a missing directory",
         [](config& c) { c.bind = {"unix:/nonexistent/app.sock"}; },
         "bind: cannot create the socket unix:/nonexistent/app.sock: /nonexistent: No such file "
         "or directory"},
        {"unix socket over a regular file", [&](config& c) { c.bind = {"unix:" + regular_file}; },
         "bind: cannot create the socket unix:" + regular_file +
             ": the file exists and is not a socket"},
        {"bind host that does not resolve", [](config& c) { c.bind = {"nohost.invalid:8000"}; },
         "bind: cannot resolve host \"nohost.invalid\" of nohost.invalid:8000: "},
        {"metrics_bind host that does not resolve",
         [](config& c) { c.metrics_bind = "nohost.invalid:9100"; },
         "metrics_bind: cannot resolve host \"nohost.invalid\": "},
        {"control socket in a missing directory",
         [](config& c) { c.control_socket = "/nonexistent/control.sock"; },
         "control_socket: cannot create the socket unix:/nonexistent/control.sock: /nonexistent: "
         "No such file or directory"},
        {"pidfile in a missing directory",
         [](config& c) {
             c.pidfile = "/nonexistent/corral.pid";
             c.control_socket = "off";
         },
         "pidfile: cannot create /nonexistent/corral.pid: /nonexistent: No such file or "
         "directory"},
        {"errorlog in a missing directory",
         [](config& c) { c.errorlog = "/nonexistent/error.log"; },
         "errorlog: cannot create /nonexistent/error.log: /nonexistent: No such file or "
         "directory"},
        {"errorlog naming no file", [](config& c) { c.errorlog = ""; },
         "errorlog: \"\" names no file: write \"-\" for stderr"},
        {"accesslog in a missing directory",
         [](config& c) { c.accesslog = "/nonexistent/access.log"; },
         "accesslog: cannot create /nonexistent/access.log: /nonexistent: No such file or "
         "directory"},
    };
    for (const auto& [what, change, message] : examples) {
        CAPTURE(what);
        auto cfg = startable();
        change(cfg);
        auto problems = startup_problems(cfg, with_path());
        REQUIRE(problems.size() == 1);
        if (message.ends_with(": "))
            CHECK(problems.front().starts_with(message));
        else
            CHECK(problems.front() == message);
    }
}

TEST_CASE("relative paths are checked from chdir, as the master opens them") {
    temp_directory dir;
    dir.file("app", "#!/bin/sh\n", fs::perms::owner_all);
    auto cfg = startable();
    cfg.chdir = dir.path.string();
    cfg.worker_command = {"./app"};
    cfg.accesslog = "access.log";
    CHECK(startup_problems(cfg, with_path()).empty());
    cfg.pidfile = "run/corral.pid";
    cfg.control_socket = "off";
    CHECK(startup_problems(cfg, with_path()) ==
          std::vector<std::string>{"pidfile: cannot create " +
                                   (dir.path / "run/corral.pid").string() + ": " +
                                   (dir.path / "run").string() + ": No such file or directory"});
}

TEST_CASE("a wrong chdir is reported once, not again for each relative path") {
    auto cfg = startable();
    cfg.chdir = "/nonexistent";
    cfg.worker_command = {"./app"};
    cfg.pidfile = "corral.pid";
    cfg.accesslog = "access.log";
    cfg.bind = {"unix:app.sock"};
    CHECK(startup_problems(cfg, with_path()) ==
          std::vector<std::string>{
              "chdir: cannot change to /nonexistent: No such file or directory"});
}

TEST_CASE("every problem is reported, not only the first") {
    auto cfg = startable();
    cfg.user = "corral-test-no-such-user";
    cfg.worker_command = {"/nonexistent/app"};
    cfg.errorlog = "";
    CHECK(startup_problems(cfg, with_path()).size() == 3);
}

TEST_CASE("the control socket path made from pidfile or RUNTIME_DIRECTORY must fit in sun_path") {
    auto cfg = startable();
    std::string long_directory = "/run/" + std::string(100, 'd');
    auto message = [&](const std::map<std::string, std::string>& environment) -> std::string {
        try {
            check_control_socket_path(cfg, environment);
        } catch (const config_error& e) {
            return e.what();
        }
        return "no error";
    };
    CHECK(message({{"RUNTIME_DIRECTORY", long_directory}}) ==
          "control_socket: the control socket would be " + long_directory +
              "/control.sock ($RUNTIME_DIRECTORY/control.sock): the path is 118 bytes long; a "
              "unix socket path can be at most 107 bytes; set control_socket to a shorter path, "
              "or to \"off\"");
    cfg.pidfile = long_directory + "/corral.pid";
    CHECK(message({}) == "control_socket: the control socket would be " + long_directory +
                             "/corral.pid.sock (the pidfile's path + \".sock\"): the path is 121 "
                             "bytes long; a unix socket path can be at most 107 bytes; set "
                             "control_socket to a shorter path, or to \"off\"");
    cfg.control_socket = "off";
    CHECK(message({}) == "no error");
    cfg.control_socket = "/run/corral/control.sock";
    CHECK(message({{"RUNTIME_DIRECTORY", long_directory}}) == "no error");
}
