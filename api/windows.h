// Windows on the DataStream API (Flink's WindowedStream / AllWindowedStream):
//   keyed.window(assigner)[.trigger(t)][.allowed_lateness(d)][.side_output_late_data(tag)]
//        .reduce(f[, window_fn]) | .aggregate(agg[, window_fn])
//   stream.window_all(assigner)...   (one subtask; window functions without the key)
//   left.window_join(right, assigner)[.allowed_lateness(d)].apply(f) | .process(f)
//   a.join(b).where(ka).equal_to(kb).window(assigner).apply(f)      (the same, Flink's spelling)
// Assigners (api/windows/assigners.h), triggers (triggers.h), built-in aggregates
// (aggregates.h) and the operator (window_operator.h) are templates, so every user function
// is inlined into the operator. Builder-time objects; single-threaded.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "api/datastream.h"
#include "api/windows/aggregates.h"
#include "api/windows/assigners.h"
#include "api/windows/triggers.h"
#include "api/windows/window_join.h"
#include "api/windows/window_operator.h"

namespace eddy {

namespace internal {

/// The key of window_all: every record has it.
struct NullKey {
  template <typename T>
  uint8_t operator()(const T&) const {
    return 0;
  }
};

/// Calls an all-window function `(const W&, const Result&, Collector<R>&)` as a keyed one.
template <typename F>
struct DropKey {
  F f;
  template <typename W, typename Res, typename R>
  void operator()(const uint8_t&, const W& w, const Res& r, Collector<R>& out) {
    std::invoke(f, w, r, out);
  }
  void open(RuntimeContext& ctx) { OpenFunction(f, ctx); }
  void close() { CloseFunction(f); }
};

}  // namespace internal

/// A keyed stream cut into windows; ends in reduce() or aggregate().
template <typename T, typename K, typename KeyFn, typename Assigner,
          typename Trigger = typename Assigner::default_trigger>
class WindowedStream {
 public:
  using window_type = typename Assigner::window_type;

  WindowedStream(KeyedStream<T, K, KeyFn> keyed, Assigner assigner, Trigger trigger = {},
                 int64_t allowed_lateness = 0, std::optional<std::string> late_tag = {})
      : keyed_(std::move(keyed)),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        allowed_lateness_(allowed_lateness),
        late_tag_(std::move(late_tag)) {}

  /// Replaces the assigner's default trigger.
  template <typename NewTrigger>
  WindowedStream<T, K, KeyFn, Assigner, NewTrigger> trigger(NewTrigger t) const {
    return {keyed_, assigner_, std::move(t), allowed_lateness_, late_tag_};
  }
  /// Keeps each window's state until max_timestamp + `lateness` of event time; a record that
  /// arrives after the window fired but within that time fires it again (updated result).
  WindowedStream allowed_lateness(std::chrono::milliseconds lateness) const {
    if (lateness.count() < 0) throw std::invalid_argument("allowed lateness must not be negative");
    WindowedStream copy = *this;
    copy.allowed_lateness_ = lateness.count();
    return copy;
  }
  /// Sends records later than allowed (every window of theirs cleaned up) to `tag`, where
  /// `stream.side_output(tag)` gets them; without it they are dropped (and counted).
  WindowedStream side_output_late_data(const OutputTag<T>& tag) const {
    WindowedStream copy = *this;
    copy.late_tag_ = tag.id;
    return copy;
  }

  /// Reduces each window with `T f(const T&, const T&)`; emits the reduced T per window.
  template <typename F>
  DataStream<T> reduce(F f, std::string name = "WindowReduce") {
    return Build<T>(std::move(name), internal::ReduceAccumulation<T, F>{std::move(f)},
                    internal::PassResult{});
  }
  /// Reduces, then calls `win_fn(const K&, const W&, const T& reduced, Collector<R>&)`.
  template <typename F, typename WinFn, typename R = typename internal::CollectorArg<WinFn>::type>
  DataStream<R> reduce(F f, WinFn win_fn, std::string name = "WindowReduce") {
    return Build<R>(std::move(name), internal::ReduceAccumulation<T, F>{std::move(f)},
                    std::move(win_fn));
  }
  /// Aggregates each window incrementally (one accumulator per key and window); emits
  /// get_result per window.
  template <AggregateFunction Agg>
  DataStream<typename Agg::output_type> aggregate(Agg agg, std::string name = "WindowAggregate") {
    return Build<typename Agg::output_type>(std::move(name),
                                            internal::AggregateAccumulation<Agg>{std::move(agg)},
                                            internal::PassResult{});
  }
  /// Aggregates, then calls `win_fn(const K&, const W&, const Result&, Collector<R>&)`.
  template <AggregateFunction Agg, typename WinFn,
            typename R = typename internal::CollectorArg<WinFn>::type>
  DataStream<R> aggregate(Agg agg, WinFn win_fn, std::string name = "WindowAggregate") {
    return Build<R>(std::move(name), internal::AggregateAccumulation<Agg>{std::move(agg)},
                    std::move(win_fn));
  }

 private:
  template <typename R, typename Acc, typename WinFn>
  DataStream<R> Build(std::string name, Acc acc, WinFn win_fn) {
    using Op = internal::WindowOperator<T, K, KeyFn, Assigner, Trigger, Acc, WinFn, R>;
    typename Op::Options options{allowed_lateness_, late_tag_};
    return keyed_.template AddKeyedOperator<R>(
        std::move(name), "window",
        [key_fn = keyed_.key_fn(), assigner = assigner_, trigger = trigger_, acc, win_fn,
         options](OutputBase* out) {
          return internal::OneInput<T>(std::make_unique<Op>(key_fn, assigner, trigger, acc, win_fn,
                                                            options, OutputAs<R>(out)));
        });
  }

  KeyedStream<T, K, KeyFn> keyed_;
  Assigner assigner_;
  Trigger trigger_;
  int64_t allowed_lateness_ = 0;
  std::optional<std::string> late_tag_;
};

/// A non-keyed stream cut into windows, evaluated in one subtask (parallelism 1); window
/// functions take `(const W&, const Result&, Collector<R>&)`.
template <typename T, typename Assigner, typename Trigger = typename Assigner::default_trigger>
class AllWindowedStream {
  using Keyed = WindowedStream<T, uint8_t, internal::NullKey, Assigner, Trigger>;

 public:
  explicit AllWindowedStream(Keyed windowed) : windowed_(std::move(windowed)) {}

  template <typename NewTrigger>
  AllWindowedStream<T, Assigner, NewTrigger> trigger(NewTrigger t) const {
    return AllWindowedStream<T, Assigner, NewTrigger>(windowed_.trigger(std::move(t)));
  }
  AllWindowedStream allowed_lateness(std::chrono::milliseconds lateness) const {
    return AllWindowedStream(windowed_.allowed_lateness(lateness));
  }
  AllWindowedStream side_output_late_data(const OutputTag<T>& tag) const {
    return AllWindowedStream(windowed_.side_output_late_data(tag));
  }
  template <typename F>
  DataStream<T> reduce(F f, std::string name = "WindowAllReduce") {
    return One(windowed_.reduce(std::move(f), std::move(name)));
  }
  template <typename F, typename WinFn, typename R = typename internal::CollectorArg<WinFn>::type>
  DataStream<R> reduce(F f, WinFn win_fn, std::string name = "WindowAllReduce") {
    return One(windowed_.template reduce<F, internal::DropKey<WinFn>, R>(
        std::move(f), internal::DropKey<WinFn>{std::move(win_fn)}, std::move(name)));
  }
  template <AggregateFunction Agg>
  DataStream<typename Agg::output_type> aggregate(Agg agg,
                                                  std::string name = "WindowAllAggregate") {
    return One(windowed_.aggregate(std::move(agg), std::move(name)));
  }
  template <AggregateFunction Agg, typename WinFn,
            typename R = typename internal::CollectorArg<WinFn>::type>
  DataStream<R> aggregate(Agg agg, WinFn win_fn, std::string name = "WindowAllAggregate") {
    return One(windowed_.template aggregate<Agg, internal::DropKey<WinFn>, R>(
        std::move(agg), internal::DropKey<WinFn>{std::move(win_fn)}, std::move(name)));
  }

 private:
  template <typename R>
  static DataStream<R> One(DataStream<R> s) {
    s.parallelism(1);
    return s;
  }
  Keyed windowed_;
};

/// A window join being described (KeyedStream::window_join): optionally
/// `.allowed_lateness(d)`, then `.apply(f)` or `.process(f)`. Both inputs are
/// hash-partitioned by key group; the operator's watermark is the minimum of both inputs'.
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB, typename Assigner>
class WindowJoin {
 public:
  WindowJoin(KeyedStream<A, K, KeyFnA> left, KeyedStream<B, K, KeyFnB> right, Assigner assigner)
      : left_(std::move(left)), right_(std::move(right)), assigner_(std::move(assigner)) {}

  /// Keeps each window's records until max_timestamp + `lateness` of event time; a record
  /// that arrives after its window fired but within that time is joined at once with the
  /// other side's records of the window (only its new pairs are emitted).
  WindowJoin allowed_lateness(std::chrono::milliseconds lateness) const {
    if (lateness.count() < 0) throw std::invalid_argument("allowed lateness must not be negative");
    WindowJoin copy = *this;
    copy.allowed_lateness_ = lateness.count();
    return copy;
  }

  /// Calls `f` once per pair of a key and window: `R f(const A& left, const B& right)`
  /// (Flink's JoinFunction) or `void f(const A&, const B&, Collector<R>&)` (FlatJoinFunction).
  /// What it emits carries the window's max_timestamp.
  template <typename F, typename R = typename internal::ApplyJoinResult<A, B, F>::type>
  DataStream<R> apply(F f, std::string name = "WindowJoin") {
    return process<internal::ApplyJoin<A, B, F>, R>(internal::ApplyJoin<A, B, F>{std::move(f)},
                                                    std::move(name));
  }
  /// Calls `f.process_element(const A& left, const B& right, WindowJoinContext<K>&,
  /// Collector<R>&)` once per pair of a key and window (the context has the window); `f` may
  /// have open(RuntimeContext&) and close().
  template <typename F, typename R = typename internal::CollectorArg<
                            decltype(&F::process_element)>::type>
  DataStream<R> process(F f, std::string name = "WindowJoin") {
    return internal::AddKeyedTwoInputNode<R>(
        left_, right_, std::move(name), "window_join",
        [assigner = assigner_, lateness = allowed_lateness_, f](
            const KeyFnA& key_a, const KeyFnB& key_b, Output<R>* out) {
          using Op = internal::WindowJoinOperator<A, B, K, KeyFnA, KeyFnB, Assigner, R, F>;
          return std::make_unique<Op>(assigner, lateness, key_a, key_b, f, out);
        });
  }

 private:
  KeyedStream<A, K, KeyFnA> left_;
  KeyedStream<B, K, KeyFnB> right_;
  Assigner assigner_;
  int64_t allowed_lateness_ = 0;
};

/// Flink's spelling of a window join: `a.join(b).where(ka).equal_to(kb).window(assigner)`
/// is `a.key_by(ka).window_join(b.key_by(kb), assigner)`.
template <typename A, typename B>
class JoinedStreams {
 public:
  JoinedStreams(DataStream<A> left, DataStream<B> right)
      : left_(std::move(left)), right_(std::move(right)) {}

  template <typename KeyFnA>
  class Where {
   public:
    Where(DataStream<A> left, DataStream<B> right, KeyFnA key_a)
        : left_(std::move(left)), right_(std::move(right)), key_a_(std::move(key_a)) {}
    /// Sets the right side's key (of the same type as the left's).
    template <typename KeyFnB>
    auto equal_to(KeyFnB key_b) {
      return EqualTo<KeyFnB>{left_.key_by(key_a_), right_.key_by(std::move(key_b))};
    }

   private:
    template <typename KeyFnB>
    struct EqualTo {
      decltype(std::declval<DataStream<A>&>().key_by(std::declval<KeyFnA>())) left;
      decltype(std::declval<DataStream<B>&>().key_by(std::declval<KeyFnB>())) right;
      template <typename Assigner>
      auto window(Assigner assigner) const {
        return left.window_join(right, std::move(assigner));
      }
    };
    DataStream<A> left_;
    DataStream<B> right_;
    KeyFnA key_a_;
  };

  /// Sets the left side's key.
  template <typename KeyFnA>
  Where<KeyFnA> where(KeyFnA key_a) const {
    return Where<KeyFnA>(left_, right_, std::move(key_a));
  }

 private:
  DataStream<A> left_;
  DataStream<B> right_;
};

template <typename T, typename K, typename KeyFn>
template <typename U, typename K2, typename KeyFnU, typename Assigner>
auto KeyedStream<T, K, KeyFn>::window_join(const KeyedStream<U, K2, KeyFnU>& other,
                                           Assigner assigner) const {
  static_assert(std::is_same_v<K, K2>, "window_join: both keyed streams need the same key type");
  static_assert(WindowAssigner<Assigner>, "window_join() takes a window assigner");
  return WindowJoin<T, U, K, KeyFn, KeyFnU, Assigner>(*this, other, std::move(assigner));
}

template <typename T>
template <typename U>
JoinedStreams<T, U> DataStream<T>::join(const DataStream<U>& other) const {
  return JoinedStreams<T, U>(*this, other);
}

template <typename T, typename K, typename KeyFn>
template <typename Assigner>
auto KeyedStream<T, K, KeyFn>::window(Assigner assigner) const {
  static_assert(WindowAssigner<Assigner>, "window() takes a window assigner");
  return WindowedStream<T, K, KeyFn, Assigner>(*this, std::move(assigner));
}

template <typename T>
template <typename Assigner>
auto DataStream<T>::window_all(Assigner assigner) {
  static_assert(WindowAssigner<Assigner>, "window_all() takes a window assigner");
  auto keyed = key_by(internal::NullKey{});
  return AllWindowedStream<T, Assigner>(
      WindowedStream<T, uint8_t, internal::NullKey, Assigner>(keyed, std::move(assigner)));
}

/// Windows of `n` records per key (GlobalWindows with a purging count trigger).
template <typename T, typename K, typename KeyFn>
auto count_window(const KeyedStream<T, K, KeyFn>& keyed, int64_t n) {
  return keyed.window(GlobalWindows::create())
      .trigger(PurgingTrigger<CountTrigger>::of(CountTrigger::of(n)));
}

}  // namespace eddy
