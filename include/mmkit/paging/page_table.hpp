#pragma once
// page_table<Arch, Memory, Source>: a hierarchy of hardware-format page
// tables held in simulated physical frames.
//
// Every table is one frame taken from a FrameSource and laid out exactly as
// the processor reads it (see paging/entry.hpp), so the walker, a real tool
// reading a dump, or real hardware would all translate the same way. The
// root frame is allocated at creation; root() is the CR3 value.
//
//   root (level n-1) ──► table (level n-2) ──► ... ──► table (level 0)
//   each table frame has a use count = its number of non-zero entries
//
// Invariants (check_invariants() verifies them all):
//   - every table frame's use count (FrameSource::table_use_count, NT's
//     UsedPageTableEntries) equals its number of non-zero entries, whether
//     they are present entries or NT software PTEs;
//   - every table but the root has a non-zero use count once an operation
//     returns, except tables that ensure_leaf() created and the caller has
//     not written yet: an entry going to zero frees its table, and the
//     parent's entry with it, walking back up toward the root;
//   - table_pages() counts the frames held, root included;
//   - intermediate entries are P|R/W|U/S (P alone in a PAE PDPTE), so the
//     leaf alone decides rights.
//
// Two interfaces share the tables. map/unmap/protect/query/for_each_mapping
// speak in present mappings of every page size the arch has. ensure_leaf/
// find_leaf/write_leaf give the layer above raw access to level-0 entries
// (NT software PTEs: demand-zero, transition, page file, prototype), with
// the counting done here. The page table caches nothing; whoever holds a
// TLB over it (see paging/translator.hpp) must invalidate after a change.
//
// Complexity: every operation is O(levels), except for_each_mapping (O(number
// of table entries)) and the destructor (O(number of tables)).

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/phys/frame_source.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace mmkit {

/// A present mapping: `bytes` of virtual memory at `va` map `pa`.
struct mapping {
  vaddr va{};
  paddr pa{};
  std::uint64_t bytes = 0;
  page_attr attrs = page_attr::none;
  unsigned level = 0;  // leaf-relative level of the mapping entry
  friend constexpr bool operator==(const mapping&, const mapping&) = default;
};

template <arch::PagingArch Arch, WritablePhysicalMemory Memory,
          FrameSource Source>
class page_table {
 public:
  using arch_type = Arch;
  using entry_type = typename Arch::entry_type;
  using codec = entry_codec<Arch>;
  static constexpr unsigned levels = Arch::levels;
  static constexpr unsigned entries_per_table =
      static_cast<unsigned>(page_size / sizeof(entry_type));

  /// A level-0 entry and the table frame that holds it; null when absent.
  struct leaf_ref {
    entry_type* entry = nullptr;
    pfn table{};
    constexpr explicit operator bool() const noexcept {
      return entry != nullptr;
    }
  };

  page_table() noexcept = default;
  page_table(page_table&& o) noexcept
      : memory_(std::exchange(o.memory_, nullptr)),
        source_(std::exchange(o.source_, nullptr)),
        root_(o.root_),
        table_pages_(std::exchange(o.table_pages_, 0)) {}
  page_table& operator=(page_table&& o) noexcept {
    if (this != &o) {
      destroy();
      memory_ = std::exchange(o.memory_, nullptr);
      source_ = std::exchange(o.source_, nullptr);
      root_ = o.root_;
      table_pages_ = std::exchange(o.table_pages_, 0);
    }
    return *this;
  }
  page_table(const page_table&) = delete;
  page_table& operator=(const page_table&) = delete;
  /// Effects: gives every table frame, root included, back to the source.
  ~page_table() { destroy(); }

  /// Requires: `memory` and `source` outlive the page table; the source's
  /// frames are frames of `memory`.
  /// Effects: allocates the root table. Returns the source's status when it
  /// has no frame.
  static result<page_table> create(Memory& memory, Source& source) noexcept {
    auto root = source.allocate_table_frame(
        paddr{arch::root_phys_limit<Arch>()}.frame());
    if (!root) return root.error();
    page_table t;
    t.memory_ = &memory;
    t.source_ = &source;
    t.root_ = *root;
    t.table_pages_ = 1;
    return t;
  }

  /// The root table's physical address: the value CR3 would hold.
  paddr root() const noexcept { return root_.address(); }
  pfn root_frame() const noexcept { return root_; }
  /// Table frames held, root included.
  std::uint64_t table_pages() const noexcept { return table_pages_; }
  Memory& memory() const noexcept { return *memory_; }
  Source& source() const noexcept { return *source_; }

  // --- present mappings ---------------------------------------------------

  /// Requires: nothing. Effects: maps [va, va + bytes) to [pa, pa + bytes)
  /// with `attrs`, using one entry of the level whose pages are `bytes`
  /// long (4 KiB, or a large-page size of the arch).
  /// Returns: invalid_address for a non-canonical va; invalid_parameter for
  /// a page size the arch lacks, a misaligned va or pa, or a pa the entry
  /// cannot hold (beyond MAXPHYADDR, or 4 GiB for x86_32 4 KiB pages);
  /// conflicting_addresses when any entry in the way is already in use (a page,
  /// a software PTE, or tables below a large page); the source's status when a
  /// table frame is lacking (tables made for the attempt are freed again).
  result<void> map(vaddr va, paddr pa, std::uint64_t bytes,
                   page_attr attrs) noexcept {
    const int lv = arch::level_for_page_size<Arch>(bytes);
    if (lv < 0) return status::invalid_parameter;
    const auto level = static_cast<unsigned>(lv);
    if (!arch::is_canonical<Arch>(va)) return status::invalid_address;
    if (!is_aligned(va.raw(), bytes) || !is_aligned(pa.raw(), bytes) ||
        pa.raw() >= arch::phys_limit<Arch>() ||
        bytes > arch::phys_limit<Arch>() - pa.raw())
      return status::invalid_parameter;
    // The entry must be able to hold the address (x86_32 4 KiB pages stop
    // at 4 GiB; only its 4 MiB pages reach MAXPHYADDR through PSE-36).
    const entry_type leaf = codec::leaf_entry(pa, level, attrs);
    if (codec::page_address(leaf, level) != pa)
      return status::invalid_parameter;
    path p;
    const status s = descend(va, level, p, create_tables::yes);
    if (s != status::success) {
      prune(p, level + 1);
      return s;
    }
    entry_type& slot = *p.slot[level];
    if (slot != 0) return status::conflicting_addresses;
    slot = leaf;
    ++count(p.table[level]);
    return {};
  }

  /// Effects: removes the present mapping that contains `va` (a whole large
  /// page when one maps it) and frees the tables it empties.
  /// Returns: what was unmapped, or memory_not_allocated when no present
  /// entry maps `va` (software PTEs are left alone: use write_leaf).
  result<mapping> unmap(vaddr va) noexcept {
    path p;
    const int level = find_page(va, p);
    if (level < 0) return status::memory_not_allocated;
    const auto l = static_cast<unsigned>(level);
    const mapping m = describe(va, *p.slot[l], l);
    *p.slot[l] = 0;
    --count(p.table[l]);
    prune(p, l);
    return m;
  }

  /// Effects: replaces the attributes of the present mapping containing
  /// `va` (address, A and D kept). Returns: the mapping as it was, or
  /// memory_not_allocated.
  result<mapping> protect(vaddr va, page_attr attrs) noexcept {
    path p;
    const int level = find_page(va, p);
    if (level < 0) return status::memory_not_allocated;
    const auto l = static_cast<unsigned>(level);
    const mapping m = describe(va, *p.slot[l], l);
    *p.slot[l] = codec::with_attributes(*p.slot[l], l, attrs);
    return m;
  }

  /// The present mapping containing `va`, or memory_not_allocated.
  result<mapping> query(vaddr va) const noexcept {
    path p;
    const int level = find_page(va, p);
    if (level < 0) return status::memory_not_allocated;
    const auto l = static_cast<unsigned>(level);
    return describe(va, *p.slot[l], l);
  }

  /// Effects: calls f(const mapping&) for every present mapping, in
  /// ascending virtual-address order (upper-half addresses of sign-extended
  /// archs come after the lower half, as their table indices do).
  template <class F>
  requires requires(F f, const mapping& m) { f(m); }
  void for_each_mapping(F&& f) const { visit(root_, levels - 1, 0, f); }

  // --- raw leaf access for software PTEs ----------------------------------

  /// Effects: makes sure the level-0 table covering `va` exists, creating
  /// missing tables on the way down (entries P|R/W|U/S, counted).
  /// Returns: the leaf entry; invalid_address for a non-canonical va;
  /// conflicting_addresses when a large page or a not-present software
  /// entry at a higher level covers `va`; the source's status when out of
  /// frames.
  result<leaf_ref> ensure_leaf(vaddr va) noexcept {
    if (!arch::is_canonical<Arch>(va)) return status::invalid_address;
    path p;
    const status s = descend(va, 0, p, create_tables::yes);
    if (s != status::success) {
      prune(p, 1);
      return s;
    }
    return leaf_ref{p.slot[0], p.table[0]};
  }

  /// What probe_leaf found: the leaf entry of a VA, or where the walk to
  /// it stopped.
  struct leaf_probe {
    leaf_ref leaf;
    /// Without a leaf: the level of the entry that is zero (or maps no
    /// table), so that no leaf table exists anywhere in the span of that
    /// entry (Arch::level[gap_level].span() bytes).
    unsigned gap_level = 0;
  };
  /// The leaf entry of canonical `va`, or the highest level where the walk
  /// to it finds no table. Lets a range walk skip a missing subtree whole.
  /// Complexity: O(levels).
  leaf_probe probe_leaf(vaddr va) noexcept {
    pfn table = root_;
    for (unsigned l = levels - 1;; --l) {
      entry_type* slot = table_of(table) + arch::table_index<Arch>(va, l);
      if (l == 0) return {leaf_ref{slot, table}, 0};
      const entry_type e = *slot;
      if (!codec::is_present(e) || codec::maps_page(e, l)) return {{}, l};
      table = paddr{Arch::frame_address(e)}.frame();
    }
  }

  /// The physical address of `ref`'s entry (what a PFN back-link records).
  paddr entry_address(leaf_ref ref) const noexcept {
    return entry_address(ref.table, ref.entry);
  }

  /// The leaf entry of `va`, or null when a table on the way is missing
  /// (or `va` is non-canonical, or a large page maps it).
  leaf_ref find_leaf(vaddr va) noexcept {
    if (!arch::is_canonical<Arch>(va)) return {};
    return probe_leaf(va).leaf;
  }

  /// Requires: `value` is 0 or a level-0 entry; when it is non-zero, the
  /// leaf table of `va` can be made (as ensure_leaf).
  /// Effects: stores `value` in the leaf entry of `va`, adjusting the use
  /// count when the entry goes zero <-> non-zero; when `value` is 0 and the
  /// table is left empty, frees it and every ancestor emptied in turn.
  /// Returns: what ensure_leaf would when a table cannot be made; success
  /// when writing 0 where no table exists.
  result<void> write_leaf(vaddr va, entry_type value) noexcept {
    if (!arch::is_canonical<Arch>(va)) return status::invalid_address;
    path p;
    const status s =
        descend(va, 0, p, value != 0 ? create_tables::yes : create_tables::no);
    if (s != status::success) {
      prune(p, 1);
      return value == 0 && s == status::memory_not_allocated ? result<void>{}
                                                             : result<void>{s};
    }
    store_leaf(p, value);
    return {};
  }

  /// Requires: `ref` came from ensure_leaf/find_leaf for `va` and no table
  /// on the path was freed since. Effects: as write_leaf(va, value), without
  /// a second walk unless the table empties.
  void write_leaf(vaddr va, leaf_ref ref, entry_type value) noexcept {
    MMKIT_ASSERT(ref);
    // Atomic (relaxed) word accesses, as every leaf entry another thread
    // may write (paging/entry.hpp).
    const entry_type old = load_entry(ref.entry);
    store_entry(ref.entry, value);
    if ((old == 0) == (value == 0)) return;
    if (value != 0) {
      ++count(ref.table);
      return;
    }
    if (--count(ref.table) != 0 || keep_empty_) return;
    path p;
    [[maybe_unused]] const status s = descend(va, 0, p, create_tables::no);
    MMKIT_ASSERT(s == status::success && p.table[0] == ref.table);
    prune(p, 0);
  }

  /// As write_leaf(va, ref, value) when that frees no table; returns
  /// false, writing nothing, when the write would empty the leaf table and
  /// free it (empty tables not kept). Pointers into the table stay good.
  bool write_leaf_keeping_table(leaf_ref ref, entry_type value) noexcept {
    MMKIT_ASSERT(ref);
    const entry_type old = load_entry(ref.entry);
    std::uint32_t& uses = count(ref.table);
    if (value == 0 && old != 0 && uses == 1 && !keep_empty_) return false;
    store_entry(ref.entry, value);
    if ((old == 0) != (value == 0)) uses += value != 0 ? 1 : -1;
    return true;
  }

  /// Requires: `ref` came from ensure_leaf/find_leaf for `va`, no table on
  /// its path was freed since, and the `n` entries from it lie in its
  /// table and are not present. Effects: the i-th becomes value_of(i),
  /// which is not present either, and changed(i, old) is called when it
  /// changed, once it is written (the use count is settled after the
  /// last). A table the writes empty is freed as write_leaf would free it
  /// (kept while empty tables are). Returns: whether the leaf table is
  /// still there.
  template <class ValueOf, class Changed>
  bool fill_absent_entries(vaddr va, leaf_ref ref, std::uint64_t n,
                           ValueOf&& value_of, Changed&& changed) noexcept {
    MMKIT_ASSERT(ref);
    std::int64_t delta = 0;  // entries made non-zero less those zeroed
    entry_type* e = ref.entry;
    for (std::uint64_t i = 0; i < n; ++i, ++e) {
      const entry_type old = load_entry(e);
      const entry_type value = value_of(i);
      MMKIT_ASSERT(!codec::is_present(old) && !codec::is_present(value));
      if (old == value) continue;
      store_entry(e, value);
      delta += static_cast<std::int64_t>(old == 0) -
               static_cast<std::int64_t>(value == 0);
      changed(i, old, value);
    }
    std::uint32_t& uses = count(ref.table);
    uses = static_cast<std::uint32_t>(static_cast<std::int64_t>(uses) + delta);
    if (delta >= 0 || uses != 0 || keep_empty_) return true;
    path p;
    [[maybe_unused]] const status s = descend(va, 0, p, create_tables::no);
    MMKIT_ASSERT(s == status::success && p.table[0] == ref.table);
    prune(p, 0);
    return false;
  }

  /// Effects: while `keep` is true, a write of zero that empties a leaf
  /// table leaves it in place, empty, for free_if_empty to free later (a
  /// caller that clears entries while it may not give frames back).
  void keep_empty_tables(bool keep) noexcept { keep_empty_ = keep; }
  /// Effects: the leaf table of `va`, if there and empty, is freed, with
  /// every ancestor it leaves empty in turn (as a write emptying it would).
  void free_if_empty(vaddr va) noexcept {
    path p;
    if (descend(va, 0, p, create_tables::no) != status::success) return;
    if (count(p.table[0]) == 0) prune(p, 0);
  }

  // --- checking ------------------------------------------------------------

  /// Whether every invariant above holds (recounts every table). For
  /// tests; O(number of tables * entries per table).
  bool check_invariants() const noexcept {
    if (memory_ == nullptr) return table_pages_ == 0;
    std::uint64_t tables = 0;
    return check(root_, levels - 1, tables) && tables == table_pages_;
  }

 private:
  enum class create_tables : bool { no, yes };

  /// The tables and entry slots a descent passed through; slot[l] is the
  /// entry at level l in table[l].
  struct path {
    entry_type* slot[levels] = {};
    pfn table[levels] = {};
  };

  paddr entry_address(pfn table, const entry_type* slot) const noexcept {
    return paddr{table.address().raw() +
                 static_cast<std::uint64_t>(slot - table_of(table)) *
                     sizeof(entry_type)};
  }
  entry_type* table_of(pfn f) const noexcept {
    return reinterpret_cast<entry_type*>(memory_->frame(f));
  }
  std::uint32_t& count(pfn f) const noexcept {
    return source_->table_use_count(f);
  }

  /// Walks from the root down to the entry at `target`, filling `p` for
  /// every level passed. Missing tables are made when asked
  /// (memory_not_allocated when not); a present large page or a software
  /// entry above `target` is conflicting_addresses.
  status descend(vaddr va, unsigned target, path& p,
                 create_tables create) noexcept {
    pfn table = root_;
    for (unsigned l = levels - 1;; --l) {
      p.table[l] = table;
      p.slot[l] = table_of(table) + arch::table_index<Arch>(va, l);
      if (l == target) return status::success;
      const entry_type e = *p.slot[l];
      if (e == 0) {
        if (create == create_tables::no) return status::memory_not_allocated;
        auto f = source_->allocate_table_frame(
            paddr{arch::frame_phys_limit<Arch>()}.frame());
        if (!f) return f.error();
        *p.slot[l] = codec::table_entry(f->address(), l);
        // A source that keeps back-links learns which entry references the
        // new table (NT's PteAddress of a page-table page): from a leaf PTE
        // the chain of them leads to the root and gives back the VA.
        if constexpr (requires { source_->set_table_link(*f, paddr{}); })
          source_->set_table_link(*f, entry_address(table, p.slot[l]));
        ++count(table);
        ++table_pages_;
        table = *f;
        continue;
      }
      if (!codec::is_present(e) || codec::maps_page(e, l))
        return status::conflicting_addresses;
      table = paddr{Arch::frame_address(e)}.frame();
    }
  }

  /// The level of the present entry mapping `va` (filling `p` down to it),
  /// or -1.
  int find_page(vaddr va, path& p) const noexcept {
    if (memory_ == nullptr || !arch::is_canonical<Arch>(va)) return -1;
    pfn table = root_;
    for (unsigned l = levels - 1;; --l) {
      p.table[l] = table;
      p.slot[l] = table_of(table) + arch::table_index<Arch>(va, l);
      const entry_type e = *p.slot[l];
      if (!codec::is_present(e)) return -1;
      if (codec::maps_page(e, l)) return static_cast<int>(l);
      table = paddr{Arch::frame_address(e)}.frame();
    }
  }

  mapping describe(vaddr va, entry_type e, unsigned l) const noexcept {
    const std::uint64_t span = Arch::level[l].span();
    return mapping{vaddr{va.raw() & ~(span - 1)}, codec::page_address(e, l),
                   span, codec::attributes(e, l), l};
  }

  void store_leaf(path& p, entry_type value) noexcept {
    entry_type* const slot = p.slot[0];
    const entry_type old = load_entry(slot);  // see write_leaf(va, ref, value)
    store_entry(slot, value);
    if (old == 0 && value != 0) ++count(p.table[0]);
    if (old != 0 && value == 0) --count(p.table[0]);
    if (value == 0 && !keep_empty_) prune(p, 0);
  }

  /// Frees the tables at levels >= `from` of path `p` (never the root) that
  /// have a zero use count, clearing and uncounting their parents' entries.
  /// Stops at the first table still in use. Levels below `from` that the
  /// descent did not reach (no slot) are skipped.
  void prune(path& p, unsigned from) noexcept {
    unsigned l = from;
    while (l < levels && p.slot[l] == nullptr) ++l;  // levels not reached
    for (; l + 1 < levels; ++l) {
      if (count(p.table[l]) != 0) return;
      *p.slot[l + 1] = 0;
      --count(p.table[l + 1]);
      source_->release_table_frame(p.table[l]);
      --table_pages_;
    }
  }

  template <class F>
  void visit(pfn table, unsigned l, std::uint64_t base, F& f) const {
    const entry_type* t = table_of(table);
    const auto& d = Arch::level[l];
    for (unsigned i = 0; i < d.entries(); ++i) {
      const entry_type e = t[i];
      if (!codec::is_present(e)) continue;
      std::uint64_t va = base | (std::uint64_t{i} << d.shift);
      if (l == levels - 1 && Arch::sign_extended) va = sign_extend(va);
      if (codec::maps_page(e, l)) {
        f(describe(vaddr{va}, e, l));
      } else {
        visit(paddr{Arch::frame_address(e)}.frame(), l - 1, va, f);
      }
    }
  }

  static constexpr std::uint64_t sign_extend(std::uint64_t va) noexcept {
    if constexpr (Arch::sign_extended && Arch::va_bits < 64) {
      const unsigned s = 64 - Arch::va_bits;
      return static_cast<std::uint64_t>(static_cast<std::int64_t>(va << s) >>
                                        s);
    } else {
      return va;
    }
  }

  bool check(pfn table, unsigned l, std::uint64_t& tables) const noexcept {
    ++tables;
    const entry_type* t = table_of(table);
    std::uint32_t nonzero = 0;
    for (unsigned i = 0; i < Arch::level[l].entries(); ++i) {
      const entry_type e = t[i];
      if (e == 0) continue;
      ++nonzero;
      if (l == 0 || !codec::is_present(e) || codec::maps_page(e, l)) continue;
      // The walker may have set A; nothing else may differ.
      if (static_cast<entry_type>(e & ~codec::A_) !=
          codec::table_entry(paddr{Arch::frame_address(e)}, l))
        return false;
      if (!check(paddr{Arch::frame_address(e)}.frame(), l - 1, tables))
        return false;
    }
    if (count(table) != nonzero) return false;
    // Only the root, or a leaf table from ensure_leaf() not yet written,
    // may be empty.
    return nonzero != 0 || l == levels - 1 || l == 0;
  }

  void destroy() noexcept {
    if (memory_ == nullptr) return;
    release_all(root_, levels - 1);
    memory_ = nullptr;
    source_ = nullptr;
    table_pages_ = 0;
  }

  void release_all(pfn table, unsigned l) noexcept {
    entry_type* t = table_of(table);
    if (l > 0) {
      for (unsigned i = 0; i < Arch::level[l].entries(); ++i) {
        const entry_type e = t[i];
        if (codec::is_present(e) && !codec::maps_page(e, l))
          release_all(paddr{Arch::frame_address(e)}.frame(), l - 1);
      }
    }
    // The source hands out zero-filled frames; give them back that way.
    for (unsigned i = 0; i < entries_per_table; ++i) t[i] = 0;
    count(table) = 0;
    source_->release_table_frame(table);
  }

  Memory* memory_ = nullptr;
  Source* source_ = nullptr;
  pfn root_{};
  std::uint64_t table_pages_ = 0;
  bool keep_empty_ = false;  // keep_empty_tables
};

}  // namespace mmkit
