#include "master/control_commands.hpp"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <string_view>

#include "shared/log.hpp"

namespace corral {
namespace {

using command = void (*)(const boost::json::object& request, control_server::reply reply,
                         const control_operations& operations);

bool flag(const boost::json::object& request, const char* key) {
    const auto* value = request.if_contains(key);
    return value && value->is_bool() && value->as_bool();
}

std::string text(const boost::json::object& request, const char* key) {
    const auto* value = request.if_contains(key);
    return value && value->is_string() ? std::string(value->as_string()) : "";
}

const std::map<std::string_view, command>& commands() {
    static const std::map<std::string_view, command> table{
        {"status",
         [](const auto&, auto reply, const auto& operations) {
             auto status = operations.status();
             status["ok"] = true;
             reply(std::move(status));
         }},
        {"reload",
         [](const auto& request, auto reply, const auto& operations) {
             if (flag(request, "wait")) return operations.reload(std::move(reply));
             operations.reload(std::nullopt);
             reply({{"ok", true}});
         }},
        {"scale",
         [](const auto& request, auto reply, const auto& operations) {
             auto wanted = scaled_count(text(request, "workers"), operations.worker_count());
             if (const auto* error = std::get_if<std::string>(&wanted))
                 return reply({{"ok", false}, {"error", *error}});
             operations.scale(std::get<int>(wanted));
             reply({{"ok", true}, {"workers", operations.worker_count()}});
         }},
        {"stop",
         [](const auto& request, auto reply, const auto& operations) {
             reply({{"ok", true}});
             operations.stop(flag(request, "quick"));
         }},
        {"reopen-logs",
         [](const auto&, auto reply, const auto& operations) {
             operations.reopen_logs();
             reply({{"ok", true}});
         }},
        {"upgrade", [](const auto&, auto reply,
                       const auto& operations) { operations.upgrade(std::move(reply)); }},
    };
    return table;
}

}  // namespace

void run_control_command(const boost::json::object& request, control_server::reply reply,
                         const control_operations& operations) {
    auto name = text(request, "command");
    if (name != "status") log::info("Control command: {}", name);
    auto found = commands().find(name);
    if (found == commands().end())
        return reply({{"ok", false}, {"error", "unknown command \"" + name + "\""}});
    found->second(request, std::move(reply), operations);
}

std::variant<int, std::string> scaled_count(const std::string& text, int current) {
    bool relative = text.starts_with('+') || text.starts_with('-');
    long number = 0;
    auto [end, ec] = std::from_chars(text.data() + (text.starts_with('+') ? 1 : 0),
                                     text.data() + text.size(), number);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
        return "scale needs N, +N or -N, got \"" + text + "\"";
    long wanted = relative ? current + number : number;
    if (wanted < 1 || wanted > 4096)
        return fmt::format("scale would make {} workers; it must be 1 to 4096", wanted);
    return static_cast<int>(wanted);
}

}  // namespace corral
