// Test job: orders ("id,amount") and payments ("order,paid") from two CSV files, connected
// into one CoProcessFunction (parallelism 1) that emits "id,paid" or "id,mismatch" once both
// sides of an order arrived. Payments that are not positive go to a side output, written
// by their own sink as "order,paid".
#include <map>
#include <string>

#include "api/job.h"
#include "connectors/files/file_sink.h"
#include "connectors/files/text_source.h"

namespace {

struct Order {
  int64_t id = 0;
  int64_t amount = 0;
};
struct Payment {
  int64_t order = 0;
  int64_t paid = 0;
};
EDDY_FIELDS(Order, id, amount);
EDDY_FIELDS(Payment, order, paid);

const eddy::OutputTag<Payment> kRejects("rejected-payments");

struct MatchPayments : eddy::CoProcessFunction<Order, Payment, std::string> {
  void process_element1(const Order& o, eddy::ProcessContext&,
                        eddy::Collector<std::string>& out) override {
    orders[o.id] = o.amount;
    if (payments.count(o.id)) Emit(o.id, out);
  }
  void process_element2(const Payment& p, eddy::ProcessContext& ctx,
                        eddy::Collector<std::string>& out) override {
    if (p.paid <= 0) {
      ctx.output(kRejects, p);
      return;
    }
    payments[p.order] = p.paid;
    if (orders.count(p.order)) Emit(p.order, out);
  }
  void Emit(int64_t id, eddy::Collector<std::string>& out) {
    out.collect(std::to_string(id) + (orders[id] == payments[id] ? ",paid" : ",mismatch"));
  }
  std::map<int64_t, int64_t> orders, payments;
};

}  // namespace

EDDY_JOB(orders_payments_job) {
  auto orders = job.source(eddy::connectors::files::csv_rows(args.require("orders")))
                    .map([](const std::vector<std::string>& r) {
                      return Order{std::stoll(r.at(0)), std::stoll(r.at(1))};
                    })
                    .name("ParseOrders");
  auto payments = job.source(eddy::connectors::files::csv_rows(args.require("payments")))
                      .map([](const std::vector<std::string>& r) {
                        return Payment{std::stoll(r.at(0)), std::stoll(r.at(1))};
                      })
                      .name("ParsePayments");
  auto matched = orders.rebalance().connect(payments.rebalance()).process(MatchPayments());
  matched.parallelism(1);
  matched.sink(eddy::connectors::files::text_sink(args.require("output"))).parallelism(1);
  matched.side_output(kRejects)
      .sink(eddy::connectors::files::file_sink<Payment>(
          args.require("rejects"),
          [](const Payment& p) { return std::to_string(p.order) + "," + std::to_string(p.paid); },
          "Rejects"))
      .parallelism(1);
}
