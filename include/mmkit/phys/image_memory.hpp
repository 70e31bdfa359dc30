#pragma once
// image_memory: a raw physical-memory image (a dump: byte n of the file is
// physical address n) opened read-only, for offline translation.
//
// The file is mapped PROT_READ, MAP_PRIVATE; frame_count() is the file size
// in whole frames (a partial last frame is not addressable). Being only a
// PhysicalMemory, it cannot be handed to anything that writes: the walker
// leaves A and D bits alone on it.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "<mmkit/phys/image_memory.hpp> needs a hosted C++ implementation"
#endif

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mmkit {

class image_memory {
 public:
  image_memory() noexcept = default;
  image_memory(image_memory&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)),
        bytes_(std::exchange(o.bytes_, 0)) {}
  image_memory& operator=(image_memory&& o) noexcept {
    if (this != &o) {
      unmap();
      base_ = std::exchange(o.base_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  image_memory(const image_memory&) = delete;
  image_memory& operator=(const image_memory&) = delete;
  ~image_memory() { unmap(); }

  /// Effects: maps the file at `path` read-only. Returns
  /// invalid_parameter when it cannot be opened or holds less than one
  /// frame, in_page_error when it cannot be mapped.
  static result<image_memory> open(const char* path) noexcept {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return status::invalid_parameter;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(page_size)) {
      ::close(fd);
      return status::invalid_parameter;
    }
    const auto bytes = static_cast<std::uint64_t>(st.st_size);
    void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return status::in_page_error;
    image_memory m;
    m.base_ = static_cast<const std::byte*>(p);
    m.bytes_ = bytes;
    return m;
  }

  std::uint64_t frame_count() const noexcept { return bytes_ / page_size; }
  const std::byte* read_frame(pfn f) const noexcept {
    MMKIT_ASSERT(f.raw() < frame_count());
    return base_ + (f.raw() << page_shift);
  }

 private:
  void unmap() noexcept {
    if (base_ != nullptr) ::munmap(const_cast<std::byte*>(base_), bytes_);
    base_ = nullptr;
    bytes_ = 0;
  }

  const std::byte* base_ = nullptr;
  std::uint64_t bytes_ = 0;
};
static_assert(PhysicalMemory<image_memory>);

}  // namespace mmkit
