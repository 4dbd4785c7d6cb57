#include "taskmanager/state/keyed_state_backend_base.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "taskmanager/state/rocksdb_keyed_state_backend.h"
#include "taskmanager/state/snapshot_format.h"

namespace eddy::state {
namespace {

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Describe(const StateMeta& meta) {
  return absl::StrCat(StateKindName(meta.kind), " state ",
                      meta.ttl.enabled() ? "with TTL" : "without TTL");
}

}  // namespace

KeyedStateBackendBase::KeyedStateBackendBase(const StateBackendParams& params)
    : KeyedStateBackend(params.key_groups, params.max_parallelism),
      clock_(params.clock ? params.clock : StateClock(&SystemNowMs)) {
  EDDY_CHECK(params.key_groups.size() > 0 && params.key_groups.start >= 0 &&
             params.key_groups.end < params.max_parallelism)
      << "key-group range [" << params.key_groups.start << ", " << params.key_groups.end
      << "] does not fit max parallelism " << params.max_parallelism;
  EDDY_CHECK_LE(params.max_parallelism, 32768);  // key groups are stored in 2 bytes
}

absl::StatusOr<KeyedStateBackendBase::Table*> KeyedStateBackendBase::FindOrCreate(
    const StateMeta& meta, bool restoring) {
  auto it = tables_.find(meta.name);
  if (it != tables_.end()) {
    const StateMeta& have = it->second.table->meta();
    // Stored bytes depend only on the kind and on TTL being on, so a restored state may
    // be registered with another TTL duration or update type.
    if (have.kind != meta.kind || have.ttl.enabled() != meta.ttl.enabled()) {
      return absl::FailedPreconditionError(
          absl::StrCat("state '", meta.name, "' ", restoring ? "is restored as a " : "exists as a ",
                       Describe(restoring ? meta : have), " but is ",
                       restoring ? "registered as a " : "requested as a ",
                       Describe(restoring ? have : meta)));
    }
    if (!restoring) it->second.table->set_ttl(meta.ttl);
    return &it->second;
  }
  absl::StatusOr<std::unique_ptr<internal::StateTable>> table = CreateTable(meta);
  if (!table.ok()) return table.status();
  auto* storage = dynamic_cast<TableStorage*>(table->get());
  EDDY_CHECK(storage != nullptr) << "state table without storage";
  return &tables_.emplace(meta.name, Table{std::move(*table), storage}).first->second;
}

absl::StatusOr<internal::StateTable*> KeyedStateBackendBase::GetOrCreateTable(
    const StateMeta& meta) {
  absl::StatusOr<Table*> t = FindOrCreate(meta, /*restoring=*/false);
  if (!t.ok()) return t.status();
  return (*t)->table.get();
}

absl::Status KeyedStateBackendBase::ForEachValueBytes(
    std::string_view name, std::string_view ns,
    absl::FunctionRef<void(std::string_view, std::string_view)> f) {
  auto it = tables_.find(name);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("no state '", std::string(name), "' is registered"));
  }
  const StateMeta& meta = it->second.table->meta();
  if (meta.kind == StateKind::kList || meta.kind == StateKind::kMap) {
    return absl::InvalidArgumentError(absl::StrCat("state '", std::string(name), "' is a ",
                                                   StateKindName(meta.kind),
                                                   " state, not a value-like one"));
  }
  // The snapshot scan visits exactly what is stored, whichever the backend.
  const bool ttl = meta.ttl.enabled();
  const int64_t now = ttl ? clock_() : 0;
  it->second.storage->SnapshotRange(
      key_group_range(), [&](std::string_view stored_key, std::string_view, std::string_view value) {
        StoredKey parsed;
        EDDY_CHECK(ParseStoredKey(stored_key, &parsed)) << "state '" << name << "' key is malformed";
        if (parsed.ns != ns) return;
        if (ttl) {
          if (ttl::Expired(value, meta.ttl, now)) return;
          value.remove_prefix(ttl::kHeader);
        }
        f(parsed.key, value);
      });
  return absl::OkStatus();
}

InternalTimerService* KeyedStateBackendBase::timer_service(std::string_view name) {
  auto it = timers_.find(name);
  if (it == timers_.end()) {
    it = timers_.emplace(std::string(name), std::make_unique<HeapTimerService>(this)).first;
  }
  return it->second.get();
}

void KeyedStateBackendBase::DropAll() {
  tables_.clear();
  timers_.clear();
}

absl::StatusOr<KeyGroupRange> KeyedStateBackendBase::Clip(KeyGroupRange range) const {
  const KeyGroupRange own = key_group_range();
  const KeyGroupRange clipped{std::max(range.start, own.start), std::min(range.end, own.end)};
  if (clipped.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("key groups [", range.start, ", ", range.end,
                     "] are not in this backend's range [", own.start, ", ", own.end, "]"));
  }
  return clipped;
}

absl::Status KeyedStateBackendBase::SnapshotKeyGroups(KeyGroupRange range, std::string* out) {
  EDDY_ASSIGN_OR_RETURN(DeferredSnapshot writer, SnapshotKeyGroupsDeferred(range));
  return writer(out);
}

absl::StatusOr<KeyedStateBackend::DeferredSnapshot>
KeyedStateBackendBase::SnapshotKeyGroupsDeferred(KeyGroupRange range) {
  EDDY_ASSIGN_OR_RETURN(const KeyGroupRange clipped, Clip(range));
  struct Part {
    StateMeta meta;
    std::unique_ptr<DeferredScan> scan;
  };
  auto parts = std::make_shared<std::vector<Part>>();
  for (auto& [name, t] : tables_) parts->push_back(Part{t.table->meta(), t.storage->Defer()});
  std::shared_ptr<HeldTimers> timers = HoldTimers(clipped);
  const int32_t max_parallelism = this->max_parallelism();
  return DeferredSnapshot([parts, timers, max_parallelism,
                           clipped](std::string* out) -> absl::Status {
    try {
      SnapshotWriter writer(out, max_parallelism, clipped);
      for (Part& part : *parts) {
        writer.BeginState(part.meta);
        part.scan->ForEachInRange(clipped, [&](std::string_view key, std::string_view user_key,
                                               std::string_view value) {
          writer.Entry(key, user_key, value);
        });
        part.scan.reset();  // releases what the store held
      }
      WriteHeldTimers(*timers, clipped, writer);
      writer.Finish();
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("writing a keyed-state snapshot: ", e.what()));
    }
    return absl::OkStatus();
  });
}

class KeyedStateBackendBase::Restorer final : public SnapshotVisitor {
 public:
  explicit Restorer(KeyedStateBackendBase* backend) : backend_(backend) {}

  absl::Status OnHeader(int32_t max_parallelism, KeyGroupRange) override {
    if (max_parallelism != backend_->max_parallelism()) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot has max parallelism ", max_parallelism,
                       " but the backend has ", backend_->max_parallelism()));
    }
    return absl::OkStatus();
  }
  absl::Status OnState(const StateMeta& meta) override {
    absl::StatusOr<Table*> t = backend_->FindOrCreate(meta, /*restoring=*/true);
    if (!t.ok()) return t.status();
    storage_ = (*t)->storage;
    return absl::OkStatus();
  }
  absl::Status OnEntry(int32_t key_group, std::string_view stored_key, std::string_view user_key,
                       std::string_view value) override {
    if (backend_->key_group_range().Contains(key_group)) {
      storage_->RestoreEntry(stored_key, user_key, value);
    }
    return absl::OkStatus();
  }
  absl::Status OnTimerService(std::string_view name) override {
    timers_ = static_cast<HeapTimerService*>(backend_->timer_service(name));
    return absl::OkStatus();
  }
  absl::Status OnTimer(TimeDomain domain, const InternalTimer& timer) override {
    timers_->Restore(domain, timer);
    return absl::OkStatus();
  }

 private:
  KeyedStateBackendBase* backend_;
  TableStorage* storage_ = nullptr;
  HeapTimerService* timers_ = nullptr;
};

absl::Status KeyedStateBackendBase::Restore(std::string_view snapshot) {
  Restorer restorer(this);
  return ReadSnapshot(snapshot, restorer);
}

absl::Status KeyedStateBackendBase::RestoreNative(const NativeRestore& restore) {
  absl::Status status;
  if (restore.backend != kRocksDbNativeBackend) {
    status = absl::InvalidArgumentError(
        absl::StrCat("a native snapshot of unknown backend '", restore.backend, "'"));
  } else {
    Restorer restorer(this);
    status = ReadRocksDbNativeSnapshot(restore.dir, restore.meta, restorer);
  }
  std::error_code ec;
  std::filesystem::remove_all(restore.dir, ec);
  return status;
}

void KeyedStateBackendBase::FlushTables() {
  for (auto& [name, t] : tables_) t.storage->FlushPending();
}

std::function<std::string()> KeyedStateBackendBase::DeferSnapshotMeta() {
  auto metas = std::make_shared<std::vector<StateMeta>>();
  for (auto& [name, t] : tables_) metas->push_back(t.table->meta());
  const KeyGroupRange range = key_group_range();
  std::shared_ptr<HeldTimers> timers = HoldTimers(range);
  return [metas, timers, range, max_parallelism = max_parallelism()] {
    std::string out;
    SnapshotWriter writer(&out, max_parallelism, range);
    for (const StateMeta& meta : *metas) writer.BeginState(meta);
    WriteHeldTimers(*timers, range, writer);
    writer.Finish();
    return out;
  };
}

std::shared_ptr<KeyedStateBackendBase::HeldTimers> KeyedStateBackendBase::HoldTimers(
    KeyGroupRange range) {
  auto held = std::make_shared<HeldTimers>();
  for (const auto& [name, service] : timers_) held->emplace_back(name, service->Defer(range));
  return held;
}

void KeyedStateBackendBase::WriteHeldTimers(HeldTimers& timers, KeyGroupRange range,
                                            SnapshotWriter& writer) {
  for (auto& [name, held] : timers) {
    writer.BeginTimerService(name);
    held.Write(range, writer);
  }
  timers.clear();  // releases what is left held
}

}  // namespace eddy::state
