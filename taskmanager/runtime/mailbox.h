// The task's mailbox: control actions ("mails") that must run on the task thread between
// units of input (cancel, processing-time timers, later checkpoint triggers), and the one
// waker the task sleeps on, which mails, input and output availability, source readers and
// timers all signal. Put() and Wake() are thread-safe; the rest is for the task thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

namespace eddy::runtime {

class Mailbox {
 public:
  using Mail = std::function<void()>;
  using Clock = std::chrono::steady_clock;

  /// Queues a mail and wakes the task. Any thread.
  void Put(Mail mail);
  /// Wakes the task (new input, output credit, ...). Any thread.
  void Wake();
  /// Runs every queued mail, including mails they queue. Returns how many ran.
  int RunPending();
  /// Sleeps until woken (or a mail arrives) or `deadline`; returns at once if a wake-up
  /// came since the last wait.
  void WaitUntil(Clock::time_point deadline);
  bool has_mail() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Mail> mails_;  // guarded by mu_
  bool woken_ = false;      // guarded by mu_
};

/// Processing-time timers of one task: callbacks due at wall-clock times (ms since the
/// epoch), run by the task thread. Task thread only.
class TimerQueue {
 public:
  using Callback = std::function<void(int64_t)>;
  /// Returns the wall clock in ms since the epoch.
  static int64_t Now();

  void Add(int64_t time, Callback callback);
  /// Runs the callbacks due at `now`, earliest first (also ones they add that are due).
  int RunDue(int64_t now);
  /// Returns the steady-clock time the earliest timer is due (max() if none).
  Mailbox::Clock::time_point NextDeadline() const;
  size_t size() const { return timers_.size(); }

 private:
  struct Timer {
    int64_t time;
    uint64_t seq;
    Callback callback;
  };
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };
  std::vector<Timer> timers_;  // a heap by Later
  uint64_t seq_ = 0;
};

}  // namespace eddy::runtime
