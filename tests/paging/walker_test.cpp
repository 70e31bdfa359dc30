// The walker: hand-built x64, PAE, x86_32 and LA57 tables with vectors worked
// out from the SDM, rights combined across levels, A/D updates, software PTE
// kinds, reserved bits and non-canonical addresses.
#include "test_memory.hpp"

#include <mmkit/arch/all.hpp>
#include <mmkit/paging/walker.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace mmkit;
using arch::x86_32;
using arch::x86_64;
using arch::x86_la57;
using arch::x86_pae;

namespace {
// 0x7F1234567ABC: PML4 0xFE, PDPT 0x48, PD 0x1A2, PT 0x167, offset 0xABC.
constexpr vaddr va{0x7F1234567ABC};

struct x64_tables {
  test::arena a{64};
  x64_tables() {
    a.entry<std::uint64_t>(pfn{1}, 0xFE) = 0x2007;   // PML4E -> PDPT @ 2
    a.entry<std::uint64_t>(pfn{2}, 0x48) = 0x3007;   // PDPTE -> PD @ 3
    a.entry<std::uint64_t>(pfn{3}, 0x1A2) = 0x4007;  // PDE -> PT @ 4
    // PTE: frame 0x35, P|U/S, read-only, XD.
    a.entry<std::uint64_t>(pfn{4}, 0x167) = 0x8000000000035005ull;
  }
  std::uint64_t& pml4e() { return a.entry<std::uint64_t>(pfn{1}, 0xFE); }
  std::uint64_t& pdpte() { return a.entry<std::uint64_t>(pfn{2}, 0x48); }
  std::uint64_t& pde() { return a.entry<std::uint64_t>(pfn{3}, 0x1A2); }
  std::uint64_t& pte() { return a.entry<std::uint64_t>(pfn{4}, 0x167); }
  translation<x86_64> walk(access acc, cpu_mode mode,
                           ad_update u = ad_update::set) {
    return mmkit::walk<x86_64>(a.memory, paddr{0x1000}, va, acc, mode, u);
  }
};
}  // namespace

TEST_SUITE_BEGIN("paging");

TEST_CASE("walker: x64 4 KiB translation explained") {
  x64_tables t;
  const auto r = t.walk(access::read, cpu_mode::user);
  CHECK(r.ok());
  CHECK(r.kind == entry_kind::valid);
  CHECK(r.address == paddr{0x35ABC});
  CHECK(r.page_bytes == 0x1000);
  CHECK(r.level == 0);
  CHECK(std::string(r.level_name()) == "PTE");
  CHECK_FALSE(r.writable);
  CHECK(r.user);
  CHECK_FALSE(r.executable);
  REQUIRE(r.depth == 4);
  CHECK(r.entries[0] == 0x2007);
  CHECK(r.entries[3] == 0x8000000000035005ull);
  // Entry addresses: table + index * 8.
  CHECK(r.entry_addresses[0] == paddr{0x1000 + 0xFE * 8});
  CHECK(r.entry_addresses[3] == paddr{0x4000 + 0x167 * 8});
  // A set on every level by the read, D not.
  CHECK(t.pml4e() == 0x2027);
  CHECK(t.pdpte() == 0x3027);
  CHECK(t.pde() == 0x4027);
  CHECK(t.pte() == 0x8000000000035025ull);
}

TEST_CASE("walker: rights combine across levels") {
  x64_tables t;
  // Read-only leaf: writes fault in user and, with CR0.WP, in kernel mode.
  CHECK_FALSE(t.walk(access::write, cpu_mode::user).allowed);
  CHECK_FALSE(t.walk(access::write, cpu_mode::kernel).allowed);
  CHECK_FALSE(t.walk(access::execute, cpu_mode::kernel).allowed);
  // A faulting access leaves A clear.
  CHECK(t.pte() == 0x8000000000035005ull);
  t.pte() = 0x0000000000035007ull;  // R/W, executable
  CHECK(t.walk(access::write, cpu_mode::user).allowed);
  CHECK(t.pte() == 0x0000000000035067ull);  // A and D
  // R/W clear at the PDPTE makes the whole range read-only.
  t.pdpte() &= ~std::uint64_t{2};
  auto r = t.walk(access::write, cpu_mode::kernel);
  CHECK(r.kind == entry_kind::valid);
  CHECK_FALSE(r.allowed);
  CHECK_FALSE(r.writable);
  t.pdpte() |= 2;
  // U/S clear at the PDE: a supervisor-only range.
  t.pde() &= ~std::uint64_t{4};
  CHECK_FALSE(t.walk(access::read, cpu_mode::user).allowed);
  CHECK(t.walk(access::read, cpu_mode::kernel).allowed);
  CHECK(t.walk(access::write, cpu_mode::kernel).allowed);
  t.pde() |= 4;
  // XD at the PML4E forbids execution below it.
  t.pml4e() |= 0x8000000000000000ull;
  CHECK_FALSE(t.walk(access::execute, cpu_mode::user).allowed);
  CHECK_FALSE(t.walk(access::execute, cpu_mode::user).executable);
  t.pml4e() &= ~0x8000000000000000ull;
  CHECK(t.walk(access::execute, cpu_mode::user).allowed);
}

TEST_CASE("walker: ad_update::leave writes nothing") {
  x64_tables t;
  t.pte() = 0x35007;
  CHECK(t.walk(access::write, cpu_mode::user, ad_update::leave).ok());
  CHECK(t.pte() == 0x35007);
  CHECK(t.pml4e() == 0x2007);
  // A const (read-only) view never writes either.
  const buffer_memory& ro = t.a.memory;
  CHECK(mmkit::walk<x86_64>(ro, paddr{0x1000}, va, access::write).ok());
  CHECK(t.pte() == 0x35007);
}

TEST_CASE("walker: large pages at every level that allows them") {
  x64_tables t;
  // 2 MiB at 0x200000: offset is va bits 20:0 = 0x167ABC.
  t.pde() = 0x200083;
  auto r = t.walk(access::write, cpu_mode::kernel);
  CHECK(r.ok());
  CHECK(r.address == paddr{0x367ABC});
  CHECK(r.page_bytes == 0x200000);
  CHECK(r.level == 1);
  CHECK(r.depth == 3);
  CHECK(t.pde() == 0x2000E3);  // A and D set on the large leaf
  // 1 GiB at 0x40000000: offset is va bits 29:0 = 0x34567ABC.
  t.pdpte() = 0x40000085ull | 0x8000000000000000ull;
  r = t.walk(access::read, cpu_mode::user);
  CHECK(r.ok());
  CHECK(r.address == paddr{0x74567ABC});
  CHECK(r.page_bytes == 0x40000000);
  CHECK(r.level == 2);
  CHECK_FALSE(r.executable);
}

TEST_CASE("walker: reserved bits and not-present kinds stop the walk") {
  x64_tables t;
  t.pde() = 0x200083 | 0x2000;  // bit 13 of a 2 MiB PDE
  auto r = t.walk(access::read, cpu_mode::kernel);
  CHECK(r.kind == entry_kind::reserved_bits);
  CHECK(r.level == 1);
  CHECK_FALSE(r.ok());
  t.pde() = 0x4007;
  t.pml4e() |= 0x80;  // PS in a PML4E is reserved
  r = t.walk(access::read, cpu_mode::kernel);
  CHECK(r.kind == entry_kind::reserved_bits);
  CHECK(r.level == 3);
  CHECK(r.depth == 1);
  t.pml4e() = 0x2007;
  using s = software_pte<std::uint64_t>;
  t.pte() = s::transition(mm::readwrite, pfn{0x35});
  r = t.walk(access::read, cpu_mode::user);
  CHECK(r.kind == entry_kind::transition);
  CHECK(r.level == 0);
  CHECK(r.last_entry() == s::transition(mm::readwrite, pfn{0x35}));
  t.pte() = s::prototype(0, 77);
  CHECK(t.walk(access::read, cpu_mode::user).kind == entry_kind::prototype);
  t.pte() = s::page_file(mm::readonly, 1, 99);
  CHECK(t.walk(access::read, cpu_mode::user).kind == entry_kind::page_file);
  t.pte() = s::demand_zero(mm::execute_readwrite);
  CHECK(t.walk(access::read, cpu_mode::user).kind == entry_kind::demand_zero);
  t.pte() = 0;
  CHECK(t.walk(access::read, cpu_mode::user).kind == entry_kind::zero);
  // A not-present PDE stops one level higher.
  t.pde() = s::demand_zero(mm::readwrite);
  r = t.walk(access::read, cpu_mode::user);
  CHECK(r.kind == entry_kind::demand_zero);
  CHECK(r.level == 1);
  // Non-canonical: no entry read.
  r = mmkit::walk<x86_64>(t.a.memory, paddr{0x1000}, vaddr{0x0000800000000000});
  CHECK(r.kind == entry_kind::non_canonical);
  CHECK(r.depth == 0);
  // A table pointer past the memory.
  t.pml4e() = 0x7FFFF007;
  CHECK(t.walk(access::read, cpu_mode::kernel).kind ==
        entry_kind::beyond_memory);
}

TEST_CASE("walker: PAE PDPTEs carry no rights and get no A bit") {
  test::arena a{16};
  // 0xC0801ABC: PDPTE 3, PDE 4, PTE 1.
  a.entry<std::uint64_t>(pfn{1}, 3) = 0x2001;  // P only
  a.entry<std::uint64_t>(pfn{2}, 4) = 0x3007;
  a.entry<std::uint64_t>(pfn{3}, 1) = 0x8000000000009003ull;  // RW, XD
  auto r = walk<x86_pae>(a.memory, paddr{0x1000}, vaddr{0xC0801ABC},
                         access::write, cpu_mode::kernel);
  CHECK(r.ok());
  CHECK(r.address == paddr{0x9ABC});
  CHECK_FALSE(r.user);
  CHECK(a.entry<std::uint64_t>(pfn{1}, 3) == 0x2001);  // untouched
  CHECK(a.entry<std::uint64_t>(pfn{2}, 4) == 0x3027);
  CHECK(a.entry<std::uint64_t>(pfn{3}, 1) == 0x8000000000009063ull);
  // R/W in a PDPTE is a reserved bit.
  a.entry<std::uint64_t>(pfn{1}, 3) = 0x2003;
  r = walk<x86_pae>(a.memory, paddr{0x1000}, vaddr{0xC0801ABC});
  CHECK(r.kind == entry_kind::reserved_bits);
  CHECK(r.level == 2);
  CHECK(std::string(r.level_name()) == "PDPTE");
  // 2 MiB PDE at 0x200000000 (above 4 GiB).
  a.entry<std::uint64_t>(pfn{1}, 3) = 0x2001;
  a.entry<std::uint64_t>(pfn{2}, 4) = 0x200000087ull;
  r = walk<x86_pae>(a.memory, paddr{0x1000}, vaddr{0xC0801ABC});
  CHECK(r.ok());
  CHECK(r.address == paddr{0x200001ABC});
  CHECK(r.executable);
  CHECK(walk<x86_pae>(a.memory, paddr{0x1000}, vaddr{0x100000000}).kind ==
        entry_kind::non_canonical);
}

TEST_CASE("walker: x86_32 4 KiB and PSE-36 4 MiB pages") {
  test::arena a{16};
  // 0xC0801ABC: PDE 0x302, PTE 0x001.
  a.entry<std::uint32_t>(pfn{1}, 0x302) = 0x2007u;
  a.entry<std::uint32_t>(pfn{2}, 0x001) = 0x0000B005u;  // read-only user
  auto r = walk<x86_32>(a.memory, paddr{0x1000}, vaddr{0xC0801ABC},
                        access::execute, cpu_mode::user);
  CHECK(r.ok());  // no XD: readable means executable
  CHECK(r.address == paddr{0xBABC});
  CHECK_FALSE(walk<x86_32>(a.memory, paddr{0x1000}, vaddr{0xC0801ABC},
                           access::write, cpu_mode::kernel)
                  .allowed);
  // 4 MiB page at 0x3F_FFC0_0000: offset 0x001ABC.
  a.entry<std::uint32_t>(pfn{1}, 0x302) = 0xFFC7E083u;
  r = walk<x86_32>(a.memory, paddr{0x1000}, vaddr{0xC0801ABC}, access::write,
                   cpu_mode::kernel);
  CHECK(r.ok());
  CHECK(r.address == paddr{0x3FFFC01ABC});
  CHECK(r.page_bytes == 0x400000);
  CHECK(a.entry<std::uint32_t>(pfn{1}, 0x302) == 0xFFC7E0E3u);
  a.entry<std::uint32_t>(pfn{1}, 0x302) = 0xFFE7E083u;  // bit 21
  CHECK(walk<x86_32>(a.memory, paddr{0x1000}, vaddr{0xC0801ABC}).kind ==
        entry_kind::reserved_bits);
}

TEST_CASE("walker: LA57 reaches the fifth level") {
  test::arena a{16};
  // 0xFF00000000401000: PML5 0x100, PML4 0, PDPT 0, PD 2, PT 1.
  const vaddr v{0xFF00000000401000};
  a.entry<std::uint64_t>(pfn{1}, 0x100) = 0x2007;
  a.entry<std::uint64_t>(pfn{2}, 0) = 0x3007;
  a.entry<std::uint64_t>(pfn{3}, 0) = 0x4007;
  a.entry<std::uint64_t>(pfn{4}, 2) = 0x5003;  // supervisor only
  a.entry<std::uint64_t>(pfn{5}, 1) = 0x7007;
  auto r = walk<x86_la57>(a.memory, paddr{0x1000}, v, access::read,
                          cpu_mode::kernel);
  CHECK(r.ok());
  CHECK(r.depth == 5);
  CHECK(r.address == paddr{0x7000});
  CHECK_FALSE(walk<x86_la57>(a.memory, paddr{0x1000}, v).allowed);
  CHECK(
      walk<x86_la57>(a.memory, paddr{0x1000}, vaddr{0xFEFF000000000000}).kind ==
      entry_kind::non_canonical);
}

TEST_SUITE_END();
