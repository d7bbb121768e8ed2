// docs/sdk.md shows the files of docs/examples/ (which CI builds) as they are.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, "cannot read " << path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("docs/sdk.md shows each docs/examples/*.cpp verbatim") {
    auto source = std::filesystem::path(CORRAL_SOURCE_DIR);
    auto guide = read_file(source / "docs/sdk.md");
    int examples = 0;
    for (const auto& entry : std::filesystem::directory_iterator(source / "docs/examples")) {
        if (entry.path().extension() != ".cpp") continue;
        ++examples;
        auto code = read_file(entry.path());
        CHECK_MESSAGE(guide.find("```cpp\n" + code + "```") != std::string::npos,
                      entry.path().filename().string()
                          << " is not in docs/sdk.md as it is: copy it into its section again");
    }
    CHECK(examples >= 5);
}
