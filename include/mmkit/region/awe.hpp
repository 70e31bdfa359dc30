#pragma once
// AWE (Address Windowing Extensions): MEM_PHYSICAL reservations and the user
// physical pages a process allocates, maps into them at page granularity,
// and frees (NtAllocateUserPhysicalPages, NtMapUserPhysicalPages,
// NtFreeUserPhysicalPages).
//
// What NT does (WRK base/ntos/mm/physical.c, allocvm.c, freevm.c,
// protect.c, queryvm.c), and what mmkit keeps of it:
//   - a process owns a set of frames, NT's VadPhysicalPagesBitMap: one bit
//     per frame of the machine, made by the first allocation. Here it is
//     awe_pages, its storage from the Config allocator that write-watch
//     bitmaps come from (none in a freestanding build: the first allocation
//     then fails with insufficient_resources, as NT's pool allocation would);
//   - an owned frame is active with share count 1 whether mapped or not;
//     its PFN entry's back-link names the one PTE that maps it, or nothing
//     (NT's PteAddress). A frame is mapped at one place at a time;
//   - a mapped page's PTE is valid, read-write; the frame's original PTE
//     says PAGE_READWRITE so that the page-state model reports it committed
//     read-write and an unmapped page (zero PTE) reserved: NT's
//     MiQueryAddressState for a VadAwe VAD (queryvm.c) answers MEM_COMMIT
//     with the PTE's protection for a non-zero PTE and MEM_RESERVE with
//     protection 0 for a zero one; the type is MEM_PRIVATE;
//   - every owned frame is charged to the process's commit (mmkit's commit
//     is a promise of frames: a frame taken without a charge would break
//     the promise made to committed pages) and counted in frames_in_use.
//     The AWE VAD itself charges nothing;
//   - releasing the region unmaps its pages, which stay the process's
//     (MiRemoveUserPhysicalPagesVad: "The physical pages of this Vad are
//     unmapped here, but not freed"); freeing a frame unmaps it first.
//
// AWE pages are nonpaged: trim leaves them alone, and the region refuses
// commit, MEM_RESET, decommit, protect and partial release (the NT layer
// checks; nt/virtual_memory.hpp cites each status).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/paging/page_listener.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/phys/pfn_policies.hpp>
#include <mmkit/vad/vad.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>

namespace mmkit {

/// The user physical pages one address space owns: a bit per frame of the
/// system (NT's VadPhysicalPagesBitMap) and how many are set.
struct awe_pages {
  std::uint64_t* bits = nullptr;
  std::uint64_t frames = 0;  ///< frames the bitmap covers
  std::uint64_t pages = 0;   ///< frames owned (NT's VadPhysicalPages)
  /// Allocations and frees so far: a snapshot (emu/snapshot.hpp) compares
  /// the bitmap with its own only when this moved.
  std::uint64_t changes = 0;

  bool owns(pfn f) const noexcept {
    return bits != nullptr && f.raw() < frames &&
           ((bits[f.raw() / 64] >> (f.raw() % 64)) & 1u) != 0;
  }
  void set(pfn f) noexcept {
    bits[f.raw() / 64] |= std::uint64_t{1} << (f.raw() % 64);
  }
  void clear(pfn f) noexcept {
    bits[f.raw() / 64] &= ~(std::uint64_t{1} << (f.raw() % 64));
  }
  static constexpr std::size_t bytes_for(std::uint64_t frames) noexcept {
    return (frames + 63) / 64 * sizeof(std::uint64_t);
  }
};

namespace region {

/// Whether `v` is an AWE (MEM_PHYSICAL) reservation.
inline bool is_awe(const vad& v) noexcept {
  return v.has(vad_flags::user_physical_pages);
}

/// The original PTE an AWE frame keeps: PAGE_READWRITE, so that a valid
/// PTE naming it reads as a committed read-write page.
template <class Core>
std::uint64_t awe_original_pte() noexcept {
  return Core::sw::demand_zero(mm::readwrite);
}

/// Effects: `v` (a new reservation) becomes an AWE region.
inline void mark_awe(vad& v) noexcept {
  v.set_flags(v.flags() | vad_flags::user_physical_pages);
}

/// Effects: every mapped page of `r` (in AWE region `v`) is unmapped; the
/// frames stay owned. Tables are freed as they empty.
template <class Core>
void awe_unmap_range(Core& c, vpn_range r) noexcept {
  using entry_type = typename Core::entry_type;
  using codec = typename Core::model::codec;
  c.ptes.rewrite(
      r,
      [&](vpn, entry_type old) {
        if (old == 0) return old;
        MMKIT_ASSERT(codec::is_present(old));
        const pfn frame = codec::page_address(old, 0).frame();
        c.pfns().set_pte_link(frame, pte_link{}, awe_original_pte<Core>());
        return entry_type{0};
      },
      [](vpn, vpn) { return true; });
}

/// Effects: `awe` has a bitmap over every frame of the system, from the
/// Config allocator that write-watch bitmaps come from.
/// Returns: insufficient_resources when there is no storage for it.
template <class Core>
status awe_make_bitmap(Core& c, awe_pages& awe) noexcept {
  if (awe.bits != nullptr) return status::success;
  const std::uint64_t n = c.pfns().frame_count();
  void* raw = c.watch_alloc.allocate(awe_pages::bytes_for(n));
  if (raw == nullptr) return status::insufficient_resources;
  awe.bits = static_cast<std::uint64_t*>(raw);
  awe.frames = n;
  for (std::uint64_t i = 0; i < (n + 63) / 64; ++i) awe.bits[i] = 0;
  return status::success;
}

/// Effects: frees a storage-less bitmap once no frame is owned.
template <class Core>
void awe_drop_bitmap(Core& c, awe_pages& awe) noexcept {
  if (awe.bits == nullptr || awe.pages != 0) return;
  c.watch_alloc.deallocate(awe.bits, awe_pages::bytes_for(awe.frames));
  awe.bits = nullptr;
  awe.frames = 0;
}

/// NtAllocateUserPhysicalPages(count, frames): up to `count` zeroed frames
/// become the process's, charged to its commit; `count` becomes how many
/// (fewer when commit or free frames run short, as NT "makes do with what
/// it has gotten") and `frames` receives them.
/// Returns: success (count 0 asks for nothing); insufficient_resources when
/// no frame at all can be had or there is no storage for the bitmap (WRK
/// physical.c: no pages -> STATUS_INSUFFICIENT_RESOURCES). NT's privilege
/// check (SeLockMemoryPrivilege) is not modelled.
template <class Core>
status allocate_user_physical_pages(Core& c, awe_pages& awe,
                                    std::uint64_t& count,
                                    pfn* frames) noexcept {
  if (count == 0) return status::success;
  // Reasoned: NT probes the array (an access violation); a null array is
  // refused as the bad third parameter, before anything changes.
  if (frames == nullptr) return status::invalid_parameter_3;
  if (const status s = awe_make_bitmap(c, awe); s != status::success) return s;
  // The most pages the promise can take now: a charge either takes all it
  // asks or nothing, so search for the largest that fits.
  std::uint64_t want = count;
  std::uint64_t free_now = c.pfns().available_below(Core::frame_end);
  if (want > free_now) {
    // The spaces' frame caches hold free memory too (phys/frame_cache.hpp).
    c.sys->drain_frame_caches_locked();
    free_now = c.pfns().available_below(Core::frame_end);
  }
  if (want > free_now) want = free_now;
  std::uint64_t lo = 0, hi = want;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo + 1) / 2;
    if (c.sys->charge_commit_locked(mid, 0, Core::frame_end)) {
      c.sys->return_commit_locked(mid, Core::frame_end);
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  std::uint64_t got = 0;
  if (lo != 0 && c.sys->charge_commit_locked(lo, 0, Core::frame_end)) {
    c.commit_charge += lo;
    for (; got < lo; ++got) {
      auto f = c.pfns().allocate(page_need::zeroed, 0, Core::frame_end);
      if (!f) break;
      c.pfns().set_pte_link(*f, pte_link{}, awe_original_pte<Core>());
      c.count_frame(+1);
      awe.set(*f);
      frames[got] = *f;
    }
    if (got < lo) c.uncharge(lo - got);
  }
  awe.pages += got;
  awe.changes += got != 0;
  if (got == 0) {
    awe_drop_bitmap(c, awe);
    return status::insufficient_resources;
  }
  count = got;
  return status::success;
}

/// Effects: frame `f`, zeroed or free in the system's lists, becomes the
/// process's, unmapped and charged to its commit, as
/// allocate_user_physical_pages hands frames out, but by its number (a
/// saved system's load, emu/saved_system.hpp: the guest names its frames).
/// Returns: conflicting_addresses (the frame is in use, bad, or past the
/// space's frames), commitment_limit, insufficient_resources (no storage
/// for the bitmap); then nothing changed.
template <class Core>
status awe_adopt(Core& c, awe_pages& awe, pfn f) noexcept {
  if (f.raw() >= Core::frame_end.raw()) return status::conflicting_addresses;
  if (const status s = awe_make_bitmap(c, awe); s != status::success) return s;
  status why = status::success;
  if (!c.sys->charge_commit_locked(1, 0, Core::frame_end))
    why = status::commitment_limit;
  else if (!c.pfns().claim(f)) {
    c.sys->return_commit_locked(1, Core::frame_end);
    why = status::conflicting_addresses;
  }
  if (why != status::success) {
    awe_drop_bitmap(c, awe);
    return why;
  }
  ++c.commit_charge;
  c.pfns().set_pte_link(f, pte_link{}, awe_original_pte<Core>());
  c.count_frame(+1);
  awe.set(f);
  ++awe.pages;
  ++awe.changes;
  return status::success;
}

/// NtMapUserPhysicalPages(va, count, frames): the `count` pages from
/// `va`'s page map frames[0..count) read-write, replacing what they mapped;
/// with `frames` null they are unmapped. All or nothing.
/// Returns (WRK physical.c, in its order): invalid_parameter_2 (count 0
/// or the range wraps), invalid_parameter_1 (the process owns no frames,
/// or the range is not inside one AWE region), conflicting_addresses (a
/// frame the process does not own), invalid_parameter_3 (a frame mapped
/// already, anywhere, or named twice), quota_exceeded / commitment_limit
/// / insufficient_resources (page tables for the range).
template <class Core>
status map_user_physical_pages(Core& c, awe_pages& awe, vaddr va,
                               std::uint64_t count,
                               const pfn* frames) noexcept {
  using entry_type = typename Core::entry_type;
  // physical.c: a count of 0, or one that makes the range wrap, is
  // parameter 2; a range outside every AWE region (kernel space included)
  // is parameter 1.
  const std::uint64_t first = align_down(va.raw(), page_size);
  if (count == 0 || count > (~std::uint64_t{0} >> page_shift) ||
      ~std::uint64_t{0} - first < (count << page_shift) - 1)
    return status::invalid_parameter_2;
  if (awe.bits == nullptr) return status::invalid_parameter_1;
  if (first > Core::highest_user_address ||
      Core::highest_user_address - first < (count << page_shift) - 1)
    return status::invalid_parameter_1;
  const vpn_range r{vaddr{first}.page(),
                    vaddr{first + (count << page_shift) - 1}.page()};
  const vad* v = c.vads.find_containing(r.first);
  if (v == nullptr || r.last > v->end() || !is_awe(*v))
    return status::invalid_parameter_1;
  if (frames == nullptr) {
    awe_unmap_range(c, r);
    return status::success;
  }
  // First pass: every frame is owned and unmapped; each is marked "about to
  // be mapped" (a prototype back-link no AWE frame otherwise has), so a
  // frame named twice is caught, as NT's share count 3 catches it.
  const pte_link marked = pte_link::prototype_pte(0);
  std::uint64_t i = 0;
  status why = status::success;
  for (; i < count; ++i) {
    const pfn f = frames[i];
    if (!awe.owns(f)) {
      why = status::conflicting_addresses;
      break;
    }
    if (c.pfns().entry(f).link().kind != pte_kind::none) {
      why = status::invalid_parameter_3;
      break;
    }
    c.pfns().set_pte_link(f, marked, awe_original_pte<Core>());
  }
  if (why == status::success) {
    if (const status s = c.charge(0, r); s != status::success) why = s;
  }
  if (why != status::success) {
    for (std::uint64_t j = 0; j < i; ++j)
      c.pfns().set_pte_link(frames[j], pte_link{}, awe_original_pte<Core>());
    return why;
  }
  // Second pass: the tables are promised, so no write fails.
  i = 0;
  c.ptes.rewrite(r, [&](vpn p, entry_type old) {
    if (old != 0) {
      const pfn was = Core::model::codec::page_address(old, 0).frame();
      c.pfns().set_pte_link(was, pte_link{}, awe_original_pte<Core>());
    }
    const pfn f = frames[i++];
    (void)p;
    return Core::model::valid_entry(f, mm_protection{mm::readwrite});
  });
  // The back-links, now that every table exists.
  for (vpn p = r.first;; ++p) {
    c.pfns().set_pte_link(frames[p.raw() - r.first.raw()],
                          pte_link::hardware_pte(c.ptes.entry_address(p)),
                          awe_original_pte<Core>());
    if (p == r.last) break;
  }
  return status::success;
}

/// The snapshot journal listening to the space behind `c`, if its PTE
/// observer has one (region/write_watch.hpp's space_observer).
template <class Core>
page_listener* journal_of(Core& c) noexcept {
  if constexpr (requires { c.ptes.observer().journal; })
    return c.ptes.observer().journal;
  else
    return nullptr;
}

/// Effects: owned frame `f` is unmapped where it is mapped and stops being
/// the process's. It goes back to the system with its charge, or, when
/// `journal` keeps it (a snapshot that gives it back on restore:
/// page_listener::keep_freed_frame), stays active and charged to the
/// system, the journal's.
template <class Core>
void awe_give_up(Core& c, awe_pages& awe, pfn f,
                 page_listener* journal) noexcept {
  const pte_link at = c.pfns().entry(f).link();
  if (at.kind == pte_kind::hardware) {
    [[maybe_unused]] const auto w =
        c.ptes.write(c.page_of_pte(at.address()), 0);
    MMKIT_ASSERT(w.ok());
  }
  awe.clear(f);
  --awe.pages;
  if (journal != nullptr && journal->keep_freed_frame(f)) {
    c.pfns().set_pte_link(f, pte_link{}, awe_original_pte<Core>());
    c.count_frame(-1);
    --c.commit_charge;  // the system's charge stays, with the frame
    return;
  }
  c.pfns().set_pte_link(f, pte_link{}, 0);
  c.free_frame(f);
  c.uncharge(1);
}

/// Requires: `f` is active, unowned, and charged to the system (a frame a
/// journal kept: awe_give_up). Effects: it is the process's again,
/// unmapped, its charge the process's.
template <class Core>
void awe_take_back(Core& c, awe_pages& awe, pfn f) noexcept {
  MMKIT_ASSERT(!awe.owns(f) && c.pfns().entry(f).state() == page_state::active);
  awe.set(f);
  ++awe.pages;
  c.pfns().set_pte_link(f, pte_link{}, awe_original_pte<Core>());
  c.count_frame(+1);
  ++c.commit_charge;
}

/// NtFreeUserPhysicalPages(count, frames): frames[0..count) are unmapped
/// wherever they are mapped and go back to the system, with their charge
/// (or to a snapshot that keeps them: awe_give_up). `count` becomes how
/// many were freed.
/// Returns (WRK physical.c): invalid_parameter_2 (the process owns no
/// frames), conflicting_addresses at the first frame it does not own (the
/// frames before it are freed).
template <class Core>
status free_user_physical_pages(Core& c, awe_pages& awe, std::uint64_t& count,
                                const pfn* frames) noexcept {
  if (count == 0) return status::success;
  if (awe.bits == nullptr) return status::invalid_parameter_2;
  if (frames == nullptr) return status::invalid_parameter_3;
  page_listener* const journal = journal_of(c);
  std::uint64_t done = 0;
  status why = status::success;
  for (; done < count; ++done) {
    const pfn f = frames[done];
    if (!awe.owns(f)) {
      why = status::conflicting_addresses;
      break;
    }
    awe_give_up(c, awe, f, journal);
  }
  awe.changes += done != 0;
  count = done;
  awe_drop_bitmap(c, awe);
  return why;
}

/// Effects: every frame the process still owns goes back (teardown: its
/// AWE regions are released first, so none is mapped).
template <class Core>
void awe_free_all(Core& c, awe_pages& awe) noexcept {
  if (awe.bits == nullptr) return;
  for (std::uint64_t w = 0; w < (awe.frames + 63) / 64; ++w)
    while (awe.bits[w] != 0)
      awe_give_up(
          c, awe,
          pfn{w * 64 + static_cast<unsigned>(std::countr_zero(awe.bits[w]))},
          nullptr);
  ++awe.changes;
  awe_drop_bitmap(c, awe);
}

}  // namespace region
}  // namespace mmkit
