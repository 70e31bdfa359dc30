#pragma once
// software_tlb<Geometry>: a software TLB in the style of QEMU's softmmu: each
// entry caches one 4 KiB page as a host address, with a separate tag per
// access kind, so a hit is an index, one compare and an add. Beside it,
// paging_structure_cache<Arch>: the upper levels of the walk, cached per
// leaf table, so that a TLB miss reads one entry.
//
//   entry i = mode * sets * ways + set * ways + way, one array per field:
//   tag[read][i]  tag[write][i]  tag[execute][i]  addend[i]  global[i]
//   (addend = host page - guest page, so the host address is va + addend)
//   set = (va >> 12) & (sets - 1); hit for kind k:
//   tag[k][i] == (va >> 12 | current generation << 52)
//
//    63        52 51                                        0
//   ┌────────────┬───────────────────────────────────────────┐
//   │ generation │ virtual page number (va >> 12)            │  a tag
//   └────────────┴───────────────────────────────────────────┘
//
// A tag is the page's virtual page number with the generation it was filled
// in above it, when that kind of access is allowed without a walk, or
// invalid_tag (generation all ones, which no flush reaches, so it matches
// nothing). Keeping the tag pre-shifted makes one shift serve both the index
// and the compare, and the per-field arrays let both loads use the index
// scaled by 8 in the addressing mode (256 sets, the mode a constant):
//
//   mov va->t; shr $12,t; movzbl t->i; or gen(tlb),t
//   cmp t,tag(tlb,i,8); jne miss; add addend(tlb,i,8),va
//
// (an array of 32-byte entries would need a shift of the index as well).
//
// Flushes are O(1): flush() moves to the next generation, so every tag
// filled before it misses, and writes no entry. After max_generation the
// generation wraps around to 0 and that one flush clears every entry
// (amortised O(entries / 4095) per flush). flush_non_global() moves to the
// next generation too, but a global entry filled since the last flush()
// stays valid: it is dormant, and the first miss on its page brings it
// into the current generation (revive()) instead of walking.
// invalidate()/invalidate_range() compare the page bits alone, so they drop
// a page whatever its generation.
//
// The write tag is set only once the leaf's D bit is set, so the first
// write to a page still walks and sets D. User and kernel accesses use
// separate halves of the arrays (as QEMU's MMU indexes), so a kernel fill
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
  /// The lowest bit of a tag's generation: page numbers (va >> 12) take the
  /// 52 bits below it.
  static constexpr unsigned generation_shift = 64 - page_shift;
  /// The page-number bits of a tag.
  static constexpr std::uint64_t page_mask =
      (std::uint64_t{1} << generation_shift) - 1;
  /// The last generation; the flush after it wraps around to 0.
  static constexpr std::uint64_t max_generation =
      (std::uint64_t{1} << (64 - generation_shift)) - 2;
  /// Generation all ones, which is never current, so it matches no access.
  static constexpr std::uint64_t invalid_tag = ~std::uint64_t{0};

  software_tlb() noexcept { clear_all(); }

  /// The addend (host page - guest page) of the entry that holds the `Size`
  /// bytes at `va` for `acc` in `mode` in the current generation, or null
  /// when none does (or they cross into the next page). The page number of
  /// the first byte gives the set; that of the last byte, with the
  /// generation above it, is compared with the tag (the same page unless
  /// the access crosses).
  template <std::size_t Size = 1>
  MMKIT_ALWAYS_INLINE const std::uintptr_t* hit(vaddr va, access acc,
                                                cpu_mode mode) const noexcept {
    static_assert(Size >= 1 && Size <= page_size);
    const std::uint64_t first = va.raw() >> page_shift;
    const std::uint64_t want =
        (Size == 1 ? first : (va.raw() + (Size - 1)) >> page_shift) | current_;
    const std::size_t i = index(first, mode);
    for (std::size_t w = 0; w < ways; ++w)
      if (tag_[static_cast<unsigned>(acc)][i + w] == want)
        return &addend_[i + w];
    return nullptr;
  }

  /// The host address of the `Size` bytes at `va` for `acc` in `mode` when
  /// the TLB holds the page (a dormant global entry included) and they do
  /// not cross into the next page; null otherwise. Complexity: O(ways).
  template <std::size_t Size = 1>
  std::byte* lookup(vaddr va, access acc, cpu_mode mode) const noexcept {
    const std::uintptr_t* a = hit<Size>(va, acc, mode);
    if (a == nullptr && dormant_[static_cast<unsigned>(mode)]) {
      const std::size_t i = find_dormant<Size>(va, mode);
      if (i != npos && tag_[static_cast<unsigned>(acc)][i] != invalid_tag)
        a = &addend_[i];
    }
    return a == nullptr ? nullptr : host_address(*a, va);
  }

  /// The host address of `va` through the addend of a hit for its page.
  MMKIT_ALWAYS_INLINE static std::byte* host_address(std::uintptr_t addend,
                                                     vaddr va) noexcept {
    return reinterpret_cast<std::byte*>(
        static_cast<std::uintptr_t>(va.raw() + addend));
  }

  /// Whether a miss in `mode` may find a dormant global entry: some global
  /// page was filled in `mode` before a flush_non_global(), and no flush()
  /// has come since. One load; the caller tries revive() only then.
  MMKIT_ALWAYS_INLINE bool may_revive(cpu_mode mode) const noexcept {
    return dormant_[static_cast<unsigned>(mode)];
  }

  /// Effects: when the page of `va` in `mode` is held by a dormant global
  /// entry, moves it into the current generation (as the processor keeps a
  /// global translation across a CR3 write with CR4.PGE=1). Returns: the
  /// addend of a hit of `va` for `acc` afterwards, or null. Complexity:
  /// O(ways).
  [[gnu::noinline]] const std::uintptr_t* revive(vaddr va, access acc,
                                                 cpu_mode mode) noexcept {
    const std::size_t i = find_dormant<1>(va, mode);
    if (i == npos) return nullptr;
    retag(i, current_);
    return tag_[static_cast<unsigned>(acc)][i] != invalid_tag ? &addend_[i]
                                                              : nullptr;
  }

  /// Requires: `host_page` holds the 4 KiB page that `va` lies in.
  /// Effects: caches it for `mode` in the current generation; reads are
  /// always allowed, writes and execution when `write`/`execute`. Replaces
  /// the entry of the same page if there is one (whatever its generation),
  /// else an entry no lookup can return, else ways in round-robin order.
  /// Returns: the host address of `va`. Complexity: O(ways).
  MMKIT_ALWAYS_INLINE std::byte* fill(vaddr va, std::byte* host_page,
                                      bool write, bool execute, bool global,
                                      cpu_mode mode) noexcept {
    const std::uint64_t page = va.raw() >> page_shift;
    const std::uint64_t tag = page | current_;
    const unsigned m = static_cast<unsigned>(mode);
    std::size_t i = index(page, mode);
    if constexpr (ways > 1) {
      const std::size_t set = page & (sets - 1);
      std::size_t way = ways;
      for (std::size_t w = 0; w < ways && way == ways; ++w)
        if ((tag_[0][i + w] & page_mask) == page &&
            tag_[0][i + w] != invalid_tag)
          way = w;
      for (std::size_t w = 0; w < ways && way == ways; ++w)
        if (!live(i + w)) way = w;
      if (way == ways) {
        way = victim_[m][set];
        victim_[m][set] = static_cast<std::uint8_t>((way + 1) % ways);
      }
      i += way;
    }
    tag_[0][i] = tag;
    tag_[1][i] = write ? tag : invalid_tag;
    tag_[2][i] = execute ? tag : invalid_tag;
    const std::uintptr_t addend =
        reinterpret_cast<std::uintptr_t>(host_page) -
        static_cast<std::uintptr_t>(va.raw() & ~page_offset_mask);
    addend_[i] = addend;
    global_[i] = global;
    if (global) [[unlikely]]
      globals_[m] = true;
    return host_address(addend, va);
  }

  /// Effects: drops the page containing `va` in both modes, whatever the
  /// generation of its entry.
  void invalidate(vaddr va) noexcept {
    const std::uint64_t page = va.raw() >> page_shift;
    for (std::size_t m = 0; m < 2; ++m) {
      const std::size_t i = m * entries_per_mode + (page & (sets - 1)) * ways;
      for (std::size_t w = 0; w < ways; ++w)
        if ((tag_[0][i + w] & page_mask) == page) clear(i + w);
    }
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
    for (std::size_t i = 0; i < all_entries; ++i) {
      const std::uint64_t t = tag_[0][i];
      if (t != invalid_tag && (t & page_mask) >= lo && (t & page_mask) <= last)
        clear(i);
    }
  }

  /// Effects: drops everything (a CR3 write with CR4.PGE clear, or INVPCID
  /// all-contexts) by moving to the next generation. Complexity: O(1),
  /// except that the flush after max_generation clears every entry.
  void flush() noexcept {
    if (current_ == max_generation << generation_shift) [[unlikely]] {
      clear_all();
      current_ = 0;
    } else {
      current_ += std::uint64_t{1} << generation_shift;
    }
    epoch_ = current_;
    for (unsigned m = 0; m < 2; ++m) globals_[m] = dormant_[m] = false;
  }

  /// Effects: drops every entry not cached from a global (G=1) page, as a
  /// CR3 write with CR4.PGE=1 does: moves to the next generation, leaving
  /// the global entries filled since the last flush() dormant. Complexity:
  /// O(1), except that the flush after max_generation moves the global
  /// entries to generation 0 and clears every other entry.
  void flush_non_global() noexcept {
    if (current_ == max_generation << generation_shift) [[unlikely]] {
      for (std::size_t i = 0; i < all_entries; ++i) {
        if (global_live(i))
          retag(i, 0);
        else
          clear(i);
      }
      current_ = epoch_ = 0;
      for (unsigned m = 0; m < 2; ++m) dormant_[m] = false;
      return;
    }
    current_ += std::uint64_t{1} << generation_shift;
    for (unsigned m = 0; m < 2; ++m) dormant_[m] = globals_[m];
  }

  /// Whether the entries are consistent: a write or execute tag is the
  /// read tag or invalid_tag, every page sits in its own set, once per set,
  /// in no generation after the current one, and a cleared entry is not
  /// global. Complexity: O(entries * ways).
  bool check_invariants() const noexcept {
    if (epoch_ > current_) return false;
    for (unsigned m = 0; m < 2; ++m)
      if (dormant_[m] && !globals_[m]) return false;
    for (std::size_t i = 0; i < all_entries; ++i) {
      const std::uint64_t t = tag_[0][i];
      if (t == invalid_tag) {
        if (tag_[1][i] != invalid_tag || tag_[2][i] != invalid_tag ||
            global_[i])
          return false;
        continue;
      }
      if ((tag_[1][i] != invalid_tag && tag_[1][i] != t) ||
          (tag_[2][i] != invalid_tag && tag_[2][i] != t))
        return false;
      if ((t & ~page_mask) > current_) return false;
      const std::size_t set = (i % entries_per_mode) / ways;
      if (((t & page_mask) & (sets - 1)) != set) return false;
      for (std::size_t j = i + 1; j < (i / ways + 1) * ways; ++j)
        if (tag_[0][j] != invalid_tag &&
            (tag_[0][j] & page_mask) == (t & page_mask))
          return false;
    }
    return true;
  }

  /// The number of entries holding a page, dormant global ones included
  /// (for tests).
  std::size_t debug_valid_entries() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < all_entries; ++i) n += live(i);
    return n;
  }

  /// The current generation (for tests).
  std::uint64_t debug_generation() const noexcept {
    return current_ >> generation_shift;
  }

  /// Requires: generation <= max_generation. Effects: flush(), then goes on
  /// from `generation`, so that a test reaches the wrap-around in a few
  /// flushes (for tests).
  void debug_restart_at(std::uint64_t generation) noexcept {
    MMKIT_ASSERT(generation <= max_generation);
    clear_all();
    current_ = epoch_ = generation << generation_shift;
    for (unsigned m = 0; m < 2; ++m) globals_[m] = dormant_[m] = false;
  }

  /// Calls f(page, mode, writable, executable, host_page) for every cached
  /// page, dormant global ones included: what a coherence check compares
  /// with a fresh walk (for tests).
  template <class F>
  void debug_for_each(F&& f) const {
    for (std::size_t i = 0; i < all_entries; ++i) {
      if (!live(i)) continue;
      const vaddr page{(tag_[0][i] & page_mask) << page_shift};
      f(page, static_cast<cpu_mode>(i / entries_per_mode),
        tag_[1][i] != invalid_tag, tag_[2][i] != invalid_tag,
        host_address(addend_[i], page));
    }
  }

 private:
  static constexpr std::size_t all_entries = 2 * entries_per_mode;
  static constexpr std::size_t npos = ~std::size_t{0};

  /// The first entry of `page`'s set in `mode`.
  MMKIT_ALWAYS_INLINE static std::size_t index(std::uint64_t page,
                                               cpu_mode mode) noexcept {
    return static_cast<unsigned>(mode) * entries_per_mode +
           (page & (sets - 1)) * ways;
  }

  /// Whether entry i is a global one filled since the last flush() (in the
  /// current generation or dormant).
  bool global_live(std::size_t i) const noexcept {
    return global_[i] && tag_[0][i] != invalid_tag && tag_[0][i] >= epoch_;
  }
  /// Whether a lookup can return entry i (a dormant one after revive()).
  bool live(std::size_t i) const noexcept {
    return (tag_[0][i] & ~page_mask) == current_ || global_live(i);
  }

  /// The dormant global entry of the page of the last of the `Size` bytes at
  /// `va` in the set of the first, or npos.
  template <std::size_t Size>
  std::size_t find_dormant(vaddr va, cpu_mode mode) const noexcept {
    const std::uint64_t want = (va.raw() + (Size - 1)) >> page_shift;
    const std::size_t i = index(va.raw() >> page_shift, mode);
    for (std::size_t w = 0; w < ways; ++w)
      if ((tag_[0][i + w] & page_mask) == want && global_live(i + w) &&
          (tag_[0][i + w] & ~page_mask) != current_)
        return i + w;
    return npos;
  }

  /// Moves entry i to the generation `generation_bits` (shifted), keeping
  /// the kinds of access it allows.
  void retag(std::size_t i, std::uint64_t generation_bits) noexcept {
    for (auto& t : tag_)
      if (t[i] != invalid_tag) t[i] = (t[i] & page_mask) | generation_bits;
  }

  void clear(std::size_t i) noexcept {
    tag_[0][i] = tag_[1][i] = tag_[2][i] = invalid_tag;
    addend_[i] = 0;
    global_[i] = false;
  }

  void clear_all() noexcept {
    for (std::size_t i = 0; i < all_entries; ++i) clear(i);
  }

  /// The current generation, shifted into place: ORed into every tag
  /// compared and filled.
  std::uint64_t current_ = 0;
  /// The generation of the last flush(), shifted: a global entry of this
  /// generation or later is still valid.
  std::uint64_t epoch_ = 0;
  /// Per mode: a global page was filled since the last flush().
  bool globals_[2] = {};
  /// Per mode: flush_non_global() left such a page dormant since.
  bool dormant_[2] = {};
  /// One array per field, user entries first: entry i is tag_[k][i] for
  /// each access kind k, addend_[i] and global_[i]. Indexing every array
  /// with the same scaled index keeps the hit path free of a multiply.
  std::uint64_t tag_[3][all_entries];
  std::uintptr_t addend_[all_entries];
  bool global_[all_entries];
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
//
// Flushes are O(1) as in the TLB: the tag holds the generation of its fill
// above the region number (bits 63:64-region_shift), find() compares with
// the current one, and flush() moves to the next; the flush after
// max_generation clears the 64 entries and starts again from 0.
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
  /// The lowest bit of a tag's generation: region numbers take the bits
  /// below it.
  static constexpr unsigned generation_shift = 64 - region_shift;
  /// The region-number bits of a tag.
  static constexpr std::uint64_t region_mask =
      (std::uint64_t{1} << generation_shift) - 1;
  /// The last generation; the flush after it wraps around to 0.
  static constexpr std::uint64_t max_generation =
      (std::uint64_t{1} << region_shift) - 2;
  /// Generation all ones, which is never current, so it matches no region.
  static constexpr std::uint64_t invalid_tag = ~std::uint64_t{0};

  struct entry {
    std::uint64_t tag;
    entry_type* table;
    entry_type upper_and;
    entry_type upper_or;
  };

  paging_structure_cache() noexcept { clear_all(); }

  /// The entry for `va`'s region, or null. Complexity: one compare.
  MMKIT_ALWAYS_INLINE const entry* find(vaddr va) const noexcept {
    const std::uint64_t r = va.raw() >> region_shift;
    const entry& e = entries_[r & (Entries - 1)];
    return e.tag == (r | current_) ? &e : nullptr;
  }

  /// Requires: `table` and the rights are what a walk of `va` just reported
  /// (table_walk_outcome), with A set in every upper level it passed.
  /// Effects: caches them for `va`'s region (rights normalised as above),
  /// replacing what was in its slot. Returns: the entry.
  MMKIT_ALWAYS_INLINE const entry& fill(vaddr va, entry_type* table,
                                        entry_type upper_and,
                                        entry_type upper_or) noexcept {
    MMKIT_ASSERT(table != nullptr);
    using codec = entry_codec<Arch>;
    const std::uint64_t r = va.raw() >> region_shift;
    entry& e = entries_[r & (Entries - 1)];
    e = entry{r | current_, table,
              static_cast<entry_type>(upper_and | ~(codec::RW | codec::US)),
              static_cast<entry_type>(upper_or & codec::XD)};
    return e;
  }

  /// Effects: drops the entry of `va`'s region, if cached.
  void invalidate(vaddr va) noexcept {
    const std::uint64_t r = va.raw() >> region_shift;
    entry& e = entries_[r & (Entries - 1)];
    if (e.tag == (r | current_)) clear(e);
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
      if (e.tag == (r | current_)) clear(e);
      if (r == hi) break;
    }
  }

  /// Effects: drops everything (a CR3 write, INVPCID, or any INVLPG on the
  /// processor) by moving to the next generation. Complexity: O(1), except
  /// that the flush after max_generation clears every entry.
  void flush() noexcept {
    if (current_ == max_generation << generation_shift) [[unlikely]] {
      clear_all();
      current_ = 0;
    } else {
      current_ += std::uint64_t{1} << generation_shift;
    }
  }

  /// The number of regions cached (for tests).
  std::size_t debug_valid_entries() const noexcept {
    std::size_t n = 0;
    for (const auto& e : entries_) n += (e.tag & ~region_mask) == current_;
    return n;
  }

  /// The current generation (for tests).
  std::uint64_t debug_generation() const noexcept {
    return current_ >> generation_shift;
  }

  /// Requires: generation <= max_generation. Effects: flush(), then goes on
  /// from `generation` (for tests of the wrap-around).
  void debug_restart_at(std::uint64_t generation) noexcept {
    MMKIT_ASSERT(generation <= max_generation);
    clear_all();
    current_ = generation << generation_shift;
  }

 private:
  static void clear(entry& e) noexcept {
    e = entry{invalid_tag, nullptr, 0, 0};
  }

  void clear_all() noexcept {
    for (auto& e : entries_) clear(e);
  }

  /// The current generation, shifted into place.
  std::uint64_t current_ = 0;
  entry entries_[Entries];
};

}  // namespace mmkit
