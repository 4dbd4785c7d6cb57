// Arguments given to a job after `--` on the command line ("--input /x --output=/y"),
// handed to the job's builder. Immutable after parsing; thread-safe for reading.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace eddy {

class JobArgs {
 public:
  JobArgs() = default;
  /// Parses "--key value", "--key=value" and bare flags "--verbose" (value "true").
  /// Anything else is an error naming the argument.
  static absl::StatusOr<JobArgs> Parse(const std::vector<std::string>& args);

  bool has(const std::string& key) const { return values_.count(key) > 0; }
  /// Returns the value of `key`, or `fallback` if absent.
  std::string get(const std::string& key, const std::string& fallback = "") const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  /// Returns the value of `key`; throws std::invalid_argument naming the key if absent (the
  /// builder's error then reaches the user at submit).
  std::string require(const std::string& key) const;

  const std::vector<std::string>& raw() const { return raw_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> raw_;
};

}  // namespace eddy
