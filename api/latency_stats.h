// Latency measured where latency markers end (sinks): per source operator and source
// subtask, the last kWindow samples (like Flink's latency histograms) and a total count.
// Written by the task thread; Summaries() is called on it too (the task publishes them).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "api/stream_element.h"

namespace eddy {

class LatencyStats {
 public:
  static constexpr size_t kWindow = 128;

  struct Summary {
    int32_t source = 0;   // source operator index in the job plan
    int32_t subtask = 0;  // source subtask
    uint64_t count = 0;   // markers received in total
    int64_t min = 0, max = 0, p50 = 0, p95 = 0, p99 = 0;  // over the window, ms
    double mean = 0;
  };

  /// Records the marker's latency: `now` minus its marked time (never negative).
  void Add(const LatencyMarker& marker, int64_t now) {
    Series& s = series_[{marker.source, marker.subtask}];
    s.samples[s.count % kWindow] = std::max<int64_t>(0, now - marker.marked_time);
    ++s.count;
  }

  bool empty() const { return series_.empty(); }

  std::vector<Summary> Summaries() const {
    std::vector<Summary> out;
    std::vector<int64_t> sorted;
    for (const auto& [key, s] : series_) {
      const size_t n = std::min<uint64_t>(s.count, kWindow);
      sorted.assign(s.samples.begin(), s.samples.begin() + static_cast<std::ptrdiff_t>(n));
      std::sort(sorted.begin(), sorted.end());
      Summary sum;
      sum.source = key.first;
      sum.subtask = key.second;
      sum.count = s.count;
      sum.min = sorted.front();
      sum.max = sorted.back();
      auto at = [&](double q) { return sorted[std::min(n - 1, static_cast<size_t>(q * n))]; };
      sum.p50 = at(0.5);
      sum.p95 = at(0.95);
      sum.p99 = at(0.99);
      double total = 0;
      for (int64_t v : sorted) total += static_cast<double>(v);
      sum.mean = total / static_cast<double>(n);
      out.push_back(sum);
    }
    return out;
  }

 private:
  struct Series {
    std::array<int64_t, kWindow> samples{};
    uint64_t count = 0;
  };
  std::map<std::pair<int32_t, int32_t>, Series> series_;
};

}  // namespace eddy
