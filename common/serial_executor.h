// Runs tasks one after another on its own thread, in submission order: the asynchronous
// part of a task's checkpoints (uploads) runs here while the task thread keeps processing.
// Submit() is thread-safe; the destructor runs what was queued, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace eddy {

class SerialExecutor {
 public:
  SerialExecutor() = default;
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;
  ~SerialExecutor() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  /// Drops the work not started yet (what runs now runs to its end). The dropped work is
  /// destroyed under the executor's lock, so it is gone once WaitIdle() returns.
  void DropPending() {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();
  }
  /// Waits until nothing is queued or running.
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return queue_.empty() && !running_; });
  }

  void Submit(std::function<void()> work) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(work));
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      std::function<void()> work = std::move(queue_.front());
      queue_.pop_front();
      running_ = true;
      lock.unlock();
      work();
      work = nullptr;  // what it captured goes before the executor is idle
      lock.lock();
      running_ = false;
      idle_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool running_ = false;                     // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::thread thread_;                       // started by the first Submit()
};

}  // namespace eddy
