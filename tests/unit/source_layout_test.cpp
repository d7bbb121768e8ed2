// worker/src's folders include one another one way (docs/design.md, "The worker"): no
// cycle between two folders, and the server and the transport name no protocol, so a
// protocol (HTTP/2) or a transport (TLS) is added beside the others, not into them.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using folder_graph = std::map<std::string, std::set<std::string>>;

/// The folder of worker/src an include line names ("server" for `#include "server/x.hpp"`
/// or `#include <server/x.hpp>`, both of which compile: worker/src is on the include
/// path), or "" for any other line.
std::string included_folder(const std::string& line) {
    auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line.compare(start, 8, "#include") != 0) return {};
    auto open = line.find_first_of("\"<", start + 8);
    if (open == std::string::npos) return {};
    auto slash = line.find('/', open + 1);
    auto close = line.find_first_of("\">", open + 1);
    if (slash == std::string::npos || close == std::string::npos || close < slash) return {};
    return line.substr(open + 1, slash - open - 1);
}

/// For each folder of worker/src, the other folders of worker/src its files (in it or
/// below it) include.
folder_graph worker_folder_includes() {
    auto root = std::filesystem::path(CORRAL_SOURCE_DIR) / "worker" / "src";
    std::set<std::string> folders;
    for (const auto& entry : std::filesystem::directory_iterator(root))
        if (entry.is_directory()) folders.insert(entry.path().filename().string());
    folder_graph graph;
    for (const auto& folder : folders) {
        graph[folder];
        for (const auto& file : std::filesystem::recursive_directory_iterator(root / folder)) {
            if (!file.is_regular_file()) continue;
            std::ifstream in(file.path());
            REQUIRE_MESSAGE(in, "cannot read " << file.path());
            for (std::string line; std::getline(in, line);) {
                auto target = included_folder(line);
                if (target == "..")
                    FAIL_CHECK(file.path() << " includes by a relative path: " << line);
                if (target != folder && folders.count(target)) graph[folder].insert(target);
            }
        }
    }
    return graph;
}

std::string listed(const std::set<std::string>& folders) {
    std::string text = "{";
    for (const auto& folder : folders) {
        if (text.size() > 1) text += ", ";
        text += folder;
    }
    text += "}";
    return text;
}

/// A cycle reachable from the last folder of `path` as "a -> b -> a", or "" when there is
/// none.
std::string cycle_from(const folder_graph& graph, const std::string& from,
                       std::vector<std::string>& path) {
    for (const auto& next : graph.at(from)) {
        auto seen = std::find(path.begin(), path.end(), next);
        if (seen != path.end()) {
            std::string text;
            for (auto it = seen; it != path.end(); ++it) {
                text += *it;
                text += " -> ";
            }
            text += next;
            return text;
        }
        path.push_back(next);
        if (auto found = cycle_from(graph, next, path); !found.empty()) return found;
        path.pop_back();
    }
    return {};
}

}  // namespace

TEST_CASE("worker/src: no two folders include each other, directly or through others") {
    auto graph = worker_folder_includes();
    REQUIRE(graph.count("server"));
    for (const auto& [folder, targets] : graph) {
        std::vector<std::string> path{folder};
        auto cycle = cycle_from(graph, folder, path);
        CHECK_MESSAGE(cycle.empty(), "worker/src folders include each other: " << cycle);
    }
}

TEST_CASE("worker/src: the server and the transport include no protocol") {
    auto graph = worker_folder_includes();
    CHECK_MESSAGE(graph.at("server") == std::set<std::string>{"transport"},
                  "server/ includes " << listed(graph.at("server")));
    CHECK_MESSAGE(graph.at("transport").empty(),
                  "transport/ includes " << listed(graph.at("transport")));
}
