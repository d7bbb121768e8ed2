#include "shared/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "shared/address_list.hpp"
#include "shared/bind_address.hpp"
#include "shared/cpu_count.hpp"
#include "shared/settings.hpp"

extern char** environ;

namespace corral {
namespace {

/// Where a value came from: a file (then each node knows its line and column) or a label
/// such as "environment variable CORRAL_WORKERS" or "option --workers".
struct origin {
    std::string file;
    std::string label;

    std::string at(const toml::node& node) const {
        const auto& begin = node.source().begin;
        if (file.empty() || !begin) return label;
        return fmt::format("{}:{}:{}", file, begin.line, begin.column);
    }
};

/// A TOML basic string: "text", with quotes, backslashes and control characters escaped.
std::string toml_quote(std::string_view text) {
    std::string out = "\"";
    for (char ch : text) {
        switch (ch) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
                    out += fmt::format("\\u{:04X}", static_cast<unsigned char>(ch));
                else
                    out += ch;
        }
    }
    return out + "\"";
}

/// A table key: bare when it can be, else quoted.
std::string toml_key(std::string_view key) {
    bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
    });
    return bare ? std::string(key) : toml_quote(key);
}

std::string toml_number(double value) {
    if (value == std::floor(value) && std::abs(value) < 1e15)
        return std::to_string(static_cast<long long>(value));
    return fmt::format("{}", value);
}

/// What a node holds, for "got ..." in error messages.
std::string describe(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return "string " + toml_quote(*node.value<std::string>());
        case toml::node_type::integer:
            return "integer " + std::to_string(*node.value<std::int64_t>());
        case toml::node_type::floating_point:
            return "number " + toml_number(*node.value<double>());
        case toml::node_type::boolean:
            return *node.value<bool>() ? "boolean true" : "boolean false";
        case toml::node_type::array:
            return "a list";
        case toml::node_type::table:
            return "a table";
        default:
            return "a date or time";
    }
}

[[noreturn]] void fail(const origin& from, const toml::node& node, const setting& s,
                       std::string_view got) {
    throw config_error(fmt::format("{}: {}: expected {}, got {}", from.at(node), s.name,
                                   expected_description(s), got));
}

void check_range(const origin& from, const toml::node& node, const setting& s, double value) {
    // Written so that NaN, which compares false with everything, is out of range too.
    if (s.max > s.min && !(value >= s.min && value <= s.max)) fail(from, node, s, describe(node));
}

void assign_value(int& field, const setting& s, const toml::node& node, const origin& from) {
    if (auto text = node.value<std::string>(); text && *text == "auto" && s.accepts_auto) {
        field = available_cpus();
        return;
    }
    if (!node.is_integer()) fail(from, node, s, describe(node));
    auto value = *node.value<std::int64_t>();
    check_range(from, node, s, static_cast<double>(value));
    field = static_cast<int>(value);
}

void assign_value(double& field, const setting& s, const toml::node& node, const origin& from) {
    if (!node.is_number()) fail(from, node, s, describe(node));
    double value = *node.value<double>();
    // TOML has nan and inf: `timeout = nan` would turn hang detection off without a word.
    if (!std::isfinite(value)) fail(from, node, s, describe(node));
    check_range(from, node, s, value);
    field = value;
}

void assign_value(bool& field, const setting& s, const toml::node& node, const origin& from) {
    if (!node.is_boolean()) fail(from, node, s, describe(node));
    field = *node.value<bool>();
}

bool is_choice(std::string_view choices, std::string_view value) {
    while (!choices.empty()) {
        auto bar = choices.find('|');
        if (choices.substr(0, bar) == value) return true;
        if (bar == std::string_view::npos) break;
        choices.remove_prefix(bar + 1);
    }
    return false;
}

/// The checks some strings need beyond their type; throws std::invalid_argument saying
/// what is wrong, as the parsers they share with the master's start do.
void check_text(const setting& s, const std::string& value) {
    if (s.name.ends_with("_allow_ips")) {
        address_list{value};
    } else if (s.name == "metrics_bind" && !value.empty()) {
        try {
            parse_host_port(value);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(fmt::format("invalid address \"{}\": {}", value, e.what()));
        }
    } else if (s.name == "control_socket" && !value.empty() && value != "off") {
        if (auto problem = unix_path_problem(value); !problem.empty())
            throw std::invalid_argument(problem);
    }
}

void assign_value(std::string& field, const setting& s, const toml::node& node,
                  const origin& from) {
    auto value = node.value<std::string>();
    if (!value || (!s.choices.empty() && !is_choice(s.choices, *value)))
        fail(from, node, s, describe(node));
    try {
        check_text(s, *value);
    } catch (const std::invalid_argument& e) {
        throw config_error(fmt::format("{}: {}: {}", from.at(node), s.name, e.what()));
    }
    field = *value;
}

void assign_value(std::vector<std::string>& field, const setting& s, const toml::node& node,
                  const origin& from) {
    const auto* array = node.as_array();
    if (!array) fail(from, node, s, describe(node));
    std::vector<std::string> values;
    for (const auto& element : *array) {
        auto value = element.value<std::string>();
        if (!value) fail(from, element, s, "a list holding " + describe(element));
        values.push_back(*value);
    }
    if (s.name == "bind") {
        if (values.empty()) fail(from, node, s, "an empty list");
        for (std::size_t i = 0; i < values.size(); ++i) {
            try {
                parse_bind_address(values[i]);
            } catch (const std::invalid_argument& e) {
                throw config_error(fmt::format("{}: bind: invalid address \"{}\": {}",
                                               from.at(*array->get(i)), values[i], e.what()));
            }
        }
    }
    field = std::move(values);
}

void assign_value(std::map<std::string, std::string>& field, const setting& s,
                  const toml::node& node, const origin& from) {
    const auto* table = node.as_table();
    if (!table) fail(from, node, s, describe(node));
    for (const auto& [key, value] : *table) {
        auto text = value.value<std::string>();
        if (!text) fail(from, value, s, "key " + std::string(key.str()) + " = " + describe(value));
        field[std::string(key.str())] = *text;
    }
}

void assign(config& cfg, const setting& s, const toml::node& node, const origin& from) {
    std::visit([&](auto member) { assign_value(cfg.*member, s, node, from); }, s.field);
}

/// Only a regular file: a directory opens as an empty stream and would pass for an empty
/// config, leaving `-c /etc/corral/` on the defaults without a word.
toml::table read_file(const std::filesystem::path& path) {
    auto cannot_read = [&](std::string_view why) {
        return config_error(fmt::format("cannot read config file {}: {}", path.string(), why));
    };
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (ec) throw cannot_read(ec.message());
    if (std::filesystem::is_directory(status)) throw cannot_read("it is a directory");
    if (!std::filesystem::is_regular_file(status)) throw cannot_read("it is not a regular file");
    std::ifstream stream(path);
    if (!stream) throw cannot_read(std::strerror(errno));
    try {
        return toml::parse(stream, path.string());
    } catch (const toml::parse_error& e) {
        const auto& begin = e.source().begin;
        throw config_error(fmt::format("{}:{}:{}: invalid TOML: {}", path.string(), begin.line,
                                       begin.column, e.description()));
    }
}

void apply_file(config& cfg, const std::filesystem::path& path) {
    toml::table document = read_file(path);
    origin from{path.string(), ""};
    for (const auto& [key, node] : document) {
        const setting* s = find_setting(key.str());
        if (!s) {
            auto hint = closest_setting_name(key.str());
            throw config_error(
                fmt::format("{}:{}:{}: unknown setting \"{}\"{}", from.file,
                            key.source().begin.line, key.source().begin.column, key.str(),
                            hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint)));
        }
        assign(cfg, *s, node, from);
    }
    cfg.file = path;
}

bool holds_string(const setting& s) {
    return std::holds_alternative<std::string config::*>(s.field);
}

bool holds_list(const setting& s) {
    return std::holds_alternative<std::vector<std::string> config::*>(s.field);
}

/// Turns text from the environment or the command line into a TOML node: strings are taken
/// as they are; other types are read as a TOML value, falling back to the plain text (a
/// single-entry list for lists) so that the error, if any, shows what was given.
toml::table text_as_node(const setting& s, const std::string& text) {
    toml::table holder;
    if (!holds_string(s)) {
        try {
            holder = toml::parse("value = " + text);
            if (!holds_list(s) || holder["value"].is_array()) return holder;
        } catch (const toml::parse_error&) {
        }
    }
    if (holds_list(s))
        holder.insert_or_assign("value", toml::array{text});
    else
        holder.insert_or_assign("value", text);
    return holder;
}

void apply_text(config& cfg, const setting& s, const std::string& text, const origin& from) {
    toml::table holder = text_as_node(s, text);
    assign(cfg, s, *holder.get("value"), from);
}

void apply_variable(config& cfg, const setting& s,
                    const std::map<std::string, std::string>& environment) {
    auto name = environment_variable(s);
    if (auto found = environment.find(name); found != environment.end())
        apply_text(cfg, s, found->second, {"", "environment variable " + name});
}

void apply_env_pairs(config& cfg, const command_line_value& given) {
    for (const auto& pair : given.values) {
        auto equals = pair.find('=');
        if (equals == std::string::npos || equals == 0)
            throw config_error(
                fmt::format("option {}: env: expected KEY=VALUE, got \"{}\"", given.flag, pair));
        cfg.env[pair.substr(0, equals)] = pair.substr(equals + 1);
    }
}

void apply_command_line(config& cfg, const std::vector<command_line_value>& command_line) {
    for (const auto& given : command_line) {
        const setting* s = find_setting(given.setting);
        if (!s || given.values.empty()) continue;
        origin from{"", "option " + given.flag};
        if (s->name == "env") {
            apply_env_pairs(cfg, given);
        } else if (holds_list(*s)) {
            toml::table holder;
            toml::array values;
            for (const auto& value : given.values) values.push_back(value);
            holder.insert_or_assign("value", std::move(values));
            assign(cfg, *s, *holder.get("value"), from);
        } else {
            apply_text(cfg, *s, given.values.back(), from);
        }
    }
}

config defaults() {
    config cfg;
    for (const auto& s : settings()) {
        toml::table holder = toml::parse("value = " + std::string(s.default_value));
        assign(cfg, s, *holder.get("value"), {"", "default"});
    }
    return cfg;
}

/// A setting's current value as TOML text.
std::string format_value(const config& cfg, const setting& s) {
    return std::visit(
        [&](auto member) -> std::string {
            const auto& value = cfg.*member;
            using value_type = std::remove_cvref_t<decltype(value)>;
            if constexpr (std::is_same_v<value_type, bool>) {
                return value ? "true" : "false";
            } else if constexpr (std::is_same_v<value_type, int>) {
                return s.octal ? fmt::format("0o{:03o}", value) : std::to_string(value);
            } else if constexpr (std::is_same_v<value_type, double>) {
                return toml_number(value);
            } else if constexpr (std::is_same_v<value_type, std::string>) {
                return toml_quote(value);
            } else if constexpr (std::is_same_v<value_type, std::vector<std::string>>) {
                std::string out = "[";
                for (const auto& element : value)
                    out += (out.size() > 1 ? ", " : "") + toml_quote(element);
                return out + "]";
            } else {
                std::string out;
                for (const auto& [key, element] : value)
                    out += toml_key(key) + " = " + toml_quote(element) + "\n";
                return out;
            }
        },
        s.field);
}

bool holds_table(const setting& s) {
    return std::holds_alternative<std::map<std::string, std::string> config::*>(s.field);
}

}  // namespace

config load_config(const config_sources& sources) {
    config cfg = defaults();
    if (auto found = sources.environment.find("WEB_CONCURRENCY");
        found != sources.environment.end())
        apply_text(cfg, *find_setting("workers"), found->second,
                   {"", "environment variable WEB_CONCURRENCY"});
    if (sources.file)
        apply_file(cfg, *sources.file);
    else if (sources.look_for_default_file && std::filesystem::exists("corral.toml"))
        apply_file(cfg, "corral.toml");
    for (const auto& s : settings()) apply_variable(cfg, s, sources.environment);
    apply_command_line(cfg, sources.command_line);
    if (!sources.worker_command.empty()) cfg.worker_command = sources.worker_command;
    return cfg;
}

config load_worker_config(const std::map<std::string, std::string>& environment) {
    config cfg = defaults();
    for (const auto& s : settings())
        if (s.for_workers) apply_variable(cfg, s, environment);
    return cfg;
}

std::optional<std::int64_t> integer_variable(const std::map<std::string, std::string>& environment,
                                             const std::string& name, std::int64_t min,
                                             std::int64_t max) {
    auto found = environment.find(name);
    if (found == environment.end()) return std::nullopt;
    toml::table holder;
    try {
        holder = toml::parse("value = " + found->second);
    } catch (const toml::parse_error&) {
        holder.insert_or_assign("value", found->second);  // the error shows the text given
    }
    const toml::node& node = *holder.get("value");
    auto value = node.value_exact<std::int64_t>();
    if (!value || *value < min || *value > max)
        throw config_error(
            fmt::format("environment variable {}: expected an integer from {} "
                        "to {}, got {}",
                        name, min, max, describe(node)));
    return value;
}

std::map<std::string, std::string> current_environment() {
    std::map<std::string, std::string> environment;
    for (char** entry = environ; entry && *entry; ++entry) {
        std::string_view text(*entry);
        auto equals = text.find('=');
        if (equals != std::string_view::npos)
            environment.emplace(text.substr(0, equals), text.substr(equals + 1));
    }
    return environment;
}

void pin_config_file(config_sources& sources) {
    if (sources.file) {
        sources.file = std::filesystem::absolute(*sources.file);
    } else if (sources.look_for_default_file) {
        if (std::filesystem::exists("corral.toml"))
            sources.file = std::filesystem::absolute("corral.toml");
        sources.look_for_default_file = false;
    }
}

std::string print_config(const config& cfg) {
    std::string out;
    if (cfg.file) out += "# effective configuration; file: " + cfg.file->string() + "\n";
    for (const auto& s : settings())  // keys first: a table ends the top level
        if (!holds_table(s)) out += std::string(s.name) + " = " + format_value(cfg, s) + "\n";
    for (const auto& s : settings())
        if (holds_table(s)) out += "\n[" + std::string(s.name) + "]\n" + format_value(cfg, s);
    return out;
}

std::vector<setting_change> changed_settings(const config& before, const config& after) {
    std::vector<setting_change> changes;
    auto one_line = [](std::string text) {  // a table is one "key = value" line per entry
        while (!text.empty() && text.back() == '\n') text.pop_back();
        for (auto at = text.find('\n'); at != std::string::npos; at = text.find('\n', at))
            text.replace(at, 1, ", ");
        return "{" + text + "}";
    };
    for (const auto& s : settings()) {
        auto was = format_value(before, s), is = format_value(after, s);
        if (was == is) continue;
        if (holds_table(s)) {
            was = one_line(was);
            is = one_line(is);
        }
        changes.push_back({s.name, std::move(was), std::move(is)});
    }
    return changes;
}

std::vector<std::string> worker_setting_variables(const config& cfg) {
    std::vector<std::string> variables;
    for (const auto& s : settings()) {
        if (!s.for_workers) continue;
        auto* text_field = std::get_if<std::string config::*>(&s.field);
        // Strings go as they are; everything else as its TOML value.
        variables.push_back(environment_variable(s) + "=" +
                            (text_field ? cfg.**text_field : format_value(cfg, s)));
    }
    return variables;
}

}  // namespace corral
