#include "connectors/files/text_source.h"

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include "absl/strings/numbers.h"
#include "common/config.h"
#include "common/fs/file_system.h"
#include "connectors/files/file_splits.h"
#include "connectors/files/line_reader.h"
#include "connectors/rate_schedule.h"

namespace eddy::connectors::files {
namespace {

using Clock = std::chrono::steady_clock;

/// Reads this subtask's splits line by line; `Parse(line, first_of_file, T*)` turns a line
/// into a record (false: skip it). Bounded: byte-range splits of the files present at start.
/// Continuous (monitor_interval > 0): whole files, each owned by one subtask (by a hash of
/// its path), and the directory is listed again every interval for new files; unbounded.
/// Splits are read one after another; each is reported to the output (ForSplit) from its
/// opening until its end (ReleaseSplit), numbered by its index in splits_.
template <typename T, typename Parse>
class LineFileReader final : public SourceReader<T> {
 public:
  LineFileReader(std::string path, FileSourceOptions opts, Parse parse)
      : path_(std::move(path)), opts_(std::move(opts)), parse_(std::move(parse)) {}

  void Open(RuntimeContext& ctx, SourceWaker* waker) override {
    waker_ = waker;
    subtask_ = ctx.subtask;
    parallelism_ = std::max(ctx.parallelism, 1);
    schedule_.emplace(opts_.records_per_second);
    // One FileSystem for every listing and read (an s3:// one keeps its connections).
    absl::StatusOr<std::shared_ptr<fs::FileSystem>> file_system =
        fs::FileSystem::ForUri(path_, ctx.config != nullptr ? *ctx.config : Config());
    if (!file_system.ok()) throw std::runtime_error(std::string(file_system.status().message()));
    file_system_ = *std::move(file_system);
    reader_.emplace(file_system_);
    if (restored_) {
      // The checkpoint's splits replace this subtask's own pick; a watched directory is
      // still scanned for files that appear later, not for those any subtask had taken.
      for (const FileSplit& s : splits_) seen_.insert(s.path);
      seen_.insert(taken_.begin(), taken_.end());
      if (continuous()) next_scan_ = Clock::now();
    } else if (continuous()) {
      Scan();
    } else {
      absl::StatusOr<std::vector<InputFile>> files = ListInputFiles(*file_system_, path_);
      if (!files.ok()) throw std::runtime_error(std::string(files.status().message()));
      for (FileSplit& split : AssignSplits(*files, subtask_, parallelism_)) {
        splits_.push_back(std::move(split));
      }
    }
  }

  InputStatus PollNext(ReaderOutput<T>& out) override {
    for (int n = 0; n < SourceReader<T>::kBatchRecords;) {
      if (!open_) {
        if (current_ == splits_.size()) {
          if (!continuous()) return InputStatus::kEndOfInput;
          if (Clock::now() < next_scan_) {
            waker_->WakeAt(next_scan_);
            return InputStatus::kNothingAvailable;
          }
          Scan();
          if (current_ == splits_.size()) {
            waker_->WakeAt(next_scan_);
            return InputStatus::kNothingAvailable;
          }
        }
        reader_->Open(splits_[current_]);
        out.ForSplit(current_split());  // live (holds the watermark back) until released
        lines_in_split_ = 0;
        open_ = true;
        // A restored split resumes after the lines it had read.
        const uint64_t skip = current_ < skip_.size() ? skip_[current_] : 0;
        std::string_view skipped;
        while (lines_in_split_ < skip && reader_->Next(&skipped)) ++lines_in_split_;
      }
      if (!schedule_->Ready(waker_)) return InputStatus::kNothingAvailable;
      std::string_view line;
      if (!reader_->Next(&line)) {
        if (!reader_->status().ok()) {
          throw std::runtime_error(std::string(reader_->status().message()));
        }
        out.ReleaseSplit(current_split());
        open_ = false;
        ++current_;
        continue;
      }
      ++lines_in_split_;
      if (parse_(line, reader_->at_file_start(), &record_)) {
        out.ForSplit(current_split()).Collect(record_);
        schedule_->Advance();
        ++n;
      }
    }
    return InputStatus::kMoreAvailable;
  }

  /// Position of each split: lines read (the current one), done, or not started. A split
  /// is "<path>:<begin>-<end>". Continuous: finished files are not kept as splits; instead
  /// every file any subtask has taken is a union entry (restored to every subtask, at any
  /// parallelism), so that no subtask takes it again while the unfinished ones go to one.
  std::vector<SplitState> SnapshotState() override {
    std::vector<SplitState> out;
    for (size_t i = 0; i < splits_.size(); ++i) {
      const FileSplit& s = splits_[i];
      if (continuous() && i < current_) continue;  // done: a union entry below
      uint64_t lines = i < skip_.size() ? skip_[i] : 0;  // restored, not reached yet
      if (i == current_ && open_) lines = lines_in_split_;
      std::string position = i < current_ ? "done" : std::to_string(lines);
      out.push_back(SplitState{s.path + ":" + std::to_string(s.begin) + "-" + std::to_string(s.end),
                               position});
    }
    if (continuous()) {
      std::set<std::string_view> taken(taken_.begin(), taken_.end());
      for (const FileSplit& s : splits_) taken.insert(s.path);
      for (std::string_view path : taken) {
        out.push_back(SplitState{.split_id = std::string(path), .position = "taken",
                                 .everywhere = true});
      }
    }
    return out;
  }

  /// Reads the checkpointed splits from their positions (finished ones are kept, as done).
  void RestoreState(std::vector<SplitState> splits) override {
    restored_ = true;
    std::vector<std::pair<FileSplit, uint64_t>> pending;
    for (const SplitState& state : splits) {
      if (state.everywhere) {  // a file some subtask had taken (continuous mode)
        taken_.insert(state.split_id);
        continue;
      }
      FileSplit split;
      const size_t colon = state.split_id.rfind(':');
      const size_t dash = colon == std::string::npos ? std::string::npos
                                                      : state.split_id.find('-', colon);
      uint64_t lines = 0;
      const bool done = state.position == "done";
      if (dash == std::string::npos ||
          !absl::SimpleAtoi(state.split_id.substr(colon + 1, dash - colon - 1), &split.begin) ||
          !absl::SimpleAtoi(state.split_id.substr(dash + 1), &split.end) ||
          (!done && !absl::SimpleAtoi(state.position, &lines))) {
        throw std::runtime_error("malformed file split '" + state.split_id + "' at '" +
                                 state.position + "' in the checkpoint of " + path_);
      }
      split.path = state.split_id.substr(0, colon);
      if (done) {
        splits_.push_back(std::move(split));
      } else {
        pending.emplace_back(std::move(split), lines);
      }
    }
    current_ = splits_.size();
    skip_.assign(splits_.size(), 0);
    for (auto& [split, lines] : pending) {
      splits_.push_back(std::move(split));
      skip_.push_back(lines);
    }
  }

 private:
  bool continuous() const { return opts_.monitor_interval.count() > 0; }
  /// The split being read: its index in splits_ (a file, in continuous mode).
  SplitIndex current_split() const { return SplitIndex(static_cast<uint32_t>(current_)); }

  /// Lists the path and takes the new files this subtask owns.
  void Scan() {
    next_scan_ = Clock::now() + opts_.monitor_interval;
    absl::StatusOr<std::vector<InputFile>> files = ListInputFiles(*file_system_, path_);
    if (!files.ok()) {
      // A watched directory may not exist yet; anything else is an error.
      if (absl::IsNotFound(files.status())) return;
      throw std::runtime_error(std::string(files.status().message()));
    }
    for (const InputFile& f : *files) {
      if (!seen_.insert(f.path).second) continue;
      if (std::hash<std::string>()(f.path) % static_cast<size_t>(parallelism_) !=
          static_cast<size_t>(subtask_)) {
        continue;
      }
      splits_.push_back(FileSplit{f.path, 0, f.size});
    }
  }

  std::string path_;
  FileSourceOptions opts_;
  Parse parse_;
  SourceWaker* waker_ = nullptr;
  int subtask_ = 0;
  int parallelism_ = 1;
  std::vector<FileSplit> splits_;
  size_t current_ = 0;
  bool open_ = false;
  bool restored_ = false;
  std::vector<uint64_t> skip_;  // per split: lines to skip when it opens (restored)
  uint64_t lines_in_split_ = 0;
  std::shared_ptr<fs::FileSystem> file_system_;
  std::optional<SplitLineReader> reader_;  // made in Open()
  T record_{};
  std::set<std::string> seen_;
  /// Continuous: the files any subtask had taken at the restored checkpoint.
  std::set<std::string> taken_;
  Clock::time_point next_scan_{};
  std::optional<RateSchedule> schedule_;
};

template <typename T, typename Parse>
SourceDef<T> MakeLineSource(std::string name, std::string path, FileSourceOptions opts,
                            Parse parse) {
  SourceDef<T> def;
  def.name = opts.name.empty() ? std::move(name) : opts.name;
  def.bounded = opts.monitor_interval.count() <= 0;
  def.factory = [path = std::move(path), opts = std::move(opts),
                 parse = std::move(parse)]() -> std::unique_ptr<SourceReader<T>> {
    return std::make_unique<LineFileReader<T, Parse>>(path, opts, parse);
  };
  return def;
}

}  // namespace

void ParseCsvLine(std::string_view line, char delimiter, std::vector<std::string>* fields) {
  fields->clear();
  size_t i = 0;
  const size_t n = line.size();
  while (true) {
    std::string& field = fields->emplace_back();
    if (i < n && line[i] == '"') {
      ++i;
      while (i < n) {
        if (line[i] == '"') {
          if (i + 1 < n && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          field.push_back(line[i++]);
        }
      }
    }
    // Unquoted field, or what follows a closing quote up to the delimiter.
    size_t end = line.find(delimiter, i);
    if (end == std::string_view::npos) end = n;
    field.append(line.data() + i, end - i);
    if (end == n) return;
    i = end + 1;
  }
}

SourceDef<std::string> text_lines(std::string path, FileSourceOptions opts) {
  return MakeLineSource<std::string>(
      "TextLines", std::move(path), std::move(opts),
      [](std::string_view line, bool, std::string* out) {
        out->assign(line.data(), line.size());
        return true;
      });
}

SourceDef<std::vector<std::string>> csv_rows(std::string path, char delimiter, bool skip_header,
                                             FileSourceOptions opts) {
  return MakeLineSource<std::vector<std::string>>(
      "CsvRows", std::move(path), std::move(opts),
      [delimiter, skip_header](std::string_view line, bool first_of_file,
                               std::vector<std::string>* row) {
        if ((skip_header && first_of_file) || line.empty()) return false;
        ParseCsvLine(line, delimiter, row);
        return true;
      });
}

}  // namespace eddy::connectors::files
