#pragma once
// space_core: what one address space is made of, as the region, fault and
// NT layers see it: its system, its PTE writer (page table + TLB), its VAD
// tree and node allocator, and its counters. The operations live beside it
// (region/private_memory.hpp, fault/dispatcher.hpp, nt/virtual_memory.hpp);
// address_space.hpp composes them and adds the locks.
//
// Invariants (check_invariants in address_space.hpp verifies them):
//   - every VAD's commit_charge() is the number of its committed pages;
//   - commit_charge is their sum and is charged to the system;
//   - frames_in_use counts the frames holding this space's private pages
//     (a view's private copies included), resident (valid or transition
//     PTE) or on a standby/modified list with a transition PTE naming them;
//     a section's shared frames are the section's. A frame a fork shares
//     (region/fork.hpp) counts in every space whose PTE names it, and its
//     share count is the number of those PTEs; the system counts it once.

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/lock_policy.hpp>
#include <mmkit/core/pool_quota.hpp>
#include <mmkit/fault/fault_counts.hpp>
#include <mmkit/pager/page_file.hpp>
#include <mmkit/phys/frame_cache.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/region/page_state.hpp>
#include <mmkit/region/vad_allocator.hpp>
#include <mmkit/region/write_watch.hpp>
#include <mmkit/section/section.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_tree.hpp>

#include <cstdint>
#include <type_traits>

namespace mmkit {

template <arch::PagingArch Arch, class System, class VadAlloc, class Writer,
          class WatchAlloc = no_watch_allocator,
          class ViewAlloc = caller_vad_allocator<mapped_vad>>
struct space_core {
  using arch_type = Arch;
  using system_type = System;
  using writer_type = Writer;
  using database_type = typename System::database_type;
  using entry_type = typename Arch::entry_type;
  using model = page_model<Arch, database_type>;
  using sw = software_pte<entry_type>;

  static constexpr std::uint64_t lowest_user_address =
      Arch::lowest_user_address;
  static constexpr std::uint64_t highest_user_address =
      Arch::highest_user_address;
  static constexpr std::uint64_t granularity_pages =
      allocation_granularity >> page_shift;
  /// Every page and table of the space comes from frames below this bound
  /// (4 GiB for x86_32): no entry is ever truncated into another frame.
  static constexpr pfn frame_end{
      (arch::frame_phys_limit<Arch>() >> page_shift) >=
              database_type::max_frames
          ? database_type::max_frames
          : arch::frame_phys_limit<Arch>() >> page_shift};

  explicit space_core(System& s, VadAlloc alloc,
                      ViewAlloc view_alloc = ViewAlloc{}) noexcept
      : sys(&s),
        vads(vaddr{lowest_user_address}.page()),
        nodes(static_cast<VadAlloc&&>(alloc)),
        view_nodes(static_cast<ViewAlloc&&>(view_alloc)) {}

  System* sys = nullptr;
  Writer ptes;
  vad_tree<vad> vads;
  VadAlloc nodes;
  ViewAlloc view_nodes;
  std::uint64_t commit_charge = 0;
  std::uint64_t frames_in_use = 0;
  pool_quota quota;
  std::uint64_t node_count = 0;
  watch_list watches;
  [[no_unique_address]] WatchAlloc watch_alloc;

  // --- the PFN lock of the space's current call ------------------------------
  // (address_space's locked_scope says which state each lock covers.)

  /// The flag the system reads (space_link::holds_pfn_lock): set while a
  /// call of this space holds the PFN lock. The address space points it.
  bool* pfn_flag = nullptr;
  /// The flag the system reads while the call waits for the PFN lock
  /// (space_link::waits_for_pfn_lock).
  bool* wait_flag = nullptr;
  /// Set for a guest access (access, read, write, host_page_of) and for
  /// allocate, free, map_view, unmap_view and protect: the call takes the
  /// PFN lock only for its PFN work, and a demand-zero fault, or a commit,
  /// decommit, map or unmap of pages that hold no frame, gives it back
  /// before its PTE writes (pfn_work_done).
  bool pfn_lazy = false;
  /// Set while the call holds the system's section lock (map_view,
  /// unmap_view, and every call that holds all the locks): a fault's
  /// section read (fault::in_page_locks) then need not take it.
  mutable bool holds_section_lock = false;
  /// The faults of this space by kind, and where the system reads them
  /// (space_link::published_faults; publish_faults).
  fault_counts faults;
  fault_counts* published_faults = nullptr;
  /// The frames this space holds ahead of its demand-zero faults
  /// (phys/frame_cache.hpp), or null: without threads, and for a space
  /// bound to the low zone (an x86_32 space on a machine with frames above
  /// 4 GiB: system::bound_low), every fault takes its frame from the
  /// lists.
  frame_cache* frames = nullptr;

  /// Whether other threads may call at all: with no_lock there are none,
  /// and the flags only they read are not kept.
  static constexpr bool threaded =
      !std::is_same_v<typename System::lock_type, no_lock>;

  /// Whether the current call holds the PFN lock. Without threads, every
  /// call holds it, as a no_lock costs nothing to hold.
  bool holds_pfn_lock() const noexcept {
    if constexpr (threaded)
      return *pfn_flag;
    else
      return true;
  }
  /// Effects: the current call holds the PFN lock (taken if need be).
  void take_pfn_lock() const noexcept {
    if constexpr (threaded) {
      if (*pfn_flag) return;
      __atomic_store_n(wait_flag, true, __ATOMIC_RELEASE);
      sys->pfn_lock().lock();
      __atomic_store_n(wait_flag, false, __ATOMIC_RELAXED);
      sys->begin_call_locked();
      *pfn_flag = true;
    }
  }
  /// Requires: the PFN lock is held. Effects: it goes (without threads,
  /// it stays).
  void give_pfn_lock() const noexcept {
    if constexpr (threaded) {
      MMKIT_ASSERT(*pfn_flag);
      *pfn_flag = false;
      sys->pfn_lock().unlock();
    }
  }
  /// Effects: the system sees this space's fault counts as they are (after
  /// each fault and each fork, the only calls that add to them).
  void publish_faults() noexcept {
    if (published_faults != nullptr) publish_counts(*published_faults, faults);
  }
  /// Effects: in a call that takes the PFN lock only for its PFN work (a
  /// guest access, allocate, free, map_view, unmap_view), work whose PFN
  /// part is done gives the PFN lock back; elsewhere the call keeps it to
  /// its end.
  void pfn_work_done() const noexcept {
    if constexpr (threaded)
      if (pfn_lazy && *pfn_flag) give_pfn_lock();
  }
  /// Whether the current call takes the PFN lock only for its PFN work
  /// (pfn_lazy), whether it holds it now or not yet.
  bool pfn_lock_on_demand() const noexcept {
    if constexpr (threaded)
      return pfn_lazy;
    else
      return false;
  }
  /// Whether pfn_work_done() would give the PFN lock back now.
  bool pfn_lock_goes_early() const noexcept {
    if constexpr (threaded)
      return pfn_lazy && *pfn_flag;
    else
      return false;
  }

  /// Whether `n` more VAD nodes and `tables` more page-table pages stay
  /// within this space's quota and the system's.
  bool quota_allows(std::uint64_t n, std::uint64_t tables) const noexcept {
    return n <= quota.vad_nodes - node_count &&
           tables <= quota.table_pages - ptes.table().table_pages() &&
           sys->quota_allows_locked(n, tables);
  }
  /// A VAD node for a new reservation, or null (quota or allocator empty:
  /// `why` says which).
  vad* take_node(status& why) noexcept { return take_from(nodes, why); }
  /// A VAD node for a new view, or null (as take_node).
  mapped_vad* take_view_node(status& why) noexcept {
    return take_from(view_nodes, why);
  }
  /// Gives back a node from take_node or take_view_node (by its type).
  void give_node(vad* v) noexcept {
    if (v->private_memory())
      nodes.deallocate(v);
    else
      view_nodes.deallocate(&as_view(*v));
    --node_count;
    sys->count_nodes_locked(-1);
  }

  database_type& pfns() noexcept { return sys->pfns(); }
  const database_type& pfns() const noexcept { return sys->pfns(); }

  /// The page `p` of `v` is, whose PTE is `e`.
  page_view view_of(const vad& v, vpn p, entry_type e) noexcept {
    if (v.private_memory()) return model::view(v, e, pfns());
    return model::view_page(v, as_view(v).proto_of(p), e, pfns(),
                            sys->sections().pool);
  }
  /// The page `p` of `v` is.
  page_view view(const vad& v, vpn p) noexcept {
    return view_of(v, p, ptes.read(p));
  }

  /// The PTE of a resident private page of `v` (a view's private copy
  /// included) with `prot`: valid, or transition when `prot` grants
  /// nothing or is a guard page. A private page's protection lives in its
  /// PFN entry's original PTE, kept in step here; a view's in the entry.
  /// A trimmed page (its frame on a list) stays there: its transition PTE
  /// and its original PTE (demand-zero, or the page-file slot its copy is
  /// in) take `prot`.
  /// A frame other spaces map too (a fork's) keeps its PFN entry as it
  /// is: the PTE takes model::shared_entry, which holds `prot` itself.
  entry_type resident_pte(const vad& v, pfn frame,
                          mm_protection prot) noexcept {
    if (pfns().entry(frame).share_count() > 1)
      return model::shared_entry(v, frame, prot);
    if (pfns().entry(frame).state() != page_state::active) {
      pfns().set_original_pte(
          frame, model::with_protection(static_cast<entry_type>(
                                            pfns().entry(frame).original_pte()),
                                        prot));
      return sw::transition(prot.raw(), frame);
    }
    pfns().set_pte_link(frame, pfns().entry(frame).link(),
                        sw::demand_zero(prot.raw()));
    return v.private_memory() ? model::resident_entry(frame, prot)
                              : model::view_resident_entry(frame, prot);
  }

  /// Calls f(first, last, page_view) over `r` (inside `v`) in order, until
  /// f returns false: one call per missing subtree (every page there has
  /// the same view), one per run of equal PTEs that are not present in
  /// private memory (their view is a function of the PTE alone: no PFN
  /// entry is read, and no two pages share such a PTE but demand-zero and
  /// zero ones, as a commit or a release writes them), and one per page
  /// elsewhere. So a scan costs O(pages under present tables + spans), not
  /// O(pages), and a committed range untouched since decodes one view per
  /// leaf table.
  template <class F>
  void scan(const vad& v, vpn_range r, F&& f) noexcept {
    const page_view absent = model::view_absent(v);
    const bool runs = v.private_memory();
    constexpr entry_type present = hw::present::mask<entry_type>();
    bool go = true;
    ptes.for_each_span(r, [&](const auto& s) {
      if (!s.present()) return go = f(s.first, s.last, absent);
      const entry_type* e = s.entries;
      for (vpn p = s.first;; ++p, ++e) {
        // Atomic loads: a query of private memory runs without the PFN
        // lock, while its holder may rewrite a transition PTE here.
        const entry_type now = load_entry(e);
        const vpn first = p;
        if (runs && !(now & present))
          while (p != s.last && load_entry(e + 1) == now) ++p, ++e;
        if (!(go = f(first, p, view_of(v, first, now)))) return false;
        if (p == s.last) return true;
      }
    });
  }

  /// Effects: charges `pages` of commit, and the page tables writing PTEs
  /// over `r` may make, against the system's promise (see
  /// system::charge_commit_locked).
  /// Returns: quota_exceeded (the tables would pass a pool quota),
  /// commitment_limit (nothing charged), or
  /// insufficient_resources when no frames can be made free for those
  /// tables (frames marked bad since they were promised).
  status charge(std::uint64_t pages, vpn_range r) noexcept {
    return charge_with_tables(pages, ptes.tables_needed(r));
  }
  /// As charge(pages, r), for `tables` more page-table pages.
  status charge_with_tables(std::uint64_t pages,
                            std::uint64_t tables) noexcept {
    if (!quota_allows(0, tables)) return status::quota_exceeded;
    if (!sys->charge_commit_locked(pages, tables, frame_end))
      return status::commitment_limit;
    if (tables != 0 && !sys->make_available_locked(tables, frame_end)) {
      sys->return_commit_locked(pages, frame_end);
      return status::insufficient_resources;
    }
    commit_charge += pages;
    return status::success;
  }
  /// Effects: returns `pages` of this space's charge to the system.
  void uncharge(std::uint64_t pages) noexcept {
    sys->return_commit_locked(pages, frame_end);
    commit_charge -= pages;
  }
  /// The page whose PTE lies at physical address `pte` (in this space's
  /// tables): its offset in the leaf table, then each table's back-link to
  /// the entry above it, up to the root (system.hpp says who sets them).
  vpn page_of_pte(paddr pte) const noexcept {
    std::uint64_t va = 0;
    paddr at = pte;
    for (unsigned level = 0; level < Arch::levels; ++level) {
      va |= (at.page_offset() / sizeof(entry_type)) << Arch::level[level].shift;
      const pte_link up = pfns().entry(at.frame()).link();
      if (up.kind != pte_kind::hardware) break;  // the root
      at = up.address();
    }
    if constexpr (Arch::sign_extended) {
      const unsigned unused = 64 - Arch::va_bits;
      va = static_cast<std::uint64_t>(static_cast<std::int64_t>(va << unused) >>
                                      unused);
    }
    return vaddr{va}.page();
  }

  /// Effects: a page of this space got a frame from its frame cache: as
  /// count_frame(+1), without the PFN lock (a space with a cache is not
  /// bound to the low zone, so the system's low-memory count is not its).
  /// The add is atomic: the system may repurpose one of this space's
  /// standby frames meanwhile (count_repurposed_frame).
  void count_cached_frame() noexcept {
    __atomic_fetch_add(&frames_in_use, 1, __ATOMIC_RELAXED);
  }
  /// Effects: the system took away the frame of one of this space's
  /// transition PTEs, holding the PFN lock but maybe not this space's lock:
  /// as count_frame(-1), the frame count lowered atomically (against
  /// count_cached_frame).
  void count_repurposed_frame() noexcept {
    if constexpr (threaded)
      __atomic_fetch_sub(&frames_in_use, 1, __ATOMIC_RELAXED);
    else
      --frames_in_use;
    sys->note_resident_locked(-1, frame_end);
  }
  /// Effects: a page of this space got a frame (+1) or gave one back (-1).
  void count_frame(int delta) noexcept {
    frames_in_use += static_cast<std::uint64_t>(delta);
    sys->note_resident_locked(delta, frame_end);
  }

  /// Gives back the frame of a resident private page (active, or on a
  /// standby/modified list behind a transition PTE), and the page-file
  /// slot a standby page's copy is in.
  /// A frame other spaces' PTEs map too (a fork's) only loses this
  /// space's share.
  void free_frame(pfn frame) noexcept {
    if (pfns().entry(frame).share_count() > 1) {
      unshare_frame(frame);
      return;
    }
    // A listed frame comes back as a soft fault would take it, then its
    // only mapping goes.
    if (pfns().entry(frame).state() != page_state::active) {
      pfns().reclaim(frame);
      drop_slot(frame);
    }
    pfns().release(frame, release_to::free_list);
    count_frame(-1);
  }
  // --- a fork's shared frames (region/fork.hpp) ----------------------------

  /// Requires: `frame` is active, a private page's (or a view's private
  /// copy's) of another space. Effects: a PTE of this space names it too.
  void share_frame(pfn frame) noexcept {
    pfns().increment_share_count(frame);
    ++frames_in_use;  // the system counts the frame once, as it is
  }
  /// Requires: `frame` is active and other PTEs than this space's map it.
  /// Effects: this space's PTE no longer does.
  void unshare_frame(pfn frame) noexcept {
    MMKIT_ASSERT(pfns().entry(frame).share_count() > 1);
    pfns().decrement_share_count(frame, release_to::free_list);
    --frames_in_use;
  }
  /// Requires: page `p`'s PTE alone maps the active private frame `frame`.
  /// Effects: a fork's frame, which lost its back-link when it was shared,
  /// names `p`'s PTE again, so that it may go to a list (be trimmed): the
  /// system finds the PTE to rewrite through it. Its original PTE is
  /// demand-zero with `prot`, as any resident private page's.
  void claim_frame(vpn p, pfn frame, mm_protection prot) noexcept {
    MMKIT_ASSERT(pfns().entry(frame).share_count() == 1);
    if (pfns().entry(frame).link().kind != pte_kind::none) return;
    pfns().set_pte_link(frame, pte_link::hardware_pte(ptes.entry_address(p)),
                        sw::demand_zero(prot.raw()));
  }

  /// Requires: `frame` is a private page's. Effects: when its original PTE
  /// names a page-file slot (the page was written out, and its frame kept
  /// on standby), the slot is freed and the original PTE becomes
  /// demand-zero: the frame holds the only copy again.
  void drop_slot(pfn frame) noexcept {
    const auto original =
        static_cast<entry_type>(pfns().entry(frame).original_pte());
    if (sw::classify(original) != entry_kind::page_file) return;
    free_slot(original);
    pfns().set_original_pte(frame, sw::demand_zero(sw::protection(original)));
  }
  /// Frees the page-file slot the page-file PTE `e` names.
  void free_slot(entry_type e) noexcept {
    sys->page_files().free(
        page_slot{static_cast<std::uint8_t>(sw::page_file_number(e)),
                  sw::page_file_offset(e)});
  }
  /// The space_link call: a private page's original PTE `original` once
  /// its page is in `slot`; 0 when the arch's entry cannot name the slot.
  static std::uint64_t paged_out(std::uint64_t original,
                                 page_slot slot) noexcept {
    if (slot.offset > sw::max_file_offset) return 0;
    return sw::page_file(sw::protection(static_cast<entry_type>(original)),
                         slot.file, slot.offset);
  }

  /// Pages in the working set: the valid PTEs, counted as the PTE writer
  /// writes them (region/write_watch.hpp's space_observer).
  std::uint64_t working_set() const noexcept {
    return ptes.observer().working_set;
  }
  /// The working-set manager's clock hand (region/working_set.hpp).
  vpn ws_hand{};
  /// The working set's maximum: a fault that passes it trims the space
  /// (a hard limit, as QUOTA_LIMITS_HARDWS_MAX_ENABLE).
  std::uint64_t ws_maximum = ~std::uint64_t{0};

 private:
  template <class Alloc>
  auto* take_from(Alloc& a, status& why) noexcept {
    decltype(a.allocate()) v = nullptr;
    if (!quota_allows(1, 0)) {
      why = status::quota_exceeded;
      return v;
    }
    v = a.allocate();
    if (v == nullptr) {
      why = status::insufficient_resources;
      return v;
    }
    ++node_count;
    sys->count_nodes_locked(+1);
    return v;
  }
};

}  // namespace mmkit
