#pragma once
// Private-memory operations over one address space's regions: reserve,
// commit, MEM_RESET, decommit, release, protect, query and trim, as
// functions over a space_core. Arguments arrive checked by the NT layer
// (nt/virtual_memory.hpp); what is left here are the checks that need the
// VADs and PTEs, and the changes.
//
// Every operation checks everything it can fail on before it changes
// anything: a failed call leaves the space as it was. Per-page protection
// lives in the PTEs (VADs are never split by protect); only a partial
// MEM_RELEASE splits a VAD. Costs are O(log n) in the VADs plus O(pages
// under present page tables + missing subtrees): a fresh reservation of any
// size is queried, released and decommitted in microseconds. The exception
// is what NT also pays per page: committing, protecting or decommitting
// pages writes one PTE each, and commit charge bounds how many there are.

#include <mmkit/core/address.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/nt/types.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/region/awe.hpp>
#include <mmkit/region/page_state.hpp>
#include <mmkit/region/space_core.hpp>
#include <mmkit/region/write_watch.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_tree.hpp>

#include <cstdint>

namespace mmkit::region {

/// Which way a search for free address space goes.
enum class placement : std::uint8_t { bottom_up, top_down };

template <class Core>
status reserve_at(Core& c, const vad_tree<vad>::insert_commit_data& where,
                  bool commit_now, mm_protection prot, bool write_watch,
                  vaddr& base, std::uint64_t& size) noexcept;

/// Effects: a new reservation, MEM_RESERVE (`commit_now`: and MEM_COMMIT)
/// at `base` (rounded down to 64 KiB, end rounded up to a page) or, with
/// base 0, in the first free range of `size` below `limit`. `base` and
/// `size` become the reservation.
/// Returns: conflicting_addresses, no_memory (no free range),
/// quota_exceeded (a VAD node or page tables past the pool quota),
/// commitment_limit, insufficient_resources (no VAD node).
template <class Core>
status reserve(Core& c, vaddr& base, std::uint64_t& size, bool commit_now,
               placement where_to, mm_protection prot, std::uint64_t limit,
               bool write_watch = false) noexcept {
  const std::uint64_t b = base.raw();
  vad_tree<vad>::insert_commit_data where;
  if (b != 0) {
    const std::uint64_t start = align_down(b, allocation_granularity);
    const std::uint64_t end = *align_up(b + size, page_size);
    if (start < Core::lowest_user_address) return status::conflicting_addresses;
    auto slot =
        c.vads.insert_check({vaddr{start}.page(), vaddr{end - 1}.page()});
    if (!slot) return status::conflicting_addresses;
    where = *slot;
  } else {
    const std::uint64_t pages = *align_up(size, page_size) >> page_shift;
    const std::uint64_t top =
        limit < Core::highest_user_address ? limit : Core::highest_user_address;
    const vpn_range window{vaddr{Core::lowest_user_address}.page(),
                           vaddr{top}.page()};
    // The search answers with the insert position: no second descent.
    auto slot = c.vads.find_free_slot(pages, window,
                                      where_to == placement::top_down
                                          ? search_direction::top_down
                                          : search_direction::bottom_up,
                                      Core::granularity_pages);
    if (!slot) return status::no_memory;
    where = *slot;
  }
  return reserve_at(c, where, commit_now, prot, write_watch, base, size);
}

/// Requires: the PFN lock is held; `r`'s pages hold no frame (so none of
/// its PTEs is a transition PTE the system may rewrite, and writing them
/// touches no PFN entry but their tables' use counts, which are the
/// space's). Effects: in a call that takes the PFN lock only for its PFN
/// work (space_core::pfn_work_done), the tables `r` lacks are made and
/// the PFN lock goes, so that the PTE writes of a large commit keep no
/// other space waiting; elsewhere nothing.
template <class Core>
void pfn_work_done_before_writes(Core& c, vpn_range r) noexcept {
  if (!c.pfn_lock_goes_early()) return;
  // The tables were charged and their frames made available (charge).
  [[maybe_unused]] const auto made = c.ptes.ensure_tables(r);
  MMKIT_ASSERT(made.ok());
  c.pfn_work_done();
}

/// Requires: a call that takes the PFN lock only for its PFN work
/// (space_core::pfn_lock_on_demand), holding it or not yet; no PTE of `r`
/// holds a frame or a page-file slot (none is one the system may rewrite).
/// Effects: the PTEs of `r` are cleared without the PFN lock, the tables
/// they empty kept; then the lock is taken, the space consistent (its VADs
/// as they were, the PTEs zero), and those tables freed.
template <class Core>
void clear_without_pfn_lock(Core& c, vpn_range r) noexcept {
  c.pfn_work_done();
  c.ptes.clear_absent_keeping_tables(r);
  c.take_pfn_lock();
  c.ptes.free_empty_tables(r);
}

/// Effects: reserve()'s reservation at the free slot `where` (from the VAD
/// tree's insert_check or find_free_slot), as it is: no rounding. `base`
/// and `size` become the reservation. Returns: as reserve().
template <class Core>
status reserve_at(Core& c, const vad_tree<vad>::insert_commit_data& where,
                  bool commit_now, mm_protection prot, bool write_watch,
                  vaddr& base, std::uint64_t& size) noexcept {
  const vpn_range r = where.range();
  status why = status::success;
  // The range was found in the space's own VADs; the quotas, the charge,
  // the node and the tables are the PFN lock's. The VAD goes in, and the
  // PTEs are written, once the lock is given back (in a call that takes
  // it only for its PFN work).
  c.take_pfn_lock();
  if (!c.quota_allows(1, 0)) return status::quota_exceeded;
  if (commit_now) {
    if (const status s = c.charge(r.count(), r); s != status::success) return s;
  }
  vad* v = c.take_node(why);
  if (v == nullptr) {
    if (commit_now) c.uncharge(r.count());
    return why;
  }
  if (write_watch) {
    if (const status s = watch_add(c, r); s != status::success) {
      c.give_node(v);
      if (commit_now) c.uncharge(r.count());
      return s;
    }
  }
  if (commit_now)
    pfn_work_done_before_writes(c, r);
  else
    c.pfn_work_done();
  v->set_range(r);
  v->set_type(vad_type::private_memory);
  v->set_protection(prot.raw());
  v->set_flags((commit_now ? vad_flags::mem_commit : vad_flags::none) |
               (write_watch ? vad_flags::write_watch : vad_flags::none));
  v->set_commit_charge(commit_now ? r.count() : 0);
  c.vads.insert_commit(*v, where);
  // Every committed page gets its PTE (page_state.hpp says why); a new
  // reservation's PTEs are all zero.
  if (commit_now) c.ptes.fill_absent(r, Core::model::absent_entry(prot));
  base = r.first.address();
  size = r.count() << page_shift;
  return status::success;
}

/// The PTE a committed page of `v` holding `old` gets for protection
/// `prot`: a resident page stays resident (valid, or transition when the
/// new protection grants nothing or is a guard page), and its PFN entry's
/// original PTE follows.
template <class Core>
typename Core::entry_type reprotected(Core& c, const vad& v,
                                      typename Core::entry_type old,
                                      mm_protection prot) noexcept {
  using model = typename Core::model;
  const page_view pv = model::view(v, old, c.pfns());
  MMKIT_ASSERT(pv.committed && pv.supported());
  // Paged out: the slot stays, with the new protection.
  if (!pv.resident) return model::with_protection(old, prot);
  // Trimmed (on a list), the page stays there: resident_pte keeps it so.
  return c.resident_pte(v, pv.frame, prot);
}

/// What all_supported found in a range, page by page.
struct range_census {
  std::uint64_t fresh = 0;         ///< not committed
  std::uint64_t committed = 0;     ///< committed
  std::uint64_t resident = 0;      ///< held by a frame
  std::uint64_t in_page_file = 0;  ///< in a page-file slot
};

/// Whether every page of `r` (in `v`) is one this layer may change; when
/// it is, `census` (if given) gets what the pages are.
template <class Core>
bool all_supported(Core& c, const vad& v, vpn_range r,
                   range_census* census = nullptr) noexcept {
  bool ok = true;
  range_census n;
  c.scan(v, r, [&](vpn first, vpn last, const page_view& pv) {
    if (!pv.supported()) return ok = false;
    const std::uint64_t pages = last.raw() - first.raw() + 1;
    (pv.committed ? n.committed : n.fresh) += pages;
    if (pv.resident) n.resident += pages;
    if (pv.pte == entry_kind::page_file) n.in_page_file += pages;
    return true;
  });
  if (ok && census != nullptr) *census = n;
  return ok;
}

/// Effects: MEM_COMMIT of the pages of `r` (in one reservation `v`) with
/// `prot`; committed pages charge nothing more and take the protection.
/// Returns: not_implemented (a page-file or prototype page in the range),
/// insufficient_resources, commitment_limit.
template <class Core>
status commit(Core& c, vad& v, vpn_range r, mm_protection prot) noexcept {
  using model = typename Core::model;
  range_census n;
  if (!all_supported(c, v, r, &n)) return status::not_implemented;
  const std::uint64_t fresh = n.fresh;
  if (const status s = c.charge(fresh, r); s != status::success) return s;
  // A resident page's PTE and PFN entry change under the PFN lock.
  if (n.resident == 0) pfn_work_done_before_writes(c, r);
  if (n.committed == 0) {
    // Nothing committed: no PTE is present, and each takes the same entry.
    c.ptes.fill_absent(r, model::absent_entry(prot));
    v.set_commit_charge(v.commit_charge() + fresh);
    return status::success;
  }
  c.ptes.rewrite(r, [&](vpn, typename Core::entry_type old) {
    const page_view pv = model::view(v, old, c.pfns());
    if (!pv.committed) return model::absent_entry(prot);
    return pv.protection != prot ? reprotected(c, v, old, prot) : old;
  });
  v.set_commit_charge(v.commit_charge() + fresh);
  return status::success;
}

/// Effects: MEM_RESET: the resident pages of `r` (in `v`) lose their
/// contents and become committed, untouched pages of the same protection.
/// Returns: not_implemented (a page-file or prototype page in the range).
template <class Core>
status reset(Core& c, vad& v, vpn_range r) noexcept {
  using model = typename Core::model;
  if (!all_supported(c, v, r)) return status::not_implemented;
  // Only resident pages change, whose tables are there.
  c.ptes.rewrite(
      r,
      [&](vpn, typename Core::entry_type old) {
        const page_view pv = model::view(v, old, c.pfns());
        if (pv.pte == entry_kind::page_file)
          c.free_slot(old);
        else if (pv.resident)
          c.free_frame(pv.frame);
        else
          return old;
        return typename Core::entry_type{
            Core::sw::demand_zero(pv.protection.raw())};
      },
      [](vpn, vpn) { return true; });
  return status::success;
}

/// Effects: every page of `r` (in `v`) becomes uncommitted: frames and
/// commit charge go back, PTEs are cleared and tables freed as they empty.
/// `known` is all_supported's census of `r`, when the caller has it.
/// The PFN lock is held on return; a call that takes it only for its PFN
/// work (space_core::pfn_lock_on_demand) may come without it.
/// Returns: the pages that were committed.
template <class Core>
std::uint64_t uncommit(Core& c, vad& v, vpn_range r,
                       const range_census* known = nullptr) noexcept {
  using model = typename Core::model;
  using entry_type = typename Core::entry_type;
  if (c.pfn_lock_on_demand()) {
    // When no page of `r` holds a frame or a page-file slot, the PTEs are
    // cleared without the PFN lock, and the lock is taken once, after, for
    // the tables they emptied and the commit charge. (No other thread
    // makes such a page hold one: only this space's calls, under its
    // lock, touch demand-zero PTEs; so a census without the PFN lock that
    // found none stays right.)
    range_census n;
    if (known != nullptr)
      n = *known;
    else if (!all_supported(c, v, r, &n))
      n.resident = 1;  // not counted: the path below, which asserts
    if (n.resident == 0 && n.in_page_file == 0) {
      clear_without_pfn_lock(c, r);
      c.uncharge(n.committed);
      v.set_commit_charge(v.commit_charge() - n.committed);
      return n.committed;
    }
  }
  c.take_pfn_lock();
  std::uint64_t committed = 0;
  c.ptes.rewrite(
      r,
      [&](vpn, entry_type old) {
        const page_view pv = model::view(v, old, c.pfns());
        MMKIT_ASSERT(pv.supported());
        committed += pv.committed;
        if (pv.resident) c.free_frame(pv.frame);
        if (pv.pte == entry_kind::page_file) c.free_slot(old);
        return entry_type{0};
      },
      // Nothing under a missing subtree: no page there is committed.
      [](vpn, vpn) { return true; });
  c.uncharge(committed);
  v.set_commit_charge(v.commit_charge() - committed);
  return committed;
}

/// Effects: MEM_DECOMMIT of `r` (in `v`). Returns: not_implemented.
/// Locking: as uncommit.
template <class Core>
status decommit(Core& c, vad& v, vpn_range r) noexcept {
  range_census n;
  if (!all_supported(c, v, r, &n)) return status::not_implemented;
  uncommit(c, v, r, &n);
  return status::success;
}

/// Effects: MEM_RELEASE of `r` (in `v`): the whole reservation, its head,
/// its tail, or its middle (which leaves two reservations).
/// Returns: not_implemented, quota_exceeded or insufficient_resources (no
/// node for the second half).
/// Locking: as uncommit; the PFN lock is held on return but for a refusal.
template <class Core>
status release(Core& c, vad& v, vpn_range r) noexcept {
  if (is_awe(v)) {
    c.take_pfn_lock();
    // Whole regions only (the NT layer refuses the rest): the pages are
    // unmapped and stay the process's (region/awe.hpp).
    MMKIT_ASSERT(r == v.range());
    awe_unmap_range(c, r);
    c.vads.erase(v);
    c.give_node(&v);
    return status::success;
  }
  range_census n;
  if (!all_supported(c, v, r, &n)) return status::not_implemented;
  const bool watched = v.has(vad_flags::write_watch);
  if (r == v.range()) {
    uncommit(c, v, r, &n);
    c.vads.erase(v);
    c.give_node(&v);
    if (watched) watch_release(c, r);
    return status::success;
  }
  // The middle case needs a second node: get it before changing anything.
  vad* tail = nullptr;
  if (r.first > v.start() && r.last < v.end()) {
    c.take_pfn_lock();  // the node counts against the system's quota
    status why = status::success;
    tail = c.take_node(why);
    if (tail == nullptr) return why;
  }
  uncommit(c, v, r, &n);
  const vpn_range whole = v.range();
  // The reservation keeps its head (or its tail when the head goes): it
  // shrinks in place, so the tree does no rebalancing.
  const vpn_range kept = r.first == whole.first
                             ? vpn_range{r.last + 1, whole.last}
                             : vpn_range{whole.first, r.first - 1};
  std::uint64_t tail_committed = 0;
  if (tail != nullptr) {
    const vpn_range tail_range{r.last + 1, whole.last};
    tail->set_range(tail_range);
    tail->set_type(v.type());
    tail->set_protection(v.protection());
    tail->set_flags(v.flags());
    c.scan(*tail, tail_range, [&](vpn first, vpn last, const page_view& pv) {
      if (pv.committed) tail_committed += last.raw() - first.raw() + 1;
      return true;
    });
    tail->set_commit_charge(tail_committed);
  }
  [[maybe_unused]] const auto shrunk = c.vads.resize(v, kept);
  MMKIT_ASSERT(shrunk.ok());
  if (tail != nullptr) {
    v.set_commit_charge(v.commit_charge() - tail_committed);
    [[maybe_unused]] const auto added = c.vads.insert(*tail);
    MMKIT_ASSERT(added.ok());
  }
  return status::success;
}

/// What protect() calls before it writes a PTE when the range holds a
/// page whose frame other spaces' calls change: none needed (a caller that
/// holds the PFN lock throughout).
struct no_shared_pages_hook {
  constexpr void operator()() const noexcept {}
};

/// Effects: every page of `r` (in `v`, all committed) gets `prot`. When
/// a page of `r` is in transition (trimmed: its frame on a list, which
/// any space's fault may repurpose) or shared by a fork, `on_shared()` is
/// called after the read-only scan and before the first write: the
/// address space takes the PFN lock there, and holds only its own lock
/// otherwise (a valid, demand-zero or page-file private page and its PFN
/// entry are the space's alone; the scan reads PTEs atomically).
/// `old` receives the first page's protection whether or not the call
/// succeeds once the pages were read (NT writes it on these failures too).
/// Returns: not_committed, not_implemented, insufficient_resources.
template <class Core, class OnShared = no_shared_pages_hook>
status protect(Core& c, vad& v, vpn_range r, mm_protection prot,
               mm_protection& old, OnShared on_shared = {}) noexcept {
  bool first = true;
  bool all_committed = true;
  bool supported = true;
  bool shared = false;
  c.scan(v, r, [&](vpn, vpn, const page_view& pv) {
    if (first) old = pv.committed ? pv.protection : mm_protection{};
    first = false;
    all_committed = pv.committed;
    supported = pv.supported();
    shared = shared || pv.pte == entry_kind::transition || pv.forked;
    return all_committed && supported;
  });
  if (!all_committed) return status::not_committed;
  if (!supported) return status::not_implemented;
  // A wait for the PFN lock here may see the space trimmed by its holder:
  // pages stay committed with the protection the scan read, and the
  // rewrite below takes each PTE as it then is.
  if (shared) on_shared();
  // Committed pages have their PTEs, so their tables are there: a protect
  // makes none.
  c.ptes.rewrite(r, [&](vpn, typename Core::entry_type e) {
    return reprotected(c, v, e, prot);
  });
  return status::success;
}

/// Whether `v` is a device range (emu/fault_callbacks.hpp): no page of it
/// ever has a PTE; the NT layer refuses to commit, protect or free it.
inline bool is_device_memory(const vad& v) noexcept {
  return v.has(vad_flags::physical_mapping);
}

/// The MEMORY_BASIC_INFORMATION of the run of pages from `first` onward
/// that share state and protection inside `v`. A device range answers as
/// NT's view of the physical memory device does: one committed, mapped run.
template <class Core>
memory_basic_information query(Core& c, const vad& v, vpn first) noexcept {
  if (is_device_memory(v)) {
    memory_basic_information info;
    info.base_address = first.address().raw();
    info.allocation_base = v.start().address().raw();
    info.allocation_protect = info.protect =
        mm_protection{v.protection()}.to_win32();
    info.region_size = ((v.end() - first) + 1) << page_shift;
    info.state = mem::commit;
    info.type = mem::mapped;
    return info;
  }
  page_view head{};
  bool started = false;
  std::uint64_t pages = 0;
  c.scan(v, {first, v.end()}, [&](vpn a, vpn b, const page_view& pv) {
    if (!started) {
      head = pv;
      started = true;
    } else if (!pv.same_region(head)) {
      return false;
    }
    pages += b.raw() - a.raw() + 1;
    return true;
  });
  memory_basic_information info;
  info.base_address = first.address().raw();
  info.allocation_base = v.start().address().raw();
  info.allocation_protect = mm_protection{v.protection()}.to_win32();
  info.region_size = pages << page_shift;
  info.state = head.committed ? mem::commit : mem::reserve;
  info.protect = head.committed ? head.protection.to_win32() : 0;
  switch (v.type()) {
    case vad_type::private_memory: info.type = mem::private_memory; break;
    case vad_type::mapped: info.type = mem::mapped; break;
    case vad_type::image: info.type = mem::image; break;
  }
  return info;
}

/// The MEMORY_BASIC_INFORMATION of free memory at `first`: up to the next
/// reservation or the end of user space.
template <class Core>
memory_basic_information query_free(Core& c, vpn first) noexcept {
  const vad* next = c.vads.first_at_or_after(first);
  const std::uint64_t end = next != nullptr ? next->start().address().raw()
                                            : Core::highest_user_address + 1;
  memory_basic_information info;
  info.base_address = first.address().raw();
  info.region_size = end - info.base_address;
  info.state = mem::free;
  info.protect = page::noaccess;
  return info;
}

/// Effects: the working-set trim of page `p` (in `v`): a valid private
/// page leaves memory as far as its PTE says: the PTE becomes a transition
/// PTE naming the frame, and the frame goes to the modified list (a private
/// page has no copy anywhere else until a page file takes it). A later
/// access takes it back with a soft fault. A page whose frame a fork
/// shares with another space stays (region/fork.hpp). Returns: whether the
/// page was valid and could go (anything else is left alone).
template <class Core>
bool trim(Core& c, const vad& v, vpn p) noexcept {
  const page_view pv = c.view(v, p);
  // AWE pages are nonpaged.
  if (!pv.valid || v.type() != vad_type::private_memory || is_awe(v))
    return false;
  if (c.pfns().entry(pv.frame).share_count() > 1) return false;
  c.claim_frame(p, pv.frame, pv.protection);
  ++c.sys->stats_locked().trimmed;
  // The frame holds the page's only copy (page_state.hpp).
  c.pfns().set_modified(pv.frame);
  c.pfns().decrement_share_count(pv.frame, release_to::backing_store);
  [[maybe_unused]] const auto w =
      c.ptes.write(p, Core::sw::transition(pv.protection.raw(), pv.frame));
  MMKIT_ASSERT(w.ok());
  return true;
}

/// Effects: every reservation goes: frames, commit charge and VAD nodes go
/// back (the page tables go with the PTE writer).
template <class Core>
void release_all(Core& c) noexcept {
  while (!c.vads.empty()) {
    vad& v = *c.vads.begin();
    const vpn_range r = v.range();
    const bool watched = v.has(vad_flags::write_watch);
    if (is_awe(v))
      awe_unmap_range(c, r);
    else
      uncommit(c, v, r);
    c.vads.erase(v);
    c.give_node(&v);
    if (watched) watch_release(c, r);
  }
}

}  // namespace mmkit::region
