// Test support: the CSV rows the example jobs read (timestamp, key, value, text), made
// reproducibly with bounded disorder and written into files of consecutive rows, plus
// plain-loop references of what the examples compute from them. Header-only; stateless.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace eddy::testing {

constexpr int64_t kStart = 1'704'067'200'000;  // 2024-01-01T00:00:00Z
constexpr int64_t kDisorderMs = 4'000;         // within the jobs' 5 s bound

struct Row {
  int64_t ts;
  std::string key;
  int64_t value;     // amount, temperature or score
  std::string text;  // merchant or url
};

/// `n` rows 50 ms apart, each moved back by up to kDisorderMs, in file order.
inline std::vector<Row> MakeRows(int n, uint64_t seed, int keys, int64_t lo, int64_t hi) {
  std::mt19937_64 rng(seed);
  std::vector<Row> rows;
  for (int i = 0; i < n; ++i) {
    Row r;
    r.ts = kStart + i * 50 - static_cast<int64_t>(rng() % (kDisorderMs + 1));
    r.key = "k" + std::to_string(rng() % static_cast<uint64_t>(keys));
    r.value = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
    r.text = "/u" + std::to_string(rng() % 12);
    rows.push_back(r);
  }
  return rows;
}

/// The CSV columns of a row for each example.
inline std::string TxLine(const Row& r) {  // timestamp,card,amount,merchant
  return std::to_string(r.ts) + "," + r.key + "," + std::to_string(r.value) + "," + r.text;
}
inline std::string ValueLine(const Row& r) {  // timestamp,key,value
  return std::to_string(r.ts) + "," + r.key + "," + std::to_string(r.value);
}
inline std::string ClickLine(const Row& r) {  // timestamp,user,url
  return std::to_string(r.ts) + "," + r.key + "," + r.text;
}

/// Writes rows as CSV lines into `files` files of consecutive rows, named in order.
template <typename Line>
void WriteFiles(const std::string& dir, const std::vector<Row>& rows, int files, Line line,
                std::vector<std::string>* paths = nullptr) {
  std::filesystem::create_directories(dir);
  const size_t per = (rows.size() + static_cast<size_t>(files) - 1) / static_cast<size_t>(files);
  for (int f = 0; f < files; ++f) {
    char name[32];
    std::snprintf(name, sizeof(name), "rows-%03d.csv", f);
    const std::string path = dir + "/" + name;
    std::ofstream out(path);
    const size_t begin = static_cast<size_t>(f) * per;
    for (size_t i = begin; i < std::min(rows.size(), begin + per); ++i) out << line(rows[i]) << "\n";
    if (paths != nullptr) paths->push_back(path);
  }
}

inline int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
inline int64_t WindowStart(int64_t ts, int64_t size) { return ts - (ts - FloorDiv(ts, size) * size); }

inline std::vector<std::string> IotReference(const std::vector<Row>& rows, int64_t size,
                                      int64_t threshold) {
  std::map<std::pair<std::string, int64_t>, std::pair<int64_t, int64_t>> windows;
  for (const Row& r : rows) {
    auto& w = windows[{r.key, WindowStart(r.ts, size)}];
    w.first += 1;
    w.second += r.value;
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : windows) {
    if (v.second > threshold * v.first) {
      char avg[32];
      std::snprintf(avg, sizeof(avg), "%.2f",
                    static_cast<double>(v.second) / static_cast<double>(v.first));
      out.push_back(k.first + "," + std::to_string(k.second) + "," + std::to_string(v.first) +
                    "," + avg);
    }
  }
  return out;
}

inline std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace eddy::testing
