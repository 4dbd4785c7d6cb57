#include "jobmanager/restart_strategy.h"

#include <limits>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace eddy {

std::optional<std::chrono::milliseconds> NoRestartStrategy::OnFailure(Clock::time_point) {
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> FixedDelayRestartStrategy::OnFailure(Clock::time_point) {
  if (restarts_ >= attempts_) return std::nullopt;
  ++restarts_;
  return delay_;
}

std::string FixedDelayRestartStrategy::Describe() const {
  return absl::StrCat("fixed-delay (", attempts_, " attempts, delay ", FormatDuration(delay_), ")");
}

ExponentialDelayRestartStrategy::ExponentialDelayRestartStrategy(Options options, uint64_t seed)
    : options_(options), rng_(seed), current_ms_(static_cast<double>(options.initial_backoff.count())) {}

std::optional<std::chrono::milliseconds> ExponentialDelayRestartStrategy::OnFailure(
    Clock::time_point now) {
  const double initial = static_cast<double>(options_.initial_backoff.count());
  const double max = std::max(initial, static_cast<double>(options_.max_backoff.count()));
  if (last_failure_ && now - *last_failure_ >= options_.reset_threshold) current_ms_ = initial;
  last_failure_ = now;
  double backoff = std::min(current_ms_, max);
  double jitter = backoff * options_.jitter_factor;
  if (jitter > 0) backoff += std::uniform_real_distribution<double>(-jitter, jitter)(rng_);
  current_ms_ = std::min(current_ms_ * options_.multiplier, max);
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, backoff)));
}

std::string ExponentialDelayRestartStrategy::Describe() const {
  return absl::StrCat("exponential-delay (initial backoff ", FormatDuration(options_.initial_backoff),
                      ", max backoff ", FormatDuration(options_.max_backoff), ", multiplier ",
                      options_.multiplier, ", jitter ", options_.jitter_factor, ")");
}

std::unique_ptr<RestartStrategy> CreateRestartStrategy(const Config& config) {
  std::string name = config.GetString(opt::kRestartStrategy);
  if (name.empty() && config.GetDuration(opt::kCheckpointingInterval).count() > 0) {
    // Flink's habit: a checkpointed job restarts by default, as often as it takes.
    return std::make_unique<FixedDelayRestartStrategy>(std::numeric_limits<int32_t>::max(),
                                                       config.GetDuration(opt::kFixedDelayDelay));
  }
  if (name == "fixed-delay") {
    return std::make_unique<FixedDelayRestartStrategy>(config.GetInt(opt::kFixedDelayAttempts),
                                                       config.GetDuration(opt::kFixedDelayDelay));
  }
  if (name == "exponential-delay") {
    ExponentialDelayRestartStrategy::Options o;
    o.initial_backoff = config.GetDuration(opt::kExponentialInitialBackoff);
    o.max_backoff = config.GetDuration(opt::kExponentialMaxBackoff);
    o.multiplier = config.GetDouble(opt::kExponentialBackoffMultiplier);
    o.jitter_factor = config.GetDouble(opt::kExponentialJitterFactor);
    o.reset_threshold = config.GetDuration(opt::kExponentialResetBackoffThreshold);
    return std::make_unique<ExponentialDelayRestartStrategy>(o);
  }
  return std::make_unique<NoRestartStrategy>();
}

}  // namespace eddy
