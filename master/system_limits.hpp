#pragma once
// Process-wide limits the master sets at start, and the share of its descriptors that its
// own endpoints may use.

#include <chrono>
#include <functional>

namespace corral {

/// Raises the soft RLIMIT_NOFILE to the hard limit (workers inherit it); returns the new
/// soft limit.
long raise_open_files_limit();

/// How many descriptors this process has open (/proc/self/fd); -1 when unknown.
int open_descriptor_count();

/// Whether the master may open one more descriptor for an endpoint's connection. The
/// descriptors it needs to spawn workers and to hear from them (`reserve()`) come first,
/// so a flood of connections cannot make a respawn fail with EMFILE. Counts the open
/// descriptors at most every 100 ms and each one taken since.
class descriptor_budget {
  public:
    explicit descriptor_budget(std::function<int()> reserve) : reserve_(std::move(reserve)) {}

    /// True, counting it as taken, when one more descriptor leaves `reserve() + keep_free`
    /// unused below RLIMIT_NOFILE.
    bool take(int keep_free);
    /// The last count, the limit and the reserve, for a log line.
    int in_use() const { return in_use_ + taken_since_count_; }
    long limit() const { return limit_; }
    int reserve() const { return reserve_(); }

  private:
    std::function<int()> reserve_;
    std::chrono::steady_clock::time_point counted_at_{};
    int in_use_ = 0;
    int taken_since_count_ = 0;
    long limit_ = 0;
};

}  // namespace corral
