#include "taskmanager/state/snapshot_format.h"

#include "absl/strings/str_cat.h"

namespace eddy::state {
namespace {

constexpr std::string_view kMagic = "EDDYKGS1";
enum Tag : uint8_t { kEnd = 0, kState = 1, kEntry = 2, kTimerService = 3, kTimer = 4 };

absl::Status Malformed(const ByteReader& in, std::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed keyed-state snapshot: ", std::string(what),
                                          in.failed() ? absl::StrCat(" (", in.error(), ")")
                                                      : absl::StrCat(" at byte offset ",
                                                                     in.offset())));
}

}  // namespace

bool ParseStoredKey(std::string_view bytes, StoredKey* out) {
  if (bytes.size() < 2) return false;
  out->key_group = (static_cast<uint8_t>(bytes[0]) << 8) | static_cast<uint8_t>(bytes[1]);
  ByteReader in(bytes.substr(2));
  if (!in.GetLengthPrefixed(&out->key) || !in.GetLengthPrefixed(&out->ns)) return false;
  out->size = 2 + in.offset();
  return true;
}

void AppendKeyGroupPrefix(int32_t key_group, std::string* out) {
  out->push_back(static_cast<char>((key_group >> 8) & 0xff));
  out->push_back(static_cast<char>(key_group & 0xff));
}

void AppendStoredKey(int32_t key_group, std::string_view key, std::string_view ns,
                     std::string* out) {
  AppendKeyGroupPrefix(key_group, out);
  PutLengthPrefixed(out, key);
  PutLengthPrefixed(out, ns);
}

SnapshotWriter::SnapshotWriter(std::string* out, int32_t max_parallelism, KeyGroupRange range)
    : out_(out) {
  out_->append(kMagic);
  PutVarint64(out_, static_cast<uint64_t>(max_parallelism));
  PutVarint64(out_, static_cast<uint64_t>(range.start));
  PutVarint64(out_, static_cast<uint64_t>(range.end));
}

void SnapshotWriter::BeginState(const StateMeta& meta) {
  out_->push_back(kState);
  PutLengthPrefixed(out_, meta.name);
  out_->push_back(static_cast<char>(meta.kind));
  out_->push_back(meta.ttl.enabled() ? 1 : 0);
  PutVarint64(out_, static_cast<uint64_t>(meta.ttl.ttl.count()));
  out_->push_back(static_cast<char>(meta.ttl.update_type));
  map_state_ = meta.kind == StateKind::kMap;
}

void SnapshotWriter::Entry(std::string_view stored_key, std::string_view user_key,
                           std::string_view value) {
  StoredKey parsed;
  EDDY_CHECK(ParseStoredKey(stored_key, &parsed)) << "stored state key is malformed";
  out_->push_back(kEntry);
  PutVarint64(out_, static_cast<uint64_t>(parsed.key_group));
  PutLengthPrefixed(out_, parsed.key);
  PutLengthPrefixed(out_, parsed.ns);
  if (map_state_) PutLengthPrefixed(out_, user_key);
  PutLengthPrefixed(out_, value);
}

void SnapshotWriter::BeginTimerService(std::string_view name) {
  out_->push_back(kTimerService);
  PutLengthPrefixed(out_, name);
}

void SnapshotWriter::Timer(TimeDomain domain, const InternalTimer& timer) {
  out_->push_back(kTimer);
  out_->push_back(static_cast<char>(domain));
  PutVarint64(out_, static_cast<uint64_t>(timer.key_group));
  PutVarint64(out_, ZigZagEncode(timer.time));
  PutLengthPrefixed(out_, timer.key);
  PutLengthPrefixed(out_, timer.ns);
}

void SnapshotWriter::Finish() { out_->push_back(kEnd); }

absl::Status ReadSnapshot(std::string_view bytes, SnapshotVisitor& visitor) {
  ByteReader in(bytes);
  std::string_view magic;
  if (!in.GetBytes(kMagic.size(), &magic) || magic != kMagic) {
    return Malformed(in, "missing the EDDYKGS1 header");
  }
  uint64_t max_parallelism = 0, first = 0, last = 0;
  if (!in.GetVarint64(&max_parallelism) || !in.GetVarint64(&first) || !in.GetVarint64(&last) ||
      max_parallelism == 0 || max_parallelism > 32768 || last >= max_parallelism) {
    return Malformed(in, "bad header");
  }
  if (absl::Status s = visitor.OnHeader(static_cast<int32_t>(max_parallelism),
                                        KeyGroupRange{static_cast<int32_t>(first),
                                                      static_cast<int32_t>(last)});
      !s.ok()) {
    return s;
  }
  bool in_state = false, map_state = false, in_timers = false;
  std::string stored_key;
  InternalTimer timer;
  while (true) {
    uint8_t tag = 0;
    if (!in.GetByte(&tag)) return Malformed(in, "truncated (no end marker)");
    absl::Status status;
    switch (tag) {
      case kEnd:
        if (!in.empty()) return Malformed(in, "bytes after the end marker");
        return absl::OkStatus();
      case kState: {
        StateMeta meta;
        std::string_view name;
        uint8_t kind = 0, ttl_on = 0, update = 0;
        uint64_t ttl_ms = 0;
        if (!in.GetLengthPrefixed(&name) || !in.GetByte(&kind) || !in.GetByte(&ttl_on) ||
            !in.GetVarint64(&ttl_ms) || !in.GetByte(&update) || kind < 1 || kind > 5 ||
            ttl_on > 1 || update > 1 || (ttl_on == 1) != (ttl_ms > 0)) {
          return Malformed(in, "bad state record");
        }
        meta.name.assign(name);
        meta.kind = static_cast<StateKind>(kind);
        meta.ttl.ttl = std::chrono::milliseconds(static_cast<int64_t>(ttl_ms));
        meta.ttl.update_type = static_cast<StateTtlConfig::UpdateType>(update);
        in_state = true;
        in_timers = false;
        map_state = meta.kind == StateKind::kMap;
        status = visitor.OnState(meta);
        break;
      }
      case kEntry: {
        uint64_t key_group = 0;
        std::string_view key, ns, user_key, value;
        if (!in_state || !in.GetVarint64(&key_group) || key_group >= max_parallelism ||
            !in.GetLengthPrefixed(&key) || !in.GetLengthPrefixed(&ns) ||
            (map_state && !in.GetLengthPrefixed(&user_key)) || !in.GetLengthPrefixed(&value)) {
          return Malformed(in, "bad state entry");
        }
        stored_key.clear();
        AppendStoredKey(static_cast<int32_t>(key_group), key, ns, &stored_key);
        status = visitor.OnEntry(static_cast<int32_t>(key_group), stored_key, user_key, value);
        break;
      }
      case kTimerService: {
        std::string_view name;
        if (!in.GetLengthPrefixed(&name)) return Malformed(in, "bad timer service record");
        in_state = false;
        in_timers = true;
        status = visitor.OnTimerService(name);
        break;
      }
      case kTimer: {
        uint8_t domain = 0;
        uint64_t key_group = 0, time = 0;
        std::string_view key, ns;
        if (!in_timers || !in.GetByte(&domain) || domain > 1 || !in.GetVarint64(&key_group) ||
            key_group >= max_parallelism || !in.GetVarint64(&time) ||
            !in.GetLengthPrefixed(&key) || !in.GetLengthPrefixed(&ns)) {
          return Malformed(in, "bad timer");
        }
        timer.time = ZigZagDecode(time);
        timer.key_group = static_cast<int32_t>(key_group);
        timer.key.assign(key);
        timer.ns.assign(ns);
        status = visitor.OnTimer(static_cast<TimeDomain>(domain), timer);
        break;
      }
      default:
        return Malformed(in, absl::StrCat("unknown record tag ", tag));
    }
    if (!status.ok()) return status;
  }
}

}  // namespace eddy::state
