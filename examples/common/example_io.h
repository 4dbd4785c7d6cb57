// What the use-case examples share: where their rows come from and how they leave.
//
// Input, one of:
//   --input PATH                 CSV lines (no header) of a file or a directory; bounded;
//   --input PATH --monitor-interval D   the same directory watched for new files; unbounded;
//   --generate N [--seed S]      N rows from the example's generator (row i depends only on
//                                S and i, so any parallelism gives the same rows).
// --rate R limits rows per second per source subtask; --out-of-orderness D (default 5s) is
// the watermark's bound; --idleness D (default 1s when watching a directory, else off)
// leaves a subtask without rows out of the watermark. A malformed line fails the job with a message that quotes it.
// Output: --output DIR, CSV lines without header, one part file per subtask.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/datastream.h"
#include "api/job_args.h"
#include "api/key_hash.h"
#include "common/config.h"
#include "connectors/datagen/datagen.h"
#include "connectors/files/file_sink.h"
#include "connectors/files/text_source.h"

namespace eddy::examples {

/// Parses a duration argument ("5s", "250ms", "1min"); throws naming the argument.
inline std::chrono::milliseconds DurationArg(const JobArgs& args, const std::string& key,
                                             const std::string& fallback) {
  auto parsed = ParseDuration(args.get(key, fallback));
  if (!parsed.ok()) {
    throw std::invalid_argument("--" + key + ": " + std::string(parsed.status().message()));
  }
  return *parsed;
}

/// Splits a CSV line (no quoting: ids and urls have no commas) into exactly `n` fields;
/// false if the count differs.
inline bool SplitFields(std::string_view line, size_t n, std::string_view* fields) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t count = 0;
  while (count < n) {
    const size_t comma = line.find(',');
    if (comma == std::string_view::npos) {
      fields[count++] = line;
      return count == n;
    }
    fields[count++] = line.substr(0, comma);
    line.remove_prefix(comma + 1);
  }
  return false;  // more fields than expected
}

/// Parses a whole field as a signed integer.
inline bool ParseInt(std::string_view field, int64_t* out) {
  const char* end = field.data() + field.size();
  auto [ptr, ec] = std::from_chars(field.data(), end, *out);
  return ec == std::errc() && ptr == end && !field.empty();
}

/// (count, sum of `field`) of a window's rows: an AggregateFunction.
template <typename Row, auto Field>
struct CountAndSum {
  using input_type = Row;
  using accumulator_type = std::pair<int64_t, int64_t>;
  using output_type = accumulator_type;
  accumulator_type create_accumulator() const { return {0, 0}; }
  void add(const Row& row, accumulator_type& acc) const {
    acc.first += 1;
    acc.second += row.*Field;
  }
  output_type get_result(const accumulator_type& acc) const { return acc; }
  accumulator_type merge(const accumulator_type& a, const accumulator_type& b) const {
    return {a.first + b.first, a.second + b.second};
  }
};

/// Event time of generated row i: 10 ms apart from 2024-01-01T00:00:00Z, each moved back by
/// up to `disorder_ms` (so rows arrive out of order within that bound).
inline int64_t GeneratedTime(uint64_t seed, int64_t i, int64_t disorder_ms) {
  constexpr int64_t kStart = 1'704'067'200'000;
  const int64_t back = disorder_ms > 0 ? static_cast<int64_t>(SplitMix64(seed ^ (static_cast<uint64_t>(i) * 31 + 7)) %
                                                              static_cast<uint64_t>(disorder_ms + 1))
                                       : 0;
  return kStart + i * 10 - back;
}

/// The rows of an example: Parse is bool(std::string_view line, Row*); Generate is
/// Row(uint64_t seed, int64_t i, int64_t disorder_ms); TimeOf gives a row's event time.
/// Returns the rows with timestamps and bounded-out-of-orderness watermarks.
template <typename Row, typename Parse, typename Generate, typename TimeOf>
DataStream<Row> ReadRows(JobBuilder& job, const JobArgs& args, const std::string& format,
                         Parse parse, Generate generate, TimeOf time_of) {
  const auto out_of_orderness = DurationArg(args, "out-of-orderness", "5s");
  const double rate = args.get_double("rate", 0);
  std::optional<DataStream<Row>> rows;
  if (args.has("generate")) {
    connectors::datagen::GeneratorOptions opts;
    opts.count = args.get_int("generate", 0);
    opts.seed = static_cast<uint64_t>(args.get_int("seed", 42));
    opts.records_per_second = rate * job.default_parallelism();
    opts.name = "Generator";
    const int64_t disorder = out_of_orderness.count();
    const uint64_t seed = opts.seed;
    rows = job.source(connectors::datagen::generator<Row>(
        [generate, seed, disorder](int64_t i, std::mt19937_64&) {
          return generate(seed, i, disorder);
        },
        opts));
  } else {
    connectors::files::FileSourceOptions opts;
    opts.records_per_second = rate;
    if (args.has("monitor-interval")) {
      opts.monitor_interval = DurationArg(args, "monitor-interval", "1s");
    }
    opts.name = "Rows";
    rows = job.source(connectors::files::text_lines(args.require("input"), opts))
               .flat_map(
                   [parse, format](const std::string& line, Collector<Row>& out) {
                     if (line.empty()) return;
                     Row row;
                     if (!parse(std::string_view(line), &row)) {
                       throw std::invalid_argument("malformed input line '" + line +
                                                   "': expected " + format);
                     }
                     out.collect(std::move(row));
                   },
                   "Parse");
  }
  // A watched directory's files go to one subtask each: the others must not hold the
  // watermark back while they have nothing to read.
  WatermarkStrategy strategy = bounded_out_of_orderness(out_of_orderness);
  const auto idleness = DurationArg(args, "idleness", args.has("monitor-interval") ? "1s" : "0ms");
  if (idleness.count() > 0) strategy = strategy.with_idleness(idleness);
  return rows->assign_timestamps(time_of, strategy);
}

/// Writes rows as CSV lines (Format: std::string(const R&)) to --output. Reading a watched
/// directory (unbounded), the part files roll every --rollover-interval (default 10s) so
/// results show up while the job runs.
template <typename R, typename Format>
void WriteCsv(DataStream<R> stream, const JobArgs& args, Format format,
              std::string name = "Output") {
  connectors::files::FileSinkOptions opts;
  opts.rollover_interval =
      DurationArg(args, "rollover-interval", args.has("monitor-interval") ? "10s" : "0ms");
  stream.sink(connectors::files::file_sink<R>(args.require("output"), std::move(format),
                                              std::move(name), opts));
}

}  // namespace eddy::examples
