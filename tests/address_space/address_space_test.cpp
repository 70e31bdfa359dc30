// address_space: NT's private-memory calls, the fault dispatcher and guest
// access, case by case. The Windows case table and the differential driver
// in tests/model cover the same calls against the reference model.
#include <mmkit/address_space/address_space.hpp>
#include <mmkit/address_space/hosted_system.hpp>
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
  CHECK(f.as.access(vaddr{base + 0x2000}, access_kind::write) ==
        status::access_violation);
  CHECK(f.as.access(vaddr{base + 0x1000}, access_kind::write) ==
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
  CHECK(f.as.access(vaddr{base + 0x1004}, access_kind::read) ==
        status::guard_page_violation);
  CHECK(f.q(base + 0x1000).protect == page::readwrite);
  CHECK(f.as.access(vaddr{base + 0x1004}, access_kind::read) ==
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
  CHECK(f.as.access(vaddr{base + 0x1000}, access_kind::read) ==
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
  CHECK(as.access(base, access_kind::read) == status::guard_page_violation);
  CHECK(as.access(base, access_kind::write) == status::success);
  CHECK(as.frames_in_use() == 1);
  CHECK(as.table_pages_in_use() == 4);
  CHECK(as.access(base + 0x1000, access_kind::read) ==
        status::guard_page_violation);
  CHECK(as.access(base + 0x1000, access_kind::write) == status::no_memory);
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
  CHECK(as.access(base, access_kind::write) == status::no_memory);
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
