#pragma once
// The fault handlers, one per kind of PTE (the dispatcher in
// fault/dispatcher.hpp picks one), and the counts they keep.
//
//   handle_guard          one-shot guard page: the guard is lifted and
//                         guard_page_violation raised; the retried access
//                         proceeds
//   handle_demand_zero    a zeroed frame (zeroed on the spot when the
//                         zeroed list is empty), made valid
//   handle_transition     soft fault: the frame is still in memory (active
//                         behind a NOACCESS/GUARD PTE, or on the standby or
//                         modified list after a trim) and is made valid
//   handle_page_file      hard fault: the pager issue reads the page in
//   handle_prototype      a view's page: the section issue resolves it
//   handle_copy_on_write  a write to a copy-on-write page: the section
//                         issue gives the writer a private copy
//
// The last three are slots: private memory never holds those PTEs, so no
// access reaches them; they answer not_implemented until their layers come.

#include <mmkit/core/address.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/phys/pfn_database.hpp>
#include <mmkit/region/page_state.hpp>

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
};

namespace fault {

inline status violation(fault_counts& counts) noexcept {
  ++counts.access_violation;
  return status::access_violation;
}

/// A resident page's PTE for `prot`, its PFN entry's original PTE kept in
/// step (the hardware entry cannot hold every protection).
template <class Core>
typename Core::entry_type resident_pte(Core& c, pfn frame,
                                       mm_protection prot) noexcept {
  c.pfns().set_pte_link(frame, c.pfns().entry(frame).link(),
                        Core::sw::demand_zero(prot.raw()));
  return Core::model::resident_entry(frame, prot);
}

/// The guard is lifted and reported. A committed page has its PTE, so
/// its table is there.
template <class Core>
status handle_guard(Core& c, fault_counts& counts, const vad&, vpn p,
                    const page_view& pv) noexcept {
  const mm_protection lifted = pv.protection.without_guard();
  const typename Core::entry_type now = pv.resident
                                            ? resident_pte(c, pv.frame, lifted)
                                            : Core::model::absent_entry(lifted);
  [[maybe_unused]] const auto w = c.ptes.write(p, now);
  MMKIT_ASSERT(w.ok());
  ++counts.guard_page;
  return status::guard_page_violation;
}

/// A zeroed frame for page `p`, valid with `prot`.
template <class Core>
status handle_demand_zero(Core& c, fault_counts& counts, vpn p,
                          mm_protection prot) noexcept {
  auto& db = c.pfns();
  // The frame first: a failed ensure_leaf leaves no table behind, and the
  // frame can simply go back.
  const bool had_zeroed = db.count(page_state::zeroed) != 0;
  auto frame = db.allocate(page_need::zeroed, 0, Core::frame_end);
  if (!frame) return status::no_memory;
  const std::uint64_t tables_before = c.ptes.table().table_pages();
  // One walk: the leaf entry found here is the one written below.
  const auto leaf = c.ptes.ensure_leaf(p);
  if (!leaf) {
    db.release(*frame, release_to::free_list);
    return status::no_memory;
  }
  counts.table_pages += c.ptes.table().table_pages() - tables_before;
  ++counts.demand_zero;
  counts.zeroed_on_the_spot += !had_zeroed;
  c.count_frame(+1);
  db.set_pte_link(*frame,
                  pte_link::hardware_pte(c.ptes.table().entry_address(*leaf)),
                  Core::sw::demand_zero(prot.raw()));
  c.ptes.write_at(p, *leaf, Core::model::valid_entry(*frame, prot));
  return status::success;
}

/// Soft fault: the frame a transition PTE names comes back.
template <class Core>
status handle_transition(Core& c, fault_counts& counts, vpn p,
                         const page_view& pv) noexcept {
  auto& db = c.pfns();
  if (db.entry(pv.frame).state() != page_state::active) {
    // Off the standby or modified list: share and reference count 1, the
    // mapping's, as a fresh frame.
    db.reclaim(pv.frame);
  }
  ++counts.soft;
  [[maybe_unused]] const auto w =
      c.ptes.write(p, resident_pte(c, pv.frame, pv.protection));
  MMKIT_ASSERT(w.ok());
  return status::success;
}

template <class Core>
status handle_page_file(Core&, fault_counts&, vpn, const page_view&) noexcept {
  return status::not_implemented;
}
template <class Core>
status handle_prototype(Core&, fault_counts&, vpn, const page_view&) noexcept {
  return status::not_implemented;
}
template <class Core>
status handle_copy_on_write(Core&, fault_counts&, const vad&, vpn,
                            const page_view&) noexcept {
  return status::not_implemented;
}

}  // namespace fault
}  // namespace mmkit
