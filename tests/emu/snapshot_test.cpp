// emu::snapshot: take a snapshot of a system's address spaces, run, and
// restore them: VADs, protections and bytes as they were, at a cost set by
// what changed.
#include "emu_machine.hpp"
#include "seen_state.hpp"
#include "test_files.hpp"

#include <mmkit/emu/snapshot.hpp>

#include <array>
#include <cstring>
#include <map>
#include <random>
#include <vector>

using namespace emu_test;

namespace {

/// Checks that `as` is as `want` saw it, and sound.
template <class Space>
void require_same(Space& as, const seen_state& want) {
  require_same(look(as), want);
  CHECK(as.check_invariants());
}

}  // namespace

TEST_SUITE_BEGIN("emu");

TEST_CASE_TEMPLATE(
    "snapshot: restore brings back bytes, commit and "
    "protection, and only the pages written are looked at",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  emu_machine m{1024};
  emu_space<Arch> as{m.sys};
  const vaddr a = allocate(as, 64);
  for (std::uint64_t i = 0; i < 64; i += 2)
    poke(as, a + i * page_size, static_cast<std::uint32_t>(i));
  const seen_state before = look(as);

  emu::snapshot<emu_space<Arch>> snap;
  REQUIRE(snap.take({&as}) == status::success);
  CHECK(snap.journal_size() == 0);
  CHECK(snap.bytes_kept() == 64 * page_size);  // look() read them all

  poke(as, a, 0xDEAD);
  poke(as, a + 3 * page_size, 0xBEEF);  // zero bytes then
  // A write sets D once: the second write to the page costs the journal
  // nothing.
  poke(as, a + 4, 0xF00D);
  CHECK(snap.journal_size() <= 4);
  vaddr b = a + 8 * page_size;
  std::uint64_t size = 2 * page_size;
  std::uint32_t old = 0;
  REQUIRE(as.protect(b, size, page::readonly | page::guard, old) ==
          status::success);
  b = a + 16 * page_size;
  size = 4 * page_size;
  REQUIRE(as.free(b, size, mem::decommit) == status::success);

  REQUIRE(snap.restore() == status::success);
  require_same(as, before);
  CHECK(snap.journal_size() == 0);

  // Again: the snapshot stays for the next restore.
  poke(as, a + 2 * page_size, 0x1234);
  REQUIRE(snap.restore() == status::success);
  require_same(as, before);
}

TEST_CASE_TEMPLATE(
    "snapshot: VADs made, released and split since come "
    "back as they were",
    Arch, arch::x86_32, arch::x86_64) {
  emu_machine m{1024};
  emu_space<Arch> as{m.sys};
  const vaddr a = allocate(as, 32);
  const vaddr r = allocate(as, 64, mem::reserve);
  vaddr c = r + 4 * page_size;
  std::uint64_t size = 4 * page_size;
  REQUIRE(as.allocate(c, size, mem::commit, page::execute_readwrite) ==
          status::success);
  for (std::uint64_t i = 0; i < 32; ++i)
    poke(as, a + i * page_size, static_cast<std::uint32_t>(0x100 + i));
  poke(as, r + 5 * page_size, 0x55);
  const seen_state before = look(as);

  emu::snapshot<emu_space<Arch>> snap;
  REQUIRE(snap.take({&as}) == status::success);

  // The middle of one reservation goes (two are left), another goes
  // whole, a new one comes.
  vaddr mid = a + 8 * page_size;
  size = 8 * page_size;
  REQUIRE(as.free(mid, size, mem::release) == status::success);
  vaddr whole = r;
  size = 0;
  REQUIRE(as.free(whole, size, mem::release) == status::success);
  const vaddr fresh = allocate(as, 16);
  poke(as, fresh, 0x77);

  REQUIRE(snap.restore() == status::success);
  require_same(as, before);
  CHECK(as.vad_nodes() == 2);
}

TEST_CASE("snapshot: pages trimmed and paged out since are restored") {
  emu_machine m{1024};
  emu_space<arch::x86_64> as{m.sys};
  const vaddr a = allocate(as, 16);
  for (std::uint64_t i = 0; i < 16; ++i)
    poke(as, a + i * page_size, static_cast<std::uint32_t>(i + 1));
  REQUIRE(as.trim(a + page_size));  // trimmed when taken
  const seen_state before = look(as);
  REQUIRE(as.trim(a + page_size));

  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&as}) == status::success);
  poke(as, a, 0xAA);
  REQUIRE(as.trim(a));
  REQUIRE(as.trim(a + 2 * page_size));
  poke(as, a + page_size, 0xBB);
  REQUIRE(snap.restore() == status::success);
  require_same(as, before);
}

TEST_CASE(
    "snapshot: views, copy-on-write copies and the section's pages "
    "come back in every space") {
  emu_machine m{2048};
  section_handle h;
  REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0,
                         8 * page_size, page::readwrite,
                         sec::commit) == status::success);
  emu_space<arch::x86_64> a{m.sys};
  emu_space<arch::x86_64> b{m.sys};
  vaddr va{0}, vb{0}, cow{0};
  std::uint64_t size = 0;
  REQUIRE(a.map_view(h, va, size, 0, 0, page::readwrite, 0,
                     section_inherit::view_unmap) == status::success);
  size = 0;
  REQUIRE(b.map_view(h, vb, size, 0, 0, page::readwrite) == status::success);
  size = 0;
  REQUIRE(b.map_view(h, cow, size, 0, 0, page::writecopy) == status::success);
  poke(a, va, 1);
  poke(b, cow + page_size, 2);  // a copy before the snapshot
  const seen_state before_a = look(a);
  const seen_state before_b = look(b);

  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&a, &b}) == status::success);
  poke(b, vb, 10);                  // the section's page, through b
  poke(b, cow + 2 * page_size, 3);  // a new copy
  poke(b, cow + page_size, 4);      // the old copy written
  REQUIRE(a.unmap_view(va) == status::success);
  vaddr again{0};
  size = 0;
  REQUIRE(a.map_view(h, again, size, 0, 0, page::readonly) == status::success);

  // A view made since, written and unmapped: the section's page changed.
  vaddr later{0};
  size = 0;
  REQUIRE(b.map_view(h, later, size, 0, 0, page::readwrite) == status::success);
  poke(b, later + 5 * page_size, 0x99);
  REQUIRE(b.unmap_view(later) == status::success);

  REQUIRE(snap.restore() == status::success);
  require_same(a, before_a);
  require_same(b, before_b);
  CHECK(peek(a, va) == 1);
  CHECK(peek(b, vb) == 1);
  CHECK(peek(a, va + 5 * page_size) == 0);
  // The view remade in `a` keeps its inheritance (ViewUnmap).
  const vad* remade = a.vads().find_containing(va.page());
  REQUIRE(remade != nullptr);
  CHECK(remade->has(vad_flags::view_unmap));
  snap.drop();
  close_section(m.sys, h);
}

TEST_CASE("snapshot: nested snapshots restore to their own moment") {
  emu_machine m{1024};
  emu_space<arch::x86_64> as{m.sys};
  const vaddr a = allocate(as, 16);
  poke(as, a, 1);
  const seen_state first = look(as);
  emu::snapshot<emu_space<arch::x86_64>> s1;
  REQUIRE(s1.take({&as}) == status::success);
  poke(as, a, 2);
  poke(as, a + page_size, 2);
  const vaddr b = allocate(as, 4);
  poke(as, b, 2);
  const seen_state second = look(as);
  {
    emu::snapshot<emu_space<arch::x86_64>> s2;
    REQUIRE(s2.take({&as}) == status::success);
    poke(as, a, 3);
    poke(as, a + 2 * page_size, 3);
    REQUIRE(s2.restore() == status::success);
    require_same(as, second);
    poke(as, a + 3 * page_size, 4);  // handed to s1 when s2 goes
  }
  REQUIRE(s1.restore() == status::success);
  require_same(as, first);
}

TEST_CASE("snapshot: an emulator's cache hears of a restore") {
  emu_machine m{1024};
  emu_space<arch::x86_64> as{m.sys};
  const vaddr a = allocate(as, 4);
  poke(as, a, 1);
  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&as}) == status::success);
  // Taking the snapshot cleared D: a write pointer cached before is stale.
  auto page = as.host_page_of(a, access::write);
  REQUIRE(page);
  const std::uint64_t g = as.change_generation();
  *reinterpret_cast<std::uint32_t*>(page->pointer) = 2;  // D is set: fine
  REQUIRE(snap.restore() == status::success);
  CHECK(as.change_generation() != g);
  CHECK(peek(as, a) == 1);
}

TEST_CASE("snapshot: a restore never writes a page a fork still shares") {
  emu_machine m{1024};
  emu_space<arch::x86_64> parent{m.sys};
  const vaddr a = allocate(parent, 4);
  poke(parent, a, 1);
  poke(parent, a + page_size, 1);
  const seen_state before = look(parent);
  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&parent}) == status::success);
  poke(parent, a, 2);
  emu_space<arch::x86_64> child{m.sys};
  REQUIRE(parent.fork_into(child) == status::success);
  poke(child, a + page_size, 3);
  REQUIRE(snap.restore() == status::success);
  require_same(parent, before);
  CHECK(peek(child, a) == 2);  // the child saw the parent's write
  CHECK(peek(child, a + page_size) == 3);
  CHECK(child.check_invariants());
}

TEST_CASE(
    "snapshot: a page supplier goes with a reservation the restore "
    "releases") {
  struct filler {
    status supply(vaddr, std::byte* page) noexcept {
      page[0] = std::byte{7};
      return status::success;
    }
  } f;
  emu_machine m{1024};
  emu_space<arch::x86_64> as{m.sys};
  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&as}) == status::success);
  const vaddr a = allocate(as, 4);
  REQUIRE(as.set_page_supplier(a, 4 * page_size, f) == status::success);
  CHECK(peek(as, a) == 7);
  REQUIRE(snap.restore() == status::success);
  CHECK(as.check_invariants());
  memory_basic_information mbi{};
  REQUIRE(as.query(a, mbi) == status::success);
  CHECK(mbi.state == mem::free);
}

TEST_CASE(
    "snapshot: an image view unmapped since comes back with its pages' "
    "protections: relocated WRITECOPY, written READWRITE") {
  emu_machine m{1024};
  test_file dll{small_dll(), false};
  emu_space<arch::x86_64> as{m.sys};
  section_handle h;
  REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0, 0,
                         page::execute_writecopy, sec::image,
                         &dll.file) == status::success);
  vaddr base{0x7FF000000000};
  std::uint64_t size = 0;
  REQUIRE(as.map_view(h, base, size, 0, 0, page::readwrite) ==
          status::image_not_at_base);
  poke(as, base + 0x3100, 0xDA7A);  // .data's relocated page, written
  const seen_state want = look(as);
  memory_basic_information mbi{};
  REQUIRE(as.query(base + 0x4000, mbi) == status::success);
  CHECK(mbi.protect == page::writecopy);  // .data's second page, relocated
  REQUIRE(as.query(base + 0x1000, mbi) == status::success);
  CHECK(mbi.protect == page::execute_read);  // .text, relocated

  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&as}) == status::success);
  REQUIRE(as.unmap_view(base) == status::success);
  REQUIRE(snap.restore() == status::success);
  require_same(as, want);
  snap.drop();
  close_section(m.sys, h);
}

TEST_CASE("snapshot: AWE reservations are refused") {
  emu_machine m{1024};
  emu_space<arch::x86_64> as{m.sys};
  allocate(as, 16, mem::reserve | mem::physical);
  emu::snapshot<emu_space<arch::x86_64>> snap;
  CHECK(snap.take({&as}) == status::not_supported);
  CHECK(!snap.taken());
}

TEST_CASE_TEMPLATE(
    "snapshot: restore after random operations equals the "
    "snapshot, byte for byte and region for region",
    Arch, arch::x86_32, arch::x86_64) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng{seed};
    auto below = [&](std::uint64_t n) { return rng() % n; };
    emu_machine m{4096};
    section_handle h;
    REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0,
                           16 * page_size, page::readwrite,
                           sec::commit) == status::success);
    {
      emu_space<Arch> as{m.sys};
      std::vector<vaddr> regions;
      auto step = [&] {
        const std::uint64_t pick = below(10);
        const vaddr any = regions.empty() ? vaddr{0}
                                          : regions[below(regions.size())] +
                                                below(16) * page_size;
        std::uint64_t size = (1 + below(4)) * page_size;
        std::uint32_t old = 0;
        switch (pick) {
          case 0: {
            vaddr base{0};
            size = 16 * page_size;
            if (as.allocate(
                    base, size,
                    below(2) ? mem::reserve | mem::commit : mem::reserve,
                    page::readwrite) == status::success)
              regions.push_back(base);
            break;
          }
          case 1: {
            vaddr base = any;
            as.allocate(base, size, mem::commit,
                        below(2) ? page::readwrite : page::execute_readwrite);
            break;
          }
          case 2: {
            vaddr base = any;
            as.free(base, size, mem::decommit);
            break;
          }
          case 3: {
            vaddr base = any;
            const std::uint32_t prots[] = {page::readonly, page::readwrite,
                                           page::noaccess,
                                           page::readwrite | page::guard};
            as.protect(base, size, prots[below(4)], old);
            break;
          }
          case 4:
          case 5:
          case 6: {
            const std::uint32_t v = static_cast<std::uint32_t>(rng());
            std::size_t done = 0;
            as.write(any, &v, sizeof v, done);
            break;
          }
          case 7: as.trim(any); break;
          case 8: {
            vaddr base{0};
            size = 0;
            if (as.map_view(h, base, size, 0, 0,
                            below(2) ? page::readwrite : page::writecopy) ==
                status::success)
              regions.push_back(base);
            break;
          }
          case 9: {
            if (regions.empty()) break;
            const std::size_t i = below(regions.size());
            vaddr base = regions[i];
            size = 0;
            if (as.free(base, size, mem::release) == status::success ||
                as.unmap_view(regions[i]) == status::success)
              regions.erase(regions.begin() + static_cast<std::ptrdiff_t>(i));
            break;
          }
        }
      };
      for (int i = 0; i < 60; ++i) step();
      const std::vector<vaddr> at_snapshot = regions;
      const seen_state before = look(as);
      emu::snapshot<emu_space<Arch>> snap;
      REQUIRE(snap.take({&as}) == status::success);
      for (int round = 0; round < 4; ++round) {
        CAPTURE(round);
        for (int i = 0; i < 40; ++i) step();
        REQUIRE(snap.restore() == status::success);
        require_same(as, before);
        regions = at_snapshot;
      }
    }
    close_section(m.sys, h);
  }
}
