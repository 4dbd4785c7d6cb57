// Test job for the installed package: doubles 1..1000, keys the doubled values by their last
// digit and writes "digit<TAB>sum" per key, one part file per subtask, under --output.
//
//   eddy local my_sum.so -p 2 -- --output DIR
#include <cstdint>
#include <string>
#include <utility>

#include "api/job.h"
#include "connectors/datagen/datagen.h"
#include "connectors/files/file_sink.h"

using DigitSum = std::pair<int64_t, int64_t>;  // (last digit, value or running sum)

EDDY_JOB(my_sum) {
  job.source(eddy::connectors::datagen::sequence(1, 1000))
      .name("Numbers")
      .map([](int64_t x) { return DigitSum(x * 2 % 10, x * 2); }, "Double")
      .key_by(&DigitSum::first)
      .sum(&DigitSum::second)
      .name("Sum")
      .sink(eddy::connectors::files::file_sink<DigitSum>(
          args.require("output"),
          [](const DigitSum& s) { return std::to_string(s.first) + "\t" + std::to_string(s.second); },
          "Sums"));
}
