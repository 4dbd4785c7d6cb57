// Strong identifier types: a NamedType wraps a value with a tag so that ids of different
// kinds never mix by accident. Values are immutable; thread-safe as plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>

namespace eddy {

template <typename T, typename Tag>
class NamedType {
 public:
  using value_type = T;
  NamedType() = default;
  explicit NamedType(T value) : value_(std::move(value)) {}
  const T& value() const { return value_; }
  auto operator<=>(const NamedType&) const = default;
  bool operator==(const NamedType&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const NamedType& id) {
    return H::combine(std::move(h), id.value_);
  }
  friend std::ostream& operator<<(std::ostream& out, const NamedType& id) {
    return out << id.value_;
  }

 private:
  T value_{};
};

/// Identifies one TaskManager process for its lifetime (a restarted process gets a new id).
using TaskManagerId = NamedType<std::string, struct TaskManagerIdTag>;
/// Identifies one job, 32 hex characters like Flink's JobID.
using JobId = NamedType<std::string, struct JobIdTag>;
using VertexId = NamedType<std::string, struct VertexIdTag>;
using SubtaskIndex = NamedType<int32_t, struct SubtaskIndexTag>;
using CheckpointId = NamedType<int64_t, struct CheckpointIdTag>;
using KeyGroup = NamedType<int32_t, struct KeyGroupTag>;
/// Milliseconds since the epoch.
using Timestamp = NamedType<int64_t, struct TimestampTag>;

/// Returns `bytes` random bytes as lower-case hex (from a per-process seeded generator).
std::string RandomHexId(int bytes = 16);

}  // namespace eddy

namespace std {
template <typename T, typename Tag>
struct hash<eddy::NamedType<T, Tag>> {
  size_t operator()(const eddy::NamedType<T, Tag>& id) const { return std::hash<T>()(id.value()); }
};
}  // namespace std
