// The engine events a task sends in order with its records, as event buffers: the
// checkpoint barrier (carrying the checkpoint's options) and end of data (the producer's
// input ended and its operators finished; only end of partition follows, once the final
// checkpoint completed). Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/proto/checkpoint.pb.h"

namespace eddy::runtime {

enum class TaskEventType : uint8_t {
  kCheckpointBarrier = 1,
  kEndOfData = 2,
};

struct TaskEvent {
  TaskEventType type = TaskEventType::kEndOfData;
  checkpoint::CheckpointOptions barrier;  // kCheckpointBarrier
};

std::string EncodeBarrier(const checkpoint::CheckpointOptions& options);
std::string EncodeEndOfData();
/// DataLoss naming what is wrong for a malformed or unknown event.
absl::StatusOr<TaskEvent> DecodeTaskEvent(std::string_view payload);

}  // namespace eddy::runtime
