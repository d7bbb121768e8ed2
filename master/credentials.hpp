#pragma once
// Who workers run as (`user`, `group`) and who owns unix sockets (`socket_owner`), looked
// up in the master: getpwnam() and getgrouplist() are not safe between fork and exec, where
// the worker drops its privileges with the numbers found here.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace corral {

struct credentials {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> groups;  ///< supplementary groups, from getgrouplist()
    std::string name;           ///< for messages
};

/// `user` and `group` as names or numbers; nullopt when both are empty (workers keep the
/// master's). Throws std::runtime_error naming the setting and the unknown user or group
/// (`user: unknown user "www"`), or the capability the master lacks to switch to them.
std::optional<credentials> resolve_credentials(const std::string& user, const std::string& group);

/// "user" or "user:group" for socket files; nullopt for "". Throws like resolve_credentials,
/// naming socket_owner.
std::optional<credentials> resolve_owner(const std::string& owner);

}  // namespace corral
