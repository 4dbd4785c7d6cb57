#include "connectors/datagen/nexmark/generator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string_view>

#include "connectors/datagen/nexmark/java_random.h"

namespace eddy::connectors::nexmark {
namespace {

using Config = GeneratorConfig;

constexpr int kMinStringLength = 3;
constexpr int64_t kPersonIdLead = 10;
constexpr int64_t kAuctionIdLead = 10;
constexpr int64_t kHotSellerRatio = 100;  // hot sellers are the first of each 100 people
constexpr int64_t kHotAuctionRatio = 100;
constexpr int64_t kHotBidderRatio = 100;
constexpr int32_t kNumCategories = 5;

constexpr std::array<std::string_view, 6> kUsStates = {"AZ", "CA", "ID", "OR", "WA", "WY"};
constexpr std::array<std::string_view, 10> kUsCities = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
    "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
constexpr std::array<std::string_view, 11> kFirstNames = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
constexpr std::array<std::string_view, 9> kLastNames = {
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};

/// Beam's LongGenerator.nextLong: uniform in [0, n) through nextInt when n fits an int.
int64_t NextLong(JavaRandom& random, int64_t n) {
  if (n < std::numeric_limits<int32_t>::max()) return random.NextInt(static_cast<int32_t>(n));
  const int64_t r = random.NextLong() % n;
  return r < 0 ? -r : r;
}

/// Beam's PriceGenerator: round(10^(6u) * 100).
int64_t NextPrice(JavaRandom& random) {
  return std::llround(std::pow(10.0, random.NextDouble() * 6.0) * 100.0);
}

/// Appends a random string of 3 .. max_length-1 letters and spaces, trimmed (Java's trim()).
void NextString(JavaRandom& random, int max_length, std::string* out) {
  const size_t begin = out->size();
  int len = kMinStringLength + random.NextInt(max_length - kMinStringLength);
  while (len-- > 0) {
    if (random.NextInt(13) == 0) {
      out->push_back(' ');
    } else {
      out->push_back(static_cast<char>('a' + random.NextInt(26)));
    }
  }
  size_t end = out->size();
  while (end > begin && (*out)[end - 1] == ' ') --end;
  out->resize(end);
  size_t first = begin;
  while (first < end && (*out)[first] == ' ') ++first;
  out->erase(begin, first - begin);
}

/// Beam's nextExactString: six letters per nextInt(); a negative draw's remainder is
/// negative, so characters below 'a' occur, as in Java.
void NextExactString(JavaRandom& random, int length, std::string* out) {
  out->resize(static_cast<size_t>(length));  // keeps the capacity: no allocation once grown
  char* p = out->data();
  // Six characters per draw; Java's % and / truncate towards zero, as C++'s do.
  int k = 0;
  // Java divides by 26 again per character; truncated division nests ((r / a) / b ==
  // r / (a * b)), so the six quotients are computed independently of one another, which
  // breaks the chain of dependent divisions.
  for (; k + 6 <= length; k += 6) {
    const int32_t r = random.NextInt();
    const int32_t q1 = r / 26, q2 = r / 676, q3 = r / 17576, q4 = r / 456976,
                  q5 = r / 11881376, q6 = r / 308915776;
    p[k + 0] = static_cast<char>('a' + (r - 26 * q1));
    p[k + 1] = static_cast<char>('a' + (q1 - 26 * q2));
    p[k + 2] = static_cast<char>('a' + (q2 - 26 * q3));
    p[k + 3] = static_cast<char>('a' + (q3 - 26 * q4));
    p[k + 4] = static_cast<char>('a' + (q4 - 26 * q5));
    p[k + 5] = static_cast<char>('a' + (q5 - 26 * q6));
  }
  if (k < length) {
    int32_t rnd = random.NextInt();
    for (; k < length; ++k) {
      p[k] = static_cast<char>('a' + rnd % 26);
      rnd /= 26;
    }
  }
}

/// Padding so that current_size + extra averages `average`.
void NextExtra(JavaRandom& random, int current_size, int average, std::string* out) {
  if (current_size > average) {
    out->clear();
    return;
  }
  average -= current_size;
  const int delta = static_cast<int>(std::llround(average * 0.2));
  const int min_size = average - delta;
  const int size = min_size + (delta == 0 ? 0 : random.NextInt(2 * delta));
  NextExactString(random, size, out);
}

int64_t NextBase0PersonId(int64_t event_id, JavaRandom& random) {
  const int64_t num_people = LastBase0PersonId(event_id) + 1;
  const int64_t active = std::min(num_people, Config::kNumActivePeople);
  const int64_t n = NextLong(random, active + kPersonIdLead);
  return num_people - active + n;
}

int64_t NextBase0AuctionId(int64_t event_id, JavaRandom& random) {
  const int64_t max_auction = LastBase0AuctionId(event_id);
  const int64_t min_auction = std::max<int64_t>(max_auction - Config::kNumInFlightAuctions, 0);
  return min_auction + NextLong(random, max_auction - min_auction + 1 + kAuctionIdLead);
}

int64_t NextAuctionLengthMs(int64_t event_number, JavaRandom& random, int64_t timestamp) {
  // When will the auction numInFlightAuctions beyond this one be generated? Lengths average
  // that horizon.
  constexpr int64_t kEventsForAuctions =
      (Config::kNumInFlightAuctions * Config::kProportionDenominator) / Config::kAuctionProportion;
  const int64_t horizon_ms = TimestampOf(event_number + kEventsForAuctions) - timestamp;
  return 1 + NextLong(random, std::max<int64_t>(horizon_ms * 2, 1));
}

void FillPerson(int64_t i, JavaRandom& random, Person* p) {
  p->id = LastBase0PersonId(i) + Config::kFirstPersonId;
  p->name.assign(kFirstNames[random.NextInt(static_cast<int32_t>(kFirstNames.size()))]);
  p->name.push_back(' ');
  p->name.append(kLastNames[random.NextInt(static_cast<int32_t>(kLastNames.size()))]);
  p->email_address.clear();
  NextString(random, 7, &p->email_address);
  p->email_address.push_back('@');
  NextString(random, 5, &p->email_address);
  p->email_address.append(".com");
  p->credit_card.clear();
  for (int k = 0; k < 4; ++k) {
    if (k > 0) p->credit_card.push_back(' ');
    int32_t v = random.NextInt(10000);
    char digits[4];
    for (int d = 3; d >= 0; --d, v /= 10) digits[d] = static_cast<char>('0' + v % 10);
    p->credit_card.append(digits, 4);
  }
  p->city.assign(kUsCities[random.NextInt(static_cast<int32_t>(kUsCities.size()))]);
  p->state.assign(kUsStates[random.NextInt(static_cast<int32_t>(kUsStates.size()))]);
  p->date_time = TimestampOf(i);
  const int size = static_cast<int>(8 + p->name.size() + p->email_address.size() +
                                    p->credit_card.size() + p->city.size() + p->state.size());
  NextExtra(random, size, Config::kAvgPersonByteSize, &p->extra);
}

void FillAuction(int64_t i, JavaRandom& random, Auction* a) {
  a->id = LastBase0AuctionId(i) + Config::kFirstAuctionId;
  int64_t seller;
  if (random.NextInt(Config::kHotSellersRatio) > 0) {
    seller = (LastBase0PersonId(i) / kHotSellerRatio) * kHotSellerRatio;
  } else {
    seller = NextBase0PersonId(i, random);
  }
  a->seller = seller + Config::kFirstPersonId;
  a->category = Config::kFirstCategoryId + random.NextInt(kNumCategories);
  a->initial_bid = NextPrice(random);
  a->date_time = TimestampOf(i);
  a->expires = a->date_time + NextAuctionLengthMs(i, random, a->date_time);
  a->item_name.clear();
  NextString(random, 20, &a->item_name);
  a->description.clear();
  NextString(random, 100, &a->description);
  a->reserve = a->initial_bid + NextPrice(random);
  const int size = static_cast<int>(8 + a->item_name.size() + a->description.size() + 40);
  NextExtra(random, size, Config::kAvgAuctionByteSize, &a->extra);
}

void FillBid(int64_t i, JavaRandom& random, Bid* b) {
  int64_t auction;
  if (random.NextInt(Config::kHotAuctionRatio) > 0) {
    auction = (LastBase0AuctionId(i) / kHotAuctionRatio) * kHotAuctionRatio;
  } else {
    auction = NextBase0AuctionId(i, random);
  }
  b->auction = auction + Config::kFirstAuctionId;
  int64_t bidder;
  if (random.NextInt(Config::kHotBiddersRatio) > 0) {
    // The second person of the batch, so that hot bidders and hot sellers differ.
    bidder = (LastBase0PersonId(i) / kHotBidderRatio) * kHotBidderRatio + 1;
  } else {
    bidder = NextBase0PersonId(i, random);
  }
  b->bidder = bidder + Config::kFirstPersonId;
  b->price = NextPrice(random);
  b->date_time = TimestampOf(i);
  NextExtra(random, 32, Config::kAvgBidByteSize, &b->extra);
}

}  // namespace

int64_t LastBase0PersonId(int64_t event_id) {
  const int64_t epoch = event_id / Config::kProportionDenominator;
  int64_t offset = event_id % Config::kProportionDenominator;
  if (offset >= Config::kPersonProportion) offset = Config::kPersonProportion - 1;
  return epoch * Config::kPersonProportion + offset;
}

int64_t LastBase0AuctionId(int64_t event_id) {
  int64_t epoch = event_id / Config::kProportionDenominator;
  int64_t offset = event_id % Config::kProportionDenominator;
  if (offset < Config::kPersonProportion) {
    --epoch;  // a person: the last auction of the previous epoch
    offset = Config::kAuctionProportion - 1;
  } else if (offset >= Config::kPersonProportion + Config::kAuctionProportion) {
    offset = Config::kAuctionProportion - 1;  // a bid: the last auction of this epoch
  } else {
    offset -= Config::kPersonProportion;
  }
  return epoch * Config::kAuctionProportion + offset;
}

void GeneratePerson(int64_t i, Person* person) {
  JavaRandom random(i);
  FillPerson(i, random, person);
}

void GenerateAuction(int64_t i, Auction* auction) {
  JavaRandom random(i);
  FillAuction(i, random, auction);
}

void GenerateBid(int64_t i, Bid* bid) {
  JavaRandom random(i);
  FillBid(i, random, bid);
}

void GenerateEvent(int64_t i, Event* event) {
  event->kind = KindOf(i);
  switch (event->kind) {
    case EventKind::kPerson: GeneratePerson(i, &event->person); return;
    case EventKind::kAuction: GenerateAuction(i, &event->auction); return;
    case EventKind::kBid: GenerateBid(i, &event->bid); return;
  }
}

}  // namespace eddy::connectors::nexmark
