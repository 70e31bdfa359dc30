#pragma once
// host_memory: simulated physical memory in one large host reservation.
//
// The reservation is mapped PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|
// MAP_NORESERVE, so it costs no host memory until a frame is touched and
// its size is not charged against the host's commit limit: 64 GiB of
// simulated physical memory can be declared on a machine with far less.
// Frame n is at base + n * page_size, so a frame lookup is a shift and an
// add. release_frames() gives a frame's host pages back (MADV_DONTNEED); the
// frame then reads as zero again, which a zero-page step can use instead of
// writing zeros.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "<mmkit/phys/host_memory.hpp> needs a hosted C++ implementation"
#endif

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>

#include <sys/mman.h>

namespace mmkit {

class host_memory {
 public:
  host_memory() noexcept = default;
  host_memory(host_memory&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)),
        frames_(std::exchange(o.frames_, 0)) {}
  host_memory& operator=(host_memory&& o) noexcept {
    if (this != &o) {
      unmap();
      base_ = std::exchange(o.base_, nullptr);
      frames_ = std::exchange(o.frames_, 0);
    }
    return *this;
  }
  host_memory(const host_memory&) = delete;
  host_memory& operator=(const host_memory&) = delete;
  ~host_memory() { unmap(); }

  /// Effects: reserves `bytes` (rounded down to whole frames) of host
  /// address space. Returns invalid_parameter for less than one frame,
  /// no_memory when the host refuses the reservation.
  static result<host_memory> create(std::uint64_t bytes) noexcept {
    const std::uint64_t frames = bytes / page_size;
    if (frames == 0) return status::invalid_parameter;
    void* p = ::mmap(nullptr, frames * page_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return status::no_memory;
    host_memory m;
    m.base_ = static_cast<std::byte*>(p);
    m.frames_ = frames;
    return m;
  }

  std::uint64_t frame_count() const noexcept { return frames_; }
  const std::byte* read_frame(pfn f) const noexcept {
    MMKIT_ASSERT(f.raw() < frames_);
    return base_ + (f.raw() << page_shift);
  }
  std::byte* frame(pfn f) noexcept {
    MMKIT_ASSERT(f.raw() < frames_);
    return base_ + (f.raw() << page_shift);
  }

  /// Requires: [first, first + count) are frames of this memory.
  /// Effects: returns their host pages to the host; they read as zero
  /// afterwards and cost nothing until touched again.
  result<void> release_frames(pfn first, std::uint64_t count) noexcept {
    MMKIT_ASSERT(first.raw() <= frames_ && count <= frames_ - first.raw());
    if (count == 0) return {};
    if (::madvise(base_ + (first.raw() << page_shift), count * page_size,
                  MADV_DONTNEED) != 0)
      return status::unsuccessful;
    return {};
  }

 private:
  void unmap() noexcept {
    if (base_ != nullptr) ::munmap(base_, frames_ * page_size);
    base_ = nullptr;
    frames_ = 0;
  }

  std::byte* base_ = nullptr;
  std::uint64_t frames_ = 0;
};
static_assert(WritablePhysicalMemory<host_memory>);

}  // namespace mmkit
