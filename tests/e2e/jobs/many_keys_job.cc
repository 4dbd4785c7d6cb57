// Test job: keyed state with many distinct keys. Records 0 .. keys + revisits - 1 of a
// sequence; record i has key i % keys, so every key comes once and the first `revisits` keys
// come twice. A keyed process function counts each key's records in a ValueState and emits the
// key when its count reaches 2 (whatever order its two records arrive in); one reducer (p=1)
// sums those into a single "count,key_sum" line. Without state that survives, a revisited key
// is missed.
#include <cstdint>
#include <string>

#include "api/job.h"
#include "connectors/datagen/datagen.h"
#include "connectors/files/file_sink.h"

namespace {

struct Totals {
  int64_t count = 0;
  int64_t key_sum = 0;
};
EDDY_FIELDS(Totals, count, key_sum);

struct CountTwice {
  eddy::ValueState<int64_t>* seen = nullptr;
  void open(eddy::KeyedStateStore& store) {
    seen = &store.get_state(eddy::ValueStateDescriptor<int64_t>{"seen"});
  }
  void process_element(const int64_t&, eddy::KeyedProcessContext<int64_t>& ctx,
                       eddy::Collector<Totals>& out) {
    const int64_t n = seen->value().value_or(0) + 1;
    seen->update(n);
    if (n == 2) out.collect(Totals{1, ctx.current_key()});
  }
};

}  // namespace

EDDY_JOB(many_keys_job) {
  const int64_t keys = args.get_int("keys", 1000);
  const int64_t revisits = args.get_int("revisits", keys / 10);
  job.source(eddy::connectors::datagen::sequence(0, keys + revisits - 1))
      .key_by([keys](int64_t i) { return i % keys; })
      .process(CountTwice(), "CountTwice")
      .key_by([](const Totals&) { return int64_t{0}; })
      .reduce([](const Totals& a, const Totals& b) {
        return Totals{a.count + b.count, a.key_sum + b.key_sum};
      })
      .map([](const Totals& t) { return std::to_string(t.count) + "," + std::to_string(t.key_sum); })
      .sink(eddy::connectors::files::text_sink(args.require("output")));
}
