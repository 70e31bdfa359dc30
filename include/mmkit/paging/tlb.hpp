#pragma once
// software_tlb<Geometry>: a software TLB in the style of QEMU's softmmu: each
// entry caches one 4 KiB page as a host address, with a separate tag per
// access kind, so a hit is an index, one compare and an add. Beside it,
// paging_structure_cache<Arch>: the upper levels of the walk, cached per
// leaf table, so that a TLB miss reads one entry.
//
//   modes_[mode], entry i = set * ways + way, one array per field:
//   tag[read][i]  tag[write][i]  tag[execute][i]  addend[i]  global[i]
//   (addend = host page - guest page, so the host address is va + addend)
//   set = (va >> 12) & (sets - 1); hit for kind k: tag[k][i] == va >> 12
//
// A tag is the page's virtual page number (va >> 12) when that kind of
// access is allowed without a walk, or invalid_tag (above every page
// number, so it matches none). Keeping the tag pre-shifted makes one shift
// serve both the index and the compare, and the per-field arrays let both
// loads use the index scaled by 8 in the addressing mode (256 sets):
//
//   mov va->t; shr $12,t; movzbl t->i
//   cmp t,tag(tlb,i,8); jne miss; add addend(tlb,i,8),va
//
// (an array of 32-byte entries would need a shift of the index as well).
//
// The write tag is set only once the leaf's D bit is set, so the first
// write to a page still walks and sets D. User and kernel accesses use
// separate arrays (as QEMU's MMU indexes), so a kernel fill never serves a
// user access.
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

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/paging/walker.hpp>

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mmkit {

/// The shape of a software TLB: `sets` sets of `ways` entries per mode, and
/// `psc_entries` paging-structure cache entries (one per leaf table).
template <std::size_t Sets, std::size_t Ways = 1, std::size_t PscEntries = 64>
struct tlb_geometry {
  static constexpr std::size_t sets = Sets;
  static constexpr std::size_t ways = Ways;
  static constexpr std::size_t psc_entries = PscEntries;
};

namespace detail {
/// A geometry's paging-structure cache size: its `psc_entries`, or 64.
template <class G>
constexpr std::size_t psc_entries_of() noexcept {
  if constexpr (requires { G::psc_entries; })
    return G::psc_entries;
  else
    return 64;
}
}  // namespace detail

template <class G>
concept TlbGeometry = requires {
  /// Sets per mode: a power of two, at least 2 (see the crossing check).
  { G::sets } -> std::convertible_to<std::size_t>;
  /// Entries per set: 1 is direct-mapped; at most 8.
  { G::ways } -> std::convertible_to<std::size_t>;
  /// Optional `psc_entries`: paging-structure cache entries, a power of two
  /// (64 when absent).
}
&&is_power_of_two(G::sets) && G::sets >= 2 && G::ways >= 1 && G::ways <= 8 &&
    is_power_of_two(detail::psc_entries_of<G>());

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
  /// Above every page number (va >> 12 < 2^52), so it matches no access.
  static constexpr std::uint64_t invalid_tag = ~std::uint64_t{0};

  software_tlb() noexcept { flush(); }

  /// The addend (host page - guest page) of the entry that holds the `Size`
  /// bytes at `va` for `acc` in `mode`, or null when none does (or they
  /// cross into the next page). The page number of the first byte gives the
  /// set; that of the last byte is compared with the tag (the same value
  /// unless the access crosses).
  template <std::size_t Size = 1>
  MMKIT_ALWAYS_INLINE const std::uintptr_t* hit(vaddr va, access acc,
                                                cpu_mode mode) const noexcept {
    static_assert(Size >= 1 && Size <= page_size);
    const std::uint64_t first = va.raw() >> page_shift;
    const std::uint64_t want =
        Size == 1 ? first : (va.raw() + (Size - 1)) >> page_shift;
    const mode_table& t = modes_[static_cast<unsigned>(mode)];
    const std::size_t i = (first & (sets - 1)) * ways;
    for (std::size_t w = 0; w < ways; ++w)
      if (t.tag[static_cast<unsigned>(acc)][i + w] == want)
        return &t.addend[i + w];
    return nullptr;
  }

  /// The host address of the `Size` bytes at `va` for `acc` in `mode` when
  /// the TLB holds the page and they do not cross into the next page; null
  /// otherwise. Complexity: `ways` compares.
  template <std::size_t Size = 1>
  MMKIT_ALWAYS_INLINE std::byte* lookup(vaddr va, access acc,
                                        cpu_mode mode) const noexcept {
    const std::uintptr_t* a = hit<Size>(va, acc, mode);
    return a == nullptr ? nullptr : host_address(*a, va);
  }

  /// The host address of `va` through the addend of a hit for its page.
  MMKIT_ALWAYS_INLINE static std::byte* host_address(std::uintptr_t addend,
                                                     vaddr va) noexcept {
    return reinterpret_cast<std::byte*>(
        static_cast<std::uintptr_t>(va.raw() + addend));
  }

  /// Requires: `host_page` holds the 4 KiB page that `va` lies in.
  /// Effects: caches it for `mode`; reads are always allowed, writes and
  /// execution when `write`/`execute`. Replaces the entry of the same page
  /// if cached, else an invalid way, else ways in round-robin order.
  /// Complexity: O(ways).
  MMKIT_ALWAYS_INLINE void fill(vaddr va, std::byte* host_page, bool write,
                                bool execute, bool global,
                                cpu_mode mode) noexcept {
    const std::uint64_t page = va.raw() >> page_shift;
    const std::size_t set = page & (sets - 1);
    const unsigned m = static_cast<unsigned>(mode);
    mode_table& t = modes_[m];
    std::size_t i = set * ways;
    if constexpr (ways > 1) {
      std::size_t way = ways;
      for (std::size_t w = 0; w < ways && way == ways; ++w)
        if (t.tag[0][i + w] == page) way = w;
      for (std::size_t w = 0; w < ways && way == ways; ++w)
        if (t.tag[0][i + w] == invalid_tag) way = w;
      if (way == ways) {
        way = victim_[m][set];
        victim_[m][set] = static_cast<std::uint8_t>((way + 1) % ways);
      }
      i += way;
    }
    t.tag[0][i] = page;
    t.tag[1][i] = write ? page : invalid_tag;
    t.tag[2][i] = execute ? page : invalid_tag;
    t.addend[i] = reinterpret_cast<std::uintptr_t>(host_page) -
                  static_cast<std::uintptr_t>(va.raw() & ~page_offset_mask);
    t.global[i] = global;
  }

  /// Effects: drops the page containing `va` in both modes.
  void invalidate(vaddr va) noexcept {
    const std::uint64_t page = va.raw() >> page_shift;
    const std::size_t i = (page & (sets - 1)) * ways;
    for (auto& t : modes_)
      for (std::size_t w = 0; w < ways; ++w)
        if (t.tag[0][i + w] == page) clear(t, i + w);
  }

  /// Effects: drops every page of [first, first + bytes). Complexity:
  /// O(min(pages, entries)).
  void invalidate_range(vaddr first, std::uint64_t bytes) noexcept {
    if (bytes == 0) return;
    const std::uint64_t lo = first.raw() >> page_shift;
    const std::uint64_t pages =
        ((first.raw() + bytes - 1 - (lo << page_shift)) >> page_shift) + 1;
    if (pages <= sets) {
      for (std::uint64_t i = 0; i < pages; ++i)
        invalidate(vaddr{(lo + i) << page_shift});
      return;
    }
    const std::uint64_t last = lo + (pages - 1);
    for (auto& t : modes_)
      for (std::size_t i = 0; i < entries_per_mode; ++i)
        if (t.tag[0][i] != invalid_tag && t.tag[0][i] >= lo &&
            t.tag[0][i] <= last)
          clear(t, i);
  }

  /// Effects: drops everything (a CR3 write with CR4.PGE clear, or INVPCID
  /// all-contexts).
  void flush() noexcept {
    for (auto& t : modes_)
      for (std::size_t i = 0; i < entries_per_mode; ++i) clear(t, i);
  }

  /// Effects: drops every entry not cached from a global (G=1) page, as a
  /// CR3 write with CR4.PGE=1 does.
  void flush_non_global() noexcept {
    for (auto& t : modes_)
      for (std::size_t i = 0; i < entries_per_mode; ++i)
        if (!t.global[i]) clear(t, i);
  }

  /// The number of entries holding a page (for tests).
  std::size_t debug_valid_entries() const noexcept {
    std::size_t n = 0;
    for (const auto& t : modes_)
      for (std::size_t i = 0; i < entries_per_mode; ++i)
        n += t.tag[0][i] != invalid_tag;
    return n;
  }

  /// Calls f(page, mode, writable, executable, host_page) for every cached
  /// page: what a coherence check compares with a fresh walk (for tests).
  template <class F>
  void debug_for_each(F&& f) const {
    for (unsigned m = 0; m < 2; ++m) {
      const mode_table& t = modes_[m];
      for (std::size_t i = 0; i < entries_per_mode; ++i) {
        if (t.tag[0][i] == invalid_tag) continue;
        const vaddr page{t.tag[0][i] << page_shift};
        f(page, static_cast<cpu_mode>(m), t.tag[1][i] != invalid_tag,
          t.tag[2][i] != invalid_tag, host_address(t.addend[i], page));
      }
    }
  }

 private:
  /// One mode's entries, one array per field: entry i is tag[k][i] for
  /// each access kind k, addend[i] and global[i]. Indexing every array
  /// with the same scaled index keeps the hit path free of a multiply.
  struct mode_table {
    std::uint64_t tag[3][entries_per_mode];
    std::uintptr_t addend[entries_per_mode];
    bool global[entries_per_mode];
  };

  static void clear(mode_table& t, std::size_t i) noexcept {
    t.tag[0][i] = t.tag[1][i] = t.tag[2][i] = invalid_tag;
    t.addend[i] = 0;
    t.global[i] = false;
  }

  mode_table modes_[2];
  std::uint8_t victim_[2][sets] = {};
};

// paging_structure_cache<Arch, Entries>: the upper levels of the walk,
// cached per leaf table (Intel SDM vol. 3A, 4.10.3 "Paging-Structure
// Caches": the processor's PDE cache, where an entry names the page table
// for a 2 MiB region together with the rights of the levels above).
//
//   entries_[(va >> region_shift) & (Entries - 1)]      direct-mapped
//   ┌────────────────────┬───────────────────┬───────────┬──────────┐
//   │ tag = va >> shift  │ leaf table (host) │ upper AND │ upper OR │
//   └────────────────────┴───────────────────┴───────────┴──────────┘
//   region_shift = Arch::level[1].shift (21 for the 64-bit formats, 22 for
//   x86_32): one entry per region that one leaf table maps.
//
// A hit turns a walk into one leaf-entry read (walk_leaf): the upper AND
// holds R/W and U/S ANDed over the levels above the leaf, with every other
// bit set; the upper OR holds XD ORed over them, and no other bit. So for a
// leaf entry e, (e | upper OR) & upper AND is e with the effective rights
// in place of its own, which one mask test can check. The tag keeps every
// address bit above the region, so a non-canonical address matches no
// entry.
//
// What an entry promises, and who keeps the promise:
//   - the leaf table is still the table the upper levels of its region
//     reference, and they still hold the rights cached: any change of an
//     upper-level entry, or the freeing of a table on the path, must drop
//     the entries of every region under it (invalidate_range over the span
//     of the changed entry, or flush). translator does this for its own
//     unmap and write_leaf, which may free tables;
//   - every upper-level entry of the region had A set when it was filled
//     (the walk that filled it set them), so skipping them on a hit sets no
//     A bit the processor would have set. Whoever clears A bits in upper
//     levels (an aging pass) invalidates the regions under them.
// Entries are filled only from walks that reached a leaf table, whatever
// the leaf held: faults at the leaf are not cached, the table is.
template <arch::PagingArch Arch, std::size_t Entries = 64>
class paging_structure_cache {
  static_assert(Arch::levels >= 2, "a one-level hierarchy has no upper level");
  static_assert(is_power_of_two(Entries));

 public:
  using entry_type = typename Arch::entry_type;
  static constexpr std::size_t entries = Entries;
  /// The lowest address bit of a region (one leaf table's span).
  static constexpr unsigned region_shift = Arch::level[1].shift;
  static constexpr std::uint64_t region_bytes = std::uint64_t{1}
                                                << region_shift;
  /// No address shifted by region_shift reaches it.
  static constexpr std::uint64_t invalid_tag = ~std::uint64_t{0};

  struct entry {
    std::uint64_t tag;
    entry_type* table;
    entry_type upper_and;
    entry_type upper_or;
  };

  paging_structure_cache() noexcept { flush(); }

  /// The entry for `va`'s region, or null. Complexity: one compare.
  MMKIT_ALWAYS_INLINE const entry* find(vaddr va) const noexcept {
    const std::uint64_t r = va.raw() >> region_shift;
    const entry& e = entries_[r & (Entries - 1)];
    return e.tag == r ? &e : nullptr;
  }

  /// Requires: `table` and the rights are what a walk of `va` just reported
  /// (table_walk_outcome), with A set in every upper level it passed.
  /// Effects: caches them for `va`'s region (rights normalised as above),
  /// replacing what was in its slot. Returns: the entry.
  const entry& fill(vaddr va, entry_type* table, entry_type upper_and,
                    entry_type upper_or) noexcept {
    MMKIT_ASSERT(table != nullptr);
    using codec = entry_codec<Arch>;
    const std::uint64_t r = va.raw() >> region_shift;
    entry& e = entries_[r & (Entries - 1)];
    e = entry{r, table,
              static_cast<entry_type>(upper_and | ~(codec::RW | codec::US)),
              static_cast<entry_type>(upper_or & codec::XD)};
    return e;
  }

  /// Effects: drops the entry of `va`'s region, if cached.
  void invalidate(vaddr va) noexcept {
    const std::uint64_t r = va.raw() >> region_shift;
    entry& e = entries_[r & (Entries - 1)];
    if (e.tag == r) clear(e);
  }

  /// Effects: drops every region that [first, first + bytes) touches (the
  /// whole cache when they are more than it holds; up to the top of the
  /// address space when the range wraps). Complexity: O(min(regions,
  /// Entries)).
  void invalidate_range(vaddr first, std::uint64_t bytes) noexcept {
    if (bytes == 0) return;
    const std::uint64_t lo = first.raw() >> region_shift;
    const std::uint64_t end = first.raw() + (bytes - 1);
    const std::uint64_t hi =
        (end < first.raw() ? ~std::uint64_t{0} : end) >> region_shift;
    if (hi - lo >= Entries) {
      flush();
      return;
    }
    for (std::uint64_t r = lo;; ++r) {
      entry& e = entries_[r & (Entries - 1)];
      if (e.tag == r) clear(e);
      if (r == hi) break;
    }
  }

  /// Effects: drops everything (a CR3 write, INVPCID, or any INVLPG on the
  /// processor).
  void flush() noexcept {
    for (auto& e : entries_) clear(e);
  }

  /// The number of regions cached (for tests).
  std::size_t debug_valid_entries() const noexcept {
    std::size_t n = 0;
    for (const auto& e : entries_) n += e.tag != invalid_tag;
    return n;
  }

 private:
  static void clear(entry& e) noexcept {
    e = entry{invalid_tag, nullptr, 0, 0};
  }

  entry entries_[Entries];
};

}  // namespace mmkit
