// Error propagation helpers around absl::Status / absl::StatusOr, used across every module
// and RPC boundary. Header-only; no state.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define EDDY_STATUS_CONCAT_INNER(a, b) a##b
#define EDDY_STATUS_CONCAT(a, b) EDDY_STATUS_CONCAT_INNER(a, b)

/// Returns from the enclosing function if `expr` yields a non-OK status.
#define EDDY_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    ::absl::Status eddy_status_ = (expr);          \
    if (!eddy_status_.ok()) return eddy_status_;   \
  } while (0)

/// Evaluates a StatusOr expression; on error returns its status, else moves the value into
/// `lhs` (which may be a declaration such as `auto x`).
#define EDDY_ASSIGN_OR_RETURN(lhs, expr) \
  EDDY_ASSIGN_OR_RETURN_IMPL(EDDY_STATUS_CONCAT(eddy_statusor_, __LINE__), lhs, expr)
#define EDDY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
