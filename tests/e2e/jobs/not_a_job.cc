// Test library: a shared object that does not define an Eddy job.
extern "C" int not_a_job_answer() { return 42; }
