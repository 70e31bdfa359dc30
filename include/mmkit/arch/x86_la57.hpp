#pragma once
// arch::x86_la57: 5-level paging (Intel SDM vol. 3A, 4.5 "4-Level Paging
// and 5-Level Paging", CR4.LA57=1) with EFER.NXE=1.
//
// Five levels of 512 64-bit entries translate a 57-bit canonical address
// (bits 63:56 all equal):
//
//   56    48 47    39 38    30 29    21 20    12 11          0
//   | PML5  | PML4  | PDPT  | PD    | PT    | page offset |
//
// Entry formats are those of x86_64; bit 7 of a PML5E is reserved like that
// of a PML4E.
//
// NT layout, chosen to follow the x64 rules on the wider space: user space
// runs from 0x10000 to 0x00FFFFFFFFFEFFFF, keeping the same 64 KiB no-access
// guard below the top of the lower canonical half (0x00FFFFFFFFFFFFFF), and
// system space starts at the bottom of the upper canonical half,
// 0xFF00000000000000.

#include <mmkit/arch/detail/x86_64bit.hpp>

namespace mmkit::arch {

struct x86_la57 : detail::x86_64bit_frames<x86_la57> {
  using entry_type = std::uint64_t;
  static constexpr const char* name = "x86_la57";
  static constexpr unsigned max_phys_bits = 52;
  static constexpr unsigned levels = 5;
  static constexpr level_desc level[levels] = {
      {"PTE", 9, 12, false, true, 0, 0},
      {"PDE", 9, 21, true, true, 0, bit_mask<std::uint64_t>(20, 13)},
      {"PDPTE", 9, 30, true, true, 0, bit_mask<std::uint64_t>(29, 13)},
      {"PML4E", 9, 39, false, true, bit_mask<std::uint64_t>(7, 7), 0},
      {"PML5E", 9, 48, false, true, bit_mask<std::uint64_t>(7, 7), 0},
  };
  static constexpr unsigned va_bits = 57;
  static constexpr bool sign_extended = true;
  static constexpr bool has_nx = true;

  static constexpr std::uint64_t page_size = 0x1000;
  static constexpr std::uint64_t allocation_granularity = 0x10000;
  static constexpr std::uint64_t lowest_user_address = 0x10000;
  static constexpr std::uint64_t highest_user_address = 0x00FFFFFFFFFEFFFF;
  static constexpr std::uint64_t kernel_base = 0xFF00000000000000;
};
static_assert(PagingArch<x86_la57>);

}  // namespace mmkit::arch
