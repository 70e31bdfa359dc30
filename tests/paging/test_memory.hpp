// Helpers shared by the paging tests: a zeroed, page-aligned arena as
// buffer_memory and a simple_frame_source over part of it.
#pragma once

#include <mmkit/phys/buffer_memory.hpp>
#include <mmkit/phys/simple_frame_source.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace mmkit::test {

/// `frames` frames of zeroed, page-aligned memory; frames [0, table_frames)
/// feed page tables, the rest are for data.
struct arena {
  explicit arena(std::uint64_t frames, std::uint64_t table_frames = 0)
      : bytes(static_cast<std::byte*>(
            std::aligned_alloc(page_size, frames * page_size))),
        memory(bytes, frames * page_size),
        counts(table_frames == 0 ? frames : table_frames),
        source(memory, pfn_range{pfn{0}, pfn{counts.size() - 1}},
               counts.data()) {
    std::memset(bytes, 0, frames * page_size);
  }
  ~arena() { std::free(bytes); }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;

  template <class W>
  W& entry(pfn table, unsigned index) {
    return reinterpret_cast<W*>(memory.frame(table))[index];
  }

  std::byte* bytes;
  buffer_memory memory;
  std::vector<std::uint32_t> counts;
  simple_frame_source<buffer_memory> source;
};

}  // namespace mmkit::test
