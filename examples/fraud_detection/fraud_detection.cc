// Fraud detection: per card, sliding event-time windows (--window, default 60s, sliding by
// --slide, default 10s) over card transactions; an alert for each window with at least
// --min-count transactions (default 5) or at least --min-amount cents (default 1000000).
//
//   input  timestamp_ms,card_id,amount_cents,merchant_id
//   output card_id,window_end_ms,count,sum_amount_cents
//
//   eddy run build/examples/fraud_detection.so -p 4 -- --input DIR --output OUT
// (see examples/common/example_io.h for --generate, --monitor-interval, --rate, ...)
#include <string>
#include <utility>

#include "api/job.h"
#include "api/windows.h"
#include "examples/common/example_io.h"

namespace {

struct Tx {
  int64_t ts = 0;
  std::string card;
  int64_t amount = 0;
  std::string merchant;
};
EDDY_FIELDS(Tx, ts, card, amount, merchant);

bool ParseTx(std::string_view line, Tx* tx) {
  std::string_view f[4];
  if (!eddy::examples::SplitFields(line, 4, f)) return false;
  tx->card.assign(f[1]);
  tx->merchant.assign(f[3]);
  return eddy::examples::ParseInt(f[0], &tx->ts) && eddy::examples::ParseInt(f[2], &tx->amount) &&
         !f[1].empty();
}

Tx GenerateTx(uint64_t seed, int64_t i, int64_t disorder_ms) {
  const uint64_t r = eddy::SplitMix64(seed * 1'000'003 + static_cast<uint64_t>(i));
  Tx tx;
  tx.ts = eddy::examples::GeneratedTime(seed, i, disorder_ms);
  tx.card = "card" + std::to_string(r % 500);
  // Mostly small amounts, now and then a large one.
  tx.amount = (r >> 20) % 50 == 0 ? 200'000 + static_cast<int64_t>((r >> 32) % 800'000)
                                  : 100 + static_cast<int64_t>((r >> 32) % 20'000);
  tx.merchant = "m" + std::to_string((r >> 40) % 100);
  return tx;
}

}  // namespace

EDDY_JOB(fraud_detection) {
  using namespace eddy;
  const auto window = examples::DurationArg(args, "window", "60s");
  const auto slide = examples::DurationArg(args, "slide", "10s");
  const int64_t min_count = args.get_int("min-count", 5);
  const int64_t min_amount = args.get_int("min-amount", 1'000'000);
  auto alerts =
      examples::ReadRows<Tx>(job, args, "timestamp_ms,card_id,amount_cents,merchant_id", ParseTx,
                             GenerateTx, &Tx::ts)
          .key_by(&Tx::card)
          .window(SlidingEventTimeWindows::of(window, slide))
          .aggregate(examples::CountAndSum<Tx, &Tx::amount>{},
                     [min_count, min_amount](const std::string& card, const TimeWindow& w,
                                             const std::pair<int64_t, int64_t>& cs,
                                             Collector<std::string>& out) {
                       if (cs.first >= min_count || cs.second >= min_amount) {
                         out.collect(card + "," + std::to_string(w.end) + "," +
                                     std::to_string(cs.first) + "," + std::to_string(cs.second));
                       }
                     },
                     "Alerts");
  examples::WriteCsv(alerts, args, [](const std::string& line) { return line; });
}
