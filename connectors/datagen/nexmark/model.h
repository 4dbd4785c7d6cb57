// Nexmark's events: people registering, auctions opening and bids, with the fields of
// Apache Beam's Nexmark model (times are epoch milliseconds). An Event carries one of the
// three, named by `kind`; the other two members are left as they were (a reused Event keeps
// their string capacity, so refilling it allocates nothing).
#pragma once

#include <cstdint>
#include <string>

#include "api/serde.h"

namespace eddy::connectors::nexmark {

struct Person {
  int64_t id = 0;
  std::string name;
  std::string email_address;
  std::string credit_card;
  std::string city;
  std::string state;
  int64_t date_time = 0;
  std::string extra;
  bool operator==(const Person&) const = default;
};
EDDY_FIELDS(Person, id, name, email_address, credit_card, city, state, date_time, extra);

struct Auction {
  int64_t id = 0;
  std::string item_name;
  std::string description;
  int64_t initial_bid = 0;
  int64_t reserve = 0;
  int64_t date_time = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  int64_t category = 0;
  std::string extra;
  bool operator==(const Auction&) const = default;
};
EDDY_FIELDS(Auction, id, item_name, description, initial_bid, reserve, date_time, expires, seller,
            category, extra);

struct Bid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t date_time = 0;
  std::string extra;
  bool operator==(const Bid&) const = default;
};
EDDY_FIELDS(Bid, auction, bidder, price, date_time, extra);

enum class EventKind : uint8_t { kPerson = 0, kAuction = 1, kBid = 2 };

/// Bit masks of event kinds, for sources that only need some of them.
inline constexpr uint32_t kPersons = 1u << 0;
inline constexpr uint32_t kAuctions = 1u << 1;
inline constexpr uint32_t kBids = 1u << 2;
inline constexpr uint32_t kAllKinds = kPersons | kAuctions | kBids;

inline constexpr uint32_t KindBit(EventKind kind) { return 1u << static_cast<uint32_t>(kind); }

struct Event {
  EventKind kind = EventKind::kBid;
  Person person;
  Auction auction;
  Bid bid;

  int64_t date_time() const {
    switch (kind) {
      case EventKind::kPerson: return person.date_time;
      case EventKind::kAuction: return auction.date_time;
      case EventKind::kBid: break;
    }
    return bid.date_time;
  }
};

}  // namespace eddy::connectors::nexmark

namespace eddy {
/// An Event travels as its kind and that kind's member only.
template <>
struct Serde<connectors::nexmark::Event> {
  using Event = connectors::nexmark::Event;
  using Kind = connectors::nexmark::EventKind;
  static constexpr size_t kMinSize = 2;
  template <typename Out>
  static void Write(const Event& e, Out* out) {
    Serde<uint8_t>::Write(static_cast<uint8_t>(e.kind), out);
    switch (e.kind) {
      case Kind::kPerson: Serde<connectors::nexmark::Person>::Write(e.person, out); return;
      case Kind::kAuction: Serde<connectors::nexmark::Auction>::Write(e.auction, out); return;
      case Kind::kBid: Serde<connectors::nexmark::Bid>::Write(e.bid, out); return;
    }
  }
  static bool Read(ByteReader& in, Event* e) {
    uint8_t kind = 0;
    if (!Serde<uint8_t>::Read(in, &kind)) return false;
    switch (kind) {
      case 0: e->kind = Kind::kPerson; return Serde<connectors::nexmark::Person>::Read(in, &e->person);
      case 1: e->kind = Kind::kAuction; return Serde<connectors::nexmark::Auction>::Read(in, &e->auction);
      case 2: e->kind = Kind::kBid; return Serde<connectors::nexmark::Bid>::Read(in, &e->bid);
      default: return in.FailAt(in.offset() - 1, "invalid Nexmark event kind");
    }
  }
};
}  // namespace eddy
