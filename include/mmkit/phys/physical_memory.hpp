#pragma once
// The PhysicalMemory concepts: where the bytes of simulated physical frames
// live.
//
// mmkit never touches "physical memory" except through one of these
// policies. A policy hands out a host pointer to the 4 KiB of a frame; page
// tables, the PFN database, the TLB and guest reads/writes all go through
// it. Models:
//   - phys/host_memory.hpp (hosted): a large host reservation that costs
//     nothing until a frame is touched;
//   - phys/buffer_memory.hpp: a caller-provided buffer (freestanding);
//   - phys/image_memory.hpp (hosted): a read-only raw physical image file,
//     for offline translation of a dump.

#include <mmkit/core/address.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mmkit {

/// Frame bytes that can be read.
template <class M>
concept PhysicalMemory = requires(const M& m, pfn frame) {
  /// The number of frames; valid frame numbers are [0, frame_count()).
  { m.frame_count() }
  noexcept->std::same_as<std::uint64_t>;
  /// Requires: frame < frame_count(). The frame's page_size bytes.
  { m.read_frame(frame) }
  noexcept->std::same_as<const std::byte*>;
};

/// Frame bytes that can also be written (everything but read-only images).
template <class M>
concept WritablePhysicalMemory = PhysicalMemory<M> &&
    requires(M& m, pfn frame) {
  /// Requires: frame < frame_count(). The frame's page_size bytes.
  { m.frame(frame) }
  noexcept->std::same_as<std::byte*>;
};

}  // namespace mmkit
