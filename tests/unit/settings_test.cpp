// The settings table against the files that document it.

#include "shared/settings.hpp"

#include <doctest/doctest.h>
#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "shared/config.hpp"

using namespace corral;

namespace {

std::string read_source_file(const std::string& relative) {
    std::ifstream file(std::filesystem::path(CORRAL_SOURCE_DIR) / relative);
    REQUIRE_MESSAGE(file, relative << " is missing");
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE(
    "docs/configuration.md is the table's Markdown (regenerate: corral "
    "--print-settings-markdown)") {
    CHECK(read_source_file("docs/configuration.md") == settings_markdown());
}

TEST_CASE("conf/corral.toml documents every setting with its default") {
    auto text = read_source_file("conf/corral.toml");
    for (const auto& s : settings()) {
        CAPTURE(s.name);
        if (s.name == "env") {
            CHECK(text.find("[env]") != std::string::npos);
            continue;
        }
        std::string documented = "# " + std::string(s.name) + " = " + std::string(s.default_value);
        CHECK_MESSAGE(text.find(documented + "\n") != std::string::npos,
                      "expected a line `" << documented << "`");
    }
}

TEST_CASE("conf/corral.toml is valid and runs the demo: 2 workers on 127.0.0.1:8000") {
    config_sources sources;
    sources.file = std::filesystem::path(CORRAL_SOURCE_DIR) / "conf/corral.toml";
    auto cfg = load_config(sources);
    CHECK(cfg.workers == 2);
    CHECK(cfg.bind == std::vector<std::string>{"127.0.0.1:8000"});
    CHECK(cfg.errorlog == "-");
}

TEST_CASE("every setting has a valid default, help, and an environment variable") {
    for (const auto& s : settings()) {
        CAPTURE(s.name);
        CHECK(!s.help.empty());
        CHECK(environment_variable(s).starts_with("CORRAL_"));
        CHECK_NOTHROW(toml::parse("value = " + std::string(s.default_value)));
    }
    CHECK(closest_setting_name("wokers") == "workers");
    CHECK(closest_setting_name("xyzzy").empty());
}
