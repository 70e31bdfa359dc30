#pragma once
// nt_case_table: Windows' observable behaviour of the private-memory calls
// and of sections and views (NtCreateSection, NtOpenSection, NtClose,
// NtMapViewOfSection, NtUnmapViewOfSection, NtFlushVirtualMemory, and the
// private-memory calls on views), written down as data (cases of steps
// with their expected statuses and out-parameters), and a doctest runner
// that plays the table against any space with the model's interface: the
// model itself (model_test.cpp) and mmkit::address_space through
// nt_adapter (for every arch).
//
// Each step is one call with its inputs and what Windows returns. After
// every step the runner also checks:
//   - on failure, the in/out parameters are unchanged;
//   - the query walk from address 0 to the top of user space is well formed:
//     regions tile user space, neighbours that could be coalesced are not
//     split, free / reserved regions carry NT's constant fields, and the
//     committed private regions add up to the commit charge (to no more
//     than it once views exist: a copy-on-write view's charge is the
//     space's too);
//   - the space's own invariants (check_invariants()).
//
// Sections: a case makes its files (make_file, in order: file 0, 1, ...)
// and its section handles (in numbered slots); the runner closes the
// handles a case leaves open. Each section fact of Wine's
// dlls/kernel32/tests/virtual.c and dlls/ntdll/tests/virtual.c and of
// ReactOS's NtMapViewOfSection apitest and ZwMapViewOfSection kmtest that
// an empty address space can reproduce is a row (facts that need a real
// process's occupied low memory, AT_ROUND_TO_PAGE on 32-bit, SEC_IMAGE,
// NtQuerySection or a second process's handle are not).
//
// Known differences: a case whose `differs` names how mmkit behaves
// otherwise keeps Windows' statuses. The reference run (the model) must
// pass it; the library run expects it to fail somewhere and fails when it
// no longer does, so that the mark goes with the fix
// (tests/section/model_found_test.cpp has a reproducer of each).
//
// Conventions the table assumes of `make_space()`: a fresh, empty address
// space for the layout given to the runner, with a commit limit of
// `nt_case_commit_limit` pages, able to make files and sections. NULL-base
// allocations and views are first fit from the bottom (top-down with
// MEM_TOP_DOWN) in 64 KiB steps, so a fresh space puts the first one at
// 0x10000.
//
// Statuses of the list that these calls cannot produce and the table
// therefore does not show: STATUS_INVALID_ADDRESS (not returned by them),
// STATUS_INTEGER_OVERFLOW (not used by them).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include "model/nt_model.hpp"

namespace mmkit_model {

inline std::ostream& operator<<(std::ostream& os, nt_status s) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(s));
  return os << status_name(s) << " (" << buf << ")";
}
inline std::ostream& operator<<(std::ostream& os,
                                const memory_basic_information& m) {
  return os << to_text(m);
}

/// The commit limit (pages) every space the table runs on must have.
inline constexpr std::uint64_t nt_case_commit_limit = 256;

enum class case_op : std::uint8_t {
  allocate,  // addr, size, flags = type, prot = protect, zero_bits
  free,      // addr, size, flags = free type
  protect,   // addr, size, flags = new protect; out_old
  query,     // addr; out_info
  access,    // addr, flags = access_kind, prot = access_mode
  read,      // addr, size; out_done; every byte read == fill
  write,     // addr, size, every byte = fill; out_done
  charge,    // commit_charge() == size
  // Sections. Handles live in slots (`slot`), files in the order the case
  // makes them (`file`).
  make_file,       // size bytes of `fill`, flags = writable
  create_section,  // slot, access, name, flags = OBJ_ flags, size, prot,
                   // attrs, file (-1: page file)
  open_section,    // slot, access, name
  close_section,   // slot
  map_view,        // slot, addr, size, offset, flags = type, prot,
                   // zero_bits, commit_size; out_base, out_size
  unmap_view,      // addr
  flush,           // addr, size; out_base, out_size
  file_bytes,      // file: bytes [addr, addr + size) == fill
  file_size,       // file: its size == size
  end_of_file,     // file, size: SetEndOfFile
  system_charge,   // the system's commit charge == size
};

struct case_step {
  case_op op = case_op::query;
  std::uint64_t addr = 0;
  std::uint64_t size = 0;
  std::uint32_t flags = 0;
  std::uint32_t prot = 0;
  std::uint64_t zero_bits = 0;
  nt_status expect = nt_status::success;
  std::uint64_t out_base = 0;  // on success (allocate, free, protect)
  std::uint64_t out_size = 0;
  std::uint32_t out_old = 0;  // protect, on success
  memory_basic_information out_info{};
  std::size_t out_done = 0;
  std::uint8_t fill = 0;
  // Sections.
  int slot = 0;
  int file = -1;
  std::string name;
  std::uint32_t access = 0;
  std::uint32_t attrs = 0;
  std::uint64_t offset = 0;
  std::uint64_t commit_size = 0;
  /// protect: OldProtect expected on failure where Windows' is known;
  /// otherwise the runner's rule (see run_nt_case_table).
  std::optional<std::uint32_t> fail_old;
};

struct nt_case {
  std::string name;    // "<call>: <behaviour>"
  std::string source;  // where Windows' behaviour was observed
  std::vector<case_step> steps;
  /// Empty, or how mmkit differs from Windows here: a known difference.
  /// The library's run expects such a case to fail somewhere (and fails
  /// when it no longer does, so that the mark goes with the fix); the
  /// model runs it like any other.
  std::string differs = {};
};

namespace case_steps {
inline case_step alloc(std::uint64_t a, std::uint64_t s, std::uint32_t type,
                       std::uint32_t prot, nt_status st,
                       std::uint64_t out_base = 0, std::uint64_t out_size = 0,
                       std::uint64_t zero_bits = 0) {
  case_step c;
  c.op = case_op::allocate;
  c.addr = a;
  c.size = s;
  c.flags = type;
  c.prot = prot;
  c.zero_bits = zero_bits;
  c.expect = st;
  c.out_base = out_base;
  c.out_size = out_size;
  return c;
}
inline case_step release(std::uint64_t a, std::uint64_t s, nt_status st,
                         std::uint64_t out_base = 0, std::uint64_t out_size = 0,
                         std::uint32_t type = mem::release) {
  case_step c;
  c.op = case_op::free;
  c.addr = a;
  c.size = s;
  c.flags = type;
  c.expect = st;
  c.out_base = out_base;
  c.out_size = out_size;
  return c;
}
inline case_step decommit(std::uint64_t a, std::uint64_t s, nt_status st,
                          std::uint64_t out_base = 0,
                          std::uint64_t out_size = 0) {
  return release(a, s, st, out_base, out_size, mem::decommit);
}
inline case_step protect(std::uint64_t a, std::uint64_t s, std::uint32_t np,
                         nt_status st, std::uint64_t out_base = 0,
                         std::uint64_t out_size = 0, std::uint32_t old = 0) {
  case_step c;
  c.op = case_op::protect;
  c.addr = a;
  c.size = s;
  c.flags = np;
  c.expect = st;
  c.out_base = out_base;
  c.out_size = out_size;
  c.out_old = old;
  return c;
}
inline case_step query(std::uint64_t a, memory_basic_information info) {
  case_step c;
  c.op = case_op::query;
  c.addr = a;
  c.out_info = info;
  return c;
}
inline case_step query_fails(std::uint64_t a, nt_status st) {
  case_step c;
  c.op = case_op::query;
  c.addr = a;
  c.expect = st;
  return c;
}
inline case_step access(std::uint64_t a, access_kind k, nt_status st,
                        access_mode m = access_mode::user) {
  case_step c;
  c.op = case_op::access;
  c.addr = a;
  c.flags = static_cast<std::uint32_t>(k);
  c.prot = static_cast<std::uint32_t>(m);
  c.expect = st;
  return c;
}
inline case_step read(std::uint64_t a, std::uint64_t s, nt_status st,
                      std::size_t done, std::uint8_t fill) {
  case_step c;
  c.op = case_op::read;
  c.addr = a;
  c.size = s;
  c.expect = st;
  c.out_done = done;
  c.fill = fill;
  return c;
}
inline case_step write(std::uint64_t a, std::uint64_t s, std::uint8_t fill,
                       nt_status st, std::size_t done) {
  case_step c;
  c.op = case_op::write;
  c.addr = a;
  c.size = s;
  c.expect = st;
  c.out_done = done;
  c.fill = fill;
  return c;
}
inline case_step charge(std::uint64_t pages) {
  case_step c;
  c.op = case_op::charge;
  c.size = pages;
  return c;
}
inline case_step make_file(std::uint64_t size, std::uint8_t fill,
                           bool writable = true) {
  case_step c;
  c.op = case_op::make_file;
  c.size = size;
  c.fill = fill;
  c.flags = writable ? 1u : 0u;
  return c;
}
/// NtCreateSection into handle slot `slot`; file -1: the page file.
inline case_step create(int slot, std::uint64_t size, std::uint32_t prot,
                        std::uint32_t attrs, nt_status st, int file = -1,
                        std::string name = {}, std::uint32_t obj_flags = 0,
                        std::uint32_t access = section_access::all_access) {
  case_step c;
  c.op = case_op::create_section;
  c.slot = slot;
  c.size = size;
  c.prot = prot;
  c.attrs = attrs;
  c.expect = st;
  c.file = file;
  c.name = std::move(name);
  c.flags = obj_flags;
  c.access = access;
  return c;
}
inline case_step open_named(int slot, std::string name, std::uint32_t access,
                            nt_status st) {
  case_step c;
  c.op = case_op::open_section;
  c.slot = slot;
  c.name = std::move(name);
  c.access = access;
  c.expect = st;
  return c;
}
inline case_step close_handle(int slot) {
  case_step c;
  c.op = case_op::close_section;
  c.slot = slot;
  return c;
}
/// NtMapViewOfSection of the section in `slot`.
inline case_step map(int slot, std::uint64_t base, std::uint64_t size,
                     std::uint64_t offset, std::uint32_t prot, nt_status st,
                     std::uint64_t out_base = 0, std::uint64_t out_size = 0,
                     std::uint32_t type = 0, std::uint64_t zero_bits = 0,
                     std::uint64_t commit_size = 0) {
  case_step c;
  c.op = case_op::map_view;
  c.slot = slot;
  c.addr = base;
  c.size = size;
  c.offset = offset;
  c.prot = prot;
  c.expect = st;
  c.out_base = out_base;
  c.out_size = out_size;
  c.flags = type;
  c.zero_bits = zero_bits;
  c.commit_size = commit_size;
  return c;
}
inline case_step unmap(std::uint64_t a, nt_status st = nt_status::success) {
  case_step c;
  c.op = case_op::unmap_view;
  c.addr = a;
  c.expect = st;
  return c;
}
inline case_step flush(std::uint64_t a, std::uint64_t s, nt_status st,
                       std::uint64_t out_base = 0, std::uint64_t out_size = 0) {
  case_step c;
  c.op = case_op::flush;
  c.addr = a;
  c.size = s;
  c.expect = st;
  c.out_base = out_base;
  c.out_size = out_size;
  return c;
}
/// File `file`'s bytes [offset, offset + size) are all `fill`.
inline case_step file_holds(int file, std::uint64_t offset, std::uint64_t size,
                            std::uint8_t fill) {
  case_step c;
  c.op = case_op::file_bytes;
  c.file = file;
  c.addr = offset;
  c.size = size;
  c.fill = fill;
  return c;
}
inline case_step file_size(int file, std::uint64_t size) {
  case_step c;
  c.op = case_op::file_size;
  c.file = file;
  c.size = size;
  return c;
}
inline case_step end_of_file(int file, std::uint64_t size, nt_status st) {
  case_step c;
  c.op = case_op::end_of_file;
  c.file = file;
  c.size = size;
  c.expect = st;
  return c;
}
inline case_step system_charge(std::uint64_t pages) {
  case_step c;
  c.op = case_op::system_charge;
  c.size = pages;
  return c;
}
inline memory_basic_information mapped(std::uint64_t base,
                                       std::uint64_t alloc_base,
                                       std::uint32_t alloc_prot,
                                       std::uint64_t size, std::uint32_t prot) {
  return {base, alloc_base, alloc_prot, size, mem::commit, prot, mem::mapped};
}
inline memory_basic_information mapped_reserve(std::uint64_t base,
                                               std::uint64_t alloc_base,
                                               std::uint32_t alloc_prot,
                                               std::uint64_t size) {
  return {base, alloc_base, alloc_prot, size, mem::reserve, 0, mem::mapped};
}
inline memory_basic_information free_region(std::uint64_t base,
                                            std::uint64_t size) {
  return {base, 0, 0, size, mem::free, page::noaccess, 0};
}
inline memory_basic_information reserved(std::uint64_t base,
                                         std::uint64_t alloc_base,
                                         std::uint32_t alloc_prot,
                                         std::uint64_t size) {
  return {base,         alloc_base, alloc_prot,         size,
          mem::reserve, 0,          mem::private_memory};
}
inline memory_basic_information committed(std::uint64_t base,
                                          std::uint64_t alloc_base,
                                          std::uint32_t alloc_prot,
                                          std::uint64_t size,
                                          std::uint32_t prot) {
  return {base,        alloc_base, alloc_prot,         size,
          mem::commit, prot,       mem::private_memory};
}
}  // namespace case_steps

/// The table for one layout (addresses that depend on the arch, such as the
/// top of user space, are computed from it).
inline std::vector<nt_case> nt_case_table(const nt_layout& L) {
  using namespace case_steps;
  using S = nt_status;
  constexpr S ok = S::success;
  const std::uint64_t top = L.highest + 1;  // end of user space
  constexpr std::uint64_t B = 0x50000000;   // user space on every arch
  std::vector<nt_case> t;

  // ---- NtAllocateVirtualMemory ------------------------------------------
  {
    nt_case c{
        "allocate: reserve rounds the base down to 64 KiB and the end "
        "up to a page",
        "ReactOS NtAllocateVirtualMemory.c CheckAlignment/CheckSize",
        {}};
    const struct {
      std::uint64_t base, size, out_size;
    } rows[] = {{0x50000000, 0x0001, 0x1000},  {0x50008000, 0x0001, 0x9000},
                {0x50000010, 0x1000, 0x2000},  {0x50010000, 0x2000, 0x2000},
                {0x5000FFFF, 0x3000, 0x13000}, {0x50001010, 0x7000, 0x9000},
                {0x50001010, 0xC000, 0xE000}};
    for (const auto& r : rows) {
      const std::uint64_t b = r.base & ~std::uint64_t{0xFFFF};
      c.steps.push_back(alloc(r.base, r.size, mem::reserve, page::noaccess, ok,
                              b, r.out_size));
      c.steps.push_back(query(b, reserved(b, b, page::noaccess, r.out_size)));
      c.steps.push_back(release(b, r.out_size, ok, b, r.out_size));
    }
    t.push_back(std::move(c));
  }
  t.push_back(
      {"allocate: one reservation per 64 KiB; commit stays inside it",
       "ReactOS NtAllocateVirtualMemory.c CheckAlignment",
       {
           alloc(B + 0x1010, 0x1000, mem::reserve, page::noaccess, ok, B,
                 0x3000),
           query(B, reserved(B, B, page::noaccess, 0x3000)),
           query(B + 0x3000, free_region(B + 0x3000, top - (B + 0x3000))),
           alloc(B + 0x8000, 0x1000, mem::reserve, page::noaccess,
                 S::conflicting_addresses),
           alloc(B + 0x2000, 0x1000, mem::commit, page::noaccess, ok,
                 B + 0x2000, 0x1000),
           query(B, reserved(B, B, page::noaccess, 0x2000)),
           query(B + 0x2000, committed(B + 0x2000, B, page::noaccess, 0x1000,
                                       page::noaccess)),
           charge(1),
           // Committing again with another protection succeeds, no charge.
           alloc(B + 0x2000, 0x1000, mem::commit, page::readwrite, ok,
                 B + 0x2000, 0x1000),
           query(B + 0x2000, committed(B + 0x2000, B, page::noaccess, 0x1000,
                                       page::readwrite)),
           charge(1),
           alloc(B + 0x3000, 0x1000, mem::commit, page::noaccess,
                 S::conflicting_addresses),
           // Decommit accepts pages that were never committed.
           decommit(B, 0x3000, ok, B, 0x3000),
           charge(0),
           query(B, reserved(B, B, page::noaccess, 0x3000)),
           release(B + 0x10000, 0x1000, S::memory_not_allocated),
           release(B + 0x8000, 0x1000, S::memory_not_allocated),
           release(B, 0x4000, S::unable_to_free_vm),
           release(B, 0x3000, ok, B, 0x3000),
           query(B, free_region(B, top - B)),
           // Reserve and commit at once: the whole rounded range commits.
           alloc(B + 0x4080, 0x1000, mem::reserve | mem::commit,
                 page::readwrite, ok, B, 0x6000),
           charge(6),
           write(B, 4, 0x11, ok, 4),
           write(B + 0x4080, 4, 0x22, ok, 4),
           query(B, committed(B, B, page::readwrite, 0x6000, page::readwrite)),
           release(B, 0x6000, ok, B, 0x6000),
           charge(0),
       }});
  t.push_back(
      {"allocate: adjacent allocations stay separate",
       "ReactOS NtAllocateVirtualMemory.c CheckAdjacentVADs",
       {
           alloc(B, 0x10000, mem::reserve, page::noaccess, ok, B, 0x10000),
           alloc(B + 0x20000, 0x10000, mem::reserve, page::noaccess, ok,
                 B + 0x20000, 0x10000),
           release(B, 0x30000, S::unable_to_free_vm),
           alloc(B + 0x10000, 0x10000, mem::reserve, page::noaccess, ok,
                 B + 0x10000, 0x10000),
           alloc(B + 0x4000, 0x10000, mem::commit, page::noaccess,
                 S::conflicting_addresses),
           alloc(B, 0x1000, mem::commit, page::readwrite, ok, B, 0x1000),
           alloc(B + 0x2000, 0x1000, mem::commit, page::noaccess, ok,
                 B + 0x2000, 0x1000),
           write(B, 4, 0x01, ok, 4),
           read(B + 0x2000, 4, S::access_violation, 0, 0),
           alloc(B, 0x3000, mem::commit, page::readonly, ok, B, 0x3000),
           write(B, 4, 0x02, S::access_violation, 0),
           read(B, 4, ok, 4, 0x01),  // the data survived the recommit
           alloc(B + 0xF000, 0x1000, mem::commit, page::readwrite, ok,
                 B + 0xF000, 0x1000),
           query(B + 0xF700, committed(B + 0xF000, B, page::noaccess, 0x1000,
                                       page::readwrite)),
           query(B, committed(B, B, page::noaccess, 0x3000, page::readonly)),
           query(B + 0x3000, reserved(B + 0x3000, B, page::noaccess, 0xC000)),
           query(B + 0x10000,
                 reserved(B + 0x10000, B + 0x10000, page::noaccess, 0x10000)),
           release(B, 0x30000, S::unable_to_free_vm),
           release(B, 0x10000, ok, B, 0x10000),
           release(B + 0x10000, 0x10000, ok, B + 0x10000, 0x10000),
           release(B + 0x20000, 0x10000, ok, B + 0x20000, 0x10000),
           charge(0),
           alloc(B, 0x30000, mem::reserve, page::noaccess, ok, B, 0x30000),
           release(B + 0x10000, 0x10000, ok, B + 0x10000, 0x10000),
           query(B, reserved(B, B, page::noaccess, 0x10000)),
           query(B + 0x10000, free_region(B + 0x10000, 0x10000)),
           // The tail is an allocation of its own (reasoned: NT splits the
           // VAD; see nt_model.hpp).
           query(B + 0x20000,
                 reserved(B + 0x20000, B + 0x20000, page::noaccess, 0x10000)),
           release(B, 0, ok, B, 0x10000),
           release(B + 0x20000, 0, ok, B + 0x20000, 0x10000),
       }});
  {
    nt_case c{
        "allocate: parameter checks in NT's order",
        "ring3k tests/virtual.c test_NtAllocateVirtualMemory (run on "
        "Windows); Wine ntdll test_NtAllocateVirtualMemory; Wine "
        "kernel32 test_VirtualAlloc; ReactOS NtAllocateVirtualMemory.c",
        {
            alloc(0, 0x1000, 0, 0, S::invalid_parameter_5),
            alloc(0, 0x1000, mem::reserve, 0, S::invalid_page_protection),
            alloc(0, 0x1000, mem::reserve, 0xFFFFFFFF,
                  S::invalid_page_protection),
            alloc(0, 0x1000, mem::free, page::noaccess, S::invalid_parameter_5),
            alloc(0, 0x1000, 0x10000000, page::noaccess,
                  S::invalid_parameter_5),
            alloc(0, 0x1000, mem::reserve | mem::commit | 0x40000000,
                  page::readwrite, S::invalid_parameter_5),
            alloc(0, 0x1000, mem::top_down, page::readwrite,
                  S::invalid_parameter_5),
            alloc(0, 0x1000, mem::reset | mem::commit, page::readwrite,
                  S::invalid_parameter_5),
            // MEM_WRITE_WATCH needs MEM_RESERVE (Wine test_write_watch).
            alloc(0, 0x1000, mem::write_watch, page::readwrite,
                  S::invalid_parameter_5),
            alloc(0, 0x1000, mem::commit | mem::write_watch, page::readwrite,
                  S::invalid_parameter_5),
            // ZeroBits is checked before everything else.
            alloc(0, 0x1000, 0, 0, S::invalid_parameter_3, 0, 0, 22),
            alloc(0, 0x1000, mem::reserve, page::noaccess,
                  S::invalid_parameter_3, 0, 0, 22),
            alloc(0, 0x1000, mem::reserve, page::noaccess,
                  S::invalid_parameter_3, 0, 0, 31),
            // Private memory cannot be copy-on-write.
            alloc(0, 0x1000, mem::reserve, page::writecopy,
                  S::invalid_page_protection),
            alloc(0, 0x1000, mem::commit, page::execute_writecopy,
                  S::invalid_page_protection),
            alloc(0, 0x1000, mem::reserve, page::noaccess | page::guard,
                  S::invalid_page_protection),
            alloc(0, 0x1000, mem::reserve,
                  page::readwrite | page::guard | page::nocache,
                  S::invalid_page_protection),
            alloc(0, 0x1000, mem::reserve, page::readonly | page::execute,
                  S::invalid_page_protection),
            alloc(0, 0x1000, mem::reserve, page::readwrite | 0x800,
                  S::invalid_page_protection),
            // Base: below the lowest user address or beyond user
            // space.
            alloc(0xF000, 0x1000, mem::reserve, page::readwrite,
                  S::invalid_parameter_2),
            alloc(top, 0x1000, mem::reserve, page::readwrite,
                  S::invalid_parameter_2),
            alloc(L.kernel_start, 0x1000, mem::reserve, page::readwrite,
                  S::invalid_parameter_2),
            alloc(~std::uint64_t{0}, 0x1000, mem::commit, page::readwrite,
                  S::invalid_parameter_2),
            // Size: zero, or past the end of user space.
            alloc(0, 0, mem::reserve, page::noaccess, S::invalid_parameter_4),
            alloc(B, 0, mem::commit, page::noaccess, S::invalid_parameter_4),
            alloc(0, top + 1, mem::reserve, page::noaccess,
                  S::invalid_parameter_4),
            alloc(B, top - B + 1, mem::reserve, page::noaccess,
                  S::invalid_parameter_4),
            alloc(0, ~std::uint64_t{0}, mem::reserve, page::noaccess,
                  S::invalid_parameter_4),
            // Precedence: protection before base, base before size.
            alloc(L.kernel_start, 0, mem::reserve, 0,
                  S::invalid_page_protection),
            alloc(L.kernel_start, 0, mem::reserve, page::noaccess,
                  S::invalid_parameter_2),
            // A reservation that just fits at the top of user space.
            alloc(top - 0x10000, 0x10000, mem::reserve, page::readonly, ok,
                  top - 0x10000, 0x10000),
            query(top - 1, reserved(top - 0x1000, top - 0x10000, page::readonly,
                                    0x1000)),
            release(top - 0x10000, 0, ok, top - 0x10000, 0x10000),
            charge(0),
        }};
    t.push_back(std::move(c));
  }
  t.push_back(
      {"allocate: a NULL base takes the lowest free 64 KiB-aligned range",
       "Wine kernel32 test_VirtualAlloc (64 KiB alignment); ReactOS "
       "NtProtectVirtualMemory.c TestFreeNoAccess (MEM_COMMIT alone with a "
       "NULL base reserves); first fit reasoned",
       {
           alloc(0, 0x1000, mem::reserve, page::noaccess, ok, 0x10000, 0x1000),
           alloc(0, 0x100, mem::reserve, page::noaccess, ok, 0x20000, 0x1000),
           alloc(0, 0x1000, mem::commit, page::readwrite, ok, 0x30000, 0x1000),
           query(0x30000, committed(0x30000, 0x30000, page::readwrite, 0x1000,
                                    page::readwrite)),
           charge(1),
           release(0x20000, 0, ok, 0x20000, 0x1000),
           alloc(0, 0x20000, mem::reserve, page::noaccess, ok, 0x40000,
                 0x20000),
           alloc(0, 0x1000, mem::reserve, page::noaccess, ok, 0x20000, 0x1000),
           query(0x21000, free_region(0x21000, 0xF000)),
           query(0x1000, free_region(0x1000, 0xF000)),
       }});
  {
    const std::uint64_t t1 = (top - 0x1000) & ~std::uint64_t{0xFFFF};
    t.push_back(
        {"allocate: MEM_TOP_DOWN takes the highest free range",
         "Wine ntdll test_NtAllocateVirtualMemory (MEM_TOP_DOWN with "
         "ZeroBits); placement reasoned",
         {
             alloc(0, 0x1000, mem::reserve | mem::top_down, page::noaccess, ok,
                   t1, 0x1000),
             alloc(0, 0x1000, mem::reserve | mem::top_down, page::noaccess, ok,
                   t1 - 0x10000, 0x1000),
             alloc(0, 0x20000, mem::reserve | mem::commit | mem::top_down,
                   page::readwrite, ok, t1 - 0x30000, 0x20000),
             charge(0x20),
             // An explicit base ignores MEM_TOP_DOWN.
             alloc(B, 0x1000, mem::reserve | mem::top_down, page::noaccess, ok,
                   B, 0x1000),
         }});
  }
  {
    nt_case c{"allocate: ZeroBits bounds the address",
              "Wine ntdll test_NtAllocateVirtualMemory (1..21 as a count, 22 "
              "invalid, > 31 a mask on 64-bit and invalid on 32-bit)",
              {}};
    const auto top_down_below = [&](std::uint64_t limit) {
      return ((std::min(limit, L.highest) + 1 - 0x1000) &
              ~std::uint64_t{0xFFFF});
    };
    c.steps.push_back(alloc(0, 0x1000, mem::reserve | mem::top_down,
                            page::readwrite, ok, top_down_below(0x7FFFFFFF),
                            0x1000, 1));
    c.steps.push_back(alloc(0, 0x1000, mem::reserve | mem::top_down,
                            page::readwrite, ok, top_down_below(0x1FFFF),
                            0x1000, 15));
    c.steps.push_back(alloc(0, 0x1000, mem::reserve, page::readwrite,
                            S::no_memory, 0, 0, 16));
    c.steps.push_back(alloc(0, 0x1000, mem::reserve, page::readwrite,
                            S::no_memory, 0, 0, 21));
    c.steps.push_back(alloc(0, 0x1000, mem::reserve, page::readwrite, ok,
                            0x20000, 0x1000, 12));
    // An explicit base does not consult ZeroBits (only its validity).
    c.steps.push_back(
        alloc(B, 0x1000, mem::reserve, page::noaccess, ok, B, 0x1000, 12));
    if (L.zero_bits_mask_form) {
      c.steps.push_back(alloc(0, 0x1000, mem::reserve | mem::top_down,
                              page::readwrite, ok, 0x1FFF0000, 0x1000,
                              0x1aaaaaaa));
      c.steps.push_back(alloc(0, 0x1000, mem::reserve, page::readwrite,
                              S::invalid_parameter_3, 0, 0, 0x20));
      c.steps.push_back(alloc(0, 0x1000, mem::reserve, page::readwrite,
                              S::no_memory, 0, 0, 0x1000));
      c.steps.push_back(alloc(0, 0x1000, mem::reserve | mem::top_down,
                              page::readwrite, ok, top_down_below(L.highest),
                              0x1000, ~std::uint64_t{0}));
    } else {
      c.steps.push_back(alloc(0, 0x1000, mem::reserve, page::readwrite,
                              S::invalid_parameter_3, 0, 0, 0x1aaaaaaa));
      c.steps.push_back(alloc(0, 0x1000, mem::reserve, page::readwrite,
                              S::invalid_parameter_3, 0, 0, 0x100));
    }
    t.push_back(std::move(c));
  }
  t.push_back(
      {"allocate: commit charge against the commit limit",
       "commit accounting reasoned from NT (charge per committed page, none "
       "for a page already committed); limit = nt_case_commit_limit",
       {
           alloc(B, 0x200000, mem::reserve, page::noaccess, ok, B, 0x200000),
           charge(0),
           alloc(B, 0x100000, mem::commit, page::readwrite, ok, B, 0x100000),
           charge(256),
           alloc(B + 0x100000, 0x1000, mem::commit, page::readwrite,
                 S::commitment_limit),
           query(B + 0x100000,
                 reserved(B + 0x100000, B, page::noaccess, 0x100000)),
           alloc(B, 0x100000, mem::commit, page::readonly, ok, B, 0x100000),
           charge(256),
           decommit(B + 0xFF000, 0x1000, ok, B + 0xFF000, 0x1000),
           charge(255),
           alloc(B + 0xFE000, 0x3000, mem::commit, page::readwrite,
                 S::commitment_limit),
           alloc(B + 0xFE000, 0x2000, mem::commit, page::readwrite, ok,
                 B + 0xFE000, 0x2000),
           charge(256),
           alloc(0, 0x1000, mem::reserve | mem::commit, page::readwrite,
                 S::commitment_limit),
           query(0x10000, free_region(0x10000, B - 0x10000)),
           release(B + 0x80000, 0x1000, ok, B + 0x80000, 0x1000),
           charge(255),
           release(B, 0, ok, B, 0x80000),
           charge(127),
           release(B + 0x81000, 0, ok, B + 0x81000, 0x17F000),
           charge(0),
           alloc(0, 0x101000, mem::commit, page::readwrite,
                 S::commitment_limit),
           alloc(0, 0x100000, mem::commit, page::readwrite, ok, 0x10000,
                 0x100000),
           charge(256),
       }});
  t.push_back(
      {"allocate: MEM_RESET keeps state, protection and charge",
       "Wine kernel32 test_VirtualAlloc (MEM_RESET on committed and "
       "reserved pages, past the end fails); VirtualAlloc documentation "
       "(MEM_RESET alone, valid protection required)",
       {
           alloc(B, 0x10000, mem::reserve, page::noaccess, ok, B, 0x10000),
           alloc(B, 0x1000, mem::commit, page::readwrite, ok, B, 0x1000),
           write(B, 20, 0x55, ok, 20),
           alloc(B, 0x1000, mem::reset, page::noaccess, ok, B, 0x1000),
           query(B, committed(B, B, page::noaccess, 0x1000, page::readwrite)),
           alloc(B + 0x1000, 0x1000, mem::reset, page::noaccess, ok, B + 0x1000,
                 0x1000),
           query(B + 0x1000, reserved(B + 0x1000, B, page::noaccess, 0xF000)),
           alloc(B + 0xF000, 0x2000, mem::reset, page::noaccess,
                 S::conflicting_addresses),
           alloc(B + 0x10, 0x10, mem::reset, 0, S::invalid_page_protection),
           alloc(B + 0x10, 0x10, mem::reset | mem::top_down, page::readwrite,
                 S::invalid_parameter_5),
           alloc(B + 0x20000, 0x1000, mem::reset, page::noaccess,
                 S::conflicting_addresses),
           alloc(0, 0x1000, mem::reset, page::noaccess,
                 S::conflicting_addresses),
           alloc(B + 0x123, 0x2000, mem::reset, page::noaccess, ok, B, 0x3000),
           charge(1),
           write(B, 0x1000, 0x66, ok, 0x1000),
           read(B, 0x1000, ok, 0x1000, 0x66),
       }});

  // ---- AWE (MEM_PHYSICAL) -----------------------------------------------
  t.push_back(
      {"allocate: MEM_PHYSICAL takes MEM_RESERVE (and MEM_TOP_DOWN) with "
       "PAGE_READWRITE only",
       "WRK allocvm.c NtAllocateVirtualMemory (\"MEM_PHYSICAL must be used "
       "with MEM_RESERVE. MEM_TOP_DOWN is optional. Anything else is "
       "invalid.\"; protection other than PAGE_READWRITE -> _6); ReactOS "
       "ARM3 virtual.c, the same checks",
       {
           alloc(B, 0x10000, mem::physical, page::readwrite,
                 S::invalid_parameter_5),
           alloc(B, 0x10000, mem::physical | mem::commit, page::readwrite,
                 S::invalid_parameter_5),
           alloc(B, 0x10000, mem::physical | mem::reserve | mem::commit,
                 page::readwrite, S::invalid_parameter_5),
           alloc(B, 0x10000, mem::physical | mem::reserve | mem::write_watch,
                 page::readwrite, S::invalid_parameter_5),
           alloc(B, 0x10000, mem::physical | mem::reset, page::readwrite,
                 S::invalid_parameter_5),
           // Parameter 6, not INVALID_PAGE_PROTECTION, even for a value
           // that is no protection at all.
           alloc(B, 0x10000, mem::physical | mem::reserve, page::readonly,
                 S::invalid_parameter_6),
           alloc(B, 0x10000, mem::physical | mem::reserve, 0,
                 S::invalid_parameter_6),
           alloc(B, 0x10000, mem::physical | mem::reserve,
                 page::execute_readwrite, S::invalid_parameter_6),
           query(B, free_region(B, top - B)),
           alloc(B + 0x10, 0x2000, mem::physical | mem::reserve,
                 page::readwrite, ok, B, 0x3000),
           alloc(top - 0x10000, 0x3000,
                 mem::physical | mem::reserve | mem::top_down, page::readwrite,
                 ok, top - 0x10000, 0x3000),
           // Reserved only until frames are mapped into it (WRK queryvm.c,
           // MiQueryAddressState: a VadAwe page with a zero PTE is
           // MEM_RESERVE; the region is MEM_PRIVATE).
           query(B, reserved(B, B, page::readwrite, 0x3000)),
           charge(0),
       }});
  t.push_back(
      {"allocate/free/protect: an AWE region refuses commit, reset, "
       "protect, decommit and partial release",
       "WRK allocvm.c (commit in a UserPhysicalPages VAD -> CONFLICTING_"
       "ADDRESSES), protect.c (\"These must always be readwrite\" -> "
       "CONFLICTING_ADDRESSES), freevm.c (MEM_DECOMMIT -> MEMORY_NOT_"
       "ALLOCATED; \"Splitting or chopping a physical VAD ... is not "
       "allowed\" -> FREE_VM_NOT_AT_BASE)",
       {
           alloc(B, 0x20000, mem::physical | mem::reserve, page::readwrite, ok,
                 B, 0x20000),
           alloc(B, 0x1000, mem::commit, page::readwrite,
                 S::conflicting_addresses),
           alloc(B, 0x1000, mem::reset, page::readwrite,
                 S::conflicting_addresses),
           protect(B, 0x1000, page::readwrite, S::conflicting_addresses),
           protect(B, 0x1000, page::readonly, S::conflicting_addresses),
           decommit(B, 0x1000, S::memory_not_allocated),
           decommit(B, 0, S::memory_not_allocated),
           release(B, 0x1000, S::free_vm_not_at_base),
           release(B + 0x10000, 0x10000, S::free_vm_not_at_base),
           query(B, reserved(B, B, page::readwrite, 0x20000)),
           release(B, 0x20000, ok, B, 0x20000),
           query(B, free_region(B, top - B)),
           alloc(B, 0x10000, mem::physical | mem::reserve, page::readwrite, ok,
                 B, 0x10000),
           release(B, 0, ok, B, 0x10000),
           charge(0),
       }});

  // ---- NtFreeVirtualMemory ----------------------------------------------
  t.push_back(
      {"free: parameter checks in NT's order",
       "ring3k tests/virtual.c test_NtFreeVirtualMemory (type 0, 1, "
       "MEM_COMMIT -> _4; kernel addresses -> _2); Wine kernel32 "
       "test_VirtualAlloc (type 0)",
       {
           alloc(B, 0x10000, mem::reserve, page::readwrite, ok, B, 0x10000),
           release(B, 0, S::invalid_parameter_4, 0, 0, 0),
           release(B, 0, S::invalid_parameter_4, 0, 0, 1),
           release(B, 0, S::invalid_parameter_4, 0, 0, mem::commit),
           release(B, 0, S::invalid_parameter_4, 0, 0,
                   mem::decommit | mem::release),
           release(B, 0, S::invalid_parameter_4, 0, 0, mem::release | 0x100000),
           release(L.kernel_start, 0x1000, S::invalid_parameter_4, 0, 0, 0),
           release(L.kernel_start, 0x1000, S::invalid_parameter_2),
           release(top, 0, S::invalid_parameter_2),
           decommit(~std::uint64_t{0}, 0, S::invalid_parameter_2),
           release(B, top - B + 1, S::invalid_parameter_3),
           decommit(B, ~std::uint64_t{0}, S::invalid_parameter_3),
           release(0, 0, S::memory_not_allocated),
           decommit(0, 0x1000, S::memory_not_allocated),
           release(B + 0x10000, 0, S::memory_not_allocated),
           query(B, reserved(B, B, page::readwrite, 0x10000)),
           release(B, 0, ok, B, 0x10000),
           release(B, 0, S::memory_not_allocated),
       }});
  t.push_back(
      {"free: the range is page-rounded and stays inside one allocation",
       "ReactOS NtFreeVirtualMemory.c Test_NtFreeVirtualMemory",
       {
           alloc(B, 0x1000, mem::reserve, page::readwrite, ok, B, 0x1000),
           decommit(B, 0x1000, ok, B, 0x1000),
           decommit(B, 0x1001, S::unable_to_free_vm),
           release(B, 0x1001, S::unable_to_free_vm),
           decommit(B + 1, 0x1000, S::unable_to_free_vm),
           release(B + 1, 0x1000, S::unable_to_free_vm),
           decommit(B + 1, 0xFFF, ok, B, 0x1000),
           release(B + 1, 0xFFF, ok, B, 0x1000),
           query(B, free_region(B, top - B)),
       }});
  t.push_back(
      {"free: size 0 needs the allocation base",
       "Wine ntdll test_NtAllocateVirtualMemory (NtFreeVirtualMemory tests)",
       {
           alloc(B, 0x10000, mem::reserve | mem::commit,
                 page::execute_readwrite, ok, B, 0x10000),
           decommit(B + 0x1FFF, 2, ok, B + 0x1000, 0x2000),
           query(B + 0x1000,
                 reserved(B + 0x1000, B, page::execute_readwrite, 0x2000)),
           charge(14),
           decommit(B + 0x1001, 0, S::free_vm_not_at_base),
           decommit(B + 0xFFE, 0, ok, B, 0),
           charge(0),
           query(B, reserved(B, B, page::execute_readwrite, 0x10000)),
           release(B + 0x1001, 0, S::free_vm_not_at_base),
           release(B + 0xFFF, 0, ok, B, 0x10000),
       }});
  t.push_back(
      {"free: releasing part of an allocation splits it",
       "ReactOS NtFreeVirtualMemory.c (two pages freed one at a time, in "
       "either order, and across the middle); ring3k test_free_mem",
       {
           alloc(B, 0x2000, mem::reserve, page::readwrite, ok, B, 0x2000),
           release(B, 0x1000, ok, B, 0x1000),
           query(B + 0x1000,
                 reserved(B + 0x1000, B + 0x1000, page::readwrite, 0x1000)),
           release(B + 0x1000, 0x1000, ok, B + 0x1000, 0x1000),
           alloc(B, 0x2000, mem::reserve, page::readwrite, ok, B, 0x2000),
           release(B + 0x1000, 0x1000, ok, B + 0x1000, 0x1000),
           query(B, reserved(B, B, page::readwrite, 0x1000)),
           release(B, 0x1000, ok, B, 0x1000),
           alloc(B, 0x2000, mem::reserve, page::readwrite, ok, B, 0x2000),
           release(B + 1, 0x1000, ok, B, 0x2000),
           query(B, free_region(B, top - B)),
           alloc(B, 0x10000, mem::reserve | mem::commit, page::readwrite, ok, B,
                 0x10000),
           charge(16),
           release(B, 0x8000, ok, B, 0x8000),
           charge(8),
           release(B + 0xC000, 0x10000, S::unable_to_free_vm),
           release(B, 0x10000, S::memory_not_allocated),
           release(B + 0xC000, 0x4000, ok, B + 0xC000, 0x4000),
           release(B + 0xC000, 0x4000, S::memory_not_allocated),
           query(B + 0x8000, committed(B + 0x8000, B + 0x8000, page::readwrite,
                                       0x4000, page::readwrite)),
           release(B + 0x8000, 0x4000, ok, B + 0x8000, 0x4000),
           charge(0),
       }});

  // ---- NtProtectVirtualMemory --------------------------------------------
  t.push_back(
      {"protect: committed pages only; old protection of the first page",
       "ring3k test_prot_mem; Wine kernel32 test_VirtualAlloc; ReactOS "
       "NtProtectVirtualMemory.c TestReadWrite",
       {
           alloc(B, 0x10000, mem::reserve, page::noaccess, ok, B, 0x10000),
           protect(B, 0x1000, page::noaccess, S::not_committed),
           alloc(B, 0x1000, mem::commit, page::noaccess, ok, B, 0x1000),
           protect(B, 0x1000, page::readonly, ok, B, 0x1000, page::noaccess),
           protect(B, 0x1000, page::readwrite, ok, B, 0x1000, page::readonly),
           protect(B + 0x1000, 0x1000, page::readwrite, S::not_committed),
           protect(B, 0xFFFC, page::readonly, S::not_committed),
           alloc(B, 0x2000, mem::commit, page::execute, ok, B, 0x2000),
           protect(B + 0x1000, 0x2000, page::readwrite, S::not_committed),
           protect(B + 0x1000, 0x1000, page::readwrite, ok, B + 0x1000, 0x1000,
                   page::execute),
           protect(B + 1, 0x1000, page::readonly, ok, B, 0x2000, page::execute),
           query(B, committed(B, B, page::noaccess, 0x2000, page::readonly)),
           protect(B + 0x1FFF, 1, page::readwrite | page::guard, ok, B + 0x1000,
                   0x1000, page::readonly),
           query(B + 0x1000, committed(B + 0x1000, B, page::noaccess, 0x1000,
                                       page::readwrite | page::guard)),
           protect(B + 0x1000, 0x1000, page::readonly, ok, B + 0x1000, 0x1000,
                   page::readwrite | page::guard),
           query(B, committed(B, B, page::noaccess, 0x2000, page::readonly)),
       }});
  t.push_back(
      {"protect: NOCACHE and WRITECOMBINE belong to the allocation",
       "current Windows (issue 19 item 11): a later protect neither drops "
       "the allocation's caching attribute nor adds one; OldProtect reports "
       "it",
       {
           alloc(B, 0x4000, mem::reserve | mem::commit,
                 page::readwrite | page::nocache, ok, B, 0x4000),
           protect(B, 0x1000, page::readwrite, ok, B, 0x1000,
                   page::readwrite | page::nocache),
           // Still RW|NOCACHE, and the region stays whole.
           query(B, committed(B, B, page::readwrite | page::nocache, 0x4000,
                              page::readwrite | page::nocache)),
           protect(B + 0x1000, 0x1000, page::readonly | page::writecombine, ok,
                   B + 0x1000, 0x1000, page::readwrite | page::nocache),
           query(B + 0x1000,
                 committed(B + 0x1000, B, page::readwrite | page::nocache,
                           0x1000, page::readonly | page::nocache)),
           alloc(B + 0x10000, 0x10000, mem::reserve,
                 page::readwrite | page::writecombine, ok, B + 0x10000,
                 0x10000),
           // Commit takes the reservation's attribute too.
           alloc(B + 0x10000, 0x2000, mem::commit, page::readonly, ok,
                 B + 0x10000, 0x2000),
           query(B + 0x10000,
                 committed(B + 0x10000, B + 0x10000,
                           page::readwrite | page::writecombine, 0x2000,
                           page::readonly | page::writecombine)),
           // A plain allocation stays plain.
           alloc(B + 0x20000, 0x1000, mem::reserve | mem::commit,
                 page::readwrite, ok, B + 0x20000, 0x1000),
           alloc(B + 0x20000, 0x1000, mem::commit,
                 page::readwrite | page::nocache, ok, B + 0x20000, 0x1000),
           query(B + 0x20000,
                 committed(B + 0x20000, B + 0x20000, page::readwrite, 0x1000,
                           page::readwrite)),
       }});
  t.push_back(
      {"protect: a failure after the range was looked up reports "
       "PAGE_NOACCESS as OldProtect",
       "current Windows (issue 19 item 10); the harness checks OldProtect "
       "on every failing protect of the table",
       {
           protect(B, 0x1000, page::readonly, S::conflicting_addresses),
           alloc(B, 0x10000, mem::reserve, page::readwrite, ok, B, 0x10000),
           protect(B, 0x1000, page::readonly, S::not_committed),
           protect(B + 0x8000, 0x10000, page::readonly,
                   S::conflicting_addresses),
           protect(B, 0x1000, page::writecopy, S::invalid_page_protection),
       }});
  t.push_back(
      {"protect: parameter checks and private-memory rules",
       "Wine kernel32 test_VirtualAlloc (0 and READWRITE|EXECUTE_WRITECOPY "
       "refused); order and the other statuses reasoned (nt_model.hpp)",
       {
           alloc(B, 0x4000, mem::reserve | mem::commit, page::readwrite, ok, B,
                 0x4000),
           alloc(B + 0x10000, 0x10000, mem::reserve, page::readwrite, ok,
                 B + 0x10000, 0x10000),
           protect(B, 0x1000, 0, S::invalid_page_protection),
           protect(B, 0x1000, page::readwrite | page::execute_writecopy,
                   S::invalid_page_protection),
           protect(B, 0x1000, page::noaccess | page::guard,
                   S::invalid_page_protection),
           protect(B, 0x1000, page::writecopy, S::invalid_page_protection),
           protect(B, 0x1000, page::execute_writecopy,
                   S::invalid_page_protection),
           protect(L.kernel_start, 0x1000, page::readonly,
                   S::invalid_parameter_2),
           protect(top, 0x1000, page::readonly, S::invalid_parameter_2),
           protect(L.kernel_start, 0x1000, 0, S::invalid_page_protection),
           protect(B, 0, page::readonly, S::invalid_parameter_3),
           protect(B, top - B + 1, page::readonly, S::invalid_parameter_3),
           protect(B + 0x8000, 0x1000, page::readonly,
                   S::conflicting_addresses),
           protect(B + 0x8000, 0x1000, page::writecopy,
                   S::conflicting_addresses),
           protect(B + 0x3000, 0x2000, page::readonly,
                   S::conflicting_addresses),
           protect(B + 0x3000, 0xE000, page::readonly,
                   S::conflicting_addresses),
           protect(0, 0x1000, page::readonly, S::conflicting_addresses),
           protect(B + 0x10000, 0x1000, page::readonly, S::not_committed),
           // Coalescing follows the per-page protections.
           protect(B + 0x1000, 0x1000, page::readonly, ok, B + 0x1000, 0x1000,
                   page::readwrite),
           query(B, committed(B, B, page::readwrite, 0x1000, page::readwrite)),
           query(B + 0x1000, committed(B + 0x1000, B, page::readwrite, 0x1000,
                                       page::readonly)),
           query(B + 0x2000, committed(B + 0x2000, B, page::readwrite, 0x2000,
                                       page::readwrite)),
           protect(B + 0x1000, 0x1000, page::readwrite, ok, B + 0x1000, 0x1000,
                   page::readonly),
           query(B + 0x10,
                 committed(B, B, page::readwrite, 0x4000, page::readwrite)),
           // The caching attribute is the allocation's: NOCACHE asked of
           // a plain allocation gives plain protection (current Windows).
           protect(B, 0x4000, page::execute_read | page::nocache, ok, B, 0x4000,
                   page::readwrite),
           query(B,
                 committed(B, B, page::readwrite, 0x4000, page::execute_read)),
       }});

  // ---- NtQueryVirtualMemory ------------------------------------------------
  t.push_back(
      {"query: free and reserved regions, addresses beyond user space",
       "Wine kernel32 test_VirtualAlloc (reserved: Protect 0, Type "
       "MEM_PRIVATE); free-region fields and INVALID_PARAMETER reasoned",
       {
           query(0, free_region(0, top)),
           query(0x1234, free_region(0x1000, top - 0x1000)),
           query(L.highest, free_region(top - 0x1000, 0x1000)),
           query_fails(top, S::invalid_parameter),
           query_fails(L.kernel_start, S::invalid_parameter),
           query_fails(~std::uint64_t{0}, S::invalid_parameter),
           alloc(B, 0x10000, mem::reserve, page::execute_readwrite, ok, B,
                 0x10000),
           query(B + 0x1234,
                 reserved(B + 0x1000, B, page::execute_readwrite, 0xF000)),
           query(B - 1, free_region(B - 0x1000, 0x1000)),
           query(0x10000, free_region(0x10000, B - 0x10000)),
           query(B + 0x10000, free_region(B + 0x10000, top - B - 0x10000)),
           alloc(B + 0x4000, 0x1000, mem::commit, page::readonly, ok,
                 B + 0x4000, 0x1000),
           query(B, reserved(B, B, page::execute_readwrite, 0x4000)),
           query(B + 0x5000,
                 reserved(B + 0x5000, B, page::execute_readwrite, 0xB000)),
       }});

  // ---- the simulated CPU: access, read, write -------------------------------
  t.push_back(
      {"access: committed memory reads zero and keeps its data",
       "ReactOS NtProtectVirtualMemory.c TestReadWrite and TestFreeNoAccess; "
       "ReactOS NtAllocateVirtualMemory.c CheckAdjacentVADs",
       {
           alloc(B, 0x3000, mem::reserve | mem::commit, page::readwrite, ok, B,
                 0x3000),
           read(B, 0x3000, ok, 0x3000, 0),
           write(B + 0x800, 0x1000, 0xAB, ok, 0x1000),
           read(B + 0x800, 0x1000, ok, 0x1000, 0xAB),
           read(B + 0x7FF, 1, ok, 1, 0),
           read(B + 0x1800, 0x800, ok, 0x800, 0),
           protect(B, 0x3000, page::readonly, ok, B, 0x3000, page::readwrite),
           write(B + 0x800, 1, 0xCD, S::access_violation, 0),
           access(B, access_kind::write, S::access_violation),
           read(B + 0x800, 0x1000, ok, 0x1000, 0xAB),
           protect(B, 0x3000, page::noaccess, ok, B, 0x3000, page::readonly),
           read(B + 0x800, 1, S::access_violation, 0, 0),
           access(B, access_kind::read, S::access_violation),
           protect(B, 0x3000, page::readonly, ok, B, 0x3000, page::noaccess),
           read(B + 0x800, 0x1000, ok, 0x1000, 0xAB),
           alloc(B, 0x3000, mem::commit, page::readwrite, ok, B, 0x3000),
           read(B + 0x800, 0x1000, ok, 0x1000, 0xAB),
           read(B, 0, ok, 0, 0),
           decommit(B + 0x1000, 0x1000, ok, B + 0x1000, 0x1000),
           read(B + 0x1000, 1, S::access_violation, 0, 0),
           alloc(B + 0x1000, 0x1000, mem::commit, page::readwrite, ok,
                 B + 0x1000, 0x1000),
           read(B + 0x1000, 0x1000, ok, 0x1000, 0),  // decommit zeroes
           read(B + 0x800, 0x800, ok, 0x800, 0xAB),
           release(B, 0, ok, B, 0x3000),
           read(B, 1, S::access_violation, 0, 0),
           write(B, 1, 0x01, S::access_violation, 0),
           access(B, access_kind::read, S::access_violation),
           read(0, 1, S::access_violation, 0, 0),
       }});
  t.push_back(
      {"access: reads and writes stop at the first page that faults",
       "partial-copy semantics of NtRead/WriteVirtualMemory (reasoned: "
       "STATUS_PARTIAL_COPY with the bytes copied so far)",
       {
           alloc(B, 0x10000, mem::reserve, page::readwrite, ok, B, 0x10000),
           alloc(B, 0x1000, mem::commit, page::readwrite, ok, B, 0x1000),
           write(B + 0xF00, 0x200, 0x77, S::partial_copy, 0x100),
           read(B + 0xF00, 0x200, S::partial_copy, 0x100, 0x77),
           read(B + 0x1000, 0x10, S::access_violation, 0, 0),
           alloc(B + 0x1000, 0x1000, mem::commit, page::readonly, ok,
                 B + 0x1000, 0x1000),
           write(B + 0xFFF, 2, 0x78, S::partial_copy, 1),
           read(B + 0xFFF, 1, ok, 1, 0x78),
           read(B + 0x1000, 0x1000, ok, 0x1000, 0),
       }});
  t.push_back(
      {"access: guard pages fault once",
       "PAGE_GUARD one-shot semantics (VirtualAlloc documentation); the "
       "protection check before the guard bit reasoned",
       {
           alloc(B, 0x3000, mem::reserve | mem::commit,
                 page::readwrite | page::guard, ok, B, 0x3000),
           access(B, access_kind::read, S::guard_page_violation),
           access(B, access_kind::read, ok),
           query(B, committed(B, B, page::readwrite | page::guard, 0x1000,
                              page::readwrite)),
           query(B + 0x1000,
                 committed(B + 0x1000, B, page::readwrite | page::guard, 0x2000,
                           page::readwrite | page::guard)),
           read(B + 0x1000, 4, S::guard_page_violation, 0, 0),
           read(B + 0x1000, 4, ok, 4, 0),
           // A copy that reaches a guard page stops there and disarms it.
           write(B + 0x1FFE, 4, 0x31, S::partial_copy, 2),
           query(B + 0x2000,
                 committed(B + 0x2000, B, page::readwrite | page::guard, 0x1000,
                           page::readwrite)),
           write(B + 0x1FFE, 4, 0x31, ok, 4),
           read(B + 0x1FFE, 4, ok, 4, 0x31),
           protect(B, 0x1000, page::readonly | page::guard, ok, B, 0x1000,
                   page::readwrite),
           access(B, access_kind::write, S::access_violation),
           query(B, committed(B, B, page::readwrite | page::guard, 0x1000,
                              page::readonly | page::guard)),
           access(B, access_kind::write, S::access_violation,
                  access_mode::kernel),
           access(B, access_kind::read, S::guard_page_violation,
                  access_mode::kernel),
           access(B, access_kind::write, S::access_violation),
           access(B, access_kind::read, ok),
       }});
  {
    const S exec_rw = L.nx ? S::access_violation : ok;
    t.push_back(
        {"access: execute needs an executable page where NX exists",
         "DESIGN.md (NX on all archs but x86_32); PAGE_EXECUTE is readable "
         "on x86 paging",
         {
             alloc(B, 0x4000, mem::reserve | mem::commit, page::readwrite, ok,
                   B, 0x4000),
             protect(B + 0x1000, 0x1000, page::execute_read, ok, B + 0x1000,
                     0x1000, page::readwrite),
             protect(B + 0x2000, 0x1000, page::execute, ok, B + 0x2000, 0x1000,
                     page::readwrite),
             protect(B + 0x3000, 0x1000, page::execute_readwrite, ok,
                     B + 0x3000, 0x1000, page::readwrite),
             access(B, access_kind::execute, exec_rw),
             access(B, access_kind::read, ok),
             access(B + 0x1000, access_kind::execute, ok),
             access(B + 0x1000, access_kind::read, ok),
             access(B + 0x1000, access_kind::write, S::access_violation),
             access(B + 0x2000, access_kind::execute, ok),
             access(B + 0x2000, access_kind::read, ok),
             access(B + 0x2000, access_kind::write, S::access_violation),
             access(B + 0x3000, access_kind::execute, ok),
             access(B + 0x3000, access_kind::write, ok),
             protect(B, 0x1000, page::readonly, ok, B, 0x1000, page::readwrite),
             access(B, access_kind::execute, exec_rw),
             protect(B, 0x1000, page::noaccess, ok, B, 0x1000, page::readonly),
             access(B, access_kind::execute, S::access_violation),
         }});
  }
  t.push_back(
      {"access: user mode cannot touch kernel space",
       "user/supervisor split of the x86 page tables; kernel space holds "
       "nothing of a user address space",
       {
           alloc(B, 0x1000, mem::reserve | mem::commit, page::readwrite, ok, B,
                 0x1000),
           access(L.kernel_start, access_kind::read, S::access_violation),
           access(L.kernel_start, access_kind::write, S::access_violation),
           access(top, access_kind::read, S::access_violation),
           access(~std::uint64_t{0}, access_kind::read, S::access_violation),
           access(L.kernel_start, access_kind::read, S::access_violation,
                  access_mode::kernel),
           access(B, access_kind::write, ok, access_mode::kernel),
           read(L.kernel_start, 8, S::access_violation, 0, 0),
           write(L.kernel_start, 8, 0x10, S::access_violation, 0),
           read(top - 4, 8, S::access_violation, 0, 0),
       }});

  // ---- sections and views
  // ---------------------------------------------------- Sections are made in
  // handle slots; files in the case's own order. The views go at fixed bases
  // where the tests put them (0x30000000, 0x40000000, 0x60000000 and B lie in
  // user space on every arch).
  constexpr std::uint32_t all = section_access::all_access;
  const bool wide = L.zero_bits_mask_form;  // 64-bit
  const auto top_down_below = [&](std::uint64_t limit, std::uint64_t size) {
    return (std::min(limit, L.highest) + 1 - size) & ~std::uint64_t{0xFFFF};
  };

  t.push_back(
      {"NtCreateSection: attributes, protection and size checks",
       "WRK creasect.c NtCreateSection (SEC_ combinations: _6; page-file "
       "size 0: _4); ReactOS NtMapViewOfSection.c (NOACCESS: INVALID_PAGE_"
       "PROTECTION; SEC_COMMIT charged at creation: COMMITMENT_LIMIT); Wine "
       "kernel32 test_CreateFileMapping_protection (protection "
       "combinations refused) and test_MapViewOfFile (0x3457 bytes: "
       "0x4000)",
       {
           create(0, 0x1000, page::readwrite, sec::commit | sec::reserve,
                  S::invalid_parameter_6),
           create(0, 0x1000, page::readwrite, 0, S::invalid_parameter_6),
           create(0, 0x1000, page::readwrite,
                  sec::commit | sec::nocache | sec::writecombine,
                  S::invalid_parameter_6),
           create(0, 0x1000, page::noaccess, sec::commit,
                  S::invalid_page_protection),
           create(0, 0x1000, page::readwrite | page::readonly, sec::commit,
                  S::invalid_page_protection),
           create(0, 0x1000, page::writecopy | page::readwrite, sec::commit,
                  S::invalid_page_protection),
           create(0, 0x1000, 0, sec::commit, S::invalid_page_protection),
           create(0, 0, page::readwrite, sec::commit, S::invalid_parameter_4),
           // Past the commit limit (nt_case_commit_limit pages).
           create(0, 0x200000, page::readwrite, sec::commit,
                  S::commitment_limit),
           system_charge(0),
           create(0, 0x3457, page::readwrite, sec::commit, ok),
           system_charge(4),
           map(0, B, 0, 0, page::readwrite, ok, B, 0x4000),
           query(B, mapped(B, B, page::readwrite, 0x4000, page::readwrite)),
           charge(0),
           // SEC_RESERVE charges nothing, even past the limit.
           create(1, 0x200000, page::readwrite, sec::reserve, ok),
           system_charge(4),
           unmap(B),
           close_handle(0),
           system_charge(0),
           close_handle(1),
       }});
  t.push_back(
      {"NtCreateSection: 512 GB SEC_COMMIT passes the commit limit; 8 GB "
       "SEC_RESERVE is made, 8 TB is too many prototype PTEs, 128 TB too "
       "big",
       "ReactOS NtMapViewOfSection.c Test_PageFileSection (x64)",
       {
           create(0, 0x8000000000, page::readwrite, sec::commit,
                  S::commitment_limit),
           create(0, 0x80000000000, page::readwrite, sec::reserve,
                  S::insufficient_resources),
           create(0, 0x800000000000, page::readwrite, sec::reserve,
                  S::section_too_big),
           create(0, 0x200000000, page::readwrite, sec::reserve, ok),
           close_handle(0),
       },
       "mmkit's prototype PTE pool (hosted_system: 2^20 entries) refuses "
       "every section it cannot hold (8 GB included), and a 128 TB one "
       "with INSUFFICIENT_RESOURCES"});
  t.push_back(
      {"NtCreateSection over a file: sizes against the file",
       "Wine kernel32 test_MapViewOfFile (0x3457 bytes over a 0x3456-byte "
       "file: SECTION_TOO_BIG; 0x3452: fine, and a view of 0x3453 bytes is "
       "INVALID_VIEW_SIZE; size 0: the whole file; an empty file: MAPPED_"
       "FILE_SIZE_ZERO; a read-only file: PAGE_READWRITE refused, "
       "WRITECOPY and READONLY made; 36 bytes: 36)",
       {
           make_file(0x3456, 0x11),         // file 0
           make_file(0, 0),                 // file 1
           make_file(0x1000, 0x22, false),  // file 2, read-only
           create(0, 0x3457, page::readonly, sec::commit, S::section_too_big,
                  0),
           create(0, 0x3452, page::readonly, sec::commit, ok, 0),
           map(0, B, 0x3452, 0, page::readonly, ok, B, 0x4000),
           read(B + 0x3450, 6, ok, 6, 0x11),
           unmap(B),
           map(0, B, 0x3453, 0, page::readonly, S::invalid_view_size),
           close_handle(0),
           create(1, 0, page::readonly, sec::commit, ok, 0),
           map(1, B, 0, 0, page::readonly, ok, B, 0x4000),
           read(B + 0x3450, 6, ok, 6, 0x11),
           read(B + 0x3456, 0xBAA, ok, 0xBAA, 0),  // zero past end-of-file
           unmap(B + 0x100),
           create(2, 0, page::readonly, sec::commit, S::mapped_file_size_zero,
                  1),
           create(2, 0, page::readwrite, sec::commit, S::access_denied, 2),
           create(2, 0, page::writecopy, sec::commit, ok, 2),
           create(3, 0, page::readonly, sec::commit, ok, 2),
           create(4, 36, page::readonly, sec::commit, ok, 0),
           map(4, B, 0, 0, page::readonly, ok, B, 0x1000),
           map(4, B + 0x10000, 37, 0, page::readonly, S::invalid_view_size),
           unmap(B),
           // A read-write section larger than a writable file grows it.
           create(5, 0x5000, page::readwrite, sec::commit, ok, 0),
           file_size(0, 0x5000),
           file_holds(0, 0x3456, 0x1BAA, 0),
           system_charge(0),
       }});
  t.push_back(
      {"NtMapViewOfSection: argument checks",
       "ReactOS NtMapViewOfSection.c Test_PageFileSection (unaligned base: "
       "MAPPED_ALIGNMENT; EXECUTE_READWRITE view of a READWRITE section: "
       "SECTION_PROTECTION; MEM_COMMIT: _9; ZeroBits 10 with a NULL base, "
       "2 with 0x30000000: mapped); Wine ntdll test_NtMapViewOfSection (the "
       "same page again: CONFLICTING_ADDRESSES; offset 1, base + 42, base "
       "+ 0x1000: MAPPED_ALIGNMENT; ZeroBits 22: _4; 1 with MEM_TOP_DOWN: "
       "below 2 GiB; 0x1aaaaaaa: a mask on 64-bit, _4 on 32-bit; "
       "AT_ROUND_TO_PAGE: _9 on 64-bit); ReactOS ZwMapViewOfSection kmtest "
       "(READWRITE|READONLY: INVALID_PAGE_PROTECTION; offset -1 and "
       "0x40211: MAPPED_ALIGNMENT; ZeroBits 20 and 21 with a NULL base: "
       "NO_MEMORY; an aligned base in system space: _3)",
       {
           create(0, 0x20000, page::readwrite, sec::commit, ok),
           map(0, 0x30001000, 0x1000, 0, page::readwrite, S::mapped_alignment),
           map(0, 0x30000000, 0x1000, 0, page::execute_readwrite,
               S::section_protection),
           map(0, 0x30000000, 0x2000, 0, page::readwrite,
               S::invalid_parameter_9, 0, 0, mem::commit),
           map(0, 0x30000000, 0x2000, 0, page::readwrite,
               S::invalid_parameter_9, 0, 0, mem::reserve | mem::commit),
           map(0, 0, 0x1000, 0, page::readwrite | page::readonly,
               S::invalid_page_protection),
           map(0, 0, 0x1000, 0, 0, S::invalid_page_protection),
           map(0, 0, 0x1000, 0, page::readwrite, ok, 0x10000, 0x1000, 0, 10),
           unmap(0x10000),
           map(0, 0x30000000, 0x1000, 0, page::readwrite, ok, 0x30000000,
               0x1000, 0, 2),
           map(0, 0x30000000, 0, 0, page::readwrite, S::conflicting_addresses),
           map(0, 0x30000000, 0, 1, page::readwrite, S::mapped_alignment),
           map(0, 0x30000000 + 42, 0, 0, page::readwrite, S::mapped_alignment),
           map(0, 0x30001000, 0, 0, page::readwrite, S::mapped_alignment),
           map(0, 0, 0, ~std::uint64_t{0}, page::readwrite,
               S::mapped_alignment),
           map(0, 0, 0, 0x40211, page::readwrite, S::mapped_alignment),
           unmap(0x30000000),
           map(0, 0, 0, 0, page::readwrite, S::invalid_parameter_4, 0, 0, 0,
               22),
           map(0, 0, 0, 0, page::readwrite, S::no_memory, 0, 0, 0, 20),
           map(0, 0, 0, 0, page::readwrite, S::no_memory, 0, 0, 0, 21),
           map(0, 0, 0, 0, page::readwrite, ok,
               top_down_below(0x7FFFFFFF, 0x20000), 0x20000, mem::top_down, 1),
           unmap(top_down_below(0x7FFFFFFF, 0x20000)),
           map(0, L.kernel_start, 0, 0, page::readwrite,
               S::invalid_parameter_3),
           map(0, top, 0, 0, page::readwrite, S::invalid_parameter_3),
           query(0x10000, free_region(0x10000, top - 0x10000)),
           close_handle(0),
       }});
  if (wide) {
    t.push_back(
        {"NtMapViewOfSection: ZeroBits as a mask, AT_ROUND_TO_PAGE (64-bit)",
         "Wine ntdll test_NtMapViewOfSection (0x1aaaaaaa with MEM_TOP_DOWN: "
         "below 0x20000000; AT_ROUND_TO_PAGE: _9 on 64-bit)",
         {
             create(0, 0x20000, page::readwrite, sec::commit, ok),
             map(0, 0, 0, 0, page::readwrite, ok,
                 top_down_below(0x1FFFFFFF, 0x20000), 0x20000, mem::top_down,
                 0x1aaaaaaa),
             map(0, 0x30001000, 0, 0, page::readwrite, S::invalid_parameter_9,
                 0, 0, 0x40000000),
             close_handle(0),
         }});
  } else {
    t.push_back({"NtMapViewOfSection: ZeroBits of 32 or more (32-bit)",
                 "Wine ntdll test_NtMapViewOfSection (0x1aaaaaaa: _4 on "
                 "32-bit)",
                 {
                     create(0, 0x20000, page::readwrite, sec::commit, ok),
                     map(0, 0, 0, 0, page::readwrite, S::invalid_parameter_4, 0,
                         0, mem::top_down, 0x1aaaaaaa),
                     close_handle(0),
                 }});
  }
  t.push_back(
      {"NtMapViewOfSection: ZeroBits bound an explicit base, before its "
       "alignment",
       "ReactOS NtMapViewOfSection.c (0x30000000 with ZeroBits 3: _4); Wine "
       "ntdll and kernel32 test_NtMapViewOfSection (an unaligned base the "
       "ZeroBits do not allow: _4, one they allow: MAPPED_ALIGNMENT)",
       {
           create(0, 0x20000, page::readwrite, sec::commit, ok),
           map(0, 0x30000000, 0x1000, 0, page::readwrite,
               S::invalid_parameter_4, 0, 0, 0, 3),
           map(0, 0x30001000, 0, 0, page::readwrite, S::invalid_parameter_4, 0,
               0, 0, 12),
           map(0, 0x30001000, 0, 1, page::readwrite, S::invalid_parameter_4, 0,
               0, 0, 16),
           map(0, 0x30001000, 0, 0, page::readwrite, S::mapped_alignment, 0, 0,
               0, 2),
           close_handle(0),
       }});
  t.push_back(
      {"NtMapViewOfSection: a base beyond user space is _3 before its "
       "alignment is looked at",
       "ReactOS ZwMapViewOfSection kmtest (MmSystemRangeStart + 200: _3)",
       {
           create(0, 0x20000, page::readwrite, sec::commit, ok),
           map(0, L.kernel_start + 200, 0, 0, page::readwrite,
               S::invalid_parameter_3),
           close_handle(0),
       }});
  if (wide) {
    t.push_back(
        {"NtMapViewOfSection: a NULL base with a size past user space",
         "ReactOS NtMapViewOfSection.c (x64: ViewSize MAXULONG_PTR, _3)",
         {
             create(0, 0x20000, page::readwrite, sec::reserve, ok),
             map(0, 0, ~std::uint64_t{0}, 0, page::readwrite,
                 S::invalid_parameter_3),
             close_handle(0),
         }});
  }
  t.push_back(
      {"NtMapViewOfSection: the handle is referenced (and its access "
       "checked) before the alignment",
       "ReactOS ZwMapViewOfSection kmtest (a bad handle with an unaligned "
       "base: INVALID_HANDLE); Wine kernel32 test_MapViewOfFile (a "
       "FILE_MAP_READ handle maps no writable view: ACCESS_DENIED)",
       {
           create(0, 0x20000, page::readwrite, sec::commit, ok, -1, "", 0,
                  section_access::map_read),
           map(0, 0x30001000, 0, 0, page::readwrite, S::access_denied),
           close_handle(0),
       }});
  t.push_back(
      {"views: the private-memory calls",
       "ReactOS NtMapViewOfSection.c Test_PageFileSection (a view is "
       "usable at once; MEM_COMMIT in it succeeds; decommit and release: "
       "UNABLE_TO_DELETE_SECTION; a commit past the view or in the rest of "
       "its 64 KiB: CONFLICTING_ADDRESSES; the next 64 KiB is free; two "
       "views at 0x40000000 and 0x40080000, the second at offset 64 KiB); "
       "Wine kernel32 test_MapViewOfFile (query: MEM_MAPPED, the view's "
       "base and protection)",
       {
           create(0, 0x20000, page::readwrite, sec::commit, ok),
           map(0, 0x30000000, 0x2000, 0, page::readwrite, ok, 0x30000000,
               0x2000),
           write(0x30000000, 4, 0x01, ok, 4),
           query(0x30000000, mapped(0x30000000, 0x30000000, page::readwrite,
                                    0x2000, page::readwrite)),
           alloc(0x30000000, 0x1000, mem::commit, page::readwrite, ok,
                 0x30000000, 0x1000),
           decommit(0x30000000, 0x1000, S::unable_to_delete_section),
           alloc(0x30000000, 0x3000, mem::commit, page::readwrite,
                 S::conflicting_addresses),
           alloc(0x30002000, 0x1000, mem::commit, page::readwrite,
                 S::conflicting_addresses),
           alloc(0x30002000, 0x1000, mem::reserve | mem::commit,
                 page::readwrite, S::conflicting_addresses),
           alloc(0x30010000, 0x1000, mem::reserve | mem::commit,
                 page::readwrite, ok, 0x30010000, 0x1000),
           release(0x30010000, 0x1000, ok, 0x30010000, 0x1000),
           release(0x30000000, 0x1000, S::unable_to_delete_section),
           release(0x30000000, 0, S::unable_to_delete_section),
           release(0x30001000, 0, S::free_vm_not_at_base),
           release(0x30000000, 0x3000, S::unable_to_free_vm),
           alloc(0x30001000, 0x1000, mem::commit, page::readwrite, ok,
                 0x30001000, 0x1000),
           decommit(0x30001000, 0x1000, S::unable_to_delete_section),
           map(0, 0x40000000, 0x1000, 0, page::readwrite, ok, 0x40000000,
               0x1000),
           map(0, 0x40080000, 0x1000, 0x10000, page::readwrite, ok, 0x40080000,
               0x1000),
           alloc(0x40000000, 0x1000, mem::commit, page::readwrite, ok,
                 0x40000000, 0x1000),
           read(0x40000000, 4, ok, 4, 0x01),  // the same section page
           write(0x40080000, 8, 0x02, ok, 8),
           read(0x40000000 + 4, 1, ok, 1, 0),
           // MEM_RESET is a hint a view ignores.
           alloc(0x30000000, 0x2000, mem::reset, page::readonly, ok, 0x30000000,
                 0x2000),
           read(0x30000000, 4, ok, 4, 0x01),
           charge(0),
           system_charge(0x20),
           unmap(0x40000000),
           unmap(0x30000000),
           unmap(0x40080000),
           close_handle(0),
           system_charge(0),
       }});
  t.push_back(
      {"views: SEC_RESERVE pages are committed through any view, "
       "protection stays per view",
       "ReactOS NtMapViewOfSection.c Test_PageFileSection (SEC_RESERVE: "
       "MEM_COMMIT as the allocation type _9; the second page of a view "
       "committed through another view with PAGE_READONLY, twice, is "
       "written through the first); Wine kernel32 test_MapViewOfFile "
       "(SEC_RESERVE views are one MEM_RESERVE region with Protect 0; a "
       "commit through one view commits the pages in the other with its "
       "own protection; MEM_RESET succeeds; decommit fails)",
       {
           create(0, 0x20000, page::readwrite, sec::reserve, ok),
           map(0, 0, 0x1000, 0, page::readwrite, S::invalid_parameter_9, 0, 0,
               mem::commit),
           map(0, B, 0x2000, 0, page::readwrite, ok, B, 0x2000),
           query(B, mapped_reserve(B, B, page::readwrite, 0x2000)),
           write(B, 1, 0x01, S::access_violation, 0),
           map(0, B + 0x10000, 0x2000, 0, page::readwrite, ok, B + 0x10000,
               0x2000),
           alloc(B + 0x11000, 0x1000, mem::commit, page::readonly, ok,
                 B + 0x11000, 0x1000),
           alloc(B + 0x11000, 0x1000, mem::commit, page::readonly, ok,
                 B + 0x11000, 0x1000),
           write(B + 0x1000, 1, 0x02, ok, 1),
           read(B + 0x11000, 1, ok, 1, 0x02),
           write(B + 0x11000, 1, 0x03, S::access_violation, 0),
           query(B, mapped_reserve(B, B, page::readwrite, 0x1000)),
           query(B + 0x1000, mapped(B + 0x1000, B, page::readwrite, 0x1000,
                                    page::readwrite)),
           query(B + 0x11000, mapped(B + 0x11000, B + 0x10000, page::readwrite,
                                     0x1000, page::readonly)),
           system_charge(1),
           charge(0),
           unmap(B),
           unmap(B + 0x10000),
           close_handle(0),
           system_charge(0),
           // Wine's SEC_RESERVE mapping, scaled to the commit limit.
           create(1, 0x80000, page::readwrite, sec::reserve, ok),
           map(1, B, 0, 0, page::readwrite, ok, B, 0x80000),
           map(1, B + 0x100000, 0, 0, page::readwrite, ok, B + 0x100000,
               0x80000),
           query(B, mapped_reserve(B, B, page::readwrite, 0x80000)),
           alloc(B, 0x10000, mem::commit, page::readonly, ok, B, 0x10000),
           query(B, mapped(B, B, page::readwrite, 0x10000, page::readonly)),
           query(B + 0x100000,
                 mapped(B + 0x100000, B + 0x100000, page::readwrite, 0x10000,
                        page::readwrite)),
           alloc(B, 0x80000, mem::reset, page::readonly, ok, B, 0x80000),
           decommit(B, 0x10000, S::unable_to_delete_section),
           system_charge(0x10),
           unmap(B + 0x100000),
           unmap(B),
           close_handle(1),
           system_charge(0),
       }});
  t.push_back(
      {"views: commit and protect in a NOACCESS view of a SEC_RESERVE "
       "section",
       "ReactOS NtMapViewOfSection.c Test_PageFileSection (a NOACCESS view "
       "maps; its pages fault); current Windows' MiCommitPagefileBackedSection "
       "(a commit the view's protection does not allow: SECTION_PROTECTION; "
       "Windows 2003, which the ReactOS test ran on, committed it)",
       {
           create(0, 0x200000, page::readwrite, sec::reserve, ok),
           map(0, 0, 0x20000, 0, page::noaccess, ok, 0x10000, 0x20000),
           read(0x10000, 1, S::access_violation, 0, 0),
           alloc(0x10000, 0x1000, mem::commit, page::readonly,
                 S::section_protection),
           alloc(0x10000, 0x1000, mem::commit, page::noaccess, ok, 0x10000,
                 0x1000),
           query(0x10000, mapped(0x10000, 0x10000, page::noaccess, 0x1000,
                                 page::noaccess)),
           read(0x10000, 1, S::access_violation, 0, 0),
           protect(0x10000, 0x1000, page::readonly, S::section_protection),
           system_charge(1),
           unmap(0x10000),
           close_handle(0),
       }});
  t.push_back(
      {"views: protect checks the view's protection before the pages' "
       "commitment",
       "ReactOS NtMapViewOfSection.c Test_PageFileSection (READWRITE and "
       "READONLY on an uncommitted page of a NOACCESS view: SECTION_"
       "PROTECTION); current Windows' NtProtectVirtualMemory (the "
       "compatibility check comes before MiIsRangeFullyCommitted)",
       {
           create(0, 0x200000, page::readwrite, sec::reserve, ok),
           map(0, 0, 0x20000, 0, page::noaccess, ok, 0x10000, 0x20000),
           protect(0x10000, 0x1000, page::readwrite, S::section_protection),
           protect(0x10000, 0x1000, page::readonly, S::section_protection),
           unmap(0x10000),
           close_handle(0),
       }});
  {
    // One file page, one section per protection, a FILE_MAP_READ view.
    nt_case c{
        "views: a READONLY view of a file section takes READONLY and "
        "WRITECOPY, and refuses MEM_COMMIT",
        "Wine kernel32 test_CreateFileMapping_protection (every section "
        "protection: the view reads back READONLY; VirtualAlloc(MEM_COMMIT) "
        "on it fails with ERROR_ACCESS_DENIED, i.e. ALREADY_COMMITTED; "
        "VirtualProtect succeeds for READONLY and WRITECOPY only, the "
        "others ERROR_INVALID_PARAMETER); the first write to a WRITECOPY "
        "page copies it",
        {make_file(0x1000, 0x5A)}};
    const std::uint32_t prots[] = {
        page::readonly,     page::readwrite,         page::writecopy,
        page::execute_read, page::execute_readwrite, page::execute_writecopy};
    int slot = 0;
    for (const std::uint32_t sp : prots) {
      c.steps.push_back(create(slot, 0, sp, sec::commit, ok, 0));
      c.steps.push_back(map(slot, B, 0, 0, page::readonly, ok, B, 0x1000));
      c.steps.push_back(
          query(B, mapped(B, B, page::readonly, 0x1000, page::readonly)));
      const bool cow = sp == page::writecopy || sp == page::execute_writecopy;
      if (!cow)
        c.steps.push_back(
            alloc(B, 0x1000, mem::commit, sp, S::already_committed));
      const bool fits = sp == page::readonly || sp == page::writecopy;
      c.steps.push_back(protect(B, 0x1000, sp,
                                fits ? ok : S::section_protection, B, 0x1000,
                                page::readonly));
      if (sp == page::writecopy) {
        c.steps.push_back(charge(1));
        c.steps.push_back(read(B, 4, ok, 4, 0x5A));
        c.steps.push_back(write(B, 4, 0x6B, ok, 4));
        c.steps.push_back(
            query(B, mapped(B, B, page::readonly, 0x1000, page::readwrite)));
      }
      c.steps.push_back(unmap(B));
      c.steps.push_back(close_handle(slot));
      ++slot;
    }
    c.steps.push_back(charge(0));
    c.steps.push_back(file_holds(0, 0, 0x1000, 0x5A));  // never written
    t.push_back(std::move(c));
  }
  t.push_back(
      {"views: MEM_COMMIT of a copy-on-write protection in a file view is "
       "ALREADY_COMMITTED",
       "Wine kernel32 test_CreateFileMapping_protection (PAGE_WRITECOPY and "
       "PAGE_EXECUTE_WRITECOPY commits on a file view: ERROR_ACCESS_DENIED)",
       {
           make_file(0x1000, 0x5A),
           create(0, 0, page::readwrite, sec::commit, ok, 0),
           map(0, B, 0, 0, page::readonly, ok, B, 0x1000),
           alloc(B, 0x1000, mem::commit, page::writecopy, S::already_committed),
           alloc(B, 0x1000, mem::commit, page::execute_writecopy,
                 S::already_committed),
           unmap(B),
           close_handle(0),
       }});
  t.push_back(
      {"NtMapViewOfSection: the view's protection against the section's",
       "ReactOS ZwMapViewOfSection kmtest (a READWRITE file section: "
       "READONLY and NOACCESS map, EXECUTE_WRITECOPY is SECTION_PROTECTION; "
       "a READONLY one: READWRITE, EXECUTE_READ and EXECUTE are SECTION_"
       "PROTECTION, WRITECOPY, READONLY and NOACCESS map); Wine kernel32 "
       "test_MapViewOfFile (FILE_MAP_COPY of a READONLY and of a WRITECOPY "
       "mapping; FILE_MAP_WRITE of a WRITECOPY one refused)",
       {
           make_file(0x2000, 0x10),
           make_file(0x2000, 0x20, false),
           create(0, 0, page::readwrite, sec::commit, ok, 0),
           create(1, 0, page::readonly, sec::commit, ok, 1),
           create(2, 0, page::writecopy, sec::commit, ok, 0),
           map(0, B, 0, 0, page::readonly, ok, B, 0x2000),
           unmap(B),
           map(0, B, 0, 0, page::noaccess, ok, B, 0x2000),
           read(B, 1, S::access_violation, 0, 0),
           unmap(B),
           map(0, B, 0, 0, page::execute_writecopy, S::section_protection),
           map(1, B, 0, 0, page::readwrite, S::section_protection),
           map(1, B, 0, 0, page::execute_read, S::section_protection),
           map(1, B, 0, 0, page::execute, S::section_protection),
           map(1, B, 0, 0, page::readwrite | page::readonly,
               S::invalid_page_protection),
           map(1, B, 0, 0, page::writecopy, ok, B, 0x2000),
           unmap(B),
           map(1, B, 0, 0, page::readonly, ok, B, 0x2000),
           read(B, 0x2000, ok, 0x2000, 0x20),
           write(B, 1, 0x01, S::access_violation, 0),
           unmap(B),
           map(1, B, 0, 0, page::noaccess, ok, B, 0x2000),
           unmap(B),
           map(2, B, 0, 0, page::readwrite, S::section_protection),
           map(2, B, 0, 0, page::writecopy, ok, B, 0x2000),
           write(B + 0x1000, 2, 0x33, ok, 2),
           read(B + 0x1000, 2, ok, 2, 0x33),
           unmap(B),
           close_handle(0),
           close_handle(1),
           close_handle(2),
           file_holds(0, 0, 0x2000, 0x10),
       }});
  t.push_back(
      {"NtMapViewOfSection: MmCompatibleProtectionMask for EXECUTE and "
       "EXECUTE_READ sections",
       "WRK mmdata.c MmCompatibleProtectionMask (an EXECUTE_READ section: "
       "NOACCESS, READONLY, WRITECOPY, EXECUTE, EXECUTE_READ, not "
       "EXECUTE_WRITECOPY; an EXECUTE one: NOACCESS and EXECUTE only), the "
       "table MmMapViewOfSection consults",
       {
           create(0, 0x10000, page::execute_read, sec::commit, ok),
           map(0, B, 0, 0, page::execute_writecopy, S::section_protection),
           map(0, B, 0, 0, page::writecopy, ok, B, 0x10000),
           unmap(B),
           create(1, 0x10000, page::execute, sec::commit, ok),
           map(1, B, 0, 0, page::readonly, S::section_protection),
           map(1, B, 0, 0, page::execute, ok, B, 0x10000),
           unmap(B),
           close_handle(0),
           close_handle(1),
       }});
  t.push_back(
      {"views: commit and protect are bound by MmCompatibleProtectionMask "
       "of the view's protection",
       "current Windows' MiCommitPagefileBackedSection and "
       "NtProtectVirtualMemory (decompiled: MmCompatibleProtectionMask of "
       "the view's protection, SECTION_PROTECTION otherwise); WRK mmdata.c "
       "(an EXECUTE view: NOACCESS and EXECUTE; an EXECUTE_READ one: not "
       "EXECUTE_WRITECOPY)",
       {
           create(0, 0x10000, page::execute_readwrite, sec::reserve, ok),
           map(0, B, 0, 0, page::execute, ok, B, 0x10000),
           alloc(B, 0x1000, mem::commit, page::readonly, S::section_protection),
           alloc(B, 0x1000, mem::commit, page::execute_read,
                 S::section_protection),
           alloc(B, 0x1000, mem::commit, page::execute, ok, B, 0x1000),
           protect(B, 0x1000, page::readonly, S::section_protection),
           protect(B, 0x1000, page::writecopy, S::section_protection),
           protect(B, 0x1000, page::execute_writecopy, S::section_protection),
           map(0, B + 0x10000, 0, 0, page::execute_read, ok, B + 0x10000,
               0x10000),
           protect(B + 0x10000, 0x1000, page::execute_writecopy,
                   S::section_protection),
           unmap(B),
           unmap(B + 0x10000),
           close_handle(0),
       }});
  t.push_back(
      {"NtMapViewOfSection: view sizes and offsets of a file section",
       "ReactOS ZwMapViewOfSection kmtest (a view one byte past the section: "
       "INVALID_VIEW_SIZE; exactly the section, or a byte less: mapped; an "
       "unaligned base 0x00567A20: MAPPED_ALIGNMENT; 0x60000000: mapped; "
       "an address already allocated: CONFLICTING_ADDRESSES; an offset at "
       "the section's end: INVALID_VIEW_SIZE)",
       {
           make_file(0x1234, 0x44),
           create(0, 0, page::readwrite, sec::commit, ok, 0),
           map(0, B, 0x1235, 0, page::readwrite, S::invalid_view_size),
           map(0, B, 0x1234, 0, page::readwrite, ok, B, 0x2000),
           unmap(B),
           map(0, B, 0x1233, 0, page::readwrite, ok, B, 0x2000),
           unmap(B),
           map(0, 0x00567A20, 0, 0, page::readwrite, S::mapped_alignment),
           map(0, 0x60000000, 0, 0, page::readwrite, ok, 0x60000000, 0x2000),
           unmap(0x60000000),
           map(0, B, 0, 0x10000, page::readwrite, S::invalid_view_size),
           alloc(B, 0x1000, mem::reserve | mem::commit, page::readwrite, ok, B,
                 0x1000),
           map(0, B, 0, 0, page::readwrite, S::conflicting_addresses),
           release(B, 0, ok, B, 0x1000),
           close_handle(0),
       }});
  t.push_back(
      {"NtMapViewOfSection: MEM_RESERVE",
       "ReactOS ZwMapViewOfSection kmtest (MEM_RESERVE of a page-file "
       "section: _9; of a READONLY file section: SECTION_PROTECTION; of a "
       "READWRITE one, a view past the section's end maps); ReactOS "
       "NtMapViewOfSection.c (SEC_RESERVE page-file section, MEM_RESERVE: "
       "_9)",
       {
           make_file(0x1234, 0x44),
           make_file(0x1234, 0x45, false),
           create(0, 0x20000, page::readwrite, sec::reserve, ok),
           map(0, 0, 0x1000, 0, page::readwrite, S::invalid_parameter_9, 0, 0,
               mem::reserve),
           create(1, 0, page::readonly, sec::commit, ok, 1),
           map(1, 0, 0, 0, page::readonly, S::section_protection, 0, 0,
               mem::reserve),
           create(2, 0, page::readwrite, sec::commit, ok, 0),
           map(2, B, 0x1235, 0, page::readwrite, ok, B, 0x2000, mem::reserve),
           unmap(B),
           close_handle(0),
           close_handle(1),
           close_handle(2),
       },
       "map_view refuses a MEM_RESERVE view past the section's end: "
       "INVALID_VIEW_SIZE"});
  t.push_back(
      {"NtMapViewOfSection: CommitSize",
       "ReactOS NtMapViewOfSection.c (SEC_RESERVE, CommitSize one page: the "
       "first page of the view is accessible, the second not); ReactOS "
       "ZwMapViewOfSection kmtest (a page-file section: CommitSize 500 "
       "maps, -1 and one larger than the view are _5; a file section: "
       "CommitSize without MEM_RESERVE is _5)",
       {
           make_file(0x1234, 0x44),
           create(0, 0x20000, page::readwrite, sec::reserve, ok),
           map(0, B, 0x2000, 0, page::readwrite, ok, B, 0x2000, 0, 0, 0x1000),
           write(B, 1, 0x01, ok, 1),
           write(B + 0x1000, 1, 0x01, S::access_violation, 0),
           system_charge(1),
           unmap(B),
           create(1, 0x50000, page::readwrite, sec::commit, ok),
           map(1, B, 0, 0, page::readwrite, ok, B, 0x50000, 0, 0, 500),
           unmap(B),
           map(1, B, 0, 0, page::readwrite, S::invalid_parameter_5, 0, 0, 0, 0,
               ~std::uint64_t{0}),
           map(1, B, 0, 0, page::readwrite, S::invalid_parameter_5, 0, 0, 0, 0,
               0x10000000),
           create(2, 0, page::readwrite, sec::commit, ok, 0),
           map(2, B, 0, 0, page::readwrite, S::invalid_parameter_5, 0, 0, 0, 0,
               500),
           close_handle(0),
           close_handle(1),
           close_handle(2),
       },
       "map_view takes no CommitSize"});
  t.push_back(
      {"NtUnmapViewOfSection: any address inside the view; private memory "
       "is no view",
       "Wine kernel32 test_MapViewOfFile (UnmapViewOfFile at ptr + 100, "
       "ptr + 4096, ptr + 4196; of VirtualAlloc memory and of 0xdeadbeef: "
       "ERROR_INVALID_ADDRESS, i.e. NOT_MAPPED_VIEW; the view's range is "
       "free afterwards)",
       {
           make_file(12288, 0x01),
           create(0, 12288, page::readonly, sec::commit, ok, 0),
           map(0, B, 12288, 0, page::readonly, ok, B, 0x3000),
           unmap(B + 100),
           map(0, B, 12288, 0, page::readonly, ok, B, 0x3000),
           unmap(B + 4096),
           map(0, B, 12288, 0, page::readonly, ok, B, 0x3000),
           unmap(B + 4096 + 100),
           unmap(B, S::not_mapped_view),
           query(B, free_region(B, top - B)),
           alloc(B, 0x10000, mem::reserve | mem::commit, page::readonly, ok, B,
                 0x10000),
           unmap(B, S::not_mapped_view),
           unmap(B + 0x3000, S::not_mapped_view),
           unmap(0xdeadbeef, S::not_mapped_view),
           close_handle(0),
       }});
  t.push_back(
      {"sections: a view keeps its section alive after the last handle",
       "Wine kernel32 test_MapViewOfFile (close named mapping handle "
       "without unmapping: the memory stays accessible and queries as "
       "before; unmapped, it is free)",
       {
           create(0, 0x10000, page::readwrite, sec::commit, ok, -1, "Foo"),
           map(0, B, 0, 0, page::readwrite, ok, B, 0x10000),
           open_named(1, "Foo", section_access::map_read, ok),
           close_handle(1),
           close_handle(0),
           write(B + 0x8000, 0x10, 0x77, ok, 0x10),
           read(B, 0x8000, ok, 0x8000, 0),
           read(B + 0x8000, 0x10, ok, 0x10, 0x77),
           query(B, mapped(B, B, page::readwrite, 0x10000, page::readwrite)),
           system_charge(0x10),
           unmap(B),
           query(B, free_region(B, top - B)),
           system_charge(0),
       }});
  t.push_back(
      {"sections: a name goes with the last handle, even while a view "
       "maps the section",
       "Wine kernel32 test_MapViewOfFile (after the handles are closed, "
       "OpenFileMapping of the name fails with ERROR_FILE_NOT_FOUND and "
       "CreateFileMapping of it makes a new section, ERROR_SUCCESS; "
       "todo_wine there, Windows' behaviour)",
       {
           create(0, 0x10000, page::readwrite, sec::commit, ok, -1, "Foo"),
           map(0, B, 0, 0, page::readwrite, ok, B, 0x10000),
           close_handle(0),
           open_named(1, "Foo", section_access::map_read,
                      S::object_name_not_found),
           create(2, 0x10000, page::readwrite, sec::commit, ok, -1, "Foo",
                  obj_openif),
           close_handle(2),
           unmap(B),
       }});
  t.push_back(
      {"sections: names are case sensitive; OBJ_OPENIF opens an existing one",
       "Wine kernel32 test_CreateFileMapping (a second CreateFileMapping of "
       "the name: ERROR_ALREADY_EXISTS, i.e. OBJECT_NAME_EXISTS; the name "
       "in capitals: a new mapping; OpenFileMapping in capitals: not "
       "found); without OBJ_OPENIF: OBJECT_NAME_COLLISION (NT object "
       "manager)",
       {
           create(0, 0x1000, page::readwrite, sec::commit, ok, -1,
                  "Wine Test Mapping", obj_openif),
           create(1, 0x1000, page::readwrite, sec::commit,
                  S::object_name_exists, -1, "Wine Test Mapping", obj_openif),
           close_handle(1),
           create(1, 0x1000, page::readwrite, sec::commit, ok, -1,
                  "WINE TEST MAPPING", obj_openif),
           close_handle(1),
           open_named(1, "Wine Test Mapping", all, ok),
           close_handle(1),
           open_named(1, "WINE TEST MAPPING", all, S::object_name_not_found),
           create(1, 0x1000, page::readwrite, sec::commit,
                  S::object_name_collision, -1, "Wine Test Mapping"),
           system_charge(1),
           close_handle(0),
           system_charge(0),
       }});
  t.push_back(
      {"sections: SECTION_MAP_* rights of the handle",
       "Wine kernel32 test_MapViewOfFile (a FILE_MAP_READ handle: "
       "FILE_MAP_WRITE refused with ERROR_ACCESS_DENIED, FILE_MAP_READ "
       "maps a READONLY view of 4096 bytes for 4090; FILE_MAP_WRITE: "
       "FILE_MAP_READ refused, FILE_MAP_WRITE maps READWRITE; a handle "
       "with no rights maps nothing, a FILE_MAP_READ one a NOACCESS view)",
       {
           create(0, 4090, page::readwrite, sec::commit, ok, -1, "Local\\Foo"),
           open_named(1, "Local\\Foo", section_access::map_read, ok),
           map(1, 0, 0, 0, page::readwrite, S::access_denied),
           map(1, 0, 0, 0, page::readonly, ok, 0x10000, 0x1000),
           query(0x10000, mapped(0x10000, 0x10000, page::readonly, 0x1000,
                                 page::readonly)),
           unmap(0x10000),
           map(1, 0, 0, 0, page::noaccess, ok, 0x10000, 0x1000),
           unmap(0x10000),
           open_named(2, "Local\\Foo", section_access::map_write, ok),
           map(2, 0, 0, 0, page::readonly, S::access_denied),
           map(2, 0, 0, 0, page::readwrite, ok, 0x10000, 0x1000),
           query(0x10000, mapped(0x10000, 0x10000, page::readwrite, 0x1000,
                                 page::readwrite)),
           unmap(0x10000),
           open_named(3, "Local\\Foo", 0, ok),
           map(3, 0, 0, 0, page::noaccess, S::access_denied),
           open_named(4, "Local\\Foo", section_access::generic_read, ok),
           map(4, 0, 0, 0, page::readonly, ok, 0x10000, 0x1000),
           unmap(0x10000),
       }});
  t.push_back(
      {"views: copy-on-write",
       "the issue's copy-on-write rules (charged at map time; the first "
       "write copies the page, which then alone reports READWRITE; "
       "WRITECOPY asked of the copy reports READWRITE, READWRITE asked of a "
       "shared page stays WRITECOPY); Wine kernel32 "
       "test_CreateFileMapping_protection (a WRITECOPY page reads back "
       "READWRITE once written)",
       {
           create(0, 0x4000, page::readwrite, sec::commit, ok),
           map(0, B, 0, 0, page::readwrite, ok, B, 0x4000),
           write(B, 0x4000, 0x11, ok, 0x4000),
           map(0, B + 0x10000, 0, 0, page::writecopy, ok, B + 0x10000, 0x4000),
           charge(4),
           system_charge(8),
           query(B + 0x10000, mapped(B + 0x10000, B + 0x10000, page::writecopy,
                                     0x4000, page::writecopy)),
           read(B + 0x11000, 4, ok, 4, 0x11),
           write(B + 0x11000, 4, 0x22, ok, 4),
           read(B + 0x11000, 4, ok, 4, 0x22),
           read(B + 0x11004, 4, ok, 4, 0x11),
           read(B + 0x1000, 4, ok, 4, 0x11),  // the section never sees it
           query(B + 0x10000, mapped(B + 0x10000, B + 0x10000, page::writecopy,
                                     0x1000, page::writecopy)),
           query(B + 0x11000, mapped(B + 0x11000, B + 0x10000, page::writecopy,
                                     0x1000, page::readwrite)),
           protect(B + 0x11000, 0x1000, page::writecopy, ok, B + 0x11000,
                   0x1000, page::readwrite),
           query(B + 0x11000, mapped(B + 0x11000, B + 0x10000, page::writecopy,
                                     0x1000, page::readwrite)),
           protect(B + 0x12000, 0x1000, page::readwrite, ok, B + 0x12000,
                   0x1000, page::writecopy),
           query(B + 0x12000, mapped(B + 0x12000, B + 0x12000 - 0x2000,
                                     page::writecopy, 0x2000, page::writecopy)),
           protect(B + 0x10000, 0x1000, page::execute_read,
                   S::section_protection),
           write(B + 0x1000, 4, 0x33, ok, 4),  // shared pages see it
           read(B + 0x10000 + 0x1000, 4, ok, 4, 0x22),
           read(B + 0x12000 + 0x1000, 4, ok, 4, 0x11),
           read(B + 0x10000, 4, ok, 4, 0x11),
           unmap(B + 0x10000),
           charge(0),
           // WRITECOPY on a view that was not copy-on-write charges it.
           protect(B, 0x1000, page::writecopy, ok, B, 0x1000, page::readwrite),
           charge(4),
           write(B, 4, 0x44, ok, 4),
           query(B, mapped(B, B, page::readwrite, 0x4000, page::readwrite)),
           write(B + 0x1000, 4, 0x55, ok, 4),
           unmap(B),
           charge(0),
           map(0, B, 0, 0, page::readonly, ok, B, 0x4000),
           read(B, 4, ok, 4, 0x11),  // the copy went with its view
           read(B + 0x1000, 4, ok, 4, 0x55),
           unmap(B),
           close_handle(0),
       }});
  t.push_back(
      {"views: EXECUTE_WRITECOPY becomes EXECUTE_READWRITE when written",
       "the issue's copy-on-write rules; Wine kernel32 "
       "test_CreateFileMapping_protection (EXECUTE_WRITECOPY: "
       "EXECUTE_READWRITE after a write)",
       {
           create(0, 0x2000, page::execute_readwrite, sec::commit, ok),
           map(0, B, 0, 0, page::execute_writecopy, ok, B, 0x2000),
           access(B, access_kind::execute, ok),
           write(B, 4, 0x66, ok, 4),
           query(B, mapped(B, B, page::execute_writecopy, 0x1000,
                           page::execute_readwrite)),
           access(B, access_kind::execute, ok),
           query(B + 0x1000, mapped(B + 0x1000, B, page::execute_writecopy,
                                    0x1000, page::execute_writecopy)),
           unmap(B),
           close_handle(0),
       }});
  t.push_back(
      {"file views: the file's bytes, zero past its end, written back on "
       "flush and with the last reference, never past the end",
       "ReactOS ZwMapViewOfSection kmtest BehaviorChecks (a view reads the "
       "file; a READONLY view faults on a write, a NOACCESS one on a read, "
       "a GUARD one once; SEC_RESERVE over a file is committed anyway); the "
       "issue's write-back rules; NtFlushVirtualMemory's statuses (WRK "
       "flushsec.c)",
       {
           make_file(0x1800, 0x33),
           create(0, 0, page::readwrite, sec::commit, ok, 0),
           map(0, B, 0, 0, page::readwrite, ok, B, 0x2000),
           read(B, 0x1800, ok, 0x1800, 0x33),
           read(B + 0x1800, 0x800, ok, 0x800, 0),
           write(B, 0x10, 0x44, ok, 0x10),
           write(B + 0x1900, 4, 0x55, ok, 4),  // past end-of-file
           file_holds(0, 0, 0x10, 0x33),
           flush(B, 0, ok, B, 0x2000),
           file_holds(0, 0, 0x10, 0x44),
           file_holds(0, 0x10, 0x17F0, 0x33),
           file_size(0, 0x1800),
           read(B + 0x1900, 4, ok, 4, 0x55),
           flush(B + 0x1234, 1, ok, B + 0x1000, 0x1000),
           flush(B, 0x3000, S::not_mapped_view),
           flush(L.kernel_start, 0, S::invalid_parameter_2),
           flush(B + 0x10000, 0, S::not_mapped_data),
           write(B + 0x20, 4, 0x66, ok, 4),
           map(0, B + 0x10000, 0, 0, page::readonly, ok, B + 0x10000, 0x2000),
           read(B + 0x10020, 4, ok, 4, 0x66),
           write(B + 0x10000, 1, 0x01, S::access_violation, 0),
           unmap(B + 0x10000),
           map(0, B + 0x10000, 0, 0, page::noaccess, ok, B + 0x10000, 0x2000),
           read(B + 0x10000, 1, S::access_violation, 0, 0),
           unmap(B + 0x10000),
           map(0, B + 0x10000, 0, 0, page::readwrite | page::guard, ok,
               B + 0x10000, 0x2000),
           read(B + 0x10000, 4, S::guard_page_violation, 0, 0),
           read(B + 0x10000, 4, ok, 4, 0x44),
           read(B + 0x11000, 4, S::guard_page_violation, 0, 0),
           unmap(B + 0x10000),
           alloc(B + 0x10000, 0x1000, mem::reserve | mem::commit,
                 page::readwrite, ok, B + 0x10000, 0x1000),
           flush(B + 0x10000, 0, S::not_mapped_data),
           release(B + 0x10000, 0, ok, B + 0x10000, 0x1000),
           unmap(B),
           file_holds(0, 0x20, 4, 0x33),  // the handle keeps it cached
           close_handle(0),
           file_holds(0, 0x20, 4, 0x66),  // nothing is lost
           file_size(0, 0x1800),
           create(1, 0, page::readwrite, sec::reserve, ok, 0),
           map(1, B, 0, 0, page::readwrite, ok, B, 0x2000),
           query(B, mapped(B, B, page::readwrite, 0x2000, page::readwrite)),
           read(B + 0x20, 4, ok, 4, 0x66),
           unmap(B),
           close_handle(1),
           system_charge(0),
       }});
  t.push_back(
      {"file views: a mapped file is not truncated below a view",
       "NtSetInformationFile(FileEndOfFileInformation): STATUS_USER_MAPPED_"
       "FILE for a file with a view past the new end (the issue); above "
       "the views, and once they are gone, the file changes",
       {
           make_file(0x30000, 0x12),
           create(0, 0, page::readwrite, sec::commit, ok, 0),
           map(0, B, 0x10000, 0x10000, page::readwrite, ok, B, 0x10000),
           end_of_file(0, 0x18000, S::user_mapped_file),
           end_of_file(0, 0x20000, ok),
           file_size(0, 0x20000),
           end_of_file(0, 0x28000, ok),
           file_holds(0, 0x20000, 0x8000, 0),
           read(B + 0xFFF0, 0x10, ok, 0x10, 0x12),
           unmap(B),
           end_of_file(0, 0x1000, ok),
           file_size(0, 0x1000),
           close_handle(0),
       }});
  return t;
}

namespace detail {
template <class T>
decltype(auto) deref(T& holder) {
  if constexpr (requires { *holder; })
    return (*holder);
  else
    return (holder);
}
}  // namespace detail

/// Where the table's checks go: doctest (hard), or a count of the ones that
/// failed (soft: a known difference being confirmed).
struct case_checker {
  bool soft = false;
  std::size_t misses = 0;
  std::string first_miss;
  bool operator()(bool ok, const std::string& what) {
    if (ok) return true;
    if (soft) {
      if (misses++ == 0) first_miss = what;
    } else {
      FAIL_CHECK(what);
    }
    return false;
  }
};

template <class T>
std::string text_of(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
inline std::string hex_text(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

/// Walks the whole user space with query() and checks it is well formed;
/// returns the number of regions. Used after every step by the runner.
template <class Space>
std::size_t check_query_walk(Space& s, const nt_layout& L,
                             case_checker& check) {
  std::uint64_t addr = 0;
  std::uint64_t committed_private = 0;
  bool any_mapped = false;
  std::size_t regions = 0;
  memory_basic_information prev{};
  bool have_prev = false;
  while (true) {
    memory_basic_information m{};
    const nt_status st = s.query(addr, m);
    const std::string at = "walk at " + hex_text(addr) + ": " + to_text(m);
    if (!check(st == nt_status::success, at + " failed")) return regions;
    if (!check(m.base_address == addr && m.region_size > 0 &&
                   m.region_size % 0x1000 == 0 &&
                   m.region_size <= L.highest + 1 - addr,
               at + " is malformed"))
      return regions;
    if (m.state == mem::free) {
      check(m.allocation_base == 0 && m.allocation_protect == 0 &&
                m.protect == page::noaccess && m.type == 0,
            at + ": free memory with fields of its own");
    } else {
      check(m.type == mem::private_memory || m.type == mem::mapped,
            at + ": neither private nor mapped");
      check(m.allocation_base <= m.base_address, at + ": base below it");
      if (m.state == mem::reserve)
        check(m.protect == 0, at + ": reserved with a protection");
      else
        check(m.state == mem::commit, at + ": state neither free, reserved "
                                           "nor committed");
      if (m.state == mem::commit && m.type == mem::private_memory)
        committed_private += m.region_size;
      any_mapped |= m.type == mem::mapped;
    }
    if (have_prev) {
      // Neighbours that query would coalesce must not be split.
      const bool same = prev.state == m.state && prev.protect == m.protect &&
                        prev.allocation_base == m.allocation_base;
      check(!same,
            "regions not coalesced: " + to_text(prev) + " " + to_text(m));
    }
    prev = m;
    have_prev = true;
    ++regions;
    addr += m.region_size;
    if (addr == L.highest + 1) break;
  }
  // A space's charge is its committed private pages, plus the pages of its
  // copy-on-write views (which the walk cannot tell).
  if (any_mapped)
    check(committed_private <= s.commit_charge() * 0x1000,
          "committed private memory beyond the commit charge");
  else
    check(committed_private == s.commit_charge() * 0x1000,
          "committed regions " + hex_text(committed_private) +
              " bytes, commit charge " + hex_text(s.commit_charge()) +
              " pages");
  return regions;
}

/// Whose behaviour a run of the table checks.
enum class table_target : std::uint8_t {
  reference,  // Windows' own (the model): every case must pass
  library,    // mmkit's: a case marked `differs` must still fail somewhere
};

/// Plays one case; the checks go to `check`.
template <class Space>
void run_nt_case(Space& s, const nt_case& c, const nt_layout& layout,
                 case_checker& check) {
  std::map<int, int> slots;  // handle slot -> the space's handle
  std::vector<int> files;    // the case's files, in order
  for (std::size_t i = 0; i < c.steps.size(); ++i) {
    const case_step& st = c.steps[i];
    char head[200];
    std::snprintf(head, sizeof head,
                  "step %zu op %d addr 0x%llx size 0x%llx flags 0x%x prot 0x%x"
                  " zero_bits 0x%llx slot %d: ",
                  i, static_cast<int>(st.op),
                  static_cast<unsigned long long>(st.addr),
                  static_cast<unsigned long long>(st.size), st.flags, st.prot,
                  static_cast<unsigned long long>(st.zero_bits), st.slot);
    const std::string step_text = head;
    const auto status_is = [&](nt_status r) {
      return check(r == st.expect, step_text + "status " + text_of(r) +
                                       ", Windows " + text_of(st.expect));
    };
    const auto handle_of = [&](int slot) {
      const auto h = slots.find(slot);
      return h == slots.end() ? -1 : h->second;
    };
    switch (st.op) {
      case case_op::allocate:
      case case_op::free:
      case case_op::protect:
      case case_op::map_view:
      case case_op::flush: {
        std::uint64_t base = st.addr;
        std::uint64_t size = st.size;
        std::uint32_t old = 0xDEADBEEF;
        nt_status r{};
        if (st.op == case_op::allocate)
          r = s.allocate(base, size, st.flags, st.prot, st.zero_bits);
        else if (st.op == case_op::free)
          r = s.free(base, size, st.flags);
        else if (st.op == case_op::protect)
          r = s.protect(base, size, st.flags, old);
        else if (st.op == case_op::map_view)
          r = s.map_view(handle_of(st.slot), base, size, st.offset, st.flags,
                         st.prot, st.zero_bits, st.commit_size);
        else
          r = s.flush(base, size);
        status_is(r);
        if (r == nt_status::success && st.expect == nt_status::success) {
          check(base == st.out_base && size == st.out_size,
                step_text + "out base/size " + hex_text(base) + "/" +
                    hex_text(size) + ", Windows " + hex_text(st.out_base) +
                    "/" + hex_text(st.out_size));
          if (st.op == case_op::protect)
            check(old == st.out_old, step_text + "OldProtect " + hex_text(old) +
                                         ", Windows " + hex_text(st.out_old));
        } else {
          check(base == st.addr && size == st.size,
                step_text + "a failed call changed its base/size");
          // OldProtect on failure: PAGE_NOACCESS once the range was looked
          // up and found wanting (current Windows), untouched before that;
          // a step may pin what Windows writes.
          if (st.op == case_op::protect) {
            const std::uint32_t want =
                st.fail_old ? *st.fail_old
                : st.expect == nt_status::conflicting_addresses ||
                        st.expect == nt_status::not_committed
                    ? page::noaccess
                    : 0xDEADBEEF;
            check(old == want, step_text + "OldProtect " + hex_text(old) +
                                   " on failure, Windows " + hex_text(want));
          }
        }
        break;
      }
      case case_op::query: {
        memory_basic_information m{};
        const nt_status r = s.query(st.addr, m);
        status_is(r);
        if (r == nt_status::success && st.expect == nt_status::success)
          check(m == st.out_info, step_text + "query " + to_text(m) +
                                      ", Windows " + to_text(st.out_info));
        break;
      }
      case case_op::access: {
        status_is(s.access(st.addr, static_cast<access_kind>(st.flags),
                           static_cast<access_mode>(st.prot)));
        break;
      }
      case case_op::read: {
        std::vector<std::uint8_t> buf(st.size, 0xEE);
        std::size_t done = 12345;
        status_is(s.read(st.addr, buf.data(), buf.size(), done));
        check(done == st.out_done, step_text + "bytes_done " + text_of(done) +
                                       ", Windows " + text_of(st.out_done));
        std::size_t bad = 0;
        for (std::size_t k = 0; k < std::min(done, buf.size()); ++k)
          bad += buf[k] != st.fill ? 1 : 0;
        check(bad == 0, step_text + text_of(bad) + " bytes differ from " +
                            hex_text(st.fill));
        break;
      }
      case case_op::write: {
        std::vector<std::uint8_t> buf(st.size, st.fill);
        std::size_t done = 12345;
        status_is(s.write(st.addr, buf.data(), buf.size(), done));
        check(done == st.out_done, step_text + "bytes_done " + text_of(done) +
                                       ", Windows " + text_of(st.out_done));
        break;
      }
      case case_op::charge:
        check(s.commit_charge() == st.size,
              step_text + "commit charge " + text_of(s.commit_charge()) +
                  ", Windows " + text_of(st.size));
        break;
      case case_op::make_file:
        files.push_back(s.create_file(
            std::vector<std::uint8_t>(st.size, st.fill), st.flags != 0));
        break;
      case case_op::create_section:
      case case_op::open_section: {
        int h = -1;
        const nt_status r =
            st.op == case_op::create_section
                ? s.create_section(
                      h, st.access, st.name, st.flags, st.size, st.prot,
                      st.attrs,
                      st.file < 0 ? -1
                                  : files.at(static_cast<std::size_t>(st.file)))
                : s.open_section(h, st.access, st.name);
        status_is(r);
        if (r == nt_status::success || r == nt_status::object_name_exists) {
          if (slots.count(st.slot) != 0) s.close_section(slots[st.slot]);
          slots[st.slot] = h;
        }
        break;
      }
      case case_op::close_section: {
        const int h = handle_of(st.slot);
        if (check(h >= 0, step_text + "no handle in the slot")) {
          status_is(s.close_section(h));
          slots.erase(st.slot);
        }
        break;
      }
      case case_op::unmap_view: status_is(s.unmap_view(st.addr)); break;
      case case_op::file_bytes: {
        const std::vector<std::uint8_t> b =
            s.file_bytes(files.at(static_cast<std::size_t>(st.file)));
        bool in = st.addr + st.size <= b.size();
        std::size_t bad = 0;
        for (std::uint64_t k = st.addr; in && k < st.addr + st.size; ++k)
          bad += b[k] != st.fill ? 1 : 0;
        check(in && bad == 0, step_text + "file bytes: " + text_of(bad) +
                                  " differ from " + hex_text(st.fill) +
                                  " (file size " + hex_text(b.size()) + ")");
        break;
      }
      case case_op::file_size: {
        const auto n =
            s.file_bytes(files.at(static_cast<std::size_t>(st.file))).size();
        check(n == st.size, step_text + "file size " + hex_text(n) +
                                ", Windows " + hex_text(st.size));
        break;
      }
      case case_op::end_of_file:
        status_is(s.set_end_of_file(files.at(static_cast<std::size_t>(st.file)),
                                    st.size));
        break;
      case case_op::system_charge:
        check(s.system_commit_charge() == st.size,
              step_text + "system commit charge " +
                  text_of(s.system_commit_charge()) + ", Windows " +
                  text_of(st.size));
        break;
    }
    check_query_walk(s, layout, check);
    // The invariants are mmkit's own: a broken one is a bug even in a case
    // that is known to differ from Windows.
    CHECK_MESSAGE(s.check_invariants(), step_text << "invariants broken");
  }
  // Nothing outlives the case: its views go, then its handles.
  for (const auto& [slot, h] : slots) s.close_section(h);
}

/// Plays the case table against spaces made by `make_space()` (which
/// returns a space, a pointer or a smart pointer to one, created for
/// `layout` with a commit limit of nt_case_commit_limit pages and able to
/// make sections and files).
template <class MakeSpace>
void run_nt_case_table(MakeSpace&& make_space, const nt_layout& layout,
                       table_target target = table_target::reference) {
  std::size_t differing = 0;
  for (const nt_case& c : nt_case_table(layout)) {
    auto holder = make_space();
    auto& s = detail::deref(holder);
    INFO("case \"" << c.name << "\" [" << std::string(layout.name)
                   << "], source: " << c.source);
    case_checker check;
    check.soft = target == table_target::library && !c.differs.empty();
    run_nt_case(s, c, layout, check);
    if (check.soft) {
      ++differing;
      CHECK_MESSAGE(check.misses != 0,
                    "known difference no longer differs: unmark it ("
                        << c.differs << ")");
      if (check.misses != 0)
        MESSAGE("known difference [" << std::string(layout.name) << "] \""
                                     << c.name << "\": " << c.differs
                                     << "; first miss: " << check.first_miss);
    }
  }
  if (target == table_target::library)
    MESSAGE(differing << " cases are known differences on "
                      << std::string(layout.name));
}

}  // namespace mmkit_model
