// Views (NtMapViewOfSection, NtUnmapViewOfSection) and the private-memory
// calls on them, in one address space: placement, rounding, statuses,
// query, commit in a SEC_RESERVE view, protect, copy-on-write, guard.
#include "section_fixture.hpp"

#include <doctest/doctest.h>

#include <cstdint>

using namespace section_test;

namespace {

/// A machine, an x64 space and a 4-page READWRITE page-file section with
/// each page's first word its number + 1.
struct fixture {
  machine sys{64ull << 20};
  space<arch::x86_64> as{sys};
  section_handle h = make_page_file_section(sys, 0x4000);
  usage before = usage_of(sys);
  fixture() {
    const vaddr v = map(as, h, page::readwrite);
    for (std::uint32_t i = 0; i < 4; ++i) write32(as, v + i * 0x1000u, i + 1);
    REQUIRE(as.unmap_view(v) == status::success);
  }
  ~fixture() {
    CHECK(as.check_invariants());
    if (h) close_section(sys, h);
  }
  memory_basic_information query(vaddr va) {
    memory_basic_information mbi;
    REQUIRE(as.query(va, mbi) == status::success);
    return mbi;
  }
};

}  // namespace

TEST_SUITE("section") {
  TEST_CASE_FIXTURE(fixture, "NtMapViewOfSection: alignment, sizes, rounding") {
    struct row {
      const char* what;
      std::uint64_t base;
      std::uint64_t offset;
      std::uint64_t size;
      std::uint32_t type;
      std::uint64_t zero_bits;
      status expected;
    };
    const row rows[] = {
        {"base not 64 KiB aligned", 0x20001000, 0, 0, 0, 0,
         status::mapped_alignment},
        {"offset not 64 KiB aligned", 0, 0x1000, 0, 0, 0,
         status::mapped_alignment},
        {"offset at the section's end", 0, 0x10000, 0, 0, 0,
         status::invalid_view_size},
        {"size past the section's end", 0, 0, 0x5000, 0, 0,
         status::invalid_view_size},
        {"MEM_COMMIT is not a view allocation type", 0, 0, 0, mem::commit, 0,
         status::invalid_parameter_9},
        {"ZeroBits 22", 0, 0, 0, 0, 22, status::invalid_parameter_4},
        {"base beyond user space", 0x800000000000, 0, 0, 0, 0,
         status::invalid_parameter_3},
        {"base 0: the system chooses", 0x0, 0, 0, 0, 0, status::success},
    };
    for (const row& r : rows) {
      CAPTURE(r.what);
      vaddr base{r.base};
      std::uint64_t size = r.size;
      CHECK(as.map_view(h, base, size, r.offset, r.type, page::readwrite,
                        r.zero_bits) == r.expected);
      if (r.expected == status::success) {
        CHECK(size == 0x4000);  // size 0: to the section's end
        CHECK(as.unmap_view(base) == status::success);
      } else {
        CHECK(base.raw() == r.base);  // out-parameters untouched
        CHECK(size == r.size);
      }
    }
    vaddr base{0};
    std::uint64_t size = 0x1001;  // rounded up to whole pages
    CHECK(as.map_view(h, base, size, 0, 0, page::readonly) == status::success);
    CHECK(size == 0x2000);
    CHECK(base.raw() % allocation_granularity == 0);
    CHECK(as.unmap_view(base) == status::success);
  }

  TEST_CASE_FIXTURE(fixture,
                    "views: placement, conflicts, ZeroBits, "
                    "MEM_TOP_DOWN") {
    vaddr at{0x20000000};
    std::uint64_t size = 0x1000;
    REQUIRE(as.map_view(h, at, size, 0, 0, page::readonly) == status::success);
    CHECK(at.raw() == 0x20000000);
    // The view blocks the rest of its 64 KiB block: a reservation there is
    // rounded down onto it.
    vaddr inside{0x20008000};
    std::uint64_t one = 0x1000;
    CHECK(as.allocate(inside, one, mem::reserve, page::readwrite) ==
          status::conflicting_addresses);
    vaddr again{0x20000000};
    CHECK(as.map_view(h, again, size, 0, 0, page::readonly) ==
          status::conflicting_addresses);
    // ZeroBits 2: below 1 GiB. MEM_TOP_DOWN: the highest free range.
    vaddr low{0};
    std::uint64_t s1 = 0;
    REQUIRE(as.map_view(h, low, s1, 0, 0, page::readonly, 2) ==
            status::success);
    CHECK(low.raw() + s1 - 1 <= 0x3FFFFFFF);
    vaddr top{0};
    std::uint64_t s2 = 0;
    REQUIRE(as.map_view(h, top, s2, 0, mem::top_down, page::readonly) ==
            status::success);
    CHECK(top.raw() > 0x7FF000000000);
    // Unmap takes any address inside the view.
    CHECK(as.unmap_view(top + 0x3FFF) == status::success);
    CHECK(as.unmap_view(low + 0x1000) == status::success);
    CHECK(as.unmap_view(at) == status::success);
    CHECK(as.unmap_view(at) == status::not_mapped_view);  // free now
    vaddr priv{0};
    std::uint64_t ps = 0x1000;
    REQUIRE(as.allocate(priv, ps, mem::commit | mem::reserve,
                        page::readwrite) == status::success);
    CHECK(as.unmap_view(priv) == status::not_mapped_view);  // private memory
  }

  TEST_CASE_FIXTURE(fixture, "the private-memory calls on a view") {
    const vaddr v = map(as, h, page::readwrite);
    SUBCASE("free and decommit: STATUS_UNABLE_TO_DELETE_SECTION") {
      for (const std::uint32_t type : {mem::release, mem::decommit}) {
        vaddr b = v;
        std::uint64_t s = 0x1000;
        CHECK(as.free(b, s, type) == status::unable_to_delete_section);
        vaddr b0 = v;
        std::uint64_t s0 = 0;
        CHECK(as.free(b0, s0, type) == status::unable_to_delete_section);
      }
      CHECK(read32(as, v) == 1);  // nothing changed
    }
    SUBCASE("query: MEM_MAPPED, the view's base and protection") {
      const auto mbi = query(v + 0x1000);
      CHECK(mbi.base_address == v.raw() + 0x1000);
      CHECK(mbi.allocation_base == v.raw());
      CHECK(mbi.allocation_protect == page::readwrite);
      CHECK(mbi.region_size == 0x3000);
      CHECK(mbi.state == mem::commit);
      CHECK(mbi.protect == page::readwrite);
      CHECK(mbi.type == mem::mapped);
    }
    SUBCASE("commit in a committed page-file view sets the protection") {
      vaddr b = v;
      std::uint64_t s = 0x1000;
      CHECK(as.allocate(b, s, mem::commit, page::readonly) == status::success);
      CHECK(query(v).protect == page::readonly);
      CHECK(read32(as, v) == 1);
    }
    SUBCASE("protect is bounded by the view's protection") {
      vaddr b = v;
      std::uint64_t s = 0x1000;
      std::uint32_t old = 0;
      CHECK(as.protect(b, s, page::execute_read, old) ==
            status::section_protection);
      CHECK(as.protect(b, s, page::readonly, old) == status::success);
      CHECK(old == page::readwrite);
      std::size_t done = 0;
      const std::uint32_t x = 5;
      CHECK(as.write(v, &x, 4, done) == status::access_violation);
      CHECK(query(v).protect == page::readonly);
      CHECK(query(v + 0x1000).protect == page::readwrite);
      CHECK(as.protect(b, s, page::readwrite, old) == status::success);
      CHECK(old == page::readonly);
      write32(as, v, 7);
    }
    SUBCASE("a guard page in a view is one-shot") {
      vaddr b = v + 0x2000;
      std::uint64_t s = 0x1000;
      std::uint32_t old = 0;
      REQUIRE(as.protect(b, s, page::readwrite | page::guard, old) ==
              status::success);
      CHECK(as.access(v + 0x2000, access::read) ==
            status::guard_page_violation);
      CHECK(as.access(v + 0x2000, access::read) == status::success);
      CHECK(read32(as, v + 0x2000) == 3);
    }
    CHECK(as.unmap_view(v) == status::success);
  }

  TEST_CASE(
      "SEC_RESERVE: commit through a view is shared, protection per "
      "view") {
    machine sys(64ull << 20);
    const usage before = usage_of(sys);
    {
      space<arch::x86_64> as(sys);
      section_handle h =
          make_page_file_section(sys, 0x100000, page::readwrite, sec::reserve);
      const vaddr a = map(as, h, page::readwrite);
      const vaddr b = map(as, h, page::readwrite);
      memory_basic_information mbi;
      REQUIRE(as.query(a, mbi) == status::success);
      CHECK(mbi.state == mem::reserve);
      CHECK(mbi.region_size == 0x100000);
      CHECK(as.access(a, access::read) == status::access_violation);
      vaddr c = a + 0x3000;
      std::uint64_t s = 0x2000;
      CHECK(as.allocate(c, s, mem::commit, page::readonly) == status::success);
      CHECK(sys.commit_charge() == before.commit + 2);  // the section's
      CHECK(as.commit_charge() == 0);
      // The other view sees the pages committed, with its own protection.
      REQUIRE(as.query(b + 0x3000, mbi) == status::success);
      CHECK(mbi.state == mem::commit);
      CHECK(mbi.protect == page::readwrite);
      CHECK(mbi.region_size == 0x2000);
      write32(as, b + 0x3000, 99);
      CHECK(read32(as, a + 0x3000) == 99);
      std::uint32_t old = 0;
      vaddr p = a + 0x2000;
      std::uint64_t ps = 0x1000;
      CHECK(as.protect(p, ps, page::readwrite, old) == status::not_committed);
      CHECK(old == page::noaccess);
      CHECK(as.unmap_view(a) == status::success);
      CHECK(as.unmap_view(b) == status::success);
      close_section(sys, h);
      CHECK(as.check_invariants());
    }
    CHECK(usage_of(sys) == before);
  }

  TEST_CASE_FIXTURE(fixture, "copy-on-write views: the first write copies") {
    const vaddr shared = map(as, h, page::readwrite);
    const std::uint64_t charge_before = as.commit_charge();
    const vaddr cow = map(as, h, page::writecopy);
    // Charged at map time, for every page of the view.
    CHECK(as.commit_charge() == charge_before + 4);
    CHECK(read32(as, cow + 0x1000) == 2);
    memory_basic_information mbi;
    REQUIRE(as.query(cow, mbi) == status::success);
    CHECK(mbi.protect == page::writecopy);
    CHECK(mbi.allocation_protect == page::writecopy);
    write32(as, cow + 0x1000, 0xBEEF);
    CHECK(as.faults().copy_on_write == 1);
    CHECK(read32(as, cow + 0x1000) == 0xBEEF);
    CHECK(read32(as, shared + 0x1000) == 2);  // the section never sees it
    // Only the copied page reports READWRITE.
    REQUIRE(as.query(cow, mbi) == status::success);
    CHECK(mbi.protect == page::writecopy);
    CHECK(mbi.region_size == 0x1000);
    REQUIRE(as.query(cow + 0x1000, mbi) == status::success);
    CHECK(mbi.protect == page::readwrite);
    CHECK(mbi.region_size == 0x1000);
    // Re-protecting the copy with WRITECOPY reports READWRITE; a shared page
    // asked for READWRITE in a WRITECOPY view stays WRITECOPY.
    std::uint32_t old = 0;
    vaddr p = cow + 0x1000;
    std::uint64_t s = 0x1000;
    CHECK(as.protect(p, s, page::writecopy, old) == status::success);
    CHECK(old == page::readwrite);
    REQUIRE(as.query(cow + 0x1000, mbi) == status::success);
    CHECK(mbi.protect == page::readwrite);
    vaddr q = cow + 0x2000;
    CHECK(as.protect(q, s, page::readwrite, old) == status::success);
    CHECK(old == page::writecopy);
    REQUIRE(as.query(cow + 0x2000, mbi) == status::success);
    CHECK(mbi.protect == page::writecopy);
    // A write to a page never touched copies it too (brought in, copied).
    write32(as, cow + 0x3000, 0xF00D);
    CHECK(read32(as, shared + 0x3000) == 4);
    CHECK(as.faults().copy_on_write == 2);
    CHECK(as.check_invariants());
    CHECK(as.unmap_view(cow) == status::success);
    CHECK(as.commit_charge() == charge_before);
    CHECK(as.unmap_view(shared) == status::success);
  }

  TEST_CASE_FIXTURE(fixture, "protect to WRITECOPY on a shared view") {
    const vaddr a = map(as, h, page::readwrite);
    const vaddr b = map(as, h, page::readwrite);
    CHECK(read32(as, a) == 1);  // valid and shared before the protect
    vaddr p = a;
    std::uint64_t s = 0x1000;
    std::uint32_t old = 0;
    CHECK(as.protect(p, s, page::writecopy, old) == status::success);
    CHECK(as.commit_charge() == 4);  // the view is charged now
    write32(as, a, 0x77);
    CHECK(read32(as, b) == 1);
    write32(as, a + 0x1000, 0x88);  // not copy-on-write: shared
    CHECK(read32(as, b + 0x1000) == 0x88);
    CHECK(as.unmap_view(a) == status::success);
    CHECK(as.unmap_view(b) == status::success);
    CHECK(as.commit_charge() == 0);
  }

  TEST_CASE_FIXTURE(fixture,
                    "EXECUTE_WRITECOPY becomes EXECUTE_READWRITE "
                    "when written") {
    section_handle x =
        make_page_file_section(sys, 0x2000, page::execute_readwrite);
    const vaddr v = map(as, x, page::execute_writecopy);
    CHECK(as.access(v, access::execute) == status::success);
    write32(as, v, 1);
    memory_basic_information mbi;
    REQUIRE(as.query(v, mbi) == status::success);
    CHECK(mbi.protect == page::execute_readwrite);
    CHECK(as.access(v, access::execute) == status::success);
    CHECK(as.unmap_view(v) == status::success);
    close_section(sys, x);
  }

}  // TEST_SUITE
