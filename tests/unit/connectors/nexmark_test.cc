#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "connectors/datagen/nexmark/generator.h"
#include "connectors/datagen/nexmark/java_random.h"
#include "connectors/datagen/nexmark/source.h"
#include "tests/support/source_runner.h"

namespace eddy::connectors::nexmark {
namespace {

// Expected values were printed by java.util.Random (OpenJDK 17) with the same seeds and calls.
TEST(JavaRandomTest, MatchesJavaUtilRandom) {
  JavaRandom r(0);
  EXPECT_EQ(r.NextInt(), -1155484576);
  EXPECT_EQ(r.NextInt(10), 8);
  EXPECT_EQ(r.NextInt(1000000007), 516548029);
  EXPECT_EQ(r.NextLong(), -7261648964369397258LL);
  EXPECT_EQ(r.NextDouble(), 0.3090505681997092);
  EXPECT_EQ(r.NextInt(16), 1);  // power of two: the multiply-shift path

  JavaRandom s(42);
  EXPECT_EQ(s.NextInt(), -1170105035);
  EXPECT_EQ(s.NextInt(13), 7);
  EXPECT_EQ(s.NextLong(), -5843495416241995736LL);
  EXPECT_EQ(s.NextDouble(), 0.30871945533265976);
}

TEST(JavaRandomTest, RejectionLoopMatchesJavaForLargeBounds) {
  // Bounds just above 2^30 reject about half of the draws.
  JavaRandom r(-7);
  uint64_t h = 0;
  for (int i = 0; i < 100000; ++i) {
    h = h * 31 + static_cast<uint64_t>(static_cast<int64_t>(r.NextInt(i % 2 == 0 ? 1073741825 : 2000000000 - i)));
  }
  EXPECT_EQ(static_cast<int64_t>(h), 7216704608634192465LL);
}

TEST(JavaRandomTest, PriceDistributionMatchesJavaMathPowAndRound) {
  JavaRandom r(123456789);
  uint64_t h = 0;
  for (int i = 0; i < 1000; ++i) {
    h = h * 31 + static_cast<uint64_t>(std::llround(std::pow(10.0, r.NextDouble() * 6.0) * 100.0));
  }
  EXPECT_EQ(static_cast<int64_t>(h), 3139034018810822118LL);
}

// The first events, as the independent Java port (tests/e2e/nexmark/NexmarkReference.java)
// and Beam print them.
TEST(NexmarkGeneratorTest, FirstEventsMatchBeam) {
  Event e;
  GenerateEvent(0, &e);
  ASSERT_EQ(e.kind, EventKind::kPerson);
  EXPECT_EQ(e.person.id, 1000);
  EXPECT_EQ(e.person.name, "Peter Jones");
  EXPECT_EQ(e.person.email_address, "nhd@xcat.com");
  EXPECT_EQ(e.person.credit_card, "7241 7320 9143 4888");
  EXPECT_EQ(e.person.city, "Portland");
  EXPECT_EQ(e.person.state, "WY");
  EXPECT_EQ(e.person.date_time, 1436918400000);
  EXPECT_EQ(e.person.extra.substr(0, 20), "WN_HS_bnpkkiwhwana_L");

  GenerateEvent(1, &e);
  ASSERT_EQ(e.kind, EventKind::kAuction);
  EXPECT_EQ(e.auction.id, 1000);
  EXPECT_EQ(e.auction.item_name, "wkx mgee");
  EXPECT_EQ(e.auction.description, "eszpqxtdxrvwmmywkmogoahf");
  EXPECT_EQ(e.auction.initial_bid, 28873);
  EXPECT_EQ(e.auction.reserve, 29448);
  EXPECT_EQ(e.auction.expires, 1436918400011);
  EXPECT_EQ(e.auction.seller, 1000);
  EXPECT_EQ(e.auction.category, 13);

  GenerateEvent(4, &e);
  ASSERT_EQ(e.kind, EventKind::kBid);
  EXPECT_EQ(e.bid.auction, 1000);
  EXPECT_EQ(e.bid.bidder, 1001);
  EXPECT_EQ(e.bid.price, 32530001);
  EXPECT_EQ(e.bid.date_time, 1436918400000);
  EXPECT_EQ(e.bid.extra, "fdiysaV^]NLVsbolvyqwgticfdrwdyiyofziYMU\\Z`UaTQO][NX\\RM]WPYTOuwogvszlxjrcNOORM");
}

TEST(NexmarkGeneratorTest, ProportionsTimesAndIds) {
  std::map<EventKind, int> kinds;
  Event e;
  int64_t max_person = 0;
  for (int64_t i = 0; i < 5000; ++i) {
    GenerateEvent(i, &e);
    ++kinds[e.kind];
    EXPECT_EQ(e.date_time(), 1436918400000 + i / 10);
    if (e.kind == EventKind::kPerson) {
      EXPECT_EQ(e.person.id, 1000 + i / 50);
      max_person = e.person.id;
    }
    if (e.kind == EventKind::kBid) {
      EXPECT_GE(e.bid.bidder, 1000);
      EXPECT_LE(e.bid.bidder, max_person + 10);  // a few leads ahead at most
      EXPECT_GE(e.bid.price, 100);
    }
    if (e.kind == EventKind::kAuction) {
      EXPECT_GE(e.auction.category, 10);
      EXPECT_LT(e.auction.category, 15);
      EXPECT_GT(e.auction.expires, e.auction.date_time);
    }
  }
  EXPECT_EQ(kinds[EventKind::kPerson], 100);
  EXPECT_EQ(kinds[EventKind::kAuction], 300);
  EXPECT_EQ(kinds[EventKind::kBid], 4600);
}

std::string Key(const Event& e) {
  std::string out;
  Serde<Event>::Write(e, &out);
  return out;
}

TEST(NexmarkSourceTest, EveryParallelismYieldsTheSameEvents) {
  SourceOptions opts;
  opts.events = 3001;
  std::vector<std::string> expected;
  Event e;
  for (int64_t i = 0; i < opts.events; ++i) {
    GenerateEvent(i, &e);
    expected.push_back(Key(e));
  }
  std::sort(expected.begin(), expected.end());
  for (int p : {1, 3, 4}) {
    std::vector<std::string> got;
    for (int k = 0; k < p; ++k) {
      int64_t last = -1;
      for (const Event& ev : testing::RunSubtask(source(opts), k, p)) {
        EXPECT_GE(ev.date_time(), last) << "subtask " << k << " of " << p << " out of order";
        last = ev.date_time();
        got.push_back(Key(ev));
      }
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expected) << "parallelism " << p;
  }
}

TEST(NexmarkSourceTest, BidSourceEqualsTheEventSourcesBids) {
  SourceOptions opts;
  opts.events = 2000;
  for (int p : {1, 3}) {
    std::vector<std::string> from_events, from_bids;
    for (int k = 0; k < p; ++k) {
      for (const Event& e : testing::RunSubtask(source(opts), k, p)) {
        if (e.kind == EventKind::kBid) from_events.push_back(Key(e));
      }
      for (const Bid& b : testing::RunSubtask(bids(opts), k, p)) {
        Event e;
        e.kind = EventKind::kBid;
        e.bid = b;
        from_bids.push_back(Key(e));
      }
    }
    std::sort(from_events.begin(), from_events.end());
    std::sort(from_bids.begin(), from_bids.end());
    EXPECT_EQ(from_bids.size(), 1840u);
    EXPECT_EQ(from_bids, from_events) << "parallelism " << p;
  }
}

TEST(NexmarkSourceTest, SkipsKindsNotAsked) {
  SourceOptions opts;
  opts.events = 1000;
  opts.kinds = kPersons | kAuctions;
  const std::vector<Event> events = testing::RunSubtask(source(opts), 0, 2);
  ASSERT_EQ(events.size(), 40u);  // (20 people + 60 auctions) / 2
  for (const Event& ev : events) EXPECT_NE(ev.kind, EventKind::kBid);
}

TEST(NexmarkSourceTest, RoundTripsThroughSerde) {
  for (int64_t i : {0, 1, 7}) {
    Event e;
    GenerateEvent(i, &e);
    const std::string bytes = Key(e);
    ByteReader in(bytes);
    Event back;
    ASSERT_TRUE(Serde<Event>::Read(in, &back));
    EXPECT_EQ(back.kind, e.kind);
    EXPECT_EQ(Key(back), bytes);
  }
}


TEST(NexmarkSourceTest, PacedSourceEmitsOnlyTheEventsDueByNow) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  SourceOptions opts;
  opts.events = 100'000;
  opts.events_per_second = 1000;
  testing::CollectingInput<Event> sink;
  Output<Event> out;
  out.AddTarget(ErasedInput::Of<Event>(&sink, &sink));
  ReaderOutput<Event> reader_out(&out);
  RuntimeContext rt;
  testing::RecordingWaker waker;

  // Event 0 is due in a minute: nothing yet, and the reader asks to be woken then.
  opts.start_at_ms = now_ms + 60'000;
  auto later = source(opts).factory();
  later->Open(rt, &waker);
  EXPECT_EQ(later->PollNext(reader_out), InputStatus::kNothingAvailable);
  out.Flush();
  EXPECT_TRUE(sink.records.empty());
  EXPECT_GT(waker.wake_at, std::chrono::steady_clock::now() + std::chrono::seconds(50));

  // Started 100 ms ago at 1000/s: events 0..~100 are due, not the rest.
  opts.start_at_ms = now_ms - 100;
  auto started = source(opts).factory();
  started->Open(rt, &waker);
  InputStatus status = InputStatus::kMoreAvailable;
  while (status == InputStatus::kMoreAvailable) status = started->PollNext(reader_out);
  out.Flush();
  EXPECT_EQ(status, InputStatus::kNothingAvailable);
  EXPECT_GE(sink.records.size(), 100u);
  EXPECT_LT(sink.records.size(), 2000u);  // far from all 100,000
}

}  // namespace
}  // namespace eddy::connectors::nexmark
