// The Nexmark queries as Eddy jobs, over the generator of connectors/datagen/nexmark/
// (Apache Beam's events, bit for bit). Semantics of the Nexmark suite's Flink SQL on an
// in-order input whose windows all close at the end of a bounded run.
//
//   eddy run build/examples/nexmark.so -p 4 -- --query q5 --events 10000000 [--output DIR]
//
//   --query q0|q1|q2|q3|q4|q5|q7|q8|q11|q12   (required)
//   --events N        events over all source subtasks (default 1,000,000; -1: unbounded)
//   --output DIR      result rows as CSV part files (columns: examples/nexmark/rows.h);
//                     otherwise they are discarded
//   --rate R          events per second over all subtasks (default: as fast as possible)
//   --start-at MS     with --rate: wall time (epoch ms) at which event 0 is due
//   --latency-output DIR   (q0, q5, with --rate) instead of rows, a histogram per sink
//                     subtask of how late each row was: from the time the event that made
//                     it was due to be generated, to the sink
//
// Queries: q0 pass-through; q1 currency conversion; q2 selection; q3 local item
// suggestion (incremental join of people and auctions); q4 average closing price per
// category; q5 hot items (HOP 10 s / 2 s); q7 highest bid (TUMBLE 10 s); q8 new users who
// sold (tumbling window join); q11 bids per user session (SESSION 10 s); q12 bids per
// user and processing-time window (TUMBLE 10 s).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/job.h"
#include "api/windows.h"
#include "connectors/datagen/nexmark/source.h"
#include "connectors/files/file_sink.h"
#include "connectors/print_sink.h"
#include "examples/nexmark/rows.h"

namespace {

using namespace eddy;
using namespace eddy::nexmark;
namespace nx = eddy::connectors::nexmark;

// ---- Event streams ------------------------------------------------------------------------

/// The fields of one kind a query reads (what a SQL planner's projection keeps): only they
/// travel through shuffles and state.
template <typename R, EventKind kKind, typename F>
DataStream<R> Project(DataStream<Event> events, F project, std::string name) {
  return events.flat_map(
      [project](const Event& e, Collector<R>& out) {
        if (e.kind != kKind) return;
        if constexpr (kKind == EventKind::kBid) {
          project(e.bid, out);
        } else if constexpr (kKind == EventKind::kAuction) {
          project(e.auction, out);
        } else {
          project(e.person, out);
        }
      },
      std::move(name));
}

// ---- Sinks ----------------------------------------------------------------------------------

/// A histogram of latencies in microseconds: 1 µs buckets below 1 ms, then 1% wide ones.
class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kBuckets, 0) {}
  void Add(int64_t us) { ++counts_[Bucket(std::max<int64_t>(us, 0))]; }
  /// "upper_bound_us count" per non-empty bucket.
  void WriteTo(std::ostream& out) const {
    for (size_t b = 0; b < counts_.size(); ++b) {
      if (counts_[b] != 0) out << UpperBound(b) << ' ' << counts_[b] << '\n';
    }
  }

 private:
  static constexpr size_t kLinear = 1000;
  static constexpr size_t kBuckets = kLinear + 1500;  // 1% steps reach ~3e9 µs
  static size_t Bucket(int64_t us) {
    if (us < static_cast<int64_t>(kLinear)) return static_cast<size_t>(us);
    const double steps = std::log(static_cast<double>(us) / kLinear) / std::log(1.01);
    return std::min(kBuckets - 1, kLinear + static_cast<size_t>(steps));
  }
  static int64_t UpperBound(size_t b) {
    if (b < kLinear) return static_cast<int64_t>(b) + 1;
    return static_cast<int64_t>(std::ceil(kLinear * std::pow(1.01, static_cast<double>(b - kLinear + 1))));
  }
  std::vector<int64_t> counts_;
};

/// Records how late each row reaches the sink: now minus the wall time at which the event
/// that completed the row was due (DueEvent(row) gives its event number).
template <typename Row, typename DueEvent>
class LatencySink final : public SinkFunction<Row> {
 public:
  LatencySink(nx::SourceOptions opts, std::string dir, DueEvent due)
      : opts_(std::move(opts)), dir_(std::move(dir)), due_(std::move(due)) {}
  void Open(RuntimeContext& ctx) override { subtask_ = ctx.subtask; }
  void WriteBatch(std::span<const StreamRecord<Row>> batch) override {
    const double now_ms = std::chrono::duration<double, std::milli>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    for (const auto& r : batch) {
      const double due_ms = nx::DueTimeMs(opts_, due_(r.value));
      histogram_.Add(static_cast<int64_t>((now_ms - due_ms) * 1000.0));
    }
  }
  void Finish() override {
    std::filesystem::create_directories(dir_);
    std::ofstream out(dir_ + "/latency-" + std::to_string(subtask_) + ".txt");
    histogram_.WriteTo(out);
    if (!out) throw std::runtime_error("cannot write latency histogram to " + dir_);
  }

 private:
  nx::SourceOptions opts_;
  std::string dir_;
  DueEvent due_;
  int subtask_ = 0;
  LatencyHistogram histogram_;
};

/// The first event number at or after event time `t`: event i has time base + i / 10.
int64_t FirstEventAt(int64_t t) {
  return (t - nx::GeneratorConfig::kBaseTime) * 1000 / nx::GeneratorConfig::kInterEventDelayUs;
}

/// The DueEvent of queries whose latency is not measured.
struct NoLatency {};

template <typename Row, typename DueEvent = NoLatency>
void Emit(DataStream<Row> rows, const JobArgs& args, const nx::SourceOptions& opts,
          DueEvent due = {}) {
  if (args.has("output")) {
    rows.sink(connectors::files::file_sink<Row>(
        args.require("output"), [](const Row& r) { return CsvLine(r); }, "Output"));
  } else if (args.has("latency-output")) {
    if constexpr (std::is_same_v<DueEvent, NoLatency>) {
      throw std::invalid_argument("--latency-output is measured for q0 and q5 only");
    } else {
      if (opts.events_per_second <= 0) throw std::invalid_argument("--latency-output needs --rate");
      SinkDef<Row> def;
      def.name = "Latency";
      def.factory = [opts, dir = args.require("latency-output"),
                     due]() -> std::unique_ptr<SinkFunction<Row>> {
        return std::make_unique<LatencySink<Row, DueEvent>>(opts, dir, due);
      };
      rows.sink(std::move(def));
    }
  } else {
    rows.sink(connectors::discard<Row>());
  }
}

// ---- q1: currency conversion -----------------------------------------------------------------

/// Fills one reused row (its `extra` keeps its capacity), so converting allocates nothing.
struct Q1Convert {
  Q1Row row;
  void operator()(const Bid& b, Collector<Q1Row>& out) {
    row.auction = b.auction;
    row.bidder = b.bidder;
    row.price_thousandths = b.price * kQ1RateThousandths;
    row.date_time = b.date_time;
    row.extra = b.extra;
    out.collect(std::as_const(row));
  }
};

// ---- q3: people in OR, ID or CA and their auctions in category 10 ---------------------------

struct Seller {
  std::string name;
  std::string city;
  std::string state;
};
EDDY_FIELDS(Seller, name, city, state);

struct LocalPerson {
  int64_t id = 0;
  Seller seller;
};
EDDY_FIELDS(LocalPerson, id, seller);

struct SellerAuction {
  int64_t id = 0;
  int64_t seller = 0;
};
EDDY_FIELDS(SellerAuction, id, seller);

/// Keyed by seller / person id; either side may come first (an auction may name a person
/// not yet registered), so each waits in state for the other.
struct Q3Join {
  ValueState<Seller>* seller = nullptr;
  ListState<int64_t>* waiting = nullptr;  // auction ids seen before their seller
  void open(KeyedStateStore& store) {
    seller = &store.get_state(ValueStateDescriptor<Seller>{"seller"});
    waiting = &store.get_list_state(ListStateDescriptor<int64_t>{"waiting-auctions"});
  }
  void process_element1(const SellerAuction& a, KeyedProcessContext<int64_t>&, Collector<Q3Row>& out) {
    if (std::optional<Seller> s = seller->value()) {
      out.collect(Q3Row{s->name, s->city, s->state, a.id});
    } else {
      waiting->add(a.id);
    }
  }
  void process_element2(const LocalPerson& p, KeyedProcessContext<int64_t>&, Collector<Q3Row>& out) {
    seller->update(p.seller);
    for (int64_t id : waiting->get()) {
      out.collect(Q3Row{p.seller.name, p.seller.city, p.seller.state, id});
    }
    waiting->clear();
  }
};

// ---- q4: average closing price per category ---------------------------------------------------

struct AuctionSpan {
  int64_t id = 0;
  int64_t category = 0;
  int64_t date_time = 0;
  int64_t expires = 0;
};
EDDY_FIELDS(AuctionSpan, id, category, date_time, expires);

struct BidPrice {
  int64_t auction = 0;
  int64_t price = 0;
  int64_t date_time = 0;
};
EDDY_FIELDS(BidPrice, auction, price, date_time);

struct OpenAuction {
  int64_t category = 0;
  int64_t start = 0;
  int64_t expires = 0;
  int64_t max_price = -1;  // -1: no bid yet
  bool closed = false;
};
EDDY_FIELDS(OpenAuction, category, start, expires, max_price, closed);

struct ClosingPrice {
  int64_t category = 0;
  int64_t price = 0;
};
EDDY_FIELDS(ClosingPrice, category, price);

/// Keyed by auction id: the highest bid made while the auction was open (dateTime between
/// its start and expiry, both included), emitted when the watermark passes the expiry, as
/// no later bid can count then. Bids that come before their auction wait for it.
struct Q4Close {
  ValueState<OpenAuction>* auction = nullptr;
  ListState<std::pair<int64_t, int64_t>>* early = nullptr;  // (dateTime, price)
  void open(KeyedStateStore& store) {
    auction = &store.get_state(ValueStateDescriptor<OpenAuction>{"auction"});
    early = &store.get_list_state(ListStateDescriptor<std::pair<int64_t, int64_t>>{"early-bids"});
  }
  void process_element1(const AuctionSpan& a, KeyedProcessContext<int64_t>& ctx, Collector<ClosingPrice>&) {
    OpenAuction open{a.category, a.date_time, a.expires, -1, false};
    for (const auto& [t, price] : early->get()) {
      if (t >= open.start && t <= open.expires) open.max_price = std::max(open.max_price, price);
    }
    early->clear();
    auction->update(open);
    ctx.register_event_time_timer(a.expires);
  }
  void process_element2(const BidPrice& b, KeyedProcessContext<int64_t>&, Collector<ClosingPrice>&) {
    std::optional<OpenAuction> open = auction->value();
    if (!open) {
      early->add({b.date_time, b.price});
    } else if (!open->closed && b.date_time >= open->start && b.date_time <= open->expires &&
               b.price > open->max_price) {
      open->max_price = b.price;
      auction->update(*open);
    }
  }
  void on_timer(int64_t, KeyedProcessContext<int64_t>&, Collector<ClosingPrice>& out) {
    std::optional<OpenAuction> open = auction->value();
    if (!open || open->closed) return;
    if (open->max_price >= 0) out.collect(ClosingPrice{open->category, open->max_price});
    // A marker that this auction is done (later bids for it are not "early").
    auction->update(OpenAuction{open->category, 0, 0, -1, true});
  }
};

/// Keyed by category: sum and count of closing prices; the average (Flink's BIGINT AVG,
/// truncated) when the input ends.
struct Q4Average {
  ValueState<std::pair<int64_t, int64_t>>* sum_count = nullptr;
  void open(KeyedStateStore& store) {
    sum_count = &store.get_state(ValueStateDescriptor<std::pair<int64_t, int64_t>>{"sum-count"});
  }
  void process_element(const ClosingPrice& c, KeyedProcessContext<int64_t>& ctx, Collector<Q4Row>&) {
    auto sc = sum_count->value().value_or(std::pair<int64_t, int64_t>{0, 0});
    if (sc.second == 0) ctx.register_event_time_timer(kMaxWatermark);
    sc.first += c.price;
    sc.second += 1;
    sum_count->update(sc);
  }
  void on_timer(int64_t, KeyedProcessContext<int64_t>& ctx, Collector<Q4Row>& out) {
    const auto sc = sum_count->value();
    if (sc && sc->second > 0) out.collect(Q4Row{ctx.current_key(), sc->first / sc->second});
  }
};

// ---- q5: hot items ------------------------------------------------------------------------------

struct MostBids {
  int64_t max = 0;
  std::vector<int64_t> auctions;  // those with `max` bids
};
EDDY_FIELDS(MostBids, max, auctions);

/// A partial count of bids per auction (or bidder), from a local pre-aggregation.
struct AuctionCount {
  int64_t auction = 0;
  int64_t count = 0;
};
EDDY_FIELDS(AuctionCount, auction, count);

/// q5's local phase (Flink's two-phase aggregation): each source subtask counts bids per
/// (2 s pane, auction) and sends a pane's counts on, timestamped at the pane's last
/// millisecond, once the watermark has passed the pane; the windows then add up counts
/// instead of bids. Exact: a pane's counts come before the watermark that completes it.
/// A checkpoint's barrier sends every count on first (partial counts of a pane add up
/// downstream), so the counts are never state: a restore rewinds the source to just after them.
struct Q5LocalCount {
  std::unordered_map<uint64_t, int64_t> counts;  // (pane index << 32 | auction) -> bids
  void operator()(const Bid& b, ProcessContext&, Collector<AuctionCount>&) {
    const auto pane = static_cast<uint64_t>(FloorTo(b.date_time, kQ5SlideMs) / kQ5SlideMs);
    ++counts[(pane << 32) | static_cast<uint32_t>(b.auction)];
  }
  void on_watermark(EventTime watermark, ProcessContext&, Collector<AuctionCount>& out) {
    Emit(watermark, out);
  }
  void prepare_snapshot_pre_barrier(int64_t, ProcessContext&, Collector<AuctionCount>& out) {
    Emit(kMaxWatermark, out);
  }
  /// Sends the counts of the panes that end at or before `watermark` + 1.
  void Emit(EventTime watermark, Collector<AuctionCount>& out) {
    for (auto it = counts.begin(); it != counts.end();) {
      const int64_t pane_end = static_cast<int64_t>(it->first >> 32) * kQ5SlideMs + kQ5SlideMs;
      if (pane_end - 1 > watermark) {
        ++it;
        continue;
      }
      out.collect_with_timestamp(
          AuctionCount{static_cast<int64_t>(static_cast<uint32_t>(it->first)), it->second},
          pane_end - 1);
      it = counts.erase(it);
    }
  }
};

/// q12's local phase: bids per bidder since the last watermark or barrier (processing-time
/// windows are the receiving subtask's, so only how often counts travel changes).
struct Q12LocalCount {
  std::unordered_map<int64_t, int64_t> counts;
  void operator()(const Bid& b, ProcessContext&, Collector<AuctionCount>&) { ++counts[b.bidder]; }
  void on_watermark(EventTime, ProcessContext&, Collector<AuctionCount>& out) { Emit(out); }
  void prepare_snapshot_pre_barrier(int64_t, ProcessContext&, Collector<AuctionCount>& out) {
    Emit(out);
  }
  void Emit(Collector<AuctionCount>& out) {
    for (const auto& [bidder, n] : counts) out.collect(AuctionCount{bidder, n});
    counts.clear();
  }
};

/// Keyed by window start: every auction's count in the window arrives before the watermark
/// passes the window's end; then the auctions with the most bids (ties kept) are emitted.
struct Q5Top {
  ValueState<MostBids>* best = nullptr;
  void open(KeyedStateStore& store) { best = &store.get_state(ValueStateDescriptor<MostBids>{"most-bids"}); }
  void process_element(const Q5Row& r, KeyedProcessContext<int64_t>& ctx, Collector<Q5Row>&) {
    MostBids b = best->value().value_or(MostBids{});
    if (b.auctions.empty()) ctx.register_event_time_timer(ctx.timestamp());  // window end - 1
    if (r.num > b.max) {
      b.max = r.num;
      b.auctions.clear();
    }
    if (r.num == b.max) b.auctions.push_back(r.auction);
    best->update(b);
  }
  void on_timer(int64_t, KeyedProcessContext<int64_t>& ctx, Collector<Q5Row>& out) {
    const std::optional<MostBids> b = best->value();
    if (!b) return;
    for (int64_t auction : b->auctions) out.collect(Q5Row{auction, b->max, ctx.current_key()});
    best->clear();
  }
};

// ---- q7: highest bid ------------------------------------------------------------------------------

/// A bid routed to a tumbling window: its own (`own`), or the previous one when the bid
/// lies exactly on that window's end (the query's BETWEEN includes the end).
struct Q7Bid {
  int64_t window_start = 0;
  bool own = true;
  Bid bid;
};
EDDY_FIELDS(Q7Bid, window_start, own, bid);

/// What a stage-1 key knows of a window: its highest own price (-1: none), or a candidate.
struct Q7Part {
  int64_t window_start = 0;
  int64_t max_price = -1;
  bool is_bid = false;
  Bid bid;
};
EDDY_FIELDS(Q7Part, window_start, max_price, is_bid, bid);

/// Routes each bid to its window (and a bid exactly on a window's end also to that window),
/// dropping bids that cannot be a window's highest: one whose price is below the highest
/// this subtask has already seen in that window (the window's highest is at least that).
/// Only a filter: what it remembers (per subtask, not checkpointed) only decides how much
/// passes, never the result.
struct Q7Route {
  int64_t window = INT64_MIN;  // the newest window seen and its highest price so far
  int64_t max = -1;
  int64_t prev_window = INT64_MIN;
  int64_t prev_max = -1;
  void operator()(const Bid& b, Collector<Q7Bid>& out) {
    const int64_t w = FloorTo(b.date_time, kTumbleMs);
    if (w > window) {
      prev_window = window;
      prev_max = max;
      window = w;
      max = -1;
    }
    if (w != window || b.price >= max) {
      if (w == window) max = b.price;
      out.collect(Q7Bid{w, true, b});
    }
    if (b.date_time == w && !(w - kTumbleMs == prev_window && b.price < prev_max)) {
      out.collect(Q7Bid{w - kTumbleMs, false, b});
    }
  }
};

constexpr int64_t kQ7Buckets = 16;

/// Stage 1, keyed by (window, auction bucket): the bucket's highest own price and the bids
/// that may match the window's highest (its own at that price, and those on the end).
struct Q7Local {
  ValueState<int64_t>* max = nullptr;
  ListState<Bid>* best = nullptr;
  ListState<Bid>* on_end = nullptr;
  void open(KeyedStateStore& store) {
    max = &store.get_state(ValueStateDescriptor<int64_t>{"max"});
    best = &store.get_list_state(ListStateDescriptor<Bid>{"best"});
    on_end = &store.get_list_state(ListStateDescriptor<Bid>{"on-end"});
  }
  void process_element(const Q7Bid& in, KeyedProcessContext<int64_t>& ctx, Collector<Q7Part>&) {
    const std::optional<int64_t> m = max->value();
    if (!m) {
      max->update(-1);
      ctx.register_event_time_timer(in.window_start + kTumbleMs);  // on-end bids included
    }
    const int64_t current = m.value_or(-1);
    if (!in.own) {
      if (in.bid.price >= current) on_end->add(in.bid);
      return;
    }
    if (in.bid.price > current) {
      max->update(in.bid.price);
      best->clear();
    }
    if (in.bid.price >= current) best->add(in.bid);
  }
  void on_timer(int64_t, KeyedProcessContext<int64_t>& ctx, Collector<Q7Part>& out) {
    const int64_t window_start = ctx.current_key() / kQ7Buckets;
    const int64_t m = max->value().value_or(-1);
    out.collect(Q7Part{window_start, m, false, {}});
    for (const Bid& b : best->get()) out.collect(Q7Part{window_start, -1, true, b});
    for (const Bid& b : on_end->get()) {
      if (b.price >= m) out.collect(Q7Part{window_start, -1, true, b});
    }
    max->clear();
    best->clear();
    on_end->clear();
  }
};

/// Stage 2, keyed by window start: the window's highest price over all buckets, then the
/// candidate bids at exactly that price.
struct Q7Global {
  ValueState<int64_t>* max = nullptr;
  ListState<Bid>* candidates = nullptr;
  void open(KeyedStateStore& store) {
    max = &store.get_state(ValueStateDescriptor<int64_t>{"max"});
    candidates = &store.get_list_state(ListStateDescriptor<Bid>{"candidates"});
  }
  void process_element(const Q7Part& p, KeyedProcessContext<int64_t>& ctx, Collector<Bid>&) {
    const std::optional<int64_t> m = max->value();
    if (!m) ctx.register_event_time_timer(p.window_start + kTumbleMs);
    if (p.is_bid) {
      if (!m) max->update(-1);
      candidates->add(p.bid);
    } else {
      max->update(std::max(m.value_or(-1), p.max_price));
    }
  }
  void on_timer(int64_t, KeyedProcessContext<int64_t>&, Collector<Bid>& out) {
    const int64_t m = max->value().value_or(-1);
    if (m >= 0) {
      for (const Bid& b : candidates->get()) {
        if (b.price == m) out.collect(b);
      }
    }
    max->clear();
    candidates->clear();
  }
};

// ---- q8: new users who opened an auction in their first window -----------------------------

struct PersonName {
  int64_t id = 0;
  std::string name;
};
EDDY_FIELDS(PersonName, id, name);

/// Called for each (person, auction) pair of a key and window; pairs of one key and window
/// come together when it fires, so remembering the last one emits each person once.
struct Q8Pairs {
  int64_t last_id = -1;
  int64_t last_window = 0;
  void process_element(const PersonName& p, const int64_t&, WindowJoinContext<int64_t>& ctx,
                       Collector<Q8Row>& out) {
    const int64_t window = ctx.window().start;
    if (p.id == last_id && window == last_window) return;
    last_id = p.id;
    last_window = window;
    out.collect(Q8Row{p.id, p.name, window});
  }
};

uint32_t KindsOf(const std::string& query) {
  if (query == "q3" || query == "q8") return nx::kPersons | nx::kAuctions;
  if (query == "q4") return nx::kAuctions | nx::kBids;
  return nx::kBids;
}

}  // namespace

EDDY_JOB(nexmark) {
  const std::string query = args.require("query");
  static const std::vector<std::string> kQueries = {"q0", "q1", "q2", "q3", "q4",
                                                    "q5", "q7", "q8", "q11", "q12"};
  if (std::find(kQueries.begin(), kQueries.end(), query) == kQueries.end()) {
    throw std::invalid_argument("--query: unknown query '" + query +
                                "' (q0 q1 q2 q3 q4 q5 q7 q8 q11 q12)");
  }
  nx::SourceOptions opts;
  opts.events = args.get_int("events", 1'000'000);
  opts.events_per_second = args.get_double("rate", 0);
  opts.start_at_ms = args.get_int("start-at", 0);
  opts.kinds = KindsOf(query);
  // Queries of bids alone read Bid records straight from the source; the others Events.
  auto bids = [&] { return job.source(nx::bids(opts), monotonous()); };
  auto events = [&] { return job.source(nx::source(opts), monotonous()); };

  if (query == "q0") {
    Emit(bids(), args, opts, [](const Bid& b) { return FirstEventAt(b.date_time); });
  } else if (query == "q1") {
    Emit(bids().flat_map(Q1Convert{}, "CurrencyConversion"), args, opts);
  } else if (query == "q2") {
    Emit(bids().flat_map(
             [](const Bid& b, Collector<Q2Row>& out) {
               if (b.auction % kQ2Modulus == 0) out.collect(Q2Row{b.auction, b.price});
             },
             "Selection"),
         args, opts);
  } else if (query == "q3") {
    auto all = events();
    auto auctions = Project<SellerAuction, EventKind::kAuction>(
                        all,
                        [](const Auction& a, Collector<SellerAuction>& out) {
                          if (a.category == kQ3Category) out.collect(SellerAuction{a.id, a.seller});
                        },
                        "AuctionsInCategory")
                        .key_by([](const SellerAuction& a) { return a.seller; });
    auto people = Project<LocalPerson, EventKind::kPerson>(
                      all,
                      [](const Person& p, Collector<LocalPerson>& out) {
                        if (Q3State(p.state)) out.collect(LocalPerson{p.id, {p.name, p.city, p.state}});
                      },
                      "PeopleInStates")
                      .key_by([](const LocalPerson& p) { return p.id; });
    Emit(auctions.connect(people).process(Q3Join{}, "LocalItemSuggestion"), args, opts);
  } else if (query == "q4") {
    auto all = events();
    auto auctions = Project<AuctionSpan, EventKind::kAuction>(
                        all,
                        [](const Auction& a, Collector<AuctionSpan>& out) {
                          out.collect(AuctionSpan{a.id, a.category, a.date_time, a.expires});
                        },
                        "AuctionSpans")
                        .key_by([](const AuctionSpan& a) { return a.id; });
    auto prices = Project<BidPrice, EventKind::kBid>(
                    all,
                    [](const Bid& b, Collector<BidPrice>& out) {
                      out.collect(BidPrice{b.auction, b.price, b.date_time});
                    },
                    "BidPrices")
                    .key_by([](const BidPrice& b) { return b.auction; });
    Emit(auctions.connect(prices)
             .process(Q4Close{}, "ClosingPrice")
             .key_by([](const ClosingPrice& c) { return c.category; })
             .process(Q4Average{}, "AveragePerCategory"),
         args, opts);
  } else if (query == "q5") {
    auto counts =
        bids().process(Q5LocalCount{}, "LocalBidsPerAuction")
            .key_by([](const AuctionCount& c) { return c.auction; })
            .window(SlidingEventTimeWindows::of(std::chrono::milliseconds(kQ5SizeMs),
                                                std::chrono::milliseconds(kQ5SlideMs)))
            .aggregate(aggregates::sum<AuctionCount>(&AuctionCount::count),
                       [](const int64_t& auction, const TimeWindow& w, const int64_t& n,
                          Collector<Q5Row>& out) { out.collect(Q5Row{auction, n, w.start}); },
                       "BidsPerAuction");
    Emit(counts.key_by([](const Q5Row& r) { return r.window_start; }).process(Q5Top{}, "HotItems"),
         args, opts, [](const Q5Row& r) { return FirstEventAt(r.window_start + kQ5SizeMs); });
  } else if (query == "q7") {
    auto routed = bids().flat_map(Q7Route{}, "RouteToWindows");
    Emit(routed
             .key_by([](const Q7Bid& b) { return b.window_start * kQ7Buckets + b.bid.auction % kQ7Buckets; })
             .process(Q7Local{}, "LocalHighest")
             .key_by([](const Q7Part& p) { return p.window_start; })
             .process(Q7Global{}, "HighestBid"),
         args, opts);
  } else if (query == "q8") {
    auto all = events();
    auto people = Project<PersonName, EventKind::kPerson>(
                      all,
                      [](const Person& p, Collector<PersonName>& out) { out.collect(PersonName{p.id, p.name}); },
                      "PersonNames")
                      .key_by([](const PersonName& p) { return p.id; });
    auto sellers = Project<int64_t, EventKind::kAuction>(
                       all, [](const Auction& a, Collector<int64_t>& out) { out.collect(a.seller); },
                       "Sellers")
                       .key_by([](int64_t seller) { return seller; });
    Emit(people.window_join(sellers, TumblingEventTimeWindows::of(std::chrono::milliseconds(kTumbleMs)))
             .process(Q8Pairs{}),
         args, opts);
  } else if (query == "q11") {
    Emit(bids()
             .map([](const Bid& b) { return b.bidder; }, "Bidders")
             .key_by([](int64_t bidder) { return bidder; })
             .window(EventTimeSessionWindows::with_gap(std::chrono::milliseconds(kSessionGapMs)))
             .aggregate(aggregates::count<int64_t>(),
                        [](const int64_t& bidder, const TimeWindow& w, const int64_t& n,
                           Collector<BidderCount>& out) {
                          out.collect(BidderCount{bidder, n, w.start, w.end});
                        },
                        "UserSessions"),
         args, opts);
  } else if (query == "q12") {
    Emit(bids().process(Q12LocalCount{}, "LocalBidsPerBidder")
             .key_by([](const AuctionCount& c) { return c.auction; })
             .window(TumblingProcessingTimeWindows::of(std::chrono::milliseconds(kTumbleMs)))
             .aggregate(aggregates::sum<AuctionCount>(&AuctionCount::count),
                        [](const int64_t& bidder, const TimeWindow& w, const int64_t& n,
                           Collector<BidderCount>& out) {
                          out.collect(BidderCount{bidder, n, w.start, w.end});
                        },
                        "ProcessingTimeWindows"),
         args, opts);
  }
}
