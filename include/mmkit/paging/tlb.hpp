#pragma once
// software_tlb<Geometry>: a software TLB in the style of QEMU's softmmu: each
// entry caches one 4 KiB page as a host address, with a separate tag per
// access kind, so a hit is an index, one compare and an add.
//
//   entries_[mode][set * ways + way]           (32 bytes each)
//   ┌──────────┬───────────┬────────────┬────────────────────────────┐
//   │ tag read │ tag write │ tag execute│ addend = host page - va page│
//   └──────────┴───────────┴────────────┴────────────────────────────┘
//   set = (va >> 12) & (sets - 1); hit for kind k: tag[k] == page of va
//
// A tag is the page's virtual base address when that kind of access is
// allowed without a walk, or invalid_tag (never page-aligned, so it matches
// no address). The write tag is set only once the leaf's D bit is set, so
// the first write to a page still walks and sets D. User and kernel
// accesses use separate arrays (as QEMU's MMU indexes), so a kernel fill
// never serves a user access.
//
// A sized lookup compares the tag with the page of the access's LAST byte
// while indexing with the page of its first: an access that crosses into the
// next page indexes one set and names a page that set cannot hold (two
// consecutive pages fall in different sets when sets >= 2), so it misses and
// the caller's slow path splits it. Large pages are cached as their 4 KiB
// pieces; invalidate_range() drops all of them.
//
// Coherence is the owner's job: after any change to a leaf (unmap, protect,
// a software PTE written over a valid one, A/D bits cleared by an aging
// pass) invalidate that page; translator does this for its own operations.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/paging/walker.hpp>

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mmkit {

/// The shape of a software TLB: `sets` sets of `ways` entries per mode.
template <std::size_t Sets, std::size_t Ways = 1>
struct tlb_geometry {
  static constexpr std::size_t sets = Sets;
  static constexpr std::size_t ways = Ways;
};

template <class G>
concept TlbGeometry = requires {
  /// Sets per mode: a power of two, at least 2 (see the crossing check).
  { G::sets } -> std::convertible_to<std::size_t>;
  /// Entries per set: 1 is direct-mapped; at most 8.
  { G::ways } -> std::convertible_to<std::size_t>;
}
&&is_power_of_two(G::sets) && G::sets >= 2 && G::ways >= 1 && G::ways <= 8;

using direct_mapped_tlb = tlb_geometry<256, 1>;
using four_way_tlb = tlb_geometry<64, 4>;
static_assert(TlbGeometry<direct_mapped_tlb>);
static_assert(TlbGeometry<four_way_tlb>);

template <TlbGeometry Geometry>
class software_tlb {
 public:
  static constexpr std::size_t sets = Geometry::sets;
  static constexpr std::size_t ways = Geometry::ways;
  static constexpr std::size_t entries_per_mode = sets * ways;
  static constexpr std::uint64_t invalid_tag = ~std::uint64_t{0};

  struct entry {
    std::uint64_t tag[3];
    std::uintptr_t addend;
  };
  static_assert(sizeof(entry) == 32, "one entry per half cache line");

  software_tlb() noexcept { flush(); }

  /// The entry that holds the `Size` bytes at `va` for `acc` in `mode`, or
  /// null when none does (or they cross into the next page). The set's byte
  /// offset comes from one shift and one mask of the address.
  template <std::size_t Size = 1>
  MMKIT_ALWAYS_INLINE const entry* hit(vaddr va, access acc,
                                       cpu_mode mode) const noexcept {
    static_assert(Size >= 1 && Size <= page_size);
    constexpr unsigned set_bytes_log2 =
        static_cast<unsigned>(std::countr_zero(sizeof(entry) * ways));
    const std::uint64_t v = va.raw();
    const std::uint64_t offset =
        (v >> (page_shift - set_bytes_log2)) & ((sets - 1) << set_bytes_log2);
    const std::uint64_t want = (v + (Size - 1)) & ~page_offset_mask;
    const entry* e = reinterpret_cast<const entry*>(
        reinterpret_cast<const char*>(entries_[static_cast<unsigned>(mode)]) +
        offset);
    for (std::size_t w = 0; w < ways; ++w)
      if (e[w].tag[static_cast<unsigned>(acc)] == want) return &e[w];
    return nullptr;
  }

  /// The host address of the `Size` bytes at `va` for `acc` in `mode` when
  /// the TLB holds the page and they do not cross into the next page; null
  /// otherwise. Complexity: `ways` compares.
  template <std::size_t Size = 1>
  MMKIT_ALWAYS_INLINE std::byte* lookup(vaddr va, access acc,
                                        cpu_mode mode) const noexcept {
    const entry* e = hit<Size>(va, acc, mode);
    return e == nullptr ? nullptr : host_address(*e, va);
  }

  /// The host address of `va` through entry `e` (a hit for its page).
  MMKIT_ALWAYS_INLINE static std::byte* host_address(const entry& e,
                                                     vaddr va) noexcept {
    return reinterpret_cast<std::byte*>(
        static_cast<std::uintptr_t>(va.raw() + e.addend));
  }

  /// Requires: `host_page` holds the 4 KiB page that `va` lies in.
  /// Effects: caches it for `mode`; reads are always allowed, writes and
  /// execution when `write`/`execute`. Replaces the entry of the same page
  /// if cached, else an invalid way, else ways in round-robin order.
  void fill(vaddr va, std::byte* host_page, bool write, bool execute,
            bool global, cpu_mode mode) noexcept {
    const std::uint64_t page = va.raw() & ~page_offset_mask;
    const std::size_t set = (va.raw() >> page_shift) & (sets - 1);
    const unsigned m = static_cast<unsigned>(mode);
    entry* e = &entries_[m][set * ways];
    std::size_t way = ways;
    for (std::size_t w = 0; w < ways && way == ways; ++w)
      if (e[w].tag[0] == page) way = w;
    for (std::size_t w = 0; w < ways && way == ways; ++w)
      if (e[w].tag[0] == invalid_tag) way = w;
    if (way == ways) {
      way = victim_[m][set];
      victim_[m][set] = static_cast<std::uint8_t>((way + 1) % ways);
    }
    entry& x = e[way];
    x.tag[0] = page;
    x.tag[1] = write ? page : invalid_tag;
    x.tag[2] = execute ? page : invalid_tag;
    x.addend = reinterpret_cast<std::uintptr_t>(host_page) -
               static_cast<std::uintptr_t>(page);
    global_[m][set * ways + way] = global;
  }

  /// Effects: drops the page containing `va` in both modes.
  void invalidate(vaddr va) noexcept {
    const std::uint64_t page = va.raw() & ~page_offset_mask;
    const std::size_t set = (va.raw() >> page_shift) & (sets - 1);
    for (auto& mode : entries_)
      for (std::size_t w = 0; w < ways; ++w)
        if (mode[set * ways + w].tag[0] == page) clear(mode[set * ways + w]);
  }

  /// Effects: drops every page of [first, first + bytes). Complexity:
  /// O(min(pages, entries)).
  void invalidate_range(vaddr first, std::uint64_t bytes) noexcept {
    if (bytes == 0) return;
    const std::uint64_t lo = first.raw() & ~page_offset_mask;
    const std::uint64_t pages =
        ((first.raw() + bytes - 1 - lo) >> page_shift) + 1;
    if (pages <= sets) {
      for (std::uint64_t i = 0; i < pages; ++i)
        invalidate(vaddr{lo + (i << page_shift)});
      return;
    }
    const std::uint64_t last = lo + ((pages - 1) << page_shift);
    for (auto& mode : entries_)
      for (auto& x : mode)
        if (x.tag[0] != invalid_tag && x.tag[0] >= lo && x.tag[0] <= last)
          clear(x);
  }

  /// Effects: drops everything (a CR3 write with CR4.PGE clear, or INVPCID
  /// all-contexts).
  void flush() noexcept {
    for (auto& mode : entries_)
      for (auto& x : mode) clear(x);
  }

  /// Effects: drops every entry not cached from a global (G=1) page, as a
  /// CR3 write with CR4.PGE=1 does.
  void flush_non_global() noexcept {
    for (unsigned m = 0; m < 2; ++m)
      for (std::size_t i = 0; i < entries_per_mode; ++i)
        if (!global_[m][i]) clear(entries_[m][i]);
  }

  /// The number of entries holding a page (for tests).
  std::size_t debug_valid_entries() const noexcept {
    std::size_t n = 0;
    for (auto& mode : entries_)
      for (auto& x : mode) n += x.tag[0] != invalid_tag;
    return n;
  }

 private:
  static void clear(entry& x) noexcept {
    x.tag[0] = x.tag[1] = x.tag[2] = invalid_tag;
    x.addend = 0;
  }

  entry entries_[2][entries_per_mode];
  bool global_[2][entries_per_mode] = {};
  std::uint8_t victim_[2][sets] = {};
};

}  // namespace mmkit
