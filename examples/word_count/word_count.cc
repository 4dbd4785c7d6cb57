// Word count: reads text files, splits lines into lower-case words, counts each word and
// writes "word<TAB>count" lines, one part file per subtask.
//
//   eddy run build/examples/word_count.so -p 4 --wait -- --input TEXT --output DIR
//
// On a bounded input (files) the job runs in batch mode: each word's final count is
// written once. On an unbounded source the same pipeline emits a rolling count.
#include <cctype>
#include <string>
#include <utility>

#include "api/job.h"
#include "connectors/files/file_sink.h"
#include "connectors/files/text_source.h"

using WordCount = std::pair<std::string, int64_t>;

EDDY_JOB(word_count) {
  job.source(eddy::connectors::files::text_lines(args.require("input")))
      .name("Lines")
      .flat_map(
          [](const std::string& line, eddy::Collector<WordCount>& out) {
            std::string word;
            for (char c : line) {
              if (std::isalnum(static_cast<unsigned char>(c))) {
                word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
              } else if (!word.empty()) {
                out.collect({word, 1});
                word.clear();
              }
            }
            if (!word.empty()) out.collect({word, 1});
          },
          "Split")
      .key_by(&WordCount::first)
      .sum(&WordCount::second)
      .name("Count")
      .sink(eddy::connectors::files::file_sink<WordCount>(
          args.require("output"),
          [](const WordCount& wc) { return wc.first + "\t" + std::to_string(wc.second); },
          "Counts"));
}
