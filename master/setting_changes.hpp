#pragma once
// What a reload changes besides the workers: the master's own settings. Those it can apply
// are applied (`chdir` before anything is resolved against it, the listeners a reload
// keeps, `umask`, `errorlog`, ...); each one that needs a restart is named in a warning.

#include <string>

#include "master/listeners.hpp"
#include "shared/config.hpp"

namespace corral {

/// The master's working directory for a reload's `chdir`: changes to it when it differs
/// ("" = the directory the master started in), and back unless keep() is called, so a
/// reload that fails leaves the master where it was. Throws std::system_error naming chdir.
class working_directory_change {
  public:
    working_directory_change(const std::string& wanted, const std::string& started_in);
    ~working_directory_change();
    working_directory_change(const working_directory_change&) = delete;
    working_directory_change& operator=(const working_directory_change&) = delete;

    /// Stays in the new directory: the way back is closed, not followed.
    void keep();

  private:
    int previous_ = -1;  ///< an O_PATH descriptor of where to go back, or -1
};

/// Applies `after`'s backlog, socket_mode and socket_owner to the listeners `kept` from the
/// previous generation (a changed `reuse_port` cannot be applied to them: warned about).
void refresh_kept_listeners(const std::vector<const listener*>& kept, const config& before,
                            const config& after);

/// Logs each setting the reload changes, as `Reload: timeout = 10 (was 30)`.
void log_setting_changes(const config& before, const config& after);

}  // namespace corral
