#pragma once
// frame_cache: a few frames an address space holds ahead of its demand-zero
// faults, so that most of them take no PFN lock at all.
//
// With threads, every demand-zero fault used to take the system's PFN lock
// for its frame, and faults in separate address spaces queued on it (and on
// the cache lines of the lists and counters it guards). A space in a
// threaded system (system.hpp) now takes `capacity` frames at once, under
// the lock, and its next faults take one each from here under the space's
// lock alone: the PFN lock is taken once per `capacity` faults. Linux's
// per-CPU page lists do the same for the same reason; NT's faults go to
// the PFN lock each time (its lists are per node and colour).
//
// Who owns what:
//   - A cached frame is active (share and reference count 1), with a
//     hardware back-link to nothing (pfn_database::hold_for_page), and
//     belongs to its space: the space's lock covers the cache, and the
//     fault that maps the frame writes its entry's link and original PTE
//     under that lock alone (set_cached_link). The entry's flags word
//     stays the PFN lock's: mark_bad may set a flag in it meanwhile.
//   - The system fills a cache and drains it under the PFN lock: a fill
//     only from the zeroed and free lists, never past the pager's low
//     threshold (system::fill_frame_cache_locked); a drain when memory runs
//     short, from a space whose lock it may take (system::reclaim_locked),
//     and when the space goes.
//   - A space bound to the low zone (an x86_32 space on a machine with
//     frames above 4 GiB) has no cache, and while one exists no cache is
//     filled: other spaces take low frames only once the high ones are
//     all in use, which is what keeps the low frames promised to it, and
//     idle cached frames would break that. Its creation drains the caches
//     of the spaces whose locks are free; a busy space's cache empties as
//     that space faults.
//   - Cached frames are no page's: they are in no space's frames_in_use and
//     on no list (address_space::cached_frames() counts a space's). A frame
//     that was not zeroed yet (from the free list) is zeroed by the fault that
//     maps it.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>

#include <cstdint>

namespace mmkit {

struct frame_cache {
  /// Frames taken at once: 128 KiB of memory per space at most.
  static constexpr unsigned capacity = 32;

  /// The frames, frames[0, count); bit i of must_zero says that frames[i]
  /// is not zeroed yet. The count is read and written with relaxed atomic
  /// accesses (plain moves on x86): a drain reads it without the space's
  /// lock to skip an empty cache, and a fault lowers it without the PFN
  /// lock.
  std::uint32_t frames[capacity];
  std::uint32_t must_zero = 0;
  std::uint32_t count = 0;

  std::uint32_t size() const noexcept {
    return __atomic_load_n(&count, __ATOMIC_RELAXED);
  }
  bool empty() const noexcept { return size() == 0; }
  bool full() const noexcept { return size() == capacity; }

  /// Requires: !full().
  void push(pfn frame, bool zero) noexcept {
    MMKIT_ASSERT(!full() && frame.raw() <= 0xFFFFFFFFu);
    const std::uint32_t n = size();
    frames[n] = static_cast<std::uint32_t>(frame.raw());
    must_zero = zero ? must_zero | (1u << n) : must_zero & ~(1u << n);
    __atomic_store_n(&count, n + 1, __ATOMIC_RELAXED);
  }
  /// Requires: !empty(). Returns: the frame put in last; `zero` says
  /// whether it must be zeroed before use.
  pfn pop(bool& zero) noexcept {
    MMKIT_ASSERT(!empty());
    const std::uint32_t n = size() - 1;
    __atomic_store_n(&count, n, __ATOMIC_RELAXED);
    zero = (must_zero >> n) & 1u;
    return pfn{frames[n]};
  }
};

}  // namespace mmkit
