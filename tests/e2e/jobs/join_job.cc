// Test job: clicks and buys ("ts,user,id" CSV files, out of order by up to
// --out-of-orderness-ms) joined per user.
//   --join interval (default): between(--lower, --upper) ms; one "user,click_id,buy_id" line
//                              per pair.
//   --join window: event-time windows of --size-ms starting every --slide-ms (tumbling when
//                  equal, the default); one "user,window_start,click_id,buy_id" line per pair.
#include <chrono>
#include <string>
#include <vector>

#include "api/job.h"
#include "connectors/files/file_sink.h"
#include "connectors/files/text_source.h"

namespace {

struct Event {
  int64_t ts = 0;
  std::string user;
  int64_t id = 0;
};
EDDY_FIELDS(Event, ts, user, id);

struct WritePair {
  void process_element(const Event& click, const Event& buy,
                       eddy::IntervalJoinContext<std::string>& ctx,
                       eddy::Collector<std::string>& out) {
    out.collect(ctx.current_key() + "," + std::to_string(click.id) + "," +
                std::to_string(buy.id));
  }
};

struct WriteWindowPair {
  void process_element(const Event& click, const Event& buy,
                       eddy::WindowJoinContext<std::string>& ctx,
                       eddy::Collector<std::string>& out) {
    out.collect(ctx.current_key() + "," + std::to_string(ctx.window().start) + "," +
                std::to_string(click.id) + "," + std::to_string(buy.id));
  }
};

}  // namespace

EDDY_JOB(join_job) {
  const auto bound = std::chrono::milliseconds(args.get_int("out-of-orderness-ms", 500));
  auto read = [&](const std::string& path, const std::string& name) {
    return job.source(eddy::connectors::files::csv_rows(path))
        .map([](const std::vector<std::string>& r) {
          return Event{std::stoll(r.at(0)), r.at(1), std::stoll(r.at(2))};
        })
        .name("Parse" + name)
        .assign_timestamps(&Event::ts, eddy::bounded_out_of_orderness(bound));
  };
  auto clicks = read(args.require("clicks"), "Clicks").key_by(&Event::user);
  auto buys = read(args.require("buys"), "Buys").key_by(&Event::user);
  const auto sink = eddy::connectors::files::text_sink(args.require("output"));
  if (args.get("join", "interval") == "window") {
    const auto size = std::chrono::milliseconds(args.get_int("size-ms", 1000));
    const auto slide = std::chrono::milliseconds(args.get_int("slide-ms", size.count()));
    auto joined =
        slide == size
            ? clicks.window_join(buys, eddy::TumblingEventTimeWindows::of(size))
                  .process(WriteWindowPair())
            : clicks.window_join(buys, eddy::SlidingEventTimeWindows::of(size, slide))
                  .process(WriteWindowPair());
    joined.sink(sink);
  } else {
    clicks.interval_join(buys)
        .between(args.get_int("lower", 0), args.get_int("upper", 0))
        .process(WritePair())
        .sink(sink);
  }
}
