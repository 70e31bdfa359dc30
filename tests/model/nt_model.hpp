#pragma once
// nt_model: a reference model of the NT private-memory calls
// (NtAllocateVirtualMemory, NtFreeVirtualMemory, NtProtectVirtualMemory,
// NtQueryVirtualMemory(MemoryBasicInformation)) and of a CPU access to the
// resulting address space, written to be obviously right rather than fast.
//
// It shares no code with mmkit on purpose (not even mmkit/core): it is the
// independent second opinion that mmkit::address_space is compared with by
// the case table (nt_case_table.hpp) and the differential driver
// (differential.hpp). It includes only std headers and spells out its own
// constants, whose values are Windows' own.
//
// Representation (every rule below reads directly off these two maps):
//
//   allocs_    : first vpn -> { end vpn (exclusive), allocation protect }
//                one entry per allocation (a VAD); entries never overlap.
//   committed_ : vpn -> { protect (Win32 PAGE_*), contents unknown?, bytes }
//                one entry per committed page; every key lies inside an
//                allocation. A page inside an allocation but absent here is
//                reserved. Bytes are materialised on the first write
//                (absent = all zero).
//
//   commit charge == committed_.size() <= commit limit (pages).
//
// Each rule cites where Windows' behaviour was observed: the conformance
// tests of Wine (dlls/ntdll/tests/virtual.c, dlls/kernel32/tests/virtual.c)
// and ReactOS (modules/rostests/apitests/ntdll/NtAllocateVirtualMemory.c,
// NtFreeVirtualMemory.c, NtProtectVirtualMemory.c), which assert what real
// Windows returns. Where they are silent the comment says "reasoned" and
// explains the choice.
//
// Complexity: allocate with a NULL base is O(number of allocations); every
// other call is O(log n + pages touched). Good enough for 10^5 operations
// per second in the differential driver.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace mmkit_model {

/// NTSTATUS values the private-memory calls return (same numbers as
/// mmkit::status, spelled again here so the model stays independent).
enum class nt_status : std::uint32_t {
  success = 0x00000000,
  guard_page_violation = 0x80000001,
  partial_copy = 0x8000000D,
  access_violation = 0xC0000005,
  invalid_parameter = 0xC000000D,
  no_memory = 0xC0000017,
  conflicting_addresses = 0xC0000018,
  unable_to_free_vm = 0xC000001A,
  already_committed = 0xC0000021,
  not_committed = 0xC000002D,
  invalid_page_protection = 0xC0000045,
  free_vm_not_at_base = 0xC000009F,
  memory_not_allocated = 0xC00000A0,
  invalid_parameter_2 = 0xC00000F0,
  invalid_parameter_3 = 0xC00000F1,
  invalid_parameter_4 = 0xC00000F2,
  invalid_parameter_5 = 0xC00000F3,
  invalid_parameter_6 = 0xC00000F4,
  commitment_limit = 0xC000012D,
  invalid_address = 0xC0000141,
};

/// The STATUS_* spelling of a status, for failure messages.
inline const char* status_name(nt_status s) {
  switch (s) {
    case nt_status::success: return "STATUS_SUCCESS";
    case nt_status::guard_page_violation: return "STATUS_GUARD_PAGE_VIOLATION";
    case nt_status::partial_copy: return "STATUS_PARTIAL_COPY";
    case nt_status::access_violation: return "STATUS_ACCESS_VIOLATION";
    case nt_status::invalid_parameter: return "STATUS_INVALID_PARAMETER";
    case nt_status::no_memory: return "STATUS_NO_MEMORY";
    case nt_status::conflicting_addresses:
      return "STATUS_CONFLICTING_ADDRESSES";
    case nt_status::unable_to_free_vm: return "STATUS_UNABLE_TO_FREE_VM";
    case nt_status::already_committed: return "STATUS_ALREADY_COMMITTED";
    case nt_status::not_committed: return "STATUS_NOT_COMMITTED";
    case nt_status::invalid_page_protection:
      return "STATUS_INVALID_PAGE_PROTECTION";
    case nt_status::free_vm_not_at_base: return "STATUS_FREE_VM_NOT_AT_BASE";
    case nt_status::memory_not_allocated: return "STATUS_MEMORY_NOT_ALLOCATED";
    case nt_status::invalid_parameter_2: return "STATUS_INVALID_PARAMETER_2";
    case nt_status::invalid_parameter_3: return "STATUS_INVALID_PARAMETER_3";
    case nt_status::invalid_parameter_4: return "STATUS_INVALID_PARAMETER_4";
    case nt_status::invalid_parameter_5: return "STATUS_INVALID_PARAMETER_5";
    case nt_status::invalid_parameter_6: return "STATUS_INVALID_PARAMETER_6";
    case nt_status::commitment_limit: return "STATUS_COMMITMENT_LIMIT";
    case nt_status::invalid_address: return "STATUS_INVALID_ADDRESS";
  }
  return "STATUS_<other>";
}

namespace mem {  // MEM_* (winnt.h values)
inline constexpr std::uint32_t commit = 0x1000, reserve = 0x2000,
                               decommit = 0x4000, release = 0x8000,
                               free = 0x10000, private_memory = 0x20000,
                               mapped = 0x40000, reset = 0x80000,
                               top_down = 0x100000, write_watch = 0x200000,
                               physical = 0x400000, rotate = 0x800000,
                               reset_undo = 0x1000000, image = 0x1000000,
                               large_pages = 0x20000000;
}  // namespace mem

namespace page {  // PAGE_* (winnt.h values)
inline constexpr std::uint32_t noaccess = 0x01, readonly = 0x02,
                               readwrite = 0x04, writecopy = 0x08,
                               execute = 0x10, execute_read = 0x20,
                               execute_readwrite = 0x40,
                               execute_writecopy = 0x80, guard = 0x100,
                               nocache = 0x200, writecombine = 0x400;
}  // namespace page

/// MEMORY_BASIC_INFORMATION, field for field.
struct memory_basic_information {
  std::uint64_t base_address = 0;
  std::uint64_t allocation_base = 0;
  std::uint32_t allocation_protect = 0;
  std::uint64_t region_size = 0;
  std::uint32_t state = 0;
  std::uint32_t protect = 0;
  std::uint32_t type = 0;
  friend bool operator==(const memory_basic_information&,
                         const memory_basic_information&) = default;
};

/// "{base 0x... alloc_base 0x... ...}": how reports and failure messages
/// print a MEMORY_BASIC_INFORMATION.
inline std::string to_text(const memory_basic_information& m) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "{base 0x%llx alloc_base 0x%llx alloc_prot 0x%x size 0x%llx "
                "state 0x%x prot 0x%x type 0x%x}",
                static_cast<unsigned long long>(m.base_address),
                static_cast<unsigned long long>(m.allocation_base),
                m.allocation_protect,
                static_cast<unsigned long long>(m.region_size), m.state,
                m.protect, m.type);
  return buf;
}

/// Same enumerator values as mmkit::access_kind / mmkit::access_mode.
enum class access_kind : std::uint8_t { read, write, execute };
enum class access_mode : std::uint8_t { user, kernel };

/// The NT layout of one architecture's user address space.
struct nt_layout {
  const char* name = "";
  std::uint64_t lowest = 0x10000;    // MM_LOWEST_USER_ADDRESS
  std::uint64_t highest = 0;         // MM_HIGHEST_USER_ADDRESS (inclusive)
  std::uint64_t kernel_start = 0;    // first system address
  bool nx = true;                    // false: execute allowed where read is
  bool zero_bits_mask_form = false;  // 64-bit: ZeroBits >= 32 is a mask

  static constexpr nt_layout x86_32() {
    return {"x86_32", 0x10000, 0x7FFEFFFF, 0x80000000, false, false};
  }
  static constexpr nt_layout x86_pae() {
    return {"x86_pae", 0x10000, 0x7FFEFFFF, 0x80000000, true, false};
  }
  static constexpr nt_layout x86_64() {
    return {"x86_64", 0x10000, 0x7FFFFFFEFFFF, 0xFFFF800000000000, true, true};
  }
  /// Five-level paging: 57-bit canonical addresses; user space is the lower
  /// half (2^56 bytes) less the top 64 KiB that NT keeps free as on the
  /// other archs, kernel space starts at the upper half. `highest` is a
  /// parameter because the exact value is a policy of the system, not of
  /// the paging format.
  static constexpr nt_layout x86_la57(
      std::uint64_t highest = 0x00FFFFFFFFFEFFFF) {
    return {"x86_la57", 0x10000, highest, 0xFF00000000000000, true, true};
  }
};

/// Deliberate defects for testing the differential driver itself; a real
/// model is `basic_nt_model<model_bug::none>` (alias `nt_model`).
enum class model_bug : std::uint8_t {
  none,
  recommit_zeroes,        // MEM_COMMIT over committed pages loses data
  decommit_keeps_charge,  // decommit forgets to return the commit charge
};

template <model_bug Bug = model_bug::none>
class basic_nt_model {
 public:
  static constexpr std::uint64_t page_size = 0x1000;
  static constexpr std::uint64_t granularity = 0x10000;

  struct allocation {
    std::uint64_t end_vpn;  // exclusive
    std::uint32_t protect;  // AllocationProtect
    bool awe = false;       // MEM_PHYSICAL: pages come only from AWE calls
  };
  struct page_state {
    std::uint32_t protect = 0;
    bool unknown = false;  // MEM_RESET: contents undefined until rewritten
    std::unique_ptr<std::array<std::uint8_t, page_size>> bytes;
  };

  /// Requires: layout.highest + 1 is a multiple of 64 KiB.
  basic_nt_model(nt_layout layout, std::uint64_t commit_limit_pages)
      : layout_(layout), limit_(commit_limit_pages) {}

  const nt_layout& layout() const { return layout_; }

  // ---- NtAllocateVirtualMemory -------------------------------------------
  /// base and size are in/out; on failure they are unchanged.
  nt_status allocate(std::uint64_t& base_io, std::uint64_t& size_io,
                     std::uint32_t type, std::uint32_t protect,
                     std::uint64_t zero_bits = 0) {
    // Error precedence: ZeroBits (parameter 3), AllocationType (5),
    // Protect, BaseAddress (2), RegionSize (4). A Windows XP conformance
    // test of the raw system call (ring3k's tests/virtual.c, run on real
    // Windows) shows type 0 -> INVALID_PARAMETER_5 before Protect 0 ->
    // INVALID_PAGE_PROTECTION, and both before the pointers are touched;
    // ZeroBits first is reasoned from the parameter order.
    std::uint64_t limit = layout_.highest;
    if (zero_bits != 0) {
      const auto zb_limit = zero_bits_limit(zero_bits);
      if (!zb_limit) return nt_status::invalid_parameter_3;
      limit = std::min(limit, *zb_limit);
    }

    constexpr std::uint32_t known =
        mem::commit | mem::reserve | mem::reset | mem::top_down |
        mem::write_watch | mem::physical | mem::large_pages | mem::reset_undo;
    // Unknown bits (Wine ntdll test_NtAllocateVirtualMemory: AT_ROUND_TO_PAGE
    // -> INVALID_PARAMETER_5; ring3k: 0x10000000 and MEM_FREE -> _5).
    if (type & ~known) return nt_status::invalid_parameter_5;
    if ((type & (mem::commit | mem::reserve | mem::reset)) == 0)
      return nt_status::invalid_parameter_5;
    // Large pages and MEM_RESET_UNDO are outside this model (and outside
    // mmkit's private memory for now): refused as an AllocationType the
    // space cannot honour.
    if (type & (mem::large_pages | mem::reset_undo))
      return nt_status::invalid_parameter_5;
    // Write watch marks a new reservation (Wine kernel32 test_write_watch:
    // MEM_WRITE_WATCH alone is refused, with MEM_RESERVE accepted with or
    // without MEM_COMMIT); what it records is outside this model.
    if ((type & mem::write_watch) && !(type & mem::reserve))
      return nt_status::invalid_parameter_5;
    // MEM_RESET "cannot be used with any other value" (VirtualAlloc
    // documentation); reasoned to be refused as parameter 5 like every other
    // AllocationType combination.
    if ((type & mem::reset) && type != mem::reset)
      return nt_status::invalid_parameter_5;
    // AWE: "MEM_PHYSICAL must be used with MEM_RESERVE. MEM_TOP_DOWN is
    // optional. Anything else is invalid." and "This memory is always
    // read-write": parameter 5, then parameter 6 for any protection but
    // PAGE_READWRITE, before the protection is decoded (WRK allocvm.c,
    // NtAllocateVirtualMemory; ReactOS ARM3 virtual.c has the same checks).
    // The region is reserved only; its pages appear only when the AWE calls
    // map frames, which this model does not follow.
    const bool physical = (type & mem::physical) != 0;
    if (physical) {
      if (!(type & mem::reserve) ||
          (type & ~(mem::reserve | mem::top_down | mem::physical)))
        return nt_status::invalid_parameter_5;
      if (protect != page::readwrite) return nt_status::invalid_parameter_6;
    }

    // Protect is validated even for MEM_RESET, where it is otherwise ignored
    // (the documentation requires "a valid protection value"; Wine kernel32
    // test_VirtualAlloc passes PAGE_NOACCESS). Private memory cannot be
    // copy-on-write (reasoned: there is no section to copy from; NT refuses
    // PAGE_WRITECOPY for private allocations with INVALID_PAGE_PROTECTION).
    if (!valid_protect(protect) || copy_on_write(protect))
      return nt_status::invalid_page_protection;

    const std::uint64_t base = base_io;
    const std::uint64_t size = size_io;
    // ReactOS NtAllocateVirtualMemory.c: reserving at 0xF000 (below the
    // lowest user address) -> INVALID_PARAMETER_2. Beyond user space: _2
    // as well (reasoned, same check against the other bound).
    if (base > layout_.highest) return nt_status::invalid_parameter_2;
    if (base != 0 && base < layout_.lowest)
      return nt_status::invalid_parameter_2;
    // Wine kernel32 test_VirtualAlloc: size 0 fails with
    // ERROR_INVALID_PARAMETER; ring3k: size 0xFFFFFFFF -> INVALID_PARAMETER_4.
    if (size == 0) return nt_status::invalid_parameter_4;
    if (layout_.highest + 1 - base < size)
      return nt_status::invalid_parameter_4;

    if (type == mem::reset) return reset(base, size, base_io, size_io);

    if ((type & mem::reserve) || base == 0) {
      // A NULL base reserves even for MEM_COMMIT alone (ReactOS
      // NtProtectVirtualMemory.c TestFreeNoAccess commits 16 pages with a
      // NULL base and MEM_COMMIT only).
      std::uint64_t start = 0;
      std::uint64_t end = 0;
      if (base != 0) {
        // Reserve: base rounded down to 64 KiB, end rounded up to a page
        // (ReactOS NtAllocateVirtualMemory.c CheckAlignment: 0x50001010 +
        // 0xC000 -> 0x50000000, 0xE000). ZeroBits does not apply to an
        // explicit base (Wine ntdll test_NtAllocateVirtualMemory: "it should
        // conflict, even when zero_bits is explicitly set").
        start = base & ~(granularity - 1);
        end = page_up(base + size);
        if (overlaps(start >> 12, end >> 12))
          return nt_status::conflicting_addresses;
      } else {
        const std::uint64_t length = page_up(size);
        const auto found = (type & mem::top_down)
                               ? find_top_down(length, limit)
                               : find_bottom_up(length, limit);
        if (!found) return nt_status::no_memory;
        start = *found;
        end = start + length;
      }
      const std::uint64_t pages = (end - start) >> 12;
      if ((type & mem::commit) && charge_ + pages > limit_)
        return nt_status::commitment_limit;
      allocs_.emplace(start >> 12, allocation{end >> 12, protect, physical});
      if (type & mem::commit) {
        for (std::uint64_t v = start >> 12; v < end >> 12; ++v) {
          committed_[v].protect = protect;
        }
        charge_ += pages;
      }
      base_io = start;
      size_io = end - start;
      return nt_status::success;
    }

    // MEM_COMMIT inside an existing reservation: whole pages, one
    // allocation (ReactOS CheckAlignment: commit past the reservation's
    // end -> CONFLICTING_ADDRESSES; CheckAdjacentVADs: a commit covering two
    // allocations -> CONFLICTING_ADDRESSES).
    const std::uint64_t start = page_down(base);
    const std::uint64_t end = page_up(base + size);
    const auto a = find_allocation(start >> 12);
    if (a == allocs_.end() || (end >> 12) > a->second.end_vpn)
      return nt_status::conflicting_addresses;
    // WRK allocvm.c: no commit in an AWE region (CONFLICTING_ADDRESSES).
    if (a->second.awe) return nt_status::conflicting_addresses;
    std::uint64_t new_pages = 0;
    for (std::uint64_t v = start >> 12; v < end >> 12; ++v)
      new_pages += committed_.count(v) == 0 ? 1 : 0;
    // Committing committed pages does not charge twice.
    if (charge_ + new_pages > limit_) return nt_status::commitment_limit;
    const std::uint32_t effective =
        with_allocation_caching(protect, a->second.protect);
    for (std::uint64_t v = start >> 12; v < end >> 12; ++v) {
      auto [it, inserted] = committed_.try_emplace(v);
      // Committing again sets the new protection and keeps the data
      // (ReactOS CheckAlignment: "Commit the same address again with a
      // different protection" succeeds; CheckAdjacentVADs: a PAGE_READONLY
      // commit over a read-write page makes the next write fault).
      it->second.protect = effective;
      if constexpr (Bug == model_bug::recommit_zeroes) {
        if (!inserted) it->second.bytes.reset();
      }
    }
    charge_ += new_pages;
    base_io = start;
    size_io = end - start;
    return nt_status::success;
  }

  // ---- NtFreeVirtualMemory -----------------------------------------------
  nt_status free(std::uint64_t& base_io, std::uint64_t& size_io,
                 std::uint32_t free_type) {
    // Exactly one of MEM_DECOMMIT and MEM_RELEASE (ring3k tests/virtual.c:
    // type 0, 1 and MEM_COMMIT -> INVALID_PARAMETER_4; Wine kernel32
    // test_VirtualAlloc: type 0 fails with ERROR_INVALID_PARAMETER; both
    // bits together reasoned the same).
    if (free_type != mem::decommit && free_type != mem::release)
      return nt_status::invalid_parameter_4;
    const std::uint64_t base = base_io;
    const std::uint64_t size = size_io;
    // Addresses outside user space: INVALID_PARAMETER_2 (ring3k
    // test_NtFreeVirtualMemory at 0x80000000 and 0xFFFF0000); a size that
    // runs past it: parameter 3 (reasoned).
    if (base > layout_.highest) return nt_status::invalid_parameter_2;
    if (layout_.highest + 1 - base < size)
      return nt_status::invalid_parameter_3;

    const std::uint64_t start = page_down(base);
    const auto a = find_allocation(start >> 12);
    // Nothing allocated at the start (ReactOS CheckAlignment: release in a
    // free 64 KiB region -> MEMORY_NOT_ALLOCATED; ring3k: double free).
    if (a == allocs_.end()) return nt_status::memory_not_allocated;
    std::uint64_t end = 0;
    if (size == 0) {
      // Size 0 means "the whole allocation" and needs its base, for both
      // types (Wine ntdll test_NtAllocateVirtualMemory: base + 0x1001 ->
      // FREE_VM_NOT_AT_BASE, base + 0xffe -> success).
      if ((start >> 12) != a->first) return nt_status::free_vm_not_at_base;
      end = a->second.end_vpn << 12;
    } else {
      end = page_up(base + size);
      // Past the end of the allocation (ReactOS NtFreeVirtualMemory.c: one
      // byte more than allocated -> UNABLE_TO_FREE_VM, for both types;
      // ReactOS CheckAdjacentVADs: across two allocations -> the same).
      if ((end >> 12) > a->second.end_vpn) return nt_status::unable_to_free_vm;
    }
    const std::uint64_t s = start >> 12;
    const std::uint64_t e = end >> 12;
    // WRK freevm.c: an AWE region is never decommitted
    // (MEMORY_NOT_ALLOCATED: its pages go with NtFreeUserPhysicalPages) and
    // only released whole (FREE_VM_NOT_AT_BASE: "Splitting or chopping a
    // physical VAD ... is not allowed").
    if (a->second.awe) {
      if (free_type == mem::decommit) return nt_status::memory_not_allocated;
      if (s != a->first || e != a->second.end_vpn)
        return nt_status::free_vm_not_at_base;
    }

    // Drop the committed pages of [s, e): decommit and release both do it.
    auto first = committed_.lower_bound(s);
    auto last = committed_.lower_bound(e);
    const auto dropped = static_cast<std::uint64_t>(std::distance(first, last));
    committed_.erase(first, last);
    if constexpr (Bug != model_bug::decommit_keeps_charge) {
      charge_ -= dropped;
    } else {
      if (free_type == mem::release) charge_ -= dropped;
    }

    if (free_type == mem::release) {
      // Releasing part of an allocation is allowed at the NT level and
      // splits it (ReactOS NtFreeVirtualMemory.c frees the two pages of a
      // reservation one at a time, in either order; ReactOS
      // CheckAdjacentVADs releases the middle 64 KiB of three). Each
      // remaining piece is an allocation of its own whose AllocationBase is
      // its first page (reasoned: NT splits the VAD, and the query reports
      // the VAD's starting address).
      const std::uint64_t a_start = a->first;
      const allocation old = a->second;
      allocs_.erase(a);
      if (a_start < s)
        allocs_.emplace(a_start, allocation{s, old.protect, old.awe});
      if (e < old.end_vpn)
        allocs_.emplace(e, allocation{old.end_vpn, old.protect, old.awe});
      base_io = start;
      size_io = end - start;  // Wine: release with size 0 reports the size
      return nt_status::success;
    }
    base_io = start;
    // Wine ntdll test_NtAllocateVirtualMemory: MEM_DECOMMIT with size 0
    // reports size 0 on current Windows (0x10000 only up to Windows 10
    // 1709, marked broken there).
    size_io = size == 0 ? 0 : end - start;
    return nt_status::success;
  }

  // ---- NtProtectVirtualMemory --------------------------------------------
  /// old_protect: the protection of the first page on success; once the
  /// range has been looked up, a failure (CONFLICTING_ADDRESSES,
  /// NOT_COMMITTED) writes PAGE_NOACCESS, as current Windows does; earlier
  /// failures leave it alone.
  nt_status protect(std::uint64_t& base_io, std::uint64_t& size_io,
                    std::uint32_t new_protect, std::uint32_t& old_protect) {
    // The protection is checked before the range (reasoned: NT converts it
    // to its protection mask before capturing the pointers, as in
    // NtAllocateVirtualMemory; Wine kernel32 test_VirtualAlloc: protect 0
    // and READWRITE|EXECUTE_WRITECOPY fail with ERROR_INVALID_PARAMETER).
    if (!valid_protect(new_protect)) return nt_status::invalid_page_protection;
    const std::uint64_t base = base_io;
    const std::uint64_t size = size_io;
    if (base > layout_.highest) return nt_status::invalid_parameter_2;
    // A zero size or one running past user space is parameter 3 (reasoned:
    // RegionSize is the third parameter of NtProtectVirtualMemory).
    if (size == 0 || layout_.highest + 1 - base < size)
      return nt_status::invalid_parameter_3;
    const std::uint64_t start = page_down(base);
    const std::uint64_t end = page_up(base + size);
    // The range must lie inside one allocation (reasoned: NT looks for a
    // VAD overlapping the range and refuses a missing VAD or a range
    // leaving it with CONFLICTING_ADDRESSES, as the commit path does).
    const auto a = find_allocation(start >> 12);
    // WRK protect.c: an AWE region's protection never changes
    // (CONFLICTING_ADDRESSES, PAGE_READWRITE included).
    if (a == allocs_.end() || (end >> 12) > a->second.end_vpn ||
        a->second.awe) {
      old_protect = page::noaccess;
      return nt_status::conflicting_addresses;
    }
    if (copy_on_write(new_protect)) return nt_status::invalid_page_protection;
    // Every page must be committed (Wine kernel32 test_VirtualAlloc:
    // VirtualProtect over reserved or partly committed memory fails with
    // ERROR_INVALID_ADDRESS, i.e. STATUS_NOT_COMMITTED; ring3k
    // test_prot_mem: STATUS_NOT_COMMITTED).
    for (std::uint64_t v = start >> 12; v < end >> 12; ++v) {
      if (committed_.count(v) == 0) {
        old_protect = page::noaccess;
        return nt_status::not_committed;
      }
    }
    // Old protection: the first page's (Wine kernel32 test_VirtualAlloc;
    // ReactOS NtProtectVirtualMemory.c TestReadWrite).
    old_protect = committed_.at(start >> 12).protect;
    // The caching attribute stays the allocation's (current Windows: a
    // later protect neither drops NOCACHE/WRITECOMBINE nor adds them).
    const std::uint32_t effective =
        with_allocation_caching(new_protect, a->second.protect);
    for (std::uint64_t v = start >> 12; v < end >> 12; ++v)
      committed_.at(v).protect = effective;
    base_io = start;
    size_io = end - start;
    return nt_status::success;
  }

  // ---- NtQueryVirtualMemory(MemoryBasicInformation) ----------------------
  nt_status query(std::uint64_t address, memory_basic_information& info) const {
    // Beyond user space: INVALID_PARAMETER (reasoned: the only parameter
    // NtQueryVirtualMemory can refuse for a MemoryBasicInformation query of
    // the own process).
    if (address > layout_.highest) return nt_status::invalid_parameter;
    const std::uint64_t v = address >> 12;
    info = {};
    info.base_address = v << 12;  // BaseAddress: the page of the address
    const auto a = find_allocation(v);
    if (a == allocs_.end()) {
      // Free: up to the next allocation or the end of user space;
      // AllocationBase 0, Protect PAGE_NOACCESS, Type 0.
      const auto next = allocs_.upper_bound(v);
      const std::uint64_t end =
          next == allocs_.end() ? layout_.highest + 1 : next->first << 12;
      info.region_size = end - info.base_address;
      info.state = mem::free;
      info.protect = page::noaccess;
      return nt_status::success;
    }
    info.allocation_base = a->first << 12;
    info.allocation_protect = a->second.protect;
    info.type = mem::private_memory;
    const std::uint64_t alloc_end = a->second.end_vpn;
    auto p = committed_.find(v);
    std::uint64_t run_end = v + 1;
    if (p != committed_.end()) {
      // Committed: coalesce forward over committed pages of equal
      // protection inside this allocation (ReactOS CheckAdjacentVADs query
      // at 0x5000F700).
      info.state = mem::commit;
      info.protect = p->second.protect;
      for (auto q = std::next(p);
           q != committed_.end() && q->first == run_end &&
           run_end < alloc_end && q->second.protect == info.protect;
           ++q)
        ++run_end;
    } else {
      // Reserved: Protect 0 (Wine kernel32 test_VirtualAlloc: "NT reports
      // Protect == 0 for a not committed memory block").
      info.state = mem::reserve;
      info.protect = 0;
      const auto q = committed_.lower_bound(v);
      run_end =
          (q == committed_.end()) ? alloc_end : std::min(alloc_end, q->first);
    }
    info.region_size = (run_end - v) << 12;
    return nt_status::success;
  }

  // ---- the simulated CPU ---------------------------------------------------
  /// One access: success, access_violation, or guard_page_violation (the
  /// guard bit is cleared, so the next access proceeds).
  nt_status access(std::uint64_t address, access_kind kind,
                   access_mode mode = access_mode::user) {
    return touch(address, kind, mode);
  }

  /// Copies with CPU semantics (user mode) until the first page that
  /// faults; see mmkit::address_space::read.
  nt_status read(std::uint64_t address, void* buffer, std::size_t size,
                 std::size_t& bytes_done) {
    return copy(address, static_cast<std::uint8_t*>(buffer), size, bytes_done,
                access_kind::read);
  }
  nt_status write(std::uint64_t address, const void* buffer, std::size_t size,
                  std::size_t& bytes_done) {
    return copy(
        address,
        const_cast<std::uint8_t*>(static_cast<const std::uint8_t*>(buffer)),
        size, bytes_done, access_kind::write);
  }

  // ---- accounting and checks ----------------------------------------------
  std::uint64_t commit_charge() const { return charge_; }
  std::uint64_t commit_limit() const { return limit_; }
  /// Pages whose bytes the model holds (it has no frames of its own).
  std::uint64_t frames_in_use() const {
    std::uint64_t n = 0;
    for (const auto& [v, p] : committed_) n += p.bytes ? 1 : 0;
    return n;
  }
  std::uint64_t table_pages_in_use() const { return 0; }

  /// The representation invariants listed at the top of the file.
  bool check_invariants() const {
    std::uint64_t prev_end = 0;
    for (const auto& [first, a] : allocs_) {
      if (first >= a.end_vpn || first < prev_end) return false;
      if ((first << 12) < layout_.lowest) return false;
      if ((a.end_vpn << 12) - 1 > layout_.highest) return false;
      if (!valid_protect(a.protect) || copy_on_write(a.protect)) return false;
      prev_end = a.end_vpn;
    }
    // Both maps are sorted: one merged pass checks every committed page
    // lies inside an allocation.
    auto a = allocs_.begin();
    for (const auto& [v, p] : committed_) {
      while (a != allocs_.end() && a->second.end_vpn <= v) ++a;
      if (a == allocs_.end() || v < a->first) return false;
      if (!valid_protect(p.protect) || copy_on_write(p.protect)) return false;
    }
    return charge_ == committed_.size() && charge_ <= limit_;
  }

  // ---- introspection for the drivers --------------------------------------
  const std::map<std::uint64_t, allocation>& allocations() const {
    return allocs_;
  }
  const std::map<std::uint64_t, page_state>& committed_pages() const {
    return committed_;
  }
  /// False for pages whose contents are undefined after MEM_RESET.
  bool contents_known(std::uint64_t vpn) const {
    const auto p = committed_.find(vpn);
    return p == committed_.end() || !p->second.unknown;
  }

  // ---- protection helpers (public: the drivers use them too) --------------
  /// Exactly one base protection, at most one of GUARD / NOCACHE /
  /// WRITECOMBINE, none with PAGE_NOACCESS (the VirtualAlloc documentation:
  /// PAGE_GUARD "cannot be used with PAGE_NOACCESS"; Wine kernel32
  /// test_VirtualAlloc: 0 and READONLY|EXECUTE are refused).
  static bool valid_protect(std::uint32_t p) {
    if (p & ~0x7FFu) return false;
    const std::uint32_t b = p & 0xFFu;
    const std::uint32_t mods = p & 0x700u;
    if (!std::has_single_bit(b)) return false;
    if (mods != 0 && (!std::has_single_bit(mods) || b == page::noaccess))
      return false;
    return true;
  }
  /// `p` with the caching attribute (NOCACHE, WRITECOMBINE) of the
  /// allocation's protection `alloc` in place of its own: current Windows
  /// keeps the allocation's for every page. A guard page keeps its GUARD
  /// (the two cannot be combined).
  static std::uint32_t with_allocation_caching(std::uint32_t p,
                                               std::uint32_t alloc) {
    if (p & page::guard) return p;
    if ((p & 0xFFu) == page::noaccess) return p;
    return (p & ~(page::nocache | page::writecombine)) |
           (alloc & (page::nocache | page::writecombine));
  }
  static bool copy_on_write(std::uint32_t p) {
    const std::uint32_t b = p & 0xFFu;
    return b == page::writecopy || b == page::execute_writecopy;
  }
  struct rights {
    bool read, write, execute;
  };
  /// What a committed page's protection grants. PAGE_EXECUTE pages are
  /// readable (x86 paging has no execute-only pages); without NX every
  /// readable page is executable.
  rights rights_of(std::uint32_t p) const {
    const std::uint32_t b = p & 0xFFu;
    rights r{};
    r.read = b != page::noaccess;
    r.write = b == page::readwrite || b == page::execute_readwrite;
    r.execute = b == page::execute || b == page::execute_read ||
                b == page::execute_readwrite;
    if (!layout_.nx) r.execute = r.read;
    return r;
  }

  /// The highest address ZeroBits allows, or nullopt if ZeroBits is invalid.
  /// A count z (1..21) keeps the address below 2^(32-z) on every arch (Wine
  /// ntdll test_NtAllocateVirtualMemory: "1 zero bits should zero 63-31
  /// upper bits", 21 "never succeeds", 22 "is invalid"). On 64-bit, a value
  /// >= 32 is a mask whose leading zero bits count (Wine: "zero bits > 31
  /// should be considered as a leading zeroes bitmask on 64bit"), refused
  /// when more than 53 bits would have to be zero (reasoned: 53 is NT's
  /// maximum, the x64 equivalent of 21 for a count). On 32-bit, >= 32 is
  /// INVALID_PARAMETER_3 (Wine, !is_win64 && !is_wow64).
  std::optional<std::uint64_t> zero_bits_limit(std::uint64_t zb) const {
    if (zb == 0) return layout_.highest;
    if (zb < 32) {
      if (zb > 21) return std::nullopt;
      return (std::uint64_t{1} << (32 - zb)) - 1;
    }
    if (!layout_.zero_bits_mask_form) return std::nullopt;
    const int lz = std::countl_zero(zb);
    if (lz > 53) return std::nullopt;
    return ~std::uint64_t{0} >> lz;
  }

 private:
  using alloc_iter =
      typename std::map<std::uint64_t, allocation>::const_iterator;

  static constexpr std::uint64_t page_down(std::uint64_t a) {
    return a & ~(page_size - 1);
  }
  /// Requires: a <= highest + 1 (never overflows for user addresses).
  static constexpr std::uint64_t page_up(std::uint64_t a) {
    return (a + page_size - 1) & ~(page_size - 1);
  }
  static constexpr std::uint64_t granule_up(std::uint64_t a) {
    return (a + granularity - 1) & ~(granularity - 1);
  }

  alloc_iter find_allocation(std::uint64_t vpn) const {
    auto it = allocs_.upper_bound(vpn);
    if (it == allocs_.begin()) return allocs_.end();
    --it;
    return vpn < it->second.end_vpn ? it : allocs_.end();
  }
  bool overlaps(std::uint64_t s, std::uint64_t e) const {
    if (find_allocation(s) != allocs_.end()) return true;
    const auto next = allocs_.upper_bound(s);
    return next != allocs_.end() && next->first < e;
  }

  /// Lowest 64 KiB-aligned free range of `length` bytes ending at or below
  /// `limit`: first fit from the bottom.
  std::optional<std::uint64_t> find_bottom_up(std::uint64_t length,
                                              std::uint64_t limit) const {
    std::uint64_t candidate = granule_up(layout_.lowest);
    for (const auto& [first, a] : allocs_) {
      const std::uint64_t a_start = first << 12;
      if (candidate <= a_start && a_start - candidate >= length) break;
      candidate = std::max(candidate, granule_up(a.end_vpn << 12));
    }
    if (candidate > limit || limit - candidate < length - 1)
      return std::nullopt;
    return candidate;
  }
  /// Highest 64 KiB-aligned free range of `length` bytes ending at or below
  /// `limit` (MEM_TOP_DOWN).
  std::optional<std::uint64_t> find_top_down(std::uint64_t length,
                                             std::uint64_t limit) const {
    std::uint64_t ceiling = limit + 1;  // exclusive; limit < 2^64 - 1 here
    for (auto it = allocs_.rbegin(); it != allocs_.rend(); ++it) {
      const std::uint64_t gap_start = granule_up(it->second.end_vpn << 12);
      if (ceiling >= length && gap_start <= ceiling - length) {
        const std::uint64_t b = (ceiling - length) & ~(granularity - 1);
        if (b >= gap_start) return b;
      }
      ceiling = std::min(ceiling, it->first << 12);
    }
    const std::uint64_t gap_start = granule_up(layout_.lowest);
    if (ceiling >= length && gap_start <= ceiling - length) {
      const std::uint64_t b = (ceiling - length) & ~(granularity - 1);
      if (b >= gap_start) return b;
    }
    return std::nullopt;
  }

  nt_status reset(std::uint64_t base, std::uint64_t size,
                  std::uint64_t& base_io, std::uint64_t& size_io) {
    // MEM_RESET: whole pages inside one allocation; reserved pages in the
    // range are accepted (Wine kernel32 test_VirtualAlloc: MEM_RESET on a
    // reserved page succeeds and leaves it reserved; a range running past
    // the allocation fails with ERROR_INVALID_ADDRESS, which is
    // CONFLICTING_ADDRESSES as on the commit path). The data of committed
    // pages becomes undefined (the same test accepts old data or zero);
    // nothing else changes, the commit charge included.
    const std::uint64_t start = page_down(base);
    const std::uint64_t end = page_up(base + size);
    const auto a = find_allocation(start >> 12);
    // MEM_RESET takes the commit path's checks, AWE refusal included (WRK
    // allocvm.c).
    if (a == allocs_.end() || (end >> 12) > a->second.end_vpn || a->second.awe)
      return nt_status::conflicting_addresses;
    for (auto p = committed_.lower_bound(start >> 12);
         p != committed_.end() && p->first < (end >> 12); ++p) {
      p->second.unknown = true;
      p->second.bytes.reset();
    }
    base_io = start;
    size_io = end - start;
    return nt_status::success;
  }

  nt_status touch(std::uint64_t address, access_kind kind, access_mode mode) {
    // Kernel space holds nothing of this address space; user mode may never
    // touch it. Kernel-mode accesses to user pages obey the page protection
    // like user-mode ones (no SMAP; CR0.WP set, as on Windows).
    (void)mode;
    if (address > layout_.highest) return nt_status::access_violation;
    const auto p = committed_.find(address >> 12);
    if (p == committed_.end()) return nt_status::access_violation;
    const rights r = rights_of(p->second.protect);
    const bool allowed = kind == access_kind::read    ? r.read
                         : kind == access_kind::write ? r.write
                                                      : r.execute;
    // The protection is checked before the guard bit (reasoned: an access
    // the page would refuse anyway is an access violation and leaves the
    // guard armed).
    if (!allowed) return nt_status::access_violation;
    if (p->second.protect & page::guard) {
      p->second.protect &= ~page::guard;
      return nt_status::guard_page_violation;
    }
    return nt_status::success;
  }

  nt_status copy(std::uint64_t address, std::uint8_t* buffer, std::size_t size,
                 std::size_t& bytes_done, access_kind kind) {
    bytes_done = 0;
    std::uint64_t cur = address;
    while (bytes_done < size) {
      const nt_status st = touch(cur, kind, access_mode::user);
      if (st != nt_status::success)
        return bytes_done == 0 ? st : nt_status::partial_copy;
      page_state& pg = committed_.at(cur >> 12);
      const std::uint64_t offset = cur & (page_size - 1);
      const std::size_t chunk = static_cast<std::size_t>(
          std::min<std::uint64_t>(page_size - offset, size - bytes_done));
      if (kind == access_kind::read) {
        if (pg.bytes)
          std::memcpy(buffer + bytes_done, pg.bytes->data() + offset, chunk);
        else
          std::memset(buffer + bytes_done, 0, chunk);
      } else {
        if (!pg.bytes) {
          pg.bytes = std::make_unique<std::array<std::uint8_t, page_size>>();
          pg.bytes->fill(0);
        }
        std::memcpy(pg.bytes->data() + offset, buffer + bytes_done, chunk);
        if (chunk == page_size) pg.unknown = false;
      }
      bytes_done += chunk;
      cur += chunk;
      if (cur == 0) break;  // wrapped past the top of the address space
    }
    if (bytes_done < size)
      return bytes_done == 0 ? nt_status::access_violation
                             : nt_status::partial_copy;
    return nt_status::success;
  }

  nt_layout layout_;
  std::uint64_t limit_;
  std::uint64_t charge_ = 0;
  std::map<std::uint64_t, allocation> allocs_;
  std::map<std::uint64_t, page_state> committed_;
};

using nt_model = basic_nt_model<model_bug::none>;

}  // namespace mmkit_model
