#pragma once
// The leaf-range walk: the PTEs of a VPN range, one leaf table at a time,
// with every missing subtree skipped whole.
//
// A range is cut into spans. A span is either the part of the range inside
// one leaf table (its entries lie side by side there, so the caller steps a
// pointer), or the part inside the region of one upper-level entry that
// holds no table (a missing leaf table, or a missing PDPT under a PML4E:
// every PTE there reads as zero). So a walk over a range costs
// O(leaf tables present + missing subtrees + levels), never O(pages): a
// query of a fresh 64 TiB reservation on x64 meets 128 empty PML4 entries
// and is done.
//
//   range  [============================================================]
//   spans  [leaf table |  gap (no PD)                   | leaf |  gap    ]
//
// The walk only reads. Writers go through paging/pte_writer.hpp, which
// makes the tables a non-zero write needs and keeps the TLB coherent.

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>

#include <cstdint>

namespace mmkit {

/// One span of a leaf-range walk: pages [first, last], and the PTE of
/// `first` in its leaf table, or null when no leaf table covers the span
/// (every PTE reads as zero).
template <class Entry>
struct leaf_span {
  vpn first{};
  vpn last{};
  Entry* entries = nullptr;

  constexpr std::uint64_t count() const noexcept {
    return last.raw() - first.raw() + 1;
  }
  constexpr bool present() const noexcept { return entries != nullptr; }
};

namespace detail {
/// The last page of the span of `p`'s entry at `level` (1: its leaf table),
/// or `cap` when that comes first.
template <arch::PagingArch Arch>
constexpr vpn span_last(vpn p, unsigned level, vpn cap) noexcept {
  const std::uint64_t span_pages = Arch::level[level].span() >> page_shift;
  const std::uint64_t end = p.raw() | (span_pages - 1);
  return vpn{end < cap.raw() ? end : cap.raw()};
}
}  // namespace detail

/// Calls f(leaf_span) for the spans of [r.first, r.last] in order, until f
/// returns false. `table` is a page_table (its probe_leaf). f may read and
/// write the entries of a present span through the pointer only if it keeps
/// use counts and the TLB right itself (pte_writer does that); the walk
/// reads nothing after f returns but the next span's probe.
/// Complexity: O(levels) per span.
template <arch::PagingArch Arch, class Table, class F>
void for_each_leaf_span(Table& table, vpn_range r, F&& f) noexcept {
  using entry_type = typename Arch::entry_type;
  vpn p = r.first;
  while (true) {
    const auto probe = table.probe_leaf(p.address());
    // A leaf table covers the span of the level-1 entry that references
    // it; a gap at level L covers the span of that level's entry.
    const vpn last =
        detail::span_last<Arch>(p, probe.leaf ? 1 : probe.gap_level, r.last);
    entry_type* entries = probe.leaf ? probe.leaf.entry : nullptr;
    if (!f(leaf_span<entry_type>{p, last, entries})) return;
    if (last == r.last) return;
    p = last + 1;
  }
}

}  // namespace mmkit
