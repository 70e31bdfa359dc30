// AWE: MEM_PHYSICAL reservations, NtAllocateUserPhysicalPages,
// NtMapUserPhysicalPages and NtFreeUserPhysicalPages, with the statuses the
// WRK (base/ntos/mm/physical.c, allocvm.c, freevm.c, protect.c, queryvm.c)
// answers.
#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <vector>

using namespace mmkit;

TEST_SUITE_BEGIN("address_space");

namespace {

template <class Arch>
struct awe_space {
  hosted_system<> sys{std::uint64_t{16} << 20};
  address_space<Arch, hosted_config<>> as{sys};
  std::uint64_t base = 0;
  static constexpr std::uint64_t size = 0x10000;  // 16 pages

  awe_space() {
    vaddr b{0};
    std::uint64_t s = size;
    REQUIRE(as.allocate(b, s, mem::reserve | mem::physical, page::readwrite) ==
            status::success);
    base = b.raw();
  }
  ~awe_space() { CHECK(as.check_invariants()); }

  memory_basic_information query(std::uint64_t offset) {
    memory_basic_information info;
    REQUIRE(as.query(vaddr{base + offset}, info) == status::success);
    return info;
  }
  std::uint32_t peek(std::uint64_t offset) {
    std::uint32_t v = 0;
    std::size_t done = 0;
    REQUIRE(as.read(vaddr{base + offset}, &v, sizeof v, done) ==
            status::success);
    return v;
  }
  void poke(std::uint64_t offset, std::uint32_t v) {
    std::size_t done = 0;
    REQUIRE(as.write(vaddr{base + offset}, &v, sizeof v, done) ==
            status::success);
  }
};

}  // namespace

TEST_CASE(
    "awe: MEM_PHYSICAL takes MEM_RESERVE (and MEM_TOP_DOWN) with "
    "PAGE_READWRITE only") {
  hosted_system<> sys{std::uint64_t{16} << 20};
  address_space<arch::x86_64, hosted_config<>> as{sys};
  const auto alloc = [&](std::uint32_t type, std::uint32_t prot) {
    vaddr b{0};
    std::uint64_t s = 0x10000;
    return as.allocate(b, s, type, prot);
  };
  // WRK allocvm.c: parameter 5 for the type, parameter 6 for protection.
  CHECK(alloc(mem::physical, page::readwrite) == status::invalid_parameter_5);
  CHECK(alloc(mem::physical | mem::commit, page::readwrite) ==
        status::invalid_parameter_5);
  CHECK(alloc(mem::physical | mem::reserve | mem::commit, page::readwrite) ==
        status::invalid_parameter_5);
  CHECK(alloc(mem::physical | mem::reserve | mem::write_watch,
              page::readwrite) == status::invalid_parameter_5);
  CHECK(alloc(mem::physical | mem::reset, page::readwrite) ==
        status::invalid_parameter_5);
  CHECK(alloc(mem::physical | mem::reserve, page::readonly) ==
        status::invalid_parameter_6);
  CHECK(alloc(mem::physical | mem::reserve, page::execute_readwrite) ==
        status::invalid_parameter_6);
  CHECK(alloc(mem::physical | mem::reserve, 0) == status::invalid_parameter_6);
  CHECK(alloc(mem::physical | mem::reserve, page::readwrite | page::guard) ==
        status::invalid_parameter_6);
  CHECK(as.vads().empty());
  CHECK(alloc(mem::physical | mem::reserve | mem::top_down, page::readwrite) ==
        status::success);
  CHECK(alloc(mem::physical | mem::reserve, page::readwrite) ==
        status::success);
  CHECK(as.commit_charge() == 0);
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE("awe: allocate, map, remap, unmap and free frames", Arch,
                   arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  awe_space<Arch> a;
  // A fresh region is reserved only, private, read-write at allocation.
  memory_basic_information info = a.query(0);
  CHECK(info.state == mem::reserve);
  CHECK(info.protect == 0);
  CHECK(info.type == mem::private_memory);
  CHECK(info.allocation_protect == page::readwrite);
  CHECK(info.region_size == a.size);

  const std::uint64_t charge0 = a.sys.commit_charge();
  std::array<pfn, 4> frames{};
  std::uint64_t n = frames.size();
  REQUIRE(a.as.allocate_user_physical_pages(n, frames.data()) ==
          status::success);
  CHECK(n == 4);
  CHECK(a.as.user_physical_pages() == 4);
  CHECK(a.as.commit_charge() == 4);  // charged to the process
  CHECK(a.sys.commit_charge() == charge0 + 4);
  CHECK(a.as.frames_in_use() == 4);
  CHECK(a.as.check_invariants());

  // Map two at pages 1 and 2; the rest stays reserved.
  REQUIRE(a.as.map_user_physical_pages(vaddr{a.base + page_size + 0x123}, 2,
                                       frames.data()) == status::success);
  info = a.query(0);
  CHECK(info.state == mem::reserve);
  CHECK(info.region_size == page_size);
  // queryvm.c (VadAwe): a mapped page is MEM_COMMIT with its PTE's
  // protection, MEM_PRIVATE.
  info = a.query(page_size);
  CHECK(info.state == mem::commit);
  CHECK(info.protect == page::readwrite);
  CHECK(info.type == mem::private_memory);
  CHECK(info.region_size == 2 * page_size);
  info = a.query(3 * page_size);
  CHECK(info.state == mem::reserve);
  CHECK(info.region_size == a.size - 3 * page_size);
  CHECK(a.as.check_invariants());

  // Zeroed frames; writes land in the frame, which keeps them when it is
  // mapped elsewhere.
  CHECK(a.peek(page_size) == 0);
  a.poke(page_size, 0xA5A5);
  a.poke(2 * page_size, 0x5A5A);
  // An unmapped page of the region faults.
  std::uint32_t v = 0;
  std::size_t done = 0;
  CHECK(a.as.read(vaddr{a.base}, &v, sizeof v, done) ==
        status::access_violation);
  // A frame is mapped at one place at a time (physical.c: share count != 1
  // -> INVALID_PARAMETER_3), a frame named twice too.
  CHECK(a.as.map_user_physical_pages(vaddr{a.base + 8 * page_size}, 1,
                                     frames.data()) ==
        status::invalid_parameter_3);
  const std::array<pfn, 2> twice{frames[2], frames[2]};
  CHECK(a.as.map_user_physical_pages(vaddr{a.base + 8 * page_size}, 2,
                                     twice.data()) ==
        status::invalid_parameter_3);
  CHECK(a.query(8 * page_size).state == mem::reserve);
  // Unmap page 1, map its frame at page 10: the contents move with it.
  REQUIRE(a.as.map_user_physical_pages(vaddr{a.base + page_size}, 1, nullptr) ==
          status::success);
  CHECK(a.query(page_size).state == mem::reserve);
  REQUIRE(a.as.map_user_physical_pages(vaddr{a.base + 10 * page_size}, 1,
                                       frames.data()) == status::success);
  CHECK(a.peek(10 * page_size) == 0xA5A5);
  // Mapping over a mapped page replaces it (its frame is free to map again).
  REQUIRE(a.as.map_user_physical_pages(vaddr{a.base + 2 * page_size}, 1,
                                       &frames[3]) == status::success);
  CHECK(a.peek(2 * page_size) == 0);
  REQUIRE(a.as.map_user_physical_pages(vaddr{a.base + 3 * page_size}, 1,
                                       &frames[1]) == status::success);
  CHECK(a.peek(3 * page_size) == 0x5A5A);
  CHECK(a.as.frames_in_use() == 4);
  CHECK(a.as.check_invariants());
  // Trim leaves AWE pages alone (nonpaged).
  CHECK_FALSE(a.as.trim(vaddr{a.base + 3 * page_size}));

  // Free unmaps wherever mapped and gives the frames and charge back.
  std::uint64_t f = 2;
  REQUIRE(a.as.free_user_physical_pages(f, frames.data()) == status::success);
  CHECK(f == 2);
  CHECK(a.query(10 * page_size).state == mem::reserve);
  CHECK(a.query(3 * page_size).state == mem::reserve);
  CHECK(a.as.user_physical_pages() == 2);
  CHECK(a.as.commit_charge() == 2);
  CHECK(a.as.frames_in_use() == 2);
  // A freed frame is no longer the process's: physical.c answers
  // STATUS_CONFLICTING_ADDRESSES and frees the frames before it.
  const std::array<pfn, 3> mixed{frames[2], frames[0], frames[3]};
  f = 3;
  CHECK(a.as.free_user_physical_pages(f, mixed.data()) ==
        status::conflicting_addresses);
  CHECK(f == 1);
  CHECK(a.as.user_physical_pages() == 1);
  CHECK(a.as.check_invariants());
  // The last one goes with the address space (teardown).
}

TEST_CASE("awe: what the region refuses, with NT's statuses") {
  awe_space<arch::x86_64> a;
  std::array<pfn, 2> frames{};
  std::uint64_t n = 2;
  // No frames yet: physical.c answers parameter 1 (map) / 2 (free) when
  // the process has no physical-pages bitmap.
  CHECK(a.as.map_user_physical_pages(vaddr{a.base}, 1, frames.data()) ==
        status::invalid_parameter_1);
  CHECK(a.as.free_user_physical_pages(n, frames.data()) ==
        status::invalid_parameter_2);
  REQUIRE(a.as.allocate_user_physical_pages(n, frames.data()) ==
          status::success);
  REQUIRE(n == 2);
  // Count 0 (and a range that wraps) is parameter 2.
  CHECK(a.as.map_user_physical_pages(vaddr{a.base}, 0, frames.data()) ==
        status::invalid_parameter_2);
  CHECK(a.as.map_user_physical_pages(vaddr{~std::uint64_t{0} - 0xFFF}, 2,
                                     frames.data()) ==
        status::invalid_parameter_2);
  CHECK(a.as.map_user_physical_pages(vaddr{0xFFFF800000000000}, 1,
                                     frames.data()) ==
        status::invalid_parameter_1);
  // Outside an AWE region (past its end, or in ordinary memory):
  // parameter 1.
  CHECK(a.as.map_user_physical_pages(vaddr{a.base + a.size - page_size}, 2,
                                     frames.data()) ==
        status::invalid_parameter_1);
  vaddr other{0};
  std::uint64_t os = 0x10000;
  REQUIRE(a.as.allocate(other, os, mem::reserve | mem::commit,
                        page::readwrite) == status::success);
  CHECK(a.as.map_user_physical_pages(other, 1, frames.data()) ==
        status::invalid_parameter_1);
  // A frame the process does not own: conflicting addresses.
  const pfn stranger{frames[0].raw() ^ 1};
  if (stranger != frames[1]) {
    CHECK(a.as.map_user_physical_pages(vaddr{a.base}, 1, &stranger) ==
          status::conflicting_addresses);
  }
  REQUIRE(a.as.map_user_physical_pages(vaddr{a.base}, 2, frames.data()) ==
          status::success);

  vaddr b{a.base};
  std::uint64_t s = page_size;
  // allocvm.c: MEM_COMMIT (and MEM_RESET) in an AWE region.
  CHECK(a.as.allocate(b, s, mem::commit, page::readwrite) ==
        status::conflicting_addresses);
  CHECK(a.as.allocate(b, s, mem::reset, page::readwrite) ==
        status::conflicting_addresses);
  // protect.c: any protection, PAGE_READWRITE included.
  std::uint32_t old = 0xFF;
  CHECK(a.as.protect(b, s, page::readonly, old) ==
        status::conflicting_addresses);
  CHECK(old == page::noaccess);
  CHECK(a.as.protect(b, s, page::readwrite, old) ==
        status::conflicting_addresses);
  // freevm.c: MEM_DECOMMIT -> MEMORY_NOT_ALLOCATED; a partial MEM_RELEASE
  // -> FREE_VM_NOT_AT_BASE.
  CHECK(a.as.free(b, s, mem::decommit) == status::memory_not_allocated);
  CHECK(a.as.free(b, s, mem::release) == status::free_vm_not_at_base);
  CHECK(a.query(0).state == mem::commit);
  CHECK(a.as.check_invariants());

  // MEM_RELEASE of the whole region unmaps its pages; they stay the
  // process's and can be mapped into a new region.
  std::uint64_t zero = 0;
  REQUIRE(a.as.free(b, zero, mem::release) == status::success);
  CHECK(zero == a.size);
  CHECK(a.as.user_physical_pages() == 2);
  CHECK(a.as.commit_charge() == 2 + os / page_size);
  CHECK(a.as.check_invariants());
  vaddr again{0};
  std::uint64_t as2 = 0x20000;
  REQUIRE(a.as.allocate(again, as2, mem::reserve | mem::physical,
                        page::readwrite) == status::success);
  REQUIRE(a.as.map_user_physical_pages(again + 0x1F000, 1, &frames[1]) ==
          status::success);
  a.base = again.raw();
  CHECK(a.query(0x1F000).state == mem::commit);
}

TEST_CASE("awe: fewer frames than asked when memory runs short") {
  hosted_system<> sys{std::uint64_t{1} << 20};  // 256 frames
  address_space<arch::x86_64, hosted_config<>> as{sys};
  std::vector<pfn> frames(1024);
  std::uint64_t n = frames.size();
  REQUIRE(as.allocate_user_physical_pages(n, frames.data()) == status::success);
  CHECK(n > 0);
  CHECK(n < 256);
  CHECK(as.commit_charge() == n);
  CHECK(as.check_invariants());
  // Nothing left: ordinary commit fails, and so does another allocation.
  vaddr b{0};
  std::uint64_t s = 0x10000;
  CHECK(as.allocate(b, s, mem::reserve | mem::commit, page::readwrite) ==
        status::commitment_limit);
  std::uint64_t more = 8;
  std::vector<pfn> extra(8);
  CHECK(as.allocate_user_physical_pages(more, extra.data()) ==
        status::insufficient_resources);
  std::uint64_t all = n;
  REQUIRE(as.free_user_physical_pages(all, frames.data()) == status::success);
  CHECK(as.commit_charge() == 0);
  CHECK(as.frames_in_use() == 0);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "awe: a freestanding configuration without a bitmap allocator "
    "refuses user physical pages") {
  struct plain_config
      : system_config<host_memory, no_lock, pool_vad_allocator<vad>> {};
  std::vector<pfn_entry> entries(64);
  mmkit::system<plain_config> sys{host_memory::create(64 * page_size).value(),
                                  entries.data(), 64, 0};
  address_space<arch::x86_64, plain_config> as{sys};
  vaddr b{0};
  std::uint64_t s = 0x10000;
  CHECK(as.allocate(b, s, mem::reserve | mem::physical, page::readwrite) ==
        status::success);
  std::array<pfn, 2> frames{};
  std::uint64_t n = 2;
  CHECK(as.allocate_user_physical_pages(n, frames.data()) ==
        status::insufficient_resources);
  CHECK(as.user_physical_pages() == 0);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "AWE: an allocation short of listed frames takes those idle in other "
    "spaces' frame caches") {
  using locked = address_space<arch::x86_64, hosted_config<mutex_lock>>;
  hosted_system<mutex_lock> sys{256 * page_size, 1024 * page_size};
  locked faulting{sys};
  locked awe{sys};
  vaddr at{0};
  std::uint64_t size = 4 * page_size;
  REQUIRE(faulting.allocate(at, size, mem::reserve | mem::commit,
                            page::readwrite) == status::success);
  std::uint32_t v = 1;
  std::size_t done = 0;
  REQUIRE(faulting.write(at, &v, sizeof v, done) == status::success);
  const std::uint64_t cached = faulting.cached_frames();
  REQUIRE(cached > 0);
  const std::uint64_t listed = sys.pfns().available();
  std::vector<pfn> frames(listed + cached + 8);
  std::uint64_t n = frames.size();
  REQUIRE(awe.allocate_user_physical_pages(n, frames.data()) ==
          status::success);
  CHECK(n == listed + cached);
  CHECK(faulting.cached_frames() == 0);
  CHECK(faulting.check_invariants());
  CHECK(awe.check_invariants());
  CHECK(awe.free_user_physical_pages(n, frames.data()) == status::success);
}

TEST_SUITE_END();
