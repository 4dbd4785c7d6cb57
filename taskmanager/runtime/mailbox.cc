#include "taskmanager/runtime/mailbox.h"

#include <algorithm>

namespace eddy::runtime {

void Mailbox::Put(Mail mail) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    mails_.push_back(std::move(mail));
    woken_ = true;
  }
  cv_.notify_all();
}

void Mailbox::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool Mailbox::has_mail() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !mails_.empty();
}

int Mailbox::RunPending() {
  int ran = 0;
  while (true) {
    Mail mail;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (mails_.empty()) return ran;
      mail = std::move(mails_.front());
      mails_.pop_front();
    }
    mail();
    ++ran;
  }
}

void Mailbox::WaitUntil(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline, [this] { return woken_; });
  woken_ = false;
}

int64_t TimerQueue::Now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void TimerQueue::Add(int64_t time, Callback callback) {
  timers_.push_back(Timer{time, seq_++, std::move(callback)});
  std::push_heap(timers_.begin(), timers_.end(), Later());
}

int TimerQueue::RunDue(int64_t now) {
  int ran = 0;
  while (!timers_.empty() && timers_.front().time <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), Later());
    Timer timer = std::move(timers_.back());
    timers_.pop_back();
    timer.callback(now);
    ++ran;
  }
  return ran;
}

Mailbox::Clock::time_point TimerQueue::NextDeadline() const {
  if (timers_.empty()) return Mailbox::Clock::time_point::max();
  const int64_t wait_ms = std::max<int64_t>(0, timers_.front().time - Now());
  return Mailbox::Clock::now() + std::chrono::milliseconds(wait_ms);
}

}  // namespace eddy::runtime
