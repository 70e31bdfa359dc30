#pragma once
// system: the simulated machine that address spaces share: the physical
// memory, its PFN database, the commit limit, the lock that guards them, and
// the address spaces themselves.
//
//   system ─┬─ Memory          the frame bytes (host_memory, buffer_memory)
//           ├─ pfn_database    one entry per frame, NT's page lists; its
//           │                  owner callback is the system's (below)
//           ├─ commit charge   against commit_limit = frames + page file
//           ├─ address spaces  each registered by a space_link
//           ├─ sections        section objects, names, views, prototypes
//           ├─ PFN lock        frames, prototype PTEs, commit (no_lock by
//           │                  default)
//           └─ section lock    section objects, their names, handles and
//                              view lists (no_lock by default; held
//                              shared by faults reading section pages)
//
// Lock order: an address space's lock, then the section lock, then the PFN
// lock. A holder of the PFN lock never waits for another lock, so a fault
// (space lock, PFN lock) never waits behind a section being created,
// opened or closed, and a section call that changes no frame (a name
// looked up, a handle added or closed, an image's headers parsed) never
// waits behind a fault. The exception is a fault that reads a section page
// from its file or the page file: it gives up the PFN lock, takes the
// section lock shared, and reads under that alone (section_ops::page_in),
// so that the read stalls neither the pager nor other spaces' faults, and
// faults read separate pages at once (a fault on a page being read waits
// for that read: in_page_locked).
//
// Whose PTE names a frame: when the PFN database takes a standby frame for
// another use, it calls its owner back with the frame's PTE back-link, the
// physical address of a leaf PTE. The system finds the address space that
// PTE belongs to in O(1): every page-table frame an address space takes
// comes through its table_frame_source, which records the space's
// space_link in the table frame's PFN entry (in the original-PTE field, which
// a page-table frame has no other use for) and, for a table below the root,
// the physical address of the entry that references it. The space then
// climbs those back-links from the PTE to its root to learn the VA, writes
// the PTE through its PTE writer (TLB dropped, observers told) and forgets
// the frame.
//
// Every address_space created on a system takes its page tables and its
// pages from the system's PFN database, so frames released by one address
// space are reused by the next (after zeroing: a released frame goes to the
// free list and is handed out for a demand-zero fault only from the zeroed
// list or zeroed on the spot, so its old contents are never visible).
//
// Commit charge is NT's: every committed private page is charged when it is
// committed (not when it is touched) against the limit, and the charge is
// returned on decommit or release. Committing past the limit fails with
// status::commitment_limit and changes nothing. Commit is a promise: a
// charge is granted only when frames can back every charged page and every
// page table on top of what is promised already (charge_commit_locked), so
// the first touch of a committed page never runs out of memory.

#include <mmkit/core/address.hpp>
#include <mmkit/core/lock_policy.hpp>
#include <mmkit/core/pool_quota.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/fault/fault_counts.hpp>
#include <mmkit/pager/page_file.hpp>
#include <mmkit/phys/frame_cache.hpp>
#include <mmkit/phys/pfn_database.hpp>
#include <mmkit/phys/physical_memory.hpp>
#include <mmkit/region/vad_allocator.hpp>
#include <mmkit/region/write_watch.hpp>
#include <mmkit/section/section.hpp>
#include <mmkit/section/section_ops.hpp>
#include <mmkit/section/section_table.hpp>
#include <mmkit/vad/vad.hpp>

#include <cstdint>
#include <utility>

namespace mmkit {

/// The policies a system and its address spaces are built from.
///   memory          the physical memory policy (a WritablePhysicalMemory)
///   lock            the lock policy (no_lock: single-threaded at no cost)
///   vad_allocator   where address spaces get VAD nodes (by default a
///                   caller-given array: nothing is allocated behind the
///                   caller's back)
///   watch_allocator where write-watch bitmaps come from (none by default:
///                   MEM_WRITE_WATCH is then refused)
///   view_allocator  where address spaces get the VAD nodes of mapped views
///                   (by default a caller-given array)
///   section_allocator  where the system gets section objects (by default
///                   a caller-given array)
template <WritablePhysicalMemory Memory, LockPolicy Lock = no_lock,
          VadAllocator<vad> NodeAllocator = caller_vad_allocator<vad>,
          WatchAllocator Watches = no_watch_allocator,
          VadAllocator<mapped_vad> ViewAllocator =
              caller_vad_allocator<mapped_vad>,
          VadAllocator<section_object> SectionAllocator =
              caller_vad_allocator<section_object>>
struct system_config {
  using memory = Memory;
  using lock = Lock;
  using vad_allocator = NodeAllocator;
  using watch_allocator = Watches;
  using view_allocator = ViewAllocator;
  using section_allocator = SectionAllocator;
};

/// What the pager did over a system's life.
struct pager_stats {
  std::uint64_t trimmed = 0;          ///< pages trimmed from working sets
  std::uint64_t pagefile_writes = 0;  ///< pages written to a page file
  std::uint64_t pagefile_reads = 0;   ///< pages read back (hard faults)
  std::uint64_t file_writes = 0;      ///< mapped-file pages written back
  std::uint64_t repurposed = 0;       ///< standby frames taken for reuse
  std::uint64_t write_failures = 0;   ///< writes refused: no slot, I/O
  std::uint64_t balance_steps = 0;    ///< balance() calls that trimmed
  /// Spaces a trim for memory passed by, in a call of their own then.
  std::uint64_t trims_passed_by = 0;
  /// Faults that waited for another fault's read of their section page
  /// (or for a free slot among the reads in progress): NT's collided
  /// faults (system::in_page_wait).
  std::uint64_t in_page_waits = 0;
};

/// What the system knows of one of its address spaces: how to rewrite one
/// of its PTEs from outside, how to trim it, and the links of the system's
/// list of spaces. The space fills the call-backs.
struct space_link {
  /// Rewrites the transition PTE at physical address `pte` (of this
  /// space's page tables), which names `frame`, into `original_pte`: the
  /// frame is being taken away. Called with the PFN lock held, and
  /// maybe while the space's own thread reads its tables for a guest
  /// access (see lock_policy.hpp): a transition PTE is in no TLB, and
  /// the space reads its leaf entries with atomic loads where it does.
  void (*repurpose)(space_link& self, pfn frame, paddr pte,
                    std::uint64_t original_pte) noexcept = nullptr;
  /// The original PTE `original` (a private page's demand-zero form, in
  /// the space's format) once the page is in page-file slot `slot`: its
  /// page-file form; 0 when the format cannot name the slot.
  std::uint64_t (*paged_out)(std::uint64_t original,
                             page_slot slot) noexcept = nullptr;
  /// The working-set manager's call: trims up to `pages` pages (a clock
  /// over the accessed bits), leaving at least `keep` in the working set.
  /// Returns: the pages trimmed. Called with the PFN lock held.
  std::uint64_t (*trim_pages)(space_link& self, std::uint64_t pages,
                              std::uint64_t keep) noexcept = nullptr;
  /// Takes the space's own lock if it is free, and gives it back: how
  /// the system reaches into a space that is not the caller's (a trim for
  /// memory). Called with the PFN lock held, so never waiting: a space
  /// whose lock is taken is in a call of its own, and is passed by.
  bool (*try_lock)(space_link& self) noexcept = nullptr;
  void (*unlock)(space_link& self) noexcept = nullptr;
  /// Set while a call of this space holds the PFN lock: the space is the
  /// caller's own, which a reclaim inside that call may trim. Read and
  /// written under the PFN lock only.
  mutable bool holds_pfn_lock = false;
  /// Set while a call of this space waits for the PFN lock (written with
  /// release, read with acquire): what the call read so far was read
  /// before it began to wait, and it reads nothing more until the lock is
  /// its, so the holder may trim the space as if it held its lock. (A hard
  /// fault waits here again after its page-file read, holding a frame on
  /// no list for a PTE that is not valid: nothing a trim touches.)
  mutable bool waits_for_pfn_lock = false;
  /// Set while a call walks the space's pages and must find them as it
  /// left them (a fork, region/fork.hpp; NT holds the working-set lock of
  /// the process it clones): no trim touches the space meanwhile. Read and
  /// written under the PFN lock only.
  mutable bool pinned = false;
  /// The space's working-set minimum (balance trims above it first).
  std::uint64_t working_set_minimum = 0;
  /// Whether the space is bound to the low zone (system::bound_low): set
  /// before it is attached.
  bool low_bound = false;
  /// The frames the space holds ahead of its demand-zero faults (used in a
  /// threaded system only; phys/frame_cache.hpp). Under the space's lock,
  /// and filled and drained by the system under the PFN lock too.
  frame_cache frames;
  /// The space's fault counts as of its last fault, which the system
  /// sums (publish_counts, read_published).
  fault_counts published_faults;
  space_link* next = nullptr;
  space_link* prev = nullptr;
};

/// The PFN database's owner in a system: finds the space whose page table
/// holds the PTE (see the header comment) and has it rewrite the PTE; a
/// section's frame goes back to its prototype PTE through the system.
struct system_pte_owner {
  /// The database's entries (a page-table frame's entry names its space).
  const pfn_entry* entries = nullptr;
  /// The system, and its call that restores a prototype PTE.
  void* system = nullptr;
  void (*prototype_repurpose)(void* system, pfn frame, std::uint64_t index,
                              std::uint64_t original) noexcept = nullptr;
  pager_stats* stats = nullptr;

  /// The space whose page table holds the PTE `link` names.
  space_link& space_of(pte_link link) const noexcept {
    MMKIT_ASSERT(link.kind == pte_kind::hardware && entries != nullptr);
    auto* space = reinterpret_cast<space_link*>(static_cast<std::uintptr_t>(
        entries[link.table_frame().raw()].original_pte()));
    MMKIT_ASSERT(space != nullptr && space->repurpose != nullptr);
    return *space;
  }

  void repurpose(pfn frame, pte_link link,
                 std::uint64_t original_pte) noexcept {
    if (stats != nullptr) ++stats->repurposed;
    if (link.kind == pte_kind::prototype) {
      MMKIT_ASSERT(prototype_repurpose != nullptr);
      prototype_repurpose(system, frame, link.value, original_pte);
      return;
    }
    space_link& space = space_of(link);
    space.repurpose(space, frame, link.address(), original_pte);
  }
};
static_assert(StandbyOwner<system_pte_owner>);

/// The FrameSource an address space's page table draws from: the system's
/// PFN database, with each table frame marked as the space's and linked to
/// the entry that references it (see the header comment).
template <class Database>
class table_frame_source {
 public:
  table_frame_source() noexcept = default;
  table_frame_source(Database& db, space_link& owner) noexcept
      : db_(&db), owner_(&owner) {}

  result<pfn> allocate_table_frame(pfn end) noexcept {
    result<pfn> f = db_->allocate_table_frame(end);
    if (f) db_->set_pte_link(*f, pte_link{}, token());
    return f;
  }
  void release_table_frame(pfn frame) noexcept {
    db_->release_table_frame(frame);
  }
  std::uint32_t& table_use_count(pfn frame) noexcept {
    return db_->table_use_count(frame);
  }
  /// The page table tells which entry references a new table.
  void set_table_link(pfn table, paddr parent_entry) noexcept {
    db_->set_pte_link(table, pte_link::hardware_pte(parent_entry), token());
  }

 private:
  std::uint64_t token() const noexcept {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(owner_));
  }
  Database* db_ = nullptr;
  space_link* owner_ = nullptr;
};

template <class Config>
class system {
 public:
  using config = Config;
  using memory_type = typename Config::memory;
  using lock_type = typename Config::lock;
  /// The section lock's type: lock_type's shared partner.
  using section_lock_type = typename shared_lock_of<lock_type>::type;
  using database_type = pfn_database<memory_type, system_pte_owner>;
  using frame_source_type = table_frame_source<database_type>;
  using section_table_type = section_table<typename Config::section_allocator>;

  /// Requires: `entries` points to `frames` PFN entries that outlive the
  /// system; frames <= memory.frame_count(). Effects: a system whose
  /// physical memory is the first `frames` frames of `memory` (whose bytes
  /// are taken to be zero when `contents` says so, as a fresh host
  /// reservation is) and whose commit limit is the usable frames +
  /// page_file_pages.
  system(memory_type memory, pfn_entry* entries, std::uint64_t frames,
         std::uint64_t page_file_pages,
         initial_contents contents = initial_contents::zero) noexcept
      : memory_(std::move(memory)),
        pfns_(memory_, entries, frames, contents, system_pte_owner{entries}),
        page_file_pages_(page_file_pages) {
    wire_owner();
  }

  /// As above, with sections: their prototype PTEs live in the
  /// `prototype_count` words at `prototypes` (one per section page; they
  /// need no initialisation and must outlive the system; fewer than 2^32,
  /// and x86_32 views reach only the first 2^20) and section objects come
  /// from `sections`.
  system(memory_type memory, pfn_entry* entries, std::uint64_t frames,
         std::uint64_t page_file_pages, std::uint64_t* prototypes,
         std::uint64_t prototype_count,
         typename Config::section_allocator sections = {},
         initial_contents contents = initial_contents::zero) noexcept
      : memory_(std::move(memory)),
        pfns_(memory_, entries, frames, contents, system_pte_owner{entries}),
        sections_(prototypes, prototype_count, std::move(sections)),
        page_file_pages_(page_file_pages) {
    wire_owner();
  }

  /// The sections, their prototype PTEs and names (section/section_ops.hpp
  /// works on them: the objects under the section lock, the prototype PTEs
  /// under the PFN lock). Every section handle must be
  /// closed, and every address space destroyed, before the system goes: a
  /// file section's unwritten pages are written only then.
  section_table_type& sections() noexcept { return sections_; }
  const section_table_type& sections() const noexcept { return sections_; }

  system(const system&) = delete;
  system& operator=(const system&) = delete;

  memory_type& memory() noexcept { return memory_; }
  database_type& pfns() noexcept { return pfns_; }
  const database_type& pfns() const noexcept { return pfns_; }
  /// The PFN lock: held around every PFN-database and commit update, and
  /// every read or write of a prototype PTE.
  lock_type& pfn_lock() const noexcept { return lock_; }
  /// The section lock: held around every change to a section object (its
  /// name, handles, views) and to which segments exist; held shared around
  /// a fault's read of a section page, so that reads of separate pages go
  /// on at once (in_page_locked says how a read of one page is
  /// waited for); taken before the PFN lock, never after it (see the
  /// header comment). A policy without a shared mode takes turns
  /// (exclusive_as_shared).
  section_lock_type& section_lock() const noexcept { return section_lock_; }

  /// Section pages that faults holding the section lock shared are
  /// reading from their file or the page file, without the PFN lock
  /// (section_ops::page_in), named by their prototype's index. Another
  /// fault on such a page waits until the read is over, and then maps its
  /// frame (NT's collided fault). Everything else that reads or changes a
  /// page that is not resident holds the section lock exclusively, so
  /// while it runs no read is in progress.
  /// Requires (each): the PFN lock is held.
  bool in_page_locked(std::uint64_t index) const noexcept {
    for (unsigned i = 0; i < in_page_count_; ++i)
      if (in_page_[i] == index) return true;
    return false;
  }
  /// Whether a fault may begin a read now: none of `index`, and a slot free.
  bool in_page_may_begin_locked(std::uint64_t index) const noexcept {
    return in_page_count_ < in_page_slots && !in_page_locked(index);
  }
  /// Requires: in_page_may_begin_locked(index). Effects: a read of the
  /// page begins.
  void in_page_begin_locked(std::uint64_t index) noexcept {
    MMKIT_ASSERT(in_page_may_begin_locked(index));
    in_page_[in_page_count_++] = index;
  }
  /// Requires: a read of the page began. Effects: it is over, and the
  /// faults waiting for a read to end wake up (in_page_wait).
  void in_page_end_locked(std::uint64_t index) noexcept {
    for (unsigned i = 0; i < in_page_count_; ++i)
      if (in_page_[i] == index) {
        in_page_[i] = in_page_[--in_page_count_];
        __atomic_store_n(&in_page_ends_, in_page_ends_ + 1, __ATOMIC_RELEASE);
        if (in_page_waiters_ != 0)
          detail::wake_waiters<lock_type>(&in_page_ends_);
        return;
      }
    MMKIT_ASSERT(false);
  }
  /// A fault's wait for some read to end (a read of its page, or a free
  /// slot), as NT's collided fault waits on the in-page event: it sleeps
  /// until in_page_end_locked wakes it where the lock policy can block
  /// (mutex_lock::wait_on), and polls otherwise (detail::wait_for_change).
  ///   const auto seen = sys.in_page_wait_begin_locked();
  ///   ... the PFN lock let go ...
  ///   sys.in_page_wait(seen, tries);
  ///   ... the PFN lock taken again ...
  ///   sys.in_page_wait_end_locked();
  std::uint32_t in_page_wait_begin_locked() noexcept {
    ++in_page_waiters_;
    ++stats_.in_page_waits;
    return in_page_ends_;
  }
  void in_page_wait(std::uint32_t seen, unsigned tries) noexcept {
    detail::wait_for_change<lock_type>(&in_page_ends_, seen, tries);
  }
  void in_page_wait_end_locked() noexcept { --in_page_waiters_; }
  /// Reads in progress at once, at most; a fault that finds them all
  /// taken waits for one to end.
  static constexpr unsigned in_page_slots = 64;

  /// The most pages that may be committed at once (NT's commit limit):
  /// the usable frames (those not marked bad) plus the page file, unless
  /// set_commit_limit() set a figure.
  std::uint64_t commit_limit() const noexcept {
    detail::lock_scope guard(lock_);
    return commit_limit_locked();
  }
  std::uint64_t commit_limit_locked() const noexcept {
    return limit_set_ ? commit_limit_
                      : pfns_.frame_count() - pfns_.count(page_state::bad) +
                            page_file_pages_ + page_files_.slots();
  }
  /// Effects: sets the commit limit to `pages` (NT derives it from the
  /// available memory and the page files; an emulator reproducing a given
  /// machine, or a test, may want its figure exactly). The promise below
  /// still holds: no commit is granted that the frames cannot back.
  /// Returns: status::commitment_limit, changing nothing, when more than
  /// `pages` are charged already.
  result<void> set_commit_limit(std::uint64_t pages) noexcept {
    detail::lock_scope guard(lock_);
    if (pages < commit_charge_) return status::commitment_limit;
    commit_limit_ = pages;
    limit_set_ = true;
    return {};
  }
  /// The pages committed now, over all address spaces.
  std::uint64_t commit_charge() const noexcept {
    detail::lock_scope guard(lock_);
    return commit_charge_;
  }

  /// Requires: the PFN lock is held. Effects: charges `pages` more pages of
  /// commit for an address space whose frames lie below `end`, which will
  /// also make `tables` more page-table pages to map them.
  /// Returns: status::commitment_limit, charging nothing, when the charge
  /// would pass the commit limit, or when the frames could not back it:
  /// commit is a promise (a committed page never fails its first touch),
  /// so every charged page and every page table must have a frame, and an
  /// address space that can only name frames below 4 GiB must find them
  /// there. A page file's slots back pages too: the pager writes a page
  /// out to free its frame (allocate_locked reclaims).
  result<void> charge_commit_locked(std::uint64_t pages, std::uint64_t tables,
                                    pfn end) noexcept {
    if (commit_charge_ + pages > commit_limit_locked())
      return status::commitment_limit;
    // Page tables are never paged: they need frames of their own, and a
    // page needs one more to be touched in.
    if (pfns_.page_table_count() + tables + (pages != 0) >
        pfns_.frame_count() - pfns_.count(page_state::bad))
      return status::commitment_limit;
    const std::uint64_t usable = backing_locked();
    const std::uint64_t promised =
        commit_charge_ + pfns_.page_table_count() + uncharged_ + pages + tables;
    if (promised > usable) return status::commitment_limit;
    const bool low = is_low(end);
    if (low &&
        low_outstanding() + pages + tables > pfns_.available_below(low_end()))
      return status::commitment_limit;
    commit_charge_ += pages;
    if (low) low_charge_ += pages;
    return {};
  }
  /// Requires: the PFN lock is held. Effects: as allocate_locked does for
  /// one frame, modified pages are written and working sets trimmed until
  /// `frames` frames below `end` are available at once (zeroed, free or
  /// standby), or nothing more can be freed. A page that is merely in use
  /// or waiting to be written is not a missing frame: only frames gone bad
  /// since they were promised leave this false. Returns: whether they are.
  bool make_available_locked(std::uint64_t frames, pfn end) noexcept {
    const std::uint64_t passed = stats_.trims_passed_by;
    for (unsigned round = 0;; ++round) {
      if (pfns_.available_below(end) >= frames) return true;
      if (round == max_reclaim_rounds || !reclaim_locked(end)) {
        crowded_ = stats_.trims_passed_by != passed;
        return false;
      }
    }
  }
  /// Requires: the PFN lock is held. Effects: the frame caches of the
  /// spaces it may reach (the caller's, and those not in calls of their
  /// own) go back to the lists: frames no page holds, for a caller that
  /// takes only what the lists have (an AWE allocation). Returns: how many.
  std::uint64_t drain_frame_caches_locked() noexcept {
    return drain_spaces_locked();
  }
  /// Requires: the PFN lock is held; `pages` were charged for a space
  /// bounded by `end`.
  void return_commit_locked(std::uint64_t pages, pfn end) noexcept {
    MMKIT_ASSERT(pages <= commit_charge_);
    commit_charge_ -= pages;
    if (is_low(end)) {
      MMKIT_ASSERT(pages <= low_charge_);
      low_charge_ -= pages;
    }
  }
  /// Requires: the PFN lock is held. Effects: a page of an address space
  /// bounded by `end` got a frame (+1) or gave one back (-1): the
  /// low-memory promise counts what is still owed to the spaces that can
  /// only use frames below 4 GiB.
  void note_resident_locked(int delta, pfn end) noexcept {
    if (is_low(end)) low_resident_ += static_cast<std::uint64_t>(delta);
  }
  /// Requires: the PFN lock is held. Whether a new address space whose
  /// root must lie below `root_end` can have it without breaking the
  /// promise made to committed pages.
  bool can_make_root_locked(pfn root_end) noexcept {
    if (commit_charge_ + pfns_.page_table_count() + uncharged_ + 1 >
        backing_locked())
      return false;
    return !is_low(root_end) ||
           low_outstanding() + 1 <= pfns_.available_below(low_end());
  }
  /// Requires: the PFN lock is held. Whether a page no commit charge covers
  /// (a file section's, backed by its file) may take a frame below `end`
  /// without breaking the promise made to committed pages; if so it is
  /// counted until give_uncharged_frame_locked().
  bool take_uncharged_frame_locked(pfn end) noexcept {
    if (commit_charge_ + pfns_.page_table_count() + uncharged_ + 1 >
        backing_locked())
      return false;
    if (is_low(end) && low_outstanding() + 1 > pfns_.available_below(low_end()))
      return false;
    ++uncharged_;
    return true;
  }
  void give_uncharged_frame_locked() noexcept {
    MMKIT_ASSERT(uncharged_ != 0);
    --uncharged_;
  }
  /// Frames held by pages no commit charge covers.
  std::uint64_t uncharged_frames() const noexcept {
    detail::lock_scope guard(lock_);
    return uncharged_;
  }

  /// Whether a space whose frames must lie below `end` is bound to the
  /// low zone: `end` is 4 GiB and the machine has frames above it. Such a
  /// space's pages count in the low-memory promise (low_reserve()).
  bool bound_low(pfn end) const noexcept { return is_low(end); }

  /// Frames below 4 GiB that spaces which can use no others are owed: the
  /// pages they have committed and not yet touched. A space that may use
  /// any frame leaves them alone (its frames come from above 4 GiB, or from
  /// the low frames beyond this reserve; see low_reserve()).
  std::uint64_t low_reserve() const noexcept { return low_outstanding(); }

  // --- pool quota
  // -------------------------------------------------------------

  /// Effects: every address space on this system together may hold at
  /// most `q` (a limit already passed stops only further growth).
  void set_quota(pool_quota q) noexcept {
    detail::lock_scope guard(lock_);
    quota_ = q;
  }
  pool_quota quota() const noexcept {
    detail::lock_scope guard(lock_);
    return quota_;
  }
  /// VAD nodes held by all address spaces.
  std::uint64_t vad_nodes() const noexcept {
    detail::lock_scope guard(lock_);
    return vad_nodes_;
  }
  /// Requires: the PFN lock is held. Whether `nodes` more VAD nodes and
  /// `tables` more page-table pages stay within the system's quota.
  bool quota_allows_locked(std::uint64_t nodes,
                           std::uint64_t tables) const noexcept {
    return nodes <= quota_.vad_nodes - vad_nodes_ &&
           tables <= quota_.table_pages - pfns_.page_table_count();
  }
  /// Requires: the PFN lock is held. A space took (+) or gave back (-)
  /// VAD nodes.
  void count_nodes_locked(std::int64_t delta) noexcept {
    vad_nodes_ += static_cast<std::uint64_t>(delta);
  }

  // --- the address spaces ---------------------------------------------------

  /// Requires: the PFN lock is held; `space` is in no list. Effects: the
  /// space is one of this system's (its PTEs may be rewritten on
  /// repurposing). Complexity: O(1).
  void attach_locked(space_link& space) noexcept {
    space.prev = nullptr;
    space.next = spaces_;
    if (spaces_ != nullptr) spaces_->prev = &space;
    spaces_ = &space;
    ++space_count_;
    // Frames idle in caches could push other spaces' pages onto the low
    // frames this space will be owed: caches go home and stay empty while
    // it lives (fill_frame_cache_locked).
    if (space.low_bound && low_spaces_++ == 0) drain_spaces_locked();
  }
  /// Requires: the PFN lock is held; `space` was attached. Complexity: O(1).
  void detach_locked(space_link& space) noexcept {
    if (space.prev != nullptr)
      space.prev->next = space.next;
    else
      spaces_ = space.next;
    if (space.next != nullptr) space.next->prev = space.prev;
    space.next = space.prev = nullptr;
    --space_count_;
    MMKIT_ASSERT(space.frames.empty());
    retired_faults_ += space.published_faults;
    if (space.low_bound) --low_spaces_;
  }
  /// The address spaces created on this system and not yet destroyed.
  std::uint64_t space_count() const noexcept {
    detail::lock_scope guard(lock_);
    return space_count_;
  }

  // --- the pager ------------------------------------------------------------

  /// Requires: `f` outlives the system. Effects: a page file is added: its
  /// slots count in the commit limit and back committed pages.
  /// Returns: its number, or insufficient_resources (16 already).
  result<unsigned> add_page_file(page_file& f) noexcept {
    detail::lock_scope guard(lock_);
    return page_files_.add(f);
  }
  page_file_set& page_files() noexcept { return page_files_; }
  const page_file_set& page_files() const noexcept { return page_files_; }

  /// What the pager did so far (a copy).
  pager_stats stats() const noexcept {
    detail::lock_scope guard(lock_);
    return stats_;
  }
  pager_stats& stats_locked() noexcept { return stats_; }
  /// Faults of every address space on this system so far, by kind: those
  /// of spaces gone, and those of each space's calls that have returned
  /// (a space publishes its counts after each fault).
  fault_counts faults() const noexcept {
    detail::lock_scope guard(lock_);
    fault_counts sum = retired_faults_;
    for (const space_link* s = spaces_; s != nullptr; s = s->next)
      sum += read_published(s->published_faults);
    return sum;
  }

  // --- the spaces' frame caches (phys/frame_cache.hpp) ----------------------

  /// Requires: the PFN lock is held; `cache` is a space's, bounded by `end`
  /// but not bound to the low zone (bound_low), and is empty.
  /// Effects: fills it from the zeroed and free lists (frames that need
  /// zeroing marked so), as far as the lists hold frames above the pager's
  /// low threshold (balance): a cache never takes a frame that memory
  /// pressure or a standby page needs. While a space bound to the low zone
  /// exists, nothing: the low-memory promise holds because other spaces
  /// take low frames only once the high ones are all in use, which idle
  /// cached frames would break.
  /// Returns: the frames taken.
  unsigned fill_frame_cache_locked(frame_cache& cache, pfn end) noexcept {
    MMKIT_ASSERT(cache.empty() && !is_low(end));
    if (low_spaces_ != 0) return 0;
    const std::uint64_t low = low_threshold_locked();
    const std::uint64_t listed =
        pfns_.count(page_state::zeroed) + pfns_.count(page_state::free);
    if (listed <= low) return 0;
    const unsigned n = listed - low < frame_cache::capacity
                           ? static_cast<unsigned>(listed - low)
                           : frame_cache::capacity;
    // Pushed from the last taken down, so the cache hands them out in the
    // order the lists gave them (ascending, for fresh frames).
    pfn taken[frame_cache::capacity];
    bool zero[frame_cache::capacity];
    for (unsigned i = 0; i < n; ++i) {
      bool must_zero = false;
      const auto f = pfns_.allocate_zeroed_by_caller(0, end, must_zero);
      MMKIT_ASSERT(f);  // the lists hold more than n frames
      pfns_.hold_for_page(*f);
      taken[i] = *f;
      zero[i] = must_zero;
    }
    for (unsigned i = n; i-- > 0;) cache.push(taken[i], zero[i]);
    return n;
  }
  /// Requires: the PFN lock is held, and the space that holds `cache` is
  /// the caller's or may be reached from outside (with_space_locked). Effects:
  /// every cached frame goes back to the lists. Returns: how many.
  unsigned drain_frame_cache_locked(frame_cache& cache) noexcept {
    const unsigned n = cache.size();
    while (!cache.empty()) {
      bool must_zero = false;
      const pfn f = cache.pop(must_zero);
      pfns_.release_unused(f, !must_zero);
    }
    return n;
  }

  /// The modified page writer's step: up to `n` of the oldest modified
  /// pages are written (a private page, or a page-file section's, to a
  /// page-file slot; a mapped file's page to its file) and go to standby.
  /// Returns: the pages written. A write that fails (no slot left, the
  /// store's error) leaves its page modified, and the step stops.
  std::uint64_t write_modified_pages(std::uint64_t n) noexcept {
    detail::lock_scope guard(lock_);
    return write_modified_locked(n);
  }
  std::uint64_t write_modified_locked(std::uint64_t n) noexcept {
    std::uint64_t done = 0;
    while (done < n && pfns_.count(page_state::modified) != 0) {
      const pfn f = pfns_.oldest(page_state::modified);
      const pfn_entry e = pfns_.entry(f);
      const status s = e.link().kind == pte_kind::prototype
                           ? section_ops<system>::write_out(*this, f)
                           : write_private(f, e);
      if (s != status::success) {
        ++stats_.write_failures;
        break;
      }
      ++done;
    }
    return done;
  }

  /// Requires: the PFN lock is held. Effects: a frame below `end` for a
  /// fault, as pfn_database::allocate, making one available when none is:
  /// modified pages are written, then working sets trimmed (every space's,
  /// past its minimum if need be) and written. Returns: the frame, or
  /// no_memory when nothing could be freed.
  result<pfn> allocate_locked(page_need need, pfn end) noexcept {
    return allocate_locked(end, [&] { return pfns_.allocate(need, 0, end); });
  }
  /// As allocate_locked(page_need::zeroed, end), but a frame that needs
  /// zeroing is handed out as it is, with `must_zero` set
  /// (pfn_database::allocate_zeroed_by_caller).
  result<pfn> allocate_zeroed_by_caller_locked(pfn end,
                                               bool& must_zero) noexcept {
    return allocate_locked(end, [&] {
      return pfns_.allocate_zeroed_by_caller(0, end, must_zero);
    });
  }
  /// allocate_locked's reclaim loop around `take`.
  template <class Take>
  result<pfn> allocate_locked(pfn end, Take take) noexcept {
    const std::uint64_t passed = stats_.trims_passed_by;
    for (unsigned round = 0;; ++round) {
      auto f = take();
      if (f) return f;
      if (round == max_reclaim_rounds || !reclaim_locked(end)) {
        crowded_ = stats_.trims_passed_by != passed;
        return status::no_memory;
      }
    }
  }
  /// Requires: the PFN lock is held since begin_call_locked(). Whether an
  /// allocate_locked or make_available_locked since failed only as far as
  /// it knows: trims passed spaces by that were in calls of their own
  /// (trim_spaces_locked). A guest access or a commit lets go of its locks
  /// and tries again (address_space), as NT's fault would wait for free
  /// pages.
  bool crowded_locked() const noexcept { return crowded_; }
  /// Requires: the PFN lock was just taken by a space's call.
  void begin_call_locked() noexcept { crowded_ = false; }

  /// Effects: the working-set manager's step, as NT's balance set manager
  /// runs it: when the frames available (zeroed, free, standby) fall below
  /// the low threshold (set_available_thresholds; 1/16 of memory by
  /// default), working sets are trimmed (above their minimums first) and
  /// modified pages written until the high threshold is reached; modified
  /// pages past the modified maximum (1/8 of memory) are written anyway.
  /// Returns: the pages trimmed.
  std::uint64_t balance() noexcept {
    detail::lock_scope guard(lock_);
    const std::uint64_t frames = pfns_.frame_count();
    const std::uint64_t low = low_threshold_locked();
    const std::uint64_t high = pfns_.high_threshold() > low
                                   ? pfns_.high_threshold()
                                   : low + frames / 32 + 1;
    std::uint64_t trimmed = 0;
    if (pfns_.available() < low) {
      ++stats_.balance_steps;
      for (int pass = 0; pass < 2 && pfns_.available() < high; ++pass) {
        const std::uint64_t want = high - pfns_.available();
        trimmed += trim_spaces_locked(want, pass == 0);
        write_modified_locked(pfns_.count(page_state::modified));
      }
    }
    if (pfns_.count(page_state::modified) > frames / 8)
      write_modified_locked(pfns_.count(page_state::modified) - frames / 16);
    return trimmed;
  }

  /// The zero page worker's step (the owner drives it; no hidden thread):
  /// zeroes up to `n` free frames onto the zeroed list.
  /// Returns: the frames zeroed.
  std::uint64_t zero_free_pages(std::uint64_t n) noexcept {
    detail::lock_scope guard(lock_);
    return pfns_.zero_free_pages(n);
  }

 private:
  memory_type memory_;
  database_type pfns_;
  section_table_type sections_;
  /// Whether a space bounded by `end` can only use frames below 4 GiB on
  /// a machine that has frames above.
  bool is_low(pfn end) const noexcept {
    return end.raw() <= database_type::low_zone_frames &&
           pfns_.frame_count() > database_type::low_zone_frames;
  }
  static constexpr pfn low_end() noexcept {
    return pfn{database_type::low_zone_frames};
  }
  std::uint64_t low_outstanding() const noexcept {
    return low_charge_ - low_resident_;
  }

  /// Frames that may back committed pages: the usable frames (not bad)
  /// and the page-file slots.
  std::uint64_t backing_locked() const noexcept {
    return pfns_.frame_count() - pfns_.count(page_state::bad) +
           page_files_.slots();
  }

  void wire_owner() noexcept {
    system_pte_owner& o = pfns_.owner();
    o.system = this;
    o.stats = &stats_;
    o.prototype_repurpose = [](void* sys, pfn frame, std::uint64_t index,
                               std::uint64_t original) noexcept {
      section_ops<system>::repurposed(*static_cast<system*>(sys), frame, index,
                                      original);
    };
  }

  /// Writes the private page in modified frame `f` (entry `e`) to a
  /// page-file slot; its original PTE becomes the slot's page-file PTE.
  status write_private(pfn f, const pfn_entry& e) noexcept {
    space_link& space = pfns_.owner().space_of(e.link());
    auto slot = page_files_.allocate();
    if (!slot) return slot.error();
    const std::uint64_t out = space.paged_out(e.original_pte(), *slot);
    if (out == 0) {  // the space's format cannot name this slot
      page_files_.free(*slot);
      return status::insufficient_resources;
    }
    if (const status s = page_files_.write(*slot, memory_.frame(f));
        s != status::success) {
      page_files_.free(*slot);
      return s;
    }
    pfns_.set_original_pte(f, out);
    pfns_.move_to_standby_after_write(f);
    ++stats_.pagefile_writes;
    return status::success;
  }

  /// Asks every space to trim up to `want` pages in all (above its minimum
  /// when `above_minimum`). Returns: the pages trimmed.
  std::uint64_t trim_spaces_locked(std::uint64_t want,
                                   bool above_minimum) noexcept {
    std::uint64_t trimmed = 0;
    if (space_count_ == 0) return 0;
    const std::uint64_t each = want / space_count_ + 1;
    for (space_link* s = spaces_; s != nullptr && trimmed < want; s = s->next) {
      if (s->trim_pages == nullptr || s->pinned) continue;
      with_space_locked(*s, [&] {
        trimmed +=
            s->trim_pages(*s, each, above_minimum ? s->working_set_minimum : 0);
      });
    }
    return trimmed;
  }

  /// Runs f() on space `s` from outside its own calls, if it may: a trim
  /// or a drain rewrites what the space's lock covers (PTEs, TLB, frame
  /// cache), so only in the caller's own space, one whose call waits for
  /// the PFN lock (it touches nothing until the lock is its; a hard fault
  /// that read its page without the lock holds only a frame on no list
  /// and a PTE that is not valid, which no trim or drain touches), or one
  /// whose lock was free. A space in a call of its own otherwise is passed by
  /// (it may be reading its TLB or taking a cached frame), and counted so.
  /// Returns: whether f ran.
  template <class F>
  bool with_space_locked(space_link& s, F&& f) noexcept {
    const bool own = s.holds_pfn_lock ||
                     __atomic_load_n(&s.waits_for_pfn_lock, __ATOMIC_ACQUIRE);
    if (!own && !s.try_lock(s)) {
      ++stats_.trims_passed_by;
      return false;
    }
    f();
    if (!own) s.unlock(s);
    return true;
  }

  /// The available frames below which balance() trims.
  std::uint64_t low_threshold_locked() const noexcept {
    return pfns_.low_threshold() != 0 ? pfns_.low_threshold()
                                      : pfns_.frame_count() / 16;
  }

  /// Drains the frame cache of every space it may reach (with_space_locked).
  /// Returns: the frames that went back.
  std::uint64_t drain_spaces_locked() noexcept {
    std::uint64_t drained = 0;
    for (space_link* s = spaces_; s != nullptr; s = s->next) {
      // The count is read without the space's lock: a fault of that space
      // only lowers it, and a fill takes the PFN lock, which is held here.
      if (s->try_lock == nullptr || s->frames.size() == 0) continue;
      with_space_locked(
          *s, [&] { drained += drain_frame_cache_locked(s->frames); });
    }
    return drained;
  }

  /// One round of making a frame below `end` available: write modified
  /// pages; if none could be, trim working sets and write. Returns:
  /// whether anything was freed.
  bool reclaim_locked(pfn end) noexcept {
    constexpr std::uint64_t batch = 64;
    // The spaces' frame caches first: they hold no page.
    if (drain_spaces_locked() != 0) return true;
    if (write_modified_locked(batch) != 0) return true;
    std::uint64_t t = trim_spaces_locked(batch, false);
    // Section pages no view maps hold frames too.
    if (t == 0) t = section_ops<system>::release_unmapped(*this, batch);
    const std::uint64_t w = write_modified_locked(batch);
    (void)end;
    return t != 0 || w != 0 || pfns_.available() != 0;
  }
  static constexpr unsigned max_reclaim_rounds = 64;

  bool crowded_ = false;
  std::uint64_t page_file_pages_ = 0;
  page_file_set page_files_;
  pager_stats stats_;
  fault_counts retired_faults_;  // of the spaces gone
  std::uint64_t commit_limit_ = 0;
  bool limit_set_ = false;
  std::uint64_t commit_charge_ = 0;
  std::uint64_t low_charge_ = 0;    // charge of spaces bound below 4 GiB
  std::uint64_t low_resident_ = 0;  // their pages that have frames
  std::uint64_t uncharged_ = 0;     // frames of pages no charge covers
  pool_quota quota_;
  std::uint64_t vad_nodes_ = 0;
  space_link* spaces_ = nullptr;
  std::uint64_t space_count_ = 0;
  std::uint64_t low_spaces_ = 0;  // spaces bound to the low zone
  [[no_unique_address]] mutable lock_type lock_;
  [[no_unique_address]] mutable section_lock_type section_lock_;
  std::uint64_t in_page_[in_page_slots];  // [0, in_page_count_)
  unsigned in_page_count_ = 0;
  /// Reads ended so far (written under the PFN lock with atomic stores, and
  /// waited on without it), and the faults waiting for one to end.
  std::uint32_t in_page_ends_ = 0;
  unsigned in_page_waiters_ = 0;
};

}  // namespace mmkit
