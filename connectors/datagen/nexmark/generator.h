// Apache Beam's Nexmark generator, reproduced exactly: event number i (0-based) is a
// person, an auction or a bid by i mod 50 (1 : 3 : 46), and all of its randomness comes
// from java.util.Random seeded with i, so any subset of events can be made independently
// and in any order (that is how parallel sources share the work). One logical generator at
// 10,000 events/s of event time from 2015-07-15T00:00:00Z: event i's date_time is
// kBaseTime + i / 10 ms. NexmarkConfiguration's defaults: hot auction/seller/bidder ratios
// 2/4/4, 100 auctions in flight, 1000 active people, average sizes 200/500/100 bytes
// padded with `extra`, ids from 1000, categories from 10.
#pragma once

#include <cstdint>
#include <string>

#include "connectors/datagen/nexmark/model.h"

namespace eddy::connectors::nexmark {

/// The generator's constants (Beam's GeneratorConfig and NexmarkConfiguration defaults).
struct GeneratorConfig {
  static constexpr int64_t kBaseTime = 1436918400000;  // 2015-07-15T00:00:00Z
  static constexpr int64_t kInterEventDelayUs = 100;   // 10,000 events/s
  static constexpr int64_t kFirstAuctionId = 1000;
  static constexpr int64_t kFirstPersonId = 1000;
  static constexpr int64_t kFirstCategoryId = 10;
  static constexpr int64_t kPersonProportion = 1;
  static constexpr int64_t kAuctionProportion = 3;
  static constexpr int64_t kBidProportion = 46;
  static constexpr int64_t kProportionDenominator =
      kPersonProportion + kAuctionProportion + kBidProportion;
  static constexpr int32_t kHotAuctionRatio = 2;
  static constexpr int32_t kHotSellersRatio = 4;
  static constexpr int32_t kHotBiddersRatio = 4;
  static constexpr int64_t kNumInFlightAuctions = 100;
  static constexpr int64_t kNumActivePeople = 1000;
  static constexpr int32_t kAvgPersonByteSize = 200;
  static constexpr int32_t kAvgAuctionByteSize = 500;
  static constexpr int32_t kAvgBidByteSize = 100;
};

/// Which kind event number `i` is.
constexpr EventKind KindOf(int64_t i) {
  const int64_t rem = i % GeneratorConfig::kProportionDenominator;
  if (rem < GeneratorConfig::kPersonProportion) return EventKind::kPerson;
  if (rem < GeneratorConfig::kPersonProportion + GeneratorConfig::kAuctionProportion) {
    return EventKind::kAuction;
  }
  return EventKind::kBid;
}

/// Event time of event number `i` (epoch ms).
constexpr int64_t TimestampOf(int64_t i) {
  return GeneratorConfig::kBaseTime + (i * GeneratorConfig::kInterEventDelayUs) / 1000;
}

/// Writes event number `i` (i >= 0) into `*event`, reusing its strings' capacity: once they
/// have grown, making an event allocates nothing.
void GenerateEvent(int64_t i, Event* event);

/// The three kinds alone (the others' members untouched); `i` must be of that kind.
void GeneratePerson(int64_t i, Person* person);
void GenerateAuction(int64_t i, Auction* auction);
void GenerateBid(int64_t i, Bid* bid);

/// Beam's id bookkeeping (base 0, i.e. without the first-id offsets).
int64_t LastBase0PersonId(int64_t event_id);
int64_t LastBase0AuctionId(int64_t event_id);

}  // namespace eddy::connectors::nexmark
