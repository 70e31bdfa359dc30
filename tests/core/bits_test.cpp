#include <mmkit/core/bits.hpp>

#include <doctest/doctest.h>

#include <cstdint>

using namespace mmkit;

TEST_SUITE_BEGIN("core");

TEST_CASE("bits: masks and fields over hardware words") {
  static_assert(bit_mask<std::uint64_t>(51, 12) == 0x000F'FFFF'FFFF'F000);
  static_assert(bit_mask<std::uint32_t>(31, 12) == 0xFFFF'F000u);
  static_assert(bit_mask<std::uint64_t>(63, 0) == ~0ull);
  static_assert(bit<std::uint64_t>(63) == 0x8000'0000'0000'0000);
  using frame = bit_field<51, 12>;
  using nx = bit_flag<63>;
  std::uint64_t e = 0;
  e = frame::set(e, 0x12345);
  e = nx::set(e, 1);
  CHECK(e == 0x8000'0000'1234'5000);
  CHECK(frame::get(e) == 0x12345);
  CHECK(nx::get(e) == 1);
  // Values too wide for the field are cut, never spill into neighbours.
  CHECK(bit_field<4, 1>::set(std::uint64_t{0}, 0xFF) == 0x1E);
  CHECK(bit_field<4, 1>::fits(15));
  CHECK_FALSE(bit_field<4, 1>::fits(16));
  CHECK(bit_field<9, 5>::get(std::uint32_t{0x3E0}) == 0x1F);
}

TEST_CASE("bits: select_unpredictable picks like the ternary, any width") {
  int a = 1, b = 2;
  CHECK(select_unpredictable(true, &a, &b) == &a);
  CHECK(select_unpredictable(false, &a, &b) == &b);
  CHECK(select_unpredictable(true, std::uint8_t{0xAB}, std::uint8_t{0x01}) ==
        0xAB);
  CHECK(select_unpredictable(false, std::uint32_t{7}, ~std::uint32_t{0}) ==
        ~std::uint32_t{0});
  CHECK(select_unpredictable(true, ~std::uint64_t{0}, std::uint64_t{0}) ==
        ~std::uint64_t{0});
  const int* null = nullptr;
  CHECK(select_unpredictable(false, static_cast<const int*>(&a), null) ==
        nullptr);
}

TEST_SUITE_END();
