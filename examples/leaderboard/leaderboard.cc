// Live leaderboard: per tumbling event-time window (--window, default 60s), the --top
// (default 10) players by summed score, ties by player_id ascending.
//
//   input  timestamp_ms,player_id,score
//   output window_end_ms,rank,player_id,total_score      (rank from 1)
//
// Two steps, as in Flink: per player and window the sum (keyed, parallel), then per window
// the top N of those sums (window_all, one subtask), whose results carry the window's
// max timestamp and so fall into the same window downstream.
//
//   eddy run build/examples/leaderboard.so -p 4 -- --input DIR --output OUT
#include <string>
#include <utility>
#include <vector>

#include "api/job.h"
#include "api/windows.h"
#include "examples/common/example_io.h"

namespace {

struct Score {
  int64_t ts = 0;
  std::string player;
  int64_t score = 0;
};
EDDY_FIELDS(Score, ts, player, score);

struct PlayerTotal {
  std::string player;
  int64_t total = 0;
};
EDDY_FIELDS(PlayerTotal, player, total);

bool ParseScore(std::string_view line, Score* s) {
  std::string_view f[3];
  if (!eddy::examples::SplitFields(line, 3, f)) return false;
  s->player.assign(f[1]);
  return eddy::examples::ParseInt(f[0], &s->ts) && eddy::examples::ParseInt(f[2], &s->score) &&
         !f[1].empty();
}

Score GenerateScore(uint64_t seed, int64_t i, int64_t disorder_ms) {
  const uint64_t r = eddy::SplitMix64(seed * 1'000'003 + static_cast<uint64_t>(i));
  Score s;
  s.ts = eddy::examples::GeneratedTime(seed, i, disorder_ms);
  s.player = "p" + std::to_string(r % 1000);
  s.score = static_cast<int64_t>((r >> 20) % 100) + 1;
  return s;
}

}  // namespace

EDDY_JOB(leaderboard) {
  using namespace eddy;
  const auto window = examples::DurationArg(args, "window", "60s");
  const int64_t top = args.get_int("top", 10);
  auto totals =
      examples::ReadRows<Score>(job, args, "timestamp_ms,player_id,score", ParseScore,
                                GenerateScore, &Score::ts)
          .key_by(&Score::player)
          .window(TumblingEventTimeWindows::of(window))
          .aggregate(aggregates::sum<Score>(&Score::score),
                     [](const std::string& player, const TimeWindow&, const int64_t& total,
                        Collector<PlayerTotal>& out) { out.collect(PlayerTotal{player, total}); },
                     "PlayerTotals");
  auto ranks = totals.window_all(TumblingEventTimeWindows::of(window))
                   .aggregate(aggregates::top_n<PlayerTotal>(top, &PlayerTotal::player,
                                                             &PlayerTotal::total),
                              [](const TimeWindow& w,
                                 const std::vector<std::pair<std::string, int64_t>>& best,
                                 Collector<std::string>& out) {
                                for (size_t i = 0; i < best.size(); ++i) {
                                  out.collect(std::to_string(w.end) + "," + std::to_string(i + 1) +
                                              "," + best[i].first + "," +
                                              std::to_string(best[i].second));
                                }
                              },
                              "TopN");
  examples::WriteCsv(ranks, args, [](const std::string& line) { return line; });
}
