#pragma once
// Write watch (MEM_WRITE_WATCH, NtGetWriteWatch, NtResetWriteWatch): which
// pages of a reservation were written since the last reset.
//
// Where "written" lives: a valid PTE's dirty bit says it while the page is
// mapped (the walker sets D on every write, and the TLB caches a page
// writable only once D is set, so no write slips past). When a dirty PTE
// stops being valid-and-dirty (protect to NOACCESS or GUARD, trim,
// decommit, release, MEM_RESET), the PTE writer's observer folds the bit
// into the reservation's watch bitmap, one bit per page, as NT keeps one
// per write-watch VAD. So
//
//   written(page) = bitmap bit  or  (PTE valid and D set)
//
// and a reset clears both (rewriting the PTE with D clear, which drops the
// page from the TLB so that the next write sets D again). Protection
// changes and decommit do not forget a write (Wine's test_write_watch).
//
// The bitmaps come from a WatchAllocator, a Config policy: the heap when
// hosted, nothing by default (MEM_WRITE_WATCH then fails with
// insufficient_resources) so that a freestanding build never allocates
// behind the caller's back.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/config.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/paging/page_listener.hpp>
#include <mmkit/vad/vad.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>  // placement new only

namespace mmkit {

/// Where write-watch bitmaps come from.
template <class A>
concept WatchAllocator = requires(A& a, void* p, std::size_t bytes) {
  /// `bytes` of storage aligned for std::uint64_t, or null.
  { a.allocate(bytes) }
  noexcept->std::same_as<void*>;
  /// Requires: `p` came from allocate(bytes).
  { a.deallocate(p, bytes) }
  noexcept->std::same_as<void>;
};

/// No storage: write watch is refused (the freestanding default).
struct no_watch_allocator {
  void* allocate(std::size_t) noexcept { return nullptr; }
  void deallocate(void*, std::size_t) noexcept {}
};
static_assert(WatchAllocator<no_watch_allocator>);

/// One write-watched reservation: its pages as first made (a partial
/// release keeps the record until no VAD of the range is left) and a bit
/// per page.
struct watch_record {
  vpn first{};
  std::uint64_t pages = 0;
  watch_record* next = nullptr;
  std::uint64_t* bits = nullptr;

  bool contains(vpn p) const noexcept {
    return p >= first && p.raw() - first.raw() < pages;
  }
  bool test(vpn p) const noexcept {
    const std::uint64_t i = p.raw() - first.raw();
    return (bits[i / 64] >> (i % 64)) & 1u;
  }
  void set(vpn p) noexcept {
    const std::uint64_t i = p.raw() - first.raw();
    bits[i / 64] |= std::uint64_t{1} << (i % 64);
  }
  void clear(vpn p) noexcept {
    const std::uint64_t i = p.raw() - first.raw();
    bits[i / 64] &= ~(std::uint64_t{1} << (i % 64));
  }
  static constexpr std::size_t bytes_for(std::uint64_t pages) noexcept {
    return sizeof(watch_record) + (pages + 63) / 64 * sizeof(std::uint64_t);
  }
};

/// The write-watched reservations of one address space.
/// Complexity: lookups are O(watched reservations), a handful in practice.
struct watch_list {
  watch_record* head = nullptr;
  /// While set, dirty bits that go away are not folded in (a reset).
  bool resetting = false;

  watch_record* find(vpn p) const noexcept {
    for (watch_record* r = head; r != nullptr; r = r->next)
      if (r->contains(p)) return r;
    return nullptr;
  }
};

/// The PTE observer of an address space: folds dirty bits into the watch
/// bitmaps and the dirty records of tracked ranges, then tells the user's
/// observer.
template <class User>
struct space_observer {
  watch_list* watches = nullptr;
  /// Empty by default (no_pte_observer): then it takes no room.
  [[no_unique_address]] User user{};
  /// The working set: how many of the space's PTEs are valid (P is bit 0
  /// in every x86 format).
  std::uint64_t working_set = 0;
  /// The ranges whose dirty pages an emulator tracks (emu/dirty_pages.hpp):
  /// records of the same kind as write watch's, kept apart from them (no
  /// VAD owns these, and a write-watch reset must not forget their bits).
  watch_record* dirty_ranges = nullptr;
  /// A snapshot's journal (emu/snapshot.hpp), told of every page whose PTE
  /// changes; null when no snapshot is taken.
  page_listener* journal = nullptr;

  template <class Entry>
  MMKIT_ALWAYS_INLINE void pte_changed(vpn p, Entry before,
                                       Entry after) noexcept {
    if (journal != nullptr) [[unlikely]]
      journal->page_touched(p);
    working_set += static_cast<std::uint64_t>(after & 1) -
                   static_cast<std::uint64_t>(before & 1);
    if (hw::present_and_dirty(before) && !hw::present_and_dirty(after)) {
      if (watches != nullptr && watches->head != nullptr &&
          !watches->resetting) {
        if (watch_record* r = watches->find(p)) r->set(p);
      }
      for (watch_record* r = dirty_ranges; r != nullptr; r = r->next)
        if (r->contains(p)) r->set(p);
    }
    user.pte_changed(p, before, after);
  }
  /// As pte_changed, for PTEs neither of which is present (the PTE
  /// writer's fill_absent): the working set and the dirty bits stay.
  template <class Entry>
  MMKIT_ALWAYS_INLINE void absent_pte_changed(vpn p, Entry before,
                                              Entry after) noexcept {
    MMKIT_ASSERT(!(before & 1) && !(after & 1));
    if (journal != nullptr) [[unlikely]]
      journal->page_touched(p);
    user.pte_changed(p, before, after);
  }
};

/// WRITE_WATCH_FLAG_RESET.
inline constexpr std::uint32_t write_watch_flag_reset = 1;

namespace region {

/// Effects: a watch record for reservation `r`, before its VAD goes in.
/// Returns: insufficient_resources when the allocator has no storage.
template <class Core>
status watch_add(Core& c, vpn_range r) noexcept {
  const std::size_t bytes = watch_record::bytes_for(r.count());
  void* raw = c.watch_alloc.allocate(bytes);
  if (raw == nullptr) return status::insufficient_resources;
  auto* rec = ::new (raw) watch_record{};
  rec->first = r.first;
  rec->pages = r.count();
  rec->bits = reinterpret_cast<std::uint64_t*>(rec + 1);
  for (std::uint64_t i = 0; i < (r.count() + 63) / 64; ++i) rec->bits[i] = 0;
  rec->next = c.watches.head;
  c.watches.head = rec;
  return status::success;
}

/// Effects: after pages `r` of a watched reservation were released, drops
/// every record overlapping them once no VAD of its range is left. (Records
/// may overlap: a snapshot's restore makes a piece of a split reservation
/// again with a record of its own, beside the record of the pieces that
/// stayed.)
template <class Core>
void watch_release(Core& c, vpn_range r) noexcept {
  for (watch_record** at = &c.watches.head; *at != nullptr;) {
    watch_record* rec = *at;
    const vpn last = rec->first + (rec->pages - 1);
    bool keep = last < r.first || r.last < rec->first;  // not overlapping
    if (!keep) {
      const vad* next = c.vads.first_at_or_after(rec->first);
      keep = c.vads.find_containing(rec->first) != nullptr ||
             (next != nullptr && next->start() <= last);
    }
    if (keep) {
      at = &rec->next;
      continue;
    }
    *at = rec->next;
    const std::size_t bytes = watch_record::bytes_for(rec->pages);
    rec->~watch_record();
    c.watch_alloc.deallocate(rec, bytes);
  }
}

/// The write-watched reservation holding all of [base, base + size), or
/// null.
template <class Core>
watch_record* watched_range(Core& c, vaddr base, std::uint64_t size,
                            vpn_range& r) noexcept {
  if (size == 0 || base.raw() > Core::highest_user_address ||
      Core::highest_user_address - base.raw() + 1 < size)
    return nullptr;
  r = {base.page(), vaddr{base.raw() + size - 1}.page()};
  const vad* v = c.vads.find_containing(r.first);
  if (v == nullptr || r.last > v->end() || !v->has(vad_flags::write_watch))
    return nullptr;
  return c.watches.find(r.first);
}

/// Calls f(page, written) for each page of `r` in order until f returns
/// false; `written` says whether the page was written since its last reset.
template <class Core, class F>
void for_each_watched(Core& c, const watch_record& rec, vpn_range r,
                      F&& f) noexcept {
  c.ptes.for_each_span(r, [&](const auto& s) {
    for (vpn p = s.first;; ++p) {
      const bool pte_dirty =
          s.present() &&
          hw::present_and_dirty(s.entries[p.raw() - s.first.raw()]);
      if (!f(p, rec.test(p) || pte_dirty)) return false;
      if (p == s.last) return true;
    }
  });
}

/// Effects: page `p`'s D bit, if its PTE is valid and dirty, goes to its
/// frame's modified bit (so the pager still writes the page out: a view's
/// clean frame would otherwise be dropped) and is cleared through the PTE
/// writer: the TLB drops the page, so the next write sets D again.
template <class Core>
void clear_dirty_bit(Core& c, vpn p) noexcept {
  using entry_type = typename Core::entry_type;
  const entry_type e = c.ptes.read(p);
  if (!hw::present_and_dirty(e)) return;
  c.pfns().set_modified(Core::model::codec::page_address(e, 0).frame());
  [[maybe_unused]] const auto w = c.ptes.write(
      p, static_cast<entry_type>(e & ~hw::dirty::mask<entry_type>()));
}

/// Effects: page `p` counts as not written from now on.
template <class Core>
void watch_reset_page(Core& c, watch_record& rec, vpn p) noexcept {
  rec.clear(p);
  c.watches.resetting = true;
  clear_dirty_bit(c, p);
  c.watches.resetting = false;
}

/// NtGetWriteWatch(flags, base, size, addresses, count, granularity): the
/// pages of [base, base + size) written since their last reset, in address
/// order, at most `count` of them; `count` becomes how many. With
/// WRITE_WATCH_FLAG_RESET the pages returned are reset.
/// Returns: invalid_parameter for unknown flags, a zero count, or a range
/// that is empty, beyond user space or not inside one write-watched
/// reservation (kernel32 maps them all to ERROR_INVALID_PARAMETER; which
/// parameter NT names is reasoned, not observed).
template <class Core>
status get_write_watch(Core& c, std::uint32_t flags, vaddr base,
                       std::uint64_t size, vaddr* addresses,
                       std::uint64_t& count,
                       std::uint32_t& granularity) noexcept {
  if ((flags & ~write_watch_flag_reset) != 0) return status::invalid_parameter;
  if (count == 0 || addresses == nullptr) return status::invalid_parameter;
  vpn_range r{};
  watch_record* rec = watched_range(c, base, size, r);
  if (rec == nullptr) return status::invalid_parameter;
  std::uint64_t found = 0;
  for_each_watched(c, *rec, r, [&](vpn p, bool written) {
    if (written) addresses[found++] = p.address();
    return found < count;
  });
  if (flags & write_watch_flag_reset)
    for (std::uint64_t i = 0; i < found; ++i)
      watch_reset_page(c, *rec, addresses[i].page());
  count = found;
  granularity = static_cast<std::uint32_t>(page_size);
  return status::success;
}

/// NtResetWriteWatch(base, size): every page of the range counts as not
/// written. Returns: invalid_parameter as get_write_watch.
template <class Core>
status reset_write_watch(Core& c, vaddr base, std::uint64_t size) noexcept {
  vpn_range r{};
  watch_record* rec = watched_range(c, base, size, r);
  if (rec == nullptr) return status::invalid_parameter;
  for_each_watched(c, *rec, r, [&](vpn p, bool written) {
    if (written) watch_reset_page(c, *rec, p);
    return true;
  });
  return status::success;
}

}  // namespace region
}  // namespace mmkit
