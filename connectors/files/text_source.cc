#include "connectors/files/text_source.h"

#include <memory>
#include <stdexcept>
#include <utility>

#include "connectors/files/file_splits.h"
#include "connectors/files/line_reader.h"

namespace eddy::connectors::files {
namespace {

/// Calls on_line(line, first_line_of_file) for each line of this subtask's splits; throws
/// std::runtime_error on a missing path or an I/O error. Returns early on cancel.
template <typename T, typename OnLine>
void ForEachLine(const std::string& path, SourceContext<T>& ctx, OnLine on_line) {
  const RuntimeContext& runtime = ctx.runtime();
  absl::StatusOr<std::vector<InputFile>> files = ListInputFiles(path);
  if (!files.ok()) throw std::runtime_error(std::string(files.status().message()));
  SplitLineReader reader;
  for (const FileSplit& split : AssignSplits(*files, runtime.subtask, runtime.parallelism)) {
    reader.Open(split);
    std::string_view line;
    while (reader.Next(&line)) {
      if (ctx.cancelled()) return;
      on_line(line, reader.at_file_start());
    }
    if (!reader.status().ok()) throw std::runtime_error(std::string(reader.status().message()));
  }
}

class TextLinesSource final : public SourceFunction<std::string> {
 public:
  explicit TextLinesSource(std::string path) : path_(std::move(path)) {}
  void Run(SourceContext<std::string>& ctx) override {
    ForEachLine(path_, ctx, [&](std::string_view line, bool) {
      record_.assign(line.data(), line.size());
      ctx.emit(record_);
    });
  }

 private:
  std::string path_;
  std::string record_;
};

class CsvRowsSource final : public SourceFunction<std::vector<std::string>> {
 public:
  CsvRowsSource(std::string path, char delimiter, bool skip_header)
      : path_(std::move(path)), delimiter_(delimiter), skip_header_(skip_header) {}
  void Run(SourceContext<std::vector<std::string>>& ctx) override {
    ForEachLine(path_, ctx, [&](std::string_view line, bool first_of_file) {
      if (skip_header_ && first_of_file) return;
      if (line.empty()) return;
      ParseCsvLine(line, delimiter_, &row_);
      ctx.emit(row_);
    });
  }

 private:
  std::string path_;
  char delimiter_;
  bool skip_header_;
  std::vector<std::string> row_;
};

}  // namespace

void ParseCsvLine(std::string_view line, char delimiter, std::vector<std::string>* fields) {
  fields->clear();
  size_t i = 0;
  const size_t n = line.size();
  while (true) {
    std::string& field = fields->emplace_back();
    if (i < n && line[i] == '"') {
      ++i;
      while (i < n) {
        if (line[i] == '"') {
          if (i + 1 < n && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          field.push_back(line[i++]);
        }
      }
    }
    // Unquoted field, or what follows a closing quote up to the delimiter.
    size_t end = line.find(delimiter, i);
    if (end == std::string_view::npos) end = n;
    field.append(line.data() + i, end - i);
    if (end == n) return;
    i = end + 1;
  }
}

SourceDef<std::string> text_lines(std::string path) {
  SourceDef<std::string> def;
  def.name = "TextLines";
  def.bounded = true;
  def.factory = [path = std::move(path)]() -> std::unique_ptr<SourceFunction<std::string>> {
    return std::make_unique<TextLinesSource>(path);
  };
  return def;
}

SourceDef<std::vector<std::string>> csv_rows(std::string path, char delimiter, bool skip_header) {
  SourceDef<std::vector<std::string>> def;
  def.name = "CsvRows";
  def.bounded = true;
  def.factory = [path = std::move(path), delimiter,
                 skip_header]() -> std::unique_ptr<SourceFunction<std::vector<std::string>>> {
    return std::make_unique<CsvRowsSource>(path, delimiter, skip_header);
  };
  return def;
}

}  // namespace eddy::connectors::files
