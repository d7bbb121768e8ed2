#include "master/command_line.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>

#include "shared/settings.hpp"

namespace corral {
namespace {

std::string option_help(const setting& s) {
    return fmt::format("{} [default: {}{}{}] [env: {}]", s.help, s.default_value,
                       s.unit.empty() ? "" : " ", s.unit, environment_variable(s));
}

/// What --help shows after the flag: the table's name for it, else one from its type and
/// unit (N, SECONDS, BYTES, MODE, the choices).
std::string value_name(const setting& s) {
    if (!s.value_name.empty()) return std::string(s.value_name);
    if (s.octal) return "MODE";
    if (!s.choices.empty()) {
        std::string choices(s.choices);
        std::replace(choices.begin(), choices.end(), '|', ',');
        return "{" + choices + "}";
    }
    if (s.unit == "seconds") return "SECONDS";
    if (s.unit == "bytes") return "BYTES";
    if (std::holds_alternative<int config::*>(s.field) ||
        std::holds_alternative<double config::*>(s.field))
        return s.accepts_auto ? "N|auto" : "N";
    return "TEXT";
}

}  // namespace

command_line parse_command_line(int argc, const char* const* argv) {
    command_line result;
    std::vector<std::string> words(argv + 1, argv + argc);
    if (auto dashes = std::find(words.begin(), words.end(), "--"); dashes != words.end()) {
        result.sources.worker_command.assign(dashes + 1, words.end());
        words.erase(dashes, words.end());
        if (result.sources.worker_command.empty())
            throw usage_error("`--` must be followed by the worker command");
    }

    CLI::App app{"corral: a pre-fork process manager for async C++ HTTP workers", "corral"};
    app.footer(
        "Control commands: corral status|reload|scale|stop|reopen-logs|upgrade --help\n"
        "Exit status: 0 clean stop, 1 runtime failure, 2 usage or config error, "
        "3 the first workers could not boot.\nDocs: docs/configuration.md");
    app.set_version_flag("--version", "corral " CORRAL_VERSION);

    std::string config_file;
    app.add_option("-c,--config", config_file,
                   "Config file (TOML) [default: ./corral.toml if present]")
        ->type_name("FILE");
    std::vector<std::pair<const setting*, std::vector<std::string>>> values;
    values.reserve(settings().size());
    std::vector<CLI::Option*> options;
    for (const auto& s : settings()) {
        if (s.flags.empty()) continue;
        auto& storage = values.emplace_back(&s, std::vector<std::string>{}).second;
        if (std::holds_alternative<bool config::*>(s.field)) {
            options.push_back(app.add_flag(std::string(s.flags))->description(option_help(s)));
            continue;
        }
        auto* option = app.add_option(std::string(s.flags), storage, option_help(s));
        bool repeatable =
            std::holds_alternative<std::vector<std::string> config::*>(s.field) ||
            std::holds_alternative<std::map<std::string, std::string> config::*>(s.field);
        option->type_size(1)->allow_extra_args(false)->type_name(value_name(s));
        // One value each time; a repeatable one (-b, -e) may be given again, and only it
        // gets CLI11's "..." in --help.
        if (!repeatable) option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
        option->expected(1, repeatable ? CLI::detail::expected_max_vector_size : 1);
        options.push_back(option);
    }
    bool check = false, print = false, markdown = false;
    app.add_flag("--check-config", check, "Check the configuration and exit (0 when valid)");
    app.add_flag("--print-config", print, "Print the effective configuration as TOML and exit");
    app.add_flag("--print-settings-markdown", markdown, "Print docs/configuration.md")->group("");

    std::vector<const char*> cli_argv{argv[0]};
    for (const auto& word : words) cli_argv.push_back(word.c_str());
    try {
        app.parse(static_cast<int>(cli_argv.size()), cli_argv.data());
    } catch (const CLI::CallForHelp&) {
        throw early_exit{app.help()};
    } catch (const CLI::CallForVersion& e) {
        throw early_exit{std::string(e.what()) + "\n"};
    } catch (const CLI::ParseError& e) {
        throw usage_error(e.what());
    }

    if (!config_file.empty()) result.sources.file = config_file;
    result.sources.environment = current_environment();
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (std::holds_alternative<bool config::*>(values[i].first->field) && options[i]->count())
            values[i].second = {options[i]->as<bool>() ? "true" : "false"};  // --no-x: false
        if (!values[i].second.empty())
            result.sources.command_line.push_back(
                {std::string(values[i].first->name), options[i]->get_name(), values[i].second});
    }
    if (markdown)
        result.what = command_line::action::print_settings_markdown;
    else if (print)
        result.what = command_line::action::print_config;
    else if (check)
        result.what = command_line::action::check_config;
    return result;
}

}  // namespace corral
