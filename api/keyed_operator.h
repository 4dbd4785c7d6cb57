// Keyed operators: what an operator after key_by() gets besides the v2 contract — its own
// keyed state backend (heap or RocksDB, made by the TaskManager's factory), with the key of
// the record (or timer) being processed made current, and keyed timers that fire with
// their key current: event-time timers when the watermark passes them (before the
// watermark is forwarded), processing-time timers through the task's mailbox. On top:
// KeyedProcessFunction and KeyedCoProcessFunction (Flink's) and their operators, and the
// base of the join operators. One task thread; nothing thread-safe.
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "api/operator.h"
#include "api/process_function.h"
#include "api/state.h"
#include "api/timer_service.h"

namespace eddy {

/// Makes the keyed state backend of one keyed operator of this subtask (its key groups).
/// The TaskManager's follows state.backend.type; tests give a heap one.
class KeyedStateBackendFactory {
 public:
  virtual ~KeyedStateBackendFactory() = default;
  virtual absl::StatusOr<std::unique_ptr<KeyedStateBackend>> Create(
      std::string_view operator_id) = 0;
};

/// The keyed state a user function may declare (in open()): handles scoped to the current
/// key. A bad declaration (a name reused with other types) fails the task with its message.
class KeyedStateStore {
 public:
  explicit KeyedStateStore(KeyedStateBackend* backend) : backend_(backend) {}
  template <typename V>
  ValueState<V>& get_state(const ValueStateDescriptor<V>& desc) {
    return *Check(backend_->get_state(desc));
  }
  template <typename V>
  ListState<V>& get_list_state(const ListStateDescriptor<V>& desc) {
    return *Check(backend_->get_list_state(desc));
  }
  template <typename K, typename V>
  MapState<K, V>& get_map_state(const MapStateDescriptor<K, V>& desc) {
    return *Check(backend_->get_map_state(desc));
  }
  template <typename V, typename F>
  ReducingState<V, F>& get_reducing_state(const ReducingStateDescriptor<V, F>& desc) {
    return *Check(backend_->get_reducing_state(desc));
  }
  template <AggregateFunction Agg>
  AggregatingState<Agg>& get_aggregating_state(const AggregatingStateDescriptor<Agg>& desc) {
    return *Check(backend_->get_aggregating_state(desc));
  }

 private:
  template <typename P>
  static P Check(absl::StatusOr<P> handle) {
    if (!handle.ok()) throw std::runtime_error(std::string(handle.status().message()));
    return *handle;
  }
  KeyedStateBackend* backend_;
};

/// Adds keyed state and keyed timers to an operator base (OneInputStreamOperator<T>,
/// TwoInputStreamOperator<A, B>). The operator sets the current key before touching state
/// (backend().set_current_key(key)) and overrides OnEventTime / OnProcessingTime.
template <typename Base>
class KeyedOperator : public Base {
 public:
  /// Makes the backend and restores the keyed snapshots handed over (only the entries and
  /// timers of this subtask's key groups).
  void InitializeState(const StateInitContext& init) override {
    Base::InitializeState(init);
    KeyedStateBackendFactory* factory = this->runtime().keyed_state;
    if (factory == nullptr) {
      throw std::runtime_error("keyed operator '" + this->operator_id() +
                               "' has no keyed state backend");
    }
    auto backend = factory->Create(this->operator_id());
    if (!backend.ok()) throw std::runtime_error(std::string(backend.status().message()));
    backend_ = std::move(*backend);
    for (const std::string& snapshot : init.keyed_snapshots) {
      CheckRestored(backend_->Restore(snapshot));
    }
    for (const NativeRestore& native : init.keyed_native) {
      CheckRestored(backend_->RestoreNative(native));
    }
    timers_ = backend_->timer_service("timers");
  }
  /// Writes the keyed state and timers of this subtask's key groups.
  void SnapshotState(int64_t checkpoint_id, OperatorSnapshot& out) override {
    Base::SnapshotState(checkpoint_id, out);
    auto writer = backend_->SnapshotForCheckpoint(checkpoint_id, out.self_contained);
    if (!writer.ok()) {
      throw std::runtime_error("snapshot of keyed state of operator '" + this->operator_id() +
                               "': " + std::string(writer.status().message()));
    }
    out.keyed_writer = std::move(*writer);
  }
  void NotifyCheckpointComplete(int64_t checkpoint_id) override {
    Base::NotifyCheckpointComplete(checkpoint_id);
    if (backend_ != nullptr) backend_->NotifyCheckpointComplete(checkpoint_id);
  }
  void NotifyCheckpointAborted(int64_t checkpoint_id) override {
    Base::NotifyCheckpointAborted(checkpoint_id);
    if (backend_ != nullptr) backend_->NotifyCheckpointAborted(checkpoint_id);
  }
  void Close() override {
    if (backend_ != nullptr) (void)backend_->Dispose();
    Base::Close();
  }

  /// The input ended: processing-time timers still pending fire now, in time order, as if
  /// processing time had run on, so that a bounded job's processing-time windows and
  /// timeouts produce their results rather than being dropped.
  void Finish() override {
    if (timers_ != nullptr && timers_->num_timers(TimeDomain::kProcessingTime) > 0) {
      timers_->advance_processing_time(std::numeric_limits<int64_t>::max(),
                                       [this](const InternalTimer& t) { OnProcessingTime(t); });
    }
    Base::Finish();
  }

  KeyedStateBackend& backend() { return *backend_; }

 private:
  void CheckRestored(const absl::Status& restored) const {
    if (!restored.ok()) {
      throw std::runtime_error("restoring keyed state of operator '" + this->operator_id() +
                               "': " + std::string(restored.message()));
    }
  }

 public:
  InternalTimerService& timers() { return *timers_; }

 protected:
  /// An event-time timer is due (its key is current).
  virtual void OnEventTime(const InternalTimer& /*timer*/) {}
  /// A processing-time timer is due (its key is current).
  virtual void OnProcessingTime(const InternalTimer& /*timer*/) {}

  /// Fires the event-time timers the watermark passed, then forwards the watermark.
  void OnWatermark(EventTime watermark) override {
    timers_->advance_watermark(watermark, [this](const InternalTimer& t) { OnEventTime(t); });
    Base::OnWatermark(watermark);
  }

  /// Makes sure the task calls back at the earliest processing-time timer; call after
  /// registering processing-time timers (cheap when nothing changed).
  void ScheduleProcessingTime() {
    std::optional<int64_t> next = timers_->next_timer_time(TimeDomain::kProcessingTime);
    if (!next || (scheduled_ && *next >= scheduled_at_)) return;
    scheduled_ = true;
    scheduled_at_ = *next;
    this->runtime().processing_time->RegisterTimer(*next, [this](int64_t now) {
      if (now >= scheduled_at_) scheduled_ = false;  // else a later callback is pending
      timers_->advance_processing_time(now,
                                       [this](const InternalTimer& t) { OnProcessingTime(t); });
      ScheduleProcessingTime();
    });
  }

 private:
  std::unique_ptr<KeyedStateBackend> backend_;
  InternalTimerService* timers_ = nullptr;
  bool scheduled_ = false;
  int64_t scheduled_at_ = 0;
};

/// What a KeyedProcessFunction sees with each record or timer (Flink's Context and
/// OnTimerContext): the timestamp, the current key, keyed timers, watermark, processing
/// time and side outputs.
template <typename K>
class KeyedProcessContext {
 public:
  /// The record's event timestamp, or the firing timer's time.
  EventTime timestamp() const { return timestamp_; }
  /// The key of the record or timer being processed.
  const K& current_key() const { return *key_; }
  /// In on_timer: which kind of timer fired.
  TimeDomain time_domain() const { return domain_; }
  EventTime current_watermark() const { return op_->current_watermark(); }
  int64_t current_processing_time() const {
    return op_->runtime().processing_time->CurrentProcessingTime();
  }
  /// Timers of the current key (deduplicated per time).
  void register_event_time_timer(int64_t time) {
    timers_->register_event_time_timer(VoidNamespace{}, time);
  }
  void delete_event_time_timer(int64_t time) {
    timers_->delete_event_time_timer(VoidNamespace{}, time);
  }
  void register_processing_time_timer(int64_t time) {
    timers_->register_processing_time_timer(VoidNamespace{}, time);
    processing_timer_registered_ = true;
  }
  void delete_processing_time_timer(int64_t time) {
    timers_->delete_processing_time_timer(VoidNamespace{}, time);
  }
  /// Emits `value` to the side output `tag` with the current timestamp.
  template <typename U>
  void output(const OutputTag<U>& tag, const U& value) {
    OutputBase* out = op_->FindSideOutput(tag.id);
    if (out != nullptr) OutputAs<U>(out)->Collect(value, timestamp_);
  }
  const RuntimeContext& runtime() const { return op_->runtime(); }

  // Operator side.
  void Bind(StreamOperator* op, InternalTimerService* timers) {
    op_ = op;
    timers_ = timers;
  }
  void Set(EventTime timestamp, const K* key, TimeDomain domain) {
    timestamp_ = timestamp;
    key_ = key;
    domain_ = domain;
  }
  /// Returns whether a processing-time timer was registered since the last call.
  bool TakeProcessingTimerRegistered() { return std::exchange(processing_timer_registered_, false); }

 private:
  StreamOperator* op_ = nullptr;
  InternalTimerService* timers_ = nullptr;
  EventTime timestamp_ = kNoTimestamp;
  const K* key_ = nullptr;
  TimeDomain domain_ = TimeDomain::kEventTime;
  bool processing_timer_registered_ = false;
};

namespace internal {

template <typename F, typename K, typename Out>
void OpenKeyedFunction(F& f, RuntimeContext& ctx, KeyedStateStore& store) {
  if constexpr (requires { f.open(ctx, store); }) {
    f.open(ctx, store);
  } else if constexpr (requires { f.open(store); }) {
    f.open(store);
  } else if constexpr (requires { f.open(ctx); }) {
    f.open(ctx);
  }
}

/// What every operator running a keyed user function shares (Base: OneInputStreamOperator<T>
/// or TwoInputStreamOperator<A, B>): the function with its collector and context, open() with
/// a KeyedStateStore, records processed with their key made current, and timers handed to
/// F::on_timer(int64_t time, KeyedProcessContext<K>&, Collector<Out>&) if it has one.
template <typename Base, typename K, typename Out, typename F>
class KeyedFunctionOperator : public KeyedOperator<Base> {
 public:
  KeyedFunctionOperator(F f, Output<Out>* out) : f_(std::move(f)), collector_(out) {}

  void Open() override {
    context_.Bind(this, &this->timers());
    KeyedStateStore store(&this->backend());
    OpenKeyedFunction<F, K, Out>(f_, this->runtime(), store);
  }
  void Close() override {
    if constexpr (requires { f_.close(); }) f_.close();
    KeyedOperator<Base>::Close();
  }

 protected:
  /// Calls `process(value)` for each record of `batch` with the key `key_fn` extracts made
  /// current (state, context and collector timestamp), then schedules processing time.
  template <typename T, typename KeyFn, typename Process>
  void ProcessKeyed(std::span<const StreamRecord<T>> batch, const KeyFn& key_fn,
                    Process&& process) {
    for (const auto& r : batch) {
      key_ = std::invoke(key_fn, r.value);
      this->backend().set_current_key(key_);
      context_.Set(r.timestamp, &key_, TimeDomain::kEventTime);
      collector_.set_timestamp(r.timestamp);
      process(r.value);
    }
    if (context_.TakeProcessingTimerRegistered()) this->ScheduleProcessingTime();
  }
  void OnEventTime(const InternalTimer& timer) override { Fire(timer, TimeDomain::kEventTime); }
  void OnProcessingTime(const InternalTimer& timer) override {
    Fire(timer, TimeDomain::kProcessingTime);
  }

  F f_;
  Collector<Out> collector_;
  KeyedProcessContext<K> context_;

 private:
  void Fire(const InternalTimer& timer, TimeDomain domain) {
    if constexpr (requires { f_.on_timer(int64_t{}, context_, collector_); }) {
      key_ = timer.key_as<K>();
      context_.Set(timer.time, &key_, domain);
      collector_.set_timestamp(domain == TimeDomain::kEventTime ? timer.time : kNoTimestamp);
      f_.on_timer(timer.time, context_, collector_);
      context_.TakeProcessingTimerRegistered();  // the caller reschedules after firing
    }
  }

  K key_{};
};

/// Runs a KeyedProcessFunction: F has
///   void process_element(const T&, KeyedProcessContext<K>&, Collector<Out>&)
/// and optionally on_timer(int64_t time, KeyedProcessContext<K>&, Collector<Out>&),
/// open(KeyedStateStore&) (or open(RuntimeContext&, KeyedStateStore&)) and close().
template <typename T, typename K, typename KeyFn, typename Out, typename F>
class KeyedProcessOperator final
    : public KeyedFunctionOperator<OneInputStreamOperator<T>, K, Out, F> {
 public:
  KeyedProcessOperator(KeyFn key_fn, F f, Output<Out>* out)
      : KeyedFunctionOperator<OneInputStreamOperator<T>, K, Out, F>(std::move(f), out),
        key_fn_(std::move(key_fn)) {}

  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    this->ProcessKeyed(batch, key_fn_, [this](const T& value) {
      this->f_.process_element(value, this->context_, this->collector_);
    });
  }

 private:
  KeyFn key_fn_;
};

/// Runs a KeyedCoProcessFunction on two keyed streams with keys of one type K: F has
///   void process_element1(const A&, KeyedProcessContext<K>&, Collector<Out>&)
///   void process_element2(const B&, KeyedProcessContext<K>&, Collector<Out>&)
/// and optionally on_timer, open and close as KeyedProcessOperator's. Both inputs share the
/// keyed state and timers of a key; the watermark is the minimum of both inputs'.
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB, typename Out,
          typename F>
class KeyedCoProcessOperator final
    : public KeyedFunctionOperator<TwoInputStreamOperator<A, B>, K, Out, F> {
 public:
  KeyedCoProcessOperator(KeyFnA key_a, KeyFnB key_b, F f, Output<Out>* out)
      : KeyedFunctionOperator<TwoInputStreamOperator<A, B>, K, Out, F>(std::move(f), out),
        key_a_(std::move(key_a)),
        key_b_(std::move(key_b)) {}

  void ProcessBatch1(std::span<const StreamRecord<A>> batch) override {
    this->ProcessKeyed(batch, key_a_, [this](const A& value) {
      this->f_.process_element1(value, this->context_, this->collector_);
    });
  }
  void ProcessBatch2(std::span<const StreamRecord<B>> batch) override {
    this->ProcessKeyed(batch, key_b_, [this](const B& value) {
      this->f_.process_element2(value, this->context_, this->collector_);
    });
  }

 private:
  KeyFnA key_a_;
  KeyFnB key_b_;
};

/// What the join operators share (Base of IntervalJoinOperator and WindowJoinOperator): two
/// keyed inputs with keys of one type K, the join function F with its collector and
/// context (Context: a JoinContext<K>), open()/close() of F, and the current key.
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB, typename Out,
          typename F, typename Context>
class KeyedJoinOperator : public KeyedOperator<TwoInputStreamOperator<A, B>> {
 public:
  KeyedJoinOperator(KeyFnA key_a, KeyFnB key_b, F f, Output<Out>* out)
      : key_a_(std::move(key_a)), key_b_(std::move(key_b)), f_(std::move(f)), collector_(out) {}

  /// Binds the context and opens F (subclasses declare their state first).
  void Open() override {
    context_.Bind(this, &key_);
    OpenFunction(f_, this->runtime());
  }
  void Close() override {
    CloseFunction(f_);
    KeyedOperator<TwoInputStreamOperator<A, B>>::Close();
  }

 protected:
  /// Makes the key `key_fn` extracts from `value` current (state and context).
  template <typename KeyFn, typename T>
  void SetCurrentKey(const KeyFn& key_fn, const T& value) {
    key_ = std::invoke(key_fn, value);
    this->backend().set_current_key(key_);
  }

  KeyFnA key_a_;
  KeyFnB key_b_;
  F f_;
  Collector<Out> collector_;
  Context context_;
  K key_{};
};

}  // namespace internal
}  // namespace eddy
