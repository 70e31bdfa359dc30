// address_space: NT's private-memory calls, the fault dispatcher and guest
// access, case by case. The Windows case table and the differential driver
// in tests/model cover the same calls against the reference model.
#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace mmkit;

namespace {

template <class Arch>
struct fixture {
  using space = address_space<Arch, hosted_config<>>;
  hosted_system<> sys{std::uint64_t{16} << 20, std::uint64_t{16} << 20};
  space as{sys};

  ~fixture() { CHECK(as.check_invariants()); }

  status alloc(std::uint64_t& base, std::uint64_t& size, std::uint32_t type,
               std::uint32_t prot, std::uint64_t zero_bits = 0) {
    vaddr b{base};
    const status s = as.allocate(b, size, type, prot, zero_bits);
    base = b.raw();
    return s;
  }
  status release(std::uint64_t base, std::uint64_t size = 0) {
    vaddr b{base};
    return as.free(b, size, mem::release);
  }
  memory_basic_information q(std::uint64_t a) {
    memory_basic_information info;
    REQUIRE(as.query(vaddr{a}, info) == status::success);
    return info;
  }
};

}  // namespace

TEST_SUITE_BEGIN("address_space");

TEST_CASE_TEMPLATE(
    "address_space: reserve rounds base down to 64 KiB and end up to a page",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  fixture<Arch> f;
  std::uint64_t base = 0x50001010, size = 0xC000;
  REQUIRE(f.alloc(base, size, mem::reserve, page::readwrite) ==
          status::success);
  CHECK(base == 0x50000000);
  CHECK(size == 0xE000);
  const auto info = f.q(0x50000000);
  CHECK(info.base_address == 0x50000000);
  CHECK(info.allocation_base == 0x50000000);
  CHECK(info.allocation_protect == page::readwrite);
  CHECK(info.region_size == 0xE000);
  CHECK(info.state == mem::reserve);
  CHECK(info.protect == 0);
  CHECK(info.type == mem::private_memory);
  // The same range again conflicts, and changes nothing.
  std::uint64_t b2 = 0x50004000, s2 = 0x1000;
  CHECK(f.alloc(b2, s2, mem::reserve, page::readwrite) ==
        status::conflicting_addresses);
  CHECK(b2 == 0x50004000);
  CHECK(s2 == 0x1000);
  CHECK(f.release(0x50000000) == status::success);
  CHECK(f.q(0x50000000).state == mem::free);
}

/// A 64 KiB NOACCESS reservation whose pages 1 and 2 are committed
/// READWRITE (a commit of 0x1000 bytes at +0x1800, rounded out to both).
template <class Arch>
struct two_committed : fixture<Arch> {
  std::uint64_t base = 0;
  two_committed() {
    std::uint64_t size = 0x10000;
    REQUIRE(this->alloc(base, size, mem::reserve, page::noaccess) ==
            status::success);
    std::uint64_t cb = base + 0x1800, cs = 0x1000;
    REQUIRE(this->alloc(cb, cs, mem::commit, page::readwrite) ==
            status::success);
    CHECK(cb == base + 0x1000);
    CHECK(cs == 0x2000);
  }
  status protect(std::uint64_t at, std::uint64_t size, std::uint32_t prot,
                 std::uint32_t& old) {
    vaddr b{at};
    return this->as.protect(b, size, prot, old);
  }
};

#define MMKIT_ALL_ARCHS \
  arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57

TEST_CASE_TEMPLATE(
    "address_space: a commit rounds out to whole pages and "
    "charges them",
    Arch, MMKIT_ALL_ARCHS) {
  two_committed<Arch> f;
  CHECK(f.base % allocation_granularity == 0);
  CHECK(f.base >= 0x10000);
  CHECK(f.as.commit_charge() == 2);
  CHECK(f.as.frames_in_use() == 0);  // nothing touched yet
}

TEST_CASE_TEMPLATE(
    "address_space: committed memory reads as zero and keeps "
    "what is written",
    Arch, MMKIT_ALL_ARCHS) {
  two_committed<Arch> f;
  std::array<std::uint8_t, 16> buf{};
  std::size_t done = 0;
  buf.fill(0xCC);
  REQUIRE(f.as.read(vaddr{f.base + 0x1FF8}, buf.data(), 16, done) ==
          status::success);
  CHECK(done == 16);
  for (auto b : buf) CHECK(b == 0);
  const char msg[] = "hello, page";
  REQUIRE(f.as.write(vaddr{f.base + 0x1FFA}, msg, sizeof msg, done) ==
          status::success);
  char back[sizeof msg] = {};
  REQUIRE(f.as.read(vaddr{f.base + 0x1FFA}, back, sizeof back, done) ==
          status::success);
  CHECK(std::strcmp(back, msg) == 0);
  CHECK(f.as.frames_in_use() == 2);
}

TEST_CASE_TEMPLATE(
    "address_space: a copy stops at the first page that "
    "faults (partial copy)",
    Arch, MMKIT_ALL_ARCHS) {
  two_committed<Arch> f;
  std::array<std::uint8_t, 16> buf{};
  std::size_t done = 0;
  // 0x2FF0..0x2FFF is the last committed line.
  REQUIRE(f.as.read(vaddr{f.base + 0x2FF0}, buf.data(), 16, done) ==
          status::success);
  CHECK(done == 16);
  REQUIRE(f.as.read(vaddr{f.base + 0x2FF8}, buf.data(), 16, done) ==
          status::partial_copy);
  CHECK(done == 8);
  REQUIRE(f.as.read(vaddr{f.base + 0x3000}, buf.data(), 16, done) ==
          status::access_violation);
  CHECK(done == 0);
}

TEST_CASE_TEMPLATE(
    "address_space: query coalesces pages of equal state and "
    "protection",
    Arch, MMKIT_ALL_ARCHS) {
  two_committed<Arch> f;
  auto info = f.q(f.base);
  CHECK(info.state == mem::reserve);
  CHECK(info.region_size == 0x1000);
  info = f.q(f.base + 0x1000);
  CHECK(info.state == mem::commit);
  CHECK(info.protect == page::readwrite);
  CHECK(info.region_size == 0x2000);
}

TEST_CASE_TEMPLATE(
    "address_space: a read-only page keeps its data and "
    "refuses writes",
    Arch, MMKIT_ALL_ARCHS) {
  two_committed<Arch> f;
  const char msg[] = "hello, page";
  std::size_t done = 0;
  REQUIRE(f.as.write(vaddr{f.base + 0x1FFA}, msg, sizeof msg, done) ==
          status::success);
  std::uint64_t ps = 1;
  std::uint32_t old = 0;
  {
    vaddr b{f.base + 0x2000};
    REQUIRE(f.as.protect(b, ps, page::readonly, old) == status::success);
    CHECK(b.raw() == f.base + 0x2000);
  }
  CHECK(old == page::readwrite);
  CHECK(ps == 0x1000);
  char back[sizeof msg] = {};
  REQUIRE(f.as.read(vaddr{f.base + 0x1FFA}, back, sizeof back, done) ==
          status::success);
  CHECK(std::strcmp(back, msg) == 0);
  CHECK(f.as.access(vaddr{f.base + 0x2000}, mmkit::access::write) ==
        status::access_violation);
  CHECK(f.as.access(vaddr{f.base + 0x1000}, mmkit::access::write) ==
        status::success);
  CHECK(f.q(f.base + 0x1000).region_size == 0x1000);
}

TEST_CASE_TEMPLATE(
    "address_space: a guard page faults once, then the access "
    "proceeds",
    Arch, MMKIT_ALL_ARCHS) {
  two_committed<Arch> f;
  std::uint32_t old = 0;
  REQUIRE(f.protect(f.base + 0x1000, 0x1000, page::readwrite | page::guard,
                    old) == status::success);
  CHECK(f.q(f.base + 0x1000).protect == (page::readwrite | page::guard));
  CHECK(f.as.access(vaddr{f.base + 0x1004}, mmkit::access::read) ==
        status::guard_page_violation);
  CHECK(f.q(f.base + 0x1000).protect == page::readwrite);
  CHECK(f.as.access(vaddr{f.base + 0x1004}, mmkit::access::read) ==
        status::success);
  CHECK(f.as.faults().guard_page == 1);
}

TEST_CASE_TEMPLATE(
    "address_space: protect refuses reserved pages and "
    "changes nothing",
    Arch, MMKIT_ALL_ARCHS) {
  two_committed<Arch> f;
  std::uint32_t old = 0xDEAD;
  vaddr b{f.base};
  std::uint64_t s = 0x2000;
  CHECK(f.as.protect(b, s, page::readonly, old) == status::not_committed);
  CHECK(b.raw() == f.base);
  CHECK(s == 0x2000);
  CHECK(old == page::noaccess);  // current Windows writes NOACCESS
  CHECK(f.q(f.base + 0x1000).protect == page::readwrite);
}

TEST_CASE_TEMPLATE(
    "address_space: decommit returns frames and charge; "
    "release needs the base and frees the tables",
    Arch, MMKIT_ALL_ARCHS) {
  two_committed<Arch> f;
  std::size_t done = 0;
  const std::uint64_t v = 7;
  REQUIRE(f.as.write(vaddr{f.base + 0x1000}, &v, sizeof v, done) ==
          status::success);
  {
    vaddr b{f.base + 0x1000};
    std::uint64_t s = 0x2000;
    REQUIRE(f.as.free(b, s, mem::decommit) == status::success);
  }
  CHECK(f.as.commit_charge() == 0);
  CHECK(f.as.frames_in_use() == 0);
  CHECK(f.as.access(vaddr{f.base + 0x1000}, mmkit::access::read) ==
        status::access_violation);
  CHECK(f.release(f.base + 0x1000) == status::free_vm_not_at_base);
  CHECK(f.release(f.base) == status::success);
  CHECK(f.as.table_pages_in_use() == 1);
}

TEST_CASE_TEMPLATE(
    "address_space: a demand-zero page on a frame that held bytes reads "
    "zero, zeroed by its fault; a frame known zero is not zeroed again",
    Arch, arch::x86_32, arch::x86_64) {
  using space = address_space<Arch, hosted_config<>>;
  hosted_system<> sys{std::uint64_t{1} << 20};
  space as{sys};
  vaddr base{0};
  std::uint64_t size = 2 * page_size;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite) == status::success);
  // Page 0 takes a frame known zero: nothing to clear.
  REQUIRE(as.access(base, access::write) == status::success);
  CHECK(as.faults().demand_zero == 1);
  CHECK(as.faults().zeroed_on_the_spot == 0);
  // Every other frame is made to hold bytes and put on the free list, so
  // page 1's frame must be cleared by its fault.
  auto& db = sys.pfns();
  std::vector<pfn> taken;
  while (auto f = db.allocate(page_need::any)) {
    std::memset(sys.memory().frame(*f), 0xA5, page_size);
    taken.push_back(*f);
  }
  for (const pfn f : taken) db.release(f, release_to::free_list);
  REQUIRE(db.count(page_state::zeroed) == 0);
  REQUIRE(as.access(base + page_size, access::write) == status::success);
  CHECK(as.faults().demand_zero == 2);
  CHECK(as.faults().zeroed_on_the_spot == 1);
  std::array<std::uint8_t, page_size> bytes{};
  bytes.fill(1);
  std::size_t done = 0;
  REQUIRE(as.read(base + page_size, bytes.data(), bytes.size(), done) ==
          status::success);
  CHECK(std::all_of(bytes.begin(), bytes.end(),
                    [](std::uint8_t b) { return b == 0; }));
  CHECK(as.check_invariants());
  CHECK(db.check_invariants());
}

TEST_CASE("address_space: two address spaces on one system are isolated") {
  using space = address_space<arch::x86_64, hosted_config<>>;
  hosted_system<> sys{std::uint64_t{8} << 20};
  space a{sys};
  space b{sys};
  REQUIRE(a.creation_status() == status::success);
  vaddr base{0x10000000};
  std::uint64_t size = 0x1000;
  REQUIRE(a.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  base = vaddr{0x10000000};
  size = 0x1000;
  REQUIRE(b.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  std::uint64_t secret = 0x5EC12E7, seen = 1;
  std::size_t done = 0;
  REQUIRE(a.write(base, &secret, 8, done) == status::success);
  REQUIRE(b.read(base, &seen, 8, done) == status::success);
  CHECK(seen == 0);
  // A's frame, released, comes back to B zeroed.
  std::uint64_t zero = 0;
  REQUIRE(a.free(base, zero, mem::release) == status::success);
  vaddr other{0x20000000};
  size = 0x1000;
  REQUIRE(b.allocate(other, size, mem::reserve | mem::commit,
                     page::readwrite) == status::success);
  REQUIRE(b.read(other, &seen, 8, done) == status::success);
  CHECK(seen == 0);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
}

TEST_CASE(
    "address_space: commit is a promise: refused when frames cannot back it, "
    "and a committed page never fails its first touch") {
  using space = address_space<arch::x86_64, hosted_config<>>;
  // Five frames: the root table, then three tables and one page; no page
  // file (tests/pager has the promise a page file extends).
  hosted_system<> sys{5 * page_size};
  space as{sys};
  REQUIRE(as.creation_status() == status::success);
  vaddr base{0x10000};
  std::uint64_t size = 0x10000;
  // Sixteen pages and three tables do not fit in four frames: refused up
  // front.
  CHECK(as.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
        status::commitment_limit);
  CHECK(base.raw() == 0x10000);
  CHECK(as.vads().empty());
  size = 0x1000;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite | page::guard) == status::success);
  // The tables were made by the commit; the touches need only the page.
  CHECK(as.table_pages_in_use() == 4);
  CHECK(as.access(base, mmkit::access::read) == status::guard_page_violation);
  CHECK(as.access(base, mmkit::access::write) == status::success);
  CHECK(as.frames_in_use() == 1);
  CHECK(as.faults().table_pages == 0);
  CHECK(as.check_invariants());
  // Nothing is left to promise: another commit and another space's root
  // are refused.
  vaddr more{0x100000};
  std::uint64_t ms = 0x1000;
  CHECK(as.allocate(more, ms, mem::reserve | mem::commit, page::readwrite) ==
        status::commitment_limit);
  space other{sys};
  CHECK(other.creation_status() == status::no_memory);
  // Releasing gives everything back.
  std::uint64_t zero = 0;
  REQUIRE(as.free(base, zero, mem::release) == status::success);
  CHECK(as.frames_in_use() == 0);
  CHECK(as.table_pages_in_use() == 1);
  CHECK(sys.pfns().available() == 4);
  CHECK(sys.commit_charge() == 0);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "address_space: a commit whose page tables do not fit changes nothing") {
  using space = address_space<arch::x86_64, hosted_config<>>;
  // A page file backs pages, never page tables.
  hosted_system<> sys{3 * page_size, std::uint64_t{1} << 20};
  space as{sys};
  vaddr base{0x10000};
  std::uint64_t size = 0x1000;
  CHECK(as.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
        status::commitment_limit);
  REQUIRE(as.allocate(base, size, mem::reserve, page::readwrite) ==
          status::success);
  CHECK(as.allocate(base, size, mem::commit, page::readwrite) ==
        status::commitment_limit);
  CHECK(as.table_pages_in_use() == 1);
  CHECK(as.commit_charge() == 0);
  CHECK(sys.pfns().available() == 2);
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE(
    "address_space: calls over ranges that cross leaf tables rewrite them all",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  fixture<Arch> f;
  // 12 MiB from a base on no leaf-table boundary: three to seven tables,
  // each call starting and ending inside one.
  std::uint64_t base = 0x10FF0000, size = 12 << 20;
  REQUIRE(f.alloc(base, size, mem::reserve, page::readwrite) ==
          status::success);
  const std::uint64_t tables0 = f.as.table_pages_in_use();
  REQUIRE(f.alloc(base, size, mem::commit, page::readwrite) == status::success);
  // One byte in every 257th page, so that every table holds a frame.
  std::vector<std::uint64_t> touched;
  for (std::uint64_t pg = 0; pg < size / page_size; pg += 257) {
    const std::uint8_t b = static_cast<std::uint8_t>(pg | 1);
    std::size_t done = 0;
    REQUIRE(f.as.write(vaddr{base + pg * page_size}, &b, 1, done) ==
            status::success);
    touched.push_back(pg);
  }
  const auto byte_at = [&](std::uint64_t pg) {
    std::uint8_t b = 0xEE;
    std::size_t done = 0;
    REQUIRE(f.as.read(vaddr{base + pg * page_size}, &b, 1, done) ==
            status::success);
    return b;
  };
  CHECK(f.as.check_invariants());

  // Read-only over everything: the old protection of the first page back,
  // one region, data kept, writes refused on touched and untouched pages.
  vaddr pb{base};
  std::uint64_t ps = size;
  std::uint32_t old = 0;
  REQUIRE(f.as.protect(pb, ps, page::readonly, old) == status::success);
  CHECK(old == page::readwrite);
  auto info = f.q(base);
  CHECK(info.region_size == size);
  CHECK(info.protect == page::readonly);
  for (std::uint64_t pg : touched)
    CHECK(byte_at(pg) == static_cast<std::uint8_t>(pg | 1));
  CHECK(f.as.access(vaddr{base + 257 * page_size}, mmkit::access::write) ==
        status::access_violation);
  CHECK(f.as.access(vaddr{base + 258 * page_size}, mmkit::access::write) ==
        status::access_violation);
  CHECK(f.as.check_invariants());

  // Read-write again from the middle of one table to the middle of
  // another: three regions.
  const std::uint64_t mid_first = base + 0x1F0000, mid_size = 0x410000;
  pb = vaddr{mid_first};
  ps = mid_size;
  REQUIRE(f.as.protect(pb, ps, page::readwrite, old) == status::success);
  CHECK(old == page::readonly);
  CHECK(f.q(base).region_size == mid_first - base);
  info = f.q(mid_first);
  CHECK(info.region_size == mid_size);
  CHECK(info.protect == page::readwrite);
  CHECK(f.q(mid_first + mid_size).protect == page::readonly);
  CHECK(f.as.check_invariants());

  // MEM_RESET discards every resident page: no frame is left.
  vaddr rb{base};
  std::uint64_t rs = size;
  REQUIRE(f.as.allocate(rb, rs, mem::reset, page::readwrite) ==
          status::success);
  CHECK(f.as.frames_in_use() == 0);
  CHECK(byte_at(touched[1]) == 0);
  CHECK(f.as.check_invariants());

  // Decommit across tables, recommit part of it: zeros, and the charge
  // follows.
  const std::uint64_t dfirst = base + 0x3F0000, dsize = 0x500000;
  vaddr db{dfirst};
  std::uint64_t ds = dsize;
  REQUIRE(f.as.free(db, ds, mem::decommit) == status::success);
  CHECK(f.as.commit_charge() == (size - dsize) / page_size);
  CHECK(f.q(dfirst).state == mem::reserve);
  CHECK(f.q(dfirst).region_size == dsize);
  std::uint64_t cfirst = dfirst + 0x100000, csize = 0x300000;
  REQUIRE(f.alloc(cfirst, csize, mem::commit, page::readonly) ==
          status::success);
  CHECK(byte_at((cfirst - base) / page_size) == 0);
  CHECK(f.as.check_invariants());

  // Release: every frame and table goes back.
  CHECK(f.release(base) == status::success);
  CHECK(f.as.frames_in_use() == 0);
  CHECK(f.as.table_pages_in_use() <= tables0);
  CHECK(f.as.commit_charge() == 0);
}

TEST_CASE_TEMPLATE(
    "address_space: committed pages keep their page tables until they are "
    "decommitted",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  fixture<Arch> f;
  std::uint64_t base = 0x20FF0000, size = 9 << 20;
  const std::uint64_t tables0 = f.as.table_pages_in_use();
  REQUIRE(f.alloc(base, size, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  // Committed pages have their PTEs, so their tables are there.
  const std::uint64_t committed_tables = f.as.table_pages_in_use();
  CHECK(committed_tables > tables0);
  // Read-only over 3 MiB and back: no table comes or goes.
  const std::uint64_t ro_first = base + 0x100000, ro_size = 0x300000;
  vaddr pb{ro_first};
  std::uint64_t ps = ro_size;
  std::uint32_t old = 0;
  REQUIRE(f.as.protect(pb, ps, page::readonly, old) == status::success);
  pb = vaddr{base};
  ps = size;
  REQUIRE(f.as.protect(pb, ps, page::readwrite, old) == status::success);
  CHECK(old == page::readwrite);
  CHECK(f.as.table_pages_in_use() == committed_tables);
  CHECK(f.q(base).region_size == size);
  CHECK(f.q(base).protect == page::readwrite);
  // Decommitting it all empties and frees them; the reservation stays.
  vaddr db{base};
  std::uint64_t ds = 0;
  REQUIRE(f.as.free(db, ds, mem::decommit) == status::success);
  CHECK(f.as.table_pages_in_use() == tables0);
  CHECK(f.q(base).state == mem::reserve);
  CHECK(f.q(base).region_size == size);
  CHECK(f.as.check_invariants());
}

TEST_SUITE_END();
