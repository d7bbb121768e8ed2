#include "master/spawner.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/detail/throw_error.hpp>  // 1.81 uses it without including it
#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include "shared/worker_values.hpp"

namespace corral {
namespace {

namespace bp = boost::process::v2;

constexpr std::string_view pid_placeholder = "0000000000";
constexpr int first_listen_fd = 3;  // SD_LISTEN_FDS_START

/// The per-spawn initializer: Process v2's extension point. on_setup runs in the master
/// before fork; on_exec_setup in the child between fork and exec, where only
/// async-signal-safe calls and plain memory writes are allowed.
struct worker_setup {
    std::vector<int> listen_fds;
    std::vector<std::string> environment;
    std::vector<const char*> environment_pointers;
    std::optional<credentials> run_as;
    pid_t master_pid = ::getpid();

    boost::system::error_code on_setup(bp::posix::default_launcher& launcher,
                                       const bp::filesystem::path&, const char* const*) {
        environment_pointers.clear();
        for (const auto& entry : environment) environment_pointers.push_back(entry.c_str());
        environment_pointers.push_back(nullptr);
        launcher.env = environment_pointers.data();
        for (std::size_t i = 0; i < listen_fds.size(); ++i)
            launcher.fd_whitelist.push_back(first_listen_fd + static_cast<int>(i));
        return {};
    }

    boost::system::error_code on_exec_setup(bp::posix::default_launcher&,
                                            const bp::filesystem::path&, const char* const*) {
        fill_pid_placeholders();
        if (!move_listeners_into_place()) return {errno, boost::system::system_category()};
        close_everything_else_at_exec();
        if (run_as && !drop_privileges(*run_as)) return {errno, boost::system::system_category()};
        // Dies with the master, even if it is killed; the check covers a master that died
        // before prctl(). Set after setuid(), which clears it.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != master_pid) ::_exit(1);
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        return {};
    }

    void fill_pid_placeholders() {
        char digits[16];
        int length = 0;
        for (pid_t pid = ::getpid(); pid > 0; pid /= 10) digits[length++] = char('0' + pid % 10);
        for (auto& entry : environment) {
            if (!entry.starts_with("LISTEN_PID=") && !entry.starts_with("WATCHDOG_PID=")) continue;
            char* value = entry.data() + entry.find('=') + 1;
            for (int i = 0; i < length; ++i) value[i] = digits[length - 1 - i];
            value[length] = '\0';
        }
    }

    /// Supplementary groups, then the group, then the user: after setuid() the others
    /// could no longer be changed.
    static bool drop_privileges(const credentials& who) {
        return ::setgroups(who.groups.size(), who.groups.data()) == 0 && ::setgid(who.gid) == 0 &&
               ::setuid(who.uid) == 0;
    }

    /// Marks every fd above the listeners close-on-exec. Process v2 1.81's own close_all
    /// skips the gaps inside its whitelist (it compares each entry with itself), which
    /// leaked the master's descriptors into workers.
    void close_everything_else_at_exec() {
        unsigned first = first_listen_fd + static_cast<unsigned>(listen_fds.size());
        if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
        rlimit limit{};  // kernels before 5.11: one fcntl per possible descriptor
        ::getrlimit(RLIMIT_NOFILE, &limit);
        for (rlim_t fd = first; fd < limit.rlim_cur; ++fd)
            ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    }

    /// Puts listener i on fd 3 + i without FD_CLOEXEC. Each is first copied above the
    /// target range so that no dup2 overwrites a source still to be moved.
    bool move_listeners_into_place() {
        int count = static_cast<int>(listen_fds.size());
        for (auto& fd : listen_fds)
            if ((fd = ::fcntl(fd, F_DUPFD, first_listen_fd + count)) < 0) return false;
        for (int i = 0; i < count; ++i)
            if (::dup2(listen_fds[static_cast<std::size_t>(i)], first_listen_fd + i) < 0)
                return false;
        return true;
    }
};

bool is_executable_file(const std::filesystem::path& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

/// `path` as the master will see it after changing to `directory` ("" = the current one).
std::filesystem::path absolute_from(const std::filesystem::path& directory,
                                    const std::filesystem::path& path) {
    return std::filesystem::absolute(directory.empty() ? path : directory / path);
}

std::filesystem::path search(const std::string& program, const std::string& search_path,
                             const std::filesystem::path& working_directory) {
    std::size_t start = 0;
    while (start <= search_path.size()) {
        auto end = search_path.find(':', start);
        if (end == std::string::npos) end = search_path.size();
        std::filesystem::path directory = search_path.substr(start, end - start);
        if (directory.empty()) directory = ".";
        if (auto candidate = absolute_from(working_directory, directory / program);
            is_executable_file(candidate))
            return candidate;
        start = end + 1;
    }
    throw std::runtime_error("worker_command: cannot execute worker command \"" + program +
                             "\": not found in PATH (" + search_path + ")");
}

/// The interpreter a script names on its `#!` line, when it is an absolute path that is
/// not an executable file: execve() then fails with ENOENT, which reads as if the script
/// were missing. "" when the file is no such script or the interpreter is there.
std::string missing_interpreter(const std::filesystem::path& script) {
    std::ifstream file(script, std::ios::binary);
    std::string line(256, '\0');  // as much of the #! line as Linux reads (BINPRM_BUF_SIZE)
    file.read(line.data(), static_cast<std::streamsize>(line.size()));
    line.resize(static_cast<std::size_t>(file.gcount()));
    line = line.substr(0, line.find('\n'));
    if (!line.starts_with("#!")) return "";
    auto begin = line.find_first_not_of(" \t", 2);
    if (begin == std::string::npos || line[begin] != '/') return "";
    auto interpreter = line.substr(begin, line.find_first_of(" \t\r", begin) - begin);
    return is_executable_file(interpreter) ? "" : interpreter;
}

}  // namespace

worker_command resolve_worker_command(const std::vector<std::string>& command,
                                      const std::string& search_path,
                                      const std::filesystem::path& working_directory) {
    if (command.empty()) {
        auto self = std::filesystem::read_symlink("/proc/self/exe");
        return resolve_worker_command({(self.parent_path() / "corral-worker").string()}, "");
    }
    worker_command resolved;
    const std::string& program = command.front();
    if (program.find('/') == std::string::npos) {
        resolved.executable = search(program, search_path, working_directory);
    } else {
        resolved.executable = absolute_from(working_directory, program);
        if (!is_executable_file(resolved.executable)) {
            std::error_code ec;
            bool exists = std::filesystem::exists(resolved.executable, ec);
            throw std::runtime_error("worker_command: cannot execute worker command " +
                                     resolved.executable.string() + ": " +
                                     (exists ? "not an executable file" : "no such file"));
        }
    }
    if (auto interpreter = missing_interpreter(resolved.executable); !interpreter.empty())
        throw std::runtime_error("worker_command: cannot execute worker command " +
                                 resolved.executable.string() + ": the interpreter on its #! " +
                                 "line, " + interpreter + ", is not an executable file");
    resolved.arguments.assign(command.begin() + 1, command.end());
    return resolved;
}

std::vector<std::string> worker_environment(const std::map<std::string, std::string>& base,
                                            const config& cfg, const listener_set& listeners,
                                            const std::string& notify_address, int generation,
                                            std::uint64_t request_limit) {
    std::map<std::string, std::string> variables = base;
    for (const char* inherited : {"NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
                                  "WATCHDOG_USEC", "WATCHDOG_PID"})
        variables.erase(inherited);
    for (const auto& [key, value] : cfg.env) variables[key] = value;
    for (const auto& entry : worker_setting_variables(cfg)) {
        auto equals = entry.find('=');
        variables[entry.substr(0, equals)] = entry.substr(equals + 1);
    }
    variables["LISTEN_FDS"] = std::to_string(listeners.items().size());
    variables["LISTEN_FDNAMES"] = listeners.fd_names();
    variables["LISTEN_PID"] = pid_placeholder;
    variables["NOTIFY_SOCKET"] = notify_address;
    variables["WATCHDOG_USEC"] = std::to_string(std::llround(cfg.timeout * 1e6));
    variables["WATCHDOG_PID"] = pid_placeholder;
    for (auto& [key, value] : worker_value_variables({generation, request_limit}))
        variables[key] = std::move(value);
    std::vector<std::string> environment;
    for (const auto& [key, value] : variables) environment.push_back(key + "=" + value);
    return environment;
}

pid_t spawn_worker_process(boost::asio::io_context& io, const worker_command& command,
                           const std::vector<int>& listen_fds, std::vector<std::string> environment,
                           int log_fd, const std::optional<credentials>& run_as) {
    worker_setup setup;
    setup.run_as = run_as;
    setup.listen_fds = listen_fds;
    setup.environment = std::move(environment);
    boost::system::error_code ec;
    bp::default_process_launcher launch;
    auto worker = launch(io.get_executor(), ec, command.executable.string(), command.arguments,
                         bp::process_stdio{nullptr, log_fd, log_fd}, setup);
    if (ec) {
        // execve() says ENOENT for a script whose #! interpreter is missing.
        bool interpreter = ec.value() == ENOENT && std::filesystem::exists(command.executable);
        throw std::system_error(
            ec.value(), std::generic_category(),
            "cannot execute worker command " + command.executable.string() +
                (interpreter ? " (is the interpreter on its #! line missing?)" : ""));
    }
    pid_t pid = worker.id();
    worker.detach();  // the arbiter reaps with waitpid(-1); see docs/design.md
    return pid;
}

}  // namespace corral
