// java.util.Random, bit for bit: the 48-bit linear congruential generator and the
// nextInt / nextInt(bound) / nextLong / nextDouble derivations that Java specifies, so that
// a generator seeded like a Java program draws exactly the same numbers. Not thread-safe.
#pragma once

#include <cstdint>
#include <limits>

namespace eddy::connectors::nexmark {

class JavaRandom {
 public:
  explicit JavaRandom(int64_t seed) { SetSeed(seed); }

  void SetSeed(int64_t seed) { seed_ = (static_cast<uint64_t>(seed) ^ kMultiplier) & kMask; }

  /// Java's protected next(bits): the top `bits` of the advanced 48-bit state, as an int.
  int32_t Next(int bits) {
    seed_ = (seed_ * kMultiplier + kAddend) & kMask;
    return static_cast<int32_t>(static_cast<uint32_t>(seed_ >> (48 - bits)));
  }

  int32_t NextInt() { return Next(32); }

  /// Uniform in [0, bound), bound > 0, with Java's rejection loop for non-powers of two.
  int32_t NextInt(int32_t bound) {
    int32_t r = Next(31);
    const int32_t m = bound - 1;
    if ((bound & m) == 0) {
      return static_cast<int32_t>((static_cast<int64_t>(bound) * r) >> 31);
    }
    // Java's `u - r + m < 0` is an int overflow test: the draw fell in the last, partial
    // stripe of [0, 2^31) and is rejected.
    for (int32_t u = r; static_cast<int64_t>(u) - (r = u % bound) + m >
                        std::numeric_limits<int32_t>::max();
         u = Next(31)) {
    }
    return r;
  }

  int64_t NextLong() {
    const uint64_t hi = static_cast<uint64_t>(static_cast<int64_t>(Next(32))) << 32;
    const uint64_t lo = static_cast<uint64_t>(static_cast<int64_t>(Next(32)));
    return static_cast<int64_t>(hi + lo);
  }

  double NextDouble() {
    const int64_t hi = static_cast<int64_t>(Next(26)) << 27;
    const int64_t lo = Next(27);
    return static_cast<double>(hi + lo) * 0x1.0p-53;
  }

 private:
  static constexpr uint64_t kMultiplier = 0x5DEECE66DULL;
  static constexpr uint64_t kAddend = 0xBULL;
  static constexpr uint64_t kMask = (1ULL << 48) - 1;
  uint64_t seed_ = 0;
};

}  // namespace eddy::connectors::nexmark
