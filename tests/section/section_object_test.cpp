// Section objects (NtCreateSection, NtOpenSection, NtClose): statuses,
// names, sizes, commit, lifetime. Each row is what Windows returns (Wine's
// dlls/ntdll/tests/virtual.c and kernel32/tests/virtual.c, ReactOS's
// NtMapViewOfSection apitest).
#include "section_fixture.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace section_test;

TEST_SUITE("section") {
  TEST_CASE("NtCreateSection: argument checks, in NT's order") {
    machine sys(64ull << 20);
    const usage before = usage_of(sys);
    struct row {
      const char* what;
      std::uint64_t size;
      std::uint32_t prot;
      std::uint32_t attrs;
      status expected;
    };
    const row rows[] = {
        {"SEC_COMMIT | SEC_RESERVE", 0x1000, page::readwrite,
         sec::commit | sec::reserve, status::invalid_parameter_6},
        {"neither SEC_COMMIT nor SEC_RESERVE", 0x1000, page::readwrite, 0,
         status::invalid_parameter_6},
        {"an unknown SEC_ bit", 0x1000, page::readwrite, sec::commit | 0x1,
         status::invalid_parameter_6},
        {"SEC_NOCACHE | SEC_WRITECOMBINE", 0x1000, page::readwrite,
         sec::commit | sec::nocache | sec::writecombine,
         status::invalid_parameter_6},
        {"SEC_IMAGE without a file", 0x1000, page::readonly, sec::image,
         status::invalid_file_for_section},
        {"SEC_LARGE_PAGES (refused)", 0x1000, page::readwrite,
         sec::commit | sec::large_pages, status::not_implemented},
        {"PAGE_NOACCESS", 0x1000, page::noaccess, sec::commit,
         status::invalid_page_protection},
        {"PAGE_GUARD", 0x1000, page::readwrite | page::guard, sec::commit,
         status::invalid_page_protection},
        {"two base protections", 0x1000, page::readwrite | page::readonly,
         sec::commit, status::invalid_page_protection},
        {"protection 0", 0x1000, 0, sec::commit,
         status::invalid_page_protection},
        {"a page-file section of size 0", 0, page::readwrite, sec::commit,
         status::invalid_parameter_4},
        {"more pages than the prototype pool holds", 8ull << 30,
         page::readwrite, sec::reserve, status::insufficient_resources},
        {"SEC_COMMIT past the commit limit", 1ull << 30, page::readwrite,
         sec::commit, status::commitment_limit},
    };
    for (const row& r : rows) {
      CAPTURE(r.what);
      section_handle h;
      CHECK(create_section(sys, h, section_access::all_access, nullptr, 0,
                           r.size, r.prot, r.attrs) == r.expected);
      CHECK_FALSE(h);
      CHECK(usage_of(sys) == before);  // a refused call changes nothing
    }
  }

  TEST_CASE("page-file sections: size rounding and commit") {
    machine sys(64ull << 20);
    const usage before = usage_of(sys);
    SUBCASE("SEC_COMMIT is charged at creation, whole pages") {
      section_handle h = make_page_file_section(sys, 0x1234);
      CHECK(h.object->size() == 0x2000);
      CHECK(sys.commit_charge() == before.commit + 2);
      close_section(sys, h);
      CHECK_FALSE(h);
    }
    SUBCASE("SEC_RESERVE charges nothing, even past the commit limit") {
      section_handle h = make_page_file_section(sys, 1ull << 30,
                                                page::readwrite, sec::reserve);
      CHECK(sys.commit_charge() == before.commit);
      close_section(sys, h);
    }
    CHECK(usage_of(sys) == before);
  }

  TEST_CASE(
      "named sections: create, collide, open, and the name goes with "
      "the section") {
    machine sys(64ull << 20);
    section_handle a = make_page_file_section(sys, 0x1000, page::readwrite,
                                              sec::commit, "Local\\shared");
    section_handle b;
    CHECK(create_section(sys, b, section_access::all_access, "Local\\shared", 0,
                         0x1000, page::readwrite,
                         sec::commit) == status::object_name_collision);
    // CreateFileMapping passes OBJ_OPENIF: the existing section, and
    // ERROR_ALREADY_EXISTS (STATUS_OBJECT_NAME_EXISTS, a success).
    CHECK(create_section(sys, b, section_access::all_access, "Local\\shared",
                         obj::openif, 0x1000, page::readwrite,
                         sec::commit) == status::object_name_exists);
    CHECK(b.object == a.object);
    section_handle c;
    CHECK(open_section(sys, c, section_access::map_read, "Local\\shared") ==
          status::success);
    CHECK(c.object == a.object);
    CHECK(a.object->handles() == 3);
    section_handle missing;
    CHECK(open_section(sys, missing, section_access::map_read,
                       "Local\\other") == status::object_name_not_found);
    const std::string long_name(section_object::max_name + 1, 'x');
    CHECK(create_section(sys, missing, section_access::all_access,
                         long_name.c_str(), 0, 0x1000, page::readwrite,
                         sec::commit) == status::name_too_long);
    close_section(sys, a);
    close_section(sys, b);
    CHECK(sys.sections().live == 1);
    close_section(sys, c);
    CHECK(sys.sections().live == 0);
    CHECK(open_section(sys, c, section_access::map_read, "Local\\shared") ==
          status::object_name_not_found);
  }

  TEST_CASE("a section lives while a handle or a view refers to it") {
    machine sys(64ull << 20);
    const usage before = usage_of(sys);
    {
      space<arch::x86_64> as(sys);
      section_handle h = make_page_file_section(sys, 0x3000);
      const vaddr v = map(as, h, page::readwrite);
      write32(as, v + 0x1000, 0xC0FFEE);
      close_section(sys, h);  // the view still refers to it
      CHECK(sys.sections().live == 1);
      CHECK(read32(as, v + 0x1000) == 0xC0FFEE);
      CHECK(as.unmap_view(v) == status::success);
      CHECK(sys.sections().live == 0);
    }
    CHECK(usage_of(sys) == before);
  }

  TEST_CASE("file sections: sizes against the file") {
    machine sys(64ull << 20);
    std::vector<std::byte> bytes(64 * 1024);
    struct row {
      const char* what;
      std::uint64_t file_size;
      bool writable;
      std::uint64_t size;
      std::uint32_t prot;
      status expected;
    };
    const row rows[] = {
        {"a zero-length file, size 0", 0, true, 0, page::readwrite,
         status::mapped_file_size_zero},
        {"larger than a read-only file", 0x1000, false, 0x2000, page::readonly,
         status::section_too_big},
        {"larger than the file, read-only protection", 0x1000, true, 0x2000,
         page::readonly, status::section_too_big},
        {"larger than the file, WRITECOPY", 0x1000, true, 0x2000,
         page::writecopy, status::section_too_big},
        {"READWRITE over a read-only file", 0x1000, false, 0, page::readwrite,
         status::access_denied},
        {"size 0: the whole file", 0x1800, true, 0, page::readonly,
         status::success},
        {"larger than a writable file: the file grows", 0x1000, true, 0x3000,
         page::readwrite, status::success},
    };
    for (const row& r : rows) {
      CAPTURE(r.what);
      memory_store store(bytes.data(), bytes.size(), r.file_size, r.writable,
                         "C:\\f.dat");
      file_object file(store);
      section_handle h;
      CHECK(create_section(sys, h, section_access::all_access, nullptr, 0,
                           r.size, r.prot, sec::commit, &file) == r.expected);
      if (h) {
        CHECK(h.object->size() == (r.size != 0 ? r.size : r.file_size));
        CHECK(store.size() == h.object->size());
        CHECK(sys.commit_charge() == 0);  // the file backs it
        close_section(sys, h);
      }
    }
    CHECK(sys.sections().live == 0);
    CHECK(sys.sections().pool.in_use() == 0);
  }

  TEST_CASE("NtMapViewOfSection checks the handle's SECTION_MAP_* rights") {
    machine sys(64ull << 20);
    space<arch::x86_64> as(sys);
    section_handle full =
        make_page_file_section(sys, 0x10000, page::execute_readwrite);
    struct row {
      std::uint32_t access;
      std::uint32_t prot;
      status expected;
    };
    const row rows[] = {
        {section_access::map_read, page::readonly, status::success},
        {section_access::map_read, page::writecopy, status::success},
        {section_access::map_read, page::readwrite, status::access_denied},
        {section_access::map_read, page::execute_read, status::access_denied},
        {section_access::map_write, page::readwrite, status::success},
        {section_access::map_write | section_access::map_execute,
         page::execute_readwrite, status::success},
        {section_access::map_execute, page::execute_writecopy,
         status::access_denied},
        {section_access::generic_read, page::readonly, status::success},
        {section_access::generic_read, page::readwrite, status::access_denied},
    };
    for (const row& r : rows) {
      CAPTURE(r.access);
      CAPTURE(r.prot);
      const section_handle h{full.object, section_access::granted(r.access)};
      vaddr base{0};
      std::uint64_t size = 0;
      CHECK(as.map_view(h, base, size, 0, 0, r.prot) == r.expected);
      if (r.expected == status::success)
        CHECK(as.unmap_view(base) == status::success);
    }
    close_section(sys, full);
  }

  TEST_CASE(
      "a handle to another system's section is an invalid handle there: "
      "NtMapViewOfSection refuses it and changes nothing") {
    machine sys(64ull << 20);
    machine other(64ull << 20);
    space<arch::x86_64> as(sys);
    section_handle foreign =
        make_page_file_section(other, 0x10000, page::readwrite);
    const usage before = usage_of(sys);
    vaddr base{0};
    std::uint64_t size = 0;
    CHECK(as.map_view(foreign, base, size, 0, 0, page::readwrite) ==
          status::invalid_handle);
    CHECK(base == vaddr{0});
    CHECK(size == 0);
    CHECK(usage_of(sys) == before);
    CHECK(foreign.object->views() == 0);
    // The parameter checks NT makes before it references the handle come
    // first.
    base = vaddr{0x7FFFFFFF0000};
    size = 0x100000;
    CHECK(as.map_view(foreign, base, size, 0, 0, page::readwrite) ==
          status::invalid_parameter_3);
    // On its own system it maps.
    space<arch::x86_64> there(other);
    base = vaddr{0};
    size = 0;
    CHECK(there.map_view(foreign, base, size, 0, 0, page::readwrite) ==
          status::success);
    CHECK(there.unmap_view(base) == status::success);
    close_section(other, foreign);
  }

  TEST_CASE("a view's protection must fit the section's") {
    machine sys(64ull << 20);
    space<arch::x86_64> as(sys);
    struct row {
      std::uint32_t section;
      std::uint32_t view;
      status expected;
    };
    const row rows[] = {
        {page::readonly, page::readonly, status::success},
        {page::readonly, page::writecopy, status::success},
        {page::readonly, page::readwrite, status::section_protection},
        {page::readonly, page::execute_read, status::section_protection},
        {page::writecopy, page::readwrite, status::section_protection},
        {page::writecopy, page::writecopy, status::success},
        {page::readwrite, page::readwrite, status::success},
        {page::readwrite, page::noaccess, status::success},
        {page::readwrite, page::execute_read, status::section_protection},
        {page::execute_readwrite, page::execute_readwrite, status::success},
        {page::execute_read, page::execute_writecopy,
         status::section_protection},
        {page::execute_read, page::writecopy, status::success},
        {page::execute, page::readonly, status::section_protection},
        {page::execute, page::execute, status::success},
        {page::execute_read, page::execute_readwrite,
         status::section_protection},
    };
    for (const row& r : rows) {
      CAPTURE(r.section);
      CAPTURE(r.view);
      section_handle h = make_page_file_section(sys, 0x10000, r.section);
      vaddr base{0};
      std::uint64_t size = 0;
      CHECK(as.map_view(h, base, size, 0, 0, r.view) == r.expected);
      if (r.expected == status::success)
        CHECK(as.unmap_view(base) == status::success);
      close_section(sys, h);
    }
    CHECK(as.check_invariants());
  }

}  // TEST_SUITE
