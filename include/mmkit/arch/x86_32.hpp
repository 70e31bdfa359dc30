#pragma once
// arch::x86_32: 32-bit paging (Intel SDM vol. 3A, 4.3 "32-Bit Paging") with
// CR4.PSE=1, as NT runs a non-PAE x86 kernel.
//
// Two levels of 1024 32-bit entries translate a 32-bit address:
//
//   31        22 21        12 11           0
//   | PDE index | PTE index  | page offset  |
//
// A PDE with PS=1 maps a 4 MiB page. With PSE-36 its bits 20:13 hold
// physical-address bits 39:32 (so MAXPHYADDR is 40 here) and bit 21 is
// reserved; 4 KiB PTEs and table-referencing PDEs have no reserved bits.
// There is no XD bit: every present page is executable.

#include <mmkit/arch/paging_arch.hpp>

namespace mmkit::arch {

struct x86_32 {
  using entry_type = std::uint32_t;
  static constexpr const char* name = "x86_32";
  static constexpr unsigned levels = 2;
  static constexpr level_desc level[levels] = {
      {"PTE", 10, 12, false, true, 0, 0},
      // SDM Table 4-4 (4 MiB PDE): bit 21 reserved with MAXPHYADDR 40.
      {"PDE", 10, 22, true, true, 0, bit_mask<std::uint64_t>(21, 21)},
  };
  static constexpr unsigned va_bits = 32;
  static constexpr bool sign_extended = false;
  static constexpr unsigned max_phys_bits = 40;
  static constexpr bool has_nx = false;

  static constexpr std::uint64_t page_size = 0x1000;
  static constexpr std::uint64_t allocation_granularity = 0x10000;
  static constexpr std::uint64_t lowest_user_address = 0x10000;
  static constexpr std::uint64_t highest_user_address = 0x7FFEFFFF;
  static constexpr std::uint64_t kernel_base = 0x80000000;

  static constexpr std::uint64_t frame_address(entry_type e) noexcept {
    return e & 0xFFFFF000u;
  }
  /// PSE-36: address bits 31:22 in place, bits 39:32 from entry bits 20:13.
  static constexpr std::uint64_t large_frame_address(entry_type e,
                                                     unsigned) noexcept {
    return (e & 0xFFC00000u) | (std::uint64_t{(e >> 13) & 0xFFu} << 32);
  }
  static constexpr entry_type encode_frame(std::uint64_t pa) noexcept {
    return static_cast<entry_type>(pa & 0xFFFFF000u);
  }
  static constexpr entry_type encode_large_frame(std::uint64_t pa,
                                                 unsigned) noexcept {
    return static_cast<entry_type>((pa & 0xFFC00000u) |
                                   (((pa >> 32) & 0xFFu) << 13));
  }
};
static_assert(PagingArch<x86_32>);

}  // namespace mmkit::arch
