#include "common/ids.h"

#include <mutex>
#include <random>

namespace eddy {

std::string RandomHexId(int bytes) {
  static std::mutex mu;
  static std::mt19937_64 gen{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  std::lock_guard<std::mutex> lock(mu);
  for (int i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(gen() & 0xff);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

}  // namespace eddy
