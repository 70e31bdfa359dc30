#pragma once
// host_page: what address_space::host_page_of answers, the host address of
// a guest page for one kind of access, which an emulator caches as QEMU
// caches a TLB entry's addend.
//
// When a cached pointer goes stale: at any change of the page's valid PTE
// that takes something away, through any path:
//
//   protect         rights reduced (READWRITE -> READONLY, NOACCESS, GUARD)
//   decommit,       the PTE is no longer valid; the frame goes back to the
//   release, unmap  system and will hold another page
//   trim            the PTE becomes a transition PTE (the working-set
//                   manager, a system balance step, a working-set maximum,
//                   or as.trim): the frame may be repurposed
//   copy-on-write   a write to a WRITECOPY page gets a private frame: the
//                   read pointer still reads the shared frame
//   dirty reset     query_dirty(..., dirty_reset::yes) clears D: a cached
//                   write pointer would let writes go unseen
//
// Pages that become valid, or gain rights, leave every pointer good. Two
// ways to know (emu/changes.hpp): a Config::observer that counts the
// generation (emu::change_batcher, emu::generation_counter), compared with
// host_page::generation; or the batcher's range events, which name the
// pages. Without such an observer `generation` is 0 and a cached pointer
// is good only until the next call that may change PTEs.

#include <cstddef>
#include <cstdint>

namespace mmkit {

/// The host bytes behind one guest page, for one access.
struct host_page {
  /// The host address of the guest byte asked for.
  std::byte* pointer = nullptr;
  /// How many bytes from `pointer` are good: to the end of the guest page
  /// (contiguous guest pages need not sit in contiguous frames).
  std::uint64_t bytes = 0;
  /// The observer's generation when the pointer was handed out (0 when it
  /// counts none); the pointer is good while the generation is the same.
  std::uint64_t generation = 0;
};

}  // namespace mmkit
