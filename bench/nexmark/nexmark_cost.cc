// The COST baselines of the Nexmark queries (McSherry et al., "Scalability! But at what
// COST?"): each query computed by a hand-written, single-threaded loop over the same
// generator as the Eddy jobs, with no engine. It is the yardstick for the engine's
// per-core throughput and the reference the tests compare the engine's rows with.
//
//   eddy-nexmark-cost --query q5 --events 10000000 [--output FILE]
//   eddy-nexmark-cost --export DIR --events N     the events as person/auction/bid.csv
//
// Prints one line: query, events, rows, wall and CPU seconds, events per CPU second.
// Like the jobs, a loop only makes the event kinds its query reads.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "connectors/datagen/nexmark/generator.h"
#include "examples/nexmark/rows.h"

namespace eddy::nexmark {
namespace {

namespace gen = connectors::nexmark;

/// Writes rows as CSV lines to a file, or only counts them.
class RowSink {
 public:
  explicit RowSink(const std::string& path) {
    if (path.empty()) return;
    file_ = std::fopen(path.c_str(), "w");
    if (file_ == nullptr) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    buf_.reserve(1 << 20);
  }
  ~RowSink() { Close(); }
  template <typename Row>
  void operator()(const Row& row) {
    ++rows_;
    if (file_ == nullptr) return;
    AppendCsv(&buf_, row);
    buf_.push_back('\n');
    if (buf_.size() >= (1 << 20)) FlushBuffer();
  }
  void Close() {
    if (file_ == nullptr) return;
    FlushBuffer();
    if (std::fclose(file_) != 0) throw std::runtime_error("cannot write output");
    file_ = nullptr;
  }
  int64_t rows() const { return rows_; }

 private:
  void FlushBuffer() {
    if (std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) {
      throw std::runtime_error("cannot write output");
    }
    buf_.clear();
  }
  std::FILE* file_ = nullptr;
  std::string buf_;
  int64_t rows_ = 0;
};

/// Calls f(i) for each event number below n of the kinds in `kinds`.
template <typename F>
void ForEach(int64_t n, uint32_t kinds, F&& f) {
  for (int64_t i = 0; i < n; ++i) {
    if ((kinds & gen::KindBit(gen::KindOf(i))) != 0) f(i, gen::KindOf(i));
  }
}

void Q0(int64_t n, RowSink& sink) {
  Bid b;
  ForEach(n, gen::kBids, [&](int64_t i, EventKind) {
    gen::GenerateBid(i, &b);
    sink(b);
  });
}

void Q1(int64_t n, RowSink& sink) {
  Bid b;
  Q1Row r;
  ForEach(n, gen::kBids, [&](int64_t i, EventKind) {
    gen::GenerateBid(i, &b);
    r.auction = b.auction;
    r.bidder = b.bidder;
    r.price_thousandths = b.price * kQ1RateThousandths;
    r.date_time = b.date_time;
    r.extra = b.extra;
    sink(r);
  });
}

void Q2(int64_t n, RowSink& sink) {
  Bid b;
  ForEach(n, gen::kBids, [&](int64_t i, EventKind) {
    gen::GenerateBid(i, &b);
    if (b.auction % kQ2Modulus == 0) sink(Q2Row{b.auction, b.price});
  });
}

/// q3: people of OR, ID or CA joined with their category-10 auctions, either side first.
void Q3(int64_t n, RowSink& sink) {
  struct Seller {
    std::string name, city, state;
  };
  std::unordered_map<int64_t, Seller> sellers;
  std::unordered_map<int64_t, std::vector<int64_t>> waiting;  // seller -> auction ids
  Person p;
  Auction a;
  ForEach(n, gen::kPersons | gen::kAuctions, [&](int64_t i, EventKind kind) {
    if (kind == EventKind::kPerson) {
      gen::GeneratePerson(i, &p);
      if (!Q3State(p.state)) return;
      sellers[p.id] = Seller{p.name, p.city, p.state};
      auto it = waiting.find(p.id);
      if (it == waiting.end()) return;
      for (int64_t id : it->second) sink(Q3Row{p.name, p.city, p.state, id});
      waiting.erase(it);
    } else {
      gen::GenerateAuction(i, &a);
      if (a.category != kQ3Category) return;
      auto it = sellers.find(a.seller);
      if (it != sellers.end()) {
        sink(Q3Row{it->second.name, it->second.city, it->second.state, a.id});
      } else {
        waiting[a.seller].push_back(a.id);
      }
    }
  });
}

/// q4: per category, the average over auctions of the highest bid made while the auction
/// was open (dateTime between the auction's start and expiry, inclusive).
void Q4(int64_t n, RowSink& sink) {
  struct Open {
    int64_t category, start, expires, max_price;
  };
  std::unordered_map<int64_t, Open> auctions;
  std::unordered_map<int64_t, std::vector<std::pair<int64_t, int64_t>>> early;  // bids first
  Auction a;
  Bid b;
  ForEach(n, gen::kAuctions | gen::kBids, [&](int64_t i, EventKind kind) {
    if (kind == EventKind::kAuction) {
      gen::GenerateAuction(i, &a);
      Open open{a.category, a.date_time, a.expires, -1};
      if (auto it = early.find(a.id); it != early.end()) {
        for (auto [t, price] : it->second) {
          if (t >= open.start && t <= open.expires) open.max_price = std::max(open.max_price, price);
        }
        early.erase(it);
      }
      auctions.emplace(a.id, open);
    } else {
      gen::GenerateBid(i, &b);
      auto it = auctions.find(b.auction);
      if (it == auctions.end()) {
        early[b.auction].emplace_back(b.date_time, b.price);
      } else if (b.date_time >= it->second.start && b.date_time <= it->second.expires) {
        it->second.max_price = std::max(it->second.max_price, b.price);
      }
    }
  });
  std::map<int64_t, std::pair<int64_t, int64_t>> per_category;  // sum, count
  for (const auto& [id, open] : auctions) {
    if (open.max_price < 0) continue;
    auto& [sum, count] = per_category[open.category];
    sum += open.max_price;
    count += 1;
  }
  for (const auto& [category, sc] : per_category) sink(Q4Row{category, sc.first / sc.second});
}

/// q5: per hopping window (10 s every 2 s), the auctions with the most bids (ties kept).
void Q5(int64_t n, RowSink& sink) {
  // Counts per 2-second pane; a window is its five panes.
  std::map<int64_t, std::unordered_map<int64_t, int64_t>> panes;  // pane start -> counts
  constexpr int64_t kPanes = kQ5SizeMs / kQ5SlideMs;
  int64_t next_window = INT64_MIN;  // start of the next window to fire
  std::unordered_map<int64_t, int64_t> counts;
  auto fire = [&](int64_t start) {
    counts.clear();
    for (int64_t k = 0; k < kPanes; ++k) {
      auto it = panes.find(start + k * kQ5SlideMs);
      if (it == panes.end()) continue;
      for (const auto& [auction, c] : it->second) counts[auction] += c;
    }
    int64_t max = 0;
    for (const auto& [auction, c] : counts) max = std::max(max, c);
    for (const auto& [auction, c] : counts) {
      if (c == max) sink(Q5Row{auction, c, start});
    }
    panes.erase(start);  // later windows start after it
  };
  Bid b;
  ForEach(n, gen::kBids, [&](int64_t i, EventKind) {
    gen::GenerateBid(i, &b);
    const int64_t pane = FloorTo(b.date_time, kQ5SlideMs);
    if (next_window == INT64_MIN) next_window = pane - (kPanes - 1) * kQ5SlideMs;
    // Windows that end at or before this bid are complete (the input is in order).
    while (next_window + kQ5SizeMs <= b.date_time) {
      fire(next_window);
      next_window += kQ5SlideMs;
    }
    ++panes[pane][b.auction];
  });
  while (!panes.empty()) {
    fire(next_window);
    next_window += kQ5SlideMs;
  }
}

/// q7: per tumbling 10 s window, the bids whose price is the window's highest and whose
/// time lies in [window start, window end] (both ends: a bid at the end also matches).
void Q7(int64_t n, RowSink& sink) {
  int64_t window = INT64_MIN;  // start of the current window
  int64_t max = -1;
  std::vector<Bid> best;  // the current window's bids at its highest price so far
  int64_t prev_window = INT64_MIN;
  int64_t prev_max = -1;
  auto close = [&] {
    for (const Bid& x : best) sink(x);
    prev_window = window;
    prev_max = max;
    best.clear();
    max = -1;
  };
  Bid b;
  ForEach(n, gen::kBids, [&](int64_t i, EventKind) {
    gen::GenerateBid(i, &b);
    const int64_t w = FloorTo(b.date_time, kTumbleMs);
    if (w != window) {
      if (window != INT64_MIN) close();
      window = w;
    }
    // At the previous window's end exactly: also matches that window's highest price.
    if (b.date_time == w && prev_window == w - kTumbleMs && b.price == prev_max) sink(b);
    if (b.price > max) {
      max = b.price;
      best.clear();
    }
    if (b.price == max) best.push_back(b);
  });
  if (window != INT64_MIN) close();
}

/// q8: people who opened an auction in the tumbling 10 s window they registered in.
void Q8(int64_t n, RowSink& sink) {
  int64_t window = INT64_MIN;
  std::vector<std::pair<int64_t, std::string>> people;
  std::unordered_set<int64_t> sellers;
  auto close = [&] {
    for (const auto& [id, name] : people) {
      if (sellers.contains(id)) sink(Q8Row{id, name, window});
    }
    people.clear();
    sellers.clear();
  };
  Person p;
  Auction a;
  ForEach(n, gen::kPersons | gen::kAuctions, [&](int64_t i, EventKind kind) {
    const int64_t w = FloorTo(gen::TimestampOf(i), kTumbleMs);
    if (w != window) {
      if (window != INT64_MIN) close();
      window = w;
    }
    if (kind == EventKind::kPerson) {
      gen::GeneratePerson(i, &p);
      people.emplace_back(p.id, p.name);
    } else {
      gen::GenerateAuction(i, &a);
      sellers.insert(a.seller);
    }
  });
  if (window != INT64_MIN) close();
}

/// q11: bids per bidder and session (a gap of more than 10 s ends one; Flink's session
/// windows [t, t + gap) merge when they touch).
void Q11(int64_t n, RowSink& sink) {
  struct Session {
    int64_t start, last, count;
  };
  std::unordered_map<int64_t, Session> open;
  Bid b;
  int64_t since_sweep = 0;
  auto emit = [&](int64_t bidder, const Session& s) {
    sink(BidderCount{bidder, s.count, s.start, s.last + kSessionGapMs});
  };
  ForEach(n, gen::kBids, [&](int64_t i, EventKind) {
    gen::GenerateBid(i, &b);
    auto [it, inserted] = open.try_emplace(b.bidder, Session{b.date_time, b.date_time, 0});
    Session& s = it->second;
    if (!inserted && b.date_time - s.last > kSessionGapMs) {
      emit(b.bidder, s);
      s = Session{b.date_time, b.date_time, 0};
    }
    s.last = std::max(s.last, b.date_time);
    s.count += 1;
    // Now and then, close the sessions no later bid can extend.
    if (++since_sweep == 1 << 16) {
      since_sweep = 0;
      for (auto s_it = open.begin(); s_it != open.end();) {
        if (b.date_time - s_it->second.last > kSessionGapMs) {
          emit(s_it->first, s_it->second);
          s_it = open.erase(s_it);
        } else {
          ++s_it;
        }
      }
    }
  });
  for (const auto& [bidder, s] : open) emit(bidder, s);
}

/// q12: bids per bidder and tumbling 10 s window of processing (wall clock) time.
void Q12(int64_t n, RowSink& sink) {
  std::map<std::pair<int64_t, int64_t>, int64_t> counts;  // (window start, bidder)
  std::unordered_map<int64_t, int64_t> current;
  int64_t window = INT64_MIN;
  auto close = [&] {
    for (const auto& [bidder, c] : current) sink(BidderCount{bidder, c, window, window + kTumbleMs});
    current.clear();
  };
  Bid b;
  int64_t now = 0;
  int64_t k = 0;
  ForEach(n, gen::kBids, [&](int64_t i, EventKind) {
    if ((k++ & 1023) == 0) {
      now = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
      const int64_t w = FloorTo(now, kTumbleMs);
      if (w != window) {
        if (window != INT64_MIN) close();
        window = w;
      }
    }
    gen::GenerateBid(i, &b);
    ++current[b.bidder];
  });
  if (window != INT64_MIN) close();
}

void Export(int64_t n, const std::string& dir) {
  std::filesystem::create_directories(dir);
  RowSink persons(dir + "/person.csv");
  RowSink auctions(dir + "/auction.csv");
  RowSink bids(dir + "/bid.csv");
  Event e;
  for (int64_t i = 0; i < n; ++i) {
    gen::GenerateEvent(i, &e);
    switch (e.kind) {
      case EventKind::kPerson: persons(e.person); break;
      case EventKind::kAuction: auctions(e.auction); break;
      case EventKind::kBid: bids(e.bid); break;
    }
  }
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace
}  // namespace eddy::nexmark

int main(int argc, char** argv) {
  using namespace eddy::nexmark;
  CLI::App app{"Nexmark queries as hand-written single-threaded loops (the COST baselines)"};
  std::string query = "q0";
  int64_t events = 1'000'000;
  std::string output;
  std::string export_dir;
  app.add_option("--query", query, "q0 q1 q2 q3 q4 q5 q7 q8 q11 q12")->capture_default_str();
  app.add_option("--events", events, "events to generate")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--output", output, "write the result rows to this CSV file");
  app.add_option("--export", export_dir, "write the events to DIR/{person,auction,bid}.csv instead");
  CLI11_PARSE(app, argc, argv);
  try {
    const std::map<std::string, void (*)(int64_t, RowSink&)> queries = {
        {"q0", Q0}, {"q1", Q1}, {"q2", Q2}, {"q3", Q3}, {"q4", Q4},
        {"q5", Q5}, {"q7", Q7}, {"q8", Q8}, {"q11", Q11}, {"q12", Q12}};
    if (!export_dir.empty()) {
      Export(events, export_dir);
      return 0;
    }
    auto it = queries.find(query);
    if (it == queries.end()) {
      std::fprintf(stderr, "eddy-nexmark-cost: unknown query '%s' (q0 q1 q2 q3 q4 q5 q7 q8 q11 q12)\n",
                   query.c_str());
      return 2;
    }
    RowSink sink(output);
    const double cpu0 = CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    it->second(events, sink);
    sink.Close();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = CpuSeconds() - cpu0;
    std::printf("query=%s events=%lld rows=%lld seconds=%.3f cpu_seconds=%.3f events_per_cpu_second=%.0f\n",
                query.c_str(), static_cast<long long>(events), static_cast<long long>(sink.rows()), wall,
                cpu, cpu > 0 ? static_cast<double>(events) / cpu : 0.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eddy-nexmark-cost: %s\n", e.what());
    return 1;
  }
  return 0;
}
