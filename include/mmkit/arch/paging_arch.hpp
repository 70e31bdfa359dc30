#pragma once
// The PagingArch concept: everything mmkit needs to know about one paging
// mode of a processor, and the NT address-space layout that goes with it.
//
// An arch is a struct of compile-time constants, described per level in the
// manner of Zircon's paging traits so that one walker and one page_table
// cover the 10/10, 2/9/9, 9/9/9/9 and 9/9/9/9/9 hierarchies of the Intel SDM
// (vol. 3A, chapter 4, "Paging"). Levels are counted from the leaf:
//
//   level      x86_32    x86_pae   x86_64    x86_la57   maps with PS=1
//   0 (leaf)   PTE       PTE       PTE       PTE        4 KiB (always)
//   1          PDE       PDE       PDE       PDE        4 MiB / 2 MiB
//   2                    PDPTE     PDPTE     PDPTE      1 GiB (64-bit only)
//   3                              PML4E     PML4E      -
//   4                                        PML5E      -
//
// so level L translates virtual-address bits [shift, shift + index_bits) and
// an entry there with PS=1 maps a page of 2^shift bytes. The root table is
// level levels-1; CR3 holds its physical address.
//
// The per-level reserved masks are the bits the SDM marks "Reserved (must be
// 0)" for a present entry, given the arch's MAXPHYADDR; a walk that finds one
// set stops with a reserved-bit fault, as the processor raises #PF with
// PFEC.RSVD. Every arch here assumes CR4.PSE=1 (x86_32), EFER.NXE=1 (the
// 64-bit-entry formats) and CR0.WP=1, which is how NT runs.
//
// A commented example arch, showing every requirement, closes this header.

#include <mmkit/core/address.hpp>
#include <mmkit/core/bits.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace mmkit::arch {

/// One level of a paging hierarchy (leaf-relative numbering, see above).
struct level_desc {
  /// The SDM's name for an entry of this level ("PTE", "PDE", "PML4E").
  const char* name = "";
  /// How many virtual-address bits this level translates.
  unsigned index_bits = 0;
  /// The lowest virtual-address bit of this level's index; an entry here
  /// spans 2^shift bytes.
  unsigned shift = 0;
  /// Whether PS=1 may map a page of 2^shift bytes at this level.
  bool large_page = false;
  /// Whether R/W, U/S, A and XD exist in this level's entries. False only for
  /// PAE PDPTEs, which the processor loads into registers at CR3 write and
  /// which carry P, PWT, PCD and the address only (SDM 4.4.1).
  bool access_bits = true;
  /// Bits that must be zero in a present entry that references a table (or,
  /// at level 0, maps a 4 KiB page).
  std::uint64_t reserved = 0;
  /// Bits that must be zero in a present entry with PS=1 (large pages only).
  std::uint64_t reserved_large = 0;

  constexpr std::uint64_t span() const noexcept {
    return std::uint64_t{1} << shift;
  }
  constexpr std::uint64_t entries() const noexcept {
    return std::uint64_t{1} << index_bits;
  }
};

// The concept is built from small named pieces so that a compiler error names
// the requirement an arch misses.

/// The entry word: 32 or 64 bits, unsigned.
template <class A>
concept HasEntryType = requires {
  typename A::entry_type;
}
&&std::unsigned_integral<typename A::entry_type> &&
    (sizeof(typename A::entry_type) == 4 ||
     sizeof(typename A::entry_type) == 8);

/// The hierarchy: `levels` level_descs, leaf first, and address widths.
template <class A>
concept HasLevels = requires {
  { A::name } -> std::convertible_to<const char*>;
  { A::levels } -> std::convertible_to<unsigned>;
  { A::level[0] } -> std::convertible_to<level_desc>;
  /// Width of a virtual address; 64-bit formats sign-extend bit va_bits-1
  /// (canonical addresses), 32-bit formats zero-extend.
  { A::va_bits } -> std::convertible_to<unsigned>;
  { A::sign_extended } -> std::convertible_to<bool>;
  /// MAXPHYADDR: physical-address bits an entry can name.
  { A::max_phys_bits } -> std::convertible_to<unsigned>;
  /// Whether entries have the XD (NX) bit 63.
  { A::has_nx } -> std::convertible_to<bool>;
};

/// The NT layout of an address space on this arch.
template <class A>
concept HasNtLayout = requires {
  { A::page_size } -> std::convertible_to<std::uint64_t>;
  { A::allocation_granularity } -> std::convertible_to<std::uint64_t>;
  /// MM_LOWEST_USER_ADDRESS and MM_HIGHEST_USER_ADDRESS (inclusive).
  { A::lowest_user_address } -> std::convertible_to<std::uint64_t>;
  { A::highest_user_address } -> std::convertible_to<std::uint64_t>;
  /// The first address of system (kernel) space.
  { A::kernel_base } -> std::convertible_to<std::uint64_t>;
};

/// How a frame address is stored in an entry.
template <class A>
concept HasFrameCodec = HasEntryType<A> &&
    requires(typename A::entry_type e, std::uint64_t pa, unsigned level) {
  /// The address of the table (or 4 KiB page) an entry references.
  { A::frame_address(e) }
  noexcept->std::same_as<std::uint64_t>;
  /// The address of the large page a PS=1 entry at `level` maps.
  { A::large_frame_address(e, level) }
  noexcept->std::same_as<std::uint64_t>;
  /// The address bits of an entry referencing `pa` (4 KiB aligned).
  { A::encode_frame(pa) }
  noexcept->std::same_as<typename A::entry_type>;
  /// The address bits of a PS=1 entry at `level` mapping `pa`.
  { A::encode_large_frame(pa, level) }
  noexcept->std::same_as<typename A::entry_type>;
};

namespace detail {
/// The level table is self-consistent: 1..5 levels, the leaf at bit 12,
/// each level starting where the one below ends, no large page at the leaf
/// or the root level beyond what the SDM allows, va_bits covered exactly.
template <class A>
constexpr bool levels_consistent() noexcept {
  if (A::levels < 1 || A::levels > 5) return false;
  if (A::level[0].shift != page_shift || A::level[0].large_page) return false;
  for (unsigned l = 1; l < A::levels; ++l)
    if (A::level[l].shift != A::level[l - 1].shift + A::level[l - 1].index_bits)
      return false;
  const auto& top = A::level[A::levels - 1];
  if (top.shift + top.index_bits != A::va_bits) return false;
  if (A::max_phys_bits < 32 || A::max_phys_bits > 52) return false;
  return A::page_size == mmkit::page_size &&
         A::allocation_granularity == mmkit::allocation_granularity;
}
}  // namespace detail

template <class A>
concept PagingArch = HasEntryType<A> && HasLevels<A> && HasNtLayout<A> &&
    HasFrameCodec<A> && detail::levels_consistent<A>();

// --- arch-generic address arithmetic ---------------------------------------

/// The index of `va` in a table of `level`.
template <PagingArch A>
constexpr unsigned table_index(vaddr va, unsigned level) noexcept {
  const auto& d = A::level[level];
  return static_cast<unsigned>((va.raw() >> d.shift) & (d.entries() - 1));
}

/// Whether `va` is an address of this arch: below 2^va_bits for 32-bit
/// formats; bits 63..va_bits-1 all equal (canonical) for 64-bit formats.
template <PagingArch A>
constexpr bool is_canonical(vaddr va) noexcept {
  if constexpr (A::va_bits >= 64) {
    return true;
  } else if constexpr (A::sign_extended) {
    const auto s = static_cast<std::int64_t>(va.raw() << (64 - A::va_bits)) >>
                   (64 - A::va_bits);
    return static_cast<std::uint64_t>(s) == va.raw();
  } else {
    return (va.raw() >> A::va_bits) == 0;
  }
}

/// The level whose PS=1 entries (or, for 4 KiB, PTEs) map pages of `bytes`,
/// or -1 when the arch has no such page size.
template <PagingArch A>
constexpr int level_for_page_size(std::uint64_t bytes) noexcept {
  if (bytes == page_size) return 0;
  for (unsigned l = 1; l < A::levels; ++l)
    if (A::level[l].large_page && A::level[l].span() == bytes)
      return static_cast<int>(l);
  return -1;
}

/// The largest physical address an entry can name, plus one.
template <PagingArch A>
constexpr std::uint64_t phys_limit() noexcept {
  return std::uint64_t{1} << A::max_phys_bits;
}

/// One past the highest physical address a 4 KiB mapping or a reference to
/// a table can name: 4 GiB for x86_32, whose PTEs and PDEs keep a 20-bit
/// frame number (MAXPHYADDR 40 reaches only 4 MiB pages, through PSE-36),
/// and 2^MAXPHYADDR for the 64-bit-entry formats. Derived from the arch's
/// own codec: the widest address whose frame survives encode and decode.
template <PagingArch A>
constexpr std::uint64_t frame_phys_limit() noexcept {
  for (unsigned bits = A::max_phys_bits; bits > page_shift; --bits) {
    const std::uint64_t top = (std::uint64_t{1} << bits) - page_size;
    if (A::frame_address(A::encode_frame(top)) == top)
      return std::uint64_t{1} << bits;
  }
  return page_size;
}

/// One past the highest physical address the root table may have. In the
/// 32-bit paging modes CR3 is a 32-bit register, so the page directory
/// (x86_32) and the PDPT (PAE, SDM 4.4.1) lie below 4 GiB whatever the
/// entries could name; in IA-32e mode CR3 holds MAXPHYADDR bits.
template <PagingArch A>
constexpr std::uint64_t root_phys_limit() noexcept {
  constexpr std::uint64_t entries = frame_phys_limit<A>();
  constexpr std::uint64_t cr3 =
      A::va_bits <= 32 ? std::uint64_t{1} << 32 : entries;
  return cr3 < entries ? cr3 : entries;
}

// --- an example arch ------------------------------------------------------
//
// The smallest useful arch, kept compiled so that it stays correct: a
// two-level 32-bit scheme with no large pages. Every requirement of
// PagingArch appears once, with what it means.
struct example_two_level {
  using entry_type = std::uint32_t;  // the entry word
  static constexpr const char* name = "example";
  static constexpr unsigned levels = 2;  // tables on the way down
  static constexpr level_desc level[levels] = {
      // name  bits shift large  access reserved  reserved_large
      {"PTE", 10, 12, false, true, 0, 0},     // leaf: 4 KiB pages
      {"PDE", 10, 22, false, true, 0x80, 0},  // root; PS is reserved
  };
  static constexpr unsigned va_bits = 32;  // 10 + 10 + 12
  static constexpr bool sign_extended = false;
  static constexpr unsigned max_phys_bits = 32;
  static constexpr bool has_nx = false;
  // NT layout
  static constexpr std::uint64_t page_size = 0x1000;
  static constexpr std::uint64_t allocation_granularity = 0x10000;
  static constexpr std::uint64_t lowest_user_address = 0x10000;
  static constexpr std::uint64_t highest_user_address = 0x7FFEFFFF;
  static constexpr std::uint64_t kernel_base = 0x80000000;
  // frame codec: table and page addresses sit in bits 31..12
  static constexpr std::uint64_t frame_address(entry_type e) noexcept {
    return e & 0xFFFFF000u;
  }
  static constexpr std::uint64_t large_frame_address(entry_type e,
                                                     unsigned) noexcept {
    return e & 0xFFFFF000u;
  }
  static constexpr entry_type encode_frame(std::uint64_t pa) noexcept {
    return static_cast<entry_type>(pa & 0xFFFFF000u);
  }
  static constexpr entry_type encode_large_frame(std::uint64_t pa,
                                                 unsigned) noexcept {
    return static_cast<entry_type>(pa & 0xFFFFF000u);
  }
};
static_assert(PagingArch<example_two_level>);

}  // namespace mmkit::arch
