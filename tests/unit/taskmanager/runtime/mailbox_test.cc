#include "taskmanager/runtime/mailbox.h"

#include <gtest/gtest.h>

#include <thread>

namespace eddy::runtime {
namespace {

TEST(MailboxTest, MailsFromOtherThreadsRunOnTheCallerAndWakeIt) {
  Mailbox box;
  int ran = 0;
  std::thread t([&] { box.Put([&] { ++ran; }); });
  // Woken by the mail long before the deadline.
  auto start = Mailbox::Clock::now();
  while (!box.has_mail()) box.WaitUntil(start + std::chrono::seconds(10));
  t.join();
  EXPECT_LT(Mailbox::Clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(box.RunPending(), 1);
  EXPECT_EQ(ran, 1);
}

TEST(MailboxTest, WaitReturnsAtTheDeadlineWithoutAWakeUp) {
  Mailbox box;
  auto deadline = Mailbox::Clock::now() + std::chrono::milliseconds(30);
  box.WaitUntil(deadline);
  EXPECT_GE(Mailbox::Clock::now(), deadline);
}

TEST(TimerQueueTest, RunsDueTimersInTimeOrderOnce) {
  TimerQueue q;
  std::vector<int64_t> fired;
  q.Add(30, [&](int64_t) { fired.push_back(30); });
  q.Add(10, [&](int64_t) { fired.push_back(10); });
  q.Add(20, [&](int64_t) { fired.push_back(20); });
  EXPECT_EQ(q.RunDue(5), 0);
  EXPECT_EQ(q.RunDue(25), 2);
  EXPECT_EQ(fired, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(q.RunDue(100), 1);
  EXPECT_EQ(q.RunDue(100), 0);
  EXPECT_EQ(q.size(), 0u);
}

}  // namespace
}  // namespace eddy::runtime
