// What a job source file includes: the DataStream API (windows too) and the EDDY_JOB macro,
// which defines the C entry points of a job library (its ABI version, name and builder).
//
//   EDDY_JOB(word_count) {            // job: eddy::JobBuilder&, args: const eddy::JobArgs&
//     job.source(...).map(...).sink(...);
//   }
#pragma once

#include <cstdint>

#include "api/datastream.h"
#include "api/job_args.h"
#include "api/job_builder.h"
#include "api/job_library_stamp.h"
#include "api/operator.h"
#include "api/serde.h"
#include "api/windows.h"

/// Tests override this to build a library for a foreign ABI.
#ifndef EDDY_JOB_ABI_VERSION
#define EDDY_JOB_ABI_VERSION ::eddy::kAbiVersion
#endif

#define EDDY_JOB(job_name)                                                                    \
  static void eddy_job_body_##job_name(::eddy::JobBuilder& job, const ::eddy::JobArgs& args); \
  extern "C" __attribute__((visibility("default"), used)) const ::eddy::JobAbiStamp            \
      eddy_job_abi_stamp = {"eddy-job-v1", EDDY_JOB_ABI_VERSION};                             \
  extern "C" __attribute__((visibility("default"))) uint32_t eddy_job_abi_version() {        \
    return EDDY_JOB_ABI_VERSION;                                                              \
  }                                                                                           \
  extern "C" __attribute__((visibility("default"))) const char* eddy_job_name() {            \
    return #job_name;                                                                         \
  }                                                                                           \
  extern "C" __attribute__((visibility("default"))) void eddy_job_define(                    \
      ::eddy::JobBuilder* job, const ::eddy::JobArgs* args) {                                 \
    eddy_job_body_##job_name(*job, *args);                                                    \
  }                                                                                           \
  static void eddy_job_body_##job_name(::eddy::JobBuilder& job,                               \
                                       [[maybe_unused]] const ::eddy::JobArgs& args)
