// Image sections (SEC_IMAGE): a PE file laid out as NT lays it out, mapped
// whole with each section's protection, relocated when it cannot go at its
// preferred base, and shared page by page between views that have not
// written. Every byte a view holds is compared with pe_builder.hpp's
// independent computation (expected_image).
#include "section_fixture.hpp"

#include "image/pe_builder.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace section_test;
namespace pt = pe_test;

namespace {

pt::bytes filled(std::size_t n, std::uint8_t seed) {
  pt::bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::byte>(seed + i * 13);
  return b;
}

/// A PE32+ DLL: code, read-only data, writable data, a shared section,
/// uninitialised data, and DIR64 fixups (one straddling a page boundary).
pt::image_spec sample_dll() {
  pt::image_spec s;
  s.pe32_plus = true;
  s.dll = true;
  s.image_base = 0x180000000;
  s.sections = {
      {".text", pt::text_flags, filled(0x1800, 1), 0},
      {".rdata", pt::rdata_flags, filled(0x2000, 2), 0},
      {".data", pt::data_flags, filled(0x1000, 3), 0x2400},
      {".shared", pt::data_flags | pt::scn_shared, filled(0x200, 4), 0},
      {".bss", pt::bss_flags, {}, 0x3000},
  };
  // .text at 0x1000, .rdata at 0x3000, .data at 0x5000.
  s.relocations = {{0x3008, pt::rel_dir64},
                   {0x3FFC, pt::rel_dir64},  // crosses into 0x4000
                   {0x5010, pt::rel_dir64},
                   {0x5800, pt::rel_dir64}};
  return s;
}

/// The bytes of a view as a debugger reads them, page by page, whatever
/// the protection (NOACCESS and reserved pages read as zero here).
template <class Space>
pt::bytes view_bytes(Space& as, vaddr base, std::uint64_t size) {
  pt::bytes out(size);
  for (std::uint64_t off = 0; off < size; off += page_size) {
    std::size_t done = 0;
    (void)as.read(base + off, out.data() + off, page_size, done);
  }
  return out;
}

struct image_file {
  explicit image_file(pt::bytes b)
      : bytes(std::move(b)),
        store(bytes.data(), bytes.size(), bytes.size(), false,
              "\\Windows\\System32\\sample.dll"),
        file(store) {}
  pt::bytes bytes;
  memory_store store;
  file_object file;
};

section_handle image_section(machine& sys, image_file& f) {
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                         page::execute_writecopy, sec::image,
                         &f.file) == status::success);
  return h;
}

}  // namespace

TEST_SUITE("section") {
  TEST_CASE("SEC_IMAGE: laid out by section, each with its protection") {
    machine sys(64ull << 20);
    const usage before = usage_of(sys);
    {
      image_file f(pt::build(sample_dll()).data);
      space<arch::x86_64> as(sys);
      section_handle h = image_section(sys, f);
      vaddr base{0};
      std::uint64_t size = 0;
      REQUIRE(as.map_view(h, base, size, 0, 0, page::readwrite) ==
              status::success);
      CHECK(base.raw() == 0x180000000);
      // headers, .text x2, .rdata x2, .data x3, .shared, .bss x3, .reloc
      CHECK(size == 0xD000);
      // Charged for its copy-on-write pages: .data (3 pages) and .bss (3).
      CHECK(as.commit_charge() == 6);
      struct region {
        std::uint64_t offset, size;
        std::uint32_t protect;
      };
      const region expected[] = {
          {0x0000, 0x1000, page::readonly},      // headers
          {0x1000, 0x2000, page::execute_read},  // .text
          {0x3000, 0x2000, page::readonly},      // .rdata
          {0x5000, 0x3000, page::writecopy},     // .data
          {0x8000, 0x1000, page::readwrite},     // .shared
          {0x9000, 0x3000, page::writecopy},     // .bss
          {0xC000, 0x1000, page::readonly},      // .reloc
      };
      std::uint64_t at = base.raw();
      for (const region& r : expected) {
        if (r.offset >= size) break;
        memory_basic_information mbi;
        REQUIRE(as.query(vaddr{base.raw() + r.offset}, mbi) == status::success);
        CAPTURE(r.offset);
        CHECK(mbi.base_address == at);
        CHECK(mbi.allocation_base == base.raw());
        CHECK(mbi.allocation_protect == page::execute_writecopy);
        CHECK(mbi.state == mem::commit);
        CHECK(mbi.type == mem::image);
        CHECK(mbi.protect == r.protect);
        at += mbi.region_size;
      }
      CHECK(view_bytes(as, base, size) ==
            pt::expected_image(f.bytes, base.raw()));
      // Protect asks for a write protection in its copy-on-write form.
      vaddr p = base + 0x3000;
      std::uint64_t ps = 0x1000;
      std::uint32_t old = 0;
      CHECK(as.protect(p, ps, page::readwrite, old) == status::success);
      CHECK(old == page::readonly);
      memory_basic_information mbi;
      REQUIRE(as.query(base + 0x3000, mbi) == status::success);
      CHECK(mbi.protect == page::writecopy);
      // The private-memory calls refuse an image view as any view.
      vaddr fb = base;
      std::uint64_t fs = 0;
      CHECK(as.free(fb, fs, mem::release) == status::unable_to_delete_section);
      vaddr cb = base + 0x5000;
      std::uint64_t cs = 0x1000;
      CHECK(as.allocate(cb, cs, mem::commit, page::readwrite) ==
            status::already_committed);
      CHECK(as.check_invariants());
      close_section(sys, h);
    }
    CHECK(usage_of(sys) == before);
  }

  TEST_CASE("SEC_IMAGE: relocated away from its base, pages shared otherwise") {
    machine sys(64ull << 20);
    const usage before = usage_of(sys);
    {
      image_file f(pt::build(sample_dll()).data);
      space<arch::x86_64> a(sys);
      space<arch::x86_64> b(sys);
      section_handle h = image_section(sys, f);
      vaddr va{0}, vb{0};
      std::uint64_t size = 0;
      REQUIRE(a.map_view(h, va, size, 0, 0, page::readwrite) ==
              status::success);
      REQUIRE(b.map_view(h, vb, size, 0, 0, page::readwrite) ==
              status::success);
      CHECK(va == vb);
      // Two spaces at the same base share every page neither has written.
      const auto ea = view_bytes(a, va, size);
      CHECK(ea == view_bytes(b, vb, size));
      for (std::uint64_t off = 0; off < size; off += page_size)
        CHECK(a.translate(va + off).address.frame() ==
              b.translate(vb + off).address.frame());
      CHECK(a.frames_in_use() == 0);
      // A write in one becomes a private copy in that space only.
      write32(b, vb + 0x5000, 0xDEADBEEF);
      CHECK(read32(a, va + 0x5000) != 0xDEADBEEF);
      CHECK(b.frames_in_use() == 1);
      std::vector<std::uint64_t> mapped(sys.pfns().frame_count());
      count_shared_mappings(sys, a, mapped);
      count_shared_mappings(sys, b, mapped);
      CHECK(shares_match(sys, h.object->pages(), mapped));
      // A second map in A cannot go at the base: relocated.
      vaddr again{0};
      std::uint64_t s2 = 0;
      REQUIRE(a.map_view(h, again, s2, 0, 0, page::readwrite) ==
              status::image_not_at_base);
      CHECK(again != va);
      CHECK(a.commit_charge() == 6 + s2 / page_size);  // relocated: every page
      CHECK(view_bytes(a, again, s2) ==
            pt::expected_image(f.bytes, again.raw()));
      // Relocated pages are private; the others stay shared with the section.
      CHECK(a.translate(again + 0x1000).address.frame() ==
            a.translate(va + 0x1000).address.frame());  // .text: no fixup
      CHECK(a.translate(again + 0x3000).address.frame() !=
            a.translate(va + 0x3000).address.frame());
      CHECK(a.translate(again + 0x4000).address.frame() !=
            a.translate(va + 0x4000).address.frame());
      // A base given by the caller relocates too.
      vaddr given{0x7FF000000000};
      std::uint64_t s3 = 0;
      REQUIRE(b.map_view(h, given, s3, 0, 0, page::readwrite) ==
              status::image_not_at_base);
      CHECK(given.raw() == 0x7FF000000000);
      CHECK(view_bytes(b, given, s3) ==
            pt::expected_image(f.bytes, given.raw()));
      // A relocated copy-on-write page stays WRITECOPY until written.
      memory_basic_information mbi;
      REQUIRE(b.query(given + 0x5000, mbi) == status::success);
      CHECK(mbi.protect == page::writecopy);
      write32(b, given + 0x5010, 1);
      REQUIRE(b.query(given + 0x5000, mbi) == status::success);
      CHECK(mbi.protect == page::readwrite);
      CHECK(a.check_invariants());
      CHECK(b.check_invariants());
      close_section(sys, h);
    }
    CHECK(usage_of(sys) == before);
  }

  TEST_CASE("SEC_IMAGE: what NT refuses") {
    machine sys(64ull << 20);
    const usage before = usage_of(sys);
    SUBCASE("no relocations and the base taken") {
      pt::image_spec s = sample_dll();
      s.relocations.clear();
      s.relocs_stripped = true;
      image_file f(pt::build(s).data);
      space<arch::x86_64> as(sys);
      section_handle h = image_section(sys, f);
      vaddr first{0}, second{0};
      std::uint64_t size = 0;
      REQUIRE(as.map_view(h, first, size, 0, 0, page::readwrite) ==
              status::success);
      CHECK(as.map_view(h, second, size, 0, 0, page::readwrite) ==
            status::conflicting_addresses);
      CHECK(second.raw() == 0);
      CHECK(as.unmap_view(first) == status::success);
      close_section(sys, h);
    }
    SUBCASE("another machine's image") {
      image_file f(pt::build(sample_dll()).data);  // AMD64
      space<arch::x86_32> as(sys);
      section_handle h = image_section(sys, f);
      vaddr base{0};
      std::uint64_t size = 0;
      CHECK(as.map_view(h, base, size, 0, 0, page::readwrite) ==
            status::invalid_image_format);
      close_section(sys, h);
    }
    SUBCASE("not a PE file, an empty file, no file") {
      image_file text(filled(0x2000, 7));
      image_file empty(pt::bytes{});
      section_handle h;
      CHECK(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                           page::readonly, sec::image,
                           &text.file) == status::invalid_image_not_mz);
      CHECK(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                           page::readonly, sec::image,
                           &empty.file) == status::invalid_file_for_section);
      CHECK(create_section(sys, h, section_access::all_access, nullptr, 0,
                           0x1000, page::readonly,
                           sec::image) == status::invalid_file_for_section);
      CHECK_FALSE(h);
    }
    SUBCASE("an offset") {
      image_file f(pt::build(sample_dll()).data);
      space<arch::x86_64> as(sys);
      section_handle h = image_section(sys, f);
      vaddr base{0};
      std::uint64_t size = 0;
      CHECK(as.map_view(h, base, size, 0x10000, 0, page::readwrite) ==
            status::invalid_view_size);
      close_section(sys, h);
    }
    CHECK(usage_of(sys) == before);
  }

  TEST_CASE("SEC_IMAGE: alignment padding is reserved") {
    machine sys(64ull << 20);
    pt::image_spec s = sample_dll();
    s.pe32_plus = false;
    s.image_base = 0x400000;
    s.section_alignment = 0x2000;
    s.relocations = {{0x4008, pt::rel_highlow}, {0x4FFE, pt::rel_highlow}};
    image_file f(pt::build(s).data);
    space<arch::x86_32> as(sys);
    section_handle h = image_section(sys, f);
    vaddr base{0};
    std::uint64_t size = 0;
    REQUIRE(as.map_view(h, base, size, 0, 0, page::readwrite) ==
            status::success);
    CHECK(base.raw() == 0x400000);
    memory_basic_information mbi;
    REQUIRE(as.query(base + 0x1000, mbi) == status::success);  // after headers
    CHECK(mbi.state == mem::reserve);
    CHECK(mbi.region_size == 0x1000);
    CHECK(view_bytes(as, base, size) ==
          pt::expected_image(f.bytes, base.raw()));
    vaddr other{0x10000000};
    std::uint64_t s2 = 0;
    REQUIRE(as.map_view(h, other, s2, 0, 0, page::readwrite) ==
            status::image_not_at_base);
    CHECK(view_bytes(as, other, s2) ==
          pt::expected_image(f.bytes, other.raw()));
    CHECK(as.check_invariants());
    CHECK(as.unmap_view(other) == status::success);
    CHECK(as.unmap_view(base) == status::success);
    close_section(sys, h);
  }

  template <class Arch>
  void map_mingw_image(const char* path, std::uint64_t other_base) {
    machine sys(128ull << 20);
    image_file f(pt::read_file_bytes(path));
    space<Arch> a(sys);
    space<Arch> b(sys);
    section_handle h = image_section(sys, f);
    vaddr at{0};
    std::uint64_t size = 0;
    REQUIRE(a.map_view(h, at, size, 0, 0, page::readwrite) == status::success);
    CHECK(view_bytes(a, at, size) == pt::expected_image(f.bytes, at.raw()));
    vaddr away{other_base};
    std::uint64_t s2 = 0;
    const status st = b.map_view(h, away, s2, 0, 0, page::readwrite);
    CHECK(st == status::image_not_at_base);
    if (st == status::image_not_at_base)
      CHECK(view_bytes(b, away, s2) == pt::expected_image(f.bytes, away.raw()));
    CHECK(a.check_invariants());
    CHECK(b.check_invariants());
    close_section(sys, h);
  }

  TEST_CASE("SEC_IMAGE: mingw-w64 images, at their base and elsewhere") {
#ifdef MMKIT_TEST_PE64_DLL
    map_mingw_image<arch::x86_64>(MMKIT_TEST_PE64_DLL, 0x7FF000000000);
#endif
#ifdef MMKIT_TEST_PE64_EXE
    map_mingw_image<arch::x86_64>(MMKIT_TEST_PE64_EXE, 0x7FF000000000);
#endif
#ifdef MMKIT_TEST_PE64_BIG_DLL
    map_mingw_image<arch::x86_64>(MMKIT_TEST_PE64_BIG_DLL, 0x7FF000000000);
#endif
#ifdef MMKIT_TEST_PE32_DLL
    map_mingw_image<arch::x86_32>(MMKIT_TEST_PE32_DLL, 0x20000000);
#endif
#ifdef MMKIT_TEST_PE32_EXE
    map_mingw_image<arch::x86_32>(MMKIT_TEST_PE32_EXE, 0x20000000);
#endif
#if !defined(MMKIT_TEST_PE64_DLL) && !defined(MMKIT_TEST_PE32_DLL)
    MESSAGE("no mingw-w64 cross compiler: the real images were not built");
#endif
  }

}  // TEST_SUITE
