// Test job: a bounded, rate-limited word count over generated words, for restart tests.
// Record i is the word "w<(i * 7919) % DISTINCT>" followed by PAD dashes; the job writes
// "<word>\t<count>" lines. Many distinct words make keyed state that grows as the job runs.
// Args: --output DIR, --count N (default 20000), --rate RECORDS_PER_SECOND (default 1000),
// --distinct N (default 101), --pad N (default 0).
#include <string>
#include <utility>

#include "api/job.h"
#include "connectors/datagen/datagen.h"
#include "connectors/files/file_sink.h"

using WordCount = std::pair<std::string, int64_t>;

EDDY_JOB(rate_limited_word_count) {
  eddy::connectors::datagen::GeneratorOptions options;
  options.name = "Words";
  options.count = args.get_int("count", 20000);
  options.records_per_second = static_cast<double>(args.get_int("rate", 1000));
  const int64_t distinct = args.get_int("distinct", 101);
  const std::string pad(static_cast<size_t>(args.get_int("pad", 0)), '-');
  job.source(eddy::connectors::datagen::generator<WordCount>(
                 [distinct, pad](int64_t i, std::mt19937_64&) {
                   return WordCount{"w" + std::to_string((i * 7919) % distinct) + pad, 1};
                 },
                 options))
      .key_by(&WordCount::first)
      .sum(&WordCount::second)
      .name("Count")
      .sink(eddy::connectors::files::file_sink<WordCount>(
          args.require("output"),
          [](const WordCount& wc) { return wc.first + "\t" + std::to_string(wc.second); },
          "Counts"));
}
