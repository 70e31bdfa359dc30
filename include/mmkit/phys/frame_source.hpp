#pragma once
// The FrameSource concept: where page_table gets the frames that hold its
// tables.
//
// A page table lives in simulated physical frames in the hardware format.
// It asks its frame source for a zero-filled frame whenever a walk needs a
// missing table and gives the frame back when the table's last non-zero
// entry is cleared. The source also keeps, per table frame, the count of
// non-zero entries (NT's UsedPageTableEntries: valid and software PTEs alike),
// because that count is per-frame metadata, which is what a PFN database
// stores. Models: phys/simple_frame_source.hpp (a free list over a frame
// range) and phys/pfn_database.hpp.

#include <mmkit/core/address.hpp>
#include <mmkit/core/result.hpp>

#include <concepts>
#include <cstdint>

namespace mmkit {

template <class S>
concept FrameSource = requires(S& s, pfn frame) {
  /// A frame below `frame` (an exclusive bound: the page table asks for
  /// frames its entries can name, see arch::frame_phys_limit) whose
  /// page_size bytes are all zero and whose use count is 0, or a failure
  /// status (no_memory when none below the bound is left).
  { s.allocate_table_frame(frame) } -> std::same_as<result<pfn>>;
  /// Requires: `frame` came from allocate_table_frame(), its use count is
  /// 0 and its bytes are zero again (a page table frees a table once its
  /// last entry went to zero, and zeroes what it drops whole). Gives it
  /// back.
  { s.release_table_frame(frame) } -> std::same_as<void>;
  /// The count of non-zero entries of the table held in `frame`, kept by
  /// the page table (the source only stores it).
  { s.table_use_count(frame) } -> std::same_as<std::uint32_t&>;
};

}  // namespace mmkit
