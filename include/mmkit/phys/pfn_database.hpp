#pragma once
// pfn_database: NT's page-frame state machine over simulated physical
// memory, with O(1) state lists and counts, and a FrameSource for page
// tables.
//
// Every frame [0, frame_count()) has one pfn_entry (storage from the
// caller) and is in exactly one place:
//
//   zeroed ──┐  free ──┐    standby ──┐   modified ──┐  modified-no-write ──┐
//   (per colour)(per colour) (FIFO)        (FIFO)         (FIFO)
//        │        │  ▲  zero_free_pages    │  ▲             │ allow_write()
//        │        │  └──────────▶ zeroed   │  │             └────▶ modified
//        ▼        ▼                        ▼  │ release        write done:
//   allocate(): zeroed, free, then the oldest standby (owner rewrites its PTE)
//        │                                            modified ──▶ standby
//        ▼
//      active ──decrement_share_count()──▶ free | standby | modified |
//        ▲  │                              modified-no-write | bad
//        │  └── share 0, references left ──▶ transition ──last reference──┘
//        └──────── reclaim() (soft fault) from standby/modified/no-write/
//                  transition
//   bad: a frame marked bad leaves every other list and never returns; an
//        active, transition or modified frame marked bad goes there when it
//        is released (or written).
//
// Lists are doubly linked through 32-bit frame indices in the entries, so
// insert, remove and move are O(1) and need no allocation. The zeroed and
// free lists are LIFO (the frame released last is reused first, while its
// entry and bytes are still in cache) and are split by colour when the
// colouring policy has more than one colour, as NT's MmFreePagesByColor.
// Standby, modified and modified-no-write are FIFO: the oldest frame is
// repurposed or written first.
//
// Whose PTE points where: while a frame is on standby, modified or
// modified-no-write, or in transition with a backed release pending, the
// owner's PTE is a transition PTE that names it. Whenever the database
// takes such a frame for another use (repurposing it for an allocation,
// moving it to the bad list), it first calls the owner (a StandbyOwner
// policy) with the back-link and the original PTE, so the owner rewrites
// the PTE into its page-file or prototype form. Operations that return a
// page_state tell the caller which PTE to write: standby, modified,
// modified-no-write or transition -> a transition PTE; free or bad -> the
// original (or a zero) PTE.
//
// Frames an entry cannot name: an x86_32 PTE holds a 20-bit frame number,
// so a 32-bit address space may only get frames below 4 GiB, while a 64-bit
// one may get any. Every allocation takes an exclusive bound (`end`), and the
// zeroed and free lists are split into two zones, the frames below 4 GiB
// (low_zone_frames) and those above, as Linux's ZONE_DMA32 and NT's
// per-node lists split them. An allocation allowed both takes high frames
// first, keeping low memory for the address spaces that can use nothing
// else. A bound inside the low zone (there is no other user) is served
// from the low lists; standby is one FIFO, and a bounded repurpose walks it
// to the oldest frame below the bound.
//
// Complexity: every operation is O(1) except the constructor and
// check_invariants() (O(frames)), zero_free_pages(n) (O(n) frames zeroed)
// and, with a colouring policy of C colours, allocation when the hinted
// colour is empty (O(C)), and a bounded standby repurpose (O(frames on
// standby above the bound)).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/phys/frame_source.hpp>
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

}  // namespace detail

/// The PFN database. See the header comment for the states and lists.
///
/// Memory: the frame bytes (zeroing goes through it). Owner: called back
/// before a frame whose PTE is in transition is taken away. Colouring: the
/// colour of each frame for the zeroed and free lists.
template <WritablePhysicalMemory Memory, StandbyOwner Owner = detached_owner,
          PfnColouring Colouring = no_colouring>
class pfn_database {
 public:
  using memory_type = Memory;
  using owner_type = Owner;
  using colouring_type = Colouring;
  static constexpr std::uint32_t colour_count = Colouring::colour_count;
  /// The most frames one database can hold (32-bit links, one value kept
  /// for "no frame").
  static constexpr std::uint64_t max_frames = pfn_entry::no_frame;
  /// The frames below 4 GiB: the low zone, the only frames a 32-bit entry
  /// (x86_32) can name.
  static constexpr std::uint64_t low_zone_frames = std::uint64_t{1} << 20;
  /// The bound that allows every frame.
  static constexpr pfn any_frame{max_frames};

  /// Requires: `entries` points to `count` entries that outlive the
  /// database; count <= memory.frame_count() and count <= max_frames.
  /// Effects: every frame [0, count) is put on the free list (or the zeroed
  /// list when `contents` is initial_contents::zero), lowest frame first.
  /// Complexity: O(count).
  pfn_database(Memory& memory, pfn_entry* entries, std::uint64_t count,
               initial_contents contents = initial_contents::unknown,
               Owner owner = Owner{},
               Colouring colouring = Colouring{}) noexcept
      : memory_(&memory),
        entries_(entries),
        frame_count_(static_cast<std::uint32_t>(count)),
        owner_(static_cast<Owner&&>(owner)),
        colouring_(static_cast<Colouring&&>(colouring)) {
    MMKIT_ASSERT(count <= max_frames);
    MMKIT_ASSERT(count <= memory.frame_count());
    MMKIT_ASSERT(count == 0 || entries != nullptr);
    const page_state list = contents == initial_contents::zero
                                ? page_state::zeroed
                                : page_state::free;
    for (std::uint32_t i = 0; i < frame_count_; ++i) {
      pfn_entry& e = entries_[i];
      e = pfn_entry{};
      const std::uint32_t c = colouring_.colour_of(pfn{i});
      MMKIT_ASSERT(c < colour_count);
      e.set_colour(c);
      e.set_state(list);
      push_back(list, c, i);
    }
    count_[static_cast<unsigned>(list)] = frame_count_;
  }

  pfn_database(const pfn_database&) = delete;
  pfn_database& operator=(const pfn_database&) = delete;

  // --- allocation ---------------------------------------------------------

  /// Effects: takes a frame and makes it active with share and reference
  /// count 1, no back-link and no flags. For page_need::zeroed: a zeroed
  /// frame, else a free frame zeroed on the spot; for page_need::any: a free
  /// frame, else a zeroed one. Frames of colour `colour_hint` (modulo the
  /// colour count) are preferred. When both lists are empty, the oldest
  /// standby frame is repurposed: the owner is called to rewrite its PTE,
  /// then it is zeroed if zeros are needed. Only frames below `end` are
  /// taken (high-zone frames first when `end` allows them; see the header
  /// comment). Requires: `end` is at least frame_count() or is 4 GiB
  /// (low_zone_frames).
  /// Returns: the frame, or status::no_memory when zeroed, free and standby
  /// hold no frame below `end` (modified frames must be written first).
  /// Complexity: O(1) (O(colours) when the hinted colour is empty), plus
  /// zeroing one page when needed.
  result<pfn> allocate(page_need need, std::uint32_t colour_hint = 0,
                       pfn end = any_frame) noexcept {
    // The common case first: the list the caller prefers has a frame of the
    // hinted colour in the highest zone it may use.
    const std::uint32_t c = colour_hint & (colour_count - 1);
    const page_state first =
        need == page_need::zeroed ? page_state::zeroed : page_state::free;
    // Bounds are "any frame" or 4 GiB (the zone split); see the header.
    MMKIT_ASSERT(end.raw() >= frame_count_ || end.raw() == low_zone_frames);
    const unsigned z = top_zone(end);
    if (head_of(first, c, z).first != pfn_entry::no_frame) [[likely]]
      return pfn{pop_front_active(first, c, z)};
    return allocate_slow(need, c, end);
  }

  /// Effects: as allocate(page_need::zeroed, 0, end), then flags the frame
  /// as a page table with use count (share count) 0. Part of FrameSource.
  result<pfn> allocate_table_frame(pfn end = any_frame) noexcept {
    result<pfn> r = allocate(page_need::zeroed, 0, end);
    if (!r) return r;
    pfn_entry& e = entries_[r->raw()];
    e.set_page_table(true);
    e.set_share_count(0);
    ++page_table_count_;
    return r;
  }

  /// Requires: `frame` came from allocate_table_frame() and its use count
  /// is 0. Effects: the frame goes to the free list (to the bad list if it
  /// was marked bad). Part of FrameSource. Complexity: O(1).
  void release_table_frame(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && e.page_table());
    MMKIT_ASSERT(e.share_count() == 0 && e.reference_count() == 1);
    e.set_page_table(false);
    e.set_reference_count(0);
    --page_table_count_;
    place_released(index(frame), e, page_state::active, release_to::free_list);
  }

  /// Requires: `frame` came from allocate_table_frame() and is not released.
  /// Returns: the table's use count, stored in the share-count field of the
  /// frame's entry. Part of FrameSource.
  std::uint32_t& table_use_count(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.page_table());
    return e.share_count_ref();
  }

  // --- the owner's view of an active frame -------------------------------

  /// Requires: `frame` is active. Effects: records the PTE that maps the
  /// frame and the PTE to restore when the frame is repurposed.
  /// Complexity: O(1).
  void set_pte_link(pfn frame, pte_link link,
                    std::uint64_t original_pte) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active);
    e.set_link(link);
    e.set_original_pte(original_pte);
  }

  /// Requires: `frame` is active or in transition. Effects: the frame's
  /// contents differ from its backing copy (it must be written before it
  /// can be repurposed).
  void set_modified(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active ||
                 e.state() == page_state::transition);
    e.set_modified(true);
  }
  /// Requires: `frame` is active or in transition. Effects: the frame's
  /// contents equal its backing copy.
  void clear_modified(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active ||
                 e.state() == page_state::transition);
    e.set_modified(false);
  }

  /// Requires: `frame` is active and not a page table. Effects: one more
  /// PTE maps the frame. Complexity: O(1).
  void increment_share_count(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && !e.page_table());
    MMKIT_ASSERT(e.share_count() != 0xFFFF'FFFFu);
    e.set_share_count(e.share_count() + 1);
  }

  /// Requires: `frame` is active, not a page table, share count > 0.
  /// Effects: one PTE fewer maps the frame. When the share count reaches
  /// zero the mapping's reference is dropped; if other references remain
  /// (I/O in progress) the frame goes to transition and `to` is remembered,
  /// otherwise it goes where `to` says: free_list -> free; backing_store ->
  /// standby if clean, modified if dirty; backing_store_no_write -> standby
  /// if clean, modified-no-write if dirty; and always bad if it was marked
  /// bad.
  /// Returns: the frame's state afterwards (see the header comment for the
  /// PTE the caller writes for each). Complexity: O(1).
  page_state decrement_share_count(pfn frame, release_to to) noexcept {
    const std::uint32_t i = index(frame);
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && !e.page_table());
    MMKIT_ASSERT(e.share_count() > 0 && e.reference_count() > 0);
    const std::uint32_t shares = e.share_count() - 1;
    e.set_share_count(shares);
    if (shares != 0) return page_state::active;
    const std::uint16_t refs =
        static_cast<std::uint16_t>(e.reference_count() - 1);
    e.set_reference_count(refs);
    if (refs != 0) {
      move_state(e, page_state::active, page_state::transition);
      e.set_pending_release(to);
      return page_state::transition;
    }
    return place_released(i, e, page_state::active, to);
  }

  /// Requires: share count is 1. Effects and returns: as
  /// decrement_share_count(frame, to): the frame's only mapping goes away.
  page_state release(pfn frame, release_to to) noexcept {
    MMKIT_ASSERT(checked_entry(frame).share_count() == 1);
    return decrement_share_count(frame, to);
  }

  /// Requires: `frame` is active or in transition. Effects: one more
  /// reason to keep the frame (I/O on it). Complexity: O(1).
  void add_reference(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active ||
                 e.state() == page_state::transition);
    MMKIT_ASSERT(e.reference_count() != 0xFFFF);
    e.set_reference_count(static_cast<std::uint16_t>(e.reference_count() + 1));
  }

  /// Requires: `frame` is active or in transition with reference count > 0,
  /// and an active frame keeps at least its mapping's reference.
  /// Effects: drops a reference; a transition frame whose last reference
  /// goes is placed as its pending release says (an owner whose release is
  /// overridden by a bad mark is called back first).
  /// Returns: the frame's state afterwards. Complexity: O(1).
  page_state remove_reference(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active ||
                 e.state() == page_state::transition);
    MMKIT_ASSERT(e.reference_count() > 0);
    const std::uint16_t refs =
        static_cast<std::uint16_t>(e.reference_count() - 1);
    e.set_reference_count(refs);
    if (refs != 0 || e.state() == page_state::active) {
      MMKIT_ASSERT(e.state() == page_state::transition || refs != 0);
      return e.state();
    }
    return place_transition(i, e);
  }

  /// Requires: `frame` is active. Effects: marks a page read in progress
  /// (a hard fault reading the frame from its backing store).
  void begin_read(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && !e.read_in_progress());
    e.set_read_in_progress(true);
  }
  /// Requires: begin_read(frame) came first. Effects: the read is done.
  void end_read(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.read_in_progress());
    e.set_read_in_progress(false);
  }

  // --- standby, modified and the modified page writer ---------------------

  /// Requires: `frame` is on the standby, modified, modified-no-write list
  /// or in transition (a soft fault: its PTE is a transition PTE).
  /// Effects: the frame becomes active with share count 1 and one more
  /// reference; its back-link, original PTE and modified flag are kept.
  /// Complexity: O(1).
  void reclaim(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    pfn_entry& e = checked_entry(frame);
    const page_state s = e.state();
    MMKIT_ASSERT(debug_can_transition(s, page_state::active) &&
                 s != page_state::zeroed && s != page_state::free);
    if (s == page_state::transition) {
      move_state(e, page_state::active);
    } else {
      unlink(i, e);
      move_state(e, page_state::active);
    }
    e.set_share_count(1);
    MMKIT_ASSERT(e.reference_count() != 0xFFFF);
    e.set_reference_count(static_cast<std::uint16_t>(e.reference_count() + 1));
  }

  /// Requires: `frame` is on the modified list. Effects: the simulated
  /// write of the frame to its backing store is done: the modified flag is
  /// cleared and the frame moves to the tail of standby (to bad, calling the
  /// owner first, if it was marked bad). Complexity: O(1).
  void move_to_standby_after_write(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::modified);
    unlink(i, e);
    e.set_modified(false);
    if (e.bad_pending()) {
      owner_.repurpose(frame, e.link(), e.original_pte());
      move_to_bad(i, e);
      return;
    }
    move_state(e, page_state::standby);
    push_back(page_state::standby, 0, i);
  }

  /// Requires: `frame` is on the modified list. Effects: an asynchronous
  /// write starts: the frame leaves the list and is in transition with one
  /// reference and write-in-progress set, until end_write(). A soft fault
  /// may reclaim() it meanwhile. Complexity: O(1).
  void begin_write(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::modified);
    unlink(i, e);
    move_state(e, page_state::transition);
    e.set_reference_count(1);
    e.set_write_in_progress(true);
    e.set_pending_release(release_to::backing_store);
  }

  /// Requires: begin_write(frame) came first. Effects: the write is over; on
  /// success the frame is clean. The write's reference is dropped: a frame
  /// nobody reclaimed goes to standby (success), back to modified (failure)
  /// or to bad (marked bad, owner called first).
  /// Returns: the frame's state afterwards. Complexity: O(1).
  page_state end_write(pfn frame, write_outcome outcome) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.write_in_progress());
    e.set_write_in_progress(false);
    if (outcome == write_outcome::succeeded) e.set_modified(false);
    return remove_reference(frame);
  }

  /// Requires: `frame` is on the modified-no-write list. Effects: it may be
  /// written now: it moves to the tail of the modified list. Complexity: O(1).
  void allow_write(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::modified_no_write);
    unlink(i, e);
    move_state(e, page_state::modified);
    push_back(page_state::modified, 0, i);
  }

  /// Requires: count(list) > 0, `list` is standby, modified,
  /// modified-no-write or bad. Returns: the oldest frame on it.
  pfn oldest(page_state list) const noexcept {
    MMKIT_ASSERT(is_list_state(list) && list != page_state::zeroed &&
                 list != page_state::free);
    MMKIT_ASSERT(count(list) > 0);
    return pfn{head_of(list, 0, 0).first};
  }

  // --- zeroing and bad frames ---------------------------------------------

  /// Effects: the zero page worker's step: up to `n` frames leave the free
  /// list, are zeroed and go to the zeroed list of their colour.
  /// Returns: the number of frames zeroed. Complexity: O(n) pages zeroed
  /// (plus O(colours) per empty colour skipped).
  std::uint64_t zero_free_pages(std::uint64_t n) noexcept {
    std::uint64_t done = 0;
    while (done < n && count_[state_index(page_state::free)] != 0) {
      std::uint32_t c = 0;
      const unsigned z = next_free_colour(c);
      const std::uint32_t i = head_of(page_state::free, c, z).first;
      pfn_entry& e = entries_[i];
      unlink(i, e);
      zero_frame(i);
      move_state(e, page_state::zeroed);
      push_front(page_state::zeroed, c, i);
      ++done;
    }
    return done;
  }

  /// Effects: the frame is bad and is never handed out again. A zeroed,
  /// free or standby frame moves to the bad list at once (for standby, the
  /// owner is called first to rewrite its PTE). An active, transition,
  /// modified or modified-no-write frame, whose contents are still needed,
  /// is flagged and goes to the bad list when it is released (or, for a
  /// modified frame, written). A bad frame stays bad. Complexity: O(1).
  void mark_bad(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    pfn_entry& e = checked_entry(frame);
    switch (e.state()) {
      case page_state::zeroed:
      case page_state::free:
        unlink(i, e);
        move_to_bad(i, e);
        return;
      case page_state::standby:
        unlink(i, e);
        owner_.repurpose(frame, e.link(), e.original_pte());
        move_to_bad(i, e);
        return;
      case page_state::modified:
      case page_state::modified_no_write:
      case page_state::active:
      case page_state::transition: e.set_bad_pending(true); return;
      case page_state::bad: return;
    }
  }

  // --- counts and thresholds ------------------------------------------------

  /// The number of frames in state `s`. Complexity: O(1).
  std::uint64_t count(page_state s) const noexcept {
    if (s == page_state::active) {
      // Not kept: one counter fewer to update on the hot path.
      std::uint64_t elsewhere = 0;
      for (unsigned k = 0; k < page_state_count; ++k) elsewhere += count_[k];
      return frame_count_ - elsewhere;
    }
    return count_[state_index(s)];
  }
  /// Frames that allocate() can hand out at once: zeroed + free + standby.
  std::uint64_t available() const noexcept {
    return count_[state_index(page_state::zeroed)] +
           count_[state_index(page_state::free)] +
           count_[state_index(page_state::standby)];
  }
  /// Frames that allocate(need, colour, end) can hand out at once: those
  /// of available() below `end`. Complexity: O(1).
  std::uint64_t available_below(pfn end) const noexcept {
    const std::uint64_t all = available();
    if (top_zone(end) == 1) return all;
    const std::uint64_t high = high_count_[state_index(page_state::zeroed)] +
                               high_count_[state_index(page_state::free)] +
                               high_count_[state_index(page_state::standby)];
    // A bound inside the low zone is 4 GiB in every arch that has one.
    MMKIT_ASSERT(end.raw() >= frame_count_ || end.raw() == low_zone_frames);
    return all - high;
  }
  /// Frames holding page tables (allocated by allocate_table_frame()).
  std::uint64_t page_table_count() const noexcept { return page_table_count_; }
  std::uint64_t frame_count() const noexcept { return frame_count_; }

  /// Requires: low <= high. Effects: sets the thresholds the owner tests
  /// with available_is_low() (start trimming working sets, writing modified
  /// pages) and available_is_high() (stop).
  void set_available_thresholds(std::uint64_t low,
                                std::uint64_t high) noexcept {
    MMKIT_ASSERT(low <= high);
    low_threshold_ = low;
    high_threshold_ = high;
  }
  bool available_is_low() const noexcept {
    return available() < low_threshold_;
  }
  bool available_is_high() const noexcept {
    return available() >= high_threshold_;
  }
  std::uint64_t low_threshold() const noexcept { return low_threshold_; }
  std::uint64_t high_threshold() const noexcept { return high_threshold_; }

  // --- access
  // -----------------------------------------------------------------

  /// Requires: frame < frame_count(). The frame's entry (read only: only
  /// the database changes entries).
  const pfn_entry& entry(pfn frame) const noexcept {
    MMKIT_ASSERT(frame.raw() < frame_count_);
    return entries_[frame.raw()];
  }
  Memory& memory() noexcept { return *memory_; }
  Owner& owner() noexcept { return owner_; }
  const Colouring& colouring() const noexcept { return colouring_; }

  // --- checks for tests ------------------------------------------------------

  /// Whether the state machine allows `from` -> `to`. Every state change
  /// the database makes asserts it.
  static constexpr bool debug_can_transition(page_state from,
                                             page_state to) noexcept {
    return (detail::pfn_transition_table[state_index(from)] >>
            state_index(to)) &
           1u;
  }

  /// The first frame on `list` (of colour `colour` and zone `zone`, 0 below
  /// 4 GiB, for zeroed and free), or pfn_entry::no_frame; walk on with
  /// entry(f).next().
  std::uint32_t debug_head(page_state list, std::uint32_t colour = 0,
                           unsigned zone = 0) const noexcept {
    MMKIT_ASSERT(is_list_state(list) && colour < colour_count && zone < 2);
    return head_of(list, colour, zone).first;
  }

  /// Returns: whether every frame is in exactly one place: every list is
  /// well linked both ways and holds only frames of its state (and colour),
  /// every count is right, off-list frames have the counts their state
  /// needs, and (with content_check::yes) every zeroed frame reads as zeros.
  /// Complexity: O(frames) (O(frames * page_size) with content_check::yes).
  bool check_invariants(
      content_check contents = content_check::no) const noexcept {
    std::array<std::uint64_t, page_state_count> on_lists{};
    std::array<std::uint64_t, page_state_count> high{};
    for (unsigned s = 0; s <= state_index(page_state::bad); ++s) {
      const page_state st = static_cast<page_state>(s);
      const std::uint32_t colours = is_coloured(st) ? colour_count : 1;
      for (std::uint32_t hc = 0; hc < colours * 2; ++hc) {
        const std::uint32_t c = hc % colours;
        const unsigned z = hc / colours;
        if (z == 1 && !is_coloured(st)) break;
        const list_head& h = head_of(st, c, z);
        std::uint32_t prev = pfn_entry::no_frame;
        std::uint64_t walked = 0;
        for (std::uint32_t i = h.first; i != pfn_entry::no_frame;) {
          if (i >= frame_count_ || ++walked > frame_count_) return false;
          const pfn_entry& e = entries_[i];
          if (e.state() != st || e.prev() != prev) return false;
          if (is_coloured(st) && (e.colour() != c || zone_of(i) != z))
            return false;
          high[s] += zone_of(i);
          if (e.share_count() != 0 || e.reference_count() != 0) return false;
          if (e.page_table() || e.write_in_progress() || e.read_in_progress())
            return false;
          if (e.bad_pending() && st != page_state::modified &&
              st != page_state::modified_no_write)
            return false;
          const bool dirty_list =
              st == page_state::modified || st == page_state::modified_no_write;
          if (dirty_list && !e.modified()) return false;
          if (st == page_state::standby && e.modified()) return false;
          if (contents == content_check::yes && st == page_state::zeroed &&
              !frame_is_zero(i))
            return false;
          prev = i;
          i = e.next();
        }
        if (h.last != prev) return false;
        on_lists[s] += walked;
      }
    }
    std::array<std::uint64_t, page_state_count> by_state{};
    std::uint64_t tables = 0;
    for (std::uint32_t i = 0; i < frame_count_; ++i) {
      const pfn_entry& e = entries_[i];
      const page_state st = e.state();
      ++by_state[state_index(st)];
      if (e.colour() != colouring_.colour_of(pfn{i})) return false;
      if (e.page_table()) {
        ++tables;
        if (st != page_state::active || e.reference_count() != 1) return false;
      } else if (st == page_state::active) {
        if (e.share_count() == 0 || e.reference_count() == 0) return false;
      } else if (st == page_state::transition) {
        if (e.share_count() != 0 || e.reference_count() == 0) return false;
      }
    }
    if (tables != page_table_count_) return false;
    std::uint64_t total = 0;
    for (unsigned s = 0; s < page_state_count; ++s) {
      if (count(static_cast<page_state>(s)) != by_state[s]) return false;
      if (s <= state_index(page_state::bad) &&
          (on_lists[s] != by_state[s] || high[s] != high_count_[s]))
        return false;
      total += count(static_cast<page_state>(s));
    }
    return total == frame_count_;
  }

 private:
  struct list_head {
    std::uint32_t first = pfn_entry::no_frame;
    std::uint32_t last = pfn_entry::no_frame;
  };

  static constexpr unsigned state_index(page_state s) noexcept {
    return static_cast<unsigned>(s);
  }
  static constexpr bool is_coloured(page_state list) noexcept {
    return list == page_state::zeroed || list == page_state::free;
  }
  /// 1 for a frame above 4 GiB, else 0.
  static constexpr unsigned zone_of(std::uint32_t i) noexcept {
    return i >= low_zone_frames ? 1 : 0;
  }
  /// The highest zone an allocation bounded by `end` may take from: 1
  /// only when the bound allows high frames and there are some.
  unsigned top_zone(pfn end) const noexcept {
    return end.raw() > low_zone_frames && frame_count_ > low_zone_frames ? 1
                                                                          : 0;
  }

  std::uint32_t index(pfn frame) const noexcept {
    MMKIT_ASSERT(frame.raw() < frame_count_);
    return static_cast<std::uint32_t>(frame.raw());
  }
  pfn_entry& checked_entry(pfn frame) noexcept {
    return entries_[index(frame)];
  }

  list_head& head_of(page_state list, std::uint32_t colour,
                     unsigned zone) noexcept {
    if (is_coloured(list)) return coloured_[zone][state_index(list)][colour];
    return plain_[state_index(list) - 2];
  }
  const list_head& head_of(page_state list, std::uint32_t colour,
                           unsigned zone) const noexcept {
    if (is_coloured(list)) return coloured_[zone][state_index(list)][colour];
    return plain_[state_index(list) - 2];
  }

  // The list primitives. They link and unlink, and keep high_count_; the
  // state and the per-state counts change in move_state().
  void push_front(page_state list, std::uint32_t colour,
                  std::uint32_t i) noexcept {
    high_count_[state_index(list)] += zone_of(i);
    list_head& h = head_of(list, colour, zone_of(i));
    pfn_entry& e = entries_[i];
    e.set_prev(pfn_entry::no_frame);
    e.set_next(h.first);
    if (h.first != pfn_entry::no_frame)
      entries_[h.first].set_prev(i);
    else
      h.last = i;
    h.first = i;
  }
  void push_back(page_state list, std::uint32_t colour,
                 std::uint32_t i) noexcept {
    high_count_[state_index(list)] += zone_of(i);
    list_head& h = head_of(list, colour, zone_of(i));
    pfn_entry& e = entries_[i];
    e.set_next(pfn_entry::no_frame);
    e.set_prev(h.last);
    if (h.last != pfn_entry::no_frame)
      entries_[h.last].set_next(i);
    else
      h.first = i;
    h.last = i;
  }
  /// Requires: frame i is on the list its state and colour name.
  void unlink(std::uint32_t i, pfn_entry& e) noexcept {
    MMKIT_ASSERT(is_list_state(e.state()));
    high_count_[state_index(e.state())] -= zone_of(i);
    list_head& h = head_of(e.state(), colour_of_entry(e), zone_of(i));
    const std::uint32_t next = e.next();
    const std::uint32_t prev = e.prev();
    if (prev != pfn_entry::no_frame)
      entries_[prev].set_next(next);
    else {
      MMKIT_ASSERT(h.first == i);
      h.first = next;
    }
    if (next != pfn_entry::no_frame)
      entries_[next].set_prev(prev);
    else {
      MMKIT_ASSERT(h.last == i);
      h.last = prev;
    }
    e.set_next(pfn_entry::no_frame);
    e.set_prev(pfn_entry::no_frame);
    (void)i;
  }
  std::uint32_t colour_of_entry(const pfn_entry& e) const noexcept {
    if constexpr (colour_count == 1) {
      (void)e;
      return 0;
    } else {
      return e.colour();
    }
  }

  /// The one place a state changes: asserts the transition is legal and
  /// keeps the per-state counts.
  void move_state(pfn_entry& e, page_state to) noexcept {
    const page_state from = e.state();
    MMKIT_ASSERT(debug_can_transition(from, to));
    if (from != page_state::active) --count_[state_index(from)];
    if (to != page_state::active) ++count_[state_index(to)];
    e.set_state(to);
  }

  /// allocate() when the preferred list has no frame of colour `c` in the
  /// highest zone `end` allows.
  result<pfn> allocate_slow(page_need need, std::uint32_t c,
                            pfn end) noexcept {
    bool zero = false;
    std::uint32_t i = pfn_entry::no_frame;
    for (int z = static_cast<int>(top_zone(end)); z >= 0; --z) {
      i = take_listed(need, c, static_cast<unsigned>(z), zero);
      if (i != pfn_entry::no_frame) break;
    }
    if (i == pfn_entry::no_frame) {
      i = take_standby(end);
      if (i == pfn_entry::no_frame) return status::no_memory;
      zero = need == page_need::zeroed;
    }
    if (zero) zero_frame(i);
    return pfn{i};
  }

  /// move_state() when the caller knows the frame's state is `from`, so the
  /// count it decrements is known at compile time.
  void move_state(pfn_entry& e, page_state from, page_state to) noexcept {
    MMKIT_ASSERT(e.state() == from);
    MMKIT_ASSERT(debug_can_transition(from, to));
    if (from != page_state::active) --count_[state_index(from)];
    if (to != page_state::active) ++count_[state_index(to)];
    e.set_state(to);
  }

  /// Takes a frame off zone `z`'s zeroed or free lists for `need` (see
  /// allocate()), preferring colour `c`; sets `zero` when it must be
  /// zeroed. Returns: the frame, or no_frame when both are empty.
  std::uint32_t take_listed(page_need need, std::uint32_t c, unsigned z,
                            bool& zero) noexcept {
    const std::uint64_t listed = count_[state_index(page_state::zeroed)] +
                                 count_[state_index(page_state::free)];
    const std::uint64_t high = high_count_[state_index(page_state::zeroed)] +
                               high_count_[state_index(page_state::free)];
    if ((z == 1 ? high : listed - high) == 0) return pfn_entry::no_frame;
    const page_state first =
        need == page_need::zeroed ? page_state::zeroed : page_state::free;
    const page_state second =
        need == page_need::zeroed ? page_state::free : page_state::zeroed;
    for (std::uint32_t k = 0; k < colour_count; ++k) {
      const std::uint32_t colour = (c + k) & (colour_count - 1);
      if (head_of(first, colour, z).first != pfn_entry::no_frame) {
        zero = false;
        return pop_front_active(first, colour, z);
      }
      if (head_of(second, colour, z).first != pfn_entry::no_frame) {
        zero = need == page_need::zeroed;
        return pop_front_active(second, colour, z);
      }
    }
    MMKIT_ASSERT(false);
    return pfn_entry::no_frame;
  }

  /// Pops the head of a zeroed or free list and makes it active.
  std::uint32_t pop_front_active(page_state list, std::uint32_t colour,
                                 unsigned z) noexcept {
    list_head& h = head_of(list, colour, z);
    const std::uint32_t i = h.first;
    pfn_entry& e = entries_[i];
    const std::uint32_t next = e.next();
    h.first = next;
    if (next != pfn_entry::no_frame)
      entries_[next].set_prev(pfn_entry::no_frame);
    else
      h.last = pfn_entry::no_frame;
    MMKIT_ASSERT(e.state() == list);
    --count_[state_index(list)];
    high_count_[state_index(list)] -= z;
    e.reset_active(colour);
    return i;
  }

  /// Repurposes the oldest standby frame below `end`: the owner rewrites
  /// its PTE, and the frame becomes active. Returns: the frame, or no_frame
  /// when standby holds none below `end`.
  std::uint32_t take_standby(pfn end) noexcept {
    std::uint32_t i = head_of(page_state::standby, 0, 0).first;
    while (i != pfn_entry::no_frame && i >= end.raw()) i = entries_[i].next();
    if (i == pfn_entry::no_frame) return i;
    pfn_entry& e = entries_[i];
    unlink(i, e);
    move_state(e, page_state::active);
    const pte_link link = e.link();
    const std::uint64_t original = e.original_pte();
    e.reset_active(colour_of_entry(e));
    owner_.repurpose(pfn{i}, link, original);
    return i;
  }

  /// Places a frame whose last reference is gone (share and reference
  /// count 0, state `from`: active or transition) as `to` says.
  page_state place_released(std::uint32_t i, pfn_entry& e, page_state from,
                            release_to to) noexcept {
    if (e.bad_pending()) [[unlikely]] {
      move_to_bad(i, e);
      return page_state::bad;
    }
    page_state list;
    switch (to) {
      case release_to::free_list:
        move_state(e, from, page_state::free);
        e.set_modified(false);
        push_front(page_state::free, colour_of_entry(e), i);
        return page_state::free;
      case release_to::backing_store:
        list = e.modified() ? page_state::modified : page_state::standby;
        break;
      case release_to::backing_store_no_write:
        list =
            e.modified() ? page_state::modified_no_write : page_state::standby;
        break;
      default: MMKIT_ASSERT(false); return e.state();
    }
    move_state(e, from, list);
    push_back(list, 0, i);
    return list;
  }

  /// Places a transition frame whose last reference went. Its owner's PTE
  /// is a transition PTE when a backed release is pending: if the frame
  /// goes bad instead, the owner is called back first.
  page_state place_transition(std::uint32_t i, pfn_entry& e) noexcept {
    const release_to to = e.pending_release();
    e.set_pending_release(release_to::free_list);
    if (e.bad_pending() && to != release_to::free_list)
      owner_.repurpose(pfn{i}, e.link(), e.original_pte());
    return place_released(i, e, page_state::transition, to);
  }

  /// Requires: the frame is off every list. It becomes bad for good.
  void move_to_bad(std::uint32_t i, pfn_entry& e) noexcept {
    move_state(e, page_state::bad);
    e.set_bad_pending(false);
    e.set_modified(false);
    e.set_share_count(0);
    e.set_reference_count(0);
    push_back(page_state::bad, 0, i);
  }

  /// The colour (into `c`) and zone (returned) of a free list that holds a
  /// frame, taking colours in turn. Requires: a free frame exists.
  unsigned next_free_colour(std::uint32_t& c) noexcept {
    for (unsigned z = 0; z < 2; ++z) {
      for (std::uint32_t k = 0; k < colour_count; ++k) {
        c = (zero_colour_ + k) & (colour_count - 1);
        if (head_of(page_state::free, c, z).first != pfn_entry::no_frame) {
          zero_colour_ = (c + 1) & (colour_count - 1);
          return z;
        }
      }
    }
    MMKIT_ASSERT(false);
    return 0;
  }

  void zero_frame(std::uint32_t i) noexcept {
    __builtin_memset(memory_->frame(pfn{i}), 0, page_size);
  }
  bool frame_is_zero(std::uint32_t i) const noexcept {
    const std::byte* p = memory_->read_frame(pfn{i});
    for (std::uint64_t k = 0; k < page_size; ++k)
      if (p[k] != std::byte{0}) return false;
    return true;
  }

  Memory* memory_;
  pfn_entry* entries_;
  std::uint32_t frame_count_;
  std::uint32_t zero_colour_ = 0;
  // Frames per state; the entry for active stays 0 (count() derives it).
  std::array<std::uint64_t, page_state_count> count_{};
  // Frames per list state on high-zone lists (above 4 GiB).
  std::array<std::uint64_t, page_state_count> high_count_{};
  list_head coloured_[2][2][colour_count];  // [zone][zeroed, free][colour]
  list_head plain_[4];
  std::uint64_t page_table_count_ = 0;
  std::uint64_t low_threshold_ = 0;
  std::uint64_t high_threshold_ = 0;
  [[no_unique_address]] Owner owner_;
  [[no_unique_address]] Colouring colouring_;
};

namespace detail {
/// A WritablePhysicalMemory with nothing behind it, to prove at compile
/// time that pfn_database models FrameSource for any memory.
struct writable_memory_archetype {
  std::uint64_t frame_count() const noexcept;
  const std::byte* read_frame(pfn) const noexcept;
  std::byte* frame(pfn) noexcept;
};
static_assert(WritablePhysicalMemory<writable_memory_archetype>);
}  // namespace detail

static_assert(FrameSource<pfn_database<detail::writable_memory_archetype>>);
static_assert(
    FrameSource<pfn_database<detail::writable_memory_archetype, detached_owner,
                             frame_number_colouring<16>>>);

}  // namespace mmkit
