// Deterministic key hashing and key-group assignment for keyed streams: a key has the same hash,
// key group and subtask in every process on every machine, so records and keyed state with
// equal keys meet. Stateless and thread-safe (KeyHash uses a thread-local scratch buffer).
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "api/serde.h"
#include "common/check.h"

namespace eddy {

/// The seed of every byte hash; changing it re-partitions all keyed state, so never do.
inline constexpr uint64_t kKeyHashSeed = 0;

namespace internal {

inline uint64_t LoadLittleEndian64(const unsigned char* p) {
  uint64_t value;
  std::memcpy(&value, p, 8);
  return ByteReader::FromLittleEndian(value);
}
inline uint32_t LoadLittleEndian32(const unsigned char* p) {
  uint32_t value;
  std::memcpy(&value, p, 4);
  return ByteReader::FromLittleEndian(value);
}

inline constexpr uint64_t kXxPrime1 = 0x9E3779B185EBCA87ULL;
inline constexpr uint64_t kXxPrime2 = 0xC2B2AE3D27D4EB4FULL;
inline constexpr uint64_t kXxPrime3 = 0x165667B19E3779F9ULL;
inline constexpr uint64_t kXxPrime4 = 0x85EBCA77C2B2AE63ULL;
inline constexpr uint64_t kXxPrime5 = 0x27D4EB2F165667C5ULL;

constexpr uint64_t XxRound(uint64_t acc, uint64_t input) {
  acc += input * kXxPrime2;
  acc = std::rotl(acc, 31);
  return acc * kXxPrime1;
}
constexpr uint64_t XxMergeRound(uint64_t acc, uint64_t value) {
  acc ^= XxRound(0, value);
  return acc * kXxPrime1 + kXxPrime4;
}

/// Returns a scratch buffer for encoding keys on this thread.
inline std::string& KeyHashScratch() {
  thread_local std::string scratch;
  return scratch;
}

}  // namespace internal

/// Returns the XXH64 hash of `size` bytes at `data` (the reference algorithm, so `xxhsum -H64`
/// agrees), reading the input little-endian on every host.
inline uint64_t XxHash64(const void* data, size_t size, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  size_t left = size;  // counted down rather than comparing pointers: `data` may be null
  uint64_t h;
  if (size >= 32) {
    uint64_t v1 = seed + internal::kXxPrime1 + internal::kXxPrime2;
    uint64_t v2 = seed + internal::kXxPrime2;
    uint64_t v3 = seed;
    uint64_t v4 = seed - internal::kXxPrime1;
    do {
      v1 = internal::XxRound(v1, internal::LoadLittleEndian64(p));
      v2 = internal::XxRound(v2, internal::LoadLittleEndian64(p + 8));
      v3 = internal::XxRound(v3, internal::LoadLittleEndian64(p + 16));
      v4 = internal::XxRound(v4, internal::LoadLittleEndian64(p + 24));
      p += 32;
      left -= 32;
    } while (left >= 32);
    h = std::rotl(v1, 1) + std::rotl(v2, 7) + std::rotl(v3, 12) + std::rotl(v4, 18);
    h = internal::XxMergeRound(h, v1);
    h = internal::XxMergeRound(h, v2);
    h = internal::XxMergeRound(h, v3);
    h = internal::XxMergeRound(h, v4);
  } else {
    h = seed + internal::kXxPrime5;
  }
  h += static_cast<uint64_t>(size);
  for (; left >= 8; left -= 8, p += 8) {
    h ^= internal::XxRound(0, internal::LoadLittleEndian64(p));
    h = std::rotl(h, 27) * internal::kXxPrime1 + internal::kXxPrime4;
  }
  if (left >= 4) {
    h ^= static_cast<uint64_t>(internal::LoadLittleEndian32(p)) * internal::kXxPrime1;
    h = std::rotl(h, 23) * internal::kXxPrime2 + internal::kXxPrime3;
    p += 4;
    left -= 4;
  }
  for (; left > 0; --left, ++p) {
    h ^= static_cast<uint64_t>(*p) * internal::kXxPrime5;
    h = std::rotl(h, 11) * internal::kXxPrime1;
  }
  h ^= h >> 33;
  h *= internal::kXxPrime2;
  h ^= h >> 29;
  h *= internal::kXxPrime3;
  h ^= h >> 32;
  return h;
}

/// Returns the key hash of a byte string: XXH64 with kKeyHashSeed.
inline uint64_t HashBytes(std::string_view bytes) {
  return XxHash64(bytes.data(), bytes.size(), kKeyHashSeed);
}

/// Returns SplitMix64's output for state `x`: a bijective 64-bit mix in which every input bit
/// affects every output bit (and 0 does not map to 0).
constexpr uint64_t SplitMix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// Returns MurmurHash3's 64-bit finalizer of `k` (bijective, full avalanche).
constexpr uint64_t Fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xFF51AFD7ED558CCDULL;
  k ^= k >> 33;
  k *= 0xC4CEB9FE1A85EC53ULL;
  k ^= k >> 33;
  return k;
}

/// Returns the hash of `key` that decides its key group: equal in every process and on every
/// machine, never seeded per process.
///  - integers, bool and enums hash their value widened to 64 bits, so equal values of
///    different integer types hash alike (plain char counts as unsigned on every platform);
///  - float and double hash the double of equal value; -0.0 hashes as 0.0, all NaNs alike;
///  - strings, string views and C strings hash their bytes (XXH64);
///  - any other type hashes its Serde encoding, so it needs a Serde; avoid unordered
///    containers and protobuf maps in keys, whose encodings depend on iteration order.
template <typename K>
uint64_t KeyHash(const K& key) {
  if constexpr (std::is_same_v<K, char>) {
    return SplitMix64(static_cast<unsigned char>(key));
  } else if constexpr (std::is_integral_v<K>) {
    if constexpr (std::is_signed_v<K>) {
      return SplitMix64(static_cast<uint64_t>(static_cast<int64_t>(key)));
    } else {
      return SplitMix64(static_cast<uint64_t>(key));
    }
  } else if constexpr (std::is_enum_v<K>) {
    return KeyHash(static_cast<std::underlying_type_t<K>>(key));
  } else if constexpr (std::is_same_v<K, float> || std::is_same_v<K, double>) {
    double value = static_cast<double>(key);
    if (value == 0) value = 0.0;  // -0.0 == 0.0, so they must hash alike
    const uint64_t bits =
        std::isnan(value) ? uint64_t{0x7FF8000000000000} : std::bit_cast<uint64_t>(value);
    return SplitMix64(bits);
  } else if constexpr (std::is_convertible_v<const K&, std::string_view>) {
    return HashBytes(std::string_view(key));
  } else {
    std::string& scratch = internal::KeyHashScratch();
    scratch.clear();
    Serde<K>::Write(key, &scratch);
    const uint64_t hash = HashBytes(scratch);
    if (scratch.capacity() > (size_t{1} << 16)) std::string().swap(scratch);  // a huge key
    return hash;
  }
}

/// Returns the key group, in [0, max_parallelism), of a key with hash `hash`.
inline int32_t KeyGroupFor(uint64_t hash, int32_t max_parallelism) {
  EDDY_CHECK_GT(max_parallelism, 0);
  return static_cast<int32_t>(Fmix64(hash) % static_cast<uint64_t>(max_parallelism));
}

/// Returns the subtask, in [0, parallelism), that owns `key_group`: key groups are split into
/// `parallelism` contiguous ranges (Flink's assignment), so rescaling moves whole key groups.
inline int32_t SubtaskForKeyGroup(int32_t key_group, int32_t max_parallelism, int32_t parallelism) {
  EDDY_CHECK(parallelism > 0 && parallelism <= max_parallelism)
      << "parallelism " << parallelism << " must be in [1, max parallelism " << max_parallelism
      << "]";
  EDDY_CHECK(key_group >= 0 && key_group < max_parallelism)
      << "key group " << key_group << " must be in [0, " << max_parallelism << ")";
  return static_cast<int32_t>(static_cast<int64_t>(key_group) * parallelism / max_parallelism);
}

/// A contiguous range of key groups, both ends inclusive (empty when end < start).
struct KeyGroupRange {
  int32_t start = 0;
  int32_t end = -1;

  /// Returns the number of key groups in the range.
  int32_t size() const { return end < start ? 0 : end - start + 1; }
  /// Returns true if `key_group` lies in the range.
  bool Contains(int32_t key_group) const { return key_group >= start && key_group <= end; }
  bool operator==(const KeyGroupRange&) const = default;
};

/// Returns the key groups that `subtask` owns; the inverse of SubtaskForKeyGroup.
inline KeyGroupRange KeyGroupRangeFor(int32_t subtask, int32_t max_parallelism,
                                      int32_t parallelism) {
  EDDY_CHECK(parallelism > 0 && parallelism <= max_parallelism)
      << "parallelism " << parallelism << " must be in [1, max parallelism " << max_parallelism
      << "]";
  EDDY_CHECK(subtask >= 0 && subtask < parallelism)
      << "subtask " << subtask << " must be in [0, " << parallelism << ")";
  const int64_t s = subtask;
  const int64_t m = max_parallelism;
  const int64_t p = parallelism;
  return KeyGroupRange{static_cast<int32_t>((s * m + p - 1) / p),
                       static_cast<int32_t>(((s + 1) * m - 1) / p)};
}

}  // namespace eddy
