#include "connectors/files/file_sink.h"

namespace eddy::connectors::files {

namespace internal {

void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) throw std::runtime_error(std::string(status.message()));
}

bool UsesFileSystem(const RuntimeContext& ctx, const std::string& dir) {
  return ctx.checkpointing || dir.find("://") != std::string::npos;
}

}  // namespace internal

SinkDef<std::string> text_sink(std::string dir) {
  return file_sink<std::string>(
      std::move(dir), [](const std::string& line) { return line; }, "TextSink");
}

}  // namespace eddy::connectors::files
