#pragma once
// The free-range search over vad_tree's gap aggregates: the lowest or
// highest range of a given size and alignment inside a [lo, hi] window
// that touches no VAD (NtAllocateVirtualMemory with no base: ZeroBits,
// MEM_ADDRESS_REQUIREMENTS, MEM_TOP_DOWN), in O(log n).
//
// Every peer except Linux walks the regions one by one (NT's
// MiFindEmptyAddressRangeInTree does). Here each node records the fit of
// each of its subtrees, fit(c): the largest own fit (granule-aligned pages
// of one gap) in c's subtree (vad.hpp), and the search descends only where
// a fit is large enough:
//
//                 [x: 40..4f, gap 0x20]          child_fit {0x10, 0x40}
//                  /                   \         fit(x) = 0x40
//   [10..1f, gap 0x10]            [90..9f, gap 0x40]
//    child_fit {0, 0}              child_fit {0, 0}
//
// A request is (pages s, alignment A = 2^k >= 16 pages, window [lo, hi],
// direction). Every result starts on a 16-page boundary, so a gap holds an
// A-aligned fit only if it holds a 16-aligned one, i.e. only if its own fit
// is >= s. fit(c) < s therefore proves that no gap of c's subtree fits, and
// the search skips c without reading it; this pruning never loses an
// answer. Every gap the search does visit is tested exactly (clipped to the
// window, aligned to A, overflow-checked), so it never returns a range that
// does not fit. For A = 16 (NT's allocation granularity: every
// VirtualAlloc, MapViewOfFile and image load) fit >= s is also sufficient,
// so a subtree that passes it and lies inside the window always yields the
// answer: the search visits O(log n) nodes (those along the two window
// boundaries plus one descent). For a larger A a gap can hold a 16-aligned
// fit and still miss every A-aligned one; such "unlucky" gaps are visited
// and rejected, so the cost is O((1 + u) log n) where u counts the unlucky
// gaps below (bottom-up) or above (top-down) the answer. A gap of own fit
// >= s + A - 16 is never unlucky. This is the price of one aggregate
// rather than one per alignment; the answer is exact either way. Fields
// saturate at fit_saturation; a request at least that large treats a
// saturated field as "may fit" and tests the gaps.

#include <mmkit/core/address.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/vad/vad.hpp>

#include <cstdint>

namespace mmkit {

/// Which end of a window a free-range search prefers.
enum class search_direction : std::uint8_t {
  bottom_up,  // the lowest fitting range (NT's default)
  top_down,   // the highest fitting range (MEM_TOP_DOWN)
};

/// The allocation granularity in pages (64 KiB / 4 KiB = 16): the alignment
/// the fit aggregate is exact for and the least a search may ask for.
inline constexpr std::uint64_t granularity_pages =
    allocation_granularity / page_size;

namespace detail {

/// One search: `pages` pages aligned to `align`, inside [lo, hi]. `need` is
/// `pages` saturated like the fields.
struct free_range_request {
  std::uint64_t pages;
  std::uint64_t align;
  std::uint64_t lo;
  std::uint64_t hi;
  std::uint32_t need;
};

/// A search's answer: the first VPN, and the node whose gap holds it (null:
/// the free space above the highest VAD, which belongs to no node).
struct free_range_hit {
  std::uint64_t first = 0;
  const vad_links* owner = nullptr;
};

/// The lowest aligned fit in the gap [glo, ghi] clipped to the window.
constexpr bool fit_up(std::uint64_t glo, std::uint64_t ghi,
                      const free_range_request& q,
                      std::uint64_t& out) noexcept {
  const std::uint64_t lo = glo > q.lo ? glo : q.lo;
  const std::uint64_t hi = ghi < q.hi ? ghi : q.hi;
  if (lo > hi || lo > ~std::uint64_t{0} - (q.align - 1)) return false;
  const std::uint64_t a = (lo + q.align - 1) & ~(q.align - 1);
  if (a > hi || hi - a < q.pages - 1) return false;
  out = a;
  return true;
}
/// The highest aligned fit in the gap [glo, ghi] clipped to the window.
constexpr bool fit_down(std::uint64_t glo, std::uint64_t ghi,
                        const free_range_request& q,
                        std::uint64_t& out) noexcept {
  const std::uint64_t lo = glo > q.lo ? glo : q.lo;
  const std::uint64_t hi = ghi < q.hi ? ghi : q.hi;
  if (lo > hi || hi - lo < q.pages - 1) return false;
  const std::uint64_t a = (hi - (q.pages - 1)) & ~(q.align - 1);
  if (a < lo) return false;
  out = a;
  return true;
}

/// The free pages of [lo, hi] that start on a 16-page boundary (the own fit
/// of a gap, for the checker).
constexpr std::uint64_t granule_fit(std::uint64_t lo,
                                    std::uint64_t hi) noexcept {
  if (lo > ~std::uint64_t{0} - (granularity_pages - 1)) return 0;
  const std::uint64_t a =
      (lo + granularity_pages - 1) & ~(granularity_pages - 1);
  return a <= hi ? hi - a + 1 : 0;
}

inline const vad& vad_of(const vad_links* n) noexcept {
  return *static_cast<const vad*>(n);
}

// In order over the gaps of x's subtree: the left subtree (all below x's
// gap), x's own gap [start - gap_before, start - 1], the right subtree (all
// above x's end). A subtree is skipped, unread, when x's field for it
// proves that no gap of it fits, or when it lies outside the window. The
// recursion is as deep as the tree (at most 1.44 log2 n levels).

/// The lowest fit in x's subtree.
inline bool search_up(const vad_links* x, const free_range_request& q,
                      free_range_hit& out) noexcept {
  using f = vad_fields;
  const vad& v = vad_of(x);
  const std::uint64_t s = f::start(v);
  const std::uint64_t glo = s - f::gap(v);
  if (f::child_fit(v, 0) >= q.need && q.lo < glo &&
      search_up(vad_node_traits::get_left(x), q, out))
    return true;
  if (glo > q.hi) return false;
  if (f::gap(v) != 0 && fit_up(glo, s - 1, q, out.first)) {
    out.owner = x;
    return true;
  }
  return f::child_fit(v, 1) >= q.need && f::end(v) < q.hi &&
         search_up(vad_node_traits::get_right(x), q, out);
}

/// The highest fit in x's subtree.
inline bool search_down(const vad_links* x, const free_range_request& q,
                        free_range_hit& out) noexcept {
  using f = vad_fields;
  const vad& v = vad_of(x);
  const std::uint64_t s = f::start(v);
  const std::uint64_t glo = s - f::gap(v);
  if (f::child_fit(v, 1) >= q.need && f::end(v) < q.hi &&
      search_down(vad_node_traits::get_right(x), q, out))
    return true;
  if (s == 0 || s - 1 < q.lo) return false;
  if (f::gap(v) != 0 && fit_down(glo, s - 1, q, out.first)) {
    out.owner = x;
    return true;
  }
  return f::child_fit(v, 0) >= q.need && q.lo < glo &&
         search_down(vad_node_traits::get_left(x), q, out);
}

/// Fills `q` with the request for `pages` pages at `alignment` in
/// `window`, never below `floor`. Returns status::invalid_parameter for a
/// malformed request and status::no_memory for a window wholly below the
/// floor.
constexpr status make_free_range_request(std::uint64_t pages, vpn_range window,
                                         std::uint64_t alignment,
                                         std::uint64_t floor,
                                         free_range_request& q) noexcept {
  if (pages == 0 || !is_power_of_two(alignment) ||
      alignment < granularity_pages || window.last < window.first)
    return status::invalid_parameter;
  const std::uint64_t lo =
      window.first.raw() > floor ? window.first.raw() : floor;
  if (lo > window.last.raw()) return status::no_memory;
  q = {pages, alignment, lo, window.last.raw(), saturate_fit(pages)};
  return status::success;
}

/// The whole search over a tree with root `root` and highest VAD `highest`
/// (both null when empty): the gaps below each VAD, and the free space
/// above the highest one. Returns whether a range fits, and where in `out`.
inline bool find_free(const vad_links* root, const vad* highest,
                      const free_range_request& q, search_direction dir,
                      free_range_hit& out) noexcept {
  // The space above the highest VAD: none when it ends at 2^64 - 1.
  const std::uint64_t top = highest ? vad_fields::end(*highest) : 0;
  const bool has_tail = !highest || top != ~std::uint64_t{0};
  const std::uint64_t tail_lo = highest ? top + 1 : 0;
  const bool in_tree = root && vad_fields::fit(vad_of(root)) >= q.need;
  out.owner = nullptr;
  if (dir == search_direction::bottom_up)
    return (in_tree && search_up(root, q, out)) ||
           (has_tail && fit_up(tail_lo, ~std::uint64_t{0}, q, out.first));
  return (has_tail && fit_down(tail_lo, ~std::uint64_t{0}, q, out.first)) ||
         (in_tree && search_down(root, q, out));
}

}  // namespace detail
}  // namespace mmkit
