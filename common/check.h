// Invariant checks: a failed EDDY_CHECK is a bug, so it prints the condition, the operands
// and the location, then aborts. Recoverable errors use absl::Status instead (see status.h).
// Thread-safe.
#pragma once

#include <sstream>
#include <string>

namespace eddy::internal {

/// Collects the message of a failed check and aborts the process when destroyed.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

template <typename A, typename B>
std::string FormatOperands(const A& a, const B& b) {
  std::ostringstream out;
  out << "(" << a << " vs. " << b << ") ";
  return out.str();
}

}  // namespace eddy::internal

#define EDDY_CHECK(cond) \
  if (cond) {            \
  } else                 \
    ::eddy::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()

#define EDDY_CHECK_OP(a, b, op)                                                   \
  if ((a)op(b)) {                                                                 \
  } else                                                                          \
    ::eddy::internal::CheckFailure(__FILE__, __LINE__, #a " " #op " " #b).stream() \
        << ::eddy::internal::FormatOperands((a), (b))

#define EDDY_CHECK_EQ(a, b) EDDY_CHECK_OP(a, b, ==)
#define EDDY_CHECK_NE(a, b) EDDY_CHECK_OP(a, b, !=)
#define EDDY_CHECK_LT(a, b) EDDY_CHECK_OP(a, b, <)
#define EDDY_CHECK_LE(a, b) EDDY_CHECK_OP(a, b, <=)
#define EDDY_CHECK_GT(a, b) EDDY_CHECK_OP(a, b, >)
#define EDDY_CHECK_GE(a, b) EDDY_CHECK_OP(a, b, >=)
