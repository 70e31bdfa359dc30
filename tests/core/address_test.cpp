#include <mmkit/core/address.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

using namespace mmkit;

TEST_SUITE_BEGIN("core");

TEST_CASE("address: strong types convert only when asked") {
  constexpr vaddr va{0x7FFE'0123};
  static_assert(va.page() == vpn{0x7FFE0});
  static_assert(va.page_offset() == 0x123);
  static_assert(vpn{0x7FFE0}.address() == vaddr{0x7FFE'0000});
  static_assert(pfn{5}.address() == paddr{0x5000});
  static_assert(paddr{0x5FFF}.frame() == pfn{5});
  static_assert(!std::is_convertible_v<vaddr, paddr>);
  static_assert(!std::is_convertible_v<vpn, pfn>);
  static_assert(!std::is_convertible_v<std::uint64_t, vaddr>);
  CHECK(vaddr{0x2000} - vaddr{0x1000} == 0x1000);
  CHECK(vaddr{0x1000} + 0x10 == vaddr{0x1010});
  vpn v{9};
  ++v;
  CHECK(v == vpn{10});
  CHECK(vpn{3} < vpn{4});
}

TEST_CASE("address: page and granularity rounding") {
  // NtAllocateVirtualMemory's reservation example: base 0x50001010,
  // size 0xC000 -> base 0x50000000, end 0x5000E000.
  CHECK(granularity_align_down(vaddr{0x50001010}) == vaddr{0x50000000});
  CHECK(*align_up(0x50001010 + 0xC000, page_size) == 0x5000E000);
  CHECK(page_align_down(vaddr{0x1FFF}) == vaddr{0x1000});
  CHECK(page_align_up(vaddr{0x1001})->raw() == 0x2000);
  CHECK(page_align_up(vaddr{0x1000})->raw() == 0x1000);
  CHECK(*align_up(0, page_size) == 0);
  CHECK(is_aligned(0x10000, allocation_granularity));
  CHECK_FALSE(is_aligned(0x11000, allocation_granularity));
  CHECK(is_power_of_two(1));
  CHECK_FALSE(is_power_of_two(0));
  CHECK_FALSE(is_power_of_two(0x3000));
}

TEST_CASE("address: rounding at the top of the address space never wraps") {
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  // The last page of a 64-bit space rounds down fine but cannot round up.
  CHECK(align_down(max, page_size) == 0xFFFF'FFFF'FFFF'F000);
  CHECK(align_up(max, page_size).error() == status::integer_overflow);
  CHECK(align_up(0xFFFF'FFFF'FFFF'F001, page_size).error() ==
        status::integer_overflow);
  CHECK(*align_up(0xFFFF'FFFF'FFFF'F000, page_size) == 0xFFFF'FFFF'FFFF'F000);
  // A 32-bit space: rounding past 4 GiB is an overflow, not 0.
  constexpr std::uint64_t top32 = 0xFFFF'FFFF;
  CHECK(align_up(0xFFFF'F001, page_size, top32).error() ==
        status::integer_overflow);
  CHECK(*align_up(0xFFFF'E001, page_size, top32) == 0xFFFF'F000);
  CHECK(checked_add(0xFFFF'F000, 0x1000, top32).error() ==
        status::integer_overflow);
  CHECK(*checked_add(0xFFFF'E000, 0x1000, top32) == 0xFFFF'F000);
  CHECK(checked_add(max, 1).error() == status::integer_overflow);
  CHECK(page_align_up(vaddr{max}).error() == status::integer_overflow);
}

TEST_CASE("address: pages spanned counts partial pages at both ends") {
  CHECK(*pages_spanned(vaddr{0x1000}, 0) == 0);
  CHECK(*pages_spanned(vaddr{0x1000}, 1) == 1);
  CHECK(*pages_spanned(vaddr{0x1FFF}, 2) == 2);
  CHECK(*pages_spanned(vaddr{0x1000}, 0x2000) == 2);
  CHECK(*pages_spanned(vaddr{0x50001010}, 0xC000) == 13);
  CHECK(pages_spanned(vaddr{0xFFFF'FFFF'FFFF'F000}, 0x2000).error() ==
        status::integer_overflow);
  CHECK(*pages_spanned(vaddr{0xFFFF'FFFF'FFFF'F000}, 0x1000) == 1);
}

TEST_CASE("address: inclusive and half-open ranges") {
  constexpr vpn_range r{vpn{0x10}, vpn{0x1F}};
  static_assert(r.count() == 16);
  CHECK(r.contains(vpn{0x10}));
  CHECK(r.contains(vpn{0x1F}));
  CHECK_FALSE(r.contains(vpn{0x20}));
  CHECK(r.overlaps(vpn_range{vpn{0x1F}, vpn{0x30}}));
  CHECK_FALSE(r.overlaps(vpn_range{vpn{0x20}, vpn{0x30}}));
  CHECK(r.contains(vpn_range{vpn{0x11}, vpn{0x12}}));
  // An inclusive range can end at the very top of a space.
  constexpr inclusive_range<std::uint64_t> top{
      0xFFFF'FFFF'FFFF'F000, std::numeric_limits<std::uint64_t>::max()};
  CHECK(top.count() == 0x1000);

  constexpr vaddr_range h{vaddr{0x1000}, vaddr{0x3000}};
  CHECK(h.size() == 0x2000);
  CHECK(h.contains(vaddr{0x2FFF}));
  CHECK_FALSE(h.contains(vaddr{0x3000}));
  CHECK_FALSE(h.overlaps(vaddr_range{vaddr{0x3000}, vaddr{0x4000}}));
  CHECK(vaddr_range{vaddr{5}, vaddr{5}}.empty());
  CHECK(vaddr_range{vaddr{6}, vaddr{5}}.size() == 0);
}

TEST_SUITE_END();
