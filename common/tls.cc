#include "common/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "absl/strings/str_cat.h"

namespace eddy {
namespace {

namespace ssl = boost::asio::ssl;

absl::Status FileError(const char* what, const std::string& key, const std::string& path,
                       const boost::system::error_code& ec) {
  return absl::InvalidArgumentError(absl::StrCat("cannot use ", what, " ", path, " (", key,
                                                 "): ", ec.message()));
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> MakeMutualTlsContext(const TlsFiles& files) {
  for (const auto& [key, path] : {std::pair<const char*, const std::string*>{opt::kSslInternalCert, &files.cert},
                                  {opt::kSslInternalKey, &files.key},
                                  {opt::kSslInternalTrustCert, &files.trust_cert}}) {
    if (path->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, " must name a PEM file when ", opt::kSslInternalEnabled, " is true"));
    }
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->use_certificate_chain_file(files.cert, ec);
  if (ec) return FileError("certificate", opt::kSslInternalCert, files.cert, ec);
  context->use_private_key_file(files.key, ssl::context::pem, ec);
  if (ec) return FileError("private key", opt::kSslInternalKey, files.key, ec);
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("the private key ", files.key,
                                                   " does not belong to the certificate ",
                                                   files.cert));
  }
  context->load_verify_file(files.trust_cert, ec);
  if (ec) return FileError("trust certificate", opt::kSslInternalTrustCert, files.trust_cert, ec);
  context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot set TLS verify mode: ", ec.message()));
  return context;
}

absl::StatusOr<std::shared_ptr<ssl::context>> InternalTlsFromConfig(const Config& config) {
  if (!config.GetBool(opt::kSslInternalEnabled)) return std::shared_ptr<ssl::context>();
  return MakeMutualTlsContext(TlsFiles{config.GetString(opt::kSslInternalCert),
                                       config.GetString(opt::kSslInternalKey),
                                       config.GetString(opt::kSslInternalTrustCert)});
}

rpc::ConnectionOptions RpcConnectionOptions(
    const Config& config, const absl::StatusOr<std::shared_ptr<ssl::context>>& tls) {
  return rpc::ConnectionOptions{
      .max_frame_bytes = static_cast<size_t>(config.GetMemorySize(opt::kRpcMaxFrameSize)),
      .frame_timeout = config.GetDuration(opt::kRpcTimeout),
      .tls = tls.ok() ? *tls : nullptr};
}

}  // namespace eddy
