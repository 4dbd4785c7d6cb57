// Test support for word_count runs: a text with a skewed vocabulary, the word counts of a
// text computed by a plain loop (the reference), and the counts a job wrote.
#pragma once

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace eddy::testing {

/// Splits text into lower-case words the way the word_count example does.
inline std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> out;
  std::string word;
  for (char c : line) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!word.empty()) {
      out.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

/// Writes dir/input.txt, a text of about `bytes` bytes with a skewed vocabulary; returns
/// its path.
inline std::string WriteWords(const std::string& dir, size_t bytes) {
  std::mt19937_64 rng(2026);
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 5000; ++i) vocabulary.push_back("w" + std::to_string(i * 7919 % 100003));
  const char* separators[] = {" ", ", ", "; ", " -- ", ". "};
  std::string path = dir + "/input.txt";
  std::ofstream out(path);
  size_t written = 0;
  while (written < bytes) {
    std::string line;
    int n = 1 + static_cast<int>(rng() % 14);
    for (int i = 0; i < n; ++i) {
      // Skewed: small indices are frequent, like real text.
      uint64_t r = rng() % 5000;
      uint64_t idx = (r * r) / 5000;
      std::string w = vocabulary[idx];
      if (rng() % 10 == 0) w[0] = 'W';  // mixed case folds to one word
      line += w;
      line += separators[rng() % 5];
    }
    line += "\n";
    written += line.size();
    out << line;
  }
  return path;
}

/// The reference: each word's count in the file at `path`, by a plain loop.
inline std::map<std::string, int64_t> CountWords(const std::string& path) {
  std::map<std::string, int64_t> counts;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    for (auto& w : Words(line)) counts[w]++;
  }
  return counts;
}

/// The counts word_count wrote into the visible part files of `dir` ("word\tcount" lines);
/// a word twice is a failure.
inline std::map<std::string, int64_t> ReadCounts(const std::string& dir) {
  std::map<std::string, int64_t> counts;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("part-", 0) != 0) continue;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      auto tab = line.find('\t');
      if (tab == std::string::npos) {
        ADD_FAILURE() << "malformed output line '" << line << "' in " << entry.path();
        continue;
      }
      std::string word = line.substr(0, tab);
      EXPECT_EQ(counts.count(word), 0u) << "word '" << word << "' appears twice in the output";
      counts[word] = std::stoll(line.substr(tab + 1));
    }
  }
  return counts;
}

}  // namespace eddy::testing
