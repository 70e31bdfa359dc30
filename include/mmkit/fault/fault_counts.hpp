#pragma once
// fault_counts: how faults were resolved, counted by kind, per address
// space and (summed) per system.

#include <cstdint>

namespace mmkit {

/// How faults were resolved, counted by kind (as MmAccessFault's callers
/// see them).
struct fault_counts {
  std::uint64_t demand_zero = 0;         // a zeroed frame was supplied
  std::uint64_t zeroed_on_the_spot = 0;  // ... which had to be cleared then
  std::uint64_t soft = 0;                // the frame was still resident
  std::uint64_t guard_page = 0;          // guard_page_violation raised
  std::uint64_t access_violation = 0;    // access_violation raised
  std::uint64_t table_pages = 0;         // page-table pages allocated
  std::uint64_t copy_on_write = 0;       // a private copy was made
  std::uint64_t shared = 0;  // a section page another view brought in
  std::uint64_t hard = 0;    // read from a page file or a mapped file

  friend constexpr bool operator==(const fault_counts&,
                                   const fault_counts&) = default;
};

/// Adds `b`'s counts to `a`'s.
constexpr fault_counts& operator+=(fault_counts& a,
                                   const fault_counts& b) noexcept {
  a.demand_zero += b.demand_zero;
  a.zeroed_on_the_spot += b.zeroed_on_the_spot;
  a.soft += b.soft;
  a.guard_page += b.guard_page;
  a.access_violation += b.access_violation;
  a.table_pages += b.table_pages;
  a.copy_on_write += b.copy_on_write;
  a.shared += b.shared;
  a.hard += b.hard;
  return a;
}

/// The counts of `a` less those of `b` (what happened between two copies).
constexpr fault_counts operator-(fault_counts a,
                                 const fault_counts& b) noexcept {
  a.demand_zero -= b.demand_zero;
  a.zeroed_on_the_spot -= b.zeroed_on_the_spot;
  a.soft -= b.soft;
  a.guard_page -= b.guard_page;
  a.access_violation -= b.access_violation;
  a.table_pages -= b.table_pages;
  a.copy_on_write -= b.copy_on_write;
  a.shared -= b.shared;
  a.hard -= b.hard;
  return a;
}

}  // namespace mmkit
