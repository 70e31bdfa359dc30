#pragma once
// pfn_entry: the 32-byte record the PFN database keeps for every physical
// frame, NT's MMPFN in a layout of its own.
//
// Layout (little end first; every packed field is encoded and decoded with
// core/bits.hpp over the raw word, never with C++ bit-fields):
//
//   offset  size  field
//   0       4     next_          list flink: a frame index, or no_frame
//   4       4     prev_          list blink: a frame index, or no_frame
//   8       4     share_count_   PTEs that map the frame; for a page-table
//                                frame, the table's use count
//   12      2     reference_count_  reasons the frame must stay (mapping, I/O)
//   14      2     flags_         15..12 spare | 11..10 pending release |
//                                9 bad pending | 8 page table | 7 linked |
//                                6 prototype | 5 write in progress |
//                                4 read in progress | 3 modified | 2..0 state
//   16      8     link_          63..54 colour | 53..0 physical address of
//                                the PTE, or the prototype PTE's index
//   24      8     original_pte_  the PTE to restore when the frame is
//                                repurposed (page-file or prototype form)
//
// The state is NT's PageLocation: the list a frame is on (zeroed, free,
// standby, modified, modified-no-write, bad) or the two off-list states,
// active (mapped or held) and transition (unmapped, but still referenced,
// e.g. by I/O in progress). An entry is a plain record: only pfn_database
// changes the entries it owns, and it keeps the lists and counts consistent
// with them. It writes an entry whole before it first reads it (a frame
// that was never handed out has no entry yet: see "Fresh frames" in
// pfn_database.hpp), so entry storage needs no initialisation.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>

#include <cstdint>
#include <type_traits>

namespace mmkit {

/// Where a frame is: NT's PageLocation values.
enum class page_state : std::uint8_t {
  zeroed = 0,
  free = 1,
  standby = 2,
  modified = 3,
  modified_no_write = 4,
  bad = 5,
  active = 6,
  transition = 7,
};

inline constexpr unsigned page_state_count = 8;

/// Whether frames in state `s` sit on one of the database's lists.
constexpr bool is_list_state(page_state s) noexcept {
  return static_cast<unsigned>(s) <= static_cast<unsigned>(page_state::bad);
}

/// A short English name for `s` (for messages and tests).
constexpr const char* page_state_name(page_state s) noexcept {
  switch (s) {
    case page_state::zeroed: return "zeroed";
    case page_state::free: return "free";
    case page_state::standby: return "standby";
    case page_state::modified: return "modified";
    case page_state::modified_no_write: return "modified-no-write";
    case page_state::bad: return "bad";
    case page_state::active: return "active";
    case page_state::transition: return "transition";
  }
  return "?";
}

/// What the owner of a frame wants done with it once nothing references it.
enum class release_to : std::uint8_t {
  /// No backing copy: the page is being deleted (a private demand-zero page
  /// freed, a page-table page): the frame goes to the free list.
  free_list = 0,
  /// The page has a backing copy (page file or mapped file): clean frames go
  /// to standby, dirty frames to modified, so a soft fault can take them back.
  backing_store = 1,
  /// As backing_store, but a dirty page must not be written yet (e.g. the
  /// file system cannot accept the write): dirty frames go to the
  /// modified-no-write list until allow_write().
  backing_store_no_write = 2,
};

/// The kind of PTE an entry's back-link names.
enum class pte_kind : std::uint8_t {
  none,       ///< no back-link (a frame not mapped by any PTE)
  hardware,   ///< a PTE in a page table, named by its physical address
  prototype,  ///< a section's prototype PTE, named by its pool index
};

/// The back-link from a frame to the PTE that maps it (NT's PteAddress plus
/// the PrototypePte flag). For a hardware PTE the address also names the
/// page-table frame that holds it.
struct pte_link {
  pte_kind kind = pte_kind::none;
  /// The PTE's physical address (hardware) or the prototype PTE's index.
  std::uint64_t value = 0;

  /// The largest value a link can hold (54 bits: every MAXPHYADDR fits).
  static constexpr std::uint64_t max_value = (std::uint64_t{1} << 54) - 1;

  static constexpr pte_link hardware_pte(paddr address) noexcept {
    return {pte_kind::hardware, address.raw()};
  }
  static constexpr pte_link prototype_pte(std::uint64_t index) noexcept {
    return {pte_kind::prototype, index};
  }
  /// Requires: kind == pte_kind::hardware. The PTE's physical address.
  constexpr paddr address() const noexcept {
    MMKIT_ASSERT(kind == pte_kind::hardware);
    return paddr{value};
  }
  /// Requires: kind == pte_kind::hardware. The page-table frame holding it.
  constexpr pfn table_frame() const noexcept { return address().frame(); }

  friend constexpr bool operator==(const pte_link&, const pte_link&) = default;
};

/// The packed fields of pfn_entry, named high bit first.
namespace pfn_fields {
using state = bit_field<2, 0>;
using modified = bit_flag<3>;
using read_in_progress = bit_flag<4>;
using write_in_progress = bit_flag<5>;
using prototype = bit_flag<6>;
using linked = bit_flag<7>;
using page_table = bit_flag<8>;
using bad_pending = bit_flag<9>;
using pending_release = bit_field<11, 10>;

using colour = bit_field<63, 54>;
using link_value = bit_field<53, 0>;
}  // namespace pfn_fields

/// One frame's record. See the header comment for the layout.
class pfn_entry {
 public:
  /// The list-link value meaning "no frame" (end of list, or not on a list).
  static constexpr std::uint32_t no_frame = 0xFFFF'FFFFu;
  /// The largest colour an entry can hold.
  static constexpr std::uint32_t max_colour = 0x3FF;

  // --- queries ----------------------------------------------------------

  constexpr page_state state() const noexcept {
    return static_cast<page_state>(pfn_fields::state::get(flags_));
  }
  constexpr std::uint32_t next() const noexcept { return next_; }
  constexpr std::uint32_t prev() const noexcept { return prev_; }
  constexpr std::uint32_t share_count() const noexcept { return share_count_; }
  constexpr std::uint16_t reference_count() const noexcept {
    return reference_count_;
  }
  constexpr bool modified() const noexcept {
    return pfn_fields::modified::get(flags_) != 0;
  }
  constexpr bool read_in_progress() const noexcept {
    return pfn_fields::read_in_progress::get(flags_) != 0;
  }
  constexpr bool write_in_progress() const noexcept {
    return pfn_fields::write_in_progress::get(flags_) != 0;
  }
  /// Whether the back-link names a prototype PTE (NT's u3.e1.PrototypePte).
  constexpr bool prototype() const noexcept {
    return pfn_fields::prototype::get(flags_) != 0;
  }
  /// Whether the frame holds a page table (counted by the database).
  constexpr bool page_table() const noexcept {
    return pfn_fields::page_table::get(flags_) != 0;
  }
  /// Whether the frame was marked bad while in use: it goes to the bad list
  /// instead of any other when it is released.
  constexpr bool bad_pending() const noexcept {
    return pfn_fields::bad_pending::get(flags_) != 0;
  }
  /// Where a transition frame goes when its last reference is dropped.
  constexpr release_to pending_release() const noexcept {
    return static_cast<release_to>(pfn_fields::pending_release::get(flags_));
  }
  constexpr std::uint32_t colour() const noexcept {
    return static_cast<std::uint32_t>(pfn_fields::colour::get(link_));
  }
  constexpr pte_link link() const noexcept {
    if (pfn_fields::linked::get(flags_) == 0) return {};
    return {prototype() ? pte_kind::prototype : pte_kind::hardware,
            pfn_fields::link_value::get(link_)};
  }
  constexpr std::uint64_t original_pte() const noexcept {
    return original_pte_;
  }
  constexpr std::uint16_t raw_flags() const noexcept { return flags_; }

  // --- updates (pfn_database's; they keep no invariant by themselves) -----

  constexpr void set_next(std::uint32_t i) noexcept { next_ = i; }
  constexpr void set_prev(std::uint32_t i) noexcept { prev_ = i; }
  constexpr void set_state(page_state s) noexcept {
    flags_ = pfn_fields::state::set(flags_, static_cast<unsigned>(s));
  }
  constexpr void set_share_count(std::uint32_t n) noexcept { share_count_ = n; }
  /// The share count as an lvalue: a page-table frame's use count lives
  /// here (FrameSource::table_use_count).
  constexpr std::uint32_t& share_count_ref() noexcept { return share_count_; }
  constexpr void set_reference_count(std::uint16_t n) noexcept {
    reference_count_ = n;
  }
  constexpr void set_modified(bool on) noexcept {
    flags_ = pfn_fields::modified::set(flags_, on);
  }
  constexpr void set_read_in_progress(bool on) noexcept {
    flags_ = pfn_fields::read_in_progress::set(flags_, on);
  }
  constexpr void set_write_in_progress(bool on) noexcept {
    flags_ = pfn_fields::write_in_progress::set(flags_, on);
  }
  constexpr void set_page_table(bool on) noexcept {
    flags_ = pfn_fields::page_table::set(flags_, on);
  }
  constexpr void set_bad_pending(bool on) noexcept {
    flags_ = pfn_fields::bad_pending::set(flags_, on);
  }
  constexpr void set_pending_release(release_to r) noexcept {
    flags_ = pfn_fields::pending_release::set(flags_, static_cast<unsigned>(r));
  }
  /// Requires: colour <= max_colour.
  constexpr void set_colour(std::uint32_t colour) noexcept {
    MMKIT_ASSERT(colour <= max_colour);
    link_ = pfn_fields::colour::set(link_, colour);
  }
  /// Requires: link.value <= pte_link::max_value.
  constexpr void set_link(pte_link link) noexcept {
    MMKIT_ASSERT(link.value <= pte_link::max_value);
    link_ = pfn_fields::link_value::set(link_, link.value);
    flags_ = pfn_fields::linked::set(flags_, link.kind != pte_kind::none);
    flags_ =
        pfn_fields::prototype::set(flags_, link.kind == pte_kind::prototype);
  }
  /// Requires: the entry holds a hardware link already, and `link` is a
  /// hardware link. Effects: as set_link(link), writing the link's value
  /// alone: the flags word is not touched (a caller without the PFN lock,
  /// whose write must not undo a flag set under it: frame_cache.hpp).
  constexpr void set_hardware_link_value(pte_link link) noexcept {
    MMKIT_ASSERT(link.kind == pte_kind::hardware &&
                 link.value <= pte_link::max_value);
    link_ = pfn_fields::link_value::set(link_, link.value);
  }
  constexpr void set_original_pte(std::uint64_t pte) noexcept {
    original_pte_ = pte;
  }
  /// Requires: `colour` is the entry's colour.
  /// Effects: the entry of a frame just taken off a list for a new use:
  /// state active, share and reference count 1, no back-link, no original
  /// PTE, no flags. (Passing the colour in, rather than keeping it from the
  /// old word, lets a one-colour database write the entry as constants.)
  constexpr void reset_active(std::uint32_t colour) noexcept {
    MMKIT_ASSERT(colour == this->colour());
    next_ = no_frame;
    prev_ = no_frame;
    share_count_ = 1;
    reference_count_ = 1;
    flags_ = static_cast<std::uint16_t>(page_state::active);
    link_ = pfn_fields::colour::set(std::uint64_t{0}, colour);
    original_pte_ = 0;
  }

 private:
  std::uint32_t next_ = no_frame;
  std::uint32_t prev_ = no_frame;
  std::uint32_t share_count_ = 0;
  std::uint16_t reference_count_ = 0;
  std::uint16_t flags_ = 0;
  std::uint64_t link_ = 0;
  std::uint64_t original_pte_ = 0;
};

static_assert(sizeof(pfn_entry) <= 32, "a PFN entry is at most 32 bytes");
static_assert(sizeof(pfn_entry) == 32);
static_assert(std::is_trivially_copyable_v<pfn_entry>);
static_assert(std::is_standard_layout_v<pfn_entry>);

}  // namespace mmkit
