// The pager end to end: working sets counted by the PTE writer, trims to
// the standby and modified lists, the modified page writer filling page
// files, standby frames repurposed (their owners' PTEs rewritten to
// page-file or prototype form), soft and hard faults, the commit limit
// with page files, slots freed on decommit and release, and the balance
// step. Pages carry checksummed contents throughout: nothing is lost.
#include <mmkit/mmkit.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/section/posix_file_store.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace mmkit;

namespace {

using machine = hosted_system<>;
template <class Arch>
using space = address_space<Arch, hosted_config<>>;

constexpr std::uint64_t frames_of(std::uint64_t pages) {
  return pages * page_size;
}

/// The word page `i` of a test holds in generation `gen`.
std::uint64_t pattern(std::uint64_t i, std::uint64_t gen) {
  return (i * 0x9E3779B97F4A7C15ull) ^ (gen << 48) ^ 0x5A5A;
}

template <class Space>
void put(Space& as, vaddr va, std::uint64_t v) {
  std::size_t done = 0;
  REQUIRE(as.write(va, &v, sizeof v, done) == status::success);
}
template <class Space>
std::uint64_t get(Space& as, vaddr va) {
  std::uint64_t v = 0;
  std::size_t done = 0;
  REQUIRE(as.read(va, &v, sizeof v, done) == status::success);
  return v;
}

template <class Space>
vaddr commit(Space& as, std::uint64_t pages,
             std::uint32_t prot = page::readwrite) {
  vaddr base{0};
  std::uint64_t size = pages * page_size;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit, prot) ==
          status::success);
  return base;
}

/// Takes every available frame, repurposing every standby frame (their
/// owners' PTEs are rewritten), then gives them all back.
void repurpose_standby(machine& sys) {
  std::vector<pfn> taken;
  while (sys.pfns().count(page_state::standby) != 0) {
    auto f = sys.pfns().allocate(page_need::any);
    REQUIRE(f);
    taken.push_back(*f);
  }
  for (pfn f : taken) sys.pfns().release(f, release_to::free_list);
}

}  // namespace

TEST_SUITE("pager") {
  TEST_CASE("the working set is the valid PTEs, counted by the PTE writer") {
    machine sys{frames_of(256)};
    space<arch::x86_64> as{sys};
    const vaddr base = commit(as, 16);
    CHECK(as.working_set_size() == 0);
    for (std::uint64_t i = 0; i < 16; ++i) put(as, base + i * page_size, i);
    CHECK(as.working_set_size() == 16);
    CHECK(as.trim(base + 3 * page_size));
    CHECK_FALSE(as.trim(base + 3 * page_size));  // not valid any more
    CHECK(as.working_set_size() == 15);
    // A soft fault brings it back, frame and bytes.
    CHECK(get(as, base + 3 * page_size) == 3);
    CHECK(as.faults().soft == 1);
    CHECK(as.working_set_size() == 16);
    std::uint64_t size = 4 * page_size;
    vaddr at = base;
    REQUIRE(as.free(at, size, mem::decommit) == status::success);
    CHECK(as.working_set_size() == 12);
    CHECK(as.check_invariants());
  }

  TEST_CASE("trimmed pages go to modified, are written, then repurposed") {
    machine sys{frames_of(128), frames_of(1024)};
    space<arch::x86_64> as{sys};
    const vaddr base = commit(as, 8);
    for (std::uint64_t i = 0; i < 8; ++i)
      put(as, base + i * page_size, pattern(i, 1));
    for (std::uint64_t i = 0; i < 8; ++i) CHECK(as.trim(base + i * page_size));
    CHECK(sys.pfns().count(page_state::modified) == 8);
    CHECK(sys.write_modified_pages(100) == 8);
    CHECK(sys.pfns().count(page_state::standby) == 8);
    CHECK(sys.page_files().used() == 8);
    CHECK(sys.stats().pagefile_writes == 8);
    // A soft fault from standby: the frame comes back and the slot goes
    // (the frame holds the only copy again).
    CHECK(get(as, base) == pattern(0, 1));
    CHECK(as.faults().soft == 1);
    CHECK(sys.page_files().used() == 7);
    // Repurposing: the standby pages' PTEs become page-file PTEs.
    repurpose_standby(sys);
    CHECK(sys.stats().repurposed == 7);
    CHECK(as.translate(base + page_size).kind == entry_kind::page_file);
    // Hard faults read them back, and free their slots.
    for (std::uint64_t i = 1; i < 8; ++i)
      CHECK(get(as, base + i * page_size) == pattern(i, 1));
    CHECK(as.faults().hard == 7);
    CHECK(sys.page_files().used() == 0);
    CHECK(as.check_invariants());
  }

  TEST_CASE("protect, guard, reset, decommit and release of paged-out pages") {
    machine sys{frames_of(128), frames_of(256)};
    space<arch::x86_64> as{sys};
    const vaddr base = commit(as, 6);
    for (std::uint64_t i = 0; i < 6; ++i)
      put(as, base + i * page_size, pattern(i, 2));
    auto page_out = [&](std::uint64_t i) {
      REQUIRE(as.trim(base + i * page_size));
      sys.write_modified_pages(16);
      repurpose_standby(sys);
      REQUIRE(as.translate(base + i * page_size).kind == entry_kind::page_file);
    };
    for (std::uint64_t i = 0; i < 6; ++i) page_out(i);
    CHECK(sys.page_files().used() == 6);
    // Protect keeps the slot, with the new protection.
    std::uint32_t old = 0;
    std::uint64_t size = page_size;
    vaddr at = base;
    REQUIRE(as.protect(at, size, page::readonly, old) == status::success);
    CHECK(old == page::readwrite);
    CHECK(as.translate(base).kind == entry_kind::page_file);
    memory_basic_information info{};
    REQUIRE(as.query(base, info) == status::success);
    CHECK(info.protect == page::readonly);
    CHECK(info.state == mem::commit);
    CHECK(get(as, base) == pattern(0, 2));
    std::uint64_t v = 1;
    std::size_t done = 0;
    CHECK(as.write(base, &v, sizeof v, done) == status::access_violation);
    // A guard page in the page file: the guard fires, the page survives.
    at = base + page_size;
    size = page_size;
    REQUIRE(as.protect(at, size, page::readwrite | page::guard, old) ==
            status::success);
    CHECK(as.access(base + page_size, access::read) ==
          status::guard_page_violation);
    CHECK(get(as, base + page_size) == pattern(1, 2));
    // MEM_RESET and decommit free their slots.
    CHECK(sys.page_files().used() == 4);
    at = base + 2 * page_size;
    size = page_size;
    std::uint32_t ignored = 0;
    (void)ignored;
    REQUIRE(as.allocate(at, size, mem::reset, page::readwrite) ==
            status::success);
    CHECK(sys.page_files().used() == 3);
    at = base + 3 * page_size;
    size = page_size;
    REQUIRE(as.free(at, size, mem::decommit) == status::success);
    CHECK(sys.page_files().used() == 2);
    CHECK(as.check_invariants());
    // Release takes the rest.
    at = base;
    size = 0;
    REQUIRE(as.free(at, size, mem::release) == status::success);
    CHECK(sys.page_files().used() == 0);
    CHECK(as.frames_in_use() == 0);
  }

  TEST_CASE("commit past RAM with a page file: 16x, every byte kept") {
    constexpr std::uint64_t ram = 64, pages = 1024;
    machine sys{frames_of(ram), frames_of(pages + 64)};
    CHECK(sys.commit_limit() == ram + pages + 64 - 1);  // slot 0 is kept
    space<arch::x86_64> as{sys};
    const vaddr base = commit(as, pages);
    for (std::uint64_t i = 0; i < pages; ++i)
      put(as, base + i * page_size, pattern(i, 3));
    for (std::uint64_t round = 0; round < 2; ++round)
      for (std::uint64_t i = 0; i < pages; ++i)
        CHECK(get(as, base + (i * 7 % pages) * page_size) ==
              pattern(i * 7 % pages, 3));
    const fault_counts f = as.faults();
    CHECK(f.demand_zero == pages);
    CHECK(f.hard > 0);
    CHECK(sys.stats().pagefile_writes > 0);
    CHECK(sys.faults().hard == f.hard);
    CHECK(as.check_invariants());
    vaddr at = base;
    std::uint64_t size = 0;
    REQUIRE(as.free(at, size, mem::release) == status::success);
    CHECK(sys.page_files().used() == 0);
    CHECK(as.frames_in_use() == 0);
  }

  TEST_CASE("a commit whose page tables find no free frame makes them free") {
    // Every frame is in use: the commit's page tables must come from the
    // other space's pages, trimmed and written out, not fail the call.
    constexpr std::uint64_t ram = 64, pages = 256;
    machine sys{frames_of(ram), frames_of(2 * pages + 64)};
    space<arch::x86_64> a{sys};
    space<arch::x86_64> b{sys};
    const vaddr in_a = commit(a, pages);
    std::uint64_t touched = 0;
    while (touched < pages && sys.pfns().available() != 0) {
      put(a, in_a + touched * page_size, pattern(touched, 5));
      ++touched;
    }
    REQUIRE(sys.pfns().available() == 0);
    const vaddr in_b = commit(b, 4);  // its PDPT, PD and PT need frames
    CHECK(b.table_pages_in_use() > 1);
    put(b, in_b, pattern(0, 6));
    CHECK(get(b, in_b) == pattern(0, 6));
    for (std::uint64_t i = 0; i < touched; ++i)
      CHECK(get(a, in_a + i * page_size) == pattern(i, 5));
    CHECK(a.check_invariants());
    CHECK(b.check_invariants());
  }

  TEST_CASE("the commit limit counts the page file; past it, NT's status") {
    machine sys{frames_of(64), frames_of(64)};
    space<arch::x86_64> as{sys};
    vaddr base{0};
    std::uint64_t size = (sys.commit_limit() + 1) * page_size;
    CHECK(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite) == status::commitment_limit);
    CHECK(as.commit_charge() == 0);
  }

  TEST_CASE("a full page file: the writer stops, the page stays modified") {
    machine sys{frames_of(128), frames_of(4)};  // 3 usable slots
    space<arch::x86_64> as{sys};
    const vaddr base = commit(as, 6);
    for (std::uint64_t i = 0; i < 6; ++i) {
      put(as, base + i * page_size, pattern(i, 4));
      REQUIRE(as.trim(base + i * page_size));
    }
    CHECK(sys.write_modified_pages(6) == 3);
    CHECK(sys.stats().write_failures == 1);
    CHECK(sys.pfns().count(page_state::modified) == 3);
    for (std::uint64_t i = 0; i < 6; ++i)
      CHECK(get(as, base + i * page_size) == pattern(i, 4));
    CHECK(as.check_invariants());
  }

  TEST_CASE("the working-set maximum trims by the clock") {
    machine sys{frames_of(256), frames_of(256)};
    space<arch::x86_64> as{sys};
    REQUIRE(as.set_working_set_limits(4, 16) == status::success);
    CHECK(as.set_working_set_limits(8, 4) == status::invalid_parameter);
    const vaddr base = commit(as, 64);
    for (std::uint64_t i = 0; i < 64; ++i)
      put(as, base + i * page_size, pattern(i, 5));
    CHECK(as.working_set_size() <= 16);
    for (std::uint64_t i = 0; i < 64; ++i)
      CHECK(get(as, base + i * page_size) == pattern(i, 5));
    CHECK(as.working_set_size() <= 16);
    CHECK(sys.stats().trimmed >= 48);
    CHECK(as.check_invariants());
  }

  TEST_CASE(
      "a fault past the working-set maximum never trims the page it "
      "brought in") {
    // Found by fuzz_emulator: when every other valid page stays (shared
    // with a fork here), the trim after a fault took the page just
    // faulted in, the access faulted again, and so on for ever.
    machine sys{frames_of(256), frames_of(256)};
    space<arch::x86_64> as{sys};
    space<arch::x86_64> child{sys};
    const vaddr shared = commit(as, 8);
    for (std::uint64_t i = 0; i < 8; ++i)
      put(as, shared + i * page_size, pattern(i, 8));
    REQUIRE(as.fork_into(child) == status::success);
    REQUIRE(as.set_working_set_limits(2, 4) == status::success);
    CHECK(as.working_set_size() == 8);  // a shared frame is not trimmed
    const vaddr fresh = commit(as, 4);
    for (std::uint64_t i = 0; i < 4; ++i) {
      put(as, fresh + i * page_size, pattern(i, 9));
      CHECK(get(as, fresh + i * page_size) == pattern(i, 9));
    }
    CHECK(as.working_set_size() <= 9);
    for (std::uint64_t i = 0; i < 8; ++i)
      CHECK(get(child, shared + i * page_size) == pattern(i, 8));
    CHECK(as.check_invariants());
    CHECK(child.check_invariants());
  }

  TEST_CASE("balance trims working sets when available memory runs low") {
    machine sys{frames_of(256), frames_of(512)};
    space<arch::x86_64> a{sys};
    space<arch::x86_32> b{sys};
    const vaddr va = commit(a, 150);
    const vaddr vb = commit(b, 150);
    for (std::uint64_t i = 0; i < 150; ++i) {
      put(a, va + i * page_size, pattern(i, 6));
      put(b, vb + i * page_size, pattern(i, 7));
    }
    // Available is below 1/16 of memory only if the spaces took it.
    sys.pfns().set_available_thresholds(64, 96);
    const std::uint64_t trimmed = sys.balance();
    CHECK(trimmed > 0);
    CHECK(sys.pfns().available() >= 64);
    for (std::uint64_t i = 0; i < 150; ++i) {
      CHECK(get(a, va + i * page_size) == pattern(i, 6));
      CHECK(get(b, vb + i * page_size) == pattern(i, 7));
    }
    CHECK(a.check_invariants());
    CHECK(b.check_invariants());
  }

  TEST_CASE("section pages: trimmed per view, listed when the last goes") {
    machine sys{frames_of(64), frames_of(512)};
    space<arch::x86_64> a{sys};
    space<arch::x86_32> b{sys};
    constexpr std::uint64_t pages = 256;  // 4x RAM, page-file backed
    section_handle h;
    std::uint64_t size = pages * page_size;
    REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, size,
                           page::readwrite, sec::commit,
                           nullptr) == status::success);
    vaddr va{0}, vb{0};
    std::uint64_t sa = 0, sb = 0;
    REQUIRE(a.map_view(h, va, sa, 0, 0, page::readwrite) == status::success);
    REQUIRE(b.map_view(h, vb, sb, 0, 0, page::readwrite) == status::success);
    for (std::uint64_t i = 0; i < pages; ++i)
      put(a, va + i * page_size, pattern(i, 8));
    for (std::uint64_t gen = 8; gen < 10; ++gen)
      for (std::uint64_t i = 0; i < pages; ++i) {
        CHECK(get(b, vb + i * page_size) == pattern(i, gen));
        put(b, vb + i * page_size, pattern(i, gen + 1));
        CHECK(get(a, va + i * page_size) == pattern(i, gen + 1));
      }
    CHECK(sys.stats().pagefile_writes > 0);
    CHECK(sys.faults().hard > 0);
    CHECK(a.check_invariants());
    CHECK(b.check_invariants());
    REQUIRE(a.unmap_view(va) == status::success);
    REQUIRE(b.unmap_view(vb) == status::success);
    close_section(sys, h);
    CHECK(sys.page_files().used() == 0);
    CHECK(sys.commit_charge() == 0);
  }

  TEST_CASE("a collided fault: two spaces, one paged-out page, one read") {
    machine sys{frames_of(128), frames_of(256)};
    space<arch::x86_64> a{sys};
    space<arch::x86_32> b{sys};
    section_handle h;
    REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0,
                           4 * page_size, page::readwrite, sec::commit,
                           nullptr) == status::success);
    vaddr va{0}, vb{0};
    std::uint64_t sa = 0, sb = 0;
    REQUIRE(a.map_view(h, va, sa, 0, 0, page::readwrite) == status::success);
    REQUIRE(b.map_view(h, vb, sb, 0, 0, page::readwrite) == status::success);
    put(a, va, pattern(0, 12));
    CHECK(get(b, vb) == pattern(0, 12));
    // Both views let go: the frame leaves the prototype for the modified
    // list, is written to the page file and repurposed.
    CHECK(a.trim(va));
    CHECK(sys.pfns().count(page_state::modified) == 0);  // b still maps it
    CHECK(b.trim(vb));
    CHECK(sys.pfns().count(page_state::modified) == 1);
    CHECK(sys.write_modified_pages(8) == 1);
    repurpose_standby(sys);
    CHECK(sys.page_files().used() == 1);
    // The first fault reads it; the second finds it resident.
    CHECK(get(b, vb) == pattern(0, 12));
    CHECK(get(a, va) == pattern(0, 12));
    CHECK(sys.stats().pagefile_reads == 1);
    CHECK(b.faults().hard == 1);
    CHECK(a.faults().hard == 0);
    CHECK(a.faults().shared >= 1);
    CHECK(sys.page_files().used() == 0);
    CHECK(a.translate(va).address == b.translate(vb).address);
    REQUIRE(a.unmap_view(va) == status::success);
    REQUIRE(b.unmap_view(vb) == status::success);
    close_section(sys, h);
    CHECK(sys.commit_charge() == 0);
  }

  TEST_CASE("copy-on-write copies past RAM are paged like private pages") {
    // A WRITECOPY view of a 256-page file in 64 frames: every write makes
    // a private copy, and the copies are trimmed, written and read back.
    constexpr std::uint64_t pages = 256;
    std::vector<std::byte> bytes(pages * page_size);
    for (std::uint64_t i = 0; i < pages; ++i) {
      const std::uint64_t v = pattern(i, 13);
      std::memcpy(bytes.data() + i * page_size, &v, sizeof v);
    }
    memory_store store(bytes.data(), bytes.size(), bytes.size(), true);
    file_object file(store);
    machine sys{frames_of(64), frames_of(1024)};
    space<arch::x86_pae> as{sys};
    section_handle h;
    REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                           page::writecopy, sec::commit,
                           &file) == status::success);
    vaddr va{0};
    std::uint64_t size = 0;
    REQUIRE(as.map_view(h, va, size, 0, 0, page::writecopy) == status::success);
    for (std::uint64_t i = 0; i < pages; ++i) {
      CHECK(get(as, va + i * page_size) == pattern(i, 13));
      put(as, va + i * page_size, pattern(i, 14));
    }
    for (std::uint64_t i = 0; i < pages; ++i)
      CHECK(get(as, va + i * page_size) == pattern(i, 14));
    CHECK(as.faults().copy_on_write == pages);
    CHECK(as.faults().hard > 0);
    // Protect a paged-out copy: the slot keeps it.
    std::uint32_t old = 0;
    vaddr at = va;
    std::uint64_t one = page_size;
    REQUIRE(as.protect(at, one, page::readonly, old) == status::success);
    CHECK(get(as, va) == pattern(0, 14));
    CHECK(as.check_invariants());
    REQUIRE(as.unmap_view(va) == status::success);
    close_section(sys, h);
    CHECK(sys.page_files().used() == 0);
    CHECK(as.frames_in_use() == 0);
    // The file never saw the copies.
    std::uint64_t first = 0;
    std::memcpy(&first, bytes.data(), sizeof first);
    CHECK(first == pattern(0, 13));
  }

  TEST_CASE("a file section's pages are written back to the file") {
    char path[] = "/tmp/mmkit-pager-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    constexpr std::uint64_t pages = 96;
    REQUIRE(ftruncate(fd, pages * page_size) == 0);
    close(fd);
    {
      auto store = posix_file_store::open(path, true);
      REQUIRE(store);
      file_object file(*store);
      machine sys{frames_of(48), frames_of(64)};
      space<arch::x86_64> as{sys};
      section_handle h;
      REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                             page::readwrite, sec::commit,
                             &file) == status::success);
      vaddr va{0};
      std::uint64_t sz = 0;
      REQUIRE(as.map_view(h, va, sz, 0, 0, page::readwrite) == status::success);
      for (std::uint64_t i = 0; i < pages; ++i)
        put(as, va + i * page_size, pattern(i, 11));
      for (std::uint64_t i = 0; i < pages; ++i)
        CHECK(get(as, va + i * page_size) == pattern(i, 11));
      CHECK(sys.stats().file_writes > 0);
      REQUIRE(as.unmap_view(va) == status::success);
      close_section(sys, h);
    }
    // Every page is in the file now.
    FILE* f = std::fopen(path, "rb");
    REQUIRE(f != nullptr);
    for (std::uint64_t i = 0; i < pages; ++i) {
      std::uint64_t v = 0;
      std::fseek(f, static_cast<long>(i * page_size), SEEK_SET);
      REQUIRE(std::fread(&v, sizeof v, 1, f) == 1);
      CHECK(v == pattern(i, 11));
    }
    std::fclose(f);
    std::remove(path);
  }
}
