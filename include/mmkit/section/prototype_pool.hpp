#pragma once
// The prototype PTE pool: one prototype PTE per page of every section
// (NT's SEGMENT holds them), in one caller-given array, so that a view's
// PTE names a prototype by index (bits 12 and up of a prototype-form
// software PTE) rather than by host pointer, and 32-bit entries can hold it.
//
// A prototype PTE is a 64-bit word of the section layer's own:
//
//   bit 0       resident: a frame holds the page (bits 12.. name it)
//   bit 1       committed (a page-file section's SEC_RESERVE pages start
//               uncommitted, and so do an image's alignment gaps; every
//               other section page is committed)
//   bits 2..6   the page's own MM_ protection, 0 for "the view's" (an
//               image's pages each have their section's)
//   not resident, image pages only:
//   bits 7..19  how many bytes of the file the page holds (0..4096; the
//               rest of the page is zero)
//   bits 20..63 where in the file they start
//   resident:
//   bit 7       listed: no view maps the page and its frame is on the
//               standby or modified list (the pager trimmed it), linked
//               back to this prototype; a fault takes it back
//   bits 12..   the frame
//   not resident, a page-file section's page written to a page file:
//   bits 8..11  the page file, bits 20..63 the slot (never both 0)
//
// A page that is committed and not resident is demand-zero for a page-file
// section and read from the backing store for a file section. A resident
// page's frame is shared: its PFN entry links back to the prototype's index
// and its share count is 1 (the prototype's own) plus one per valid view PTE.
//
// Runs of entries are handed out first fit from a free list threaded
// through the free entries themselves (each free run's first entry holds
// its length and the next run's start): nothing is allocated, and the cost
// is O(free runs) per allocation and free.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>
#include <mmkit/core/result.hpp>

#include <cstdint>

namespace mmkit {

/// The prototype PTE word.
namespace proto {
inline constexpr std::uint64_t resident = 1;
inline constexpr std::uint64_t committed = 2;
using protection_bits = bit_field<6, 2>;
using byte_count = bit_field<19, 7>;
using file_offset = bit_field<63, 20>;
/// The largest file offset an image page's prototype can name (16 TiB).
inline constexpr std::uint64_t max_file_offset = (std::uint64_t{1} << 44) - 1;

/// A resident page's word: its frame, and the protection `p` had.
constexpr std::uint64_t make_resident(pfn frame,
                                      std::uint64_t p = committed) noexcept {
  return (frame.raw() << page_shift) |
         (p & protection_bits::mask<std::uint64_t>()) | resident | committed;
}
/// A committed image page not yet read: `count` bytes of the file at
/// `offset`, protection `prot`.
constexpr std::uint64_t make_image(std::uint64_t offset, std::uint64_t count,
                                   std::uint8_t prot) noexcept {
  return file_offset::set(
      byte_count::set(protection_bits::set(committed, prot), count), offset);
}
constexpr bool is_resident(std::uint64_t p) noexcept {
  return p & resident;
}
/// A resident page whose frame waits on the standby or modified list.
inline constexpr std::uint64_t listed = std::uint64_t{1} << 7;
constexpr bool is_listed(std::uint64_t p) noexcept {
  return (p & (resident | listed)) == (resident | listed);
}
using page_file_number = bit_field<11, 8>;
using page_file_slot = bit_field<63, 20>;
/// A page-file section's not-resident word `p` once its page is in slot
/// (`file`, `offset`) of the page files.
constexpr std::uint64_t paged_out(std::uint64_t p, unsigned file,
                                  std::uint64_t offset) noexcept {
  return page_file_slot::set(page_file_number::set(p, file), offset);
}
/// Whether the not-resident word `p` of a page-file section's page names
/// a page-file slot (a data or image page's word means something else).
constexpr bool is_paged_out(std::uint64_t p) noexcept {
  return !is_resident(p) &&
         (page_file_number::get(p) | page_file_slot::get(p)) != 0;
}
/// `p` without its page-file slot.
constexpr std::uint64_t without_slot(std::uint64_t p) noexcept {
  return page_file_slot::set(page_file_number::set(p, 0), 0);
}
constexpr bool is_committed(std::uint64_t p) noexcept {
  return p & committed;
}
constexpr pfn frame_of(std::uint64_t p) noexcept {
  return pfn{p >> page_shift};
}
/// The page's own protection, 0 when the view's applies.
constexpr std::uint8_t protection_of(std::uint64_t p) noexcept {
  return static_cast<std::uint8_t>(protection_bits::get(p));
}
}  // namespace proto

class prototype_pool {
 public:
  /// An index meaning "no run".
  static constexpr std::uint64_t none = 0xFFFF'FFFFu;

  prototype_pool() noexcept = default;
  /// Requires: `entries` points to `count` words that outlive the pool;
  /// count < 2^32. Their contents need no initialisation.
  prototype_pool(std::uint64_t* entries, std::uint64_t count) noexcept
      : entries_(entries), capacity_(count) {
    MMKIT_ASSERT(count < none);
    if (count != 0) {
      entries_[0] = pack(count, none);
      free_ = 0;
    }
  }
  prototype_pool(const prototype_pool&) = delete;
  prototype_pool& operator=(const prototype_pool&) = delete;

  std::uint64_t capacity() const noexcept { return capacity_; }
  std::uint64_t in_use() const noexcept { return in_use_; }

  /// Effects: a run of `n` (> 0) entries, all zero (uncommitted).
  /// Returns: its first index, or insufficient_resources when no free run
  /// is that long. Complexity: O(free runs + n).
  result<std::uint64_t> allocate(std::uint64_t n) noexcept {
    MMKIT_ASSERT(n != 0);
    std::uint64_t prev = none;
    for (std::uint64_t at = free_; at != none; prev = at, at = next_of(at)) {
      const std::uint64_t len = length_of(at);
      if (len < n) continue;
      const std::uint64_t rest = len - n;
      const std::uint64_t after =
          rest != 0 ? (entries_[at + n] = pack(rest, next_of(at)), at + n)
                    : next_of(at);
      link(prev, after);
      for (std::uint64_t i = at; i < at + n; ++i) entries_[i] = 0;
      in_use_ += n;
      return at;
    }
    return status::insufficient_resources;
  }

  /// Requires: [first, first + n) came from allocate() and is not free.
  /// Effects: the run is free again, merged with its free neighbours.
  void free(std::uint64_t first, std::uint64_t n) noexcept {
    MMKIT_ASSERT(n != 0 && first + n <= capacity_);
    std::uint64_t prev = none;
    std::uint64_t at = free_;
    while (at != none && at < first) {
      prev = at;
      at = next_of(at);
    }
    MMKIT_ASSERT(at == none || first + n <= at);
    std::uint64_t len = n;
    std::uint64_t next = at;
    if (at != none && first + n == at) {  // merge with the run after
      len += length_of(at);
      next = next_of(at);
    }
    entries_[first] = pack(len, next);
    if (prev != none && prev + length_of(prev) == first) {  // and before
      entries_[prev] = pack(length_of(prev) + len, next);
    } else {
      link(prev, first);
    }
    in_use_ -= n;
  }

  std::uint64_t& operator[](std::uint64_t i) noexcept {
    MMKIT_ASSERT(i < capacity_);
    return entries_[i];
  }
  std::uint64_t operator[](std::uint64_t i) const noexcept {
    MMKIT_ASSERT(i < capacity_);
    return entries_[i];
  }

  /// The free runs' lengths add up to capacity() - in_use(), in order and
  /// never adjacent (for tests).
  bool check_invariants() const noexcept {
    std::uint64_t total = 0;
    std::uint64_t end = 0;
    bool first = true;
    for (std::uint64_t at = free_; at != none; at = next_of(at)) {
      if (!first && at <= end) return false;
      first = false;
      total += length_of(at);
      end = at + length_of(at);
      if (end > capacity_) return false;
    }
    return total == capacity_ - in_use_;
  }

 private:
  static constexpr std::uint64_t pack(std::uint64_t len,
                                      std::uint64_t next) noexcept {
    return (len << 32) | next;
  }
  std::uint64_t length_of(std::uint64_t at) const noexcept {
    return entries_[at] >> 32;
  }
  std::uint64_t next_of(std::uint64_t at) const noexcept {
    return entries_[at] & 0xFFFF'FFFFu;
  }
  void link(std::uint64_t prev, std::uint64_t to) noexcept {
    if (prev == none)
      free_ = to;
    else
      entries_[prev] = pack(length_of(prev), to);
  }

  std::uint64_t* entries_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t in_use_ = 0;
  std::uint64_t free_ = none;
};

}  // namespace mmkit
