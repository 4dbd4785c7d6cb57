// What a checkpoint of keyed state costs, per backend and state size: the synchronous part
// (what the task thread does before it goes on with records: RocksDB seals its memtables and
// makes iterators, the heap holds its key groups copy-on-write), the asynchronous part (on a
// snapshot thread: the snapshot encoded and uploaded as a state file through the file system,
// here file:// on local disk) with what it costs the task thread writing meanwhile (the heap
// copies each key group it writes while the snapshot still holds it), and the restore (read
// back and loaded into a fresh backend). Also the cost of a plain loop copying the same bytes, the
// floor of a full snapshot. Prints a table.
//
// RocksDB also takes incremental checkpoints (state.backend.incremental, the default): the
// first uploads every SST file, the second — after 1% more keys — only the new ones; then a
// restore at the same key groups downloads the files and opens them as the instance.
//
//   build/release/bin/eddy-bench-checkpoint [--state-mb N] [--value-bytes B]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "api/state.h"
#include "common/config.h"
#include "common/fs/checkpoint_storage.h"
#include "common/fs/file_system.h"
#include "taskmanager/keyed_state_upload.h"
#include "taskmanager/state/rocksdb_keyed_state_backend.h"
#include "taskmanager/state/state_backend_factory.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Row {
  std::string backend;
  double state_mb = 0;
  double fill_s = 0;
  double sync_ms = 0;
  double async_ms = 0;
  double restore_ms = 0;
  double snapshot_mb = 0;
  double writes_during_ms = 0;  // the task's updates of every 10th key while the async part runs
  double writes_after_ms = 0;   // the same updates with no snapshot held
};

struct IncrementalRow {
  std::string what;
  double state_mb = 0;
  double written_mb = 0;
  double sync_ms = 0;
  double async_ms = 0;
};

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "eddy-bench-checkpoint: %s: %s\n", what.c_str(),
               std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Checkpoint cost of keyed state: synchronous part, upload, restore"};
  int64_t state_mb = 256;
  int value_bytes = 100;
  app.add_option("--state-mb", state_mb, "Keyed state per backend (MB of values)")
      ->check(CLI::Range(1, 65536));
  app.add_option("--value-bytes", value_bytes, "Bytes per value")->check(CLI::Range(8, 65536));
  CLI11_PARSE(app, argc, argv);

  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("eddy-bench-checkpoint-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::create_directories(dir);
  const int64_t keys = state_mb * 1'000'000 / value_bytes;
  std::vector<Row> rows;
  std::vector<IncrementalRow> incremental;
  double incremental_restore_ms = 0;
  for (const std::string type : {"hashmap", "rocksdb"}) {
    eddy::Config config;
    if (auto s = config.Set(eddy::opt::kStateBackendType, type); !s.ok()) return Fail("config", s);
    if (auto s = config.Set(eddy::opt::kStateRocksDbLocalDir, dir + "/db"); !s.ok()) {
      return Fail("config", s);
    }
    eddy::state::StateBackendParams params;
    auto made = eddy::state::CreateKeyedStateBackend(config, params);
    if (!made.ok()) return Fail("backend", made.status());
    std::unique_ptr<eddy::KeyedStateBackend> backend = std::move(*made);
    auto* state = *backend->get_state(eddy::ValueStateDescriptor<std::string>{"v"});
    Row row;
    row.backend = type;
    row.state_mb = static_cast<double>(keys * value_bytes) / 1e6;
    std::string value(static_cast<size_t>(value_bytes), 'x');
    auto start = Clock::now();
    for (int64_t k = 0; k < keys; ++k) {
      backend->set_current_key(k);
      value[0] = static_cast<char>('a' + k % 26);
      state->update(value);
    }
    row.fill_s = Ms(Clock::now() - start) / 1000;

    // Synchronous part, on the task thread: what a keyed operator's SnapshotState() does
    // (RocksDB: a memtable switch and an iterator; heap: its key groups held copy-on-write).
    start = Clock::now();
    auto writer = backend->SnapshotKeyGroupsDeferred(backend->key_group_range());
    if (!writer.ok()) return Fail("snapshot", writer.status());
    row.sync_ms = Ms(Clock::now() - start);

    // Asynchronous part, on a snapshot thread: the snapshot written out and uploaded, while
    // the task thread updates every 10th key (on the heap, the first write of a key group
    // the snapshot still holds copies that group).
    auto fs = eddy::fs::FileSystem::ForUri("file://" + dir, config);
    if (!fs.ok()) return Fail("file system", fs.status());
    const std::string chk = "file://" + dir + "/chk-1";
    absl::Status async_status;
    absl::StatusOr<eddy::checkpoint::KeyedStateHandle> handle;
    std::thread snapshot_thread([&] {
      const auto t = Clock::now();
      std::string snapshot;
      async_status = (*writer)(&snapshot);
      *writer = nullptr;
      if (!async_status.ok()) return;
      row.snapshot_mb = static_cast<double>(snapshot.size()) / 1e6;
      handle = eddy::fs::WriteKeyedState(**fs, chk, type + ".state", 0, 127, std::move(snapshot), 0);
      row.async_ms = Ms(Clock::now() - t);
    });
    auto update_every_10th = [&](char c) {
      const auto t = Clock::now();
      for (int64_t k = 0; k < keys; k += 10) {
        backend->set_current_key(k);
        value[1] = c;
        state->update(value);
      }
      return Ms(Clock::now() - t);
    };
    row.writes_during_ms = update_every_10th('y');
    snapshot_thread.join();
    if (!async_status.ok()) return Fail("snapshot", async_status);
    if (!handle.ok()) return Fail("upload", handle.status());
    row.writes_after_ms = update_every_10th('z');
    if (type == "rocksdb") {
      // Incremental: checkpoint 1 uploads every SST file; after 1% more keys, checkpoint 2
      // only the new ones.
      auto take = [&](int64_t id, const std::string& what) -> absl::StatusOr<eddy::checkpoint::KeyedStateHandle> {
        IncrementalRow r;
        r.what = what;
        auto t = Clock::now();
        auto w = backend->SnapshotForCheckpoint(id, /*self_contained=*/false);
        if (!w.ok()) return w.status();
        r.sync_ms = Ms(Clock::now() - t);
        t = Clock::now();
        eddy::KeyedStateUploader uploader(
            **fs, {.checkpoint_uri = "file://" + dir + "/inc/chk-" + std::to_string(id),
                   .shared_uri = "file://" + dir + "/inc/shared",
                   .file_prefix = "op-0-1",
                   .key_groups = backend->key_group_range(),
                   .inline_threshold = 20 << 10});
        if (auto s = (*w)(uploader); !s.ok()) return s;
        r.async_ms = Ms(Clock::now() - t);
        r.written_mb = static_cast<double>(uploader.checkpointed_bytes()) / 1e6;
        r.state_mb = static_cast<double>(uploader.handles()[0].size()) / 1e6;
        incremental.push_back(r);
        backend->NotifyCheckpointComplete(id);
        return uploader.handles()[0];
      };
      // The bulk load's compactions settle first. The second checkpoint then uploads the
      // files 1% more keys make: their flush and, as the new keys spread over every key
      // group, the level-0 compaction that rewrites the base level files they overlap.
      auto* db = static_cast<eddy::state::RocksDbKeyedStateBackend*>(backend.get())->db();
      for (const auto deadline = Clock::now() + std::chrono::minutes(5);
           Clock::now() < deadline;) {
        uint64_t pending = 0, running = 0;
        db->GetAggregatedIntProperty(rocksdb::DB::Properties::kCompactionPending, &pending);
        db->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &running);
        if (pending == 0 && running == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (auto h = take(1, "first"); !h.ok()) return Fail("incremental checkpoint", h.status());
      for (int64_t k = keys; k < keys + keys / 100; ++k) {
        backend->set_current_key(k);
        state->update(value);
      }
      auto second = take(2, "+1% keys");
      if (!second.ok()) return Fail("incremental checkpoint", second.status());
      auto into = eddy::state::CreateKeyedStateBackend(config, params);
      if (!into.ok()) return Fail("backend", into.status());
      start = Clock::now();
      auto native = eddy::DownloadNativeState(**fs, "file://" + dir + "/inc/chk-2", *second,
                                              dir + "/db", "bench");
      if (!native.ok()) return Fail("download", native.status());
      if (auto s = (*into)->RestoreNative(*native); !s.ok()) return Fail("restore", s);
      incremental_restore_ms = Ms(Clock::now() - start);
      (void)(*into)->Dispose();
      std::filesystem::remove_all(dir + "/inc");
    }
    (void)backend->Dispose();
    backend.reset();
    std::filesystem::remove_all(dir + "/db");

    // Restore into a fresh backend.
    auto fresh = eddy::state::CreateKeyedStateBackend(config, params);
    if (!fresh.ok()) return Fail("backend", fresh.status());
    start = Clock::now();
    auto bytes = eddy::fs::ReadKeyedState(**fs, chk, *handle);
    if (!bytes.ok()) return Fail("read", bytes.status());
    if (auto s = (*fresh)->Restore(*bytes); !s.ok()) return Fail("restore", s);
    row.restore_ms = Ms(Clock::now() - start);
    // Spot check: the last key is there.
    (*fresh)->set_current_key(keys - 1);
    auto* restored = *(*fresh)->get_state(eddy::ValueStateDescriptor<std::string>{"v"});
    if (restored->value().value_or("").size() != static_cast<size_t>(value_bytes)) {
      std::fprintf(stderr, "eddy-bench-checkpoint: %s restore lost key %lld\n", type.c_str(),
                   static_cast<long long>(keys - 1));
      return 1;
    }
    (void)(*fresh)->Dispose();
    std::filesystem::remove_all(dir + "/db");
    std::filesystem::remove_all(dir + "/chk-1");
    rows.push_back(row);
  }

  // The floor: copying the same bytes in a plain loop.
  std::string src(static_cast<size_t>(keys * (value_bytes + 16)), 'x');
  std::string dst;
  auto start = Clock::now();
  dst = src;
  const double copy_ms = Ms(Clock::now() - start);
  std::filesystem::remove_all(dir);

  std::printf("keyed state: %lld keys x %d-byte values, max parallelism 128, one subtask\n\n",
              static_cast<long long>(keys), value_bytes);
  std::printf("%-9s %9s %11s %9s %10s %11s %11s %9s %13s %13s\n", "backend", "state MB",
              "snapshot MB", "fill s", "sync ms", "async ms", "restore ms", "async MB/s",
              "writes-in ms", "writes-out ms");
  for (const Row& r : rows) {
    std::printf("%-9s %9.1f %11.1f %9.1f %10.1f %11.1f %11.1f %9.0f %13.1f %13.1f\n",
                r.backend.c_str(), r.state_mb, r.snapshot_mb, r.fill_s, r.sync_ms, r.async_ms,
                r.restore_ms, r.async_ms > 0 ? r.snapshot_mb / (r.async_ms / 1000) : 0.0,
                r.writes_during_ms, r.writes_after_ms);
  }
  std::printf("writes-in: the task thread updating every 10th key while the async part runs;\n"
              "writes-out: the same updates with no snapshot held.\n");
  std::printf("%-9s %9s %11.1f %9s %10.1f   (memcpy of the same bytes: the floor of a full copy)\n",
              "plain", "", static_cast<double>(dst.size()) / 1e6, "", copy_ms);
  std::printf("\nincremental RocksDB checkpoints (rocksdb::Checkpoint, shared SST files):\n\n");
  std::printf("%-10s %9s %11s %10s %11s\n", "checkpoint", "state MB", "written MB", "sync ms",
              "async ms");
  for (const IncrementalRow& r : incremental) {
    std::printf("%-10s %9.1f %11.1f %10.1f %11.1f\n", r.what.c_str(), r.state_mb, r.written_mb,
                r.sync_ms, r.async_ms);
  }
  std::printf("restore of the second at the same key groups (download + open): %.1f ms\n",
              incremental_restore_ms);
  return 0;
}
