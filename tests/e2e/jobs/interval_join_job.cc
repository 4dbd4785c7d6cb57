// Test job: clicks and buys ("ts,user,id" CSV files, out of order by up to
// --out-of-orderness-ms) interval-joined per user with between(--lower, --upper) ms; writes
// one "user,click_id,buy_id" line per pair.
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

}  // namespace

EDDY_JOB(interval_join_job) {
  const auto bound = std::chrono::milliseconds(args.get_int("out-of-orderness-ms", 500));
  auto read = [&](const std::string& path, const std::string& name) {
    return job.source(eddy::connectors::files::csv_rows(path))
        .map([](const std::vector<std::string>& r) {
          return Event{std::stoll(r.at(0)), r.at(1), std::stoll(r.at(2))};
        })
        .name("Parse" + name)
        .assign_timestamps(&Event::ts, eddy::bounded_out_of_orderness(bound));
  };
  auto clicks = read(args.require("clicks"), "Clicks");
  auto buys = read(args.require("buys"), "Buys");
  clicks.key_by(&Event::user)
      .interval_join(buys.key_by(&Event::user))
      .between(args.get_int("lower", 0), args.get_int("upper", 0))
      .process(WritePair())
      .sink(eddy::connectors::files::text_sink(args.require("output")));
}
