#pragma once
// pte_writer: the one place a leaf PTE of an address space changes. It makes
// a page valid or invalid and changes its rights; nothing else writes a leaf
// (the walker's A/D updates are the processor's, not a change of mapping).
//
//   pte_writer ─┬─ translator     page table + software TLB (reads, the
//               │                 guest-access fast path, coherence)
//               └─ Observer       told of every change: (vpn, old, new)
//
// Each write goes through translator::write_leaf, which drops the page from
// the TLB and forgets the cached upper levels of any table the write freed,
// then the observer hears of it. A write over a PTE that is not present
// drops nothing: no TLB entry holds such a page. Runs of such writes (a
// commit of fresh pages, a release of untouched ones, a new view) go a leaf
// table at a time through fill_absent / fill_absent_with, the use count
// settled once per table. A working set, write watch or an embedding
// emulator's own cache of host pointers hangs off the observer; it sees
// every transition (valid -> transition on a trim, demand-zero -> valid on
// a fault, valid -> valid with other rights on a protect, anything -> zero
// on a release).
//
// Writes that need a missing leaf table make it (with its upper levels); a
// write of zero that empties a table frees it. Callers that must not fail
// half-way count the tables first (tables_needed) and check the frame
// source before they start.

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/access.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/config.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/paging/leaf_range.hpp>
#include <mmkit/paging/translator.hpp>

#include <concepts>
#include <cstdint>
#include <utility>

namespace mmkit {

/// Who hears of PTE changes. Called after the entry is written and the TLB
/// dropped the page; must not write PTEs of the same address space.
template <class O, class Entry>
concept PteObserver = requires(O& o, vpn page, Entry before, Entry after) {
  /// `page`'s leaf PTE went from `before` to `after` (both raw entries of
  /// the arch's format; decode with entry_codec / software_pte).
  { o.pte_changed(page, before, after) }
  noexcept->std::same_as<void>;
};

/// The observer that listens to nothing, at no cost.
struct no_pte_observer {
  template <class Entry>
  constexpr void pte_changed(vpn, Entry, Entry) noexcept {}
};
static_assert(PteObserver<no_pte_observer, std::uint64_t>);

template <arch::PagingArch Arch, WritablePhysicalMemory Memory,
          FrameSource Source, TlbGeometry Geometry = direct_mapped_tlb,
          PteObserver<typename Arch::entry_type> Observer = no_pte_observer>
class pte_writer {
 public:
  using entry_type = typename Arch::entry_type;
  using translator_type = mmkit::translator<Arch, Memory, Source, Geometry>;
  using table_type = typename translator_type::table_type;
  using leaf_ref = typename table_type::leaf_ref;
  using span_type = leaf_span<entry_type>;

  pte_writer() noexcept = default;

  /// Effects: a writer over a new, empty page table (its root from
  /// `source`). Returns the source's status when it has no frame.
  static result<pte_writer> create(Memory& memory, Source& source,
                                   Observer observer = Observer{}) noexcept {
    auto t = translator_type::create(memory, source);
    if (!t) return t.error();
    pte_writer w;
    w.xlat_ = std::move(t).value();
    w.observer_ = std::move(observer);
    return w;
  }

  // --- reads -------------------------------------------------------------

  /// The leaf PTE of `p` (zero where no table holds one).
  entry_type read(vpn p) noexcept {
    const auto leaf = mutable_table().find_leaf(p.address());
    return leaf ? load_entry(leaf.entry) : entry_type{0};
  }
  /// Calls f(span) for the spans of `r` (see paging/leaf_range.hpp); f
  /// only reads.
  template <class F>
  void for_each_span(vpn_range r, F&& f) noexcept {
    for_each_leaf_span<Arch>(mutable_table(), r, static_cast<F&&>(f));
  }

  // --- writes ------------------------------------------------------------

  /// Effects: `p`'s PTE becomes `value` (tables made or freed as needed).
  /// Returns: the frame source's status when a table cannot be made (the
  /// entry is then unchanged).
  result<void> write(vpn p, entry_type value) noexcept {
    const entry_type old = read(p);
    if (old == value) return {};
    if (auto r = xlat_.write_leaf(p.address(), value); !r) return r;
    observer_.pte_changed(p, old, value);
    return {};
  }

  /// Rewrites the PTEs of `r` in order: g(vpn, old) returns the new entry
  /// (and does whatever goes with it, such as freeing a frame); entries
  /// that change are written and reported. Where no leaf table covers a
  /// span, skip(first, last) may take the whole span (return true), so g is
  /// not called for each of its zero entries.
  /// Requires: the tables the non-zero writes need are available
  /// (tables_needed); then no write fails.
  /// Complexity: O(pages given to g + spans).
  template <class G, class Skip>
  void rewrite(vpn_range r, G&& g, Skip&& skip) noexcept {
    vpn p = r.first;
    while (true) {
      const auto probe = mutable_table().probe_leaf(p.address());
      leaf_ref leaf = probe.leaf;
      vpn last = detail::span_last<Arch>(p, leaf ? 1 : probe.gap_level, r.last);
      if (!leaf) {
        if (skip(p, last)) {
          if (last == r.last) return;
          p = last + 1;
          continue;
        }
        // g may write: one leaf table's worth at a time, so the table made
        // for the first write holds the rest of the span.
        last = detail::span_last<Arch>(p, 1, last);
      }
      for (;; ++p) {
        // An atomic load: a protect without the PFN lock rewrites PTEs that
        // its holder rewrote before (rewrite_transition).
        const entry_type old = leaf ? load_entry(leaf.entry) : entry_type{0};
        const entry_type now = g(p, old);
        if (now != old) {
          if (!leaf) {
            auto made = mutable_table().ensure_leaf(p.address());
            MMKIT_ASSERT(made.ok());
            leaf = *made;
          }
          const bool kept = xlat_.write_leaf(p.address(), leaf, now);
          observer_.pte_changed(p, old, now);
          if (!kept) leaf = {};  // the write emptied the table: zeros follow
        }
        if (leaf) ++leaf.entry;
        if (p == last) break;
      }
      if (last == r.last) return;
      p = last + 1;
    }
  }
  template <class G>
  void rewrite(vpn_range r, G&& g) noexcept {
    rewrite(r, static_cast<G&&>(g), [](vpn, vpn) { return false; });
  }
  /// As rewrite(r, g, skip), but a table the writes empty stays, empty,
  /// until free_empty_tables: a decommit clears its PTEs while it may not
  /// give frames back (it does not hold the PFN lock), then frees the
  /// tables once it does.
  template <class G, class Skip>
  void rewrite_keeping_tables(vpn_range r, G&& g, Skip&& skip) noexcept {
    mutable_table().keep_empty_tables(true);
    rewrite(r, static_cast<G&&>(g), static_cast<Skip&&>(skip));
    mutable_table().keep_empty_tables(false);
  }
  /// Requires: no PTE of `r` is present, and no value_of(p) is; the tables
  /// the writes need are available (tables_needed).
  /// Effects: as rewrite(r, [&](vpn p, entry_type) { return value_of(p);
  /// }, skip): every PTE of `r` becomes value_of(p), each change reported
  /// in order, a table the writes empty freed; where no leaf table covers
  /// a span, skip(first, last) may take the whole span (its values are
  /// all zero), else its tables are made. A leaf table at a time, with no
  /// TLB drop (no TLB entry holds a page whose PTE is not present): what a
  /// commit of fresh pages, a release of untouched ones and a new view
  /// write.
  /// Complexity: O(pages under present or made tables + spans).
  template <class ValueOf, class Skip>
  void fill_absent_with(vpn_range r, ValueOf&& value_of, Skip&& skip) noexcept {
    vpn p = r.first;
    while (true) {
      const auto probe = mutable_table().probe_leaf(p.address());
      leaf_ref leaf = probe.leaf;
      vpn last = detail::span_last<Arch>(p, leaf ? 1 : probe.gap_level, r.last);
      if (!leaf && !skip(p, last)) {
        // One leaf table's worth: the table made holds the whole of it.
        last = detail::span_last<Arch>(p, 1, last);
        auto made = mutable_table().ensure_leaf(p.address());
        MMKIT_ASSERT(made.ok());
        leaf = *made;
      }
      if (leaf) {
        const vpn first = p;
        xlat_.fill_absent(
            p.address(), leaf, last.raw() - p.raw() + 1,
            [&](std::uint64_t i) { return value_of(vpn{first.raw() + i}); },
            [&](std::uint64_t i, entry_type old, entry_type now) {
              absent_changed(vpn{first.raw() + i}, old, now);
            });
      }
      if (last == r.last) return;
      p = last + 1;
    }
  }
  /// fill_absent_with for one value over all of `r` (a commit's, or a
  /// release's zero, which skips every span without a table).
  void fill_absent(vpn_range r, entry_type value) noexcept {
    fill_absent_with(
        r, [value](vpn) { return value; },
        [value](vpn, vpn) { return value == 0; });
  }
  /// As fill_absent(r, 0), but a table the writes empty stays, empty,
  /// until free_empty_tables (see rewrite_keeping_tables).
  void clear_absent_keeping_tables(vpn_range r) noexcept {
    mutable_table().keep_empty_tables(true);
    fill_absent(r, entry_type{0});
    mutable_table().keep_empty_tables(false);
  }
  /// Effects: every empty leaf table of `r` is freed, with the ancestors
  /// it leaves empty (what writes of zero over `r` would have freed).
  /// Complexity: O(leaf tables and missing subtrees of r).
  void free_empty_tables(vpn_range r) noexcept {
    for (vpn p = r.first;;) {
      const auto probe = mutable_table().probe_leaf(p.address());
      if (probe.leaf) xlat_.free_if_empty(p.address());
      const vpn last =
          detail::span_last<Arch>(p, probe.leaf ? 1 : probe.gap_level, r.last);
      if (last == r.last) return;
      p = last + 1;
    }
  }

  /// Effects: none. Returns: how many table frames writing non-zero
  /// entries over all of `r` might need (a missing leaf table may need a
  /// table at every level but the root).
  /// Complexity: O(spans of r).
  std::uint64_t tables_needed(vpn_range r) noexcept {
    std::uint64_t missing = 0;
    constexpr std::uint64_t leaf_pages = Arch::level[1].span() >> page_shift;
    for_each_span(r, [&](const span_type& s) {
      if (!s.present()) {
        const std::uint64_t first_table = s.first.raw() / leaf_pages;
        const std::uint64_t last_table = s.last.raw() / leaf_pages;
        missing += last_table - first_table + 1;
      }
      return true;
    });
    return missing * (Arch::levels - 1);
  }

  /// Effects: makes the leaf table of `p` (a write to it then cannot fail).
  result<leaf_ref> ensure_leaf(vpn p) noexcept {
    return mutable_table().ensure_leaf(p.address());
  }
  /// Effects: makes every leaf table `r` lacks, with its upper levels, so
  /// that no write over `r` needs a frame (a commit makes them while it
  /// holds the PFN lock, and writes its PTEs after letting go of it).
  /// Returns: the frame source's status when a table cannot be made (the
  /// tables made before stay, empty).
  /// Complexity: O(leaf tables of r).
  result<void> ensure_tables(vpn_range r) noexcept {
    for (vpn p = r.first;;) {
      if (!mutable_table().probe_leaf(p.address()).leaf)
        if (auto made = ensure_leaf(p); !made) return made.error();
      const vpn last = detail::span_last<Arch>(p, 1, r.last);
      if (last == r.last) return {};
      p = last + 1;
    }
  }
  /// `p`'s leaf entry, or null when a table on the way is missing.
  leaf_ref find_leaf(vpn p) noexcept {
    return mutable_table().find_leaf(p.address());
  }
  /// The physical address of `p`'s PTE, whose leaf table exists.
  paddr entry_address(vpn p) noexcept {
    const auto leaf = mutable_table().find_leaf(p.address());
    MMKIT_ASSERT(leaf);
    return table().entry_address(leaf);
  }

  /// As write(p, value), through `p`'s leaf entry that the caller holds
  /// (from ensure_leaf, no table freed since): no walk unless the write
  /// empties the table.
  void write_at(vpn p, leaf_ref leaf, entry_type value) noexcept {
    const entry_type old = *leaf.entry;
    if (old == value) return;
    xlat_.write_leaf(p.address(), leaf, value);
    observer_.pte_changed(p, old, value);
  }

  /// Requires: the PFN lock is held; the entry at physical address `pte`
  /// is a transition PTE and `value` is not present.
  /// Effects: the entry becomes `value` (its page-file or prototype form),
  /// as the system repurposes the frame, perhaps from another thread than
  /// the space's own, which may be walking its tables meanwhile (see
  /// lock_policy.hpp): one atomic store. No TLB held the entry and the page
  /// stays absent, so nothing is invalidated and the observer is not told:
  /// no translation or right changed, and the page's contents are the
  /// same, in a page file or a section now.
  void rewrite_transition(paddr pte, entry_type value) noexcept {
    auto* slot = reinterpret_cast<entry_type*>(
        xlat_.memory().frame(pte.frame()) + pte.page_offset());
    MMKIT_ASSERT(!(load_entry(slot) & entry_codec<Arch>::P) &&
                 !(value & entry_codec<Arch>::P));
    store_entry(slot, value);
  }

  // --- the translator (guest access, translation) and the observer ---------

  translator_type& translator() noexcept { return xlat_; }
  const translator_type& translator() const noexcept { return xlat_; }
  const table_type& table() const noexcept { return xlat_.table(); }
  Observer& observer() noexcept { return observer_; }
  const Observer& observer() const noexcept { return observer_; }

 private:
  /// Tells the observer of a change between PTEs that are not present: by
  /// its absent_pte_changed when it has one (which may skip what only
  /// present PTEs need), else by pte_changed.
  MMKIT_ALWAYS_INLINE void absent_changed(vpn p, entry_type before,
                                          entry_type after) noexcept {
    if constexpr (requires { observer_.absent_pte_changed(p, before, after); })
      observer_.absent_pte_changed(p, before, after);
    else
      observer_.pte_changed(p, before, after);
  }

  // The writer is the code that writes behind the translator's back; every
  // path here invalidates what it changes.
  table_type& mutable_table() noexcept { return xlat_.table_unsynchronized(); }

  translator_type xlat_;
  [[no_unique_address]] Observer observer_;
};

}  // namespace mmkit
