// KeyedCoProcessFunction on `a.key_by(ka).connect(b.key_by(kb))` through the operator harness:
// per-key state shared by both inputs (orders matched with their payments), event-time
// timers firing with their key current, the result equal to a plain loop; both inputs
// hash-partitioned by key group.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "api/datastream.h"
#include "tests/support/operator_harness.h"

namespace eddy {
namespace {

using testing::NullSource;

using ::testing::ElementsAre;
using testing::OperatorHarness;

struct Order {
  std::string id;
  int64_t amount;
};
struct Payment {
  std::string order;
  int64_t paid;
};
EDDY_FIELDS(Order, id, amount);
EDDY_FIELDS(Payment, order, paid);

constexpr int64_t kTimeout = 1000;

/// Matches an order with its payment, whichever arrives first; "<id> paid" or
/// "<id> mismatch" when both are there, "<id> no payment" / "<id> no order" when the other
/// side has not arrived kTimeout after the first.
struct MatchPayments {
  ValueState<int64_t>* amount = nullptr;
  ValueState<int64_t>* paid = nullptr;
  void open(KeyedStateStore& store) {
    amount = &store.get_state(ValueStateDescriptor<int64_t>{"amount"});
    paid = &store.get_state(ValueStateDescriptor<int64_t>{"paid"});
  }
  void process_element1(const Order& o, KeyedProcessContext<std::string>& ctx,
                        Collector<std::string>& out) {
    EXPECT_EQ(ctx.current_key(), o.id);
    amount->update(o.amount);
    Arrived(ctx, out);
  }
  void process_element2(const Payment& p, KeyedProcessContext<std::string>& ctx,
                        Collector<std::string>& out) {
    EXPECT_EQ(ctx.current_key(), p.order);
    paid->update(p.paid);
    Arrived(ctx, out);
  }
  void Arrived(KeyedProcessContext<std::string>& ctx, Collector<std::string>& out) {
    const std::optional<int64_t> a = amount->value();
    const std::optional<int64_t> p = paid->value();
    if (a && p) {
      out.collect(ctx.current_key() + (*a == *p ? " paid" : " mismatch"));
      amount->clear();
      paid->clear();
    } else {
      ctx.register_event_time_timer(ctx.timestamp() + kTimeout);
    }
  }
  void on_timer(int64_t, KeyedProcessContext<std::string>& ctx, Collector<std::string>& out) {
    // The key's state is current: only the side that arrived is there.
    if (amount->value()) out.collect(ctx.current_key() + " no payment");
    if (paid->value()) out.collect(ctx.current_key() + " no order");
    amount->clear();
    paid->clear();
  }
};

struct Connected {
  JobBuilder job{"keyed-connect", 1};
  int node = job.source(NullSource<Order>())
                 .key_by(&Order::id)
                 .connect(job.source(NullSource<Payment>()).key_by(&Payment::order))
                 .process(MatchPayments())
                 .node_index();
};

TEST(KeyedCoProcessTest, BothInputsShareTheKeysStateAndTimersFireWithTheirKey) {
  Connected c;
  OperatorHarness<std::string> h(c.job.node(c.node), {1, 1});
  h.Open();
  h.ProcessElement(Order{"o1", 10}, 100, 0);
  h.ProcessElement(Payment{"o2", 5}, 110, 1);
  h.ProcessElement(Order{"o3", 7}, 120, 0);
  h.ProcessElement(Payment{"o1", 10}, 130, 1);
  h.ProcessElement(Order{"o2", 6}, 140, 0);
  EXPECT_THAT(h.values(), ElementsAre("o1 paid", "o2 mismatch"));
  h.ProcessWatermark(2000, 0, 0);
  EXPECT_EQ(h.values().size(), 2u);  // the slower input holds the watermark back
  h.ProcessWatermark(1119, 0, 1);
  EXPECT_EQ(h.values().size(), 2u);  // o3's timer is at 1120
  h.ProcessWatermark(1120, 0, 1);
  EXPECT_THAT(h.values(), ElementsAre("o1 paid", "o2 mismatch", "o3 no payment"));
  EXPECT_EQ(h.output().back().timestamp, 1120);
}

TEST(KeyedCoProcessTest, EqualsAPlainLoop) {
  std::mt19937_64 rng(11);
  struct Event {
    int64_t ts;
    bool order;
    std::string id;
    int64_t value;
  };
  std::vector<Event> events;
  std::vector<std::string> want;
  for (int i = 0; i < 300; ++i) {
    const std::string id = "o" + std::to_string(i);
    const int64_t amount = static_cast<int64_t>(rng() % 3);
    const int64_t order_ts = static_cast<int64_t>(rng() % 20000);
    const int kind = static_cast<int>(rng() % 4);  // 0: no payment, 1: late, 2-3: in time
    if (kind != 0) {
      const int64_t paid = static_cast<int64_t>(rng() % 3);
      // Payments may come before their order, within or beyond the timeout.
      const int64_t delta = kind == 1 ? kTimeout + 1 + static_cast<int64_t>(rng() % 3000)
                                      : static_cast<int64_t>(rng() % (kTimeout + 1));
      const int64_t pay_ts = rng() % 2 ? order_ts + delta : order_ts - delta;
      events.push_back({pay_ts, false, id, paid});
      if (kind == 1) {
        want.push_back(id + " no payment");
        want.push_back(id + " no order");
      } else {
        want.push_back(id + (paid == amount ? " paid" : " mismatch"));
      }
    } else {
      want.push_back(id + " no payment");
    }
    events.push_back({order_ts, true, id, amount});
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.ts < b.ts; });

  Connected c;
  OperatorHarness<std::string> h(c.job.node(c.node), {1, 1});
  h.Open();
  for (const Event& e : events) {
    // Each input's watermark follows it: nothing at or after e.ts is late.
    h.ProcessWatermark(e.ts - 1, 0, 0);
    h.ProcessWatermark(e.ts - 1, 0, 1);
    if (e.order) {
      h.ProcessElement(Order{e.id, e.value}, e.ts, 0);
    } else {
      h.ProcessElement(Payment{e.id, e.value}, e.ts, 1);
    }
  }
  h.EndInput();
  EXPECT_THAT(h.values(), ::testing::UnorderedElementsAreArray(want));
}

TEST(KeyedCoProcessTest, BothInputsArePartitionedByKey) {
  Connected c;
  const OperatorNode& node = c.job.node(c.node);
  ASSERT_EQ(node.inputs.size(), 2u);
  EXPECT_TRUE(node.inputs[0].partitioning == job::HASH);
  EXPECT_TRUE(node.inputs[1].partitioning == job::HASH);
  EXPECT_EQ(node.num_logical_inputs, 2);
}

}  // namespace
}  // namespace eddy
