#include "api/serde.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "common/proto/rpc.pb.h"

// Record types as users write them: in their own namespaces, EDDY_FIELDS right after the struct.
namespace trading::model {

enum class Side : uint8_t { kBuy = 1, kSell = 2 };

struct Leg {
  std::string venue;
  int64_t quantity = 0;
  double price = 0;
  bool operator==(const Leg&) const = default;
};
EDDY_FIELDS(Leg, venue, quantity, price);

struct Trade {
  uint64_t id = 0;
  Side side = Side::kBuy;
  std::string symbol;
  std::vector<Leg> legs;
  std::optional<Leg> hedge;
  std::map<std::string, int32_t> tags;
  std::chrono::milliseconds latency{0};
  eddy::Timestamp ts;
  bool operator==(const Trade&) const = default;
};
EDDY_FIELDS(Trade, id, side, symbol, legs, hedge, tags, latency, ts);

// A recursive type: only the nesting limit bounds how deep its decoding recurses.
struct Node {
  int32_t value = 0;
  std::vector<Node> children;
  bool operator==(const Node&) const = default;
};
EDDY_FIELDS(Node, value, children);

struct Tagged {
  eddy::rpc::Hello hello;
  std::vector<eddy::rpc::Hello> more;
  std::string note;
};
EDDY_FIELDS(Tagged, hello, more, note);

struct Base {
  int32_t a = 0;
  bool operator==(const Base&) const = default;
};
EDDY_FIELDS(Base, a);
struct DerivedWithoutFields : Base {
  int32_t b = 0;
};
struct DerivedWithFields : Base {
  int32_t b = 0;
  bool operator==(const DerivedWithFields&) const = default;
};
EDDY_FIELDS(DerivedWithFields, a, b);

}  // namespace trading::model

namespace wide::deeply::nested {
struct Wide {
  int8_t f01 = 0;
  uint8_t f02 = 0;
  int16_t f03 = 0;
  uint16_t f04 = 0;
  int32_t f05 = 0;
  uint32_t f06 = 0;
  int64_t f07 = 0;
  uint64_t f08 = 0;
  float f09 = 0;
  double f10 = 0;
  char f11 = 0;
  bool f12 = false;
  std::string f13;
  std::vector<int32_t> f14;
  std::optional<std::string> f15;
  std::pair<int32_t, std::string> f16;
  std::tuple<bool, double, std::string> f17;
  std::array<uint16_t, 3> f18{};
  std::set<std::string> f19;
  std::unordered_map<std::string, trading::model::Leg> f20;
  bool operator==(const Wide&) const = default;
};
EDDY_FIELDS(Wide, f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11, f12, f13, f14, f15,
            f16, f17, f18, f19, f20);
}  // namespace wide::deeply::nested

struct GlobalPoint {
  int32_t x = 0;
  int32_t y = 0;
  bool operator==(const GlobalPoint&) const = default;
};
EDDY_FIELDS(GlobalPoint, x, y);

namespace {

using ::testing::HasSubstr;
using trading::model::Leg;
using trading::model::Node;
using trading::model::Side;
using trading::model::Trade;
using wide::deeply::nested::Wide;

template <typename T>
T RoundTrip(const T& value) {
  const std::string bytes = eddy::Serialize(value);
  T decoded{};
  const absl::Status status = eddy::Deserialize(bytes, &decoded);
  EXPECT_TRUE(status.ok()) << status;
  return decoded;
}

template <typename T>
std::string DeserializeError(std::string_view bytes) {
  T value{};
  const absl::Status status = eddy::Deserialize(bytes, &value);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

std::string Varint(uint64_t value) {
  std::string out;
  eddy::PutVarint64(&out, value);
  return out;
}

Trade SampleTrade() {
  Trade trade;
  trade.id = 1234567890123ULL;
  trade.side = Side::kSell;
  trade.symbol = "ACME";
  trade.legs = {{"XNAS", -300, 101.25}, {"", 0, 0.0}, {"XLON", std::numeric_limits<int64_t>::min(), -1e300}};
  trade.hedge = Leg{"XETR", 42, 99.5};
  trade.tags = {{"desk", 7}, {"book", -1}};
  trade.latency = std::chrono::milliseconds(-15);
  trade.ts = eddy::Timestamp(1700000000000);
  return trade;
}

Node Tree(int depth, int fanout) {
  Node node{depth, {}};
  if (depth > 0) {
    for (int i = 0; i < fanout; ++i) node.children.push_back(Tree(depth - 1, fanout));
  }
  return node;
}

// -- Primitives and the wire format ----------------------------------------------------------

TEST(SerdeTest, VarintsUseProtobufEncoding) {
  EXPECT_EQ(Varint(0), std::string(1, '\0'));
  EXPECT_EQ(Varint(127), "\x7f");
  EXPECT_EQ(Varint(128), "\x80\x01");
  EXPECT_EQ(Varint(300), "\xac\x02");
  EXPECT_EQ(Varint(UINT64_MAX), "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
  for (uint64_t value : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{16383},
                         uint64_t{16384}, uint64_t{1} << 35, UINT64_MAX - 1, UINT64_MAX}) {
    const std::string bytes = Varint(value);
    eddy::ByteReader in(bytes);
    uint64_t decoded = 0;
    ASSERT_TRUE(in.GetVarint64(&decoded)) << value;
    EXPECT_EQ(decoded, value);
    EXPECT_TRUE(in.empty());
  }
}

TEST(SerdeTest, ByteReaderChecksBoundsAndNamesTheOffset) {
  const std::string bytes = std::string("\x01\x02\x03\x04\x05", 5);
  eddy::ByteReader in(bytes);
  uint32_t fixed32 = 0;
  ASSERT_TRUE(in.GetFixed32(&fixed32));
  EXPECT_EQ(fixed32, 0x04030201u);
  uint64_t fixed64 = 0;
  EXPECT_FALSE(in.GetFixed64(&fixed64));
  EXPECT_EQ(in.offset(), 4u);  // a failed read consumes nothing
  EXPECT_THAT(in.error(), HasSubstr("at byte offset 4"));
  std::string_view view;
  EXPECT_FALSE(in.GetBytes(2, &view));
  EXPECT_THAT(in.error(), HasSubstr("fixed64"));  // the first error wins
  ASSERT_TRUE(in.GetBytes(1, &view));
  EXPECT_EQ(view, "\x05");
  EXPECT_TRUE(in.empty());
}

TEST(SerdeTest, MalformedVarintsAreRejected) {
  EXPECT_THAT(DeserializeError<uint64_t>("\x80"), HasSubstr("truncated varint at byte offset 0"));
  EXPECT_THAT(DeserializeError<uint64_t>(std::string(10, '\xff')),
              HasSubstr("varint longer than 64 bits"));
  EXPECT_THAT(DeserializeError<uint64_t>("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"),
              HasSubstr("varint longer than 64 bits"));
  EXPECT_THAT(DeserializeError<int64_t>(""), HasSubstr("from 0 bytes"));
}

template <typename T>
void ExpectIntegerRoundTrips() {
  using Limits = std::numeric_limits<T>;
  for (T value : {Limits::min(), Limits::max(), T{0}, T{1}, static_cast<T>(Limits::max() / 2),
                  static_cast<T>(Limits::min() / 2), static_cast<T>(Limits::min() + 1)}) {
    EXPECT_EQ(RoundTrip(value), value) << eddy::TypeName<T>() << " " << +value;
  }
}

TEST(SerdeTest, IntegersRoundTripAtTheirLimits) {
  ExpectIntegerRoundTrips<char>();
  ExpectIntegerRoundTrips<signed char>();
  ExpectIntegerRoundTrips<unsigned char>();
  ExpectIntegerRoundTrips<int16_t>();
  ExpectIntegerRoundTrips<uint16_t>();
  ExpectIntegerRoundTrips<int32_t>();
  ExpectIntegerRoundTrips<uint32_t>();
  ExpectIntegerRoundTrips<int64_t>();
  ExpectIntegerRoundTrips<uint64_t>();
  ExpectIntegerRoundTrips<long long>();
  ExpectIntegerRoundTrips<unsigned long long>();
  ExpectIntegerRoundTrips<wchar_t>();
  ExpectIntegerRoundTrips<char16_t>();
  ExpectIntegerRoundTrips<char32_t>();
  EXPECT_EQ(RoundTrip(true), true);
  EXPECT_EQ(RoundTrip(false), false);
}

TEST(SerdeTest, IntegerEncodingsAreCompact) {
  EXPECT_EQ(eddy::Serialize(int32_t{0}), std::string(1, '\0'));
  EXPECT_EQ(eddy::Serialize(int32_t{-1}), "\x01");  // zigzag
  EXPECT_EQ(eddy::Serialize(int64_t{1}), "\x02");
  EXPECT_EQ(eddy::Serialize(int64_t{-64}), "\x7f");
  EXPECT_EQ(eddy::Serialize(std::numeric_limits<int64_t>::min()).size(), 10u);
  EXPECT_EQ(eddy::Serialize(std::numeric_limits<int64_t>::max()).size(), 10u);
  EXPECT_EQ(eddy::Serialize(uint8_t{200}), "\xc8");  // one raw byte, not a varint
  EXPECT_EQ(eddy::Serialize(char{'x'}), "x");
  EXPECT_EQ(eddy::Serialize(true), "\x01");
}

TEST(SerdeTest, NarrowIntegersRejectOutOfRangeValues) {
  const std::string big = eddy::Serialize(int64_t{1} << 40);
  EXPECT_THAT(DeserializeError<int32_t>(big), HasSubstr("out of range"));
  EXPECT_THAT(DeserializeError<int16_t>(eddy::Serialize(int64_t{-40000})),
              HasSubstr("out of range for its signed integer type at byte offset 0"));
  EXPECT_THAT(DeserializeError<uint16_t>(eddy::Serialize(uint64_t{65536})),
              HasSubstr("out of range"));
  int16_t fits = 0;
  EXPECT_TRUE(eddy::Deserialize(eddy::Serialize(int64_t{-32768}), &fits).ok());
  EXPECT_EQ(fits, -32768);
}

TEST(SerdeTest, BoolsAndOptionalTagsMustBeZeroOrOne) {
  EXPECT_THAT(DeserializeError<bool>("\x02"), HasSubstr("invalid bool"));
  EXPECT_THAT(DeserializeError<std::optional<int32_t>>("\x02\x00"), HasSubstr("invalid optional tag"));
}

TEST(SerdeTest, FloatsKeepTheirBitPatterns) {
  EXPECT_EQ(eddy::Serialize(1.0), std::string("\0\0\0\0\0\0\xf0\x3f", 8));  // little-endian
  EXPECT_EQ(eddy::Serialize(1.0f), std::string("\0\0\x80\x3f", 4));
  for (uint64_t bits : {uint64_t{0x7ff8000000000000}, uint64_t{0x7ff8000000000123},
                        uint64_t{0xfff0000000000001}, uint64_t{0x8000000000000000},
                        uint64_t{0x0000000000000001}, uint64_t{0x7ff0000000000000},
                        std::bit_cast<uint64_t>(std::numeric_limits<double>::lowest())}) {
    const double decoded = RoundTrip(std::bit_cast<double>(bits));
    EXPECT_EQ(std::bit_cast<uint64_t>(decoded), bits) << std::hex << bits;
  }
  for (uint32_t bits : {0x7fc00000u, 0x7fc00abcu, 0x80000000u, 0x00000001u, 0xff800000u}) {
    const float decoded = RoundTrip(std::bit_cast<float>(bits));
    EXPECT_EQ(std::bit_cast<uint32_t>(decoded), bits) << std::hex << bits;
  }
  EXPECT_TRUE(std::isnan(RoundTrip(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_THAT(DeserializeError<double>("\x01\x02\x03"), HasSubstr("fixed64"));
}

TEST(SerdeTest, StringsRoundTrip) {
  EXPECT_EQ(RoundTrip(std::string()), "");
  EXPECT_EQ(eddy::Serialize(std::string()), std::string(1, '\0'));
  EXPECT_EQ(eddy::Serialize(std::string("hi")), "\x02hi");
  const std::string binary("\0\xff\x80zero\0", 8);
  EXPECT_EQ(RoundTrip(binary), binary);
  std::string huge(16 << 20, 'x');
  for (size_t i = 0; i < huge.size(); i += 4099) huge[i] = static_cast<char>(i);
  EXPECT_EQ(RoundTrip(huge), huge);
  EXPECT_EQ(eddy::Serialize(huge).size(), huge.size() + 4);  // 16 MiB needs a 4-byte varint
}

TEST(SerdeTest, ReadingAStringReusesItsCapacity) {
  std::string target;
  target.reserve(256);
  const char* buffer = target.data();
  ASSERT_TRUE(eddy::Deserialize(eddy::Serialize(std::string(100, 'a')), &target).ok());
  EXPECT_EQ(target, std::string(100, 'a'));
  EXPECT_EQ(target.data(), buffer);

  std::vector<std::string> strings = {std::string(200, 'b'), std::string(200, 'c')};
  const char* first = strings[0].data();
  ASSERT_TRUE(eddy::Deserialize(eddy::Serialize(std::vector<std::string>{"x", "y"}), &strings).ok());
  EXPECT_EQ(strings, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(strings[0].data(), first);
}

TEST(SerdeTest, PairsTuplesAndArraysRoundTrip) {
  const std::pair<int32_t, std::string> pair{-5, "five"};
  EXPECT_EQ(RoundTrip(pair), pair);
  const std::tuple<bool, int8_t, uint64_t, float, std::string, std::pair<char, double>> tuple{
      true, int8_t{-128}, UINT64_MAX, 2.5f, "t", {'c', -0.5}};
  EXPECT_EQ(RoundTrip(tuple), tuple);
  EXPECT_EQ(RoundTrip(std::tuple<>()), std::tuple<>());
  EXPECT_EQ(eddy::Serialize(std::tuple<>()), "");
  const std::array<std::string, 3> array{"a", "", "c"};
  EXPECT_EQ(RoundTrip(array), array);
  // Elements follow each other without framing.
  EXPECT_EQ(eddy::Serialize(std::pair<int32_t, std::string>{1, "x"}), "\x02\x01x");
}

TEST(SerdeTest, VectorsRoundTrip) {
  EXPECT_EQ(RoundTrip(std::vector<int64_t>{}), std::vector<int64_t>{});
  const std::vector<int64_t> ints = {0, -1, 1, INT64_MIN, INT64_MAX};
  EXPECT_EQ(RoundTrip(ints), ints);
  const std::vector<bool> bools = {true, false, true, true};
  EXPECT_EQ(RoundTrip(bools), bools);
  const std::vector<uint8_t> bytes = {0, 1, 255, 128};
  EXPECT_EQ(RoundTrip(bytes), bytes);
  EXPECT_EQ(eddy::Serialize(bytes), std::string("\x04\x00\x01\xff\x80", 5));
  const std::vector<double> doubles = {1.5, -0.0, 1e-310};
  EXPECT_EQ(RoundTrip(doubles), doubles);
  EXPECT_EQ(eddy::Serialize(doubles), std::string("\x03") + eddy::Serialize(1.5) +
                                           eddy::Serialize(-0.0) + eddy::Serialize(1e-310));
  const std::vector<std::vector<std::string>> nested = {{}, {"a", ""}, {"bc"}};
  EXPECT_EQ(RoundTrip(nested), nested);
  const std::vector<std::tuple<>> empties(1000);
  EXPECT_EQ(RoundTrip(empties), empties);
  // Reading into a longer vector shrinks it.
  std::vector<int32_t> target = {9, 9, 9, 9};
  ASSERT_TRUE(eddy::Deserialize(eddy::Serialize(std::vector<int32_t>{1}), &target).ok());
  EXPECT_EQ(target, std::vector<int32_t>{1});
}

TEST(SerdeTest, OptionalsRoundTrip) {
  EXPECT_EQ(RoundTrip(std::optional<int32_t>()), std::nullopt);
  EXPECT_EQ(RoundTrip(std::optional<int32_t>(0)), 0);
  EXPECT_EQ(RoundTrip(std::optional<std::string>("")), std::optional<std::string>(""));
  const std::optional<std::vector<std::optional<std::string>>> nested =
      std::vector<std::optional<std::string>>{std::nullopt, "x", ""};
  EXPECT_EQ(RoundTrip(nested), nested);
  std::optional<std::string> target = "previous";
  ASSERT_TRUE(eddy::Deserialize(eddy::Serialize(std::optional<std::string>()), &target).ok());
  EXPECT_EQ(target, std::nullopt);
}

TEST(SerdeTest, MapsAndSetsRoundTrip) {
  const std::map<std::string, std::vector<int32_t>> map = {{"a", {1, 2}}, {"b", {}}, {"", {3}}};
  EXPECT_EQ(RoundTrip(map), map);
  std::unordered_map<int64_t, std::string> unordered;
  for (int i = 0; i < 100; ++i) unordered[i * 7919 - 300] = std::to_string(i);
  EXPECT_EQ(RoundTrip(unordered), unordered);
  const std::set<int32_t> set = {-3, 0, 9};
  EXPECT_EQ(RoundTrip(set), set);
  const std::unordered_set<std::string> unordered_set = {"x", "y", ""};
  EXPECT_EQ(RoundTrip(unordered_set), unordered_set);
  std::map<int32_t, int32_t> target = {{100, 100}};
  ASSERT_TRUE(eddy::Deserialize(eddy::Serialize(std::map<int32_t, int32_t>{{1, 2}}), &target).ok());
  EXPECT_EQ(target, (std::map<int32_t, int32_t>{{1, 2}}));
}

TEST(SerdeTest, MapsRejectDuplicateAndUnorderedKeys) {
  // count 2, then key 1 -> 10 twice.
  const std::string duplicate = "\x02\x02\x14\x02\x14";
  EXPECT_THAT((DeserializeError<std::unordered_map<int32_t, int32_t>>(duplicate)),
              HasSubstr("duplicate map key at byte offset 3"));
  EXPECT_THAT((DeserializeError<std::map<int32_t, int32_t>>(duplicate)),
              HasSubstr("not in strictly ascending order at byte offset 3"));
  const std::string descending = "\x02\x04\x14\x02\x14";
  EXPECT_THAT((DeserializeError<std::map<int32_t, int32_t>>(descending)), HasSubstr("ascending"));
  EXPECT_THAT(DeserializeError<std::set<int32_t>>("\x02\x04\x02"), HasSubstr("ascending"));
  EXPECT_THAT(DeserializeError<std::unordered_set<int32_t>>("\x02\x04\x04"), HasSubstr("duplicate"));
}

TEST(SerdeTest, EnumsDurationsAndStrongIdsRoundTrip) {
  EXPECT_EQ(RoundTrip(Side::kSell), Side::kSell);
  EXPECT_EQ(eddy::Serialize(Side::kSell), "\x02");
  enum class Wide64 : int64_t { kLow = INT64_MIN };
  EXPECT_EQ(RoundTrip(Wide64::kLow), Wide64::kLow);
  EXPECT_EQ(RoundTrip(std::chrono::nanoseconds(-123456789)), std::chrono::nanoseconds(-123456789));
  EXPECT_EQ(RoundTrip(std::chrono::duration<double>(1.5)), std::chrono::duration<double>(1.5));
  EXPECT_EQ(RoundTrip(eddy::KeyGroup(127)), eddy::KeyGroup(127));
  EXPECT_EQ(RoundTrip(eddy::JobId("0123abcd")), eddy::JobId("0123abcd"));
}

// -- Protobuf messages ------------------------------------------------------------------------

TEST(SerdeTest, ProtobufMessagesRoundTripLengthPrefixed) {
  eddy::rpc::Hello hello;
  hello.set_protocol_version(3);
  hello.set_peer_name("taskmanager-1");
  hello.set_eddy_version("0.1.0");
  const std::string bytes = eddy::Serialize(hello);
  EXPECT_EQ(bytes, Varint(hello.ByteSizeLong()) + hello.SerializeAsString());
  eddy::rpc::Hello decoded;
  decoded.set_eddy_version("stale field that must be cleared");
  decoded.clear_eddy_version();
  decoded.set_peer_name("stale");
  ASSERT_TRUE(eddy::Deserialize(bytes, &decoded).ok());
  EXPECT_EQ(decoded.SerializeAsString(), hello.SerializeAsString());
  EXPECT_EQ(decoded.peer_name(), "taskmanager-1");

  const eddy::rpc::Hello empty;
  EXPECT_EQ(eddy::Serialize(empty), std::string(1, '\0'));
  ASSERT_TRUE(eddy::Deserialize(eddy::Serialize(empty), &decoded).ok());
  EXPECT_EQ(decoded.peer_name(), "");

  trading::model::Tagged tagged;
  tagged.hello = hello;
  tagged.more.resize(2);
  tagged.more[1].set_peer_name("jobmanager");
  tagged.note = "n";
  const trading::model::Tagged round = RoundTrip(tagged);
  EXPECT_EQ(round.hello.SerializeAsString(), hello.SerializeAsString());
  ASSERT_EQ(round.more.size(), 2u);
  EXPECT_EQ(round.more[1].peer_name(), "jobmanager");
  EXPECT_EQ(round.note, "n");
}

TEST(SerdeTest, InvalidProtobufBytesAreAnError) {
  // Length 2, then field 2 (peer_name, wire type 2) claiming 100 bytes.
  EXPECT_THAT(DeserializeError<eddy::rpc::Hello>("\x02\x12\x64"),
              HasSubstr("invalid protobuf message eddy.rpc.Hello at byte offset 0"));
  EXPECT_THAT(DeserializeError<eddy::rpc::Hello>("\x05\x08"), HasSubstr("does not fit"));
}

// -- EDDY_FIELDS structs ----------------------------------------------------------------------

TEST(SerdeTest, FieldStructsRoundTripWithNesting) {
  const Trade trade = SampleTrade();
  EXPECT_EQ(RoundTrip(trade), trade);
  EXPECT_EQ(RoundTrip(Trade{}), Trade{});
  const std::vector<Trade> trades = {trade, Trade{}, trade};
  EXPECT_EQ(RoundTrip(trades), trades);
  const std::optional<Trade> maybe = trade;
  EXPECT_EQ(RoundTrip(maybe), maybe);
  const std::map<std::string, std::optional<Leg>> legs = {{"a", std::nullopt}, {"b", Leg{"v", 1, 2}}};
  EXPECT_EQ(RoundTrip(legs), legs);
  EXPECT_EQ(RoundTrip(GlobalPoint{-1, 2}), (GlobalPoint{-1, 2}));
}

TEST(SerdeTest, FieldStructsEncodeAsTheirFieldsInOrder) {
  const Leg leg{"XNAS", -3, 1.25};
  EXPECT_EQ(eddy::Serialize(leg), eddy::Serialize(std::make_tuple(leg.venue, leg.quantity, leg.price)));
  EXPECT_EQ(eddy::Serialize(GlobalPoint{1, -1}), "\x02\x01");
}

TEST(SerdeTest, StructsWithTwentyFieldsRoundTrip) {
  Wide wide;
  wide.f01 = -1;
  wide.f02 = 255;
  wide.f03 = -32768;
  wide.f04 = 65535;
  wide.f05 = INT32_MIN;
  wide.f06 = UINT32_MAX;
  wide.f07 = INT64_MIN;
  wide.f08 = UINT64_MAX;
  wide.f09 = -1.5f;
  wide.f10 = 1e308;
  wide.f11 = '\xff';
  wide.f12 = true;
  wide.f13 = "thirteen";
  wide.f14 = {1, -2, 3};
  wide.f15 = "";
  wide.f16 = {16, "sixteen"};
  wide.f17 = {true, 17.5, "seventeen"};
  wide.f18 = {1, 8, 65535};
  wide.f19 = {"a", "b"};
  wide.f20 = {{"k", Leg{"v", 20, 0.5}}};
  EXPECT_EQ(RoundTrip(wide), wide);
  EXPECT_EQ(RoundTrip(Wide{}), Wide{});
  static_assert(eddy::kFieldCount<Wide> == 20);
}

TEST(SerdeTest, FieldNamesAreTheDeclaredNames) {
  constexpr auto& names = eddy::FieldNames<Trade>();
  static_assert(names.size() == 8);
  static_assert(names[0] == "id" && names[7] == "ts");
  EXPECT_THAT(std::vector<std::string_view>(names.begin(), names.end()),
              ::testing::ElementsAre("id", "side", "symbol", "legs", "hedge", "tags", "latency", "ts"));
  EXPECT_THAT(eddy::FieldNames<Wide>(), ::testing::Contains("f20"));

  const Leg leg{"XNAS", 7, 2.5};
  std::vector<std::string> seen;
  eddy::ForEachField(leg, [&](std::string_view name, const auto& field) {
    using Field = std::remove_cvref_t<decltype(field)>;
    std::string text(name);
    if constexpr (std::is_same_v<Field, std::string>) {
      text += "=" + field;
    } else {
      text += "=" + std::to_string(field);
    }
    seen.push_back(text);
  });
  EXPECT_THAT(seen, ::testing::ElementsAre("venue=XNAS", "quantity=7", "price=2.500000"));

  Leg mutable_leg;
  eddy::ForEachField(mutable_leg, [](std::string_view name, auto& field) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(field)>, int64_t>) {
      if (name == "quantity") field = 99;
    }
  });
  EXPECT_EQ(mutable_leg.quantity, 99);
}

TEST(SerdeTest, DerivedStructsNeedTheirOwnFields) {
  // Using Base's EDDY_FIELDS for a derived type would silently drop its own fields.
  static_assert(!eddy::internal::HasEddyFields<trading::model::DerivedWithoutFields>);
  static_assert(eddy::internal::HasEddyFields<trading::model::DerivedWithFields>);
  trading::model::DerivedWithFields derived;
  derived.a = 1;
  derived.b = 2;
  EXPECT_EQ(RoundTrip(derived), derived);
  EXPECT_EQ(eddy::Serialize(derived), "\x02\x04");
}

TEST(SerdeTest, RecursiveTypesRoundTripAndDeepNestingIsAnError) {
  const Node tree = Tree(4, 3);
  EXPECT_EQ(RoundTrip(tree), tree);
  Node chain;
  Node* tip = &chain;
  for (int depth = 1; depth < eddy::ByteReader::kMaxNestingDepth; ++depth) {
    tip->children.emplace_back();
    tip = &tip->children.back();
  }
  EXPECT_EQ(RoundTrip(chain), chain);
  // One level deeper than allowed: value 0, one child, repeated; built as bytes so that no
  // tree this deep exists in memory.
  std::string deep;
  for (int depth = 0; depth < 100000; ++depth) deep += std::string("\x00\x01", 2);
  EXPECT_THAT(DeserializeError<Node>(deep), HasSubstr("nesting deeper than 100 levels"));
}

// -- Deserialize errors -----------------------------------------------------------------------

TEST(SerdeTest, DeserializeRejectsTrailingBytes) {
  const std::string bytes = eddy::Serialize(SampleTrade()) + "xyz";
  const std::string message = DeserializeError<Trade>(bytes);
  EXPECT_THAT(message, HasSubstr("trading::model::Trade"));
  EXPECT_THAT(message, HasSubstr("3 trailing bytes after the value at byte offset " +
                                 std::to_string(bytes.size() - 3)));
  EXPECT_THAT(DeserializeError<int32_t>(std::string("\x00\x00", 2)), HasSubstr("cannot deserialize int"));
}

TEST(SerdeTest, DeserializeRejectsEveryTruncation) {
  const std::string bytes = eddy::Serialize(SampleTrade());
  for (size_t size = 0; size < bytes.size(); ++size) {
    const std::string message = DeserializeError<Trade>(bytes.substr(0, size));
    EXPECT_THAT(message, HasSubstr("cannot deserialize trading::model::Trade from " +
                                   std::to_string(size) + " bytes: "));
    EXPECT_THAT(message, HasSubstr("at byte offset"));
  }
}

TEST(SerdeTest, LengthsBeyondTheInputFailBeforeAllocating) {
  // Without the check these would reserve terabytes (and ASan would abort).
  EXPECT_THAT(DeserializeError<std::string>(Varint(uint64_t{1} << 40) + "abc"),
              HasSubstr("a length prefix of 1099511627776 bytes does not fit in the 9 remaining "
                        "bytes at byte offset 0"));
  EXPECT_THAT(DeserializeError<std::vector<int64_t>>(Varint(uint64_t{1} << 62) + "abc"),
              HasSubstr("a count of 4611686018427387904 elements does not fit"));
  EXPECT_THAT(DeserializeError<std::vector<double>>(Varint(2) + std::string(15, '\0')),
              HasSubstr("does not fit"));
  EXPECT_THAT(DeserializeError<std::vector<Trade>>(Varint(1000000) + "abc"), HasSubstr("does not fit"));
  EXPECT_THAT((DeserializeError<std::unordered_map<std::string, std::string>>(Varint(3) +
                                                                               std::string(5, '\0'))),
              HasSubstr("does not fit"));
  EXPECT_THAT(DeserializeError<std::vector<std::tuple<>>>(Varint(uint64_t{1} << 40)),
              HasSubstr("does not fit"));
}

TEST(SerdeTest, TypeNamesAreReadable) {
  EXPECT_EQ(eddy::TypeName<std::string>(), "std::string");
  EXPECT_EQ(eddy::TypeName<std::vector<std::string>>(), "std::vector<std::string>");
  EXPECT_EQ((eddy::TypeName<std::map<std::string, std::vector<Leg>>>()),
            "std::map<std::string, std::vector<trading::model::Leg>>");
  EXPECT_EQ((eddy::TypeName<std::unordered_map<int, std::optional<std::string>>>()),
            "std::unordered_map<int, std::optional<std::string>>");
  EXPECT_EQ(eddy::TypeName<Wide>(), "wide::deeply::nested::Wide");
}

TEST(SerdeTest, SerializeToAppends) {
  std::string out = "head";
  eddy::SerializeTo(std::string("x"), &out);
  eddy::SerializeTo(int32_t{1}, &out);
  EXPECT_EQ(out, "head\x01x\x02");
}

// -- Decoding arbitrary bytes -----------------------------------------------------------------

using FuzzTrade = Trade;
using FuzzTuple = std::tuple<bool, int8_t, uint16_t, int32_t, float, std::string, char>;
using FuzzNested = std::vector<std::optional<std::pair<std::string, std::vector<double>>>>;
using FuzzMap = std::map<int32_t, std::unordered_map<std::string, Leg>>;
using FuzzSet = std::set<std::vector<int64_t>>;

// Unordered containers (FuzzMap, Wide::f20) re-encode in iteration order.
template <typename T>
constexpr bool kEncodingIsDeterministic =
    !std::is_same_v<T, FuzzMap> && !std::is_same_v<T, Wide> && !std::is_same_v<T, eddy::rpc::Hello>;

struct DecodeCounts {
  int inputs = 0;
  int prefix_ok = 0;  // a whole value decoded from the start of the input
  int full_ok = 0;    // Deserialize succeeded: the value used every byte
};

// Decodes `bytes` as T: as a prefix (as a record decoder reading one record after another
// does, which reaches much deeper into random input than Deserialize), and with Deserialize
// into a fresh value and into `reused`, which keeps state between inputs. A decoded value
// must re-encode stably.
template <typename T>
void DecodeArbitrary(std::string_view bytes, T* reused, DecodeCounts* counts) {
  ++counts->inputs;
  {
    eddy::ByteReader in(bytes);
    T prefix{};
    if (eddy::Serde<T>::Read(in, &prefix)) {
      ++counts->prefix_ok;
    } else {
      EXPECT_TRUE(in.failed());
    }
  }
  T fresh{};
  const absl::Status status = eddy::Deserialize(bytes, &fresh);
  const absl::Status reused_status = eddy::Deserialize(bytes, reused);
  EXPECT_EQ(status.ok(), reused_status.ok());
  if (!status.ok()) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("cannot deserialize "));
    return;
  }
  ++counts->full_ok;
  const std::string once = eddy::Serialize(fresh);  // canonical even if `bytes` was not
  T again{};
  EXPECT_TRUE(eddy::Deserialize(once, &again).ok());
  if constexpr (kEncodingIsDeterministic<T>) {
    EXPECT_EQ(eddy::Serialize(again), once);
  }
}

std::string RandomBytes(std::mt19937_64& rng) {
  const size_t size = std::uniform_int_distribution<size_t>(0, 200)(rng);
  std::string bytes(size, '\0');
  const bool small_values = rng() % 2 == 0;  // small bytes reach deeper: short lengths, tags 0/1
  for (char& byte : bytes) {
    byte = static_cast<char>(small_values ? rng() % 4 : rng() % 256);
  }
  return bytes;
}

template <typename T>
void DecodeRandomBytes(std::mt19937_64& rng, int iterations) {
  T reused{};
  DecodeCounts counts;
  for (int i = 0; i < iterations; ++i) DecodeArbitrary(RandomBytes(rng), &reused, &counts);
  // Decoding got past the first bytes often enough to exercise the nested readers.
  EXPECT_GT(counts.prefix_ok, iterations / 100) << eddy::TypeName<T>();
}

TEST(SerdeTest, RandomBytesNeverCrashDecoding) {
  const google::protobuf::LogSilencer quiet;  // protobuf logs every string that is not UTF-8
  std::mt19937_64 rng(20240611);
  constexpr int kIterations = 10000;
  DecodeRandomBytes<FuzzTrade>(rng, kIterations);
  DecodeRandomBytes<FuzzTuple>(rng, kIterations);
  DecodeRandomBytes<FuzzNested>(rng, kIterations);
  DecodeRandomBytes<FuzzMap>(rng, kIterations);
  DecodeRandomBytes<FuzzSet>(rng, kIterations);
  DecodeRandomBytes<Node>(rng, kIterations);
  DecodeRandomBytes<Wide>(rng, kIterations);
  DecodeRandomBytes<eddy::rpc::Hello>(rng, kIterations);
}

// Flips, overwrites, truncates, inserts and deletes bytes of valid encodings.
std::string Mutate(std::string bytes, std::mt19937_64& rng) {
  const int mutations = 1 + static_cast<int>(rng() % 3);
  for (int m = 0; m < mutations; ++m) {
    const size_t at = bytes.empty() ? 0 : rng() % bytes.size();
    switch (rng() % 5) {
      case 0:
        if (!bytes.empty()) bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
        break;
      case 1:
        if (!bytes.empty()) bytes[at] = static_cast<char>(rng() % 256);
        break;
      case 2:
        bytes.resize(at);
        break;
      case 3:
        bytes.insert(at, 1, static_cast<char>(rng() % 256));
        break;
      case 4:
        if (!bytes.empty()) bytes.erase(at, 1);
        break;
    }
  }
  return bytes;
}

template <typename T>
void DecodeMutations(const T& value, std::mt19937_64& rng, int iterations) {
  const std::string valid = eddy::Serialize(value);
  T reused{};
  DecodeCounts counts;
  DecodeArbitrary(valid, &reused, &counts);
  ASSERT_EQ(counts.full_ok, 1);
  for (int i = 0; i < iterations; ++i) DecodeArbitrary(Mutate(valid, rng), &reused, &counts);
  EXPECT_GT(counts.full_ok, 1) << eddy::TypeName<T>();  // some mutations stay valid
  EXPECT_LT(counts.full_ok, counts.inputs) << eddy::TypeName<T>();
}

TEST(SerdeTest, MutatedEncodingsNeverCrashDecoding) {
  const google::protobuf::LogSilencer quiet;
  std::mt19937_64 rng(7);
  constexpr int kIterations = 3000;
  DecodeMutations(SampleTrade(), rng, kIterations);
  DecodeMutations(FuzzTuple{true, -3, 65000, -7, 0.25f, "tuple", 'z'}, rng, kIterations);
  DecodeMutations(FuzzNested{std::nullopt, std::make_pair(std::string("k"), std::vector<double>{1, 2})},
                  rng, kIterations);
  DecodeMutations(FuzzMap{{1, {{"a", Leg{"v", 1, 1}}}}, {-5, {}}}, rng, kIterations);
  DecodeMutations(FuzzSet{{}, {1, 2, 3}, {-1}}, rng, kIterations);
  DecodeMutations(Tree(3, 2), rng, kIterations);
  Wide wide;
  wide.f13 = "wide";
  wide.f19 = {"x", "y"};
  wide.f20 = {{"k", Leg{"v", 20, 0.5}}};
  DecodeMutations(wide, rng, kIterations);
  eddy::rpc::Hello hello;
  hello.set_protocol_version(1);
  hello.set_peer_name("peer");
  DecodeMutations(hello, rng, kIterations);
}

}  // namespace
