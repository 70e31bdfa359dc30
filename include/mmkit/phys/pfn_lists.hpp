#pragma once
// pfn_lists: where every frame of a PFN database is: the zeroed, free,
// standby, modified, modified-no-write and bad lists, linked through the
// frames' own entries; the number of frames in each state; and the fresh
// frames, which count as listed before their entries are ever written.
// pfn_database (pfn_database.hpp) is the state machine on top: it decides
// where a frame goes, and pfn_lists links it there and keeps the counts.
//
// Lists: each list is doubly linked through 32-bit frame indices in the
// entries (pfn_entry's next and prev), and its head holds its first and
// last frame, so insert, remove and move are O(1) and need no allocation.
// The zeroed and free lists are LIFO (push_front: the frame released last
// is reused first, while its entry and bytes are still in cache) and are
// split by colour when the colouring policy has more than one colour, as
// NT's MmFreePagesByColor. Standby, modified, modified-no-write and bad
// are FIFO (push_back): the oldest frame is repurposed or written first.
//
// Zones: an x86_32 PTE holds a 20-bit frame number, so a 32-bit address
// space may only get frames below 4 GiB. The zeroed and free lists are
// split into two zones, the frames below 4 GiB (zone 0, low_zone_frames)
// and those above (zone 1), as Linux's ZONE_DMA32 and NT's per-node lists
// split them. The other lists are one list each (colour 0, zone 0),
// whatever the frames' zones. The counts are kept per zone and state, so
// the frames below a bound are counted in O(1) and a state change updates
// one counter on each side (see "Hot path"). A zone's heads and counts
// are one block, so a frame's zone gives one base address for both:
//
//   head_of(list, colour, zone)
//     zeroed, free                        zones_[zone].heads[list*C + colour]
//     standby, modified, no-write, bad    plain_heads_[list - 2]
//   frames in state s in zone z           zones_[z].count[s]
//
// Fresh frames: a database is built in O(1) and writes no entry up front,
// so entry storage that the host commits lazily (hosted_system's) costs
// nothing for frames never used: 64 GiB of simulated RAM is 512 MiB of
// entries, none of it touched at start. Each zone has a fresh cursor; the
// frames from it to the zone's end have never been handed out, are on no
// list, and their entries have never been written:
//
//   zone 0   [0 .. fresh_[0])  materialised  | [fresh_[0] .. zone end) fresh
//   zone 1   [4 GiB .. fresh_[1]) materialised | [fresh_[1] .. end) fresh
//
// A fresh frame is zeroed or free (fresh_state()) and is counted there.
// The zeroed or free list of each colour acts as if it went on, after its
// last linked frame, with the fresh frames of that colour lowest first,
// exactly the list an eager build would have made: when a list an
// operation needs has no linked frame, has_frame() writes the next chunk
// of its zone's fresh frames (fresh_chunk_frames, one 4 KiB page of
// entries), links them at the tails of their lists, lowest first, and
// moves the cursor on. materialise_through() does the same up to a given
// frame's chunk, so the frames below it keep their place ahead of it.
//
// Hot path: allocating from and releasing to a zeroed or free list is what
// the pager does most, so it is shaped to the instruction:
//   - pop_front_active() pops, counts and rewrites the entry in one step,
//     the entry written as constants (pfn_entry::reset_active), and
//     move_to_front() is its inverse for a release;
//   - one counter per (zone, state), so a state change is one decrement
//     and one increment, whatever the zone, with no second "high zone"
//     counter to keep in step;
//   - the zone block an unbounded allocation starts from is worked out
//     once, at construction (one load finds it);
//   - a release finds its frame's zone with one compare of the frame
//     number with 4 GiB and one well-predicted branch to a copy of the
//     code for that zone, whose head and counter are then at fixed
//     offsets (move_state() does the same).
//
// Invariants (check() tests each from scratch):
//   - every frame is in one place: linked on the list its state (and, for
//     zeroed and free, its colour and zone) names; fresh; or on no list
//     (active, transition);
//   - each list is linked both ways: prev and next agree for every pair,
//     and its head names its first and last frame;
//   - count(s) is the number of frames in state s, fresh frames included
//     (active is derived: the frames in no other state), and high_count(s)
//     the number of those in zone 1 (above 4 GiB);
//   - each zone's fresh cursor lies in the zone; no fresh frame is linked
//     and no fresh entry is read; every materialised entry carries the
//     colour the colouring policy gives its frame.
//
// Who changes what: the list primitives (push_front, push_back, unlink)
// link and unlink and change no count; the state and the counts change
// only in move_state(), which asserts that the transition is legal, and
// in the fast paths' fused forms of it: pop_front_active() (pop and
// activate) and move_to_front() (state change and push_front), which
// assert the same. Nothing here calls the owner or touches a frame's bytes:
// that is the database's.
//
// Complexity: O(1) per operation, except materialising a chunk
// (O(fresh_chunk_frames), once per chunk in the database's life),
// has_frame() under a colouring where a colour is missing from a chunk
// (chunks are materialised until it turns up), find_listed() (O(colours)
// lists looked at), materialise_through() (O(fresh frames below the frame
// in its zone)) and check() (O(frames)).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/phys/pfn_policies.hpp>

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mmkit::detail {

/// The first and last frame of one list, or pfn_entry::no_frame for none.
struct pfn_list_head {
  std::uint32_t first = pfn_entry::no_frame;
  std::uint32_t last = pfn_entry::no_frame;
};

/// The lists, state counts and fresh frames under one pfn_database (see
/// the header comment). The entry storage is the caller's; nothing here
/// allocates.
template <PfnColouring Colouring>
class pfn_lists {
  // One zone's zeroed and free heads and its counts (defined with the
  // data members, at the end).
  struct zone_block;

 public:
  static constexpr std::uint32_t colour_count = Colouring::colour_count;
  /// The most frames: 32-bit links, one value kept for "no frame".
  static constexpr std::uint64_t max_frames = pfn_entry::no_frame;
  /// The frames below 4 GiB: zone 0.
  static constexpr std::uint64_t low_zone_frames = std::uint64_t{1} << 20;
  /// The fresh frames materialised at once: 128 entries, one 4 KiB page of
  /// entry storage.
  static constexpr std::uint32_t fresh_chunk_frames =
      static_cast<std::uint32_t>(page_size / sizeof(pfn_entry));

  /// Requires: `entries` points to `count` entries that outlive the lists
  /// (never read before they are written); count <= max_frames;
  /// `fresh_state` is zeroed or free.
  /// Effects: every frame [0, count) is fresh, in `fresh_state`.
  /// Complexity: O(1); no entry is written.
  pfn_lists(pfn_entry* entries, std::uint64_t count, page_state fresh_state,
            Colouring colouring) noexcept
      : entries_(entries),
        frame_count_(static_cast<std::uint32_t>(count)),
        fresh_{0, static_cast<std::uint32_t>(low_zone_frames)},
        zone_end_{static_cast<std::uint32_t>(
                      count < low_zone_frames ? count : low_zone_frames),
                  static_cast<std::uint32_t>(
                      count < low_zone_frames ? low_zone_frames : count)},
        high_zone_(count > low_zone_frames ? 1 : 0),
        top_block_(&zones_[high_zone_]),
        fresh_state_(fresh_state),
        colouring_(static_cast<Colouring&&>(colouring)) {
    MMKIT_ASSERT(count <= max_frames);
    MMKIT_ASSERT(count == 0 || entries != nullptr);
    MMKIT_ASSERT(fresh_state == page_state::zeroed ||
                 fresh_state == page_state::free);
    zones_[0].count[state_index(fresh_state_)] = zone_end_[0];
    zones_[1].count[state_index(fresh_state_)] = zone_end_[1] - low_zone_frames;
  }

  pfn_lists(const pfn_lists&) = delete;
  pfn_lists& operator=(const pfn_lists&) = delete;

  // --- frames and entries ---------------------------------------------------

  std::uint32_t frame_count() const noexcept { return frame_count_; }
  /// Requires: i < frame_count() and frame i is not fresh (a fresh entry
  /// has never been written). Returns: frame i's entry.
  pfn_entry& entry(std::uint32_t i) noexcept { return entries_[i]; }
  const pfn_entry& entry(std::uint32_t i) const noexcept { return entries_[i]; }
  const Colouring& colouring() const noexcept { return colouring_; }

  /// 1 for a frame above 4 GiB, else 0.
  static constexpr unsigned zone_of(std::uint32_t i) noexcept {
    return i >= low_zone_frames ? 1 : 0;
  }
  /// The highest zone an allocation bounded by `end` may take from: 1
  /// only when the bound allows high frames and there are some. For the
  /// unbounded allocation (a constant bound) it is one load.
  unsigned top_zone(pfn end) const noexcept {
    return end.raw() > low_zone_frames ? high_zone_ : 0;
  }
  /// The colour list `e` belongs on (0 without colouring, read from no
  /// entry).
  std::uint32_t colour_of_entry(const pfn_entry& e) const noexcept {
    if constexpr (colour_count == 1) {
      (void)e;
      return 0;
    } else {
      return e.colour();
    }
  }

  // --- fresh frames ---------------------------------------------------------

  /// Requires: i < frame_count(). Whether frame i is fresh: at or past its
  /// zone's cursor.
  bool is_fresh(std::uint32_t i) const noexcept {
    // An atomic load: a call holding only its space's lock tests the
    // frames its PTEs map (fresh_ only grows, under the PFN lock).
    return i >= __atomic_load_n(&fresh_[zone_of(i)], __ATOMIC_RELAXED);
  }
  /// The entry a fresh frame gets when it is materialised.
  pfn_entry fresh_entry(std::uint32_t i) const noexcept {
    pfn_entry e{};
    const std::uint32_t c = colouring_.colour_of(pfn{i});
    MMKIT_ASSERT(c < colour_count);
    e.set_colour(c);
    e.set_state(fresh_state_);
    return e;
  }
  /// The state of every fresh frame: zeroed or free.
  page_state fresh_state() const noexcept { return fresh_state_; }
  /// Requires: zone < 2. Zone `zone`'s first fresh frame, and its end.
  std::uint32_t fresh_begin(unsigned zone) const noexcept {
    return fresh_[zone];
  }
  std::uint32_t zone_end(unsigned zone) const noexcept {
    return zone_end_[zone];
  }
  /// The number of fresh frames. Complexity: O(1).
  std::uint64_t fresh_count() const noexcept {
    return std::uint64_t{zone_end_[0] - fresh_[0]} + (zone_end_[1] - fresh_[1]);
  }
  /// Requires: i < frame_count(). Effects: frame i is not fresh: its zone
  /// is materialised up to i's chunk, so the frames below it keep their
  /// place ahead of it on their lists.
  void materialise_through(std::uint32_t i) noexcept {
    while (is_fresh(i)) materialise_chunk(zone_of(i));
  }
  /// Whether `list` (zeroed or free) of colour `c` in zone `z` has a linked
  /// frame, materialising fresh chunks of the zone while it has none and
  /// fresh frames, in `list`'s state, remain.
  bool has_frame(page_state list, std::uint32_t c, unsigned z) noexcept {
    const pfn_list_head& h = head_of(list, c, z);
    while (h.first == pfn_entry::no_frame) {
      if (list != fresh_state_ || fresh_[z] >= zone_end_[z]) return false;
      materialise_chunk(z);
    }
    return true;
  }

  /// Requires: `first` is zeroed or free; z < 2. Effects: pops a frame of
  /// zone `z` off the `first` list, else off the other one (free or
  /// zeroed), colour by colour from `from`, and makes it active; `second`
  /// says whether it came off the other list. Fresh chunks are
  /// materialised as for has_frame(). Returns: the frame, or no_frame
  /// when the zone has no zeroed or free frame.
  /// Complexity: O(colours) lists looked at.
  std::uint32_t pop_listed_active(page_state first, std::uint32_t from,
                                  unsigned z, bool& second) noexcept {
    const page_state other =
        first == page_state::zeroed ? page_state::free : page_state::zeroed;
    if (zone_count(first, z) + zone_count(other, z) == 0)
      return pfn_entry::no_frame;
    for (std::uint32_t k = 0; k < colour_count; ++k) {
      const std::uint32_t c = (from + k) & (colour_count - 1);
      second = false;
      if (has_frame(first, c, z)) return pop_front_active(first, c, z);
      second = true;
      if (has_frame(other, c, z)) return pop_front_active(other, c, z);
    }
    MMKIT_ASSERT(false);
    return pfn_entry::no_frame;
  }

  /// Requires: a frame in state `list` (zeroed or free) exists. Returns:
  /// the zone of the first `list` list that has a frame, zone 0 first and,
  /// within a zone, colours in turn from `from`; its colour goes to `c`.
  /// Fresh chunks are materialised as for has_frame().
  unsigned find_listed(page_state list, std::uint32_t from,
                       std::uint32_t& c) noexcept {
    for (unsigned z = 0; z < 2; ++z) {
      for (std::uint32_t k = 0; k < colour_count; ++k) {
        c = (from + k) & (colour_count - 1);
        if (has_frame(list, c, z)) return z;
      }
    }
    MMKIT_ASSERT(false);
    return 0;
  }

  // --- counts ---------------------------------------------------------------

  /// The number of frames in state `s`, fresh frames included.
  std::uint64_t count(page_state s) const noexcept {
    if (s == page_state::active) {
      // Not kept: one counter fewer to update on the hot path.
      std::uint64_t elsewhere = 0;
      for (unsigned k = 0; k < page_state_count; ++k)
        elsewhere += zones_[0].count[k] + zones_[1].count[k];
      return frame_count_ - elsewhere;
    }
    return zones_[0].count[state_index(s)] + zones_[1].count[state_index(s)];
  }
  /// Requires: `s` is not active. The number of frames in state `s` in
  /// zone 1 (above 4 GiB), fresh frames included.
  std::uint64_t high_count(page_state s) const noexcept {
    MMKIT_ASSERT(s != page_state::active);
    return zones_[1].count[state_index(s)];
  }
  /// Requires: `s` is not active, z < 2. The frames in state `s` in zone
  /// `z`, fresh frames included.
  std::uint64_t zone_count(page_state s, unsigned z) const noexcept {
    MMKIT_ASSERT(s != page_state::active && z < 2);
    return zones_[z].count[state_index(s)];
  }

  // --- lists ----------------------------------------------------------------

  /// Requires: `list` is a list state; colour < colour_count and zone < 2
  /// (both 0 for a list that is not zeroed or free).
  const pfn_list_head& head_of(page_state list, std::uint32_t colour,
                               unsigned zone) const noexcept {
    return const_cast<pfn_lists*>(this)->head_ref(list, colour, zone);
  }

  /// Requires: frame i is on no list. Effects: it is the first frame of
  /// `list` (of `colour` in its zone).
  void push_front(page_state list, std::uint32_t colour,
                  std::uint32_t i) noexcept {
    pfn_list_head& h = head_ref(list, colour, zone_of(i));
    pfn_entry& e = entries_[i];
    e.set_prev(pfn_entry::no_frame);
    e.set_next(h.first);
    if (h.first != pfn_entry::no_frame)
      entries_[h.first].set_prev(i);
    else
      h.last = i;
    h.first = i;
  }
  /// Requires: frame i is on no list. Effects: it is the last frame of
  /// `list` (of `colour` in its zone).
  void push_back(page_state list, std::uint32_t colour,
                 std::uint32_t i) noexcept {
    link_back(list, colour, zone_of(i), i);
  }
  /// Requires: frame i is on the list its state and colour name.
  /// Effects: it is on no list.
  void unlink(std::uint32_t i, pfn_entry& e) noexcept {
    MMKIT_ASSERT(is_list_state(e.state()));
    pfn_list_head& h = head_ref(e.state(), colour_of_entry(e), zone_of(i));
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

  /// Requires: the list (zeroed or free) of `colour` in zone `z` has a
  /// linked frame. Effects: pops it and makes it active (its entry reset,
  /// as pfn_entry::reset_active). Returns: the frame.
  std::uint32_t pop_front_active(page_state list, std::uint32_t colour,
                                 unsigned z) noexcept {
    const std::uint32_t i = try_pop_front_active(list, colour, z);
    MMKIT_ASSERT(i != pfn_entry::no_frame);
    return i;
  }
  /// As pop_front_active(), but returns no_frame, changing nothing, when
  /// the list has no linked frame (fresh frames are not looked at): the
  /// allocation fast path.
  std::uint32_t try_pop_front_active(page_state list, std::uint32_t colour,
                                     unsigned z) noexcept {
    MMKIT_ASSERT(is_coloured(list) && colour < colour_count && z < 2);
    // One copy per zone: a well-predicted branch, then fixed offsets.
    if (z == 0) return try_pop_in(zones_[0], 0, list, colour);
    return try_pop_in(zones_[1], 1, list, colour);
  }
  /// try_pop_front_active(list, colour, top_zone(end)), the zone's block
  /// found with one load.
  std::uint32_t try_pop_top_active(page_state list, std::uint32_t colour,
                                   pfn end) noexcept {
    zone_block& b = end.raw() > low_zone_frames ? *top_block_ : zones_[0];
    return try_pop_in(b, static_cast<unsigned>(&b - zones_), list, colour);
  }

  /// Requires: frame i (entry `e`) is off every list, in state `from`, and
  /// `list` (zeroed or free) and `colour` are where it may go. Effects:
  /// move_state(i, e, from, list) and push_front(list, colour, i) in one
  /// step (the release fast path's), its zone's block found once.
  void move_to_front(std::uint32_t i, pfn_entry& e, page_state from,
                     page_state list, std::uint32_t colour) noexcept {
    MMKIT_ASSERT(e.state() == from && pfn_can_transition(from, list));
    MMKIT_ASSERT(is_coloured(list) && colour < colour_count);
    e.set_state(list);
    // One copy per zone: a well-predicted branch, then fixed offsets.
    if (zone_of(i) == 0)
      move_to_front_in(zones_[0], i, e, from, list, colour);
    else
      move_to_front_in(zones_[1], i, e, from, list, colour);
  }

  /// The one place a state changes: asserts the transition is legal and
  /// keeps the counts of frame i's zone. The frame (i, entry `e`) must be
  /// off every list.
  void move_state(std::uint32_t i, pfn_entry& e, page_state to) noexcept {
    move_state(i, e, e.state(), to);
  }
  /// move_state() when the caller knows the frame's state is `from`, so the
  /// count it decrements is known at compile time.
  void move_state(std::uint32_t i, pfn_entry& e, page_state from,
                  page_state to) noexcept {
    MMKIT_ASSERT(e.state() == from);
    MMKIT_ASSERT(pfn_can_transition(from, to));
    // One copy per zone, as for the fast paths: with the states not known
    // at compile time, zone and state would make a two-level index.
    e.set_state(to);
    if (zone_of(i) == 0)
      count_move(zones_[0], from, to);
    else
      count_move(zones_[1], from, to);
  }

  // --- checks ---------------------------------------------------------------

  /// Returns: whether every invariant of the header comment holds, and
  /// `listed(i, entry)` holds for every linked frame i and
  /// `materialised(i, entry)` for every frame whose entry has been written
  /// (the database's checks of the entry's other fields).
  /// Complexity: O(frames), plus the callbacks.
  template <class Listed, class Materialised>
  requires std::predicate<Listed&, std::uint32_t, const pfn_entry&> &&
      std::predicate<Materialised&, std::uint32_t, const pfn_entry&>
  bool check(Listed&& listed, Materialised&& materialised) const noexcept {
    std::array<std::uint64_t, page_state_count> on_lists{};
    for (unsigned s = 0; s <= state_index(page_state::bad); ++s) {
      const page_state st = static_cast<page_state>(s);
      const std::uint32_t colours = is_coloured(st) ? colour_count : 1;
      for (std::uint32_t hc = 0; hc < colours * 2; ++hc) {
        const std::uint32_t c = hc % colours;
        const unsigned z = hc / colours;
        if (z == 1 && !is_coloured(st)) break;
        const pfn_list_head& h = head_of(st, c, z);
        std::uint32_t prev = pfn_entry::no_frame;
        std::uint64_t walked = 0;
        for (std::uint32_t i = h.first; i != pfn_entry::no_frame;) {
          if (i >= frame_count_ || is_fresh(i) || ++walked > frame_count_)
            return false;
          const pfn_entry& e = entries_[i];
          if (e.state() != st || e.prev() != prev) return false;
          if (is_coloured(st) && (e.colour() != c || zone_of(i) != z))
            return false;
          if (!listed(i, e)) return false;
          prev = i;
          i = e.next();
        }
        if (h.last != prev) return false;
        on_lists[s] += walked;
      }
    }
    // The fresh frames: the cursors lie in their zones, and the frames
    // count as listed in the fresh state (their entries are never read).
    if (fresh_[0] > zone_end_[0] || fresh_[1] < low_zone_frames ||
        fresh_[1] > zone_end_[1] ||
        zone_end_[0] !=
            (frame_count_ < low_zone_frames ? frame_count_ : low_zone_frames) ||
        (frame_count_ > low_zone_frames && zone_end_[1] != frame_count_))
      return false;
    if (fresh_state_ != page_state::zeroed && fresh_state_ != page_state::free)
      return false;
    const unsigned fs = state_index(fresh_state_);
    // Frames per zone and state, counted from the entries.
    std::array<std::array<std::uint64_t, page_state_count>, 2> by_state{};
    on_lists[fs] += fresh_count();
    // The materialised frames: [zone start, fresh cursor) of each zone.
    for (unsigned z = 0; z < 2; ++z) {
      const std::uint32_t start =
          z == 0 ? 0u : static_cast<std::uint32_t>(low_zone_frames);
      by_state[z][fs] = zone_end_[z] - fresh_[z];
      for (std::uint32_t i = start; i < fresh_[z]; ++i) {
        const pfn_entry& e = entries_[i];
        ++by_state[z][state_index(e.state())];
        if (e.colour() != colouring_.colour_of(pfn{i})) return false;
        if (!materialised(i, e)) return false;
      }
    }
    std::uint64_t total = 0;
    for (unsigned s = 0; s < page_state_count; ++s) {
      const page_state st = static_cast<page_state>(s);
      const std::uint64_t all = by_state[0][s] + by_state[1][s];
      if (count(st) != all) return false;
      if (st != page_state::active && (zones_[0].count[s] != by_state[0][s] ||
                                       zones_[1].count[s] != by_state[1][s]))
        return false;
      if (is_list_state(st) && on_lists[s] != all) return false;
      total += count(st);
    }
    return total == frame_count_;
  }

 private:
  static constexpr unsigned state_index(page_state s) noexcept {
    return static_cast<unsigned>(s);
  }
  static constexpr bool is_coloured(page_state list) noexcept {
    return list == page_state::zeroed || list == page_state::free;
  }

  /// head_of() for a change to the list.
  pfn_list_head& head_ref(page_state list, std::uint32_t colour,
                          unsigned zone) noexcept {
    MMKIT_ASSERT(is_list_state(list) && colour < colour_count && zone < 2);
    const unsigned s = state_index(list);
    if (is_coloured(list)) return zones_[zone].heads[s * colour_count + colour];
    return plain_heads_[s - 2];
  }

  // --- the fast paths' per-zone bodies (one copy per zone) ------------------

  /// try_pop_front_active() in zone block `b` (zone `z`).
  std::uint32_t try_pop_in(zone_block& b, unsigned z, page_state list,
                           std::uint32_t colour) noexcept {
    pfn_list_head& h = b.heads[state_index(list) * colour_count + colour];
    const std::uint32_t i = h.first;
    if (i == pfn_entry::no_frame) return i;
    pfn_entry& e = entries_[i];
    const std::uint32_t next = e.next();
    h.first = next;
    if (next != pfn_entry::no_frame)
      entries_[next].set_prev(pfn_entry::no_frame);
    else
      h.last = pfn_entry::no_frame;
    MMKIT_ASSERT(e.state() == list && zone_of(i) == z);
    (void)z;
    --b.count[state_index(list)];
    e.reset_active(colour);
    return i;
  }
  /// move_to_front() in frame i's zone block `b`, the state already set.
  void move_to_front_in(zone_block& b, std::uint32_t i, pfn_entry& e,
                        page_state from, page_state list,
                        std::uint32_t colour) noexcept {
    count_move(b, from, list);
    pfn_list_head& h = b.heads[state_index(list) * colour_count + colour];
    const std::uint32_t first = h.first;
    e.set_prev(pfn_entry::no_frame);
    e.set_next(first);
    if (first != pfn_entry::no_frame)
      entries_[first].set_prev(i);
    else
      h.last = i;
    h.first = i;
  }
  /// The counts of a state change in zone block `b` (active is not
  /// counted).
  static void count_move(zone_block& b, page_state from,
                         page_state to) noexcept {
    if (from != page_state::active) --b.count[state_index(from)];
    if (to != page_state::active) ++b.count[state_index(to)];
  }

  /// push_back() without the count: for a frame that is counted already.
  void link_back(page_state list, std::uint32_t colour, unsigned zone,
                 std::uint32_t i) noexcept {
    pfn_list_head& h = head_ref(list, colour, zone);
    pfn_entry& e = entries_[i];
    e.set_next(pfn_entry::no_frame);
    e.set_prev(h.last);
    if (h.last != pfn_entry::no_frame)
      entries_[h.last].set_next(i);
    else
      h.first = i;
    h.last = i;
  }

  /// Requires: zone z has fresh frames. Effects: the fresh frames up to the
  /// next fresh_chunk_frames boundary get their entries and go to the
  /// tails of their lists, lowest first (after every linked frame, where
  /// the list says they are); the counts do not change (they already
  /// counted them).
  void materialise_chunk(unsigned z) noexcept {
    const std::uint32_t first = fresh_[z];
    MMKIT_ASSERT(first < zone_end_[z]);
    const std::uint64_t boundary =
        (std::uint64_t{first} | (fresh_chunk_frames - 1)) + 1;
    const std::uint32_t end = static_cast<std::uint32_t>(
        boundary < zone_end_[z] ? boundary : zone_end_[z]);
    for (std::uint32_t i = first; i != end; ++i) {
      pfn_entry& e = entries_[i];
      e = fresh_entry(i);
      link_back(fresh_state_, colour_of_entry(e), z, i);
    }
    __atomic_store_n(&fresh_[z], end, __ATOMIC_RELAXED);  // see is_fresh
  }

  pfn_entry* entries_;
  std::uint32_t frame_count_;
  // Per zone: the first fresh frame, and the zone's end (zone 0 ends at
  // min(frames, 4 GiB); zone 1 runs from 4 GiB to max(frames, 4 GiB)).
  std::uint32_t fresh_[2];
  std::uint32_t zone_end_[2];
  // 1 when there are frames above 4 GiB: top_zone() of an unbounded
  // allocation, and that zone's block (a pointer into this object, which
  // is never copied or moved), so the allocation fast path finds its
  // list with one load.
  unsigned high_zone_;
  zone_block* top_block_;
  // The state of every fresh frame: zeroed or free.
  page_state fresh_state_;
  // One zone's zeroed and free heads (zeroed, then free, by colour) and
  // its frames per state, fresh frames included (the entry for active
  // stays 0: count() derives it). Padded to a power of two, so that a
  // zone's block is one shift away from the first where the zone is not
  // known at compile time (the padding is spare counters, never read).
  static constexpr std::size_t block_heads_bytes =
      2 * colour_count * sizeof(pfn_list_head);
  static constexpr std::size_t block_bytes = std::bit_ceil(
      block_heads_bytes + page_state_count * sizeof(std::uint64_t));
  struct zone_block {
    pfn_list_head heads[2 * colour_count];
    std::uint64_t
        count[(block_bytes - block_heads_bytes) / sizeof(std::uint64_t)] = {};
  };
  static_assert(sizeof(zone_block) == block_bytes);
  zone_block zones_[2];
  // Standby, modified, modified-no-write and bad: one list each.
  pfn_list_head plain_heads_[4];
  [[no_unique_address]] Colouring colouring_;
};

}  // namespace mmkit::detail
