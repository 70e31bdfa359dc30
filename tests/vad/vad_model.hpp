#pragma once
// The obviously right reference for vad_tree tests: a sorted vector of
// inclusive ranges scanned linearly, with 128-bit arithmetic so that nothing
// near the top of the address space can wrap.

#include <mmkit/vad/vad_tree.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace vad_test {

__extension__ typedef unsigned __int128 u128;

/// Address-space profiles: the highest user VPN of each arch's NT layout,
/// plus the whole 52-bit VPN space and the full 64-bit range (overflow).
struct x86_32_space {
  static constexpr std::uint64_t lowest = 0x10;
  static constexpr std::uint64_t highest = 0x7FFEF;
};
struct x86_pae_space : x86_32_space {};
struct x86_64_space {
  static constexpr std::uint64_t lowest = 0x10;
  static constexpr std::uint64_t highest = 0x7FFFFFFEF;
};
struct x86_la57_space {
  static constexpr std::uint64_t lowest = 0x10;
  static constexpr std::uint64_t highest = 0xFFFFFFFFFFF;  // 2^56 B / 4 KiB
};
struct vpn52_space {
  static constexpr std::uint64_t lowest = 0;
  static constexpr std::uint64_t highest = (std::uint64_t{1} << 52) - 1;
};
struct u64_space {
  static constexpr std::uint64_t lowest = 0;
  static constexpr std::uint64_t highest = ~std::uint64_t{0};
};

struct model_range {
  std::uint64_t first;
  std::uint64_t last;
};

class vad_model {
 public:
  bool overlaps_any(std::uint64_t f, std::uint64_t l) const {
    for (const auto& r : ranges_)
      if (r.first <= l && f <= r.last) return true;
    return false;
  }
  std::optional<model_range> first_intersecting(std::uint64_t f,
                                                std::uint64_t l) const {
    for (const auto& r : ranges_)
      if (r.first <= l && f <= r.last) return r;
    return std::nullopt;
  }
  std::optional<model_range> containing(std::uint64_t p) const {
    return first_intersecting(p, p);
  }
  std::optional<model_range> first_at_or_after(std::uint64_t p) const {
    for (const auto& r : ranges_)
      if (r.last >= p) return r;
    return std::nullopt;
  }
  std::optional<model_range> last_before(std::uint64_t p) const {
    std::optional<model_range> best;
    for (const auto& r : ranges_)
      if (r.last < p) best = r;
    return best;
  }
  void insert(std::uint64_t f, std::uint64_t l) {
    ranges_.push_back({f, l});
    std::sort(ranges_.begin(), ranges_.end(),
              [](auto a, auto b) { return a.first < b.first; });
  }
  void erase(std::uint64_t f) {
    ranges_.erase(std::find_if(ranges_.begin(), ranges_.end(),
                               [&](auto r) { return r.first == f; }));
  }
  const std::vector<model_range>& ranges() const { return ranges_; }

  /// Every free gap [lo, hi] of the 64-bit VPN space, in address order.
  std::vector<std::pair<u128, u128>> gaps() const {
    std::vector<std::pair<u128, u128>> g;
    u128 next = 0;
    for (const auto& r : ranges_) {
      if (r.first > next) g.push_back({next, u128{r.first} - 1});
      next = u128{r.last} + 1;
    }
    const u128 top = u128{~std::uint64_t{0}};
    if (next <= top) g.push_back({next, top});
    return g;
  }

  /// The brute-force free-range search: every gap, clipped, tested.
  std::optional<std::uint64_t> find_free(std::uint64_t pages, std::uint64_t wlo,
                                         std::uint64_t whi,
                                         mmkit::search_direction dir,
                                         std::uint64_t align) const {
    auto g = gaps();
    if (dir == mmkit::search_direction::top_down)
      std::reverse(g.begin(), g.end());
    for (auto [glo, ghi] : g) {
      const u128 lo = std::max<u128>(glo, wlo);
      const u128 hi = std::min<u128>(ghi, whi);
      if (lo > hi) continue;
      if (dir == mmkit::search_direction::bottom_up) {
        const u128 a = (lo + align - 1) / align * align;
        if (a + pages - 1 <= hi) return static_cast<std::uint64_t>(a);
      } else {
        if (hi + 1 < lo + pages) continue;
        const u128 a = (hi + 1 - pages) / align * align;
        if (a >= lo) return static_cast<std::uint64_t>(a);
      }
    }
    return std::nullopt;
  }

 private:
  std::vector<model_range> ranges_;
};

}  // namespace vad_test
