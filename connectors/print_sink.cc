#include "connectors/print_sink.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace eddy::connectors::internal {

void WriteStdout(std::string_view line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDOUT_FILENO, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("cannot write to stdout: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace eddy::connectors::internal
