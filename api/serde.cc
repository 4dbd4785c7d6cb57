#include "api/serde.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace eddy {

bool ByteReader::FailAt(size_t offset, std::string_view what) {
  if (error_.empty()) {
    error_.assign(what.data(), what.size());
    error_ += " at byte offset ";
    error_ += std::to_string(offset);
  }
  return false;
}

bool ByteReader::FailLength(size_t offset, const char* what, uint64_t n, const char* unit) {
  std::string message = what;
  message += ' ';
  message += std::to_string(n);
  message += ' ';
  message += unit;
  message += " does not fit in the ";
  message += std::to_string(size_ - offset);
  message += " remaining bytes";
  return FailAt(offset, message);
}

namespace internal {
namespace {

void ReplaceAll(std::string* text, std::string_view from, std::string_view to) {
  for (size_t pos = text->find(from); pos != std::string::npos; pos = text->find(from, pos)) {
    text->replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Removes template arguments ", prefix...<...>" (with their nested brackets).
void RemoveTemplateArguments(std::string* text, std::string_view prefix) {
  for (size_t pos = text->find(prefix); pos != std::string::npos; pos = text->find(prefix, pos)) {
    int depth = 0;
    size_t end = pos + prefix.size() - 1;  // the '<' that ends the prefix
    for (; end < text->size(); ++end) {
      if ((*text)[end] == '<') ++depth;
      if ((*text)[end] == '>' && --depth == 0) break;
    }
    if (end >= text->size()) return;  // unbalanced: leave the rest as it is
    text->erase(pos, end + 1 - pos);
  }
}

}  // namespace

std::string DemangleTypeName(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  if (status != 0 || demangled == nullptr) return mangled;
  std::string name = demangled.get();
  for (std::string_view string_type :
       {"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >",
        "std::basic_string<char, std::char_traits<char>, std::allocator<char> >"}) {
    ReplaceAll(&name, string_type, "std::string");
  }
  ReplaceAll(&name, "std::__cxx11::", "std::");
  for (std::string_view defaulted :
       {", std::allocator<", ", std::less<", ", std::hash<", ", std::equal_to<"}) {
    RemoveTemplateArguments(&name, defaulted);
  }
  ReplaceAll(&name, " >", ">");
  return name;
}

absl::Status DeserializeError(const char* mangled_type, size_t size, const ByteReader& in) {
  std::string message = "cannot deserialize " + DemangleTypeName(mangled_type) + " from " +
                        std::to_string(size) + " bytes: ";
  if (in.failed()) {
    message += in.error();
  } else {  // a user's Serde<T>::Read returned false without saying why
    message += "malformed input at byte offset " + std::to_string(in.offset());
  }
  return absl::InvalidArgumentError(message);
}

absl::Status TrailingBytesError(const char* mangled_type, size_t size, const ByteReader& in) {
  return absl::InvalidArgumentError(
      "cannot deserialize " + DemangleTypeName(mangled_type) + " from " + std::to_string(size) +
      " bytes: " + std::to_string(in.remaining()) + " trailing bytes after the value at byte offset " +
      std::to_string(in.offset()));
}

bool FailInvalidProtobuf(ByteReader& in, size_t offset, const google::protobuf::MessageLite& m) {
  return in.FailAt(offset, "invalid protobuf message " + m.GetTypeName());
}

}  // namespace internal
}  // namespace eddy
