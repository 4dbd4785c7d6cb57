// Nexmark query results and their CSV lines, shared by the queries as Eddy jobs
// (nexmark.cc) and the hand-written single-threaded baselines (bench/nexmark/): no header,
// integers in decimal, strings in double quotes (generated strings hold no quote), times
// as epoch milliseconds. Also the events' own CSV lines, for exporting them to a reference.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/serde.h"
#include "connectors/datagen/nexmark/model.h"

namespace eddy::nexmark {

using connectors::nexmark::Auction;
using connectors::nexmark::Bid;
using connectors::nexmark::Event;
using connectors::nexmark::EventKind;
using connectors::nexmark::Person;

/// q1: a bid with its price in another currency, price·0.908 kept exact in thousandths.
struct Q1Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price_thousandths = 0;
  int64_t date_time = 0;
  std::string extra;
};
EDDY_FIELDS(Q1Row, auction, bidder, price_thousandths, date_time, extra);

struct Q2Row {
  int64_t auction = 0;
  int64_t price = 0;
};
EDDY_FIELDS(Q2Row, auction, price);

struct Q3Row {
  std::string name;
  std::string city;
  std::string state;
  int64_t id = 0;
};
EDDY_FIELDS(Q3Row, name, city, state, id);

struct Q4Row {
  int64_t category = 0;
  int64_t avg_price = 0;
};
EDDY_FIELDS(Q4Row, category, avg_price);

struct Q5Row {
  int64_t auction = 0;
  int64_t num = 0;
  int64_t window_start = 0;
};
EDDY_FIELDS(Q5Row, auction, num, window_start);

struct Q8Row {
  int64_t id = 0;
  std::string name;
  int64_t window_start = 0;
};
EDDY_FIELDS(Q8Row, id, name, window_start);

/// q11 and q12: bids per bidder and window.
struct BidderCount {
  int64_t bidder = 0;
  int64_t count = 0;
  int64_t window_start = 0;
  int64_t window_end = 0;
};
EDDY_FIELDS(BidderCount, bidder, count, window_start, window_end);

inline void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

inline void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  out->append(s);
  out->push_back('"');
}

/// "auction,bidder,price,dateTime,"extra"" (q0, q7; the bid export).
inline void AppendCsv(std::string* out, const Bid& b) {
  AppendInt(out, b.auction);
  out->push_back(',');
  AppendInt(out, b.bidder);
  out->push_back(',');
  AppendInt(out, b.price);
  out->push_back(',');
  AppendInt(out, b.date_time);
  out->push_back(',');
  AppendQuoted(out, b.extra);
}

inline void AppendCsv(std::string* out, const Q1Row& r) {
  AppendInt(out, r.auction);
  out->push_back(',');
  AppendInt(out, r.bidder);
  out->push_back(',');
  AppendInt(out, r.price_thousandths / 1000);
  out->push_back('.');
  const int64_t frac = r.price_thousandths % 1000;
  out->push_back(static_cast<char>('0' + frac / 100));
  out->push_back(static_cast<char>('0' + frac / 10 % 10));
  out->push_back(static_cast<char>('0' + frac % 10));
  out->push_back(',');
  AppendInt(out, r.date_time);
  out->push_back(',');
  AppendQuoted(out, r.extra);
}

inline void AppendCsv(std::string* out, const Q2Row& r) {
  AppendInt(out, r.auction);
  out->push_back(',');
  AppendInt(out, r.price);
}

inline void AppendCsv(std::string* out, const Q3Row& r) {
  AppendQuoted(out, r.name);
  out->push_back(',');
  AppendQuoted(out, r.city);
  out->push_back(',');
  AppendQuoted(out, r.state);
  out->push_back(',');
  AppendInt(out, r.id);
}

inline void AppendCsv(std::string* out, const Q4Row& r) {
  AppendInt(out, r.category);
  out->push_back(',');
  AppendInt(out, r.avg_price);
}

inline void AppendCsv(std::string* out, const Q5Row& r) {
  AppendInt(out, r.auction);
  out->push_back(',');
  AppendInt(out, r.num);
  out->push_back(',');
  AppendInt(out, r.window_start);
}

inline void AppendCsv(std::string* out, const Q8Row& r) {
  AppendInt(out, r.id);
  out->push_back(',');
  AppendQuoted(out, r.name);
  out->push_back(',');
  AppendInt(out, r.window_start);
}

inline void AppendCsv(std::string* out, const BidderCount& r) {
  AppendInt(out, r.bidder);
  out->push_back(',');
  AppendInt(out, r.count);
  out->push_back(',');
  AppendInt(out, r.window_start);
  out->push_back(',');
  AppendInt(out, r.window_end);
}

/// id,"name","email_address","credit_card","city","state",date_time,"extra"
inline void AppendCsv(std::string* out, const Person& p) {
  AppendInt(out, p.id);
  for (const std::string* s : {&p.name, &p.email_address, &p.credit_card, &p.city, &p.state}) {
    out->push_back(',');
    AppendQuoted(out, *s);
  }
  out->push_back(',');
  AppendInt(out, p.date_time);
  out->push_back(',');
  AppendQuoted(out, p.extra);
}

/// id,"item_name","description",initial_bid,reserve,date_time,expires,seller,category,"extra"
inline void AppendCsv(std::string* out, const Auction& a) {
  AppendInt(out, a.id);
  out->push_back(',');
  AppendQuoted(out, a.item_name);
  out->push_back(',');
  AppendQuoted(out, a.description);
  for (int64_t v : {a.initial_bid, a.reserve, a.date_time, a.expires, a.seller, a.category}) {
    out->push_back(',');
    AppendInt(out, v);
  }
  out->push_back(',');
  AppendQuoted(out, a.extra);
}

/// The row as one CSV line without its newline.
template <typename Row>
std::string CsvLine(const Row& row) {
  std::string line;
  AppendCsv(&line, row);
  return line;
}

/// Window arithmetic on epoch milliseconds (windows aligned to the epoch, as Flink's).
constexpr int64_t kQ5SizeMs = 10'000;
constexpr int64_t kQ5SlideMs = 2'000;
constexpr int64_t kTumbleMs = 10'000;   // q7, q8, q12
constexpr int64_t kSessionGapMs = 10'000;  // q11
inline constexpr int64_t FloorTo(int64_t t, int64_t size) {
  const int64_t r = t % size;
  return r < 0 ? t - r - size : t - r;
}

/// q3's states.
inline bool Q3State(std::string_view state) { return state == "OR" || state == "ID" || state == "CA"; }
constexpr int64_t kQ3Category = 10;
constexpr int64_t kQ2Modulus = 123;
constexpr int64_t kQ1RateThousandths = 908;

}  // namespace eddy::nexmark
