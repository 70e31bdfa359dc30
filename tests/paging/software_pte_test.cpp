// NT software PTEs: every kind, every protection, both entry widths, with
// vectors computed by hand from the layout in paging/entry.hpp.
#include <mmkit/arch/all.hpp>
#include <mmkit/paging/entry.hpp>

#include <doctest/doctest.h>

#include <cstdint>

using namespace mmkit;

TEST_SUITE_BEGIN("paging");

TEST_CASE("software pte: hand vectors") {
  using s32 = software_pte<std::uint32_t>;
  using s64 = software_pte<std::uint64_t>;
  // READWRITE (4) in bits 9:5 = 0x80.
  CHECK(s32::demand_zero(mm::readwrite) == 0x80u);
  CHECK(s64::demand_zero(mm::readwrite) == 0x80ull);
  // Page file 2, offset 0x1234, EXECUTE_READ (3): 0x60 | 2 << 1 | offset.
  CHECK(s32::page_file(mm::execute_read, 2, 0x1234) == 0x01234064u);
  CHECK(s64::page_file(mm::execute_read, 2, 0x1234) == 0x0000123400000064ull);
  // Transition, READONLY, PFN 0xABCDE: bit 11 | 0x20 | PFN << 12.
  CHECK(s32::transition(mm::readonly, pfn{0xABCDE}) == 0xABCDE820u);
  CHECK(s64::transition(mm::readonly, pfn{0xFFFFFFFFFF}) ==
        0x000FFFFFFFFFF820ull);
  // Prototype index 0x12345, protection 0: bit 10 | index << 12.
  CHECK(s32::prototype(0, 0x12345) == 0x12345400u);
  CHECK(s64::prototype(mm::writecopy, 0xFFFFFFFFFFFFFull) ==
        0xFFFFFFFFFFFFF4A0ull);
  CHECK(s32::max_prototype_index == 0xFFFFF);
  CHECK(s32::max_file_offset == 0xFFFFF);
  CHECK(s64::max_file_offset == 0xFFFFFFFF);
  CHECK(s64::max_transition_frame == 0xFFFFFFFFFF);
}

TEST_CASE("software pte: classification") {
  using s = software_pte<std::uint64_t>;
  CHECK(s::classify(0) == entry_kind::zero);
  CHECK(s::classify(1) == entry_kind::valid);
  CHECK(s::classify(0x80) == entry_kind::demand_zero);
  CHECK(s::classify(0x2) == entry_kind::page_file);  // file 1, offset 0
  CHECK(s::classify(0x100000000ull) == entry_kind::page_file);
  CHECK(s::classify(0x800) == entry_kind::transition);
  CHECK(s::classify(0x400) == entry_kind::prototype);
  CHECK(s::classify(0xC00) == entry_kind::prototype);  // bit 10 decides first
  // Bits 31:12 of a 64-bit non-transition entry belong to no field.
  CHECK(s::classify(0x1000) == entry_kind::zero);
  // A valid entry is valid whatever else it holds.
  CHECK(s::classify(0xFFF) == entry_kind::valid);
  CHECK(software_pte<std::uint32_t>::classify(0x1000u) ==
        entry_kind::page_file);
}

TEST_CASE_TEMPLATE("software pte: every protection round-trips", A,
                   arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  using W = typename A::entry_type;
  using s = software_pte<W>;
  for (unsigned prot = 0; prot < 32; ++prot) {
    CAPTURE(prot);
    const auto p = static_cast<std::uint8_t>(prot);
    if (prot != 0) {
      const W dz = s::demand_zero(p);
      CHECK(s::classify(dz) == entry_kind::demand_zero);
      CHECK(s::protection(dz) == p);
      CHECK((dz & 1) == 0);
    }
    for (unsigned file : {0u, 1u, 15u}) {
      const std::uint64_t offset = file == 0 ? s::max_file_offset : 7;
      const W pf = s::page_file(p, file, offset);
      CHECK(s::classify(pf) == entry_kind::page_file);
      CHECK(s::protection(pf) == p);
      CHECK(s::page_file_number(pf) == file);
      CHECK(s::page_file_offset(pf) == offset);
    }
    const pfn frames[] = {pfn{0}, pfn{1}, pfn{s::max_transition_frame}};
    for (pfn f : frames) {
      const W t = s::transition(p, f);
      CHECK(s::classify(t) == entry_kind::transition);
      CHECK(s::protection(t) == p);
      CHECK(s::frame(t) == f);
    }
    for (std::uint64_t index :
         {std::uint64_t{0}, std::uint64_t{0x5A5A5}, s::max_prototype_index}) {
      const W pr = s::prototype(p, index);
      CHECK(s::classify(pr) == entry_kind::prototype);
      CHECK(s::protection(pr) == p);
      CHECK(s::index(pr) == index);
    }
  }
  // The software formats never look present to the walker.
  CHECK((s::transition(mm::readwrite, pfn{s::max_transition_frame}) & 1) == 0);
}

TEST_SUITE_END();
