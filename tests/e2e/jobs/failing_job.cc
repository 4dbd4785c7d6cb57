// Test job: a user function throws at record 5000; the job must FAIL with its message.
#include <stdexcept>

#include "api/job.h"
#include "connectors/datagen/datagen.h"
#include "connectors/print_sink.h"

EDDY_JOB(failing_job) {
  job.source(eddy::connectors::datagen::sequence(0, 1'000'000))
      .map([](int64_t x) {
        if (x == 5000) throw std::runtime_error("poisoned record 5000");
        return x;
      })
      .rebalance()
      .sink(eddy::connectors::discard<int64_t>());
}
