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

namespace {

// A TLS 1.2+ context presenting `cert` with `key`; the config keys name the files in errors.
absl::StatusOr<std::shared_ptr<ssl::context>> ContextWithCertificate(
    const char* enabled_key, const char* cert_key, const std::string& cert, const char* key_key,
    const std::string& key) {
  for (const auto& [name, path] :
       {std::pair<const char*, const std::string*>{cert_key, &cert}, {key_key, &key}}) {
    if (path->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must name a PEM file when ", enabled_key, " is true"));
    }
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->use_certificate_chain_file(cert, ec);
  if (ec) return FileError("certificate", cert_key, cert, ec);
  context->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) return FileError("private key", key_key, key, ec);
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("the private key ", key,
                                                   " does not belong to the certificate ", cert));
  }
  return context;
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> MakeMutualTlsContext(const TlsFiles& files) {
  if (files.trust_cert.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(opt::kSslInternalTrustCert,
                                                   " must name a PEM file when ",
                                                   opt::kSslInternalEnabled, " is true"));
  }
  auto context = ContextWithCertificate(opt::kSslInternalEnabled, opt::kSslInternalCert,
                                        files.cert, opt::kSslInternalKey, files.key);
  if (!context.ok()) return context.status();
  boost::system::error_code ec;
  (*context)->load_verify_file(files.trust_cert, ec);
  if (ec) return FileError("trust certificate", opt::kSslInternalTrustCert, files.trust_cert, ec);
  (*context)->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot set TLS verify mode: ", ec.message()));
  return context;
}

absl::StatusOr<std::shared_ptr<ssl::context>> RestTlsFromConfig(const Config& config) {
  if (!config.GetBool(opt::kSslRestEnabled)) return std::shared_ptr<ssl::context>();
  return ContextWithCertificate(opt::kSslRestEnabled, opt::kSslRestCert,
                                config.GetString(opt::kSslRestCert), opt::kSslRestKey,
                                config.GetString(opt::kSslRestKey));
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
