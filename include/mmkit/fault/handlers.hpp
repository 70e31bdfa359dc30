#pragma once
// The fault handlers, one per kind of PTE (the dispatcher in
// fault/dispatcher.hpp picks one), and the counts they keep.
//
//   handle_guard          one-shot guard page: the guard is lifted and
//                         guard_page_violation raised; the retried access
//                         proceeds
//   handle_demand_zero    a zeroed frame (zeroed on the spot when the
//                         zeroed list is empty), made valid
//   handle_transition     soft fault: the frame is still in memory (active
//                         behind a NOACCESS/GUARD PTE, or on the standby or
//                         modified list after a trim) and is made valid
//   handle_page_file      hard fault: a private page is read back from its
//                         page-file slot (which is freed)
//   handle_prototype      a view's page not mapped here: through the
//                         section's prototype PTE, the shared frame (a
//                         zeroed one for a page-file section, the store's
//                         bytes for a file section, or the one another view
//                         brought in) is mapped; a write to a copy-on-write
//                         page copies it instead
//   handle_copy_on_write  a write to a shared copy-on-write page: the
//                         writer gets a private copy, the section keeps
//                         its page (a page private already, relocated,
//                         only becomes writable); a fork's page whose
//                         frame other spaces map is copied too, and the
//                         last one mapping it only becomes writable

#include <mmkit/core/access.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/fault/fault_counts.hpp>
#include <mmkit/phys/pfn_database.hpp>
#include <mmkit/region/page_state.hpp>
#include <mmkit/section/section.hpp>
#include <mmkit/section/section_ops.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace mmkit {

namespace fault {

inline status violation(fault_counts& counts) noexcept {
  ++counts.access_violation;
  return status::access_violation;
}

/// The guard is lifted and reported. A committed page has its PTE, so
/// its table is there.
template <class Core>
status handle_guard(Core& c, fault_counts& counts, const vad& v, vpn p,
                    const page_view& pv) noexcept {
  const mm_protection lifted = pv.protection.without_guard();
  // A view's shared page is never valid while guarded: it stays with its
  // section, and the next access maps it.
  const typename Core::entry_type now =
      pv.shared     ? Core::model::view_prototype_entry(pv.proto, lifted)
      : pv.resident ? c.resident_pte(v, pv.frame, lifted)
                    : Core::model::with_protection(c.ptes.read(p), lifted);
  [[maybe_unused]] const auto w = c.ptes.write(p, now);
  MMKIT_ASSERT(w.ok());
  ++counts.guard_page;
  return status::guard_page_violation;
}

/// The fill of a demand-zero page: none, the frame stays zeroed. A Fill
/// says which pages it supplies (a user pager's, emu/fault_callbacks.hpp)
/// and writes them; the others stay zero.
struct zero_fill {
  constexpr bool supplies(vpn) const noexcept { return false; }
  constexpr status operator()(vpn, std::byte*) const noexcept {
    return status::success;
  }
};

/// handle_demand_zero's end: `frame`, the fault's alone, whose PFN entry
/// names the PTE at `leaf` already, is zeroed when `must_zero` says it is
/// not yet, and becomes `p`'s valid page.
template <class Core, class Leaf>
void map_zero_page(Core& c, fault_counts& counts, vpn p, mm_protection prot,
                   pfn frame, bool must_zero, Leaf leaf) noexcept {
  ++counts.demand_zero;
  if (must_zero) __builtin_memset(c.sys->memory().frame(frame), 0, page_size);
  c.ptes.write_at(p, leaf, Core::model::valid_entry(frame, prot));
}

/// A zeroed frame for page `p`, valid with `prot`. `fill(p, bytes)` may
/// write the frame's contents first (a user pager, emu/fault_callbacks.hpp);
/// when it fails, the frame goes back, nothing else changed, and its status
/// is the fault's.
///
/// A plain demand-zero page (none that `fill` supplies) whose leaf table
/// exists takes its frame from the space's frame cache when it has one
/// (phys/frame_cache.hpp): no PFN lock at all. Otherwise the PFN work
/// (frame, table) is done under the PFN lock, and a plain page's fault
/// that finds the cache empty fills it.
/// `leaf` is p's leaf entry when the caller found it already (the
/// dispatcher did, to read the PTE), or null.
template <class Core, class Fill = zero_fill>
status handle_demand_zero(
    Core& c, fault_counts& counts, vpn p, mm_protection prot,
    Fill fill = Fill{},
    typename Core::writer_type::leaf_ref leaf = {}) noexcept {
  const bool plain = !fill.supplies(p);
  if (plain && c.frames != nullptr && !c.frames->empty()) {
    if (!leaf) leaf = c.ptes.find_leaf(p);
    if (leaf) {
      bool must_zero = false;
      const pfn frame = c.frames->pop(must_zero);
      // No PFN lock: the entry's link and original PTE only, not its flags
      // (pfn_database::set_cached_link).
      c.pfns().set_cached_link(
          frame, pte_link::hardware_pte(c.ptes.table().entry_address(leaf)),
          Core::sw::demand_zero(prot.raw()));
      c.count_cached_frame();
      counts.zeroed_on_the_spot += must_zero;
      map_zero_page(c, counts, p, prot, frame, must_zero, leaf);
      return status::success;
    }
  }
  // A guest access gives the PFN lock back before the PTE write
  // (space_core::pfn_work_done).
  c.take_pfn_lock();
  auto& db = c.pfns();
  // The frame first: a failed ensure_leaf leaves no table behind, and the
  // frame can simply go back. A frame that is not zeroed yet is zeroed
  // here, by this fault: for a plain demand-zero page once the PFN lock may
  // be gone (the frame is this fault's alone: active, its PTE not yet
  // written), so that other spaces' faults do not wait on the memset; for
  // a user pager's page before the pager writes it.
  bool must_zero = false;
  bool cached = false;
  result<pfn> frame = status::no_memory;
  if (plain && c.frames != nullptr && !c.frames->empty()) {
    frame = c.frames->pop(must_zero);  // the table is missing
    cached = true;
  } else {
    frame = c.sys->allocate_zeroed_by_caller_locked(Core::frame_end, must_zero);
  }
  if (!frame) return status::no_memory;
  const auto give_back = [&] {
    if (cached)
      db.release_unused(*frame, !must_zero);
    else
      db.release(*frame, release_to::free_list);  // no longer zeroed
  };
  std::byte* const bytes = c.sys->memory().frame(*frame);
  if (!plain && must_zero) __builtin_memset(bytes, 0, page_size);
  if (const status s = fill(p, bytes); s != status::success) {
    give_back();
    return s;
  }
  const std::uint64_t tables_before = c.ptes.table().table_pages();
  // One walk: the leaf entry found here is the one written below.
  const auto made = c.ptes.ensure_leaf(p);
  if (!made) {
    give_back();
    return status::no_memory;
  }
  counts.table_pages += c.ptes.table().table_pages() - tables_before;
  counts.zeroed_on_the_spot += must_zero;
  c.count_frame(+1);
  db.set_pte_link(*frame,
                  pte_link::hardware_pte(c.ptes.table().entry_address(*made)),
                  Core::sw::demand_zero(prot.raw()));
  if (plain && c.frames != nullptr && c.frames->empty())
    c.sys->fill_frame_cache_locked(*c.frames, Core::frame_end);
  c.pfn_work_done();
  map_zero_page(c, counts, p, prot, *frame, plain && must_zero, *made);
  return status::success;
}

/// Soft fault: the frame a transition PTE names comes back.
template <class Core>
status handle_transition(Core& c, fault_counts& counts, const vad& v, vpn p,
                         const page_view& pv) noexcept {
  auto& db = c.pfns();
  if (db.entry(pv.frame).state() != page_state::active) {
    // Off the standby or modified list: share and reference count 1, the
    // mapping's, as a fresh frame; a copy in a page-file slot is dropped
    // (page_state.hpp).
    db.reclaim(pv.frame);
    if (v.private_memory() || !db.entry(pv.frame).prototype())
      c.drop_slot(pv.frame);
  }
  ++counts.soft;
  [[maybe_unused]] const auto w =
      c.ptes.write(p, c.resident_pte(v, pv.frame, pv.protection));
  MMKIT_ASSERT(w.ok());
  return status::success;
}

/// Hard fault: a private page (or a view's private copy) in a page-file
/// slot is read into a frame, and the slot is freed (the frame holds the
/// only copy again).
template <class Core>
status handle_page_file(Core& c, fault_counts& counts, const vad& v, vpn p,
                        const page_view& pv) noexcept {
  auto& db = c.pfns();
  const typename Core::entry_type e = c.ptes.read(p);
  const page_slot slot{static_cast<std::uint8_t>(Core::sw::page_file_number(e)),
                       Core::sw::page_file_offset(e)};
  auto frame = c.sys->allocate_locked(page_need::any, Core::frame_end);
  if (!frame) return status::no_memory;
  std::byte* const bytes = c.sys->memory().frame(*frame);
  status read;
  if (c.pfn_lock_goes_early()) {
    // A fault takes the PFN lock for its PFN work alone, so the read goes
    // without it, as NT issues paging I/O with its PFN lock released, and
    // other spaces' faults and the pager go on meanwhile. Nothing the
    // read needs can change: the PTE and its slot are this space's, whose
    // lock the fault holds (a trim while the lock is awaited below passes
    // over a PTE that is not valid); the frame is this fault's, on no
    // list; the page file's store allows a read beside the pager's writes
    // (section/backing_store.hpp). A call that holds the PFN lock
    // throughout (a snapshot's, a fork's) reads under it.
    const page_file& file = c.sys->page_files().file(slot.file);
    c.give_pfn_lock();
    read = file.read(slot.offset, bytes);
    c.take_pfn_lock();
  } else {
    read = c.sys->page_files().read(slot, bytes);
  }
  if (read != status::success) {
    db.release(*frame, release_to::free_list);
    return status::in_page_error;
  }
  // Reclaiming may have trimmed this very space: the PTE is read again.
  MMKIT_ASSERT(c.ptes.read(p) == e);
  c.sys->page_files().free(slot);
  ++c.sys->stats_locked().pagefile_reads;
  ++counts.hard;
  c.count_frame(+1);
  db.set_pte_link(*frame, pte_link::hardware_pte(c.ptes.entry_address(p)),
                  Core::sw::demand_zero(pv.protection.raw()));
  db.set_modified(*frame);
  // A view's private copy keeps its protection in its PTE.
  [[maybe_unused]] const auto w = c.ptes.write(
      p, v.private_memory()
             ? Core::model::valid_entry(*frame, pv.protection)
             : Core::model::view_valid_entry(*frame, pv.protection));
  MMKIT_ASSERT(w.ok());
  return status::success;
}
/// The protection a private copy of a copy-on-write page gets: WRITECOPY
/// becomes READWRITE, EXECUTE_WRITECOPY EXECUTE_READWRITE.
constexpr mm_protection copied(mm_protection p) noexcept {
  if (!p.is_copy_on_write()) return p;
  const std::uint8_t base =
      p.base() == mm::writecopy ? mm::readwrite : mm::execute_readwrite;
  return mm_protection{static_cast<std::uint8_t>(base | p.modifiers())};
}

/// Page `p` of a view becomes a private copy, in `frame` (just taken), of
/// the section's frame `source`, writable. The copy was charged when the
/// view became copy-on-write, so the promise had a frame for it.
template <class Core>
void copy_page(Core& c, fault_counts& counts, vpn p, pfn source,
               mm_protection prot, pfn frame) noexcept {
  auto& db = c.pfns();
  std::memcpy(c.sys->memory().frame(frame), c.sys->memory().frame(source),
              page_size);
  const mm_protection own = copied(prot);
  db.set_pte_link(frame, pte_link::hardware_pte(c.ptes.entry_address(p)),
                  Core::sw::demand_zero(own.raw()));
  c.count_frame(+1);
  ++counts.copy_on_write;
  [[maybe_unused]] const auto w =
      c.ptes.write(p, Core::model::view_valid_entry(frame, own));
  MMKIT_ASSERT(w.ok());
}

/// A frame for a copy of the shared frame `source`. `source` is pinned (one
/// more reference) meanwhile: when none is free, reclaiming one may trim
/// the views that map `source`, and it must not be let go of and reused
/// under the copy.
template <class Core>
result<pfn> frame_for_copy(Core& c, pfn source) noexcept {
  auto& db = c.pfns();
  db.add_reference(source);
  auto frame = c.sys->allocate_locked(page_need::any, Core::frame_end);
  db.remove_reference(source);
  return frame;
}

/// section_ops::page_in's locks in a fault. A call that takes the PFN
/// lock for its PFN work alone (a guest access) reads a section page from
/// its file or the page file under the section lock held shared, without
/// the PFN lock (taken on the way: the PFN lock given up, the section
/// lock taken, then the PFN lock again, as their order wants; the section
/// lock goes when the fault is done), so faults read separate pages at
/// once. Any other call holds both locks throughout, and reads under them.
template <class Core>
class in_page_locks {
 public:
  explicit in_page_locks(Core& c) noexcept
      : c_(c), lazy_(c.pfn_lock_goes_early() && !c.holds_section_lock) {}
  ~in_page_locks() {
    if (taken_) c_.sys->section_lock().unlock_shared();
  }
  in_page_locks(const in_page_locks&) = delete;
  in_page_locks& operator=(const in_page_locks&) = delete;

  bool sections_held() const noexcept { return !lazy_ || taken_; }
  bool sections_shared() const noexcept { return taken_; }
  void take_sections() noexcept {
    MMKIT_ASSERT(lazy_ && !taken_);
    c_.give_pfn_lock();
    c_.sys->section_lock().lock_shared();
    taken_ = true;
    c_.take_pfn_lock();
  }
  /// The PFN lock let go until another fault's read ends (the system's
  /// in-page wait: asleep, or polled, wait number `tries`, where the lock
  /// policy cannot block).
  void wait_for_reads(unsigned tries) noexcept {
    MMKIT_ASSERT(taken_);
    const std::uint32_t seen = c_.sys->in_page_wait_begin_locked();
    c_.give_pfn_lock();
    c_.sys->in_page_wait(seen, tries);
    c_.take_pfn_lock();
    c_.sys->in_page_wait_end_locked();
  }
  void read_begin() noexcept {
    if (lazy_) c_.give_pfn_lock();
  }
  void read_end() noexcept {
    if (lazy_) c_.take_pfn_lock();
  }

 private:
  Core& c_;
  bool lazy_;
  bool taken_ = false;
};

/// A view's page not mapped here (prototype PTE, committed, the access
/// allowed): see the header comment.
template <class Core>
status handle_prototype(Core& c, fault_counts& counts, const vad& v, vpn p,
                        const page_view& pv, access acc) noexcept {
  using ops = section_ops<typename Core::system_type>;
  segment& seg = as_view(v).section->pages();
  typename ops::page_source how{};
  in_page_locks<Core> locks(c);
  const auto frame = ops::page_in(*c.sys, seg, pv.proto, how, locks);
  if (!frame) return frame.error();
  counts.demand_zero += how == ops::page_source::zeroed;
  counts.hard += how == ops::page_source::read;
  counts.soft += how == ops::page_source::reclaimed;
  counts.shared += how == ops::page_source::resident;
  if (acc == access::write && pv.protection.is_copy_on_write()) {
    const auto copy = frame_for_copy(c, *frame);
    if (!copy) return status::no_memory;
    copy_page(c, counts, p, *frame, pv.protection, *copy);
    return status::success;
  }
  c.pfns().increment_share_count(*frame);
  [[maybe_unused]] const auto w =
      c.ptes.write(p, Core::model::view_valid_entry(*frame, pv.protection));
  MMKIT_ASSERT(w.ok());
  return status::success;
}

/// A write to a fork's page (a private page, or a view's private copy)
/// whose frame other address spaces map too (region/fork.hpp): the writer
/// gets a copy of its own, writable, and lets go of its share of the
/// frame; the others keep seeing the old bytes. The copy was charged
/// when the space was forked, so the promise had a frame for it.
template <class Core>
status copy_forked(Core& c, fault_counts& counts, const vad& v, vpn p,
                   const page_view& pv) noexcept {
  auto& db = c.pfns();
  const auto copy = frame_for_copy(c, pv.frame);
  if (!copy) return status::no_memory;
  // Reclaiming trims no frame a fork shares: the page is as it was.
  MMKIT_ASSERT(c.view(v, p).frame == pv.frame &&
               db.entry(pv.frame).share_count() > 1);
  std::memcpy(c.sys->memory().frame(*copy), c.sys->memory().frame(pv.frame),
              page_size);
  const mm_protection own = copied(pv.protection);
  db.set_pte_link(*copy, pte_link::hardware_pte(c.ptes.entry_address(p)),
                  Core::sw::demand_zero(own.raw()));
  c.count_frame(+1);
  ++counts.copy_on_write;
  [[maybe_unused]] const auto w = c.ptes.write(
      p, v.private_memory() ? Core::model::valid_entry(*copy, own)
                            : Core::model::view_valid_entry(*copy, own));
  MMKIT_ASSERT(w.ok());
  c.unshare_frame(pv.frame);
  return status::success;
}

/// A write to a valid copy-on-write page: the shared frame is copied into
/// a private one, and this view lets go of the shared frame.
template <class Core>
status handle_copy_on_write(Core& c, fault_counts& counts, const vad& v, vpn p,
                            const page_view& pv) noexcept {
  if (!pv.shared && c.pfns().entry(pv.frame).share_count() > 1)
    return copy_forked(c, counts, v, p, pv);
  if (!pv.shared) {
    // Private already (an image page relocated at map time, or a fork's
    // page no other space maps any more): the first write only makes it
    // writable.
    [[maybe_unused]] const auto w =
        c.ptes.write(p, c.resident_pte(v, pv.frame, copied(pv.protection)));
    MMKIT_ASSERT(w.ok());
    return status::success;
  }
  const auto copy = frame_for_copy(c, pv.frame);
  if (!copy) return status::no_memory;
  const page_view now = c.view(v, p);
  if (!now.valid || now.frame != pv.frame) {
    // Reclaiming the frame trimmed this very page: it is the section's
    // again, and the prototype path copies it.
    c.pfns().release(*copy, release_to::free_list);
    return handle_prototype(c, counts, v, p, now, access::write);
  }
  copy_page(c, counts, p, pv.frame, pv.protection, *copy);
  c.pfns().decrement_share_count(pv.frame, release_to::backing_store);
  return status::success;
}

}  // namespace fault
}  // namespace mmkit
