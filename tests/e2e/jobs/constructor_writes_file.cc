// Test library: not an Eddy job library (no ABI stamp), though it defines the functions a
// dlsym-based check would look for. Its constructor writes the file named by
// EDDY_TEST_CANARY: if that file appears, something loaded it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

__attribute__((constructor)) static void WriteCanary() {
  const char* path = std::getenv("EDDY_TEST_CANARY");
  if (path == nullptr) return;
  if (FILE* f = std::fopen(path, "w")) {
    std::fputs("the constructor ran\n", f);
    std::fclose(f);
  }
}

extern "C" uint32_t eddy_job_abi_version() { return 0; }
extern "C" const char* eddy_job_name() { return "constructor_writes_file"; }
extern "C" void eddy_job_define(void*, const void*) {}
