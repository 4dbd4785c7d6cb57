// Fuzzes Serde<T> decoding (api/serde.h), what every record crossing a network edge or a key
// boundary goes through: the first input byte picks one of the types of serde_fuzz_types.h,
// the rest is decoded with eddy::Deserialize. A decode either succeeds or returns
// InvalidArgument, never crashes or reads out of bounds; a decoded value encodes to bytes
// that decode again to the same encoding; and decoding into a value a failed decode left
// behind (the reuse path of the task's input decoders) gives the same result as decoding into
// a fresh one.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <google/protobuf/stubs/logging.h>

#include "absl/status/status.h"
#include "api/serde.h"
#include "common/check.h"
#include "tests/fuzz/serde_fuzz_types.h"

namespace {

template <typename T, fuzz::Order kOrder>
void Decode(std::string_view bytes) {
  T fresh{};
  const absl::Status status = eddy::Deserialize(bytes, &fresh);

  // The same bytes into a value that a decode of a prefix of them left behind (the prefix
  // usually fails midway, leaving the value "valid but unspecified").
  T reused{};
  (void)eddy::Deserialize(bytes.substr(0, bytes.size() / 2), &reused);
  const absl::Status again = eddy::Deserialize(bytes, &reused);
  EDDY_CHECK_EQ(status.ok(), again.ok()) << status << " vs. " << again;

  if (!status.ok()) {
    EDDY_CHECK(status.code() == absl::StatusCode::kInvalidArgument) << status;
    EDDY_CHECK_EQ(status.message(), again.message());
    return;
  }
  const std::string encoded = eddy::Serialize(fresh);
  T decoded{};
  const absl::Status round_trip = eddy::Deserialize(encoded, &decoded);
  EDDY_CHECK(round_trip.ok()) << "a decoded " << eddy::TypeName<T>()
                              << " does not decode after encoding: " << round_trip;
  if constexpr (kOrder == fuzz::Order::kDeterministic) {
    EDDY_CHECK(eddy::Serialize(decoded) == encoded)
        << eddy::TypeName<T>() << " encodes differently after a round trip";
    EDDY_CHECK(eddy::Serialize(reused) == encoded)
        << eddy::TypeName<T>() << " decoded into a reused value differs from a fresh decode";
    // The canonical encoding is as short as any: a decoder accepts padded varints, never less.
    EDDY_CHECK_LE(encoded.size(), bytes.size());
  }
}

using Decoder = void (*)(std::string_view);

template <size_t... I>
constexpr std::array<Decoder, sizeof...(I)> MakeDecoders(std::index_sequence<I...>) {
  return {&Decode<typename std::tuple_element_t<I, fuzz::Cases>::type,
                  std::tuple_element_t<I, fuzz::Cases>::order>...};
}
constexpr auto kDecoders = MakeDecoders(std::make_index_sequence<fuzz::kNumCases>());

}  // namespace

// Protobuf logs every string field that is not UTF-8; the fuzzer makes many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  kDecoders[data[0] % kDecoders.size()](bytes);
  return 0;
}
