// The PFN database as the FrameSource of page tables: table frames are
// real frames, zeroed, active, flagged and counted.

#include "pfn_test_support.hpp"

#include <mmkit/phys/frame_source.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace mmkit;
using mmkit::test::pfn_fixture;

static_assert(FrameSource<pfn_fixture<>::database>);
static_assert(FrameSource<pfn_fixture<frame_number_colouring<8>>::database>);

TEST_CASE_TEMPLATE(
    "pfn_database: page-table frames are zeroed, active and counted", C,
    no_colouring, frame_number_colouring<4>) {
  pfn_fixture<C> fx(4);
  // Every frame holds garbage first.
  for (std::uint32_t i = 0; i < 4; ++i) fx.memory.scribble(pfn{i}, 0xEE);

  std::vector<pfn> tables;
  for (int k = 0; k < 3; ++k) {
    result<pfn> r = fx.db.allocate_table_frame();
    REQUIRE(r.ok());
    CHECK(fx.memory.is_zero(*r));
    const pfn_entry& e = fx.db.entry(*r);
    CHECK(e.state() == page_state::active);
    CHECK(e.page_table());
    CHECK(fx.db.table_use_count(*r) == 0);
    tables.push_back(*r);
  }
  CHECK(fx.db.page_table_count() == 3);
  CHECK(fx.db.count(page_state::active) == 3);
  CHECK(fx.db.check_invariants());

  // The use count lives in the entry's share-count field.
  std::uint32_t& uses = fx.db.table_use_count(tables[1]);
  uses = 17;
  CHECK(fx.db.entry(tables[1]).share_count() == 17);
  ++uses;
  CHECK(fx.db.table_use_count(tables[1]) == 18);
  uses = 0;

  // Out of frames: a status, not a crash.
  result<pfn> last = fx.db.allocate_table_frame();
  REQUIRE(last.ok());
  CHECK(fx.db.allocate_table_frame().error() == status::no_memory);
  CHECK(fx.db.page_table_count() == 4);

  // Released table frames (their bytes zero again, as a page table gives
  // them back) are not counted, and go to the front of the zeroed list.
  const std::uint64_t zeroed = fx.db.count(page_state::zeroed);
  fx.db.release_table_frame(tables[0]);
  fx.db.release_table_frame(*last);
  CHECK(fx.db.page_table_count() == 2);
  CHECK(fx.db.count(page_state::zeroed) == zeroed + 2);
  CHECK(fx.db.entry(*last).state() == page_state::zeroed);
  CHECK(fx.db.entry(tables[0]).state() == page_state::zeroed);
  CHECK_FALSE(fx.db.entry(tables[0]).page_table());
  CHECK(fx.db.check_invariants());
  // ... and come back zeroed.
  result<pfn> again = fx.db.allocate_table_frame();
  REQUIRE(again.ok());
  CHECK(fx.memory.is_zero(*again));
  CHECK(fx.db.check_invariants());
}

TEST_CASE(
    "pfn_database: a page-table frame can come from a repurposed standby "
    "frame") {
  pfn_fixture<> fx(1);
  const pfn f = fx.db.allocate(page_need::any).value();
  fx.memory.scribble(f, 3);
  fx.db.set_pte_link(f, pte_link::hardware_pte(paddr{0x7008}), 0x4C0);
  fx.db.release(f, release_to::backing_store);
  result<pfn> t = fx.db.allocate_table_frame();
  REQUIRE(t.ok());
  CHECK(*t == f);
  CHECK(fx.memory.is_zero(f));
  REQUIRE(fx.calls.size() == 1);
  CHECK(fx.calls[0].link.table_frame() == pfn{7});
  CHECK(fx.db.page_table_count() == 1);
  CHECK(fx.db.check_invariants());
}

TEST_CASE(
    "pfn_database: a page-table frame marked bad goes bad when released") {
  pfn_fixture<> fx(2);
  const pfn t = fx.db.allocate_table_frame().value();
  fx.db.mark_bad(t);
  CHECK(fx.db.entry(t).state() == page_state::active);
  fx.db.release_table_frame(t);
  CHECK(fx.db.entry(t).state() == page_state::bad);
  CHECK(fx.db.page_table_count() == 0);
  CHECK(fx.db.check_invariants());
  CHECK(fx.db.allocate_table_frame().value() != t);
  CHECK(fx.db.allocate_table_frame().error() == status::no_memory);
}
