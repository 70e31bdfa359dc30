#pragma once
// pfn_policies: the vocabulary and the policies of the PFN database: what a
// caller asks of it (page_need, initial_contents, write_outcome,
// content_check), the policies it is built from (StandbyOwner, the owner of
// the PTEs that name frames in transition; PfnColouring, which colour list
// a frame goes on) with their models, an archetype of its third policy
// (the memory, a WritablePhysicalMemory), the table of the state changes
// a frame may make, and the entry fields each state allows.
//
// Nothing here holds a frame; pfn_lists.hpp links frames into lists and
// pfn_database.hpp moves them between states. This header is what a user
// writing a policy needs, without the database.

#include <mmkit/core/address.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace mmkit {

/// What the caller of allocate() will do with the frame's bytes.
enum class page_need : std::uint8_t {
  zeroed,  ///< it needs zeros (demand-zero page, new page table)
  any,     ///< it overwrites every byte (page-in, copy-on-write copy)
};

/// What the frames hold when the database is built.
enum class initial_contents : std::uint8_t {
  unknown,  ///< every frame starts on the free list
  zero,     ///< the memory is known zero: every frame starts zeroed
};

/// How a (simulated) page write ended.
enum class write_outcome : std::uint8_t { succeeded, failed };

/// Whether check_invariants() also reads every zeroed frame's bytes.
enum class content_check : std::uint8_t { no, yes };

/// The owner of the PTEs that name standby and modified frames: the
/// database calls it back before it takes such a frame away.
template <class O>
concept StandbyOwner = requires(O& o, pfn frame, pte_link link,
                                std::uint64_t original_pte) {
  /// Rewrite the transition PTE at `link`, which names `frame`, into
  /// `original_pte` (its page-file or prototype form). Called before the
  /// frame is reused or marked bad; must not allocate from or release to
  /// the database for `frame`.
  { o.repurpose(frame, link, original_pte) }
  noexcept->std::same_as<void>;
};

/// The owner for a database whose frames are never left in transition
/// (a plain frame allocator, a page-table frame source): there is no PTE to
/// rewrite.
struct detached_owner {
  constexpr void repurpose(pfn, pte_link, std::uint64_t) noexcept {}
};
static_assert(StandbyOwner<detached_owner>);

/// Page colouring: which colour list a free or zeroed frame belongs to.
template <class C>
concept PfnColouring = requires(const C& c, pfn frame) {
  /// The number of colours: a power of two, at most pfn_entry::max_colour+1.
  { C::colour_count } -> std::convertible_to<std::uint32_t>;
  requires std::has_single_bit(static_cast<std::uint32_t>(C::colour_count));
  requires C::colour_count <= pfn_entry::max_colour + 1;
  /// The colour of `frame`, below colour_count.
  { c.colour_of(frame) }
  noexcept->std::same_as<std::uint32_t>;
};

/// One colour: a single zeroed and a single free list, at no cost.
struct no_colouring {
  static constexpr std::uint32_t colour_count = 1;
  constexpr std::uint32_t colour_of(pfn) const noexcept { return 0; }
};
static_assert(PfnColouring<no_colouring>);

/// `Colours` colours taken from the low bits of the frame number, as a
/// physically indexed cache of Colours * 4 KiB per way sees them.
template <std::uint32_t Colours>
struct frame_number_colouring {
  static constexpr std::uint32_t colour_count = Colours;
  constexpr std::uint32_t colour_of(pfn frame) const noexcept {
    return static_cast<std::uint32_t>(frame.raw() & (Colours - 1));
  }
};
static_assert(PfnColouring<frame_number_colouring<64>>);

namespace detail {

/// A WritablePhysicalMemory with nothing behind it, to prove at compile
/// time that pfn_database models FrameSource for any memory.
struct writable_memory_archetype {
  std::uint64_t frame_count() const noexcept;
  const std::byte* read_frame(pfn) const noexcept;
  std::byte* frame(pfn) noexcept;
};
static_assert(WritablePhysicalMemory<writable_memory_archetype>);

constexpr std::uint32_t pfn_state_bits(
    std::initializer_list<page_state> targets) noexcept {
  std::uint32_t m = 0;
  for (page_state t : targets) m |= 1u << static_cast<unsigned>(t);
  return m;
}

/// The legal state changes of a frame: one row per source state, a bit per
/// target state.
inline constexpr std::array<std::uint32_t, page_state_count>
    pfn_transition_table = {
        // zeroed: allocated, marked bad
        pfn_state_bits({page_state::active, page_state::bad}),
        // free: allocated, zeroed by the worker, marked bad
        pfn_state_bits(
            {page_state::active, page_state::zeroed, page_state::bad}),
        // standby: soft fault or repurposed, marked bad
        pfn_state_bits({page_state::active, page_state::bad}),
        // modified: soft fault, written, write started, bad once written
        pfn_state_bits({page_state::active, page_state::standby,
                        page_state::transition, page_state::bad}),
        // modified-no-write: soft fault, allowed to be written
        pfn_state_bits({page_state::active, page_state::modified}),
        // bad: never leaves
        0u,
        // active: released to any list but zeroed, or kept by I/O
        pfn_state_bits({page_state::free, page_state::standby,
                        page_state::modified, page_state::modified_no_write,
                        page_state::bad, page_state::transition}),
        // transition: soft fault, or the last reference goes
        pfn_state_bits({page_state::active, page_state::free,
                        page_state::standby, page_state::modified,
                        page_state::modified_no_write, page_state::bad}),
};

/// Whether the state machine allows `from` -> `to`: the one test of the
/// table above, asserted by every state change.
constexpr bool pfn_can_transition(page_state from, page_state to) noexcept {
  return (pfn_transition_table[static_cast<unsigned>(from)] >>
          static_cast<unsigned>(to)) &
         1u;
}

/// Whether the entry of a frame linked on a list has the fields its list
/// allows: no mapping, no I/O, not a page table; bad pending and modified
/// only on the dirty lists (where modified is required); standby clean.
/// pfn_database::check_invariants() tests every listed frame with it.
constexpr bool pfn_listed_entry_ok(const pfn_entry& e) noexcept {
  const page_state st = e.state();
  if (e.share_count() != 0 || e.reference_count() != 0) return false;
  if (e.page_table() || e.write_in_progress() || e.read_in_progress())
    return false;
  const bool dirty_list =
      st == page_state::modified || st == page_state::modified_no_write;
  if (e.bad_pending() && !dirty_list) return false;
  if (dirty_list && !e.modified()) return false;
  return !(st == page_state::standby && e.modified());
}

/// Whether a written entry has the counts its state needs: a page table is
/// active with one reference; an active frame is mapped and referenced; a
/// transition frame is unmapped but referenced.
constexpr bool pfn_materialised_entry_ok(const pfn_entry& e) noexcept {
  const page_state st = e.state();
  if (e.page_table())
    return st == page_state::active && e.reference_count() == 1;
  if (st == page_state::active)
    return e.share_count() != 0 && e.reference_count() != 0;
  if (st == page_state::transition)
    return e.share_count() == 0 && e.reference_count() != 0;
  return true;
}

}  // namespace detail

}  // namespace mmkit
