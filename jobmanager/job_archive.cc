#include "jobmanager/job_archive.h"

#include <cctype>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/local_file.h"
#include "common/logging.h"

namespace eddy {
namespace {

constexpr char kFileScheme[] = "file://";
// Archives queued but not yet written: beyond this (a stalled disk) the oldest is dropped
// so that memory stays bounded.
constexpr size_t kMaxPending = 1024;
// An archive holds a bounded exception history and one entry per vertex; anything larger
// is not one of ours.
constexpr size_t kMaxArchiveBytes = 64 << 20;

std::string StripFileScheme(const std::string& dir) {
  if (!absl::StartsWith(dir, kFileScheme)) return dir;
  return dir.substr(sizeof(kFileScheme) - 1);
}

/// Job ids are hex; anything else (a '/', "..", the '.' of temporary files) cannot name
/// an archive, so a REST path parameter never reaches outside the archive directory.
bool IsJobIdShaped(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

absl::StatusOr<nlohmann::json> FindEntry(const nlohmann::json& document, const std::string& path) {
  const auto archive = document.find("archive");
  if (archive != document.end() && archive->is_array()) {
    for (const auto& entry : *archive) {
      if (entry.is_object() && entry.value("path", "") == path && entry.contains("json")) {
        return entry["json"];
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("the archive has no ", path));
}

}  // namespace

JobArchive::JobArchive(const std::string& dir) : dir_(StripFileScheme(dir)) {
  if (enabled()) writer_ = std::thread([this] { WriterLoop(); });
}

JobArchive::~JobArchive() { Stop(); }

void JobArchive::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

std::string JobArchive::PathOf(const JobId& job) const {
  return absl::StrCat(dir_, "/", job.value());
}

void JobArchive::Archive(const JobId& job, std::vector<Entry> entries) {
  if (!enabled()) return;
  nlohmann::json document = {{"archive", nlohmann::json::array()}};
  for (auto& e : entries) {
    document["archive"].push_back({{"path", std::move(e.path)}, {"json", std::move(e.json)}});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      pending_[job.value()] = Pending{std::move(document), next_version_++};
      queue_.push_back(job.value());
      while (pending_.size() > kMaxPending && !queue_.empty()) {
        const std::string oldest = queue_.front();
        queue_.pop_front();
        if (pending_.erase(oldest) > 0) {
          EDDY_LOG(ERROR) << "job " << oldest << " not archived to " << dir_ << ": " << kMaxPending
                          << " archives are waiting for the disk";
        }
      }
      cv_.notify_one();
      return;
    }
  }
  // Stopped (the JobManager shuts down): nothing else waits for the disk any more.
  Write(job.value(), document);
}

void JobArchive::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything is written
    const std::string job_id = queue_.front();
    queue_.pop_front();
    auto it = pending_.find(job_id);
    if (it == pending_.end()) continue;  // an earlier queue entry of the job wrote it
    const nlohmann::json document = it->second.document;
    const uint64_t version = it->second.version;
    lock.unlock();
    Write(job_id, document);
    lock.lock();
    // Keep a newer archive of the job queued while this one was written.
    it = pending_.find(job_id);
    if (it != pending_.end() && it->second.version == version) pending_.erase(it);
  }
}

void JobArchive::Write(const std::string& job_id, const nlohmann::json& document) const {
  const std::string path = PathOf(JobId(job_id));
  absl::Status status = WriteFileAtomically(path, document.dump());
  if (!status.ok()) {
    EDDY_LOG(ERROR) << "cannot archive job " << job_id << " to " << path << ": "
                    << status.message();
    return;
  }
  EDDY_LOG(DEBUG) << "archived job " << job_id << " to " << path;
}

absl::StatusOr<nlohmann::json> JobArchive::Find(const std::string& job_id,
                                                const std::string& path) const {
  const auto no_job = absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  if (!enabled() || !IsJobIdShaped(job_id)) return no_job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(job_id);
    if (it != pending_.end()) return FindEntry(it->second.document, path);
  }
  const std::string file = PathOf(JobId(job_id));
  auto text = ReadWholeFile(file, kMaxArchiveBytes);
  if (absl::IsNotFound(text.status())) return no_job;
  if (!text.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot read the archive of job ", job_id, ": ", text.status().message()));
  }
  auto document = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return absl::InternalError(absl::StrCat("the archive ", file, " is not valid JSON"));
  }
  return FindEntry(document, path);
}

}  // namespace eddy
