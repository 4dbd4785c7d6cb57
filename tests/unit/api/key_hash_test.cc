#include "api/key_hash.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace shop {
struct CartKey {
  std::string user;
  int32_t region = 0;
};
EDDY_FIELDS(CartKey, user, region);
}  // namespace shop

namespace {

// The xxHash sanity buffer: 101 bytes from a fixed generator, long enough for the 32-byte
// stripes and every tail length.
std::vector<unsigned char> SanityBuffer() {
  std::vector<unsigned char> buffer(101);
  uint32_t generator = 2654435761U;
  for (unsigned char& byte : buffer) {
    byte = static_cast<unsigned char>(generator >> 24);
    generator *= generator;
  }
  return buffer;
}

uint64_t Xxh64(std::string_view text, uint64_t seed = 0) {
  return eddy::XxHash64(text.data(), text.size(), seed);
}

TEST(KeyHashTest, XxHash64MatchesTheReferenceVectors) {
  EXPECT_EQ(Xxh64(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(eddy::XxHash64(nullptr, 0, 0), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(eddy::XxHash64(nullptr, 0, 2654435761U), 0xAC75FDA2929B17EFULL);
  EXPECT_EQ(Xxh64("a"), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(Xxh64("abc"), 0x44BC2CF5AD770999ULL);
  EXPECT_EQ(Xxh64("asdf"), 0x415872F599CEA71EULL);
  EXPECT_EQ(Xxh64("Call me Ishmael."), 0x6D04390FC9D61A90ULL);
  EXPECT_EQ(Xxh64("Nobody inspects the spammish repetition"), 0xFBCEA83C8A378BF1ULL);
  const std::vector<unsigned char> buffer = SanityBuffer();
  EXPECT_EQ(eddy::XxHash64(buffer.data(), 1, 0), 0x4FCE394CC88952D8ULL);
  EXPECT_EQ(eddy::XxHash64(buffer.data(), 1, 2654435761U), 0x739840CB819FA723ULL);
  EXPECT_EQ(eddy::XxHash64(buffer.data(), 14, 0), 0xCFFA8DB881BC3A3DULL);
  EXPECT_EQ(eddy::XxHash64(buffer.data(), 14, 2654435761U), 0x5B9611585EFCC9CBULL);
  EXPECT_EQ(eddy::XxHash64(buffer.data(), 101, 0), 0x0EAB543384F878ADULL);
  EXPECT_EQ(eddy::XxHash64(buffer.data(), 101, 2654435761U), 0xCAA65939306F1E21ULL);
}

// These values are the partitioning of every keyed stream and of all keyed state in
// checkpoints and savepoints: if one changes, state written before no longer matches its keys.
TEST(KeyHashTest, HashesArePinnedAcrossProcessesAndReleases) {
  EXPECT_EQ(eddy::KeyHash(int64_t{0}), 0xE220A8397B1DCDAFULL);  // SplitMix64's first output
  EXPECT_EQ(eddy::KeyHash(int64_t{42}), 0xBDD732262FEB6E95ULL);
  EXPECT_EQ(eddy::KeyHash(int32_t{-1}), 0xE4D971771B652C20ULL);
  EXPECT_EQ(eddy::KeyHash(uint64_t{UINT64_MAX}), 0xE4D971771B652C20ULL);  // same 64 bits as -1
  EXPECT_EQ(eddy::KeyHash(3.25), 0xFA43F7D3F68757F4ULL);
  EXPECT_EQ(eddy::KeyHash(std::string()), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(eddy::KeyHash(std::string("user-42")), 0x397E9D3A76AF7C81ULL);
  EXPECT_EQ(eddy::KeyHash(std::make_pair(std::string("a"), int32_t{1})), 0xDE5DFD4CEF717562ULL);
  EXPECT_EQ(eddy::KeyHash(shop::CartKey{"alice", 7}), 0x8CD2DCC3115183B5ULL);
  EXPECT_EQ(eddy::KeyGroupFor(eddy::KeyHash(std::string("user-42")), 128), 115);
  EXPECT_EQ(eddy::KeyGroupFor(eddy::KeyHash(int64_t{42}), 128), 8);
  EXPECT_EQ(eddy::KeyGroupFor(0, 128), 0);
}

TEST(KeyHashTest, IntegersHashByValueWhateverTheirType) {
  EXPECT_EQ(eddy::KeyHash(int8_t{-5}), eddy::KeyHash(int64_t{-5}));
  EXPECT_EQ(eddy::KeyHash(int32_t{-5}), eddy::KeyHash(int64_t{-5}));
  EXPECT_EQ(eddy::KeyHash(uint16_t{60000}), eddy::KeyHash(int64_t{60000}));
  EXPECT_EQ(eddy::KeyHash(uint8_t{200}), eddy::KeyHash(uint64_t{200}));
  EXPECT_EQ(eddy::KeyHash(true), eddy::KeyHash(1));
  // Plain char is signed on x86 and unsigned on ARM; both must agree.
  EXPECT_EQ(eddy::KeyHash(static_cast<char>(0xE9)), eddy::KeyHash(uint8_t{0xE9}));
  enum class Region : int16_t { kEu = -3 };
  EXPECT_EQ(eddy::KeyHash(Region::kEu), eddy::KeyHash(-3));
  EXPECT_NE(eddy::KeyHash(int64_t{1}), eddy::KeyHash(int64_t{2}));
  EXPECT_NE(eddy::KeyHash(int64_t{0}), 0u);  // 0 is not a fixed point of the mix
}

TEST(KeyHashTest, FloatsHashByValue) {
  EXPECT_EQ(eddy::KeyHash(-0.0), eddy::KeyHash(0.0));
  EXPECT_EQ(eddy::KeyHash(1.5f), eddy::KeyHash(1.5));
  EXPECT_EQ(eddy::KeyHash(std::numeric_limits<double>::quiet_NaN()),
            eddy::KeyHash(std::bit_cast<double>(uint64_t{0xFFF8000000000123})));
  EXPECT_EQ(eddy::KeyHash(std::numeric_limits<float>::quiet_NaN()),
            eddy::KeyHash(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_NE(eddy::KeyHash(1.0), eddy::KeyHash(-1.0));
}

TEST(KeyHashTest, StringsHashTheirBytes) {
  const std::string text("user\0-42", 8);
  EXPECT_EQ(eddy::KeyHash(text), Xxh64(text));
  EXPECT_EQ(eddy::KeyHash(std::string_view(text)), Xxh64(text));
  EXPECT_EQ(eddy::KeyHash("user-42"), Xxh64("user-42"));
  const char* c_string = "user-42";
  EXPECT_EQ(eddy::KeyHash(c_string), Xxh64("user-42"));
  EXPECT_EQ(eddy::HashBytes("user-42"), Xxh64("user-42", eddy::kKeyHashSeed));
}

TEST(KeyHashTest, OtherKeysHashTheirEncoding) {
  const shop::CartKey key{"alice", 7};
  EXPECT_EQ(eddy::KeyHash(key), eddy::HashBytes(eddy::Serialize(key)));
  const auto pair = std::make_pair(std::string("a"), int32_t{1});
  EXPECT_EQ(eddy::KeyHash(pair), eddy::HashBytes(eddy::Serialize(pair)));
  // The thread-local scratch buffer carries nothing from one key to the next.
  const std::vector<std::string> big(1000, std::string(100, 'x'));
  const uint64_t big_hash = eddy::KeyHash(big);
  EXPECT_EQ(big_hash, eddy::HashBytes(eddy::Serialize(big)));
  EXPECT_EQ(eddy::KeyHash(key), eddy::HashBytes(eddy::Serialize(key)));
  EXPECT_EQ(eddy::KeyHash(big), big_hash);
  EXPECT_NE(eddy::KeyHash(shop::CartKey{"alice", 8}), eddy::KeyHash(key));
}

// Returns Pearson's chi-square statistic of the key groups of `hashes`.
double ChiSquare(const std::vector<uint64_t>& hashes, int32_t groups) {
  std::vector<int64_t> counts(groups);
  for (uint64_t hash : hashes) {
    const int32_t group = eddy::KeyGroupFor(hash, groups);
    EXPECT_GE(group, 0);
    EXPECT_LT(group, groups);
    ++counts[group];
  }
  const double expected = static_cast<double>(hashes.size()) / groups;
  double chi_square = 0;
  for (int64_t count : counts) chi_square += (count - expected) * (count - expected) / expected;
  return chi_square;
}

TEST(KeyHashTest, KeyGroupsAreEvenlyUsed) {
  // With 127 degrees of freedom a uniform assignment exceeds 218 with probability 1e-6.
  constexpr double kBound = 218;
  constexpr int kKeys = 100000;
  std::vector<uint64_t> sequential, strided, shifted, strings, structs;
  for (int64_t i = 0; i < kKeys; ++i) {
    sequential.push_back(eddy::KeyHash(i));
    strided.push_back(eddy::KeyHash(i * 128));  // all in group 0 if the hash were the identity
    shifted.push_back(eddy::KeyHash(i << 32));
    // Appending, not "user-" + std::to_string(i), which trips GCC 12's -Wrestrict at -O3.
    std::string user = "user-";
    user += std::to_string(i);
    strings.push_back(eddy::KeyHash(user));
    user.resize(5);
    user += std::to_string(i % 1000);
    structs.push_back(eddy::KeyHash(shop::CartKey{user, static_cast<int32_t>(i / 1000)}));
  }
  EXPECT_LT(ChiSquare(sequential, 128), kBound);
  EXPECT_LT(ChiSquare(strided, 128), kBound);
  EXPECT_LT(ChiSquare(shifted, 128), kBound);
  EXPECT_LT(ChiSquare(strings, 128), kBound);
  EXPECT_LT(ChiSquare(structs, 128), kBound);
  // Raw, unmixed hashes are still spread: KeyGroupFor mixes before taking the remainder.
  std::vector<uint64_t> raw;
  for (uint64_t i = 0; i < kKeys; ++i) raw.push_back(i << 40);
  EXPECT_LT(ChiSquare(raw, 128), kBound);
}

TEST(KeyHashTest, KeyGroupsStayInRange) {
  std::mt19937_64 rng(1);
  for (int32_t max_parallelism : {1, 2, 7, 128, 4096, 32768}) {
    for (int i = 0; i < 1000; ++i) {
      const int32_t group = eddy::KeyGroupFor(rng(), max_parallelism);
      ASSERT_GE(group, 0);
      ASSERT_LT(group, max_parallelism);
    }
  }
}

void ExpectRangesPartitionKeyGroups(int32_t max_parallelism, int32_t parallelism) {
  int32_t next = 0;
  for (int32_t subtask = 0; subtask < parallelism; ++subtask) {
    const eddy::KeyGroupRange range =
        eddy::KeyGroupRangeFor(subtask, max_parallelism, parallelism);
    ASSERT_EQ(range.start, next) << "p=" << parallelism << " subtask " << subtask;
    ASSERT_GE(range.size(), max_parallelism / parallelism);  // nonempty, sizes differ by <= 1
    ASSERT_LE(range.size(), (max_parallelism + parallelism - 1) / parallelism);
    for (int32_t group = range.start; group <= range.end; ++group) {
      ASSERT_EQ(eddy::SubtaskForKeyGroup(group, max_parallelism, parallelism), subtask)
          << "p=" << parallelism << " key group " << group;
    }
    next = range.end + 1;
  }
  ASSERT_EQ(next, max_parallelism) << "p=" << parallelism;
}

TEST(KeyHashTest, SubtasksOwnContiguousRangesMatchingSubtaskForKeyGroup) {
  for (int32_t parallelism = 1; parallelism <= 128; ++parallelism) {
    ExpectRangesPartitionKeyGroups(128, parallelism);
  }
  for (int32_t parallelism : {1, 3, 1000, 32767, 32768}) {
    ExpectRangesPartitionKeyGroups(32768, parallelism);
  }
  // Flink's assignment, so a savepoint's key-group ranges mean the same thing.
  EXPECT_EQ(eddy::KeyGroupRangeFor(0, 128, 3), (eddy::KeyGroupRange{0, 42}));
  EXPECT_EQ(eddy::KeyGroupRangeFor(1, 128, 3), (eddy::KeyGroupRange{43, 85}));
  EXPECT_EQ(eddy::KeyGroupRangeFor(2, 128, 3), (eddy::KeyGroupRange{86, 127}));
  EXPECT_TRUE(eddy::KeyGroupRangeFor(1, 128, 3).Contains(43));
  EXPECT_FALSE(eddy::KeyGroupRangeFor(1, 128, 3).Contains(86));
}

TEST(KeyHashTest, InvalidParallelismIsABug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(eddy::KeyGroupFor(1, 0), "max_parallelism > 0");
  EXPECT_DEATH(eddy::SubtaskForKeyGroup(0, 128, 129), "parallelism 129 must be in");
  EXPECT_DEATH(eddy::SubtaskForKeyGroup(128, 128, 4), "key group 128");
  EXPECT_DEATH(eddy::KeyGroupRangeFor(4, 128, 4), "subtask 4");
}

}  // namespace
