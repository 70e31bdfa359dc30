// The lazy PFN database: a new database writes no entry; fresh frames are
// counted, handed out lowest first and materialised a chunk (one 4 KiB page
// of entries) at a time, in both zones; a hosted system of any size costs
// next to no host memory until frames are used.

#include "pfn_test_support.hpp"

#include <mmkit/phys/host_memory.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <unistd.h>

using namespace mmkit;
using mmkit::test::pfn_fixture;

namespace {

constexpr std::uint32_t chunk = pfn_fixture<>::database::fresh_chunk_frames;
constexpr std::uint64_t four_gib = std::uint64_t{1} << 20;  // in frames
constexpr unsigned char poison = 0xAB;

// Entry storage filled with a pattern no entry has, so a test can tell
// which entries the database wrote.
struct poisoned_entries {
  explicit poisoned_entries(std::size_t n) : entries(n) {
    std::memset(static_cast<void*>(entries.data()), poison,
                n * sizeof(pfn_entry));
  }
  bool untouched(std::size_t i) const {
    const auto* p = reinterpret_cast<const unsigned char*>(&entries[i]);
    for (std::size_t k = 0; k < sizeof(pfn_entry); ++k)
      if (p[k] != poison) return false;
    return true;
  }
  std::size_t written() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) n += !untouched(i);
    return n;
  }
  std::vector<pfn_entry> entries;
};

// How much more host memory the process holds than it did at `before`.
std::uint64_t grown(std::uint64_t before, std::uint64_t after) {
  return after > before ? after - before : 0;
}

// The host memory this process holds, from /proc/self/statm.
std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  REQUIRE(f != nullptr);
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  REQUIRE(got == 2);
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE_TEMPLATE("pfn_database: a new database writes no entry", C,
                   no_colouring, frame_number_colouring<4>) {
  constexpr std::uint32_t frames = 3 * chunk + 5;
  test::vector_memory memory(frames);
  poisoned_entries storage(frames);
  pfn_database<test::vector_memory, detached_owner, C> db(
      memory, storage.entries.data(), frames, initial_contents::zero);
  CHECK(db.fresh_count() == frames);
  CHECK(db.count(page_state::zeroed) == frames);
  CHECK(db.available() == frames);
  CHECK(db.available_below(pfn{four_gib}) == frames);
  // A fresh frame's entry is the one it will get.
  const pfn_entry e = db.entry(pfn{6});
  CHECK(e.state() == page_state::zeroed);
  CHECK(e.colour() == C{}.colour_of(pfn{6}));
  CHECK(e.next() == pfn_entry::no_frame);
  CHECK(e.prev() == pfn_entry::no_frame);
  CHECK(e.share_count() == 0);
  CHECK(e.link().kind == pte_kind::none);
  CHECK(db.debug_head(page_state::zeroed) == pfn_entry::no_frame);
  CHECK(db.check_invariants(content_check::yes));
  CHECK(storage.written() == 0);

  // The first allocation writes one chunk of entries, and only that.
  CHECK(db.allocate(page_need::zeroed).value() == pfn{0});
  CHECK(storage.written() == chunk);
  CHECK(db.fresh_count() == frames - chunk);
  CHECK(db.count(page_state::zeroed) == frames - 1);
  CHECK(db.check_invariants(content_check::yes));
  CHECK(storage.written() == chunk);
}

TEST_CASE(
    "pfn_database: fresh frames are handed out lowest first, a chunk "
    "at a time") {
  constexpr std::uint32_t frames = 2 * chunk + 10;
  pfn_fixture<> fx(frames);
  std::vector<pfn> got;
  for (std::uint32_t k = 0; k < frames; ++k) {
    got.push_back(fx.db.allocate(page_need::any).value());
    CHECK(got.back() == pfn{k});
    // The cursor moves a whole chunk (the last one is short).
    const std::uint32_t materialised =
        k / chunk * chunk + chunk < frames ? k / chunk * chunk + chunk : frames;
    CHECK(fx.db.fresh_count() == frames - materialised);
  }
  CHECK(fx.db.allocate(page_need::any).error() == status::no_memory);
  CHECK(fx.db.check_invariants());
  // Released frames go ahead of the fresh ones (LIFO), as they would ahead
  // of the rest of an eagerly built list.
  pfn_fixture<> gx(frames);
  const pfn a = gx.db.allocate(page_need::any).value();
  const pfn b = gx.db.allocate(page_need::any).value();
  CHECK(gx.db.release(a, release_to::free_list) == page_state::free);
  std::vector<std::uint32_t> want = {0};
  for (std::uint32_t i = 2; i < frames; ++i) want.push_back(i);
  CHECK(gx.list(page_state::free) == want);
  CHECK(gx.db.allocate(page_need::any).value() == a);
  CHECK(gx.db.allocate(page_need::any).value() == pfn{2});
  CHECK(b == pfn{1});
  CHECK(gx.db.check_invariants());
}

TEST_CASE(
    "pfn_database: the zero page worker and mark_bad reach fresh "
    "frames") {
  constexpr std::uint32_t frames = 3 * chunk;
  pfn_fixture<> fx(frames);  // unknown contents: fresh frames are free
  CHECK(fx.db.zero_free_pages(5) == 5);
  CHECK(fx.list(page_state::zeroed) ==
        std::vector<std::uint32_t>{4, 3, 2, 1, 0});
  CHECK(fx.db.fresh_count() == frames - chunk);
  CHECK(fx.db.check_invariants(content_check::yes));

  // Marking a fresh frame bad materialises its zone up to its chunk, so
  // the frames below it keep their place.
  const pfn deep{2 * chunk + 7};
  CHECK(fx.db.entry(deep).state() == page_state::free);
  fx.db.mark_bad(deep);
  CHECK(fx.db.entry(deep).state() == page_state::bad);
  CHECK(fx.db.fresh_count() == 0);
  CHECK(fx.db.count(page_state::bad) == 1);
  CHECK(fx.db.count(page_state::free) == frames - 6);
  std::vector<std::uint32_t> want;
  for (std::uint32_t i = 5; i < frames; ++i)
    if (i != deep.raw()) want.push_back(i);
  CHECK(fx.list(page_state::free) == want);
  CHECK(fx.db.check_invariants());
  CHECK(fx.calls.empty());
  for (std::uint32_t i : want)
    CHECK(fx.db.allocate(page_need::any).value() == pfn{i});
  CHECK(fx.db.allocate(page_need::zeroed).value() == pfn{4});
  CHECK(fx.db.check_invariants());
}

TEST_CASE("pfn_database: fresh frames of both zones, high frames first") {
  // 4 GiB + 3 chunks of frames in lazy host reservations: the frames and
  // the entries cost only the pages touched.
  constexpr std::uint64_t frames = four_gib + 3 * chunk;
  host_memory memory = host_memory::create(frames * page_size).value();
  host_memory entry_pages =
      host_memory::create(frames * sizeof(pfn_entry)).value();
  auto* entries = reinterpret_cast<pfn_entry*>(entry_pages.frame(pfn{0}));
  pfn_database<host_memory> db(memory, entries, frames, initial_contents::zero);
  constexpr pfn below_4g{four_gib};
  CHECK(db.fresh_count() == frames);
  CHECK(db.available() == frames);
  CHECK(db.available_below(below_4g) == four_gib);
  CHECK(db.debug_fresh(0).first == 0);
  CHECK(db.debug_fresh(0).end == four_gib);
  CHECK(db.debug_fresh(1).first == four_gib);
  CHECK(db.debug_fresh(1).end == frames);

  // An allocation allowed every frame takes the lowest high frame; one
  // bounded by 4 GiB the lowest low frame.
  CHECK(db.allocate(page_need::zeroed).value() == pfn{four_gib});
  CHECK(db.allocate(page_need::zeroed, 0, below_4g).value() == pfn{0});
  CHECK(db.fresh_count() == frames - 2 * chunk);
  CHECK(db.available_below(below_4g) == four_gib - 1);

  // A fresh high frame marked bad: zone 1 is materialised up to it, zone 0
  // is not touched.
  const pfn bad{four_gib + chunk + 3};
  db.mark_bad(bad);
  CHECK(db.entry(bad).state() == page_state::bad);
  CHECK(db.debug_fresh(1).first == four_gib + 2 * chunk);
  CHECK(db.debug_fresh(0).first == chunk);
  CHECK(db.available_below(below_4g) == four_gib - 1);
  CHECK(db.available() == frames - 3);

  // The high zone runs out (skipping the bad frame), then low frames follow.
  for (std::uint64_t k = 1; k < 3 * chunk - 1; ++k) {
    const pfn f = db.allocate(page_need::zeroed).value();
    CHECK(f.raw() >= four_gib);
    CHECK(f != bad);
  }
  CHECK(db.available() == db.available_below(below_4g));
  CHECK(db.allocate(page_need::any).value() == pfn{1});
  CHECK(db.debug_fresh(1).first == frames);
  CHECK(db.check_invariants());
}

TEST_CASE("hosted_system: creation costs no host memory, at any size") {
  // The figures are 0 to a few dozen KiB (with or without sanitizers; the
  // first read of /proc costs some); the bound is the target.
  // Memory the process held before is not counted.
  constexpr std::uint64_t limit = std::uint64_t{16} << 20;
  for (std::uint64_t gib : {std::uint64_t{8}, std::uint64_t{64}}) {
    CAPTURE(gib);
    const std::uint64_t before = resident_bytes();
    hosted_system<> sys{gib << 30};
    const std::uint64_t created = resident_bytes();
    CHECK(sys.pfns().frame_count() == (gib << 30) >> page_shift);
    CHECK(sys.pfns().fresh_count() == sys.pfns().frame_count());
    CHECK(sys.pfns().count(page_state::zeroed) == sys.pfns().frame_count());
    MESSAGE("hosted_system of ", gib, " GiB: ", grown(before, created) >> 10,
            " KiB of host memory after creation");
    CHECK(grown(before, created) <= limit);

    // The first frame handed out and written costs a page of entries and
    // the frame's own page.
    const pfn f = sys.pfns().allocate(page_need::zeroed).value();
    std::memset(sys.memory().frame(f), 0x5A, page_size);
    const std::uint64_t used = resident_bytes();
    MESSAGE("hosted_system of ", gib, " GiB: ", grown(before, used) >> 10,
            " KiB after the first frame");
    CHECK(grown(before, used) <= limit);
    CHECK(sys.pfns().fresh_count() ==
          sys.pfns().frame_count() -
              pfn_fixture<>::database::fresh_chunk_frames);
    CHECK(sys.pfns().check_invariants());
  }
}
