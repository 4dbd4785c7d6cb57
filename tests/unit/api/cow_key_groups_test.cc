// CowKeyGroups: a snapshot holds key groups without copying them; the first write of a held
// group copies it (the snapshot keeps what it took), a group released by the snapshot is not
// copied, a snapshot outlives its container, and reading a snapshot on another thread while
// the owner writes sees exactly what was taken.
#include "api/cow_key_groups.h"

#include <map>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace eddy::internal {
namespace {

using Group = std::map<int, int>;

TEST(CowKeyGroupsTest, TakingCopiesNothingAndTheFirstWriteOfAHeldGroupCopiesIt) {
  CowKeyGroups<Group> groups(KeyGroupRange{10, 13});
  for (int32_t kg = 10; kg <= 13; ++kg) groups.Write(kg)[kg] = 1;
  EXPECT_EQ(groups.copies(), 0u);

  auto snapshot = groups.Take(KeyGroupRange{11, 12});
  EXPECT_EQ(groups.copies(), 0u);
  EXPECT_TRUE(groups.Exclusive(10));
  EXPECT_FALSE(groups.Exclusive(11));
  EXPECT_EQ(groups.Read(11).at(11), 1);  // reading does not copy
  EXPECT_EQ(groups.copies(), 0u);

  groups.Write(10)[10] = 2;  // not held
  EXPECT_EQ(groups.copies(), 0u);
  groups.Write(11)[11] = 2;  // held: copied once
  groups.Write(11)[11] = 3;
  EXPECT_EQ(groups.copies(), 1u);
  EXPECT_TRUE(groups.Exclusive(11));

  std::map<int32_t, Group> seen;
  snapshot.ReadAndRelease(KeyGroupRange{0, 100}, [&](int32_t kg, const Group& g) { seen[kg] = g; });
  EXPECT_EQ(seen, (std::map<int32_t, Group>{{11, {{11, 1}}}, {12, {{12, 1}}}}));
  EXPECT_TRUE(groups.Exclusive(12)) << "a group is released once read";
  groups.Write(12)[12] = 2;
  EXPECT_EQ(groups.copies(), 1u);
  EXPECT_EQ(groups.Read(11).at(11), 3);
}

TEST(CowKeyGroupsTest, AChangeThatChangesNothingDoesNotCopyAHeldGroup) {
  CowKeyGroups<Group> groups(KeyGroupRange{0, 0});
  groups.Write(0)[1] = 1;
  auto snapshot = groups.Take(KeyGroupRange{0, 0});
  auto erases = [](int key) { return [key](const Group& g) { return g.contains(key); }; };
  EXPECT_EQ(groups.WriteIfChanges(0, erases(2)), nullptr);  // nothing to erase
  EXPECT_EQ(groups.copies(), 0u);
  Group* g = groups.WriteIfChanges(0, erases(1));
  ASSERT_NE(g, nullptr);
  g->erase(1);
  EXPECT_EQ(groups.copies(), 1u);
  snapshot.ReadAndRelease(KeyGroupRange{0, 0}, [](int32_t, const Group& held) {
    EXPECT_EQ(held.size(), 1u);
  });
  // The task's own group is written without asking.
  EXPECT_NE(groups.WriteIfChanges(0, [](const Group&) { return false; }), nullptr);
}

TEST(CowKeyGroupsTest, ASnapshotOutlivesItsContainer) {
  auto groups = std::make_unique<CowKeyGroups<Group>>(KeyGroupRange{0, 1});
  groups->Write(0)[7] = 7;
  auto snapshot = groups->Take(KeyGroupRange{0, 1});
  groups.reset();
  int entries = 0;
  snapshot.ReadAndRelease(KeyGroupRange{0, 1}, [&](int32_t, const Group& g) {
    entries += static_cast<int>(g.size());
  });
  EXPECT_EQ(entries, 1);
}

TEST(CowKeyGroupsTest, ASnapshotReadOnAnotherThreadSeesWhatWasTaken) {
  constexpr int kGroups = 64;
  constexpr int kEntries = 2000;
  CowKeyGroups<Group> groups(KeyGroupRange{0, kGroups - 1});
  for (int kg = 0; kg < kGroups; ++kg) {
    for (int i = 0; i < kEntries; ++i) groups.Write(kg)[i] = kg;
  }
  for (int round = 0; round < 5; ++round) {
    auto snapshot = groups.Take(KeyGroupRange{0, kGroups - 1});
    std::vector<long> sums(kGroups, 0);
    std::thread reader([&] {
      snapshot.ReadAndRelease(KeyGroupRange{0, kGroups - 1}, [&](int32_t kg, const Group& g) {
        for (const auto& [k, v] : g) sums[static_cast<size_t>(kg)] += v;
      });
    });
    for (int kg = 0; kg < kGroups; ++kg) {
      for (int i = 0; i < kEntries; i += 3) groups.Write(kg)[i] += 1;
    }
    reader.join();
    for (int kg = 0; kg < kGroups; ++kg) {
      long want = 0;
      // What the groups held at Take(): each round adds 1 to every third entry.
      for (int i = 0; i < kEntries; ++i) want += kg + (i % 3 == 0 ? round : 0);
      EXPECT_EQ(sums[static_cast<size_t>(kg)], want) << "key group " << kg << " round " << round;
    }
  }
}

}  // namespace
}  // namespace eddy::internal
