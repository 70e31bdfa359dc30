#pragma once
// buffer_memory: simulated physical memory in a buffer the caller owns (a
// static array in a kernel, a slice of a larger arena in a test). Frame n is
// the page_size bytes at buffer + n * page_size; nothing is allocated.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cstddef>
#include <cstdint>

namespace mmkit {

class buffer_memory {
 public:
  constexpr buffer_memory() noexcept = default;
  /// Requires: `bytes` bytes at `buffer` stay valid while this object is
  /// used; `buffer` is aligned to 8 bytes (page_size recommended) so that
  /// 64-bit page-table entries can be read in place.
  /// Effects: frames [0, bytes / page_size); a partial last page is unused.
  buffer_memory(std::byte* buffer, std::uint64_t bytes) noexcept
      : base_(buffer), frames_(bytes / page_size) {
    MMKIT_ASSERT(reinterpret_cast<std::uintptr_t>(buffer) % 8 == 0);
  }

  std::uint64_t frame_count() const noexcept { return frames_; }
  const std::byte* read_frame(pfn f) const noexcept {
    MMKIT_ASSERT(f.raw() < frames_);
    return base_ + f.raw() * page_size;
  }
  std::byte* frame(pfn f) noexcept {
    MMKIT_ASSERT(f.raw() < frames_);
    return base_ + f.raw() * page_size;
  }

 private:
  std::byte* base_ = nullptr;
  std::uint64_t frames_ = 0;
};
static_assert(WritablePhysicalMemory<buffer_memory>);

}  // namespace mmkit
