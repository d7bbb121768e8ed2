#pragma once
// The master's end of the worker protocol: one datagram socket per worker, each a file in
// a directory of the master's own and writable by that worker's user alone. A worker's
// NOTIFY_SOCKET is its own channel, so whoever sends on it speaks for that worker, a
// flood can fill only the sender's own queue, and no other local user can reach any of
// them. (One shared socket loses READY=1 as soon as more than net.unix.max_dgram_qlen
// workers, 10 by default, boot at once; an abstract one has no permissions at all.)

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "master/credentials.hpp"

namespace corral {

class notify_channels {
  public:
    using handler = std::function<void(int channel, std::string_view message)>;

    /// Makes the private directory `<base>/corral-<pid>.XXXXXX` (mode 0711: reachable, not
    /// listable), after removing those of this user's masters that are gone (killed with
    /// SIGKILL: unlocked and older than 10 s). `base` "" = $TMPDIR, else /tmp. Throws
    /// std::runtime_error naming `worker_tmp_dir`, the path and why.
    notify_channels(boost::asio::io_context& io, const std::string& base,
                    const std::map<std::string, std::string>& environment, handler on_message);
    /// Closes every channel and removes their files and the directory.
    ~notify_channels();
    notify_channels(const notify_channels&) = delete;
    notify_channels& operator=(const notify_channels&) = delete;

    /// Opens a channel that only `owner` (else the master's own user) may send to; returns
    /// its number. Throws std::system_error naming the call and the path.
    int open(const std::optional<credentials>& owner);
    /// The NOTIFY_SOCKET value of channel `number`.
    const std::string& path(int number) const;
    /// Closes it and removes its file; nothing more is received from it.
    void close(int number);

    const std::string& directory() const { return directory_; }

  private:
    struct channel {
        boost::asio::local::datagram_protocol::socket socket;
        std::string path;
    };

    void do_receive(int number);
    /// Hands queued datagrams of `number` to the handler, a few per turn; false if the
    /// handler closed it meanwhile.
    bool drain(int number);

    boost::asio::io_context& io_;
    std::string directory_;
    int directory_fd_ = -1;  ///< held with a shared flock: tmp cleaners leave it alone
    handler on_message_;
    std::map<int, std::unique_ptr<channel>> channels_;
    int next_number_ = 1;
};

/// The directory notify_channels would use for `base` (`worker_tmp_dir`), with $TMPDIR from
/// `environment`: `base`, else $TMPDIR when absolute, else /tmp.
std::string notify_base_directory(const std::string& base,
                                  const std::map<std::string, std::string>& environment);

/// Why the master could not make its notify directory in `base` ("" = it can): a path
/// too long for the sockets in it, or not a directory the master may create files in.
std::string notify_base_problem(const std::string& base);

/// Why a process of `who` could not reach a socket in `directory` ("" = it can): every
/// directory on the way must be searchable by its uid, gid or supplementary groups.
std::string unreachable_reason(const std::string& directory, const credentials& who);

}  // namespace corral
