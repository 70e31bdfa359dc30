// Two (and three) address spaces, one section: a write through a view in
// one space is seen at once through a view in another, for page-file and
// file sections, on x64 and x86_32. The frames are shared, not copied:
// each resident page's share count is 1 (its prototype PTE) plus the valid
// PTEs that map it, and when everything is unmapped and closed nothing is
// left behind.
#include "section_fixture.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using namespace section_test;

namespace {

template <class A, class B>
void share_one_section(bool file_backed) {
  machine sys(64ull << 20);
  std::vector<std::byte> bytes(0x10000);
  memory_store store(bytes.data(), bytes.size(), 0x6000, true, "C:\\s.bin");
  file_object file(store);
  const usage before = usage_of(sys);
  {
    space<A> a(sys);
    space<B> b(sys);
    section_handle h;
    REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0,
                           file_backed ? 0 : 0x6000, page::readwrite,
                           sec::commit,
                           file_backed ? &file : nullptr) == status::success);
    const vaddr va = map(a, h, page::readwrite);
    const vaddr vb = map(b, h, page::readwrite);
    for (std::uint32_t i = 0; i < 6; ++i) write32(a, va + i * 0x1000u, 100 + i);
    for (std::uint32_t i = 0; i < 6; ++i)
      CHECK(read32(b, vb + i * 0x1000u) == 100 + i);
    // B brought nothing in: every page was resident already.
    CHECK(b.faults().shared == 6);
    write32(b, vb + 0x2000, 7);
    CHECK(read32(a, va + 0x2000) == 7);  // at once, both ways
    // One frame per page, held by the section, mapped by both spaces.
    CHECK(a.frames_in_use() == 0);
    CHECK(b.frames_in_use() == 0);
    CHECK(a.translate(va + 0x2000).address.frame() ==
          b.translate(vb + 0x2000).address.frame());
    std::vector<std::uint64_t> mapped(sys.pfns().frame_count());
    count_shared_mappings(sys, a, mapped);
    count_shared_mappings(sys, b, mapped);
    CHECK(shares_match(sys, h.object->pages(), mapped));
    CHECK(mapped[a.translate(va).address.frame().raw()] == 2);
    CHECK(a.check_invariants());
    CHECK(b.check_invariants());
    // A third view, in A again, of the second half only.
    const vaddr half = map(a, h, page::readonly, 0, 0x3000);
    CHECK(read32(a, half + 0x2000) == 7);
    std::fill(mapped.begin(), mapped.end(), 0);
    count_shared_mappings(sys, a, mapped);
    count_shared_mappings(sys, b, mapped);
    CHECK(shares_match(sys, h.object->pages(), mapped));
    CHECK(a.unmap_view(va) == status::success);
    std::fill(mapped.begin(), mapped.end(), 0);
    count_shared_mappings(sys, a, mapped);
    count_shared_mappings(sys, b, mapped);
    CHECK(shares_match(sys, h.object->pages(), mapped));
    close_section(sys, h);
    CHECK(read32(b, vb + 0x5000) == 105);  // the views keep it alive
  }  // the spaces go, and their views with them
  CHECK(usage_of(sys) == before);
  if (file_backed) {
    // Nothing written through a view is lost when the last view goes.
    std::uint32_t v = 0;
    std::memcpy(&v, bytes.data() + 0x2000, 4);
    CHECK(v == 7);
    std::memcpy(&v, bytes.data() + 0x5000, 4);
    CHECK(v == 105);
  }
}

}  // namespace

TEST_SUITE("section") {
  TEST_CASE("two x64 spaces share a page-file section") {
    share_one_section<arch::x86_64, arch::x86_64>(false);
  }
  TEST_CASE("an x64 and an x86_32 space share a page-file section") {
    share_one_section<arch::x86_64, arch::x86_32>(false);
  }
  TEST_CASE("two x86_32 spaces share a file section") {
    share_one_section<arch::x86_32, arch::x86_32>(true);
  }
  TEST_CASE("an x86_32 and an x64 space share a file section") {
    share_one_section<arch::x86_32, arch::x86_64>(true);
  }
  TEST_CASE("PAE and LA57 spaces share a page-file section") {
    share_one_section<arch::x86_pae, arch::x86_la57>(false);
  }

  TEST_CASE("copy-on-write in one space leaves the other's view alone") {
    machine sys(64ull << 20);
    const usage before = usage_of(sys);
    {
      space<arch::x86_64> a(sys);
      space<arch::x86_32> b(sys);
      section_handle h = make_page_file_section(sys, 0x2000);
      const vaddr va = map(a, h, page::readwrite);
      const vaddr vb = map(b, h, page::writecopy);
      write32(a, va, 1);
      CHECK(read32(b, vb) == 1);
      write32(b, vb, 2);  // B's private copy
      CHECK(read32(a, va) == 1);
      write32(a, va, 3);  // A still writes the section's page
      CHECK(read32(b, vb) == 2);
      CHECK(b.frames_in_use() == 1);
      std::vector<std::uint64_t> mapped(sys.pfns().frame_count());
      count_shared_mappings(sys, a, mapped);
      count_shared_mappings(sys, b, mapped);
      CHECK(shares_match(sys, h.object->pages(), mapped));
      CHECK(b.check_invariants());
      close_section(sys, h);
    }
    CHECK(usage_of(sys) == before);
  }

}  // TEST_SUITE
