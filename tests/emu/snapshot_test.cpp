// emu::snapshot: take a snapshot of a system's address spaces, run, and
// restore them: VADs, protections and bytes as they were, at a cost set by
// what changed.
#include "emu_machine.hpp"
#include "seen_state.hpp"
#include "test_files.hpp"

#include <mmkit/emu/snapshot.hpp>

#include <algorithm>
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

/// The host address of each page of [va, va + pages) for a read, or null
/// where a read faults (an AWE page not mapped): equal addresses, equal
/// frames.
template <class Space>
std::vector<const std::byte*> frames_at(Space& as, vaddr va,
                                        std::uint64_t pages) {
  std::vector<const std::byte*> out;
  for (std::uint64_t i = 0; i < pages; ++i) {
    const auto h = as.host_page_of(va + i * page_size, access::read);
    out.push_back(h ? h->pointer : nullptr);
  }
  return out;
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

TEST_CASE(
    "snapshot: a view made copy-on-write since (which charged it) comes "
    "back with the charge it had") {
  // Found by fuzz_emulator: the protect charges the view's VAD for its
  // pages, which a restore of the pages' protections alone kept.
  emu_machine m{1024};
  section_handle h;
  REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0,
                         16 * page_size, page::readwrite,
                         sec::commit) == status::success);
  {
    emu_space<arch::x86_64> as{m.sys};
    vaddr view{0};
    std::uint64_t size = 0;
    REQUIRE(as.map_view(h, view, size, 0, 0, page::readwrite) ==
            status::success);
    poke(as, view, 1);
    const seen_state before = look(as);
    CHECK(before.commit == 0);
    emu::snapshot<emu_space<arch::x86_64>> snap;
    REQUIRE(snap.take({&as}) == status::success);
    vaddr b = view + 2 * page_size;
    size = 4 * page_size;
    std::uint32_t old = 0;
    REQUIRE(as.protect(b, size, page::writecopy, old) == status::success);
    CHECK(as.commit_charge() == 16);  // the whole view, as NT charges it
    // No page written: no page changed shape, only protections and the
    // VAD's charge.
    REQUIRE(snap.restore() == status::success);
    require_same(as, before);
    CHECK(as.commit_charge() == 0);
  }
  close_section(m.sys, h);
}

TEST_CASE(
    "snapshot: a restore gives back what was allocated since before it "
    "takes back what was freed, in every space it covers") {
  // Found by fuzz_emulator: one space's memory freed since, another's
  // allocated up to the commit limit; the restore asked for the first
  // back before it gave the second up, and failed with the limit.
  emu_machine m{256};
  emu_space<arch::x86_64> one{m.sys};
  emu_space<arch::x86_64> two{m.sys};
  const vaddr a = allocate(one, 64);
  poke(one, a + page_size, 7);
  const seen_state one_then = look(one);
  const seen_state two_then = look(two);
  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&one, &two}) == status::success);

  vaddr base = a;
  std::uint64_t size = 0;
  REQUIRE(one.free(base, size, mem::release) == status::success);
  // Then the other space commits all the system lets it.
  std::uint64_t taken = 0;
  for (std::uint64_t pages = 64; pages != 0;) {
    vaddr b{0};
    size = pages * page_size;
    if (two.allocate(b, size, mem::reserve | mem::commit, page::readwrite) ==
        status::success)
      taken += pages;
    else
      pages /= 2;
  }
  CHECK(taken >= 64);
  CHECK(m.sys.commit_charge() + 64 > m.sys.commit_limit());

  REQUIRE(snap.restore() == status::success);
  require_same(one, one_then);
  require_same(two, two_then);
}

TEST_CASE(
    "snapshot: a piece of a split write-watch reservation made again keeps "
    "its write watch, and every record goes with the last piece") {
  // Found by fuzz_emulator (under LeakSanitizer): the piece made again got
  // a record of its own beside the reservation's, and releasing the
  // pieces dropped only one of them.
  emu_machine m{256};
  emu_space<arch::x86_64> as{m.sys};
  const vaddr a =
      allocate(as, 16, mem::reserve | mem::commit | mem::write_watch);
  vaddr base = a + 4 * page_size;
  std::uint64_t size = 4 * page_size;
  REQUIRE(as.free(base, size, mem::release) == status::success);  // split
  const vaddr tail = a + 8 * page_size;
  const seen_state before = look(as);
  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&as}) == status::success);
  base = tail;
  size = 0;
  REQUIRE(as.free(base, size, mem::release) == status::success);
  REQUIRE(snap.restore() == status::success);
  require_same(as, before);

  // The piece made again is watched: a write there is reported.
  poke(as, tail + page_size, 3);
  vaddr written[4];
  std::uint64_t count = 4;
  std::uint32_t granularity = 0;
  REQUIRE(as.get_write_watch(0, tail, 8 * page_size, written, count,
                             granularity) == status::success);
  REQUIRE(count >= 1);
  CHECK(std::find(written, written + count, tail + page_size) !=
        written + count);
  snap.drop();
  for (const vaddr piece : {a, tail}) {
    base = piece;
    size = 0;
    REQUIRE(as.free(base, size, mem::release) == status::success);
  }
  CHECK(as.vad_nodes() == 0);
  CHECK(as.check_invariants());
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

TEST_CASE(
    "snapshot: AWE pages come back: the same frames owned, each mapped where "
    "it was, with its bytes") {
  emu_machine m{1024};
  emu_space<arch::x86_64> as{m.sys};
  const vaddr w = allocate(as, 8, mem::reserve | mem::physical);
  std::array<pfn, 6> frames{};
  std::uint64_t n = frames.size();
  REQUIRE(as.allocate_user_physical_pages(n, frames.data()) == status::success);
  REQUIRE(n == frames.size());
  // Frames 0-3 mapped at pages 0-3; frames 4 and 5 owned, not mapped.
  REQUIRE(as.map_user_physical_pages(w, 4, frames.data()) == status::success);
  for (std::uint64_t i = 0; i < 4; ++i)
    poke(as, w + i * page_size, static_cast<std::uint32_t>(100 + i));
  const seen_state before = look(as);
  const auto mapped = frames_at(as, w, 8);
  const std::uint64_t charge = m.sys.commit_charge();

  emu::snapshot<emu_space<arch::x86_64>> snap;
  REQUIRE(snap.take({&as}) == status::success);
  CHECK(snap.bytes_kept() == 6 * page_size);  // every owned frame's bytes

  // Remapped (frames 0 and 1 swap places) and written.
  REQUIRE(as.map_user_physical_pages(w, 2, nullptr) == status::success);
  const std::array<pfn, 2> swapped{frames[1], frames[0]};
  REQUIRE(as.map_user_physical_pages(w, 2, swapped.data()) == status::success);
  poke(as, w, 0xDEAD);  // frame 1's bytes
  // An unmapped frame mapped and written.
  REQUIRE(as.map_user_physical_pages(w + 5 * page_size, 1, &frames[4]) ==
          status::success);
  poke(as, w + 5 * page_size, 0x4444);
  // A mapped frame freed: the snapshot keeps it, so no one else takes it.
  std::uint64_t one = 1;
  REQUIRE(as.free_user_physical_pages(one, &frames[2]) == status::success);
  // New frames, mapped and written.
  std::array<pfn, 2> more{};
  n = more.size();
  REQUIRE(as.allocate_user_physical_pages(n, more.data()) == status::success);
  REQUIRE(as.map_user_physical_pages(w + 6 * page_size, 2, more.data()) ==
          status::success);
  poke(as, w + 7 * page_size, 0x7777);

  REQUIRE(snap.restore() == status::success);
  require_same(as, before);
  CHECK(frames_at(as, w, 8) == mapped);
  CHECK(as.user_physical_pages() == frames.size());
  CHECK(m.sys.commit_charge() == charge);

  // Again: the region released, every frame freed.
  vaddr base = w;
  std::uint64_t size = 0;
  REQUIRE(as.free(base, size, mem::release) == status::success);
  n = frames.size();
  REQUIRE(as.free_user_physical_pages(n, frames.data()) == status::success);
  CHECK(as.user_physical_pages() == 0);
  REQUIRE(snap.restore() == status::success);
  require_same(as, before);
  CHECK(frames_at(as, w, 8) == mapped);
  CHECK(m.sys.commit_charge() == charge);

  // The space owns exactly the frames it owned: all of them free at once.
  snap.drop();
  n = frames.size();
  CHECK(as.free_user_physical_pages(n, frames.data()) == status::success);
  CHECK(n == frames.size());
  CHECK(as.user_physical_pages() == 0);
  CHECK(m.sys.commit_charge() == charge - frames.size());
  CHECK(as.check_invariants());
}

TEST_CASE(
    "snapshot: an AWE frame freed under nested snapshots stays out of use "
    "until no snapshot that owned it is left") {
  emu_machine m{1024};
  emu_space<arch::x86_64> as{m.sys};
  const vaddr w = allocate(as, 4, mem::reserve | mem::physical);
  std::array<pfn, 3> frames{};
  std::uint64_t n = frames.size();
  REQUIRE(as.allocate_user_physical_pages(n, frames.data()) == status::success);
  REQUIRE(as.map_user_physical_pages(w, 3, frames.data()) == status::success);
  for (std::uint64_t i = 0; i < 3; ++i)
    poke(as, w + i * page_size, static_cast<std::uint32_t>(7 * i + 1));
  const std::uint64_t charge = m.sys.commit_charge();
  const seen_state at_outer = look(as);
  const auto mapped_outer = frames_at(as, w, 4);

  emu::snapshot<emu_space<arch::x86_64>> outer;
  REQUIRE(outer.take({&as}) == status::success);
  std::uint64_t one = 1;
  REQUIRE(as.free_user_physical_pages(one, &frames[0]) == status::success);
  CHECK(m.sys.commit_charge() == charge);  // kept, and charged
  const seen_state at_inner = look(as);
  const auto mapped_inner = frames_at(as, w, 4);

  {
    emu::snapshot<emu_space<arch::x86_64>> inner;
    REQUIRE(inner.take({&as}) == status::success);
    REQUIRE(as.free_user_physical_pages(one, &frames[1]) == status::success);
    pfn extra{};
    n = 1;
    REQUIRE(as.allocate_user_physical_pages(n, &extra) == status::success);
    REQUIRE(as.map_user_physical_pages(w + 3 * page_size, 1, &extra) ==
            status::success);
    poke(as, w + 3 * page_size, 0x3333);
    REQUIRE(inner.restore() == status::success);
    require_same(as, at_inner);
    CHECK(frames_at(as, w, 4) == mapped_inner);
    CHECK(as.user_physical_pages() == 2);
    // Frame 1 freed again: the inner snapshot's drop hands it down, as the
    // outer one owned it too.
    REQUIRE(as.free_user_physical_pages(one, &frames[1]) == status::success);
  }
  CHECK(m.sys.commit_charge() == charge);
  REQUIRE(outer.restore() == status::success);
  require_same(as, at_outer);
  CHECK(frames_at(as, w, 4) == mapped_outer);
  CHECK(as.user_physical_pages() == 3);

  // With the last snapshot gone, a frame freed goes back to the system.
  REQUIRE(as.free_user_physical_pages(one, &frames[0]) == status::success);
  CHECK(m.sys.commit_charge() == charge);
  outer.drop();
  CHECK(m.sys.commit_charge() == charge - 1);
  CHECK(as.check_invariants());
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
      std::vector<pfn> owned;          // user physical pages
      std::vector<vaddr> awe_regions;  // regions that map them
      auto step = [&] {
        const std::uint64_t pick = below(13);
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
                as.unmap_view(regions[i]) == status::success) {
              std::erase(awe_regions, regions[i]);
              regions.erase(regions.begin() + static_cast<std::ptrdiff_t>(i));
            }
            break;
          }
          case 10: {  // an AWE region, and user physical pages
            vaddr base{0};
            size = 16 * page_size;
            if (below(2) &&
                as.allocate(base, size, mem::reserve | mem::physical,
                            page::readwrite) == status::success) {
              regions.push_back(base);
              awe_regions.push_back(base);
            }
            pfn got[3];
            std::uint64_t n = 1 + below(3);
            if (as.allocate_user_physical_pages(n, got) == status::success)
              owned.insert(owned.end(), got, got + n);
            break;
          }
          case 11: {  // owned frames mapped (or a range unmapped) anywhere
            if (owned.empty() || below(4) == 0) {
              as.map_user_physical_pages(any, 1 + below(2), nullptr);
              break;
            }
            const pfn f[2] = {owned[below(owned.size())],
                              owned[below(owned.size())]};
            as.map_user_physical_pages(any, 1 + below(2), f);
            break;
          }
          case 12: {  // an owned frame freed, mapped or not
            if (owned.empty()) break;
            const std::size_t i = below(owned.size());
            std::uint64_t n = 1;
            REQUIRE(as.free_user_physical_pages(n, &owned[i]) ==
                    status::success);
            owned.erase(owned.begin() + static_cast<std::ptrdiff_t>(i));
            break;
          }
        }
      };
      for (int i = 0; i < 60; ++i) step();
      const std::vector<vaddr> at_snapshot = regions;
      const std::vector<vaddr> awe_at_snapshot = awe_regions;
      const std::vector<pfn> owned_at_snapshot = owned;
      const seen_state before = look(as);
      std::vector<std::vector<const std::byte*>> mapped;
      for (vaddr r : awe_regions) mapped.push_back(frames_at(as, r, 16));
      emu::snapshot<emu_space<Arch>> snap;
      REQUIRE(snap.take({&as}) == status::success);
      for (int round = 0; round < 4; ++round) {
        CAPTURE(round);
        for (int i = 0; i < 40; ++i) step();
        REQUIRE(snap.restore() == status::success);
        require_same(as, before);
        regions = at_snapshot;
        awe_regions = awe_at_snapshot;
        owned = owned_at_snapshot;
        CHECK(as.user_physical_pages() == owned.size());
        for (std::size_t i = 0; i < awe_regions.size(); ++i)
          CHECK(frames_at(as, awe_regions[i], 16) == mapped[i]);
      }
      snap.drop();
      // The space owns exactly the frames it owned then.
      std::uint64_t n = owned.size();
      CHECK(as.free_user_physical_pages(n, owned.data()) == status::success);
      CHECK(n == owned.size());
      CHECK(as.check_invariants());
    }
    close_section(m.sys, h);
  }
}
