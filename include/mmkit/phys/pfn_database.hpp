#pragma once
// pfn_database: NT's page-frame state machine over simulated physical
// memory, with O(1) state lists and counts, and a FrameSource for page
// tables. It builds on pfn_policies.hpp (the options and policies it
// takes) and pfn_lists.hpp (the lists, counts and fresh frames it moves
// frames between), and includes both: this header is all a user needs.
//
// Every frame [0, frame_count()) has one pfn_entry (storage from the
// caller) and is in exactly one place (fresh frames, below, count as being
// on the zeroed or free list):
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
// The lists (pfn_lists.hpp has their layout, order and invariants, and
// how the allocate / release-to-free hot path is kept short) are linked
// through the entries, so every move is O(1) and allocates nothing: zeroed
// and free are LIFO and per colour, as NT's MmFreePagesByColor; the others
// are FIFO, oldest first.
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
// so a 32-bit address space may only get frames below 4 GiB. Every
// allocation takes an exclusive bound (`end`): any frame, or 4 GiB
// (low_zone_frames), the line between the two zones the zeroed and free
// lists are split into. An allocation allowed both takes high frames
// first, keeping low memory for the address spaces that can use nothing
// else; standby is one FIFO, and a bounded repurpose walks it to the
// oldest frame below the bound.
//
// Fresh frames: the database is built in O(1) and writes no entry up
// front, so entry storage that the host commits lazily (hosted_system's)
// costs nothing for frames never used (pfn_lists.hpp says how). A fresh
// frame counts as zeroed or free, as initial_contents says, in count(),
// available() and available_below(), and frames are handed out in the
// order an eager build would have listed them. entry() of a fresh frame
// returns the entry it will get; debug_fresh() names the fresh range.
//
// Complexity: every operation is O(1) except check_invariants()
// (O(frames)), zero_free_pages(n) (O(n) frames zeroed), allocation and
// zeroing that reach the fresh frames (O(fresh_chunk_frames) once per chunk:
// amortised O(1)), mark_bad() of a fresh frame (O(fresh frames below it in
// its zone), each frame written once in the database's life) and, with a
// colouring policy of C colours, allocation when the hinted colour is empty
// (O(C); a colouring under which a colour is missing from a chunk
// materialises chunks until the colour turns up), and a bounded standby
// repurpose (O(frames on standby above the bound)).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/phys/frame_source.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/phys/pfn_lists.hpp>
#include <mmkit/phys/pfn_policies.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cstddef>
#include <cstdint>

namespace mmkit {

/// The PFN database. See the header comment for the states and lists.
///
/// Memory: the frame bytes (zeroing goes through it). Owner: called back
/// before a frame whose PTE is in transition is taken away. Colouring: the
/// colour of each frame for the zeroed and free lists.
template <WritablePhysicalMemory Memory, StandbyOwner Owner = detached_owner,
          PfnColouring Colouring = no_colouring>
class pfn_database {
  // The lists, counts and fresh frames underneath (pfn_lists.hpp).
  using lists_type = detail::pfn_lists<Colouring>;

 public:
  using memory_type = Memory;
  using owner_type = Owner;
  using colouring_type = Colouring;
  static constexpr std::uint32_t colour_count = Colouring::colour_count;
  /// The most frames one database can hold (32-bit links, one value kept
  /// for "no frame").
  static constexpr std::uint64_t max_frames = lists_type::max_frames;
  /// The frames below 4 GiB: the low zone, the only frames a 32-bit entry
  /// (x86_32) can name.
  static constexpr std::uint64_t low_zone_frames = lists_type::low_zone_frames;
  /// The bound that allows every frame.
  static constexpr pfn any_frame{max_frames};
  /// The fresh frames whose entries are written at once when a list needs
  /// them: 128 entries, one 4 KiB page of entry storage.
  static constexpr std::uint32_t fresh_chunk_frames =
      lists_type::fresh_chunk_frames;

  /// Requires: `entries` points to `count` entries that outlive the
  /// database (their contents are never read before the database writes
  /// them, so they need no initialisation); count <= memory.frame_count()
  /// and count <= max_frames.
  /// Effects: every frame [0, count) is fresh: free (zeroed when `contents`
  /// is initial_contents::zero), and handed out lowest frame first, as if
  /// it were on the free (zeroed) list of its colour in that order (see
  /// the header comment).
  /// Complexity: O(1); no entry is written.
  pfn_database(Memory& memory, pfn_entry* entries, std::uint64_t count,
               initial_contents contents = initial_contents::unknown,
               Owner owner = Owner{},
               Colouring colouring = Colouring{}) noexcept
      : lists_(entries, count,
               contents == initial_contents::zero ? page_state::zeroed
                                                  : page_state::free,
               static_cast<Colouring&&>(colouring)),
        memory_(&memory),
        owner_(static_cast<Owner&&>(owner)) {
    MMKIT_ASSERT(count <= memory.frame_count());
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
  /// zeroing one page when needed; amortised O(1) when the lists run dry
  /// and a chunk of fresh frames is materialised.
  result<pfn> allocate(page_need need, std::uint32_t colour_hint = 0,
                       pfn end = any_frame) noexcept {
    return allocate(need, colour_hint, end, nullptr);
  }
  /// Effects: as allocate(page_need::zeroed, colour_hint, end), except
  /// that a frame not zeroed yet (from the free or standby list) is handed
  /// out as it is, and `must_zero` says so: the caller zeroes it once the
  /// frame is its alone, after letting go of the PFN lock (a demand-zero
  /// fault, fault/handlers.hpp), so that other threads do not wait on the
  /// zeroing.
  result<pfn> allocate_zeroed_by_caller(std::uint32_t colour_hint, pfn end,
                                        bool& must_zero) noexcept {
    must_zero = false;
    return allocate(page_need::zeroed, colour_hint, end, &must_zero);
  }

  /// Effects: as allocate(page_need::zeroed, 0, end), then flags the frame
  /// as a page table with use count (share count) 0. Part of FrameSource.
  result<pfn> allocate_table_frame(pfn end = any_frame) noexcept {
    result<pfn> r = allocate(page_need::zeroed, 0, end);
    if (!r) return r;
    pfn_entry& e = lists_.entry(static_cast<std::uint32_t>(r->raw()));
    e.set_page_table(true);
    e.set_share_count(0);
    ++page_table_count_;
    return r;
  }

  /// Requires: `frame` came from allocate_table_frame(), its use count is 0
  /// and its bytes are zero (FrameSource). Effects: the frame goes to the
  /// zeroed list (bad if marked bad). Part of FrameSource.
  void release_table_frame(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && e.page_table());
    MMKIT_ASSERT(e.share_count() == 0 && e.reference_count() == 1);
    e.set_page_table(false);
    e.set_reference_count(0);
    --page_table_count_;
    const std::uint32_t i = index(frame);
    // An emptied table is zero: on the zeroed list it is reused at once (on
    // free it would wait behind every fresh frame). The page table's use
    // counts are exact (page_table::check_invariants recounts them), so
    // this is asserted rather than scanned: the scan read 4 KiB under the
    // PFN lock for every table a release freed.
    MMKIT_ASSERT(frame_is_zero(i));
    if (!e.bad_pending()) {
      lists_.move_state(i, e, page_state::active, page_state::free);
      lists_.move_state(i, e, page_state::free, page_state::zeroed);
      e.set_modified(false);
      lists_.push_front(page_state::zeroed, lists_.colour_of_entry(e), i);
      return;
    }
    place_released(i, e, page_state::active, release_to::free_list);
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

  /// Requires: `frame` is active, in transition or on the standby,
  /// modified or modified-no-write list (its owner's PTE names it).
  /// Effects: the PTE restored when the frame is repurposed becomes
  /// `original_pte` (the pager records a page-file slot here, and a
  /// protection change of a trimmed page its new protection).
  void set_original_pte(pfn frame, std::uint64_t original_pte) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active ||
                 e.state() == page_state::transition ||
                 e.state() == page_state::standby ||
                 e.state() == page_state::modified ||
                 e.state() == page_state::modified_no_write);
    e.set_original_pte(original_pte);
  }

  /// Requires: as set_original_pte. Effects: the frame's back-link
  /// becomes `link` (the PTE that names it moved: a section's prototypes
  /// moved to a longer run).
  void relink(pfn frame, pte_link link) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() != page_state::zeroed &&
                 e.state() != page_state::free && e.state() != page_state::bad);
    e.set_link(link);
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
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && !e.page_table());
    MMKIT_ASSERT(e.share_count() > 0 && e.reference_count() > 0);
    const std::uint32_t shares = e.share_count() - 1;
    if (shares != 0) {
      e.set_share_count(shares);
      return page_state::active;
    }
    return drop_last_share(index(frame), e, to);
  }

  /// Requires: share count is 1. Effects and returns: as
  /// decrement_share_count(frame, to): the frame's only mapping goes away.
  /// (The share count is not read: the pager's hot path.)
  page_state release(pfn frame, release_to to) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && !e.page_table());
    MMKIT_ASSERT(e.share_count() == 1 && e.reference_count() > 0);
    return drop_last_share(index(frame), e, to);
  }

  // --- a space's frame cache (phys/frame_cache.hpp) -------------------------

  /// Requires: `frame` came from allocate() and no PTE names it.
  /// Effects: it is held for a private page not yet known: its back-link
  /// is a hardware link to nothing (physical address 0), which
  /// set_cached_link() later points at the page's PTE without the PFN lock.
  void hold_for_page(pfn frame) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && !e.page_table());
    e.set_link(pte_link::hardware_pte(paddr{0}));
  }
  /// Requires: `frame` went through hold_for_page() and is the caller's
  /// alone (its space's lock held; the PFN lock need not be). Effects: as
  /// set_pte_link(frame, link, original_pte) for a hardware `link`, leaving
  /// the entry's flags word alone, which a call holding the PFN lock may be
  /// changing meanwhile (mark_bad). Complexity: O(1).
  void set_cached_link(pfn frame, pte_link link,
                       std::uint64_t original_pte) noexcept {
    pfn_entry& e = lists_.entry(index(frame));
    e.set_hardware_link_value(link);
    e.set_original_pte(original_pte);
  }
  /// Requires: `frame` came from allocate() and was never mapped (a
  /// frame cache's, perhaps through hold_for_page()): active, share and
  /// reference count 1. Effects: it goes back to the front of the zeroed
  /// list when `zeroed` (its bytes are as allocate() left them, zero),
  /// else as release(frame, release_to::free_list). Complexity: O(1).
  void release_unused(pfn frame, bool zeroed) noexcept {
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::active && !e.page_table());
    MMKIT_ASSERT(e.share_count() == 1 && e.reference_count() == 1);
    e.set_link({});
    const std::uint32_t i = index(frame);
    if (!zeroed || e.bad_pending()) {
      drop_last_share(i, e, release_to::free_list);
      return;
    }
    MMKIT_ASSERT(frame_is_zero(i));
    e.set_share_count(0);
    e.set_reference_count(0);
    e.set_modified(false);
    lists_.move_state(i, e, page_state::active, page_state::free);
    lists_.move_state(i, e, page_state::free, page_state::zeroed);
    lists_.push_front(page_state::zeroed, lists_.colour_of_entry(e), i);
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
    MMKIT_ASSERT(detail::pfn_can_transition(s, page_state::active) &&
                 s != page_state::zeroed && s != page_state::free);
    if (s == page_state::transition) {
      lists_.move_state(i, e, page_state::active);
    } else {
      lists_.unlink(i, e);
      lists_.move_state(i, e, page_state::active);
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
    lists_.unlink(i, e);
    e.set_modified(false);
    if (e.bad_pending()) {
      owner_.repurpose(frame, e.link(), e.original_pte());
      move_to_bad(i, e);
      return;
    }
    lists_.move_state(i, e, page_state::standby);
    lists_.push_back(page_state::standby, 0, i);
  }

  /// Requires: `frame` is on the modified list. Effects: an asynchronous
  /// write starts: the frame leaves the list and is in transition with one
  /// reference and write-in-progress set, until end_write(). A soft fault
  /// may reclaim() it meanwhile. Complexity: O(1).
  void begin_write(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    pfn_entry& e = checked_entry(frame);
    MMKIT_ASSERT(e.state() == page_state::modified);
    lists_.unlink(i, e);
    lists_.move_state(i, e, page_state::transition);
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
    lists_.unlink(i, e);
    lists_.move_state(i, e, page_state::modified);
    lists_.push_back(page_state::modified, 0, i);
  }

  /// Requires: count(list) > 0, `list` is standby, modified,
  /// modified-no-write or bad. Returns: the oldest frame on it.
  pfn oldest(page_state list) const noexcept {
    MMKIT_ASSERT(is_list_state(list) && list != page_state::zeroed &&
                 list != page_state::free);
    MMKIT_ASSERT(count(list) > 0);
    return pfn{lists_.head_of(list, 0, 0).first};
  }

  // --- zeroing and bad frames ---------------------------------------------

  /// Effects: the zero page worker's step: up to `n` frames leave the free
  /// list, are zeroed and go to the zeroed list of their colour.
  /// Returns: the number of frames zeroed. Complexity: O(n) pages zeroed
  /// (plus O(colours) per empty colour skipped, and fresh chunks
  /// materialised as for allocate()).
  std::uint64_t zero_free_pages(std::uint64_t n) noexcept {
    std::uint64_t done = 0;
    while (done < n && lists_.count(page_state::free) != 0) {
      // Colours in turn, so that every colour gets zeroed frames.
      std::uint32_t c = 0;
      const unsigned z = lists_.find_listed(page_state::free, zero_colour_, c);
      zero_colour_ = (c + 1) & (colour_count - 1);
      const std::uint32_t i = lists_.head_of(page_state::free, c, z).first;
      pfn_entry& e = lists_.entry(i);
      lists_.unlink(i, e);
      zero_frame(i);
      lists_.move_state(i, e, page_state::zeroed);
      lists_.push_front(page_state::zeroed, c, i);
      ++done;
    }
    return done;
  }

  /// Effects: the frame is bad and is never handed out again. A zeroed,
  /// free or standby frame moves to the bad list at once (for standby, the
  /// owner is called first to rewrite its PTE). An active, transition,
  /// modified or modified-no-write frame, whose contents are still needed,
  /// is flagged and goes to the bad list when it is released (or, for a
  /// modified frame, written). A bad frame stays bad. A fresh frame is
  /// materialised first, with the fresh frames below it in its zone, so
  /// that they keep their order on the list.
  /// Complexity: O(1), plus O(fresh frames below it in its zone) for a fresh
  /// frame (each frame is materialised once in the database's life).
  void mark_bad(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    // A fresh frame is on its list as soon as its zone is materialised up
    // to it (the frames below it keep their place ahead of it).
    lists_.materialise_through(i);
    pfn_entry& e = checked_entry(frame);
    switch (e.state()) {
      case page_state::zeroed:
      case page_state::free:
        lists_.unlink(i, e);
        move_to_bad(i, e);
        return;
      case page_state::standby:
        lists_.unlink(i, e);
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

  /// Effects: frame `frame`, when it is on the zeroed or free list (or
  /// fresh), is handed out as allocate(page_need::zeroed) hands out a
  /// frame: active, share and reference count 1, its bytes zero. For a
  /// caller that needs one frame by its number (a saved system's user
  /// physical pages, which the guest names by frame number:
  /// emu/saved_system.hpp). Returns: whether it was; false (nothing
  /// changed) for a frame in use, on the standby, modified or bad list,
  /// or past the database. Complexity: O(1), plus O(fresh frames below it
  /// in its zone) for a fresh frame (mark_bad's).
  bool claim(pfn frame) noexcept {
    if (frame.raw() >= frame_count()) return false;
    const std::uint32_t i = index(frame);
    lists_.materialise_through(i);
    pfn_entry& e = checked_entry(frame);
    const page_state s = e.state();
    if (s != page_state::zeroed && s != page_state::free) return false;
    lists_.unlink(i, e);
    lists_.move_state(i, e, s, page_state::active);
    e.reset_active(lists_.colour_of_entry(e));
    if (s == page_state::free) zero_frame(i);
    return true;
  }

  // --- counts and thresholds ------------------------------------------------

  /// The number of frames in state `s`. Complexity: O(1).
  std::uint64_t count(page_state s) const noexcept { return lists_.count(s); }
  /// Frames that allocate() can hand out at once: zeroed + free + standby.
  std::uint64_t available() const noexcept {
    return lists_.count(page_state::zeroed) + lists_.count(page_state::free) +
           lists_.count(page_state::standby);
  }
  /// Frames that allocate(need, colour, end) can hand out at once: those
  /// of available() below `end`. Complexity: O(1).
  std::uint64_t available_below(pfn end) const noexcept {
    const std::uint64_t all = available();
    if (lists_.top_zone(end) == 1) return all;
    const std::uint64_t high = lists_.zone_count(page_state::zeroed, 1) +
                               lists_.zone_count(page_state::free, 1) +
                               lists_.zone_count(page_state::standby, 1);
    // A bound inside the low zone is 4 GiB in every arch that has one.
    MMKIT_ASSERT(end.raw() >= lists_.frame_count() ||
                 end.raw() == low_zone_frames);
    return all - high;
  }
  /// Frames holding page tables (allocated by allocate_table_frame()).
  std::uint64_t page_table_count() const noexcept { return page_table_count_; }
  std::uint64_t frame_count() const noexcept { return lists_.frame_count(); }

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

  // --- access ----------------------------------------------------------------

  /// Requires: frame < frame_count(). Returns: a copy of the frame's entry
  /// (only the database changes entries). A fresh frame's entry is the one
  /// it will get: its state (zeroed or free) and colour, no links, counts
  /// or flags. Complexity: O(1).
  pfn_entry entry(pfn frame) const noexcept {
    const std::uint32_t i = index(frame);
    if (lists_.is_fresh(i)) [[unlikely]]
      return lists_.fresh_entry(i);
    return lists_.entry(i);
  }
  /// The entry of a frame a valid PTE maps: such a frame was handed out,
  /// so it is never fresh, and the fresh marks (which other threads'
  /// allocations move under the PFN lock) are not read. For a call that
  /// holds only its space's lock and reads its own pages' entries (a
  /// query of private memory).
  pfn_entry mapped_entry(pfn frame) const noexcept {
    return lists_.entry(index(frame));
  }
  Memory& memory() noexcept { return *memory_; }
  Owner& owner() noexcept { return owner_; }
  const Colouring& colouring() const noexcept { return lists_.colouring(); }

  // --- checks for tests ------------------------------------------------------

  /// Whether the state machine allows `from` -> `to`. Every state change
  /// the database makes asserts it.
  static constexpr bool debug_can_transition(page_state from,
                                             page_state to) noexcept {
    return detail::pfn_can_transition(from, to);
  }

  /// The first linked frame on `list` (of colour `colour` and zone
  /// `zone`, 0 below 4 GiB, for zeroed and free), or pfn_entry::no_frame;
  /// walk on with entry(f).next(). The zeroed or free list (whichever
  /// debug_fresh().state names) goes on after its last linked frame with
  /// the fresh frames of its colour and zone, lowest first.
  std::uint32_t debug_head(page_state list, std::uint32_t colour = 0,
                           unsigned zone = 0) const noexcept {
    MMKIT_ASSERT(is_list_state(list) && colour < colour_count && zone < 2);
    return lists_.head_of(list, colour, zone).first;
  }

  /// The fresh frames of one zone: [first, end), all in `state`.
  struct fresh_range {
    std::uint32_t first;
    std::uint32_t end;
    page_state state;
  };
  /// Requires: zone < 2. The fresh frames of zone `zone` (0: below 4 GiB):
  /// never handed out, on no list, their entries never written.
  fresh_range debug_fresh(unsigned zone) const noexcept {
    MMKIT_ASSERT(zone < 2);
    return {lists_.fresh_begin(zone), lists_.zone_end(zone),
            lists_.fresh_state()};
  }
  /// The number of fresh frames (see the header comment): frames whose
  /// entries the database has not written yet. Complexity: O(1).
  std::uint64_t fresh_count() const noexcept { return lists_.fresh_count(); }

  /// Returns: whether every frame is in exactly one place: every list is
  /// well linked both ways and holds only frames of its state (and colour),
  /// every count is right, off-list frames have the counts their state
  /// needs, and (with content_check::yes) every zeroed frame reads as zeros.
  /// Requires (with threads): no demand-zero fault runs, as a fault that
  /// takes a frame from its space's frame cache writes the frame's link
  /// and original PTE under its space's lock alone (set_cached_link).
  /// Complexity: O(frames) (O(frames * page_size) with content_check::yes).
  bool check_invariants(
      content_check contents = content_check::no) const noexcept {
    std::uint64_t tables = 0;
    // pfn_lists checks the lists, the fresh frames and the counts; the
    // database, the entry fields that only it gives meaning to.
    // (The entry rules are pfn_policies.hpp's, beside the transitions.)
    const bool lists_ok = lists_.check(
        [&](std::uint32_t i, const pfn_entry& e) noexcept {
          return detail::pfn_listed_entry_ok(e) &&
                 (contents == content_check::no ||
                  e.state() != page_state::zeroed || frame_is_zero(i));
        },
        [&](std::uint32_t, const pfn_entry& e) noexcept {
          tables += e.page_table() ? 1 : 0;
          return detail::pfn_materialised_entry_ok(e);
        });
    if (!lists_ok || tables != page_table_count_) return false;
    // The fresh frames of a zeroed database read as zeros too.
    if (contents == content_check::yes &&
        lists_.fresh_state() == page_state::zeroed)
      for (unsigned z = 0; z < 2; ++z)
        for (std::uint32_t i = lists_.fresh_begin(z); i < lists_.zone_end(z);
             ++i)
          if (!frame_is_zero(i)) return false;
    return true;
  }

 private:
  std::uint32_t index(pfn frame) const noexcept {
    MMKIT_ASSERT(frame.raw() < lists_.frame_count());
    return static_cast<std::uint32_t>(frame.raw());
  }
  /// The entry of a frame an operation acts on: never a fresh frame (those
  /// are zeroed or free, which no such operation accepts; mark_bad()
  /// materialises first).
  pfn_entry& checked_entry(pfn frame) noexcept {
    const std::uint32_t i = index(frame);
    MMKIT_ASSERT(!lists_.is_fresh(i));
    return lists_.entry(i);
  }

  /// allocate() and allocate_zeroed_by_caller(): with `defer`, a frame
  /// that needs zeroing is not zeroed here, and *defer says so.
  result<pfn> allocate(page_need need, std::uint32_t colour_hint, pfn end,
                       bool* defer) noexcept {
    // The common case first: the list the caller prefers has a frame of the
    // hinted colour in the highest zone it may use.
    const std::uint32_t c = colour_hint & (colour_count - 1);
    const page_state first =
        need == page_need::zeroed ? page_state::zeroed : page_state::free;
    // Bounds are "any frame" or 4 GiB (the zone split); see the header.
    MMKIT_ASSERT(end.raw() >= lists_.frame_count() ||
                 end.raw() == low_zone_frames);
    const std::uint32_t i = lists_.try_pop_top_active(first, c, end);
    if (i != pfn_entry::no_frame) [[likely]]
      return pfn{i};
    return allocate_slow(need, c, end, defer);
  }

  /// allocate() when the preferred list has no frame of colour `c` in the
  /// highest zone `end` allows.
  result<pfn> allocate_slow(page_need need, std::uint32_t c, pfn end,
                            bool* defer) noexcept {
    bool zero = false;
    std::uint32_t i = pfn_entry::no_frame;
    for (int z = static_cast<int>(lists_.top_zone(end)); z >= 0; --z) {
      i = take_listed(need, c, static_cast<unsigned>(z), zero);
      if (i != pfn_entry::no_frame) break;
    }
    if (i == pfn_entry::no_frame) {
      i = take_standby(end);
      if (i == pfn_entry::no_frame) return status::no_memory;
      zero = need == page_need::zeroed;
    }
    if (defer != nullptr)
      *defer = zero;
    else if (zero)
      zero_frame(i);
    return pfn{i};
  }

  /// Takes a frame off zone `z`'s zeroed or free lists for `need` (see
  /// allocate()), preferring colour `c`; sets `zero` when it must be
  /// zeroed. Returns: the frame, or no_frame when both are empty.
  std::uint32_t take_listed(page_need need, std::uint32_t c, unsigned z,
                            bool& zero) noexcept {
    const bool zeroed = need == page_need::zeroed;
    bool second = false;
    const std::uint32_t i = lists_.pop_listed_active(
        zeroed ? page_state::zeroed : page_state::free, c, z, second);
    zero = zeroed && second;
    return i;
  }

  /// Repurposes the oldest standby frame below `end`: the owner rewrites
  /// its PTE, and the frame becomes active. Returns: the frame, or no_frame
  /// when standby holds none below `end`.
  std::uint32_t take_standby(pfn end) noexcept {
    std::uint32_t i = lists_.head_of(page_state::standby, 0, 0).first;
    while (i != pfn_entry::no_frame && i >= end.raw())
      i = lists_.entry(i).next();
    if (i == pfn_entry::no_frame) return i;
    pfn_entry& e = lists_.entry(i);
    lists_.unlink(i, e);
    lists_.move_state(i, e, page_state::active);
    const pte_link link = e.link();
    const std::uint64_t original = e.original_pte();
    e.reset_active(lists_.colour_of_entry(e));
    owner_.repurpose(pfn{i}, link, original);
    return i;
  }

  /// The last PTE that maps active frame i (entry `e`) went: its share
  /// count goes to 0 and the mapping's reference is dropped; the frame is
  /// placed as decrement_share_count() says.
  page_state drop_last_share(std::uint32_t i, pfn_entry& e,
                             release_to to) noexcept {
    // The pager's commonest release (a private page deleted, no I/O on
    // it) goes straight to the head of its free list, the counts written
    // as constants.
    if (to == release_to::free_list && e.reference_count() == 1 &&
        !e.bad_pending()) [[likely]] {
      e.set_share_count(0);
      e.set_reference_count(0);
      return push_free(i, e, page_state::active);
    }
    const std::uint16_t refs =
        static_cast<std::uint16_t>(e.reference_count() - 1);
    e.set_share_count(0);
    e.set_reference_count(refs);
    if (refs != 0) {
      lists_.move_state(i, e, page_state::active, page_state::transition);
      e.set_pending_release(to);
      return page_state::transition;
    }
    return place_released(i, e, page_state::active, to);
  }

  /// Requires: frame i (entry `e`), in state `from` (active or
  /// transition), is not marked bad and nothing references it. Effects: it
  /// goes to the head of the free list of its colour and zone, clean.
  page_state push_free(std::uint32_t i, pfn_entry& e,
                       page_state from) noexcept {
    e.set_modified(false);
    lists_.move_to_front(i, e, from, page_state::free,
                         lists_.colour_of_entry(e));
    return page_state::free;
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
      case release_to::free_list: return push_free(i, e, from);
      case release_to::backing_store:
        list = e.modified() ? page_state::modified : page_state::standby;
        break;
      case release_to::backing_store_no_write:
        list =
            e.modified() ? page_state::modified_no_write : page_state::standby;
        break;
      default: MMKIT_ASSERT(false); return e.state();
    }
    lists_.move_state(i, e, from, list);
    lists_.push_back(list, 0, i);
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
    lists_.move_state(i, e, page_state::bad);
    e.set_bad_pending(false);
    e.set_modified(false);
    e.set_share_count(0);
    e.set_reference_count(0);
    lists_.push_back(page_state::bad, 0, i);
  }

  void zero_frame(std::uint32_t i) noexcept {
    __builtin_memset(memory_->frame(pfn{i}), 0, page_size);
  }
  bool frame_is_zero(std::uint32_t i) const noexcept {
    // Words ORed, no early exit: the loop vectorises.
    const std::byte* p = memory_->read_frame(pfn{i});
    std::uint64_t any = 0;
    for (std::uint64_t k = 0; k < page_size; k += sizeof(std::uint64_t)) {
      std::uint64_t w;
      __builtin_memcpy(&w, p + k, sizeof w);
      any |= w;
    }
    return any == 0;
  }

  // The lists come first, at the database's own address, so that code
  // reaching through them needs no second base register.
  lists_type lists_;
  Memory* memory_;
  // The colour the zero page worker takes from next.
  std::uint32_t zero_colour_ = 0;
  std::uint64_t page_table_count_ = 0;
  std::uint64_t low_threshold_ = 0;
  std::uint64_t high_threshold_ = 0;
  [[no_unique_address]] Owner owner_;
};

static_assert(FrameSource<pfn_database<detail::writable_memory_archetype>>);
static_assert(
    FrameSource<pfn_database<detail::writable_memory_archetype, detached_owner,
                             frame_number_colouring<16>>>);

}  // namespace mmkit
