#pragma once
// address_space<Arch, Config>: one process's virtual memory, composed from
// the layers below. It adds nothing of its own but the locks, creation and
// teardown, and the system's call-back into its PTEs.
//
//   address_space ─┬─ nt/virtual_memory     the NT calls: checks, statuses
//                  ├─ nt/section            map, unmap and flush views
//                  ├─ region/private_memory reserve, commit, decommit,
//                  │                        release, protect, query, trim
//                  ├─ region/view           views of sections
//                  ├─ fault/dispatcher      MmAccessFault's order, handlers
//                  └─ space_core            what they work on:
//                       ├─ pte_writer       page table + TLB + observer
//                       │   (paging/)       (tables in the system's frames)
//                       ├─ vad_tree<vad>    one VAD per reservation
//                       ├─ VadAlloc         where VAD nodes come from
//                       └─ system&          PFN database, commit, PFN lock
//
// Locking (Config::lock; no_lock by default): each call holds the address
// space's lock throughout, the system's section lock when it maps, unmaps
// or otherwise reaches a section object, and the system's PFN lock for as
// long as it works on frames and commit: locked_scope, below, says which
// call holds which. The system rewrites one of this space's transition PTEs
// when it repurposes a standby frame, holding the PFN lock.
//
// Freestanding: nothing here allocates. A kernel gives the VAD nodes (the
// default allocator of system_config is an array the caller provides) and
// the frames (the system's physical memory); see examples/freestanding.cpp.

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/access.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/lock_policy.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/emu/changes.hpp>
#include <mmkit/emu/dirty_pages.hpp>
#include <mmkit/emu/fault_callbacks.hpp>
#include <mmkit/emu/host_page.hpp>
#include <mmkit/fault/dispatcher.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/nt/types.hpp>
#include <mmkit/nt/virtual_memory.hpp>
#include <mmkit/paging/pte_writer.hpp>
#include <mmkit/region/awe.hpp>
#include <mmkit/region/fork.hpp>
#include <mmkit/region/invariants.hpp>
#include <mmkit/region/private_memory.hpp>
#include <mmkit/region/space_core.hpp>
#include <mmkit/region/vad_allocator.hpp>
#include <mmkit/region/view.hpp>
#include <mmkit/region/working_set.hpp>
#include <mmkit/section/section.hpp>
#include <mmkit/system/system.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_tree.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace mmkit {

namespace detail {
/// Config::watch_allocator when the configuration names one, else none.
template <class Config>
struct watch_allocator_of {
  using type = no_watch_allocator;
};
template <class Config>
requires requires {
  typename Config::watch_allocator;
}
struct watch_allocator_of<Config> {
  using type = typename Config::watch_allocator;
};

/// Config::observer when the configuration names one, else no observer.
template <class Config>
struct observer_of {
  using type = no_pte_observer;
};
template <class Config>
requires requires {
  typename Config::observer;
}
struct observer_of<Config> {
  using type = typename Config::observer;
};
}  // namespace detail

template <arch::PagingArch Arch, class Config,
          VadAllocator<vad> VadAlloc = typename Config::vad_allocator,
          TlbGeometry Geometry = direct_mapped_tlb,
          VadAllocator<mapped_vad> ViewAlloc = typename Config::view_allocator>
class address_space : private space_link {
 public:
  using system_type = system<Config>;
  using memory_type = typename system_type::memory_type;
  using database_type = typename system_type::database_type;
  using lock_type = typename Config::lock;
  /// How often a guest access whose fault found no frame (or a commit,
  /// map_view or fork whose page tables found none, or a snapshot restore,
  /// emu/snapshot.hpp), because the pages it could take belong to spaces
  /// in calls of their own, lets go of its locks and tries again before it
  /// answers no_memory (insufficient_resources). Meanwhile those calls end
  /// (their spaces can be trimmed then) and this space can be trimmed by
  /// theirs. The first 64 tries follow a yield, the rest 100 µs sleeps
  /// (detail::back_off_for, with mutex_lock): about half a second in all.
  static constexpr unsigned crowded_retries = 4096;
  using entry_type = typename Arch::entry_type;
  using observer_type = typename detail::observer_of<Config>::type;
  using writer_type =
      pte_writer<Arch, memory_type, typename system_type::frame_source_type,
                 Geometry, space_observer<observer_type>>;
  using translator_type = typename writer_type::translator_type;
  using core_type =
      space_core<Arch, system_type, VadAlloc, writer_type,
                 typename detail::watch_allocator_of<Config>::type, ViewAlloc>;

  static constexpr std::uint64_t lowest_user_address =
      Arch::lowest_user_address;
  static constexpr std::uint64_t highest_user_address =
      Arch::highest_user_address;
  static constexpr std::uint64_t kernel_base = Arch::kernel_base;

  /// Effects: an empty address space on `sys` (its root page table is a
  /// frame of the system's PFN database), taking VAD nodes from `nodes`
  /// (and the nodes of mapped views from `views`) and telling `observer`
  /// of every PTE change. When no frame is left for the root table,
  /// creation_status() says status::no_memory, every call answers that
  /// status and nothing is held.
  explicit address_space(system_type& sys, VadAlloc nodes = VadAlloc{},
                         observer_type observer = observer_type{},
                         ViewAlloc views = ViewAlloc{}) noexcept
      : core_(sys, std::move(nodes), std::move(views)),
        tables_(sys.pfns(), *this) {
    this->repurpose = &repurpose_pte;
    this->paged_out = &core_type::paged_out;
    this->trim_pages = &trim_for_system;
    core_.pfn_flag = &this->holds_pfn_lock;
    core_.wait_flag = &this->waits_for_pfn_lock;
    core_.published_faults = &this->published_faults;
    // A frame cache where faults would otherwise queue on the PFN lock, for
    // a space that may use any frame the machine has (phys/frame_cache.hpp).
    this->low_bound = sys.bound_low(core_type::frame_end);
    if constexpr (core_type::threaded)
      if (!this->low_bound) core_.frames = &this->frames;
    this->try_lock = [](space_link& self) noexcept {
      return static_cast<address_space&>(self).lock_.try_lock();
    };
    this->unlock = [](space_link& self) noexcept {
      static_cast<address_space&>(self).lock_.unlock();
    };
    detail::lock_scope guard(sys.pfn_lock());
    // The root table may not take a frame promised to committed pages.
    if (!sys.can_make_root_locked(
            paddr{arch::root_phys_limit<Arch>()}.frame())) {
      created_ = status::no_memory;
      return;
    }
    auto w = writer_type::create(
        sys.memory(), tables_,
        space_observer<observer_type>{&core_.watches, std::move(observer)});
    if (!w) {
      created_ = w.error();
      return;
    }
    core_.ptes = std::move(w).value();
    sys.attach_locked(*this);
  }

  address_space(const address_space&) = delete;
  address_space& operator=(const address_space&) = delete;

  /// success, or why the address space could not be created.
  status creation_status() const noexcept { return created_; }

  /// Effects: every reservation goes; frames, commit charge and page
  /// tables go back to the system.
  ~address_space() {
    if (created_ != status::success) return;
    locked_scope guard(*this);
    region::unmap_all_views(core_);
    region::release_all(core_);
    region::awe_free_all(core_, awe_);
    // Before the observer goes with the writer:
    emu_teardown();
    core_.ptes = writer_type{};  // the root table goes, under the lock
    core_.sys->drain_frame_cache_locked(this->frames);
    core_.sys->detach_locked(*this);
  }

  // --- the NT calls (nt/virtual_memory.hpp says what each does) ------------

  /// NtAllocateVirtualMemory. A commit whose page tables find every frame
  /// held by spaces in calls of their own changed nothing, and is tried
  /// again once those calls may have ended (retry_while_crowded).
  status allocate(vaddr& base, std::uint64_t& size,
                  std::uint32_t allocation_type, std::uint32_t protect,
                  std::uint64_t zero_bits = 0) noexcept {
    if (created_ != status::success) return created_;
    return retry_while_crowded(
        base, size, [&](vaddr& b, std::uint64_t& sz, bool& crowded) {
          const status s =
              nt::allocate(core_, b, sz, allocation_type, protect, zero_bits);
          if (s == status::success && (allocation_type & mem::reserve))
            emu_layout_changed(b, sz);
          crowded = failed_crowded(s);
          return s;
        });
  }
  status free(vaddr& base, std::uint64_t& size,
              std::uint32_t free_type) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this, own_pages_scope);
    // Released pages are supplied no more (fault callbacks block).
    if (!callbacks_can_free_locked(base, size, free_type))
      return status::insufficient_resources;
    const status s = nt::free(core_, base, size, free_type);
    if (s == status::success) callbacks_freed_locked(base, size, free_type);
    if (s == status::success && (free_type & mem::release))
      emu_layout_changed(base, size);
    return s;
  }
  /// NtProtectVirtualMemory. A private range whose pages are valid,
  /// demand-zero or in the page file is changed under the space's lock
  /// alone, so protects of separate spaces run at once; trimmed or
  /// fork-shared pages and views also take the PFN lock (nt::protect's
  /// on_shared).
  status protect(vaddr& base, std::uint64_t& size, std::uint32_t new_protect,
                 std::uint32_t& old_protect) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this, own_pages_scope);
    return nt::protect(core_, base, size, new_protect, old_protect,
                       [this] { core_.take_pfn_lock(); });
  }
  /// NtQueryVirtualMemory(MemoryBasicInformation). Free memory and
  /// private regions are answered under the space's lock alone, so queries
  /// of separate spaces run at once; views and AWE regions also take the
  /// PFN lock (nt::query's on_shared).
  status query(vaddr address, memory_basic_information& info) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(std::as_const(*this), access_scope);
    return nt::query(core_, address, info, [this] { core_.take_pfn_lock(); });
  }

  // --- sections (nt/section.hpp says what each does) ------------------------

  /// NtMapViewOfSection of the section `h` refers to: `base` and
  /// `view_size` are in/out (0: the system chooses; the rest of the
  /// section). `inherit` (section_inherit::view_share or view_unmap) says
  /// whether fork_into maps the view in the child too. As with allocate,
  /// a view whose page tables find every frame held by spaces in calls of
  /// their own changed nothing, and is tried again once those calls may
  /// have ended (retry_while_crowded).
  status map_view(
      const section_handle& h, vaddr& base, std::uint64_t& view_size,
      std::uint64_t offset, std::uint32_t allocation_type,
      std::uint32_t protect, std::uint64_t zero_bits = 0,
      std::uint32_t inherit = section_inherit::view_share) noexcept {
    if (created_ != status::success) return created_;
    return retry_while_crowded(
        base, view_size, [&](vaddr& b, std::uint64_t& sz, bool& crowded) {
          section_scope sections(*this);
          const status s =
              nt::map_view(core_, h, b, sz, offset, allocation_type, protect,
                           zero_bits, inherit);
          if (s == status::success) emu_layout_changed(b, sz);
          crowded = failed_crowded(s);  // while the PFN lock is held
          return s;
        });
  }
  /// NtUnmapViewOfSection: the view holding `base` goes.
  status unmap_view(vaddr base) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this, own_pages_scope);
    section_scope sections(*this);
    const mapped_vad* v = nt::view_at(core_, base);
    const vpn_range r = v != nullptr ? v->range() : vpn_range{};
    const status s = nt::unmap_view(core_, base);
    if (s == status::success && v != nullptr)
      emu_layout_changed(r.first.address(), r.count() << page_shift);
    return s;
  }
  /// NtFlushVirtualMemory: the view's modified pages go to its file.
  status flush(vaddr& base, std::uint64_t& size) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return nt::flush(core_, base, size);
  }

  /// NtGetWriteWatch / NtResetWriteWatch (region/write_watch.hpp): the
  /// pages of a MEM_WRITE_WATCH reservation written since their last reset.
  status get_write_watch(std::uint32_t flags, vaddr base, std::uint64_t size,
                         vaddr* addresses, std::uint64_t& count,
                         std::uint32_t& granularity) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return nt::get_write_watch(core_, flags, base, size, addresses, count,
                               granularity);
  }
  status reset_write_watch(vaddr base, std::uint64_t size) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return nt::reset_write_watch(core_, base, size);
  }

  /// AWE (region/awe.hpp): NtAllocateUserPhysicalPages (up to `count`
  /// frames, charged to this space; `count` becomes how many),
  /// NtMapUserPhysicalPages (`frames` null unmaps) and
  /// NtFreeUserPhysicalPages (`count` becomes how many were freed).
  status allocate_user_physical_pages(std::uint64_t& count,
                                      pfn* frames) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return nt::allocate_user_physical_pages(core_, awe_, count, frames);
  }
  status map_user_physical_pages(vaddr va, std::uint64_t count,
                                 const pfn* frames) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return nt::map_user_physical_pages(core_, awe_, va, count, frames);
  }
  status free_user_physical_pages(std::uint64_t& count,
                                  const pfn* frames) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return nt::free_user_physical_pages(core_, awe_, count, frames);
  }
  /// User physical pages this space owns (mapped or not).
  std::uint64_t user_physical_pages() const noexcept {
    return read_own([&] { return awe_.pages; });
  }

  // --- the simulated CPU ----------------------------------------------------

  /// One simulated access to `va`, resolving a fault as MmAccessFault does
  /// (fault/dispatcher.hpp): success, access_violation,
  /// guard_page_violation (one-shot; the next access proceeds), no_memory.
  /// Device ranges answer invalid_device_request; an access violation
  /// goes to the fault hook first (fault callbacks block).
  status access(vaddr va, mmkit::access kind,
                cpu_mode mode = cpu_mode::user) noexcept {
    if (created_ != status::success) return created_;
    return with_fault_hook(va, kind, mode, [&](bool& crowded) -> status {
      locked_scope guard(*this, access_scope);
      if (core_.ptes.translator().host_pointer(va, kind, mode) != nullptr)
        return status::success;
      return resolve(va, kind, mode, crowded);
    });
  }

  /// Copies `n` bytes at `va` into `buffer` as user-mode reads would,
  /// faulting pages in (ReadProcessMemory). Returns: success; partial_copy
  /// with `bytes_done` when a page part-way faults; the fault's status when
  /// the first byte does (bytes_done 0).
  status read(vaddr va, void* buffer, std::size_t n,
              std::size_t& bytes_done) noexcept {
    return copy(va, static_cast<std::byte*>(buffer), n, bytes_done,
                mmkit::access::read);
  }
  /// Copies `n` bytes from `buffer` to `va` as user-mode writes would
  /// (WriteProcessMemory); statuses as read().
  status write(vaddr va, const void* buffer, std::size_t n,
               std::size_t& bytes_done) noexcept {
    return copy(va,
                const_cast<std::byte*>(static_cast<const std::byte*>(buffer)),
                n, bytes_done, mmkit::access::write);
  }

  /// The explained page walk of `va` (see paging/walker.hpp), without
  /// resolving faults.
  translation<Arch> translate(vaddr va,
                              mmkit::access kind = mmkit::access::read,
                              cpu_mode mode = cpu_mode::user) noexcept {
    if (created_ != status::success) return {};
    locked_scope guard(*this);
    return core_.ptes.translator().translate(va, kind, mode);
  }

  /// The working-set trim of the page at `va` (region/working_set.hpp):
  /// a valid private page's PTE becomes a transition PTE and its frame
  /// goes to the modified list; a view's shared page gets its prototype
  /// PTE back, and its frame goes to standby or modified once no view maps
  /// it. The next access is a soft fault, or a hard fault once the frame
  /// was repurposed. Returns: whether the page was in the working set and
  /// could leave it (AWE pages and a view's private copies stay).
  bool trim(vaddr va) noexcept {
    if (created_ != status::success) return false;
    locked_scope guard(*this);
    if (va.raw() > highest_user_address) return false;
    const vad* v = core_.vads.find_containing(va.page());
    return v != nullptr && region::trim_page(core_, *v, va.page());
  }
  /// The working-set manager's trim of this space: up to `pages` pages by
  /// the clock (accessed bits give a second chance), keeping at least
  /// `keep`. Returns: the pages trimmed.
  std::uint64_t trim_working_set(std::uint64_t pages,
                                 std::uint64_t keep = 0) noexcept {
    if (created_ != status::success) return 0;
    locked_scope guard(*this);
    return region::trim_working_set(core_, pages, keep);
  }
  /// Pages in the working set (valid PTEs).
  std::uint64_t working_set_size() const noexcept {
    return read_own([&] { return core_.working_set(); });
  }
  /// Effects: SetProcessWorkingSetSizeEx with a hard maximum: the system's
  /// balance step trims this space above `minimum` first, and a fault that
  /// takes the working set past `maximum` trims it back by the clock.
  /// Returns: invalid_parameter when minimum > maximum or maximum is 0.
  status set_working_set_limits(std::uint64_t minimum,
                                std::uint64_t maximum) noexcept {
    if (minimum > maximum || maximum == 0) return status::invalid_parameter;
    locked_scope guard(*this);
    this->working_set_minimum = minimum;
    core_.ws_maximum = maximum;
    if (core_.working_set() > maximum)
      region::trim_working_set(core_, core_.working_set() - maximum, maximum);
    return status::success;
  }

  // --- pool quota -----------------------------------------------------------

  /// Effects: this space may hold at most `q` VAD nodes and page-table
  /// pages (NT's pool quota); calls that would pass it fail with
  /// quota_exceeded and change nothing. The system's quota applies too.
  void set_quota(pool_quota q) noexcept {
    locked_scope guard(*this);
    core_.quota = q;
  }
  /// VAD nodes this space holds.
  std::uint64_t vad_nodes() const noexcept {
    return read_own([&] { return core_.node_count; });
  }

  // ==== fork (region/fork.hpp) ===========================================

  /// Effects: NT's fork (MiCloneProcessAddressSpace): `child`, an empty
  /// address space of this type on the same system, gets this space's
  /// reservations and views, and its private pages copy-on-write: both
  /// spaces map the same frames read-only until one of them writes a page,
  /// which then gets a copy of its own. Views mapped ViewShare are
  /// inherited, those mapped ViewUnmap are not, nor are AWE regions;
  /// write-watch regions are, with their state reset.
  /// The child is charged this space's commit.
  /// Returns: success; invalid_parameter (`child` is this space, was not
  /// created, is on another system or is not empty: a VAD, commit or
  /// frames); no_memory or in_page_error (a page of this space could not
  /// be brought in to be shared); quota_exceeded; commitment_limit;
  /// insufficient_resources (no VAD node or write-watch bitmap from the
  /// child's allocators, no frames for its page tables). On failure the
  /// child stays empty and this space as it was (but for pages brought in).
  /// A fork that failed for frames only because spaces in calls of their
  /// own hold them lets go of its locks and tries again, as allocate does
  /// (crowded_retries).
  status fork_into(address_space& child) noexcept {
    if (created_ != status::success) return created_;
    if (&child == this || child.created_ != status::success ||
        child.core_.sys != core_.sys)
      return status::invalid_parameter;
    for (unsigned tries = 0;; ++tries) {
      bool crowded = false;
      const status s = fork_once(child, crowded);
      if (!crowded || tries >= crowded_retries) return s;
      detail::back_off_for<lock_type>(tries);
    }
  }
  // ==== end of fork
  // ==== end of fork

  // --- observation ----------------------------------------------------------

  // Each figure is read under the space's lock (and frames_in_use under
  // every lock), so that a thread may watch them while others change the
  // space.

  /// Pages of commit charge this address space holds.
  std::uint64_t commit_charge() const noexcept {
    return read_own([&] { return core_.commit_charge; });
  }
  /// Frames holding this address space's pages (resident, or trimmed and
  /// still on a list).
  std::uint64_t frames_in_use() const noexcept {
    return read_locked([&] { return core_.frames_in_use; });
  }
  /// Frames this space holds ahead of its demand-zero faults, which no
  /// page has yet (phys/frame_cache.hpp; always 0 without threads).
  std::uint64_t cached_frames() const noexcept {
    return read_own([&] { return std::uint64_t{this->frames.size()}; });
  }
  /// Page-table pages, the root included.
  std::uint64_t table_pages_in_use() const noexcept {
    return read_own([&] { return core_.ptes.table().table_pages(); });
  }
  /// How faults were resolved so far (a copy).
  fault_counts faults() const noexcept {
    return read_own([&] { return core_.faults; });
  }
  /// The VAD tree, for inspection (a dump, a test). Not locked: no other
  /// thread may change the space while the caller reads it.
  const vad_tree<vad>& vads() const noexcept { return core_.vads; }
  /// The root table's physical address (CR3).
  paddr root() const noexcept { return core_.ptes.table().root(); }
  system_type& owner() noexcept { return *core_.sys; }
  /// The observer told of every PTE change.
  observer_type& observer() noexcept { return core_.ptes.observer().user; }

  /// Whether every invariant holds: the VAD tree's, the page table's, each
  /// VAD's commit charge against a recount of its committed pages, the
  /// address space's charge and resident frames against the VADs, the
  /// TLB's coherence with the page tables, and the system's PFN database.
  /// Complexity: O(VADs + pages under present tables + frames). For tests.
  bool check_invariants() noexcept {
    if (created_ != status::success) return true;
    locked_scope guard(*this);
    return region::check_space(core_, awe_) &&
           emu::check_callbacks(core_, callbacks_);
  }

  // ==== emulator support (emu/): host pointers, change events, dirty pages
  // Everything from here to "end of emulator support" belongs together.

  /// For emu/snapshot.hpp (and nothing else): f(core) under the locks, as
  /// one call that may change PTEs. The snapshot reads and rewrites the
  /// space through the region layer.
  template <class F>
  decltype(auto) emu_with_core(F&& f) noexcept {
    locked_scope guard(*this);
    return f(core_);
  }
  /// For emu/snapshot.hpp: the user physical pages this space owns
  /// (region/awe.hpp), read and changed only inside emu_with_core.
  awe_pages& emu_awe() noexcept { return awe_; }

  /// The host address of `va`'s byte for an access `acc` in `mode`, and how
  /// far it is good, resolving a fault as access() does (demand-zero,
  /// copy-on-write on a write, a trimmed page's soft fault). The pointer
  /// stays good until the page's valid PTE loses something (emu/host_page.hpp
  /// lists when); host_page::generation says which generation of the
  /// observer it belongs to.
  /// Returns: the page, or what access() would: access_violation,
  /// guard_page_violation (one-shot), no_memory.
  result<host_page> host_page_of(vaddr va, mmkit::access acc,
                                 cpu_mode mode = cpu_mode::user) noexcept {
    if (created_ != status::success) return created_;
    return with_fault_hook(
        va, acc, mode, [&](bool& crowded) -> result<host_page> {
          locked_scope guard(*this, access_scope);
          translator_type& x = core_.ptes.translator();
          std::byte* p = x.host_pointer(va, acc, mode);
          if (p == nullptr) [[unlikely]] {
            const status s = resolve(va, acc, mode, crowded);
            if (s != status::success) return s;
            p = x.host_pointer(va, acc, mode);
            if (p == nullptr) return status::access_violation;
          }
          return host_page{p, page_size - va.page_offset(), emu_generation()};
        });
  }

  /// The observer's count of changes that made cached pointers stale (see
  /// emu/changes.hpp); host_page::generation is this figure.
  std::uint64_t change_generation()
      const noexcept requires emu::CountsGenerations<observer_type> {
    return read_own([&] { return core_.ptes.observer().user.generation(); });
  }

  /// Effects: the dirty pages of [base, base + size) are tracked, even
  /// those that leave memory dirty (emu/dirty_pages.hpp). Returns:
  /// invalid_parameter, insufficient_resources (no watch allocator).
  status track_dirty(vaddr base, std::uint64_t size) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return emu::track_dirty(core_, base, size);
  }
  /// Effects: the range track_dirty(base, size) made is no longer tracked.
  status untrack_dirty(vaddr base, std::uint64_t size) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return emu::untrack_dirty(core_, base, size);
  }
  /// The pages of [base, base + size) written since their last reset (any
  /// range: a valid page's D bit, and a tracked page's record), at most
  /// `count` into `out`; `count` becomes how many. dirty_reset::yes resets
  /// those reported (D cleared through the PTE writer: cached write
  /// pointers of them go stale). Returns: invalid_parameter.
  status query_dirty(vaddr base, std::uint64_t size, vaddr* out,
                     std::uint64_t& count,
                     dirty_reset reset = dirty_reset::no) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return emu::query_dirty(core_, base, size, out, count, reset);
  }

 private:
  /// The end of every call that may change PTEs (and of the system's
  /// trims of this space): the observer's held-back events go out.
  void emu_end_of_call() noexcept {
    if constexpr (emu::FlushingObserver<observer_type>)
      core_.ptes.observer().user.flush();
  }
  void emu_teardown() noexcept {
    emu::release_dirty_records(core_);
    emu_end_of_call();
  }
  /// Copies `n` bytes between `va` and `buf` as user-mode accesses `kind`,
  /// stopping at the first page that faults. Returns: the bytes copied.
  /// Each page is checked through the TLB (A, and D on a write, set as the
  /// walker sets them); guest pages whose frames lie back to back on the
  /// host (a fresh allocation's usually do) go in one memcpy, which is what
  /// brings a bulk copy to memcpy's speed.
  std::size_t emu_copy_runs(vaddr va, std::byte* buf, std::size_t n,
                            mmkit::access kind) noexcept {
    translator_type& x = core_.ptes.translator();
    std::size_t done = 0;
    while (done < n) {
      std::byte* run = x.host_pointer(va + done, kind, cpu_mode::user);
      if (run == nullptr) return done;
      const auto room =
          static_cast<std::size_t>(page_size - (va + done).page_offset());
      std::size_t len = n - done < room ? n - done : room;
      while (done + len < n && x.host_pointer(va + done + len, kind,
                                              cpu_mode::user) == run + len) {
        const std::size_t left = n - done - len;
        len += left < page_size ? left : static_cast<std::size_t>(page_size);
      }
      if (kind == mmkit::access::write)
        __builtin_memcpy(run, buf + done, len);
      else
        __builtin_memcpy(buf + done, run, len);
      done += len;
    }
    return done;
  }
  std::uint64_t emu_generation() noexcept {
    if constexpr (emu::CountsGenerations<observer_type>)
      return core_.ptes.observer().user.generation();
    else
      return 0;
  }
  /// Tells a snapshot's journal that the VADs of [base, base + size)
  /// changed (see paging/page_listener.hpp).
  void emu_layout_changed(vaddr base, std::uint64_t size) noexcept {
    if (page_listener* j = core_.ptes.observer().journal) [[unlikely]]
      j->range_touched({base.page(), vaddr{base.raw() + size - 1}.page()});
  }
  // ==== end of emulator support

  // ==== fault callbacks (emu/fault_callbacks.hpp): device (MMIO) ranges, a
  // user pager, the fault hook. Everything from here to "end of fault
  // callbacks" belongs together (and the calls into it from free(),
  // access(), host_page_of(), copy(), resolve() and check_invariants()).
 public:
  /// Effects: a device range of the pages covering [base, base + size)
  /// (base 0: the system picks, 64 KiB aligned) with `protect`, whose
  /// reads and writes go to `dev`: read()/write() move its bytes through
  /// the device with the locks released; access() and host_page_of()
  /// answer invalid_device_request (no memory backs it: take the slow
  /// path); a refused access is an access_violation. Query shows it
  /// MEM_MAPPED, MEM_COMMIT; unmap_mmio removes it. `base` becomes its
  /// first byte. Requires: `dev`'s context outlives the range.
  /// Returns: invalid_parameter, invalid_page_protection,
  /// conflicting_addresses, no_memory, quota_exceeded,
  /// insufficient_resources (no VAD node, or the callback table is full).
  status map_mmio(vaddr& base, std::uint64_t size, std::uint32_t protect,
                  emu::mmio_device dev) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return emu::map_mmio(core_, callbacks_, base, size, protect, dev);
  }
  template <emu::MmioDevice D>
  status map_mmio(vaddr& base, std::uint64_t size, std::uint32_t protect,
                  D& dev) noexcept {
    return map_mmio(base, size, protect, emu::mmio_device::of(dev));
  }
  /// Effects: the device range holding `base` goes.
  /// Returns: not_mapped_view when no device range holds it.
  status unmap_mmio(vaddr base) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return emu::unmap_mmio(core_, callbacks_, base);
  }

  /// Effects: the demand-zero pages of [base, base + size) (in one private
  /// reservation) are filled by `s` on first touch, inside the fault with
  /// the locks held (`s` must not call into this space); a failure is the
  /// fault's status and leaves the page untouched. Decommitted or reset
  /// pages are supplied again; released ones no more.
  /// Returns: invalid_parameter, conflicting_addresses,
  /// insufficient_resources (the callback table is full).
  status set_page_supplier(vaddr base, std::uint64_t size,
                           emu::page_supplier s) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return emu::set_page_supplier(core_, callbacks_, base, size, s);
  }
  template <emu::PageSupplier S>
  status set_page_supplier(vaddr base, std::uint64_t size, S& s) noexcept {
    return set_page_supplier(base, size, emu::page_supplier::of(s));
  }
  /// Effects: the supplied range [base, base + size) is supplied no more.
  /// Returns: invalid_parameter when no supplied range is exactly that.
  status clear_page_supplier(vaddr base, std::uint64_t size) noexcept {
    if (created_ != status::success) return created_;
    locked_scope guard(*this);
    return emu::clear_page_supplier<core_type>(callbacks_, base, size);
  }

  /// Effects: `h` hears of every access violation access(), read(),
  /// write() and host_page_of() would return, with the locks released, and
  /// may fix the space and ask for a retry (at most emu::hook_retry_limit
  /// in a row at one address). A null on_fault removes the hook.
  void set_fault_hook(emu::fault_hook h) noexcept {
    locked_scope guard(*this);
    callbacks_.set_hook(h);
  }
  template <emu::FaultHook H>
  void set_fault_hook(H& h) noexcept {
    set_fault_hook(emu::fault_hook::of(h));
  }
  void clear_fault_hook() noexcept { set_fault_hook(emu::fault_hook{}); }

  /// For emu/snapshot.hpp: the reservation `r` went with a restore (made
  /// again or not): its pages are supplied no more.
  void emu_reservation_gone(vpn_range r) noexcept {
    locked_scope guard(*this);
    callbacks_.released(r);
  }

 private:
  static constexpr std::size_t callback_slots =
      emu::callback_slots_of<Config>::value;

  /// fork_into's one try; `crowded` says that it failed for frames that
  /// spaces in calls of their own hold (the child stayed empty).
  status fork_once(address_space& child, bool& crowded) noexcept {
    // Both spaces' locks, lower address first (two forks between the same
    // spaces cannot deadlock), then the section lock (views are mapped
    // again in the child) and the PFN lock.
    address_space& first = this < &child ? *this : child;
    address_space& second = this < &child ? child : *this;
    detail::lock_scope first_guard(first.lock_);
    detail::lock_scope second_guard(second.lock_);
    detail::lock_scope section_guard(core_.sys->section_lock());
    detail::lock_scope pfn_guard(core_.sys->pfn_lock());
    core_.sys->begin_call_locked();
    // Both are the caller's, but no reclaim inside the fork trims them:
    // the fork shares the parent's resident pages as it found them (NT
    // holds the parent's working-set lock throughout the clone). Their
    // frame caches may be drained (they hold no page).
    holds_pfn_lock = child.holds_pfn_lock = true;
    pinned = child.pinned = true;
    const status s = region::clone_space(core_, child.core_, core_.faults);
    crowded = (s == status::insufficient_resources || s == status::no_memory) &&
              core_.sys->crowded_locked();
    core_.publish_faults();
    emu_end_of_call();
    child.emu_end_of_call();
    pinned = child.pinned = false;
    holds_pfn_lock = child.holds_pfn_lock = false;
    return s;
  }

  /// Runs `attempt(crowded)` (which takes the locks itself) again while
  /// it raises an access violation the hook asks to retry, or fails for a
  /// frame only because other spaces were in calls of their own (resolve
  /// sets `crowded`; see crowded_retries).
  template <class Attempt>
  auto with_fault_hook(vaddr va, mmkit::access kind, cpu_mode mode,
                       Attempt&& attempt) noexcept {
    emu::retry_count tries;
    unsigned crowded_tries = 0;
    while (true) {
      bool crowded = false;
      auto r = attempt(crowded);
      if (crowded && crowded_tries < crowded_retries) {
        detail::back_off_for<lock_type>(crowded_tries++);
        continue;
      }
      if (emu::status_of(r) != status::access_violation ||
          !fault_hook_retries(va, kind, mode, tries))
        return r;
    }
  }
  /// Runs `call(b, sz, crowded)` on copies of the in/out `base` and
  /// `size` under the own-pages scope, and again while it fails and sets
  /// `crowded` (failed_crowded), up to crowded_retries times with the
  /// locks let go between tries. Such a failure changed nothing
  /// (allocate's and map_view's contract), so the caller sees one call:
  /// `base` and `size` change only as the last try's do.
  template <class Call>
  status retry_while_crowded(vaddr& base, std::uint64_t& size,
                             Call&& call) noexcept {
    for (unsigned tries = 0;; ++tries) {
      vaddr b = base;
      std::uint64_t sz = size;
      status s;
      bool crowded = false;
      {
        locked_scope guard(*this, own_pages_scope);
        s = call(b, sz, crowded);
      }
      if (crowded && tries < crowded_retries) {
        detail::back_off_for<lock_type>(tries);
        continue;
      }
      base = b;
      size = sz;
      return s;
    }
  }
  /// Requires: the call that returned `s` still holds what it took.
  /// Whether it failed with insufficient_resources only because the frames
  /// its page tables need are held by spaces in calls of their own, which
  /// the system's trims passed by (system::crowded_locked).
  bool failed_crowded(status s) const noexcept {
    return s == status::insufficient_resources && core_.holds_pfn_lock() &&
           core_.sys->crowded_locked();
  }
  /// Requires: the locks are not held. Whether the hook (called with them
  /// released) asks to retry an access that raised a violation at `va`.
  bool fault_hook_retries(vaddr va, mmkit::access kind, cpu_mode mode,
                          emu::retry_count& tries) noexcept {
    emu::fault_hook hook;
    emu::fault_event e{va, kind, mode, emu::fault_reason::unmapped};
    {
      locked_scope guard(*this);
      hook = callbacks_.hook();
      if (hook.on_fault == nullptr || !tries.allows(va.raw())) return false;
      e.reason = emu::reason_of(core_, va);
    }
    return hook.on_fault(hook.context, e) == emu::hook_action::retry;
  }
  /// copy()'s step past a fault at `at` (the locks released): a device's
  /// bytes, or the hook's retry. Returns: whether the copy goes on; else
  /// `s` is the fault's status.
  bool callbacks_copy_on(status& s, const emu::device_span& dev, vaddr at,
                         std::byte* buf, mmkit::access kind, std::size_t& done,
                         emu::retry_count& tries) noexcept {
    if (s == status::invalid_device_request) {
      if (dev.bytes == 0) return false;
      s = kind == mmkit::access::write
              ? dev.device.write(dev.device.context, dev.offset, buf, dev.bytes)
              : dev.device.read(dev.device.context, dev.offset, buf, dev.bytes);
      if (s != status::success) return false;
      done += dev.bytes;
      return true;
    }
    return s == status::access_violation &&
           fault_hook_retries(at, kind, cpu_mode::user, tries);
  }
  /// free()'s check: a MEM_RELEASE strictly inside a supplied range
  /// splits its entry, which needs a free slot.
  bool callbacks_can_free_locked(vaddr base, std::uint64_t size,
                                 std::uint32_t free_type) const noexcept {
    if (free_type != mem::release || size == 0 ||
        base.raw() > highest_user_address ||
        highest_user_address - base.raw() + 1 < size)
      return true;
    return callbacks_.can_release(
        {base.page(), vaddr{base.raw() + size - 1}.page()});
  }
  /// free()'s update once [base, base + size) was released.
  void callbacks_freed_locked(vaddr base, std::uint64_t size,
                              std::uint32_t free_type) noexcept {
    if (free_type == mem::release && size != 0)
      callbacks_.released({base.page(), vaddr{base.raw() + size - 1}.page()});
  }

  emu::fault_callbacks<callback_slots> callbacks_;
  // ==== end of fault callbacks

  /// locked_scope's tag for a guest access: the space's lock alone.
  struct access_scope_t {};
  static constexpr access_scope_t access_scope{};
  /// locked_scope's tag for a call that changes only what the space's lock
  /// covers unless it takes the PFN lock itself (allocate, free, map_view,
  /// unmap_view, protect).
  struct own_pages_scope_t {};
  static constexpr own_pages_scope_t own_pages_scope{};

  /// Holds the address space's lock, then the system's section lock and
  /// its PFN lock; or, for
  /// a guest access (access_scope), the space's lock alone, the PFN lock
  /// taken only for a fault's PFN work (space_core::take_pfn_lock). A call
  /// that may change PTEs (the non-const overload) ends with
  /// emu_end_of_call(), the locks still held.
  ///
  /// What each lock covers:
  /// - the space's lock: its VADs, page tables, TLB, working set, observer,
  ///   counters and frame cache (phys/frame_cache.hpp); every call of the
  ///   space holds it throughout.
  /// - the section lock: the section objects (section/section_ops.hpp):
  ///   held by map_view, unmap_view and every call of the full scope (the
  ///   destructor unmaps views, a fork maps them, a snapshot keeps
  ///   sections alive), and by a fault while it reads a section page;
  ///   taken after the space's lock and before the PFN lock.
  /// - the PFN lock: the system (PFN database, commit, page files, the
  ///   sections' prototype PTEs and stores) and, in every space, the transition
  ///   PTEs whose frames it may repurpose (pte_writer::rewrite_transition) and
  ///   the frame count. A call that changes the space holds it throughout,
  ///   but for protect and query, which take it only for views, AWE
  ///   regions and trimmed or fork-shared pages
  ///   (region::protect's and nt::query's on_shared): a private
  ///   page's valid, demand-zero or page-file PTE and its frame's PFN
  ///   entry are the space's alone; and for allocate, free, map_view and
  ///   unmap_view, which take it once their arguments are checked and the
  ///   range is found and, when the pages they commit, decommit, map or
  ///   unmap hold no frame (nor a page-file slot), do not hold it while
  ///   they write those PTEs: a commit or a new view makes its tables
  ///   first and gives it back (region::pfn_work_done_before_writes); a
  ///   decommit or release clears its PTEs first, keeping the tables it
  ///   empties, and takes the lock once, after, to free them and return
  ///   the charge (region::uncommit); an unmap gives it back for its
  ///   writes and takes it again (region::clear_without_pfn_lock).
  ///   A guest access reads its leaf entries with atomic loads
  ///   (paging/entry.hpp, load_entry) and takes the PFN lock on a fault:
  ///   for the whole fault, but for a private demand-zero page not at all
  ///   when its frame cache has a frame and its leaf table exists, and
  ///   otherwise only for the frame's allocation (and the cache's fill)
  ///   and the table (fault::handle_demand_zero); and a hard fault lets
  ///   it go while it reads its page: a private page's from the page file
  ///   (fault::handle_page_file), a section page's under the section lock
  ///   held shared, so that faults read separate pages at once
  ///   (fault::in_page_locks).
  /// While a call of this space holds the PFN lock, holds_pfn_lock says so:
  /// a reclaim inside the call may trim this space without its lock, and
  /// other spaces only through try_lock (system.hpp, trim_spaces_locked).
  class locked_scope {
   public:
    explicit locked_scope(const address_space& as) noexcept
        : as_(as), sections_(true) {
      as_.lock_.lock();
      as_.core_.sys->section_lock().lock();
      as_.core_.holds_section_lock = true;
      as_.core_.take_pfn_lock();
    }
    explicit locked_scope(address_space& as) noexcept
        : locked_scope(std::as_const(as)) {
      space_ = &as;
    }
    /// The space's lock only (a guest access).
    locked_scope(address_space& as, access_scope_t) noexcept
        : as_(as), space_(&as) {
      as_.lock_.lock();
      if constexpr (core_type::threaded) as.core_.pfn_lazy = true;
    }
    /// The space's lock only, for a call that may change PTEs and takes
    /// the PFN lock itself where it needs it (allocate, free, map_view,
    /// unmap_view, protect), and may
    /// give it back once its PFN work is done (space_core::pfn_work_done).
    /// Without threads the PFN lock is held as by every call.
    locked_scope(address_space& as, own_pages_scope_t) noexcept
        : as_(as), space_(&as) {
      as_.lock_.lock();
      if constexpr (!core_type::threaded)
        as_.core_.take_pfn_lock();
      else
        as.core_.pfn_lazy = true;
    }
    /// The space's lock only, for a call that changes nothing and takes
    /// the PFN lock itself where it needs it (query). Without threads the
    /// PFN lock is held as by every call.
    locked_scope(const address_space& as, access_scope_t) noexcept : as_(as) {
      as_.lock_.lock();
      if constexpr (!core_type::threaded) as_.core_.take_pfn_lock();
    }
    ~locked_scope() {
      if constexpr (emu::FlushingObserver<observer_type>)
        if (space_ != nullptr) space_->emu_end_of_call();
      const auto& core = as_.core_;
      if (core.holds_pfn_lock()) core.give_pfn_lock();
      if (sections_) {
        core.holds_section_lock = false;
        core.sys->section_lock().unlock();
      }
      if constexpr (core_type::threaded)
        if (space_ != nullptr) space_->core_.pfn_lazy = false;
      as_.lock_.unlock();
    }
    locked_scope(const locked_scope&) = delete;
    locked_scope& operator=(const locked_scope&) = delete;

   private:
    const address_space& as_;
    address_space* space_ = nullptr;
    bool sections_ = false;  // the full scope holds the section lock
  };
  /// The section lock, inside an own_pages_scope (map_view, unmap_view):
  /// taken after the space's lock and before any PFN lock the call takes.
  /// Requires: the call holds no PFN lock yet.
  class section_scope {
   public:
    explicit section_scope(address_space& as) noexcept : as_(as) {
      MMKIT_ASSERT(!core_type::threaded || !as_.core_.holds_pfn_lock());
      as_.core_.sys->section_lock().lock();
      as_.core_.holds_section_lock = true;
    }
    /// The PFN lock the call took goes first, so that the locks go in the
    /// reverse of their order.
    ~section_scope() {
      if (as_.core_.holds_pfn_lock()) as_.core_.give_pfn_lock();
      as_.core_.holds_section_lock = false;
      as_.core_.sys->section_lock().unlock();
    }
    section_scope(const section_scope&) = delete;
    section_scope& operator=(const section_scope&) = delete;

   private:
    address_space& as_;
  };
  /// f() under every lock: for figures other spaces' calls may change
  /// (frames_in_use: a repurpose lowers it under the PFN lock).
  template <class F>
  auto read_locked(F&& f) const noexcept {
    locked_scope guard(*this);
    return f();
  }
  /// f() under the space's lock alone: for figures only this space's own
  /// calls change (its commit charge, working set, nodes, tables, fault
  /// counts, AWE pages, change generation), so that watching them never
  /// waits for the PFN lock another space's call holds.
  template <class F>
  auto read_own(F&& f) const noexcept {
    locked_scope guard(*this, access_scope);
    return f();
  }

  status copy(vaddr va, std::byte* buf, std::size_t n, std::size_t& done,
              mmkit::access kind) noexcept {
    done = 0;
    if (created_ != status::success) return created_;
    emu::retry_count tries;
    unsigned crowded_tries = 0;
    while (true) {
      status s = status::success;
      emu::device_span dev{};
      bool crowded = false;
      {
        locked_scope guard(*this, access_scope);
        while (true) {
          // The copy goes up to the first byte that faults; the fault is
          // resolved and the copy goes on from there.
          done += emu_copy_runs(va + done, buf + done, n - done, kind);
          if (done == n) return status::success;
          s = resolve(va + done, kind, cpu_mode::user, crowded);
          if (s != status::success) break;
        }
        if (s == status::invalid_device_request)
          dev = emu::device_at(callbacks_, va + done, n - done);
      }
      if (crowded && crowded_tries < crowded_retries) {  // with_fault_hook
        detail::back_off_for<lock_type>(crowded_tries++);
        continue;
      }
      // A device's bytes and the fault hook, the locks released.
      if (!callbacks_copy_on(s, dev, va + done, buf + done, kind, done, tries))
        return done != 0 ? status::partial_copy : s;
    }
  }

  /// A fault the TLB and tables refused, resolved (fault/dispatcher.hpp)
  /// and counted here and in the system; a working set past its maximum is
  /// trimmed back, but for the page just brought in.
  /// `crowded` is set when it found no frame only because trims passed
  /// spaces by that were in calls of their own (system::crowded_locked).
  status resolve(vaddr va, mmkit::access kind, cpu_mode mode,
                 bool& crowded) noexcept {
    const status s =
        fault::dispatch(core_, core_.faults, va, kind, mode,
                        emu::supplied_fill<callback_slots>{&callbacks_});
    core_.publish_faults();  // only faults add to the counts (and fork)
    if (s == status::no_memory && core_.holds_pfn_lock() &&
        core_.sys->crowded_locked())
      crowded = true;
    if (core_.working_set() > core_.ws_maximum) {
      core_.take_pfn_lock();
      region::trim_working_set(core_, core_.working_set() - core_.ws_maximum,
                               core_.ws_maximum, va.page());
    }
    return s;
  }

  /// The system's call-back (space_link::trim_pages).
  static std::uint64_t trim_for_system(space_link& self, std::uint64_t pages,
                                       std::uint64_t keep) noexcept {
    auto& as = static_cast<address_space&>(self);
    const std::uint64_t trimmed =
        region::trim_working_set(as.core_, pages, keep);
    as.emu_end_of_call();  // outside this space's own calls
    return trimmed;
  }

  /// The system's call-back (space_link::repurpose): the frame that this
  /// space's transition PTE at `pte` names is taken away; the PTE becomes
  /// `original`. The VA comes from the PTE's address: its offset in the
  /// leaf table, then each table's back-link to the entry above it.
  /// It may run while this space's own thread is in a guest access,
  /// holding only the space's lock: it touches only the PTE word (see
  /// pte_writer::rewrite_transition) and the frame count, which that path
  /// changes only atomically (space_core::count_cached_frame).
  static void repurpose_pte(space_link& self, pfn, paddr pte,
                            std::uint64_t original) noexcept {
    auto& as = static_cast<address_space&>(self);
    as.core_.ptes.rewrite_transition(pte, static_cast<entry_type>(original));
    as.core_.count_repurposed_frame();
  }

  core_type core_;
  awe_pages awe_;
  typename system_type::frame_source_type tables_;
  status created_ = status::success;
  [[no_unique_address]] mutable lock_type lock_;
};

}  // namespace mmkit
