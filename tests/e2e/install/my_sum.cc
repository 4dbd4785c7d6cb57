// Test job for the installed package: doubles 1..1000, keys the doubled values by their last
// digit and writes each key's sum, one number per line, under --output.
//
//   eddy local my_sum.so -p 2 -- --output DIR
#include <cstdint>
#include <string>

#include "api/job.h"
#include "connectors/datagen/datagen.h"
#include "connectors/files/file_sink.h"

EDDY_JOB(my_sum) {
  job.source(eddy::connectors::datagen::sequence(1, 1000))
      .name("Numbers")
      .map([](int64_t x) { return x * 2; }, "Double")
      .key_by([](int64_t x) { return x % 10; })
      .sum()
      .name("Sum")
      .sink(eddy::connectors::files::file_sink<int64_t>(
          args.require("output"), [](const int64_t& sum) { return std::to_string(sum); },
          "Sums"));
}
