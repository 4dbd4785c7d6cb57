// Keyed state as operators and user functions see it: state descriptors (name, types, TTL),
// the typed handles ValueState, ListState, MapState, ReducingState and AggregatingState, and
// KeyedStateBackend, the interface the TaskManager's heap and RocksDB backends implement.
// Every access is scoped to the backend's current key and the handle's current namespace.
// A backend and its handles belong to one task thread; nothing here is thread-safe, except
// that a snapshot's writer may run on another thread while the task goes on.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/cow_key_groups.h"
#include "api/key_hash.h"
#include "api/serde.h"
#include "api/timer_service.h"
#include "common/check.h"

namespace eddy {

/// The namespace of state that is not scoped to a window; it encodes as zero bytes.
struct VoidNamespace {
  bool operator==(const VoidNamespace&) const = default;
};
template <>
struct Serde<VoidNamespace> {
  static constexpr size_t kMinSize = 0;
  template <typename Out>
  static void Write(const VoidNamespace&, Out*) {}
  static bool Read(ByteReader&, VoidNamespace*) { return true; }
};

/// Time-to-live of state entries (Flink's StateTtlConfig). An entry expires `ttl` after it
/// was last written (or, with kOnReadAndWrite, last read); expired entries are never returned
/// and are deleted when next accessed.
struct StateTtlConfig {
  enum class UpdateType : uint8_t { kOnCreateAndWrite, kOnReadAndWrite };
  enum class Visibility : uint8_t { kNeverReturnExpired };
  std::chrono::milliseconds ttl{0};
  UpdateType update_type = UpdateType::kOnCreateAndWrite;
  Visibility visibility = Visibility::kNeverReturnExpired;

  /// Returns true if entries expire (ttl > 0).
  bool enabled() const { return ttl.count() > 0; }
};

/// The kinds of keyed state; the numbers are part of the snapshot format.
enum class StateKind : uint8_t {
  kValue = 1,
  kList = 2,
  kMap = 3,
  kReducing = 4,
  kAggregating = 5,
};

/// Returns "value", "list", "map", "reducing" or "aggregating".
inline const char* StateKindName(StateKind kind) {
  switch (kind) {
    case StateKind::kValue: return "value";
    case StateKind::kList: return "list";
    case StateKind::kMap: return "map";
    case StateKind::kReducing: return "reducing";
    case StateKind::kAggregating: return "aggregating";
  }
  return "unknown";
}

/// What a backend needs to know of a state to store it: the bytes it stores do not depend on
/// the value types, only on the kind and on whether entries carry a TTL timestamp.
struct StateMeta {
  std::string name;
  StateKind kind = StateKind::kValue;
  StateTtlConfig ttl;
};

// ---- Descriptors -------------------------------------------------------------------------
// Values, elements and map keys are encoded with Serde<T>, so T needs one (see serde.h).

/// Describes a ValueState<V>.
template <typename V>
struct ValueStateDescriptor {
  std::string name;
  StateTtlConfig ttl = {};
};

/// Describes a ListState<V>.
template <typename V>
struct ListStateDescriptor {
  std::string name;
  StateTtlConfig ttl = {};
};

/// Describes a MapState<K, V>.
template <typename K, typename V>
struct MapStateDescriptor {
  std::string name;
  StateTtlConfig ttl = {};
};

/// Describes a ReducingState<V, F>: `reduce(a, b)` combines two values into one. F is a
/// lambda or function object type, so the reduction is inlined into the handle.
template <typename V, typename F = std::function<V(const V&, const V&)>>
struct ReducingStateDescriptor {
  std::string name;
  F reduce;
  StateTtlConfig ttl = {};
};

/// An aggregate function (Flink's AggregateFunction) as AggregatingState uses it:
///   using input_type = ...; using accumulator_type = ...; using output_type = ...;
///   accumulator_type create_accumulator() const;
///   void add(const input_type&, accumulator_type&) const;
///   output_type get_result(const accumulator_type&) const;
///   accumulator_type merge(const accumulator_type&, const accumulator_type&) const;
/// The accumulator is what the state stores (it needs a Serde).
template <typename A>
concept AggregateFunction = requires(const A& agg, const typename A::input_type& in,
                                     typename A::accumulator_type& acc) {
  { agg.create_accumulator() } -> std::convertible_to<typename A::accumulator_type>;
  agg.add(in, acc);
  { agg.get_result(acc) } -> std::convertible_to<typename A::output_type>;
  { agg.merge(acc, acc) } -> std::convertible_to<typename A::accumulator_type>;
};

/// Describes an AggregatingState<Agg>.
template <AggregateFunction Agg>
struct AggregatingStateDescriptor {
  std::string name;
  Agg aggregate;
  StateTtlConfig ttl = {};
};

namespace internal {

/// The backend's current key: the key's key group and its encoding, kept as the prefix every
/// stored key starts with: key group (2 bytes, big-endian), varint length, key bytes.
struct CurrentKey {
  std::string prefix;
  int32_t key_group = -1;
  uint32_t key_offset = 0;  // where the key bytes start in `prefix`
  uint64_t version = 0;     // +1 on every change; 0 = no key set
  size_t hash = 0;          // of `prefix`, computed once per change (TypedValues reuse it)

  std::string_view key_bytes() const { return std::string_view(prefix).substr(key_offset); }
};

/// Hashes bytes as typed state lookups do (the key prefix, the namespace): a short-input
/// hash (keys and namespaces are a few bytes) with a full-avalanche finish, in-process only.
inline size_t StateHash(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL);
  for (; n >= 8; p += 8, n -= 8) h = (h ^ LoadLittleEndian64(p)) * 0x9FB21C651E98DF25ULL;
  if (n >= 4) {
    h = (h ^ (uint64_t{LoadLittleEndian32(p)} << 32 | LoadLittleEndian32(p + n - 4))) *
        0x9FB21C651E98DF25ULL;
  } else if (n > 0) {
    h = (h ^ (uint64_t{p[0]} << 16 | uint64_t{p[n >> 1]} << 8 | p[n - 1])) * 0x9FB21C651E98DF25ULL;
  }
  return static_cast<size_t>(Fmix64(h));
}

/// Returns whether `n` bytes at `a` and `b` are equal; inline for short keys.
inline bool BytesEqual(const char* a, const char* b, size_t n) {
  const auto* x = reinterpret_cast<const unsigned char*>(a);
  const auto* y = reinterpret_cast<const unsigned char*>(b);
  if (n >= 8 && n <= 16) {
    return ((LoadLittleEndian64(x) ^ LoadLittleEndian64(y)) |
            (LoadLittleEndian64(x + n - 8) ^ LoadLittleEndian64(y + n - 8))) == 0;
  }
  if (n >= 4 && n < 8) {
    return ((LoadLittleEndian32(x) ^ LoadLittleEndian32(y)) |
            (LoadLittleEndian32(x + n - 4) ^ LoadLittleEndian32(y + n - 4))) == 0;
  }
  if (n < 4) {
    for (size_t i = 0; i < n; ++i) {
      if (x[i] != y[i]) return false;
    }
    return true;
  }
  return std::memcmp(a, b, n) == 0;
}

/// One registered state of a backend at byte level. Builds the composite key of the current
/// key and namespace, (key group, key, namespace), once per change of either.
class StateTable {
 public:
  StateTable(StateMeta meta, const CurrentKey* key)
      : meta_(std::move(meta)), key_(key), ns_framed_(1, '\0') {}
  virtual ~StateTable() = default;
  StateTable(const StateTable&) = delete;
  StateTable& operator=(const StateTable&) = delete;

  const StateMeta& meta() const { return meta_; }
  /// Replaces the TTL configuration (a restored state takes the one it is registered with).
  void set_ttl(const StateTtlConfig& ttl) { meta_.ttl = ttl; }
  /// Sets the namespace of later accesses to the given encoding (a no-op if it is the
  /// current one, as when a window operator sets the same window record after record).
  void SetNamespaceBytes(std::string_view ns) {
    if (ns == std::string_view(ns_)) return;
    ns_.assign(ns);
    ns_framed_.clear();
    PutLengthPrefixed(&ns_framed_, ns);
    ns_hash_ = ns.empty() ? 0 : StateHash(ns);
    ++ns_version_;
    built_version_ = 0;
  }
  std::string_view namespace_bytes() const { return ns_; }
  /// The namespace as the composite key ends with it: varint length, bytes.
  std::string_view namespace_framed() const { return ns_framed_; }
  size_t namespace_hash() const { return ns_hash_; }
  /// +1 on every change of namespace.
  uint64_t namespace_version() const { return ns_version_; }
  const CurrentKey& current_key() const { return *key_; }
  /// Returns the current composite key: key prefix, varint namespace length, namespace.
  std::string_view composite() {
    if (built_version_ != key_->version) [[unlikely]] Rebuild();
    return composite_;
  }
  int32_t key_group() const { return key_->key_group; }
  /// Returns an id of the composite key composite() last returned, new whenever the key or
  /// namespace changed: a store may cache its lookup of that key under it (0 = none).
  uint64_t composite_id() const { return composite_id_; }

 private:
  void Rebuild() {
    EDDY_CHECK(key_->version != 0) << "state '" << meta_.name << "' used with no current key";
    composite_.assign(key_->prefix);
    composite_.append(ns_framed_);
    built_version_ = key_->version;
    ++composite_id_;
  }

  StateMeta meta_;
  const CurrentKey* key_;
  std::string ns_;
  std::string ns_framed_;
  size_t ns_hash_ = 0;
  uint64_t ns_version_ = 1;
  std::string composite_;
  uint64_t built_version_ = 0;
  uint64_t composite_id_ = 0;
};

/// Type-erased operations on a value type, so that a backend can keep values decoded.
struct ValueOps {
  size_t size;
  size_t align;
  bool trivially_copyable;
  void (*construct)(void* at);
  void (*destroy)(void* at);
  void (*copy)(void* at, const void* from);  // copy-constructs
  void (*encode)(const void* value, std::string* out);
  absl::Status (*decode)(std::string_view bytes, void* value);
};

template <typename V>
const ValueOps* ValueOpsOf() {
  static constexpr ValueOps kOps{
      sizeof(V),
      alignof(V),
      std::is_trivially_copyable_v<V>,
      [](void* at) { new (at) V(); },
      [](void* at) { static_cast<V*>(at)->~V(); },
      [](void* at, const void* from) { new (at) V(*static_cast<const V*>(from)); },
      [](const void* value, std::string* out) { Serde<V>::Write(*static_cast<const V*>(value), out); },
      [](std::string_view bytes, void* value) { return Deserialize(bytes, static_cast<V*>(value)); },
  };
  return &kOps;
}

/// The values of one value-like state kept decoded, as the heap backend does for states
/// without TTL: per key group, one open-addressing map from composite key to the value — in
/// the map's slot when it is trivially copyable and small (a counter, a pair of them), else a
/// pointer to it in the key group's pool of chunks that never move. A lookup reuses the hashes
/// of the key (set_current_key) and of the namespace (set_current_namespace), builds no
/// composite key, and is remembered until either changes, so a record's get + update probes
/// once and neither encodes nor decodes. Handles call it directly: no virtual call per access.
///
/// Key groups are copy-on-write (CowKeyGroups): TakeSnapshot() holds them for a checkpoint in
/// O(key groups), its values are encoded later on the snapshot thread, and the first write
/// of a held key group copies that group (values copy-constructed), so a checkpoint's
/// synchronous part does not depend on the state's size.
class TypedValues {
  struct Group;

 public:
  using Snapshot = CowKeyGroups<Group>::Snapshot;

  TypedValues(const ValueOps* ops, const StateTable* table, KeyGroupRange range)
      : ops_(ops), table_(table), key_(&table->current_key()), groups_(range, ops) {}
  TypedValues(const TypedValues&) = delete;
  TypedValues& operator=(const TypedValues&) = delete;

  const ValueOps* ops() const { return ops_; }

  /// Returns the value of the current key and namespace, or null if there is none.
  const void* Find() {
    if (cached_key_ == key_->version && cached_ns_ == table_->namespace_version()) [[likely]] {
      return cached_;
    }
    return Lookup();
  }
  /// Returns the value of the current key and namespace to change, default-constructed if
  /// new (`*inserted` tells).
  void* FindOrInsert(bool* inserted) {
    const void* found = Find();
    if (!cached_writable_) [[unlikely]] found = Unshare();
    *inserted = found == nullptr;
    if (found == nullptr) [[unlikely]] return Insert();
    return const_cast<void*>(found);
  }
  /// Removes the value of the current key and namespace.
  void Erase() {
    if (Find() == nullptr) return;
    Group& g = groups_.Write(key_->key_group);
    auto it = g.map.find(CurrentProbe());
    g.Release(it->second);
    g.map.erase(it);  // moves no other entry
    cached_ = nullptr;
    cached_writable_ = true;
  }
  /// Returns the value stored under `composite` (a stored key of key group `kg`), inserting
  /// a default-constructed one if there is none (restore).
  void* FindOrInsertStored(int32_t kg, std::string_view composite) {
    EDDY_CHECK(kg >= groups_.first() && kg <= groups_.last())
        << "key group " << kg << " outside the state's range";
    cached_key_ = kNotCached;  // an insert may move entries, the cached one included
    Group& g = groups_.Write(kg);
    auto it = g.map.find(Probe{composite, {}, HashOfStored(composite)});
    if (it == g.map.end()) it = g.map.emplace(Stored(composite, {}), g.Allocate()).first;
    return g.ValueOf(it->second);
  }
  /// Calls `f(composite key, value)` for every value of key groups `range`.
  template <typename F>
  void ForEachInRange(KeyGroupRange range, F&& f) const {
    groups_.ForEachIn(range, [&](const Group& g) { ForEachIn(g, f); });
  }
  /// Holds key groups `range` as they are now, for a snapshot written later (on any thread)
  /// by ForEachInSnapshot. O(key groups): nothing is copied until a held group is written.
  Snapshot TakeSnapshot(KeyGroupRange range) {
    cached_key_ = kNotCached;  // the cached value may be in a group the snapshot now holds
    return groups_.Take(range);
  }
  /// Calls `f(composite key, value)` for every value `snapshot` holds in `range`, releasing
  /// each key group once visited.
  template <typename F>
  static void ForEachInSnapshot(Snapshot& snapshot, KeyGroupRange range, F&& f) {
    snapshot.ReadAndRelease(range, [&](int32_t, const Group& g) { ForEachIn(g, f); });
  }

 private:
  static constexpr uint64_t kNotCached = ~uint64_t{0};
  static constexpr uint32_t kChunkSlots = 256;
  static constexpr size_t kInlineSize = 16;

  /// A map entry's value: the value itself (inline) or a pointer to it in the pool.
  struct Slot {
    alignas(8) std::byte bytes[kInlineSize];
  };

  /// A stored key: the composite key (key group, varint length, key, varint length,
  /// namespace), inline up to 15 bytes (an int64 key with no namespace is 12), else on the
  /// heap; 16 bytes either way, so that an entry with an inline value is 32.
  class Stored {
   public:
    Stored(std::string_view a, std::string_view b) {
      const size_t n = a.size() + b.size();
      char* to = rep_.bytes;
      if (n <= kInlineKey) {
        rep_.bytes[kInlineKey] = static_cast<char>(n);
      } else {
        to = rep_.heap.data = new char[n];
        rep_.heap.size = static_cast<uint32_t>(n);
        rep_.bytes[kInlineKey] = kHeapTag;
      }
      if (!a.empty()) std::memcpy(to, a.data(), a.size());
      if (!b.empty()) std::memcpy(to + a.size(), b.data(), b.size());
    }
    Stored(const Stored& other) : Stored(other.view(), {}) {}
    Stored& operator=(const Stored& other) {
      if (this != &other) *this = Stored(other);
      return *this;
    }
    Stored(Stored&& other) noexcept : rep_(other.rep_) { other.rep_.bytes[kInlineKey] = 0; }
    Stored& operator=(Stored&& other) noexcept {
      if (this != &other) {
        Free();
        rep_ = other.rep_;
        other.rep_.bytes[kInlineKey] = 0;
      }
      return *this;
    }
    ~Stored() { Free(); }
    std::string_view view() const {
      if (rep_.bytes[kInlineKey] == kHeapTag) return {rep_.heap.data, rep_.heap.size};
      return {rep_.bytes, static_cast<size_t>(rep_.bytes[kInlineKey])};
    }

   private:
    static constexpr size_t kInlineKey = 15;
    static constexpr char kHeapTag = static_cast<char>(0x7f);
    void Free() {
      if (rep_.bytes[kInlineKey] == kHeapTag) delete[] rep_.heap.data;
    }
    union Rep {
      char bytes[16];
      struct {
        char* data;
        uint32_t size;
      } heap;
    } rep_;
  };
  /// A stored key in two pieces (key part, framed namespace) with its hash.
  struct Probe {
    std::string_view key;
    std::string_view ns_framed;
    size_t hash;
  };
  /// The hash of a stored key, as CurrentProbe() composes it.
  static size_t HashOfStored(std::string_view stored) {
    ByteReader in(stored.substr(2));
    std::string_view key;
    EDDY_CHECK(in.GetLengthPrefixed(&key)) << "stored state key is malformed";
    const size_t key_part = stored.size() - in.remaining();
    std::string_view ns;
    EDDY_CHECK(in.GetLengthPrefixed(&ns) && in.empty()) << "stored state key is malformed";
    return StateHash(stored.substr(0, key_part)) ^ (ns.empty() ? 0 : StateHash(ns));
  }
  struct Hash {
    using is_transparent = void;
    size_t operator()(const Stored& s) const { return HashOfStored(s.view()); }
    size_t operator()(const Probe& p) const { return p.hash; }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(const Stored& a, const Stored& b) const { return a.view() == b.view(); }
    bool operator()(const Stored& a, const Probe& b) const {
      const std::string_view s = a.view();
      return s.size() == b.key.size() + b.ns_framed.size() &&
             BytesEqual(s.data(), b.key.data(), b.key.size()) &&
             BytesEqual(s.data() + b.key.size(), b.ns_framed.data(), b.ns_framed.size());
    }
    bool operator()(const Probe& a, const Stored& b) const { return (*this)(b, a); }
  };
  using Map = absl::flat_hash_map<Stored, Slot, Hash, Eq>;

  /// One key group's values: the map and the pool its out-of-line values live in. Owns its
  /// values (copying a group copy-constructs them), so a snapshot's group outlives the table.
  struct Group {
    explicit Group(const ValueOps* value_ops)
        : ops(value_ops),
          inline_values(ops->trivially_copyable && ops->size <= kInlineSize &&
                        ops->align <= alignof(Slot)),
          stride((ops->size + ops->align - 1) / ops->align * ops->align) {}
    Group(const Group& other)
        : ops(other.ops), inline_values(other.inline_values), stride(other.stride) {
      if (inline_values) {
        map = other.map;
        return;
      }
      map.reserve(other.map.size());
      for (const auto& [key, slot] : other.map) {
        Slot copy = Reserve();
        ops->copy(ValueOf(copy), other.ValueOf(slot));
        map.emplace(key, copy);
      }
    }
    Group& operator=(const Group&) = delete;
    ~Group() {
      if (!inline_values) {
        for (auto& [key, slot] : map) ops->destroy(ValueOf(slot));
      }
      for (std::byte* chunk : chunks) ::operator delete(chunk, std::align_val_t(ChunkAlign()));
    }

    size_t ChunkAlign() const { return std::max(ops->align, alignof(std::max_align_t)); }
    void* ValueOf(Slot& slot) const {
      if (inline_values) return slot.bytes;
      void* value;
      std::memcpy(&value, slot.bytes, sizeof(value));
      return value;
    }
    const void* ValueOf(const Slot& slot) const { return ValueOf(const_cast<Slot&>(slot)); }
    /// Returns a slot for a value not yet constructed.
    Slot Reserve() {
      Slot slot{};
      if (inline_values) return slot;
      void* value;
      if (!free.empty()) {
        value = free.back();
        free.pop_back();
      } else {
        if (next % kChunkSlots == 0) {
          chunks.push_back(static_cast<std::byte*>(
              ::operator new(kChunkSlots * stride, std::align_val_t(ChunkAlign()))));
        }
        value = chunks.back() + static_cast<size_t>(next++ % kChunkSlots) * stride;
      }
      std::memcpy(slot.bytes, &value, sizeof(value));
      return slot;
    }
    /// Returns a slot holding a default-constructed value.
    Slot Allocate() {
      Slot slot = Reserve();
      ops->construct(ValueOf(slot));
      return slot;
    }
    void Release(Slot& slot) {
      if (inline_values) return;  // trivially copyable: nothing to destroy
      void* value = ValueOf(slot);
      ops->destroy(value);
      free.push_back(value);
    }

    const ValueOps* ops;
    bool inline_values;
    size_t stride;
    Map map;
    std::vector<std::byte*> chunks;
    std::vector<void*> free;
    size_t next = 0;
  };

  template <typename F>
  static void ForEachIn(const Group& g, F& f) {
    for (const auto& [key, slot] : g.map) f(key.view(), g.ValueOf(slot));
  }
  Probe CurrentProbe() const {
    return Probe{key_->prefix, table_->namespace_framed(), key_->hash ^ table_->namespace_hash()};
  }
  const void* Lookup() {
    EDDY_CHECK(key_->version != 0) << "state '" << table_->meta().name
                                   << "' used with no current key";
    const int32_t kg = key_->key_group;
    const Group& g = groups_.Read(kg);
    auto it = g.map.find(CurrentProbe());
    cached_ = it == g.map.end() ? nullptr : g.ValueOf(it->second);
    cached_writable_ = groups_.Exclusive(kg);
    cached_key_ = key_->version;
    cached_ns_ = table_->namespace_version();
    return cached_;
  }
  /// Makes the current key group the task's own (copying it if a snapshot holds it) and
  /// looks the current value up again there.
  const void* Unshare() {
    groups_.Write(key_->key_group);
    return Lookup();
  }
  void* Insert() {
    const Probe p = CurrentProbe();
    Group& g = groups_.Write(key_->key_group);
    auto it = g.map.emplace(Stored(p.key, p.ns_framed), g.Allocate()).first;
    void* value = g.ValueOf(it->second);
    cached_ = value;  // an insert may move entries: the cached one is this one
    cached_writable_ = true;
    return value;
  }

  const ValueOps* ops_;
  const StateTable* table_;
  const CurrentKey* key_;
  CowKeyGroups<Group> groups_;
  uint64_t cached_key_ = kNotCached;
  uint64_t cached_ns_ = 0;
  const void* cached_ = nullptr;
  bool cached_writable_ = false;
};

/// A value, reducing or aggregating state: one value per (key, namespace).
class ValueTable : public StateTable {
 public:
  using StateTable::StateTable;
  /// Points `*value` at the current value's encoding (valid until the next access of this
  /// backend) and returns true, or returns false if there is none (or it expired).
  virtual bool Get(std::string_view* value) = 0;
  /// Returns a cleared buffer to encode the new value into; Commit() stores it.
  virtual std::string* BeginWrite() = 0;
  virtual void Commit() = 0;
  virtual void Clear() = 0;
  /// Returns the decoded values of this state if the backend keeps them (the heap backend,
  /// without TTL) for values whose type `ops` describes, else null; handles then go through
  /// it instead of Get/BeginWrite/Commit. Called once, when the handle is made.
  virtual TypedValues* Typed(const ValueOps* /*ops*/) { return nullptr; }
};

/// A list state: a sequence of elements per (key, namespace); adding is a blind write.
class ListTable : public StateTable {
 public:
  using StateTable::StateTable;
  /// Calls `element(bytes)` for each element in order; returns false if there are none.
  virtual bool ForEach(absl::FunctionRef<void(std::string_view)> element) = 0;
  virtual void Add(std::string_view element) = 0;
  virtual void AddAll(std::span<const std::string> elements) = 0;
  /// Replaces the list (an empty span clears it).
  virtual void Update(std::span<const std::string> elements) = 0;
  virtual void Clear() = 0;
};

/// A map state: a map of user keys to values per (key, namespace).
class MapTable : public StateTable {
 public:
  using StateTable::StateTable;
  /// Like ValueTable::Get, for the entry of `user_key`.
  virtual bool Get(std::string_view user_key, std::string_view* value) = 0;
  virtual void Put(std::string_view user_key, std::string_view value) = 0;
  virtual void Remove(std::string_view user_key) = 0;
  /// Calls `entry(user_key, value)` for each entry, in no particular order; the map must not
  /// be changed from inside.
  virtual void ForEach(absl::FunctionRef<void(std::string_view, std::string_view)> entry) = 0;
  virtual bool IsEmpty() = 0;
  virtual void Clear() = 0;
};

/// Decodes a value the backend stored; a failure is corrupt state, a bug.
template <typename T>
void DecodeStored(std::string_view bytes, T* out, const StateMeta& meta) {
  const absl::Status status = Deserialize(bytes, out);
  EDDY_CHECK(status.ok()) << "state '" << meta.name << "' holds undecodable bytes: " << status;
}

/// Reads the value of a value-like table at the current key and namespace.
template <typename V>
std::optional<V> ReadValue(ValueTable* table) {
  std::string_view bytes;
  if (!table->Get(&bytes)) return std::nullopt;
  std::optional<V> out(std::in_place);
  DecodeStored(bytes, &*out, table->meta());
  return out;
}

/// The part every handle shares: its table and namespace.
class StateHandleBase {
 public:
  virtual ~StateHandleBase() = default;
  /// Scopes later accesses through this handle to namespace `ns` (e.g. a window).
  template <typename N>
  void set_current_namespace(const N& ns) {
    scratch_.clear();
    Serde<N>::Write(ns, &scratch_);
    table_->SetNamespaceBytes(scratch_);
  }
  /// Returns to the default namespace (VoidNamespace).
  void clear_namespace() { table_->SetNamespaceBytes({}); }
  const std::string& name() const { return table_->meta().name; }

 protected:
  explicit StateHandleBase(StateTable* table) : table_(table) {}
  StateTable* table_;
  std::string scratch_;
};

/// What value, reducing and aggregating handles share: a value table, read and cleared
/// through the backend's decoded values when it keeps them (TypedValues), else as bytes.
template <typename V>
class ValueHandleBase : public StateHandleBase {
 protected:
  explicit ValueHandleBase(ValueTable* table)
      : StateHandleBase(table), table_(table), typed_(table->Typed(ValueOpsOf<V>())) {}
  /// Returns the stored value of the current key and namespace, or nullopt.
  std::optional<V> Read() {
    if (typed_ != nullptr) {
      if (const void* v = typed_->Find()) return *static_cast<const V*>(v);
      return std::nullopt;
    }
    return ReadValue<V>(table_);
  }
  /// Returns the decoded value to change in place (`*inserted`: it was default-constructed);
  /// only with typed_.
  V* Slot(bool* inserted) { return static_cast<V*>(typed_->FindOrInsert(inserted)); }
  void Write(const V& value) {
    Serde<V>::Write(value, table_->BeginWrite());
    table_->Commit();
  }
  void Clear() {
    if (typed_ != nullptr) return typed_->Erase();
    table_->Clear();
  }

  ValueTable* table_;
  TypedValues* typed_;
};

}  // namespace internal

// ---- Handles -------------------------------------------------------------------------------

/// One value per key and namespace.
template <typename V>
class ValueState : public internal::ValueHandleBase<V> {
 public:
  explicit ValueState(internal::ValueTable* table) : internal::ValueHandleBase<V>(table) {}
  /// Returns the value, or nullopt if none was written (or it expired).
  std::optional<V> value() { return this->Read(); }
  void update(const V& value) {
    if (this->typed_ == nullptr) return this->Write(value);
    bool inserted;
    *this->Slot(&inserted) = value;
  }
  void clear() { this->Clear(); }
};

/// A list of elements per key and namespace.
template <typename V>
class ListState : public internal::StateHandleBase {
 public:
  explicit ListState(internal::ListTable* table) : StateHandleBase(table), table_(table) {}
  /// Returns the elements in the order they were added (empty if none).
  std::vector<V> get() {
    std::vector<V> out;
    table_->ForEach([&](std::string_view bytes) {
      internal::DecodeStored(bytes, &out.emplace_back(), table_->meta());
    });
    return out;
  }
  /// Appends one element without reading the list.
  void add(const V& value) {
    scratch_.clear();
    Serde<V>::Write(value, &scratch_);
    table_->Add(scratch_);
  }
  void add_all(std::span<const V> values) { table_->AddAll(Encode(values)); }
  /// Replaces the list with `values`.
  void update(std::span<const V> values) { table_->Update(Encode(values)); }
  void clear() { table_->Clear(); }

 private:
  std::span<const std::string> Encode(std::span<const V> values) {
    encoded_.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      encoded_[i].clear();
      Serde<V>::Write(values[i], &encoded_[i]);
    }
    return encoded_;
  }
  internal::ListTable* table_;
  std::vector<std::string> encoded_;
};

/// A map of K to V per key and namespace; each entry is stored (and expires) on its own.
template <typename K, typename V>
class MapState : public internal::StateHandleBase {
 public:
  explicit MapState(internal::MapTable* table) : StateHandleBase(table), table_(table) {}
  /// Returns the value of `key`, or nullopt.
  std::optional<V> get(const K& key) {
    std::string_view bytes;
    if (!table_->Get(EncodeKey(key), &bytes)) return std::nullopt;
    std::optional<V> out(std::in_place);
    internal::DecodeStored(bytes, &*out, table_->meta());
    return out;
  }
  void put(const K& key, const V& value) {
    EncodeKey(key);
    value_scratch_.clear();
    Serde<V>::Write(value, &value_scratch_);
    table_->Put(scratch_, value_scratch_);
  }
  bool contains(const K& key) {
    std::string_view bytes;
    return table_->Get(EncodeKey(key), &bytes);
  }
  void remove(const K& key) { table_->Remove(EncodeKey(key)); }
  /// Calls `f(const K&, const V&)` for each entry, in no particular order.
  template <typename F>
  void for_each(F&& f) {
    K key{};
    V value{};
    table_->ForEach([&](std::string_view k, std::string_view v) {
      internal::DecodeStored(k, &key, table_->meta());
      internal::DecodeStored(v, &value, table_->meta());
      f(std::as_const(key), std::as_const(value));
    });
  }
  /// Returns every entry, in no particular order.
  std::vector<std::pair<K, V>> entries() {
    std::vector<std::pair<K, V>> out;
    for_each([&](const K& k, const V& v) { out.emplace_back(k, v); });
    return out;
  }
  /// Returns every key, in no particular order.
  std::vector<K> keys() {
    std::vector<K> out;
    table_->ForEach([&](std::string_view k, std::string_view) {
      internal::DecodeStored(k, &out.emplace_back(), table_->meta());
    });
    return out;
  }
  bool is_empty() { return table_->IsEmpty(); }
  void clear() { table_->Clear(); }

 private:
  std::string_view EncodeKey(const K& key) {
    scratch_.clear();
    Serde<K>::Write(key, &scratch_);
    return scratch_;
  }
  internal::MapTable* table_;
  std::string value_scratch_;
};

/// One value per key and namespace that add() combines with `reduce`.
template <typename V, typename F = std::function<V(const V&, const V&)>>
class ReducingState : public internal::ValueHandleBase<V> {
 public:
  ReducingState(internal::ValueTable* table, F reduce)
      : internal::ValueHandleBase<V>(table), reduce_(std::move(reduce)) {}
  /// Returns the reduced value, or nullopt if nothing was added.
  std::optional<V> get() { return this->Read(); }
  void add(const V& value) {
    if (this->typed_ != nullptr) {
      bool inserted;
      V* current = this->Slot(&inserted);
      *current = inserted ? value : reduce_(std::as_const(*current), value);
      return;
    }
    std::string_view bytes;
    if (this->table_->Get(&bytes)) {
      internal::DecodeStored(bytes, &current_, this->table_->meta());
      this->Write(reduce_(current_, value));
    } else {
      this->Write(value);
    }
  }
  void clear() { this->Clear(); }

 private:
  F reduce_;
  V current_{};
};

/// One accumulator per key and namespace that add() folds inputs into.
template <AggregateFunction Agg>
class AggregatingState : public internal::ValueHandleBase<typename Agg::accumulator_type> {
 public:
  using In = typename Agg::input_type;
  using Acc = typename Agg::accumulator_type;
  using Out = typename Agg::output_type;

  AggregatingState(internal::ValueTable* table, Agg aggregate)
      : internal::ValueHandleBase<Acc>(table), agg_(std::move(aggregate)) {}
  /// Returns the result of the accumulator, or nullopt if nothing was added.
  std::optional<Out> get() {
    if (this->typed_ != nullptr) {
      if (const void* acc = this->typed_->Find()) {
        return agg_.get_result(*static_cast<const Acc*>(acc));
      }
      return std::nullopt;
    }
    std::string_view bytes;
    if (!this->table_->Get(&bytes)) return std::nullopt;
    internal::DecodeStored(bytes, &acc_, this->table_->meta());
    return agg_.get_result(acc_);
  }
  void add(const In& value) {
    if (this->typed_ != nullptr) {
      bool inserted;
      Acc* acc = this->Slot(&inserted);
      if (inserted) *acc = agg_.create_accumulator();
      agg_.add(value, *acc);
      return;
    }
    std::string_view bytes;
    if (this->table_->Get(&bytes)) {
      internal::DecodeStored(bytes, &acc_, this->table_->meta());
    } else {
      acc_ = agg_.create_accumulator();
    }
    agg_.add(value, acc_);
    this->Write(acc_);
  }
  void clear() { this->Clear(); }
  const Agg& aggregate_function() const { return agg_; }

 private:
  Agg agg_;
  Acc acc_{};
};

// ---- Checkpoint snapshots -------------------------------------------------------------------

/// A backend's own snapshot: files in a local directory (RocksDB: a native checkpoint).
/// Shared files are immutable and named uniquely within the backend's database, so a file
/// uploaded by one checkpoint is referenced, not copied, by the next (incremental).
struct NativeSnapshot {
  std::string backend;                       // "rocksdb"
  std::string dir;                           // local directory holding the files
  std::vector<std::string> shared_files;     // names in `dir`
  std::vector<std::string> private_files;    // names in `dir`
  /// The backend-independent format without entries: states and timers.
  std::string meta;
};

/// A shared file as stored by an earlier checkpoint.
struct SharedFileRef {
  std::string uri;
  uint64_t size = 0;
};
using SharedFiles = std::map<std::string, SharedFileRef>;  // by name in the backend's dir

/// Where the asynchronous part of a keyed snapshot writes: the checkpoint's storage, given
/// by the task. Called on the task's snapshot thread.
class KeyedSnapshotOutput {
 public:
  virtual ~KeyedSnapshotOutput() = default;
  /// Stores a snapshot in the backend-independent format.
  virtual absl::Status WriteFull(std::string bytes) = 0;
  /// Stores a native snapshot: shared files found in `reuse` (same name and size) are
  /// referenced, the others uploaded. Returns every shared file as stored now.
  virtual absl::StatusOr<SharedFiles> WriteNative(const NativeSnapshot& snapshot,
                                                  const SharedFiles& reuse) = 0;
};

/// A native snapshot downloaded for a restore: the files in `dir`, which the backend takes
/// over (it deletes the directory when done with it).
struct NativeRestore {
  std::string backend;
  std::string dir;
  KeyGroupRange key_groups{0, 0};
  std::string meta;
  SharedFiles shared;  // where the shared files are stored (referenced by later checkpoints)
};

// ---- The backend ---------------------------------------------------------------------------

/// Keyed state of one operator subtask over its key-group range. The operator sets the
/// current key once per record; handles then read and write that key's state. Keys are
/// encoded once per set_current_key, so the backend itself is not templated on the key type.
/// Snapshots cover a key-group range in one format for every backend (README of
/// taskmanager/state), so either backend restores what the other wrote.
class KeyedStateBackend {
 public:
  KeyedStateBackend(KeyGroupRange key_groups, int32_t max_parallelism)
      : key_groups_(key_groups), max_parallelism_(max_parallelism) {}
  virtual ~KeyedStateBackend() = default;
  KeyedStateBackend(const KeyedStateBackend&) = delete;
  KeyedStateBackend& operator=(const KeyedStateBackend&) = delete;

  /// Makes `key` the current key; its key group must lie in this backend's range.
  template <typename K>
  void set_current_key(const K& key) {
    const int32_t key_group = KeyGroupFor(KeyHash(key), max_parallelism_);
    key_scratch_.clear();
    Serde<K>::Write(key, &key_scratch_);
    SetCurrentKeyBytes(key_group, key_scratch_);
  }
  /// Makes the key with encoding `key` in `key_group` current (timers, restore).
  void SetCurrentKeyBytes(int32_t key_group, std::string_view key) {
    EDDY_CHECK(key_groups_.Contains(key_group))
        << "key group " << key_group << " outside this backend's range [" << key_groups_.start
        << ", " << key_groups_.end << "]";
    std::string& p = current_.prefix;
    p.clear();
    p.push_back(static_cast<char>((key_group >> 8) & 0xff));
    p.push_back(static_cast<char>(key_group & 0xff));
    PutVarint64(&p, key.size());
    current_.key_offset = static_cast<uint32_t>(p.size());
    p.append(key);
    current_.key_group = key_group;
    current_.hash = internal::StateHash(p);
    ++current_.version;
  }
  /// Returns the current key decoded as K.
  template <typename K>
  K current_key() const {
    K key{};
    const absl::Status status = Deserialize(current_.key_bytes(), &key);
    EDDY_CHECK(status.ok()) << "current key is not a " << TypeName<K>() << ": " << status;
    return key;
  }
  std::string_view current_key_bytes() const { return current_.key_bytes(); }
  int32_t current_key_group() const { return current_.key_group; }
  KeyGroupRange key_group_range() const { return key_groups_; }
  int32_t max_parallelism() const { return max_parallelism_; }

  /// Returns the handle of the state `desc` names, registering it on first use; the same
  /// name always gives the same handle. Errors: the name is registered (or was restored)
  /// with another kind, value types or TTL setting.
  template <typename V>
  absl::StatusOr<ValueState<V>*> get_state(const ValueStateDescriptor<V>& desc) {
    return GetHandle<ValueState<V>, internal::ValueTable>(
        StateMeta{desc.name, StateKind::kValue, desc.ttl},
        [](internal::ValueTable* t) { return std::make_unique<ValueState<V>>(t); });
  }
  template <typename V>
  absl::StatusOr<ListState<V>*> get_list_state(const ListStateDescriptor<V>& desc) {
    return GetHandle<ListState<V>, internal::ListTable>(
        StateMeta{desc.name, StateKind::kList, desc.ttl},
        [](internal::ListTable* t) { return std::make_unique<ListState<V>>(t); });
  }
  template <typename K, typename V>
  absl::StatusOr<MapState<K, V>*> get_map_state(const MapStateDescriptor<K, V>& desc) {
    return GetHandle<MapState<K, V>, internal::MapTable>(
        StateMeta{desc.name, StateKind::kMap, desc.ttl},
        [](internal::MapTable* t) { return std::make_unique<MapState<K, V>>(t); });
  }
  template <typename V, typename F>
  absl::StatusOr<ReducingState<V, F>*> get_reducing_state(
      const ReducingStateDescriptor<V, F>& desc) {
    return GetHandle<ReducingState<V, F>, internal::ValueTable>(
        StateMeta{desc.name, StateKind::kReducing, desc.ttl},
        [&](internal::ValueTable* t) { return std::make_unique<ReducingState<V, F>>(t, desc.reduce); });
  }
  template <AggregateFunction Agg>
  absl::StatusOr<AggregatingState<Agg>*> get_aggregating_state(
      const AggregatingStateDescriptor<Agg>& desc) {
    return GetHandle<AggregatingState<Agg>, internal::ValueTable>(
        StateMeta{desc.name, StateKind::kAggregating, desc.ttl}, [&](internal::ValueTable* t) {
          return std::make_unique<AggregatingState<Agg>>(t, desc.aggregate);
        });
  }

  /// Calls `f(const K& key, const V& value)` for every key that has a value in the value,
  /// reducing or aggregating state `name` (V: its value or accumulator type) under namespace
  /// `ns`, in no particular order; expired values are left out (Flink's getKeys, with the
  /// values). The state must not change from inside. Errors: no such state, or a list or map.
  template <typename K, typename V, typename N = VoidNamespace, typename F>
  absl::Status for_each_value(std::string_view name, F&& f, const N& ns = {}) {
    std::string ns_bytes;
    Serde<N>::Write(ns, &ns_bytes);
    K key{};
    V value{};
    return ForEachValueBytes(name, ns_bytes, [&](std::string_view k, std::string_view v) {
      DecodeOrDie(k, &key, name);
      DecodeOrDie(v, &value, name);
      f(std::as_const(key), std::as_const(value));
    });
  }
  /// Returns every key that has a value in state `name` under namespace `ns` (as
  /// for_each_value, V being the state's value type).
  template <typename K, typename V, typename N = VoidNamespace>
  absl::StatusOr<std::vector<K>> get_keys(std::string_view name, const N& ns = {}) {
    std::vector<K> keys;
    absl::Status status =
        for_each_value<K, V>(name, [&](const K& k, const V&) { keys.push_back(k); }, ns);
    if (!status.ok()) return status;
    return keys;
  }

  /// Returns the timer service `name` (created on first use). Its timers are part of this
  /// backend's snapshots.
  virtual InternalTimerService* timer_service(std::string_view name) = 0;

  /// Appends every state entry and timer of key groups `range` (clipped to this backend's
  /// range) to `*out` in the backend-independent snapshot format.
  virtual absl::Status SnapshotKeyGroups(KeyGroupRange range, std::string* out) = 0;
  /// A snapshot of key groups `range` taken now and written later by the returned writer,
  /// possibly on another thread while this backend goes on changing: what the call copies is
  /// a checkpoint's synchronous part (RocksDB: only a DB snapshot; the heap: its key groups,
  /// held copy-on-write). Call the writer once, before Dispose(). By default it snapshots at
  /// once.
  using DeferredSnapshot = std::function<absl::Status(std::string* out)>;
  virtual absl::StatusOr<DeferredSnapshot> SnapshotKeyGroupsDeferred(KeyGroupRange range) {
    auto bytes = std::make_shared<std::string>();
    absl::Status s = SnapshotKeyGroups(range, bytes.get());
    if (!s.ok()) return s;
    return DeferredSnapshot([bytes](std::string* out) {
      out->append(*bytes);
      return absl::OkStatus();
    });
  }
  /// A checkpoint's snapshot of this backend's key groups: the synchronous part now, and a
  /// writer for the asynchronous part that stores it through a KeyedSnapshotOutput (call it
  /// once, on any thread, before Dispose()). `self_contained` (savepoints) asks for the
  /// backend-independent format; otherwise a backend may write a native, incremental one.
  using CheckpointWriter = std::function<absl::Status(KeyedSnapshotOutput&)>;
  virtual absl::StatusOr<CheckpointWriter> SnapshotForCheckpoint(int64_t /*checkpoint_id*/,
                                                                 bool /*self_contained*/) {
    auto writer = SnapshotKeyGroupsDeferred(key_groups_);
    if (!writer.ok()) return writer.status();
    return CheckpointWriter([writer = std::move(*writer)](KeyedSnapshotOutput& out) {
      std::string bytes;
      absl::Status s = writer(&bytes);
      if (!s.ok()) return s;
      return out.WriteFull(std::move(bytes));
    });
  }
  /// Checkpoint `checkpoint_id` completed (later incremental ones may refer to its files) or
  /// was aborted.
  virtual void NotifyCheckpointComplete(int64_t /*checkpoint_id*/) {}
  virtual void NotifyCheckpointAborted(int64_t /*checkpoint_id*/) {}
  /// Adds the state of a native snapshot (of any backend that writes one), keeping only key
  /// groups in this backend's range; takes over `restore.dir`.
  virtual absl::Status RestoreNative(const NativeRestore& restore) = 0;
  /// Adds the entries and timers of a snapshot (of any backend), keeping only key groups in
  /// this backend's range. Several snapshots may be restored, one after the other, before
  /// states are used. Errors: malformed bytes, a state restored with another kind or TTL
  /// setting than it has here.
  virtual absl::Status Restore(std::string_view snapshot) = 0;
  /// Releases everything the backend holds (files included); no access afterwards.
  virtual absl::Status Dispose() = 0;

 protected:
  /// Returns the table of `meta.name`, creating it (or adopting a restored one whose kind and
  /// TTL setting match, else an error).
  virtual absl::StatusOr<internal::StateTable*> GetOrCreateTable(const StateMeta& meta) = 0;
  /// Calls `f(key bytes, value bytes)` for every live value of the value-like state `name`
  /// whose namespace encodes as `ns` (see for_each_value).
  virtual absl::Status ForEachValueBytes(
      std::string_view name, std::string_view ns,
      absl::FunctionRef<void(std::string_view, std::string_view)> f) = 0;
  const internal::CurrentKey* current() const { return &current_; }

 private:
  template <typename T>
  static void DecodeOrDie(std::string_view bytes, T* out, std::string_view name) {
    const absl::Status status = Deserialize(bytes, out);
    EDDY_CHECK(status.ok()) << "state '" << name << "' holds undecodable bytes: " << status;
  }

  template <typename Handle, typename Table, typename Make>
  absl::StatusOr<Handle*> GetHandle(const StateMeta& meta, Make&& make) {
    auto it = handles_.find(meta.name);
    if (it != handles_.end()) {
      if (it->second.type != std::type_index(typeid(Handle))) {
        return absl::InvalidArgumentError("state '" + meta.name +
                                          "' is already registered with other types as " +
                                          it->second.type_name);
      }
      return static_cast<Handle*>(it->second.handle.get());
    }
    absl::StatusOr<internal::StateTable*> table = GetOrCreateTable(meta);
    if (!table.ok()) return table.status();
    // The kind decides the table class (checked by the backend); no dynamic_cast, whose
    // type_info would not match across a job library built with hidden visibility.
    EDDY_CHECK((*table)->meta().kind == meta.kind)
        << "backend gave state '" << meta.name << "' a table of another kind";
    auto* typed = static_cast<Table*>(*table);
    std::unique_ptr<Handle> handle = make(typed);
    Handle* raw = handle.get();
    handles_.emplace(meta.name, Registered{std::move(handle), std::type_index(typeid(Handle)),
                                           TypeName<Handle>()});
    return raw;
  }

  struct Registered {
    std::unique_ptr<internal::StateHandleBase> handle;
    std::type_index type;
    std::string type_name;
  };
  KeyGroupRange key_groups_;
  int32_t max_parallelism_;
  internal::CurrentKey current_;
  std::string key_scratch_;
  std::map<std::string, Registered, std::less<>> handles_;
};

}  // namespace eddy
