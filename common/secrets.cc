#include "common/secrets.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdlib>

#include <boost/asio/ip/address.hpp>

#include "absl/strings/str_cat.h"

#include "common/logging.h"

namespace eddy {

std::string RandomSecret(int bytes) {
  std::string out(static_cast<size_t>(bytes), '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), bytes) != 1) {
    EDDY_LOG(ERROR) << "the system's random generator failed; cannot make a credential";
    std::abort();
  }
  return out;
}

bool IsLoopbackAddress(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  auto address = boost::asio::ip::make_address(bare, ec);
  return !ec && address.is_loopback();
}

absl::Status CheckInsecureBind(const std::string& key, const std::string& host,
                               bool protected_otherwise) {
  if (protected_otherwise || IsLoopbackAddress(host)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      key, " is ", host, ", which is not a loopback address: anyone who reaches that port "
      "could command the cluster. Turn on security.ssl.internal.enabled (and REST tokens, "
      "rest.auth.tokens-file, for rest.address), bind to 127.0.0.1, or set "
      "security.allow-insecure-cluster: true if the network is trusted (see docs/security.md)"));
}

bool SecretMatches(std::string_view expected, std::string_view presented) {
  if (expected.empty() || expected.size() != presented.size()) return false;
  return CRYPTO_memcmp(expected.data(), presented.data(), expected.size()) == 0;
}

}  // namespace eddy
