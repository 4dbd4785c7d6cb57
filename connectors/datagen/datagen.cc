#include "connectors/datagen/datagen.h"

#include <stdexcept>

#include "absl/strings/numbers.h"

#include "api/key_hash.h"

namespace eddy::connectors::datagen {
namespace internal {
namespace {

/// Emits [from, to] split into contiguous sub-ranges, one split per subtask. The range may
/// hold 2^64 values, so positions are computed in 128 bits.
class SequenceReader final : public SourceReader<int64_t> {
 public:
  SequenceReader(int64_t from, int64_t to) : from_(from), to_(to) {}

  void Open(RuntimeContext& ctx, SourceWaker*) override {
    const int subtask = ctx.subtask;
    const int parallelism = std::max(ctx.parallelism, 1);
    std::optional<std::string> position = slice_.Open(subtask, parallelism);
    if (to_ < from_) return;
    const U128 n = static_cast<U128>(static_cast<__int128>(to_) - from_) + 1;
    begin_ = next_ = n * static_cast<U128>(subtask) / static_cast<U128>(parallelism);
    end_ = n * static_cast<U128>(subtask + 1) / static_cast<U128>(parallelism);
    uint64_t done = 0;
    if (position) {
      if (!absl::SimpleAtoi(*position, &done)) {
        throw std::runtime_error("malformed sequence position '" + *position + "' in the checkpoint");
      }
      next_ = std::min(end_, begin_ + done);
    }
  }

  InputStatus PollNext(ReaderOutput<int64_t>& out) override {
    SplitOutput<int64_t> split = out.ForSplit(kSubtaskSplit);
    for (int i = 0; i < kBatchRecords && next_ < end_; ++i, ++next_) {
      split.Collect(static_cast<int64_t>(static_cast<__int128>(from_) + static_cast<__int128>(next_)));
    }
    if (next_ < end_) return InputStatus::kMoreAvailable;
    out.ReleaseSplit(kSubtaskSplit);
    return InputStatus::kEndOfInput;
  }

  std::vector<SplitState> SnapshotState() override {
    return {slice_.Snapshot(std::to_string(static_cast<uint64_t>(next_ - begin_)))};
  }
  void RestoreState(std::vector<SplitState> splits) override { slice_.Restore(std::move(splits)); }

 private:
  using U128 = unsigned __int128;
  int64_t from_;
  int64_t to_;
  U128 next_ = 0;
  U128 begin_ = 0;
  U128 end_ = 0;
  SubtaskSlice slice_{"sequence"};
};

}  // namespace

uint64_t SubtaskSeed(uint64_t seed, int subtask) {
  return SplitMix64(seed ^ SplitMix64(static_cast<uint64_t>(subtask)));
}

}  // namespace internal

SourceDef<int64_t> sequence(int64_t from, int64_t to) {
  SourceDef<int64_t> def;
  def.name = "Sequence";
  def.bounded = true;
  def.factory = [from, to]() -> std::unique_ptr<SourceReader<int64_t>> {
    return std::make_unique<internal::SequenceReader>(from, to);
  };
  return def;
}

}  // namespace eddy::connectors::datagen
