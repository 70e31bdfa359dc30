#pragma once
// The invariants of one address space, checked from scratch (for tests and
// fuzzers; address_space::check_invariants holds the locks and calls it):
// the VAD tree's and the page table's own, each VAD's commit charge against
// a recount of its committed pages, the space's charge and resident frames
// against the VADs (AWE frames charged to the process, mapped or not), each
// mapped AWE page an owned frame whose back-link names its PTE, every
// writable private page's frame mapped by no other PTE (a fork's shared
// frames are mapped read-only), the TLB's coherence with the page tables,
// and the system's PFN database.
// Complexity: O(VADs + pages under present tables + TLB entries + frames).

#include <mmkit/core/access.hpp>
#include <mmkit/paging/walker.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/region/awe.hpp>
#include <mmkit/region/page_state.hpp>
#include <mmkit/section/prototype_pool.hpp>
#include <mmkit/section/section.hpp>

#include <cstddef>
#include <cstdint>

namespace mmkit::region {

/// Whether every translation the TLB caches is one a fresh walk (which
/// sets no A/D bits) would give now: same frame, and no right the tables
/// deny.
template <class Core>
bool tlb_is_coherent(const Core& c) noexcept {
  using Arch = typename Core::arch_type;
  bool ok = true;
  const auto& x = c.ptes.translator();
  const auto& memory = x.memory();
  x.tlb().debug_for_each([&](vaddr page, cpu_mode mode, bool writable,
                             bool executable, std::byte* host) {
    const auto check = [&](access acc) {
      const translation<Arch> t =
          walk<Arch>(memory, x.table().root(), page, acc, mode);
      return t.ok() &&
             memory.read_frame(t.address.frame()) + t.address.page_offset() ==
                 host;
    };
    ok = ok && check(access::read) && (!writable || check(access::write)) &&
         (!executable || check(access::execute));
  });
  return ok;
}

/// Whether every invariant of the header comment holds for `c` with its
/// AWE pages `awe`.
template <class Core, class Awe>
bool check_space(Core& c, const Awe& awe) noexcept {
  if (!c.vads.check_invariants() || !c.ptes.table().check_invariants())
    return false;
  std::uint64_t charge = 0;
  std::uint64_t resident = 0;
  for (vad& v : c.vads) {
    if (is_awe(v)) {
      // AWE pages charge the process, not the region: every mapped page
      // is an owned frame whose back-link names this PTE.
      bool ok = v.commit_charge() == 0;
      c.scan(v, v.range(), [&](vpn a, vpn, const page_view& pv) {
        if (pv.committed)
          ok = ok && pv.valid && awe.owns(pv.frame) &&
               c.pfns().entry(pv.frame).link() ==
                   pte_link::hardware_pte(c.ptes.entry_address(a));
        return ok;
      });
      if (!ok) return false;
      continue;
    }
    if (!v.private_memory()) {
      // A view: charged for at most its pages; every valid shared page
      // is its prototype's resident frame, every private copy links to its
      // PTE.
      bool ok = v.commit_charge() <= v.pages();
      const auto& pool = c.sys->sections().pool;
      c.scan(v, v.range(), [&](vpn a, vpn b, const page_view& pv) {
        if (pv.pte == entry_kind::zero) return ok = false;
        if (pv.valid && pv.shared)
          ok = ok && proto::is_resident(pool[pv.proto]) &&
               proto::frame_of(pool[pv.proto]) == pv.frame &&
               c.pfns().entry(pv.frame).link() ==
                   pte_link::prototype_pte(pv.proto);
        else if (pv.resident)
          // A fork's frame has no back-link until a trim claims it.
          ok = ok && (c.pfns().entry(pv.frame).link() ==
                          pte_link::hardware_pte(c.ptes.entry_address(a)) ||
                      c.pfns().entry(pv.frame).link().kind == pte_kind::none);
        if (pv.resident && !pv.shared) resident += b.raw() - a.raw() + 1;
        return ok;
      });
      if (!ok) return false;
      charge += v.commit_charge();
      continue;
    }
    std::uint64_t committed = 0;
    bool ok = true;
    c.scan(v, v.range(), [&](vpn a, vpn b, const page_view& pv) {
      const std::uint64_t n = b.raw() - a.raw() + 1;
      committed += pv.committed ? n : 0;
      resident += pv.resident ? n : 0;
      // A frame another space maps too (a fork's) is mapped in a fork's
      // form, read-only, so that no write reaches it.
      if (pv.valid && !pv.forked)
        ok = ok && c.pfns().entry(pv.frame).share_count() == 1;
      return ok;
    });
    if (!ok || committed != v.commit_charge()) return false;
    charge += committed;
  }
  // Owned AWE frames are charged and counted whether mapped or not.
  if (charge + awe.pages != c.commit_charge ||
      resident + awe.pages != c.frames_in_use)
    return false;
  return tlb_is_coherent(c) && c.pfns().check_invariants();
}

}  // namespace mmkit::region
