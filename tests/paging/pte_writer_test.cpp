// pte_writer and the leaf-range walk: the one place leaf PTEs change, what
// its observer hears, and walks that skip missing subtrees whole.
#include "test_memory.hpp"

#include <mmkit/arch/all.hpp>
#include <mmkit/paging/pte_writer.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using namespace mmkit;

namespace {

/// Records every change the writer reports.
struct recording_observer {
  struct change {
    std::uint64_t page, before, after;
  };
  std::vector<change>* log = nullptr;
  template <class E>
  void pte_changed(vpn p, E before, E after) noexcept {
    log->push_back({p.raw(), before, after});
  }
};

template <class A>
using writer_t =
    pte_writer<A, buffer_memory, simple_frame_source<buffer_memory>,
               direct_mapped_tlb, recording_observer>;

template <class A>
struct writer_fixture {
  test::arena arena{256, 64};
  std::vector<recording_observer::change> log;
  writer_t<A> w =
      writer_t<A>::create(arena.memory, arena.source, recording_observer{&log})
          .value();
  using entry_type = typename A::entry_type;
  using sw = software_pte<entry_type>;
  static entry_type valid(std::uint64_t frame) {
    return entry_codec<A>::leaf_entry(pfn{frame}.address(), 0,
                                      page_attr::user | page_attr::write);
  }
};

}  // namespace

TEST_SUITE_BEGIN("paging");

TEST_CASE_TEMPLATE(
    "pte_writer: every change is written, dropped from the TLB "
    "and reported",
    A, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  writer_fixture<A> f;
  const vpn p = vaddr{0x40000000}.page();
  REQUIRE(f.w.write(p, f.valid(100)).ok());
  CHECK(f.w.read(p) == f.valid(100));
  // The guest's access goes through; the TLB now caches the page.
  CHECK(f.w.translator().host_pointer(p.address(), access::write) ==
        f.arena.memory.frame(pfn{100}));
  // A change of rights is seen at once: the TLB dropped the page.
  const auto ro =
      entry_codec<A>::leaf_entry(pfn{100}.address(), 0, page_attr::user);
  REQUIRE(f.w.write(p, ro).ok());
  CHECK(f.w.translator().host_pointer(p.address(), access::write) == nullptr);
  CHECK(f.w.translator().host_pointer(p.address(), access::read) != nullptr);
  // Invalid again: a transition PTE, then nothing; the table goes.
  REQUIRE(
      f.w.write(p, writer_fixture<A>::sw::transition(mm::readwrite, pfn{100}))
          .ok());
  CHECK(f.w.translator().host_pointer(p.address(), access::read) == nullptr);
  REQUIRE(f.w.write(p, 0).ok());
  CHECK(f.w.table().table_pages() == 1);
  // Writing what is there already is no change and reports nothing.
  REQUIRE(f.w.write(p, 0).ok());
  REQUIRE(f.log.size() == 4);
  CHECK(f.log[0].page == p.raw());
  CHECK(f.log[0].before == 0);
  CHECK(f.log[0].after == f.valid(100));
  // The walk that served the write set A and D in the entry.
  CHECK((f.log[1].before & ~std::uint64_t{0x60}) == f.valid(100));
  CHECK(f.log[3].after == 0);
}

TEST_CASE_TEMPLATE(
    "pte_writer: rewrite visits every page, makes the tables it "
    "needs and skips missing spans when asked",
    A, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  writer_fixture<A> f;
  using entry_type = typename A::entry_type;
  constexpr std::uint64_t leaf_pages = A::level[1].span() >> page_shift;
  // Three leaf tables' worth, starting half-way into the first.
  const vpn first{vaddr{0x40000000}.page().raw() + leaf_pages / 2};
  const vpn_range r{first, first + (2 * leaf_pages)};
  CHECK(f.w.tables_needed(r) == 3 * (A::levels - 1));
  std::uint64_t skipped = 0;
  f.w.rewrite(
      r, [&](vpn, entry_type old) { return old; },
      [&](vpn a, vpn b) {
        skipped += b.raw() - a.raw() + 1;
        return true;
      });
  CHECK(skipped == r.count());
  CHECK(f.log.empty());
  std::uint64_t visited = 0;
  f.w.rewrite(r, [&](vpn p, entry_type) {
    ++visited;
    return writer_fixture<A>::sw::demand_zero(p.raw() % 2 ? mm::readonly
                                                          : mm::readwrite);
  });
  CHECK(visited == r.count());
  CHECK(f.log.size() == r.count());
  // The root, one table per level between, three leaf tables.
  CHECK(f.w.table().table_pages() == 1 + (A::levels - 2) + 3);
  CHECK(f.w.tables_needed(r) == 0);
  // Clearing them all frees every table but the root.
  f.w.rewrite(r, [&](vpn, entry_type) { return entry_type{0}; });
  CHECK(f.w.table().table_pages() == 1);
  CHECK(f.w.table().check_invariants());
}

TEST_CASE_TEMPLATE(
    "pte_writer: ensure_tables makes every leaf table a range lacks; "
    "rewrite_keeping_tables leaves emptied tables for free_empty_tables",
    A, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  writer_fixture<A> f;
  using entry_type = typename A::entry_type;
  constexpr std::uint64_t leaf_pages = A::level[1].span() >> page_shift;
  const vpn first{vaddr{0x40000000}.page().raw() + leaf_pages / 2};
  const vpn_range r{first, first + (2 * leaf_pages)};
  REQUIRE(f.w.ensure_tables(r).ok());
  CHECK(f.w.tables_needed(r) == 0);
  CHECK(f.w.table().table_pages() == 1 + (A::levels - 2) + 3);
  CHECK(f.w.table().check_invariants());  // empty leaf tables are allowed
  CHECK(f.log.empty());
  f.w.rewrite(r, [&](vpn, entry_type) {
    return writer_fixture<A>::sw::demand_zero(mm::readwrite);
  });
  CHECK(f.w.table().table_pages() == 1 + (A::levels - 2) + 3);
  // Cleared, keeping the tables: all three stay, empty, and the entries
  // read zero.
  f.w.rewrite_keeping_tables(
      r, [&](vpn, entry_type) { return entry_type{0}; },
      [](vpn, vpn) { return true; });
  CHECK(f.log.size() == 2 * r.count());
  CHECK(f.w.table().table_pages() == 1 + (A::levels - 2) + 3);
  CHECK(f.w.read(first + leaf_pages) == 0);
  CHECK(f.w.table().check_invariants());
  // A write after it frees as before: the middle table is kept by one
  // entry, the others go with every level between them and the root.
  REQUIRE(f.w.write(first + leaf_pages, f.valid(7)).ok());
  f.w.free_empty_tables(r);
  CHECK(f.w.table().table_pages() == 1 + (A::levels - 2) + 1);
  REQUIRE(f.w.write(first + leaf_pages, 0).ok());
  CHECK(f.w.table().table_pages() == 1);
  f.w.free_empty_tables(r);  // nothing left to free
  CHECK(f.w.table().table_pages() == 1);
  CHECK(f.w.table().check_invariants());
}

TEST_CASE_TEMPLATE(
    "pte_writer: fill_absent writes one entry over absent PTEs as rewrite "
    "would: the tables it needs made, each change reported in order, "
    "tables it empties freed (or kept)",
    A, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  writer_fixture<A> f;
  using entry_type = typename A::entry_type;
  using sw = typename writer_fixture<A>::sw;
  constexpr std::uint64_t leaf_pages = A::level[1].span() >> page_shift;
  const vpn first{vaddr{0x40000000}.page().raw() + leaf_pages / 2};
  const vpn_range r{first, first + (2 * leaf_pages)};
  // One page already holds the entry: it is not a change.
  const entry_type dz = sw::demand_zero(mm::readwrite);
  REQUIRE(f.w.write(first + 3, dz).ok());
  f.log.clear();
  f.w.fill_absent(r, dz);
  CHECK(f.w.table().table_pages() == 1 + (A::levels - 2) + 3);
  CHECK(f.w.table().check_invariants());
  REQUIRE(f.log.size() == r.count() - 1);
  CHECK(f.log[0].page == first.raw());
  CHECK(f.log[3].page == first.raw() + 4);
  CHECK(f.log.back().page == r.last.raw());
  CHECK(f.log.back().before == 0);
  CHECK(f.log.back().after == dz);
  for (vpn p = r.first;; ++p) {
    CHECK(f.w.read(p) == dz);
    if (p == r.last) break;
  }
  // Other absent entries are overwritten whatever they hold.
  const entry_type ro = sw::demand_zero(mm::readonly);
  f.log.clear();
  f.w.fill_absent({first, first + 9}, ro);
  CHECK(f.log.size() == 10);
  CHECK(f.log[0].before == dz);
  CHECK(f.w.read(first + 9) == ro);
  CHECK(f.w.read(first + 10) == dz);
  // Cleared keeping the tables: all three stay, empty, for
  // free_empty_tables.
  f.w.clear_absent_keeping_tables(r);
  CHECK(f.w.table().table_pages() == 1 + (A::levels - 2) + 3);
  CHECK(f.w.read(first) == 0);
  CHECK(f.w.table().check_invariants());
  f.w.free_empty_tables(r);
  CHECK(f.w.table().table_pages() == 1);
  // Cleared plainly: each table goes as it empties, and the walk skips
  // the gaps that leaves (zero over a missing table is no change).
  f.w.fill_absent(r, dz);
  f.log.clear();
  f.w.fill_absent(r, 0);
  CHECK(f.log.size() == r.count());
  CHECK(f.w.table().table_pages() == 1);
  CHECK(f.w.table().check_invariants());
  f.w.fill_absent(r, 0);
  CHECK(f.log.size() == r.count());
  // A value per page (a new view's prototype PTEs): the tables made where
  // skip declines a gap, every page written.
  f.log.clear();
  const auto proto = [](vpn p) { return sw::prototype(0, p.raw() & 0xFFF); };
  f.w.fill_absent_with(r, proto, [](vpn, vpn) { return false; });
  CHECK(f.log.size() == r.count());
  CHECK(f.w.read(first + 7) == proto(first + 7));
  CHECK(f.w.read(r.last) == proto(r.last));
  CHECK(f.w.table().table_pages() == 1 + (A::levels - 2) + 3);
  CHECK(f.w.table().check_invariants());
}

TEST_CASE_TEMPLATE(
    "pte_writer: a write over an absent PTE drops no TLB entry, a write "
    "over a present one drops the page",
    A, arch::x86_64, arch::x86_32) {
  writer_fixture<A> f;
  using sw = typename writer_fixture<A>::sw;
  const vpn p = vaddr{0x40000000}.page();
  const vpn q = p + 1;
  REQUIRE(f.w.write(p, f.valid(100)).ok());
  REQUIRE(f.w.write(q, sw::demand_zero(mm::readwrite)).ok());
  // The TLB holds p; q's writes (absent to absent, absent to valid) must
  // leave p's entry alone and make q reachable at once.
  REQUIRE(f.w.translator().host_pointer(p.address(), access::write) != nullptr);
  const std::uint64_t refills = f.w.translator().refills();
  REQUIRE(f.w.write(q, sw::demand_zero(mm::readonly)).ok());
  CHECK(f.w.translator().host_pointer(p.address(), access::write) != nullptr);
  CHECK(f.w.translator().refills() == refills);
  REQUIRE(f.w.write(q, f.valid(101)).ok());
  CHECK(f.w.translator().host_pointer(q.address(), access::write) ==
        f.arena.memory.frame(pfn{101}));
  // Valid to invalid through a held leaf: the page goes from the TLB.
  auto leaf = f.w.find_leaf(q);
  REQUIRE(leaf);
  f.w.write_at(q, leaf, sw::demand_zero(mm::readwrite));
  CHECK(f.w.translator().host_pointer(q.address(), access::read) == nullptr);
  CHECK(f.w.table().check_invariants());
}

TEST_CASE(
    "leaf range: a walk over a fresh 64 TiB range meets a handful of "
    "spans") {
  writer_fixture<arch::x86_64> f;
  const vpn_range r{vaddr{0x10000}.page(), vaddr{0x7FFFFFFEFFFF}.page()};
  REQUIRE(f.w.write(vaddr{0x20000000}.page(), f.valid(7)).ok());
  std::uint64_t spans = 0, pages = 0, present = 0;
  f.w.for_each_span(r, [&](const leaf_span<std::uint64_t>& s) {
    ++spans;
    pages += s.count();
    present += s.present();
    return true;
  });
  CHECK(pages == r.count());
  CHECK(present == 1);
  // One leaf table, the gaps beside it at each level, and the other 255
  // PML4 entries of user space: O(levels x entries per table), not O(pages).
  CHECK(spans < 2048);
}

TEST_SUITE_END();
