#pragma once
// The NT virtual-memory calls: NtAllocateVirtualMemory, NtFreeVirtualMemory,
// NtProtectVirtualMemory and NtQueryVirtualMemory. This layer owns the
// argument checks, their order (which status wins when several arguments
// are wrong), the in/out rounding of base and size, and the statuses; the
// changes themselves are region/private_memory.hpp's.
//
// The expected statuses of every case live in one table,
// tests/model/nt_case_table.hpp, replayed against this layer and against
// the reference model.

#include <mmkit/core/address.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/nt/types.hpp>
#include <mmkit/region/awe.hpp>
#include <mmkit/region/private_memory.hpp>
#include <mmkit/region/view.hpp>
#include <mmkit/region/write_watch.hpp>

#include <bit>
#include <cstdint>

namespace mmkit::nt {

/// ZeroBits: 0 (no limit), 1..21 high-order zero bits of a 32-bit address
/// (22..31 are invalid), or, on 64-bit archs, a mask (>= 32) of the highest
/// address; 32-bit archs refuse values >= 32. Returns: whether valid, and
/// the highest address allowed in `limit`.
template <class Arch>
constexpr bool zero_bits_limit(std::uint64_t zero_bits,
                               std::uint64_t& limit) noexcept {
  if (zero_bits == 0) {
    limit = Arch::highest_user_address;
    return true;
  }
  if (zero_bits <= 21) {
    limit = (std::uint64_t{1} << (32 - zero_bits)) - 1;
    return true;
  }
  if (zero_bits < 32 || sizeof(typename Arch::entry_type) == 4 ||
      Arch::va_bits <= 32)
    return false;
  // A mask may demand at most 53 zero bits (NT's x64 maximum, the
  // counterpart of 21 for a count).
  if (std::countl_zero(zero_bits) > 53) return false;
  limit = ~std::uint64_t{0} >> std::countl_zero(zero_bits);
  return true;
}

/// Whether private memory takes `prot` (copy-on-write needs a section).
constexpr bool valid_private_protection(mm_protection prot) noexcept {
  return prot.is_valid() && !prot.is_copy_on_write();
}

/// `p` with the caching attribute (NOCACHE, WRITECOMBINE) of the
/// reservation's protection `alloc` in place of its own: current Windows
/// keeps the allocation's for every page, so a commit or protect neither
/// drops it nor adds one. GUARD and NOACCESS stay as they are (a guard
/// page cannot carry a caching attribute in the 5-bit encoding).
constexpr mm_protection with_allocation_caching(mm_protection p,
                                                mm_protection alloc) noexcept {
  if (p.is_guard() || p.base() == 0) return p;
  const std::uint8_t m = alloc.modifiers();
  const bool caching =
      alloc.base() != 0 && (m == mm::nocache || m == mm::writecombine);
  return mm_protection{static_cast<std::uint8_t>(p.base() | (caching ? m : 0))};
}

/// The reservation holding all of `r`, or null.
template <class Core>
vad* reservation_of(Core& c, vpn_range r) noexcept {
  vad* v = c.vads.find_containing(r.first);
  return v != nullptr && r.last <= v->end() ? v : nullptr;
}

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
///   MEM_WRITE_WATCH  with MEM_RESERVE: the reservation records writes
///                 (get_write_watch / reset_write_watch)
///   MEM_PHYSICAL  with MEM_RESERVE (and optionally MEM_TOP_DOWN) only, and
///                 PAGE_READWRITE only: an AWE region (region/awe.hpp)
/// Statuses, in the order they are checked: invalid_parameter_3 (ZeroBits),
/// invalid_parameter_5 (allocation type), invalid_parameter_6
/// (MEM_PHYSICAL without PAGE_READWRITE), invalid_page_protection,
/// invalid_parameter_4 (size 0), invalid_parameter_2 (base beyond user
/// space), invalid_parameter_4 (range beyond user space),
/// conflicting_addresses, no_memory (no free range), commitment_limit,
/// insufficient_resources.
template <class Core>
status allocate(Core& c, vaddr& base, std::uint64_t& size,
                std::uint32_t allocation_type, std::uint32_t protect,
                std::uint64_t zero_bits) noexcept {
  using Arch = typename Core::arch_type;
  std::uint64_t limit = 0;
  if (!zero_bits_limit<Arch>(zero_bits, limit))
    return status::invalid_parameter_3;
  constexpr std::uint32_t known = mem::commit | mem::reserve | mem::reset |
                                  mem::top_down | mem::write_watch |
                                  mem::physical;
  if (allocation_type & ~known) return status::invalid_parameter_5;
  const bool reset = allocation_type & mem::reset;
  if (reset ? (allocation_type & ~mem::reset) != 0
            : (allocation_type & (mem::commit | mem::reserve)) == 0)
    return status::invalid_parameter_5;
  // Write watch is a property of a new reservation (Wine
  // test_write_watch: MEM_WRITE_WATCH alone is refused).
  const bool watch = allocation_type & mem::write_watch;
  if (watch && !(allocation_type & mem::reserve))
    return status::invalid_parameter_5;
  // AWE: "MEM_PHYSICAL must be used with MEM_RESERVE. MEM_TOP_DOWN is
  // optional. Anything else is invalid. This memory is always read-write
  // when allocated." (WRK allocvm.c, NtAllocateVirtualMemory): parameter 5
  // for the type, parameter 6 (not INVALID_PAGE_PROTECTION) for any
  // protection but PAGE_READWRITE, both before the protection is decoded.
  const bool physical = allocation_type & mem::physical;
  if (physical) {
    if (!(allocation_type & mem::reserve) ||
        (allocation_type & ~(mem::reserve | mem::top_down | mem::physical)))
      return status::invalid_parameter_5;
    if (protect != page::readwrite) return status::invalid_parameter_6;
  }
  const mm_protection prot = mm_protection::from_win32(protect);
  const std::uint64_t b = base.raw();
  // A copy-on-write protection is refused at once for a new reservation;
  // for a commit, once the range is found: a file view answers
  // STATUS_ALREADY_COMMITTED to every protection (Wine
  // test_CreateFileMapping_protection).
  if (!prot.is_valid()) return status::invalid_page_protection;
  if (!valid_private_protection(prot)) {
    const bool commit_only =
        !(allocation_type & mem::reserve) && !(b == 0 && !reset);
    const vad* at = commit_only && b <= Core::highest_user_address
                        ? c.vads.find_containing(vaddr{b}.page())
                        : nullptr;
    if (at == nullptr || at->private_memory() ||
        !as_view(*at).section->file_backed())
      return status::invalid_page_protection;
  }
  if (b != 0 &&
      (b < Core::lowest_user_address || b > Core::highest_user_address))
    return status::invalid_parameter_2;
  if (size == 0 || Core::highest_user_address - b + 1 < size)
    return status::invalid_parameter_4;

  // The checks read only the space's VADs; what follows charges commit and
  // takes nodes and frames under the PFN lock: region::reserve takes it
  // once it found the range, and with commit may let it go again before
  // its PTE writes, as region::commit may.
  if ((allocation_type & mem::reserve) || (b == 0 && !reset)) {
    const status s = region::reserve(
        c, base, size, allocation_type & mem::commit,
        (allocation_type & mem::top_down) ? region::placement::top_down
                                          : region::placement::bottom_up,
        prot, limit, watch);
    if (s == status::success && physical)
      region::mark_awe(*c.vads.find_containing(base.page()));
    return s;
  }
  c.take_pfn_lock();
  const vpn_range r{vaddr{b}.page(), vaddr{b + size - 1}.page()};
  vad* v = reservation_of(c, r);
  if (v == nullptr) return status::conflicting_addresses;
  // MEM_COMMIT (and MEM_RESET, which takes the same path) in an AWE region:
  // WRK allocvm.c refuses "FoundVad->u.VadFlags.UserPhysicalPages == 1"
  // with STATUS_CONFLICTING_ADDRESSES. A device range (emu/
  // fault_callbacks.hpp) has no pages to commit either.
  if (region::is_awe(*v) || region::is_device_memory(*v))
    return status::conflicting_addresses;
  const mm_protection want =
      with_allocation_caching(prot, mm_protection{v->protection()});
  status s = status::success;
  if (!v->private_memory()) {
    // A view: MEM_RESET is a hint the section's pages may ignore; MEM_COMMIT
    // commits a page-file section's pages, shared by every view. A file
    // section's pages are committed already (WRK allocvm.c:
    // STATUS_ALREADY_COMMITTED).
    if (!reset) {
      if (as_view(*v).section->file_backed()) return status::already_committed;
      if (!valid_private_protection(prot))
        return status::invalid_page_protection;
      s = region::commit_view(c, *v, r, want);
    }
  } else {
    if (!valid_private_protection(prot)) return status::invalid_page_protection;
    s = reset ? region::reset(c, *v, r) : region::commit(c, *v, r, want);
  }
  if (s != status::success) return s;
  base = r.first.address();
  size = r.count() << page_shift;
  return status::success;
}

/// NtFreeVirtualMemory(base, size, free_type) with MEM_DECOMMIT or
/// MEM_RELEASE. Size 0 means "the whole reservation" and needs the
/// allocation base (free_vm_not_at_base otherwise). A range must lie in
/// one reservation: memory_not_allocated when its first page is in none,
/// unable_to_free_vm when it runs past the reservation's end. A partial
/// MEM_RELEASE splits the reservation. A mapped view answers
/// unable_to_delete_section (NtUnmapViewOfSection unmaps it). Other
/// statuses: invalid_parameter_4 (free type), invalid_parameter_2 (base),
/// invalid_parameter_3 (size), insufficient_resources.
template <class Core>
status free(Core& c, vaddr& base, std::uint64_t& size,
            std::uint32_t free_type) noexcept {
  if (free_type != mem::decommit && free_type != mem::release)
    return status::invalid_parameter_4;
  const std::uint64_t b = base.raw();
  if (b > Core::highest_user_address) return status::invalid_parameter_2;
  if (Core::highest_user_address - b + 1 < size)
    return status::invalid_parameter_3;
  const vpn first = vaddr{b}.page();
  vad* v = c.vads.find_containing(first);
  if (v == nullptr) return status::memory_not_allocated;
  vpn_range r{};
  if (size == 0) {
    if (first != v->start()) return status::free_vm_not_at_base;
    r = v->range();
  } else {
    r = {first, vaddr{b + size - 1}.page()};
    if (r.last > v->end()) return status::unable_to_free_vm;
  }
  // A view goes with NtUnmapViewOfSection only (WRK freevm.c, once the
  // range is known to lie in it); a device range with unmap_mmio.
  if (!v->private_memory() || region::is_device_memory(*v))
    return status::unable_to_delete_section;
  if (region::is_awe(*v)) {
    // WRK freevm.c: "Pages from a physical VAD must be released via
    // NtFreeUserPhysicalPages" (MEM_DECOMMIT: STATUS_MEMORY_NOT_ALLOCATED);
    // "Splitting or chopping a physical VAD ... is not allowed"
    // (STATUS_FREE_VM_NOT_AT_BASE).
    if (free_type == mem::decommit) return status::memory_not_allocated;
    if (r != v->range()) return status::free_vm_not_at_base;
  }
  // The checks read only the space's VADs. region::release and decommit
  // take the PFN lock where they need it: a release of pages that hold no
  // frame clears their PTEs first and takes it once, after.
  const status s = free_type == mem::release ? region::release(c, *v, r)
                                             : region::decommit(c, *v, r);
  if (s != status::success) return s;
  base = r.first.address();
  // Current Windows reports size 0 back for a size-0 MEM_DECOMMIT (and
  // the region's size for a size-0 MEM_RELEASE).
  size = size == 0 && free_type == mem::decommit ? 0 : r.count() << page_shift;
  return status::success;
}

/// NtProtectVirtualMemory(base, size, new_protect, old_protect): every
/// page of the page-rounded range must be committed and in one
/// reservation. `old_protect` receives the first page's protection; once
/// the range has been looked up, a failure (conflicting_addresses,
/// not_committed) writes PAGE_NOACCESS there, as current Windows does. The
/// caching attribute stays the reservation's (with_allocation_caching).
/// Statuses: invalid_page_protection, invalid_parameter_2 (base),
/// invalid_parameter_3 (size), conflicting_addresses (not in one
/// reservation), not_committed, insufficient_resources.
/// Locking: `on_shared()` is called before anything changes when the call
/// changes state other spaces' calls change under the PFN lock: a view's
/// pages (its section's), a trimmed or fork-shared private page
/// (region::protect). The address space takes the PFN lock there; refused
/// calls and other private pages need only the space's lock.
template <class Core, class OnShared = region::no_shared_pages_hook>
status protect(Core& c, vaddr& base, std::uint64_t& size,
               std::uint32_t new_protect, std::uint32_t& old_protect,
               OnShared on_shared = {}) noexcept {
  const mm_protection prot = mm_protection::from_win32(new_protect);
  if (!prot.is_valid()) return status::invalid_page_protection;
  const std::uint64_t b = base.raw();
  if (b > Core::highest_user_address) return status::invalid_parameter_2;
  if (size == 0 || Core::highest_user_address - b + 1 < size)
    return status::invalid_parameter_3;
  const vpn_range r{vaddr{b}.page(), vaddr{b + size - 1}.page()};
  vad* v = reservation_of(c, r);
  // WRK protect.c refuses an AWE region ("These must always be
  // readwrite") with STATUS_CONFLICTING_ADDRESSES, whatever the protection;
  // a device range's protection is fixed at map_mmio too.
  if (v == nullptr || region::is_awe(*v) || region::is_device_memory(*v)) {
    old_protect = page::noaccess;
    return status::conflicting_addresses;
  }
  mm_protection old{};
  const mm_protection want =
      with_allocation_caching(prot, mm_protection{v->protection()});
  status s = status::success;
  if (!v->private_memory()) {
    on_shared();
    s = region::protect_view(c, *v, r, want, old);
  } else {
    // Copy-on-write needs a section: the reservation refuses it, after the
    // range itself has been found.
    if (!valid_private_protection(prot)) return status::invalid_page_protection;
    s = region::protect(c, *v, r, want, old, on_shared);
  }
  if (s == status::not_committed) old_protect = page::noaccess;
  if (s != status::success) return s;
  old_protect = old.to_win32();
  base = r.first.address();
  size = r.count() << page_shift;
  return status::success;
}

/// NtQueryVirtualMemory(address, MemoryBasicInformation): the run of
/// pages from `address`'s page onward that share state and protection,
/// inside one reservation; for free memory, the free range up to the next
/// reservation (or the end of user space).
/// Returns: invalid_parameter for an address beyond user space.
/// Locking: `on_shared()` is called before the pages are read when they are
/// a view's (its section's prototype PTEs and frames) or an AWE region's
/// (frames from an awe_pages set), which other spaces' calls change under
/// the PFN lock; the address space takes that lock there. Free memory
/// reads only the VAD tree, and a private region its own PTEs (atomically:
/// the PFN lock's holder may rewrite a transition PTE to a page-file one,
/// with the same protection) and the PFN entries of its own valid pages
/// (pfn_database::mapped_entry), which only its own calls change.
template <class Core, class OnShared = region::no_shared_pages_hook>
status query(Core& c, vaddr address, memory_basic_information& info,
             OnShared on_shared = {}) noexcept {
  if (address.raw() > Core::highest_user_address)
    return status::invalid_parameter;
  const vpn first = address.page();
  const vad* v = c.vads.find_containing(first);
  if (v == nullptr) {
    info = region::query_free(c, first);
    return status::success;
  }
  if (!v->private_memory() || region::is_awe(*v)) on_shared();
  info = region::query(c, *v, first);
  return status::success;
}

/// NtGetWriteWatch and NtResetWriteWatch: see region/write_watch.hpp.
template <class Core>
status get_write_watch(Core& c, std::uint32_t flags, vaddr base,
                       std::uint64_t size, vaddr* addresses,
                       std::uint64_t& count,
                       std::uint32_t& granularity) noexcept {
  return region::get_write_watch(c, flags, base, size, addresses, count,
                                 granularity);
}
template <class Core>
status reset_write_watch(Core& c, vaddr base, std::uint64_t size) noexcept {
  return region::reset_write_watch(c, base, size);
}

/// NtAllocateUserPhysicalPages, NtMapUserPhysicalPages and
/// NtFreeUserPhysicalPages: see region/awe.hpp.
template <class Core>
status allocate_user_physical_pages(Core& c, awe_pages& awe,
                                    std::uint64_t& count,
                                    pfn* frames) noexcept {
  return region::allocate_user_physical_pages(c, awe, count, frames);
}
template <class Core>
status map_user_physical_pages(Core& c, awe_pages& awe, vaddr va,
                               std::uint64_t count,
                               const pfn* frames) noexcept {
  return region::map_user_physical_pages(c, awe, va, count, frames);
}
template <class Core>
status free_user_physical_pages(Core& c, awe_pages& awe, std::uint64_t& count,
                                const pfn* frames) noexcept {
  return region::free_user_physical_pages(c, awe, count, frames);
}

}  // namespace mmkit::nt
