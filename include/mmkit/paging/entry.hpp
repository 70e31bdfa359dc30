#pragma once
// Page-table entries, bit-exact: the hardware format of a present entry
// (Intel SDM vol. 3A, 4.3-4.5, tables "Format of a ... Entry") and NT's
// software formats of a not-present one, as constexpr encode/decode over the
// raw word.
//
// Hardware bits of a present entry (high bit first):
//
//   63  62..MAXPHYADDR  MAXPHYADDR-1..12  11..9  8  7     6  5  4   3   2   1 0
//   XD  reserved/ign.   frame address     ign.   G  PS/PAT D  A  PCD PWT U/S
//   R/W P
//
// PS (bit 7) says "maps a page" in a PDE or PDPTE of a level that allows large
// pages; in a PTE bit 7 is PAT, and in a large-page entry PAT moves to bit 12.
// G and D mean something only in an entry that maps a page. x86_32 entries
// are 32 bits wide and have no XD.
//
// NT software PTEs (P clear), the same positions in 32- and 64-bit entries:
//
//   bits   0   1..4         5..9         10         11          12..
//          P=0 page file #  protection   prototype  transition  (see below)
//
//   kind         test (in this order)          payload
//   prototype    bit 10                        prototype-pool index, bits 12..
//   transition   bit 11                        PFN in the frame field
//   page file    file # or file offset != 0    offset: bits 31..12 (32-bit
//                                              entries) or 63..32 (64-bit)
//   demand-zero  protection != 0               -
//   zero         nothing set                   - (the VAD decides)
//
// A prototype entry holds an index into the system's prototype-PTE pool
// rather than a host pointer so that a 32-bit entry can hold it; its
// protection field, when not zero, overrides the prototype's (NT's
// MM_PROTECT_FROM_PROTOTYPE convention is a zero field). Bits 12..31 of a
// 64-bit page-file entry belong to no field; classification ignores them.

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>
#include <mmkit/core/protection.hpp>

#include <concepts>
#include <cstdint>
#include <type_traits>

namespace mmkit {

/// The hardware bits of a paging-structure entry (SDM 4.3-4.5).
namespace hw {
using present = bit_flag<0>;
using writable = bit_flag<1>;
using user = bit_flag<2>;
using write_through = bit_flag<3>;  // PWT
using cache_disable = bit_flag<4>;  // PCD
using accessed = bit_flag<5>;
using dirty = bit_flag<6>;
using page_size = bit_flag<7>;  // PS in PDEs/PDPTEs of large-page levels
using pat_4k = bit_flag<7>;     // PAT in a PTE
using global = bit_flag<8>;
using pat_large = bit_flag<12>;   // PAT in a PS=1 entry
using no_execute = bit_flag<63>;  // XD, 64-bit entries only

/// Whether `e`, an entry of any x86 format (P and D are bits 0 and 6 in
/// each), is present and dirty: its page was written since D was cleared.
template <std::unsigned_integral Entry>
constexpr bool present_and_dirty(Entry e) noexcept {
  constexpr Entry both = present::mask<Entry>() | dirty::mask<Entry>();
  return (e & both) == both;
}
}  // namespace hw

/// What a leaf mapping allows and how it is cached: the caller's view of
/// R/W, U/S, XD, G, PWT, PCD and PAT. A present page is always readable.
enum class page_attr : std::uint16_t {
  none = 0,
  write = 1 << 0,
  user = 1 << 1,
  execute = 1 << 2,  // XD clear (always on for x86_32, which has no XD)
  global = 1 << 3,
  write_through = 1 << 4,
  cache_disable = 1 << 5,
  pat = 1 << 6,
};
constexpr page_attr operator|(page_attr a, page_attr b) noexcept {
  return static_cast<page_attr>(static_cast<std::uint16_t>(a) |
                                static_cast<std::uint16_t>(b));
}
constexpr page_attr operator&(page_attr a, page_attr b) noexcept {
  return static_cast<page_attr>(static_cast<std::uint16_t>(a) &
                                static_cast<std::uint16_t>(b));
}
constexpr page_attr operator~(page_attr a) noexcept {
  return static_cast<page_attr>(~static_cast<std::uint16_t>(a) & 0x7F);
}
constexpr page_attr& operator|=(page_attr& a, page_attr b) noexcept {
  return a = a | b;
}
/// Whether every flag of `f` is in `a`.
constexpr bool has(page_attr a, page_attr f) noexcept {
  return (a & f) == f;
}

/// A leaf entry that another thread may rewrite while this one reads it:
/// the system repurposes a standby frame under the PFN lock alone, turning
/// a transition PTE into its page-file or prototype form while the space's
/// own thread walks its tables for a guest access (lock_policy.hpp). Such
/// words are read and written with relaxed atomics, which are plain moves
/// on x86; nothing else about the entry needs ordering.
template <std::unsigned_integral W>
constexpr W load_entry(const W* slot) noexcept {
  if (std::is_constant_evaluated()) return *slot;
  return __atomic_load_n(slot, __ATOMIC_RELAXED);
}
template <std::unsigned_integral W>
constexpr void store_entry(W* slot, W value) noexcept {
  if (std::is_constant_evaluated())
    *slot = value;
  else
    __atomic_store_n(slot, value, __ATOMIC_RELAXED);
}

/// What a walk found in the entry where it stopped.
enum class entry_kind : std::uint8_t {
  valid,          // P=1: a page is mapped
  zero,           // P=0, nothing recorded
  demand_zero,    // P=0, protection only
  page_file,      // P=0, the page is in a page file
  transition,     // P=0, the page is still in memory (standby/modified)
  prototype,      // P=0, refers to a section's prototype PTE
  reserved_bits,  // P=1 with a must-be-zero bit set (#PF with RSVD)
  non_canonical,  // the address is outside the arch's address space (#GP)
  beyond_memory,  // a table address points past the physical memory
};

constexpr const char* entry_kind_name(entry_kind k) noexcept {
  switch (k) {
    case entry_kind::valid: return "valid";
    case entry_kind::zero: return "zero";
    case entry_kind::demand_zero: return "demand-zero";
    case entry_kind::page_file: return "page-file";
    case entry_kind::transition: return "transition";
    case entry_kind::prototype: return "prototype";
    case entry_kind::reserved_bits: return "reserved-bit violation";
    case entry_kind::non_canonical: return "non-canonical";
    case entry_kind::beyond_memory: return "beyond physical memory";
  }
  return "?";
}

/// NT's software formats of a not-present entry of width W (32 or 64 bits).
template <std::unsigned_integral W>
struct software_pte {
  static_assert(sizeof(W) == 4 || sizeof(W) == 8);
  static constexpr bool wide = sizeof(W) == 8;

  using file_number = bit_field<4, 1>;
  using protection_field = bit_field<9, 5>;
  using prototype_bit = bit_flag<10>;
  using transition_bit = bit_flag<11>;
  using file_offset =
      std::conditional_t<wide, bit_field<63, 32>, bit_field<31, 12>>;
  using transition_frame =
      std::conditional_t<wide, bit_field<51, 12>, bit_field<31, 12>>;
  using prototype_index =
      std::conditional_t<wide, bit_field<63, 12>, bit_field<31, 12>>;

  static constexpr std::uint64_t max_page_files = 16;
  static constexpr std::uint64_t max_file_offset =
      (std::uint64_t{1} << file_offset::width) - 1;
  static constexpr std::uint64_t max_transition_frame =
      (std::uint64_t{1} << transition_frame::width) - 1;
  static constexpr std::uint64_t max_prototype_index =
      prototype_index::width >= 64
          ? ~std::uint64_t{0}
          : (std::uint64_t{1} << prototype_index::width) - 1;

  /// Requires: `protection` fits in 5 bits and is not 0.
  static constexpr W demand_zero(std::uint8_t protection) noexcept {
    MMKIT_ASSERT(protection != 0 && protection <= mm::mask);
    return protection_field::set(W{0}, protection);
  }
  /// Requires: file < 16, offset <= max_file_offset, (file, offset) !=
  /// (0, 0) (that word would read back as demand-zero: NT never uses page
  /// offset 0 of page file 0).
  static constexpr W page_file(std::uint8_t protection, unsigned file,
                               std::uint64_t offset) noexcept {
    MMKIT_ASSERT(protection <= mm::mask && file < max_page_files &&
                 offset <= max_file_offset && (file | offset) != 0);
    W e = protection_field::set(W{0}, protection);
    e = file_number::set(e, file);
    return file_offset::set(e, offset);
  }
  /// Requires: frame <= max_transition_frame.
  static constexpr W transition(std::uint8_t protection, pfn frame) noexcept {
    MMKIT_ASSERT(protection <= mm::mask && frame.raw() <= max_transition_frame);
    W e = protection_field::set(W{0}, protection);
    e = static_cast<W>(e | transition_bit::mask<W>());
    return transition_frame::set(e, frame.raw());
  }
  /// Requires: index <= max_prototype_index. A zero `protection` means "the
  /// prototype's protection applies".
  static constexpr W prototype(std::uint8_t protection,
                               std::uint64_t index) noexcept {
    MMKIT_ASSERT(protection <= mm::mask && index <= max_prototype_index);
    W e = protection_field::set(W{0}, protection);
    e = static_cast<W>(e | prototype_bit::mask<W>());
    return prototype_index::set(e, index);
  }

  /// The kind of entry `e` (valid when P is set).
  static constexpr entry_kind classify(W e) noexcept {
    if (e & W{1}) return entry_kind::valid;
    if (e & prototype_bit::mask<W>()) return entry_kind::prototype;
    if (e & transition_bit::mask<W>()) return entry_kind::transition;
    if (e & (file_number::mask<W>() | file_offset::template mask<W>()))
      return entry_kind::page_file;
    if (e & protection_field::mask<W>()) return entry_kind::demand_zero;
    return entry_kind::zero;
  }

  static constexpr std::uint8_t protection(W e) noexcept {
    return static_cast<std::uint8_t>(protection_field::get(e));
  }
  static constexpr unsigned page_file_number(W e) noexcept {
    return static_cast<unsigned>(file_number::get(e));
  }
  static constexpr std::uint64_t page_file_offset(W e) noexcept {
    return file_offset::get(e);
  }
  static constexpr pfn frame(W e) noexcept {
    return pfn{transition_frame::get(e)};
  }
  static constexpr std::uint64_t index(W e) noexcept {
    return prototype_index::get(e);
  }
};

/// A present entry, every field spelled out (for explanations and tests).
struct decoded_entry {
  bool present = false, writable = false, user = false;
  bool write_through = false, cache_disable = false;
  bool accessed = false, dirty = false, large = false, global = false;
  bool pat = false, no_execute = false;
  std::uint64_t address = 0;   // table, page or large-page address
  std::uint64_t reserved = 0;  // must-be-zero bits that are set
  friend constexpr bool operator==(const decoded_entry&,
                                   const decoded_entry&) = default;
};

/// Encode and decode the present entries of arch A, level by level.
template <arch::PagingArch A>
struct entry_codec {
  using entry_type = typename A::entry_type;
  static constexpr entry_type bit_of(std::uint64_t mask) noexcept {
    return static_cast<entry_type>(mask);
  }
  static constexpr entry_type P = bit_of(hw::present::mask<std::uint64_t>());
  static constexpr entry_type RW = bit_of(hw::writable::mask<std::uint64_t>());
  static constexpr entry_type US = bit_of(hw::user::mask<std::uint64_t>());
  static constexpr entry_type PWT =
      bit_of(hw::write_through::mask<std::uint64_t>());
  static constexpr entry_type PCD =
      bit_of(hw::cache_disable::mask<std::uint64_t>());
  static constexpr entry_type A_ = bit_of(hw::accessed::mask<std::uint64_t>());
  static constexpr entry_type D = bit_of(hw::dirty::mask<std::uint64_t>());
  static constexpr entry_type PS = bit_of(hw::page_size::mask<std::uint64_t>());
  static constexpr entry_type G = bit_of(hw::global::mask<std::uint64_t>());
  static constexpr entry_type PAT_LARGE =
      bit_of(hw::pat_large::mask<std::uint64_t>());
  /// XD, or 0 for formats without it.
  static constexpr entry_type XD =
      A::has_nx ? bit_of(hw::no_execute::mask<std::uint64_t>()) : 0;

  static constexpr bool is_present(entry_type e) noexcept { return e & P; }
  /// Whether a present entry at `level` maps a page (rather than a table).
  static constexpr bool maps_page(entry_type e, unsigned level) noexcept {
    return level == 0 || (A::level[level].large_page && (e & PS));
  }
  /// The must-be-zero bits set in a present entry at `level` (0: none).
  static constexpr entry_type reserved_set(entry_type e,
                                           unsigned level) noexcept {
    const auto& d = A::level[level];
    const bool large = level != 0 && d.large_page && (e & PS);
    return static_cast<entry_type>(e & (large ? d.reserved_large : d.reserved));
  }

  /// The entry at `level` that references a table at `table` (4 KiB
  /// aligned): P|R/W|U/S so that the leaf alone decides, or P alone in a
  /// PAE PDPTE.
  static constexpr entry_type table_entry(paddr table,
                                          unsigned level) noexcept {
    MMKIT_ASSERT(level > 0 && is_aligned(table.raw(), page_size));
    // Never truncate: a table beyond what the entry can name would make
    // the walk reach some other frame (another process's page, say).
    MMKIT_ASSERT(table.raw() < arch::frame_phys_limit<A>());
    const entry_type flags = A::level[level].access_bits ? (P | RW | US) : P;
    return static_cast<entry_type>(A::encode_frame(table.raw()) | flags);
  }

  /// The entry at `level` (0 for 4 KiB, else a large-page level) mapping
  /// the page at `pa` with `attrs`.
  /// Requires: pa aligned to the level's span and one the entry can name:
  /// below arch::frame_phys_limit (4 KiB pages: 4 GiB on x86_32) or
  /// 2^MAXPHYADDR (large pages). Encoding never truncates an address.
  static constexpr entry_type leaf_entry(paddr pa, unsigned level,
                                         page_attr attrs) noexcept {
    MMKIT_ASSERT(level == 0 || A::level[level].large_page);
    MMKIT_ASSERT(is_aligned(pa.raw(), A::level[level].span()));
    MMKIT_ASSERT(pa.raw() < (level == 0 ? arch::frame_phys_limit<A>()
                                        : arch::phys_limit<A>()));
    entry_type e = level == 0
                       ? A::encode_frame(pa.raw())
                       : static_cast<entry_type>(
                             A::encode_large_frame(pa.raw(), level) | PS);
    return static_cast<entry_type>(e | P | attribute_bits(level, attrs));
  }

  /// `e` (a present leaf at `level`) with its attributes replaced by
  /// `attrs`; address, A and D are kept.
  static constexpr entry_type with_attributes(entry_type e, unsigned level,
                                              page_attr attrs) noexcept {
    const entry_type all =
        static_cast<entry_type>(RW | US | G | PWT | PCD | XD | pat_bit(level));
    return static_cast<entry_type>((e & ~all) | attribute_bits(level, attrs));
  }

  /// The attributes of a present leaf entry at `level`.
  static constexpr page_attr attributes(entry_type e, unsigned level) noexcept {
    page_attr a = page_attr::none;
    if (e & RW) a |= page_attr::write;
    if (e & US) a |= page_attr::user;
    if (!(e & XD)) a |= page_attr::execute;
    if (e & G) a |= page_attr::global;
    if (e & PWT) a |= page_attr::write_through;
    if (e & PCD) a |= page_attr::cache_disable;
    if (e & pat_bit(level)) a |= page_attr::pat;
    return a;
  }

  /// The physical address of the page a present leaf at `level` maps.
  static constexpr paddr page_address(entry_type e, unsigned level) noexcept {
    return paddr{level == 0 ? A::frame_address(e)
                            : A::large_frame_address(e, level)};
  }

  /// Every field of a present entry at `level`.
  static constexpr decoded_entry decode(entry_type e, unsigned level) noexcept {
    decoded_entry d;
    d.present = e & P;
    d.writable = e & RW;
    d.user = e & US;
    d.write_through = e & PWT;
    d.cache_disable = e & PCD;
    d.accessed = e & A_;
    d.large = level != 0 && A::level[level].large_page && (e & PS);
    const bool page = level == 0 || d.large;
    d.dirty = page && (e & D);
    d.global = page && (e & G);
    d.pat = page && (e & pat_bit(level));
    d.no_execute = e & XD;
    d.address =
        d.large ? A::large_frame_address(e, level) : A::frame_address(e);
    d.reserved = reserved_set(e, level);
    return d;
  }

 private:
  static constexpr entry_type pat_bit(unsigned level) noexcept {
    return level == 0 ? PS : PAT_LARGE;
  }
  static constexpr entry_type attribute_bits(unsigned level,
                                             page_attr a) noexcept {
    entry_type e = 0;
    if (has(a, page_attr::write)) e |= RW;
    if (has(a, page_attr::user)) e |= US;
    if (!has(a, page_attr::execute)) e |= XD;
    if (has(a, page_attr::global)) e |= G;
    if (has(a, page_attr::write_through)) e |= PWT;
    if (has(a, page_attr::cache_disable)) e |= PCD;
    if (has(a, page_attr::pat)) e |= pat_bit(level);
    return e;
  }
};

}  // namespace mmkit
