// A page table whose table frames come from the PFN database: every table
// page is a real, zeroed, active frame, flagged and counted by the database,
// on every arch.

#include "pfn_test_support.hpp"

#include <mmkit/arch/all.hpp>
#include <mmkit/paging/page_table.hpp>

#include <doctest/doctest.h>

#include <cstdint>

using namespace mmkit;
using mmkit::test::pfn_fixture;

TEST_CASE_TEMPLATE(
    "pfn_database: page_table takes its tables from the PFN database", Arch,
    arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  pfn_fixture<> fx(64);
  using database = pfn_fixture<>::database;
  // Data frames for the mappings come from the same database.
  const pfn data = fx.db.allocate(page_need::zeroed).value();
  {
    auto made = page_table<Arch, test::vector_memory, database>::create(
        fx.memory, fx.db);
    REQUIRE(made.ok());
    auto& pt = *made;
    CHECK(fx.db.page_table_count() == 1);
    CHECK(fx.db.entry(pt.root_frame()).page_table());
    CHECK(fx.db.entry(pt.root_frame()).state() == page_state::active);

    // One 4 KiB mapping needs a table per level below the root.
    REQUIRE(pt.map(vaddr{0x40'0000}, data.address(), page_size,
                   page_attr::write | page_attr::user)
                .ok());
    CHECK(pt.table_pages() == Arch::levels);
    CHECK(fx.db.page_table_count() == Arch::levels);
    CHECK(fx.db.count(page_state::active) == 1 + Arch::levels);
    CHECK(fx.db.available() == 64 - 1 - Arch::levels);
    CHECK(pt.check_invariants());
    CHECK(fx.db.check_invariants());

    // The leaf table's use count lives in its PFN entry.
    auto leaf = pt.find_leaf(vaddr{0x40'0000});
    REQUIRE(leaf);
    CHECK(fx.db.entry(leaf.table).page_table());
    CHECK(fx.db.entry(leaf.table).share_count() == 1);
    // A second page in the same leaf table: no new table, count 2.
    REQUIRE(pt.map(vaddr{0x40'1000}, data.address(), page_size, page_attr::none)
                .ok());
    CHECK(fx.db.page_table_count() == Arch::levels);
    CHECK(fx.db.table_use_count(leaf.table) == 2);

    // Unmapping both frees every table but the root, back to the database.
    CHECK(pt.unmap(vaddr{0x40'0000}).ok());
    CHECK(pt.unmap(vaddr{0x40'1000}).ok());
    CHECK(pt.table_pages() == 1);
    CHECK(fx.db.page_table_count() == 1);
    CHECK(fx.db.check_invariants());
  }
  // Destroying the page table returns the root as well.
  CHECK(fx.db.page_table_count() == 0);
  CHECK(fx.db.count(page_state::active) == 1);
  CHECK(fx.db.check_invariants());
}

TEST_CASE("pfn_database: a page table runs out of frames with no_memory") {
  pfn_fixture<> fx(2);
  using database = pfn_fixture<>::database;
  auto made = page_table<arch::x86_64, test::vector_memory, database>::create(
      fx.memory, fx.db);
  REQUIRE(made.ok());
  // The root plus one more frame: a 4 KiB mapping needs three more tables.
  const auto r =
      made->map(vaddr{0x1000}, paddr{0x1000}, page_size, page_attr::none);
  CHECK(r.error() == status::no_memory);
  CHECK(made->table_pages() == 1);
  CHECK(fx.db.page_table_count() == 1);
  CHECK(fx.db.check_invariants());
}
