// Incremental RocksDB checkpoints end to end below the task: a backend's native snapshot
// stored through the task's KeyedStateUploader on the local file system, then restored. The
// bytes a checkpoint writes are measured by listing the storage before and after it, and
// restored state is compared with a plain map of what was written.
#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "common/config.h"
#include "common/fs/file_system.h"
#include "taskmanager/keyed_state_upload.h"
#include "taskmanager/state/rocksdb_keyed_state_backend.h"
#include "taskmanager/state/state_backend_factory.h"

namespace eddy {
namespace {

constexpr int kValueBytes = 100;

class IncrementalCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (std::filesystem::temp_directory_path() /
             ("eddy-incremental-test-" + std::to_string(::getpid())))
                .string();
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/local");
    auto fs = fs::FileSystem::ForUri("file://" + root_, Config());
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = *fs;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<KeyedStateBackend> Make(const std::string& type, KeyGroupRange range,
                                          Config config = Config()) {
    EXPECT_TRUE(config.Set(opt::kStateBackendType, type).ok());
    EXPECT_TRUE(config.Set(opt::kStateRocksDbLocalDir, root_ + "/local").ok());
    state::StateBackendParams params;
    params.max_parallelism = 128;
    params.key_groups = range;
    params.subtask = next_subtask_++;
    auto backend = state::CreateKeyedStateBackend(config, params);
    EXPECT_TRUE(backend.ok()) << backend.status();
    return std::move(*backend);
  }

  /// Writes keys [from, to) with values the reference remembers.
  void Fill(KeyedStateBackend& backend, int64_t from, int64_t to) {
    auto* state = *backend.get_state(ValueStateDescriptor<std::string>{"v"});
    for (int64_t k = from; k < to; ++k) {
      backend.set_current_key(k);
      std::string value(kValueBytes, static_cast<char>('a' + k % 26));
      value.replace(0, std::to_string(k).size(), std::to_string(k));
      state->update(value);
      reference_[k] = value;
    }
  }

  /// Bytes of every file under the storage root, by URI.
  std::map<std::string, uint64_t> Stored() {
    std::map<std::string, uint64_t> out;
    auto list = fs_->List("file://" + root_ + "/chk");
    EXPECT_TRUE(list.ok()) << list.status();
    for (const auto& f : *list) out[f.uri] = f.size;
    return out;
  }

  /// Takes checkpoint `id` of `backend` and stores it; returns its handle and, in
  /// `*written`, the bytes of the files that appeared in the storage. `meanwhile` runs
  /// between the synchronous and the asynchronous part (the task going on).
  checkpoint::KeyedStateHandle Checkpoint(KeyedStateBackend& backend, int64_t id,
                                          uint64_t* written, uint64_t* counted = nullptr,
                                          const std::function<void()>& meanwhile = {}) {
    const auto before = Stored();
    auto writer = backend.SnapshotForCheckpoint(id, /*self_contained=*/false);
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (meanwhile) meanwhile();
    KeyedStateUploader uploader(
        *fs_, {.checkpoint_uri = ChkUri(id),
               .shared_uri = "file://" + root_ + "/chk/shared",
               .file_prefix = "op-0-1",
               .key_groups = backend.key_group_range(),
               .inline_threshold = 0});  // every file lands in the storage, to be counted
    absl::Status s = (*writer)(uploader);
    EXPECT_TRUE(s.ok()) << s;
    *written = 0;
    for (const auto& [uri, size] : Stored()) {
      if (!before.contains(uri)) *written += size;
    }
    if (counted != nullptr) *counted = uploader.checkpointed_bytes();
    EXPECT_EQ(uploader.handles().size(), 1u);
    return uploader.handles().empty() ? checkpoint::KeyedStateHandle() : uploader.handles()[0];
  }
  std::string ChkUri(int64_t id) { return "file://" + root_ + "/chk/chk-" + std::to_string(id); }

  /// Restores `handle` (of checkpoint `id`) into a fresh backend of `type` over `range`.
  std::unique_ptr<KeyedStateBackend> Restore(const std::string& type, KeyGroupRange range,
                                             const checkpoint::KeyedStateHandle& handle,
                                             int64_t id) {
    auto backend = Make(type, range);
    auto native = DownloadNativeState(*fs_, ChkUri(id), handle, root_ + "/local", "op");
    EXPECT_TRUE(native.ok()) << native.status();
    absl::Status s = backend->RestoreNative(*native);
    EXPECT_TRUE(s.ok()) << s;
    return backend;
  }

  /// Every key of the reference in `range` has its value, and no other key is there.
  void ExpectState(KeyedStateBackend& backend) {
    auto values = backend.get_keys<int64_t, std::string>("v");
    ASSERT_TRUE(values.ok()) << values.status();
    std::set<int64_t> got(values->begin(), values->end());
    size_t expected = 0;
    auto* state = *backend.get_state(ValueStateDescriptor<std::string>{"v"});
    for (const auto& [k, v] : reference_) {
      if (!backend.key_group_range().Contains(KeyGroupFor(KeyHash(k), 128))) continue;
      ++expected;
      ASSERT_TRUE(got.contains(k)) << "key " << k << " missing";
      backend.set_current_key(k);
      ASSERT_EQ(state->value(), v);
    }
    EXPECT_EQ(got.size(), expected);
  }

  std::string root_;
  std::shared_ptr<fs::FileSystem> fs_;
  std::map<int64_t, std::string> reference_;
  int next_subtask_ = 0;
};

uint64_t UploadedBytes(const checkpoint::KeyedStateHandle& h) {
  uint64_t n = 0;
  for (const auto& f : h.native().shared()) n += f.uploaded() ? f.size() : 0;
  return n;
}

TEST_F(IncrementalCheckpointTest, TheNextCheckpointUploadsOnlyNewSstFiles) {
  auto backend = Make("rocksdb", {0, 127});
  Fill(*backend, 0, 50'000);  // ~5 MB
  uint64_t written1 = 0, counted1 = 0;
  const auto first = Checkpoint(*backend, 1, &written1, &counted1);
  ASSERT_TRUE(first.has_native());
  ASSERT_FALSE(first.native().shared().empty());
  EXPECT_GT(written1, 50'000u * kValueBytes / 2);
  EXPECT_EQ(written1, counted1 - first.native().meta().size()) << "bytes written vs counted";
  for (const auto& f : first.native().shared()) EXPECT_TRUE(f.uploaded()) << f.name();
  backend->NotifyCheckpointComplete(1);

  Fill(*backend, 50'000, 51'000);  // 2% more
  uint64_t written2 = 0, counted2 = 0;
  const auto second = Checkpoint(*backend, 2, &written2, &counted2);
  EXPECT_EQ(written2, counted2 - second.native().meta().size());
  // Only the new SST files and the few small private files were written.
  uint64_t private_bytes = 0;
  for (const auto& f : second.native().private_files()) private_bytes += f.size();
  EXPECT_EQ(written2, UploadedBytes(second) + private_bytes);
  EXPECT_LT(written2, written1 / 10) << "checkpoint 2 wrote " << written2 << " of "
                                     << second.size() << " bytes of state";
  std::map<std::string, std::string> first_uris;
  for (const auto& f : first.native().shared()) first_uris[f.name()] = f.uri();
  int referenced = 0;
  for (const auto& f : second.native().shared()) {
    if (first_uris.contains(f.name())) {
      EXPECT_FALSE(f.uploaded()) << f.name() << " uploaded again";
      EXPECT_EQ(f.uri(), first_uris[f.name()]);
      ++referenced;
    } else {
      EXPECT_TRUE(f.uploaded()) << f.name();
    }
  }
  EXPECT_GT(referenced, 0);

  // Not confirmed: checkpoint 3 cannot refer to checkpoint 2's new files (2 may be aborted).
  uint64_t written3 = 0;
  const auto third = Checkpoint(*backend, 3, &written3);
  for (const auto& f : third.native().shared()) {
    if (!first_uris.contains(f.name())) {
      EXPECT_TRUE(f.uploaded()) << f.name();
    }
  }
  ASSERT_TRUE(backend->Dispose().ok());
}

TEST_F(IncrementalCheckpointTest, RestoresAsIsOrRescaledOrIntoTheHeap) {
  auto backend = Make("rocksdb", {0, 127});
  Fill(*backend, 0, 20'000);
  auto* timers = backend->timer_service("timers");
  backend->set_current_key(int64_t{7});
  timers->register_event_time_timer(std::string("ns"), 1234);
  uint64_t written = 0;
  Checkpoint(*backend, 1, &written);
  backend->NotifyCheckpointComplete(1);
  Fill(*backend, 20'000, 21'000);
  Fill(*backend, 0, 10);  // overwritten values
  // What the task does after the synchronous part is not in the checkpoint: timers and
  // values alike.
  auto* v = *backend->get_state(ValueStateDescriptor<std::string>{"v"});
  const auto handle = Checkpoint(*backend, 2, &written, nullptr, [&] {
    backend->set_current_key(int64_t{7});
    timers->delete_event_time_timer(std::string("ns"), 1234);
    timers->register_event_time_timer(std::string("ns"), 99);
    for (int64_t k = 0; k < 100; ++k) {
      backend->set_current_key(k);
      v->update("after the barrier");
    }
    backend->set_current_key(int64_t{50'000});
    v->update("after the barrier");
  });
  ASSERT_TRUE(backend->Dispose().ok());

  // The same key groups: the files become the instance; its next checkpoint refers to them.
  auto same = Restore("rocksdb", {0, 127}, handle, 2);
  ExpectState(*same);
  EXPECT_EQ(same->timer_service("timers")->num_timers(TimeDomain::kEventTime), 1u);
  EXPECT_EQ(same->timer_service("timers")->next_timer_time(TimeDomain::kEventTime), 1234);
  Fill(*same, 21'000, 21'100);
  const auto next = Checkpoint(*same, 3, &written);
  std::set<std::string> stored;
  for (const auto& f : handle.native().shared()) stored.insert(f.uri());
  int referenced = 0;
  for (const auto& f : next.native().shared()) referenced += stored.contains(f.uri()) ? 1 : 0;
  EXPECT_EQ(referenced, handle.native().shared_size()) << "restored files uploaded again";
  ASSERT_TRUE(same->Dispose().ok());

  // Rescaled: two halves, each with exactly its key groups; and into the heap backend.
  auto low = Restore("rocksdb", {0, 63}, handle, 2);
  auto high = Restore("rocksdb", {64, 127}, handle, 2);
  auto heap = Restore("hashmap", {0, 127}, handle, 2);
  reference_.erase(reference_.lower_bound(21'000), reference_.end());
  ExpectState(*low);
  ExpectState(*high);
  ExpectState(*heap);
  const size_t low_timers = low->timer_service("timers")->num_timers(TimeDomain::kEventTime);
  const size_t high_timers = high->timer_service("timers")->num_timers(TimeDomain::kEventTime);
  EXPECT_EQ(low_timers + high_timers, 1u);
  EXPECT_EQ(heap->timer_service("timers")->num_timers(TimeDomain::kEventTime), 1u);
  for (auto* b : {low.get(), high.get(), heap.get()}) ASSERT_TRUE(b->Dispose().ok());
  // Every downloaded directory was taken over and removed.
  for (const auto& entry : std::filesystem::directory_iterator(root_ + "/local")) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
}

// The synchronous part only seals the memtables; they are flushed while the task goes on.
// With small memtables the task's writes after the barrier reach SST files of their own,
// yet the checkpoint is the state at the barrier: the links are made before those flushes.
TEST_F(IncrementalCheckpointTest, WritesFlushedAfterTheBarrierAreNotInTheCheckpoint) {
  Config config;
  ASSERT_TRUE(config.Set(opt::kStateRocksDbWriteBufferSize, "256kb").ok());
  ASSERT_TRUE(config.Set(opt::kStateRocksDbWriteBufferCount, "3").ok());
  auto backend = Make("rocksdb", {0, 127}, config);
  Fill(*backend, 0, 20'000);  // ~2 MB: several SST files and a partly full memtable
  auto* v = *backend->get_state(ValueStateDescriptor<std::string>{"v"});
  // A second state with nothing unflushed at the barrier: only written after it.
  auto* other = *backend->get_state(ValueStateDescriptor<std::string>{"other"});
  backend->set_current_key(int64_t{1});
  other->update("before");
  uint64_t written = 0;
  Checkpoint(*backend, 1, &written);
  backend->NotifyCheckpointComplete(1);
  // Checkpoint 1 flushed what it sealed: "other" has nothing outside SST files now.
  auto* rocks = static_cast<state::RocksDbKeyedStateBackend*>(backend.get());
  Fill(*backend, 20'000, 22'000);
  bool flushed_after = false;
  const auto handle = Checkpoint(*backend, 2, &written, nullptr, [&] {
    const uint64_t barrier = rocks->db()->GetLatestSequenceNumber();
    std::string later(kValueBytes, 'z');
    for (int64_t k = 0; k < 22'000; ++k) {  // every value, ~2 MB: memtables fill and flush
      backend->set_current_key(k);
      v->update(later);
      other->update(later);
    }
    backend->set_current_key(int64_t{90'000});
    v->update(later);
    // 4 MB through 768 KB of memtables: writes waited for flushes, so SST files of
    // writes after the barrier exist before the asynchronous part starts.
    std::vector<rocksdb::LiveFileMetaData> files;
    rocks->db()->GetLiveFilesMetaData(&files);
    for (const auto& f : files) flushed_after |= f.smallest_seqno > barrier;
  });
  ASSERT_TRUE(backend->Dispose().ok());
  EXPECT_TRUE(flushed_after) << "no SST file of writes after the barrier";

  auto same = Restore("rocksdb", {0, 127}, handle, 2);
  ExpectState(*same);
  same->set_current_key(int64_t{1});
  EXPECT_EQ((*same->get_state(ValueStateDescriptor<std::string>{"other"}))->value(), "before");
  auto heap = Restore("hashmap", {0, 127}, handle, 2);
  ExpectState(*heap);
  for (auto* b : {same.get(), heap.get()}) ASSERT_TRUE(b->Dispose().ok());
}

// A flush that carries a memtable written after the barrier together with the sealed one
// (the flush thread picked the sealed memtable late) fails that checkpoint with a message
// saying so; the next checkpoint is whole.
TEST_F(IncrementalCheckpointTest, AFlushCarryingLaterWritesDeclinesTheCheckpoint) {
  Config config;
  ASSERT_TRUE(config.Set(opt::kStateRocksDbWriteBufferSize, "256kb").ok());
  ASSERT_TRUE(config.Set(opt::kStateRocksDbWriteBufferCount, "8").ok());
  auto backend = Make("rocksdb", {0, 127}, config);
  Fill(*backend, 0, 1'000);
  auto* rocks = static_cast<state::RocksDbKeyedStateBackend*>(backend.get());
  ASSERT_TRUE(rocks->db()->PauseBackgroundWork().ok());  // the flush thread picks late
  auto writer = backend->SnapshotForCheckpoint(1, /*self_contained=*/false);
  ASSERT_TRUE(writer.ok()) << writer.status();
  // ~1 MB after the barrier (written in batches of 4096 keys): memtables sealed after it.
  Fill(*backend, 1'000, 10'000);
  uint64_t immutable = 0;
  rocks->db()->GetAggregatedIntProperty(rocksdb::DB::Properties::kNumImmutableMemTable,
                                        &immutable);
  EXPECT_GE(immutable, 2u);
  ASSERT_TRUE(rocks->db()->ContinueBackgroundWork().ok());
  KeyedStateUploader uploader(*fs_, {.checkpoint_uri = ChkUri(1),
                                     .shared_uri = "file://" + root_ + "/chk/shared",
                                     .file_prefix = "op-0-1",
                                     .key_groups = {0, 127},
                                     .inline_threshold = 0});
  const absl::Status s = (*writer)(uploader);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_NE(s.message().find("checkpoint 1"), std::string_view::npos) << s;
  EXPECT_NE(s.message().find("written after the checkpoint's barrier"), std::string_view::npos)
      << s;
  backend->NotifyCheckpointAborted(1);

  uint64_t written = 0;
  const auto handle = Checkpoint(*backend, 2, &written);
  ASSERT_TRUE(backend->Dispose().ok());
  auto same = Restore("rocksdb", {0, 127}, handle, 2);
  ExpectState(*same);
  ASSERT_TRUE(same->Dispose().ok());
}

TEST_F(IncrementalCheckpointTest, ASavepointIsSelfContained) {
  auto backend = Make("rocksdb", {0, 127});
  Fill(*backend, 0, 1000);
  auto writer = backend->SnapshotForCheckpoint(1, /*self_contained=*/true);
  ASSERT_TRUE(writer.ok());
  KeyedStateUploader uploader(*fs_, {.checkpoint_uri = ChkUri(1),
                                     .shared_uri = "",
                                     .file_prefix = "op-0-1",
                                     .key_groups = {0, 127},
                                     .inline_threshold = 0});
  ASSERT_TRUE((*writer)(uploader).ok());
  ASSERT_EQ(uploader.handles().size(), 1u);
  EXPECT_FALSE(uploader.handles()[0].has_native());
  EXPECT_EQ(uploader.handles()[0].uri(), "op-0-1.state");  // relative: the savepoint can move
  ASSERT_TRUE(backend->Dispose().ok());
}

}  // namespace
}  // namespace eddy
