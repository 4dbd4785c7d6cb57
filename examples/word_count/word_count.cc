// Placeholder until the connectors land (replaced by the real word count).
#include "api/job.h"

EDDY_JOB(word_count) {
  struct Empty : eddy::SourceFunction<std::string> {
    void Run(eddy::SourceContext<std::string>&) override {}
  };
  struct Drop : eddy::SinkFunction<std::string> {
    void Emit(const std::string&) override {}
  };
  job.source(eddy::SourceDef<std::string>{"Lines", true, [] { return std::make_unique<Empty>(); }})
      .sink(eddy::SinkDef<std::string>{"Drop", [] { return std::make_unique<Drop>(); }});
}
