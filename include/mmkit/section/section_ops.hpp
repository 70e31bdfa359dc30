#pragma once
// What happens to sections and their pages, as functions over a system
// (the NT layer, nt/section.hpp, checks the arguments first):
//
//   create / open / close      section objects, their names and handles
//   add_view / remove_view     a view's reference (the last reference
//                              deletes the section, and the last section
//                              on a segment deletes the segment)
//   page_in                    a prototype PTE's page made resident:
//                              a zeroed frame (page-file section) or the
//                              store's bytes, zero past end-of-file
//   write_page                 a modified page back to its file, never past
//                              end-of-file
//   set_end_of_file            truncate or extend a file, refused below a
//                              mapped view
//
// Locks (system.hpp: the section lock before the PFN lock):
//   section lock   the section objects: names, handles, view counts and
//                  lists, a segment's users and size, which segments exist,
//                  and the prototype pool's free runs
//   PFN lock       the prototype PTEs in use, frames, commit, the list of
//                  segments the pager walks, and the stores' writes
// create, open, add_handle and add_view want the section lock alone, and
// create takes the PFN lock itself for its charge and to add its segment;
// close, remove_view and set_end_of_file want both (they may free frames:
// close_frees_frames says when a close will); page_in wants both, but a
// fault's page_in gives up the PFN lock while it reads a page from its
// file or the page file, holding the section lock alone, and shared (so a
// store is read beside the pager's writes of other pages and beside
// other faults' reads of other pages: section/backing_store.hpp; a fault
// on a page being read waits: system::in_page_locked); write_page and the
// pager's side want the PFN lock alone.
//
// Section frames come from below 4 GiB, so that every arch's PTEs can name
// them (a section may be mapped by an x86_32 and an x64 space at once).
// A resident page's frame is shared: share count 1 (the prototype PTE's)
// plus one per valid view PTE. A page no view maps keeps its frame until
// the pager lets it go (release_page: trimmed from the last working set
// that held it, or reclaimed under memory pressure): the frame goes to
// standby or modified, linked to the prototype, which is marked listed; a
// fault takes it back (a soft fault), and the modified page writer writes
// it (write_out: a data page to its file, a page-file section's page to a
// page-file slot). When the frame is repurposed, the prototype gets back
// its word from before the page came in (repurposed). A file section's
// modified pages are also written when its segment goes, or when a view
// is flushed.
//
// Commit: a page-file section's committed pages are charged to the system
// (SEC_COMMIT at creation, SEC_RESERVE when a view commits them) and
// returned when the segment goes. A file section's pages are not charged
// (the file backs them), but each resident one holds a frame the commit
// promise counts (system::take_uncharged_frame_locked).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/lock_policy.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/pager/page_file.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/phys/pfn_policies.hpp>
#include <mmkit/section/pe_image.hpp>
#include <mmkit/section/prototype_pool.hpp>
#include <mmkit/section/section.hpp>

#include <cstdint>
#include <cstring>
#include <new>

namespace mmkit {

template <class System>
struct section_ops {
  using database_type = typename System::database_type;
  /// Section frames lie below this bound (see the header comment).
  static constexpr pfn frame_end{database_type::low_zone_frames};

  static bool writable_protection(mm_protection p) noexcept {
    return p.base() == mm::readwrite || p.base() == mm::execute_readwrite;
  }
  static std::uint64_t pages_of(std::uint64_t bytes) noexcept {
    return (bytes >> page_shift) + ((bytes & (page_size - 1)) != 0);
  }

  /// Effects: NtCreateSection past its argument checks: a new section
  /// (handle count 1) of `size` bytes (0: the whole file) with page
  /// protection `prot` and SEC_* `attrs`, over `file` or the page file,
  /// named `name` when not null or empty.
  /// Returns: object_name_exists (obj::openif: the existing section
  /// opened), object_name_collision, name_too_long, mapped_file_size_zero,
  /// access_denied (a writable section over a read-only file),
  /// section_too_big (larger than a file that cannot grow),
  /// commitment_limit, insufficient_resources (no prototypes left for it),
  /// not_implemented (a larger section over a file whose segment is mapped),
  /// or the store's status when it cannot grow the file.
  static status create(System& sys, section_handle& out, std::uint32_t access,
                       const char* name, std::uint32_t object_flags,
                       std::uint64_t size, mm_protection prot,
                       std::uint32_t attrs, file_object* file) noexcept {
    auto& table = sys.sections();
    const bool named = name != nullptr && name[0] != '\0';
    if (named) {
      if (std::strlen(name) > section_object::max_name)
        return status::name_too_long;
      if (section_object* s = table.find(name)) {
        if (!(object_flags & obj::openif)) return status::object_name_collision;
        ++s->handles_;
        out = {s, section_access::granted(access)};
        return status::object_name_exists;
      }
    }
    if (attrs & sec::image) return create_image(sys, out, access, name, file);
    bool extend = false;
    if (file != nullptr) {
      // The store's size changes under both locks: the section lock is
      // enough to read it.
      const store_ref& store = file->store();
      const std::uint64_t file_size = store.size();
      if (size == 0) {
        if (file_size == 0) return status::mapped_file_size_zero;
        size = file_size;
      }
      if (writable_protection(prot) && !store.writable())
        return status::access_denied;
      if (size > file_size) {
        if (!writable_protection(prot) || !store.writable())
          return status::section_too_big;
        extend = true;
      }
    }
    const std::uint64_t pages = pages_of(size);
    const segment* shared = file != nullptr ? &file->data : nullptr;
    const bool grow =
        shared != nullptr && shared->in_use() && pages > shared->pages;
    if (grow && shared->view_count != 0) return status::not_implemented;

    const bool page_file = file == nullptr;
    const bool charge = page_file && (attrs & sec::commit);
    // The commit limit before the prototypes (ReactOS NtMapViewOfSection
    // apitest: 512 GB of SEC_COMMIT is STATUS_COMMITMENT_LIMIT, 8 TB of
    // SEC_RESERVE STATUS_INSUFFICIENT_RESOURCES).
    if (charge && pages > sys.commit_limit()) return status::commitment_limit;
    const bool needs_run = page_file || !shared->in_use() || grow;
    if (needs_run && pages > table.pool.capacity() - table.pool.in_use())
      return status::insufficient_resources;
    section_object* s = table.objects.allocate();
    if (s == nullptr) return status::insufficient_resources;
    if (charge) {
      detail::lock_scope pfn_guard(sys.pfn_lock());
      if (!sys.charge_commit_locked(pages, 0, frame_end)) {
        table.objects.deallocate(s);
        return status::commitment_limit;
      }
    }
    const auto undo_charge = [&] {
      if (!charge) return;
      detail::lock_scope pfn_guard(sys.pfn_lock());
      sys.return_commit_locked(pages, frame_end);
    };
    segment& seg = page_file ? s->own_ : file->data;
    const bool new_run = page_file || !seg.in_use() || grow;
    std::uint64_t run = prototype_pool::none;
    if (new_run) {
      auto r = table.pool.allocate(pages);
      if (!r) {
        undo_charge();
        table.objects.deallocate(s);
        return r.error();
      }
      run = *r;
      // The run is no segment's yet: nothing else reads it.
      if (!grow && (!page_file || charge))
        for (std::uint64_t i = 0; i < pages; ++i)
          table.pool[run + i] = proto::committed;
    }
    if (extend || new_run) {
      // The store and the segments the pager walks are the PFN lock's.
      detail::lock_scope pfn_guard(sys.pfn_lock());
      if (extend) {
        if (const status st = file->store().set_size(size);
            st != status::success) {
          if (new_run) table.pool.free(run, pages);
          if (charge) sys.return_commit_locked(pages, frame_end);
          table.objects.deallocate(s);
          return st;
        }
      }
      // Nothing fails from here on.
      if (new_run) {
        if (grow) {
          move_run(sys, seg, run, pages);
          // The file's pages past the old end are committed too.
          for (std::uint64_t i = 0; i < pages; ++i)
            if (!proto::is_committed(table.pool[run + i]))
              table.pool[run + i] = proto::committed;
        } else {
          seg.proto = run;
          seg.pages = pages;
          table.add_segment(seg);
        }
        if (charge) seg.committed = pages;
      }
    }
    if (seg.bytes < size) seg.bytes = size;
    ++seg.users;
    s->seg_ = &seg;
    s->file_ = file;
    s->size_ = page_file ? pages << page_shift : size;
    s->protection_ = with_caching(prot, attrs);
    s->attributes_ = attrs;
    finish(table, *s, out, access, name);
    return status::success;
  }

  /// Effects: NtOpenSection: one more handle to the section called `name`.
  /// Returns: object_name_not_found.
  static status open(System& sys, section_handle& out, std::uint32_t access,
                     const char* name) noexcept {
    section_object* s = name != nullptr ? sys.sections().find(name) : nullptr;
    if (s == nullptr) return status::object_name_not_found;
    ++s->handles_;
    out = {s, section_access::granted(access)};
    return status::success;
  }

  /// Effects: one more handle to `s` (a duplicate: a snapshot keeps the
  /// sections its views map alive this way). close() lets it go.
  static void add_handle(section_object& s) noexcept { ++s.handles_; }

  /// Whether close(s) frees frames, and so wants the PFN lock as well as
  /// the section lock: its last reference goes with the last section on
  /// its segment.
  static bool close_frees_frames(const section_object& s) noexcept {
    return s.handles_ == 1 && s.views_ == 0 && s.seg_->users == 1;
  }

  /// Effects: a handle goes (NtClose); the section with it when no view
  /// maps it.
  static void close(System& sys, section_object& s) noexcept {
    MMKIT_ASSERT(s.handles_ > 0);
    // The name goes with the last handle, even while views keep the
    // section (Wine test_MapViewOfFile, recorded on Windows).
    if (--s.handles_ == 0) {
      sys.sections().remove_name(s);
      s.name_[0] = '\0';
    }
    maybe_delete(sys, s);
  }

  /// Effects: `v` maps `s` (it names the section and its first prototype).
  static void add_view(section_object& s, mapped_vad& v) noexcept {
    segment& seg = *s.seg_;
    v.section = &s;
    v.prev_view = nullptr;
    v.next_view = seg.views;
    if (seg.views != nullptr) seg.views->prev_view = &v;
    seg.views = &v;
    ++seg.view_count;
    ++s.views_;
  }
  /// Effects: `v` no longer maps its section (its PTEs are gone already);
  /// the section goes when nothing else refers to it.
  static void remove_view(System& sys, mapped_vad& v) noexcept {
    section_object& s = *v.section;
    segment& seg = *s.seg_;
    if (v.prev_view != nullptr)
      v.prev_view->next_view = v.next_view;
    else
      seg.views = v.next_view;
    if (v.next_view != nullptr) v.next_view->prev_view = v.prev_view;
    v.next_view = v.prev_view = nullptr;
    --seg.view_count;
    --s.views_;
    maybe_delete(sys, s);
  }

  /// How page_in found the page: mapped already, taken back from the
  /// standby or modified list (a soft fault), a zeroed frame, read from
  /// the file or the page file (a hard fault).
  enum class page_source : std::uint8_t { resident, reclaimed, zeroed, read };

  /// page_in's locks when the caller holds the PFN lock and the section
  /// lock throughout: a read goes under both.
  struct locks_held {
    static constexpr bool sections_held() noexcept { return true; }
    static constexpr bool sections_shared() noexcept { return false; }
    static void take_sections() noexcept {}
    static void wait_for_reads(unsigned) noexcept {}
    static void read_begin() noexcept {}
    static void read_end() noexcept {}
  };

  /// Requires: the PFN lock and the section lock are held; the prototype
  /// PTE `index` of `seg` is committed.
  /// Effects: its page is resident (see the header comment).
  /// Returns: the frame, or no_memory (no frame the promise allows),
  /// in_page_error (the store failed the read).
  static result<pfn> page_in(System& sys, segment& seg, std::uint64_t index,
                             page_source& how) noexcept {
    locks_held held;
    return page_in(sys, seg, index, how, held);
  }

  /// As page_in(sys, seg, index, how), for a caller that holds the PFN lock
  /// but lets it go for a read (a fault: fault::handle_prototype). `locks`
  /// says whether the section lock is held (sections_held()), and whether
  /// shared (sections_shared()); takes it shared (take_sections(): the PFN
  /// lock given up, the section lock taken, then the PFN lock again); lets
  /// the PFN lock go a moment for another fault's read to end
  /// (wait_for_reads(tries)); and gives up the PFN lock for a read and takes it
  /// back (read_begin(), read_end()).
  /// A page read from its file or the page file is read under the section
  /// lock alone. Everything else that reads a section page, makes one
  /// resident or gives back its slot holds the section lock exclusively
  /// (the pager only lets go of resident pages; set_end_of_file and the
  /// segment's end want the section lock), so the only readers beside
  /// this one are other faults holding it shared, and those keep off each
  /// other's pages through the system's list of reads in progress
  /// (system::in_page_locked): a fault on a page being read waits for the
  /// read, then finds the page resident. Other faults and the pager go on
  /// beside the read.
  template <class Locks>
  static result<pfn> page_in(System& sys, segment& seg, std::uint64_t index,
                             page_source& how, Locks& locks) noexcept {
    auto& table = sys.sections();
    std::uint64_t& pp = table.pool[index];
    MMKIT_ASSERT(proto::is_committed(pp));
    how = page_source::resident;
    auto& db = sys.pfns();
    if (proto::is_listed(pp)) {
      how = page_source::reclaimed;
      const pfn f = proto::frame_of(pp);
      db.reclaim(f);
      pp &= ~proto::listed;
      // A page-file section's page has its only copy in the frame again.
      const std::uint64_t original = db.entry(f).original_pte();
      if (!seg.file_backed() && proto::is_paged_out(original)) {
        sys.page_files().free(slot_of(original));
        db.set_original_pte(f, proto::without_slot(original));
        db.set_modified(f);
      }
      return f;
    }
    if (proto::is_resident(pp)) return proto::frame_of(pp);
    const bool file = seg.file_backed();
    const bool paged_out = !file && proto::is_paged_out(pp);
    if ((file || paged_out) && !locks.sections_held()) {
      // A read: the section lock first, then everything again (another
      // fault may have read the page meanwhile).
      locks.take_sections();
      return page_in(sys, seg, index, how, locks);
    }
    const bool shared = (file || paged_out) && locks.sections_shared();
    if (shared && !sys.in_page_may_begin_locked(index)) {
      // Another fault reads this page (or as many pages as may be read at
      // once): once it is done, everything again.
      for (unsigned tries = 0; !sys.in_page_may_begin_locked(index); ++tries)
        locks.wait_for_reads(tries);
      return page_in(sys, seg, index, how, locks);
    }
    if (file && !sys.take_uncharged_frame_locked(frame_end))
      return status::no_memory;
    auto f = sys.allocate_locked(
        file || paged_out ? page_need::any : page_need::zeroed, frame_end);
    if (!f) {
      if (file) sys.give_uncharged_frame_locked();
      return status::no_memory;
    }
    if (paged_out) {
      // What the read needs is taken under the PFN lock.
      const page_slot slot = slot_of(pp);
      const page_file& file_of_slot = sys.page_files().file(slot.file);
      std::byte* const bytes = sys.memory().frame(*f);
      if (shared) sys.in_page_begin_locked(index);
      locks.read_begin();
      const status read = file_of_slot.read(slot.offset, bytes);
      locks.read_end();
      if (shared) sys.in_page_end_locked(index);
      MMKIT_ASSERT(!proto::is_resident(pp));
      if (read != status::success) {
        db.release(*f, release_to::free_list);
        return status::in_page_error;
      }
      how = page_source::read;
      sys.page_files().free(slot_of(pp));
      ++sys.stats_locked().pagefile_reads;
      pp = proto::without_slot(pp);
      sys.note_resident_locked(+1, frame_end);
    } else if (file) {
      how = page_source::read;
      std::byte* bytes = sys.memory().frame(*f);
      // A data page is the file's page at its own offset; an image page
      // names its bytes in its prototype (section/prototype_pool.hpp).
      const bool image = seg.image != nullptr;
      const std::uint64_t off = image ? proto::file_offset::get(pp)
                                      : (index - seg.proto) << page_shift;
      const std::uint64_t want =
          image ? proto::byte_count::get(pp) : std::uint64_t{page_size};
      const std::uint64_t end = seg.store.size();
      const std::uint64_t n =
          off >= end ? 0 : (end - off < want ? end - off : want);
      status read = status::success;
      if (n != 0) {
        if (shared) sys.in_page_begin_locked(index);
        locks.read_begin();
        read = seg.store.read(off, bytes, n);
        locks.read_end();
        if (shared) sys.in_page_end_locked(index);
      }
      MMKIT_ASSERT(!proto::is_resident(pp));
      if (read != status::success) {
        db.release(*f, release_to::free_list);
        sys.give_uncharged_frame_locked();
        return status::in_page_error;
      }
      std::memset(bytes + n, 0, page_size - n);
    } else {
      how = page_source::zeroed;
      sys.note_resident_locked(+1, frame_end);
    }
    db.set_pte_link(*f, pte_link::prototype_pte(index), pp);
    // A page-file section's page has no copy anywhere else.
    if (!file) db.set_modified(*f);
    pp = proto::make_resident(*f, pp);
    ++seg.resident;
    return *f;
  }

  /// Requires: the PFN lock is held; `seg` is a page-file segment.
  /// Effects: the uncommitted pages among its prototypes [index, index +
  /// n) are committed and charged to the system: a SEC_RESERVE section's
  /// pages, committed through a view or by a saved system's load.
  /// Returns: commitment_limit (nothing changed).
  static status commit_pages(System& sys, segment& seg, std::uint64_t index,
                             std::uint64_t n) noexcept {
    MMKIT_ASSERT(!seg.file_backed() && seg.holds(index) &&
                 n <= seg.pages - (index - seg.proto));
    auto& pool = sys.sections().pool;
    std::uint64_t fresh = 0;
    for (std::uint64_t i = index; i < index + n; ++i)
      fresh += !proto::is_committed(pool[i]);
    if (fresh == 0) return status::success;
    if (!sys.charge_commit_locked(fresh, 0, frame_end))
      return status::commitment_limit;
    for (std::uint64_t i = index; i < index + n; ++i)
      if (!proto::is_committed(pool[i])) pool[i] = proto::committed;
    seg.committed += fresh;
    return status::success;
  }

  /// Effects: the resident page at prototype `index` of the file segment
  /// `seg`, if modified, is written to the file (only its bytes below
  /// end-of-file) and is clean again.
  /// Returns: the store's status.
  static status write_page(System& sys, segment& seg,
                           std::uint64_t index) noexcept {
    const std::uint64_t pp = sys.sections().pool[index];
    // An image's file is never written: its writable pages are
    // copy-on-write, and a shared image section's are the page file's.
    if (!seg.file_backed() || seg.image != nullptr || !proto::is_resident(pp))
      return status::success;
    const pfn f = proto::frame_of(pp);
    auto& db = sys.pfns();
    if (!db.entry(f).modified()) return status::success;
    if (proto::is_listed(pp)) {
      // On the modified list: the writer's own path.
      if (db.entry(f).state() != page_state::modified) return status::success;
      return write_out(sys, f);
    }
    const std::uint64_t off = (index - seg.proto) << page_shift;
    const std::uint64_t end = seg.store.size();
    if (off < end) {
      const std::uint64_t n = end - off < page_size ? end - off : page_size;
      if (const status s = seg.store.write(off, sys.memory().frame(f), n);
          s != status::success)
        return s;
    }
    db.clear_modified(f);
    return status::success;
  }

  /// Effects: SetEndOfFile on `file`: its size becomes `size`. Pages past
  /// the new end are dropped from the segment and the bytes past it in the
  /// last page cleared.
  /// Returns: access_denied (read-only store), user_mapped_file (a view
  /// maps bytes at or past the new end), or the store's status.
  static status set_end_of_file(System& sys, file_object& file,
                                std::uint64_t size) noexcept {
    const store_ref& store = file.store();
    if (!store.writable()) return status::access_denied;
    // A file mapped as an image cannot change under its views (NT refuses
    // writes to it too).
    if (file.image.view_count != 0) return status::user_mapped_file;
    segment& seg = file.data;
    if (seg.in_use() && size < store.size()) {
      for (const mapped_vad* v = seg.views; v != nullptr; v = v->next_view) {
        const std::uint64_t last_byte =
            ((v->first_proto - seg.proto + v->pages()) << page_shift);
        const std::uint64_t mapped_end =
            last_byte < seg.bytes ? last_byte : seg.bytes;
        if (mapped_end > size) return status::user_mapped_file;
      }
    }
    if (const status s = store.set_size(size); s != status::success) return s;
    if (!seg.in_use()) return status::success;
    auto& pool = sys.sections().pool;
    for (std::uint64_t i = size >> page_shift; i < seg.pages; ++i) {
      std::uint64_t& pp = pool[seg.proto + i];
      if (!proto::is_resident(pp)) continue;
      const pfn f = proto::frame_of(pp);
      const std::uint64_t keep =
          (i << page_shift) < size ? size & (page_size - 1) : 0;
      if (keep != 0) {
        std::memset(sys.memory().frame(f) + keep, 0, page_size - keep);
        continue;
      }
      drop_frame(sys, seg, pp);  // nothing maps it: no view reaches it
    }
    return status::success;
  }

  // --- the pager's side -------------------------------------------------

  static page_slot slot_of(std::uint64_t word) noexcept {
    return {static_cast<std::uint8_t>(proto::page_file_number::get(word)),
            proto::page_file_slot::get(word)};
  }

  /// Effects: the page at prototype `index`, resident and mapped by no
  /// view (its frame's share count is the prototype's alone), lets go of
  /// its frame: the frame goes to standby (clean) or modified (dirty) and
  /// the prototype is listed; a fault takes it back. A modified image page
  /// has nowhere to be written and stays. Returns: whether it went.
  static bool release_page(System& sys, std::uint64_t index) noexcept {
    std::uint64_t& pp = sys.sections().pool[index];
    if (!proto::is_resident(pp) || proto::is_listed(pp)) return false;
    auto& db = sys.pfns();
    const pfn f = proto::frame_of(pp);
    const pfn_entry e = db.entry(f);
    if (e.share_count() != 1 || e.reference_count() != 1) return false;
    if (e.modified()) {
      const segment* seg = sys.sections().segment_of(index);
      MMKIT_ASSERT(seg != nullptr);
      if (seg->image != nullptr) return false;
    }
    db.decrement_share_count(f, release_to::backing_store);
    pp |= proto::listed;
    return true;
  }

  /// Effects: every page of the system's sections that no view maps lets
  /// go of its frame (release_page), up to `n` pages. Returns: how many.
  static std::uint64_t release_unmapped(System& sys, std::uint64_t n) noexcept {
    std::uint64_t done = 0;
    for (segment* seg = sys.sections().first_segment();
         seg != nullptr && done < n; seg = seg->next_segment)
      for (std::uint64_t i = 0; i < seg->pages && done < n; ++i)
        done += release_page(sys, seg->proto + i);
    return done;
  }

  /// Requires: `f` is on the modified list, linked to a prototype. Effects:
  /// the modified page writer's write of a section page: a data file's
  /// page to its file (the bytes below end-of-file), a page-file
  /// section's to a page-file slot (its prototype's original word records
  /// the slot); the frame goes to standby. Returns: the store's status, or
  /// insufficient_resources when no page-file slot is left.
  static status write_out(System& sys, pfn f) noexcept {
    auto& db = sys.pfns();
    const pfn_entry e = db.entry(f);
    MMKIT_ASSERT(e.state() == page_state::modified);
    const std::uint64_t index = e.link().value;
    segment* seg = sys.sections().segment_of(index);
    MMKIT_ASSERT(seg != nullptr && seg->image == nullptr);
    if (seg->file_backed()) {
      const std::uint64_t off = (index - seg->proto) << page_shift;
      const std::uint64_t end = seg->store.size();
      if (off < end) {
        const std::uint64_t n = end - off < page_size ? end - off : page_size;
        if (const status s = seg->store.write(off, sys.memory().frame(f), n);
            s != status::success)
          return s;
      }
      ++sys.stats_locked().file_writes;
    } else {
      auto slot = sys.page_files().allocate();
      if (!slot) return slot.error();
      if (const status s = sys.page_files().write(*slot, sys.memory().frame(f));
          s != status::success) {
        sys.page_files().free(*slot);
        return s;
      }
      db.set_original_pte(
          f, proto::paged_out(e.original_pte(), slot->file, slot->offset));
      ++sys.stats_locked().pagefile_writes;
    }
    db.move_to_standby_after_write(f);
    return status::success;
  }

  /// The PFN database's call-back: the standby frame `f` of the listed
  /// prototype `index` is taken for another use; the prototype gets back
  /// the word it had before the page came in (`original`: re-read from
  /// the file, or from the page-file slot it names).
  static void repurposed(System& sys, pfn f, std::uint64_t index,
                         std::uint64_t original) noexcept {
    std::uint64_t& pp = sys.sections().pool[index];
    MMKIT_ASSERT(proto::is_listed(pp) && proto::frame_of(pp) == f);
    (void)f;
    segment* seg = sys.sections().segment_of(index);
    MMKIT_ASSERT(seg != nullptr);
    pp = original;
    --seg->resident;
    if (seg->file_backed())
      sys.give_uncharged_frame_locked();
    else
      sys.note_resident_locked(-1, frame_end);
  }

 private:
  static mm_protection with_caching(mm_protection p,
                                    std::uint32_t attrs) noexcept {
    if (attrs & sec::nocache)
      return mm_protection{static_cast<std::uint8_t>(p.base() | mm::nocache)};
    if (attrs & sec::writecombine)
      return mm_protection{
          static_cast<std::uint8_t>(p.base() | mm::writecombine)};
    return p;
  }

  /// SEC_IMAGE over `file` (named `name`, not taken): the file's image
  /// segment, laid out from its headers when no section uses it yet.
  static status create_image(System& sys, section_handle& out,
                             std::uint32_t access, const char* name,
                             file_object* file) noexcept {
    auto& table = sys.sections();
    segment& seg = file->image;
    pe::image_info parsed{};
    if (!seg.in_use()) {
      // The store is read under the PFN lock (see the header comment).
      detail::lock_scope pfn_guard(sys.pfn_lock());
      if (const status st = pe::parse(file->store(), parsed);
          st != status::success)
        return st;
      if (const status st = pe::validate_relocations(file->store(), parsed);
          st != status::success)
        return st;
    }
    if (!seg.in_use()) {
      if (pages_of(parsed.size_of_image) >
          table.pool.capacity() - table.pool.in_use())
        return status::insufficient_resources;
    }
    section_object* s = table.objects.allocate();
    if (s == nullptr) return status::insufficient_resources;
    if (!seg.in_use()) {
      const std::uint64_t pages = pages_of(parsed.size_of_image);
      auto r = table.pool.allocate(pages);
      if (!r) {
        table.objects.deallocate(s);
        return r.error();
      }
      file->headers = parsed;
      lay_out_image(table.pool, *r, file->headers);
      seg.proto = *r;
      seg.pages = pages;
      seg.image = &file->headers;
      {
        detail::lock_scope pfn_guard(sys.pfn_lock());
        table.add_segment(seg);
      }
      seg.bytes = file->headers.size_of_image;
    }
    ++seg.users;
    s->seg_ = &seg;
    s->file_ = file;
    s->size_ = seg.bytes;
    s->protection_ = mm_protection{mm::execute_writecopy};
    s->attributes_ = sec::image;
    finish(table, *s, out, access, name);
    return status::success;
  }

  /// The prototypes of an image at `run`, as NT lays an image out
  /// (section/pe_image.hpp draws it): the
  /// header pages hold the file's first SizeOfHeaders bytes, READONLY;
  /// each section's pages (VirtualSize, or SizeOfRawData when that is 0,
  /// rounded up to a page) hold its raw data up to the smaller of
  /// SizeOfRawData and that size, zero after, with the protection its
  /// characteristics give; everything else (alignment padding) stays
  /// reserved.
  static void lay_out_image(prototype_pool& pool, std::uint64_t run,
                            const pe::image_info& info) noexcept {
    const auto fill = [&](std::uint64_t first_page, std::uint64_t span,
                          std::uint64_t file_offset, std::uint64_t data,
                          std::uint8_t prot) {
      for (std::uint64_t k = 0; k < span; ++k) {
        const std::uint64_t off = k << page_shift;
        const std::uint64_t n =
            data > off ? (data - off < page_size ? data - off : page_size) : 0;
        pool[run + first_page + k] =
            proto::make_image(n != 0 ? file_offset + off : 0, n, prot);
      }
    };
    if (info.mapped_flat) {
      // SectionAlignment under a page: the file's bytes at their own
      // offsets, one EXECUTE_WRITECOPY region.
      const std::uint64_t data = info.file_size < info.size_of_image
                                     ? info.file_size
                                     : info.size_of_image;
      fill(0, pages_of(info.size_of_image), 0, data, pe::flat_protection);
      return;
    }
    fill(0, pages_of(info.size_of_headers), 0, info.size_of_headers,
         pe::header_protection);
    for (std::uint32_t i = 0; i < info.section_count; ++i) {
      const pe::section_info& sec = info.sections[i];
      const std::uint64_t size =
          sec.virtual_size != 0 ? sec.virtual_size : sec.raw_size;
      const std::uint64_t span = pages_of(size);
      const std::uint64_t data = sec.raw_size < (span << page_shift)
                                     ? sec.raw_size
                                     : span << page_shift;
      fill(sec.virtual_address >> page_shift, span, sec.raw_offset, data,
           pe::section_protection(sec.characteristics));
    }
  }

  /// The last steps of a creation: name, handle, count.
  template <class Table>
  static void finish(Table& table, section_object& s, section_handle& out,
                     std::uint32_t access, const char* name) noexcept {
    s.handles_ = 1;
    s.views_ = 0;
    s.table_ = &table;
    if (name != nullptr && name[0] != '\0') {
      std::memcpy(s.name_, name, std::strlen(name) + 1);
      table.add_name(s);
    }
    ++table.live;
    out = {&s, section_access::granted(access)};
  }

  /// A file segment grows (no view maps it): its prototypes move to the
  /// run `to`, resident frames' back-links with them.
  static void move_run(System& sys, segment& seg, std::uint64_t to,
                       std::uint64_t pages) noexcept {
    auto& pool = sys.sections().pool;
    auto& db = sys.pfns();
    for (std::uint64_t i = 0; i < seg.pages; ++i) {
      const std::uint64_t pp = pool[seg.proto + i];
      pool[to + i] = pp;
      if (proto::is_resident(pp))
        db.relink(proto::frame_of(pp), pte_link::prototype_pte(to + i));
    }
    pool.free(seg.proto, seg.pages);
    seg.proto = to;
    seg.pages = pages;
  }

  /// The frame of a resident prototype goes back to the free list; the
  /// prototype is committed and not resident again.
  static void drop_frame(System& sys, segment& seg,
                         std::uint64_t& pp) noexcept {
    const pfn f = proto::frame_of(pp);
    if (proto::is_listed(pp)) sys.pfns().reclaim(f);
    MMKIT_ASSERT(sys.pfns().entry(f).share_count() == 1);
    std::uint64_t original = sys.pfns().entry(f).original_pte();
    if (!seg.file_backed() && proto::is_paged_out(original)) {
      sys.page_files().free(slot_of(original));
      original = proto::without_slot(original);
    }
    sys.pfns().release(f, release_to::free_list);
    if (seg.file_backed()) {
      sys.give_uncharged_frame_locked();
    } else {
      sys.note_resident_locked(-1, frame_end);
    }
    pp = original;  // the word page_in found
    --seg.resident;
  }

  static void maybe_delete(System& sys, section_object& s) noexcept {
    if (s.handles_ != 0 || s.views_ != 0) return;
    auto& table = sys.sections();
    table.remove_name(s);
    segment& seg = *s.seg_;
    if (--seg.users == 0) delete_segment(sys, seg);
    --table.live;
    table.objects.deallocate(&s);
  }

  /// The last section on `seg` went: modified file pages are written, every
  /// frame freed, the prototypes and the shared commit returned.
  static void delete_segment(System& sys, segment& seg) noexcept {
    MMKIT_ASSERT(seg.view_count == 0);
    auto& pool = sys.sections().pool;
    for (std::uint64_t i = 0; i < seg.pages; ++i) {
      std::uint64_t& pp = pool[seg.proto + i];
      if (!proto::is_resident(pp)) {
        if (!seg.file_backed() && proto::is_paged_out(pp)) {
          sys.page_files().free(slot_of(pp));
          pp = proto::without_slot(pp);
        }
        continue;
      }
      // A failed write loses the page, as a failed lazy write does in NT.
      (void)write_page(sys, seg, seg.proto + i);
      drop_frame(sys, seg, pp);
    }
    if (seg.pages != 0) {
      pool.free(seg.proto, seg.pages);
      sys.sections().remove_segment(seg);
    }
    if (seg.committed != 0) sys.return_commit_locked(seg.committed, frame_end);
    seg.proto = prototype_pool::none;
    seg.pages = seg.bytes = seg.committed = 0;
    seg.image = nullptr;
    MMKIT_ASSERT(seg.resident == 0);
  }
};

}  // namespace mmkit
