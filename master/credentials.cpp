#include "master/credentials.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <stdexcept>

namespace corral {
namespace {

std::optional<unsigned> as_number(const std::string& text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

/// `setting`: the key to name in errors, "group" or "socket_owner".
gid_t lookup_group(const std::string& name, const char* setting) {
    if (auto number = as_number(name)) return static_cast<gid_t>(*number);
    if (const struct group* entry = ::getgrnam(name.c_str())) return entry->gr_gid;
    throw std::runtime_error(std::string(setting) + ": unknown group \"" + name + "\"");
}

/// resolve_credentials, naming `user_setting` and `group_setting` in its errors.
std::optional<credentials> resolve(const std::string& user, const std::string& group,
                                   const char* user_setting, const char* group_setting) {
    if (user.empty() && group.empty()) return std::nullopt;
    credentials found{::getuid(), ::getgid(), {}, user};
    const passwd* entry = nullptr;
    if (!user.empty()) {
        entry = as_number(user) ? ::getpwuid(static_cast<uid_t>(*as_number(user)))
                                : ::getpwnam(user.c_str());
        if (!entry && !as_number(user))
            throw std::runtime_error(std::string(user_setting) + ": unknown user \"" + user + "\"");
        found.uid = entry ? entry->pw_uid : static_cast<uid_t>(*as_number(user));
        found.gid = entry ? entry->pw_gid : found.uid;
    }
    if (!group.empty()) found.gid = lookup_group(group, group_setting);
    // The user's groups with `group` as the primary one, as initgroups() would set them.
    if (entry) {
        found.name = entry->pw_name;
        int count = 64;
        found.groups.resize(static_cast<std::size_t>(count));
        while (::getgrouplist(entry->pw_name, found.gid, found.groups.data(), &count) < 0)
            found.groups.resize(static_cast<std::size_t>(count));
        found.groups.resize(static_cast<std::size_t>(count));
    } else {
        found.groups.push_back(found.gid);
    }
    return found;
}

/// Whether this process has capability `number` in its effective set.
bool has_capability(int number) {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("CapEff:"))
            return (std::stoull(line.substr(7), nullptr, 16) >> number) & 1;
    return ::geteuid() == 0;
}

/// The spawner calls setgroups(), setgid() and setuid() in each child, where a failure
/// reads as "cannot execute worker command ...: Operation not permitted". Said here
/// instead, naming the setting, while there is still a master to say it.
void check_can_switch_to(const credentials& who, const char* setting) {
    const char* missing = !has_capability(CAP_SETGID)                            ? "CAP_SETGID"
                          : who.uid != ::getuid() && !has_capability(CAP_SETUID) ? "CAP_SETUID"
                                                                                 : nullptr;
    if (missing)
        throw std::runtime_error(std::string(setting) +
                                 ": the master cannot run workers as another user or group "
                                 "without " +
                                 missing + " (it runs as uid " + std::to_string(::getuid()) +
                                 "): start it as root, or leave user and group empty");
}

}  // namespace

std::optional<credentials> resolve_credentials(const std::string& user, const std::string& group) {
    auto found = resolve(user, group, "user", "group");
    if (found) check_can_switch_to(*found, user.empty() ? "group" : "user");
    return found;
}

std::optional<credentials> resolve_owner(const std::string& owner) {
    if (owner.empty()) return std::nullopt;
    auto colon = owner.find(':');
    return resolve(owner.substr(0, colon),
                   colon == std::string::npos ? "" : owner.substr(colon + 1), "socket_owner",
                   "socket_owner");
}

}  // namespace corral
