#pragma once
// The frame codec shared by the three formats with 64-bit entries (PAE,
// 4-level and 5-level paging): a table or 4 KiB page address sits in bits
// MAXPHYADDR-1..12, a large page's address in bits MAXPHYADDR-1..shift (the
// bits below shift hold PAT at bit 12 and reserved bits, SDM 4.4 and 4.5).

#include <mmkit/arch/paging_arch.hpp>

namespace mmkit::arch::detail {

template <unsigned MaxPhysBits, const level_desc* Levels>
struct x86_64bit_frames {
  static constexpr std::uint64_t address_mask =
      bit_mask<std::uint64_t>(MaxPhysBits - 1, 12);

  static constexpr std::uint64_t frame_address(std::uint64_t e) noexcept {
    return e & address_mask;
  }
  static constexpr std::uint64_t large_frame_address(std::uint64_t e,
                                                     unsigned level) noexcept {
    return e & bit_mask<std::uint64_t>(MaxPhysBits - 1, Levels[level].shift);
  }
  static constexpr std::uint64_t encode_frame(std::uint64_t pa) noexcept {
    return pa & address_mask;
  }
  static constexpr std::uint64_t encode_large_frame(std::uint64_t pa,
                                                    unsigned level) noexcept {
    return pa & bit_mask<std::uint64_t>(MaxPhysBits - 1, Levels[level].shift);
  }
};

}  // namespace mmkit::arch::detail
