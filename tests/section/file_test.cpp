// File sections over a backing store: pages read from the file, zero past
// end-of-file, written back on flush and when the last reference goes,
// never past end-of-file; truncation below a view refused; a real file
// through pread/pwrite.
#include "section_fixture.hpp"

#include <mmkit/section/posix_file_store.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using namespace section_test;

TEST_SUITE("section") {
  TEST_CASE("a file view reads the file, zero past its end") {
    machine sys(64ull << 20);
    std::vector<std::byte> bytes(0x4000);
    for (std::size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = static_cast<std::byte>(i * 7 + 1);
    memory_store store(bytes.data(), bytes.size(), 0x1800, false, "C:\\r.bin");
    file_object file(store);
    space<arch::x86_64> as(sys);
    section_handle h;
    REQUIRE(create_section(sys, h, section_access::map_read, nullptr, 0, 0,
                           page::readonly, sec::commit,
                           &file) == status::success);
    const vaddr v = map(as, h, page::readonly);
    std::vector<std::byte> seen(0x2000);
    std::size_t done = 0;
    REQUIRE(as.read(v, seen.data(), seen.size(), done) == status::success);
    CHECK(std::memcmp(seen.data(), bytes.data(), 0x1800) == 0);
    for (std::size_t i = 0x1800; i < 0x2000; ++i)
      CHECK(seen[i] == std::byte{0});
    CHECK(as.faults().hard == 2);
    CHECK(store.reads() == 2);
    // The view is one of 2 pages; the rest of the 64 KiB block is blocked.
    memory_basic_information mbi;
    REQUIRE(as.query(v, mbi) == status::success);
    CHECK(mbi.region_size == 0x2000);
    CHECK(as.unmap_view(v) == status::success);
    close_section(sys, h);
  }

  TEST_CASE("flush writes a view's dirty pages, never past end-of-file") {
    machine sys(64ull << 20);
    std::vector<std::byte> bytes(0x4000, std::byte{0x11});
    memory_store store(bytes.data(), bytes.size(), 0x1800, true, "C:\\w.bin");
    file_object file(store);
    space<arch::x86_64> as(sys);
    section_handle h;
    REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                           page::readwrite, sec::commit,
                           &file) == status::success);
    const vaddr v = map(as, h, page::readwrite);
    write32(as, v + 0x10, 0xAABBCCDD);
    write32(as, v + 0x1900, 0x12345678);  // past end-of-file, in the last page
    CHECK(store.writes() == 0);
    vaddr b = v;
    std::uint64_t s = 0;
    REQUIRE(as.flush(b, s) == status::success);
    CHECK(b == v);
    CHECK(s == 0x2000);
    std::uint32_t got = 0;
    std::memcpy(&got, bytes.data() + 0x10, 4);
    CHECK(got == 0xAABBCCDD);
    CHECK(store.size() == 0x1800);
    CHECK(bytes[0x1900] == std::byte{0x11});  // past end-of-file: untouched
    const std::uint64_t writes = store.writes();
    REQUIRE(as.flush(b, s) == status::success);  // nothing dirty any more
    CHECK(store.writes() == writes);
    write32(as, v + 0x20, 5);  // dirty again after a flush
    REQUIRE(as.flush(b, s) == status::success);
    std::memcpy(&got, bytes.data() + 0x20, 4);
    CHECK(got == 5);
    // Flush statuses.
    vaddr priv{0};
    std::uint64_t ps = 0x1000;
    REQUIRE(as.allocate(priv, ps, mem::commit | mem::reserve,
                        page::readwrite) == status::success);
    std::uint64_t fs = 0;
    CHECK(as.flush(priv, fs) == status::not_mapped_data);
    vaddr over = v;
    std::uint64_t os = 0x3000;
    CHECK(as.flush(over, os) == status::not_mapped_view);
    CHECK(as.unmap_view(v) == status::success);
    close_section(sys, h);
  }

  TEST_CASE("the last reference writes what was never flushed") {
    machine sys(64ull << 20);
    std::vector<std::byte> bytes(0x4000);
    memory_store store(bytes.data(), bytes.size(), 0x3000, true, "C:\\l.bin");
    file_object file(store);
    {
      space<arch::x86_32> as(sys);
      section_handle h;
      REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                             page::readwrite, sec::commit,
                             &file) == status::success);
      const vaddr v = map(as, h, page::readwrite);
      write32(as, v + 0x2000, 0x5150);
      close_section(sys, h);
      CHECK(bytes[0x2000] == std::byte{0});  // not yet
      CHECK(as.unmap_view(v) == status::success);
    }
    std::uint32_t got = 0;
    std::memcpy(&got, bytes.data() + 0x2000, 4);
    CHECK(got == 0x5150);
    CHECK(sys.uncharged_frames() == 0);
  }

  TEST_CASE("a mapped file cannot be truncated below a view") {
    machine sys(64ull << 20);
    std::vector<std::byte> bytes(0x40000);
    memory_store store(bytes.data(), bytes.size(), 0x30000, true, "C:\\t.bin");
    file_object file(store);
    space<arch::x86_64> as(sys);
    section_handle h;
    REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                           page::readwrite, sec::commit,
                           &file) == status::success);
    const vaddr v = map(as, h, page::readwrite, 0x10000, 0x10000);
    CHECK(set_end_of_file(sys, file, 0x18000) == status::user_mapped_file);
    CHECK(set_end_of_file(sys, file, 0x20000) == status::success);  // above it
    CHECK(store.size() == 0x20000);
    CHECK(set_end_of_file(sys, file, 0x40000) == status::success);  // grow
    CHECK(as.unmap_view(v) == status::success);
    CHECK(set_end_of_file(sys, file, 0x1000) == status::success);
    close_section(sys, h);
  }

  TEST_CASE("a real file: write through a view, flush, read() sees it") {
    char path[] = "/tmp/mmkit-section-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    std::vector<char> zeros(0x2800, 'z');
    REQUIRE(::write(fd, zeros.data(), zeros.size()) ==
            static_cast<ssize_t>(zeros.size()));
    {
      machine sys(64ull << 20);
      auto store = posix_file_store::open(path, true);
      REQUIRE(store);
      file_object file(*store);
      space<arch::x86_64> a(sys);
      space<arch::x86_32> b(sys);
      section_handle h;
      REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                             page::readwrite, sec::commit,
                             &file) == status::success);
      CHECK(h.object->size() == 0x2800);
      const vaddr va = map(a, h, page::readwrite);
      const vaddr vb = map(b, h, page::writecopy);
      CHECK(read32(a, va) == 0x7A7A7A7A);  // "zzzz"
      const char text[] = "written through a view";
      std::size_t done = 0;
      REQUIRE(a.write(va + 0x1000, text, sizeof text, done) == status::success);
      REQUIRE(b.write(vb + 0x2000, "private", 7, done) == status::success);
      vaddr fb = va;
      std::uint64_t fsz = 0;
      REQUIRE(a.flush(fb, fsz) == status::success);
      char back[sizeof text] = {};
      REQUIRE(::pread(fd, back, sizeof back, 0x1000) ==
              static_cast<ssize_t>(sizeof back));
      CHECK(std::string(back) == text);
      char cow[7] = {};
      REQUIRE(::pread(fd, cow, 7, 0x2000) == 7);
      CHECK(std::string(cow, 7) == "zzzzzzz");  // the file never sees it
      CHECK(::lseek(fd, 0, SEEK_END) == 0x2800);
      close_section(sys, h);
    }
    ::close(fd);
    ::unlink(path);
  }

}  // TEST_SUITE
