// IoT alerts: per sensor, tumbling event-time windows (--window, default 60s); an alert for
// each window whose average temperature is above --threshold-dc (default 800, in tenths of
// a degree C). Readings later than the out-of-orderness bound plus --allowed-lateness
// (default 0s) go to --late-output DIR (if given) as their input line; a late reading within
// the allowed lateness updates its window, which then fires again.
//
//   input  timestamp_ms,sensor_id,temperature_dc
//   output sensor_id,window_start_ms,count,avg_dc      (avg with two decimals)
//
//   eddy run build/examples/iot_alerts.so -p 4 -- --input DIR --output OUT
#include <cstdio>
#include <string>
#include <utility>

#include "api/job.h"
#include "api/windows.h"
#include "examples/common/example_io.h"

namespace {

struct Reading {
  int64_t ts = 0;
  std::string sensor;
  int64_t temp_dc = 0;
};
EDDY_FIELDS(Reading, ts, sensor, temp_dc);

bool ParseReading(std::string_view line, Reading* r) {
  std::string_view f[3];
  if (!eddy::examples::SplitFields(line, 3, f)) return false;
  r->sensor.assign(f[1]);
  return eddy::examples::ParseInt(f[0], &r->ts) && eddy::examples::ParseInt(f[2], &r->temp_dc) &&
         !f[1].empty();
}

Reading GenerateReading(uint64_t seed, int64_t i, int64_t disorder_ms) {
  const uint64_t r = eddy::SplitMix64(seed * 1'000'003 + static_cast<uint64_t>(i));
  Reading reading;
  reading.ts = eddy::examples::GeneratedTime(seed, i, disorder_ms);
  const uint64_t sensor = r % 200;
  reading.sensor = "s" + std::to_string(sensor);
  // A few sensors run hot.
  const int64_t base = sensor % 17 == 0 ? 820 : 600;
  reading.temp_dc = base + static_cast<int64_t>((r >> 24) % 81) - 40;
  return reading;
}

std::string ReadingLine(const Reading& r) {
  return std::to_string(r.ts) + "," + r.sensor + "," + std::to_string(r.temp_dc);
}

}  // namespace

EDDY_JOB(iot_alerts) {
  using namespace eddy;
  static const OutputTag<Reading> kLate("late-readings");
  const auto window = examples::DurationArg(args, "window", "60s");
  const auto lateness = examples::DurationArg(args, "allowed-lateness", "0s");
  const int64_t threshold = args.get_int("threshold-dc", 800);
  auto windowed = examples::ReadRows<Reading>(job, args, "timestamp_ms,sensor_id,temperature_dc",
                                              ParseReading, GenerateReading, &Reading::ts)
                      .key_by(&Reading::sensor)
                      .window(TumblingEventTimeWindows::of(window))
                      .allowed_lateness(lateness)
                      .side_output_late_data(kLate);
  auto alerts = windowed.aggregate(
      examples::CountAndSum<Reading, &Reading::temp_dc>{},
      [threshold](const std::string& sensor, const TimeWindow& w,
                  const std::pair<int64_t, int64_t>& cs, Collector<std::string>& out) {
        // Integer comparison: sum / count > threshold without rounding.
        if (cs.first > 0 && cs.second > threshold * cs.first) {
          char avg[32];
          std::snprintf(avg, sizeof(avg), "%.2f",
                        static_cast<double>(cs.second) / static_cast<double>(cs.first));
          out.collect(sensor + "," + std::to_string(w.start) + "," + std::to_string(cs.first) +
                      "," + avg);
        }
      },
      "Alerts");
  examples::WriteCsv(alerts, args, [](const std::string& line) { return line; });
  if (args.has("late-output")) {
    alerts.side_output(kLate).sink(
        connectors::files::file_sink<Reading>(args.require("late-output"), ReadingLine, "Late"));
  }
}
