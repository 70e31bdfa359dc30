#pragma once
// Where an address space gets its VAD nodes. The VAD tree never allocates;
// an address space asks one of these for a node per reservation and gives it
// back on release.
//
//   caller_vad_allocator<Node>  a free list over a caller-given array
//                               (freestanding, nothing hidden)
//   pool_vad_allocator<Node>    hosted (region/pool_vad_allocator.hpp):
//                               grows in chunks from operator new and
//                               recycles released nodes

#include <mmkit/core/assert.hpp>

#include <concepts>
#include <cstddef>
#include <new>  // placement new only: nothing here allocates

namespace mmkit {

template <class A, class Node>
concept VadAllocator = requires(A& a, Node* n) {
  /// A default-constructed node, or nullptr when none is left.
  { a.allocate() }
  noexcept->std::same_as<Node*>;
  /// Requires: `n` came from allocate() and is not in a tree. Gives it back.
  { a.deallocate(n) }
  noexcept->std::same_as<void>;
};

/// A free list threaded through a caller-provided array of nodes.
template <class Node>
class caller_vad_allocator {
 public:
  caller_vad_allocator() noexcept = default;
  /// Requires: `nodes` points to `count` slots that outlive the allocator.
  caller_vad_allocator(Node* nodes, std::size_t count) noexcept
      : nodes_(nodes), count_(count) {}
  caller_vad_allocator(caller_vad_allocator&& o) noexcept
      : nodes_(o.nodes_), count_(o.count_), used_(o.used_), free_(o.free_) {
    o.nodes_ = nullptr;
    o.count_ = o.used_ = 0;
    o.free_ = nullptr;
  }

  Node* allocate() noexcept {
    if (free_ != nullptr) {
      slot* s = free_;
      free_ = s->next;
      return ::new (static_cast<void*>(s)) Node();
    }
    if (used_ == count_) return nullptr;
    return ::new (static_cast<void*>(&nodes_[used_++])) Node();
  }
  void deallocate(Node* n) noexcept {
    MMKIT_ASSERT(n >= nodes_ && n < nodes_ + used_);
    n->~Node();
    slot* s = ::new (static_cast<void*>(n)) slot{free_};
    free_ = s;
  }

 private:
  struct slot {
    slot* next;
  };
  static_assert(sizeof(Node) >= sizeof(slot));

  Node* nodes_ = nullptr;
  std::size_t count_ = 0;
  std::size_t used_ = 0;
  slot* free_ = nullptr;
};

}  // namespace mmkit
