// Arch policies: level tables, address arithmetic and NT layouts, checked
// against values worked out by hand from the Intel SDM and NT's headers.
#include <mmkit/arch/all.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace mmkit;
using namespace mmkit::arch;

TEST_SUITE_BEGIN("arch");

TEST_CASE("arch: level shapes follow the SDM") {
  static_assert(x86_32::levels == 2 && x86_pae::levels == 3 &&
                x86_64::levels == 4 && x86_la57::levels == 5);
  CHECK(x86_32::level[1].shift == 22);
  CHECK(x86_32::level[1].index_bits == 10);
  CHECK(x86_32::level[1].span() == 4 * 1024 * 1024);
  CHECK(x86_pae::level[2].index_bits == 2);
  CHECK(x86_pae::level[2].shift == 30);
  CHECK_FALSE(x86_pae::level[2].access_bits);
  CHECK(x86_64::level[3].shift == 39);
  CHECK(x86_la57::level[4].shift == 48);
  CHECK(std::string(x86_la57::level[4].name) == "PML5E");
  CHECK(std::string(x86_64::level[2].name) == "PDPTE");
  CHECK(x86_64::max_phys_bits == 52);
  CHECK(x86_32::max_phys_bits == 40);
  CHECK_FALSE(x86_32::has_nx);
  CHECK(x86_pae::has_nx);
}

TEST_CASE("arch: page sizes per arch") {
  CHECK(level_for_page_size<x86_32>(0x1000) == 0);
  CHECK(level_for_page_size<x86_32>(0x400000) == 1);
  CHECK(level_for_page_size<x86_32>(0x200000) == -1);
  CHECK(level_for_page_size<x86_pae>(0x200000) == 1);
  CHECK(level_for_page_size<x86_pae>(0x40000000) == -1);
  CHECK(level_for_page_size<x86_64>(0x200000) == 1);
  CHECK(level_for_page_size<x86_64>(0x40000000) == 2);
  CHECK(level_for_page_size<x86_64>(0x8000000000) == -1);  // 512 GiB: no
  CHECK(level_for_page_size<x86_la57>(0x40000000) == 2);
  CHECK(level_for_page_size<x86_la57>(0x3000) == -1);
}

TEST_CASE("arch: table indices computed by hand") {
  // 0x7F1234567ABC: bits 47:39 = 0xFE, 38:30 = 0x48, 29:21 = 0x1A2,
  // 20:12 = 0x167, offset 0xABC.
  const vaddr va{0x7F1234567ABC};
  CHECK(table_index<x86_64>(va, 3) == 0xFE);
  CHECK(table_index<x86_64>(va, 2) == 0x48);
  CHECK(table_index<x86_64>(va, 1) == 0x1A2);
  CHECK(table_index<x86_64>(va, 0) == 0x167);
  CHECK(table_index<x86_la57>(va, 4) == 0);
  // 0xC0801ABC on x86_32: PDE 0x302, PTE 0x001.
  CHECK(table_index<x86_32>(vaddr{0xC0801ABC}, 1) == 0x302);
  CHECK(table_index<x86_32>(vaddr{0xC0801ABC}, 0) == 0x001);
  // Same address on PAE: PDPTE 3, PDE 0x004, PTE 0x001.
  CHECK(table_index<x86_pae>(vaddr{0xC0801ABC}, 2) == 3);
  CHECK(table_index<x86_pae>(vaddr{0xC0801ABC}, 1) == 0x004);
  CHECK(table_index<x86_pae>(vaddr{0xC0801ABC}, 0) == 0x001);
  // LA57: 0x01FF000000000000 >> 48 = 0x1FF.
  CHECK(table_index<x86_la57>(vaddr{0xFFFF000000000000}, 4) == 0x1FF);
}

TEST_CASE("arch: canonical addresses") {
  CHECK(is_canonical<x86_64>(vaddr{0x00007FFFFFFFFFFF}));
  CHECK_FALSE(is_canonical<x86_64>(vaddr{0x0000800000000000}));
  CHECK_FALSE(is_canonical<x86_64>(vaddr{0xFFFF7FFFFFFFFFFF}));
  CHECK(is_canonical<x86_64>(vaddr{0xFFFF800000000000}));
  CHECK(is_canonical<x86_la57>(vaddr{0x0000800000000000}));
  CHECK(is_canonical<x86_la57>(vaddr{0x00FFFFFFFFFFFFFF}));
  CHECK_FALSE(is_canonical<x86_la57>(vaddr{0x0100000000000000}));
  CHECK(is_canonical<x86_la57>(vaddr{0xFF00000000000000}));
  CHECK_FALSE(is_canonical<x86_la57>(vaddr{0xFEFFFFFFFFFFFFFF}));
  CHECK(is_canonical<x86_32>(vaddr{0xFFFFFFFF}));
  CHECK_FALSE(is_canonical<x86_32>(vaddr{0x100000000}));
  CHECK_FALSE(is_canonical<x86_pae>(vaddr{0xFFFFFFFF00000000}));
}

TEST_CASE("arch: NT layouts") {
  CHECK(x86_32::lowest_user_address == 0x10000);
  CHECK(x86_32::highest_user_address == 0x7FFEFFFF);
  CHECK(x86_pae::highest_user_address == 0x7FFEFFFF);
  CHECK(x86_pae::kernel_base == 0x80000000);
  CHECK(x86_64::highest_user_address == 0x7FFFFFFEFFFF);
  CHECK(x86_64::kernel_base == 0xFFFF800000000000);
  CHECK(x86_la57::highest_user_address == 0x00FFFFFFFFFEFFFF);
  CHECK(x86_la57::kernel_base == 0xFF00000000000000);
  // Each layout keeps a 64 KiB no-access guard below the top of the lower
  // half, and the kernel base is canonical while the user top + guard is
  // the end of the lower half.
  CHECK(x86_64::highest_user_address + 1 + 0x10000 == 0x800000000000);
  CHECK(x86_la57::highest_user_address + 1 + 0x10000 == 0x0100000000000000);
  CHECK(is_canonical<x86_la57>(vaddr{x86_la57::kernel_base}));
  CHECK(is_canonical<x86_64>(vaddr{x86_64::kernel_base}));
}

// A negative case: an arch whose levels do not add up to va_bits.
struct broken_arch : example_two_level {
  static constexpr unsigned va_bits = 33;
};
static_assert(!PagingArch<broken_arch>);
struct no_layout {
  using entry_type = std::uint32_t;
};
static_assert(!PagingArch<no_layout>);
static_assert(PagingArch<example_two_level>);

TEST_SUITE_END();
