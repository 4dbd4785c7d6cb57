#include "taskmanager/runtime/task_events.h"

#include "absl/strings/str_cat.h"

namespace eddy::runtime {

std::string EncodeBarrier(const checkpoint::CheckpointOptions& options) {
  std::string out(1, static_cast<char>(TaskEventType::kCheckpointBarrier));
  options.AppendToString(&out);
  return out;
}

std::string EncodeEndOfData() { return std::string(1, static_cast<char>(TaskEventType::kEndOfData)); }

absl::StatusOr<TaskEvent> DecodeTaskEvent(std::string_view payload) {
  if (payload.empty()) return absl::DataLossError("empty task event");
  TaskEvent event;
  switch (static_cast<TaskEventType>(payload[0])) {
    case TaskEventType::kCheckpointBarrier:
      event.type = TaskEventType::kCheckpointBarrier;
      if (!event.barrier.ParseFromArray(payload.data() + 1, static_cast<int>(payload.size() - 1))) {
        return absl::DataLossError(
            absl::StrCat("malformed checkpoint barrier of ", payload.size(), " bytes"));
      }
      return event;
    case TaskEventType::kEndOfData:
      if (payload.size() != 1) {
        return absl::DataLossError(absl::StrCat("end-of-data event with ", payload.size() - 1,
                                                " unexpected bytes"));
      }
      event.type = TaskEventType::kEndOfData;
      return event;
  }
  return absl::DataLossError(
      absl::StrCat("unknown task event type ", static_cast<int>(static_cast<uint8_t>(payload[0]))));
}

}  // namespace eddy::runtime
