// The Nexmark source: Beam's generator (generator.h) as a parallel source. Subtask k of p
// makes the event numbers i ≡ k (mod p), in increasing order, so every parallelism yields
// the same events and the subtasks' event times advance together. Each record carries its
// event time (date_time); use `job.source(nexmark::source(opts), for_monotonous_timestamps())`
// or any strategy that reads the reader's timestamps. Kinds a query does not read are
// skipped without being made (each event's randomness is its own, so skipping changes
// nothing else). One reused Event per reader: no allocation per event.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "api/job_builder.h"
#include "api/source.h"
#include "connectors/datagen/nexmark/generator.h"
#include "connectors/rate_schedule.h"

namespace eddy::connectors::nexmark {

struct SourceOptions {
  /// Events over all subtasks (event numbers 0 .. events-1); -1: unbounded.
  int64_t events = -1;
  /// Kinds to emit (kPersons | kAuctions | kBids); the others are skipped.
  uint32_t kinds = kAllKinds;
  /// Events per second over all subtasks (counting skipped ones); 0 = as fast as possible.
  double events_per_second = 0;
  /// With a rate: event i is due at this wall time (epoch ms) + i / rate, so that a sink
  /// can tell how late a result is (see DueTimeMs); 0 = when the subtask opens.
  int64_t start_at_ms = 0;
  std::string name = "Nexmark";
};

/// Wall time (epoch ms, fractional) at which event number `i` is due under `opts`' rate.
inline double DueTimeMs(const SourceOptions& opts, int64_t i) {
  return static_cast<double>(opts.start_at_ms) + 1000.0 * static_cast<double>(i) / opts.events_per_second;
}

namespace internal {

inline const SplitIndex kNexmarkSplit{0};

/// T is Event (any kinds) or Bid (bids alone, made straight into the record: no Event).
template <typename T>
class NexmarkReader final : public SourceReader<T> {
 public:
  static_assert(std::is_same_v<T, Event> || std::is_same_v<T, Bid>);
  explicit NexmarkReader(SourceOptions opts) : opts_(std::move(opts)) {
    if constexpr (std::is_same_v<T, Bid>) opts_.kinds = kBids;
  }

  void Open(RuntimeContext& ctx, SourceWaker* waker) override {
    waker_ = waker;
    stride_ = std::max(ctx.parallelism, 1);
    next_ = ctx.subtask;
    if (std::optional<std::string> position = slice_.Open(ctx.subtask, static_cast<int>(stride_))) {
      // "<next event> <start_at_ms>": the pacing goes on from the original start.
      const size_t space = position->find(' ');
      int64_t start_at = 0;
      if (space == std::string::npos || !absl::SimpleAtoi(position->substr(0, space), &next_) ||
          !absl::SimpleAtoi(position->substr(space + 1), &start_at)) {
        throw std::runtime_error("malformed Nexmark position '" + *position + "' in the checkpoint");
      }
      if (start_at > 0) opts_.start_at_ms = start_at;
    }
    if (opts_.events_per_second > 0 && opts_.start_at_ms <= 0) {
      opts_.start_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    }
  }

  InputStatus PollNext(ReaderOutput<T>& out) override {
    SplitOutput<T> split = out.ForSplit(kNexmarkSplit);
    const bool bounded = opts_.events >= 0;
    const bool paced = opts_.events_per_second > 0;
    // With a rate: the events due by now (one clock read per call, not per event).
    const int64_t last_due = paced ? LastDueEvent() : std::numeric_limits<int64_t>::max();
    int emitted = 0;
    // Skipped kinds cost an index test each; bound the work per call all the same.
    constexpr int kBatch = SourceReader<T>::kBatchRecords;
    for (int steps = 0; emitted < kBatch && steps < 64 * kBatch; ++steps) {
      if (bounded && next_ >= opts_.events) {
        out.ReleaseSplit(kNexmarkSplit);
        return InputStatus::kEndOfInput;
      }
      const int64_t i = next_;
      const EventKind kind = KindOf(i);
      if ((opts_.kinds & KindBit(kind)) != 0) {
        if (i > last_due) {
          WakeWhenDue(i);
          return InputStatus::kNothingAvailable;
        }
        if constexpr (std::is_same_v<T, Bid>) {
          GenerateBid(i, &record_);
          split.Collect(std::as_const(record_), record_.date_time);
        } else {
          record_.kind = kind;
          switch (kind) {
            case EventKind::kPerson: GeneratePerson(i, &record_.person); break;
            case EventKind::kAuction: GenerateAuction(i, &record_.auction); break;
            case EventKind::kBid: GenerateBid(i, &record_.bid); break;
          }
          split.Collect(std::as_const(record_), record_.date_time());
        }
        ++emitted;
      }
      next_ += stride_;
    }
    return InputStatus::kMoreAvailable;
  }

  std::vector<SplitState> SnapshotState() override {
    return {slice_.Snapshot(std::to_string(next_) + " " + std::to_string(opts_.start_at_ms))};
  }
  void RestoreState(std::vector<SplitState> splits) override { slice_.Restore(std::move(splits)); }

 private:
  static int64_t NowUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  /// The last event number due by now (-1 before event 0 is).
  int64_t LastDueEvent() const {
    const double elapsed_s = static_cast<double>(NowUs() - opts_.start_at_ms * 1000) / 1e6;
    if (elapsed_s < 0) return -1;
    return static_cast<int64_t>(elapsed_s * opts_.events_per_second);
  }

  /// Asks to be woken when event `i` is due.
  void WakeWhenDue(int64_t i) {
    if (waker_ == nullptr) return;
    const auto wait = std::chrono::microseconds(
        std::max<int64_t>(static_cast<int64_t>(DueTimeMs(opts_, i) * 1000.0) - NowUs(), 0));
    waker_->WakeAt(RateSchedule::Clock::now() + wait);
  }

  SourceOptions opts_;
  SourceWaker* waker_ = nullptr;
  int64_t stride_ = 1;
  int64_t next_ = 0;
  SubtaskSlice slice_{"nexmark"};
  T record_;  // reused: refilling it allocates nothing
};

}  // namespace internal

namespace internal {
template <typename T>
SourceDef<T> MakeSource(SourceOptions opts) {
  SourceDef<T> def;
  def.name = opts.name;
  def.bounded = opts.events >= 0;
  def.factory = [opts = std::move(opts)]() -> std::unique_ptr<SourceReader<T>> {
    return std::make_unique<NexmarkReader<T>>(opts);
  };
  return def;
}
}  // namespace internal

/// Returns the Nexmark source described by `opts`: Events of the kinds in `opts.kinds`.
inline SourceDef<Event> source(SourceOptions opts) { return internal::MakeSource<Event>(std::move(opts)); }

/// The same source's bids alone, as Bid records (`opts.kinds` is ignored): for queries
/// that read only bids, one copy less per record than Events then a projection.
inline SourceDef<Bid> bids(SourceOptions opts) { return internal::MakeSource<Bid>(std::move(opts)); }

}  // namespace eddy::connectors::nexmark
