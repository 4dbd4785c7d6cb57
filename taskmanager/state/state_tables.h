// The state kinds' semantics and TTL, written once over a backend's byte store: the heap and
// RocksDB backends each supply a Store (where bytes live) and get value, list and map tables
// that behave alike and store alike, so snapshots are backend-independent. Single-threaded.
//
// Stored values: with TTL on, every value, list element and map entry starts with the 8-byte
// little-endian time (ms) it was last written (or read, kOnReadAndWrite). A list is the
// concatenation of its elements, each as varint length + stored element, so adding one is an
// append (a RocksDB merge). Template over Store so that no access pays a second virtual call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/state.h"

namespace eddy::state {

/// The clock TTL reads (ms); tests hand in their own.
using StateClock = std::function<int64_t()>;

/// What the backend-independent snapshot and restore need of a table.
/// A table's entries as of some moment, scanned later (on another thread) while the table
/// goes on changing.
class DeferredScan {
 public:
  virtual ~DeferredScan() = default;
  virtual void ForEachInRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> entry) = 0;
};

class TableStorage {
 public:
  virtual ~TableStorage() = default;
  /// A scan of the entries as of now, for a snapshot written later on another thread while
  /// the table goes on changing (heap: key groups held copy-on-write; RocksDB: a DB snapshot).
  virtual std::unique_ptr<DeferredScan> Defer() = 0;
  /// Writes buffered updates through to the store's database (before a native snapshot).
  virtual void FlushPending() {}
  /// Calls `entry(stored_key, user_key, value)` for every stored entry of key groups `range`.
  virtual void SnapshotRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> entry) = 0;
  /// Stores one entry read from a snapshot.
  virtual void RestoreEntry(std::string_view stored_key, std::string_view user_key,
                            std::string_view value) = 0;
};

namespace ttl {

inline constexpr size_t kHeader = 8;

inline int64_t WrittenAt(std::string_view stored) {
  uint64_t raw = 0;
  std::memcpy(&raw, stored.data(), kHeader);
  return static_cast<int64_t>(ByteReader::FromLittleEndian(raw));
}
inline void Stamp(char* header, int64_t now) {
  const uint64_t raw = ByteReader::FromLittleEndian(static_cast<uint64_t>(now));
  std::memcpy(header, &raw, kHeader);
}
inline bool Expired(std::string_view stored, const StateTtlConfig& config, int64_t now) {
  EDDY_CHECK_GE(stored.size(), kHeader);
  return WrittenAt(stored) + config.ttl.count() <= now;
}

}  // namespace ttl

/// Calls `f(element)` for each framed element of a stored list.
template <typename F>
void ForEachFramed(std::string_view list, F&& f) {
  ByteReader in(list);
  std::string_view element;
  while (!in.empty()) {
    EDDY_CHECK(in.GetLengthPrefixed(&element)) << "stored list is malformed: " << in.error();
    f(element);
  }
}

/// The store-independent plumbing of a table: its store, clock and scratch buffer.
template <typename Store, typename Base>
class TableBase : public Base, public TableStorage {
 public:
  TableBase(StateMeta meta, const internal::CurrentKey* key, Store store, const StateClock* clock)
      : Base(std::move(meta), key), store_(std::move(store)), clock_(clock) {}

  void SnapshotRange(KeyGroupRange range,
                     absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)>
                         entry) override {
    store_.ForEachInRange(range, entry);
  }
  std::unique_ptr<DeferredScan> Defer() override { return store_.Defer(); }
  void FlushPending() override {
    if constexpr (requires(Store& s) { s.FlushPending(); }) store_.FlushPending();
  }
  void RestoreEntry(std::string_view stored_key, std::string_view user_key,
                    std::string_view value) override {
    store_.Restore(stored_key, user_key, value);
  }
  Store& store() { return store_; }

 protected:
  bool ttl_on() const { return this->meta().ttl.enabled(); }
  bool touch_on_read() const {
    return this->meta().ttl.update_type == StateTtlConfig::UpdateType::kOnReadAndWrite;
  }
  int64_t now() const { return (*clock_)(); }

  Store store_;
  const StateClock* clock_;
  std::string buf_;
};

/// Value, reducing and aggregating state over a Store.
template <typename Store>
class ValueTableImpl : public TableBase<Store, internal::ValueTable> {
 public:
  using TableBase<Store, internal::ValueTable>::TableBase;

  // Every access passes composite_id(), so that a store may find the entry of a record's
  // get + update once (HeapValueStore caches the last one).
  bool Get(std::string_view* value) override {
    std::string_view stored;
    const std::string_view ck = this->composite();
    const uint64_t id = this->composite_id();
    if (!this->store_.Find(this->key_group(), ck, &stored, id)) return false;
    if (!this->ttl_on()) {
      *value = stored;
      return true;
    }
    const int64_t now = this->now();
    if (ttl::Expired(stored, this->meta().ttl, now)) {
      this->store_.Erase(this->key_group(), ck);
      return false;
    }
    if (this->touch_on_read()) {
      this->buf_.assign(stored);
      ttl::Stamp(this->buf_.data(), now);
      this->store_.Store(this->key_group(), ck, this->buf_, id);
      stored = this->buf_;
    }
    *value = stored.substr(ttl::kHeader);
    return true;
  }
  std::string* BeginWrite() override {
    this->buf_.clear();
    if (this->ttl_on()) this->buf_.append(ttl::kHeader, '\0');
    return &this->buf_;
  }
  void Commit() override {
    if (this->ttl_on()) ttl::Stamp(this->buf_.data(), this->now());
    const std::string_view ck = this->composite();
    this->store_.Store(this->key_group(), ck, this->buf_, this->composite_id());
  }
  void Clear() override { this->store_.Erase(this->key_group(), this->composite()); }
};

/// List state over a Store; add() is an append without a read.
template <typename Store>
class ListTableImpl final : public TableBase<Store, internal::ListTable> {
 public:
  using TableBase<Store, internal::ListTable>::TableBase;

  bool ForEach(absl::FunctionRef<void(std::string_view)> element) override {
    std::string_view stored;
    const std::string_view ck = this->composite();
    if (!this->store_.Find(this->key_group(), ck, &stored)) return false;
    if (!this->ttl_on()) {
      ForEachFramed(stored, element);
      return true;
    }
    // Keep the live elements (restamped when reads count), then write back if anything
    // changed: expired elements are cleaned up on access.
    const int64_t now = this->now();
    const bool touch = this->touch_on_read();
    bool changed = touch;
    live_.clear();
    ForEachFramed(stored, [&](std::string_view e) {
      if (ttl::Expired(e, this->meta().ttl, now)) {
        changed = true;
        return;
      }
      PutVarint64(&live_, e.size());
      const size_t at = live_.size();
      live_.append(e);
      if (touch) ttl::Stamp(live_.data() + at, now);
    });
    if (changed) {
      if (live_.empty()) {
        this->store_.Erase(this->key_group(), ck);
      } else {
        this->store_.Store(this->key_group(), ck, live_);
      }
    }
    if (live_.empty()) return false;
    ForEachFramed(live_, [&](std::string_view e) { element(e.substr(ttl::kHeader)); });
    return true;
  }
  void Add(std::string_view element) override {
    this->buf_.clear();
    Frame(element, this->ttl_on() ? this->now() : 0);
    this->store_.Append(this->key_group(), this->composite(), this->buf_);
  }
  void AddAll(std::span<const std::string> elements) override {
    if (elements.empty()) return;
    FrameAll(elements);
    this->store_.Append(this->key_group(), this->composite(), this->buf_);
  }
  void Update(std::span<const std::string> elements) override {
    if (elements.empty()) return Clear();
    FrameAll(elements);
    this->store_.Store(this->key_group(), this->composite(), this->buf_);
  }
  void Clear() override { this->store_.Erase(this->key_group(), this->composite()); }

 private:
  void Frame(std::string_view element, int64_t now) {
    const size_t header = this->ttl_on() ? ttl::kHeader : 0;
    PutVarint64(&this->buf_, element.size() + header);
    if (header != 0) {
      const size_t at = this->buf_.size();
      this->buf_.append(header, '\0');
      ttl::Stamp(this->buf_.data() + at, now);
    }
    this->buf_.append(element);
  }
  void FrameAll(std::span<const std::string> elements) {
    this->buf_.clear();
    const int64_t now = this->ttl_on() ? this->now() : 0;
    for (const std::string& e : elements) Frame(e, now);
  }
  std::string live_;
};

/// Map state over a Store; each entry is its own stored key (and expires on its own).
template <typename Store>
class MapTableImpl final : public TableBase<Store, internal::MapTable> {
 public:
  using TableBase<Store, internal::MapTable>::TableBase;

  bool Get(std::string_view user_key, std::string_view* value) override {
    std::string_view stored;
    const std::string_view ck = this->composite();
    if (!this->store_.FindEntry(this->key_group(), ck, user_key, &stored)) return false;
    if (!this->ttl_on()) {
      *value = stored;
      return true;
    }
    const int64_t now = this->now();
    if (ttl::Expired(stored, this->meta().ttl, now)) {
      this->store_.EraseEntry(this->key_group(), ck, user_key);
      return false;
    }
    if (this->touch_on_read()) {
      this->buf_.assign(stored);
      ttl::Stamp(this->buf_.data(), now);
      this->store_.StoreEntry(this->key_group(), ck, user_key, this->buf_);
      stored = this->buf_;
    }
    *value = stored.substr(ttl::kHeader);
    return true;
  }
  void Put(std::string_view user_key, std::string_view value) override {
    std::string_view stored = value;
    if (this->ttl_on()) {
      this->buf_.assign(ttl::kHeader, '\0');
      ttl::Stamp(this->buf_.data(), this->now());
      this->buf_.append(value);
      stored = this->buf_;
    }
    this->store_.StoreEntry(this->key_group(), this->composite(), user_key, stored);
  }
  void Remove(std::string_view user_key) override {
    this->store_.EraseEntry(this->key_group(), this->composite(), user_key);
  }
  void ForEach(absl::FunctionRef<void(std::string_view, std::string_view)> entry) override {
    Scan(entry);
  }
  bool IsEmpty() override {
    if (!this->ttl_on()) return !this->store_.HasEntries(this->key_group(), this->composite());
    bool any = false;
    Scan([&](std::string_view, std::string_view) { any = true; });
    return !any;
  }
  void Clear() override { this->store_.EraseEntries(this->key_group(), this->composite()); }

 private:
  // Visits live entries; expired ones are deleted (and, when reads count, live ones
  // restamped) after the scan, since stores must not change while they iterate.
  void Scan(absl::FunctionRef<void(std::string_view, std::string_view)> entry) {
    const std::string_view ck = this->composite();
    const int32_t kg = this->key_group();
    if (!this->ttl_on()) {
      this->store_.ForEachEntry(kg, ck, entry);
      return;
    }
    const int64_t now = this->now();
    const bool touch = this->touch_on_read();
    expired_.clear();
    touched_.clear();
    this->store_.ForEachEntry(kg, ck, [&](std::string_view uk, std::string_view stored) {
      if (ttl::Expired(stored, this->meta().ttl, now)) {
        expired_.emplace_back(uk);
        return;
      }
      if (touch) touched_.emplace_back(uk, stored);
      entry(uk, stored.substr(ttl::kHeader));
    });
    for (const std::string& uk : expired_) this->store_.EraseEntry(kg, ck, uk);
    for (auto& [uk, stored] : touched_) {
      ttl::Stamp(stored.data(), now);
      this->store_.StoreEntry(kg, ck, uk, stored);
    }
  }
  std::vector<std::string> expired_;
  std::vector<std::pair<std::string, std::string>> touched_;
};

}  // namespace eddy::state
