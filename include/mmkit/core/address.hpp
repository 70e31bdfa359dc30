#pragma once
// Strong address types and page arithmetic.
//
// Four kinds of number flow through a memory manager and mixing them up is
// the classic bug: a virtual address (vaddr), a physical address (paddr), a
// virtual page number (vpn = vaddr >> 12) and a physical frame number
// (pfn = paddr >> 12). Each is its own type here; converting between them is
// always spelled out.
//
// Rounding never wraps: align_up() of an address near the top of the address
// space reports status::integer_overflow instead of returning a small number,
// which is how "base 0xFFFFF000, size 0x2000" style arguments are caught.

#include <mmkit/core/result.hpp>

#include <compare>
#include <cstdint>
#include <limits>

namespace mmkit {

/// Every arch mmkit models uses 4 KiB base pages.
inline constexpr unsigned page_shift = 12;
inline constexpr std::uint64_t page_size = std::uint64_t{1} << page_shift;
inline constexpr std::uint64_t page_offset_mask = page_size - 1;
/// NT reserves address space in 64 KiB units (allocation granularity).
inline constexpr std::uint64_t allocation_granularity = 0x10000;

namespace detail {

/// A 64-bit number with a type of its own: explicit in, explicit out,
/// ordered, and with the arithmetic an address kind needs.
template <class Derived>
struct strong_u64 {
  std::uint64_t value = 0;

  constexpr strong_u64() noexcept = default;
  constexpr explicit strong_u64(std::uint64_t v) noexcept : value(v) {}

  constexpr std::uint64_t raw() const noexcept { return value; }

  friend constexpr bool operator==(Derived a, Derived b) noexcept {
    return a.value == b.value;
  }
  friend constexpr auto operator<=>(Derived a, Derived b) noexcept {
    return a.value <=> b.value;
  }
  friend constexpr Derived operator+(Derived a, std::uint64_t n) noexcept {
    return Derived{a.value + n};
  }
  friend constexpr Derived operator-(Derived a, std::uint64_t n) noexcept {
    return Derived{a.value - n};
  }
  /// The distance between two values of one kind.
  friend constexpr std::uint64_t operator-(Derived a, Derived b) noexcept {
    return a.value - b.value;
  }
  constexpr Derived& operator+=(std::uint64_t n) noexcept {
    value += n;
    return static_cast<Derived&>(*this);
  }
  constexpr Derived& operator-=(std::uint64_t n) noexcept {
    value -= n;
    return static_cast<Derived&>(*this);
  }
  constexpr Derived& operator++() noexcept {
    ++value;
    return static_cast<Derived&>(*this);
  }
  constexpr Derived& operator--() noexcept {
    --value;
    return static_cast<Derived&>(*this);
  }
};

}  // namespace detail

struct vpn;
struct pfn;

/// A virtual address.
struct vaddr : detail::strong_u64<vaddr> {
  using strong_u64::strong_u64;
  constexpr mmkit::vpn page() const noexcept;
  constexpr std::uint64_t page_offset() const noexcept {
    return value & page_offset_mask;
  }
};

/// A physical address.
struct paddr : detail::strong_u64<paddr> {
  using strong_u64::strong_u64;
  constexpr mmkit::pfn frame() const noexcept;
  constexpr std::uint64_t page_offset() const noexcept {
    return value & page_offset_mask;
  }
};

/// A virtual page number: a vaddr shifted right by page_shift.
struct vpn : detail::strong_u64<vpn> {
  using strong_u64::strong_u64;
  constexpr vaddr address() const noexcept {
    return vaddr{value << page_shift};
  }
};

/// A physical frame number: a paddr shifted right by page_shift.
struct pfn : detail::strong_u64<pfn> {
  using strong_u64::strong_u64;
  constexpr paddr address() const noexcept {
    return paddr{value << page_shift};
  }
};

constexpr vpn vaddr::page() const noexcept {
  return vpn{value >> page_shift};
}
constexpr pfn paddr::frame() const noexcept {
  return pfn{value >> page_shift};
}

// --- rounding -------------------------------------------------------------

/// Whether `alignment` is a power of two (zero is not).
constexpr bool is_power_of_two(std::uint64_t alignment) noexcept {
  return alignment != 0 && (alignment & (alignment - 1)) == 0;
}

/// Requires: `alignment` is a power of two.
/// Returns: `v` rounded down to a multiple of `alignment`.
constexpr std::uint64_t align_down(std::uint64_t v,
                                   std::uint64_t alignment) noexcept {
  MMKIT_ASSERT(is_power_of_two(alignment));
  return v & ~(alignment - 1);
}

/// Requires: `alignment` is a power of two.
/// Returns: `v` rounded up to a multiple of `alignment`, or
/// status::integer_overflow when that multiple exceeds `limit` (by default
/// the largest 64-bit value: rounding never wraps around to zero).
constexpr result<std::uint64_t> align_up(
    std::uint64_t v, std::uint64_t alignment,
    std::uint64_t limit = std::numeric_limits<std::uint64_t>::max()) noexcept {
  MMKIT_ASSERT(is_power_of_two(alignment));
  const std::uint64_t down = v & ~(alignment - 1);
  if (down == v) {
    if (v > limit) return status::integer_overflow;
    return v;
  }
  if (down > std::numeric_limits<std::uint64_t>::max() - alignment)
    return status::integer_overflow;
  const std::uint64_t up = down + alignment;
  if (up > limit) return status::integer_overflow;
  return up;
}

constexpr bool is_aligned(std::uint64_t v, std::uint64_t alignment) noexcept {
  MMKIT_ASSERT(is_power_of_two(alignment));
  return (v & (alignment - 1)) == 0;
}

/// `a + b`, or status::integer_overflow when the sum exceeds `limit`.
constexpr result<std::uint64_t> checked_add(
    std::uint64_t a, std::uint64_t b,
    std::uint64_t limit = std::numeric_limits<std::uint64_t>::max()) noexcept {
  if (b > std::numeric_limits<std::uint64_t>::max() - a)
    return status::integer_overflow;
  if (a + b > limit) return status::integer_overflow;
  return a + b;
}

constexpr vaddr page_align_down(vaddr a) noexcept {
  return vaddr{align_down(a.value, page_size)};
}
constexpr result<vaddr> page_align_up(
    vaddr a,
    std::uint64_t limit = std::numeric_limits<std::uint64_t>::max()) noexcept {
  auto r = align_up(a.value, page_size, limit);
  if (!r) return r.error();
  return vaddr{*r};
}
constexpr vaddr granularity_align_down(vaddr a) noexcept {
  return vaddr{align_down(a.value, allocation_granularity)};
}

/// The number of pages that cover [`first`, `first` + `bytes`), counting
/// partial pages at either end; integer_overflow when the end wraps.
constexpr result<std::uint64_t> pages_spanned(vaddr first,
                                              std::uint64_t bytes) noexcept {
  if (bytes == 0) return std::uint64_t{0};
  // Work with the inclusive last byte so a range ending at the very top of
  // the space (whose exclusive end would be 2^64) still counts.
  auto last = checked_add(first.value, bytes - 1);
  if (!last) return last.error();
  const std::uint64_t last_page = *last >> page_shift;
  return last_page - (first.value >> page_shift) + 1;
}

// --- ranges ---------------------------------------------------------------

/// A closed range [first, last]: both ends belong to it. This is how MMVAD
/// keeps StartingVpn/EndingVpn, and the only form that can name a range
/// ending at the very top of a space.
template <class T>
struct inclusive_range {
  T first{};
  T last{};

  constexpr bool contains(T x) const noexcept {
    return first <= x && x <= last;
  }
  constexpr bool overlaps(const inclusive_range& o) const noexcept {
    return first <= o.last && o.first <= last;
  }
  constexpr bool contains(const inclusive_range& o) const noexcept {
    return first <= o.first && o.last <= last;
  }
  /// The number of values in the range (last - first + 1).
  constexpr std::uint64_t count() const noexcept { return (last - first) + 1; }
  friend constexpr bool operator==(const inclusive_range&,
                                   const inclusive_range&) = default;
};

/// A half-open range [begin, end): `end` is one past the last element.
template <class T>
struct half_open_range {
  T begin{};
  T end{};

  constexpr bool empty() const noexcept { return !(begin < end); }
  constexpr bool contains(T x) const noexcept { return begin <= x && x < end; }
  constexpr bool overlaps(const half_open_range& o) const noexcept {
    return begin < o.end && o.begin < end;
  }
  constexpr std::uint64_t size() const noexcept {
    return empty() ? 0 : end - begin;
  }
  friend constexpr bool operator==(const half_open_range&,
                                   const half_open_range&) = default;
};

using vpn_range = inclusive_range<vpn>;
using pfn_range = inclusive_range<pfn>;
using vaddr_range = half_open_range<vaddr>;
using paddr_range = half_open_range<paddr>;

}  // namespace mmkit
