#include "master/credentials.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <stdexcept>

namespace corral {
namespace {

std::optional<unsigned> as_number(const std::string& text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

gid_t lookup_group(const std::string& name) {
    if (auto number = as_number(name)) return static_cast<gid_t>(*number);
    if (const struct group* entry = ::getgrnam(name.c_str())) return entry->gr_gid;
    throw std::runtime_error("unknown group \"" + name + "\" (setting group or socket_owner)");
}

}  // namespace

std::optional<credentials> resolve_credentials(const std::string& user, const std::string& group) {
    if (user.empty() && group.empty()) return std::nullopt;
    credentials found{::getuid(), ::getgid(), {}, user};
    const passwd* entry = nullptr;
    if (!user.empty()) {
        entry = as_number(user) ? ::getpwuid(static_cast<uid_t>(*as_number(user)))
                                : ::getpwnam(user.c_str());
        if (!entry && !as_number(user))
            throw std::runtime_error("unknown user \"" + user + "\" (setting user)");
        found.uid = entry ? entry->pw_uid : static_cast<uid_t>(*as_number(user));
        found.gid = entry ? entry->pw_gid : found.uid;
    }
    if (!group.empty()) found.gid = lookup_group(group);
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

std::optional<credentials> resolve_owner(const std::string& owner) {
    if (owner.empty()) return std::nullopt;
    auto colon = owner.find(':');
    return resolve_credentials(owner.substr(0, colon),
                               colon == std::string::npos ? "" : owner.substr(colon + 1));
}

}  // namespace corral
