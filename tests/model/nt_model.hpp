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
//   committed_ : vpn -> { protect (Win32 PAGE_*), contents unknown?,
//                         touched?, bytes }
//                one entry per committed page; every key lies inside an
//                allocation. A page inside an allocation but absent here is
//                reserved. Bytes are materialised on the first write
//                (absent = all zero). Touched: an access brought it in
//                since it was committed or reset (not demand-zero any
//                more); where it is then is the pager's (the world's).
//
//   commit charge == committed_.size() <= commit limit (pages).
//
// Sections and views (see section_world below for the system's half):
//
//   allocs_    : a view is an allocation with a view id, its section and
//                the section page of its first page, and the pages it
//                charged for copy-on-write (all of them, once).
//   view_pages_: vpn -> { protection of its own, private copy, dirty,
//                         mapped }
//                for the pages of views that differ from their view: a
//                page without an entry has the view's protection and shows
//                its section page. Committed or not is the section page's.
//                Mapped: its PTE maps the section page's frame (valid, in
//                the working set) until a trim, an unmappable protection,
//                a copy or the unmap lets go.
//
// The pager (trim, the modified page writer, repurposing standby frames;
// see section_world) decides what a committed page's PTE holds: the model
// says which (expected_pte) and counts the faults that take a page back
// from a list (soft) or read it (hard).
//
//   commit charge == committed_.size() + the views' copy-on-write charge;
//   the world's charge (every space's and every page-file section's) <=
//   the commit limit, which is the world's.
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
#include <set>
#include <string>
#include <utility>
#include <vector>

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
  // The section calls (NtCreateSection, NtOpenSection, NtClose,
  // NtMapViewOfSection, NtUnmapViewOfSection, NtFlushVirtualMemory).
  object_name_exists = 0x40000000,
  not_implemented = 0xC0000002,
  invalid_handle = 0xC0000008,
  not_mapped_view = 0xC0000019,
  unable_to_delete_section = 0xC000001B,
  invalid_view_size = 0xC000001F,
  access_denied = 0xC0000022,
  object_name_not_found = 0xC0000034,
  object_name_collision = 0xC0000035,
  section_too_big = 0xC0000040,
  section_protection = 0xC000004E,
  not_mapped_data = 0xC0000088,
  insufficient_resources = 0xC000009A,
  invalid_parameter_9 = 0xC00000F7,
  mapped_file_size_zero = 0xC000011E,
  mapped_alignment = 0xC0000220,
  user_mapped_file = 0xC0000243,
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
    case nt_status::object_name_exists: return "STATUS_OBJECT_NAME_EXISTS";
    case nt_status::not_implemented: return "STATUS_NOT_IMPLEMENTED";
    case nt_status::invalid_handle: return "STATUS_INVALID_HANDLE";
    case nt_status::not_mapped_view: return "STATUS_NOT_MAPPED_VIEW";
    case nt_status::unable_to_delete_section:
      return "STATUS_UNABLE_TO_DELETE_SECTION";
    case nt_status::invalid_view_size: return "STATUS_INVALID_VIEW_SIZE";
    case nt_status::access_denied: return "STATUS_ACCESS_DENIED";
    case nt_status::object_name_not_found:
      return "STATUS_OBJECT_NAME_NOT_FOUND";
    case nt_status::object_name_collision:
      return "STATUS_OBJECT_NAME_COLLISION";
    case nt_status::section_too_big: return "STATUS_SECTION_TOO_BIG";
    case nt_status::section_protection: return "STATUS_SECTION_PROTECTION";
    case nt_status::not_mapped_data: return "STATUS_NOT_MAPPED_DATA";
    case nt_status::insufficient_resources:
      return "STATUS_INSUFFICIENT_RESOURCES";
    case nt_status::invalid_parameter_9: return "STATUS_INVALID_PARAMETER_9";
    case nt_status::mapped_file_size_zero:
      return "STATUS_MAPPED_FILE_SIZE_ZERO";
    case nt_status::mapped_alignment: return "STATUS_MAPPED_ALIGNMENT";
    case nt_status::user_mapped_file: return "STATUS_USER_MAPPED_FILE";
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

/// What a page's PTE holds, as the pager leaves it (same enumerator values
/// as mmkit::entry_kind, whose first six these are).
enum class pte_kind : std::uint8_t {
  valid,        // present: the page is in the working set
  zero,         // nothing: not committed
  demand_zero,  // committed, never touched (or reset)
  page_file,    // a private page whose only copy is in a page-file slot
  transition,   // a private page in a frame that is not mapped: trimmed (on
                // the standby or modified list), or NOACCESS / GUARD
  prototype,    // a view's page not mapped here: through its section
};
inline const char* pte_kind_name(pte_kind k) {
  switch (k) {
    case pte_kind::valid: return "valid";
    case pte_kind::zero: return "zero";
    case pte_kind::demand_zero: return "demand-zero";
    case pte_kind::page_file: return "page-file";
    case pte_kind::transition: return "transition";
    case pte_kind::prototype: return "prototype";
  }
  return "<other>";
}

/// The pages on the modified and on the standby list.
struct pager_lists {
  std::uint64_t modified = 0;
  std::uint64_t standby = 0;
  friend bool operator==(const pager_lists&, const pager_lists&) = default;
};

/// The faults an address space took that the pager decides: soft (the
/// page's frame was still on the standby or modified list) and hard (the
/// page was read from a page-file slot or from its file).
struct pager_faults {
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
  friend bool operator==(const pager_faults&, const pager_faults&) = default;
};

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

// ---- sections: what address spaces share ------------------------------------
//
// section_world is the system-wide half of the model: files, section
// objects and their pages, the handles that name them, the namespace of
// named sections, and the commit charge every space and every page-file
// section draw from one limit. Each basic_nt_model (one address space)
// holds a shared_ptr to its world; a model made without one gets a world of
// its own, which behaves exactly as the private-memory model did before
// sections existed.
//
//   files_    : id -> { bytes (the file; its size is bytes.size()),
//                       writable, users (live sections over it),
//                       cache: page -> bytes, the pages brought in }
//   sections_ : id -> { size, pages, protection, attributes, file or -1,
//                       name and whether it is still in the namespace,
//                       handles, views, own pages (page-file sections):
//                       { committed, resident, bytes } }
//   handles_  : id -> { section, granted access }      (closed: section -1)
//   views_    : id -> { section, first page, pages }   (unmapped: -1)
//
// A file section's pages are its file's: every section over one file reads
// and writes the same cached pages (cache entry = resident), which go back
// to the file, below end-of-file only, on flush and when the last section
// over the file goes. A page-file section's pages are its own.
//
// Which cached pages go back is NT's modified-page rule: a write through a
// view dirties that view's page (its PTE's dirty bit); the dirt reaches
// the page (its PFN's modified bit) when that view page's PTE is let go or
// rewritten (unmap, protect, commit) or when that view is flushed; a flush
// writes the modified pages of its range and makes them clean, and the
// last reference writes every modified page. So a flush through one view
// does not write what another view wrote and still holds dirty (WRK
// flushsec.c MiFlushSectionInternal gathers the dirty bits of the caller's
// view only).
//
// The pager (NT's working-set trimmer, modified page writer and standby
// list; WRK wslist.c, modwrite.c, pfnlist.c) is the world's too, since its
// lists are the system's:
//
//   paging_   : page -> { modified | standby | paged_out, list position }
//               for every page the pager took out of a working set and
//               that has not come back: a space's private page or a
//               view's private copy (by vpn), a page-file section's page
//               or a file's page (by index)
//   mapped_   : section or file page -> the view PTEs that map it valid
//               (its frame's share count less the prototype's own)
//
// A page absent from paging_ is where its owner says (resident or not);
// a page in it is
//
//   modified   in a frame on the modified list: a private page (or a
//              private copy) trimmed from its working set, a section page
//              trimmed from the last one that mapped it while it was
//              modified (a page-file section's page always is; a file's
//              when its modified bit is set, see above)
//   standby    in a frame on the standby list: written (a private or
//              page-file section's page to a page-file slot, a file's page
//              to its file) or clean when it was trimmed
//   paged_out  only in a page-file slot: its standby frame was taken for
//              another use (a file's page is then simply not resident: its
//              file has it)
//
// Both lists are FIFO (WRK pfnlist.c MiInsertPageInList appends; the
// modified page writer takes the oldest first): the position is a sequence
// number. A fault takes a listed page back (soft) or reads a paged-out
// one (hard), and a standby or paged-out page's slot is freed then: a page
// is in a frame or in a slot (mmkit's rule, page_state.hpp; NT may keep a
// clean page's paging-file copy, which no call can observe). Nothing but
// the explicit steps (trim, write_modified, repurpose_standby, the balance
// step's trims) puts a page in these states: the drivers give the
// implementation enough frames that it never reclaims on its own.
//
// Rules, each with where it was observed (Wine dlls/kernel32/tests/
// virtual.c and dlls/ntdll/tests/virtual.c; ReactOS apitests/ntdll/
// NtMapViewOfSection.c and kmtests/ntos_mm/ZwMapViewOfSection.c, which
// assert what Windows returns; WRK where they are silent, "reasoned" where
// all are).

/// SEC_* allocation attributes (winnt.h values).
namespace sec {
inline constexpr std::uint32_t based = 0x200000, no_change = 0x400000,
                               file = 0x800000, image = 0x1000000,
                               protected_image = 0x2000000, reserve = 0x4000000,
                               commit = 0x8000000, nocache = 0x10000000,
                               writecombine = 0x40000000,
                               large_pages = 0x80000000;
}  // namespace sec

/// Section access rights (winnt.h values).
namespace section_access {
inline constexpr std::uint32_t query = 0x1, map_write = 0x2, map_read = 0x4,
                               map_execute = 0x8, extend_size = 0x10,
                               all_access = 0xF001F,
                               maximum_allowed = 0x02000000,
                               generic_all = 0x10000000,
                               generic_execute = 0x20000000,
                               generic_write = 0x40000000,
                               generic_read = 0x80000000;
/// The section rights a desired access grants: the section type's generic
/// mapping (GENERIC_READ: query and map-read; GENERIC_WRITE: map-write;
/// GENERIC_EXECUTE: map-execute; GENERIC_ALL: all).
inline std::uint32_t granted(std::uint32_t desired) {
  std::uint32_t g = desired & all_access;
  if (desired & (generic_all | maximum_allowed)) g |= all_access;
  if (desired & generic_read) g |= query | map_read;
  if (desired & generic_write) g |= map_write;
  if (desired & generic_execute) g |= map_execute;
  return g;
}
/// What a view of Win32 protection `p` needs of its handle (NT's
/// MmMakeSectionAccess; Wine kernel32 test_MapViewOfFile: a FILE_MAP_WRITE
/// handle maps read-write views and no read-only ones, a handle without
/// rights maps nothing, not even PAGE_NOACCESS).
inline std::uint32_t needed_for(std::uint32_t p) {
  switch (p & 0xFFu) {
    case page::execute: return map_execute;
    case page::execute_read:
    case page::execute_writecopy: return map_execute | map_read;
    case page::readwrite: return map_write;
    case page::execute_readwrite: return map_execute | map_write;
    default: return map_read;  // NOACCESS, READONLY, WRITECOPY
  }
}
}  // namespace section_access

/// OBJ_OPENIF: create opens an existing section of the name instead.
inline constexpr std::uint32_t obj_openif = 0x80;

/// Whether base protection `want` is allowed where `bound` is the
/// protection of the section (mapping a view) or of the view (protecting or
/// committing its pages): NT's MmCompatibleProtectionMask (WRK mmdata.c,
/// ReactOS ARM3 section.c, the same table in current Windows'
/// MiCommitPagefileBackedSection and NtProtectVirtualMemory). Modifiers
/// (GUARD, NOCACHE, WRITECOMBINE) never matter.
inline bool protection_compatible(std::uint32_t bound, std::uint32_t want) {
  using namespace page;
  struct row {
    std::uint32_t bound, allowed;
  };
  static constexpr row table[] = {
      {noaccess, noaccess},
      {readonly, noaccess | readonly | writecopy},
      {execute, noaccess | execute},
      {execute_read, noaccess | readonly | writecopy | execute | execute_read},
      {readwrite, noaccess | readonly | writecopy | readwrite},
      {writecopy, noaccess | readonly | writecopy},
      {execute_readwrite, 0xFF},
      {execute_writecopy, noaccess | readonly | writecopy | execute |
                              execute_read | execute_writecopy},
  };
  for (const row& r : table)
    if (r.bound == (bound & 0xFFu)) return ((want & 0xFFu) & ~r.allowed) == 0;
  return false;
}

class section_world {
 public:
  static constexpr std::uint64_t page_size = 0x1000;
  using page_bytes = std::array<std::uint8_t, page_size>;
  /// No limit on the pages sections may hold (see create_section).
  static constexpr std::uint64_t unlimited = ~std::uint64_t{0};

  /// A page the pager knows (see the header comment): a space's private
  /// page or private copy by vpn, a page-file section's or a file's page
  /// by index.
  struct page_ref {
    enum class owner_kind : std::uint8_t { space, section, file };
    owner_kind kind = owner_kind::space;
    int owner = -1;
    std::uint64_t page = 0;
    friend auto operator<=>(const page_ref&, const page_ref&) = default;
  };
  /// Where the pager put a page (see the header comment).
  enum class paging : std::uint8_t { modified, standby, paged_out };
  /// How a fault found its page: mapped or resident already, taken back
  /// from a list (soft), a zeroed frame, read from a slot or a file (hard).
  enum class fault_source : std::uint8_t { resident, reclaimed, zeroed, read };

  struct file_state {
    std::vector<std::uint8_t> bytes;
    bool writable = true;
    std::uint32_t users = 0;
    /// The pages its shared segment has: the most any section made over
    /// it since it was last unused.
    std::uint64_t segment_pages = 0;
    std::map<std::uint64_t, std::unique_ptr<page_bytes>> cache;
    std::set<std::uint64_t> modified;  // cached pages not written yet
  };
  struct section_page {
    bool committed = false;
    bool resident = false;
    std::unique_ptr<page_bytes> bytes;  // null: zeros
  };
  struct section_state {
    std::uint64_t size = 0;
    std::uint64_t pages = 0;
    std::uint32_t protect = 0;
    std::uint32_t attributes = 0;
    int file = -1;
    std::string name;
    bool in_namespace = false;
    std::uint32_t handles = 0;
    std::uint32_t views = 0;
    std::vector<section_page> own;
    std::uint64_t charged = 0;
    bool live = true;
  };
  struct handle_state {
    int section = -1;
    std::uint32_t access = 0;
  };
  struct view_state {
    int section = -1;
    std::uint64_t first_page = 0;
    std::uint64_t pages = 0;
  };

  /// A world whose commit limit is `commit_limit` pages, whose sections
  /// may hold `section_capacity` pages in all (NT: the paged pool the
  /// prototype PTEs come from; an environment figure like the limit).
  explicit section_world(std::uint64_t commit_limit,
                         std::uint64_t section_capacity = std::uint64_t{1}
                                                          << 30)
      : limit_(commit_limit), capacity_(section_capacity) {}
  section_world(const section_world&) = delete;
  section_world& operator=(const section_world&) = delete;

  // ---- commit -------------------------------------------------------------
  std::uint64_t commit_limit() const { return limit_; }
  /// Pages charged now: every space's and every page-file section's.
  std::uint64_t commit_charge() const { return charge_; }
  /// Pages charged to page-file sections (shared commit).
  std::uint64_t section_charge() const { return section_charge_; }
  bool can_charge(std::uint64_t pages) const {
    return pages <= limit_ && charge_ <= limit_ - pages;
  }
  void add_charge(std::int64_t pages) {
    charge_ =
        static_cast<std::uint64_t>(static_cast<std::int64_t>(charge_) + pages);
  }

  // ---- files ----------------------------------------------------------------
  /// A new file holding `bytes`; its id.
  int create_file(std::vector<std::uint8_t> bytes, bool writable) {
    auto f = std::make_unique<file_state>();
    f->bytes = std::move(bytes);
    f->writable = writable;
    files_.push_back(std::move(f));
    return static_cast<int>(files_.size() - 1);
  }
  const std::vector<std::uint8_t>& file_bytes(int f) const {
    return files_.at(static_cast<std::size_t>(f))->bytes;
  }
  std::size_t file_count() const { return files_.size(); }
  const file_state& file(int f) const {
    return *files_.at(static_cast<std::size_t>(f));
  }

  /// SetEndOfFile: ACCESS_DENIED for a read-only file, USER_MAPPED_FILE
  /// when a view maps a byte at or past `size` (a mapped file cannot be
  /// truncated below a view: NtSetInformationFile's documented
  /// STATUS_USER_MAPPED_FILE). Cached pages past the new end are dropped,
  /// and the bytes past it in the last page cleared.
  nt_status set_end_of_file(int f, std::uint64_t size) {
    file_state& fs = *files_.at(static_cast<std::size_t>(f));
    if (!fs.writable) return nt_status::access_denied;
    if (size < fs.bytes.size()) {
      for (const view_state& v : views_) {
        if (v.section < 0) continue;
        const section_state& s = sections_[static_cast<std::size_t>(v.section)];
        if (s.file != f) continue;
        const std::uint64_t end =
            std::min((v.first_page + v.pages) * page_size, s.size);
        if (end > size) return nt_status::user_mapped_file;
      }
    }
    fs.bytes.resize(size, 0);
    for (auto it = fs.cache.lower_bound(size / page_size);
         it != fs.cache.end();) {
      if (it->first * page_size < size) {
        const std::uint64_t keep = size - it->first * page_size;
        std::fill(it->second->begin() + static_cast<std::ptrdiff_t>(keep),
                  it->second->end(), std::uint8_t{0});
        ++it;
      } else {
        fs.modified.erase(it->first);
        forget(file_ref(f, it->first));
        it = fs.cache.erase(it);
      }
    }
    return nt_status::success;
  }

  // ---- section objects
  // --------------------------------------------------------
  /// NtCreateSection. `file` -1: a page-file section. Statuses in order:
  ///   INVALID_PARAMETER_6: an unknown SEC_ bit, not exactly one of
  ///     SEC_COMMIT and SEC_RESERVE, or NOCACHE with WRITECOMBINE (WRK
  ///     creasect.c NtCreateSection); NOT_IMPLEMENTED for SEC_IMAGE,
  ///     SEC_BASED, SEC_NO_CHANGE, SEC_LARGE_PAGES, SEC_PROTECTED_IMAGE
  ///     (outside this model, as outside mmkit)
  ///   INVALID_PAGE_PROTECTION: not one plain protection, or PAGE_NOACCESS
  ///     (ReactOS NtMapViewOfSection.c: a NOACCESS section; Wine kernel32
  ///     test_CreateFileMapping_protection: combinations refused)
  ///   INVALID_PARAMETER_4: a page-file section of size 0 (WRK creasect.c)
  ///   the name: OBJECT_NAME_EXISTS (a success: OBJ_OPENIF opened the
  ///     existing section, whatever size and protection were asked) or
  ///     OBJECT_NAME_COLLISION (Wine kernel32 test_CreateFileMapping:
  ///     names are case sensitive)
  ///   a file: MAPPED_FILE_SIZE_ZERO (size 0 over an empty file),
  ///     ACCESS_DENIED (a writable protection over a read-only file),
  ///     SECTION_TOO_BIG (larger than the file and not both a writable
  ///     protection and a writable file; otherwise the file grows) (Wine
  ///     kernel32 test_MapViewOfFile)
  ///   a page-file section of 2^47 bytes or more: SECTION_TOO_BIG; more
  ///     pages than the capacity left: INSUFFICIENT_RESOURCES (ReactOS
  ///     NtMapViewOfSection.c on x64: 128 TB too big, 8 TB insufficient
  ///     resources, 8 GB fine; the boundary between them reasoned)
  ///   COMMITMENT_LIMIT: SEC_COMMIT charges every page now (ReactOS:
  ///     512 GB SEC_COMMIT), SEC_RESERVE nothing
  /// A page-file section's size is rounded up to pages; a file section's
  /// is exact (Wine: a section of 36 bytes reports 36).
  nt_status create_section(int& handle_out, std::uint32_t desired_access,
                           const std::string& name, std::uint32_t obj_flags,
                           std::uint64_t max_size, std::uint32_t protect,
                           std::uint32_t attributes, int file) {
    constexpr std::uint32_t known = sec::based | sec::no_change | sec::file |
                                    sec::image | sec::protected_image |
                                    sec::reserve | sec::commit | sec::nocache |
                                    sec::writecombine | sec::large_pages;
    if (attributes & ~known) return nt_status::invalid_parameter_6;
    const bool image = attributes & sec::image;
    const std::uint32_t kind = attributes & (sec::commit | sec::reserve);
    if (!image && kind != sec::commit && kind != sec::reserve)
      return nt_status::invalid_parameter_6;
    if ((attributes & sec::nocache) && (attributes & sec::writecombine))
      return nt_status::invalid_parameter_6;
    if (image || (attributes & (sec::based | sec::no_change | sec::large_pages |
                                sec::protected_image)))
      return nt_status::not_implemented;
    if (!std::has_single_bit(protect) || (protect & ~0xFFu) ||
        protect == page::noaccess)
      return nt_status::invalid_page_protection;
    if (file < 0 && max_size == 0) return nt_status::invalid_parameter_4;
    if (!name.empty()) {
      if (const int s = find_name(name); s >= 0) {
        if (!(obj_flags & obj_openif)) return nt_status::object_name_collision;
        ++sections_[static_cast<std::size_t>(s)].handles;
        handle_out = new_handle(s, desired_access);
        return nt_status::object_name_exists;
      }
    }
    std::uint64_t size = max_size;
    const bool writable_prot =
        protect == page::readwrite || protect == page::execute_readwrite;
    if (file >= 0) {
      file_state& fs = *files_.at(static_cast<std::size_t>(file));
      if (size == 0) {
        if (fs.bytes.empty()) return nt_status::mapped_file_size_zero;
        size = fs.bytes.size();
      }
      if (writable_prot && !fs.writable) return nt_status::access_denied;
      if (size > fs.bytes.size() && !(writable_prot && fs.writable))
        return nt_status::section_too_big;
    } else {
      if (size >= (std::uint64_t{1} << 47)) return nt_status::section_too_big;
    }
    const std::uint64_t pages = (size + page_size - 1) / page_size;
    if (file < 0 && pages > capacity_ - pages_in_use_)
      return nt_status::insufficient_resources;
    const bool charge = file < 0 && (attributes & sec::commit);
    if (charge && !can_charge(pages)) return nt_status::commitment_limit;
    section_state s;
    s.size = file < 0 ? pages * page_size : size;
    s.pages = pages;
    s.protect = protect;
    s.attributes = attributes;
    s.file = file;
    s.name = name;
    s.in_namespace = !name.empty();
    s.handles = 1;
    if (file >= 0) {
      file_state& fs = *files_[static_cast<std::size_t>(file)];
      if (size > fs.bytes.size()) fs.bytes.resize(size, 0);
      fs.segment_pages =
          fs.users == 0 ? pages : std::max(fs.segment_pages, pages);
      ++fs.users;
    } else {
      s.own.resize(pages);
      pages_in_use_ += pages;
      if (charge) {
        for (section_page& p : s.own) p.committed = true;
        s.charged = pages;
        add_charge(static_cast<std::int64_t>(pages));
        section_charge_ += pages;
      }
    }
    sections_.push_back(std::move(s));
    handle_out =
        new_handle(static_cast<int>(sections_.size() - 1), desired_access);
    return nt_status::success;
  }

  /// NtOpenSection: OBJECT_NAME_NOT_FOUND unless a section of that exact
  /// name is in the namespace (Wine kernel32 test_CreateFileMapping: case
  /// sensitive; test_MapViewOfFile: once its last handle is closed a
  /// section's name is gone, even while a view maps it).
  nt_status open_section(int& handle_out, std::uint32_t desired_access,
                         const std::string& name) {
    const int s = name.empty() ? -1 : find_name(name);
    if (s < 0) return nt_status::object_name_not_found;
    ++sections_[static_cast<std::size_t>(s)].handles;
    handle_out = new_handle(s, desired_access);
    return nt_status::success;
  }

  /// NtClose of a section handle: INVALID_HANDLE for one that is not open.
  /// The name goes with the last handle (see open_section), the section
  /// with its last handle or view.
  nt_status close_section(int h) {
    if (!handle_open(h)) return nt_status::invalid_handle;
    handle_state& hs = handles_[static_cast<std::size_t>(h)];
    section_state& s = sections_[static_cast<std::size_t>(hs.section)];
    const int id = hs.section;
    hs.section = -1;
    if (--s.handles == 0) s.in_namespace = false;
    maybe_delete(id);
    return nt_status::success;
  }

  bool handle_open(int h) const {
    return h >= 0 && static_cast<std::size_t>(h) < handles_.size() &&
           handles_[static_cast<std::size_t>(h)].section >= 0;
  }
  const handle_state& handle(int h) const {
    return handles_.at(static_cast<std::size_t>(h));
  }
  std::size_t handle_count() const { return handles_.size(); }
  const section_state& section(int s) const {
    return sections_.at(static_cast<std::size_t>(s));
  }
  std::size_t section_count() const { return sections_.size(); }
  /// Sections alive now (a handle or a view refers to them).
  std::uint64_t live_sections() const {
    std::uint64_t n = 0;
    for (const section_state& s : sections_) n += s.live ? 1 : 0;
    return n;
  }
  /// Pages the live sections hold (NT: prototype PTEs): a page-file
  /// section's own, a file's shared segment once.
  std::uint64_t prototype_pages() const {
    std::uint64_t n = pages_in_use_;
    for (const auto& f : files_) n += f->users != 0 ? f->segment_pages : 0;
    return n;
  }
  /// File pages brought in (held by frames no commit charge covers).
  std::uint64_t resident_file_pages() const {
    std::uint64_t n = 0;
    for (const auto& f : files_) n += f->cache.size();
    return n;
  }
  /// Page-file section pages brought in.
  std::uint64_t resident_page_file_pages() const {
    std::uint64_t n = 0;
    for (const section_state& s : sections_)
      for (const section_page& p : s.own) n += p.resident ? 1 : 0;
    return n;
  }
  const view_state& view(int v) const {
    return views_.at(static_cast<std::size_t>(v));
  }
  std::size_t view_count() const { return views_.size(); }

  // ---- views and pages (for the address spaces) -----------------------------
  int add_view(int s, std::uint64_t first_page, std::uint64_t pages) {
    ++sections_.at(static_cast<std::size_t>(s)).views;
    views_.push_back({s, first_page, pages});
    return static_cast<int>(views_.size() - 1);
  }
  void remove_view(int v) {
    view_state& vs = views_.at(static_cast<std::size_t>(v));
    const int s = vs.section;
    vs.section = -1;
    --sections_.at(static_cast<std::size_t>(s)).views;
    maybe_delete(s);
  }

  /// Whether page `i` of section `s` is committed (a page past the
  /// section's end, in a MEM_RESERVE view of a file, never is).
  bool page_committed(int s, std::uint64_t i) const {
    const section_state& ss = sections_.at(static_cast<std::size_t>(s));
    if (i >= ss.pages) return false;
    return ss.file >= 0 || ss.own.at(i).committed;
  }
  bool page_resident(int s, std::uint64_t i) const {
    const section_state& ss = sections_.at(static_cast<std::size_t>(s));
    if (ss.file < 0) return ss.own.at(i).resident;
    return files_[static_cast<std::size_t>(ss.file)]->cache.count(i) != 0;
  }
  /// Commits the uncommitted pages [first, first + n) of page-file section
  /// `s`, charging them (shared commit). COMMITMENT_LIMIT changes nothing.
  nt_status commit_pages(int s, std::uint64_t first, std::uint64_t n) {
    section_state& ss = sections_.at(static_cast<std::size_t>(s));
    std::uint64_t fresh = 0;
    for (std::uint64_t i = first; i < first + n; ++i)
      fresh += ss.own.at(i).committed ? 0 : 1;
    if (!can_charge(fresh)) return nt_status::commitment_limit;
    for (std::uint64_t i = first; i < first + n; ++i)
      ss.own[i].committed = true;
    ss.charged += fresh;
    section_charge_ += fresh;
    add_charge(static_cast<std::int64_t>(fresh));
    return nt_status::success;
  }
  /// The bytes of committed page `i` of section `s`, brought in (resident
  /// from now on): a file page is read from its file, zero past its end;
  /// a listed page is taken back, a paged-out one read from its slot (which
  /// is freed). `how` says which. Null: zeros (a page-file page never
  /// written).
  const page_bytes* bring_in(int s, std::uint64_t i, fault_source& how) {
    section_state& ss = sections_.at(static_cast<std::size_t>(s));
    const page_ref r = section_ref(s, i);
    const std::optional<paging> was = paging_of(r);
    if (was) forget(r);
    if (ss.file < 0) {
      section_page& p = ss.own.at(i);
      how = was == paging::paged_out ? fault_source::read
            : was                    ? fault_source::reclaimed
            : p.resident             ? fault_source::resident
                                     : fault_source::zeroed;
      p.resident = true;
      return p.bytes.get();
    }
    const file_state& fs = *files_[static_cast<std::size_t>(ss.file)];
    how = was                      ? fault_source::reclaimed
          : fs.cache.count(i) != 0 ? fault_source::resident
                                   : fault_source::read;
    return &cached(ss.file, i);
  }
  const page_bytes* bring_in(int s, std::uint64_t i) {
    fault_source ignored{};
    return bring_in(s, i, ignored);
  }
  /// The bytes of page `i`, brought in, to write.
  page_bytes& bytes_to_write(int s, std::uint64_t i) {
    section_state& ss = sections_.at(static_cast<std::size_t>(s));
    if (ss.file >= 0) return cached(ss.file, i);
    section_page& p = ss.own.at(i);
    p.resident = true;
    if (!p.bytes) {
      p.bytes = std::make_unique<page_bytes>();
      p.bytes->fill(0);
    }
    return *p.bytes;
  }
  /// What a read of page `i` would see, without bringing it in (for the
  /// drivers' checks).
  page_bytes peek(int s, std::uint64_t i) const {
    page_bytes out{};
    const section_state& ss = sections_.at(static_cast<std::size_t>(s));
    if (ss.file < 0) {
      if (ss.own.at(i).bytes) out = *ss.own[i].bytes;
      return out;
    }
    const file_state& fs = *files_[static_cast<std::size_t>(ss.file)];
    if (const auto c = fs.cache.find(i); c != fs.cache.end()) return *c->second;
    fill_from_file(fs, i, out);
    return out;
  }
  /// Page `i` of section `s` is modified: a view's dirt reached it (see
  /// the header comment). Nothing for a page-file section.
  void mark_modified(int s, std::uint64_t i) {
    const section_state& ss = sections_.at(static_cast<std::size_t>(s));
    if (ss.file >= 0)
      files_[static_cast<std::size_t>(ss.file)]->modified.insert(i);
  }
  /// NtFlushVirtualMemory's effect: the modified pages [first, first + n)
  /// of file section `s` are written to the file, below its end only, and
  /// are clean again.
  void flush_pages(int s, std::uint64_t first, std::uint64_t n) {
    const section_state& ss = sections_.at(static_cast<std::size_t>(s));
    if (ss.file < 0) return;
    file_state& fs = *files_[static_cast<std::size_t>(ss.file)];
    for (auto m = fs.modified.lower_bound(first);
         m != fs.modified.end() && *m < first + n;) {
      write_back(fs, *m, *fs.cache.at(*m));
      // A page on the modified list is written by the writer's own path:
      // it goes to the tail of standby (mmkit's section_ops::write_page).
      const page_ref r = file_ref(ss.file, *m);
      if (paging_of(r) == paging::modified) {
        forget(r);
        put_on(r, paging::standby);
      }
      m = fs.modified.erase(m);
    }
  }

  // ---- the pager (see the header comment) ----------------------------------

  /// A number for a new address space, naming its private pages.
  int new_space() { return next_space_++; }
  static page_ref private_ref(int space, std::uint64_t vpn) {
    return {page_ref::owner_kind::space, space, vpn};
  }
  /// The page the pager knows for page `i` of section `s`: its own for a
  /// page-file section, its file's for a file section.
  page_ref section_ref(int s, std::uint64_t i) const {
    const section_state& ss = sections_.at(static_cast<std::size_t>(s));
    return ss.file < 0 ? page_ref{page_ref::owner_kind::section, s, i}
                       : file_ref(ss.file, i);
  }
  static page_ref file_ref(int f, std::uint64_t i) {
    return {page_ref::owner_kind::file, f, i};
  }
  /// Where the pager put page `r`, or nothing (where its owner says).
  std::optional<paging> paging_of(const page_ref& r) const {
    const auto p = paging_.find(r);
    if (p == paging_.end()) return std::nullopt;
    return p->second.where;
  }
  std::optional<paging> page_paging(int s, std::uint64_t i) const {
    return paging_of(section_ref(s, i));
  }

  /// Private page (or private copy) `vpn` of `space`, valid, leaves its
  /// working set: its frame, which holds its only copy, goes to the
  /// modified list.
  void trim_private(int space, std::uint64_t vpn) {
    put_on(private_ref(space, vpn), paging::modified);
  }
  /// A fault on private page `vpn` of `space` (touched before): how it
  /// came back (a listed frame taken back, a paged-out page read and its
  /// slot freed), or resident when the pager had not taken it.
  fault_source fault_in_private(int space, std::uint64_t vpn) {
    const page_ref r = private_ref(space, vpn);
    const std::optional<paging> was = paging_of(r);
    if (!was) return fault_source::resident;
    forget(r);
    return *was == paging::paged_out ? fault_source::read
                                     : fault_source::reclaimed;
  }
  /// Private page `vpn` of `space` is decommitted, released or reset: its
  /// frame and slot go.
  void forget_private(int space, std::uint64_t vpn) {
    forget(private_ref(space, vpn));
  }

  /// Page `i` of section `s` (resident) is mapped valid by one more view
  /// page.
  void map_page(int s, std::uint64_t i) { ++mapped_[section_ref(s, i)]; }
  /// ... by one fewer. When the working-set trim let it go (`trimmed`) and
  /// no view maps it any more, its frame goes to the modified list when
  /// the page is modified, else to standby (mmkit's
  /// section_ops::release_page); unmap and protect leave it resident.
  void unmap_page(int s, std::uint64_t i, bool trimmed) {
    const page_ref r = section_ref(s, i);
    const auto m = mapped_.find(r);
    // Cannot be: every mapped view page is counted (the space's
    // check_invariants sees to it).
    if (m == mapped_.end()) return;
    if (--m->second != 0) return;
    mapped_.erase(m);
    if (!trimmed) return;
    const section_state& ss = sections_.at(static_cast<std::size_t>(s));
    const bool modified =
        ss.file < 0 ||
        files_[static_cast<std::size_t>(ss.file)]->modified.count(i) != 0;
    put_on(r, modified ? paging::modified : paging::standby);
  }
  /// The view PTEs that map page `i` of section `s` valid.
  std::uint32_t mappings(int s, std::uint64_t i) const {
    const auto m = mapped_.find(section_ref(s, i));
    return m == mapped_.end() ? 0 : m->second;
  }

  /// The modified page writer's step: the `n` oldest modified pages are
  /// written (a file's page to its file, below its end; the others to a
  /// page-file slot) and go to the tail of standby. Returns: how many.
  std::uint64_t write_modified(std::uint64_t n) {
    std::uint64_t done = 0;
    while (done < n && !modified_.empty()) {
      const page_ref r = modified_.begin()->second;
      if (r.kind == page_ref::owner_kind::file) {
        file_state& fs = *files_[static_cast<std::size_t>(r.owner)];
        write_back(fs, r.page, *fs.cache.at(r.page));
        fs.modified.erase(r.page);
      }
      forget(r);
      put_on(r, paging::standby);
      ++done;
    }
    return done;
  }
  /// Every standby frame is taken for another use: a private or page-file
  /// section's page is then only in its slot, a file's page only in its
  /// file (it is not resident any more). Returns: how many.
  std::uint64_t repurpose_standby() {
    std::uint64_t done = 0;
    while (!standby_.empty()) {
      const page_ref r = standby_.begin()->second;
      forget(r);
      switch (r.kind) {
        case page_ref::owner_kind::section:
          sections_[static_cast<std::size_t>(r.owner)].own.at(r.page).resident =
              false;
          put_on(r, paging::paged_out);
          break;
        case page_ref::owner_kind::space: put_on(r, paging::paged_out); break;
        case page_ref::owner_kind::file:
          files_[static_cast<std::size_t>(r.owner)]->cache.erase(r.page);
          break;
      }
      ++done;
    }
    return done;
  }
  /// Page-file slots in use.
  std::uint64_t slots_used() const { return slots_; }
  /// The pages of `space` on the standby list (by vpn).
  std::vector<std::uint64_t> pages_on_standby(int space) const {
    std::vector<std::uint64_t> out;
    for (const auto& [seq, r] : standby_)
      if (r.kind == page_ref::owner_kind::space && r.owner == space)
        out.push_back(r.page);
    return out;
  }
  /// Pages on the modified and on the standby list.
  std::uint64_t listed(paging list) const {
    return list == paging::modified  ? modified_.size()
           : list == paging::standby ? standby_.size()
                                     : 0;
  }

  /// The pager's invariants: every listed page is on its list once, in
  /// the position it records; the slots are the standby and paged-out
  /// pages that are not a file's; a section page the pager holds is
  /// resident on a list (not mapped) or, paged out, not resident; a
  /// mapped section page is resident and on no list.
  bool check_pager() const {
    std::uint64_t slots = 0, modified = 0, standby = 0;
    for (const auto& [r, rec] : paging_) {
      if (rec.where != paging::paged_out) {
        const auto& list = rec.where == paging::modified ? modified_ : standby_;
        const auto at = list.find(rec.seq);
        if (at == list.end() || at->second != r) return false;
        (rec.where == paging::modified ? modified : standby) += 1;
      }
      slots += holds_slot(r, rec.where) ? 1 : 0;
      if (mapped_.count(r) != 0) return false;
      switch (r.kind) {
        case page_ref::owner_kind::space: break;  // the space checks its own
        case page_ref::owner_kind::section: {
          const section_state& ss =
              sections_.at(static_cast<std::size_t>(r.owner));
          if (!ss.live || r.page >= ss.own.size() ||
              !ss.own[r.page].committed ||
              ss.own[r.page].resident != (rec.where != paging::paged_out))
            return false;
          break;
        }
        case page_ref::owner_kind::file: {
          const file_state& fs = *files_.at(static_cast<std::size_t>(r.owner));
          if (rec.where == paging::paged_out || fs.cache.count(r.page) == 0 ||
              (rec.where == paging::standby && fs.modified.count(r.page) != 0))
            return false;
          break;
        }
      }
    }
    for (const auto& [r, n] : mapped_) {
      if (n == 0 || r.kind == page_ref::owner_kind::space) return false;
      if (r.kind == page_ref::owner_kind::file
              ? files_.at(static_cast<std::size_t>(r.owner))
                        ->cache.count(r.page) == 0
              : !sections_.at(static_cast<std::size_t>(r.owner))
                     .own.at(r.page)
                     .resident)
        return false;
    }
    return slots == slots_ && modified == modified_.size() &&
           standby == standby_.size();
  }

 private:
  int find_name(const std::string& name) const {
    for (std::size_t i = 0; i < sections_.size(); ++i)
      if (sections_[i].live && sections_[i].in_namespace &&
          sections_[i].name == name)
        return static_cast<int>(i);
    return -1;
  }
  int new_handle(int s, std::uint32_t desired) {
    handles_.push_back({s, section_access::granted(desired)});
    return static_cast<int>(handles_.size() - 1);
  }
  static void fill_from_file(const file_state& fs, std::uint64_t i,
                             page_bytes& out) {
    out.fill(0);
    const std::uint64_t off = i * page_size;
    if (off < fs.bytes.size()) {
      const std::uint64_t n =
          std::min<std::uint64_t>(page_size, fs.bytes.size() - off);
      std::memcpy(out.data(), fs.bytes.data() + off, n);
    }
  }
  static void write_back(file_state& fs, std::uint64_t i,
                         const page_bytes& bytes) {
    const std::uint64_t off = i * page_size;
    if (off >= fs.bytes.size()) return;
    const std::uint64_t n =
        std::min<std::uint64_t>(page_size, fs.bytes.size() - off);
    std::memcpy(fs.bytes.data() + off, bytes.data(), n);
  }
  page_bytes& cached(int f, std::uint64_t i) {
    file_state& fs = *files_[static_cast<std::size_t>(f)];
    auto& slot = fs.cache[i];
    if (!slot) {
      slot = std::make_unique<page_bytes>();
      fill_from_file(fs, i, *slot);
    }
    return *slot;
  }
  /// A section with no handle and no view goes: a page-file section's
  /// charge with it; the last section over a file writes the file's cached
  /// pages back (nothing written through a view is lost) and drops them.
  void maybe_delete(int id) {
    section_state& s = sections_[static_cast<std::size_t>(id)];
    if (s.handles != 0 || s.views != 0 || !s.live) return;
    s.live = false;
    s.in_namespace = false;
    if (s.file < 0) {
      add_charge(-static_cast<std::int64_t>(s.charged));
      section_charge_ -= s.charged;
      pages_in_use_ -= s.pages;
      s.charged = 0;
      // Its listed frames and its slots go with it.
      for (std::uint64_t i = 0; i < s.own.size(); ++i)
        forget(page_ref{page_ref::owner_kind::section, id, i});
      s.own.clear();
      return;
    }
    file_state& fs = *files_[static_cast<std::size_t>(s.file)];
    if (--fs.users != 0) return;
    for (const std::uint64_t i : fs.modified)
      write_back(fs, i, *fs.cache.at(i));
    fs.modified.clear();
    for (const auto& [i, bytes] : fs.cache) forget(file_ref(s.file, i));
    fs.cache.clear();
    fs.segment_pages = 0;
  }

  // The pager's lists (see the header comment).
  struct paging_record {
    paging where = paging::modified;
    std::uint64_t seq = 0;  // position on its list
  };
  std::map<std::uint64_t, page_ref>& list_of(paging where) {
    return where == paging::modified ? modified_ : standby_;
  }
  /// Whether a page the pager put `where` holds a page-file slot: a
  /// written or paged-out page that is not a file's.
  static bool holds_slot(const page_ref& r, paging where) {
    return r.kind != page_ref::owner_kind::file && where != paging::modified;
  }
  /// Requires: the pager holds no record of `r`. Effects: `r` goes `where`
  /// (the tail of its list).
  void put_on(const page_ref& r, paging where) {
    const std::uint64_t seq = next_seq_++;
    paging_[r] = {where, seq};
    if (where != paging::paged_out) list_of(where)[seq] = r;
    if (holds_slot(r, where)) ++slots_;
  }
  /// Effects: the pager forgets `r` (its list entry and slot), if it knew
  /// it.
  void forget(const page_ref& r) {
    const auto p = paging_.find(r);
    if (p == paging_.end()) return;
    if (p->second.where != paging::paged_out)
      list_of(p->second.where).erase(p->second.seq);
    if (holds_slot(r, p->second.where)) --slots_;
    paging_.erase(p);
  }

  std::uint64_t limit_;
  std::uint64_t capacity_;
  std::uint64_t charge_ = 0;
  std::uint64_t section_charge_ = 0;
  std::uint64_t pages_in_use_ = 0;
  std::vector<std::unique_ptr<file_state>> files_;
  std::vector<section_state> sections_;
  std::vector<handle_state> handles_;
  std::vector<view_state> views_;
  std::map<page_ref, paging_record> paging_;
  std::map<std::uint64_t, page_ref> modified_;  // sequence -> page, FIFO
  std::map<std::uint64_t, page_ref> standby_;   // sequence -> page, FIFO
  std::map<page_ref, std::uint32_t> mapped_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t slots_ = 0;
  int next_space_ = 0;
};

/// Deliberate defects for testing the differential driver itself; a real
/// model is `basic_nt_model<model_bug::none>` (alias `nt_model`).
enum class model_bug : std::uint8_t {
  none,
  recommit_zeroes,        // MEM_COMMIT over committed pages loses data
  decommit_keeps_charge,  // decommit forgets to return the commit charge
  trim_keeps_page,        // a private page's trim succeeds and does nothing
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
    int view = -1;          // a mapped view: its id in the world
    int section = -1;       // and its section's
    std::uint64_t first_page = 0;  // the section page of the first page
    std::uint64_t cow_charge = 0;  // pages charged for copy-on-write
    bool mapped() const { return view >= 0; }
  };
  /// A page of a view whose protection or contents are its own: the
  /// protection it was given (by commit, protect, a lifted guard or its
  /// copy), and its private copy once a copy-on-write write made one.
  struct view_page {
    std::optional<std::uint32_t> protect;
    std::unique_ptr<std::array<std::uint8_t, page_size>> copy;
    bool dirty = false;  // written through this view (the PTE's D bit)
    /// The PTE maps the section's frame (valid, in the working set).
    bool mapped = false;
  };
  struct page_state {
    std::uint32_t protect = 0;
    bool unknown = false;  // MEM_RESET: contents undefined until rewritten
    /// Touched since it was committed or reset: no longer demand-zero
    /// (a frame holds it, or the pager has it: section_world::paging_of).
    bool touched = false;
    std::unique_ptr<std::array<std::uint8_t, page_size>> bytes;
  };

  /// Requires: layout.highest + 1 is a multiple of 64 KiB.
  basic_nt_model(nt_layout layout, std::uint64_t commit_limit_pages)
      : layout_(layout),
        world_(std::make_shared<section_world>(commit_limit_pages)),
        space_(world_->new_space()) {}
  /// An address space of `world` (shared with the other spaces on it).
  basic_nt_model(nt_layout layout, std::shared_ptr<section_world> world)
      : layout_(layout),
        world_(std::move(world)),
        space_(world_->new_space()) {}
  using allocation_map = std::map<std::uint64_t, allocation>;

  /// A space that goes unmaps its views, gives its pages' frames and
  /// slots back and returns its charge (its world lives on).
  ~basic_nt_model() {
    for (auto a = allocs_.begin(); a != allocs_.end(); ++a)
      if (a->second.mapped()) {
        harvest_dirt(a, a->first, a->second.end_vpn);
        unmap_pages(a);
        world_->remove_view(a->second.view);
      }
    for (const auto& [v, p] : committed_)
      if (p.touched) world_->forget_private(space_, v);
    world_->add_charge(-static_cast<std::int64_t>(charge_));
  }
  basic_nt_model(const basic_nt_model&) = delete;
  basic_nt_model& operator=(const basic_nt_model&) = delete;

  section_world& world() { return *world_; }
  const section_world& world() const { return *world_; }
  std::shared_ptr<section_world> shared_world() const { return world_; }

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
    if (!valid_protect(protect) ||
        (copy_on_write(protect) &&
         !commit_into_file_view(base_io, size_io, type)))
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
      if ((type & mem::commit) && !world_->can_charge(pages))
        return nt_status::commitment_limit;
      allocs_.emplace(start >> 12, allocation{end >> 12, protect, physical});
      if (type & mem::commit) {
        for (std::uint64_t v = start >> 12; v < end >> 12; ++v) {
          committed_[v].protect = protect;
        }
        add_charge(static_cast<std::int64_t>(pages));
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
    if (a->second.mapped()) {
      const nt_status st = commit_view(a, start >> 12, end >> 12, protect);
      if (st != nt_status::success) return st;
      base_io = start;
      size_io = end - start;
      return nt_status::success;
    }
    std::uint64_t new_pages = 0;
    for (std::uint64_t v = start >> 12; v < end >> 12; ++v)
      new_pages += committed_.count(v) == 0 ? 1 : 0;
    // Committing committed pages does not charge twice.
    if (!world_->can_charge(new_pages)) return nt_status::commitment_limit;
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
    add_charge(static_cast<std::int64_t>(new_pages));
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
    // A view goes with NtUnmapViewOfSection only: once the range is known
    // to lie in it, free and decommit answer UNABLE_TO_DELETE_SECTION
    // (ReactOS NtMapViewOfSection.c: decommit and release of view pages).
    if (a->second.mapped()) return nt_status::unable_to_delete_section;
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

    // Drop the committed pages of [s, e): decommit and release both do it,
    // with their frames and page-file slots.
    auto first = committed_.lower_bound(s);
    auto last = committed_.lower_bound(e);
    const auto dropped = static_cast<std::uint64_t>(std::distance(first, last));
    for (auto p = first; p != last; ++p)
      if (p->second.touched) world_->forget_private(space_, p->first);
    committed_.erase(first, last);
    if constexpr (Bug != model_bug::decommit_keeps_charge) {
      add_charge(-static_cast<std::int64_t>(dropped));
    } else {
      if (free_type == mem::release)
        add_charge(-static_cast<std::int64_t>(dropped));
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
    if (a->second.mapped()) {
      const nt_status st =
          protect_view(a, start >> 12, end >> 12, new_protect, old_protect);
      if (st != nt_status::success) return st;
      base_io = start;
      size_io = end - start;
      return nt_status::success;
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

  // ---- sections (the world's calls, for this space's convenience) ---------
  nt_status create_section(int& handle, std::uint32_t desired_access,
                           const std::string& name, std::uint32_t obj_flags,
                           std::uint64_t max_size, std::uint32_t protect,
                           std::uint32_t attributes, int file = -1) {
    return world_->create_section(handle, desired_access, name, obj_flags,
                                  max_size, protect, attributes, file);
  }
  nt_status open_section(int& handle, std::uint32_t desired_access,
                         const std::string& name) {
    return world_->open_section(handle, desired_access, name);
  }
  nt_status close_section(int handle) { return world_->close_section(handle); }
  int create_file(std::vector<std::uint8_t> bytes, bool writable) {
    return world_->create_file(std::move(bytes), writable);
  }
  std::vector<std::uint8_t> file_bytes(int file) const {
    return world_->file_bytes(file);
  }
  nt_status set_end_of_file(int file, std::uint64_t size) {
    return world_->set_end_of_file(file, size);
  }

  // ---- NtMapViewOfSection -------------------------------------------------
  /// base and size are in/out; on failure they are unchanged. Statuses, in
  /// the order Windows checks them:
  ///   INVALID_PAGE_PROTECTION (ReactOS ZwMapViewOfSection kmtest:
  ///     READWRITE|READONLY)
  ///   INVALID_PARAMETER_9: an allocation type other than MEM_TOP_DOWN and
  ///     MEM_RESERVE (ReactOS NtMapViewOfSection.c: MEM_COMMIT; Wine ntdll
  ///     test_NtMapViewOfSection: AT_ROUND_TO_PAGE on 64-bit)
  ///   INVALID_PARAMETER_4: ZeroBits (Wine: 22; 0x1aaaaaaa on 32-bit)
  ///   INVALID_HANDLE
  ///   INVALID_PARAMETER_3: a base beyond user space, aligned or not
  ///     (kmtest: MmSystemRangeStart + 200), or a size past its end (x64
  ///     ReactOS: ViewSize MAXULONG_PTR with a NULL base)
  ///   INVALID_PARAMETER_4: an explicit base the ZeroBits do not allow,
  ///     before its alignment is looked at (Wine ntdll and kernel32
  ///     test_NtMapViewOfSection; ReactOS: 0x30000000 with ZeroBits 2
  ///     maps, with 3 does not)
  ///   ACCESS_DENIED: the handle lacks SECTION_MAP_* for the protection
  ///     (Wine kernel32 test_MapViewOfFile); the handle is referenced
  ///     before the alignment is checked (kmtest: a bad handle with an
  ///     unaligned base is STATUS_INVALID_HANDLE)
  ///   MAPPED_ALIGNMENT: base or offset not a multiple of 64 KiB (Wine;
  ///     ReactOS)
  ///   SECTION_PROTECTION: the section's protection does not allow the
  ///     view's (MmCompatibleProtectionMask; kmtest's rows)
  ///   MEM_RESERVE: INVALID_PARAMETER_9 for a page-file section (ReactOS
  ///     apitest and kmtest), SECTION_PROTECTION for a file section that is
  ///     not writable (kmtest); it lets a file view run past the section's
  ///     end (kmtest), those pages never committed
  ///   INVALID_VIEW_SIZE: offset at or past the section's end, or a size
  ///     past it (Wine kernel32: a 0x3452-byte section maps 0x3452 bytes,
  ///     not 0x3453); size 0 maps to the end
  ///   INVALID_PARAMETER_5: CommitSize in a file section without
  ///     MEM_RESERVE, or larger than the view (kmtest)
  ///   CONFLICTING_ADDRESSES (Wine: mapping at the same page), NO_MEMORY
  ///     (no free range below the ZeroBits limit)
  ///   COMMITMENT_LIMIT: a copy-on-write view charges all its pages to the
  ///     space now; CommitSize commits a page-file section's first pages
  ///     of the view (ReactOS: SEC_RESERVE, CommitSize one page: the first
  ///     page is accessible, the second not)
  /// The view is rounded up to pages; with base 0 it goes in the lowest
  /// (MEM_TOP_DOWN: highest) free 64 KiB-aligned range. It takes the
  /// section's caching attribute (SEC_NOCACHE, SEC_WRITECOMBINE).
  nt_status map_view(int handle, std::uint64_t& base_io, std::uint64_t& size_io,
                     std::uint64_t offset, std::uint32_t type,
                     std::uint32_t protect, std::uint64_t zero_bits = 0,
                     std::uint64_t commit_size = 0) {
    // ReactOS's NtMapViewOfSection checks ZeroBits, the inherit
    // disposition (not modelled), the allocation type, then the protection.
    const auto zb_limit = zero_bits_limit(zero_bits);
    if (!zb_limit) return nt_status::invalid_parameter_4;
    if (type & ~(mem::top_down | mem::reserve))
      return nt_status::invalid_parameter_9;
    if (!valid_protect(protect)) return nt_status::invalid_page_protection;
    if (!world_->handle_open(handle)) return nt_status::invalid_handle;
    const std::uint64_t base = base_io;
    const std::uint64_t size = size_io;
    if (base != 0) {
      if (base > layout_.highest || layout_.highest + 1 - base < size)
        return nt_status::invalid_parameter_3;
      if (zero_bits != 0 && base + (size == 0 ? 0 : size - 1) > *zb_limit)
        return nt_status::invalid_parameter_4;
    } else if (size > layout_.highest) {
      return nt_status::invalid_parameter_3;
    }
    const auto& h = world_->handle(handle);
    if (section_access::needed_for(protect) & ~h.access)
      return nt_status::access_denied;
    if ((base & (granularity - 1)) != 0 || (offset & (granularity - 1)) != 0)
      return nt_status::mapped_alignment;
    const auto& sec = world_->section(h.section);
    if (!protection_compatible(sec.protect, protect))
      return nt_status::section_protection;
    const bool reserve = type & mem::reserve;
    if (reserve) {
      if (sec.file < 0) return nt_status::invalid_parameter_9;
      if (sec.protect != page::readwrite &&
          sec.protect != page::execute_readwrite)
        return nt_status::section_protection;
    }
    if (offset >= sec.size) return nt_status::invalid_view_size;
    const std::uint64_t want = size == 0 ? sec.size - offset : size;
    if (want > sec.size - offset && !reserve)
      return nt_status::invalid_view_size;
    if (commit_size != 0 && ((sec.file >= 0 && !reserve) || commit_size > want))
      return nt_status::invalid_parameter_5;
    if (want > layout_.highest) return nt_status::no_memory;
    const std::uint64_t bytes = page_up(want);
    const std::uint64_t pages = bytes >> 12;
    // A view whose rounded size runs past user space from an explicit
    // base: _3, as for an explicit size (reasoned).
    if (base != 0 && layout_.highest + 1 - base < bytes)
      return nt_status::invalid_parameter_3;
    std::uint64_t start = base;
    if (base != 0) {
      if (overlaps(start >> 12, (start + bytes) >> 12))
        return nt_status::conflicting_addresses;
    } else {
      const std::uint64_t limit = std::min(*zb_limit, layout_.highest);
      const auto found = (type & mem::top_down) ? find_top_down(bytes, limit)
                                                : find_bottom_up(bytes, limit);
      if (!found) return nt_status::no_memory;
      start = *found;
    }
    const std::uint64_t first_page = offset >> 12;
    std::uint64_t commit_pages = 0;
    if (commit_size != 0 && sec.file < 0)
      commit_pages = std::min(page_up(commit_size) >> 12, pages);
    std::uint64_t fresh = 0;
    for (std::uint64_t i = first_page; i < first_page + commit_pages; ++i)
      fresh += world_->page_committed(h.section, i) ? 0 : 1;
    const std::uint64_t cow = copy_on_write(protect) ? pages : 0;
    if (!world_->can_charge(cow + fresh)) return nt_status::commitment_limit;
    const int section = h.section;
    if (commit_pages != 0)
      world_->commit_pages(section, first_page, commit_pages);
    add_charge(static_cast<std::int64_t>(cow));
    const std::uint32_t caching =
        (sec.attributes & sec::nocache)        ? page::nocache
        : (sec.attributes & sec::writecombine) ? page::writecombine
                                               : 0u;
    allocation al{(start + bytes) >> 12,
                  with_allocation_caching(protect, page::readonly | caching)};
    al.view = world_->add_view(section, first_page, pages);
    al.section = section;
    al.first_page = first_page;
    al.cow_charge = cow;
    allocs_.emplace(start >> 12, al);
    base_io = start;
    size_io = bytes;
    return nt_status::success;
  }

  // ---- NtUnmapViewOfSection -----------------------------------------------
  /// Any address inside the view unmaps it (Wine kernel32
  /// test_MapViewOfFile: ptr + 100, ptr + 4096); free or private memory is
  /// NOT_MAPPED_VIEW (there: ERROR_INVALID_ADDRESS). The view's private
  /// copies and copy-on-write charge go with it, and the section with its
  /// last reference.
  nt_status unmap_view(std::uint64_t address) {
    if (address > layout_.highest) return nt_status::not_mapped_view;
    const auto a = find_allocation(address >> 12);
    if (a == allocs_.end() || !a->second.mapped())
      return nt_status::not_mapped_view;
    harvest_dirt(a, a->first, a->second.end_vpn);
    unmap_pages(a);
    view_pages_.erase(view_pages_.lower_bound(a->first),
                      view_pages_.lower_bound(a->second.end_vpn));
    add_charge(-static_cast<std::int64_t>(a->second.cow_charge));
    const int view = a->second.view;
    allocs_.erase(a);
    world_->remove_view(view);
    return nt_status::success;
  }

  // ---- NtFlushVirtualMemory -----------------------------------------------
  /// The page-rounded range (size 0: to the view's end) must lie in one
  /// view: INVALID_PARAMETER_2 beyond user space, NOT_MAPPED_DATA in free
  /// or private memory, NOT_MAPPED_VIEW past the view (WRK flushsec.c;
  /// reasoned where it is silent). A file section's pages there are
  /// written to the file (below its end); the view's private copies never
  /// are. base and size become the range.
  nt_status flush(std::uint64_t& base_io, std::uint64_t& size_io) {
    const std::uint64_t base = base_io;
    const std::uint64_t size = size_io;
    if (base > layout_.highest) return nt_status::invalid_parameter_2;
    const auto a = find_allocation(base >> 12);
    if (a == allocs_.end() || !a->second.mapped())
      return nt_status::not_mapped_data;
    const std::uint64_t first = base >> 12;
    const std::uint64_t last = size == 0 ? a->second.end_vpn - 1
                               : layout_.highest + 1 - base < size
                                   ? ~std::uint64_t{0}
                                   : (base + size - 1) >> 12;
    if (last >= a->second.end_vpn) return nt_status::not_mapped_view;
    harvest_dirt(a, first, last + 1);
    world_->flush_pages(a->second.section,
                        a->second.first_page + (first - a->first),
                        last - first + 1);
    base_io = first << 12;
    size_io = (last - first + 1) << 12;
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
    if (a->second.mapped()) {
      query_view(a, v, info);
      return nt_status::success;
    }
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

  // ---- the pager -----------------------------------------------------------
  // The working-set trim of one page, and the system's steps (the world's,
  // offered here as the implementation offers them through its system):
  // mmkit's region/working_set.hpp and system.hpp "the pager".

  /// Effects: the page at `address` leaves the working set: a valid
  /// private page's frame (or a view's private copy's) goes to the
  /// modified list, its PTE becomes a transition PTE; a view's page mapped
  /// here gets its prototype PTE back, its dirt reaches its section page,
  /// and when no other view maps the page its frame goes to the modified
  /// or standby list. Returns: whether the page was valid and could go (a
  /// page not mapped, NOACCESS and GUARD pages stay).
  bool trim(std::uint64_t address) {
    if (address > layout_.highest) return false;
    const std::uint64_t v = address >> 12;
    const auto a = find_allocation(v);
    if (a == allocs_.end()) return false;
    if (a->second.mapped()) {
      const auto vp = view_pages_.find(v);
      if (vp == view_pages_.end()) return false;
      if (vp->second.copy) {
        if (copy_pte(a, v) != pte_kind::valid) return false;
        world_->trim_private(space_, v);
        return true;
      }
      if (!vp->second.mapped) return false;
      harvest_dirt(a, v, v + 1);
      vp->second.mapped = false;
      world_->unmap_page(a->second.section,
                         a->second.first_page + (v - a->first), true);
      return true;
    }
    const auto p = committed_.find(v);
    if (p == committed_.end() || private_pte(v, p->second) != pte_kind::valid)
      return false;
    if constexpr (Bug == model_bug::trim_keeps_page) return true;
    world_->trim_private(space_, v);
    return true;
  }

  /// What the PTE of page `vpn` holds, as this model expects it (zero
  /// outside committed private pages and views).
  pte_kind expected_pte(std::uint64_t vpn) const {
    const auto a = find_allocation(vpn);
    if (a == allocs_.end()) return pte_kind::zero;
    if (a->second.mapped()) {
      const auto vp = view_pages_.find(vpn);
      if (vp != view_pages_.end() && vp->second.copy) return copy_pte(a, vpn);
      if (vp != view_pages_.end() && vp->second.mapped) return pte_kind::valid;
      return pte_kind::prototype;
    }
    const auto p = committed_.find(vpn);
    return p == committed_.end() ? pte_kind::zero : private_pte(vpn, p->second);
  }
  /// The PTE of `address`'s page (the implementation's translate()).
  pte_kind pte(std::uint64_t address) const {
    return address > layout_.highest ? pte_kind::zero
                                     : expected_pte(address >> 12);
  }
  /// The soft and hard faults this space took so far.
  pager_faults faults() const { return faults_; }

  /// The modified page writer's step over the world (see section_world::
  /// write_modified). Returns: the pages written.
  std::uint64_t write_modified_pages(std::uint64_t n) {
    return world_->write_modified(n);
  }
  /// Every standby frame is repurposed (section_world::repurpose_standby).
  std::uint64_t repurpose_standby() { return world_->repurpose_standby(); }
  /// The balance step under pressure, done the simplest way: every valid
  /// page of this space that can leave its working set does, then every
  /// modified page is written. (The differential driver does not ask its
  /// reference model for this: mmkit's clock may leave pages, and the
  /// driver has the model follow the trims the implementation made.)
  /// Returns: the pages trimmed.
  std::uint64_t balance() {
    std::vector<std::uint64_t> valid;
    for (const auto& [v, p] : committed_)
      if (private_pte(v, p) == pte_kind::valid) valid.push_back(v);
    for (const auto& [v, vp] : view_pages_)
      if (vp.mapped || vp.copy) valid.push_back(v);  // trim() decides
    std::uint64_t trimmed = 0;
    for (const std::uint64_t v : valid) trimmed += trim(v << 12) ? 1 : 0;
    world_->write_modified(~std::uint64_t{0});
    return trimmed;
  }
  /// This space's pages (private pages and copies) on the standby list.
  std::vector<std::uint64_t> pages_on_standby() const {
    return world_->pages_on_standby(space_);
  }
  /// Page-file slots in use, and the pages on the two lists.
  std::uint64_t page_file_slots_used() const { return world_->slots_used(); }
  pager_lists listed_pages() const {
    return {world_->listed(section_world::paging::modified),
            world_->listed(section_world::paging::standby)};
  }

  // ---- accounting and checks ----------------------------------------------
  /// This space's commit charge: its committed private pages and its
  /// copy-on-write views' pages.
  std::uint64_t commit_charge() const { return charge_; }
  std::uint64_t commit_limit() const { return world_->commit_limit(); }
  /// The system's commit charge: every space's and every page-file
  /// section's.
  std::uint64_t system_commit_charge() const { return world_->commit_charge(); }
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
      if (!valid_protect(a.protect) ||
          (copy_on_write(a.protect) && !a.mapped()))
        return false;
      prev_end = a.end_vpn;
    }
    // Both maps are sorted: one merged pass checks every committed page
    // lies inside an allocation.
    auto a = allocs_.begin();
    for (const auto& [v, p] : committed_) {
      while (a != allocs_.end() && a->second.end_vpn <= v) ++a;
      if (a == allocs_.end() || v < a->first || a->second.mapped())
        return false;
      if (!valid_protect(p.protect) || copy_on_write(p.protect)) return false;
    }
    std::uint64_t cow = 0;
    for (const auto& [first, al] : allocs_) {
      if (!al.mapped()) continue;
      cow += al.cow_charge;
      const auto& vw = world_->view(al.view);
      if (vw.section != al.section || vw.first_page != al.first_page ||
          vw.pages != al.end_vpn - first)
        return false;
    }
    for (const auto& [v, p] : view_pages_) {
      const auto al = find_allocation(v);
      if (al == allocs_.end() || !al->second.mapped()) return false;
      // A mapped page is its section's, resident and on no list.
      if (p.mapped) {
        const std::uint64_t i = al->second.first_page + (v - al->first);
        if (p.copy || !world_->page_resident(al->second.section, i) ||
            world_->page_paging(al->second.section, i) ||
            world_->mappings(al->second.section, i) == 0)
          return false;
      }
    }
    // The pager holds only pages that were touched, and copies.
    for (const auto& [v, p] : committed_)
      if (!p.touched &&
          world_->paging_of(section_world::private_ref(space_, v)))
        return false;
    for (const auto& [v, p] : view_pages_)
      if (!p.copy && world_->paging_of(section_world::private_ref(space_, v)))
        return false;
    if (!world_->check_pager()) return false;
    return charge_ == committed_.size() + cow &&
           world_->commit_charge() <= world_->commit_limit();
  }

  // ---- introspection for the drivers --------------------------------------
  const std::map<std::uint64_t, allocation>& allocations() const {
    return allocs_;
  }
  const std::map<std::uint64_t, page_state>& committed_pages() const {
    return committed_;
  }
  /// The pages of views with a protection or a copy of their own.
  const std::map<std::uint64_t, view_page>& view_pages() const {
    return view_pages_;
  }
  /// What a page of a view is: committed (its section page), its
  /// protection, whether it has its private copy.
  struct view_page_info {
    bool committed = false;
    std::uint32_t protect = 0;
    bool copied = false;
    int section = -1;
    std::uint64_t section_page = 0;
  };
  /// Requires: `vpn` lies in a view.
  view_page_info view_page_at(std::uint64_t vpn) const {
    const auto a = find_allocation(vpn);
    view_page_info i;
    i.section = a->second.section;
    i.section_page = a->second.first_page + (vpn - a->first);
    i.committed = view_page_committed(a, vpn);
    i.protect = view_protect(a, vpn);
    i.copied = view_copied(vpn);
    return i;
  }
  /// Whether `vpn` lies in a mapped view.
  bool in_view(std::uint64_t vpn) const {
    const auto a = find_allocation(vpn);
    return a != allocs_.end() && a->second.mapped();
  }
  /// The bytes a read of page `vpn` (committed, in a view) would see,
  /// changing nothing.
  std::array<std::uint8_t, page_size> view_bytes(std::uint64_t vpn) const {
    if (const auto vp = view_pages_.find(vpn);
        vp != view_pages_.end() && vp->second.copy)
      return *vp->second.copy;
    const auto a = find_allocation(vpn);
    return world_->peek(a->second.section,
                        a->second.first_page + (vpn - a->first));
  }

  /// False for pages whose contents are undefined after MEM_RESET.
  bool contents_known(std::uint64_t vpn) const {
    const auto p = committed_.find(vpn);
    return p == committed_.end() || !p->second.unknown;
  }

  // ---- protection helpers (public: the drivers use them too) --------------
  /// WRITECOPY -> READWRITE, EXECUTE_WRITECOPY -> EXECUTE_READWRITE (a
  /// page that has its copy), modifiers kept.
  static std::uint32_t copied_form(std::uint32_t p) {
    const std::uint32_t b = p & 0xFFu;
    const std::uint32_t m = p & ~0xFFu;
    if (b == page::writecopy) return page::readwrite | m;
    if (b == page::execute_writecopy) return page::execute_readwrite | m;
    return p;
  }
  /// READWRITE -> WRITECOPY, EXECUTE_READWRITE -> EXECUTE_WRITECOPY (a
  /// shared page of a copy-on-write view), modifiers kept.
  static std::uint32_t copy_on_write_form(std::uint32_t p) {
    const std::uint32_t b = p & 0xFFu;
    const std::uint32_t m = p & ~0xFFu;
    if (b == page::readwrite) return page::writecopy | m;
    if (b == page::execute_readwrite) return page::execute_writecopy | m;
    return p;
  }
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
                b == page::execute_readwrite || b == page::execute_writecopy;
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
    // A view: a hint its section's pages may ignore (Wine kernel32
    // test_MapViewOfFile: MEM_RESET over a SEC_RESERVE view, committed or
    // not, succeeds); nothing changes.
    if (a->second.mapped()) {
      base_io = start;
      size_io = end - start;
      return nt_status::success;
    }
    // Their frames and slots go: they are demand-zero again.
    for (auto p = committed_.lower_bound(start >> 12);
         p != committed_.end() && p->first < (end >> 12); ++p) {
      p->second.unknown = true;
      p->second.bytes.reset();
      if (p->second.touched) world_->forget_private(space_, p->first);
      p->second.touched = false;
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
    const std::uint64_t v = address >> 12;
    if (const auto a = find_allocation(v);
        a != allocs_.end() && a->second.mapped())
      return touch_view(a, v, kind);
    const auto p = committed_.find(v);
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
    // The page comes in: a zeroed frame the first time, else from where
    // the pager put it.
    if (p->second.touched)
      count_fault(world_->fault_in_private(space_, p->first));
    p->second.touched = true;
    return nt_status::success;
  }

  /// An access to page `v` of view `a`: its section page must be committed
  /// and its protection allow the access (a copy-on-write page allows a
  /// write); a guard page faults once. The page is brought in (resident in
  /// its section from now on), and a write to a copy-on-write page first
  /// copies it into the view's own page, which is then READWRITE (or
  /// EXECUTE_READWRITE) with the same modifiers (the issue's copy-on-write
  /// rules; Wine kernel32 test_CreateFileMapping_protection: WRITECOPY
  /// reads back as READWRITE once written).
  nt_status touch_view(alloc_iter a, std::uint64_t v, access_kind kind) {
    const std::uint64_t i = a->second.first_page + (v - a->first);
    if (!world_->page_committed(a->second.section, i))
      return nt_status::access_violation;
    const std::uint32_t prot = view_protect(a, v);
    const rights r = rights_of(prot);
    const bool cow = copy_on_write(prot);
    const bool allowed = kind == access_kind::read    ? r.read
                         : kind == access_kind::write ? r.write || cow
                                                      : r.execute;
    if (!allowed) return nt_status::access_violation;
    if (prot & page::guard) {
      view_pages_[v].protect = prot & ~page::guard;
      return nt_status::guard_page_violation;
    }
    // A private copy is the view's own page: no fault reaches the section;
    // the pager may have it, as a private page.
    if (view_copied(v)) {
      count_fault(world_->fault_in_private(space_, v));
      return nt_status::success;
    }
    // A page not mapped here faults through its section (mmkit's
    // handle_prototype): taken back from a list, read, or zeroed.
    const bool was_mapped = view_mapped(v);
    section_world::fault_source how{};
    const auto* bytes = world_->bring_in(a->second.section, i, how);
    if (!was_mapped) count_fault(how);
    view_page& vp = view_pages_[v];
    if (kind == access_kind::write && cow) {
      vp.copy = std::make_unique<std::array<std::uint8_t, page_size>>();
      if (bytes != nullptr)
        *vp.copy = *bytes;
      else
        vp.copy->fill(0);
      vp.protect = copied_form(prot);
      // The copy replaces the shared page in this view.
      if (was_mapped) {
        vp.mapped = false;
        world_->unmap_page(a->second.section, i, false);
      }
    } else {
      if (!was_mapped) {
        vp.mapped = true;
        world_->map_page(a->second.section, i);
      }
      if (kind == access_kind::write) vp.dirty = true;  // the shared page
    }
    return nt_status::success;
  }

  /// The bytes of page `v` (touched already): to read (null: zeros) or to
  /// write.
  const std::array<std::uint8_t, page_size>* bytes_to_read(std::uint64_t v) {
    if (const auto a = find_allocation(v);
        a != allocs_.end() && a->second.mapped()) {
      if (const auto vp = view_pages_.find(v);
          vp != view_pages_.end() && vp->second.copy)
        return vp->second.copy.get();
      return world_->bring_in(a->second.section,
                              a->second.first_page + (v - a->first));
    }
    return committed_.at(v).bytes.get();
  }
  std::array<std::uint8_t, page_size>& bytes_to_write(std::uint64_t v,
                                                      std::size_t chunk) {
    if (const auto a = find_allocation(v);
        a != allocs_.end() && a->second.mapped()) {
      if (const auto vp = view_pages_.find(v);
          vp != view_pages_.end() && vp->second.copy)
        return *vp->second.copy;
      view_pages_[v].dirty = true;
      return world_->bytes_to_write(a->second.section,
                                    a->second.first_page + (v - a->first));
    }
    page_state& pg = committed_.at(v);
    if (!pg.bytes) {
      pg.bytes = std::make_unique<std::array<std::uint8_t, page_size>>();
      pg.bytes->fill(0);
    }
    if (chunk == page_size) pg.unknown = false;
    return *pg.bytes;
  }

  nt_status copy(std::uint64_t address, std::uint8_t* buffer, std::size_t size,
                 std::size_t& bytes_done, access_kind kind) {
    bytes_done = 0;
    std::uint64_t cur = address;
    while (bytes_done < size) {
      const nt_status st = touch(cur, kind, access_mode::user);
      if (st != nt_status::success)
        return bytes_done == 0 ? st : nt_status::partial_copy;
      const std::uint64_t offset = cur & (page_size - 1);
      const std::size_t chunk = static_cast<std::size_t>(
          std::min<std::uint64_t>(page_size - offset, size - bytes_done));
      if (kind == access_kind::read) {
        if (const auto* b = bytes_to_read(cur >> 12))
          std::memcpy(buffer + bytes_done, b->data() + offset, chunk);
        else
          std::memset(buffer + bytes_done, 0, chunk);
      } else {
        std::memcpy(bytes_to_write(cur >> 12, chunk).data() + offset,
                    buffer + bytes_done, chunk);
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

  // ---- views ----------------------------------------------------------------

  void add_charge(std::int64_t pages) {
    charge_ =
        static_cast<std::uint64_t>(static_cast<std::int64_t>(charge_) + pages);
    world_->add_charge(pages);
  }

  /// Whether a page of protection `p` may be mapped valid: NOACCESS and
  /// GUARD pages stay not present, so that every access faults (mmkit's
  /// page_model::mappable).
  static bool mappable(std::uint32_t p) {
    return !(p & page::guard) && (p & 0xFFu) != page::noaccess;
  }
  /// What the PTE of committed private page `vpn` holds.
  pte_kind private_pte(std::uint64_t vpn, const page_state& p) const {
    if (!p.touched) return pte_kind::demand_zero;
    if (const auto w =
            world_->paging_of(section_world::private_ref(space_, vpn)))
      return *w == section_world::paging::paged_out ? pte_kind::page_file
                                                    : pte_kind::transition;
    return mappable(p.protect) ? pte_kind::valid : pte_kind::transition;
  }
  /// What the PTE of page `vpn` of view `a`, a private copy, holds: the
  /// pager treats the copy as a private page.
  pte_kind copy_pte(alloc_iter a, std::uint64_t vpn) const {
    if (const auto w =
            world_->paging_of(section_world::private_ref(space_, vpn)))
      return *w == section_world::paging::paged_out ? pte_kind::page_file
                                                    : pte_kind::transition;
    return mappable(view_protect(a, vpn)) ? pte_kind::valid
                                          : pte_kind::transition;
  }
  void count_fault(section_world::fault_source how) {
    if (how == section_world::fault_source::reclaimed) ++faults_.soft;
    if (how == section_world::fault_source::read) ++faults_.hard;
  }
  bool view_mapped(std::uint64_t v) const {
    const auto vp = view_pages_.find(v);
    return vp != view_pages_.end() && vp->second.mapped;
  }
  /// The pages of view `a` mapped here let go of their section pages
  /// (which stay resident), and its private copies of their frames and
  /// slots.
  void unmap_pages(alloc_iter a) {
    for (auto vp = view_pages_.lower_bound(a->first);
         vp != view_pages_.end() && vp->first < a->second.end_vpn; ++vp) {
      if (vp->second.copy) world_->forget_private(space_, vp->first);
      if (!vp->second.mapped) continue;
      vp->second.mapped = false;
      world_->unmap_page(a->second.section,
                         a->second.first_page + (vp->first - a->first), false);
    }
  }

  /// The protection of page `v` of view `a`.
  std::uint32_t view_protect(alloc_iter a, std::uint64_t v) const {
    if (const auto vp = view_pages_.find(v);
        vp != view_pages_.end() && vp->second.protect)
      return *vp->second.protect;
    return a->second.protect;
  }
  bool view_copied(std::uint64_t v) const {
    const auto vp = view_pages_.find(v);
    return vp != view_pages_.end() && vp->second.copy != nullptr;
  }
  bool view_page_committed(alloc_iter a, std::uint64_t v) const {
    return world_->page_committed(a->second.section,
                                  a->second.first_page + (v - a->first));
  }
  /// Gives pages [s, e) of view `a` protection `p` (the allocation's
  /// caching attribute already applied): a copied page takes its written
  /// form, a shared page of a copy-on-write view its copy-on-write form.
  void set_view_protection(alloc_iter a, std::uint64_t s, std::uint64_t e,
                           std::uint32_t p) {
    const bool cow_view = copy_on_write(a->second.protect);
    harvest_dirt(a, s, e);
    for (std::uint64_t v = s; v < e; ++v) {
      view_page& vp = view_pages_[v];
      vp.protect = vp.copy    ? copied_form(p)
                   : cow_view ? copy_on_write_form(p)
                              : p;
      // A shared page stays mapped only with a protection a valid PTE can
      // give (mmkit's protect_view); it stays resident in its section.
      if (vp.mapped && !mappable(*vp.protect)) {
        vp.mapped = false;
        world_->unmap_page(a->second.section,
                           a->second.first_page + (v - a->first), false);
      }
    }
  }

  /// The dirt of view pages [s, e) reaches their section pages.
  void harvest_dirt(alloc_iter a, std::uint64_t s, std::uint64_t e) {
    for (auto vp = view_pages_.lower_bound(s);
         vp != view_pages_.end() && vp->first < e; ++vp) {
      if (!vp->second.dirty) continue;
      vp->second.dirty = false;
      world_->mark_modified(a->second.section,
                            a->second.first_page + (vp->first - a->first));
    }
  }

  /// MEM_COMMIT of view pages [s, e) (the range lies in view `a`):
  ///   a file section's pages are committed already: ALREADY_COMMITTED
  ///     (WRK allocvm.c; Wine kernel32 test_CreateFileMapping_protection:
  ///     VirtualAlloc(MEM_COMMIT) on a file view fails with
  ///     ERROR_ACCESS_DENIED, whatever the protection)
  ///   a copy-on-write protection: INVALID_PAGE_PROTECTION (as for private
  ///     memory; reasoned)
  ///   a protection the view's does not allow: SECTION_PROTECTION (current
  ///     Windows' MiCommitPagefileBackedSection checks
  ///     MmCompatibleProtectionMask of the view; Windows 2003 did not, as
  ///     ReactOS NtMapViewOfSection.c's commit in a NOACCESS view shows); in
  ///     a copy-on-write view a write protection is taken in its
  ///     copy-on-write form first, as protect takes it (reasoned)
  ///   COMMITMENT_LIMIT for the section pages not committed yet, charged
  ///     to the section (shared commit: Wine test_MapViewOfFile, a commit
  ///     through one view commits the pages in every view)
  /// and the pages of this view get the protection (the other views keep
  /// theirs: Wine test_MapViewOfFile; ReactOS: committing again succeeds).
  nt_status commit_view(alloc_iter a, std::uint64_t s, std::uint64_t e,
                        std::uint32_t protect) {
    const auto& sec = world_->section(a->second.section);
    if (sec.file >= 0) return nt_status::already_committed;
    if (copy_on_write(protect)) return nt_status::invalid_page_protection;
    const std::uint32_t asked = copy_on_write(a->second.protect)
                                    ? copy_on_write_form(protect)
                                    : protect;
    if (!protection_compatible(a->second.protect, asked))
      return nt_status::section_protection;
    const nt_status st = world_->commit_pages(
        a->second.section, a->second.first_page + (s - a->first), e - s);
    if (st != nt_status::success) return st;
    set_view_protection(a, s, e,
                        with_allocation_caching(protect, a->second.protect));
    return nt_status::success;
  }

  /// NtProtectVirtualMemory of view pages [s, e), in current Windows'
  /// order (its NtProtectVirtualMemory, decompiled; ReactOS
  /// NtMapViewOfSection.c: READWRITE and READONLY on an uncommitted page of
  /// a NOACCESS view are SECTION_PROTECTION, not NOT_COMMITTED):
  ///   in a copy-on-write view a write protection is taken in its
  ///     copy-on-write form (the issue: "a shared page asked for READWRITE
  ///     in a WRITECOPY view stays WRITECOPY")
  ///   SECTION_PROTECTION when the view's protection does not allow it
  ///     (MmCompatibleProtectionMask; Wine kernel32
  ///     test_CreateFileMapping_protection: a READONLY view takes READONLY
  ///     and WRITECOPY, nothing else), OldProtect untouched
  ///   NOT_COMMITTED for an uncommitted page, OldProtect PAGE_NOACCESS
  ///   COMMITMENT_LIMIT: a copy-on-write protection charges the whole view
  ///     the first time (as mapping a WRITECOPY view does)
  /// OldProtect: the first page's protection.
  nt_status protect_view(alloc_iter a, std::uint64_t s, std::uint64_t e,
                         std::uint32_t new_protect,
                         std::uint32_t& old_protect) {
    const std::uint32_t asked = copy_on_write(a->second.protect)
                                    ? copy_on_write_form(new_protect)
                                    : new_protect;
    if (!protection_compatible(a->second.protect, asked))
      return nt_status::section_protection;
    for (std::uint64_t v = s; v < e; ++v) {
      if (!view_page_committed(a, v)) {
        old_protect = page::noaccess;
        return nt_status::not_committed;
      }
    }
    allocation& al = allocs_.find(a->first)->second;
    if (copy_on_write(new_protect) && al.cow_charge == 0) {
      const std::uint64_t pages = al.end_vpn - a->first;
      if (!world_->can_charge(pages)) return nt_status::commitment_limit;
      add_charge(static_cast<std::int64_t>(pages));
      al.cow_charge = pages;
    }
    old_protect = view_protect(a, s);
    set_view_protection(
        a, s, e, with_allocation_caching(new_protect, a->second.protect));
    return nt_status::success;
  }

  /// NtQueryVirtualMemory in a view: Type MEM_MAPPED, AllocationBase the
  /// view's base, AllocationProtect its protection; the run of pages from
  /// `v` with the same state and protection (a page whose section page is
  /// not committed is MEM_RESERVE with Protect 0) (Wine kernel32
  /// test_MapViewOfFile: a SEC_RESERVE view is one MEM_RESERVE region
  /// until a commit through any view).
  void query_view(alloc_iter a, std::uint64_t v,
                  memory_basic_information& info) const {
    info.type = mem::mapped;
    const auto state = [&](std::uint64_t p) {
      const bool c = view_page_committed(a, p);
      return std::pair{c, c ? view_protect(a, p) : 0u};
    };
    const auto first = state(v);
    info.state = first.first ? mem::commit : mem::reserve;
    info.protect = first.second;
    std::uint64_t end = v + 1;
    while (end < a->second.end_vpn && state(end) == first) ++end;
    info.region_size = (end - v) << 12;
  }

  /// Whether an allocate call is a MEM_COMMIT of a range that starts in a
  /// file section's view (such a call answers ALREADY_COMMITTED before
  /// its protection is looked at: Wine kernel32
  /// test_CreateFileMapping_protection, PAGE_WRITECOPY and
  /// PAGE_EXECUTE_WRITECOPY included).
  bool commit_into_file_view(std::uint64_t base, std::uint64_t size,
                             std::uint32_t type) const {
    // MEM_RESET takes the commit path, and the same order (reasoned).
    if (((type & ~mem::top_down) != mem::commit && type != mem::reset) ||
        base == 0 || base > layout_.highest || base < layout_.lowest ||
        size == 0 || layout_.highest + 1 - base < size)
      return false;
    // The range is looked up first: one that runs past the view is
    // CONFLICTING_ADDRESSES, whatever the protection (reasoned).
    const auto a = find_allocation(base >> 12);
    if (a == allocs_.end() || !a->second.mapped()) return false;
    return world_->section(a->second.section).file >= 0;
  }

  nt_layout layout_;
  std::shared_ptr<section_world> world_;
  int space_ = 0;  // this space's number in its world (its private pages)
  pager_faults faults_;
  std::uint64_t charge_ = 0;
  std::map<std::uint64_t, allocation> allocs_;
  std::map<std::uint64_t, page_state> committed_;
  std::map<std::uint64_t, view_page> view_pages_;
};

using nt_model = basic_nt_model<model_bug::none>;

}  // namespace mmkit_model
