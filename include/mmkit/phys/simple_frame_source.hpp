#pragma once
// simple_frame_source: a FrameSource over a caller-given range of frames of a
// WritablePhysicalMemory, for page tables that do not need a PFN database.
//
// Frames are handed out from two places: first from a free list threaded
// through the free frames themselves (the first 8 bytes of a free frame hold
// the next free frame's number plus one; 0 ends the list), then from a bump
// pointer over frames never handed out, so that construction touches no
// frame (a 64 GiB host reservation stays free until used). Every frame handed
// out is zero-filled. The per-frame use counts live in an array the caller
// provides, one std::uint32_t per frame of the range; nothing is allocated.
//
// Invariant: frames_in_use() + free-list length + never-used frames ==
// capacity(); a free frame's count holds free_marker, which catches a double
// release. All operations O(1) except the zero fill (page_size bytes).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/phys/buffer_memory.hpp>
#include <mmkit/phys/frame_source.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cstddef>
#include <cstdint>

namespace mmkit {

template <WritablePhysicalMemory Memory>
class simple_frame_source {
 public:
  static constexpr std::uint32_t free_marker = 0xFFFFFFFFu;

  simple_frame_source() noexcept = default;
  /// Requires: `frames` lies inside `memory`; `use_counts` points to
  /// frames.count() writable counters; both outlive this object.
  simple_frame_source(Memory& memory, pfn_range frames,
                      std::uint32_t* use_counts) noexcept
      : memory_(&memory),
        first_(frames.first),
        capacity_(frames.count()),
        counts_(use_counts) {
    MMKIT_ASSERT(frames.first <= frames.last &&
                 frames.last.raw() < memory.frame_count());
  }

  /// Effects: a zero-filled frame below `end` with use count 0, or
  /// no_memory (changing nothing) when the next frame this source would
  /// hand out is not below `end`: give a source whose range lies below
  /// every bound its page tables ask for (4 GiB for x86_32).
  /// Complexity: O(1) plus the zero fill.
  result<pfn> allocate_table_frame(pfn end = pfn{~std::uint64_t{0}}) noexcept {
    pfn f;
    if (free_head_ != 0) {
      f = pfn{free_head_ - 1};
      if (f >= end) return status::no_memory;
      free_head_ = link_of(f);
    } else if (fresh_ < capacity_) {
      f = first_ + fresh_;
      if (f >= end) return status::no_memory;
      ++fresh_;
    } else {
      return status::no_memory;
    }
    auto* words = reinterpret_cast<std::uint64_t*>(memory_->frame(f));
    for (std::size_t i = 0; i < page_size / sizeof(std::uint64_t); ++i)
      words[i] = 0;
    counts_[f - first_] = 0;
    ++in_use_;
    return f;
  }

  /// Requires: `f` came from allocate_table_frame(), is in use, and its use
  /// count is 0. Effects: puts it on the free list. Complexity: O(1).
  void release_table_frame(pfn f) noexcept {
    MMKIT_ASSERT(owns(f) && f - first_ < fresh_);
    MMKIT_ASSERT(counts_[f - first_] == 0);
    counts_[f - first_] = free_marker;
    *reinterpret_cast<std::uint64_t*>(memory_->frame(f)) = free_head_;
    free_head_ = f.raw() + 1;
    --in_use_;
  }

  /// Requires: `f` is in use. The count page_table keeps for it.
  std::uint32_t& table_use_count(pfn f) noexcept {
    MMKIT_ASSERT(owns(f));
    return counts_[f - first_];
  }

  bool owns(pfn f) const noexcept {
    return first_ <= f && f - first_ < capacity_;
  }
  std::uint64_t capacity() const noexcept { return capacity_; }
  std::uint64_t frames_in_use() const noexcept { return in_use_; }
  std::uint64_t frames_free() const noexcept { return capacity_ - in_use_; }

 private:
  std::uint64_t link_of(pfn f) noexcept {
    return *reinterpret_cast<const std::uint64_t*>(memory_->frame(f));
  }

  Memory* memory_ = nullptr;
  pfn first_{};
  std::uint64_t capacity_ = 0;
  std::uint32_t* counts_ = nullptr;
  std::uint64_t fresh_ = 0;      // frames [first_, first_ + fresh_) were used
  std::uint64_t free_head_ = 0;  // free-list head frame + 1, or 0
  std::uint64_t in_use_ = 0;
};
static_assert(FrameSource<simple_frame_source<buffer_memory>>);

}  // namespace mmkit
