#include "common/fs/file_system.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/fs/local_file_system.h"
#include "common/fs/s3_file_system.h"
#include "common/status.h"

namespace eddy::fs {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// CommitHandle encoding: the magic, then target, staged, the part count, each part, and the
// size; strings as a varint length and their bytes, numbers as varints (LEB128). Binary,
// so that any bytes of a local path survive (JSON would need valid UTF-8).
constexpr std::string_view kHandleMagic = "EFH1";
// A handle is a few hundred bytes; S3 allows 10,000 parts.
constexpr uint64_t kMaxParts = 10'000;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

/// Reads the fields of an encoded handle; every failure names what was malformed.
class HandleReader {
 public:
  explicit HandleReader(std::string_view bytes) : rest_(bytes) {}

  absl::StatusOr<uint64_t> Varint(std::string_view field) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (rest_.empty()) return Malformed(absl::StrCat("truncated ", Av(field)));
      const auto byte = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      if (shift == 63 && byte > 1) break;  // would overflow 64 bits
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    return Malformed(absl::StrCat("overlong number in ", Av(field)));
  }

  absl::StatusOr<std::string> String(std::string_view field) {
    EDDY_ASSIGN_OR_RETURN(uint64_t size, Varint(field));
    if (size > rest_.size()) {
      return Malformed(absl::StrCat(Av(field), " of ", size, " bytes runs past the end (",
                                    rest_.size(), " left)"));
    }
    std::string s(rest_.substr(0, size));
    rest_.remove_prefix(size);
    return s;
  }

  bool at_end() const { return rest_.empty(); }
  size_t left() const { return rest_.size(); }

  static absl::Status Malformed(std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("not a commit handle: ", Av(what)));
  }

 private:
  std::string_view rest_;
};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string CommitHandle::Encode() const {
  std::string out(kHandleMagic);
  PutString(&out, target);
  PutString(&out, staged);
  PutVarint(&out, parts.size());
  for (const std::string& part : parts) PutString(&out, part);
  PutVarint(&out, size);
  return out;
}

absl::StatusOr<CommitHandle> CommitHandle::Decode(std::string_view bytes) {
  if (!StartsWith(bytes, kHandleMagic)) {
    return HandleReader::Malformed(
        absl::StrCat(bytes.size(), " bytes without the ", Av(kHandleMagic), " header"));
  }
  HandleReader in(bytes.substr(kHandleMagic.size()));
  CommitHandle handle;
  EDDY_ASSIGN_OR_RETURN(handle.target, in.String("target"));
  EDDY_ASSIGN_OR_RETURN(handle.staged, in.String("staged"));
  EDDY_ASSIGN_OR_RETURN(uint64_t part_count, in.Varint("part count"));
  if (part_count > kMaxParts) {
    return HandleReader::Malformed(absl::StrCat(part_count, " parts, more than ", kMaxParts));
  }
  for (uint64_t i = 0; i < part_count; ++i) {
    EDDY_ASSIGN_OR_RETURN(std::string part, in.String(absl::StrCat("part ", i + 1)));
    handle.parts.push_back(std::move(part));
  }
  EDDY_ASSIGN_OR_RETURN(handle.size, in.Varint("size"));
  if (!in.at_end()) {
    return HandleReader::Malformed(absl::StrCat(in.left(), " trailing bytes"));
  }
  if (handle.target.empty()) return HandleReader::Malformed("empty target");
  if (handle.staged.empty()) return HandleReader::Malformed("empty staged name");
  return handle;
}

absl::StatusOr<std::shared_ptr<FileSystem>> FileSystem::ForUri(std::string_view uri,
                                                               const Config& config) {
  const size_t sep = uri.find("://");
  const std::string_view scheme = sep == std::string_view::npos ? "" : uri.substr(0, sep);
  if (scheme.empty() || scheme == "file") {
    EDDY_RETURN_IF_ERROR(LocalPathOf(uri).status());
    return std::shared_ptr<FileSystem>(LocalFileSystem::Instance());
  }
  if (scheme == "s3") {
    EDDY_RETURN_IF_ERROR(ParseS3Uri(uri).status());
    EDDY_ASSIGN_OR_RETURN(S3Options options, S3Options::FromConfig(config));
    return std::shared_ptr<FileSystem>(std::make_shared<S3FileSystem>(std::move(options)));
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported file system scheme '", Av(scheme),
                                                 "' in '", Av(uri),
                                                 "' (supported: file://, s3://, a plain path)"));
}

std::string JoinUri(std::string_view base, std::string_view name) {
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  // "scheme://" stays as it is; of the path after it, trailing slashes are dropped unless
  // it is the root.
  const size_t sep = base.find("://");
  const std::string_view scheme = sep == std::string_view::npos ? "" : base.substr(0, sep + 3);
  std::string_view path = base.substr(scheme.size());
  if (path.empty()) return absl::StrCat(Av(scheme), Av(name));
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path == "/") return absl::StrCat(Av(scheme), "/", Av(name));
  return absl::StrCat(Av(scheme), Av(path), "/", Av(name));
}

}  // namespace eddy::fs
