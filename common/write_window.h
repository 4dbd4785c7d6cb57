// The free part of a buffer being filled: a writer puts bytes at [pos, end) and advances
// pos. The network's RecordWriter keeps one per channel over the channel's current buffer,
// so typed writer operators can serialize records straight into network buffers.
#pragma once

#include <cstddef>

namespace eddy {

struct WriteWindow {
  char* pos = nullptr;
  char* end = nullptr;
  size_t free() const { return static_cast<size_t>(end - pos); }
};

}  // namespace eddy
