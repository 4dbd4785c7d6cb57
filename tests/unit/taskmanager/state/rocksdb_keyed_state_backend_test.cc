// What only the RocksDB backend has: its instance directory (made under localdir, removed on
// dispose, a clear error when it cannot be made), list add() as a merge, written-back puts
// and deletes, the memory budget, and the factory's choice of backend.
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "taskmanager/state/heap_keyed_state_backend.h"
#include "taskmanager/state/rocksdb_keyed_state_backend.h"
#include "tests/unit/taskmanager/state/backend_fixture.h"

namespace eddy::state {
namespace {

class RocksDbKeyedStateBackendTest : public testing::BackendTest {};

TEST_F(RocksDbKeyedStateBackendTest, DirectoryLivesUnderLocalDirUntilDispose) {
  RocksDbOptions options;
  options.local_dir = LocalDir();
  StateBackendParams params;
  params.job_id = "j1";
  params.operator_id = "window";
  params.subtask = 3;
  auto backend = RocksDbKeyedStateBackend::Open(params, options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  const std::filesystem::path dir = (*backend)->directory();
  EXPECT_EQ(dir.parent_path(), std::filesystem::path(LocalDir()));
  EXPECT_NE(dir.filename().string().find("j1-window-3"), std::string::npos) << dir;
  auto list = *(*backend)->get_list_state(ListStateDescriptor<std::string>{"l"});
  (*backend)->set_current_key(1);
  for (int i = 0; i < 100; ++i) list->add(std::string(i % 7, 'x'));
  ASSERT_TRUE((*backend)->db()->Flush(rocksdb::FlushOptions()).ok());
  EXPECT_EQ(list->get().size(), 100u);
  EXPECT_TRUE(std::filesystem::exists(dir));
  ASSERT_TRUE((*backend)->Dispose().ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_TRUE(std::filesystem::exists(LocalDir()));
}

TEST_F(RocksDbKeyedStateBackendTest, AnUnusableLocalDirIsAnErrorNamingThePath) {
  const std::string file = LocalDir() + "/not-a-directory";
  std::ofstream(file) << "x";
  RocksDbOptions options;
  options.local_dir = file;
  auto backend = RocksDbKeyedStateBackend::Open(StateBackendParams{}, options);
  ASSERT_FALSE(backend.ok());
  EXPECT_NE(backend.status().message().find(file), std::string::npos) << backend.status();

  Config config;
  ASSERT_TRUE(config.Set(opt::kStateBackendType, "rocksdb").ok());
  ASSERT_TRUE(config.Set(opt::kStateRocksDbLocalDir, file + "/sub").ok());
  auto via_factory = CreateKeyedStateBackend(config, StateBackendParams{});
  ASSERT_FALSE(via_factory.ok());
  EXPECT_NE(via_factory.status().message().find(file + "/sub"), std::string::npos);
}

// Puts and deletes wait in the store's write-back buffer and reach RocksDB in batches: reads,
// lists (merges), scans and snapshots must see every write, across many flushes, exactly as a
// std::map model of the same operations.
TEST_F(RocksDbKeyedStateBackendTest, WrittenBackPutsAndDeletesAreSeenByReadsMergesAndScans) {
  auto backend = Make("rocksdb");
  auto value = *backend->get_state(ValueStateDescriptor<std::string>{"v"});
  auto list = *backend->get_list_state(ListStateDescriptor<int64_t>{"l"});
  std::map<int64_t, std::string> model;
  std::map<int64_t, std::vector<int64_t>> lists;
  std::mt19937_64 rng(7);
  const int64_t kKeys = 3 * static_cast<int64_t>(RocksDbStore::kMaxPendingKeys);
  for (int step = 0; step < 60'000; ++step) {
    const int64_t k = static_cast<int64_t>(rng() % kKeys);
    backend->set_current_key(k);
    switch (rng() % 8) {
      case 0:
        value->clear();
        model.erase(k);
        break;
      case 1:
        list->add(step);  // a merge after the key's pending writes
        lists[k].push_back(step);
        break;
      case 2:
        ASSERT_EQ(list->get(), lists[k]) << k;
        break;
      default: {
        const std::optional<std::string> got = value->value();
        auto it = model.find(k);
        ASSERT_EQ(got.has_value(), it != model.end()) << "key " << k << " at step " << step;
        if (got) {
          ASSERT_EQ(*got, it->second) << k;
        }
        const std::string next = (got ? got->substr(0, 20) : "") + std::to_string(step);
        value->update(next);
        model[k] = next;
      }
    }
  }
  // A snapshot (a scan) sees the writes still pending: restored elsewhere, it reads the same.
  std::string snapshot;
  ASSERT_TRUE(backend->SnapshotKeyGroups({0, 127}, &snapshot).ok());
  auto restored = Make("hashmap");
  auto restored_value = *restored->get_state(ValueStateDescriptor<std::string>{"v"});
  ASSERT_TRUE(restored->Restore(snapshot).ok());
  for (int64_t k = 0; k < kKeys; ++k) {
    restored->set_current_key(k);
    auto it = model.find(k);
    const std::optional<std::string> got = restored_value->value();
    ASSERT_EQ(got.has_value(), it != model.end()) << k;
    if (got) {
      EXPECT_EQ(*got, it->second) << k;
    }
  }
}

TEST_F(RocksDbKeyedStateBackendTest, MemoryBudgetSharesOneCacheWithTheWriteBuffers) {
  Config config;
  ASSERT_TRUE(config.Set(opt::kStateRocksDbMemoryFixedPerSlot, "32mb").ok());
  ASSERT_TRUE(config.Set(opt::kStateRocksDbWriteBufferCount, "3").ok());
  const RocksDbOptions options = RocksDbOptions::FromConfig(config);
  EXPECT_EQ(options.memory_limit_bytes, 32 << 20);
  EXPECT_EQ(options.write_buffer_count, 3);
  auto resources = RocksDbResources::Create(options);
  ASSERT_NE(resources->write_buffer_manager, nullptr);
  EXPECT_EQ(resources->block_cache->GetCapacity(), size_t{32} << 20);
  EXPECT_EQ(resources->write_buffer_manager->buffer_size(), size_t{16} << 20);

  RocksDbOptions local = options;
  local.local_dir = LocalDir();
  auto a = RocksDbKeyedStateBackend::Open(StateBackendParams{}, local, resources);
  auto b = RocksDbKeyedStateBackend::Open(StateBackendParams{}, local, resources);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->directory(), (*b)->directory());
}

TEST_F(RocksDbKeyedStateBackendTest, FactoryPicksTheConfiguredType) {
  EXPECT_NE(dynamic_cast<HeapKeyedStateBackend*>(Make("hashmap").get()), nullptr);
  EXPECT_NE(dynamic_cast<RocksDbKeyedStateBackend*>(Make("rocksdb").get()), nullptr);
  Config config;
  EXPECT_FALSE(config.Set(opt::kStateBackendType, "filesystem").ok());
}

}  // namespace
}  // namespace eddy::state
