#pragma once
// Fork: an address space cloned copy-on-write into a new, empty one, as NT's
// MiCloneProcessAddressSpace did for the POSIX subsystem's fork().
//
//   parent                               child (empty before)
//   private VAD ────── copied node ────▶ private VAD: same range, type,
//                                        protection, flags, commit charge
//     demand-zero PTE                      the same demand-zero PTE
//     valid PTE ─┐  frame, share count 2  valid PTE, same frame
//                └──── both read-only, a fork's form (page_state.hpp):
//                      the protection in bits 9..11 of each PTE
//     transition PTE (NOACCESS, GUARD)     the same PTE, same active frame
//   view (ViewShare) ─ copied node ────▶ view of the same section,
//                                        same address
//   view (ViewUnmap)                     not inherited
//     shared page                          a prototype PTE: the section's
//                                          frame is shared as any view's
//     private copy (copy-on-write)         shared as a private page is
//   AWE region                           not inherited (NT drops
//                                        MEM_PHYSICAL regions in a fork)
//   device (MMIO) range                  not inherited (its device is in
//                                        the parent's callback table)
//   write-watch region                   copied, its watch state reset
//
// A write to a shared page, in either space, copies the frame into a new
// one for the writer (fault/handlers.hpp, copy_forked) while other PTEs
// map it; the last one mapping it is only made writable again. Reads never
// copy. Until then the frame's PFN entry is every sharer's: its share
// count is the number of PTEs naming it, its back-link is none (no one PTE
// owns it), and each PTE keeps its own protection, so a protect in one
// space leaves the others' alone. Decommit, release, MEM_RESET and unmap
// in one space drop only that space's share (space_core::free_frame); the
// frame goes back with the last one. A shared frame is never trimmed
// (working_set.hpp): nothing says which space's PTE to rewrite were it
// repurposed. Once it is one space's alone its next trim claims it (the
// back-link names that PTE again).
//
// Pages not resident in the parent are first faulted in there, with the
// fault handlers (a trimmed page's soft fault, a paged-out page's hard
// fault), then shared: a page is then in one frame for both spaces rather
// than in one page-file slot each. The parent only changes residency; a
// fork that fails there (no frame) changes nothing else.
//
// Accounting: the child is charged the parent's commit (its private pages,
// its copy-on-write views), as NT charges it, so every shared page still
// has a frame promised for its copy. A shared frame counts in the
// frames_in_use of every space that maps it (each space's invariant still
// recounts its resident pages), and once in the system's.
//
// No hidden allocation: the child's VAD nodes come from its own
// allocators, its page tables from the system. Everything that can fail
// (quota, commit limit, VAD nodes, write-watch bitmaps, frames for the
// page tables) is taken before any PTE changes; a failure gives it back and
// leaves the child empty and the parent as it was.
//
// Views follow the InheritDisposition NtMapViewOfSection was given
// (vad_flags::view_unmap records ViewUnmap): ViewShare views are mapped in
// the child, ViewUnmap views are not, as NT's fork does.

#include <mmkit/core/address.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/fault/fault_counts.hpp>
#include <mmkit/fault/handlers.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/region/awe.hpp>
#include <mmkit/region/page_state.hpp>
#include <mmkit/region/write_watch.hpp>
#include <mmkit/section/section.hpp>
#include <mmkit/section/section_ops.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_tree.hpp>

#include <cstdint>

namespace mmkit::region {

namespace detail {

/// Whether the child gets `v`: AWE regions stay the parent's (NT does not
/// fork them), and so do views mapped ViewUnmap and device ranges
/// (emu/fault_callbacks.hpp): their device is in the parent's callback
/// table.
inline bool inherited(const vad& v) noexcept {
  return !is_awe(v) && !v.has(vad_flags::physical_mapping) &&
         !v.has(vad_flags::view_unmap);
}

/// Whether page `pv` of a space has to be faulted in before a fork shares
/// it: a private page (or a view's private copy) paged out, or trimmed
/// (its frame on a list, or being written).
template <class Core>
bool fork_needs_fault_in(Core& c, const page_view& pv) noexcept {
  if (pv.pte == entry_kind::page_file) return true;
  return pv.pte == entry_kind::transition &&
         c.pfns().entry(pv.frame).state() != page_state::active;
}

/// Effects: every page of `c` that a fork cannot share as it is
/// (fork_needs_fault_in) is faulted in, counted in `counts`. Faulting in
/// may trim pages already in, unless the space is pinned (space_link::
/// pinned: address_space::fork_into pins both spaces, so that the tables
/// the child takes later trim nothing of the parent either); so the pass
/// is repeated until one finds nothing to do (a few at most).
/// Returns: success, or the first fault's status (no_memory,
/// in_page_error), or no_memory when the space cannot be held resident.
template <class Core>
status fork_fault_in(Core& c, fault_counts& counts) noexcept {
  constexpr unsigned max_passes = 4;
  for (unsigned pass = 0; pass < max_passes; ++pass) {
    bool faulted = false;
    for (vad& v : c.vads) {
      if (!detail::inherited(v)) continue;
      vpn from = v.start();
      while (true) {
        // The next page to fault in: the scan stops there (a fault may
        // write PTEs under it).
        bool found = false;
        vpn at{};
        c.scan(v, {from, v.end()}, [&](vpn a, vpn, const page_view& pv) {
          if (!fork_needs_fault_in(c, pv)) return true;
          found = true;
          at = a;
          return false;
        });
        if (!found) break;
        const page_view pv = c.view(v, at);
        const status s = pv.pte == entry_kind::page_file
                             ? fault::handle_page_file(c, counts, v, at, pv)
                             : fault::handle_transition(c, counts, v, at, pv);
        if (s != status::success) return s;
        faulted = true;
        if (at == v.end()) break;
        from = at + 1;
      }
    }
    if (!faulted) return status::success;
  }
  return status::no_memory;
}

/// Effects: the child's VADs and view nodes go again, with the write-watch
/// records made for them and the commit charge `pages` (a failed fork).
template <class Core>
void fork_undo(Core& child, std::uint64_t pages) noexcept {
  while (!child.vads.empty()) {
    vad& v = *child.vads.begin();
    const vpn_range r = v.range();
    const bool watched = v.has(vad_flags::write_watch);
    child.vads.erase(v);
    child.give_node(&v);
    if (watched) watch_release(child, r);
  }
  child.uncharge(pages);
}

/// Effects: `n` (the child's node) takes `v`'s place in the child: range,
/// type, protection, flags, commit charge (and a view's first prototype).
inline void fork_copy_node(const vad& v, vad& n) noexcept {
  n.set_range(v.range());
  n.set_type(v.type());
  n.set_protection(v.protection());
  n.set_flags(v.flags());
  n.set_commit_charge(v.commit_charge());
}

/// Effects: the PTEs of private VAD `v` of `parent` are shared with
/// `child` (see the header comment). Requires: fork_fault_in ran, and the
/// child's tables can be made.
template <class Core>
void fork_private(Core& parent, Core& child, const vad& v) noexcept {
  using entry_type = typename Core::entry_type;
  using model = typename Core::model;
  auto& db = parent.pfns();
  parent.ptes.rewrite(
      v.range(),
      [&](vpn p, entry_type e) {
        const page_view pv = parent.view_of(v, p, e);
        entry_type mine = e;
        entry_type theirs = e;
        switch (pv.pte) {
          case entry_kind::zero: return e;
          case entry_kind::demand_zero: break;
          case entry_kind::valid:
            // Read-only in both, the protection in each PTE; the parent's
            // keeps its accessed and dirty bits.
            theirs = model::forked_entry(pv.frame, pv.protection);
            mine = static_cast<entry_type>(
                theirs | (e & (model::codec::A_ | model::codec::D)));
            [[fallthrough]];
          case entry_kind::transition:
            // An active frame (fork_fault_in brought the rest back).
            MMKIT_ASSERT(db.entry(pv.frame).state() == page_state::active);
            db.relink(pv.frame, pte_link{});
            child.share_frame(pv.frame);
            break;
          default: MMKIT_ASSERT(false); return e;
        }
        [[maybe_unused]] const auto w = child.ptes.write(p, theirs);
        MMKIT_ASSERT(w.ok());
        return mine;
      },
      [](vpn, vpn) { return true; });
}

/// Effects: view `v` of `parent` is mapped in `child` by the node `n`
/// (filled by fork_copy_node): the same section pages, with the same
/// protections; private copies are shared as private pages are.
template <class Core>
void fork_view(Core& parent, Core& child, const vad& v, vad& n) noexcept {
  using entry_type = typename Core::entry_type;
  using model = typename Core::model;
  auto& db = parent.pfns();
  mapped_vad& nv = as_view(n);
  nv.first_proto = as_view(v).first_proto;
  section_ops<typename Core::system_type>::add_view(*as_view(v).section, nv);
  parent.ptes.rewrite(
      v.range(),
      [&](vpn p, entry_type e) {
        const page_view pv = parent.view_of(v, p, e);
        entry_type mine = e;
        entry_type theirs = e;
        if (pv.shared) {
          // The section's page: the child maps it through its prototype,
          // as any other view does.
          if (pv.pte != entry_kind::prototype)
            theirs = model::view_prototype_entry(pv.proto, pv.protection);
        } else {
          MMKIT_ASSERT(pv.resident &&
                       db.entry(pv.frame).state() == page_state::active);
          if (pv.valid) {
            theirs = model::shared_entry(v, pv.frame, pv.protection);
            mine = static_cast<entry_type>(
                theirs | (e & (model::codec::A_ | model::codec::D)));
          }
          db.relink(pv.frame, pte_link{});
          child.share_frame(pv.frame);
        }
        [[maybe_unused]] const auto w = child.ptes.write(p, theirs);
        MMKIT_ASSERT(w.ok());
        return mine;
      },
      [](vpn, vpn) { return true; });
}

}  // namespace detail

/// Requires: `parent` and `child` are on one system, `child` is empty (no
/// VAD, no commit, no frame, no AWE page) and the caller holds both
/// spaces' locks and the PFN lock.
/// Effects: the fork of `parent` into `child` (see the header comment);
/// the faults that bring the parent's pages in are counted in `counts`.
/// Returns: success; invalid_parameter (`child` not empty, or on another
/// system); no_memory, in_page_error (a page of the parent could not be
/// brought in); quota_exceeded (the child's or the system's pool quota);
/// commitment_limit (the child's charge); insufficient_resources (no VAD
/// node or write-watch bitmap from the child's allocators, no frames for
/// its page tables). On failure the child is left empty and the parent as
/// it was, but for the pages brought in.
/// Complexity: O(VADs + pages under the parent's present tables).
template <class Core>
status clone_space(Core& parent, Core& child, fault_counts& counts) noexcept {
  if (&parent == &child || parent.sys != child.sys || !child.vads.empty() ||
      child.commit_charge != 0 || child.frames_in_use != 0)
    return status::invalid_parameter;
  if (const status s = detail::fork_fault_in(parent, counts);
      s != status::success)
    return s;
  // What the child takes: its charge, and at most the parent's page tables
  // (it writes PTEs only where the parent has them).
  std::uint64_t pages = 0;
  std::uint64_t nodes = 0;
  for (const vad& v : parent.vads) {
    if (!detail::inherited(v)) continue;
    pages += v.commit_charge();
    ++nodes;
  }
  const std::uint64_t tables = parent.ptes.table().table_pages() - 1;
  if (!child.quota_allows(nodes, tables)) return status::quota_exceeded;
  if (const status s = child.charge_with_tables(pages, tables);
      s != status::success)
    return s;
  for (const vad& v : parent.vads) {
    if (!detail::inherited(v)) continue;
    status why = status::success;
    vad* n = v.private_memory() ? child.take_node(why)
                                : static_cast<vad*>(child.take_view_node(why));
    if (n != nullptr) {
      detail::fork_copy_node(v, *n);  // its type says whose node it is
      if (v.has(vad_flags::write_watch))
        if (const status s = watch_add(child, v.range());
            s != status::success) {
          child.give_node(n);
          n = nullptr;
          why = s;
        }
    }
    if (n == nullptr) {
      detail::fork_undo(child, pages);
      return why;
    }
    [[maybe_unused]] const auto added = child.vads.insert(*n);
    MMKIT_ASSERT(added.ok());
  }
  // Nothing fails from here on. The two trees hold the same ranges in the
  // same order.
  auto n = child.vads.begin();
  for (const vad& v : parent.vads) {
    if (!detail::inherited(v)) continue;
    if (v.private_memory())
      detail::fork_private(parent, child, v);
    else
      detail::fork_view(parent, child, v, *n);
    ++n;
  }
  return status::success;
}

}  // namespace mmkit::region
