#pragma once
// pool_vad_allocator: the hosted VadAllocator, nodes carved from chunks of
// operator new and recycled through a free list, so that a reserve/release
// cycle costs no heap call. Chunks are kept until the allocator dies.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "mmkit/region/pool_vad_allocator.hpp needs a hosted C++ implementation"
#endif

#include <mmkit/region/vad_allocator.hpp>

#include <cstddef>
#include <new>

namespace mmkit {

/// Hosted: nodes carved from chunks of operator new, recycled through a
/// free list, so a reserve/release cycle costs no heap call.
template <class Node, std::size_t ChunkNodes = 256>
class pool_vad_allocator {
 public:
  pool_vad_allocator() noexcept = default;
  pool_vad_allocator(pool_vad_allocator&& o) noexcept
      : chunks_(o.chunks_), free_(o.free_) {
    o.chunks_ = nullptr;
    o.free_ = nullptr;
  }
  pool_vad_allocator(const pool_vad_allocator&) = delete;
  pool_vad_allocator& operator=(const pool_vad_allocator&) = delete;
  ~pool_vad_allocator() {
    while (chunks_ != nullptr) {
      chunk* next = chunks_->next;
      ::operator delete (chunks_, std::align_val_t{alignof(chunk)});
      chunks_ = next;
    }
  }

  Node* allocate() noexcept {
    if (free_ == nullptr && !grow()) return nullptr;
    slot* s = free_;
    free_ = s->next;
    return ::new (static_cast<void*>(s)) Node();
  }
  void deallocate(Node* n) noexcept {
    n->~Node();
    free_ = ::new (static_cast<void*>(n)) slot{free_};
  }

 private:
  struct slot {
    slot* next;
  };
  union cell {
    slot free;
    alignas(Node) std::byte bytes[sizeof(Node)];
  };
  struct chunk {
    chunk* next;
    cell cells[ChunkNodes];
  };

  bool grow() noexcept {
    void* raw = ::operator new (sizeof(chunk), std::align_val_t{alignof(chunk)},
                                std::nothrow);
    if (raw == nullptr) return false;
    chunk* c = ::new (raw) chunk;
    c->next = chunks_;
    chunks_ = c;
    for (std::size_t i = ChunkNodes; i-- > 0;)
      free_ = ::new (static_cast<void*>(&c->cells[i])) slot{free_};
    return true;
  }

  chunk* chunks_ = nullptr;
  slot* free_ = nullptr;
};

}  // namespace mmkit
