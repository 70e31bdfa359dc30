#pragma once
// The page walker: translates a virtual address through page tables held in
// any PhysicalMemory, the way the processor does, and explains its answer.
//
// walk<Arch>(memory, root, va, access, mode) starts at the root table (the
// CR3 value) and reads one entry per level (SDM vol. 3A, 4.3-4.5):
//
//   root ──► entry[level n-1] ──► ... ──► entry[level k] (PS=1 or k = 0)
//              │ P=0: stop, classify the NT software PTE
//              │ reserved bit set: stop, reserved_bits (#PF with RSVD)
//              └ rights: R/W and U/S are ANDed and XD ORed over the levels
//
// and returns a translation: the physical address, the page size, the
// effective rights, the entry kind and level where the walk stopped, and
// (explain mode) every raw entry read with its physical address. Rights are
// checked as with CR0.WP=1 (a supervisor write to a read-only page faults)
// and CR4.SMEP/SMAP clear (the supervisor may read and execute user pages).
//
// Accessed and dirty bits: when the memory is writable and the caller asks
// for it (ad_update::set), the walk sets A in each paging-structure entry it
// uses, as the processor does when it loads the entry (SDM 4.8 "Accessed and
// Dirty Flags"; so a walk that faults lower down may leave A set above), and
// sets A in the leaf, plus D on a write, only when the access is permitted.
// PAE PDPTEs have no A bit (bit 5 is reserved there) and are never written.
// A read-only image (a PhysicalMemory that is not writable) is never
// written either.
//
// Cost per level: the index, a bounds check of the table, one load, the
// rights folding (an AND and an OR) and a single mask test that sends
// anything unusual (not present, PS, a reserved bit, A still clear) to the
// slow branch. The level loop is unrolled at compile time, so every
// per-level constant (shift, masks) is an immediate.
//
// A paging-structure cache (see paging/tlb.hpp) skips the upper levels:
// walk_to_leaf_table() walks down to the leaf table and reports it with the
// rights folded above it, and walk_leaf() does the last step from there,
// with the same code as the full walk (so the same A/D behaviour).

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/access.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/config.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace mmkit {

static_assert(std::endian::native == std::endian::little,
              "x86 page tables are little-endian words read in place");

/// Whether a permitted walk sets A and D bits as the processor does.
enum class ad_update : std::uint8_t { set, leave };

/// The essentials of a walk, without the explanation (the TLB's refill).
struct walk_outcome {
  entry_kind kind = entry_kind::zero;
  /// The access is permitted: kind == valid and the rights suffice.
  bool allowed = false;
  /// Effective rights, combined over every level read (valid only).
  bool writable = false, user = false, executable = false;
  /// G and D of the leaf, D as it is after this walk.
  bool global = false, dirty = false;
  /// Leaf-relative level of the entry where the walk stopped.
  std::uint8_t level = 0;
  /// The physical address `va` translates to (valid only).
  paddr address{};
  /// The size of the page that maps `va` (valid only).
  std::uint64_t page_bytes = 0;

  constexpr bool ok() const noexcept {
    return kind == entry_kind::valid && allowed;
  }
};

/// A walk with its explanation: every entry read, root first.
template <arch::PagingArch A>
struct translation : walk_outcome {
  using entry_type = typename A::entry_type;
  /// How many entries were read (entries[0 .. depth)).
  unsigned depth = 0;
  std::array<entry_type, A::levels> entries{};
  std::array<paddr, A::levels> entry_addresses{};

  /// The SDM name of the entry where the walk stopped ("PDE").
  constexpr const char* level_name() const noexcept {
    return A::level[level].name;
  }
  /// The raw entry where the walk stopped (0 when none was read).
  constexpr entry_type last_entry() const noexcept {
    return depth == 0 ? entry_type{0} : entries[depth - 1];
  }
};

namespace detail {

template <arch::PagingArch A, class Result, class Memory>
struct walk_state {
  Memory& memory;
  vaddr va;
  access acc;
  cpu_mode mode;
  ad_update update;
  Result& out;
  /// R/W and U/S ANDed, XD ORed over the entries that carry rights: two
  /// instructions per level instead of three boolean folds.
  typename A::entry_type and_bits = ~typename A::entry_type{0};
  typename A::entry_type or_bits = 0;
};

template <class Result, class W>
MMKIT_ALWAYS_INLINE constexpr void record(Result& out, W e, std::uint64_t ea) {
  if constexpr (requires { out.entries; }) {
    out.entry_addresses[out.depth] = paddr{ea};
    out.entries[out.depth++] = e;
  } else {
    (void)out;
    (void)e;
    (void)ea;
  }
}

template <arch::PagingArch A, unsigned Level, class State>
MMKIT_ALWAYS_INLINE constexpr void walk_level(State& s, std::uint64_t table);

/// One entry `e` of `Level`, read from `slot` (null for read-only memory):
/// folds its rights, stops on anything unusual, sets A where due, and
/// either finishes at a leaf or descends into the table it references.
template <arch::PagingArch A, unsigned Level, class State>
MMKIT_ALWAYS_INLINE constexpr void walk_entry(State& s,
                                              typename A::entry_type* slot,
                                              typename A::entry_type e) {
  using W = typename A::entry_type;
  using codec = entry_codec<A>;
  using memory_type = std::remove_reference_t<decltype(s.memory)>;
  constexpr bool writable = WritablePhysicalMemory<memory_type>;
  constexpr arch::level_desc d = A::level[Level];
  constexpr bool has_a = writable && d.access_bits;
  // The common case in one test: present, A already set (where the walk
  // may set it), no PS, no reserved bit. The large-page reserved bits are
  // not in the mask: they overlap the address of a table, and PS=1 takes
  // the slow branch anyway, where reserved_set() checks them.
  constexpr W odd_mask =
      static_cast<W>(codec::P | (has_a ? codec::A_ : 0) |
                     (d.large_page ? codec::PS : 0) | d.reserved);
  constexpr W usual = static_cast<W>(codec::P | (has_a ? codec::A_ : 0));

  if constexpr (d.access_bits) {
    s.and_bits &= e;
    if constexpr (A::has_nx) s.or_bits |= e;
  }
  bool leaf = Level == 0;
  if (Level == 0 || (e & odd_mask) != usual) [[unlikely]] {
    if (!(e & codec::P)) {
      s.out.level = Level;
      s.out.kind = software_pte<W>::classify(e);
      return;
    }
    if (codec::reserved_set(e, Level)) {
      s.out.level = Level;
      s.out.kind = entry_kind::reserved_bits;
      return;
    }
    if constexpr (d.large_page) leaf = (e & codec::PS) != 0;
    // A paging-structure entry the walk passes through gets A at once, as
    // the processor sets it when it uses the entry; a leaf gets A (and D)
    // only when the access is permitted (below).
    if constexpr (has_a) {
      if (!leaf && !(e & codec::A_) && s.update == ad_update::set)
        *slot = static_cast<W>(*slot | codec::A_);
    }
  }
  if (leaf) {
    s.out.level = Level;
    s.out.kind = entry_kind::valid;
    s.out.page_bytes = d.span();
    s.out.address = paddr{codec::page_address(e, Level).raw() |
                          (s.va.raw() & (d.span() - 1))};
    const bool w = (s.and_bits & codec::RW) != 0;
    const bool u = (s.and_bits & codec::US) != 0;
    const bool x = !(s.or_bits & codec::XD);
    s.out.writable = w;
    s.out.user = u;
    s.out.executable = x;
    s.out.global = (e & codec::G) != 0;
    s.out.dirty = (e & codec::D) != 0;
    const bool allowed = (s.mode != cpu_mode::user || u) &&
                         (s.acc != access::write || w) &&
                         (s.acc != access::execute || x);
    s.out.allowed = allowed;
    if constexpr (writable) {
      if (allowed && s.update == ad_update::set) {
        const W add = s.acc == access::write
                          ? static_cast<W>(codec::A_ | codec::D)
                          : codec::A_;
        // A valid entry changes only in its own space's calls: `e` is
        // still what the slot holds.
        if ((e & add) != add) [[unlikely]] {
          *slot = static_cast<W>(e | add);
          s.out.dirty = ((e | add) & codec::D) != 0;
        }
      }
    }
    return;
  } else if constexpr (Level > 0) {
    walk_level<A, Level - 1>(s, A::frame_address(e));
  }
}

/// Reads the entry of `Level` in the table at physical address `table` and
/// goes on from it (see walk_entry). A Result with a `leaf_table` member
/// stops at the level-0 table instead, before reading the leaf, with the
/// table's host address and the rights folded over the levels above it:
/// what a paging-structure cache keeps.
template <arch::PagingArch A, unsigned Level, class State>
MMKIT_ALWAYS_INLINE constexpr void walk_level(State& s, std::uint64_t table) {
  using W = typename A::entry_type;
  using memory_type = std::remove_reference_t<decltype(s.memory)>;
  constexpr bool writable = WritablePhysicalMemory<memory_type>;

  const std::uint64_t ea =
      table + std::uint64_t{arch::table_index<A>(s.va, Level)} * sizeof(W);
  if ((ea >> page_shift) >= s.memory.frame_count()) [[unlikely]] {
    s.out.level = Level;
    s.out.kind = entry_kind::beyond_memory;
    return;
  }
  W* slot = nullptr;
  W e;
  if constexpr (writable) {
    W* const frame =
        reinterpret_cast<W*>(s.memory.frame(pfn{ea >> page_shift}));
    if constexpr (Level == 0 && requires { s.out.leaf_table; }) {
      s.out.leaf_table = frame;
      s.out.upper_and = s.and_bits;
      s.out.upper_or = s.or_bits;
      return;
    }
    slot = frame + (ea & page_offset_mask) / sizeof(W);
    e = load_entry(slot);
  } else {
    e = *reinterpret_cast<const W*>(s.memory.read_frame(pfn{ea >> page_shift}) +
                                    (ea & page_offset_mask));
  }
  record(s.out, e, ea);
  walk_entry<A, Level>(s, slot, e);
}

template <arch::PagingArch A, class Result, class Memory>
MMKIT_ALWAYS_INLINE constexpr void walk_into(Result& out, Memory& memory,
                                             paddr root, vaddr va, access acc,
                                             cpu_mode mode, ad_update update) {
  if (!arch::is_canonical<A>(va)) [[unlikely]] {
    out.kind = entry_kind::non_canonical;
    out.level = static_cast<std::uint8_t>(A::levels - 1);
    return;
  }
  walk_state<A, Result, Memory> s{memory, va, acc, mode, update, out};
  walk_level<A, A::levels - 1>(s, root.raw());
}

}  // namespace detail

/// Requires: `root` is the physical address of arch A's root table (CR3's
/// address bits) in `memory`.
/// Effects: translates `va` for `acc` in `mode`; when `memory` is writable
/// and `update` is ad_update::set, a permitted access sets A bits (and D on
/// a write) as the processor would.
/// Returns: the translation with its explanation. Complexity: O(levels).
template <arch::PagingArch A, PhysicalMemory Memory>
constexpr translation<A> walk(Memory& memory, paddr root, vaddr va,
                              access acc = access::read,
                              cpu_mode mode = cpu_mode::user,
                              ad_update update = ad_update::set) noexcept {
  translation<A> t;
  detail::walk_into<A>(t, memory, root, va, acc, mode, update);
  return t;
}
/// Overload for read-only memory (an image): never writes.
template <arch::PagingArch A, PhysicalMemory Memory>
constexpr translation<A> walk(const Memory& memory, paddr root, vaddr va,
                              access acc = access::read,
                              cpu_mode mode = cpu_mode::user) noexcept {
  translation<A> t;
  detail::walk_into<A>(t, memory, root, va, acc, mode, ad_update::leave);
  return t;
}

/// The same walk without the explanation: what a TLB refill needs.
template <arch::PagingArch A, PhysicalMemory Memory>
constexpr walk_outcome walk_fast(Memory& memory, paddr root, vaddr va,
                                 access acc, cpu_mode mode,
                                 ad_update update) noexcept {
  walk_outcome t;
  detail::walk_into<A>(t, memory, root, va, acc, mode, update);
  return t;
}

/// The upper part of a walk: what a paging-structure cache keeps about the
/// levels above the leaf (SDM 4.10.3 "Paging-Structure Caches").
template <arch::PagingArch A>
struct table_walk_outcome : walk_outcome {
  using entry_type = typename A::entry_type;
  /// The host address of the level-0 table the walk reached, or null when
  /// it stopped above level 0 (a large page, a fault, a table beyond
  /// memory; the walk_outcome then says what happened).
  entry_type* leaf_table = nullptr;
  /// R/W and U/S ANDed, XD ORed over every level above the leaf.
  entry_type upper_and = 0, upper_or = 0;
};

/// Requires: as walk. Effects: walks `va` from the root down to its leaf
/// table, as walk_fast does (A set in each upper entry passed), and stops
/// there without reading the leaf: finish with walk_leaf(). When the walk
/// ends above the leaf, the result is walk_fast's, with leaf_table null.
template <arch::PagingArch A, WritablePhysicalMemory Memory>
constexpr table_walk_outcome<A> walk_to_leaf_table(Memory& memory, paddr root,
                                                   vaddr va, access acc,
                                                   cpu_mode mode,
                                                   ad_update update) noexcept {
  table_walk_outcome<A> t;
  detail::walk_into<A>(t, memory, root, va, acc, mode, update);
  return t;
}

/// The last step of a walk alone, for a paging-structure cache hit.
/// Requires: `leaf_table` is the host address of the level-0 table that
/// the walk of `va` reaches; `upper_and`/`upper_or` are the rights folded
/// over the levels above it (as table_walk_outcome reports them), and those
/// levels still hold what they held then, with A set wherever a walk sets
/// it (so skipping them changes no A bit). `va` is canonical.
/// Effects: as walk_fast from the leaf entry on (A, and D on a write, set
/// when permitted and `update` says so). Complexity: O(1).
template <arch::PagingArch A, WritablePhysicalMemory Memory>
MMKIT_ALWAYS_INLINE constexpr walk_outcome walk_leaf(
    Memory& memory, typename A::entry_type* leaf_table,
    typename A::entry_type upper_and, typename A::entry_type upper_or, vaddr va,
    access acc, cpu_mode mode, ad_update update) noexcept {
  walk_outcome t;
  detail::walk_state<A, walk_outcome, Memory> s{memory, va,     acc,
                                                mode,   update, t};
  s.and_bits = upper_and;
  s.or_bits = upper_or;
  typename A::entry_type* slot = leaf_table + arch::table_index<A>(va, 0);
  detail::walk_entry<A, 0>(s, slot, load_entry(slot));
  return t;
}

}  // namespace mmkit
