#pragma once
// Dirty pages for emulators and snapshot fuzzers: which pages of any range
// were written since the last reset, without MEM_WRITE_WATCH.
//
// Where "written" lives is write watch's answer (region/write_watch.hpp):
// while a page is valid, its PTE's D bit (the walker sets D on the first
// write, and the TLB caches a page writable only once D is set); when a
// valid dirty PTE is replaced by anything not valid-and-dirty (trim,
// protect to NOACCESS, decommit, release, unmap, copy-on-write, a page-out),
// the address space's observer folds the bit into the record of every
// tracked range holding the page. So
//
//   dirty(page) = some tracked record's bit  or  (PTE valid and D set)
//
// A reset moves a valid dirty PTE's D into its frame's modified bit (the
// pager must still write the page) and rewrites the PTE with D clear
// through the PTE writer (region::clear_dirty_bit: the TLB drops the page,
// and an emulator's change observer hears of rights_reduced, so the next
// write goes through the walker and sets D again), then clears the
// records' bits.
//
// Tracking a range (track_dirty) costs one bit per page from the space's
// WatchAllocator (Config::watch_allocator: the heap when hosted; none by
// default, and then tracking is refused with insufficient_resources, as
// MEM_WRITE_WATCH is). An untracked page's D bit still answers while the
// page is valid; what is lost is only the write of a page that left memory
// dirty. A write-watch reservation's bitmap is separate: a dirty reset here
// leaves its bits set, and NtResetWriteWatch leaves these.

#include <mmkit/core/address.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/region/write_watch.hpp>

#include <cstddef>
#include <cstdint>
#include <new>  // placement new only

namespace mmkit {

/// Whether query_dirty resets the pages it reports.
enum class dirty_reset : bool { no, yes };

namespace emu {

namespace detail {
/// The pages of [base, base + size) in `r`, or false when the range is
/// empty or leaves user space.
template <class Core>
bool user_pages(vaddr base, std::uint64_t size, vpn_range& r) noexcept {
  if (size == 0 || base.raw() > Core::highest_user_address ||
      Core::highest_user_address - base.raw() + 1 < size)
    return false;
  r = {base.page(), vaddr{base.raw() + size - 1}.page()};
  return true;
}

template <class Core>
watch_record*& dirty_head(Core& c) noexcept {
  return c.ptes.observer().dirty_ranges;
}

/// Whether a tracked record holds a write of `p`.
inline bool recorded(const watch_record* head, vpn p) noexcept {
  for (const watch_record* r = head; r != nullptr; r = r->next)
    if (r->contains(p) && r->test(p)) return true;
  return false;
}

/// Whether a tracked record overlaps pages `r`.
inline bool tracked(const watch_record* head, vpn_range r) noexcept {
  for (const watch_record* t = head; t != nullptr; t = t->next)
    if (t->first.raw() <= r.last.raw() &&
        r.first.raw() <= t->first.raw() + (t->pages - 1))
      return true;
  return false;
}
}  // namespace detail

/// Effects: the dirty pages of [base, base + size) are tracked from now on,
/// including those that leave memory dirty (see the header comment). Pages
/// already dirty in their PTE count as dirty.
/// Returns: invalid_parameter for an empty range or one beyond user space;
/// insufficient_resources when the watch allocator has no storage.
/// Complexity: O(pages / 64) to clear the new record.
template <class Core>
status track_dirty(Core& c, vaddr base, std::uint64_t size) noexcept {
  vpn_range r{};
  if (!detail::user_pages<Core>(base, size, r))
    return status::invalid_parameter;
  const std::size_t bytes = watch_record::bytes_for(r.count());
  void* raw = c.watch_alloc.allocate(bytes);
  if (raw == nullptr) return status::insufficient_resources;
  auto* rec = ::new (raw) watch_record{};
  rec->first = r.first;
  rec->pages = r.count();
  rec->bits = reinterpret_cast<std::uint64_t*>(rec + 1);
  for (std::uint64_t i = 0; i < (r.count() + 63) / 64; ++i) rec->bits[i] = 0;
  rec->next = detail::dirty_head(c);
  detail::dirty_head(c) = rec;
  return status::success;
}

/// Effects: the tracked range that track_dirty(base, size) made is no
/// longer tracked; its record goes back to the allocator.
/// Returns: invalid_parameter when no tracked range is exactly that.
template <class Core>
status untrack_dirty(Core& c, vaddr base, std::uint64_t size) noexcept {
  vpn_range r{};
  if (!detail::user_pages<Core>(base, size, r))
    return status::invalid_parameter;
  for (watch_record** at = &detail::dirty_head(c); *at != nullptr;
       at = &(*at)->next) {
    watch_record* rec = *at;
    if (rec->first != r.first || rec->pages != r.count()) continue;
    *at = rec->next;
    const std::size_t bytes = watch_record::bytes_for(rec->pages);
    rec->~watch_record();
    c.watch_alloc.deallocate(rec, bytes);
    return status::success;
  }
  return status::invalid_parameter;
}

/// Effects: every tracked range goes (the address space's teardown).
template <class Core>
void release_dirty_records(Core& c) noexcept {
  watch_record*& head = detail::dirty_head(c);
  while (head != nullptr) {
    watch_record* rec = head;
    head = rec->next;
    const std::size_t bytes = watch_record::bytes_for(rec->pages);
    rec->~watch_record();
    c.watch_alloc.deallocate(rec, bytes);
  }
}

/// Effects: page `p` counts as clean from now on.
template <class Core>
void reset_dirty_page(Core& c, vpn p) noexcept {
  // The observer folds the bit it sees go into the records (and into a
  // write-watch bitmap, which keeps it); the records' bits go below.
  region::clear_dirty_bit(c, p);
  for (watch_record* r = detail::dirty_head(c); r != nullptr; r = r->next)
    if (r->contains(p)) r->clear(p);
}

/// The pages of [base, base + size) written since their last reset, in
/// address order, at most `count` of them into `out`; `count` becomes how
/// many. With dirty_reset::yes the pages reported are reset.
/// Returns: invalid_parameter for a zero count, a null `out`, or a range
/// that is empty or beyond user space.
/// Complexity: O(pages of the range under leaf tables or tracked records,
/// times tracked records), plus O(1) per leaf-table span with neither.
template <class Core>
status query_dirty(Core& c, vaddr base, std::uint64_t size, vaddr* out,
                   std::uint64_t& count, dirty_reset reset) noexcept {
  if (count == 0 || out == nullptr) return status::invalid_parameter;
  vpn_range r{};
  if (!detail::user_pages<Core>(base, size, r))
    return status::invalid_parameter;
  const watch_record* head = detail::dirty_head(c);
  std::uint64_t found = 0;
  c.ptes.for_each_span(r, [&](const auto& s) {
    if (!s.present() && !detail::tracked(head, vpn_range{s.first, s.last}))
      return true;
    for (vpn p = s.first;; ++p) {
      const bool pte_dirty =
          s.present() &&
          hw::present_and_dirty(s.entries[p.raw() - s.first.raw()]);
      if (pte_dirty || detail::recorded(head, p)) {
        out[found++] = p.address();
        if (found == count) return false;
      }
      if (p == s.last) return true;
    }
  });
  if (reset == dirty_reset::yes)
    for (std::uint64_t i = 0; i < found; ++i)
      reset_dirty_page(c, out[i].page());
  count = found;
  return status::success;
}

}  // namespace emu
}  // namespace mmkit
