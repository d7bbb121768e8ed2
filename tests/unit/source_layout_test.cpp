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

/// For each folder of worker/src, the other folders of worker/src its files include.
folder_graph worker_folder_includes() {
    auto root = std::filesystem::path(CORRAL_SOURCE_DIR) / "worker" / "src";
    std::set<std::string> folders;
    for (const auto& entry : std::filesystem::directory_iterator(root))
        if (entry.is_directory()) folders.insert(entry.path().filename().string());
    folder_graph graph;
    const std::string directive = "#include \"";
    for (const auto& folder : folders) {
        graph[folder];
        for (const auto& file : std::filesystem::directory_iterator(root / folder)) {
            std::ifstream in(file.path());
            REQUIRE_MESSAGE(in, "cannot read " << file.path());
            for (std::string line; std::getline(in, line);) {
                if (line.rfind(directive, 0) != 0) continue;
                auto slash = line.find('/', directive.size());
                if (slash == std::string::npos) continue;
                auto target = line.substr(directive.size(), slash - directive.size());
                if (target != folder && folders.count(target)) graph[folder].insert(target);
            }
        }
    }
    return graph;
}

/// A cycle through `from` as "a -> b -> a", or "" when there is none.
std::string cycle_from(const folder_graph& graph, const std::string& from,
                       std::vector<std::string>& path) {
    for (const auto& next : graph.at(from)) {
        auto seen = std::find(path.begin(), path.end(), next);
        if (seen != path.end()) {
            std::string text;
            for (auto it = seen; it != path.end(); ++it) text += *it + " -> ";
            return text + next;
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
    CHECK(graph.at("server") == std::set<std::string>{"transport"});
    CHECK(graph.at("transport").empty());
}
