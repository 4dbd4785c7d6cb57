// The ABI stamp check that runs before a job library is loaded: real libraries built by
// this tree (a job, a job of another ABI, a shared object that is no job, one whose
// constructor writes a file), and damaged copies of a real one.
#include "api/job_library.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/job_library_stamp.h"
#include "tests/support/cluster.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string Library(const std::string& name) { return testing::TestJobsDir() + "/" + name + ".so"; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(JobLibraryStampTest, AJobBuiltHereCarriesThisEddysAbi) {
  const std::string bytes = ReadAll(Library("slow_sink_job"));
  ASSERT_FALSE(bytes.empty());
  auto abi = ReadJobAbiStamp(bytes, "slow_sink_job.so");
  ASSERT_TRUE(abi.ok()) << abi.status();
  EXPECT_EQ(*abi, kAbiVersion);
  EXPECT_TRUE(CheckJobLibraryFile(Library("slow_sink_job")).ok());
  auto lib = JobLibrary::Open(Library("slow_sink_job"));
  ASSERT_TRUE(lib.ok()) << lib.status();
}

TEST(JobLibraryStampTest, OtherAbisAndSharedObjectsThatAreNoJobsAreRefused) {
  auto foreign = CheckJobLibraryFile(Library("bad_abi_job"));
  EXPECT_EQ(foreign.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(foreign.message(), HasSubstr("built for Eddy job ABI 12345"));
  auto no_job = CheckJobLibraryFile(Library("not_a_job"));
  EXPECT_EQ(no_job.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_job.message(), HasSubstr("is not an Eddy job library"));
  EXPECT_THAT(no_job.message(), HasSubstr("no Eddy ABI stamp"));
  EXPECT_THAT(std::string(ReadJobAbiStamp("#!/bin/sh\nrm -rf /\n", "a script").status().message()),
              HasSubstr("not an ELF file"));
  EXPECT_EQ(CheckJobLibraryFile("/nonexistent/job.so").code(), absl::StatusCode::kNotFound);
}

TEST(JobLibraryStampTest, ALibraryWhoseConstructorWritesAFileIsRefusedWithoutRunningIt) {
  const fs::path dir = fs::temp_directory_path() / ("eddy-canary-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string canary = (dir / "ran").string();
  setenv("EDDY_TEST_CANARY", canary.c_str(), 1);
  const std::string path = Library("constructor_writes_file");

  auto lib = JobLibrary::Open(path);  // what a TaskManager and `eddy run` do
  ASSERT_FALSE(lib.ok());
  EXPECT_EQ(lib.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(lib.status().message(), HasSubstr("no Eddy ABI stamp"));
  EXPECT_FALSE(fs::exists(canary)) << "the library's constructor ran";
  EXPECT_FALSE(CheckJobLibraryBytes(ReadAll(path), "upload").ok());  // what an upload meets
  EXPECT_FALSE(fs::exists(canary));

  // The library does what it says when loaded: the check above is what kept it out.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  EXPECT_TRUE(fs::exists(canary));
  dlclose(handle);
  unsetenv("EDDY_TEST_CANARY");
  fs::remove_all(dir);
}

TEST(JobLibraryStampTest, DamagedLibrariesGiveAnErrorAndNeverReadOutside) {
  // Truncated at many lengths, and with random bytes overwritten in the ELF and section
  // headers and the dynamic symbol table: every read stays inside the bytes (ASan checks).
  const std::string bytes = ReadAll(Library("slow_sink_job"));
  ASSERT_GT(bytes.size(), 4096u);
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 16) {
    auto abi = ReadJobAbiStamp(std::string_view(bytes).substr(0, n), "truncated");
    EXPECT_FALSE(abi.ok() && *abi != kAbiVersion) << n;
  }
  std::mt19937 random(7);
  int refused = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string damaged = bytes;
    const int flips = 1 + static_cast<int>(random() % 8);
    for (int f = 0; f < flips; ++f) {
      // Mostly the ELF header (64 bytes) and the section headers at the end of the file.
      size_t at = round % 2 == 0 ? random() % 64 : bytes.size() - 1 - random() % 4096;
      damaged[at] = static_cast<char>(random());
    }
    auto abi = ReadJobAbiStamp(damaged, "damaged");
    if (!abi.ok()) ++refused;
  }
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace eddy
