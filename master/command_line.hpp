#pragma once
// `corral [OPTIONS] [-- COMMAND ARGS...]`: the flags, generated from the settings table
// with CLI11, plus the actions that do not run the master.

#include <string>

#include "shared/config.hpp"

namespace corral {

struct command_line {
    enum class action { run, check_config, print_config, print_settings_markdown };

    action what = action::run;
    config_sources sources;
};

/// Bad flags: the message for stderr, exit status 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// --help and --version: the text for stdout, exit status 0.
struct early_exit {
    std::string text;
};

/// Parses argv (everything after the first `--` is the worker command). Throws usage_error
/// or early_exit.
command_line parse_command_line(int argc, const char* const* argv);

}  // namespace corral
