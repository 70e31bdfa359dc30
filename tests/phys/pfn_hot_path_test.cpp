// The allocate / release fast paths across both zones: a frame released to
// the free list goes to the head of its own zone's list, counted in that
// zone, by release() and by decrement_share_count() alike; every release
// the fast path does not take (I/O still pending, a bad mark, a backing
// store) still goes the slow way; and check_invariants() counts each zone
// on its own.

#include "pfn_test_support.hpp"

#include <mmkit/phys/host_memory.hpp>

#include <doctest/doctest.h>

#include <cstdint>

using namespace mmkit;

namespace {

constexpr std::uint64_t four_gib = std::uint64_t{1} << 20;  // in frames
constexpr pfn below_4g{four_gib};

// A database of 4 GiB + 2 chunks of frames, on lazy host reservations (the
// frames and entries cost only the pages touched).
struct two_zone_db {
  static constexpr std::uint64_t frames =
      four_gib + 2 * pfn_database<host_memory>::fresh_chunk_frames;
  host_memory memory = host_memory::create(frames * page_size).value();
  host_memory entry_pages =
      host_memory::create(frames * sizeof(pfn_entry)).value();
  pfn_database<host_memory> db{
      memory, reinterpret_cast<pfn_entry*>(entry_pages.frame(pfn{0})), frames};

  // Frames of each zone on the free list, from the public counts (nothing
  // here is zeroed, and the tests put only low frames on standby).
  std::uint64_t free_high() const {
    return db.available() - db.available_below(below_4g);
  }
  std::uint64_t free_low() const {
    return db.count(page_state::free) - free_high();
  }
};

}  // namespace

TEST_CASE("pfn_database: releases to the free list land in their own zone") {
  two_zone_db t;
  auto& db = t.db;
  const std::uint64_t low0 = t.free_low();
  const std::uint64_t high0 = t.free_high();
  REQUIRE(low0 == four_gib);

  // Unbounded allocations take high frames, bounded ones low frames.
  const pfn h1 = db.allocate(page_need::any).value();
  const pfn h2 = db.allocate(page_need::any).value();
  const pfn l1 = db.allocate(page_need::any, 0, below_4g).value();
  const pfn l2 = db.allocate(page_need::any, 0, below_4g).value();
  REQUIRE(h1.raw() >= four_gib);
  REQUIRE(h2.raw() >= four_gib);
  REQUIRE(l1.raw() < four_gib);
  REQUIRE(l2.raw() < four_gib);
  CHECK(t.free_low() == low0 - 2);
  CHECK(t.free_high() == high0 - 2);

  // release(): a dirty, linked page deleted. Its entry keeps the link and
  // original PTE, loses the modified flag and the counts.
  db.set_pte_link(h1, pte_link::hardware_pte(paddr{0x1238}), 0x5080);
  db.set_modified(h1);
  CHECK(db.release(h1, release_to::free_list) == page_state::free);
  const pfn_entry e = db.entry(h1);
  CHECK(e.state() == page_state::free);
  CHECK(e.share_count() == 0);
  CHECK(e.reference_count() == 0);
  CHECK_FALSE(e.modified());
  CHECK(e.link() == pte_link::hardware_pte(paddr{0x1238}));
  CHECK(e.original_pte() == 0x5080);
  CHECK(db.debug_head(page_state::free, 0, 1) == h1.raw());
  CHECK(t.free_high() == high0 - 1);
  CHECK(t.free_low() == low0 - 2);

  // decrement_share_count(): two mappings, the last one goes.
  db.increment_share_count(l1);
  CHECK(db.decrement_share_count(l1, release_to::free_list) ==
        page_state::active);
  CHECK(db.decrement_share_count(l1, release_to::free_list) ==
        page_state::free);
  CHECK(db.debug_head(page_state::free, 0, 0) == l1.raw());
  CHECK(t.free_low() == low0 - 1);
  CHECK(db.check_invariants());

  // LIFO per zone: each bound gets back the frame its zone freed last.
  CHECK(db.allocate(page_need::any).value() == h1);
  CHECK(db.allocate(page_need::any, 0, below_4g).value() == l1);

  // Not the fast path: I/O pending (transition, then free when it ends).
  db.add_reference(h2);
  CHECK(db.release(h2, release_to::free_list) == page_state::transition);
  CHECK(t.free_high() == high0 - 2);
  CHECK(db.remove_reference(h2) == page_state::free);
  CHECK(db.debug_head(page_state::free, 0, 1) == h2.raw());
  CHECK(t.free_high() == high0 - 1);

  // Not the fast path: marked bad while in use.
  db.mark_bad(h1);
  CHECK(db.release(h1, release_to::free_list) == page_state::bad);
  CHECK(db.count(page_state::bad) == 1);
  CHECK(t.free_high() == high0 - 1);

  // Not the fast path: a page with a backing copy goes to standby.
  CHECK(db.release(l2, release_to::backing_store) == page_state::standby);
  CHECK(db.count(page_state::standby) == 1);
  CHECK(db.available_below(below_4g) == t.free_low() + 1);
  CHECK(db.release(l1, release_to::free_list) == page_state::free);
  CHECK(t.free_low() == low0 - 1);
  CHECK(db.check_invariants());
}

TEST_CASE("pfn_database: check_invariants counts each zone on its own") {
  two_zone_db t;
  auto& db = t.db;
  const pfn high = db.allocate(page_need::any).value();
  const pfn low = db.allocate(page_need::any, 0, below_4g).value();
  // The high frame in transition (I/O pending), the low one mapped.
  db.add_reference(high);
  REQUIRE(db.release(high, release_to::free_list) == page_state::transition);
  REQUIRE(db.check_invariants());
  // Swap the two frames' states behind the database's back: every entry
  // is well formed and every state has as many frames as before, but the
  // transition frame has moved zone.
  auto* entries = reinterpret_cast<pfn_entry*>(t.entry_pages.frame(pfn{0}));
  const pfn_entry was_high = entries[high.raw()];
  entries[high.raw()] = entries[low.raw()];
  entries[low.raw()] = was_high;
  CHECK_FALSE(db.check_invariants());
  entries[low.raw()] = entries[high.raw()];
  entries[high.raw()] = was_high;
  CHECK(db.check_invariants());
}
