// Restart strategies (Flink's): decide, on each failure of a job, whether it restarts and
// after which delay. One instance per job, used under the dispatcher's lock; not
// thread-safe on its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace eddy {

class RestartStrategy {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~RestartStrategy() = default;
  /// Records a failure at `now`; returns the delay before the restart, or nullopt when the
  /// job must fail instead.
  virtual std::optional<std::chrono::milliseconds> OnFailure(Clock::time_point now) = 0;
  /// Describes the strategy and its settings, e.g. "fixed-delay (3 attempts, delay 1s)".
  virtual std::string Describe() const = 0;
};

/// restart-strategy: none — every failure fails the job.
class NoRestartStrategy final : public RestartStrategy {
 public:
  std::optional<std::chrono::milliseconds> OnFailure(Clock::time_point now) override;
  std::string Describe() const override { return "none"; }
};

/// restart-strategy: fixed-delay — up to `attempts` restarts, each after `delay`.
class FixedDelayRestartStrategy final : public RestartStrategy {
 public:
  FixedDelayRestartStrategy(int64_t attempts, std::chrono::milliseconds delay)
      : attempts_(attempts), delay_(delay) {}
  std::optional<std::chrono::milliseconds> OnFailure(Clock::time_point now) override;
  std::string Describe() const override;

 private:
  int64_t attempts_;
  std::chrono::milliseconds delay_;
  int64_t restarts_ = 0;
};

/// restart-strategy: exponential-delay — restarts without limit; the delay starts at the
/// initial backoff and grows by the multiplier up to the max backoff, each delay moved at
/// random by up to jitter-factor of itself; a failure after a quiet period of at least the
/// reset threshold starts again from the initial backoff.
class ExponentialDelayRestartStrategy final : public RestartStrategy {
 public:
  struct Options {
    std::chrono::milliseconds initial_backoff{1000};
    std::chrono::milliseconds max_backoff{60000};
    double multiplier = 1.5;
    double jitter_factor = 0.1;
    std::chrono::milliseconds reset_threshold{3600000};
  };
  explicit ExponentialDelayRestartStrategy(Options options, uint64_t seed = std::random_device()());
  std::optional<std::chrono::milliseconds> OnFailure(Clock::time_point now) override;
  std::string Describe() const override;

 private:
  Options options_;
  std::mt19937_64 rng_;
  double current_ms_;
  std::optional<Clock::time_point> last_failure_;
};

/// Creates the strategy `config` names (restart-strategy and its keys).
std::unique_ptr<RestartStrategy> CreateRestartStrategy(const Config& config);

}  // namespace eddy
