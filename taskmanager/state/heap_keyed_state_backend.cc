#include "taskmanager/state/heap_keyed_state_backend.h"

#include <algorithm>

namespace eddy::state {
namespace {

// A store's key groups held for a snapshot; `visit(group, entry)` calls `entry` for each
// entry of one group.
template <typename G, typename Visit>
class HeldGroupsScan final : public DeferredScan {
 public:
  HeldGroupsScan(typename internal::CowKeyGroups<G>::Snapshot held, Visit visit)
      : held_(std::move(held)), visit_(std::move(visit)) {}
  void ForEachInRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> entry)
      override {
    held_.ReadAndRelease(range, [&](int32_t, const G& group) { visit_(group, entry); });
  }

 private:
  typename internal::CowKeyGroups<G>::Snapshot held_;
  Visit visit_;
};

template <typename G, typename Visit>
std::unique_ptr<DeferredScan> HoldAll(internal::CowKeyGroups<G>& groups, Visit visit) {
  return std::make_unique<HeldGroupsScan<G, Visit>>(
      groups.Take(KeyGroupRange{groups.first(), groups.last()}), std::move(visit));
}

using EntryFn = absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)>;

int32_t KeyGroupOf(std::string_view stored_key) {
  StoredKey parsed;
  EDDY_CHECK(ParseStoredKey(stored_key, &parsed)) << "restored state key is malformed";
  return parsed.key_group;
}

}  // namespace

void HeapValueStore::ForEachInRange(
    KeyGroupRange range,
    absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) const {
  groups_.ForEachIn(range, [&](const Map& g) {
    for (const auto& [key, value] : g) f(key, {}, value);
  });
}

std::unique_ptr<DeferredScan> HeapValueStore::Defer() {
  ++layout_;  // a remembered entry may be in a group the snapshot now holds
  return HoldAll(groups_, [](const Map& g, EntryFn entry) {
    for (const auto& [key, value] : g) entry(key, {}, value);
  });
}

void HeapValueStore::Restore(std::string_view key, std::string_view, std::string_view value) {
  Store(KeyGroupOf(key), key, value);
}

bool HeapMapStore::FindEntry(int32_t kg, std::string_view key, std::string_view user_key,
                             std::string_view* value) {
  const Map& g = groups_.Read(kg);
  auto it = g.find(Key(key));
  if (it == g.end()) return false;
  auto entry = it->second.find(Key(user_key));
  if (entry == it->second.end()) return false;
  *value = entry->second;
  return true;
}

void HeapMapStore::EraseEntry(int32_t kg, std::string_view key, std::string_view user_key) {
  Map* g = groups_.WriteIfChanges(kg, [&](const Map& held) {
    auto it = held.find(Key(key));
    return it != held.end() && it->second.contains(Key(user_key));
  });
  if (g == nullptr) return;
  auto it = g->find(Key(key));
  if (it == g->end()) return;
  it->second.erase(Key(user_key));
  if (it->second.empty()) g->erase(it);  // an empty map is no map: is_empty() stays O(1)
}

void HeapMapStore::ForEachEntry(int32_t kg, std::string_view key,
                                absl::FunctionRef<void(std::string_view, std::string_view)> f) {
  const Map& g = groups_.Read(kg);
  auto it = g.find(Key(key));
  if (it == g.end()) return;
  for (const auto& [user_key, value] : it->second) f(user_key, value);
}

void HeapMapStore::ForEachInRange(
    KeyGroupRange range,
    absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) const {
  groups_.ForEachIn(range, [&](const Map& g) {
    for (const auto& [key, entries] : g) {
      for (const auto& [user_key, value] : entries) f(key, user_key, value);
    }
  });
}

std::unique_ptr<DeferredScan> HeapMapStore::Defer() {
  return HoldAll(groups_, [](const Map& g, EntryFn entry) {
    for (const auto& [key, entries] : g) {
      for (const auto& [user_key, value] : entries) entry(key, user_key, value);
    }
  });
}

void HeapMapStore::Restore(std::string_view key, std::string_view user_key,
                           std::string_view value) {
  StoreEntry(KeyGroupOf(key), key, user_key, value);
}

internal::TypedValues* HeapValueTable::Typed(const internal::ValueOps* ops) {
  if (ttl_on()) return nullptr;  // TTL keeps a write time per value: the byte path has it
  if (typed_ != nullptr) {
    EDDY_CHECK(typed_->ops() == ops) << "state '" << meta().name << "' typed twice";
    return typed_.get();
  }
  typed_ = std::make_unique<internal::TypedValues>(ops, this, range_);
  // Adopt what a restore stored as bytes.
  store_.ForEachInRange(range_, [&](std::string_view key, std::string_view, std::string_view v) {
    Decode(v, typed_->FindOrInsertStored(KeyGroupOf(key), key));
  });
  store_ = HeapValueStore(range_);
  return typed_.get();
}

void HeapValueTable::Decode(std::string_view bytes, void* value) const {
  const absl::Status status = typed_->ops()->decode(bytes, value);
  EDDY_CHECK(status.ok()) << "state '" << meta().name << "' holds undecodable bytes: " << status;
}

bool HeapValueTable::Get(std::string_view* value) {
  if (typed_ == nullptr) return ValueTableImpl::Get(value);
  const void* v = typed_->Find();
  if (v == nullptr) return false;
  encoded_.clear();
  typed_->ops()->encode(v, &encoded_);
  *value = encoded_;
  return true;
}

void HeapValueTable::Commit() {
  if (typed_ == nullptr) return ValueTableImpl::Commit();
  bool inserted;
  Decode(buf_, typed_->FindOrInsert(&inserted));
}

void HeapValueTable::Clear() {
  if (typed_ == nullptr) return ValueTableImpl::Clear();
  typed_->Erase();
}

void HeapValueTable::SnapshotRange(
    KeyGroupRange range,
    absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> entry) {
  if (typed_ == nullptr) return ValueTableImpl::SnapshotRange(range, entry);
  typed_->ForEachInRange(range, [&](std::string_view key, const void* v) {
    encoded_.clear();
    typed_->ops()->encode(v, &encoded_);
    entry(key, {}, encoded_);
  });
}

void HeapValueTable::RestoreEntry(std::string_view stored_key, std::string_view user_key,
                                  std::string_view value) {
  if (typed_ == nullptr) return ValueTableImpl::RestoreEntry(stored_key, user_key, value);
  Decode(value, typed_->FindOrInsertStored(KeyGroupOf(stored_key), stored_key));
}

std::unique_ptr<DeferredScan> HeapValueTable::Defer() {
  if (typed_ == nullptr) return ValueTableImpl::Defer();
  // Values are encoded on the snapshot thread (ValueOps::encode is a pure function).
  class TypedScan final : public DeferredScan {
   public:
    TypedScan(internal::TypedValues::Snapshot held, const internal::ValueOps* ops)
        : held_(std::move(held)), ops_(ops) {}
    void ForEachInRange(KeyGroupRange range, EntryFn entry) override {
      internal::TypedValues::ForEachInSnapshot(
          held_, range, [&](std::string_view key, const void* value) {
            encoded_.clear();
            ops_->encode(value, &encoded_);
            entry(key, {}, encoded_);
          });
    }

   private:
    internal::TypedValues::Snapshot held_;
    const internal::ValueOps* ops_;
    std::string encoded_;
  };
  return std::make_unique<TypedScan>(typed_->TakeSnapshot(range_), typed_->ops());
}

absl::StatusOr<std::unique_ptr<internal::StateTable>> HeapKeyedStateBackend::CreateTable(
    const StateMeta& meta) {
  const KeyGroupRange range = key_group_range();
  switch (meta.kind) {
    case StateKind::kValue:
    case StateKind::kReducing:
    case StateKind::kAggregating:
      return std::make_unique<HeapValueTable>(meta, current(), range, clock());
    case StateKind::kList:
      return std::make_unique<ListTableImpl<HeapValueStore>>(meta, current(),
                                                             HeapValueStore(range), clock());
    case StateKind::kMap:
      return std::make_unique<MapTableImpl<HeapMapStore>>(meta, current(), HeapMapStore(range),
                                                          clock());
  }
  return absl::InvalidArgumentError("unknown state kind");
}

}  // namespace eddy::state
