#pragma once
// Bit-field helpers for hardware words: page-table entries, software PTEs and
// PFN flags are encoded and decoded with these over the raw integer, never
// with C++ bit-fields (whose layout is implementation-defined).
//
// A field is named by its highest and lowest bit, high bit first as the
// Intel SDM draws its tables: bit_field<51, 12> is the frame address of a
// 64-bit paging entry.

#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace mmkit {

/// A mask of bits hi..lo (inclusive) in a word of type W.
template <std::unsigned_integral W = std::uint64_t>
constexpr W bit_mask(unsigned hi, unsigned lo) noexcept {
  constexpr unsigned width = std::numeric_limits<W>::digits;
  const unsigned n = hi - lo + 1;
  const W ones = n >= width ? ~W{0} : static_cast<W>((W{1} << n) - 1);
  return static_cast<W>(ones << lo);
}

/// `c ? if_true : if_false` computed without a branch. For selects whose
/// condition is a coin toss (which child a tree descent takes for a random
/// key), where a mispredicted branch costs more than computing both sides.
/// GCC and Clang get it as mask arithmetic over both values (compare, sbb,
/// and, xor): GCC turns a plain ternary over two loaded pointers back into
/// a branch, and Clang, told the branch is unpredictable, selects the
/// address and loads after the select, a second load on a descent's
/// critical path. Other compilers get the ternary.
template <class T>
inline T select_unpredictable(bool c, T if_true, T if_false) noexcept {
  static_assert(std::is_trivially_copyable_v<T> &&
                sizeof(T) <= sizeof(std::uintptr_t));
#if defined(__GNUC__)
  std::uintptr_t t = 0, f = 0;
  __builtin_memcpy(&t, &if_true, sizeof(T));
  __builtin_memcpy(&f, &if_false, sizeof(T));
  const std::uintptr_t m = std::uintptr_t{0} - c;
  const std::uintptr_t r = f ^ ((f ^ t) & m);
  T out;
  __builtin_memcpy(&out, &r, sizeof(T));
  return out;
#else
  return c ? if_true : if_false;
#endif
}

/// The single bit `n` of a word of type W.
template <std::unsigned_integral W = std::uint64_t>
constexpr W bit(unsigned n) noexcept {
  return static_cast<W>(W{1} << n);
}

/// The bits hi..lo of a word, as a compile-time field.
template <unsigned Hi, unsigned Lo>
struct bit_field {
  static_assert(Hi >= Lo && Hi < 64, "a field is bits Hi..Lo of a word");
  static constexpr unsigned hi = Hi;
  static constexpr unsigned lo = Lo;
  static constexpr unsigned width = Hi - Lo + 1;

  template <std::unsigned_integral W>
  static constexpr W mask() noexcept {
    static_assert(Hi < std::numeric_limits<W>::digits, "field beyond word");
    return bit_mask<W>(Hi, Lo);
  }
  /// The field's value, shifted down to bit 0.
  template <std::unsigned_integral W>
  static constexpr W get(W word) noexcept {
    return static_cast<W>((word & mask<W>()) >> Lo);
  }
  /// `word` with the field replaced by `value` (extra high bits of `value`
  /// are dropped).
  template <std::unsigned_integral W>
  static constexpr W set(W word, std::uint64_t value) noexcept {
    return static_cast<W>((word & ~mask<W>()) |
                          (static_cast<W>(value << Lo) & mask<W>()));
  }
  /// Whether `value` fits in the field.
  static constexpr bool fits(std::uint64_t value) noexcept {
    return width >= 64 || value < (std::uint64_t{1} << width);
  }
};

/// A one-bit field.
template <unsigned N>
using bit_flag = bit_field<N, N>;

}  // namespace mmkit
