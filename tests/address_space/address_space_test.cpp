// address_space: NT's private-memory calls, the fault dispatcher and guest
// access, case by case. The Windows case table and the differential driver
// in tests/model cover the same calls against the reference model.
#include <mmkit/address_space.hpp>
#include <mmkit/system/hosted_system.hpp>
#include <mmkit/arch/all.hpp>

#include <doctest/doctest.h>

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

TEST_CASE_TEMPLATE(
    "address_space: commit, touch, protect, guard, decommit, release", Arch,
    arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  fixture<Arch> f;
  std::uint64_t base = 0, size = 0x10000;
  REQUIRE(f.alloc(base, size, mem::reserve, page::noaccess) == status::success);
  CHECK(base % allocation_granularity == 0);
  CHECK(base >= 0x10000);
  std::uint64_t cb = base + 0x1800, cs = 0x1000;
  REQUIRE(f.alloc(cb, cs, mem::commit, page::readwrite) == status::success);
  CHECK(cb == base + 0x1000);
  CHECK(cs == 0x2000);
  CHECK(f.as.commit_charge() == 2);

  // Committed memory reads as zero and keeps what is written.
  std::array<std::uint8_t, 16> buf{};
  std::size_t done = 0;
  buf.fill(0xCC);
  REQUIRE(f.as.read(vaddr{base + 0x1FF8}, buf.data(), 16, done) ==
          status::success);
  CHECK(done == 16);
  for (auto b : buf) CHECK(b == 0);
  const char msg[] = "hello, page";
  REQUIRE(f.as.write(vaddr{base + 0x1FFA}, msg, sizeof msg, done) ==
          status::success);
  char back[sizeof msg] = {};
  REQUIRE(f.as.read(vaddr{base + 0x1FFA}, back, sizeof back, done) ==
          status::success);
  CHECK(std::strcmp(back, msg) == 0);
  CHECK(f.as.frames_in_use() == 2);

  // Reading past the committed pages stops there.
  REQUIRE(f.as.read(vaddr{base + 0x2FF0}, buf.data(), 16, done) ==
          status::success);  // 0x2FF0..0x2FFF is the last committed line
  CHECK(done == 16);
  REQUIRE(f.as.read(vaddr{base + 0x2FF8}, buf.data(), 16, done) ==
          status::partial_copy);
  CHECK(done == 8);
  REQUIRE(f.as.read(vaddr{base + 0x3000}, buf.data(), 16, done) ==
          status::access_violation);
  CHECK(done == 0);

  // Query coalesces pages of equal state and protection.
  auto info = f.q(base);
  CHECK(info.state == mem::reserve);
  CHECK(info.region_size == 0x1000);
  info = f.q(base + 0x1000);
  CHECK(info.state == mem::commit);
  CHECK(info.protect == page::readwrite);
  CHECK(info.region_size == 0x2000);

  // Protect one page read-only: data survives, writes fault.
  std::uint64_t pb = base + 0x2000, ps = 1;
  std::uint32_t old = 0;
  {
    vaddr b{pb};
    REQUIRE(f.as.protect(b, ps, page::readonly, old) == status::success);
    CHECK(b.raw() == base + 0x2000);
  }
  CHECK(old == page::readwrite);
  CHECK(ps == 0x1000);
  REQUIRE(f.as.read(vaddr{base + 0x1FFA}, back, sizeof back, done) ==
          status::success);
  CHECK(std::strcmp(back, msg) == 0);
  CHECK(f.as.access(vaddr{base + 0x2000}, mmkit::access::write) ==
        status::access_violation);
  CHECK(f.as.access(vaddr{base + 0x1000}, mmkit::access::write) ==
        status::success);
  CHECK(f.q(base + 0x1000).region_size == 0x1000);

  // A guard page faults once, then the access proceeds.
  {
    vaddr b{base + 0x1000};
    std::uint64_t s = 0x1000;
    REQUIRE(f.as.protect(b, s, page::readwrite | page::guard, old) ==
            status::success);
  }
  CHECK(f.q(base + 0x1000).protect == (page::readwrite | page::guard));
  CHECK(f.as.access(vaddr{base + 0x1004}, mmkit::access::read) ==
        status::guard_page_violation);
  CHECK(f.q(base + 0x1000).protect == page::readwrite);
  CHECK(f.as.access(vaddr{base + 0x1004}, mmkit::access::read) ==
        status::success);
  CHECK(f.as.faults().guard_page == 1);

  // Protect on reserved pages is refused.
  {
    vaddr b{base};
    std::uint64_t s = 0x2000;
    CHECK(f.as.protect(b, s, page::readonly, old) == status::not_committed);
    CHECK(b.raw() == base);
    CHECK(s == 0x2000);
  }

  // Decommit returns frames and charge; the pages fault again.
  {
    vaddr b{base + 0x1000};
    std::uint64_t s = 0x2000;
    REQUIRE(f.as.free(b, s, mem::decommit) == status::success);
  }
  CHECK(f.as.commit_charge() == 0);
  CHECK(f.as.frames_in_use() == 0);
  CHECK(f.as.access(vaddr{base + 0x1000}, mmkit::access::read) ==
        status::access_violation);
  CHECK(f.release(base + 0x1000) == status::free_vm_not_at_base);
  CHECK(f.release(base) == status::success);
  CHECK(f.as.table_pages_in_use() == 1);
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
    "address_space: running out of frames is a status, and leaves nothing "
    "behind") {
  using space = address_space<arch::x86_64, hosted_config<>>;
  // Five frames: the root table, then three tables and one page for the
  // first fault; the second page's fault finds none left.
  hosted_system<> sys{5 * page_size, std::uint64_t{1} << 20};
  space as{sys};
  REQUIRE(as.creation_status() == status::success);
  vaddr base{0x10000};
  std::uint64_t size = 0x10000;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite | page::guard) == status::success);
  // Lifting the first guard needs three tables: they fit.
  CHECK(as.access(base, mmkit::access::read) == status::guard_page_violation);
  CHECK(as.access(base, mmkit::access::write) == status::success);
  CHECK(as.frames_in_use() == 1);
  CHECK(as.table_pages_in_use() == 4);
  CHECK(as.access(base + 0x1000, mmkit::access::read) ==
        status::guard_page_violation);
  CHECK(as.access(base + 0x1000, mmkit::access::write) == status::no_memory);
  CHECK(as.frames_in_use() == 1);
  CHECK(as.check_invariants());
  // A second address space cannot even get a root table.
  space other{sys};
  CHECK(other.creation_status() == status::no_memory);
  // Releasing gives everything back.
  std::uint64_t zero = 0;
  REQUIRE(as.free(base, zero, mem::release) == status::success);
  CHECK(as.frames_in_use() == 0);
  CHECK(as.table_pages_in_use() == 1);
  CHECK(sys.pfns().available() == 4);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "address_space: a fault with no frame for its page tables changes "
    "nothing") {
  using space = address_space<arch::x86_64, hosted_config<>>;
  hosted_system<> sys{3 * page_size, std::uint64_t{1} << 20};
  space as{sys};
  vaddr base{0x10000};
  std::uint64_t size = 0x1000;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite) == status::success);
  CHECK(as.access(base, mmkit::access::write) == status::no_memory);
  CHECK(as.table_pages_in_use() == 1);
  CHECK(as.frames_in_use() == 0);
  CHECK(sys.pfns().available() == 2);
  CHECK(as.check_invariants());
  // Committing where tables would be needed is refused up front.
  vaddr r{0x20000};
  std::uint64_t rs = 0x1000;
  REQUIRE(as.allocate(r, rs, mem::reserve, page::readwrite) == status::success);
  CHECK(as.allocate(r, rs, mem::commit, page::readwrite) ==
        status::insufficient_resources);
  CHECK(as.commit_charge() == 1);
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
    "address_space: protect back to a MEM_COMMIT VAD's own protection frees "
    "the tables it emptied",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  fixture<Arch> f;
  std::uint64_t base = 0x20FF0000, size = 9 << 20;
  const std::uint64_t tables0 = f.as.table_pages_in_use();
  REQUIRE(f.alloc(base, size, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  // Committed at reservation: no PTE, no table yet.
  CHECK(f.as.table_pages_in_use() == tables0);
  // Read-only over 3 MiB that end 64 KiB short of a table boundary (for
  // 2 MiB and 4 MiB tables alike): PTEs, and tables, appear there only.
  const std::uint64_t ro_first = base + 0x100000, ro_size = 0x300000;
  vaddr pb{ro_first};
  std::uint64_t ps = ro_size;
  std::uint32_t old = 0;
  REQUIRE(f.as.protect(pb, ps, page::readonly, old) == status::success);
  CHECK(f.as.table_pages_in_use() > tables0);
  CHECK(f.as.check_invariants());
  // Back to the VAD's protection over the whole reservation: every PTE is
  // zero again, and the table holding the read-only part's end empties
  // half-way through its span; the rest of the span reads as zero.
  pb = vaddr{base};
  ps = size;
  REQUIRE(f.as.protect(pb, ps, page::readwrite, old) == status::success);
  CHECK(old == page::readwrite);
  CHECK(f.as.table_pages_in_use() == tables0);
  CHECK(f.q(base).region_size == size);
  CHECK(f.q(base).protect == page::readwrite);
  CHECK(f.as.check_invariants());
}
