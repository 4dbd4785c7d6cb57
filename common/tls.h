// TLS inside the cluster (security.ssl.internal.*): one OpenSSL context per process, used
// for both ends of every control-RPC and data-plane connection. Mutual: each side presents
// its certificate and accepts only a peer whose certificate the cluster's CA signed (the
// trust certificate); a peer without one is refused during the handshake, before any
// message is read. Host names are not checked: the cluster CA is what identifies a member.
// Contexts are immutable once made and safe to share between threads.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/rpc/rpc_connection.h"

namespace eddy {

struct TlsFiles {
  std::string cert;        // PEM: this process's certificate (chain)
  std::string key;         // PEM: its private key
  std::string trust_cert;  // PEM: the CA certificate(s) peers must be signed by
};

/// Makes a mutual-TLS context (TLS 1.2 or newer, peer certificate required and verified
/// against `files.trust_cert`). Errors name the file and OpenSSL's reason.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeMutualTlsContext(
    const TlsFiles& files);

/// The context security.ssl.internal.* configures, or nullptr when it is not enabled.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> InternalTlsFromConfig(
    const Config& config);

/// The server context of the REST endpoint's HTTPS (security.ssl.rest.*): presents the
/// REST certificate, asks clients for none. nullptr when it is not enabled.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> RestTlsFromConfig(
    const Config& config);

/// Control-RPC connection options from the configuration (rpc.max-frame-size, rpc.timeout)
/// with `tls` (null, or an error that the caller reports at start: plain TCP meanwhile).
rpc::ConnectionOptions RpcConnectionOptions(
    const Config& config, const absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>>& tls);

}  // namespace eddy
