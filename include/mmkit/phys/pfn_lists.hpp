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
// split them. high_count(s) is how many frames in state s lie on zone-1
// lists, so the frames below a bound are counted in O(1). The other lists
// are one list each (colour 0, zone 0), whatever the frames' zones.
//
//   head_of(list, colour, zone)
//     zeroed, free                        heads_[(zone*2 + list)*C + colour]
//     standby, modified, no-write, bad    heads_[4*C + list - 2]
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
// Invariants (check() tests each from scratch):
//   - every frame is in one place: linked on the list its state (and, for
//     zeroed and free, its colour and zone) names; fresh; or on no list
//     (active, transition);
//   - each list is linked both ways: prev and next agree for every pair,
//     and its head names its first and last frame;
//   - count(s) is the number of frames in state s, fresh frames included
//     (active is derived: the frames in no other state), and high_count(s)
//     the number of those in state s on zone-1 lists;
//   - each zone's fresh cursor lies in the zone; no fresh frame is linked
//     and no fresh entry is read; every materialised entry carries the
//     colour the colouring policy gives its frame.
//
// Who changes what: the list primitives (push_front, push_back, unlink)
// link and unlink and keep high_count(); the state and count() change
// only in move_state(), which asserts that the transition is legal, and
// in pop_front_active(), the allocation fast path's fused pop and
// activate. Nothing here calls the owner or touches a frame's bytes: that
// is the database's.
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
        fresh_state_(fresh_state),
        colouring_(static_cast<Colouring&&>(colouring)) {
    MMKIT_ASSERT(count <= max_frames);
    MMKIT_ASSERT(count == 0 || entries != nullptr);
    MMKIT_ASSERT(fresh_state == page_state::zeroed ||
                 fresh_state == page_state::free);
    count_[state_index(fresh_state_)] = frame_count_;
    high_count_[state_index(fresh_state_)] = zone_end_[1] - low_zone_frames;
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
  /// only when the bound allows high frames and there are some.
  unsigned top_zone(pfn end) const noexcept {
    return end.raw() > low_zone_frames && frame_count_ > low_zone_frames ? 1
                                                                         : 0;
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
    return i >= fresh_[zone_of(i)];
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
      for (unsigned k = 0; k < page_state_count; ++k) elsewhere += count_[k];
      return frame_count_ - elsewhere;
    }
    return count_[state_index(s)];
  }
  /// The number of frames in state `s` on zone-1 lists (0 for a state
  /// without a list).
  std::uint64_t high_count(page_state s) const noexcept {
    return high_count_[state_index(s)];
  }

  // --- lists ----------------------------------------------------------------

  /// Requires: `list` is a list state; colour < colour_count and zone < 2
  /// (both 0 for a list that is not zeroed or free).
  const pfn_list_head& head_of(page_state list, std::uint32_t colour,
                               unsigned zone) const noexcept {
    return heads_[head_index(list, colour, zone)];
  }

  /// Requires: frame i is on no list. Effects: it is the first frame of
  /// `list` (of `colour` in its zone).
  void push_front(page_state list, std::uint32_t colour,
                  std::uint32_t i) noexcept {
    high_count_[state_index(list)] += zone_of(i);
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
    high_count_[state_index(list)] += zone_of(i);
    link_back(list, colour, zone_of(i), i);
  }
  /// Requires: frame i is on the list its state and colour name.
  /// Effects: it is on no list.
  void unlink(std::uint32_t i, pfn_entry& e) noexcept {
    MMKIT_ASSERT(is_list_state(e.state()));
    high_count_[state_index(e.state())] -= zone_of(i);
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
    pfn_list_head& h = head_ref(list, colour, z);
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

  /// The one place a state changes: asserts the transition is legal and
  /// keeps the per-state counts. The frame must be off every list.
  void move_state(pfn_entry& e, page_state to) noexcept {
    const page_state from = e.state();
    MMKIT_ASSERT(pfn_can_transition(from, to));
    if (from != page_state::active) --count_[state_index(from)];
    if (to != page_state::active) ++count_[state_index(to)];
    e.set_state(to);
  }
  /// move_state() when the caller knows the frame's state is `from`, so the
  /// count it decrements is known at compile time.
  void move_state(pfn_entry& e, page_state from, page_state to) noexcept {
    MMKIT_ASSERT(e.state() == from);
    MMKIT_ASSERT(pfn_can_transition(from, to));
    if (from != page_state::active) --count_[state_index(from)];
    if (to != page_state::active) ++count_[state_index(to)];
    e.set_state(to);
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
    std::array<std::uint64_t, page_state_count> high{};
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
          high[s] += zone_of(i);
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
    std::array<std::uint64_t, page_state_count> by_state{};
    by_state[fs] = fresh_count();
    on_lists[fs] += fresh_count();
    high[fs] += zone_end_[1] - fresh_[1];
    // The materialised frames: [zone start, fresh cursor) of each zone.
    for (unsigned z = 0; z < 2; ++z) {
      const std::uint32_t start =
          z == 0 ? 0u : static_cast<std::uint32_t>(low_zone_frames);
      for (std::uint32_t i = start; i < fresh_[z]; ++i) {
        const pfn_entry& e = entries_[i];
        ++by_state[state_index(e.state())];
        if (e.colour() != colouring_.colour_of(pfn{i})) return false;
        if (!materialised(i, e)) return false;
      }
    }
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
  static constexpr unsigned state_index(page_state s) noexcept {
    return static_cast<unsigned>(s);
  }
  static constexpr bool is_coloured(page_state list) noexcept {
    return list == page_state::zeroed || list == page_state::free;
  }

  /// head_of() for a change to the list.
  pfn_list_head& head_ref(page_state list, std::uint32_t colour,
                          unsigned zone) noexcept {
    return heads_[head_index(list, colour, zone)];
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
    fresh_[z] = end;
  }

  pfn_entry* entries_;
  std::uint32_t frame_count_;
  // Per zone: the first fresh frame, and the zone's end (zone 0 ends at
  // min(frames, 4 GiB); zone 1 runs from 4 GiB to max(frames, 4 GiB)).
  std::uint32_t fresh_[2];
  std::uint32_t zone_end_[2];
  // The state of every fresh frame: zeroed or free.
  page_state fresh_state_;
  // Frames per state; the entry for active stays 0 (count() derives it).
  std::array<std::uint64_t, page_state_count> count_{};
  // Frames per list state on high-zone lists (above 4 GiB).
  std::array<std::uint64_t, page_state_count> high_count_{};
  // One flat array of heads (see the header comment for the layout): with
  // two arrays, g++ 12 at -O2 warned of an out-of-bounds read on a path
  // where a plain list's index met the coloured array.
  static constexpr std::size_t head_count = 4 * colour_count + 4;
  static constexpr std::size_t head_index(page_state list, std::uint32_t colour,
                                          unsigned zone) noexcept {
    const std::size_t s = state_index(list);
    return is_coloured(list) ? (zone * 2 + s) * colour_count + colour
                             : 4 * colour_count + (s - 2);
  }
  pfn_list_head heads_[head_count];
  [[no_unique_address]] Colouring colouring_;
};

}  // namespace mmkit::detail
