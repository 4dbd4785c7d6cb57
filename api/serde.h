// Record serialization for Eddy's user API: Serde<T> writes a record as bytes at a network or
// key boundary and reads it back; ByteReader is the bounds-checked decoder every Serde<T>::Read
// uses, safe on arbitrary bytes. Everything here is stateless except a ByteReader, which one
// thread uses at a time; all functions are thread-safe on distinct arguments.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <google/protobuf/message_lite.h>

#include "absl/status/status.h"
#include "common/check.h"
#include "common/ids.h"

// The wire format, fixed so that bytes written by one process decode in every other:
//   bool, 1-byte integers (char, int8_t, uint8_t)   one raw byte (bool: 0 or 1)
//   wider unsigned integers                           base-128 varint (as protobuf)
//   wider signed integers                             zigzag, then varint
//   enums with a fixed underlying type                as the underlying integer
//   float / double                                    IEEE-754 bit pattern, little-endian
//   std::string                                       varint length, then the bytes
//   std::pair, std::tuple, std::array, EDDY_FIELDS    the elements in order, no framing
//   std::vector, std::set, std::unordered_set         varint count, then the elements
//   std::map, std::unordered_map                      varint count, then key, value, ...
//   std::optional                                     byte 0 (empty) or 1 followed by the value
//   protobuf messages                                 varint length, then the message
//   std::chrono::duration, eddy::NamedType ids        as their count / value
// A varint longer than 10 bytes or 64 bits is malformed. Ordered maps and sets must arrive in
// strictly ascending order, unordered ones without duplicates.

namespace eddy {

/// Reads the primitive pieces of an encoding from a byte range, checking bounds on every read.
/// A Get* that fails returns false, consumes nothing, and records an error message naming the
/// byte offset (the first error wins). Never allocates except to format that message.
class ByteReader {
 public:
  /// Nesting of EDDY_FIELDS structs beyond which decoding fails (only recursive types get near).
  static constexpr int kMaxNestingDepth = 100;
  /// Longest sequence of elements that encode as zero bytes (e.g. std::tuple<>) a reader accepts.
  static constexpr uint64_t kMaxZeroSizeElements = uint64_t{1} << 20;

  /// Reads from `data`, which must outlive the reader.
  explicit ByteReader(std::string_view data) noexcept : data_(data.data()), size_(data.size()) {}

  ByteReader(const ByteReader&) = delete;
  ByteReader& operator=(const ByteReader&) = delete;

  /// Returns the offset of the next byte to read.
  size_t offset() const { return pos_; }
  /// Returns the number of bytes not yet read.
  size_t remaining() const { return size_ - pos_; }
  /// Returns true when every byte has been read.
  bool empty() const { return pos_ == size_; }
  /// Returns true if a read has failed.
  bool failed() const { return !error_.empty(); }
  /// Returns the first error, "<what> at byte offset <n>", or "" if none.
  const std::string& error() const { return error_; }

  /// Reads one byte.
  bool GetByte(uint8_t* value) {
    if (pos_ == size_) [[unlikely]] return Fail("truncated input: expected 1 more byte");
    *value = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }

  /// Reads a base-128 varint of at most 10 bytes and 64 bits.
  bool GetVarint64(uint64_t* value) {
    if (pos_ < size_) [[likely]] {
      const auto first = static_cast<uint8_t>(data_[pos_]);
      if (first < 0x80) {
        *value = first;
        ++pos_;
        return true;
      }
    }
    return GetVarint64Multibyte(value);
  }

  /// Reads a 4-byte little-endian integer.
  bool GetFixed32(uint32_t* value) {
    if (size_ - pos_ < 4) [[unlikely]] return Fail("truncated input: expected a 4-byte fixed32");
    uint32_t raw{};
    std::memcpy(&raw, data_ + pos_, 4);
    *value = FromLittleEndian(raw);
    pos_ += 4;
    return true;
  }

  /// Reads an 8-byte little-endian integer.
  bool GetFixed64(uint64_t* value) {
    if (size_ - pos_ < 8) [[unlikely]] return Fail("truncated input: expected an 8-byte fixed64");
    uint64_t raw{};
    std::memcpy(&raw, data_ + pos_, 8);
    *value = FromLittleEndian(raw);
    pos_ += 8;
    return true;
  }

  /// Points `*bytes` at the next `n` bytes of the input (no copy) and skips them.
  bool GetBytes(size_t n, std::string_view* bytes) {
    if (n > size_ - pos_) [[unlikely]] return FailLength(pos_, "a field of", n, "bytes");
    *bytes = std::string_view(data_ + pos_, n);
    pos_ += n;
    return true;
  }

  /// Reads a varint length and then that many bytes, as written by PutLengthPrefixed.
  bool GetLengthPrefixed(std::string_view* bytes) {
    const size_t start = pos_;
    uint64_t n{};
    if (!GetVarint64(&n)) return false;
    if (n > size_ - pos_) [[unlikely]] {
      pos_ = start;
      return FailLength(start, "a length prefix of", n, "bytes");
    }
    *bytes = std::string_view(data_ + pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }

  /// Reads the varint element count of a sequence whose elements encode as at least
  /// `min_element_size` bytes each, and fails before anything is allocated if the remaining
  /// input cannot hold that many elements.
  bool GetCount(size_t min_element_size, uint64_t* count) {
    const size_t start = pos_;
    if (!GetVarint64(count)) return false;
    const bool fits = min_element_size == 0 ? *count <= kMaxZeroSizeElements
                                            : *count <= (size_ - pos_) / min_element_size;
    if (!fits) [[unlikely]] {
      pos_ = start;
      return FailLength(start, "a count of", *count, "elements");
    }
    return true;
  }

  /// Enters one level of nesting; fails beyond kMaxNestingDepth. Pair with ExitNested().
  bool EnterNested() {
    if (depth_ >= kMaxNestingDepth) [[unlikely]] return Fail("nesting deeper than 100 levels");
    ++depth_;
    return true;
  }
  /// Leaves the level entered by a successful EnterNested().
  void ExitNested() { --depth_; }

  /// Records `what` as the error at the current offset (unless one is recorded) and returns
  /// false, for use by Serde<T>::Read implementations: `return in.Fail("invalid tag");`.
  bool Fail(std::string_view what) { return FailAt(pos_, what); }
  /// Like Fail(), at byte offset `offset` (e.g. where the offending value started).
  bool FailAt(size_t offset, std::string_view what);

  /// Returns `value`, stored little-endian, in host byte order.
  template <typename U>
  static U FromLittleEndian(U value) {
    if constexpr (std::endian::native == std::endian::little) {
      return value;
    } else {
      return ByteSwap(value);
    }
  }
  /// Returns `value` with its bytes reversed.
  template <typename U>
  static U ByteSwap(U value) {
    U result = 0;
    for (size_t i = 0; i < sizeof(U); ++i) {
      result = static_cast<U>((result << 8) | ((value >> (8 * i)) & 0xff));
    }
    return result;
  }

 private:
  bool GetVarint64Multibyte(uint64_t* value) {
    uint64_t result = 0;
    size_t p = pos_;
    for (int shift = 0;; shift += 7) {
      if (p == size_) [[unlikely]] return Fail("truncated varint");
      const uint64_t byte = static_cast<uint8_t>(data_[p++]);
      if (shift == 63 && byte > 1) [[unlikely]] return Fail("varint longer than 64 bits");
      result |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    *value = result;
    pos_ = p;
    return true;
  }
  bool FailLength(size_t offset, const char* what, uint64_t n, const char* unit);

  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::string error_;
};

/// Appends `value` as a base-128 varint (1 to 10 bytes).
template <typename Out>
inline void PutVarint64(Out* out, uint64_t value) {
  if (value < 0x80) {
    out->push_back(static_cast<char>(value));
    return;
  }
  char buf[10];
  size_t n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<char>(value);
  out->append(buf, n);
}

/// Appends `value` as 4 little-endian bytes.
template <typename Out>
inline void PutFixed32(Out* out, uint32_t value) {
  value = ByteReader::FromLittleEndian(value);  // the conversion is its own inverse
  out->append(reinterpret_cast<const char*>(&value), 4);
}

/// Appends `value` as 8 little-endian bytes.
template <typename Out>
inline void PutFixed64(Out* out, uint64_t value) {
  value = ByteReader::FromLittleEndian(value);
  out->append(reinterpret_cast<const char*>(&value), 8);
}

/// Appends `bytes` as they are, without a length.
template <typename Out>
inline void PutBytes(Out* out, std::string_view bytes) { out->append(bytes.data(), bytes.size()); }

/// Appends the varint length of `bytes`, then `bytes`.
template <typename Out>
inline void PutLengthPrefixed(Out* out, std::string_view bytes) {
  PutVarint64(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

namespace internal {
/// Appends `n` bytes that `fill(char* dst)` writes in one piece: in place for a
/// std::string or a sink with AppendContiguous(n, fill), through a temporary otherwise.
template <typename Out, typename Fill>
void AppendContiguous(Out* out, size_t n, Fill&& fill) {
  if constexpr (std::is_same_v<Out, std::string>) {
    const size_t start = out->size();
    out->resize(start + n);
    fill(out->data() + start);
  } else if constexpr (requires { out->AppendContiguous(n, fill); }) {
    out->AppendContiguous(n, fill);
  } else {
    std::string tmp(n, '\0');
    fill(tmp.data());
    out->append(tmp.data(), n);
  }
}
}  // namespace internal

/// Maps signed integers to unsigned so that small magnitudes make short varints.
constexpr uint64_t ZigZagEncode(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}
/// Inverts ZigZagEncode.
constexpr int64_t ZigZagDecode(uint64_t value) {
  return static_cast<int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

/// Encodes values of type T: `template <typename Out> static void Write(const T&, Out* out)`
/// appends the encoding to a byte sink (std::string, or a sink writing straight into network
/// buffers: anything with push_back(char) and append(const char*, size_t)), `static bool Read(ByteReader& in, T* value)` decodes into an existing value (reusing
/// its capacity) and returns false on malformed input, leaving `*value` valid but unspecified.
/// A specialization may declare `static constexpr size_t kMinSize`, the fewest bytes any value
/// encodes to (assumed 1 otherwise; declare 0 if an encoding can be empty): it lets readers
/// reject impossible sequence lengths before allocating.
template <typename T, typename Enable = void>
struct Serde;

namespace internal {

template <typename T>
inline constexpr bool kDependentFalse = false;

/// Describes the fields of a struct declared with EDDY_FIELDS; `type` guards against a derived
/// class silently using its base's description.
template <typename T, typename... Members>
struct FieldList {
  using type = T;
  static constexpr size_t kSize = sizeof...(Members);
  std::tuple<Members...> members;
  std::array<std::string_view, sizeof...(Members)> names;
};

template <typename T, size_t N, typename... Members>
constexpr FieldList<T, Members...> MakeFieldList(const std::array<std::string_view, N>& names,
                                                 Members... members) {
  static_assert(N == sizeof...(Members));
  static_assert((std::is_member_object_pointer_v<Members> && ...),
                "EDDY_FIELDS: every field must be a non-static data member");
  return FieldList<T, Members...>{std::tuple<Members...>(members...), names};
}

template <typename T>
concept HasAnyEddyFields = requires(const T* p) { eddy_fields(p); };

template <typename T>
concept HasEddyFields =
    HasAnyEddyFields<T> &&
    std::is_same_v<typename decltype(eddy_fields(static_cast<const T*>(nullptr)))::type, T>;

template <typename T>
inline constexpr auto kFieldList = eddy_fields(static_cast<const T*>(nullptr));

template <typename P>
struct MemberPointer;
template <typename C, typename M>
struct MemberPointer<M C::*> {
  using type = std::remove_cv_t<M>;
};
template <typename P>
using MemberType = typename MemberPointer<P>::type;

template <typename T>
constexpr size_t MinEncodedSize() {
  if constexpr (requires { Serde<T>::kMinSize; }) {
    return Serde<T>::kMinSize;
  } else {
    return 1;
  }
}

template <typename Tuple>
struct TupleMinSize;
template <typename... Ts>
struct TupleMinSize<std::tuple<Ts...>> {
  static constexpr size_t value = (size_t{0} + ... + MinEncodedSize<Ts>());
};

template <typename... Members>
constexpr size_t FieldsMinSize(const std::tuple<Members...>*) {
  return (size_t{0} + ... + MinEncodedSize<MemberType<Members>>());
}

/// 1-byte integers are written as a raw byte, which is also their in-memory representation.
template <typename T>
inline constexpr bool kIsByteInteger =
    std::is_integral_v<T> && sizeof(T) == 1 && !std::is_same_v<T, bool>;
template <typename T>
inline constexpr bool kIsVarintInteger = std::is_integral_v<T> && sizeof(T) > 1;
/// Types whose encoding equals their memory representation, so sequences copy in bulk.
template <typename T>
inline constexpr bool kIsBulkCopyable =
    kIsByteInteger<T> || (std::endian::native == std::endian::little &&
                          (std::is_same_v<T, float> || std::is_same_v<T, double>));

template <typename E>
concept EnumWithFixedUnderlyingType =
    std::is_enum_v<E> && requires { E{std::underlying_type_t<E>{}}; };

template <typename T>
concept ProtobufMessage = std::is_base_of_v<google::protobuf::MessageLite, T>;

/// Returns a readable name for a mangled C++ type name (std::string for the standard string,
/// default allocators, comparators and hashers left out).
std::string DemangleTypeName(const char* mangled);
absl::Status DeserializeError(const char* mangled_type, size_t size, const ByteReader& in);
absl::Status TrailingBytesError(const char* mangled_type, size_t size, const ByteReader& in);
bool FailInvalidProtobuf(ByteReader& in, size_t offset, const google::protobuf::MessageLite& m);

template <typename Map>
bool ReadMap(ByteReader& in, Map* value);
template <typename Set>
bool ReadSet(ByteReader& in, Set* value);

}  // namespace internal

/// The primary template: instantiated only for a type without a Serde.
template <typename T, typename Enable>
struct Serde {
  static_assert(!internal::HasAnyEddyFields<T>,
                "eddy: this type inherits EDDY_FIELDS from a base class; declare EDDY_FIELDS(T, "
                "...) for the type itself, listing the base's fields too");
  static_assert(internal::HasAnyEddyFields<T> || internal::kDependentFalse<T>,
                "eddy: no Serde<T> for this type; declare its fields with EDDY_FIELDS(T, ...) or "
                "specialize eddy::Serde<T>");
  template <typename Out>
  static void Write(const T&, Out*) {}
  static bool Read(ByteReader&, T*) { return false; }
};

template <>
struct Serde<bool> {
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(bool value, Out* out) { out->push_back(value ? 1 : 0); }
  static bool Read(ByteReader& in, bool* value) {
    uint8_t byte{};
    if (!in.GetByte(&byte)) return false;
    if (byte > 1) [[unlikely]] return in.FailAt(in.offset() - 1, "invalid bool (not 0 or 1)");
    *value = byte == 1;
    return true;
  }
};

template <typename T>
  requires internal::kIsByteInteger<T>
struct Serde<T> {
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(T value, Out* out) { out->push_back(std::bit_cast<char>(value)); }
  static bool Read(ByteReader& in, T* value) {
    uint8_t byte{};
    if (!in.GetByte(&byte)) return false;
    *value = std::bit_cast<T>(byte);
    return true;
  }
};

template <typename T>
  requires internal::kIsVarintInteger<T>
struct Serde<T> {
  static_assert(sizeof(T) <= 8, "eddy: integers wider than 64 bits have no Serde");
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(T value, Out* out) {
    if constexpr (std::is_signed_v<T>) {
      PutVarint64(out, ZigZagEncode(value));
    } else {
      PutVarint64(out, value);
    }
  }
  static bool Read(ByteReader& in, T* value) {
    const size_t start = in.offset();
    uint64_t raw{};
    if (!in.GetVarint64(&raw)) return false;
    if constexpr (std::is_signed_v<T>) {
      const int64_t decoded = ZigZagDecode(raw);
      if constexpr (sizeof(T) < 8) {
        if (decoded < std::numeric_limits<T>::min() || decoded > std::numeric_limits<T>::max())
            [[unlikely]] {
          return in.FailAt(start, "varint out of range for its signed integer type");
        }
      }
      *value = static_cast<T>(decoded);
    } else {
      if constexpr (sizeof(T) < 8) {
        if (raw > std::numeric_limits<T>::max()) [[unlikely]] {
          return in.FailAt(start, "varint out of range for its unsigned integer type");
        }
      }
      *value = static_cast<T>(raw);
    }
    return true;
  }
};

template <typename T>
  requires internal::EnumWithFixedUnderlyingType<T>
struct Serde<T> {
  using Underlying = std::underlying_type_t<T>;
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(T value, Out* out) {
    Serde<Underlying>::Write(static_cast<Underlying>(value), out);
  }
  static bool Read(ByteReader& in, T* value) {
    Underlying raw{};
    if (!Serde<Underlying>::Read(in, &raw)) return false;
    *value = static_cast<T>(raw);
    return true;
  }
};

template <>
struct Serde<float> {
  static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4);
  static constexpr size_t kMinSize = 4;
  template <typename Out>
  static void Write(float value, Out* out) {
    PutFixed32(out, std::bit_cast<uint32_t>(value));
  }
  static bool Read(ByteReader& in, float* value) {
    uint32_t bits{};
    if (!in.GetFixed32(&bits)) return false;
    *value = std::bit_cast<float>(bits);
    return true;
  }
};

template <>
struct Serde<double> {
  static_assert(std::numeric_limits<double>::is_iec559 && sizeof(double) == 8);
  static constexpr size_t kMinSize = 8;
  template <typename Out>
  static void Write(double value, Out* out) {
    PutFixed64(out, std::bit_cast<uint64_t>(value));
  }
  static bool Read(ByteReader& in, double* value) {
    uint64_t bits{};
    if (!in.GetFixed64(&bits)) return false;
    *value = std::bit_cast<double>(bits);
    return true;
  }
};

template <>
struct Serde<std::string> {
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(const std::string& value, Out* out) { PutLengthPrefixed(out, value); }
  static bool Read(ByteReader& in, std::string* value) {
    std::string_view bytes;
    if (!in.GetLengthPrefixed(&bytes)) return false;
    value->assign(bytes.data(), bytes.size());  // reuses the string's capacity
    return true;
  }
};

template <typename A, typename B>
struct Serde<std::pair<A, B>> {
  static constexpr size_t kMinSize = internal::MinEncodedSize<A>() + internal::MinEncodedSize<B>();
  template <typename Out>
  static void Write(const std::pair<A, B>& value, Out* out) {
    Serde<A>::Write(value.first, out);
    Serde<B>::Write(value.second, out);
  }
  static bool Read(ByteReader& in, std::pair<A, B>* value) {
    return Serde<A>::Read(in, &value->first) && Serde<B>::Read(in, &value->second);
  }
};

template <typename... Ts>
struct Serde<std::tuple<Ts...>> {
  static constexpr size_t kMinSize = internal::TupleMinSize<std::tuple<Ts...>>::value;
  template <typename Out>
  static void Write(const std::tuple<Ts...>& value, Out* out) {
    // Default captures: clang warns about an explicit one that std::tuple<> leaves unused.
    std::apply([=](const Ts&... elements) { (Serde<Ts>::Write(elements, out), ...); }, value);
  }
  static bool Read(ByteReader& in, std::tuple<Ts...>* value) {
    return std::apply([&](Ts&... elements) { return (Serde<Ts>::Read(in, &elements) && ...); },
                      *value);
  }
};

template <typename T, size_t N>
struct Serde<std::array<T, N>> {
  static constexpr size_t kMinSize = N * internal::MinEncodedSize<T>();
  template <typename Out>
  static void Write(const std::array<T, N>& value, Out* out) {
    for (const T& element : value) Serde<T>::Write(element, out);
  }
  static bool Read(ByteReader& in, std::array<T, N>* value) {
    for (T& element : *value) {
      if (!Serde<T>::Read(in, &element)) return false;
    }
    return true;
  }
};

template <typename T, typename Alloc>
struct Serde<std::vector<T, Alloc>> {
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(const std::vector<T, Alloc>& value, Out* out) {
    PutVarint64(out, value.size());
    if constexpr (internal::kIsBulkCopyable<T>) {
      if (!value.empty()) {
        out->append(reinterpret_cast<const char*>(value.data()), value.size() * sizeof(T));
      }
    } else {
      for (const auto& element : value) Serde<T>::Write(element, out);
    }
  }
  static bool Read(ByteReader& in, std::vector<T, Alloc>* value) {
    uint64_t count{};
    if (!in.GetCount(internal::MinEncodedSize<T>(), &count)) return false;
    const auto n = static_cast<size_t>(count);
    if constexpr (internal::kIsBulkCopyable<T>) {
      std::string_view bytes;
      if (!in.GetBytes(n * sizeof(T), &bytes)) return false;  // cannot overflow: n <= remaining
      value->resize(n);
      if (n != 0) std::memcpy(value->data(), bytes.data(), bytes.size());
    } else if constexpr (std::is_same_v<T, bool>) {
      value->resize(n);
      for (size_t i = 0; i < n; ++i) {
        bool element{};
        if (!Serde<bool>::Read(in, &element)) return false;
        (*value)[i] = element;
      }
    } else {
      value->resize(n);  // keeps existing elements, so their capacity is reused
      for (T& element : *value) {
        if (!Serde<T>::Read(in, &element)) return false;
      }
    }
    return true;
  }
};

template <typename T>
struct Serde<std::optional<T>> {
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(const std::optional<T>& value, Out* out) {
    out->push_back(value.has_value() ? 1 : 0);
    if (value.has_value()) Serde<T>::Write(*value, out);
  }
  static bool Read(ByteReader& in, std::optional<T>* value) {
    uint8_t tag{};
    if (!in.GetByte(&tag)) return false;
    if (tag == 0) {
      value->reset();
      return true;
    }
    if (tag != 1) [[unlikely]] return in.FailAt(in.offset() - 1, "invalid optional tag (not 0 or 1)");
    if (!value->has_value()) value->emplace();
    return Serde<T>::Read(in, &**value);
  }
};

template <typename K, typename V, typename Compare, typename Alloc>
struct Serde<std::map<K, V, Compare, Alloc>> {
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(const std::map<K, V, Compare, Alloc>& value, Out* out) {
    PutVarint64(out, value.size());
    for (const auto& [k, v] : value) {
      Serde<K>::Write(k, out);
      Serde<V>::Write(v, out);
    }
  }
  static bool Read(ByteReader& in, std::map<K, V, Compare, Alloc>* value) {
    return internal::ReadMap(in, value);
  }
};

template <typename K, typename V, typename Hash, typename Eq, typename Alloc>
struct Serde<std::unordered_map<K, V, Hash, Eq, Alloc>> {
  static constexpr size_t kMinSize = 1;
  /// Writes entries in iteration order, so equal maps may encode differently.
  template <typename Out>
  static void Write(const std::unordered_map<K, V, Hash, Eq, Alloc>& value, Out* out) {
    PutVarint64(out, value.size());
    for (const auto& [k, v] : value) {
      Serde<K>::Write(k, out);
      Serde<V>::Write(v, out);
    }
  }
  static bool Read(ByteReader& in, std::unordered_map<K, V, Hash, Eq, Alloc>* value) {
    return internal::ReadMap(in, value);
  }
};

template <typename K, typename Compare, typename Alloc>
struct Serde<std::set<K, Compare, Alloc>> {
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(const std::set<K, Compare, Alloc>& value, Out* out) {
    PutVarint64(out, value.size());
    for (const K& k : value) Serde<K>::Write(k, out);
  }
  static bool Read(ByteReader& in, std::set<K, Compare, Alloc>* value) {
    return internal::ReadSet(in, value);
  }
};

template <typename K, typename Hash, typename Eq, typename Alloc>
struct Serde<std::unordered_set<K, Hash, Eq, Alloc>> {
  static constexpr size_t kMinSize = 1;
  /// Writes elements in iteration order, so equal sets may encode differently.
  template <typename Out>
  static void Write(const std::unordered_set<K, Hash, Eq, Alloc>& value, Out* out) {
    PutVarint64(out, value.size());
    for (const K& k : value) Serde<K>::Write(k, out);
  }
  static bool Read(ByteReader& in, std::unordered_set<K, Hash, Eq, Alloc>* value) {
    return internal::ReadSet(in, value);
  }
};

template <typename Rep, typename Period>
struct Serde<std::chrono::duration<Rep, Period>> {
  static constexpr size_t kMinSize = internal::MinEncodedSize<Rep>();
  template <typename Out>
  static void Write(const std::chrono::duration<Rep, Period>& value, Out* out) {
    Serde<Rep>::Write(value.count(), out);
  }
  static bool Read(ByteReader& in, std::chrono::duration<Rep, Period>* value) {
    Rep count{};
    if (!Serde<Rep>::Read(in, &count)) return false;
    *value = std::chrono::duration<Rep, Period>(count);
    return true;
  }
};

/// Strong ids (eddy::Timestamp, eddy::KeyGroup, ...) encode as their value.
template <typename T, typename Tag>
struct Serde<NamedType<T, Tag>> {
  static constexpr size_t kMinSize = internal::MinEncodedSize<T>();
  template <typename Out>
  static void Write(const NamedType<T, Tag>& value, Out* out) {
    Serde<T>::Write(value.value(), out);
  }
  static bool Read(ByteReader& in, NamedType<T, Tag>* value) {
    T raw{};
    if (!Serde<T>::Read(in, &raw)) return false;
    *value = NamedType<T, Tag>(std::move(raw));
    return true;
  }
};

template <typename T>
  requires internal::ProtobufMessage<T>
struct Serde<T> {
  static constexpr size_t kMinSize = 1;
  template <typename Out>
  static void Write(const T& value, Out* out) {
    const size_t size = value.ByteSizeLong();
    EDDY_CHECK_LE(size, static_cast<size_t>(INT_MAX))
        << "protobuf messages are limited to 2 GiB: " << value.GetTypeName();
    PutVarint64(out, size);
    internal::AppendContiguous(out, size, [&value](char* dst) {
      value.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(dst));
    });
  }
  static bool Read(ByteReader& in, T* value) {
    const size_t start = in.offset();
    std::string_view bytes;
    if (!in.GetLengthPrefixed(&bytes)) return false;
    if (bytes.size() > static_cast<size_t>(INT_MAX) ||
        !value->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) [[unlikely]] {
      return internal::FailInvalidProtobuf(in, start, *value);
    }
    return true;
  }
};

template <typename T>
  requires internal::HasEddyFields<T>
struct Serde<T> {
  static constexpr size_t kMinSize = internal::FieldsMinSize(
      static_cast<const decltype(internal::kFieldList<T>.members)*>(nullptr));
  template <typename Out>
  static void Write(const T& value, Out* out) {
    std::apply(
        [&value, out](auto... members) {
          (Serde<internal::MemberType<decltype(members)>>::Write(value.*members, out), ...);
        },
        internal::kFieldList<T>.members);
  }
  static bool Read(ByteReader& in, T* value) {
    if (!in.EnterNested()) return false;
    const bool ok = std::apply(
        [&in, value](auto... members) {
          return (Serde<internal::MemberType<decltype(members)>>::Read(in, &(value->*members)) &&
                  ...);
        },
        internal::kFieldList<T>.members);
    in.ExitNested();
    return ok;
  }
};

namespace internal {

template <typename Map>
bool ReadMap(ByteReader& in, Map* value) {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  uint64_t count{};
  if (!in.GetCount(MinEncodedSize<K>() + MinEncodedSize<V>(), &count)) return false;
  value->clear();
  constexpr bool kOrdered = requires(const Map& m) { m.key_comp(); };
  if constexpr (!kOrdered) value->reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    const size_t start = in.offset();
    K k{};
    V v{};
    if (!Serde<K>::Read(in, &k) || !Serde<V>::Read(in, &v)) return false;
    if constexpr (kOrdered) {
      // The writer emits keys in order, so each entry goes at the end in O(1).
      if (!value->empty() && !value->key_comp()(std::prev(value->end())->first, k)) [[unlikely]] {
        return in.FailAt(start, "map keys not in strictly ascending order");
      }
      value->emplace_hint(value->end(), std::move(k), std::move(v));
    } else {
      if (!value->try_emplace(std::move(k), std::move(v)).second) [[unlikely]] {
        return in.FailAt(start, "duplicate map key");
      }
    }
  }
  return true;
}

template <typename Set>
bool ReadSet(ByteReader& in, Set* value) {
  using K = typename Set::key_type;
  uint64_t count{};
  if (!in.GetCount(MinEncodedSize<K>(), &count)) return false;
  value->clear();
  constexpr bool kOrdered = requires(const Set& s) { s.key_comp(); };
  if constexpr (!kOrdered) value->reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    const size_t start = in.offset();
    K k{};
    if (!Serde<K>::Read(in, &k)) return false;
    if constexpr (kOrdered) {
      if (!value->empty() && !value->key_comp()(*std::prev(value->end()), k)) [[unlikely]] {
        return in.FailAt(start, "set elements not in strictly ascending order");
      }
      value->emplace_hint(value->end(), std::move(k));
    } else {
      if (!value->insert(std::move(k)).second) [[unlikely]] {
        return in.FailAt(start, "duplicate set element");
      }
    }
  }
  return true;
}

}  // namespace internal

/// The number of fields declared with EDDY_FIELDS(T, ...).
template <typename T>
  requires internal::HasEddyFields<T>
inline constexpr size_t kFieldCount = decltype(internal::kFieldList<T>)::kSize;

/// Returns the names of the fields declared with EDDY_FIELDS(T, ...), in declaration order
/// (static storage; e.g. CSV headers, JSON keys).
template <typename T>
  requires internal::HasEddyFields<T>
constexpr const std::array<std::string_view, kFieldCount<T>>& FieldNames() {
  return internal::kFieldList<T>.names;
}

/// Calls `f(std::string_view name, Field& field)` for each field declared with
/// EDDY_FIELDS, in order; `value` may be const.
template <typename T, typename F>
  requires internal::HasEddyFields<std::remove_const_t<T>>
constexpr void ForEachField(T& value, F&& f) {
  using U = std::remove_const_t<T>;
  [&]<size_t... I>(std::index_sequence<I...>) {
    (f(internal::kFieldList<U>.names[I], value.*std::get<I>(internal::kFieldList<U>.members)),
     ...);
  }(std::make_index_sequence<kFieldCount<U>>{});
}

/// Returns a readable name of T for messages, e.g. "std::vector<trading::Trade>".
template <typename T>
std::string TypeName() {
  return internal::DemangleTypeName(typeid(T).name());
}

/// Appends the encoding of `value` to `*out`.
template <typename T>
void SerializeTo(const T& value, std::string* out) {
  Serde<T>::Write(value, out);
}

/// Returns the encoding of `value`.
template <typename T>
std::string Serialize(const T& value) {
  std::string out;
  Serde<T>::Write(value, &out);
  return out;
}

/// Decodes `bytes`, all of which must be the encoding of one T, into `*out` (reusing its
/// capacity). Returns InvalidArgument naming T and the byte offset if the bytes are malformed,
/// truncated or followed by trailing bytes; `*out` is then valid but unspecified.
template <typename T>
absl::Status Deserialize(std::string_view bytes, T* out) {
  ByteReader in(bytes);
  if (!Serde<T>::Read(in, out)) [[unlikely]] {
    return internal::DeserializeError(typeid(T).name(), bytes.size(), in);
  }
  if (!in.empty()) [[unlikely]] {
    return internal::TrailingBytesError(typeid(T).name(), bytes.size(), in);
  }
  return absl::OkStatus();
}

}  // namespace eddy

// Applies `macro(T, field)` to each field, separated by commas (up to 256 fields; beyond about
// 64, compile time grows quickly with std::tuple).
#define EDDY_INTERNAL_PARENS ()
#define EDDY_INTERNAL_EXPAND(...) \
  EDDY_INTERNAL_EXPAND4(EDDY_INTERNAL_EXPAND4(EDDY_INTERNAL_EXPAND4(EDDY_INTERNAL_EXPAND4(__VA_ARGS__))))
#define EDDY_INTERNAL_EXPAND4(...) \
  EDDY_INTERNAL_EXPAND3(EDDY_INTERNAL_EXPAND3(EDDY_INTERNAL_EXPAND3(EDDY_INTERNAL_EXPAND3(__VA_ARGS__))))
#define EDDY_INTERNAL_EXPAND3(...) \
  EDDY_INTERNAL_EXPAND2(EDDY_INTERNAL_EXPAND2(EDDY_INTERNAL_EXPAND2(EDDY_INTERNAL_EXPAND2(__VA_ARGS__))))
#define EDDY_INTERNAL_EXPAND2(...) \
  EDDY_INTERNAL_EXPAND1(EDDY_INTERNAL_EXPAND1(EDDY_INTERNAL_EXPAND1(EDDY_INTERNAL_EXPAND1(__VA_ARGS__))))
#define EDDY_INTERNAL_EXPAND1(...) __VA_ARGS__
#define EDDY_INTERNAL_FOR_EACH(macro, T, ...) \
  __VA_OPT__(EDDY_INTERNAL_EXPAND(EDDY_INTERNAL_FOR_EACH_STEP(macro, T, __VA_ARGS__)))
#define EDDY_INTERNAL_FOR_EACH_STEP(macro, T, field, ...) \
  macro(T, field) __VA_OPT__(, EDDY_INTERNAL_FOR_EACH_AGAIN EDDY_INTERNAL_PARENS(macro, T, __VA_ARGS__))
#define EDDY_INTERNAL_FOR_EACH_AGAIN() EDDY_INTERNAL_FOR_EACH_STEP
#define EDDY_INTERNAL_FIELD_POINTER(T, field) &T::field
#define EDDY_INTERNAL_FIELD_NAME(T, field) #field

/// Declares the fields of struct T, in encoding order, so that Serde<T>, FieldNames<T>() and
/// ForEachField work for it. Write it at namespace scope in T's namespace, after T:
///
///   namespace shop {
///   struct Order { int64_t id; std::string item; std::vector<Line> lines; };
///   EDDY_FIELDS(Order, id, item, lines);
///   }
///
/// It defines `eddy_fields(const T*)`, found by argument-dependent lookup. A class derived from
/// T needs its own EDDY_FIELDS. T must be spelled without commas (use an alias for templates).
#define EDDY_FIELDS(T, ...)                                                                   \
  [[maybe_unused]] constexpr auto eddy_fields(const T*) noexcept {                            \
    return ::eddy::internal::MakeFieldList<T>(                                                \
        ::std::to_array<::std::string_view>(                                                  \
            {EDDY_INTERNAL_FOR_EACH(EDDY_INTERNAL_FIELD_NAME, T, __VA_ARGS__)}),              \
        EDDY_INTERNAL_FOR_EACH(EDDY_INTERNAL_FIELD_POINTER, T, __VA_ARGS__));                 \
  }                                                                                           \
  static_assert(true, "EDDY_FIELDS(...) is followed by a semicolon")
