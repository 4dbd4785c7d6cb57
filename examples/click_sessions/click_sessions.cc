// Clickstream sessions: per user, event-time session windows with --gap (default 30s).
//
//   input  timestamp_ms,user_id,url
//   output user_id,session_start_ms,session_end_ms,page_views,distinct_urls
//
// start is the first click's time, end the last click's time + gap (Flink's merged session
// window).
//
//   eddy run build/examples/click_sessions.so -p 4 -- --input DIR --output OUT
#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include "api/job.h"
#include "api/windows.h"
#include "examples/common/example_io.h"

namespace {

struct Click {
  int64_t ts = 0;
  std::string user;
  std::string url;
};
EDDY_FIELDS(Click, ts, user, url);

struct Session {
  int64_t first = std::numeric_limits<int64_t>::max();
  int64_t last = std::numeric_limits<int64_t>::min();
  int64_t views = 0;
  std::set<std::string> urls;
};
EDDY_FIELDS(Session, first, last, views, urls);

struct SessionAgg {
  using input_type = Click;
  using accumulator_type = Session;
  using output_type = Session;
  Session create_accumulator() const { return {}; }
  void add(const Click& c, Session& s) const {
    s.first = std::min(s.first, c.ts);
    s.last = std::max(s.last, c.ts);
    s.views += 1;
    s.urls.insert(c.url);
  }
  Session get_result(const Session& s) const { return s; }
  Session merge(const Session& a, const Session& b) const {
    Session out = a;
    out.first = std::min(a.first, b.first);
    out.last = std::max(a.last, b.last);
    out.views = a.views + b.views;
    out.urls.insert(b.urls.begin(), b.urls.end());
    return out;
  }
};

bool ParseClick(std::string_view line, Click* c) {
  std::string_view f[3];
  if (!eddy::examples::SplitFields(line, 3, f)) return false;
  c->user.assign(f[1]);
  c->url.assign(f[2]);
  return eddy::examples::ParseInt(f[0], &c->ts) && !f[1].empty();
}

Click GenerateClick(uint64_t seed, int64_t i, int64_t disorder_ms) {
  const uint64_t r = eddy::SplitMix64(seed * 1'000'003 + static_cast<uint64_t>(i));
  Click c;
  c.ts = eddy::examples::GeneratedTime(seed, i, disorder_ms);
  c.user = "u" + std::to_string(r % 300);
  c.url = "/page/" + std::to_string((r >> 20) % 40);
  return c;
}

}  // namespace

EDDY_JOB(click_sessions) {
  using namespace eddy;
  const auto gap = examples::DurationArg(args, "gap", "30s");
  auto sessions =
      examples::ReadRows<Click>(job, args, "timestamp_ms,user_id,url", ParseClick, GenerateClick,
                                &Click::ts)
          .key_by(&Click::user)
          .window(EventTimeSessionWindows::with_gap(gap))
          .aggregate(SessionAgg{},
                     [gap](const std::string& user, const TimeWindow&, const Session& s,
                           Collector<std::string>& out) {
                       out.collect(user + "," + std::to_string(s.first) + "," +
                                   std::to_string(s.last + gap.count()) + "," +
                                   std::to_string(s.views) + "," + std::to_string(s.urls.size()));
                     },
                     "Sessions");
  examples::WriteCsv(sessions, args, [](const std::string& line) { return line; });
}
