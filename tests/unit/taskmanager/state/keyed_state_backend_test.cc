// Keyed state semantics on both backends: every state kind against a std::map reference model
// over random operations, key/namespace isolation, TTL, registration errors, snapshots by
// key-group range restored into the other backend type, and deferred snapshots written on
// another thread while the state changes.
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "api/state.h"
#include "tests/unit/taskmanager/state/backend_fixture.h"

namespace eddy::state {
namespace {

using testing::BackendTest;
using Key = int64_t;
using Ns = int64_t;
using Cell = std::pair<Key, Ns>;

constexpr int kKeys = 12;
constexpr int kNamespaces = 3;
constexpr int kOps = 4000;

class KeyedStateBackendTest : public BackendTest {
 protected:
  // Picks a random (key, namespace) and makes it current for `handle`.
  template <typename Handle>
  Cell Pick(KeyedStateBackend& backend, Handle* handle) {
    const Cell cell{static_cast<Key>(rng_() % kKeys), static_cast<Ns>(rng_() % kNamespaces)};
    backend.set_current_key(cell.first);
    handle->set_current_namespace(cell.second);
    return cell;
  }
  std::string RandomString() { return std::string(rng_() % 12, static_cast<char>('a' + rng_() % 26)); }

  std::mt19937_64 rng_{42};
};

TEST_P(KeyedStateBackendTest, ValueStateMatchesAMapModel) {
  auto backend = Make();
  auto state = backend->get_state(ValueStateDescriptor<std::string>{"v"});
  ASSERT_TRUE(state.ok()) << state.status();
  std::map<Cell, std::string> model;
  for (int i = 0; i < kOps; ++i) {
    const Cell cell = Pick(*backend, *state);
    switch (rng_() % 3) {
      case 0: {
        const std::string v = RandomString();
        (*state)->update(v);
        model[cell] = v;
        break;
      }
      case 1:
        (*state)->clear();
        model.erase(cell);
        break;
      default: {
        auto it = model.find(cell);
        const std::optional<std::string> got = (*state)->value();
        if (it == model.end()) {
          EXPECT_FALSE(got.has_value()) << "op " << i;
        } else {
          ASSERT_TRUE(got.has_value()) << "op " << i;
          EXPECT_EQ(*got, it->second);
        }
      }
    }
  }
}

TEST_P(KeyedStateBackendTest, ListStateMatchesAMapModel) {
  auto backend = Make();
  auto state = backend->get_list_state(ListStateDescriptor<std::string>{"l"});
  ASSERT_TRUE(state.ok()) << state.status();
  std::map<Cell, std::vector<std::string>> model;
  for (int i = 0; i < kOps; ++i) {
    const Cell cell = Pick(*backend, *state);
    std::vector<std::string>& want = model[cell];
    switch (rng_() % 5) {
      case 0: {
        const std::string v = RandomString();
        (*state)->add(v);
        want.push_back(v);
        break;
      }
      case 1: {
        std::vector<std::string> more(rng_() % 3);
        for (auto& s : more) s = RandomString();
        (*state)->add_all(more);
        want.insert(want.end(), more.begin(), more.end());
        break;
      }
      case 2: {
        std::vector<std::string> replace(rng_() % 3);
        for (auto& s : replace) s = RandomString();
        (*state)->update(replace);
        want = replace;
        break;
      }
      case 3:
        if (rng_() % 4 == 0) {
          (*state)->clear();
          want.clear();
        }
        break;
      default:
        EXPECT_EQ((*state)->get(), want) << "op " << i;
    }
  }
}

TEST_P(KeyedStateBackendTest, MapStateMatchesAMapModel) {
  auto backend = Make();
  auto state = backend->get_map_state(MapStateDescriptor<std::string, int64_t>{"m"});
  ASSERT_TRUE(state.ok()) << state.status();
  std::map<Cell, std::map<std::string, int64_t>> model;
  for (int i = 0; i < kOps; ++i) {
    const Cell cell = Pick(*backend, *state);
    std::map<std::string, int64_t>& want = model[cell];
    const std::string uk(1, static_cast<char>('a' + rng_() % 8));
    switch (rng_() % 8) {
      case 0:
      case 1: {
        const auto v = static_cast<int64_t>(rng_() % 1000) - 500;
        (*state)->put(uk, v);
        want[uk] = v;
        break;
      }
      case 2:
        (*state)->remove(uk);
        want.erase(uk);
        break;
      case 3: {
        auto it = want.find(uk);
        const std::optional<int64_t> got = (*state)->get(uk);
        EXPECT_EQ(got.has_value(), it != want.end()) << "op " << i;
        if (got && it != want.end()) {
          EXPECT_EQ(*got, it->second);
        }
        EXPECT_EQ((*state)->contains(uk), it != want.end());
        break;
      }
      case 4: {
        auto entries = (*state)->entries();
        std::sort(entries.begin(), entries.end());
        const std::vector<std::pair<std::string, int64_t>> want_entries(want.begin(), want.end());
        EXPECT_EQ(entries, want_entries) << "op " << i;
        break;
      }
      case 5: {
        auto keys = (*state)->keys();
        std::sort(keys.begin(), keys.end());
        std::vector<std::string> want_keys;
        for (const auto& [k, v] : want) want_keys.push_back(k);
        EXPECT_EQ(keys, want_keys);
        break;
      }
      case 6:
        EXPECT_EQ((*state)->is_empty(), want.empty()) << "op " << i;
        break;
      default:
        if (rng_() % 4 == 0) {
          (*state)->clear();
          want.clear();
        }
    }
  }
}

TEST_P(KeyedStateBackendTest, ReducingStateMatchesAMapModel) {
  auto backend = Make();
  auto state = backend->get_reducing_state(ReducingStateDescriptor<int64_t>{
      "r", [](const int64_t& a, const int64_t& b) { return std::max(a, b) * 2 - std::min(a, b); }});
  ASSERT_TRUE(state.ok()) << state.status();
  std::map<Cell, int64_t> model;
  for (int i = 0; i < kOps; ++i) {
    const Cell cell = Pick(*backend, *state);
    const auto v = static_cast<int64_t>(rng_() % 100);
    switch (rng_() % 4) {
      case 0:
      case 1: {
        (*state)->add(v);
        auto it = model.find(cell);
        if (it == model.end()) {
          model[cell] = v;
        } else {
          it->second = std::max(it->second, v) * 2 - std::min(it->second, v);
        }
        break;
      }
      case 2:
        (*state)->clear();
        model.erase(cell);
        break;
      default: {
        auto it = model.find(cell);
        const std::optional<int64_t> got = (*state)->get();
        ASSERT_EQ(got.has_value(), it != model.end()) << "op " << i;
        if (got) {
          EXPECT_EQ(*got, it->second);
        }
      }
    }
  }
}

// Average of int64 inputs with a (sum, count) accumulator.
struct Average {
  using input_type = int64_t;
  using accumulator_type = std::pair<int64_t, int64_t>;
  using output_type = double;
  accumulator_type create_accumulator() const { return {0, 0}; }
  void add(const int64_t& v, accumulator_type& acc) const {
    acc.first += v;
    ++acc.second;
  }
  double get_result(const accumulator_type& acc) const {
    return static_cast<double>(acc.first) / static_cast<double>(acc.second);
  }
  accumulator_type merge(const accumulator_type& a, const accumulator_type& b) const {
    return {a.first + b.first, a.second + b.second};
  }
};

TEST_P(KeyedStateBackendTest, AggregatingStateMatchesAMapModel) {
  auto backend = Make();
  auto state = backend->get_aggregating_state(AggregatingStateDescriptor<Average>{"a"});
  ASSERT_TRUE(state.ok()) << state.status();
  std::map<Cell, std::pair<int64_t, int64_t>> model;
  for (int i = 0; i < kOps; ++i) {
    const Cell cell = Pick(*backend, *state);
    const auto v = static_cast<int64_t>(rng_() % 100);
    switch (rng_() % 4) {
      case 0:
      case 1:
        (*state)->add(v);
        model[cell].first += v;
        ++model[cell].second;
        break;
      case 2:
        (*state)->clear();
        model.erase(cell);
        break;
      default: {
        auto it = model.find(cell);
        const std::optional<double> got = (*state)->get();
        ASSERT_EQ(got.has_value(), it != model.end()) << "op " << i;
        if (got) {
          EXPECT_DOUBLE_EQ(*got, static_cast<double>(it->second.first) /
                                     static_cast<double>(it->second.second));
        }
      }
    }
  }
}

TEST_P(KeyedStateBackendTest, KeysNamespacesAndStatesAreIsolated) {
  auto backend = Make();
  auto a = *backend->get_state(ValueStateDescriptor<int>{"a"});
  auto b = *backend->get_state(ValueStateDescriptor<int>{"b"});
  backend->set_current_key(std::string("alice"));
  a->update(1);
  EXPECT_FALSE(b->value().has_value());
  a->set_current_namespace(int64_t{7});
  EXPECT_FALSE(a->value().has_value()) << "namespace 7 must not see the void namespace";
  a->update(2);
  a->clear_namespace();
  EXPECT_EQ(a->value(), 1);
  backend->set_current_key(std::string("bob"));
  EXPECT_FALSE(a->value().has_value());
  // A key whose encoding is a prefix of another's must not see its state.
  backend->set_current_key(std::string("alic"));
  EXPECT_FALSE(a->value().has_value());
  backend->set_current_key(std::string("alice"));
  EXPECT_EQ(a->value(), 1);
  EXPECT_EQ(backend->current_key<std::string>(), "alice");
}

TEST_P(KeyedStateBackendTest, SameNameGivesTheSameHandleAndOtherTypesAnError) {
  auto backend = Make();
  auto first = backend->get_state(ValueStateDescriptor<int>{"s"});
  auto again = backend->get_state(ValueStateDescriptor<int>{"s"});
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(*first, *again);
  auto other_type = backend->get_state(ValueStateDescriptor<std::string>{"s"});
  EXPECT_FALSE(other_type.ok());
  EXPECT_NE(other_type.status().message().find("'s'"), std::string::npos);
  auto other_kind = backend->get_list_state(ListStateDescriptor<int>{"s"});
  EXPECT_FALSE(other_kind.ok());
}

StateTtlConfig Ttl(int64_t ms, StateTtlConfig::UpdateType type) {
  return StateTtlConfig{std::chrono::milliseconds(ms), type};
}

TEST_P(KeyedStateBackendTest, TtlOnCreateAndWriteExpiresAfterTheLastWrite) {
  auto backend = Make();
  const auto ttl = Ttl(100, StateTtlConfig::UpdateType::kOnCreateAndWrite);
  auto value = *backend->get_state(ValueStateDescriptor<int>{"v", ttl});
  auto list = *backend->get_list_state(ListStateDescriptor<int>{"l", ttl});
  auto map = *backend->get_map_state(MapStateDescriptor<int, int>{"m", ttl});
  backend->set_current_key(1);
  now_ = 1000;
  value->update(1);
  list->add(1);
  map->put(1, 1);
  now_ = 1050;
  list->add(2);
  map->put(2, 2);
  now_ = 1099;  // reads do not extend
  EXPECT_EQ(value->value(), 1);
  EXPECT_EQ(list->get(), (std::vector<int>{1, 2}));
  EXPECT_EQ(map->get(1), 1);
  now_ = 1100;
  EXPECT_FALSE(value->value().has_value());
  EXPECT_EQ(list->get(), (std::vector<int>{2})) << "elements expire one by one";
  EXPECT_FALSE(map->contains(1));
  EXPECT_EQ(map->keys(), (std::vector<int>{2}));
  EXPECT_FALSE(map->is_empty());
  now_ = 1150;
  EXPECT_TRUE(list->get().empty());
  EXPECT_TRUE(map->is_empty());
  // A write restarts the clock.
  value->update(3);
  now_ = 1249;
  EXPECT_EQ(value->value(), 3);
  now_ = 1250;
  EXPECT_FALSE(value->value().has_value());
}

TEST_P(KeyedStateBackendTest, TtlOnReadAndWriteIsExtendedByReads) {
  auto backend = Make();
  const auto ttl = Ttl(100, StateTtlConfig::UpdateType::kOnReadAndWrite);
  auto value = *backend->get_state(ValueStateDescriptor<int>{"v", ttl});
  auto list = *backend->get_list_state(ListStateDescriptor<int>{"l", ttl});
  auto map = *backend->get_map_state(MapStateDescriptor<int, int>{"m", ttl});
  auto sum = *backend->get_reducing_state(ReducingStateDescriptor<int>{
      "r", [](const int& a, const int& b) { return a + b; }, ttl});
  backend->set_current_key(1);
  now_ = 1000;
  value->update(1);
  list->add(1);
  map->put(1, 1);
  sum->add(5);
  for (int64_t t : {1090, 1180, 1270}) {
    now_ = t;
    EXPECT_EQ(value->value(), 1) << t;
    EXPECT_EQ(list->get(), (std::vector<int>{1})) << t;
    EXPECT_EQ(map->get(1), 1) << t;
    EXPECT_EQ(sum->get(), 5) << t;
  }
  now_ = 1370;
  EXPECT_FALSE(value->value().has_value());
  EXPECT_TRUE(list->get().empty());
  EXPECT_FALSE(map->get(1).has_value());
  EXPECT_FALSE(sum->get().has_value());
  sum->add(2);
  EXPECT_EQ(sum->get(), 2) << "an expired accumulator starts over";
}

// One state of each kind, registered on a backend.
struct AllStates {
  explicit AllStates(KeyedStateBackend& backend)
      : value(*backend.get_state(ValueStateDescriptor<std::string>{"value"})),
        list(*backend.get_list_state(ListStateDescriptor<int64_t>{"list"})),
        map(*backend.get_map_state(MapStateDescriptor<std::string, int64_t>{"map"})),
        sum(*backend.get_reducing_state(ReducingStateDescriptor<int64_t>{
            "sum", [](const int64_t& a, const int64_t& b) { return a + b; }})),
        avg(*backend.get_aggregating_state(AggregatingStateDescriptor<Average>{"avg"})) {}
  void set_namespace(int64_t ns) {
    for (internal::StateHandleBase* h :
         std::initializer_list<internal::StateHandleBase*>{value, list, map, sum, avg}) {
      h->set_current_namespace(ns);
    }
  }
  ValueState<std::string>* value;
  ListState<int64_t>* list;
  MapState<std::string, int64_t>* map;
  ReducingState<int64_t>* sum;
  AggregatingState<Average>* avg;
};

// Fills every kind of state for `keys` keys in two namespaces.
void Fill(KeyedStateBackend& backend, int keys) {
  AllStates s(backend);
  for (int64_t k = 0; k < keys; ++k) {
    backend.set_current_key(k);
    for (int64_t ns : {0, 1}) {
      s.set_namespace(ns);
      s.value->update("v" + std::to_string(k * 10 + ns));
      for (int64_t i = 0; i <= k % 4; ++i) {
        s.list->add(k + i);
        s.map->put("k" + std::to_string(i), k * i + ns);
        s.sum->add(k + i);
        s.avg->add(k * i);
      }
    }
  }
}

// Everything a backend holds for `keys` keys in its key-group range, as text.
std::map<std::string, std::string> Dump(KeyedStateBackend& backend, int keys) {
  AllStates s(backend);
  std::map<std::string, std::string> out;
  for (int64_t k = 0; k < keys; ++k) {
    if (!backend.key_group_range().Contains(KeyGroupFor(KeyHash(k), backend.max_parallelism()))) {
      continue;
    }
    backend.set_current_key(k);
    for (int64_t ns : {0, 1}) {
      s.set_namespace(ns);
      const std::string at = std::to_string(k) + "/" + std::to_string(ns) + "/";
      if (auto v = s.value->value()) out[at + "value"] = *v;
      std::string l;
      for (int64_t e : s.list->get()) l += std::to_string(e) + ",";
      if (!l.empty()) out[at + "list"] = l;
      auto entries = s.map->entries();
      std::sort(entries.begin(), entries.end());
      std::string m;
      for (const auto& [uk, v] : entries) m += uk + "=" + std::to_string(v) + ",";
      if (!m.empty()) out[at + "map"] = m;
      if (auto sum = s.sum->get()) out[at + "sum"] = std::to_string(*sum);
      if (auto avg = s.avg->get()) out[at + "avg"] = std::to_string(*avg);
    }
  }
  return out;
}

TEST_P(KeyedStateBackendTest, HalvesOfASnapshotRestoreIntoTheOtherBackendType) {
  constexpr int kSnapshotKeys = 500;
  auto source = Make();
  Fill(*source, kSnapshotKeys);
  const std::map<std::string, std::string> want = Dump(*source, kSnapshotKeys);
  ASSERT_GT(want.size(), 4u * kSnapshotKeys);

  std::string low, high;
  ASSERT_TRUE(source->SnapshotKeyGroups({0, 63}, &low).ok());
  ASSERT_TRUE(source->SnapshotKeyGroups({64, 127}, &high).ok());

  const std::string other = testing::OtherBackend(GetParam());
  auto restored_low = Make(other, {0, 63});
  auto restored_high = Make(other, {64, 127});
  ASSERT_TRUE(restored_low->Restore(low).ok());
  ASSERT_TRUE(restored_high->Restore(high).ok());
  std::map<std::string, std::string> got = Dump(*restored_low, kSnapshotKeys);
  const std::map<std::string, std::string> got_high = Dump(*restored_high, kSnapshotKeys);
  EXPECT_FALSE(got.empty());
  EXPECT_FALSE(got_high.empty());
  got.insert(got_high.begin(), got_high.end());
  EXPECT_EQ(got, want);

  // Both halves restore into one backend of the whole range, too.
  auto whole = Make(other);
  ASSERT_TRUE(whole->Restore(low).ok());
  ASSERT_TRUE(whole->Restore(high).ok());
  EXPECT_EQ(Dump(*whole, kSnapshotKeys), want);
}

TEST_P(KeyedStateBackendTest, RestoringKeepsOnlyTheBackendsKeyGroups) {
  constexpr int kSnapshotKeys = 300;
  auto source = Make();
  Fill(*source, kSnapshotKeys);
  std::string all;
  ASSERT_TRUE(source->SnapshotKeyGroups({0, 127}, &all).ok());

  auto subset = Make(testing::OtherBackend(GetParam()), {32, 47});
  ASSERT_TRUE(subset->Restore(all).ok());
  const auto got = Dump(*subset, kSnapshotKeys);
  std::map<std::string, std::string> want;
  for (const auto& [at, v] : Dump(*source, kSnapshotKeys)) {
    const int64_t k = std::stoll(at.substr(0, at.find('/')));
    if (KeyGroupRange{32, 47}.Contains(KeyGroupFor(KeyHash(k), 128))) want[at] = v;
  }
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(got, want);

  // Its own snapshot holds exactly those key groups: restoring it elsewhere gives the same.
  std::string again;
  ASSERT_TRUE(subset->SnapshotKeyGroups({0, 127}, &again).ok());
  auto copy = Make(KeyGroupRange{0, 127});
  ASSERT_TRUE(copy->Restore(again).ok());
  EXPECT_EQ(Dump(*copy, kSnapshotKeys), want);
}

TEST_P(KeyedStateBackendTest, RestoreChecksKindTtlAndMalformedBytes) {
  auto source = Make();
  auto v = *source->get_state(ValueStateDescriptor<int>{"s"});
  source->set_current_key(1);
  v->update(1);
  std::string snapshot;
  ASSERT_TRUE(source->SnapshotKeyGroups({0, 127}, &snapshot).ok());

  auto as_list = Make();
  ASSERT_TRUE(as_list->get_list_state(ListStateDescriptor<int>{"s"}).ok());
  const absl::Status kind = as_list->Restore(snapshot);
  EXPECT_FALSE(kind.ok());
  EXPECT_NE(kind.message().find("'s'"), std::string::npos) << kind;

  auto restored = Make();
  ASSERT_TRUE(restored->Restore(snapshot).ok());
  auto with_ttl = restored->get_state(ValueStateDescriptor<int>{
      "s", Ttl(10, StateTtlConfig::UpdateType::kOnCreateAndWrite)});
  EXPECT_FALSE(with_ttl.ok()) << "stored bytes without TTL timestamps cannot gain TTL";
  auto same = restored->get_state(ValueStateDescriptor<int>{"s"});
  ASSERT_TRUE(same.ok());
  restored->set_current_key(1);
  EXPECT_EQ((*same)->value(), 1);

  EXPECT_FALSE(restored->Restore(snapshot.substr(0, snapshot.size() - 3)).ok());
  EXPECT_FALSE(restored->Restore("not a snapshot").ok());
}

TEST_P(KeyedStateBackendTest, RestoreIntoRegisteredStatesMergesWithWhatIsThere) {
  constexpr int kSnapshotKeys = 200;
  auto source = Make();
  Fill(*source, kSnapshotKeys);
  const std::map<std::string, std::string> want = Dump(*source, kSnapshotKeys);
  std::string snapshot;
  ASSERT_TRUE(source->SnapshotKeyGroups({0, 127}, &snapshot).ok());

  // The states are registered (and written) before the restore: restored entries replace
  // the ones of the same key and namespace and land next to the others.
  auto target = Make(testing::OtherBackend(GetParam()));
  AllStates s(*target);
  target->set_current_key(int64_t{0});
  s.set_namespace(0);
  s.value->update("overwritten");
  target->set_current_key(int64_t{kSnapshotKeys});
  s.value->update("kept");
  ASSERT_TRUE(target->Restore(snapshot).ok());
  std::map<std::string, std::string> got = Dump(*target, kSnapshotKeys + 1);
  EXPECT_EQ(got.erase(std::to_string(kSnapshotKeys) + "/0/value"), 1u);
  EXPECT_EQ(got, want);
}

TEST_P(KeyedStateBackendTest, ForEachValueVisitsTheKeysOfOneNamespace) {
  auto backend = Make();
  auto* sum = *backend->get_reducing_state(ReducingStateDescriptor<int64_t>{
      "sum", [](const int64_t& a, const int64_t& b) { return a + b; }});
  std::map<int64_t, int64_t> want_ns0, want_ns1;
  for (int64_t k = 0; k < 300; ++k) {
    backend->set_current_key(k);
    sum->set_current_namespace(int64_t{0});
    sum->add(k);
    sum->add(1);
    want_ns0[k] = k + 1;
    if (k % 3 == 0) {
      sum->set_current_namespace(int64_t{1});
      sum->add(-k);
      want_ns1[k] = -k;
    }
  }
  backend->set_current_key(int64_t{7});
  sum->set_current_namespace(int64_t{0});
  sum->clear();
  want_ns0.erase(7);

  std::map<int64_t, int64_t> got;
  ASSERT_TRUE((backend->for_each_value<int64_t, int64_t>(
                   "sum", [&](const int64_t& k, const int64_t& v) { got[k] = v; }, int64_t{0}))
                  .ok());
  EXPECT_EQ(got, want_ns0);
  auto keys = backend->get_keys<int64_t, int64_t>("sum", int64_t{1});
  ASSERT_TRUE(keys.ok()) << keys.status();
  std::sort(keys->begin(), keys->end());
  std::vector<int64_t> want_keys;
  for (const auto& [k, v] : want_ns1) want_keys.push_back(k);
  EXPECT_EQ(*keys, want_keys);

  EXPECT_FALSE((backend->get_keys<int64_t, int64_t>("nope")).ok());
  ASSERT_TRUE(backend->get_list_state(ListStateDescriptor<int64_t>{"list"}).ok());
  EXPECT_FALSE((backend->get_keys<int64_t, int64_t>("list")).ok());
}

TEST_P(KeyedStateBackendTest, ForEachValueLeavesExpiredValuesOut) {
  auto backend = Make();
  auto* v = *backend->get_state(ValueStateDescriptor<int64_t>{
      "v", Ttl(100, StateTtlConfig::UpdateType::kOnCreateAndWrite)});
  backend->set_current_key(int64_t{1});
  v->update(10);
  now_ += 60;
  backend->set_current_key(int64_t{2});
  v->update(20);
  now_ += 60;  // key 1 expired, key 2 not
  std::map<int64_t, int64_t> got;
  ASSERT_TRUE((backend->for_each_value<int64_t, int64_t>(
                   "v", [&](const int64_t& k, const int64_t& value) { got[k] = value; }))
                  .ok());
  EXPECT_EQ(got, (std::map<int64_t, int64_t>{{2, 20}}));
}

// A checkpoint's snapshot is the state at the call, though it is written later on another
// thread while the task goes on changing every kind of state and the timers (the heap holds
// key groups copy-on-write, RocksDB a DB snapshot). Fails if a write reaches a held key group.
TEST_P(KeyedStateBackendTest, DeferredSnapshotIsTheStateAtTheCallWhileTheTaskGoesOn) {
  constexpr int kFilled = 400;
  constexpr int kAdded = 200;
  auto backend = Make();
  Fill(*backend, kFilled);
  InternalTimerService* timers = backend->timer_service("t");
  for (int64_t k = 0; k < kFilled; ++k) {
    backend->set_current_key(k);
    timers->Register(TimeDomain::kEventTime, "", 100 + k % 50);
    timers->Register(TimeDomain::kProcessingTime, "", 1000 + k);
  }
  std::string expected;
  ASSERT_TRUE(backend->SnapshotKeyGroups({0, 127}, &expected).ok());
  const std::map<std::string, std::string> before = Dump(*backend, kFilled + kAdded);

  absl::StatusOr<KeyedStateBackend::DeferredSnapshot> writer =
      backend->SnapshotKeyGroupsDeferred({0, 127});
  ASSERT_TRUE(writer.ok()) << writer.status();
  // The writer runs on another thread while this one changes everything.
  std::string written;
  absl::Status write_status;
  std::thread snapshot_thread([&] { write_status = (*writer)(&written); });
  AllStates s(*backend);
  for (int64_t k = 0; k < kFilled + kAdded; ++k) {
    backend->set_current_key(k);
    for (int64_t ns : {0, 1}) {
      s.set_namespace(ns);
      if (k % 7 == 0) {
        s.value->clear();
        s.list->clear();
        s.map->clear();
        s.sum->clear();
        s.avg->clear();
        continue;
      }
      s.value->update("changed" + std::to_string(k));
      s.list->add(-k);
      s.map->put("new", -k);
      s.map->remove("k0");
      s.sum->add(1000);
      s.avg->add(-1);
    }
    timers->Delete(TimeDomain::kEventTime, "", 100 + k % 50);
    timers->Register(TimeDomain::kEventTime, "", 5000 + k);
  }
  size_t fired = 0;
  timers->advance_processing_time(1000 + kFilled / 2, [&](const InternalTimer&) { ++fired; });
  EXPECT_GT(fired, 0u);
  const std::map<std::string, std::string> after = Dump(*backend, kFilled + kAdded);
  snapshot_thread.join();
  ASSERT_TRUE(write_status.ok()) << write_status;
  EXPECT_EQ(written, expected) << "the snapshot saw writes made after it was taken";
  EXPECT_NE(after, before);
  EXPECT_EQ(Dump(*backend, kFilled + kAdded), after) << "writing the snapshot changed the state";

  // What it wrote restores to the state at the call, timers included.
  auto restored = Make(testing::OtherBackend(GetParam()));
  ASSERT_TRUE(restored->Restore(written).ok());
  EXPECT_EQ(Dump(*restored, kFilled + kAdded), before);
  InternalTimerService* restored_timers = restored->timer_service("t");
  EXPECT_EQ(restored_timers->num_timers(TimeDomain::kEventTime), static_cast<size_t>(kFilled));
  EXPECT_EQ(restored_timers->num_timers(TimeDomain::kProcessingTime), static_cast<size_t>(kFilled));
  EXPECT_EQ(restored_timers->next_timer_time(TimeDomain::kEventTime), 100);
  EXPECT_EQ(timers->next_timer_time(TimeDomain::kEventTime), 5000);
}

// A snapshot's writer may outlive the backend: what it holds stays readable after Dispose().
TEST_P(KeyedStateBackendTest, DeferredSnapshotOutlivesTheBackendThatTookIt) {
  if (std::string(GetParam()) != "hashmap") GTEST_SKIP() << "RocksDB's writer runs before Dispose()";
  auto backend = Make();
  Fill(*backend, 100);
  std::string expected;
  ASSERT_TRUE(backend->SnapshotKeyGroups({0, 127}, &expected).ok());
  auto writer = backend->SnapshotKeyGroupsDeferred({0, 127});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(backend->Dispose().ok());
  backend.reset();
  std::string written;
  ASSERT_TRUE((*writer)(&written).ok());
  EXPECT_EQ(written, expected);
}

INSTANTIATE_TEST_SUITE_P(Backends, KeyedStateBackendTest, ::testing::ValuesIn(testing::kBackendTypes),
                         testing::BackendName);

}  // namespace
}  // namespace eddy::state
