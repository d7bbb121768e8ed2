#pragma once
// The effective configuration and how it is assembled from its four layers:
// defaults < config file < environment < command line.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace corral {

/// Every setting's value. Which setting fills which field, with its default, unit and help,
/// is written once, in the table of settings.cpp.
struct config {
    std::vector<std::string> bind;                ///< listen addresses
    int workers = 1;                              ///< worker processes ("auto" resolved)
    double timeout = 30;                          ///< seconds without a heartbeat
    double graceful_timeout = 30;                 ///< seconds a stopping worker may drain
    double boot_timeout = 30;                     ///< seconds until READY=1
    int backlog = 2048;                           ///< listen() queue length
    bool reuse_port = true;                       ///< an accept shard per worker (TCP)
    std::string pidfile;                          ///< "" = none
    std::string chdir;                            ///< "" = stay
    std::map<std::string, std::string> env;       ///< extra worker environment
    std::string loglevel = "info";                ///< debug .. critical
    std::string errorlog = "-";                   ///< "-" = stderr
    std::string accesslog;                        ///< "" = off, "-" = stderr
    std::string log_format = "text";              ///< text or json
    std::string user;                             ///< workers run as; "" = as the master
    std::string group;                            ///< "" = the user's primary group
    int umask = 022;                              ///< file mode creation mask
    int socket_mode = 0;                          ///< unix listeners' mode; 0 = by umask
    std::string socket_owner;                     ///< unix listeners' "user[:group]"
    double keepalive = 5;                         ///< seconds an idle connection stays open
    int limit_request_line = 4094;                ///< bytes of the request line; 0 = no limit
    int limit_request_fields = 100;               ///< header fields per request
    int limit_request_field_size = 8190;          ///< bytes of one header line; 0 = no limit
    double max_body_size = 1048576;               ///< bytes of a request body
    double header_timeout = 10;                   ///< seconds for a whole request head
    double body_timeout = 30;                     ///< seconds between two pieces of a body
    double websocket_max_message_size = 1048576;  ///< bytes of one WebSocket message
    double websocket_ping_interval = 20;          ///< seconds of silence before a ping; 0 = off
    std::string header_map = "drop";              ///< names with '_': drop, refuse, dangerous
    int worker_connections = 1000;                ///< simultaneous connections per worker
    int threads = 4;                              ///< a worker's pool for blocking handlers
    std::string access_log_format;                ///< Gunicorn's atoms, or "json"; "" = default
    std::string server_header = "corral";         ///< the Server header; "" = none
    std::string forwarded_allow_ips = "127.0.0.1,::1";  ///< trusted for X-Forwarded-*
    bool proxy_protocol = false;                        ///< accept a PROXY header first
    std::string proxy_allow_ips = "127.0.0.1,::1";      ///< who may send a PROXY header
    std::vector<std::string> worker_command;            ///< empty = the built-in corral-worker
    int max_surge = 0;               ///< extra workers while replacing; 0 = workers
    int max_requests = 0;            ///< recycle a worker after this many; 0 = off
    int max_requests_jitter = 0;     ///< + uniform(0, this), drawn per worker
    double max_worker_memory = 0;    ///< bytes of PSS; 0 = off
    double max_worker_lifetime = 0;  ///< seconds; 0 = off
    bool debug_endpoints = false;    ///< demo app: /stall and /cpu
    std::string control_socket;      ///< "" = automatic, "off" = none
    std::string metrics_bind;        ///< "" = off
    std::string worker_tmp_dir;      ///< the notify sockets' directory; "" = $TMPDIR or /tmp

    std::optional<std::filesystem::path> file;  ///< the config file that was read, if any
};

/// A config problem, with where it was found (file:line:column, variable or flag) in the text.
struct config_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A value given on the command line for one setting: one entry, or several for a list.
struct command_line_value {
    std::string setting;              ///< setting name, e.g. "bind"
    std::string flag;                 ///< as typed, for messages, e.g. "--bind"
    std::vector<std::string> values;  ///< one per occurrence of the flag
};

/// Everything a configuration is built from. Kept so a reload can build it again.
struct config_sources {
    std::optional<std::filesystem::path> file{};       ///< -c FILE
    bool look_for_default_file = true;                 ///< read ./corral.toml if there
    std::map<std::string, std::string> environment{};  ///< the process environment
    std::vector<command_line_value> command_line{};    ///< flags, in the order given
    std::vector<std::string> worker_command{};         ///< after `--`
};

/// Makes the config file's path absolute, so that a later load (a reload after `chdir`)
/// reads the same file; ./corral.toml is then the one found now, or none.
void pin_config_file(config_sources& sources);

/// Builds the effective configuration; throws config_error naming the file, line, column,
/// key, what was expected and what was found.
config load_config(const config_sources& sources);

/// The settings a worker gets (those the table marks for workers), from its environment
/// alone: no file, no command line, no WEB_CONCURRENCY. A CORRAL_<NAME> variable of a
/// master-only setting, inherited from the master's own environment, is not read. Throws
/// config_error naming the variable.
config load_worker_config(const std::map<std::string, std::string>& environment);

/// The integer in environment variable `name`, read as settings are (a TOML value) and
/// within [min, max]; nullopt when the variable is not set. Throws config_error naming the
/// variable, what was expected and what was found. For variables that are not settings.
std::optional<std::int64_t> integer_variable(const std::map<std::string, std::string>& environment,
                                             const std::string& name, std::int64_t min,
                                             std::int64_t max);

/// The process environment as a map.
std::map<std::string, std::string> current_environment();

/// The effective configuration as a TOML document that load_config reads back unchanged.
std::string print_config(const config& cfg);

/// A setting whose value differs between two configurations, both values as TOML text.
struct setting_change {
    std::string_view name;
    std::string before, after;
};

/// The settings that differ between `before` and `after`, in the table's order.
std::vector<setting_change> changed_settings(const config& before, const config& after);

/// The worker-side settings as `CORRAL_<NAME>=value` entries for a worker's environment.
std::vector<std::string> worker_setting_variables(const config& cfg);

}  // namespace corral
