// Per-key-group data that a checkpoint can snapshot in O(key groups) and write out on another
// thread while the task thread goes on changing it: copy-on-write at key-group granularity.
//
// Each key group's data lives in a reference-counted node. The task thread owns one reference.
// Take() gives a snapshot one more reference on every node of a range (no data is copied).
// Write(kg), the only way to change a group, first copies the group if a snapshot still holds
// it: the snapshot keeps the old node, the task goes on with the copy. The snapshot releases
// each group as soon as it has read it, so a group written after that is not copied. Read-only
// access never copies.
//
// Threads: the task thread calls everything but Snapshot's members; a Snapshot may be read and
// released on any one other thread. A node a snapshot holds is never changed, only read (by
// the snapshot and by the copy), so readers need no lock; the reference count's release on the
// snapshot side and acquire on the task side order a group's last read before its next write.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "api/key_hash.h"

namespace eddy::internal {

template <typename G>
class CowKeyGroups {
  struct Node {
    template <typename... A>
    explicit Node(A&&... args) : data(std::forward<A>(args)...) {}
    G data;
    std::atomic<int32_t> refs{1};
  };
  static void Unref(Node* node) {
    if (node != nullptr && node->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete node;
  }

 public:
  /// The key groups of a range as they were at Take(). Movable, not copyable.
  class Snapshot {
   public:
    Snapshot() = default;
    Snapshot(Snapshot&& other) noexcept
        : first_(other.first_), nodes_(std::move(other.nodes_)) {
      other.nodes_.clear();
    }
    Snapshot& operator=(Snapshot&& other) noexcept {
      if (this != &other) {
        Release();
        first_ = other.first_;
        nodes_ = std::move(other.nodes_);
        other.nodes_.clear();
      }
      return *this;
    }
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;
    ~Snapshot() { Release(); }

    /// Calls `f(key_group, const G&)` for each held key group in `range`, in order, and
    /// releases each one after `f` returns (a later write of it copies nothing).
    template <typename F>
    void ReadAndRelease(KeyGroupRange range, F&& f) {
      for (size_t i = 0; i < nodes_.size(); ++i) {
        const int32_t kg = first_ + static_cast<int32_t>(i);
        if (nodes_[i] == nullptr || !range.Contains(kg)) continue;
        f(kg, std::as_const(nodes_[i]->data));
        Unref(std::exchange(nodes_[i], nullptr));
      }
    }

   private:
    friend class CowKeyGroups;
    void Release() {
      for (Node* node : nodes_) Unref(node);
      nodes_.clear();
    }
    int32_t first_ = 0;
    std::vector<Node*> nodes_;
  };

  /// One group per key group of `range`, each made as G(args...).
  template <typename... A>
  explicit CowKeyGroups(KeyGroupRange range, const A&... args) : first_(range.start) {
    nodes_.reserve(static_cast<size_t>(range.size()));
    for (int32_t kg = range.start; kg <= range.end; ++kg) nodes_.push_back(new Node(args...));
  }
  CowKeyGroups(CowKeyGroups&& other) noexcept
      : first_(other.first_), nodes_(std::move(other.nodes_)), copies_(other.copies_) {
    other.nodes_.clear();
  }
  CowKeyGroups& operator=(CowKeyGroups&& other) noexcept {
    if (this != &other) {
      for (Node* node : nodes_) Unref(node);
      first_ = other.first_;
      nodes_ = std::move(other.nodes_);
      other.nodes_.clear();
      copies_ = other.copies_;
    }
    return *this;
  }
  CowKeyGroups(const CowKeyGroups&) = delete;
  CowKeyGroups& operator=(const CowKeyGroups&) = delete;
  ~CowKeyGroups() {
    for (Node* node : nodes_) Unref(node);
  }

  int32_t first() const { return first_; }
  int32_t last() const { return first_ + static_cast<int32_t>(nodes_.size()) - 1; }

  /// Key group `kg`'s data, to read.
  const G& Read(int32_t kg) const { return nodes_[Index(kg)]->data; }
  /// Calls `f(const G&)` for each key group of `range` (clipped to this one's), in order.
  template <typename F>
  void ForEachIn(KeyGroupRange range, F&& f) const {
    const int32_t lo = std::max(range.start, first());
    const int32_t hi = std::min(range.end, last());
    for (int32_t kg = lo; kg <= hi; ++kg) f(Read(kg));
  }
  /// True if no snapshot holds key group `kg`: Write(kg) will not copy it.
  bool Exclusive(int32_t kg) const {
    return nodes_[Index(kg)]->refs.load(std::memory_order_acquire) == 1;
  }
  /// Key group `kg`'s data, to change: copied first (G's copy constructor) if a snapshot
  /// holds it. A reference or pointer into a group is invalid after Write() of that group
  /// copied it (callers compare Exclusive() before and after, or look up again).
  G& Write(int32_t kg) {
    Node*& node = nodes_[Index(kg)];
    if (node->refs.load(std::memory_order_acquire) != 1) [[unlikely]] {
      Node* copy = new Node(std::as_const(node->data));
      Unref(std::exchange(node, copy));
      ++copies_;
    }
    return node->data;
  }
  /// Like Write(kg), but returns null instead of copying a held group that `changes(const G&)`
  /// says the change would leave as it is (an erase of what is not there, a timer that is
  /// already registered): a no-op never copies.
  template <typename Changes>
  G* WriteIfChanges(int32_t kg, Changes&& changes) {
    if (!Exclusive(kg) && !changes(Read(kg))) return nullptr;
    return &Write(kg);
  }
  /// Holds key groups `range` (clipped to this one's) as they are now. O(key groups).
  Snapshot Take(KeyGroupRange range) {
    Snapshot snapshot;
    snapshot.first_ = first_;
    snapshot.nodes_.assign(nodes_.size(), nullptr);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!range.Contains(first_ + static_cast<int32_t>(i))) continue;
      nodes_[i]->refs.fetch_add(1, std::memory_order_relaxed);
      snapshot.nodes_[i] = nodes_[i];
    }
    return snapshot;
  }
  /// How many key groups Write() has copied so far (for tests and metrics).
  uint64_t copies() const { return copies_; }

 private:
  size_t Index(int32_t kg) const { return static_cast<size_t>(kg - first_); }

  int32_t first_;
  std::vector<Node*> nodes_;
  uint64_t copies_ = 0;
};

}  // namespace eddy::internal
