// Built-in aggregate functions for WindowedStream::aggregate (the AggregateFunction concept of
// api/state.h: create_accumulator / add / get_result / merge): count, sum, min, max, avg and
// top-N of (id, score) pairs. Each takes the input record type and, where it needs one, an
// extractor (a callable or a member pointer) that is inlined. Stateless values; thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace eddy::aggregates {

namespace internal {
template <typename T, typename F>
using FieldType = std::decay_t<std::invoke_result_t<const F&, const T&>>;
}  // namespace internal

/// Number of records.
template <typename T>
struct Count {
  using input_type = T;
  using accumulator_type = int64_t;
  using output_type = int64_t;
  int64_t create_accumulator() const { return 0; }
  void add(const T&, int64_t& acc) const { ++acc; }
  int64_t get_result(const int64_t& acc) const { return acc; }
  int64_t merge(const int64_t& a, const int64_t& b) const { return a + b; }
};

/// Sum of `field(record)`.
template <typename T, typename F>
struct Sum {
  using input_type = T;
  using accumulator_type = internal::FieldType<T, F>;
  using output_type = accumulator_type;
  F field;
  accumulator_type create_accumulator() const { return accumulator_type{}; }
  void add(const T& v, accumulator_type& acc) const { acc += std::invoke(field, v); }
  output_type get_result(const accumulator_type& acc) const { return acc; }
  accumulator_type merge(const accumulator_type& a, const accumulator_type& b) const {
    return a + b;
  }
};

/// Smallest (Less = std::less) or largest (std::greater) `field(record)`; the result of an
/// empty accumulator (never emitted by a window) is a value-initialized V.
template <typename T, typename F, typename Compare>
struct Extreme {
  using input_type = T;
  using value_type = internal::FieldType<T, F>;
  using accumulator_type = std::optional<value_type>;
  using output_type = value_type;
  F field;
  accumulator_type create_accumulator() const { return std::nullopt; }
  void add(const T& v, accumulator_type& acc) const {
    decltype(auto) x = std::invoke(field, v);
    if (!acc || Compare{}(x, *acc)) acc = x;
  }
  output_type get_result(const accumulator_type& acc) const { return acc.value_or(value_type{}); }
  accumulator_type merge(const accumulator_type& a, const accumulator_type& b) const {
    if (!a) return b;
    if (!b) return a;
    return Compare{}(*b, *a) ? b : a;
  }
};

/// Average of `field(record)` as a double; the accumulator is (sum, count), the sum kept in
/// the field's type (exact for integers).
template <typename T, typename F>
struct Avg {
  using input_type = T;
  using value_type = internal::FieldType<T, F>;
  using accumulator_type = std::pair<value_type, int64_t>;
  using output_type = double;
  F field;
  accumulator_type create_accumulator() const { return {value_type{}, 0}; }
  void add(const T& v, accumulator_type& acc) const {
    acc.first += std::invoke(field, v);
    ++acc.second;
  }
  double get_result(const accumulator_type& acc) const {
    return acc.second == 0 ? 0.0 : static_cast<double>(acc.first) / static_cast<double>(acc.second);
  }
  accumulator_type merge(const accumulator_type& a, const accumulator_type& b) const {
    return {a.first + b.first, a.second + b.second};
  }
};

/// The `n` (id, score) pairs with the highest scores, by score descending and then id
/// ascending. The accumulator holds at most n pairs in that order, so adding is O(n) and the
/// result is exact (a pair that falls out can never come back). Every record is one pair; to
/// rank ids by a total, sum per id first (key_by(id).window(...).aggregate(sum)) and rank the
/// sums (window_all(...).aggregate(top_n)).
template <typename T, typename IdFn, typename ScoreFn>
struct TopN {
  using input_type = T;
  using id_type = internal::FieldType<T, IdFn>;
  using score_type = internal::FieldType<T, ScoreFn>;
  using entry_type = std::pair<id_type, score_type>;
  using accumulator_type = std::vector<entry_type>;
  using output_type = accumulator_type;
  int64_t n;
  IdFn id;
  ScoreFn score;

  /// Returns true if `a` ranks before `b`.
  static bool Before(const entry_type& a, const entry_type& b) {
    if (a.second != b.second) return a.second > b.second;
    return a.first < b.first;
  }
  accumulator_type create_accumulator() const { return {}; }
  void add(const T& v, accumulator_type& acc) const {
    entry_type e(std::invoke(id, v), std::invoke(score, v));
    if (static_cast<int64_t>(acc.size()) == n && !Before(e, acc.back())) return;
    acc.insert(std::upper_bound(acc.begin(), acc.end(), e, Before), std::move(e));
    if (static_cast<int64_t>(acc.size()) > n) acc.pop_back();
  }
  output_type get_result(const accumulator_type& acc) const { return acc; }
  accumulator_type merge(const accumulator_type& a, const accumulator_type& b) const {
    accumulator_type out;
    out.reserve(a.size() + b.size());
    std::merge(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out), Before);
    if (static_cast<int64_t>(out.size()) > n) out.resize(static_cast<size_t>(n));
    return out;
  }
};

/// count<T>(): the number of records.
template <typename T>
Count<T> count() {
  return {};
}
/// sum<T>(field): e.g. sum<Tx>(&Tx::amount).
template <typename T, typename F>
Sum<T, F> sum(F field) {
  return {std::move(field)};
}
template <typename T, typename F>
Extreme<T, F, std::less<>> min(F field) {
  return {std::move(field)};
}
template <typename T, typename F>
Extreme<T, F, std::greater<>> max(F field) {
  return {std::move(field)};
}
template <typename T, typename F>
Avg<T, F> avg(F field) {
  return {std::move(field)};
}
/// top_n<T>(n, id, score): the n best (id, score) pairs, score descending, ties by id.
template <typename T, typename IdFn, typename ScoreFn>
TopN<T, IdFn, ScoreFn> top_n(int64_t n, IdFn id, ScoreFn score) {
  return {n, std::move(id), std::move(score)};
}

}  // namespace eddy::aggregates
