// Hardware entries: bit-exact encode/decode vectors worked out by hand from
// the Intel SDM (vol. 3A, tables 4-4 to 4-20).
#include <mmkit/arch/all.hpp>
#include <mmkit/paging/entry.hpp>

#include <doctest/doctest.h>

using namespace mmkit;
using arch::x86_32;
using arch::x86_64;
using arch::x86_la57;
using arch::x86_pae;

TEST_SUITE_BEGIN("paging");

TEST_CASE("entry: x86_64 leaf vectors") {
  using c = entry_codec<x86_64>;
  // 4 KiB, R/W + U/S, no execute: XD | frame | U/S | R/W | P.
  CHECK(
      c::leaf_entry(paddr{0x12345000}, 0, page_attr::write | page_attr::user) ==
      0x8000000012345007ull);
  CHECK(c::leaf_entry(paddr{0x12345000}, 0,
                      page_attr::write | page_attr::user |
                          page_attr::execute) == 0x0000000012345007ull);
  // PAT of a PTE is bit 7; PCD bit 4, PWT bit 3, G bit 8.
  CHECK(c::leaf_entry(paddr{0x1000}, 0,
                      page_attr::execute | page_attr::pat |
                          page_attr::cache_disable | page_attr::write_through |
                          page_attr::global) == 0x1199ull);
  // 2 MiB: PS bit 7 and G.
  CHECK(c::leaf_entry(paddr{0x40000000}, 1,
                      page_attr::write | page_attr::execute |
                          page_attr::global) == 0x40000183ull);
  // 1 GiB with PAT, which moves to bit 12 in a large-page entry.
  CHECK(
      c::leaf_entry(paddr{0x1C0000000}, 2, page_attr::user | page_attr::pat) ==
      0x80000001C0001085ull);
  // Highest frame MAXPHYADDR 52 allows.
  CHECK(c::leaf_entry(paddr{0xFFFFFFFFFF000}, 0, page_attr::execute) ==
        0x000FFFFFFFFFF001ull);
  // Table entries are P|R/W|U/S.
  CHECK(c::table_entry(paddr{0x5000}, 1) == 0x5007ull);
}

TEST_CASE("entry: x86_64 decode") {
  using c = entry_codec<x86_64>;
  const auto d = c::decode(0x80000001C00010E5ull, 2);
  CHECK(d.present);
  CHECK_FALSE(d.writable);
  CHECK(d.user);
  CHECK(d.accessed);
  CHECK(d.dirty);
  CHECK(d.large);
  CHECK(d.pat);
  CHECK(d.no_execute);
  CHECK(d.address == 0x1C0000000ull);
  CHECK(d.reserved == 0);
  CHECK(c::attributes(0x80000001C0001085ull, 2) ==
        (page_attr::user | page_attr::pat));
  CHECK(c::page_address(0x80000001C0001085ull, 2) == paddr{0x1C0000000});
  // Bit 7 of a PTE is PAT, not PS.
  CHECK_FALSE(c::decode(0x1081, 0).large);
  CHECK(c::decode(0x1081, 0).pat);
  CHECK(c::decode(0x1081, 0).address == 0x1000);
}

TEST_CASE("entry: reserved bits per level") {
  using c = entry_codec<x86_64>;
  // PML4E bit 7 is reserved.
  CHECK(c::reserved_set(0x2087, 3) == 0x80);
  CHECK(c::reserved_set(0x2007, 3) == 0);
  // A 2 MiB PDE must have bits 20:13 clear; a table PDE need not.
  CHECK(c::reserved_set(0x40002083, 1) == 0x2000);
  CHECK(c::reserved_set(0x40000083 | 0x100000, 1) == 0x100000);
  CHECK(c::reserved_set(0x40001083, 1) == 0);  // bit 12 is PAT
  CHECK(c::reserved_set(0x40002003, 1) == 0);
  // A 1 GiB PDPTE: bits 29:13.
  CHECK(c::reserved_set(0x40000083 | 0x20000000, 2) == 0x20000000);
  CHECK(c::reserved_set(0x00000083 | 0x200000, 2) == 0x200000);
  // PAE: bits 62:52 of PDEs/PTEs are reserved, bit 63 is XD.
  using p = entry_codec<x86_pae>;
  CHECK(p::reserved_set(0x0010000000001003ull, 0) == 0x0010000000000000ull);
  CHECK(p::reserved_set(0x8000000000001003ull, 0) == 0);
  CHECK(p::reserved_set(0x4000000000001003ull, 1) == 0x4000000000000000ull);
  // PAE PDPTE: bits 2:1, 8:5 and 63 are reserved.
  CHECK(p::reserved_set(0x1003, 2) == 0x2);
  CHECK(p::reserved_set(0x1021, 2) == 0x20);
  CHECK(p::reserved_set(0x8000000000001001ull, 2) == 0x8000000000000000ull);
  CHECK(p::reserved_set(0x1019, 2) == 0);  // P, PWT, PCD
  CHECK(p::table_entry(paddr{0x3000}, 2) == 0x3001ull);
  // x86_32 4 MiB PDE: bit 21 reserved.
  using x = entry_codec<x86_32>;
  CHECK(x::reserved_set(0x00200083u, 1) == 0x200000u);
  CHECK(x::reserved_set(0x00200003u, 1) == 0);  // table PDE
  // LA57 PML5E bit 7.
  CHECK(entry_codec<x86_la57>::reserved_set(0x3087, 4) == 0x80);
}

TEST_CASE("entry: x86_32 vectors, PSE-36 large pages") {
  using c = entry_codec<x86_32>;
  CHECK(c::leaf_entry(paddr{0xABCDE000}, 0,
                      page_attr::write | page_attr::user) == 0xABCDE007u);
  // No XD in 32-bit entries: "execute" is implied and costs no bit.
  CHECK(c::leaf_entry(paddr{0xABCDE000}, 0, page_attr::none) == 0xABCDE001u);
  CHECK(has(c::attributes(0xABCDE001u, 0), page_attr::execute));
  // 4 MiB at 0x3F_FFC0_0000: bits 31:22 = 0x3FF, bits 39:32 = 0x3F -> 20:13.
  CHECK(c::leaf_entry(paddr{0x3FFFC00000}, 1, page_attr::write) == 0xFFC7E083u);
  CHECK(c::page_address(0xFFC7E083u, 1) == paddr{0x3FFFC00000});
  // PAT of a 4 MiB page is bit 12.
  CHECK(c::leaf_entry(paddr{0x400000}, 1, page_attr::pat) == 0x00401081u);
  CHECK(c::table_entry(paddr{0x7000}, 1) == 0x7007u);
}

TEST_CASE("entry: PAE vectors") {
  using c = entry_codec<x86_pae>;
  CHECK(c::leaf_entry(paddr{0xFFFFF000}, 0, page_attr::write) ==
        0x80000000FFFFF003ull);
  CHECK(c::leaf_entry(paddr{0x200000000}, 1,
                      page_attr::execute | page_attr::user) == 0x200000085ull);
}

TEST_CASE("entry: with_attributes keeps address, A and D") {
  using c = entry_codec<x86_64>;
  const std::uint64_t e = 0x8000000012345067ull;  // A|D|US|RW|P, XD
  const auto f =
      c::with_attributes(e, 0, page_attr::execute | page_attr::global);
  CHECK(f == 0x0000000012345161ull);
  CHECK(c::attributes(f, 0) == (page_attr::execute | page_attr::global));
  // Large: PAT at bit 12 is an attribute, PS stays.
  const std::uint64_t l = 0x40001083ull;
  CHECK(c::with_attributes(l, 1, page_attr::write) == 0x8000000040000083ull);
}

TEST_SUITE_END();
