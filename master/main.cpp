// corral, the master: parse the command line, load the configuration, run the arbiter.

#include <sys/stat.h>

#include <iostream>

#include "master/arbiter.hpp"
#include "master/command_line.hpp"
#include "master/control_client.hpp"
#include "master/startup_checks.hpp"
#include "shared/exit_codes.hpp"
#include "shared/log.hpp"
#include "shared/settings.hpp"

int main(int argc, char** argv) {
    using namespace corral;
    if (is_control_command(argc, argv)) return run_control_command(argc, argv);
    command_line cli;
    config cfg;
    try {
        cli = parse_command_line(argc, argv);
        if (cli.what == command_line::action::print_settings_markdown) {
            std::cout << settings_markdown();
            return exit_code::clean_stop;
        }
        cfg = load_config(cli.sources);
        if (cli.what != command_line::action::print_config)
            check_control_socket_path(cfg, cli.sources.environment);
    } catch (const early_exit& done) {
        std::cout << done.text;
        return exit_code::clean_stop;
    } catch (const std::exception& e) {
        std::cerr << "corral: error: " << e.what() << "\nRun `corral --help` for the options.\n";
        return exit_code::usage_error;
    }
    if (cli.what == command_line::action::check_config) {
        auto problems = startup_problems(cfg, cli.sources);
        for (const auto& problem : problems) std::cerr << "corral: error: " << problem << "\n";
        if (!problems.empty()) return exit_code::usage_error;
        std::cout << "corral: configuration OK"
                  << (cfg.file ? " (" + cfg.file->string() + ")" : std::string()) << "\n";
        return exit_code::clean_stop;
    }
    if (cli.what == command_line::action::print_config) {
        std::cout << print_config(cfg);
        return exit_code::clean_stop;
    }
    try {
        log::set_level(log::parse_level(cfg.loglevel));
        log::set_format(cfg.log_format);
        ::umask(static_cast<mode_t>(cfg.umask));  // before any file is created
        log::open(cfg.errorlog);
        return arbiter(std::move(cfg), std::move(cli.sources),
                       std::vector<std::string>(argv + 1, argv + argc))
            .run();
    } catch (const std::exception& e) {
        log::critical("{}", e.what());
        return exit_code::runtime_failure;
    }
}
