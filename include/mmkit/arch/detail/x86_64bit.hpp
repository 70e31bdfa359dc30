#pragma once
// The frame codec shared by the three formats with 64-bit entries (PAE,
// 4-level and 5-level paging): a table or 4 KiB page address sits in bits
// MAXPHYADDR-1..12, a large page's address in bits MAXPHYADDR-1..shift (the
// bits below shift hold PAT at bit 12 and reserved bits, SDM 4.4 and 4.5).

#include <mmkit/arch/paging_arch.hpp>

namespace mmkit::arch::detail {

/// The frame half of a PagingArch model, as a base of the arch itself
/// (CRTP): the functions read Arch::max_phys_bits and Arch::level only when
/// called, once the arch is complete.
template <class Arch>
struct x86_64bit_frames {
  static constexpr std::uint64_t frame_address(std::uint64_t e) noexcept {
    return e & bit_mask<std::uint64_t>(Arch::max_phys_bits - 1, 12);
  }
  static constexpr std::uint64_t large_frame_address(std::uint64_t e,
                                                     unsigned level) noexcept {
    return e & bit_mask<std::uint64_t>(Arch::max_phys_bits - 1,
                                       Arch::level[level].shift);
  }
  static constexpr std::uint64_t encode_frame(std::uint64_t pa) noexcept {
    return frame_address(pa);
  }
  static constexpr std::uint64_t encode_large_frame(std::uint64_t pa,
                                                    unsigned level) noexcept {
    return large_frame_address(pa, level);
  }
};

}  // namespace mmkit::arch::detail
