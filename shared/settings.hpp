#pragma once
// The table of settings: the single source of truth for every key's name, type, default,
// unit, command-line flag, environment variable and help. Config loading, --print-config,
// the worker environment and docs/configuration.md are all driven by it.

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shared/config.hpp"

namespace corral {

/// Where in `config` a setting lives; the member's type is the setting's type.
using setting_field =
    std::variant<int config::*, double config::*, bool config::*, std::string config::*,
                 std::vector<std::string> config::*, std::map<std::string, std::string> config::*>;

/// One row of the table.
struct setting {
    std::string_view name{};           ///< the TOML key; the env variable is CORRAL_<NAME>
    setting_field field{};             ///< where the value is stored
    std::string_view default_value{};  ///< as a TOML value
    std::string_view unit{};           ///< "seconds", "processes", ... or ""
    std::string_view flags{};          ///< CLI11 names, e.g. "-w,--workers"; "" = none
    std::string_view value_name{};     ///< in --help: "ADDR", "PATH"...; "" = from the type
    std::string_view help{};           ///< one line
    double min = 0;                    ///< numbers: smallest accepted value
    double max = 0;                    ///< numbers: largest accepted value
    std::string_view choices{};        ///< strings: accepted values separated by '|', or ""
    bool for_workers = false;          ///< passed to workers as CORRAL_<NAME>
    bool accepts_auto = false;         ///< "auto" = the CPUs this process may use
    bool octal = false;                ///< a file mode: shown as 0o022
};

/// All settings, in the order the docs and --print-config list them.
std::span<const setting> settings();

/// The setting with this TOML key, or nullptr.
const setting* find_setting(std::string_view name);

/// The closest setting name, for "did you mean" hints; "" when nothing is close.
std::string_view closest_setting_name(std::string_view name);

/// CORRAL_<NAME>, the environment variable of a setting.
std::string environment_variable(const setting& s);

/// "an integer", "a number of seconds", "a list of strings", ... for error messages.
std::string expected_description(const setting& s);

/// The table as Markdown: docs/configuration.md is this text.
std::string settings_markdown();

}  // namespace corral
