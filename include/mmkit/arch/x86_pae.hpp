#pragma once
// arch::x86_pae: PAE paging (Intel SDM vol. 3A, 4.4 "PAE Paging") with
// EFER.NXE=1, as NT runs a PAE x86 kernel.
//
// Three levels translate a 32-bit address into a 52-bit physical one:
//
//   31 30 29      21 20      12 11          0
//   |PDPT| PD index | PT index | page offset |
//
// The root is a 32-byte table of four PDPTEs (CR3 bits 31:5 locate it; mmkit
// gives it a whole frame). PDPTEs carry only P, PWT, PCD and the address:
// bits 2:1, 8:5 and 63:MAXPHYADDR are reserved (SDM Table 4-8), so the
// walker neither reads rights from them nor sets their A bit. PDEs with PS=1
// map 2 MiB pages; their bits 20:13 are reserved. In PDEs and PTEs bits
// 62:MAXPHYADDR are reserved and bit 63 is XD.

#include <mmkit/arch/detail/x86_64bit.hpp>

namespace mmkit::arch {

struct x86_pae : detail::x86_64bit_frames<x86_pae> {
  using entry_type = std::uint64_t;
  static constexpr const char* name = "x86_pae";
  static constexpr unsigned max_phys_bits = 52;
  static constexpr unsigned levels = 3;
  static constexpr level_desc level[levels] = {
      {"PTE", 9, 12, false, true, bit_mask<std::uint64_t>(62, max_phys_bits),
       0},
      {"PDE", 9, 21, true, true, bit_mask<std::uint64_t>(62, max_phys_bits),
       bit_mask<std::uint64_t>(62, max_phys_bits) |
           bit_mask<std::uint64_t>(20, 13)},
      {"PDPTE", 2, 30, false, false,
       bit_mask<std::uint64_t>(63, max_phys_bits) |
           bit_mask<std::uint64_t>(8, 5) | bit_mask<std::uint64_t>(2, 1),
       0},
  };
  static constexpr unsigned va_bits = 32;
  static constexpr bool sign_extended = false;
  static constexpr bool has_nx = true;

  static constexpr std::uint64_t page_size = 0x1000;
  static constexpr std::uint64_t allocation_granularity = 0x10000;
  static constexpr std::uint64_t lowest_user_address = 0x10000;
  static constexpr std::uint64_t highest_user_address = 0x7FFEFFFF;
  static constexpr std::uint64_t kernel_base = 0x80000000;
};
static_assert(PagingArch<x86_pae>);

}  // namespace mmkit::arch
