#include "connectors/files/committing_writer.h"

#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/fs/file_system.h"
#include "common/ids.h"

namespace eddy::connectors::files {
namespace {

void Check(const absl::Status& status) {
  if (!status.ok()) throw std::runtime_error(std::string(status.message()));
}

}  // namespace

CommittingPartWriter::CommittingPartWriter(std::string dir, PartFileOptions options)
    : dir_(std::move(dir)), options_(options) {}

CommittingPartWriter::~CommittingPartWriter() { Close(); }

void CommittingPartWriter::Restore(const std::vector<std::string>& entries) {
  restored_ = entries;
}

void CommittingPartWriter::Open(RuntimeContext& ctx) {
  ctx_ = &ctx;
  auto made = fs::FileSystem::ForUri(dir_, ctx.config != nullptr ? *ctx.config : Config());
  Check(made.status());
  fs_ = *made;
  attempt_uid_ = RandomHexId(8);
  buffer_.reserve(kBufferSize);
  // The restored checkpoint completed: what it pre-committed is published now.
  for (const std::string& entry : restored_) {
    auto handle = fs::CommitHandle::Decode(entry);
    Check(handle.status());
    Check(fs_->Commit(*handle));
  }
  restored_.clear();
  if (options_.rollover.count() > 0 && ctx.processing_time != nullptr) {
    ScheduleRoll(ctx.processing_time->CurrentProcessingTime() + options_.rollover.count());
  }
}

std::string CommittingPartWriter::NextPartUri() {
  const int64_t n = next_part_++;
  if (ctx_->checkpointing) {
    return fs::JoinUri(dir_, absl::StrCat("part-", ctx_->subtask, "-", attempt_uid_, "-", n));
  }
  if (options_.rollover.count() > 0) {
    return fs::JoinUri(dir_, absl::StrCat("part-", ctx_->subtask, "-", n));
  }
  return fs::JoinUri(dir_, absl::StrCat("part-", ctx_->subtask));
}

void CommittingPartWriter::FlushBuffer() {
  if (buffer_.empty()) return;
  if (part_ == nullptr) {
    auto stream = fs_->CreateForCommit(NextPartUri());
    Check(stream.status());
    part_ = std::move(*stream);
    part_bytes_ = 0;
  }
  Check(part_->Write(buffer_));
  part_bytes_ += buffer_.size();
  buffer_.clear();
  if (part_bytes_ >= options_.max_part_size) Roll();
}

void CommittingPartWriter::Roll() {
  FlushBuffer();
  if (part_ == nullptr) return;
  auto handle = part_->CloseForCommit();
  part_.reset();
  Check(handle.status());
  if (ctx_->checkpointing) {
    staged_.push_back(std::move(*handle));
  } else {
    Check(fs_->Commit(*handle));
  }
}

void CommittingPartWriter::ScheduleRoll(int64_t at) {
  ctx_->processing_time->RegisterTimer(at, [this](int64_t now) {
    if (finished_ || fs_ == nullptr) return;
    Roll();
    ScheduleRoll(now + options_.rollover.count());
  });
}

void CommittingPartWriter::Snapshot(int64_t checkpoint_id, std::vector<std::string>* entries) {
  Roll();
  if (!staged_.empty()) {
    auto& bucket = pending_[checkpoint_id];
    for (auto& h : staged_) bucket.push_back(std::move(h));
    staged_.clear();
  }
  for (const auto& [id, handles] : pending_) {
    for (const auto& h : handles) entries->push_back(h.Encode());
  }
}

void CommittingPartWriter::NotifyComplete(int64_t checkpoint_id) {
  while (!pending_.empty() && pending_.begin()->first <= checkpoint_id) {
    for (const auto& h : pending_.begin()->second) Check(fs_->Commit(h));
    pending_.erase(pending_.begin());
  }
}

void CommittingPartWriter::Finish() {
  if (!ctx_->checkpointing && options_.rollover.count() <= 0 && part_ == nullptr &&
      buffer_.empty()) {
    // One (possibly empty) part-<subtask> per subtask, as a batch job's output.
    auto stream = fs_->CreateForCommit(NextPartUri());
    Check(stream.status());
    part_ = std::move(*stream);
  }
  Roll();
  finished_ = true;
}

void CommittingPartWriter::Close() {
  finished_ = true;
  if (part_ != nullptr) {
    part_->Abort();
    part_.reset();
  }
  // Parts staged since the last barrier are in no checkpoint: nothing will publish them.
  // (Pre-committed ones stay: a restore of their checkpoint publishes them.)
  if (fs_ != nullptr) {
    for (const auto& h : staged_) (void)fs_->AbortCommit(h);
  }
  staged_.clear();
  buffer_.clear();
}

}  // namespace eddy::connectors::files
