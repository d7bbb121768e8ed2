#include "master/setting_changes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "master/credentials.hpp"
#include "shared/log.hpp"

namespace corral {

working_directory_change::working_directory_change(const std::string& wanted,
                                                   const std::string& started_in) {
    const std::string& target = wanted.empty() ? started_in : wanted;
    char here[4096];
    if (target.empty() || (::getcwd(here, sizeof here) && target == here)) return;
    previous_ = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (::chdir(target.c_str()) != 0) {
        int error = errno;
        if (previous_ >= 0) ::close(previous_);
        previous_ = -1;
        throw std::system_error(error, std::generic_category(),
                                "chdir: chdir() failed while changing to " + target);
    }
}

working_directory_change::~working_directory_change() {
    if (previous_ < 0) return;
    if (::fchdir(previous_) != 0)
        log::error("fchdir() failed while going back to the previous directory: {}",
                   std::strerror(errno));
    ::close(previous_);
}

void working_directory_change::keep() {
    if (previous_ >= 0) ::close(std::exchange(previous_, -1));
}

void refresh_kept_listeners(const std::vector<const listener*>& kept, const config& before,
                            const config& after) {
    auto owner = resolve_owner(after.socket_owner);
    for (const listener* item : kept) {
        auto name = item->address.display();
        if (after.backlog != before.backlog) {
            bool done = item->shards ? item->shards->set_backlog(after.backlog)
                                     : ::listen(item->fd, after.backlog) == 0;
            if (!done)
                log::error("listen() failed while setting the backlog of {} to {}: {}", name,
                           after.backlog, std::strerror(errno));
        }
        if (item->address.type == bind_address::kind::tcp && after.reuse_port != before.reuse_port)
            log::warning(
                "Reload: reuse_port changed, but {} keeps its sockets as they are: "
                "restart corral to change it",
                name);
        if (!item->owns_socket_file) continue;
        const char* path = item->address.path.c_str();
        if (after.socket_mode != before.socket_mode && after.socket_mode != 0 &&
            ::chmod(path, static_cast<mode_t>(after.socket_mode)) != 0)
            log::error("chmod() failed while applying socket_mode to {}: {}", name,
                       std::strerror(errno));
        if (after.socket_owner != before.socket_owner && owner &&
            ::chown(path, owner->uid, owner->gid) != 0)
            log::error("chown() failed while applying socket_owner to {}: {}", name,
                       std::strerror(errno));
    }
}

void log_setting_changes(const config& before, const config& after) {
    for (const auto& change : changed_settings(before, after))
        log::info("Reload: {} = {} (was {})", change.name, change.after, change.before);
}

}  // namespace corral
