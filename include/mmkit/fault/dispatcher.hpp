#pragma once
// The fault dispatcher: one simulated access that the TLB and the page
// tables refused, resolved in MmAccessFault's order.
//
//   1. the address: kernel space holds nothing of this address space, and
//      user mode may not touch it (access_violation);
//   2. the VAD: none, or the page is not committed -> access_violation;
//      a device range (emu/fault_callbacks.hpp) has no pages: an access
//      its protection allows is invalid_device_request (the caller moves
//      the bytes through the device), another an access_violation;
//   3. the protection: an access the page's protection refuses is an
//      access violation, and leaves a guard bit set;
//   4. the guard bit: one-shot guard_page_violation (fault/handlers.hpp);
//   5. the PTE's kind, one handler each (fault/handlers.hpp):
//        valid        the walk refused what the protection allows: only a
//                     write to a copy-on-write page (or a fork's page,
//                     region/fork.hpp) gets here legitimately (copied);
//                     else a violation
//        zero, demand-zero   a zeroed frame
//        transition   soft fault: the frame is taken back
//        page file    hard fault (the pager issue's handler)
//        prototype    through the section's prototype PTE
//   6. the access is retried through the TLB.
//
// A handler that needs a frame when none is available has the system
// reclaim one (system::allocate_locked): modified pages written, working
// sets trimmed, standby frames repurposed.

#include <mmkit/core/access.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/fault/handlers.hpp>
#include <mmkit/region/page_state.hpp>

#include <cstdint>

namespace mmkit::fault {

/// Whether `prot` allows an access `acc` (a write to a copy-on-write page
/// does: it copies).
template <class Arch>
constexpr bool allows(mm_protection prot, access acc) noexcept {
  return acc == access::read    ? prot.allows_read()
         : acc == access::write ? prot.allows_write() || prot.is_copy_on_write()
                                : prot.allows_execute(Arch::has_nx);
}

/// Whether a page of `v` whose PTE is `e` is private and holds no frame
/// and no record of one (its PTE zero or demand-zero): then only this
/// space's own thread changes its PTE, which it may read without the PFN
/// lock.
template <class Core>
bool unclaimed_private_page(const vad& v,
                            typename Core::entry_type e) noexcept {
  if (!v.private_memory()) return false;
  const entry_kind k = software_pte<typename Core::entry_type>::classify(e);
  return k == entry_kind::zero || k == entry_kind::demand_zero;
}

/// Effects: resolves a fault of an access `acc` in `mode` at `va` (see the
/// header comment), counting it in `counts`. A demand-zero page's fresh
/// frame goes through `fill` (handle_demand_zero).
/// Returns: success (retry the access: it now proceeds), or the status the
/// access raises: access_violation, guard_page_violation, no_memory,
/// invalid_device_request (a device range), or the fill's failure.
template <class Core, class Fill = zero_fill>
status dispatch(Core& c, fault_counts& counts, vaddr va, access acc,
                cpu_mode mode, Fill fill = Fill{}) noexcept {
  using Arch = typename Core::arch_type;
  if (va.raw() > Core::highest_user_address) return violation(counts);
  const vpn p = va.page();
  vad* v = c.vads.find_containing(p);
  if (v == nullptr) return violation(counts);
  if (v->has(vad_flags::physical_mapping))
    return allows<Arch>(mm_protection{v->protection()}, acc)
               ? status::invalid_device_request
               : violation(counts);
  // A guest access comes here with the space's lock alone (see
  // address_space's locked_scope). A private page that has no frame yet
  // is the space's own business up to its frame (handle_demand_zero takes
  // the PFN lock for that); every other page may involve the PFN database,
  // a section, or a transition PTE the system may rewrite: the PFN lock
  // first.
  // The leaf entry is found once (the walk does not change under the
  // space's lock: only its own calls make or free its tables).
  const auto leaf = c.ptes.find_leaf(p);
  using entry_type = typename Core::entry_type;
  auto e = leaf ? load_entry(leaf.entry) : entry_type{0};
  if (!c.holds_pfn_lock() && !unclaimed_private_page<Core>(*v, e)) {
    c.take_pfn_lock();
    // A transition PTE may have been repurposed meanwhile.
    e = leaf ? load_entry(leaf.entry) : entry_type{0};
  }
  const page_view pv = c.view_of(*v, p, e);
  if (!pv.committed) return violation(counts);
  const mm_protection prot = pv.protection;
  if (!allows<Arch>(prot, acc)) return violation(counts);
  if (prot.is_guard()) {
    c.take_pfn_lock();
    return handle_guard(c, counts, *v, p, pv);
  }
  status s = status::success;
  switch (pv.pte) {
    case entry_kind::valid:
      s = acc == access::write && (prot.is_copy_on_write() || pv.forked)
              ? handle_copy_on_write(c, counts, *v, p, pv)
              : violation(counts);
      break;
    case entry_kind::zero:
    case entry_kind::demand_zero:
      s = handle_demand_zero(c, counts, p, prot, fill, leaf);
      break;
    case entry_kind::transition:
      s = handle_transition(c, counts, *v, p, pv);
      break;
    case entry_kind::page_file:
      s = handle_page_file(c, counts, *v, p, pv);
      break;
    case entry_kind::prototype:
      s = handle_prototype(c, counts, *v, p, pv, acc);
      break;
    default: s = violation(counts); break;
  }
  if (s != status::success) return s;
  // The page is there now; the walk decides the rest (a user access to a
  // page the tables deny still faults).
  if (c.ptes.translator().host_pointer(va, acc, mode) == nullptr)
    return violation(counts);
  return status::success;
}

}  // namespace mmkit::fault
