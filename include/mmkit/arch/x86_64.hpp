#pragma once
// arch::x86_64: 4-level paging (Intel SDM vol. 3A, 4.5 "4-Level Paging and
// 5-Level Paging") with EFER.NXE=1, NT's x64 layout.
//
// Four levels of 512 64-bit entries translate a 48-bit canonical address
// (bits 63:47 all equal):
//
//   47     39 38     30 29     21 20     12 11          0
//   | PML4   | PDPT    | PD      | PT      | page offset |
//
// PDPTEs with PS=1 map 1 GiB pages (bits 29:13 reserved), PDEs with PS=1
// map 2 MiB pages (bits 20:13 reserved); bit 7 of a PML4E is reserved. With
// MAXPHYADDR 52 no address bit is reserved; bits 62:52 are ignored by the
// processor (NT keeps software fields there) and bit 63 is XD.
//
// NT x64 layout: user space 0x10000..0x7FFFFFFEFFFF (a 64 KiB no-access
// guard below the top of the lower canonical half), system space from
// 0xFFFF800000000000.

#include <mmkit/arch/detail/x86_64bit.hpp>

namespace mmkit::arch {

struct x86_64 : detail::x86_64bit_frames<x86_64> {
  using entry_type = std::uint64_t;
  static constexpr const char* name = "x86_64";
  static constexpr unsigned max_phys_bits = 52;
  static constexpr unsigned levels = 4;
  static constexpr level_desc level[levels] = {
      {"PTE", 9, 12, false, true, 0, 0},
      {"PDE", 9, 21, true, true, 0, bit_mask<std::uint64_t>(20, 13)},
      {"PDPTE", 9, 30, true, true, 0, bit_mask<std::uint64_t>(29, 13)},
      {"PML4E", 9, 39, false, true, bit_mask<std::uint64_t>(7, 7), 0},
  };
  static constexpr unsigned va_bits = 48;
  static constexpr bool sign_extended = true;
  static constexpr bool has_nx = true;

  static constexpr std::uint64_t page_size = 0x1000;
  static constexpr std::uint64_t allocation_granularity = 0x10000;
  static constexpr std::uint64_t lowest_user_address = 0x10000;
  static constexpr std::uint64_t highest_user_address = 0x7FFFFFFEFFFF;
  static constexpr std::uint64_t kernel_base = 0xFFFF800000000000;
};
static_assert(PagingArch<x86_64>);

}  // namespace mmkit::arch
