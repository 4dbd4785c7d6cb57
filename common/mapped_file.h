// A file mapped read-only into memory (mmap), for reading a large file as one
// std::string_view without copying it to the heap: its pages are the page cache's. Never
// executable. Movable, not copyable; the view is valid while the object lives.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace eddy {

class MappedFile {
 public:
  /// Maps the whole regular file at `path` (an empty file maps to an empty view).
  static absl::StatusOr<MappedFile> Open(const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::string_view view() const { return {static_cast<const char*>(data_), size_}; }

 private:
  MappedFile(void* data, size_t size) : data_(data), size_(size) {}
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace eddy
