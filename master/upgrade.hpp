#pragma once
// Binary upgrade (USR2, `corral upgrade`): the master re-executes its own binary, the file
// on disk now, in place. The pid stays (systemd's MAINPID is unchanged), the listening
// sockets stay open across exec, and the workers stay its children: the new image adopts
// them, starts a new generation with the new binary's worker, and drains the old one as a
// reload does.

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "master/listeners.hpp"

namespace corral {

/// A worker the new image adopts.
struct adopted_worker {
    pid_t pid;
    int generation;
    bool ready;
    double age_seconds;
    int shard = 0;
    bool full = false;  ///< said X_CORRAL_FULL=1 last
};

/// What the old image hands to the new one, in $CORRAL_UPGRADE_STATE.
struct upgrade_state {
    int last_generation = 0;    ///< the highest generation number used
    int target_generation = 0;  ///< the generation that was serving
    int count = 0;              ///< workers wanted (TTIN/TTOU/scale included)
    std::map<std::string, inherited_listener> listeners;  ///< by bind text
    std::vector<adopted_worker> workers;
};

inline constexpr const char* upgrade_state_variable = "CORRAL_UPGRADE_STATE";

std::string encode_upgrade_state(const upgrade_state& state);
/// Throws std::invalid_argument when the text is not a state this version wrote.
upgrade_state decode_upgrade_state(const std::string& text);

/// Runs `executable --check-config ARGS...` and waits; "" when it exits 0, else why not.
std::string check_new_binary(const std::filesystem::path& executable,
                             const std::vector<std::string>& arguments);

/// Replaces this process with `executable ARGS...` in `environment`, keeping `keep_fds`
/// open and closing every other descriptor at exec. Returns only on failure, with the
/// reason; the process is then as before.
std::string exec_in_place(const std::filesystem::path& executable,
                          const std::vector<std::string>& arguments,
                          const std::vector<std::string>& environment,
                          const std::vector<int>& keep_fds);

}  // namespace corral
