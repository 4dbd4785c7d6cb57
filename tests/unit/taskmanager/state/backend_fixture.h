// Makes heap and RocksDB keyed state backends for tests, with a clock the test controls, so
// that every state test runs on both (TEST_P over kBackendTypes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "common/config.h"
#include "taskmanager/state/state_backend_factory.h"

namespace eddy::state::testing {

inline const char* const kBackendTypes[] = {"hashmap", "rocksdb"};

/// Returns the other backend type ("hashmap" <-> "rocksdb").
inline std::string OtherBackend(const std::string& type) {
  return type == "hashmap" ? "rocksdb" : "hashmap";
}

class BackendTest : public ::testing::TestWithParam<const char*> {
 protected:
  /// Returns a fresh backend of `type` over `range` of 128 key groups, reading now_.
  std::unique_ptr<KeyedStateBackend> Make(const std::string& type,
                                          KeyGroupRange range = {0, 127}) {
    Config config;
    EXPECT_TRUE(config.Set(opt::kStateBackendType, type).ok());
    EXPECT_TRUE(config.Set(opt::kStateRocksDbLocalDir, LocalDir()).ok());
    StateBackendParams params;
    params.max_parallelism = 128;
    params.key_groups = range;
    params.subtask = next_subtask_++;
    params.clock = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<KeyedStateBackend>> backend =
        CreateKeyedStateBackend(config, params);
    EXPECT_TRUE(backend.ok()) << backend.status();
    return backend.ok() ? std::move(*backend) : nullptr;
  }
  std::unique_ptr<KeyedStateBackend> Make(KeyGroupRange range = {0, 127}) {
    return Make(GetParam(), range);
  }
  /// Returns a directory of this test for RocksDB instances (removed after the test).
  std::string LocalDir() {
    static int counter = 0;
    if (dir_.empty()) {
      dir_ = (std::filesystem::temp_directory_path() /
              ("eddy-state-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter)))
                 .string();
      std::filesystem::create_directories(dir_);
    }
    return dir_;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  int64_t now_ = 1000;
  int32_t next_subtask_ = 0;
  std::string dir_;
};

inline std::string BackendName(const ::testing::TestParamInfo<const char*>& info) {
  return info.param;
}

}  // namespace eddy::state::testing
