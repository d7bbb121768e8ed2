#include "shared/settings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace corral {
namespace {

using c = config;

// clang-format off
const std::array settings_table{
    setting{.name = "bind", .field = &c::bind, .default_value = R"(["127.0.0.1:8000"])",
            .flags = "-b,--bind", .value_name = "ADDR",
            .help = "Addresses to listen on: HOST:PORT, [V6]:PORT, unix:PATH or fd://N."},
    setting{.name = "workers", .field = &c::workers, .default_value = "1", .unit = "processes",
            .flags = "-w,--workers",
            .help = "Worker processes; \"auto\" = the CPUs corral may run on. "
                    "Default: $WEB_CONCURRENCY, else 1.",
            .min = 1, .max = 4096, .accepts_auto = true},
    setting{.name = "worker_command", .field = &c::worker_command, .default_value = "[]",
            .help = "Worker program and arguments (`corral -- COMMAND ARGS...`); "
                    "empty = the built-in corral-worker."},
    setting{.name = "max_surge", .field = &c::max_surge, .default_value = "0",
            .unit = "processes", .flags = "--max-surge",
            .help = "Workers a reload or recycle may start beyond `workers` before old ones "
                    "drain; 0 = as many as `workers` (all at once).",
            .min = 0, .max = 4096},
    setting{.name = "timeout", .field = &c::timeout, .default_value = "30", .unit = "seconds",
            .flags = "-t,--timeout",
            .help = "A worker silent for longer than this after its first heartbeat is killed.",
            .min = 0.1, .max = 86400},
    setting{.name = "graceful_timeout", .field = &c::graceful_timeout, .default_value = "30",
            .unit = "seconds", .flags = "--graceful-timeout",
            .help = "How long a stopping worker may finish its requests before SIGKILL.",
            .min = 0, .max = 86400, .for_workers = true},
    setting{.name = "boot_timeout", .field = &c::boot_timeout, .default_value = "30",
            .unit = "seconds", .flags = "--boot-timeout",
            .help = "How long a new worker may take to send READY=1 before it is killed.",
            .min = 0.1, .max = 86400},
    setting{.name = "backlog", .field = &c::backlog, .default_value = "2048",
            .unit = "connections", .flags = "--backlog",
            .help = "Length of each listener's queue of connections not yet accepted.",
            .min = 1, .max = 65535},
    setting{.name = "reuse_port", .field = &c::reuse_port, .default_value = "true",
            .flags = "--reuse-port,!--no-reuse-port",
            .help = "Give each worker its own socket of every TCP listener corral binds "
                    "(SO_REUSEPORT), so the kernel spreads new connections over the workers; "
                    "false = one shared socket, which the busiest worker tends to drain."},
    setting{.name = "keepalive", .field = &c::keepalive, .default_value = "5", .unit = "seconds",
            .flags = "--keep-alive",
            .help = "How long a worker keeps an idle keep-alive connection open.",
            .min = 0, .max = 3600, .for_workers = true},
    setting{.name = "limit_request_line", .field = &c::limit_request_line,
            .default_value = "4094", .unit = "bytes", .flags = "--limit-request-line",
            .help = "Longest request line (method, target, version) accepted; longer gets 414. "
                    "0 = no limit.",
            .min = 0, .max = 1048576, .for_workers = true},
    setting{.name = "limit_request_fields", .field = &c::limit_request_fields,
            .default_value = "100", .unit = "fields", .flags = "--limit-request-fields",
            .help = "Most header fields in a request; more gets 431.",
            .min = 1, .max = 32768, .for_workers = true},
    setting{.name = "limit_request_field_size", .field = &c::limit_request_field_size,
            .default_value = "8190", .unit = "bytes", .flags = "--limit-request-field-size",
            .help = "Longest header line, its CRLF included; longer gets 431. 0 = no limit.",
            .min = 0, .max = 1048576, .for_workers = true},
    setting{.name = "max_body_size", .field = &c::max_body_size, .default_value = "1048576",
            .unit = "bytes", .flags = "--max-body-size",
            .help = "Largest request body accepted; larger gets 413.",
            .min = 0, .max = 1e15, .for_workers = true},
    setting{.name = "header_timeout", .field = &c::header_timeout, .default_value = "10",
            .unit = "seconds", .flags = "--header-timeout",
            .help = "Time for a whole request head to arrive once it has started (slowloris); "
                    "then 408. Also bounds a WebSocket's opening and closing handshakes.",
            .min = 0.1, .max = 3600, .for_workers = true},
    setting{.name = "body_timeout", .field = &c::body_timeout, .default_value = "30",
            .unit = "seconds", .flags = "--body-timeout",
            .help = "Longest wait for the next piece of a request body; then 408.",
            .min = 0.1, .max = 3600, .for_workers = true},
    setting{.name = "websocket_max_message_size", .field = &c::websocket_max_message_size,
            .default_value = "1048576", .unit = "bytes", .flags = "--websocket-max-message-size",
            .help = "Largest WebSocket message accepted; larger closes the connection with 1009.",
            .min = 1, .max = 1e12, .for_workers = true},
    setting{.name = "websocket_ping_interval", .field = &c::websocket_ping_interval,
            .default_value = "20", .unit = "seconds", .flags = "--websocket-ping-interval",
            .help = "A WebSocket client silent this long gets a ping; silent twice as long, it is "
                    "disconnected. 0 = never.",
            .min = 0, .max = 86400, .for_workers = true},
    setting{.name = "header_map", .field = &c::header_map, .default_value = R"("drop")",
            .flags = "--header-map",
            .help = "Header names with '_' (they can pose as '-' behind proxies): drop them, "
                    "refuse the request (400), or pass them (dangerous).",
            .choices = "drop|refuse|dangerous", .for_workers = true},
    setting{.name = "worker_connections", .field = &c::worker_connections,
            .default_value = "1000", .unit = "connections", .flags = "--worker-connections",
            .help = "Most simultaneous connections per worker; beyond it a worker stops "
                    "accepting so another takes the connection.",
            .min = 1, .max = 1048576, .for_workers = true},
    setting{.name = "threads", .field = &c::threads, .default_value = "4", .unit = "threads",
            .flags = "--threads",
            .help = "Each worker's thread pool for blocking handlers (offload, blocking).",
            .min = 1, .max = 1024, .for_workers = true},
    setting{.name = "server_header", .field = &c::server_header, .default_value = R"("corral")",
            .flags = "--server-header",
            .help = "The Server header of every response; \"\" = none.",
            .for_workers = true},
    setting{.name = "forwarded_allow_ips", .field = &c::forwarded_allow_ips,
            .default_value = R"("127.0.0.1,::1")", .flags = "--forwarded-allow-ips", .value_name = "IPS",
            .help = "Peers trusted for X-Forwarded-For, X-Forwarded-Proto and Forwarded: "
                    "addresses, networks (10.0.0.0/8) or \"*\".",
            .for_workers = true},
    setting{.name = "proxy_protocol", .field = &c::proxy_protocol, .default_value = "false",
            .flags = "--proxy-protocol",
            .help = "Read a PROXY protocol header (v1 or v2, as HAProxy's send-proxy and "
                    "nginx's proxy_protocol send it) before the first request.",
            .for_workers = true},
    setting{.name = "proxy_allow_ips", .field = &c::proxy_allow_ips,
            .default_value = R"("127.0.0.1,::1")", .flags = "--proxy-allow-ips", .value_name = "IPS",
            .help = "Peers allowed to send a PROXY header: addresses, networks or \"*\".",
            .for_workers = true},
    setting{.name = "max_requests", .field = &c::max_requests, .default_value = "0",
            .unit = "requests", .flags = "--max-requests",
            .help = "Replace a worker after it has served this many requests; 0 = never.",
            .min = 0, .max = 2147483647},
    setting{.name = "max_requests_jitter", .field = &c::max_requests_jitter,
            .default_value = "0", .unit = "requests", .flags = "--max-requests-jitter",
            .help = "Adds uniform(0, this) to max_requests, drawn per worker, so workers do not "
                    "recycle all at once.",
            .min = 0, .max = 2147483647},
    setting{.name = "max_worker_memory", .field = &c::max_worker_memory, .default_value = "0",
            .unit = "bytes", .flags = "--max-worker-memory",
            .help = "Replace a worker whose memory (PSS) exceeds this; 0 = never.",
            .min = 0, .max = 1e15},
    setting{.name = "max_worker_lifetime", .field = &c::max_worker_lifetime,
            .default_value = "0", .unit = "seconds", .flags = "--max-worker-lifetime",
            .help = "Replace a worker after it has run this long; 0 = never.",
            .min = 0, .max = 31536000},
    setting{.name = "debug_endpoints", .field = &c::debug_endpoints, .default_value = "false",
            .flags = "--debug-endpoints",
            .help = "Enable the demo app's /stall and /cpu endpoints (never in production).",
            .for_workers = true},
    setting{.name = "pidfile", .field = &c::pidfile, .default_value = R"("")",
            .flags = "-p,--pid", .value_name = "PATH", .help = "Write the master's pid to this file; \"\" = none."},
    setting{.name = "chdir", .field = &c::chdir, .default_value = R"("")",
            .flags = "--chdir", .value_name = "DIR",
            .help = "Change to this directory before binding and spawning; \"\" = stay."},
    setting{.name = "loglevel", .field = &c::loglevel, .default_value = R"("info")",
            .flags = "--log-level", .help = "The least severe messages that are logged.",
            .choices = "debug|info|warning|error|critical", .for_workers = true},
    setting{.name = "errorlog", .field = &c::errorlog, .default_value = R"("-")",
            .flags = "--error-logfile", .value_name = "PATH",
            .help = "Where the master and the workers log; \"-\" = stderr.",
            .for_workers = true},
    setting{.name = "accesslog", .field = &c::accesslog, .default_value = R"("")",
            .flags = "--access-logfile", .value_name = "PATH",
            .help = "Where workers log requests; \"-\" = stderr, \"\" = off.",
            .for_workers = true},
    setting{.name = "control_socket", .field = &c::control_socket, .default_value = R"("")",
            .flags = "--control", .value_name = "PATH",
            .help = "The control socket of `corral status`, `reload`...; \"\" = "
                    "$RUNTIME_DIRECTORY/control.sock, else <pidfile>.sock, else "
                    "corral-<pid>.sock in the user's runtime directory ($XDG_RUNTIME_DIR, "
                    "/run/user/<uid>, /run for root), where `corral status` looks when given "
                    "nothing; \"off\" = none."},
    setting{.name = "metrics_bind", .field = &c::metrics_bind, .default_value = R"("")",
            .flags = "--metrics-bind", .value_name = "HOST:PORT",
            .help = "HOST:PORT serving Prometheus metrics at /metrics; \"\" = off."},
    setting{.name = "worker_tmp_dir", .field = &c::worker_tmp_dir, .default_value = R"("")",
            .flags = "--worker-tmp-dir", .value_name = "DIR",
            .help = "Where the master makes its private directory of notify sockets, one per "
                    "worker; the workers' user must be able to reach it. \"\" = $TMPDIR, "
                    "else /tmp."},
    setting{.name = "access_log_format", .field = &c::access_log_format,
            .default_value = R"("")", .flags = "--access-logformat", .value_name = "FORMAT",
            .help = "Gunicorn's access log atoms (%(h)s %(r)s %(s)s ... {header}i), or "
                    "\"json\" for JSON lines; \"\" = Gunicorn's default format.",
            .for_workers = true},
    setting{.name = "log_format", .field = &c::log_format, .default_value = R"("text")",
            .flags = "--log-format",
            .help = "Error log lines as text, or as JSON objects one per line. Under journald "
                    "(JOURNAL_STREAM) lines carry <N> priority prefixes.",
            .choices = "text|json", .for_workers = true},
    setting{.name = "user", .field = &c::user, .default_value = R"("")", .flags = "-u,--user", .value_name = "USER",
            .help = "Run workers as this user (name or uid); the master binds first, as root "
                    "if it must. \"\" = as the master."},
    setting{.name = "group", .field = &c::group, .default_value = R"("")",
            .flags = "-g,--group", .value_name = "GROUP",
            .help = "Run workers with this group (name or gid); \"\" = the user's primary "
                    "group."},
    setting{.name = "umask", .field = &c::umask, .default_value = "0o022",
            .flags = "-m,--umask",
            .help = "File mode creation mask of the master and the workers (write 0o027 in "
                    "TOML and on the command line).",
            .min = 0, .max = 0777, .octal = true},
    setting{.name = "socket_mode", .field = &c::socket_mode, .default_value = "0",
            .flags = "--socket-mode",
            .help = "Mode of unix listening sockets, e.g. 0o660; 0 = as the umask makes it.",
            .min = 0, .max = 0777, .octal = true},
    setting{.name = "socket_owner", .field = &c::socket_owner, .default_value = R"("")",
            .flags = "--socket-owner", .value_name = "USER[:GROUP]",
            .help = "Owner of unix listening sockets, \"user\" or \"user:group\"; \"\" = "
                    "unchanged."},
    setting{.name = "env", .field = &c::env, .default_value = "{}", .flags = "-e,--env", .value_name = "KEY=VALUE",
            .help = "Extra environment variables for the workers (`-e KEY=VALUE`)."},
};
// clang-format on

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string markdown_escape(std::string_view text) {
    std::string out;
    for (char ch : text) {
        if (ch == '|') out += '\\';
        out += ch;
    }
    return out;
}

}  // namespace

std::span<const setting> settings() { return settings_table; }

const setting* find_setting(std::string_view name) {
    for (const auto& s : settings_table)
        if (s.name == name) return &s;
    return nullptr;
}

std::string_view closest_setting_name(std::string_view name) {
    std::string_view best;
    std::size_t best_distance = 3;  // more edits than this is not a typo
    for (const auto& s : settings_table) {
        auto distance = edit_distance(name, s.name);
        if (distance < best_distance) best = s.name, best_distance = distance;
    }
    return best;
}

std::string environment_variable(const setting& s) {
    std::string name = "CORRAL_";
    for (char ch : s.name) name += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return name;
}

std::string expected_description(const setting& s) {
    std::string text = std::visit(
        [&](auto member) -> std::string {
            using value_type = std::remove_cvref_t<decltype(config{}.*member)>;
            if constexpr (std::is_same_v<value_type, int>) {
                if (s.octal) return std::string("a file mode such as 0o022");
                return s.accepts_auto ? "an integer or \"auto\"" : "an integer";
            } else if constexpr (std::is_same_v<value_type, double>)
                return s.unit == "seconds" ? "a number of seconds" : "a number";
            else if constexpr (std::is_same_v<value_type, bool>)
                return "true or false";
            else if constexpr (std::is_same_v<value_type, std::string>)
                return s.choices.empty() ? "a string" : "one of " + std::string(s.choices);
            else if constexpr (std::is_same_v<value_type, std::vector<std::string>>)
                return "a list of strings";
            else
                return "a table of strings";
        },
        s.field);
    if (s.max > s.min && !s.octal) text += fmt::format(" from {} to {}", s.min, s.max);
    return text;
}

std::string settings_markdown() {
    std::string out =
        "# Configuration\n\n"
        "<!-- Generated from the settings table in shared/settings.cpp by "
        "`corral --print-settings-markdown`; a test checks that they agree. -->\n\n"
        "Each setting can be given, from lowest to highest precedence, as its default, in the "
        "config file (`-c FILE`, else `./corral.toml` when present), in the environment as "
        "`CORRAL_<NAME>` (lists and tables written as TOML values, e.g. "
        "`CORRAL_BIND='[\"[::1]:8000\"]'`; a plain string needs no quotes), and on the command "
        "line. A list given on the command line replaces the file's list; `-e` adds to the "
        "file's `[env]`. `WEB_CONCURRENCY` sets the default worker count, as in Gunicorn. "
        "Numbers are finite: `nan` and `inf`, which TOML allows, are refused.\n\n"
        "Settings marked *worker* are also passed to each worker as `CORRAL_<NAME>`. Each "
        "worker also gets its own generation and request limit (`max_requests` plus its draw "
        "of `max_requests_jitter`) as `CORRAL_WORKER_GENERATION` and "
        "`CORRAL_WORKER_REQUEST_LIMIT` ([worker-protocol.md](worker-protocol.md)).\n\n"
        "`corral --check-config` checks the values, then what would stop corral at start "
        "without changing anything: that `user`, `group` and `socket_owner` exist, that the "
        "worker command can be executed, that the `bind` and `metrics_bind` hosts resolve, "
        "that `chdir` and the directories of the sockets, `pidfile` and the logs exist, and that "
        "unix socket paths fit (107 bytes). It exits 2 with one line per problem, naming the "
        "setting ([operations.md](operations.md)).\n\n"
        "| key | flag | environment | default | unit | accepts | description |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n";
    for (const auto& s : settings_table) {
        std::string flags = s.flags.empty() ? "" : fmt::format("`{}`", s.flags);
        if (auto comma = flags.find(','); comma != std::string::npos)
            flags.replace(comma, 1, "`, `");
        out += fmt::format("| `{}` | {} | `{}` | `{}` | {} | {} | {}{} |\n", s.name, flags,
                           environment_variable(s), markdown_escape(s.default_value), s.unit,
                           markdown_escape(expected_description(s)), markdown_escape(s.help),
                           s.for_workers ? " *worker*" : "");
    }
    return out;
}

}  // namespace corral
