#include "taskmanager/state/rocksdb_keyed_state_backend.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <system_error>

#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"

namespace eddy::state {
namespace {

/// Concatenates list operands: elements are length-prefixed, so no delimiter is needed and
/// add() never reads the list.
class ListAppendOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    new_value->clear();
    if (existing != nullptr) {
      new_value->reserve(existing->size() + value.size());
      new_value->assign(existing->data(), existing->size());
    }
    new_value->append(value.data(), value.size());
    return true;
  }
  const char* Name() const override { return "EddyListAppend"; }
};

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// Column families are named after states; the prefix keeps a state called "default" from
// meeting RocksDB's own column family.
std::string ColumnFamilyName(std::string_view state) { return "state/" + std::string(state); }

/// Seals the memtables of `cfs`: a flush not waited for, so the switch to new memtables is
/// done when it returns. While writes are stopped (too many unflushed memtables) RocksDB
/// refuses an unwaited flush; then this waits for the flush, as the RocksDB message asks.
rocksdb::Status SealMemtables(rocksdb::DB* db,
                              const std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
  rocksdb::FlushOptions flush;
  flush.wait = false;
  flush.allow_write_stall = true;
  rocksdb::Status s = db->Flush(flush, cfs);
  if (s.IsTryAgain()) {
    flush.wait = true;
    s = db->Flush(flush, cfs);
  }
  return s;
}

}  // namespace

RocksDbOptions RocksDbOptions::FromConfig(const Config& config) {
  RocksDbOptions o;
  o.local_dir = config.GetString(opt::kStateRocksDbLocalDir);
  o.block_cache_bytes = config.GetMemorySize(opt::kStateRocksDbBlockCacheSize);
  o.write_buffer_bytes = config.GetMemorySize(opt::kStateRocksDbWriteBufferSize);
  o.write_buffer_count = static_cast<int>(config.GetInt(opt::kStateRocksDbWriteBufferCount));
  o.memory_limit_bytes = config.GetMemorySize(opt::kStateRocksDbMemoryFixedPerSlot);
  o.incremental = config.GetBool(opt::kStateBackendIncremental);
  return o;
}

namespace {

// A cache of `bytes` with few shards. RocksDB's default cuts a 64 MB cache into 64 shards of
// 1 MB, and a block larger than its shard is never kept: every read of a big state re-read
// (and re-checksummed) its SST files' filter blocks from the file system (perf: 40% of the
// TaskManager's time in the kernel copying). Our backends are single-threaded, so shards of
// at least 32 MB cost no contention.
std::shared_ptr<rocksdb::Cache> NewBlockCache(int64_t bytes) {
  int shard_bits = 0;
  while (shard_bits < 4 && (bytes >> (shard_bits + 1)) >= (int64_t{32} << 20)) ++shard_bits;
  return rocksdb::NewLRUCache(static_cast<size_t>(bytes), shard_bits);
}

}  // namespace

std::shared_ptr<RocksDbResources> RocksDbResources::Create(const RocksDbOptions& options) {
  auto r = std::make_shared<RocksDbResources>();
  if (options.memory_limit_bytes > 0) {
    // Flink's split: memtables may take half of the budget, charged to the same cache.
    r->block_cache = NewBlockCache(options.memory_limit_bytes);
    r->write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(
        static_cast<size_t>(options.memory_limit_bytes / 2), r->block_cache);
  } else {
    r->block_cache = NewBlockCache(options.block_cache_bytes);
  }
  return r;
}

// ---- RocksDbStore ---------------------------------------------------------------------------

RocksDbStore::RocksDbStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                           std::string state_name)
    : db_(db), cf_(cf), state_name_(std::move(state_name)) {
  write_options_.disableWAL = true;  // checkpoints give durability
  write_options_.sync = false;
}

void RocksDbStore::Check(const rocksdb::Status& status, const char* op) const {
  if (status.ok()) [[likely]] return;
  throw std::runtime_error(absl::StrCat("RocksDB ", op, " of state '", state_name_,
                                        "' failed: ", status.ToString()));
}

absl::string_view RocksDbStore::Arena::Copy(std::string_view bytes) {
  bytes_ += bytes.size();
  while (chunk_ < chunks_.size() && used_ + bytes.size() > chunks_[chunk_].second) {
    ++chunk_;
    used_ = 0;
  }
  if (chunk_ == chunks_.size()) {
    const size_t size = std::max(kChunk, bytes.size());
    chunks_.emplace_back(std::make_unique<char[]>(size), size);
    used_ = 0;
  }
  char* at = chunks_[chunk_].first.get() + used_;
  if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
  used_ += bytes.size();
  return absl::string_view(at, bytes.size());
}

bool RocksDbStore::Find(int32_t, std::string_view key, std::string_view* value, uint64_t) {
  if (!pending_.empty()) {
    auto it = pending_.find(absl::string_view(key.data(), key.size()));
    if (it != pending_.end()) {
      if (it->second.erased) return false;
      *value = std::string_view(it->second.value.data(), it->second.value.size());
      return true;
    }
  }
  pinned_.Reset();
  const rocksdb::Status s = db_->Get(read_options_, cf_, ToSlice(key), &pinned_);
  if (s.IsNotFound()) return false;
  Check(s, "get");
  *value = ToView(pinned_);
  return true;
}

void RocksDbStore::Pend(std::string_view key, std::string_view value, bool erased) {
  // One probe: the key is copied into the arena only when it is new.
  auto it = pending_.lazy_emplace(absl::string_view(key.data(), key.size()),
                                  [&](const auto& ctor) { ctor(arena_.Copy(key), PendingWrite{}); });
  // `value` may be a view into the arena (a value read back and stored again): copy first.
  it->second.value = erased ? absl::string_view() : arena_.Copy(value);
  it->second.erased = erased;
  if (pending_.size() >= kMaxPendingKeys || arena_.bytes() >= kMaxPendingBytes) FlushPending();
}

void RocksDbStore::FlushPending() {
  if (pending_.empty()) return;
  batch_.Clear();
  for (const auto& [key, write] : pending_) {
    const rocksdb::Slice k(key.data(), key.size());
    if (write.erased) {
      Check(batch_.Delete(cf_, k), "delete");
    } else {
      Check(batch_.Put(cf_, k, rocksdb::Slice(write.value.data(), write.value.size())), "put");
    }
  }
  Check(db_->Write(write_options_, &batch_), "write");
  pending_.clear();
  arena_.Reset();
}

void RocksDbStore::Store(int32_t, std::string_view key, std::string_view value, uint64_t) {
  Pend(key, value, /*erased=*/false);
}

void RocksDbStore::Append(int32_t, std::string_view key, std::string_view value) {
  FlushPending();  // a merge applies on top of the key's latest value
  batch_.Clear();
  Check(batch_.Merge(cf_, ToSlice(key), ToSlice(value)), "merge");
  Check(db_->Write(write_options_, &batch_), "merge");
}

void RocksDbStore::Erase(int32_t, std::string_view key) { Pend(key, {}, /*erased=*/true); }

std::unique_ptr<rocksdb::Iterator> RocksDbStore::Seek(std::string_view prefix) {
  FlushPending();  // scans see every write
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options_, cf_));
  it->Seek(ToSlice(prefix));
  return it;
}

void RocksDbStore::ForEachEntry(int32_t, std::string_view key,
                                absl::FunctionRef<void(std::string_view, std::string_view)> f) {
  const std::string prefix(key);  // `key` may point into a buffer `f` reuses
  auto it = Seek(prefix);
  for (; it->Valid() && ToView(it->key()).starts_with(prefix); it->Next()) {
    f(ToView(it->key()).substr(prefix.size()), ToView(it->value()));
  }
  Check(it->status(), "scan");
}

bool RocksDbStore::HasEntries(int32_t, std::string_view key) {
  auto it = Seek(key);
  const bool any = it->Valid() && ToView(it->key()).starts_with(key);
  Check(it->status(), "scan");
  return any;
}

void RocksDbStore::EraseEntries(int32_t, std::string_view key) {
  rocksdb::WriteBatch batch;
  auto it = Seek(key);
  for (; it->Valid() && ToView(it->key()).starts_with(key); it->Next()) {
    Check(batch.Delete(cf_, it->key()), "delete");
  }
  Check(it->status(), "scan");
  Check(db_->Write(write_options_, &batch), "write");
}

void RocksDbStore::ForEachInRange(
    KeyGroupRange range,
    absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) {
  std::string start;
  AppendKeyGroupPrefix(range.start, &start);
  auto it = Seek(start);
  StoredKey parsed;
  for (; it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    EDDY_CHECK(ParseStoredKey(key, &parsed)) << "state '" << state_name_ << "' key malformed";
    if (parsed.key_group > range.end) break;
    f(key.substr(0, parsed.size), key.substr(parsed.size), ToView(it->value()));
  }
  Check(it->status(), "scan");
}

namespace {

/// Scans one column family as it was when made: an iterator made right after a memtable flush
/// (RocksDB has no snapshots with inplace_update_support; an iterator reads only entries no
/// newer than its creation, and every later write, in place or not, is one of those).
class RocksDbDeferredScan final : public DeferredScan {
 public:
  RocksDbDeferredScan(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string state_name)
      : state_name_(std::move(state_name)) {
    rocksdb::ReadOptions options;
    options.fill_cache = false;  // a full scan would evict the records' working set
    it_.reset(db->NewIterator(options, cf));
  }

  void ForEachInRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) override {
    rocksdb::Iterator* it = it_.get();
    std::string start;
    AppendKeyGroupPrefix(range.start, &start);
    StoredKey parsed;
    for (it->Seek(ToSlice(start)); it->Valid(); it->Next()) {
      const std::string_view key = ToView(it->key());
      EDDY_CHECK(ParseStoredKey(key, &parsed)) << "state '" << state_name_ << "' key malformed";
      if (parsed.key_group > range.end) break;
      f(key.substr(0, parsed.size), key.substr(parsed.size), ToView(it->value()));
    }
    if (!it->status().ok()) {
      throw std::runtime_error("scanning state '" + state_name_ + "' for a checkpoint: " +
                               it->status().ToString());
    }
  }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  std::string state_name_;
};

}  // namespace

std::unique_ptr<DeferredScan> RocksDbStore::Defer() {
  FlushPending();  // the snapshot sees every write
  // inplace_update_support overwrites values in the mutable memtable in place (and RocksDB
  // then has no snapshots). Sealing it first (a flush we do not wait for: the switch to a new
  // memtable is done when Flush returns) leaves what the scan's iterator sees immutable: SST
  // files and sealed memtables, which the iterator keeps alive. Later writes go to the new
  // memtable with newer sequence numbers, which the iterator skips.
  Check(SealMemtables(db_, {cf_}), "memtable switch for a snapshot");
  return std::make_unique<RocksDbDeferredScan>(db_, cf_, state_name_);
}

void RocksDbStore::Restore(std::string_view key, std::string_view user_key,
                           std::string_view value) {
  Store(0, EntryKey(key, user_key), value);
}

// ---- RocksDbKeyedStateBackend ---------------------------------------------------------------

RocksDbKeyedStateBackend::RocksDbKeyedStateBackend(const StateBackendParams& params,
                                                   std::filesystem::path dir,
                                                   std::shared_ptr<RocksDbResources> resources,
                                                   rocksdb::DBOptions db_options,
                                                   rocksdb::ColumnFamilyOptions cf_options,
                                                   bool incremental)
    : KeyedStateBackendBase(params),
      dir_(std::move(dir)),
      resources_(std::move(resources)),
      db_options_(std::move(db_options)),
      cf_options_(std::move(cf_options)),
      incremental_(incremental),
      barrier_flushes_(std::make_shared<RocksDbBarrierFlushes>()) {
  db_options_.listeners.push_back(barrier_flushes_);
}

absl::StatusOr<std::unique_ptr<RocksDbKeyedStateBackend>> RocksDbKeyedStateBackend::Open(
    const StateBackendParams& params, const RocksDbOptions& options,
    std::shared_ptr<RocksDbResources> resources) {
  std::error_code ec;
  std::filesystem::path root = options.local_dir;
  if (root.empty()) root = std::filesystem::temp_directory_path(ec);
  const std::filesystem::path dir =
      root / absl::StrCat("eddy-rocksdb-", params.job_id, "-", params.operator_id, "-",
                          params.subtask, "-", RandomHexId(4));
  if (!std::filesystem::create_directories(dir, ec) || ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the RocksDB directory '", dir.string(),
                     "' (state.backend.rocksdb.localdir '", options.local_dir,
                     "'): ", ec ? ec.message() : "it already exists"));
  }
  if (resources == nullptr) resources = RocksDbResources::Create(options);

  rocksdb::ColumnFamilyOptions cf;
  cf.merge_operator = std::make_shared<ListAppendOperator>();
  cf.write_buffer_size = static_cast<size_t>(options.write_buffer_bytes);
  cf.max_write_buffer_number = options.write_buffer_count;
  // A value state's get + update of the same key rewrites it in the memtable instead of
  // adding a version per update: the skip list stays one entry per key, and its search was
  // most of an access (perf). The cost: an iterator over the memtable is not a
  // point-in-time view while the task writes — snapshots iterate on the task thread, and a
  // native rocksdb::Checkpoint flushes memtables first. Needs non-concurrent memtable writes.
  cf.inplace_update_support = true;
  // A whole-key bloom filter over the memtable: most reads of a large state miss it.
  cf.memtable_prefix_bloom_size_ratio = 0.02;
  cf.memtable_whole_key_filtering = true;
  cf.level_compaction_dynamic_level_bytes = true;
  // No compression where data is young (L0, L1: rewritten soon); LZ4 below.
  cf.compression_per_level = {rocksdb::kNoCompression, rocksdb::kNoCompression,
                              rocksdb::kLZ4Compression, rocksdb::kLZ4Compression,
                              rocksdb::kLZ4Compression, rocksdb::kLZ4Compression,
                              rocksdb::kLZ4Compression};
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = resources->block_cache;
  // A point read of a key that is not in a file (a new key or window) skips the file.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  // Index and filter blocks count against the block cache, so the cache size bounds
  // RocksDB's read memory; L0's stay pinned (read on every miss).
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  // Partitioned index and filters (Flink's partitioned-index-filters): a big file's filter is
  // many small blocks, read and cached as needed, not one block of megabytes; the top-level
  // index of each file stays pinned.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.pin_top_level_index_and_filter = true;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.write_buffer_manager = resources->write_buffer_manager;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 2;
  db_options.allow_concurrent_memtable_write = false;  // inplace_update_support needs it
  // One flush at a time, in the order the memtables were sealed: an incremental checkpoint's
  // links are made before anything written after its barrier reaches an SST file
  // (RocksDbBarrierFlushes). RocksDB's default with max_background_jobs = 2; said here.
  db_options.max_background_flushes = 1;

  std::unique_ptr<RocksDbKeyedStateBackend> backend(
      new RocksDbKeyedStateBackend(params, dir, resources, db_options, cf, options.incremental));
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, cf}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status s =
      rocksdb::DB::Open(backend->db_options_, dir.string(), families, &handles, &db);
  if (!s.ok()) {
    std::filesystem::remove_all(dir, ec);
    return absl::InternalError(
        absl::StrCat("cannot open RocksDB in '", dir.string(), "': ", s.ToString()));
  }
  backend->db_.reset(db);
  backend->column_families_ = std::move(handles);
  return backend;
}

RocksDbKeyedStateBackend::~RocksDbKeyedStateBackend() {
  const absl::Status s = Dispose();
  (void)s;  // nothing to report to from a destructor; Dispose() explicitly to see errors
}

absl::StatusOr<std::unique_ptr<internal::StateTable>> RocksDbKeyedStateBackend::CreateTable(
    const StateMeta& meta) {
  EDDY_CHECK(!disposed_) << "state registered on a disposed backend";
  rocksdb::ColumnFamilyHandle* cf = nullptr;
  if (auto adopted = adopted_.find(ColumnFamilyName(meta.name)); adopted != adopted_.end()) {
    cf = adopted->second;  // restored with the instance
    adopted_.erase(adopted);
  } else {
    const rocksdb::Status s =
        db_->CreateColumnFamily(cf_options_, ColumnFamilyName(meta.name), &cf);
    if (!s.ok()) {
      return absl::InternalError(absl::StrCat("cannot create the column family of state '",
                                              meta.name, "': ", s.ToString()));
    }
    column_families_.push_back(cf);
  }
  RocksDbStore store(db_.get(), cf, meta.name);
  switch (meta.kind) {
    case StateKind::kValue:
    case StateKind::kReducing:
    case StateKind::kAggregating:
      return std::make_unique<ValueTableImpl<RocksDbStore>>(meta, current(), std::move(store),
                                                            clock());
    case StateKind::kList:
      return std::make_unique<ListTableImpl<RocksDbStore>>(meta, current(), std::move(store),
                                                           clock());
    case StateKind::kMap:
      return std::make_unique<MapTableImpl<RocksDbStore>>(meta, current(), std::move(store),
                                                          clock());
  }
  return absl::InvalidArgumentError("unknown state kind");
}

absl::Status RocksDbKeyedStateBackend::Dispose() {
  if (disposed_) return absl::OkStatus();
  disposed_ = true;
  DropAll();
  absl::Status result = CloseDb();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec && result.ok()) {
    result = absl::InternalError(
        absl::StrCat("cannot remove the RocksDB directory '", dir_.string(), "': ", ec.message()));
  }
  return result;
}

absl::Status RocksDbKeyedStateBackend::CloseDb() {
  absl::Status result;
  if (db_ == nullptr) return result;
  barrier_flushes_->FailAll(
      absl::CancelledError(absl::StrCat("the RocksDB instance '", dir_.string(),
                                        "' closed before the checkpoint's flush")));
  adopted_.clear();
  for (rocksdb::ColumnFamilyHandle* cf : column_families_) {
    const rocksdb::Status s = db_->DestroyColumnFamilyHandle(cf);
    if (!s.ok() && result.ok()) result = absl::InternalError(s.ToString());
  }
  column_families_.clear();
  const rocksdb::Status s = db_->Close();
  if (!s.ok() && result.ok()) result = absl::InternalError(s.ToString());
  db_.reset();
  return result;
}

// ---- Native (incremental) checkpoints ---------------------------------------------------------

namespace {

/// A database opened with every column family it has, by name.
struct OpenedDb {
  std::unique_ptr<rocksdb::DB> db;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families;
};

/// Opens the RocksDB files in `dir` (a restored checkpoint) with all their column families.
absl::StatusOr<OpenedDb> OpenEveryColumnFamily(const rocksdb::DBOptions& db_options,
                                               const rocksdb::ColumnFamilyOptions& cf_options,
                                               const std::string& dir, bool read_only) {
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, dir, &names);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) families.emplace_back(name, cf_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (s.ok()) {
    s = read_only ? rocksdb::DB::OpenForReadOnly(db_options, dir, families, &handles, &db)
                  : rocksdb::DB::Open(db_options, dir, families, &handles, &db);
  }
  if (!s.ok()) {
    return absl::DataLossError(absl::StrCat("cannot open the RocksDB checkpoint files in '", dir,
                                            "': ", s.ToString()));
  }
  OpenedDb opened;
  opened.db.reset(db);
  for (size_t i = 0; i < names.size(); ++i) opened.families[names[i]] = handles[i];
  return opened;
}

/// Removes a directory when the last reference goes (a snapshot written, or dropped unwritten).
struct DirGuard {
  std::string path;
  ~DirGuard() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

// ---- RocksDbBarrierFlushes ------------------------------------------------------------------

void RocksDbBarrierFlushes::Outcome::Set(absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    status_ = std::move(status);
  }
  cv_.notify_all();
}

absl::Status RocksDbBarrierFlushes::Outcome::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  return status_;
}

void RocksDbBarrierFlushes::Add(int64_t checkpoint_id, std::set<uint32_t> cfs, uint64_t before,
                                uint64_t last, Link link, std::shared_ptr<Outcome> outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  barriers_.push_back(Barrier{checkpoint_id, std::move(cfs), before, last, std::move(link),
                              std::move(outcome)});
}

void RocksDbBarrierFlushes::Forget(const Outcome* outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(barriers_, [outcome](const Barrier& b) { return b.outcome.get() == outcome; });
}

void RocksDbBarrierFlushes::FailAll(const absl::Status& status) {
  std::vector<Barrier> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed.swap(barriers_);
  }
  for (Barrier& b : failed) b.outcome->Set(status);
}

void RocksDbBarrierFlushes::OnFlushCompleted(rocksdb::DB*, const rocksdb::FlushJobInfo& info) {
  std::vector<Barrier> ready;
  std::vector<std::pair<Barrier, absl::Status>> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = barriers_.begin(); it != barriers_.end();) {
      Barrier& b = *it;
      const bool sealed_here = b.cfs.contains(info.cf_id);
      if (info.largest_seqno > b.last) {
        // Written after the barrier, and in an SST file before the checkpoint's links: with
        // one flush at a time this is a sealed memtable that was picked late, together with
        // newer ones. The checkpoint cannot be the state at its barrier.
        absl::Status declined = absl::AbortedError(absl::StrCat(
            "checkpoint ", b.checkpoint_id, ": RocksDB flushed state '", info.cf_name,
            "' written after the checkpoint's barrier before the checkpoint's files were "
            "linked; the checkpoint is declined (the next one is not affected)"));
        failed.emplace_back(std::move(b), std::move(declined));
        it = barriers_.erase(it);
        continue;
      }
      if (sealed_here && info.largest_seqno > b.before) b.cfs.erase(info.cf_id);
      if (b.cfs.empty()) {
        ready.push_back(std::move(b));
        it = barriers_.erase(it);
        continue;
      }
      ++it;
    }
  }
  for (auto& [b, status] : failed) b.outcome->Set(std::move(status));
  for (Barrier& b : ready) {
    absl::Status linked;
    try {
      linked = b.link();
    } catch (const std::exception& e) {  // nothing may propagate into RocksDB
      linked = absl::InternalError(e.what());
    }
    b.outcome->Set(std::move(linked));
  }
}

void RocksDbBarrierFlushes::OnBackgroundError(rocksdb::BackgroundErrorReason,
                                              rocksdb::Status* error) {
  if (error == nullptr || error->ok()) return;
  FailAll(absl::InternalError(
      absl::StrCat("RocksDB failed in the background before a checkpoint's flush completed: ",
                   error->ToString())));
}

// ---- Incremental checkpoints --------------------------------------------------------------

namespace {

/// A key no state uses (no key group starts with 0xffff): its deletion marks the memtables a
/// checkpoint seals, and a deletion of a key never written is invisible to every read.
constexpr std::string_view kBarrierMarkerKey = "\xff\xff\xff\xff eddy checkpoint barrier";

}  // namespace

absl::StatusOr<KeyedStateBackend::CheckpointWriter> RocksDbKeyedStateBackend::SnapshotForCheckpoint(
    int64_t checkpoint_id, bool self_contained) {
  if (self_contained || !incremental_) {
    return KeyedStateBackendBase::SnapshotForCheckpoint(checkpoint_id, self_contained);
  }
  EDDY_CHECK(!disposed_) << "snapshot of a disposed backend";
  FlushTables();
  std::function<std::string()> meta = DeferSnapshotMeta();
  // A sibling of the instance directory, on the same file system: the SST files become hard
  // links, so the checkpoint costs a few metadata files once the memtables are flushed.
  auto guard = std::make_shared<DirGuard>(
      DirGuard{absl::StrCat(dir_.string(), "-chk-", checkpoint_id)});
  std::error_code ec;
  std::filesystem::remove_all(guard->path, ec);  // a leftover of an earlier attempt
  RocksDbBarrierFlushes::Link link = [db = db_.get(), guard]() -> absl::Status {
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(db, &raw);
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // No flush: the state of the barrier is in SST files already, and newer writes are not.
    if (s.ok()) {
      s = checkpoint->CreateCheckpoint(guard->path,
                                       std::numeric_limits<uint64_t>::max());
    }
    if (!s.ok()) {
      return absl::InternalError(absl::StrCat("RocksDB checkpoint into '", guard->path,
                                              "' failed: ", s.ToString()));
    }
    return absl::OkStatus();
  };
  auto outcome = std::make_shared<RocksDbBarrierFlushes::Outcome>();

  // The column families with state not in an SST file yet: a deletion of the marker key in
  // each, then a switch to new memtables (a flush not waited for).
  std::vector<rocksdb::ColumnFamilyHandle*> sealed;
  std::set<uint32_t> sealed_ids;
  rocksdb::WriteBatch markers;
  for (rocksdb::ColumnFamilyHandle* cf : column_families_) {
    uint64_t active = 0;
    uint64_t immutable = 0;
    db_->GetIntProperty(cf, rocksdb::DB::Properties::kNumEntriesActiveMemTable, &active);
    db_->GetIntProperty(cf, rocksdb::DB::Properties::kNumImmutableMemTable, &immutable);
    if (active + immutable == 0) continue;
    sealed.push_back(cf);
    sealed_ids.insert(cf->GetID());
    rocksdb::Status s = markers.Delete(cf, ToSlice(kBarrierMarkerKey));
    if (!s.ok()) return absl::InternalError(absl::StrCat("RocksDB marker: ", s.ToString()));
  }
  if (sealed.empty()) {
    outcome->Set(link());  // every entry is in an SST file: the links are the checkpoint
  } else {
    rocksdb::WriteOptions write;
    write.disableWAL = true;
    const uint64_t before = db_->GetLatestSequenceNumber();
    rocksdb::Status s = db_->Write(write, &markers);
    const uint64_t last = db_->GetLatestSequenceNumber();
    if (s.ok()) {
      barrier_flushes_->Add(checkpoint_id, std::move(sealed_ids), before, last, std::move(link),
                            outcome);
      s = SealMemtables(db_.get(), sealed);
    }
    if (!s.ok()) {
      barrier_flushes_->Forget(outcome.get());  // no flush carries its markers
      outcome->Set(absl::InternalError(absl::StrCat(
          "sealing the RocksDB memtables for checkpoint ", checkpoint_id, ": ", s.ToString())));
      return outcome->Wait();
    }
  }
  SharedFiles reuse;
  {
    std::lock_guard<std::mutex> lock(uploads_->mu);
    reuse = uploads_->confirmed;
  }
  return CheckpointWriter([guard, outcome, meta = std::move(meta), reuse = std::move(reuse),
                           uploads = uploads_, checkpoint_id](KeyedSnapshotOutput& out) mutable {
    // The memtables sealed at the barrier are flushed in the background meanwhile.
    EDDY_RETURN_IF_ERROR(outcome->Wait());
    NativeSnapshot snapshot;
    snapshot.backend = kRocksDbNativeBackend;
    snapshot.dir = guard->path;
    snapshot.meta = meta();
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(guard->path, ec)) {
      const std::string name = entry.path().filename().string();
      (name.ends_with(".sst") ? snapshot.shared_files : snapshot.private_files).push_back(name);
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("listing the RocksDB checkpoint '", guard->path, "': ", ec.message()));
    }
    std::sort(snapshot.shared_files.begin(), snapshot.shared_files.end());
    std::sort(snapshot.private_files.begin(), snapshot.private_files.end());
    absl::StatusOr<SharedFiles> stored = out.WriteNative(snapshot, reuse);
    if (!stored.ok()) return stored.status();
    std::lock_guard<std::mutex> lock(uploads->mu);
    uploads->pending[checkpoint_id] = std::move(*stored);
    return absl::OkStatus();
  });
}

void RocksDbKeyedStateBackend::NotifyCheckpointComplete(int64_t checkpoint_id) {
  std::lock_guard<std::mutex> lock(uploads_->mu);
  auto it = uploads_->pending.find(checkpoint_id);
  if (it == uploads_->pending.end()) return;
  uploads_->confirmed = std::move(it->second);
  uploads_->pending.erase(uploads_->pending.begin(), std::next(it));
}

void RocksDbKeyedStateBackend::NotifyCheckpointAborted(int64_t checkpoint_id) {
  std::lock_guard<std::mutex> lock(uploads_->mu);
  uploads_->pending.erase(checkpoint_id);
}

absl::Status RocksDbKeyedStateBackend::RestoreNative(const NativeRestore& restore) {
  // The same key groups into an instance that has nothing yet: the files are the instance.
  if (restore.backend == kRocksDbNativeBackend && empty() && adopted_.empty() &&
      column_families_.size() == 1 && restore.key_groups.start == key_group_range().start &&
      restore.key_groups.end == key_group_range().end) {
    return Adopt(restore);
  }
  return KeyedStateBackendBase::RestoreNative(restore);
}

absl::Status RocksDbKeyedStateBackend::Adopt(const NativeRestore& restore) {
  EDDY_RETURN_IF_ERROR(CloseDb());
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  // The downloaded files become the instance directory (removed by Dispose()); the caller's
  // directory is gone, so nothing else removes them.
  std::filesystem::rename(restore.dir, dir_, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot move the restored RocksDB files from '",
                                            restore.dir, "' to '", dir_.string(),
                                            "': ", ec.message()));
  }
  EDDY_ASSIGN_OR_RETURN(OpenedDb opened,
                        OpenEveryColumnFamily(db_options_, cf_options_, dir_.string(), false));
  db_ = std::move(opened.db);
  for (const auto& [name, cf] : opened.families) {
    column_families_.push_back(cf);
    if (name != rocksdb::kDefaultColumnFamilyName) adopted_[name] = cf;
  }
  EDDY_RETURN_IF_ERROR(Restore(restore.meta));  // the states over their column families, timers
  std::lock_guard<std::mutex> lock(uploads_->mu);
  uploads_->confirmed = restore.shared;  // stored already: the next checkpoint refers to them
  return absl::OkStatus();
}

namespace {

/// Feeds a native snapshot's entries to a visitor while its meta is read.
class NativeSnapshotReader final : public SnapshotVisitor {
 public:
  NativeSnapshotReader(rocksdb::DB* db,
                       std::map<std::string, rocksdb::ColumnFamilyHandle*> families,
                       SnapshotVisitor& visitor, std::string dir)
      : db_(db), families_(std::move(families)), visitor_(visitor), dir_(std::move(dir)) {}

  absl::Status OnHeader(int32_t max_parallelism, KeyGroupRange range) override {
    return visitor_.OnHeader(max_parallelism, range);
  }
  absl::Status OnState(const StateMeta& meta) override {
    EDDY_RETURN_IF_ERROR(visitor_.OnState(meta));
    auto cf = families_.find(ColumnFamilyName(meta.name));
    if (cf == families_.end()) return absl::OkStatus();  // registered, never written
    rocksdb::ReadOptions options;
    options.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, cf->second));
    StoredKey parsed;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = ToView(it->key());
      if (!ParseStoredKey(key, &parsed)) {
        return absl::DataLossError(absl::StrCat("state '", meta.name, "' in '", dir_,
                                                "' has a malformed key"));
      }
      EDDY_RETURN_IF_ERROR(visitor_.OnEntry(parsed.key_group, key.substr(0, parsed.size),
                                            key.substr(parsed.size), ToView(it->value())));
    }
    if (!it->status().ok()) {
      return absl::DataLossError(absl::StrCat("reading state '", meta.name, "' in '", dir_,
                                              "': ", it->status().ToString()));
    }
    return absl::OkStatus();
  }
  absl::Status OnEntry(int32_t key_group, std::string_view stored_key, std::string_view user_key,
                       std::string_view value) override {
    return visitor_.OnEntry(key_group, stored_key, user_key, value);
  }
  absl::Status OnTimerService(std::string_view name) override {
    return visitor_.OnTimerService(name);
  }
  absl::Status OnTimer(TimeDomain domain, const InternalTimer& timer) override {
    return visitor_.OnTimer(domain, timer);
  }

 private:
  rocksdb::DB* db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
  SnapshotVisitor& visitor_;
  std::string dir_;
};

}  // namespace

absl::Status ReadRocksDbNativeSnapshot(const std::string& dir, std::string_view meta,
                                       SnapshotVisitor& visitor) {
  rocksdb::DBOptions db_options;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.merge_operator = std::make_shared<ListAppendOperator>();
  EDDY_ASSIGN_OR_RETURN(OpenedDb opened, OpenEveryColumnFamily(db_options, cf_options, dir,
                                                               /*read_only=*/true));
  NativeSnapshotReader reader(opened.db.get(), opened.families, visitor, dir);
  absl::Status status = ReadSnapshot(meta, reader);
  for (const auto& [name, cf] : opened.families) (void)opened.db->DestroyColumnFamilyHandle(cf);
  (void)opened.db->Close();
  return status;
}

}  // namespace eddy::state
