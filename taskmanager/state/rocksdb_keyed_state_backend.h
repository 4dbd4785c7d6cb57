// The RocksDB keyed state backend (state.backend.type: rocksdb): one column family per state;
// RocksDB key = key group (2 bytes, big-endian) + lp(key) + lp(namespace) [+ map user key], so
// a key group is one contiguous range and a map is one prefix; list add() is a merge (blind
// write); WAL off (checkpoints give durability). Each backend owns a directory under
// state.backend.rocksdb.localdir, removed by Dispose(). Single-threaded (the task thread),
// except that RocksDbResources may be shared by the backends of a TaskManager slot.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <condition_variable>
#include <functional>
#include <set>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "common/config.h"
#include "taskmanager/state/keyed_state_backend_base.h"
#include "taskmanager/state/snapshot_format.h"

namespace eddy::state {

/// RocksDB settings read from the configuration (state.backend.rocksdb.*).
struct RocksDbOptions {
  std::string local_dir;                       // empty: the system temp directory
  int64_t block_cache_bytes = 8 << 20;
  int64_t write_buffer_bytes = 64 << 20;
  int write_buffer_count = 2;
  int64_t memory_limit_bytes = 0;              // > 0: cache + write buffers share this budget
  bool incremental = true;                     // state.backend.incremental

  static RocksDbOptions FromConfig(const Config& config);
};

/// The memory RocksDB instances share: one block cache and, with a memory limit, one write
/// buffer manager that charges memtables to that cache (Flink's managed memory per slot).
struct RocksDbResources {
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffer_manager;  // null without a limit

  static std::shared_ptr<RocksDbResources> Create(const RocksDbOptions& options);
};

/// The byte store of one state: its column family. Puts and deletes are written back: they
/// collect in memory (the latest per key, which reads see) and reach RocksDB as one
/// WriteBatch when kMaxPendingKeys keys or kMaxPendingBytes bytes are pending, before any
/// scan or merge, and on FlushPending() — one RocksDB write per thousands of updates instead
/// of one per update (a DB::Write per access was a third of an access's time).
class RocksDbStore {
 public:
  static constexpr size_t kMaxPendingKeys = 4096;
  static constexpr size_t kMaxPendingBytes = 4 << 20;

  RocksDbStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string state_name);
  RocksDbStore(RocksDbStore&&) = default;
  RocksDbStore& operator=(RocksDbStore&&) = default;

  /// Writes the pending puts and deletes to RocksDB (e.g. before a native checkpoint).
  void FlushPending();

  /// `key_id` (StateTable::composite_id) is for stores that cache lookups; RocksDB's block
  /// cache and memtable do that here.
  bool Find(int32_t kg, std::string_view key, std::string_view* value, uint64_t key_id = 0);
  void Store(int32_t kg, std::string_view key, std::string_view value, uint64_t key_id = 0);
  void Append(int32_t kg, std::string_view key, std::string_view value);
  void Erase(int32_t kg, std::string_view key);

  bool FindEntry(int32_t kg, std::string_view key, std::string_view user_key,
                 std::string_view* value) {
    return Find(kg, EntryKey(key, user_key), value);
  }
  void StoreEntry(int32_t kg, std::string_view key, std::string_view user_key,
                  std::string_view value) {
    Store(kg, EntryKey(key, user_key), value);
  }
  void EraseEntry(int32_t kg, std::string_view key, std::string_view user_key) {
    Erase(kg, EntryKey(key, user_key));
  }
  /// Scans the prefix `key` (one map).
  void ForEachEntry(int32_t kg, std::string_view key,
                    absl::FunctionRef<void(std::string_view, std::string_view)> f);
  bool HasEntries(int32_t kg, std::string_view key);
  void EraseEntries(int32_t kg, std::string_view key);

  /// A scan of the column family as of now (a RocksDB snapshot), for a checkpoint written
  /// on another thread; the DB must stay open until it is dropped.
  std::unique_ptr<DeferredScan> Defer();
  void ForEachInRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f);
  void Restore(std::string_view key, std::string_view user_key, std::string_view value);

 private:
  std::string_view EntryKey(std::string_view key, std::string_view user_key) {
    entry_key_.assign(key);
    entry_key_.append(user_key);
    return entry_key_;
  }
  std::unique_ptr<rocksdb::Iterator> Seek(std::string_view prefix);
  /// Fails the task (an exception the task turns into a failure) on a RocksDB error.
  void Check(const rocksdb::Status& status, const char* op) const;

  /// Copies bytes into chunks that never move until Reset() (pending keys and values).
  class Arena {
   public:
    absl::string_view Copy(std::string_view bytes);
    size_t bytes() const { return bytes_; }
    void Reset() {
      chunk_ = 0;
      used_ = 0;
      bytes_ = 0;
    }

   private:
    static constexpr size_t kChunk = 256 << 10;
    std::vector<std::pair<std::unique_ptr<char[]>, size_t>> chunks_;  // (memory, size)
    size_t chunk_ = 0;  // the chunk being filled
    size_t used_ = 0;   // bytes used in it
    size_t bytes_ = 0;  // bytes copied since Reset()
  };
  struct PendingWrite {
    absl::string_view value;
    bool erased = false;
  };
  void Pend(std::string_view key, std::string_view value, bool erased);

  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  absl::flat_hash_map<absl::string_view, PendingWrite> pending_;  // views into arena_
  Arena arena_;
  std::string state_name_;
  rocksdb::ReadOptions read_options_;
  rocksdb::WriteOptions write_options_;
  rocksdb::PinnableSlice pinned_;
  rocksdb::WriteBatch batch_;  // reused by Store/Append/Erase
  std::string entry_key_;
};

/// NativeSnapshot::backend of RocksDB's checkpoints.
inline constexpr char kRocksDbNativeBackend[] = "rocksdb";

/// Reads a native snapshot (a RocksDB checkpoint directory `dir` and its `meta`) as if it
/// were a backend-independent one: the visitor sees the header, then each state followed by
/// its entries (all key groups of the snapshot), then the timers. Opens the files read-only.
absl::Status ReadRocksDbNativeSnapshot(const std::string& dir, std::string_view meta,
                                       SnapshotVisitor& visitor);

/// Makes an incremental checkpoint's rocksdb::Checkpoint without a flush in the synchronous
/// part. That part only seals the memtables holding unflushed state (a switch to new ones;
/// RocksDB then flushes the sealed ones in the background) after writing a deletion of an
/// unused key into each of them, so the flush that carries them is known by its sequence
/// numbers. When every sealed memtable is in an SST file, this listener makes the checkpoint
/// (hard links) on RocksDB's flush thread, inside the flush's completion callback: a
/// database flushes one memtable set at a time (max_background_flushes = 1) and in the order
/// they were sealed, so nothing written after the barrier is in an SST file yet. A flush that
/// carried data from after the barrier with it fails that checkpoint instead of including it.
class RocksDbBarrierFlushes final : public rocksdb::EventListener {
 public:
  /// One checkpoint's linking, awaited by its asynchronous part.
  class Outcome {
   public:
    void Set(absl::Status status);
    absl::Status Wait();

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    absl::Status status_;
  };
  using Link = std::function<absl::Status()>;

  /// Waits for a flush of each column family in `cfs` (ids) that holds an entry newer than
  /// `before` and none newer than `last`; then runs `link` and gives its result to `outcome`.
  void Add(int64_t checkpoint_id, std::set<uint32_t> cfs, uint64_t before, uint64_t last,
           Link link, std::shared_ptr<Outcome> outcome);
  /// Drops the checkpoint of `outcome` (its memtables could not be sealed).
  void Forget(const Outcome* outcome);
  /// Fails every checkpoint still waiting (the database closes, or a flush failed).
  void FailAll(const absl::Status& status);

  void OnFlushCompleted(rocksdb::DB* db, const rocksdb::FlushJobInfo& info) override;
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override;
  const char* Name() const override { return "EddyBarrierFlushes"; }

 private:
  struct Barrier {
    int64_t checkpoint_id;
    std::set<uint32_t> cfs;  // not flushed yet
    uint64_t before;
    uint64_t last;
    Link link;
    std::shared_ptr<Outcome> outcome;
  };
  std::mutex mu_;
  std::vector<Barrier> barriers_;
};

/// Incremental checkpoints (state.backend.incremental): the synchronous part seals the
/// memtables (RocksDbBarrierFlushes), which RocksDB flushes while the task goes on; then a
/// rocksdb::Checkpoint (hard links to the immutable SST files) is made in a sibling
/// directory, and the asynchronous part uploads the SST files the last completed checkpoint
/// did not have and refers to the others. A restore at the same key-group range opens the
/// downloaded files as the instance itself; any other is read entry by entry.
class RocksDbKeyedStateBackend final : public KeyedStateBackendBase {
 public:
  /// Opens a fresh instance in a new directory under `options.local_dir`. `resources` may be
  /// shared with other backends; null makes this backend its own. Errors name the directory.
  static absl::StatusOr<std::unique_ptr<RocksDbKeyedStateBackend>> Open(
      const StateBackendParams& params, const RocksDbOptions& options,
      std::shared_ptr<RocksDbResources> resources = nullptr);
  ~RocksDbKeyedStateBackend() override;

  absl::Status Dispose() override;
  /// Returns the instance directory (removed by Dispose()).
  const std::filesystem::path& directory() const { return dir_; }
  /// Returns the database, e.g. for a native rocksdb::Checkpoint (the checkpoint work; each
  /// state's store must FlushPending() first).
  rocksdb::DB* db() { return db_.get(); }

  absl::StatusOr<CheckpointWriter> SnapshotForCheckpoint(int64_t checkpoint_id,
                                                         bool self_contained) override;
  void NotifyCheckpointComplete(int64_t checkpoint_id) override;
  void NotifyCheckpointAborted(int64_t checkpoint_id) override;
  absl::Status RestoreNative(const NativeRestore& restore) override;

 protected:
  absl::StatusOr<std::unique_ptr<internal::StateTable>> CreateTable(
      const StateMeta& meta) override;

 private:
  RocksDbKeyedStateBackend(const StateBackendParams& params, std::filesystem::path dir,
                           std::shared_ptr<RocksDbResources> resources,
                           rocksdb::DBOptions db_options, rocksdb::ColumnFamilyOptions cf_options,
                           bool incremental);
  /// Closes the database (column families first).
  absl::Status CloseDb();
  /// Makes the downloaded files of `restore` this instance (the empty one is dropped).
  absl::Status Adopt(const NativeRestore& restore);

  /// Shared files of checkpoints: those of the last completed one (referenced by the next)
  /// and those of checkpoints in flight. The snapshot thread adds, the task thread confirms.
  struct Uploads {
    std::mutex mu;
    SharedFiles confirmed;
    std::map<int64_t, SharedFiles> pending;
  };

  std::filesystem::path dir_;
  std::shared_ptr<RocksDbResources> resources_;
  rocksdb::DBOptions db_options_;
  rocksdb::ColumnFamilyOptions cf_options_;
  const bool incremental_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> column_families_;
  /// Column families of an adopted instance, by name, taken by CreateTable().
  std::map<std::string, rocksdb::ColumnFamilyHandle*> adopted_;
  std::shared_ptr<Uploads> uploads_ = std::make_shared<Uploads>();
  /// In db_options_'s listeners: every instance this backend opens reports its flushes.
  std::shared_ptr<RocksDbBarrierFlushes> barrier_flushes_;
  bool disposed_ = false;
};

}  // namespace eddy::state
