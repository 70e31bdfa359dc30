#pragma once
// fault_counts: how faults were resolved, counted by kind, per address
// space and (summed) per system.
//
// A space counts its faults under its own lock and publishes the counts
// after each fault (publish_counts); the system sums what its spaces
// published (read_published) under the PFN lock, which a space's fault
// need not take: the published copy is written and read with relaxed
// atomic accesses, plain moves on x86.

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

/// The counts' fields, for the two calls below.
inline constexpr std::uint64_t fault_counts::*fault_count_fields[] = {
    &fault_counts::demand_zero,
    &fault_counts::zeroed_on_the_spot,
    &fault_counts::soft,
    &fault_counts::guard_page,
    &fault_counts::access_violation,
    &fault_counts::table_pages,
    &fault_counts::copy_on_write,
    &fault_counts::shared,
    &fault_counts::hard};
static_assert(sizeof(fault_count_fields) / sizeof(fault_count_fields[0]) *
                  sizeof(std::uint64_t) ==
              sizeof(fault_counts));

/// Effects: `published` becomes `counts`, field by field, with relaxed
/// atomic stores (its one writer: the space, after a fault). A field that
/// is the same already is not written.
inline void publish_counts(fault_counts& published,
                           const fault_counts& counts) noexcept {
  for (auto field : fault_count_fields)
    if (published.*field != counts.*field)
      __atomic_store_n(&(published.*field), counts.*field, __ATOMIC_RELAXED);
}

/// `published` read with relaxed atomic loads (by any thread).
inline fault_counts read_published(const fault_counts& published) noexcept {
  fault_counts c;
  for (auto field : fault_count_fields)
    c.*field = __atomic_load_n(&(published.*field), __ATOMIC_RELAXED);
  return c;
}

}  // namespace mmkit
