#pragma once
// Working sets: the pages an address space holds valid, and how they are
// trimmed.
//
// The working set is the space's valid PTEs. The PTE writer's observer
// counts them as they are written (space_observer::working_set, in
// region/write_watch.hpp), so entries come and go only through the PTE
// writer, and the set costs no memory of its own: a freestanding space
// needs no working-set list from its caller. The trimmer's clock hand
// walks the set through the page tables in address order, VAD by VAD,
// skipping missing tables, and gives each page a second chance by its
// accessed bit, as NT's working-set aging does with its WSLE ages.
//
//   trim_page          one page leaves the working set:
//                        private: a transition PTE, the frame to the
//                        modified list (private_memory.hpp, region::trim)
//                        a view's shared page: the view's prototype PTE
//                        again; the frame leaves the prototype for the
//                        standby or modified list only when no other view
//                        maps it (section_ops::release_page)
//                        a view's private copy: as a private page
//                      AWE pages are not trimmed (nonpaged), nor private
//                      frames a fork shares with another space (their
//                      share count > 1; region/fork.hpp)
//   trim_working_set   the clock: up to n pages, leaving at least `keep`
//
// A trimmed page's next access is a soft fault while its frame is on a
// list, a hard fault once the frame was repurposed.

#include <mmkit/core/address.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/region/page_state.hpp>
#include <mmkit/region/private_memory.hpp>
#include <mmkit/region/view.hpp>
#include <mmkit/section/section_ops.hpp>
#include <mmkit/vad/vad.hpp>

#include <cstdint>

namespace mmkit::region {

/// Effects: page `p` of `v` leaves the working set (see the header
/// comment). Returns: whether it was in it and could go.
template <class Core>
bool trim_page(Core& c, const vad& v, vpn p) noexcept {
  if (v.private_memory()) return trim(c, v, p);
  const page_view pv = c.view(v, p);
  if (!pv.valid) return false;
  using ops = section_ops<typename Core::system_type>;
  const typename Core::entry_type e = c.ptes.read(p);
  auto& db = c.pfns();
  if (!pv.shared) {
    // A private copy (copy-on-write): as a private page, its only copy is
    // the frame; one a fork shares with another space stays.
    if (db.entry(pv.frame).share_count() > 1) return false;
    c.claim_frame(p, pv.frame, pv.protection);
    ++c.sys->stats_locked().trimmed;
    db.set_modified(pv.frame);
    db.decrement_share_count(pv.frame, release_to::backing_store);
    [[maybe_unused]] const auto w =
        c.ptes.write(p, Core::sw::transition(pv.protection.raw(), pv.frame));
    MMKIT_ASSERT(w.ok());
    return true;
  }
  if (e & Core::model::codec::D) db.set_modified(pv.frame);
  ++c.sys->stats_locked().trimmed;
  [[maybe_unused]] const auto w = c.ptes.write(
      p, Core::model::view_prototype_entry(pv.proto, pv.protection));
  MMKIT_ASSERT(w.ok());
  db.decrement_share_count(pv.frame, release_to::backing_store);
  if (db.entry(pv.frame).share_count() == 1)
    ops::release_page(*c.sys, pv.proto);
  return true;
}

/// Effects: the clock trims up to `pages` pages of the working set while
/// it holds more than `keep`: from the hand on, a valid page whose
/// accessed bit is set loses the bit (a second chance), one whose bit is
/// clear is trimmed. At most two sweeps of the set. Page `spare` stays
/// (the page a fault just brought in, which its access is about to use:
/// trimmed, the access would fault again, for ever).
/// Returns: the pages trimmed.
/// Complexity: O(pages visited + missing subtrees passed).
template <class Core>
std::uint64_t trim_working_set(Core& c, std::uint64_t pages, std::uint64_t keep,
                               vpn spare = vpn{~std::uint64_t{0}}) noexcept {
  using entry_type = typename Core::entry_type;
  constexpr entry_type present = Core::model::codec::P;
  constexpr entry_type accessed = Core::model::codec::A_;
  std::uint64_t trimmed = 0;
  if (c.vads.empty() || pages == 0) return 0;
  // Valid pages the hand may pass before it gives up: two sweeps.
  std::uint64_t budget = 2 * c.working_set() + 2;
  unsigned wraps = 0;
  while (trimmed < pages && c.working_set() > keep && budget != 0) {
    const vad* v = c.vads.find_containing(c.ws_hand);
    if (v == nullptr) v = c.vads.first_at_or_after(c.ws_hand);
    if (v == nullptr) {
      if (++wraps > 2) break;
      c.ws_hand = c.vads.begin()->start();
      continue;
    }
    const vpn from = c.ws_hand > v->start() ? c.ws_hand : v->start();
    // A batch of valid pages from the hand (the span walk only reads).
    constexpr unsigned batch_size = 64;
    vpn batch[batch_size];
    unsigned n = 0;
    vpn next = v->end() + 1;
    if (!is_awe(*v)) {
      c.ptes.for_each_span({from, v->end()}, [&](const auto& s) {
        if (!s.present()) return true;
        const entry_type* e = s.entries;
        for (vpn q = s.first;; ++q, ++e) {
          if (*e & present) {
            batch[n++] = q;
            if (n == batch_size) {
              next = q + 1;
              return false;
            }
          }
          if (q == s.last) return true;
        }
      });
    }
    for (unsigned i = 0; i < n; ++i) {
      const vpn q = batch[i];
      const entry_type e = c.ptes.read(q);
      if (!(e & present) || q == spare) continue;
      if (budget != 0) --budget;
      if (e & accessed) {
        [[maybe_unused]] const auto w =
            c.ptes.write(q, static_cast<entry_type>(e & ~accessed));
        MMKIT_ASSERT(w.ok());
        continue;
      }
      if (trim_page(c, *v, q) &&
          (++trimmed == pages || c.working_set() <= keep)) {
        next = q + 1;
        break;
      }
    }
    // Past the end of the address space: start over at the first VAD.
    if (next.raw() > vaddr{Core::highest_user_address}.page().raw()) {
      if (++wraps > 2) break;
      c.ws_hand = c.vads.begin()->start();
    } else {
      c.ws_hand = next;
    }
  }
  return trimmed;
}

}  // namespace mmkit::region
