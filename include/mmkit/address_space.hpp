#pragma once
// address_space<Arch, Config>: one process's private virtual memory, with
// NtAllocateVirtualMemory, NtFreeVirtualMemory, NtProtectVirtualMemory and
// NtQueryVirtualMemory as Windows behaves, MmAccessFault's dispatch, and
// guest memory access through a software TLB.
//
// Composition:
//
//   address_space ─┬─ vad_tree<vad>   one VAD per reservation (O(log n)
//                  │                  lookup and free-range search)
//                  ├─ translator      hardware-format page table + TLB,
//                  │                  tables in frames of the system's
//                  │                  PFN database
//                  └─ system&         PFN database, commit charge, PFN lock
//
// Where a page's state lives (as in NT): the VAD says "reserved" for its
// whole range and, with mem_commit (MEM_RESERVE|MEM_COMMIT in one call),
// "committed with the VAD's protection" too. Each page's own PTE refines
// that:
//
//   PTE                          page state
//   0                            the VAD's default (see above)
//   demand-zero(prot)            committed with prot, never touched
//   demand-zero(mm_decommit)     decommitted (only in mem_commit VADs, where
//                                a zero PTE would mean "committed")
//   valid                        committed and resident; its protection is
//                                the original PTE kept in the frame's PFN
//                                entry (hardware bits cannot hold GUARD)
//   transition(prot, frame)      committed and resident, but NOACCESS or
//                                GUARD: the frame stays active while the
//                                PTE is not present
//
// So reserve+commit and release are O(log n) in the VADs plus O(pages
// touched), never O(pages reserved). Per-page protection is kept in the PTEs
// (VADs are never split by protect); only a partial MEM_RELEASE splits one.
//
// Every mutating call checks its arguments completely before it changes
// anything, so bad input returns its status and leaves the address space as
// it was. Page-table frames a call may need are counted up front against
// the PFN database's available frames (insufficient_resources when short).
//
// Locking: each call holds the address space's lock and then the system's
// PFN lock for its whole duration (Config::lock; no_lock by default).

#include <mmkit/core/lock_policy.hpp>
#include <mmkit/core/access.hpp>
#include <mmkit/nt/types.hpp>
#include <mmkit/region/vad_allocator.hpp>
#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/paging/translator.hpp>
#include <mmkit/system/system.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_tree.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace mmkit {

namespace detail {
/// The MM protection NT writes into a PTE whose page was decommitted inside
/// a VAD that is otherwise committed (a guard bit with no base protection:
/// never a protection a caller can ask for).
inline constexpr std::uint8_t mm_decommit = mm::guard_page;
}  // namespace detail

template <arch::PagingArch Arch, class Config,
          VadAllocator<vad> VadAlloc = typename Config::vad_allocator,
          TlbGeometry Geometry = direct_mapped_tlb>
class address_space {
 public:
  using system_type = system<Config>;
  using memory_type = typename system_type::memory_type;
  using database_type = typename system_type::database_type;
  using lock_type = typename Config::lock;
  using entry_type = typename Arch::entry_type;
  using translator_type =
      translator<Arch, memory_type, database_type, Geometry>;

  /// The lowest and highest user addresses and where kernel space starts.
  static constexpr std::uint64_t lowest_user_address =
      Arch::lowest_user_address;
  static constexpr std::uint64_t highest_user_address =
      Arch::highest_user_address;
  static constexpr std::uint64_t kernel_base = Arch::kernel_base;

  /// Effects: an empty address space on `sys` (its root page table is a
  /// frame of the system's PFN database). When no frame is left for the
  /// root table, creation_status() says status::no_memory and the address
  /// space must not be used.
  explicit address_space(system_type& sys) noexcept
      : sys_(&sys), vads_(vaddr{lowest_user_address}.page()) {
    detail::lock_scope guard(sys.pfn_lock());
    auto t = translator_type::create(sys.memory(), sys.pfns());
    if (!t) {
      created_ = t.error();
      return;
    }
    xlat_ = std::move(t).value();
  }

  address_space(const address_space&) = delete;
  address_space& operator=(const address_space&) = delete;

  /// success, or why the address space could not be created.
  status creation_status() const noexcept { return created_; }

  /// Effects: releases every reservation (frames, commit charge, page
  /// tables go back to the system).
  ~address_space() {
    if (created_ != status::success) return;
    detail::lock_scope guard(sys_->pfn_lock());
    while (!vads_.empty()) {
      vad& v = *vads_.begin();
      release_pages(v, v.range());
      vads_.erase(v);
      nodes_.deallocate(&v);
    }
  }

  // --- NtAllocateVirtualMemory ---------------------------------------------

  /// NtAllocateVirtualMemory(base, zero_bits, size, allocation_type,
  /// protect). `base` and `size` are in/out: on success they hold the
  /// rounded range; on failure they are unchanged.
  ///   MEM_RESERVE   base rounded down to 64 KiB, end rounded up to a page;
  ///                 base 0 lets the system choose (bottom-up, or top-down
  ///                 with MEM_TOP_DOWN, below the ZeroBits limit)
  ///   MEM_COMMIT    whole pages inside one reservation (base 0: reserve
  ///                 and commit); committing committed pages charges
  ///                 nothing more and sets their protection
  ///   MEM_RESET     the contents of committed pages may be discarded
  /// Statuses, in the order they are checked: invalid_parameter_3 (ZeroBits),
  /// invalid_parameter_5 (allocation type), invalid_page_protection,
  /// invalid_parameter_4 (size 0), invalid_parameter_2 (base beyond user
  /// space), invalid_parameter_4 (range beyond user space),
  /// conflicting_addresses, no_memory (no free range), commitment_limit,
  /// insufficient_resources.
  status allocate(vaddr& base, std::uint64_t& size,
                  std::uint32_t allocation_type, std::uint32_t protect,
                  std::uint64_t zero_bits = 0) noexcept {
    locked_scope guard(*this);
    std::uint64_t limit = 0;
    if (!zero_bits_limit(zero_bits, limit)) return status::invalid_parameter_3;
    constexpr std::uint32_t known =
        mem::commit | mem::reserve | mem::reset | mem::top_down;
    if (allocation_type & ~known) return status::invalid_parameter_5;
    const bool reset = allocation_type & mem::reset;
    if (reset ? (allocation_type & ~mem::reset) != 0
              : (allocation_type & (mem::commit | mem::reserve)) == 0)
      return status::invalid_parameter_5;
    const std::uint8_t mm_prot = mm_from_win32(protect);
    if (!valid_private_protection(mm_prot))
      return status::invalid_page_protection;
    const std::uint64_t b = base.raw();
    if (b != 0 && (b < lowest_user_address || b > highest_user_address))
      return status::invalid_parameter_2;
    if (size == 0 || highest_user_address - b + 1 < size)
      return status::invalid_parameter_4;

    if (reset) return reset_pages(base, size);
    if ((allocation_type & mem::reserve) || b == 0)
      return reserve(base, size, allocation_type, mm_prot, limit);
    return commit(base, size, mm_prot);
  }

  // --- NtFreeVirtualMemory -------------------------------------------------

  /// NtFreeVirtualMemory(base, size, free_type) with MEM_DECOMMIT or
  /// MEM_RELEASE. Size 0 means "the whole reservation" and needs the
  /// allocation base (free_vm_not_at_base otherwise). A range must lie in
  /// one reservation: memory_not_allocated when its first page is in none,
  /// unable_to_free_vm when it runs past the reservation's end. A partial
  /// MEM_RELEASE splits the reservation. Other statuses:
  /// invalid_parameter_4 (free type), invalid_parameter_2 (base),
  /// invalid_parameter_3 (size), insufficient_resources.
  status free(vaddr& base, std::uint64_t& size,
              std::uint32_t free_type) noexcept {
    locked_scope guard(*this);
    if (free_type != mem::decommit && free_type != mem::release)
      return status::invalid_parameter_4;
    const std::uint64_t b = base.raw();
    if (b > highest_user_address) return status::invalid_parameter_2;
    if (highest_user_address - b + 1 < size) return status::invalid_parameter_3;
    const vpn first = vaddr{b}.page();
    vad* v = vads_.find_containing(first);
    if (v == nullptr) return status::memory_not_allocated;
    vpn_range r{};
    if (size == 0) {
      if (first != v->start()) return status::free_vm_not_at_base;
      r = v->range();
    } else {
      r = {first, vaddr{b + size - 1}.page()};
      if (r.last > v->end()) return status::unable_to_free_vm;
    }
    const status s =
        free_type == mem::release ? release(*v, r) : decommit(*v, r);
    if (s != status::success) return s;
    base = r.first.address();
    // Current Windows reports size 0 back for a size-0 MEM_DECOMMIT (and
    // the region's size for a size-0 MEM_RELEASE).
    size =
        size == 0 && free_type == mem::decommit ? 0 : r.count() << page_shift;
    return status::success;
  }

  // --- NtProtectVirtualMemory ----------------------------------------------

  /// NtProtectVirtualMemory(base, size, new_protect, old_protect): every
  /// page of the page-rounded range must be committed and in one
  /// reservation. `old_protect` receives the first page's protection.
  /// Statuses: invalid_page_protection, invalid_parameter_2 (base),
  /// invalid_parameter_3 (size), conflicting_addresses (not in one
  /// reservation), not_committed, insufficient_resources.
  status protect(vaddr& base, std::uint64_t& size, std::uint32_t new_protect,
                 std::uint32_t& old_protect) noexcept {
    locked_scope guard(*this);
    const std::uint8_t mm_prot = mm_from_win32(new_protect);
    if (mm_prot == 0xFF) return status::invalid_page_protection;
    const std::uint64_t b = base.raw();
    if (b > highest_user_address) return status::invalid_parameter_2;
    if (size == 0 || highest_user_address - b + 1 < size)
      return status::invalid_parameter_3;
    const vpn first = vaddr{b}.page();
    const vpn_range r{first, vaddr{b + size - 1}.page()};
    vad* v = vads_.find_containing(first);
    if (v == nullptr || r.last > v->end()) return status::conflicting_addresses;
    // Copy-on-write needs a section: the reservation refuses it, after the
    // range itself has been found.
    if (!valid_private_protection(mm_prot))
      return status::invalid_page_protection;
    std::uint8_t first_prot = 0;
    bool all_committed = true;
    for_each_page(*v, r, [&](vpn p, page_view pv) {
      if (p == r.first) first_prot = pv.protection;
      all_committed = all_committed && pv.committed;
      return all_committed;
    });
    if (!all_committed) return status::not_committed;
    if (const status s = reserve_tables(r); s != status::success) return s;
    rewrite_pages(
        r, [&](vpn, entry_type old) { return reprotected(*v, old, mm_prot); });
    old_protect = win32_from_mm(first_prot);
    base = r.first.address();
    size = r.count() << page_shift;
    return status::success;
  }

  // --- NtQueryVirtualMemory ------------------------------------------------

  /// NtQueryVirtualMemory(address, MemoryBasicInformation): the run of
  /// pages from `address`'s page onward that share state and protection,
  /// inside one reservation; for free memory, the free range up to the next
  /// reservation (or the end of user space).
  /// Returns: invalid_parameter for an address beyond user space.
  status query(vaddr address, memory_basic_information& info) noexcept {
    locked_scope guard(*this);
    if (address.raw() > highest_user_address) return status::invalid_parameter;
    const vpn first = address.page();
    const vad* v = vads_.find_containing(first);
    if (v == nullptr) {
      const vad* next = vads_.first_at_or_after(first);
      const std::uint64_t end = next != nullptr ? next->start().address().raw()
                                                : highest_user_address + 1;
      info = {};
      info.base_address = first.address().raw();
      info.region_size = end - info.base_address;
      info.state = mem::free;
      info.protect = page::noaccess;
      return status::success;
    }
    page_view head{};
    std::uint64_t pages = 0;
    for_each_page(*v, {first, v->end()}, [&](vpn p, page_view pv) {
      if (p == first) head = pv;
      if (pv.committed != head.committed ||
          (pv.committed && pv.protection != head.protection))
        return false;
      ++pages;
      return true;
    });
    info.base_address = first.address().raw();
    info.allocation_base = v->start().address().raw();
    info.allocation_protect = win32_from_mm(v->protection());
    info.region_size = pages << page_shift;
    info.state = head.committed ? mem::commit : mem::reserve;
    info.protect = head.committed ? win32_from_mm(head.protection) : 0;
    info.type = mem::private_memory;
    return status::success;
  }

  // --- the fault dispatcher and guest access -------------------------------

  /// One simulated CPU access to `va`, resolving a fault as MmAccessFault
  /// does: demand-zero (a zeroed frame), a resident page made valid again
  /// (soft), guard page (one-shot guard_page_violation; the next access
  /// proceeds), or access_violation (free, reserved, NOACCESS, protection,
  /// NX, user access to kernel space). no_memory when no frame is left.
  status access(vaddr va, mmkit::access kind,
                cpu_mode mode = cpu_mode::user) noexcept {
    locked_scope guard(*this);
    if (xlat_.host_pointer(va, kind, mode) != nullptr)
      return status::success;
    return resolve_fault(va, kind, mode);
  }

  /// Copies `n` bytes at `va` into `buffer` as user-mode reads would,
  /// faulting pages in. Returns: success; partial_copy with `bytes_done`
  /// when a page part-way faults; the fault's status when the first byte
  /// does (bytes_done 0).
  status read(vaddr va, void* buffer, std::size_t n,
              std::size_t& bytes_done) noexcept {
    locked_scope guard(*this);
    return copy(va, static_cast<std::byte*>(buffer), n, bytes_done,
                mmkit::access::read);
  }

  /// Copies `n` bytes from `buffer` to `va` as user-mode writes would;
  /// statuses as read().
  status write(vaddr va, const void* buffer, std::size_t n,
               std::size_t& bytes_done) noexcept {
    locked_scope guard(*this);
    return copy(va,
                const_cast<std::byte*>(static_cast<const std::byte*>(buffer)),
                n, bytes_done, mmkit::access::write);
  }

  /// The explained page walk of `va` (see paging/walker.hpp), without
  /// resolving faults.
  translation<Arch> translate(vaddr va, mmkit::access kind = mmkit::access::read,
                              cpu_mode mode = cpu_mode::user) noexcept {
    locked_scope guard(*this);
    return xlat_.translate(va, kind, mode);
  }

  // --- observation ---------------------------------------------------------

  /// Pages of commit charge this address space holds.
  std::uint64_t commit_charge() const noexcept { return commit_charge_; }
  /// Frames holding this address space's private pages.
  std::uint64_t frames_in_use() const noexcept { return frames_in_use_; }
  /// Page-table pages, the root included.
  std::uint64_t table_pages_in_use() const noexcept {
    return xlat_.table().table_pages();
  }
  const fault_counts& faults() const noexcept { return faults_; }
  const vad_tree<vad>& vads() const noexcept { return vads_; }
  /// The root table's physical address (CR3).
  paddr root() const noexcept { return xlat_.table().root(); }
  system_type& owner() noexcept { return *sys_; }

  /// Whether every invariant holds: the VAD tree's, the page table's, each
  /// VAD's commit charge against a recount of its committed pages, the
  /// address space's charge and resident frames against the VADs, the
  /// TLB's coherence with the page tables, and the system's PFN database.
  /// Complexity: O(VADs + pages reserved + frames). For tests.
  bool check_invariants() noexcept {
    locked_scope guard(*this);
    if (!vads_.check_invariants() || !xlat_.table().check_invariants())
      return false;
    std::uint64_t charge = 0;
    std::uint64_t resident = 0;
    for (vad& v : vads_) {
      std::uint64_t committed = 0;
      for_each_page(v, v.range(), [&](vpn, page_view pv) {
        committed += pv.committed;
        resident += pv.resident;
        return true;
      });
      if (committed != v.commit_charge()) return false;
      charge += committed;
    }
    if (charge != commit_charge_ || resident != frames_in_use_) return false;
    return tlb_is_coherent() && sys_->pfns().check_invariants();
  }

 private:
  using sw = software_pte<entry_type>;
  using codec = entry_codec<Arch>;
  static constexpr std::uint64_t granularity_pages =
      allocation_granularity >> page_shift;
  static constexpr std::uint64_t leaf_table_pages =
      std::uint64_t{1} << Arch::level[0].index_bits;
  /// The frames this arch's entries can name lie below this bound (4 GiB
  /// for x86_32): every page and table of the address space comes from
  /// there, so that no entry is ever truncated into another frame.
  static constexpr pfn frame_end{
      arch::frame_phys_limit<Arch>() >> page_shift >= database_type::max_frames
          ? database_type::max_frames
          : arch::frame_phys_limit<Arch>() >> page_shift};

  /// Whether every cached translation is one a fresh walk (which sets no
  /// A/D bits) would give now: same frame, and no right the tables deny.
  bool tlb_is_coherent() const noexcept {
    bool ok = true;
    const memory_type& memory = sys_->memory();
    xlat_.tlb().debug_for_each([&](vaddr page, cpu_mode mode, bool writable,
                                   bool executable, std::byte* host) {
      const auto check = [&](mmkit::access acc) {
        const translation<Arch> t =
            walk<Arch>(memory, xlat_.table().root(), page, acc, mode);
        return t.ok() &&
               memory.read_frame(t.address.frame()) + t.address.page_offset() ==
                   host;
      };
      ok = ok && check(mmkit::access::read) &&
           (!writable || check(mmkit::access::write)) &&
           (!executable || check(mmkit::access::execute));
    });
    return ok;
  }

  /// Holds the address space's lock, then the system's PFN lock.
  class locked_scope {
   public:
    explicit locked_scope(address_space& as) noexcept
        : as_(as.lock_), pfn_(as.sys_->pfn_lock()) {}

   private:
    detail::lock_scope<lock_type> as_;
    detail::lock_scope<lock_type> pfn_;
  };

  /// What one page is, from its VAD and its PTE.
  struct page_view {
    bool committed = false;
    bool resident = false;        // a frame holds it (valid or transition PTE)
    bool valid = false;           // the PTE is present
    std::uint8_t protection = 0;  // MM protection when committed
    pfn frame{};
  };

  page_view view_of(const vad& v, entry_type e) const noexcept {
    page_view pv;
    if (e == 0) {
      if (v.has(vad_flags::mem_commit)) {
        pv.committed = true;
        pv.protection = v.protection();
      }
      return pv;
    }
    if (codec::is_present(e)) {
      pv.committed = pv.resident = pv.valid = true;
      pv.frame = codec::page_address(e, 0).frame();
      pv.protection = sw::protection(
          static_cast<entry_type>(sys_->pfns().entry(pv.frame).original_pte()));
      return pv;
    }
    const std::uint8_t prot = sw::protection(e);
    switch (sw::classify(e)) {
      case entry_kind::demand_zero:
        if (prot == detail::mm_decommit) return pv;
        pv.committed = true;
        pv.protection = prot;
        return pv;
      case entry_kind::transition:
        pv.committed = pv.resident = true;
        pv.protection = prot;
        pv.frame = sw::frame(e);
        return pv;
      default:
        MMKIT_ASSERT(false && "a private page holds an unexpected PTE");
        return pv;
    }
  }

  /// Calls f(vpn, page_view) for each page of `r` (inside `v`) in order
  /// until f returns false; f only reads. One walk per leaf table: the
  /// entries of a table's span lie side by side in it, and pages under a
  /// missing table are viewed as zero PTEs.
  template <class F>
  void for_each_page(const vad& v, vpn_range r, F&& f) noexcept {
    vpn p = r.first;
    while (p <= r.last) {
      const std::uint64_t span_end = leaf_span_last(p, r.last);
      const auto leaf = xlat_.table_unsynchronized().find_leaf(p.address());
      if (!leaf) {
        const page_view pv = view_of(v, 0);
        for (; p.raw() <= span_end; ++p)
          if (!f(p, pv)) return;
        continue;
      }
      for (const entry_type* e = leaf.entry; p.raw() <= span_end; ++p, ++e)
        if (!f(p, view_of(v, *e))) return;
    }
  }

  /// The last page of `p`'s leaf-table span that is not beyond `last`.
  static constexpr std::uint64_t leaf_span_last(vpn p, vpn last) noexcept {
    const std::uint64_t span_last = p.raw() | (leaf_table_pages - 1);
    return span_last < last.raw() ? span_last : last.raw();
  }

  static constexpr bool valid_private_protection(
      std::uint8_t mm_prot) noexcept {
    if (mm_prot == 0xFF) return false;
    // Copy-on-write is for views of sections; private memory refuses it.
    const std::uint8_t b = mm_prot & mm::base_mask;
    return b != mm::writecopy && b != mm::execute_writecopy;
  }

  /// ZeroBits: 0 (no limit), 1..21 high-order zero bits of a 32-bit address
  /// (22..31 are invalid), or, on 64-bit archs, a mask (>= 32) of the
  /// highest address; 32-bit archs refuse values >= 32.
  static constexpr bool zero_bits_limit(std::uint64_t zero_bits,
                                        std::uint64_t& limit) noexcept {
    if (zero_bits == 0) {
      limit = highest_user_address;
      return true;
    }
    if (zero_bits <= 21) {
      limit = (std::uint64_t{1} << (32 - zero_bits)) - 1;
      return true;
    }
    if (zero_bits < 32 || sizeof(entry_type) == 4 || Arch::va_bits <= 32)
      return false;
    // A mask may demand at most 53 zero bits (NT's x64 maximum, the
    // counterpart of 21 for a count).
    if (std::countl_zero(zero_bits) > 53) return false;
    limit = ~std::uint64_t{0} >> std::countl_zero(zero_bits);
    return true;
  }


  /// The hardware leaf entry for a resident page with protection `mm_prot`
  /// (which grants some access).
  static entry_type valid_entry(pfn frame, std::uint8_t mm_prot) noexcept {
    const access_rights r = rights_of(mm_prot);
    page_attr a = page_attr::user;
    if (r.write) a |= page_attr::write;
    // x86 cannot make a page executable but unreadable or readable but
    // not executable without NX; execute-only pages are readable.
    if (r.execute) a |= page_attr::execute;
    const std::uint8_t mods = mm_prot & mm::modifier_mask;
    if (mods == mm::nocache) a |= page_attr::cache_disable;
    // NT programs PAT entry 1 as write-combining: PWT=1 selects it.
    if (mods == mm::writecombine) a |= page_attr::write_through;
    return codec::leaf_entry(frame.address(), 0, a);
  }

  /// Whether a page with `mm_prot` may be mapped valid (NOACCESS and GUARD
  /// pages stay not present so that every access reaches the dispatcher).
  static constexpr bool mappable(std::uint8_t mm_prot) noexcept {
    return (mm_prot & mm::modifier_mask) != mm::guard_page &&
           rights_of(mm_prot) != access_rights{};
  }

  /// The PTE a committed, non-resident page with `mm_prot` holds in `v`.
  static entry_type absent_entry(const vad& v, std::uint8_t mm_prot) noexcept {
    return v.has(vad_flags::mem_commit) && mm_prot == v.protection()
               ? entry_type{0}
               : sw::demand_zero(mm_prot);
  }
  /// The PTE of an uncommitted page in `v`.
  static entry_type uncommitted_entry(const vad& v) noexcept {
    return v.has(vad_flags::mem_commit) ? sw::demand_zero(detail::mm_decommit)
                                        : entry_type{0};
  }

  entry_type pte_value(vpn p) noexcept {
    const auto leaf = xlat_.table_unsynchronized().find_leaf(p.address());
    return leaf ? *leaf.entry : entry_type{0};
  }

  /// Requires: the tables this write needs were counted by reserve_tables.
  void store(vpn p, entry_type value) noexcept {
    [[maybe_unused]] const auto r = xlat_.write_leaf(p.address(), value);
    MMKIT_ASSERT(r.ok());
  }

  /// Effects: none. Returns: insufficient_resources when writing non-zero
  /// entries over `r` might need more table frames than are available
  /// (each missing leaf table may need a table at every level but the
  /// root), so that the writes that follow cannot fail half-way.
  status reserve_tables(vpn_range r) noexcept {
    std::uint64_t missing = 0;
    vpn p = r.first;
    while (true) {
      if (!xlat_.table_unsynchronized().find_leaf(p.address())) ++missing;
      const std::uint64_t next = (p.raw() | (leaf_table_pages - 1)) + 1;
      if (next > r.last.raw() || next == 0) break;
      p = vpn{next};
    }
    if (sys_->pfns().available_below(frame_end) <
        missing * (Arch::levels - 1))
      return status::insufficient_resources;
    return status::success;
  }

  /// Gives back the frame of a resident page.
  void free_frame(pfn frame) noexcept {
    sys_->pfns().release(frame, release_to::free_list);
    --frames_in_use_;
  }

  /// The PTE a committed page of `v` holding `old` gets for protection
  /// `mm_prot`: a resident page stays resident (valid, or transition when
  /// the new protection grants nothing or is a guard page), and its PFN
  /// entry's original PTE follows.
  entry_type reprotected(const vad& v, entry_type old,
                         std::uint8_t mm_prot) noexcept {
    const page_view pv = view_of(v, old);
    MMKIT_ASSERT(pv.committed);
    if (!pv.resident) return absent_entry(v, mm_prot);
    sys_->pfns().set_pte_link(pv.frame, sys_->pfns().entry(pv.frame).link(),
                              sw::demand_zero(mm_prot));
    return mappable(mm_prot) ? valid_entry(pv.frame, mm_prot)
                             : sw::transition(mm_prot, pv.frame);
  }
  /// Effects: `p` (committed, in `v`) gets protection `mm_prot`.
  void set_protection(const vad& v, vpn p, std::uint8_t mm_prot) noexcept {
    store(p, reprotected(v, pte_value(p), mm_prot));
  }

  /// Rewrites the PTEs of `r` in order: g(vpn, old entry) returns the new
  /// one (doing whatever goes with it, such as freeing a frame), and the
  /// entries that change are written, each dropped from the TLB. One walk
  /// per leaf table, as for_each_page. Where a leaf table is missing,
  /// missing(first, last) may take its whole span at once and return true.
  /// Requires: the tables the non-zero writes need were counted by
  /// reserve_tables.
  template <class G, class M>
  void rewrite_pages(vpn_range r, G&& g, M&& missing) noexcept {
    auto& table = xlat_.table_unsynchronized();
    vpn p = r.first;
    while (p <= r.last) {
      const std::uint64_t span_end = leaf_span_last(p, r.last);
      auto leaf = table.find_leaf(p.address());
      if (!leaf && missing(p, vpn{span_end})) {
        if (span_end == ~std::uint64_t{0}) return;
        p = vpn{span_end + 1};
        continue;
      }
      for (; p.raw() <= span_end; ++p) {
        const entry_type old = leaf ? *leaf.entry : entry_type{0};
        const entry_type now = g(p, old);
        if (now != old) {
          if (!leaf) {
            auto made = table.ensure_leaf(p.address());
            MMKIT_ASSERT(made.ok());
            leaf = *made;
          }
          if (!xlat_.write_leaf(p.address(), leaf, now)) {
            leaf = {};  // the write emptied the table: the rest reads zero
            continue;
          }
        }
        if (leaf) ++leaf.entry;
      }
    }
  }
  template <class G>
  void rewrite_pages(vpn_range r, G&& g) noexcept {
    rewrite_pages(r, g, [](vpn, vpn) { return false; });
  }

  // --- allocate -------------------------------------------------------------

  status reserve(vaddr& base, std::uint64_t& size, std::uint32_t type,
                 std::uint8_t mm_prot, std::uint64_t limit) noexcept {
    const std::uint64_t b = base.raw();
    vad_tree<vad>::insert_commit_data where;
    if (b != 0) {
      const std::uint64_t start = align_down(b, allocation_granularity);
      const std::uint64_t end = *align_up(b + size, page_size);
      if (start < lowest_user_address) return status::conflicting_addresses;
      auto slot =
          vads_.insert_check({vaddr{start}.page(), vaddr{end - 1}.page()});
      if (!slot) return status::conflicting_addresses;
      where = *slot;
    } else {
      const std::uint64_t pages = *align_up(size, page_size) >> page_shift;
      const vpn_range window{
          vaddr{lowest_user_address}.page(),
          vaddr{limit < highest_user_address ? limit : highest_user_address}
              .page()};
      // The search answers with the insert position: no second descent.
      auto slot = vads_.find_free_slot(pages, window,
                                       (type & mem::top_down)
                                           ? search_direction::top_down
                                           : search_direction::bottom_up,
                                       granularity_pages);
      if (!slot) return status::no_memory;
      where = *slot;
    }
    const vpn_range r = where.range();
    const bool commit_now = type & mem::commit;
    if (commit_now) {
      if (!sys_->charge_commit_locked(r.count()))
        return status::commitment_limit;
    }
    vad* v = nodes_.allocate();
    if (v == nullptr) {
      if (commit_now) sys_->return_commit_locked(r.count());
      return status::insufficient_resources;
    }
    v->set_range(r);
    v->set_type(vad_type::private_memory);
    v->set_protection(mm_prot);
    v->set_flags(commit_now ? vad_flags::mem_commit : vad_flags::none);
    v->set_commit_charge(commit_now ? r.count() : 0);
    vads_.insert_commit(*v, where);
    if (commit_now) commit_charge_ += r.count();
    base = r.first.address();
    size = r.count() << page_shift;
    return status::success;
  }

  status commit(vaddr& base, std::uint64_t& size,
                std::uint8_t mm_prot) noexcept {
    const std::uint64_t b = base.raw();
    const vpn_range r{vaddr{b}.page(), vaddr{b + size - 1}.page()};
    vad* v = vads_.find_containing(r.first);
    if (v == nullptr || r.last > v->end()) return status::conflicting_addresses;
    std::uint64_t fresh = 0;
    for_each_page(*v, r, [&](vpn, page_view pv) {
      fresh += !pv.committed;
      return true;
    });
    if (const status s = reserve_tables(r); s != status::success) return s;
    if (!sys_->charge_commit_locked(fresh)) return status::commitment_limit;
    rewrite_pages(r, [&](vpn, entry_type old) {
      const page_view pv = view_of(*v, old);
      if (!pv.committed) return absent_entry(*v, mm_prot);
      return pv.protection != mm_prot ? reprotected(*v, old, mm_prot) : old;
    });
    v->set_commit_charge(v->commit_charge() + fresh);
    commit_charge_ += fresh;
    base = r.first.address();
    size = r.count() << page_shift;
    return status::success;
  }

  status reset_pages(vaddr& base, std::uint64_t& size) noexcept {
    const std::uint64_t b = base.raw();
    const vpn_range r{vaddr{b}.page(), vaddr{b + size - 1}.page()};
    vad* v = vads_.find_containing(r.first);
    if (v == nullptr || r.last > v->end()) return status::conflicting_addresses;
    // Discarding a resident page makes it a committed, untouched page of
    // the same protection: the PTE gets no larger, so no table is needed.
    rewrite_pages(r, [&](vpn, entry_type old) {
      const page_view pv = view_of(*v, old);
      if (!pv.resident) return old;
      free_frame(pv.frame);
      return entry_type{sw::demand_zero(pv.protection)};
    });
    base = r.first.address();
    size = r.count() << page_shift;
    return status::success;
  }

  // --- free -----------------------------------------------------------------

  /// Effects: every page of `r` (in `v`) becomes uncommitted: frames and
  /// commit charge go back; PTEs are cleared (tables freed as they empty)
  /// or, in a mem_commit VAD when `keep_marker`, marked decommitted.
  /// Returns: the pages that were committed.
  std::uint64_t uncommit(vad& v, vpn_range r, bool keep_marker) noexcept {
    std::uint64_t committed = 0;
    const entry_type after = keep_marker ? uncommitted_entry(v) : entry_type{0};
    rewrite_pages(
        r,
        [&](vpn, entry_type old) {
          const page_view pv = view_of(v, old);
          committed += pv.committed;
          if (pv.resident) free_frame(pv.frame);
          return after;
        },
        [&](vpn first, vpn last) {
          // Nothing under this leaf table: only the VAD's default applies,
          // and with nothing to write the span goes at once.
          if (after != 0) return false;
          if (v.has(vad_flags::mem_commit))
            committed += last.raw() - first.raw() + 1;
          return true;
        });
    sys_->return_commit_locked(committed);
    commit_charge_ -= committed;
    v.set_commit_charge(v.commit_charge() - committed);
    return committed;
  }

  void release_pages(vad& v, vpn_range r) noexcept { uncommit(v, r, false); }

  status decommit(vad& v, vpn_range r) noexcept {
    if (v.has(vad_flags::mem_commit)) {
      if (const status s = reserve_tables(r); s != status::success) return s;
    }
    uncommit(v, r, true);
    return status::success;
  }

  status release(vad& v, vpn_range r) noexcept {
    if (r == v.range()) {
      release_pages(v, r);
      vads_.erase(v);
      nodes_.deallocate(&v);
      return status::success;
    }
    // A partial release leaves one or two reservations. The middle case
    // needs a second node: get it before changing anything.
    vad* tail = nullptr;
    if (r.first > v.start() && r.last < v.end()) {
      tail = nodes_.allocate();
      if (tail == nullptr) return status::insufficient_resources;
    }
    release_pages(v, r);
    const vpn_range whole = v.range();
    // The reservation keeps its head (or its tail when the head goes): it
    // shrinks in place, so the tree does no rebalancing.
    const vpn_range kept = r.first == whole.first
                               ? vpn_range{r.last + 1, whole.last}
                               : vpn_range{whole.first, r.first - 1};
    std::uint64_t tail_committed = 0;
    if (tail != nullptr) {
      const vpn_range tail_range{r.last + 1, whole.last};
      tail->set_range(tail_range);
      tail->set_type(v.type());
      tail->set_protection(v.protection());
      tail->set_flags(v.flags());
      for_each_page(*tail, tail_range, [&](vpn, page_view pv) {
        tail_committed += pv.committed;
        return true;
      });
      tail->set_commit_charge(tail_committed);
    }
    [[maybe_unused]] const auto shrunk = vads_.resize(v, kept);
    MMKIT_ASSERT(shrunk.ok());
    if (tail != nullptr) {
      v.set_commit_charge(v.commit_charge() - tail_committed);
      [[maybe_unused]] const auto added = vads_.insert(*tail);
      MMKIT_ASSERT(added.ok());
    }
    return status::success;
  }

  // --- faults ---------------------------------------------------------------

  status violation() noexcept {
    ++faults_.access_violation;
    return status::access_violation;
  }

  status resolve_fault(vaddr va, mmkit::access kind, cpu_mode mode) noexcept {
    // Kernel space holds nothing of this address space; user mode may not
    // touch it at all.
    if (va.raw() > highest_user_address) return violation();
    const vpn p = va.page();
    vad* v = vads_.find_containing(p);
    if (v == nullptr) return violation();
    const page_view pv = view_of(*v, pte_value(p));
    if (!pv.committed) return violation();
    // The protection is checked before the guard bit: an access the page
    // would refuse anyway is an access violation and leaves the guard set.
    const access_rights r = rights_of(pv.protection);
    const bool allowed = kind == mmkit::access::read ? r.read || r.execute
                         : kind == mmkit::access::write
                             ? r.write
                             : r.execute || (!Arch::has_nx && r.read);
    if (!allowed) return violation();
    if (is_guard(pv.protection)) {
      // One-shot: the guard is lifted and reported; the access is retried
      // by the caller and then proceeds. Lifting it may need a PTE where a
      // committed VAD had none, so the table comes first.
      if (!xlat_.table_unsynchronized().ensure_leaf(p.address()))
        return status::no_memory;
      set_protection(
          *v, p, static_cast<std::uint8_t>(pv.protection & ~mm::guard_page));
      ++faults_.guard_page;
      return status::guard_page_violation;
    }
    if (pv.valid) {
      // The walk refused an access the protection allows: only a
      // supervisor-only or otherwise foreign entry would; treat as denied.
      return violation();
    }
    if (pv.resident) {
      ++faults_.soft;
      store(p, valid_entry(pv.frame, pv.protection));
    } else {
      // The frame first: a failed ensure_leaf leaves no table behind, and
      // the frame can simply go back.
      const bool had_zeroed = sys_->pfns().count(page_state::zeroed) != 0;
      auto frame = sys_->pfns().allocate(page_need::zeroed, 0, frame_end);
      if (!frame) return status::no_memory;
      const std::uint64_t tables_before = table_pages_in_use();
      auto leaf = xlat_.table_unsynchronized().ensure_leaf(p.address());
      if (!leaf) {
        sys_->pfns().release(*frame, release_to::free_list);
        return status::no_memory;
      }
      faults_.table_pages += table_pages_in_use() - tables_before;
      ++faults_.demand_zero;
      faults_.zeroed_on_the_spot += !had_zeroed;
      ++frames_in_use_;
      const auto* table_bytes =
          reinterpret_cast<const std::byte*>(sys_->memory().frame(leaf->table));
      const std::uint64_t offset = static_cast<std::uint64_t>(
          reinterpret_cast<const std::byte*>(leaf->entry) - table_bytes);
      sys_->pfns().set_pte_link(
          *frame, pte_link::hardware_pte(leaf->table.address() + offset),
          sw::demand_zero(pv.protection));
      xlat_.table_unsynchronized().write_leaf(
          p.address(), *leaf, valid_entry(*frame, pv.protection));
      xlat_.invalidate(p.address());
    }
    if (xlat_.host_pointer(va, kind, mode) == nullptr)
      return violation();
    return status::success;
  }

  status copy(vaddr va, std::byte* buf, std::size_t n, std::size_t& done,
              mmkit::access kind) noexcept {
    done = 0;
    const mmkit::access acc = kind;
    while (done < n) {
      const vaddr at = va + done;
      std::byte* host = xlat_.host_pointer(at, acc, cpu_mode::user);
      if (host == nullptr) {
        const status s = resolve_fault(at, kind, cpu_mode::user);
        if (s != status::success) return done != 0 ? status::partial_copy : s;
        host = xlat_.host_pointer(at, acc, cpu_mode::user);
        MMKIT_ASSERT(host != nullptr);
      }
      const std::size_t in_page =
          static_cast<std::size_t>(page_size - at.page_offset());
      const std::size_t chunk = n - done < in_page ? n - done : in_page;
      if (kind == mmkit::access::write)
        std::memcpy(host, buf + done, chunk);
      else
        std::memcpy(buf + done, host, chunk);
      done += chunk;
    }
    return status::success;
  }

  system_type* sys_ = nullptr;
  status created_ = status::success;
  translator_type xlat_;
  vad_tree<vad> vads_;
  VadAlloc nodes_;
  std::uint64_t commit_charge_ = 0;
  std::uint64_t frames_in_use_ = 0;
  fault_counts faults_;
  [[no_unique_address]] lock_type lock_;
};

}  // namespace mmkit
