#include "pfn_test_support.hpp"

#include <mmkit/phys/frame_cache.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using namespace mmkit;
using mmkit::test::pfn_fixture;
using mmkit::test::repurpose_call;

namespace {

// Allocates a frame that is mapped by a hardware PTE, with its contents
// scribbled on, as the address space would leave it.
template <class Fixture>
pfn map_frame(Fixture& fx, page_need need, std::uint64_t pte_address,
              std::uint64_t original) {
  result<pfn> r = fx.db.allocate(need);
  REQUIRE(r.ok());
  fx.db.set_pte_link(*r, pte_link::hardware_pte(paddr{pte_address}), original);
  fx.memory.scribble(*r, static_cast<std::uint8_t>(r->raw() + 1));
  return *r;
}

// The first frame on `list` of any colour, or no_frame.
template <class Fixture>
pfn first_on(const Fixture& fx, page_state list) {
  for (std::uint32_t c = 0; c < Fixture::database::colour_count; ++c)
    if (fx.db.debug_head(list, c) != pfn_entry::no_frame)
      return pfn{fx.db.debug_head(list, c)};
  return pfn{pfn_entry::no_frame};
}

}  // namespace

TEST_CASE_TEMPLATE("pfn_database: starts with every frame free or zeroed", C,
                   no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(16);
  CHECK(fx.db.frame_count() == 16);
  CHECK(fx.db.count(page_state::free) == 16);
  CHECK(fx.db.count(page_state::zeroed) == 0);
  CHECK(fx.db.available() == 16);
  CHECK(fx.db.check_invariants());

  pfn_fixture<C> zero(16, initial_contents::zero);
  CHECK(zero.db.count(page_state::zeroed) == 16);
  CHECK(zero.db.count(page_state::free) == 0);
  CHECK(zero.db.check_invariants(content_check::yes));
}

TEST_CASE_TEMPLATE(
    "pfn_database: claim hands out one frame by its number, zeroed, when it "
    "is listed zeroed or free (or fresh), and refuses any other",
    C, no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(64);
  // Fresh (not materialised yet), from the free list: zeroed on the way.
  REQUIRE(fx.db.claim(pfn{40}));
  CHECK(fx.db.entry(pfn{40}).state() == page_state::active);
  CHECK(fx.db.entry(pfn{40}).share_count() == 1);
  CHECK(fx.db.entry(pfn{40}).reference_count() == 1);
  CHECK(fx.memory.is_zero(pfn{40}));
  CHECK(fx.db.count(page_state::free) == 63);
  CHECK(fx.db.check_invariants());
  // In use already, or past the database: refused, nothing changed.
  CHECK(!fx.db.claim(pfn{40}));
  CHECK(!fx.db.claim(pfn{64}));
  // Listed zeroed: taken off its list.
  const pfn f = map_frame(fx, page_need::any, 0x1000, 0);
  fx.db.set_pte_link(f, pte_link{}, 0);
  fx.db.release(f, release_to::free_list);
  CHECK(fx.db.zero_free_pages(64) > 0);
  REQUIRE(fx.db.entry(f).state() == page_state::zeroed);
  const std::uint64_t zeroed = fx.db.count(page_state::zeroed);
  REQUIRE(fx.db.claim(f));
  CHECK(fx.db.count(page_state::zeroed) == zeroed - 1);
  // Bad: refused.
  fx.db.mark_bad(pfn{50});
  CHECK(!fx.db.claim(pfn{50}));
  // Frames handed out by number go back as any other.
  fx.db.release(pfn{40}, release_to::free_list);
  fx.db.release(f, release_to::free_list);
  CHECK(fx.db.check_invariants());
}

TEST_CASE(
    "frame_cache: frames come back last in, first out, each with "
    "its mark of whether it must be zeroed") {
  frame_cache cache;
  CHECK(cache.empty());
  for (std::uint32_t i = 0; i < frame_cache::capacity; ++i)
    cache.push(pfn{100 + i}, i % 3 == 0);
  CHECK(cache.full());
  CHECK(cache.size() == frame_cache::capacity);
  for (std::uint32_t i = frame_cache::capacity; i-- > 0;) {
    bool zero = false;
    CHECK(cache.pop(zero) == pfn{100 + i});
    CHECK(zero == (i % 3 == 0));
  }
  CHECK(cache.empty());
  // A slot's old mark does not stick to the next frame put there.
  cache.push(pfn{7}, true);
  bool zero = false;
  (void)cache.pop(zero);
  cache.push(pfn{8}, false);
  CHECK(cache.pop(zero) == pfn{8});
  CHECK_FALSE(zero);
}

TEST_CASE(
    "pfn_database: a frame held for a page gets its link without the flags "
    "word being written, so a bad mark set meanwhile stays") {
  pfn_fixture<> fx(4, initial_contents::zero);
  const result<pfn> f = fx.db.allocate(page_need::zeroed);
  REQUIRE(f.ok());
  fx.db.hold_for_page(*f);
  CHECK(fx.db.entry(*f).link() == pte_link::hardware_pte(paddr{0}));
  fx.db.mark_bad(*f);  // active: the mark waits for the frame's release
  fx.db.set_cached_link(*f, pte_link::hardware_pte(paddr{0x7008}), 0x4A0);
  CHECK(fx.db.entry(*f).link() == pte_link::hardware_pte(paddr{0x7008}));
  CHECK(fx.db.entry(*f).original_pte() == 0x4A0);
  CHECK(fx.db.entry(*f).bad_pending());
  CHECK(fx.db.entry(*f).state() == page_state::active);
  CHECK(fx.db.release(*f, release_to::free_list) == page_state::bad);
  CHECK(fx.db.check_invariants());
}

TEST_CASE(
    "pfn_database: a frame allocated and never mapped goes back unused: "
    "zeroed to the front of the zeroed list, else to the free list") {
  pfn_fixture<> fx(4, initial_contents::zero);
  const result<pfn> a = fx.db.allocate(page_need::zeroed);
  const result<pfn> b = fx.db.allocate(page_need::zeroed);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(fx.db.count(page_state::active) == 2);
  fx.db.release_unused(*a, true);
  CHECK(fx.db.count(page_state::zeroed) == 3);
  CHECK(fx.db.entry(*a).state() == page_state::zeroed);
  CHECK(fx.db.entry(*a).share_count() == 0);
  CHECK(fx.db.entry(*a).reference_count() == 0);
  // Unknown bytes (a cached frame from the free list) go to free.
  fx.db.release_unused(*b, false);
  CHECK(fx.db.count(page_state::free) == 1);
  CHECK(fx.db.entry(*b).state() == page_state::free);
  CHECK(fx.db.check_invariants());
  // The zeroed frame went to the front: it is the next handed out.
  const result<pfn> again = fx.db.allocate(page_need::zeroed);
  REQUIRE(again.ok());
  CHECK(*again == *a);
}

TEST_CASE("pfn_database: allocate any takes free, then zeroed, then standby") {
  pfn_fixture<> fx(4);
  CHECK(fx.db.zero_free_pages(2) == 2);
  CHECK(fx.db.count(page_state::zeroed) == 2);
  CHECK(fx.db.count(page_state::free) == 2);

  std::vector<pfn> got;
  for (int k = 0; k < 2; ++k) {
    result<pfn> r = fx.db.allocate(page_need::any);
    REQUIRE(r.ok());
    CHECK(fx.db.entry(*r).state() == page_state::active);
    got.push_back(*r);
  }
  // Both free frames went first: the zeroed ones are still there.
  CHECK(fx.db.count(page_state::zeroed) == 2);
  CHECK(fx.db.count(page_state::free) == 0);
  for (int k = 0; k < 2; ++k) {
    result<pfn> r = fx.db.allocate(page_need::any);
    REQUIRE(r.ok());
    got.push_back(*r);
  }
  CHECK(fx.db.count(page_state::zeroed) == 0);
  CHECK(fx.db.count(page_state::active) == 4);
  CHECK(fx.db.available() == 0);
  CHECK(fx.db.allocate(page_need::any).error() == status::no_memory);
  CHECK(fx.db.allocate(page_need::zeroed).error() == status::no_memory);
  CHECK(fx.db.check_invariants());

  // One frame goes to standby; the next allocation repurposes it.
  fx.db.set_pte_link(got[1], pte_link::hardware_pte(paddr{0x5008}), 0x4A0);
  CHECK(fx.db.release(got[1], release_to::backing_store) ==
        page_state::standby);
  CHECK(fx.db.available() == 1);
  result<pfn> r = fx.db.allocate(page_need::any);
  REQUIRE(r.ok());
  CHECK(*r == got[1]);
  REQUIRE(fx.calls.size() == 1);
  CHECK(fx.calls[0] ==
        repurpose_call{got[1], pte_link::hardware_pte(paddr{0x5008}), 0x4A0});
  CHECK(fx.db.entry(*r).link().kind == pte_kind::none);
  CHECK(fx.db.entry(*r).original_pte() == 0);
  CHECK(fx.db.check_invariants());
}

TEST_CASE_TEMPLATE(
    "pfn_database: allocate zeroed hands out zeros from every source", C,
    no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(3);
  // Dirty every frame, then put them back: free frames hold garbage.
  std::vector<pfn> frames;
  for (int k = 0; k < 3; ++k)
    frames.push_back(map_frame(fx, page_need::any, 0x1000 + 8 * k, 0));
  for (pfn f : frames)
    CHECK(fx.db.release(f, release_to::free_list) == page_state::free);
  CHECK(fx.db.count(page_state::free) == 3);

  // From the free list, zeroed on the spot.
  result<pfn> a = fx.db.allocate(page_need::zeroed);
  REQUIRE(a.ok());
  CHECK(fx.memory.is_zero(*a));
  // From the zeroed list (zeroed by the worker).
  CHECK(fx.db.zero_free_pages(1) == 1);
  CHECK(fx.db.check_invariants(content_check::yes));
  result<pfn> b = fx.db.allocate(page_need::zeroed);
  REQUIRE(b.ok());
  CHECK(fx.memory.is_zero(*b));
  // From standby, after the owner gave it up.
  fx.memory.scribble(*b, 0x77);
  fx.db.set_pte_link(*b, pte_link::prototype_pte(99), 0x123);
  fx.db.set_modified(*b);
  CHECK(fx.db.release(*b, release_to::backing_store) == page_state::modified);
  fx.db.move_to_standby_after_write(*b);
  CHECK(fx.db.entry(*b).state() == page_state::standby);
  result<pfn> c = fx.db.allocate(page_need::any);  // the last free frame
  REQUIRE(c.ok());
  result<pfn> d = fx.db.allocate(page_need::zeroed);
  REQUIRE(d.ok());
  CHECK(*d == *b);
  CHECK(fx.memory.is_zero(*d));
  REQUIRE(fx.calls.size() == 1);
  CHECK(fx.calls[0] == repurpose_call{*b, pte_link::prototype_pte(99), 0x123});
  CHECK(fx.db.check_invariants(content_check::yes));
}

TEST_CASE_TEMPLATE(
    "pfn_database: release places the frame by backing and dirtiness", C,
    no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(8);
  const pfn a = map_frame(fx, page_need::any, 0x1000, 0);
  const pfn b = map_frame(fx, page_need::any, 0x1008, 0x80);
  const pfn c = map_frame(fx, page_need::any, 0x1010, 0x80);
  const pfn d = map_frame(fx, page_need::any, 0x1018, 0x80);
  const pfn e = map_frame(fx, page_need::any, 0x1020, 0x80);
  fx.db.set_modified(a);
  fx.db.set_modified(c);
  fx.db.set_modified(d);

  // A private page being freed: free list, whatever its dirtiness.
  CHECK(fx.db.release(a, release_to::free_list) == page_state::free);
  CHECK_FALSE(fx.db.entry(a).modified());
  // Clean with backing: standby.
  CHECK(fx.db.release(b, release_to::backing_store) == page_state::standby);
  // Dirty with backing: modified.
  CHECK(fx.db.release(c, release_to::backing_store) == page_state::modified);
  // Dirty, must not be written yet: modified-no-write.
  CHECK(fx.db.release(d, release_to::backing_store_no_write) ==
        page_state::modified_no_write);
  // Clean, no-write: standby (there is nothing to write).
  CHECK(fx.db.release(e, release_to::backing_store_no_write) ==
        page_state::standby);
  CHECK(fx.db.count(page_state::standby) == 2);
  CHECK(fx.db.count(page_state::modified) == 1);
  CHECK(fx.db.count(page_state::modified_no_write) == 1);
  CHECK(fx.db.available() == 3 + 1 + 2);
  CHECK(fx.list(page_state::standby) ==
        std::vector<std::uint32_t>{static_cast<std::uint32_t>(b.raw()),
                                   static_cast<std::uint32_t>(e.raw())});
  CHECK(fx.db.oldest(page_state::standby) == b);
  CHECK(fx.db.check_invariants());

  // The writer: no-write -> modified -> standby.
  fx.db.allow_write(d);
  CHECK(fx.db.entry(d).state() == page_state::modified);
  CHECK(fx.list(page_state::modified) ==
        std::vector<std::uint32_t>{static_cast<std::uint32_t>(c.raw()),
                                   static_cast<std::uint32_t>(d.raw())});
  fx.db.move_to_standby_after_write(c);
  CHECK(fx.db.entry(c).state() == page_state::standby);
  CHECK_FALSE(fx.db.entry(c).modified());
  CHECK(fx.db.oldest(page_state::modified) == d);
  CHECK(fx.db.check_invariants());
  CHECK(fx.calls.empty());
}

TEST_CASE_TEMPLATE(
    "pfn_database: repurposing takes the oldest standby frame and calls its "
    "owner",
    C, no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(3);
  std::vector<pfn> f;
  for (int k = 0; k < 3; ++k)
    f.push_back(map_frame(fx, page_need::any, 0x2000 + 8 * k, 0x100 + k));
  fx.db.set_pte_link(f[2], pte_link::prototype_pte(7), 0x4000'0400);
  // Release in the order 2, 0, 1: standby is FIFO.
  fx.db.release(f[2], release_to::backing_store);
  fx.db.release(f[0], release_to::backing_store);
  fx.db.release(f[1], release_to::backing_store);
  std::vector<repurpose_call> want = {
      {f[2], pte_link::prototype_pte(7), 0x4000'0400},
      {f[0], pte_link::hardware_pte(paddr{0x2000}), 0x100},
      {f[1], pte_link::hardware_pte(paddr{0x2008}), 0x101},
  };
  for (int k = 0; k < 3; ++k) {
    result<pfn> r = fx.db.allocate(k == 1 ? page_need::zeroed : page_need::any);
    REQUIRE(r.ok());
    CHECK(*r == want[static_cast<std::size_t>(k)].frame);
    CHECK(fx.db.check_invariants());
  }
  CHECK(fx.calls == want);
  CHECK(fx.db.allocate(page_need::any).error() == status::no_memory);
}

TEST_CASE_TEMPLATE(
    "pfn_database: modified frames are not available and never repurposed", C,
    no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(2);
  const pfn a = map_frame(fx, page_need::any, 0x1000, 0);
  const pfn b = map_frame(fx, page_need::any, 0x1008, 0);
  fx.db.set_modified(a);
  fx.db.set_modified(b);
  fx.db.release(a, release_to::backing_store);
  fx.db.release(b, release_to::backing_store_no_write);
  CHECK(fx.db.available() == 0);
  CHECK(fx.db.allocate(page_need::any).error() == status::no_memory);
  CHECK(fx.calls.empty());
  fx.db.move_to_standby_after_write(a);
  CHECK(fx.db.allocate(page_need::any).value() == a);
  CHECK(fx.db.check_invariants());
}

TEST_CASE_TEMPLATE(
    "pfn_database: soft faults reclaim standby, modified, no-write and "
    "transition frames",
    C, no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(8);
  const pfn s = map_frame(fx, page_need::any, 0x1000, 0x11);
  const pfn m = map_frame(fx, page_need::any, 0x1008, 0x22);
  const pfn n = map_frame(fx, page_need::any, 0x1010, 0x33);
  const pfn t = map_frame(fx, page_need::any, 0x1018, 0x44);
  fx.db.set_modified(m);
  fx.db.set_modified(n);
  fx.db.release(s, release_to::backing_store);
  fx.db.release(m, release_to::backing_store);
  fx.db.release(n, release_to::backing_store_no_write);
  fx.db.add_reference(t);  // I/O holds it
  CHECK(fx.db.release(t, release_to::backing_store) == page_state::transition);
  CHECK(fx.db.entry(t).reference_count() == 1);
  CHECK(fx.db.count(page_state::transition) == 1);
  CHECK(fx.db.check_invariants());

  for (pfn f : {s, m, n, t}) {
    fx.db.reclaim(f);
    const pfn_entry& e = fx.db.entry(f);
    CHECK(e.state() == page_state::active);
    CHECK(e.share_count() == 1);
    CHECK(e.link().kind == pte_kind::hardware);
    CHECK(fx.db.check_invariants());
  }
  CHECK(fx.db.entry(t).reference_count() == 2);
  CHECK(fx.db.entry(s).reference_count() == 1);
  CHECK_FALSE(fx.db.entry(s).modified());
  CHECK(fx.db.entry(m).modified());
  CHECK(fx.db.entry(n).modified());
  CHECK(fx.db.entry(n).original_pte() == 0x33);
  CHECK(fx.db.count(page_state::standby) == 0);
  CHECK(fx.db.count(page_state::modified) == 0);
  CHECK(fx.db.count(page_state::modified_no_write) == 0);
  CHECK(fx.db.count(page_state::transition) == 0);
  CHECK(fx.calls.empty());
}

TEST_CASE_TEMPLATE(
    "pfn_database: share and reference counts decide when a frame leaves", C,
    no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(4);
  const pfn f = map_frame(fx, page_need::any, 0x1000, 0x80);
  fx.db.increment_share_count(f);
  fx.db.increment_share_count(f);
  CHECK(fx.db.entry(f).share_count() == 3);
  CHECK(fx.db.decrement_share_count(f, release_to::backing_store) ==
        page_state::active);
  CHECK(fx.db.decrement_share_count(f, release_to::backing_store) ==
        page_state::active);
  fx.db.add_reference(f);
  fx.db.set_modified(f);
  CHECK(fx.db.remove_reference(f) == page_state::active);
  fx.db.add_reference(f);
  CHECK(fx.db.decrement_share_count(f, release_to::backing_store) ==
        page_state::transition);
  CHECK(fx.db.entry(f).pending_release() == release_to::backing_store);
  CHECK(fx.db.check_invariants());
  CHECK(fx.db.remove_reference(f) == page_state::modified);
  CHECK(fx.db.check_invariants());

  // A private frame held by I/O goes to free when the I/O lets go.
  const pfn g = map_frame(fx, page_need::any, 0x1008, 0);
  fx.db.add_reference(g);
  CHECK(fx.db.release(g, release_to::free_list) == page_state::transition);
  CHECK(fx.db.remove_reference(g) == page_state::free);
  CHECK(fx.db.check_invariants());
}

TEST_CASE_TEMPLATE(
    "pfn_database: the modified page writer, synchronous and asynchronous", C,
    no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(4);
  const pfn a = map_frame(fx, page_need::any, 0x1000, 0x80);
  const pfn b = map_frame(fx, page_need::any, 0x1008, 0x80);
  const pfn c = map_frame(fx, page_need::any, 0x1010, 0x80);
  for (pfn f : {a, b, c}) {
    fx.db.set_modified(f);
    CHECK(fx.db.release(f, release_to::backing_store) == page_state::modified);
  }
  // Succeeds: standby.
  fx.db.begin_write(a);
  CHECK(fx.db.entry(a).state() == page_state::transition);
  CHECK(fx.db.entry(a).write_in_progress());
  CHECK(fx.db.check_invariants());
  CHECK(fx.db.end_write(a, write_outcome::succeeded) == page_state::standby);
  CHECK_FALSE(fx.db.entry(a).write_in_progress());
  // Fails: back on modified.
  fx.db.begin_write(b);
  CHECK(fx.db.end_write(b, write_outcome::failed) == page_state::modified);
  CHECK(fx.db.entry(b).modified());
  // A soft fault during the write: the frame stays active.
  fx.db.begin_write(c);
  fx.db.reclaim(c);
  CHECK(fx.db.end_write(c, write_outcome::succeeded) == page_state::active);
  CHECK(fx.db.entry(c).reference_count() == 1);
  CHECK_FALSE(fx.db.entry(c).modified());
  CHECK(fx.db.release(c, release_to::backing_store) == page_state::standby);
  CHECK(fx.db.check_invariants());
}

TEST_CASE_TEMPLATE(
    "pfn_database: a frame marked bad leaves for good, from every state", C,
    no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(16);
  const pfn s = map_frame(fx, page_need::any, 0x1000, 0x11);
  const pfn m = map_frame(fx, page_need::any, 0x1008, 0x22);
  const pfn n = map_frame(fx, page_need::any, 0x1010, 0x33);
  const pfn act = map_frame(fx, page_need::any, 0x1018, 0x44);
  const pfn tr = map_frame(fx, page_need::any, 0x1020, 0x55);
  fx.db.set_modified(m);
  fx.db.set_modified(n);
  fx.db.release(s, release_to::backing_store);
  fx.db.release(m, release_to::backing_store);
  fx.db.release(n, release_to::backing_store_no_write);
  fx.db.add_reference(tr);
  fx.db.release(tr, release_to::backing_store);
  CHECK(fx.db.zero_free_pages(1) == 1);
  const pfn zeroed = first_on(fx, page_state::zeroed);
  const pfn free_frame = first_on(fx, page_state::free);
  REQUIRE(fx.db.entry(zeroed).state() == page_state::zeroed);
  REQUIRE(fx.db.entry(free_frame).state() == page_state::free);

  // Zeroed, free: at once, no call.
  fx.db.mark_bad(zeroed);
  fx.db.mark_bad(free_frame);
  CHECK(fx.db.entry(zeroed).state() == page_state::bad);
  CHECK(fx.db.entry(free_frame).state() == page_state::bad);
  CHECK(fx.calls.empty());
  // Standby: at once; the owner restores its PTE.
  fx.db.mark_bad(s);
  CHECK(fx.db.entry(s).state() == page_state::bad);
  REQUIRE(fx.calls.size() == 1);
  CHECK(fx.calls[0] ==
        repurpose_call{s, pte_link::hardware_pte(paddr{0x1000}), 0x11});
  // In use or holding the only copy: flagged.
  for (pfn f : {m, n, act, tr}) {
    fx.db.mark_bad(f);
    CHECK(fx.db.entry(f).bad_pending());
    CHECK(fx.db.entry(f).state() != page_state::bad);
  }
  CHECK(fx.db.count(page_state::bad) == 3);
  CHECK(fx.db.check_invariants());

  // Modified: bad once written (owner called: the data is on disk now).
  fx.db.move_to_standby_after_write(m);
  CHECK(fx.db.entry(m).state() == page_state::bad);
  CHECK(fx.calls.back() ==
        repurpose_call{m, pte_link::hardware_pte(paddr{0x1008}), 0x22});
  // Modified-no-write: reclaimed and released, straight to bad.
  fx.db.reclaim(n);
  CHECK(fx.db.release(n, release_to::backing_store) == page_state::bad);
  // Active: released to bad whatever the caller asked.
  CHECK(fx.db.release(act, release_to::free_list) == page_state::bad);
  // Transition with a backed release: the owner's transition PTE is
  // restored when the last reference goes.
  const std::size_t before = fx.calls.size();
  CHECK(fx.db.remove_reference(tr) == page_state::bad);
  REQUIRE(fx.calls.size() == before + 1);
  CHECK(fx.calls.back() ==
        repurpose_call{tr, pte_link::hardware_pte(paddr{0x1020}), 0x55});
  CHECK(fx.db.count(page_state::bad) == 7);
  fx.db.mark_bad(act);  // already bad: nothing changes
  CHECK(fx.db.count(page_state::bad) == 7);
  CHECK(fx.db.check_invariants());

  // A bad frame is never handed out.
  std::vector<pfn> bad = {zeroed, free_frame, s, m, n, act, tr};
  for (;;) {
    result<pfn> r = fx.db.allocate(page_need::zeroed);
    if (!r) {
      CHECK(r.error() == status::no_memory);
      break;
    }
    for (pfn b : bad) CHECK(*r != b);
  }
  CHECK(fx.db.count(page_state::active) == 16 - 7);
  CHECK(fx.db.check_invariants());
}

TEST_CASE_TEMPLATE(
    "pfn_database: zero_free_pages moves up to n frames and zeroes them", C,
    no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(10);
  std::vector<pfn> f;
  for (int k = 0; k < 10; ++k)
    f.push_back(map_frame(fx, page_need::any, 0x1000 + 8 * k, 0));
  for (pfn x : f) fx.db.release(x, release_to::free_list);
  CHECK(fx.db.zero_free_pages(0) == 0);
  CHECK(fx.db.zero_free_pages(4) == 4);
  CHECK(fx.db.count(page_state::zeroed) == 4);
  CHECK(fx.db.count(page_state::free) == 6);
  CHECK(fx.db.check_invariants(content_check::yes));
  CHECK(fx.db.zero_free_pages(100) == 6);
  CHECK(fx.db.count(page_state::zeroed) == 10);
  CHECK(fx.db.zero_free_pages(1) == 0);
  CHECK(fx.db.check_invariants(content_check::yes));
}

TEST_CASE("pfn_database: a scribbled zeroed frame fails the content check") {
  pfn_fixture<> fx(2, initial_contents::zero);
  CHECK(fx.db.check_invariants(content_check::yes));
  fx.memory.scribble(pfn{1}, 1);
  CHECK(fx.db.check_invariants());
  CHECK_FALSE(fx.db.check_invariants(content_check::yes));
}

TEST_CASE("pfn_database: check_invariants catches a broken link or count") {
  pfn_fixture<> fx(4);
  REQUIRE(fx.db.check_invariants());
  // Link every frame, 0 to 3: take them all, then free them highest first
  // (the free list is LIFO).
  for (int k = 0; k < 4; ++k) REQUIRE(fx.db.allocate(page_need::any).ok());
  for (std::uint32_t i = 4; i-- > 0;)
    fx.db.release(pfn{i}, release_to::free_list);
  REQUIRE(fx.list(page_state::free) == std::vector<std::uint32_t>{0, 1, 2, 3});
  REQUIRE(fx.db.fresh_count() == 0);
  REQUIRE(fx.db.check_invariants());
  pfn_entry saved = fx.entries[2];
  fx.entries[2].set_prev(0);  // should be 1
  CHECK_FALSE(fx.db.check_invariants());
  fx.entries[2] = saved;
  fx.entries[3].set_state(page_state::zeroed);  // on the free list
  CHECK_FALSE(fx.db.check_invariants());
  fx.entries[3] = saved;
  fx.entries[3].set_next(pfn_entry::no_frame);
  fx.entries[3].set_prev(2);
  CHECK(fx.db.check_invariants());
  fx.entries[1].set_next(3);  // skips 2: frame 2 is on no list
  fx.entries[3].set_prev(1);
  CHECK_FALSE(fx.db.check_invariants());
}

TEST_CASE("pfn_database: available thresholds") {
  pfn_fixture<> fx(8);
  fx.db.set_available_thresholds(3, 6);
  CHECK(fx.db.low_threshold() == 3);
  CHECK(fx.db.high_threshold() == 6);
  CHECK(fx.db.available_is_high());
  CHECK_FALSE(fx.db.available_is_low());
  std::vector<pfn> f;
  for (int k = 0; k < 6; ++k)
    f.push_back(fx.db.allocate(page_need::any).value());
  CHECK(fx.db.available() == 2);
  CHECK(fx.db.available_is_low());
  CHECK_FALSE(fx.db.available_is_high());
  // Standby frames count as available.
  for (pfn x : f) fx.db.release(x, release_to::backing_store);
  CHECK(fx.db.available() == 8);
  CHECK(fx.db.available_is_high());
}

TEST_CASE("pfn_database: coloured allocation prefers the hinted colour") {
  using colouring = frame_number_colouring<4>;
  pfn_fixture<colouring> fx(16);
  CHECK(fx.db.check_invariants());
  for (std::uint32_t c = 0; c < 4; ++c) {
    CHECK(fx.list(page_state::free, c).size() == 4);
    for (std::uint32_t i : fx.list(page_state::free, c)) CHECK(i % 4 == c);
  }
  // Each hint gets its own colour while that colour lasts.
  for (std::uint32_t k = 0; k < 4; ++k) {
    result<pfn> r = fx.db.allocate(page_need::any, 2);
    REQUIRE(r.ok());
    CHECK(r->raw() % 4 == 2);
  }
  CHECK(fx.list(page_state::free, 2).empty());
  // Colour 2 is empty: the next colour up serves it.
  result<pfn> r = fx.db.allocate(page_need::any, 2);
  REQUIRE(r.ok());
  CHECK(r->raw() % 4 == 3);
  // A zeroed frame of the right colour beats a free one of another colour
  // for page_need::zeroed; a free one of the right colour beats zeroed
  // frames of other colours.
  CHECK(fx.db.zero_free_pages(16) == 11);
  fx.db.release(*r, release_to::free_list);
  result<pfn> z = fx.db.allocate(page_need::zeroed, 3);
  REQUIRE(z.ok());
  CHECK(z->raw() % 4 == 3);
  CHECK(fx.db.entry(*z).state() == page_state::active);
  CHECK(fx.db.count(page_state::free) == 1);
  result<pfn> a = fx.db.allocate(page_need::any, 3);
  REQUIRE(a.ok());
  CHECK(*a == *r);
  // Hints wrap modulo the colour count.
  result<pfn> w = fx.db.allocate(page_need::any, 5);
  REQUIRE(w.ok());
  CHECK(w->raw() % 4 == 1);
  CHECK(fx.db.check_invariants(content_check::yes));
}

TEST_CASE("pfn_database: the transition table is NT's state machine") {
  using db = pfn_fixture<>::database;
  using s = page_state;
  const s all[] = {
      s::zeroed, s::free,   s::standby,   s::modified, s::modified_no_write,
      s::bad,    s::active, s::transition};
  struct edge {
    s from, to;
  };
  const std::vector<edge> legal = {
      {s::zeroed, s::active},
      {s::zeroed, s::bad},
      {s::free, s::active},
      {s::free, s::zeroed},
      {s::free, s::bad},
      {s::standby, s::active},
      {s::standby, s::bad},
      {s::modified, s::active},
      {s::modified, s::standby},
      {s::modified, s::transition},
      {s::modified, s::bad},
      {s::modified_no_write, s::active},
      {s::modified_no_write, s::modified},
      {s::active, s::free},
      {s::active, s::standby},
      {s::active, s::modified},
      {s::active, s::modified_no_write},
      {s::active, s::bad},
      {s::active, s::transition},
      {s::transition, s::active},
      {s::transition, s::free},
      {s::transition, s::standby},
      {s::transition, s::modified},
      {s::transition, s::modified_no_write},
      {s::transition, s::bad},
  };
  for (s from : all)
    for (s to : all) {
      bool want = false;
      for (const edge& e : legal) want = want || (e.from == from && e.to == to);
      CAPTURE(page_state_name(from));
      CAPTURE(page_state_name(to));
      CHECK(db::debug_can_transition(from, to) == want);
    }
  static_assert(!db::debug_can_transition(s::bad, s::free));
  static_assert(!db::debug_can_transition(s::free, s::free));
  static_assert(!db::debug_can_transition(s::active, s::zeroed));
}
