// Dirty pages for emulators: query_dirty over any range, from the D bits of
// valid PTEs and, for tracked ranges, the record of pages that left memory
// dirty; a reset makes the next write show again.
#include "emu_machine.hpp"

#include <mmkit/section/backing_store.hpp>

#include <array>
#include <cstring>
#include <vector>

using namespace emu_test;

namespace {

/// The dirty pages of [base, base + pages), as page numbers from base.
template <class Space>
std::vector<std::uint64_t> dirty(Space& as, vaddr base, std::uint64_t pages,
                                 dirty_reset reset = dirty_reset::no) {
  std::array<vaddr, 64> out{};
  std::uint64_t count = out.size();
  REQUIRE(as.query_dirty(base, pages << page_shift, out.data(), count, reset) ==
          status::success);
  std::vector<std::uint64_t> found;
  for (std::uint64_t i = 0; i < count; ++i)
    found.push_back((out[i].raw() - base.raw()) >> page_shift);
  return found;
}

using pages = std::vector<std::uint64_t>;

}  // namespace

TEST_SUITE_BEGIN("emu");

TEST_CASE_TEMPLATE(
    "dirty_pages: writes are seen, reads are not, and a reset makes the next "
    "write show again",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  emu_machine m{256};
  emu_space<Arch> as{m.sys};
  const vaddr va = allocate(as, 8);  // not tracked: the D bits answer
  CHECK(dirty(as, va, 8).empty());
  poke(as, va + 1 * page_size);
  poke(as, va + 5 * page_size + 12);
  (void)peek(as, va + 2 * page_size);  // a read
  REQUIRE(as.host_page_of(va + 3 * page_size, mmkit::access::read).ok());
  CHECK(dirty(as, va, 8) == pages{1, 5});

  CHECK(dirty(as, va, 8, dirty_reset::yes) == pages{1, 5});
  CHECK(dirty(as, va, 8).empty());
  // The page stayed valid and writable: the next write sets D again, even
  // through the TLB that cached it writable before the reset.
  poke(as, va + 5 * page_size);
  CHECK(dirty(as, va, 8) == pages{5});
  // The count caps what is reported (and reset).
  poke(as, va + 7 * page_size);
  std::array<vaddr, 1> one{};
  std::uint64_t count = 1;
  REQUIRE(as.query_dirty(va, 8 * page_size, one.data(), count,
                         dirty_reset::yes) == status::success);
  CHECK(count == 1);
  CHECK(one[0] == va + 5 * page_size);
  CHECK(dirty(as, va, 8) == pages{7});
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE(
    "dirty_pages: a tracked page written and then trimmed, protected away or "
    "copied is still reported",
    Arch, arch::x86_32, arch::x86_64) {
  emu_machine m{256};
  emu_space<Arch> as{m.sys};
  const vaddr va = allocate(as, 8);
  REQUIRE(as.track_dirty(va, 8 * page_size) == status::success);
  poke(as, va + 2 * page_size);
  poke(as, va + 3 * page_size);
  (void)peek(as, va + 4 * page_size);
  REQUIRE(as.trim(va + 2 * page_size));
  REQUIRE(as.trim(va + 4 * page_size));  // read only: not dirty
  vaddr b = va + 3 * page_size;
  std::uint64_t size = page_size;
  std::uint32_t old = 0;
  REQUIRE(as.protect(b, size, page::noaccess, old) == status::success);
  CHECK(dirty(as, va, 8) == pages{2, 3});

  CHECK(dirty(as, va, 8, dirty_reset::yes) == pages{2, 3});
  CHECK(dirty(as, va, 8).empty());
  // A soft fault back in by a read is not a write.
  (void)peek(as, va + 2 * page_size);
  CHECK(dirty(as, va, 8).empty());
  poke(as, va + 2 * page_size);
  CHECK(dirty(as, va, 8) == pages{2});

  // Untracked, a trimmed page's write is lost (only its D bit knew).
  REQUIRE(as.untrack_dirty(va, 8 * page_size) == status::success);
  CHECK(as.untrack_dirty(va, 8 * page_size) == status::invalid_parameter);
  REQUIRE(as.trim(va + 2 * page_size));
  CHECK(dirty(as, va, 8).empty());
  CHECK(as.check_invariants());
}

TEST_CASE(
    "dirty_pages: a write-watch reservation and a tracked range keep "
    "their own bits") {
  emu_machine m{256};
  emu_space<arch::x86_64> as{m.sys};
  const vaddr va =
      allocate(as, 16, mem::reserve | mem::commit | mem::write_watch);
  REQUIRE(as.track_dirty(va, 16 * page_size) == status::success);
  poke(as, va);
  // Our reset leaves NtGetWriteWatch's answer alone...
  CHECK(dirty(as, va, 16, dirty_reset::yes) == pages{0});
  std::array<vaddr, 16> out{};
  std::uint64_t count = out.size();
  std::uint32_t granularity = 0;
  REQUIRE(as.get_write_watch(0, va, 16 * page_size, out.data(), count,
                             granularity) == status::success);
  CHECK(count == 1);
  // ...and NtResetWriteWatch leaves ours.
  poke(as, va + page_size);
  REQUIRE(as.trim(va + page_size));
  REQUIRE(as.reset_write_watch(va, 16 * page_size) == status::success);
  CHECK(dirty(as, va, 16) == pages{1});
  CHECK(as.check_invariants());
}

TEST_CASE("dirty_pages: bad ranges and no storage are refused") {
  emu_machine m{64};
  emu_space<arch::x86_32> as{m.sys};
  std::array<vaddr, 4> out{};
  std::uint64_t count = out.size();
  CHECK(as.query_dirty(vaddr{0x10000}, 0, out.data(), count) ==
        status::invalid_parameter);
  CHECK(as.query_dirty(vaddr{0x80000000}, page_size, out.data(), count) ==
        status::invalid_parameter);
  count = 0;
  CHECK(as.query_dirty(vaddr{0x10000}, page_size, out.data(), count) ==
        status::invalid_parameter);
  CHECK(as.track_dirty(vaddr{0x7FFF0000}, 0x20000) ==
        status::invalid_parameter);

  // The freestanding default has no watch storage.
  struct bare_config
      : system_config<host_memory, no_lock, pool_vad_allocator<vad>> {};
  std::vector<pfn_entry> entries(64);
  mmkit::system<bare_config> sys(host_memory::create(64 << page_shift).value(),
                                 entries.data(), 64, 0);
  address_space<arch::x86_64, bare_config> bare{sys};
  CHECK(bare.track_dirty(vaddr{0x10000}, page_size) ==
        status::insufficient_resources);
}

TEST_CASE(
    "dirty_pages: a reset keeps the write for the pager: a file "
    "view's page still reaches its file") {
  emu_machine m{256};
  std::vector<std::byte> bytes(0x2000, std::byte{0x11});
  memory_store store(bytes.data(), bytes.size(), bytes.size(), true);
  file_object file(store);
  section_handle h;
  REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0, 0,
                         page::readwrite, sec::commit,
                         &file) == status::success);
  {
    emu_space<arch::x86_64> as{m.sys};
    vaddr v{0};
    std::uint64_t size = 0;
    REQUIRE(as.map_view(h, v, size, 0, 0, page::readwrite) == status::success);
    poke(as, v, 0xAABBCCDD);
    vaddr out[1];
    std::uint64_t count = 1;
    REQUIRE(as.query_dirty(v, page_size, out, count, dirty_reset::yes) ==
            status::success);
    CHECK(count == 1);
    // D is clear now; unmapping lets go of the frame, and the last
    // reference writes the modified page to the file.
    REQUIRE(as.unmap_view(v) == status::success);
  }
  close_section(m.sys, h);
  std::uint32_t got = 0;
  std::memcpy(&got, bytes.data(), sizeof got);
  CHECK(got == 0xAABBCCDD);
}

TEST_SUITE_END();
