#pragma once
// translator<Arch, Memory, Source, Geometry>: a page table and the software
// TLB over it, kept coherent: the fast path of a simulated CPU's memory
// access.
//
//   host_pointer(va, acc, mode)
//     ├─ TLB hit:  index, tag compare, add            (the inline fast path)
//     └─ TLB miss (refill, out of line):
//          ├─ a global page that flush_non_global() left dormant in the TLB:
//          │  back into the current generation, no walk
//          ├─ paging-structure cache hit: read the leaf entry of the cached
//          │  leaf table; one mask test of it with the cached upper rights
//          │  (else walk_leaf: A, and D on a write, faults)
//          └─ else walk down to the leaf table in one pass that tests the
//             AND and the OR of the upper entries once (anything unusual:
//             the walker's walk_to_leaf_table), cache it, and go on as on
//             a hit
//          then fill the TLB, return the host address; null on a fault
//
// flush() and flush_non_global() are O(1): both caches move to a new
// generation (see paging/tlb.hpp).
//
// Every mutation made through the translator (unmap, protect, write_leaf)
// invalidates the pages it changes, so no access is ever served from a stale
// translation; map needs none (misses are never cached). unmap and
// write_leaf may free page tables (the page table prunes the tables they
// empty): then the paging-structure cache entries of every region under the
// highest table freed are dropped too. protect changes a leaf only, which
// that cache never holds. Code that changes the tables behind the
// translator's back (table_unsynchronized(), an aging pass clearing A bits,
// a fault handler rewriting a leaf through raw access, an upper-level entry
// edited in place) calls invalidate() / invalidate_range() / flush() itself:
// invalidate(va) drops the page and the paging-structure cache entry of
// va's region; after a change to an upper-level entry, invalidate_range()
// over the span that entry maps (or flush()).
//
// A/D policy: ad_update::set (the default) makes the tables record accesses
// as hardware would; ad_update::leave makes the translator read-only toward
// the tables (the TLB then caches writable pages on first touch).

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/config.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/paging/page_listener.hpp>
#include <mmkit/paging/page_table.hpp>
#include <mmkit/paging/tlb.hpp>
#include <mmkit/paging/walker.hpp>
#include <mmkit/phys/frame_source.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace mmkit {

template <arch::PagingArch Arch, WritablePhysicalMemory Memory,
          FrameSource Source, TlbGeometry Geometry = direct_mapped_tlb>
class translator {
 public:
  using table_type = page_table<Arch, Memory, Source>;
  using entry_type = typename Arch::entry_type;
  using tlb_type = software_tlb<Geometry>;
  using structure_cache_type =
      paging_structure_cache<Arch, detail::psc_entries_of<Geometry>()>;

  translator() noexcept = default;

  /// Effects: a translator over a new, empty page table (see
  /// page_table::create). Returns the source's status when no root frame.
  static result<translator> create(Memory& memory, Source& source,
                                   ad_update update = ad_update::set) noexcept {
    auto t = table_type::create(memory, source);
    if (!t) return t.error();
    translator x;
    x.table_ = std::move(t).value();
    x.memory_ = &memory;
    x.update_ = update;
    x.checks_ = make_checks(update);
    x.write_tag_needs_ = write_tag_bits(update);
    return x;
  }

  // --- the fast path ------------------------------------------------------

  /// The host address of the byte at `va` for an access `acc` in `mode`, or
  /// null when the access faults (not present, rights, reserved bits,
  /// non-canonical, or a frame beyond the physical memory).
  /// Complexity: on a TLB hit, an index, a compare and an add.
  MMKIT_ALWAYS_INLINE std::byte* host_pointer(
      vaddr va, access acc, cpu_mode mode = cpu_mode::user) noexcept {
    if (const auto* e = tlb_.template hit<1>(va, acc, mode)) [[likely]]
      return tlb_type::host_address(*e, va);
    return refill(va, acc, mode);
  }

  /// Effects: reads a T at `va` (any alignment, page crossing included).
  /// Returns: false when any byte faults (`out` is then unspecified).
  template <class T>
  requires std::is_trivially_copyable_v<T> MMKIT_ALWAYS_INLINE bool load(
      vaddr va, T& out, cpu_mode mode = cpu_mode::user) noexcept {
    if (const auto* e = tlb_.template hit<sizeof(T)>(va, access::read, mode))
        [[likely]] {
      __builtin_memcpy(&out, tlb_type::host_address(*e, va), sizeof(T));
      return true;
    }
    return read(va, &out, sizeof(T), mode) == sizeof(T);
  }

  /// Effects: writes a T at `va`. Returns: false when any byte faults
  /// (the bytes before the fault are written).
  template <class T>
  requires std::is_trivially_copyable_v<T> MMKIT_ALWAYS_INLINE bool store(
      vaddr va, const T& value, cpu_mode mode = cpu_mode::user) noexcept {
    if (const auto* e = tlb_.template hit<sizeof(T)>(va, access::write, mode))
        [[likely]] {
      __builtin_memcpy(tlb_type::host_address(*e, va), &value, sizeof(T));
      return true;
    }
    return write(va, &value, sizeof(T), mode) == sizeof(T);
  }

  /// Effects: copies `n` bytes from `va` to `dst`, page by page, stopping at
  /// the first byte that faults. Returns: the bytes copied (n on success;
  /// fewer is NT's partial copy).
  std::size_t read(vaddr va, void* dst, std::size_t n,
                   cpu_mode mode = cpu_mode::user) noexcept {
    return copy(va, static_cast<std::byte*>(dst), n, access::read, mode);
  }
  /// Effects: copies `n` bytes from `src` to `va`, as read(). Returns: the
  /// bytes written.
  std::size_t write(vaddr va, const void* src, std::size_t n,
                    cpu_mode mode = cpu_mode::user) noexcept {
    return copy(va, const_cast<std::byte*>(static_cast<const std::byte*>(src)),
                n, access::write, mode);
  }

  /// The explained walk of `va` (not through the TLB); A/D as the policy.
  translation<Arch> translate(vaddr va, access acc = access::read,
                              cpu_mode mode = cpu_mode::user) noexcept {
    auto t = walk<Arch>(*memory_, table_.root(), va, acc, mode, update_);
    if (listener_ != nullptr && acc == access::write && t.ok()) [[unlikely]]
      listener_->page_touched(va.page());
    return t;
  }

  /// Effects: `l` (null: nobody) hears of every D bit the walker sets.
  void set_page_listener(page_listener* l) noexcept { listener_ = l; }

  // --- mutations that keep the TLB coherent --------------------------------

  /// As page_table::map. No invalidation is needed: faults are not cached.
  result<void> map(vaddr va, paddr pa, std::uint64_t bytes,
                   page_attr attrs) noexcept {
    return table_.map(va, pa, bytes, attrs);
  }
  /// As page_table::unmap, then drops every TLB entry of the page and the
  /// cached upper levels of every table it freed.
  result<mapping> unmap(vaddr va) noexcept {
    const std::uint64_t tables = table_.table_pages();
    auto m = table_.unmap(va);
    if (m) {
      tlb_.invalidate_range(m->va, m->bytes);
      forget_freed_tables(va, m->level, tables);
    }
    return m;
  }
  /// As page_table::protect, then drops every TLB entry of the page (the
  /// paging-structure cache holds no leaf, so it stays).
  result<mapping> protect(vaddr va, page_attr attrs) noexcept {
    auto m = table_.protect(va, attrs);
    if (m) tlb_.invalidate_range(m->va, m->bytes);
    return m;
  }
  /// As page_table::write_leaf, then drops the page from the TLB, and the
  /// cached upper levels of every table the write freed.
  result<void> write_leaf(vaddr va, entry_type value) noexcept {
    const std::uint64_t tables = table_.table_pages();
    auto r = table_.write_leaf(va, value);
    tlb_.invalidate(va);
    forget_freed_tables(va, 0, tables);
    return r;
  }

  /// As write_leaf, through a leaf entry the caller already holds (from
  /// the table's find_leaf/ensure_leaf, no table on its path freed since):
  /// no walk unless the table empties. Returns whether the leaf table is
  /// still there (false: the write emptied and freed it, and `ref` with
  /// every other pointer into it is dead).
  MMKIT_ALWAYS_INLINE bool write_leaf(vaddr va,
                                      typename table_type::leaf_ref ref,
                                      entry_type value) noexcept {
    // No TLB entry holds a page whose PTE is not present (a fill needs P,
    // and every write that clears P drops the page), so writing over such
    // a PTE drops nothing; nor does a write that frees no table.
    if (!(load_entry(ref.entry) & entry_codec<Arch>::P) &&
        table_.write_leaf_keeping_table(ref, value)) [[likely]]
      return true;
    return write_leaf_dropping(va, ref, value);
  }

  /// As write_leaf(va + i pages, ref + i, value_of(i)) for each of the
  /// `n` entries from `ref` (one leaf table; page_table::
  /// fill_absent_entries), none of them present before or after: no TLB
  /// entry holds their pages, so none is dropped. Returns whether the leaf
  /// table is still there.
  template <class ValueOf, class Changed>
  bool fill_absent(vaddr va, typename table_type::leaf_ref ref, std::uint64_t n,
                   ValueOf&& value_of, Changed&& changed) noexcept {
    const std::uint64_t tables = table_.table_pages();
    if (table_.fill_absent_entries(va, ref, n, value_of, changed)) return true;
    forget_freed_tables(va, 0, tables);
    return false;
  }

  /// As page_table::free_if_empty, then forgets the cached upper levels of
  /// every table freed.
  void free_if_empty(vaddr va) noexcept {
    const std::uint64_t tables = table_.table_pages();
    table_.free_if_empty(va);
    forget_freed_tables(va, 0, tables);
  }

  /// Effects: drops the page of `va` from the TLB (both modes) and the
  /// paging-structure cache entry of its region (INVLPG).
  void invalidate(vaddr va) noexcept {
    tlb_.invalidate(va);
    psc_.invalidate(va);
  }
  /// Effects: drops every page of [va, va + bytes) from the TLB and every
  /// region it touches from the paging-structure cache.
  void invalidate_range(vaddr va, std::uint64_t bytes) noexcept {
    tlb_.invalidate_range(va, bytes);
    psc_.invalidate_range(va, bytes);
  }
  /// Effects: empties the TLB and the paging-structure cache.
  void flush() noexcept {
    tlb_.flush();
    psc_.flush();
  }
  /// Effects: drops the TLB's non-global pages and the whole
  /// paging-structure cache (a CR3 write with CR4.PGE=1: global pages stay,
  /// paging-structure caches never do).
  void flush_non_global() noexcept {
    tlb_.flush_non_global();
    psc_.flush();
  }

  /// Effects: flush(), then the TLB and the paging-structure cache go on
  /// from these generations, so that a test reaches their wrap-around in a
  /// few flushes (for tests). Requires: each at most its cache's
  /// max_generation.
  void debug_restart_at(std::uint64_t tlb_generation,
                        std::uint64_t structure_generation) noexcept {
    tlb_.debug_restart_at(tlb_generation);
    psc_.debug_restart_at(structure_generation);
  }

  const table_type& table() const noexcept { return table_; }
  /// The page table for changes the translator does not see; the caller
  /// invalidates what it changes.
  table_type& table_unsynchronized() noexcept { return table_; }
  const tlb_type& tlb() const noexcept { return tlb_; }
  const structure_cache_type& structure_cache() const noexcept { return psc_; }
  Memory& memory() const noexcept { return *memory_; }
  /// TLB misses served so far (by the paging-structure cache or a walk).
  std::uint64_t refills() const noexcept { return refills_; }
  /// TLB misses that the paging-structure cache could not serve: full walks.
  std::uint64_t full_walks() const noexcept { return full_walks_; }

  /// The miss path: the leaf step from the paging-structure cache (or a
  /// full walk that fills it), the rights check, the TLB fill. Public so
  /// that benchmarks and tests can time and drive it alone.
  ///
  /// The common case stays here: the cache holds `va`'s leaf table and the
  /// leaf needs no A/D update and grants the access, which one mask test of
  /// the leaf with the cached upper rights folded in decides (present, A
  /// set, D set for a write under ad_update::set, no reserved bit, rights
  /// enough). Everything else goes out of line to the walker's own code
  /// (refill_leaf, refill_walk), so the A/D behaviour and the faults are
  /// the walker's.
  [[gnu::noinline]] std::byte* refill(vaddr va, access acc,
                                      cpu_mode mode) noexcept {
    ++refills_;
    if (tlb_.may_revive(mode)) [[unlikely]]
      return refill_revive(va, acc, mode);
    const unsigned kind = kind_of(acc, mode);
    const auto* c = psc_.find(va);
    if (c == nullptr) [[unlikely]]
      return refill_walk(va, kind);
    return refill_from(*c, va, kind);
  }

 private:
  using codec = entry_codec<Arch>;
  using structure_entry = typename structure_cache_type::entry;

  /// A leaf passes the fast path when (leaf with cached rights) & mask ==
  /// value.
  struct fast_check {
    entry_type mask = 0, value = 0;
  };
  using fast_checks = std::array<fast_check, 6>;

  /// An access and a CPU mode as one small index (acc * 2 + mode), so the
  /// miss path keeps one register for both.
  MMKIT_ALWAYS_INLINE static unsigned kind_of(access acc,
                                              cpu_mode mode) noexcept {
    return static_cast<unsigned>(acc) * 2 + static_cast<unsigned>(mode);
  }
  MMKIT_ALWAYS_INLINE static access access_of(unsigned kind) noexcept {
    return static_cast<access>(kind >> 1);
  }
  MMKIT_ALWAYS_INLINE static cpu_mode mode_of(unsigned kind) noexcept {
    return static_cast<cpu_mode>(kind & 1);
  }

  /// The fast-path tests per kind_of(access, cpu_mode) for an A/D policy.
  static constexpr fast_checks make_checks(ad_update update) noexcept {
    fast_checks t{};
    const bool set = update == ad_update::set;
    for (unsigned a = 0; a < 3; ++a) {
      for (unsigned m = 0; m < 2; ++m) {
        const bool write = a == static_cast<unsigned>(access::write);
        const bool exec = a == static_cast<unsigned>(access::execute);
        const bool user = m == static_cast<unsigned>(cpu_mode::user);
        const auto need = static_cast<entry_type>(
            codec::P | (set ? codec::A_ : 0) | (set && write ? codec::D : 0) |
            (write ? codec::RW : 0) | (user ? codec::US : 0));
        const auto mask = static_cast<entry_type>(
            need | (exec ? codec::XD : 0) | Arch::level[0].reserved);
        t[a * 2 + m] = fast_check{mask, need};
      }
    }
    return t;
  }
  /// The bits of the leaf (with cached rights) that let the TLB cache a
  /// page writable: R/W, and D unless the policy leaves D alone.
  static constexpr entry_type write_tag_bits(ad_update update) noexcept {
    return static_cast<entry_type>(
        update == ad_update::set ? (codec::RW | codec::D) : codec::RW);
  }

  /// The leaf step from cached leaf table `c`: the fast test, the TLB fill;
  /// anything unusual goes to refill_leaf().
  MMKIT_ALWAYS_INLINE std::byte* refill_from(const structure_entry& c, vaddr va,
                                             unsigned kind) noexcept {
    const entry_type e = load_entry(&c.table[arch::table_index<Arch>(va, 0)]);
    const auto eff = static_cast<entry_type>((e | c.upper_or) & c.upper_and);
    const fast_check& k = checks_[kind];
    if ((eff & k.mask) != k.value) [[unlikely]]
      return refill_leaf(c, va, access_of(kind), mode_of(kind));
    const std::uint64_t f = Arch::frame_address(e) >> page_shift;
    if (f >= memory_->frame_count()) [[unlikely]]
      return nullptr;
    std::byte* const page = memory_->frame(pfn{f});
    const bool write = (eff & write_tag_needs_) == write_tag_needs_;
    const bool execute = !(eff & codec::XD);
    if (e & codec::G) [[unlikely]]
      return fill_global(va, page, write, execute, mode_of(kind));
    return tlb_.fill(va, page, write, execute, false, mode_of(kind));
  }

  /// write_leaf(va, ref, value) over a present PTE, or one that empties
  /// its table: the page dropped from the TLB, freed tables forgotten.
  [[gnu::noinline]] bool write_leaf_dropping(vaddr va,
                                             typename table_type::leaf_ref ref,
                                             entry_type value) noexcept {
    const std::uint64_t tables = table_.table_pages();
    table_.write_leaf(va, ref, value);
    tlb_.invalidate(va);
    forget_freed_tables(va, 0, tables);
    return table_.table_pages() >= tables;
  }

  /// The TLB fill of a global page, out of line: the TLB notes that the
  /// mode holds one.
  [[gnu::noinline]] std::byte* fill_global(vaddr va, std::byte* page,
                                           bool write, bool execute,
                                           cpu_mode mode) noexcept {
    return tlb_.fill(va, page, write, execute, true, mode);
  }

  /// A miss while flush_non_global() has left global entries dormant: the
  /// TLB's own entry of a global page if it has one, else as refill().
  [[gnu::noinline]] std::byte* refill_revive(vaddr va, access acc,
                                             cpu_mode mode) noexcept {
    if (const auto* a = tlb_.revive(va, acc, mode))
      return tlb_type::host_address(*a, va);
    const auto* c = psc_.find(va);
    if (c == nullptr) return refill_walk(va, kind_of(acc, mode));
    return refill_from(*c, va, kind_of(acc, mode));
  }

  /// The leaf step from `c` by the walker's own code (A/D updates, faults).
  [[gnu::noinline]] std::byte* refill_leaf(const structure_entry& c, vaddr va,
                                           access acc, cpu_mode mode) noexcept {
    const entry_type* leaf = &c.table[arch::table_index<Arch>(va, 0)];
    const bool was_clean = !(load_entry(leaf) & codec::D);
    std::byte* page =
        finish(walk_leaf<Arch>(*memory_, c.table, c.upper_and, c.upper_or, va,
                               acc, mode, update_),
               va, mode);
    if (listener_ != nullptr && was_clean && (load_entry(leaf) & codec::D))
        [[unlikely]]
      listener_->page_touched(va.page());
    return page;
  }

  /// A paging-structure cache miss. The common case, decided in one pass
  /// down the upper levels: every table within memory, and every entry
  /// present, with A set, no PS and no reserved bit (tested once, on the
  /// AND and the OR of the entries, which the rights need anyway). That
  /// walk reads what the walker would read and writes nothing, as the
  /// walker writes nothing then either; anything else starts again in the
  /// walker's own code (refill_walk_slow), so A bits and faults are its.
  [[gnu::noinline]] std::byte* refill_walk(vaddr va, unsigned kind) noexcept {
    ++full_walks_;
    entry_type* leaf_table;
    entry_type upper_and, upper_or;
    if (!arch::is_canonical<Arch>(va) ||
        !walk_upper(va, leaf_table, upper_and, upper_or)) [[unlikely]]
      return refill_walk_slow(va, kind);
    return refill_from(psc_.fill(va, leaf_table, upper_and, upper_or), va,
                       kind);
  }

  /// The upper levels of the fast walk of refill_walk(): the leaf table of
  /// `va` and the AND and OR of the entries above it, or false when
  /// anything is unusual (then the outputs are unspecified).
  MMKIT_ALWAYS_INLINE bool walk_upper(vaddr va, entry_type*& leaf_table,
                                      entry_type& upper_and,
                                      entry_type& upper_or) noexcept {
    // Tables below `limit` lie in memory. Should the shift wrap (2^52
    // frames or more), fewer tables pass, and those go the slow way.
    const std::uint64_t limit = memory_->frame_count() << page_shift;
    std::uint64_t table = table_.root().raw();
    entry_type and_bits = static_cast<entry_type>(~entry_type{0});
    entry_type or_bits = 0;
    bool usual = true;
    [&]<unsigned... I>(std::integer_sequence<unsigned, I...>) {
      (
          [&] {
            constexpr unsigned level = Arch::levels - 1 - I;
            constexpr arch::level_desc d = Arch::level[level];
            if (!usual) return;
            if (table >= limit) [[unlikely]] {
              usual = false;
              return;
            }
            const entry_type e =
                reinterpret_cast<const entry_type*>(memory_->frame(pfn{
                    table >> page_shift}))[arch::table_index<Arch>(va, level)];
            if constexpr (d.access_bits) {
              and_bits &= e;
              or_bits |= e;
            } else {
              // No A bit and no rights here (PAE PDPTEs): tested alone.
              constexpr entry_type odd =
                  static_cast<entry_type>(codec::P | d.reserved);
              if ((e & odd) != codec::P) usual = false;
            }
            table = Arch::frame_address(e);
          }(),
          ...);
    }
    (std::make_integer_sequence<unsigned, Arch::levels - 1>{});
    if (!usual || (and_bits & upper_need) != upper_need ||
        (or_bits & upper_odd) != 0 || table >= limit) [[unlikely]]
      return false;
    leaf_table =
        reinterpret_cast<entry_type*>(memory_->frame(pfn{table >> page_shift}));
    upper_and = and_bits;
    upper_or = Arch::has_nx ? or_bits : entry_type{0};
    return true;
  }

  /// What every upper entry with rights must hold on the fast walk: P and
  /// A (a walk would set A otherwise).
  static constexpr entry_type upper_need =
      static_cast<entry_type>(codec::P | codec::A_);
  /// What none may hold: PS where it maps a page, reserved bits.
  static constexpr entry_type upper_odd = [] {
    entry_type m = 0;
    for (unsigned l = 1; l < Arch::levels; ++l)
      if (Arch::level[l].access_bits)
        m = static_cast<entry_type>(
            m | (Arch::level[l].large_page ? codec::PS : 0) |
            Arch::level[l].reserved);
    return m;
  }();

  /// A paging-structure cache miss by the walker's own code: the walk down
  /// to the leaf table (A set in every upper level it passes, unless the
  /// policy is ad_update::leave and sets none), cached, then the leaf step
  /// as on a cache hit.
  [[gnu::noinline]] std::byte* refill_walk_slow(vaddr va,
                                                unsigned kind) noexcept {
    const auto t = walk_to_leaf_table<Arch>(
        *memory_, table_.root(), va, access_of(kind), mode_of(kind), update_);
    if (t.leaf_table == nullptr) return finish(t, va, mode_of(kind));
    return refill_from(psc_.fill(va, t.leaf_table, t.upper_and, t.upper_or), va,
                       kind);
  }

  /// The TLB fill after a generic walk `w` of `va`; null when it faulted.
  std::byte* finish(const walk_outcome& w, vaddr va, cpu_mode mode) noexcept {
    if (!w.ok()) return nullptr;
    const pfn f = w.address.frame();
    if (f.raw() >= memory_->frame_count()) return nullptr;
    std::byte* page = memory_->frame(f);
    const bool can_write =
        w.writable && (w.dirty || update_ == ad_update::leave);
    return tlb_.fill(va, page, can_write, w.executable, w.global, mode);
  }

  /// Effects: after an operation at `level` on `va`'s path, when the table
  /// count fell below `tables_before`, drops the paging-structure cache
  /// entries of every region under the highest table freed (the freed
  /// tables are the ones on `va`'s path from `level` up).
  void forget_freed_tables(vaddr va, unsigned level,
                           std::uint64_t tables_before) noexcept {
    const std::uint64_t now = table_.table_pages();
    if (now >= tables_before) return;  // nothing freed (maybe some made)
    const std::uint64_t freed = tables_before - now;
    const std::uint64_t top = level + freed - 1;  // level of the highest table
    MMKIT_ASSERT(top + 1 < Arch::levels);
    const auto& d = Arch::level[top];
    const std::uint64_t span = d.span() << d.index_bits;
    psc_.invalidate_range(vaddr{va.raw() & ~(span - 1)}, span);
  }

  std::size_t copy(vaddr va, std::byte* buf, std::size_t n, access acc,
                   cpu_mode mode) noexcept {
    std::size_t done = 0;
    while (done < n) {
      const vaddr at = va + done;
      const std::size_t room =
          static_cast<std::size_t>(page_size - at.page_offset());
      const std::size_t chunk = n - done < room ? n - done : room;
      std::byte* p = host_pointer(at, acc, mode);
      if (p == nullptr) return done;
      if (acc == access::write)
        __builtin_memcpy(p, buf + done, chunk);
      else
        __builtin_memcpy(buf + done, p, chunk);
      done += chunk;
    }
    return done;
  }

  table_type table_;
  tlb_type tlb_;
  structure_cache_type psc_;
  Memory* memory_ = nullptr;
  ad_update update_ = ad_update::set;
  fast_checks checks_ = make_checks(ad_update::set);
  entry_type write_tag_needs_ = write_tag_bits(ad_update::set);
  std::uint64_t refills_ = 0;
  std::uint64_t full_walks_ = 0;
  page_listener* listener_ = nullptr;
};

}  // namespace mmkit
