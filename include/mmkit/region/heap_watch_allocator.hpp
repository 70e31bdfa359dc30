#pragma once
// heap_watch_allocator: the hosted WatchAllocator, write-watch bitmaps from
// operator new (nothrow): one block per write-watched reservation.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "mmkit/region/heap_watch_allocator.hpp needs a hosted C++ implementation"
#endif

#include <mmkit/region/write_watch.hpp>

#include <cstddef>
#include <new>

namespace mmkit {

struct heap_watch_allocator {
  void* allocate(std::size_t bytes) noexcept {
    return ::operator new(bytes, std::nothrow);
  }
  void deallocate(void* p, std::size_t) noexcept { ::operator delete(p); }
};
static_assert(WatchAllocator<heap_watch_allocator>);

}  // namespace mmkit
