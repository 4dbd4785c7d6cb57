// Secrets shared inside a cluster (the credential a JobManager presents to a TaskManager's
// RPC port, a job's data-plane credential): random bytes from OpenSSL's CSPRNG, compared
// in constant time. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace eddy {

/// Bytes of a credential: 256 bits.
inline constexpr int kSecretBytes = 32;

/// Returns `bytes` bytes from a cryptographically secure generator (aborts the process if
/// the system cannot supply them: there is no safe fallback).
std::string RandomSecret(int bytes = kSecretBytes);

/// True if `host` is a loopback address (127.0.0.0/8, ::1) or "localhost": a port bound
/// there is reachable from this machine only.
bool IsLoopbackAddress(const std::string& host);

/// OK if a server may listen on `host` (the value of config key `key`): a loopback
/// address, or `protected_otherwise` (internal TLS is on, or security.allow-insecure-cluster
/// says the network is trusted). Otherwise FailedPrecondition saying what to set.
absl::Status CheckInsecureBind(const std::string& key, const std::string& host,
                               bool protected_otherwise);

/// True if `a` equals `b`; the time taken does not depend on where they differ. An empty
/// `expected` never matches (a credential that was never handed out).
bool SecretMatches(std::string_view expected, std::string_view presented);

}  // namespace eddy
