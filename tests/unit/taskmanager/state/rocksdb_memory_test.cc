// Bounded memory of the RocksDB backend: far more ValueState data than the memory budget is
// written in this process, with a 64 MB block cache and bounded write buffers, while the
// process RSS (/proc/self/statm) stays under 1 GiB; a sample of keys reads back its values.
// The heap backend's need for the same data is measured on a slice and extrapolated (logged,
// not asserted).
//
// Size: EDDY_STATE_MEMORY_KEYS (default 600 K) keys of EDDY_STATE_MEMORY_VALUE_BYTES (default
// 1000) bytes, ~0.6 GB — smaller than the case so that the Debug+ASan build stays well
// under a minute on a loaded machine; it still shows bounded memory: RSS grows by less than
// 60% of the data written (cache + write buffers, not the data). The case, 10 M keys
// of 100 bytes (~1.1 GB, more than the 1 GiB limit), is the same test on the release build:
//   EDDY_STATE_MEMORY_KEYS=10000000 EDDY_STATE_MEMORY_VALUE_BYTES=100
//   build/release/tests/unit_taskmanager_state_rocksdb_memory_test
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "common/config.h"
#include "taskmanager/state/state_backend_factory.h"
#include "tests/support/sanitizers.h"

// ASan keeps freed memory in a 256 MB quarantine by default, which would count as RSS here.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16"; }

namespace eddy::state {
namespace {

constexpr int64_t kRssLimit = int64_t{1} << 30;
constexpr int64_t kDefaultKeys = 600'000;
constexpr int64_t kDefaultValueBytes = 1000;

int64_t EnvOr(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10) : fallback;
}

/// Returns the resident set size of this process in bytes.
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0;
  int64_t resident = 0;
  statm >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

/// The value of `key`: `bytes` pseudo-random bytes (not compressible to nothing) that
/// depend on the key, so a read-back checks the right value came back.
void ValueOf(int64_t key, size_t bytes, std::string* out) {
  out->resize(bytes);
  uint64_t x = static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < bytes; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const size_t n = std::min<size_t>(8, bytes - i);
    std::memcpy(out->data() + i, &x, n);
  }
}

std::unique_ptr<KeyedStateBackend> MakeBackend(const std::string& type, const std::string& dir) {
  Config config;
  EXPECT_TRUE(config.Set(opt::kStateBackendType, type).ok());
  EXPECT_TRUE(config.Set(opt::kStateRocksDbLocalDir, dir).ok());
  EXPECT_TRUE(config.Set(opt::kStateRocksDbBlockCacheSize, "64mb").ok());
  EXPECT_TRUE(config.Set(opt::kStateRocksDbWriteBufferSize, "32mb").ok());
  EXPECT_TRUE(config.Set(opt::kStateRocksDbWriteBufferCount, "2").ok());
  absl::StatusOr<std::unique_ptr<KeyedStateBackend>> backend =
      CreateKeyedStateBackend(config, StateBackendParams{});
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

class RocksDbMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("eddy-state-memory-test-" + std::to_string(::getpid())))
               .string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

// Measures (does not assert) what the heap backend needs for the same data: a slice of the
// keys, extrapolated linearly.
TEST_F(RocksDbMemoryTest, HeapBackendNeedForTheSameData) {
  const int64_t keys = EnvOr("EDDY_STATE_MEMORY_KEYS", kDefaultKeys);
  const size_t value_bytes = static_cast<size_t>(EnvOr("EDDY_STATE_MEMORY_VALUE_BYTES", kDefaultValueBytes));
  const int64_t slice = std::min<int64_t>(keys, 200'000);
  const int64_t rss_start = ResidentBytes();
  auto backend = MakeBackend("hashmap", dir_);
  ASSERT_NE(backend, nullptr);
  ValueState<std::string>* state =
      *backend->get_state(ValueStateDescriptor<std::string>{"payload"});
  std::string value;
  for (int64_t k = 0; k < slice; ++k) {
    backend->set_current_key(k);
    ValueOf(k, value_bytes, &value);
    state->update(value);
  }
  const int64_t grown = ResidentBytes() - rss_start;
  const double per_key = static_cast<double>(grown) / static_cast<double>(slice);
  std::printf("heap: %lld keys x %zu B grew RSS by %.0f MB (%.0f B/key) -> ~%.2f GB for %lld "
              "keys%s\n",
              static_cast<long long>(slice), value_bytes, grown / 1e6, per_key,
              per_key * static_cast<double>(keys) / 1e9, static_cast<long long>(keys),
              eddy::testing::kAddressSanitizer ? " (ASan build: redzones inflate this)" : "");
  EXPECT_TRUE(backend->Dispose().ok());
}

TEST_F(RocksDbMemoryTest, ManyKeysStayWithinBoundedMemoryAndReadBack) {
  const int64_t keys = EnvOr("EDDY_STATE_MEMORY_KEYS", kDefaultKeys);
  const size_t value_bytes = static_cast<size_t>(EnvOr("EDDY_STATE_MEMORY_VALUE_BYTES", kDefaultValueBytes));
  const int64_t data_bytes = keys * static_cast<int64_t>(value_bytes + sizeof(int64_t));

  const int64_t rss_start = ResidentBytes();
  auto backend = MakeBackend("rocksdb", dir_);
  ASSERT_NE(backend, nullptr);
  ValueState<std::string>* state =
      *backend->get_state(ValueStateDescriptor<std::string>{"payload"});
  std::string value;
  int64_t rss_peak = ResidentBytes();
  for (int64_t k = 0; k < keys; ++k) {
    backend->set_current_key(k);
    ValueOf(k, value_bytes, &value);
    state->update(value);
    if (k % 100'000 == 0) {
      rss_peak = std::max(rss_peak, ResidentBytes());
      ASSERT_LT(rss_peak, kRssLimit) << "after " << k << " keys";
    }
  }
  rss_peak = std::max(rss_peak, ResidentBytes());

  // A sample spread over all keys (most now in SST files, not the memtable) reads back.
  std::string want;
  for (int64_t k = 0; k < keys; k += std::max<int64_t>(1, keys / 20'000)) {
    backend->set_current_key(k);
    std::optional<std::string> got = state->value();
    ASSERT_TRUE(got.has_value()) << "key " << k;
    ValueOf(k, value_bytes, &want);
    ASSERT_EQ(*got, want) << "key " << k;
  }
  backend->set_current_key(keys);  // never written
  EXPECT_FALSE(state->value().has_value());
  const int64_t rss_after = ResidentBytes();
  rss_peak = std::max(rss_peak, rss_after);

  std::printf("rocksdb: %lld keys x %zu B (%.0f MB of keys+values): RSS start %.0f MB, peak "
              "%.0f MB, after read-back %.0f MB\n",
              static_cast<long long>(keys), value_bytes, data_bytes / 1e6, rss_start / 1e6,
              rss_peak / 1e6, rss_after / 1e6);
  EXPECT_LT(rss_peak, kRssLimit);
  EXPECT_LT(rss_peak - rss_start, data_bytes * 6 / 10) << "RSS grew with the data written";
  EXPECT_TRUE(backend->Dispose().ok());
}

}  // namespace
}  // namespace eddy::state
