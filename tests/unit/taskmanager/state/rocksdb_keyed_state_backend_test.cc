// What only the RocksDB backend has: its instance directory (made under localdir, removed on
// dispose, a clear error when it cannot be made), list add() as a merge, the memory budget,
// and the factory's choice of backend.
#include <filesystem>
#include <fstream>
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
