// Config loading: the four layers, their precedence, and every error message.

#include "shared/config.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "shared/settings.hpp"

using namespace corral;

namespace {

/// A config file in a fresh temporary directory, removed at scope exit.
struct temp_config {
    std::filesystem::path path;
    explicit temp_config(const std::string& text) {
        auto dir = std::filesystem::temp_directory_path() /
                   ("corral-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(dir);
        path = dir / "corral.toml";
        std::ofstream(path) << text;
    }
    ~temp_config() { std::filesystem::remove_all(path.parent_path()); }
    static inline int counter = 0;
};

config_sources from_file(const temp_config& file) {
    config_sources sources;
    sources.file = file.path;
    return sources;
}

std::string load_error(const config_sources& sources) {
    try {
        load_config(sources);
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("defaults match the settings table") {
    config_sources none;
    none.look_for_default_file = false;
    auto cfg = load_config(none);
    CHECK(cfg.bind == std::vector<std::string>{"127.0.0.1:8000"});
    CHECK(cfg.workers == 1);
    CHECK(cfg.timeout == 30);
    CHECK(cfg.graceful_timeout == 30);
    CHECK(cfg.backlog == 2048);
    CHECK(cfg.loglevel == "info");
    CHECK(cfg.errorlog == "-");
    CHECK(cfg.worker_command.empty());
    CHECK(!cfg.file);
}

TEST_CASE("a config file sets values with Gunicorn's key names") {
    temp_config file(R"(workers = 4
bind = ["127.0.0.1:9000", "unix:/tmp/x.sock"]
graceful_timeout = 2.5
pidfile = "/tmp/corral.pid"
worker_command = ["/usr/bin/env", "app"]

[env]
APP_MODE = "production"
)");
    auto cfg = load_config(from_file(file));
    CHECK(cfg.workers == 4);
    CHECK(cfg.bind.size() == 2);
    CHECK(cfg.graceful_timeout == 2.5);
    CHECK(cfg.pidfile == "/tmp/corral.pid");
    CHECK(cfg.worker_command == std::vector<std::string>{"/usr/bin/env", "app"});
    CHECK(cfg.env.at("APP_MODE") == "production");
    CHECK(cfg.file == file.path);
}

TEST_CASE("precedence is defaults < file < environment < command line") {
    temp_config file("workers = 2\ntimeout = 10\nloglevel = \"debug\"\n");
    auto sources = from_file(file);
    sources.environment = {{"CORRAL_WORKERS", "3"}, {"CORRAL_TIMEOUT", "11"}};
    sources.command_line = {{"workers", "--workers", {"4"}}};
    auto cfg = load_config(sources);
    CHECK(cfg.workers == 4);
    CHECK(cfg.timeout == 11);
    CHECK(cfg.loglevel == "debug");
}

TEST_CASE("WEB_CONCURRENCY sets the default worker count, below the file") {
    config_sources sources;
    sources.look_for_default_file = false;
    sources.environment = {{"WEB_CONCURRENCY", "5"}};
    CHECK(load_config(sources).workers == 5);
    temp_config file("workers = 2\n");
    auto with_file = from_file(file);
    with_file.environment = sources.environment;
    CHECK(load_config(with_file).workers == 2);
}

TEST_CASE("environment values are TOML values; plain strings need no quotes") {
    config_sources sources;
    sources.look_for_default_file = false;
    sources.environment = {{"CORRAL_BIND", R"(["[::1]:8000", "127.0.0.1:8001"])"},
                           {"CORRAL_PIDFILE", "/run/corral.pid"},
                           {"CORRAL_ENV", R"({ A = "1" })"},
                           {"CORRAL_WORKERS", "auto"}};
    auto cfg = load_config(sources);
    CHECK(cfg.bind == std::vector<std::string>{"[::1]:8000", "127.0.0.1:8001"});
    CHECK(cfg.pidfile == "/run/corral.pid");
    CHECK(cfg.env.at("A") == "1");
    CHECK(cfg.workers >= 1);

    SUBCASE("a single address is a one-entry list") {
        sources.environment = {{"CORRAL_BIND", "127.0.0.1:9001"}};
        CHECK(load_config(sources).bind == std::vector<std::string>{"127.0.0.1:9001"});
    }
}

TEST_CASE("a list on the command line replaces the file's list; -e adds to [env]") {
    temp_config file("bind = [\"127.0.0.1:9000\"]\n[env]\nA = \"file\"\nB = \"file\"\n");
    auto sources = from_file(file);
    sources.command_line = {{"bind", "--bind", {"127.0.0.1:9001", "127.0.0.1:9002"}},
                            {"env", "--env", {"B=cli", "C=x=y"}}};
    auto cfg = load_config(sources);
    CHECK(cfg.bind == std::vector<std::string>{"127.0.0.1:9001", "127.0.0.1:9002"});
    CHECK(cfg.env.at("A") == "file");
    CHECK(cfg.env.at("B") == "cli");
    CHECK(cfg.env.at("C") == "x=y");
}

TEST_CASE("the worker command after -- replaces worker_command") {
    temp_config file("worker_command = [\"/bin/a\"]\n");
    auto sources = from_file(file);
    sources.worker_command = {"/bin/b", "--flag"};
    CHECK(load_config(sources).worker_command == std::vector<std::string>{"/bin/b", "--flag"});
}

TEST_CASE("config errors name the file, line, column, key, what was expected and found") {
    struct example {
        const char* text;
        const char* message;
    };
    const example examples[] = {
        {"\n\nworkers = \"lots\"\n",
         ":3:11: workers: expected an integer or \"auto\" from 1 to 4096, got string \"lots\""},
        {"workers = 0\n",
         ":1:11: workers: expected an integer or \"auto\" from 1 to 4096, got integer 0"},
        {"wrkers = 2\n", ":1:1: unknown setting \"wrkers\" (did you mean \"workers\"?)"},
        {"colour = 2\n", ":1:1: unknown setting \"colour\""},
        {"timeout = \"30s\"\n",
         ":1:11: timeout: expected a number of seconds from 0.1 to 86400, got string \"30s\""},
        {"bind = \"127.0.0.1:80\"\n", ":1:8: bind: expected a list of strings, got string"},
        {"bind = [\"127.0.0.1:99999\"]\n",
         ":1:9: bind: invalid address \"127.0.0.1:99999\": the port must be a number from 0 to "
         "65535"},
        {"bind = [\"::1:80\"]\n",
         "bind: invalid address \"::1:80\": an IPv6 address needs brackets"},
        {"bind = []\n", ":1:8: bind: expected a list of strings, got an empty list"},
        {"loglevel = \"loud\"\n",
         ":1:12: loglevel: expected one of debug|info|warning|error|critical, got string \"loud\""},
        {"[env]\nA = 1\n", ":2:5: env: expected a table of strings, got key A = integer 1"},
        {"workers = \n", ":1:"},  // invalid TOML
    };
    for (const auto& [text, message] : examples) {
        CAPTURE(text);
        temp_config file(text);
        auto error = load_error(from_file(file));
        CHECK(error.starts_with(file.path.string() + ":"));
        CHECK(error.find(message) != std::string::npos);
    }
}

TEST_CASE("nan and inf are not numbers a setting accepts, in any layer") {
    struct example {
        const char* text;
        const char* message;
    };
    SUBCASE("in the file, with the position") {
        const example examples[] = {
            {"timeout = nan\n",
             ":1:11: timeout: expected a number of seconds from 0.1 to 86400, got number nan"},
            {"timeout = +nan\n",
             ":1:11: timeout: expected a number of seconds from 0.1 to 86400, got number nan"},
            {"keepalive = inf\n",
             ":1:13: keepalive: expected a number of seconds from 0 to 3600, got number inf"},
            {"graceful_timeout = -inf\n",
             ":1:20: graceful_timeout: expected a number of seconds from 0 to 86400, got number "
             "-inf"},
            {"max_body_size = nan\n",
             ":1:17: max_body_size: expected a number from 0 to 1000000000000000, got number nan"},
            {"workers = nan\n",
             ":1:11: workers: expected an integer or \"auto\" from 1 to 4096, got number nan"},
        };
        for (const auto& [text, message] : examples) {
            CAPTURE(text);
            temp_config file(text);
            CHECK(load_error(from_file(file)) == file.path.string() + message);
        }
    }
    SUBCASE("in the environment, naming the variable") {
        config_sources sources;
        sources.look_for_default_file = false;
        sources.environment = {{"CORRAL_TIMEOUT", "nan"}};
        CHECK(load_error(sources) ==
              "environment variable CORRAL_TIMEOUT: timeout: expected a number of seconds from "
              "0.1 to 86400, got number nan");
    }
    SUBCASE("on the command line, naming the flag") {
        config_sources sources;
        sources.look_for_default_file = false;
        sources.command_line = {{"timeout", "--timeout", {"nan"}}};
        CHECK(load_error(sources) ==
              "option --timeout: timeout: expected a number of seconds from 0.1 to 86400, got "
              "number nan");
        sources.command_line = {{"boot_timeout", "--boot-timeout", {"inf"}}};
        CHECK(load_error(sources) ==
              "option --boot-timeout: boot_timeout: expected a number of seconds from 0.1 to "
              "86400, got number inf");
    }
}

TEST_CASE("addresses that cannot work are errors in the config, with the position") {
    const std::string long_path = "/tmp/" + std::string(120, 'x') + ".sock";
    struct example {
        std::string text;
        std::string message;
    };
    const example examples[] = {
        {"bind = [\"unix:" + long_path + "\"]\n",
         ":1:9: bind: invalid address \"unix:" + long_path +
             "\": the path is 130 bytes long; a unix socket path can be at most 107 bytes"},
        {"control_socket = \"" + long_path + "\"\n",
         ":1:18: control_socket: the path is 130 bytes long; a unix socket path can be at most "
         "107 bytes"},
        {"metrics_bind = \"localhost\"\n",
         ":1:16: metrics_bind: invalid address \"localhost\": the port is missing: write "
         "HOST:PORT, e.g. 127.0.0.1:9100"},
        {"metrics_bind = \"unix:/tmp/metrics.sock\"\n",
         ":1:16: metrics_bind: invalid address \"unix:/tmp/metrics.sock\": expected HOST:PORT, "
         "not a unix: or fd:// address"},
        {"metrics_bind = \"127.0.0.1:99999\"\n",
         ":1:16: metrics_bind: invalid address \"127.0.0.1:99999\": the port must be a number "
         "from 0 to 65535"},
        {"metrics_bind = \"::1:9100\"\n",
         ":1:16: metrics_bind: invalid address \"::1:9100\": an IPv6 address needs brackets, as "
         "in [::1]:8000"},
    };
    for (const auto& [text, message] : examples) {
        CAPTURE(text);
        temp_config file(text);
        CHECK(load_error(from_file(file)) == file.path.string() + message);
    }
}

TEST_CASE("metrics_bind and control_socket accept what they document") {
    temp_config file(
        "metrics_bind = \"[::1]:9100\"\ncontrol_socket = \"/run/corral/control.sock\"\n");
    auto cfg = load_config(from_file(file));
    CHECK(cfg.metrics_bind == "[::1]:9100");
    CHECK(cfg.control_socket == "/run/corral/control.sock");
    temp_config off("metrics_bind = \"\"\ncontrol_socket = \"off\"\n");
    CHECK(load_config(from_file(off)).control_socket == "off");
}

TEST_CASE("invalid TOML is reported with its position") {
    temp_config file("workers = 2\nbind = [\n");
    auto error = load_error(from_file(file));
    CHECK(error.starts_with(file.path.string() + ":"));
    CHECK(error.find("invalid TOML") != std::string::npos);
}

TEST_CASE("-c must name a readable regular file; the error names the path and why") {
    config_sources sources;
    SUBCASE("missing") {
        sources.file = "/nonexistent/corral.toml";
        CHECK(load_error(sources) ==
              "cannot read config file /nonexistent/corral.toml: No such file or directory");
    }
    SUBCASE("a directory, which would read as an empty file") {
        temp_config file("workers = 2\n");
        sources.file = file.path.parent_path();
        CHECK(load_error(sources) == "cannot read config file " + file.path.parent_path().string() +
                                         ": it is a directory");
    }
    SUBCASE("a device") {
        sources.file = "/dev/null";
        CHECK(load_error(sources) == "cannot read config file /dev/null: it is not a regular file");
    }
    SUBCASE("unreadable") {
        if (::geteuid() == 0) return;  // root reads it anyway
        temp_config file("workers = 2\n");
        std::filesystem::permissions(file.path, std::filesystem::perms::none);
        sources.file = file.path;
        CHECK(load_error(sources) ==
              "cannot read config file " + file.path.string() + ": Permission denied");
    }
}

TEST_CASE("environment and command-line errors name the variable or the flag") {
    config_sources sources;
    sources.look_for_default_file = false;
    sources.environment = {{"CORRAL_WORKERS", "many"}};
    CHECK(load_error(sources) ==
          "environment variable CORRAL_WORKERS: workers: expected an integer or \"auto\" from 1 "
          "to 4096, got string \"many\"");
    sources.environment = {{"WEB_CONCURRENCY", "x"}};
    CHECK(load_error(sources).starts_with("environment variable WEB_CONCURRENCY: workers:"));
    sources.environment = {};
    sources.command_line = {{"timeout", "--timeout", {"-1"}}};
    CHECK(load_error(sources) ==
          "option --timeout: timeout: expected a number of seconds from 0.1 to 86400, got "
          "integer -1");
    sources.command_line = {{"env", "--env", {"NOEQUALS"}}};
    CHECK(load_error(sources) == "option --env: env: expected KEY=VALUE, got \"NOEQUALS\"");
}

TEST_CASE("print_config writes TOML that loads back to the same configuration") {
    temp_config file(R"(workers = 3
bind = ["127.0.0.1:9000", "[::1]:9000"]
graceful_timeout = 2.5
[env]
"KEY WITH SPACE" = "v"
B = "quote\"d"
)");
    auto cfg = load_config(from_file(file));
    temp_config printed(print_config(cfg));
    auto again = load_config(from_file(printed));
    CHECK(again.workers == 3);
    CHECK(again.bind == cfg.bind);
    CHECK(again.graceful_timeout == 2.5);
    CHECK(again.env == cfg.env);
    CHECK(print_config(again).ends_with(print_config(cfg).substr(print_config(cfg).find('\n'))));
}

TEST_CASE("worker-side settings are passed as CORRAL_<NAME>") {
    config cfg;
    cfg.keepalive = 2;
    auto variables = worker_setting_variables(cfg);
    CHECK(std::find(variables.begin(), variables.end(), "CORRAL_KEEPALIVE=2") != variables.end());
    CHECK(std::find(variables.begin(), variables.end(), "CORRAL_LOGLEVEL=info") != variables.end());
    for (const auto& variable : variables) CHECK(variable.find("CORRAL_BIND") != 0);
}

TEST_CASE("a worker reads only the settings meant for workers from its environment") {
    std::map<std::string, std::string> environment = {
        {"CORRAL_KEEPALIVE", "3"},
        {"CORRAL_LOGLEVEL", "debug"},
        // Master-only settings the master's own environment may pass on: not read.
        {"CORRAL_TIMEOUT", "nan"},
        {"CORRAL_MAX_REQUESTS", "4294967394"},
        {"CORRAL_WORKERS", "many"},
        {"WEB_CONCURRENCY", "x"},
    };
    config cfg;
    REQUIRE_NOTHROW(cfg = load_worker_config(environment));
    CHECK(cfg.keepalive == 3);
    CHECK(cfg.loglevel == "debug");
    CHECK(cfg.timeout == 30);
    CHECK(cfg.max_requests == 0);
    CHECK(cfg.workers == 1);

    SUBCASE("a bad worker setting is still an error naming the variable") {
        environment["CORRAL_KEEPALIVE"] = "nan";
        try {
            load_worker_config(environment);
            FAIL("no error");
        } catch (const config_error& e) {
            CHECK(std::string(e.what()) ==
                  "environment variable CORRAL_KEEPALIVE: keepalive: expected a number of seconds "
                  "from 0 to 3600, got number nan");
        }
    }
}

TEST_CASE("changed_settings lists what a reload changes, both values as TOML") {
    config before, after;
    CHECK(changed_settings(before, after).empty());
    after.timeout = 10;
    after.pidfile = "/run/corral.pid";
    after.env = {{"A", "1"}, {"B", "two"}};
    auto changes = changed_settings(before, after);
    REQUIRE(changes.size() == 3);
    CHECK(changes[0].name == "timeout");
    CHECK(changes[0].before == "30");
    CHECK(changes[0].after == "10");
    CHECK(changes[1].name == "pidfile");
    CHECK(changes[1].before == "\"\"");
    CHECK(changes[1].after == "\"/run/corral.pid\"");
    CHECK(changes[2].name == "env");
    CHECK(changes[2].before == "{}");
    CHECK(changes[2].after == "{A = \"1\", B = \"two\"}");
}
