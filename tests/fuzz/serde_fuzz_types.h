// The record types serde_fuzz decodes, shared with the seed corpus generator
// (make_fuzz_corpus.cc): user-style EDDY_FIELDS structs and the list of cases.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "api/serde.h"
#include "api/state.h"
#include "api/windows/assigners.h"
#include "common/ids.h"
#include "common/proto/checkpoint.pb.h"
#include "common/proto/job.pb.h"
#include "connectors/datagen/nexmark/model.h"

namespace fuzz::model {

enum class Side : uint8_t { kBuy = 1, kSell = 2 };
enum class Wide : int32_t { kLow = -5, kHigh = 1 << 20 };

struct Leg {
  std::string venue;
  int64_t quantity = 0;
  double price = 0;
};
EDDY_FIELDS(Leg, venue, quantity, price);

// A record as users write them: every kind of field.
struct Trade {
  uint64_t id = 0;
  Side side = Side::kBuy;
  Wide wide = Wide::kLow;
  std::string symbol;
  std::vector<Leg> legs;
  std::optional<Leg> hedge;
  std::map<std::string, int32_t> tags;
  std::chrono::milliseconds latency{0};
  eddy::Timestamp ts;
  std::array<int16_t, 2> pair{};
  std::tuple<bool, char, uint8_t, float> flags;
};
EDDY_FIELDS(Trade, id, side, wide, symbol, legs, hedge, tags, latency, ts, pair, flags);

// Recursive: only ByteReader's nesting limit bounds how deep decoding goes.
struct Node {
  int32_t value = 0;
  std::vector<Node> children;
};
EDDY_FIELDS(Node, value, children);

// Protobuf messages inside a record.
struct WithProto {
  eddy::checkpoint::CheckpointOptions options;
  std::vector<eddy::job::OperatorDef> operators;
  std::string note;
};
EDDY_FIELDS(WithProto, options, operators, note);

}  // namespace fuzz::model

namespace fuzz {

// Unordered containers and protobuf maps encode in iteration order, so two equal values may
// encode differently: for types holding them only decoding is checked, not equal encodings.
enum class Order { kDeterministic, kAnyOrder };

template <typename T, Order kOrder = Order::kDeterministic>
struct Case {
  using type = T;
  static constexpr Order order = kOrder;
};

// The types serde_fuzz decodes: input byte 0 picks one (modulo their number). Append new
// ones at the end, so that the seed corpus keeps its meaning.
using Cases = std::tuple<
    // Strings and scalars.
    Case<std::string>,
    Case<std::tuple<int8_t, uint64_t, std::string, bool, int64_t, uint32_t, int16_t>>,
    Case<std::pair<double, std::optional<float>>>,
    // Sequences (bulk-copied, bit-packed, element by element) and zero-size elements.
    Case<std::vector<int32_t>>,
    Case<std::vector<uint8_t>>,
    Case<std::vector<double>>,
    Case<std::vector<bool>>,
    Case<std::vector<std::string>>,
    Case<std::vector<std::vector<int64_t>>>,
    Case<std::vector<std::tuple<>>>,
    Case<std::array<uint32_t, 3>>,
    // Optionals.
    Case<std::optional<std::string>>,
    Case<std::optional<std::vector<int64_t>>>,
    Case<std::vector<std::optional<std::pair<std::string, std::vector<double>>>>>,
    // Maps and sets, ordered (strictly ascending keys) and unordered (no duplicates).
    Case<std::map<std::string, int64_t>>,
    Case<std::map<int32_t, std::vector<std::string>>>,
    Case<std::set<int64_t>>,
    Case<std::unordered_map<std::string, uint16_t>, Order::kAnyOrder>,
    Case<std::unordered_set<std::string>, Order::kAnyOrder>,
    Case<std::unordered_map<int64_t, std::optional<std::string>>, Order::kAnyOrder>,
    // EDDY_FIELDS structs, a recursive one, and the engine's own record types.
    Case<model::Trade>,
    Case<model::Node>,
    Case<eddy::TimeWindow>,
    Case<std::map<eddy::TimeWindow, std::vector<std::string>>>,
    Case<std::vector<eddy::GlobalWindow>>,
    Case<std::tuple<eddy::VoidNamespace, eddy::KeyGroup, eddy::Timestamp>>,
    Case<eddy::connectors::nexmark::Event>,
    Case<std::vector<eddy::connectors::nexmark::Event>>,
    // Protobuf messages.
    Case<eddy::checkpoint::CheckpointOptions, Order::kAnyOrder>,
    Case<eddy::job::JobGraph, Order::kAnyOrder>,
    Case<model::WithProto, Order::kAnyOrder>>;

inline constexpr size_t kNumCases = std::tuple_size_v<Cases>;

}  // namespace fuzz
