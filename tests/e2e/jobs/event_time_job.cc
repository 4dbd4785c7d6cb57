// Test job: reads "timestamp,key" rows (timestamps out of order by at most 5 s) at a limited
// rate, assigns timestamps with bounded_out_of_orderness(5s), rebalances, and writes each
// record's timestamp with the watermark its process function saw: "ts,watermark".
#include <chrono>
#include <string>

#include "api/job.h"
#include "connectors/files/file_sink.h"
#include "connectors/files/text_source.h"

namespace {
struct Reading {
  int64_t ts = 0;
  std::string key;
};
EDDY_FIELDS(Reading, ts, key);
}  // namespace

EDDY_JOB(event_time_job) {
  eddy::connectors::files::FileSourceOptions source;
  source.records_per_second = static_cast<double>(args.get_int("rate", 1000));
  job.source(eddy::connectors::files::csv_rows(args.require("input"), ',', false, source))
      .map([](const std::vector<std::string>& row) {
        return Reading{std::stoll(row.at(0)), row.size() > 1 ? row[1] : ""};
      })
      .assign_timestamps(&Reading::ts, eddy::bounded_out_of_orderness(std::chrono::seconds(5)))
      .rebalance()
      .process([](const Reading&, eddy::ProcessContext& ctx, eddy::Collector<std::string>& out) {
        out.collect(std::to_string(ctx.timestamp()) + "," + std::to_string(ctx.current_watermark()));
      })
      .name("SeenWatermark")
      .sink(eddy::connectors::files::text_sink(args.require("output")));
}
