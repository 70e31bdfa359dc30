// Nothing lost: four address spaces of four archs (x86_32, PAE, x64, LA57)
// share a page-file section and a mapped file (and the PAE space has a
// copy-on-write view of the file too), each with private memory,
// committing 16 times the physical memory in all. Random writes and reads
// of checksummed pages run across trims, balance steps, modified-page
// writes, standby repurposes and hard faults, with an in-memory page file
// and with a real file. Every read must see the last write; at the end
// every frame, page-file slot and commit charge is back.
#include <mmkit/mmkit.hpp>
#include <mmkit/section/posix_file_store.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

using namespace mmkit;

namespace {

using machine = hosted_system<>;
template <class Arch>
using space = address_space<Arch, hosted_config<>>;

constexpr std::uint64_t ram_pages = 128;
constexpr std::uint64_t private_pages = 448;  // per space
constexpr std::uint64_t shared_pages = 256;   // the page-file section
constexpr std::uint64_t file_pages = 192;     // the mapped file

/// What a page's two checked words hold for version `v`: its identity
/// and its version, so a page from elsewhere or a stale copy both show.
std::uint64_t word(std::uint64_t page_id, std::uint64_t v, unsigned which) {
  return (page_id << 24) ^ (v << 2) ^ which ^ 0xC0FFEE0000000000ull;
}

/// One place a test page lives: a space (0..3) and an address.
struct slot_ref {
  unsigned space;
  std::uint64_t va;
  std::uint64_t id;  // the page's identity (shared pages: one id, 4 VAs)
};

struct world {
  machine& sys;
  space<arch::x86_32> s0;
  space<arch::x86_pae> s1;
  space<arch::x86_64> s2;
  space<arch::x86_la57> s3;
  explicit world(machine& m) : sys(m), s0(m), s1(m), s2(m), s3(m) {}

  template <class F>
  void with(unsigned i, F&& f) {
    switch (i) {
      case 0: f(s0); break;
      case 1: f(s1); break;
      case 2: f(s2); break;
      default: f(s3); break;
    }
  }
  bool write(unsigned i, std::uint64_t va, std::uint64_t offset,
             std::uint64_t v) {
    bool ok = false;
    with(i, [&](auto& as) {
      std::size_t done = 0;
      ok = as.write(vaddr{va + offset}, &v, sizeof v, done) == status::success;
    });
    return ok;
  }
  std::uint64_t read(unsigned i, std::uint64_t va, std::uint64_t offset) {
    std::uint64_t v = 0;
    with(i, [&](auto& as) {
      std::size_t done = 0;
      REQUIRE(as.read(vaddr{va + offset}, &v, sizeof v, done) ==
              status::success);
    });
    return v;
  }
};

void run(machine& sys, const char* file_path) {
  std::mt19937_64 rng(20261203);
  // The mapped file.
  auto store = posix_file_store::open(file_path, true);
  REQUIRE(store);
  REQUIRE(store->set_size(file_pages * page_size) == status::success);
  file_object file(*store);
  std::vector<std::uint64_t> version;  // by page id; 0: never written
  std::uint64_t file_first = 0;
  {
    world w(sys);
    std::vector<slot_ref> pages;
    std::uint64_t next_id = 0;
    // Private memory in every space.
    for (unsigned i = 0; i < 4; ++i) {
      w.with(i, [&](auto& as) {
        vaddr base{0};
        std::uint64_t size = private_pages * page_size;
        REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                            page::readwrite) == status::success);
        for (std::uint64_t p = 0; p < private_pages; ++p)
          pages.push_back({i, base.raw() + p * page_size, next_id++});
      });
    }
    // The page-file section and the file, mapped in every space.
    section_handle shared, mapped;
    REQUIRE(create_section(sys, shared, section_access::all_access, nullptr, 0,
                           shared_pages * page_size, page::readwrite,
                           sec::commit, nullptr) == status::success);
    REQUIRE(create_section(sys, mapped, section_access::all_access, nullptr, 0,
                           0, page::readwrite, sec::commit,
                           &file) == status::success);
    std::vector<std::uint64_t> views[4];
    const std::uint64_t shared_first = next_id;
    next_id += shared_pages;
    file_first = next_id;
    next_id += file_pages;
    for (unsigned i = 0; i < 4; ++i) {
      w.with(i, [&](auto& as) {
        vaddr a{0}, b{0};
        std::uint64_t sa = 0, sb = 0;
        REQUIRE(as.map_view(shared, a, sa, 0, 0, page::readwrite) ==
                status::success);
        REQUIRE(as.map_view(mapped, b, sb, 0, 0, page::readwrite) ==
                status::success);
        views[i] = {a.raw(), b.raw()};
        for (std::uint64_t p = 0; p < shared_pages; ++p)
          pages.push_back({i, a.raw() + p * page_size, shared_first + p});
        for (std::uint64_t p = 0; p < file_pages; ++p)
          pages.push_back({i, b.raw() + p * page_size, file_first + p});
      });
    }
    // A copy-on-write view of the file in the PAE space: its pages read
    // the file's until written, then their own copies.
    const std::uint64_t cow_first = next_id;
    next_id += file_pages;
    w.with(1, [&](auto& as) {
      vaddr c{0};
      std::uint64_t sc = 0;
      REQUIRE(as.map_view(mapped, c, sc, 0, 0, page::writecopy) ==
              status::success);
      for (std::uint64_t p = 0; p < file_pages; ++p)
        pages.push_back({1, c.raw() + p * page_size, cow_first + p});
    });
    CHECK(sys.commit_charge() >= 16 * ram_pages);
    version.assign(next_id, 0);
    std::vector<std::uint64_t> follows(next_id, 0);  // file id + 1
    for (std::uint64_t p = 0; p < file_pages; ++p)
      follows[cow_first + p] = file_first + p + 1;

    std::uint64_t mismatches = 0, reads = 0;
    auto check = [&](const slot_ref& r) {
      // A copy-on-write page not yet written shows its file page.
      const std::uint64_t id =
          version[r.id] == 0 && follows[r.id] != 0 ? follows[r.id] - 1 : r.id;
      const std::uint64_t v = version[id];
      const std::uint64_t off = (id * 8 % 500) * 8 + 8;
      const std::uint64_t a = w.read(r.space, r.va, 0);
      const std::uint64_t b = w.read(r.space, r.va, off);
      ++reads;
      if (v == 0) {
        mismatches += a != 0 || b != 0;
      } else {
        mismatches += a != word(id, v, 0) || b != word(id, v, 1);
      }
    };
    constexpr int steps = 20000;
    for (int step = 0; step < steps; ++step) {
      const slot_ref& r = pages[rng() % pages.size()];
      switch (rng() % 8) {
        case 0:
        case 1:
        case 2: {
          const std::uint64_t v = version[r.id] + 1;
          const std::uint64_t off = (r.id * 8 % 500) * 8 + 8;
          REQUIRE(w.write(r.space, r.va, 0, word(r.id, v, 0)));
          REQUIRE(w.write(r.space, r.va, off, word(r.id, v, 1)));
          version[r.id] = v;
          break;
        }
        case 3:
        case 4:
        case 5: check(r); break;
        case 6:
          w.with(r.space, [&](auto& as) { (void)as.trim(vaddr{r.va}); });
          break;
        default:
          if (step % 64 == 7) sys.balance();
          if (step % 256 == 11) sys.write_modified_pages(32);
          break;
      }
    }
    // Everything once more, in order.
    for (const slot_ref& r : pages) check(r);
    CHECK(mismatches == 0);
    CHECK(reads > steps / 4);
    const pager_stats st = sys.stats();
    const fault_counts f = sys.faults();
    MESSAGE("trimmed=" << st.trimmed
                       << " pagefile_writes=" << st.pagefile_writes
                       << " file_writes=" << st.file_writes
                       << " repurposed=" << st.repurposed << " hard=" << f.hard
                       << " soft=" << f.soft);
    CHECK(st.pagefile_writes > 0);
    CHECK(f.copy_on_write > 0);
    CHECK(st.file_writes > 0);
    CHECK(st.repurposed > 0);
    CHECK(f.hard > 0);
    CHECK(f.soft > 0);
    CHECK(w.s0.check_invariants());
    CHECK(w.s1.check_invariants());
    CHECK(w.s2.check_invariants());
    CHECK(w.s3.check_invariants());
    close_section(sys, shared);
    close_section(sys, mapped);
    // The spaces go here, with their views.
  }
  CHECK(sys.commit_charge() == 0);
  CHECK(sys.page_files().used() == 0);
  CHECK(sys.uncharged_frames() == 0);
  CHECK(sys.pfns().page_table_count() == 0);
  CHECK(sys.pfns().available() == sys.pfns().frame_count());
  // The file holds each page's last version.
  std::uint64_t stale = 0;
  for (std::uint64_t p = 0; p < file_pages; ++p) {
    std::uint64_t a = 0;
    REQUIRE(store->read(p * page_size, &a, sizeof a) == status::success);
    const std::uint64_t v = version[file_first + p];
    stale += a != (v == 0 ? 0 : word(file_first + p, v, 0));
  }
  CHECK(stale == 0);
}

struct temp_file {
  char path[32] = "/tmp/mmkit-lost-XXXXXX";
  temp_file() {
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
  }
  ~temp_file() { std::remove(path); }
};

}  // namespace

TEST_SUITE("pager") {
  TEST_CASE("nothing lost: in-memory page file") {
    temp_file mapped;
    machine sys{ram_pages * page_size, 4096 * page_size};
    run(sys, mapped.path);
  }

  TEST_CASE("nothing lost: a real page file") {
    temp_file mapped, paging;
    machine sys{ram_pages * page_size};
    auto store = posix_file_store::open(paging.path, true);
    REQUIRE(store);
    std::vector<std::uint64_t> bits(4096 / 64);
    page_file pf(store_ref{*store}, bits.data(), 4096);
    REQUIRE(sys.add_page_file(pf));
    run(sys, mapped.path);
  }
}
