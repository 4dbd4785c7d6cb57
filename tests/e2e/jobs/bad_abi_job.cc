// Test job: built with a foreign ABI stamp (EDDY_JOB_ABI_VERSION=12345, set by CMake).
#include "api/job.h"
#include "connectors/datagen/datagen.h"
#include "connectors/print_sink.h"

EDDY_JOB(bad_abi_job) {
  job.source(eddy::connectors::datagen::sequence(0, 10)).sink(eddy::connectors::discard<int64_t>());
}
