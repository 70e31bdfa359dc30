#pragma once
// Snapshots for snapshot fuzzers: take one of a system's address spaces,
// run, and restore them in time proportional to what changed.
//
//   emu::snapshot<Space> snap;
//   snap.take({&a, &b});          // every space of the run
//   for (...) { run(); snap.restore(); }
//
// What a snapshot keeps, per space (a capture, O(committed pages)):
//   - every VAD: its range, type, protection, flags and commit charge; a
//     view's section (one more handle keeps it alive) and offset;
//   - every committed page: its protection, and its bytes, or "demand
//     zero" for a page never touched; a view's page says whether it was a
//     private copy or the section's page;
//   - its user physical pages (AWE, region/awe.hpp): which frames it owns,
//     with their bytes, and which frame each page of an AWE region maps.
//     The process's own page array names those frames, so a restore gives
//     back the same frame numbers: a frame the space frees while a
//     snapshot that owned it exists is kept by the snapshot (active, its
//     commit charge still taken: page_listener::keep_freed_frame) until a
//     restore gives it back or the last such snapshot is dropped. A write
//     through an AWE page journals its frame.
// Then every valid page's D bit is cleared (folded into its frame's
// modified bit first, so the pager still writes it), and the snapshot
// listens to the space (paging/page_listener.hpp):
//   - the walker setting D: the page's first write since the snapshot
//     (the TLB only caches a page writable once D is set, so none is
//     missed, and a write the TLB serves costs nothing);
//   - every PTE change (commit, decommit, protect, faults, trims);
//   - every range whose VADs changed (allocate MEM_RESERVE, MEM_RELEASE,
//     map and unmap of views).
//
// Restore, per space, touches only what the journal names:
//   1. Ranges whose VADs changed: each grows to cover every VAD, now or
//      in the snapshot, that overlaps it. The VADs there now go (released
//      or unmapped) and the snapshot's come back, exactly where they were,
//      with all their pages. A view whose page changed shape (shared then,
//      a private copy now, or back) is restored this way too.
//   2. Every other page named: committed or decommitted, its bytes
//      written straight into its frame (a page trimmed or paged out since
//      is brought back first), its protection set, its D bit cleared; an
//      AWE page maps its frame again.
// Before both, a space that allocated or freed user physical pages since
// owns the snapshot's again (its bitmap compared with the snapshot's
// frames: O(frames of the machine / 64)); after, every AWE frame written
// since gets its bytes back.
// Each space is taken in two passes, and every space's first pass comes
// before any space's second: first what gives commit and frames back (the
// VADs there now in step 1's ranges, the pages of step 2 committed since),
// then what takes them. So a restore needs no more than the snapshot's
// state did, whatever was allocated in the meantime and in which space.
// A restore costs O(pages named + pages of VADs made or gone), never
// O(memory), but for that bitmap comparison. The PTE writer reports every
// change, so an emulator's cache hears of a restore as of any other call
// (emu/changes.hpp).
//
// What comes back is the snapshot's state as the NT calls see it (VADs,
// protections, contents, commit charges); which frame holds a page, and
// the PFN lists, may differ, with the same counts (an AWE page's frame
// does not). Not covered: device (MMIO) ranges, which have no
// pages and stay as they are (one made or removed since is a conflict the
// restore reports); page suppliers (a reservation the restore releases
// and makes again is supplied no more); spaces and sections
// made after the snapshot (they stay; their views in covered spaces go); a
// SEC_RESERVE section's pages committed after the snapshot stay committed.
//
// Nesting: snapshots of the same spaces stack. Restoring or dropping one
// needs every newer one dropped first; dropping one hands its journal to
// the one below, which then also restores what changed since.
//
// Requirements: the translator's A/D policy sets D (ad_update::set, the
// default). Hosted: the snapshot's storage is the heap.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "mmkit/emu/snapshot.hpp needs a hosted C++ implementation"
#endif

#include <mmkit/core/access.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/lock_policy.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/fault/fault_counts.hpp>
#include <mmkit/fault/handlers.hpp>
#include <mmkit/paging/page_listener.hpp>
#include <mmkit/region/private_memory.hpp>
#include <mmkit/region/view.hpp>
#include <mmkit/region/write_watch.hpp>
#include <mmkit/section/section_ops.hpp>
#include <mmkit/vad/vad.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <unordered_map>
#include <vector>

namespace mmkit::emu {

namespace detail {
/// The saved-system reader and writer (emu/saved_system.hpp), which
/// captures and rebuilds spaces with the snapshot's code.
template <class Space>
struct saved_system_io;
}  // namespace detail

/// What a snapshot keeps of one committed page.
struct page_record {
  vpn page{};
  mm_protection protection{};
  bool has_bytes = false;     ///< else demand zero (never touched)
  bool private_copy = false;  ///< a view's page: its own copy
  std::uint64_t bytes = 0;    ///< index of its bytes in the snapshot
  pfn frame{};  ///< an AWE page's: the user physical page mapped there
};

/// What a snapshot keeps of one VAD.
struct vad_record {
  vpn_range range{};
  vad_type type = vad_type::private_memory;
  mm_protection protection{};
  vad_flags flags = vad_flags::none;
  std::uint64_t commit_charge = 0;
  section_object* section = nullptr;  ///< a view's (one handle held)
  std::uint64_t first_page = 0;       ///< a view's first page in it
  /// Its committed pages: records [first_record, end_record), by page.
  std::size_t first_record = 0, end_record = 0;
};

/// A snapshot of address spaces of type Space (see the header comment).
/// Neither copied nor moved: the spaces hold pointers to its parts.
/// Requires: the spaces outlive it (or its drop()).
template <class Space>
class snapshot {
 public:
  snapshot() noexcept = default;
  snapshot(const snapshot&) = delete;
  snapshot& operator=(const snapshot&) = delete;
  /// Effects: drop().
  ~snapshot() { drop(); }

  /// Effects: captures `spaces` (all on one system), as the header comment
  /// says, after dropping what this snapshot held.
  /// Returns: no_memory or in_page_error (a section page could not be read
  /// in);
  /// then nothing is taken.
  status take(std::initializer_list<Space*> spaces) noexcept {
    drop();
    for (Space* s : spaces) {
      parts_.push_back(std::make_unique<part>());
      part& p = *parts_.back();
      p.space = s;
      const status st =
          s->emu_with_core([&](auto& c) { return capture(c, p); });
      if (st != status::success) {
        drop();
        return st;
      }
    }
    for (auto& p : parts_) {
      for (const vad_record& v : p->vads)
        if (v.section != nullptr)
          for (std::size_t i = v.first_record; i < v.end_record; ++i) {
            const page_record& r = p->pages[i];
            if (r.has_bytes && !r.private_copy)
              shared_[v.section->pages().proto + v.first_page +
                      (r.page - v.range.first)] = p->bytes_of(r);
          }
      p->space->emu_with_core([&](auto& c) {
        clean_all(c);
        listen(c, p.get());
      });
    }
    return status::success;
  }

  /// Whether take() succeeded and drop() has not been called since.
  bool taken() const noexcept { return !parts_.empty(); }

  /// Effects: every space is as it was when the snapshot was taken (see
  /// the header comment); the snapshot stays, for the next restore. A
  /// restore that ran out of frames only because spaces in calls of their
  /// own hold them lets go of its locks and goes on once those calls may
  /// have ended (Space::crowded_retries), as a commit does.
  /// Requires: taken(), and no newer snapshot of these spaces.
  /// Returns: no_memory (frames ran out part-way: restore again once some
  /// are free), insufficient_resources (no storage for a space's AWE
  /// bitmap), or the status of a VAD that could not come back.
  status restore() noexcept {
    MMKIT_ASSERT(taken());
    for (unsigned tries = 0;; ++tries) {
      bool crowded = false;
      const status s = restore_once(crowded);
      if (!crowded || tries >= Space::crowded_retries) return s;
      mmkit::detail::back_off_for<typename Space::lock_type>(tries);
    }
  }

  /// Effects: the snapshot is let go of: its spaces listen to the snapshot
  /// below it again, which takes over its journal, and its handles to
  /// sections are closed.
  /// Requires: no newer snapshot of these spaces.
  void drop() noexcept {
    for (auto& p : parts_) {
      MMKIT_ASSERT(p->newer == nullptr);
      if (p->listening)
        p->space->emu_with_core([&](auto& c) {
          if (part* below = p->older) {
            below->touched.insert(below->touched.end(), p->touched.begin(),
                                  p->touched.end());
            below->ranges.insert(below->ranges.end(), p->ranges.begin(),
                                 p->ranges.end());
            below->protos.insert(below->protos.end(), p->protos.begin(),
                                 p->protos.end());
            below->awe_written.insert(below->awe_written.end(),
                                      p->awe_written.begin(),
                                      p->awe_written.end());
            below->newer = nullptr;
          }
          give_up_kept(c, *p);
          listen(c, p->older);
        });
      for (vad_record& v : p->vads)
        if (v.section != nullptr)
          p->space->emu_with_core([&](auto& c) {
            section_ops<typename Space::system_type>::close(*c.sys, *v.section);
          });
    }
    parts_.clear();
    shared_.clear();
  }

  /// Pages and ranges the journal names now, summed over the spaces (what
  /// the next restore will look at; a page may be named more than once).
  std::uint64_t journal_size() const noexcept {
    std::uint64_t n = 0;
    for (const auto& p : parts_) n += p->touched.size() + p->ranges.size();
    return n;
  }
  /// Bytes of page contents kept.
  std::uint64_t bytes_kept() const noexcept {
    std::uint64_t n = 0;
    for (const auto& p : parts_) n += p->bytes.size();
    return n;
  }

 private:
  friend struct detail::saved_system_io<Space>;

  /// restore()'s one pass; `crowded` says that a space's part of it failed
  /// while the system's trims passed by spaces in calls of their own
  /// (system::crowded_locked). A pass that fails part-way leaves the
  /// journal, so the next pass does the rest.
  status restore_once(bool& crowded) noexcept {
    // Two passes over the spaces: first what gives commit and frames back
    // (the VADs of changed ranges, pages committed since), then what takes
    // them (the snapshot's VADs, pages decommitted or written since). So a
    // restore never needs more than the snapshot's state does, which was
    // within the limits when it was taken, whatever came and went since,
    // and in whichever space.
    status result = status::success;
    for (auto& part_ptr : parts_) {
      part& p = *part_ptr;
      MMKIT_ASSERT(p.newer == nullptr);
      p.redone.clear();
      p.gone.clear();
      p.space->emu_with_core([&](auto& c) {
        listen(c, nullptr);
        tear_down(c, p, p.redone, p.gone);
        listen(c, &p);
      });
      // A page supplier goes with its reservation (fault_callbacks.hpp).
      for (vpn_range r : p.gone) p.space->emu_reservation_gone(r);
    }
    for (auto& part_ptr : parts_) {
      part& p = *part_ptr;
      const status st = p.space->emu_with_core([&](auto& c) {
        listen(c, nullptr);
        const status s = build_up(c, p, p.redone);
        listen(c, &p);
        if (s != status::success) crowded = crowded || c.sys->crowded_locked();
        return s;
      });
      if (st != status::success && result == status::success) result = st;
    }
    // Section pages written through views that are gone, or were made
    // after the snapshot: the section's bytes come back.
    parts_.front()->space->emu_with_core([&](auto& c) {
      const status st = restore_section_pages(c);
      if (st != status::success) crowded = crowded || c.sys->crowded_locked();
      if (st != status::success && result == status::success) result = st;
    });
    return result;
  }

  /// One space's capture and journal.
  struct part final : page_listener {
    Space* space = nullptr;
    std::vector<vad_record> vads;  // by address
    std::vector<page_record> pages;
    std::vector<std::byte> bytes;
    std::vector<vpn> touched;
    std::vector<vpn_range> ranges;
    /// A restore's ranges whose VADs it makes again, and the private
    /// reservations it released (kept here so that a restore allocates
    /// nothing once they have grown).
    std::vector<vpn_range> redone, gone;
    /// Prototype PTEs of section pages written or remapped through views.
    std::vector<std::uint64_t> protos;
    typename Space::core_type* core = nullptr;
    part* older = nullptr;  // the snapshot below, listening before
    part* newer = nullptr;
    bool listening = false;
    /// A saved system's part: a file section's page the file still holds
    /// is captured without bytes, and a SEC_RESERVE section's page the
    /// records name is committed again when the view is remade.
    bool saved = false;
    /// A saved system's page-file sections whose pages are saved with the
    /// section (a handle the caller lists keeps them): a view's shared page
    /// of one is captured without bytes.
    std::vector<const section_object*> whole;

    /// User physical pages (region/awe.hpp). The frames the space owned at
    /// the capture, ascending, their bytes from page awe_first_bytes on in
    /// `bytes`, and the space's count of AWE allocations and frees then.
    std::vector<pfn> awe_frames;
    std::uint64_t awe_first_bytes = 0;
    std::uint64_t awe_changes = 0;
    /// Frames mapped, or written through a mapping, since the capture (or
    /// the last restore).
    std::vector<pfn> awe_written;
    /// Frames the space freed since that this snapshot or an older one
    /// owned: active, charged to the system, this snapshot's until a
    /// restore gives them back or drop() frees them or hands them down.
    std::vector<pfn> kept;

    bool captured(pfn f) const noexcept {
      return std::binary_search(awe_frames.begin(), awe_frames.end(), f);
    }
    const std::byte* awe_bytes_of(pfn f) const noexcept {
      const auto at = std::lower_bound(awe_frames.begin(), awe_frames.end(), f);
      return bytes.data() + (awe_first_bytes + static_cast<std::uint64_t>(
                                                   at - awe_frames.begin())) *
                                page_size;
    }
    bool keep_freed_frame(pfn f) noexcept override {
      for (const part* p = this; p != nullptr; p = p->older)
        if (p->captured(f)) {
          kept.push_back(f);
          return true;
        }
      return false;
    }

    void page_touched(vpn p) noexcept override {
      touched.push_back(p);
      const vad* v = core->vads.find_containing(p);
      if (v == nullptr) return;
      if (!v->private_memory()) {
        protos.push_back(as_view(*v).proto_of(p));
      } else if (region::is_awe(*v)) {
        // The frame mapped there now (being written, or just mapped): its
        // bytes may change under any mapping from here on.
        using codec = typename Space::core_type::model::codec;
        const auto e = core->ptes.read(p);
        if (codec::is_present(e))
          awe_written.push_back(codec::page_address(e, 0).frame());
      }
    }
    void range_touched(vpn_range r) noexcept override { ranges.push_back(r); }

    const vad_record* vad_of(vpn p) const noexcept {
      auto it = std::upper_bound(
          vads.begin(), vads.end(), p,
          [](vpn x, const vad_record& v) { return x < v.range.first; });
      if (it == vads.begin()) return nullptr;
      --it;
      return it->range.contains(p) ? &*it : nullptr;
    }
    const page_record* page_of(const vad_record& v, vpn p) const noexcept {
      auto first = pages.begin() + static_cast<std::ptrdiff_t>(v.first_record);
      auto last = pages.begin() + static_cast<std::ptrdiff_t>(v.end_record);
      auto it = std::lower_bound(
          first, last, p,
          [](const page_record& r, vpn x) { return r.page < x; });
      return it != last && it->page == p ? &*it : nullptr;
    }
    const std::byte* bytes_of(const page_record& r) const noexcept {
      return bytes.data() + r.bytes * page_size;
    }
  };

  /// Effects: the frames `p` kept go to the snapshot below when one there
  /// owned them, and back to the system otherwise.
  template <class Core>
  static void give_up_kept(Core& c, part& p) noexcept {
    for (pfn f : p.kept) {
      bool older_needs = false;
      for (const part* o = p.older; o != nullptr && !older_needs; o = o->older)
        older_needs = o->captured(f);
      if (older_needs) {
        p.older->kept.push_back(f);
      } else {
        c.pfns().set_pte_link(f, pte_link{}, 0);
        c.pfns().release(f, release_to::free_list);
        c.sys->return_commit_locked(1, Core::frame_end);
      }
    }
    p.kept.clear();
  }

  template <class Core>
  static void listen(Core& c, part* p) noexcept {
    if (p != nullptr) {
      // The one listening before is the snapshot below.
      auto* before = static_cast<part*>(c.ptes.observer().journal);
      if (before != p && !p->listening) {
        p->older = before;
        if (before != nullptr) before->newer = p;
      }
    }
    c.ptes.observer().journal = p;
    c.ptes.translator().set_page_listener(p);
    if (p != nullptr) p->listening = true;
  }

  // --- capture ---------------------------------------------------------

  template <class Core>
  static status capture(Core& c, part& out) noexcept {
    out.core = &c;
    for (vad& v : c.vads) {
      if (v.has(vad_flags::physical_mapping)) continue;  // no pages to keep
      vad_record r;
      r.range = v.range();
      r.type = v.type();
      r.protection = mm_protection{v.protection()};
      r.flags = v.flags();
      r.commit_charge = v.commit_charge();
      if (!v.private_memory()) {
        mapped_vad& m = as_view(v);
        r.section = m.section;
        r.first_page = m.section->page_of(m.first_proto);
        section_ops<typename Core::system_type>::add_handle(*m.section);
      }
      r.first_record = out.pages.size();
      out.vads.push_back(r);
      status st = status::success;
      c.scan(v, v.range(), [&](vpn first, vpn last, const page_view& pv) {
        if (!pv.committed) return true;
        for (vpn p = first;; ++p) {
          st = capture_page(c, v, p, p == first ? pv : c.view(v, p), out);
          if (st != status::success || p == last) break;
        }
        return st == status::success;
      });
      out.vads.back().end_record = out.pages.size();
      if (st != status::success) return st;
    }
    // The user physical pages, mapped or not, with their bytes.
    const awe_pages& awe = out.space->emu_awe();
    out.awe_changes = awe.changes;
    out.awe_first_bytes = out.bytes.size() / page_size;
    for_each_owned(awe, [&](pfn f) {
      out.awe_frames.push_back(f);
      const std::byte* from = c.sys->memory().frame(f);
      out.bytes.insert(out.bytes.end(), from, from + page_size);
    });
    return status::success;
  }

  /// f(frame) for each frame `awe` owns, ascending.
  template <class F>
  static void for_each_owned(const awe_pages& awe, F&& f) noexcept {
    if (awe.bits == nullptr) return;
    for (std::uint64_t w = 0; w < (awe.frames + 63) / 64; ++w)
      for (std::uint64_t bits = awe.bits[w]; bits != 0; bits &= bits - 1)
        f(pfn{w * 64 + static_cast<unsigned>(std::countr_zero(bits))});
  }

  template <class Core>
  static status capture_page(Core& c, vad& v, vpn p, const page_view& pv,
                             part& out) noexcept {
    page_record r;
    r.page = p;
    r.protection = pv.protection;
    if (region::is_awe(v)) {
      r.frame = pv.frame;  // a mapped page; its frame's bytes come later
      out.pages.push_back(r);
      return status::success;
    }
    r.private_copy =
        !v.private_memory() && !pv.shared && pv.pte != entry_kind::prototype;
    if (out.saved && !v.private_memory() && !r.private_copy) {
      const section_object* s = as_view(v).section;
      if ((s->file_backed() && !file_lacks(c, p, pv)) ||
          std::find(out.whole.begin(), out.whole.end(), s) != out.whole.end()) {
        out.pages.push_back(r);  // its bytes are the file's, or the section's
        return status::success;
      }
    }
    const std::byte* from = nullptr;
    std::byte slot_bytes[page_size];
    if (pv.resident) {
      from = c.sys->memory().frame(pv.frame);
    } else if (pv.pte == entry_kind::page_file) {
      const auto e = c.ptes.read(p);
      const page_slot slot{
          static_cast<std::uint8_t>(Core::sw::page_file_number(e)),
          Core::sw::page_file_offset(e)};
      if (c.sys->page_files().read(slot, slot_bytes) != status::success)
        return status::in_page_error;
      from = slot_bytes;
    } else if (pv.pte == entry_kind::prototype) {
      typename section_ops<typename Core::system_type>::page_source how{};
      const auto f = section_ops<typename Core::system_type>::page_in(
          *c.sys, as_view(v).section->pages(), pv.proto, how);
      if (!f) return f.error();
      from = c.sys->memory().frame(*f);
    }
    if (from != nullptr) {
      r.has_bytes = true;
      r.bytes = out.bytes.size() / page_size;
      out.bytes.insert(out.bytes.end(), from, from + page_size);
    }
    out.pages.push_back(r);
    return status::success;
  }

  /// Whether the section page `p` of a file-backed view shows (`pv`) holds
  /// bytes its file does not: the page is resident and its frame modified,
  /// or this view's PTE is dirty (D not yet folded into the frame). A
  /// page not resident is the file's, or comes back from it.
  template <class Core>
  static bool file_lacks(Core& c, vpn p, const page_view& pv) noexcept {
    pfn frame = pv.frame;
    if (!pv.resident) {
      if (pv.pte != entry_kind::prototype) return false;
      const std::uint64_t word = c.sys->sections().pool[pv.proto];
      if (!proto::is_resident(word)) return false;
      frame = proto::frame_of(word);
    }
    return c.pfns().entry(frame).modified() ||
           (pv.valid && hw::present_and_dirty(c.ptes.read(p)));
  }

  // --- D bits ------------------------------------------------------------

  /// Effects: every valid page's D bit goes to its frame's modified bit
  /// and is cleared (region::clear_dirty_bit), so the next write to it is
  /// journalled. Rewriting a valid entry frees no table: the scan's spans
  /// stay good.
  template <class Core>
  static void clean_all(Core& c) noexcept {
    for (const vad& v : c.vads)
      c.scan(v, v.range(), [&](vpn first, vpn last, const page_view& pv) {
        if (pv.valid)
          for (vpn p = first;; ++p) {
            region::clear_dirty_bit(c, p);
            if (p == last) break;
          }
        return true;
      });
  }

  // --- restore -----------------------------------------------------------

  /// A restore's first pass over one space (restore_once): the journal's
  /// pages sorted; the ranges whose VADs changed (and the views whose
  /// pages changed shape) grown over every VAD that overlaps them, now or
  /// then, into `redone`, and the VADs there now released or unmapped
  /// (the private ones into `gone`); pages committed since the snapshot
  /// decommitted.
  template <class Core>
  static void tear_down(Core& c, part& s, std::vector<vpn_range>& redone,
                        std::vector<vpn_range>& gone) noexcept {
    std::sort(s.touched.begin(), s.touched.end());
    s.touched.erase(std::unique(s.touched.begin(), s.touched.end()),
                    s.touched.end());
    // A view page whose shape changed brings its whole view back.
    for (vpn p : s.touched) {
      vad* v = c.vads.find_containing(p);
      const vad_record* r = s.vad_of(p);
      if (v == nullptr || r == nullptr || v->private_memory() ||
          r->type == vad_type::private_memory)
        continue;
      const page_record* was = s.page_of(*r, p);
      const page_view now = c.view(*v, p);
      const bool copy_now = !now.shared && now.pte != entry_kind::prototype;
      if (was != nullptr && was->private_copy != copy_now)
        s.ranges.push_back(r->range);
    }
    clear_layout(c, s, redone, gone);
    for (vpn p : s.touched) {
      // Cheapest first: most pages named were committed then (a record).
      const vad_record* r = s.vad_of(p);
      if (r == nullptr || r->type != vad_type::private_memory ||
          s.page_of(*r, p) != nullptr || in_any(redone, p))
        continue;
      vad* v = c.vads.find_containing(p);
      if (v == nullptr || !v->private_memory() || region::is_awe(*v)) continue;
      region::uncommit(c, *v, vpn_range{p, p});  // if committed since
    }
  }

  /// A restore's second pass over one space: the user physical pages it
  /// owned, the snapshot's VADs in the `redone` ranges, every other page
  /// the journal names, and the bytes of its owned frames. The journal is
  /// emptied when all of it came back.
  template <class Core>
  static status build_up(Core& c, part& s,
                         const std::vector<vpn_range>& redone) noexcept {
    // The user physical pages the space owned come back first: the VADs
    // and pages below map them.
    status result = restore_awe_frames(c, s);
    if (result != status::success) return result;
    if (const status st = remake_layout(c, s, redone); st != status::success)
      result = st;
    for (vpn p : s.touched) {
      if (in_any(redone, p)) continue;
      const vad_record* r = s.vad_of(p);
      vad* v = c.vads.find_containing(p);
      if (r == nullptr || v == nullptr) continue;  // no VAD then, or now
      const status st = restore_page(c, s, *v, *r, p);
      if (st != status::success && result == status::success) result = st;
    }
    // Then the bytes of every owned frame written since.
    std::sort(s.awe_written.begin(), s.awe_written.end());
    s.awe_written.erase(std::unique(s.awe_written.begin(), s.awe_written.end()),
                        s.awe_written.end());
    for (pfn f : s.awe_written)
      if (s.captured(f))
        std::memcpy(c.sys->memory().frame(f), s.awe_bytes_of(f), page_size);
    if (result == status::success) {
      s.touched.clear();
      s.ranges.clear();
      s.awe_written.clear();
    }
    return result;
  }

  static bool in_any(const std::vector<vpn_range>& ranges, vpn p) noexcept {
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](vpn_range r) { return r.contains(p); });
  }

  /// Effects: the space owns the user physical pages it owned at the
  /// capture, and no others: a frame freed since comes back from the kept
  /// ones (unmapped), a frame allocated since goes (unmapped wherever it
  /// is mapped). The space's bitmap is compared with the capture's only
  /// when the space allocated or freed such pages since.
  /// Returns: insufficient_resources (no storage for the space's bitmap
  /// again); then nothing changed.
  template <class Core>
  static status restore_awe_frames(Core& c, part& s) noexcept {
    awe_pages& awe = s.space->emu_awe();
    if (awe.changes == s.awe_changes) return status::success;
    if (!s.awe_frames.empty())
      if (const status st = region::awe_make_bitmap(c, awe);
          st != status::success)
        return st;
    std::vector<pfn> extra;
    for_each_owned(awe, [&](pfn f) {
      if (!s.captured(f)) extra.push_back(f);
    });
    for (pfn f : extra) region::awe_give_up(c, awe, f, nullptr);
    std::sort(s.kept.begin(), s.kept.end());
    std::vector<pfn> back;
    for (pfn f : s.awe_frames)
      if (!awe.owns(f)) {
        MMKIT_ASSERT(std::binary_search(s.kept.begin(), s.kept.end(), f));
        region::awe_take_back(c, awe, f);
        back.push_back(f);
      }
    s.kept.erase(std::remove_if(s.kept.begin(), s.kept.end(),
                                [&](pfn f) {
                                  return std::binary_search(back.begin(),
                                                            back.end(), f);
                                }),
                 s.kept.end());
    region::awe_drop_bitmap(c, awe);
    s.awe_changes = ++awe.changes;
    return status::success;
  }

  /// Effects: every section page a view wrote since the snapshot, whose
  /// bytes the snapshot saw, gets them back (the section's frame; views
  /// that map it now see them).
  template <class Core>
  status restore_section_pages(Core& c) noexcept {
    using ops = section_ops<typename Core::system_type>;
    std::vector<std::uint64_t> all;
    for (auto& p : parts_) {
      all.insert(all.end(), p->protos.begin(), p->protos.end());
      p->protos.clear();
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    for (std::uint64_t index : all) {
      auto it = shared_.find(index);
      if (it == shared_.end()) continue;  // not seen by the snapshot
      segment* seg = c.sys->sections().segment_of(index);
      if (seg == nullptr) continue;  // the section is gone
      typename ops::page_source how{};
      const auto f = ops::page_in(*c.sys, *seg, index, how);
      if (!f) return f.error();
      c.pfns().set_modified(*f);
      std::memcpy(c.sys->memory().frame(*f), it->second, page_size);
    }
    return status::success;
  }

  /// Step 1 of the header comment, its first half: each journal range
  /// grows over every VAD overlapping it, now or then, until none sticks
  /// out, and goes into `redone`; the VADs there now go (a device range
  /// stays: see take()), the private ones into `gone`.
  template <class Core>
  static void clear_layout(Core& c, part& s, std::vector<vpn_range>& redone,
                           std::vector<vpn_range>& gone) noexcept {
    for (vpn_range r : s.ranges) {
      if (std::any_of(redone.begin(), redone.end(), [&](vpn_range d) {
            return d.first <= r.first && r.last <= d.last;
          }))
        continue;
      for (bool grew = true; grew;) {
        grew = false;
        auto cover = [&](vpn_range v) {
          if (v.last < r.first || r.last < v.first) return;
          if (v.first < r.first) r.first = v.first, grew = true;
          if (r.last < v.last) r.last = v.last, grew = true;
        };
        for (const vad_record& v : s.vads) cover(v.range);
        for (const vad* v = c.vads.first_at_or_after(r.first);
             v != nullptr && v->start() <= r.last;
             v = c.vads.first_at_or_after(v->end() + 1))
          cover(v->range());
        if (const vad* v = c.vads.find_containing(r.first)) cover(v->range());
      }
      std::vector<vad*> there;
      for (vad* v = first_in(c, r); v != nullptr && v->start() <= r.last;
           v = c.vads.first_at_or_after(v->end() + 1))
        if (!v->has(vad_flags::physical_mapping)) there.push_back(v);
      for (vad* v : there) {
        if (v->private_memory()) {
          gone.push_back(v->range());
          region::release(c, *v, v->range());
        } else
          region::unmap_view(c, as_view(*v));
      }
      redone.push_back(r);
    }
  }

  /// Step 1's second half: every VAD of the snapshot in a `redone` range
  /// comes back, once (grown ranges may overlap), in address order.
  template <class Core>
  static status remake_layout(Core& c, part& s,
                              const std::vector<vpn_range>& redone) noexcept {
    std::vector<const vad_record*> back;
    for (vpn_range r : redone) {
      // s.vads is by address: the first whose end reaches r, and on.
      auto it = std::lower_bound(
          s.vads.begin(), s.vads.end(), r.first,
          [](const vad_record& v, vpn x) { return v.range.last < x; });
      for (; it != s.vads.end() && it->range.first <= r.last; ++it)
        back.push_back(&*it);
    }
    std::sort(back.begin(), back.end());
    back.erase(std::unique(back.begin(), back.end()), back.end());
    for (const vad_record* v : back)
      if (const status st = remake(c, s, *v); st != status::success) return st;
    return status::success;
  }

  template <class Core>
  static vad* first_in(Core& c, vpn_range r) noexcept {
    if (vad* v = c.vads.find_containing(r.first)) return v;
    vad* v = c.vads.first_at_or_after(r.first);
    return v != nullptr && v->start() <= r.last ? v : nullptr;
  }

  /// Effects: the snapshot's VAD `v` and every page of it are back.
  template <class Core>
  static status remake(Core& c, part& s, const vad_record& v) noexcept {
    vaddr base = v.range.first.address();
    std::uint64_t size = v.range.count() << page_shift;
    auto slot = c.vads.insert_check(v.range);
    if (!slot) return status::conflicting_addresses;
    if (v.type == vad_type::private_memory) {
      const bool committed = v.flags == (v.flags | vad_flags::mem_commit);
      const status st = region::reserve_at(
          c, *slot, committed, v.protection,
          (v.flags & vad_flags::write_watch) == vad_flags::write_watch, base,
          size);
      if (st != status::success) return st;
      if ((v.flags & vad_flags::user_physical_pages) ==
          vad_flags::user_physical_pages)
        region::mark_awe(*c.vads.find_containing(v.range.first));
    } else {
      const status st = region::map_view(
          c, *v.section, v.first_page, v.range.count(), v.protection, base,
          size, region::placement::bottom_up, Core::highest_user_address,
          v.type, v.commit_charge);
      if (st != status::success) return st;
    }
    vad* now = c.vads.find_containing(v.range.first);
    MMKIT_ASSERT(now != nullptr && now->range() == v.range);
    if (v.type != vad_type::private_memory) now->set_flags(v.flags);
    if (v.flags == (v.flags | vad_flags::mem_commit)) {
      // Every page committed now: the snapshot's uncommitted ones go.
      for (vpn p = v.range.first;; ++p) {
        if (const status st = restore_page(c, s, *now, v, p);
            st != status::success)
          return st;
        if (p == v.range.last) break;
      }
    } else {
      for (std::size_t i = v.first_record; i < v.end_record; ++i)
        if (const status st = restore_page(c, s, *now, v, s.pages[i].page);
            st != status::success)
          return st;
    }
    return status::success;
  }

  /// Step 2 of the header comment for page `p`, in `now` (the VAD that
  /// holds it, the same as `then`).
  template <class Core>
  static status restore_page(Core& c, part& s, vad& now, const vad_record& then,
                             vpn p) noexcept {
    const page_record* r = s.page_of(then, p);
    if (region::is_awe(now)) return restore_awe_page(c, p, r);
    return now.private_memory() ? restore_private(c, s, now, p, r)
                                : restore_view(c, s, now, p, r);
  }

  /// Page `p` of an AWE region maps the frame it mapped then (`r`), or
  /// nothing. A frame mapped elsewhere now is unmapped there first (that
  /// page is in the journal too, and gets its own frame back).
  template <class Core>
  static status restore_awe_page(Core& c, vpn p,
                                 const page_record* r) noexcept {
    using codec = typename Core::model::codec;
    const auto e = c.ptes.read(p);
    const bool mapped = codec::is_present(e);
    if (mapped && r != nullptr &&
        codec::page_address(e, 0).frame() == r->frame) {
      region::clear_dirty_bit(c, p);
      return status::success;
    }
    if (mapped) region::awe_unmap_range(c, vpn_range{p, p});
    if (r == nullptr) return status::success;
    if (const pte_link at = c.pfns().entry(r->frame).link();
        at.kind == pte_kind::hardware) {
      const vpn q = c.page_of_pte(at.address());
      region::awe_unmap_range(c, vpn_range{q, q});
    }
    if (const status st = c.charge(0, vpn_range{p, p}); st != status::success)
      return st;
    [[maybe_unused]] const auto w = c.ptes.write(
        p, Core::model::valid_entry(r->frame, mm_protection{mm::readwrite}));
    MMKIT_ASSERT(w.ok());
    c.pfns().set_pte_link(r->frame,
                          pte_link::hardware_pte(c.ptes.entry_address(p)),
                          region::awe_original_pte<Core>());
    return status::success;
  }

  template <class Core>
  static status restore_private(Core& c, part& s, vad& v, vpn p,
                                const page_record* r) noexcept {
    const vpn_range one{p, p};
    page_view pv = c.view(v, p);
    if (r == nullptr) {
      if (pv.committed) region::uncommit(c, v, one);
      return status::success;
    }
    const bool untouched =
        pv.pte == entry_kind::zero || pv.pte == entry_kind::demand_zero;
    if (pv.committed && !r->has_bytes && !untouched)
      region::uncommit(c, v, one), pv = c.view(v, p);
    if (!pv.committed) {
      if (const status st = region::commit(
              c, v, one,
              r->has_bytes ? mm_protection{mm::readwrite} : r->protection);
          st != status::success)
        return st;
      pv = c.view(v, p);
    }
    if (r->has_bytes) {
      std::byte* to = nullptr;
      if (const status st = resident(c, v, p, pv, to); st != status::success)
        return st;
      std::memcpy(to, s.bytes_of(*r), page_size);
      pv = c.view(v, p);
    }
    if (pv.protection != r->protection) {
      mm_protection old{};
      if (const status st = region::protect(c, v, one, r->protection, old);
          st != status::success)
        return st;
    }
    region::clear_dirty_bit(c, p);
    return status::success;
  }

  template <class Core>
  static status restore_view(Core& c, part& s, vad& v, vpn p,
                             const page_record* r) noexcept {
    using ops = section_ops<typename Core::system_type>;
    if (r == nullptr) return status::success;  // uncommitted then: still so
    const vpn_range one{p, p};
    page_view pv = c.view(v, p);
    if (!pv.committed) {
      // A snapshot leaves a SEC_RESERVE section's commits to the section;
      // a saved system's load commits the pages its records name, in a
      // page-file section only (a file or image section's uncommitted page,
      // an image's padding, stays so: the load's check of the rebuilt
      // pages then refuses the file).
      if (!s.saved || as_view(v).section->file_backed()) return status::success;
      if (const status st = region::commit_view(c, v, one, r->protection);
          st != status::success)
        return st;
      pv = c.view(v, p);
    }
    if (r->private_copy && pv.pte == entry_kind::prototype) {
      // A remade view: the copy is made again, with the section page's
      // protection (a relocated image page's copy is still WRITECOPY; a
      // written one's protection is set below, as any page's).
      status why = status::success;
      if (region::make_private(c, v, p, why) == nullptr) return why;
      pv = c.view(v, p);
    }
    if (r->has_bytes) {
      std::byte* to = nullptr;
      if (r->private_copy) {
        if (const status st = resident(c, v, p, pv, to); st != status::success)
          return st;
      } else {
        typename ops::page_source how{};
        const auto f =
            ops::page_in(*c.sys, as_view(v).section->pages(), pv.proto, how);
        if (!f) return f.error();
        c.pfns().set_modified(*f);
        to = c.sys->memory().frame(*f);
      }
      std::memcpy(to, s.bytes_of(*r), page_size);
      pv = c.view(v, p);
    }
    if (pv.protection != r->protection) {
      mm_protection old{};
      if (const status st = region::protect_view(c, v, one, r->protection, old);
          st != status::success)
        return st;
    }
    region::clear_dirty_bit(c, p);
    return status::success;
  }

  /// Effects: committed page `p` of `v` (a private page or a view's
  /// private copy) is in an active frame, which `to` gets, marked modified.
  template <class Core>
  static status resident(Core& c, vad& v, vpn p, page_view pv,
                         std::byte*& to) noexcept {
    fault_counts counts;
    status st = status::success;
    switch (pv.pte) {
      case entry_kind::valid: break;
      case entry_kind::transition:
        if (c.pfns().entry(pv.frame).state() != page_state::active)
          st = fault::handle_transition(c, counts, v, p, pv);
        break;
      case entry_kind::page_file:
        st = fault::handle_page_file(c, counts, v, p, pv);
        break;
      default:
        // Demand zero: a readable protection for the fault, then back.
        if (!pv.protection.allows_read() || pv.protection.is_guard()) {
          mm_protection old{};
          st = region::protect(c, v, {p, p}, mm_protection{mm::readwrite}, old);
          if (st != status::success) return st;
          pv = c.view(v, p);
        }
        st = fault::handle_demand_zero(c, counts, p, pv.protection);
        break;
    }
    if (st != status::success) return st;
    pv = c.view(v, p);
    MMKIT_ASSERT(pv.resident);
    if (c.pfns().entry(pv.frame).share_count() > 1) {
      // A fork's page other spaces map too (region/fork.hpp): this space
      // takes a copy of its own before its bytes change.
      st = fault::copy_forked(c, counts, v, p, pv);
      if (st != status::success) return st;
      pv = c.view(v, p);
    }
    c.pfns().set_modified(pv.frame);
    to = c.sys->memory().frame(pv.frame);
    return status::success;
  }

  std::vector<std::unique_ptr<part>> parts_;
  /// The bytes of every section page a view saw, by prototype index.
  std::unordered_map<std::uint64_t, const std::byte*> shared_;
};

}  // namespace mmkit::emu
