#pragma once
// nt_case_table: Windows' observable behaviour of the private-memory calls,
// written down as data (cases of steps with their expected statuses and
// out-parameters), and a doctest runner that plays the table against any
// space with the model's interface: the model itself (model_test.cpp) and
// mmkit::address_space through nt_adapter (for every arch).
//
// Each step is one call with its inputs and what Windows returns. After
// every step the runner also checks:
//   - on failure, the in/out parameters are unchanged;
//   - the query walk from address 0 to the top of user space is well formed:
//     regions tile user space, neighbours that could be coalesced are not
//     split, free / reserved regions carry NT's constant fields, and the
//     committed regions add up to the commit charge;
//   - the space's own invariants (check_invariants()).
//
// Conventions the table assumes of `make_space()`: a fresh, empty address
// space for the layout given to the runner, with a commit limit of
// `nt_case_commit_limit` pages. NULL-base allocations are first fit from the
// bottom (top-down with MEM_TOP_DOWN) in 64 KiB steps, so a fresh space puts
// the first one at 0x10000.
//
// Statuses of the list that private memory cannot produce and the table
// therefore does not show: STATUS_ALREADY_COMMITTED (a MEM_COMMIT in a view
// of a file-backed section: section layer), STATUS_INVALID_ADDRESS (not
// returned by these four calls), STATUS_INTEGER_OVERFLOW (not used by them).

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <ostream>
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
};

struct nt_case {
  std::string name;    // "<call>: <behaviour>"
  std::string source;  // where Windows' behaviour was observed
  std::vector<case_step> steps;
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

/// Walks the whole user space with query() and checks it is well formed;
/// returns the number of regions. Used after every step by the runner.
template <class Space>
std::size_t check_query_walk(Space& s, const nt_layout& L) {
  std::uint64_t addr = 0;
  std::uint64_t committed_bytes = 0;
  std::size_t regions = 0;
  memory_basic_information prev{};
  bool have_prev = false;
  while (true) {
    memory_basic_information m{};
    const nt_status st = s.query(addr, m);
    INFO("walk at 0x" << std::hex << addr << std::dec << ": " << m);
    REQUIRE(st == nt_status::success);
    REQUIRE(m.base_address == addr);
    REQUIRE(m.region_size > 0);
    REQUIRE(m.region_size % 0x1000 == 0);
    REQUIRE(m.region_size <= L.highest + 1 - addr);
    if (m.state == mem::free) {
      CHECK(m.allocation_base == 0);
      CHECK(m.allocation_protect == 0);
      CHECK(m.protect == page::noaccess);
      CHECK(m.type == 0);
    } else {
      CHECK(m.type == mem::private_memory);
      CHECK(m.allocation_base <= m.base_address);
      if (m.state == mem::reserve)
        CHECK(m.protect == 0);
      else
        CHECK(m.state == mem::commit);
      if (m.state == mem::commit) committed_bytes += m.region_size;
    }
    if (have_prev) {
      // Neighbours that query would coalesce must not be split.
      const bool same = prev.state == m.state && prev.protect == m.protect &&
                        prev.allocation_base == m.allocation_base;
      CHECK_MESSAGE(!same, "regions not coalesced: " << prev << " " << m);
    }
    prev = m;
    have_prev = true;
    ++regions;
    addr += m.region_size;
    if (addr == L.highest + 1) break;
  }
  CHECK(committed_bytes == s.commit_charge() * 0x1000);
  return regions;
}

/// Plays the case table against spaces made by `make_space()` (which
/// returns a space, a pointer or a smart pointer to one, created for
/// `layout` with a commit limit of nt_case_commit_limit pages).
template <class MakeSpace>
void run_nt_case_table(MakeSpace&& make_space, const nt_layout& layout) {
  for (const nt_case& c : nt_case_table(layout)) {
    auto holder = make_space();
    auto& s = detail::deref(holder);
    INFO("case \"" << c.name << "\" [" << layout.name
                   << "], source: " << c.source);
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      const case_step& st = c.steps[i];
      INFO("step " << i << " op " << static_cast<int>(st.op) << " addr 0x"
                   << std::hex << st.addr << " size 0x" << st.size
                   << " flags 0x" << st.flags << " prot 0x" << st.prot
                   << " zero_bits 0x" << st.zero_bits << std::dec);
      switch (st.op) {
        case case_op::allocate:
        case case_op::free:
        case case_op::protect: {
          std::uint64_t base = st.addr;
          std::uint64_t size = st.size;
          std::uint32_t old = 0xDEADBEEF;
          nt_status r{};
          if (st.op == case_op::allocate)
            r = s.allocate(base, size, st.flags, st.prot, st.zero_bits);
          else if (st.op == case_op::free)
            r = s.free(base, size, st.flags);
          else
            r = s.protect(base, size, st.flags, old);
          CHECK(r == st.expect);
          if (r == nt_status::success && st.expect == nt_status::success) {
            CHECK(base == st.out_base);
            CHECK(size == st.out_size);
            if (st.op == case_op::protect) CHECK(old == st.out_old);
          } else {
            CHECK(base == st.addr);  // unchanged on failure
            CHECK(size == st.size);
            // OldProtect on failure: PAGE_NOACCESS once the range was
            // looked up (current Windows), untouched before that.
            if (st.op == case_op::protect)
              CHECK(old == (st.expect == nt_status::conflicting_addresses ||
                                    st.expect == nt_status::not_committed
                                ? page::noaccess
                                : 0xDEADBEEF));
          }
          break;
        }
        case case_op::query: {
          memory_basic_information m{};
          const nt_status r = s.query(st.addr, m);
          CHECK(r == st.expect);
          if (r == nt_status::success && st.expect == nt_status::success)
            CHECK(m == st.out_info);
          break;
        }
        case case_op::access: {
          const nt_status r =
              s.access(st.addr, static_cast<access_kind>(st.flags),
                       static_cast<access_mode>(st.prot));
          CHECK(r == st.expect);
          break;
        }
        case case_op::read: {
          std::vector<std::uint8_t> buf(st.size, 0xEE);
          std::size_t done = 12345;
          const nt_status r = s.read(st.addr, buf.data(), buf.size(), done);
          CHECK(r == st.expect);
          CHECK(done == st.out_done);
          std::size_t bad = 0;
          for (std::size_t k = 0; k < std::min(done, buf.size()); ++k)
            bad += buf[k] != st.fill ? 1 : 0;
          CHECK_MESSAGE(bad == 0, bad << " bytes differ from 0x" << std::hex
                                      << int{st.fill});
          break;
        }
        case case_op::write: {
          std::vector<std::uint8_t> buf(st.size, st.fill);
          std::size_t done = 12345;
          const nt_status r = s.write(st.addr, buf.data(), buf.size(), done);
          CHECK(r == st.expect);
          CHECK(done == st.out_done);
          break;
        }
        case case_op::charge: CHECK(s.commit_charge() == st.size); break;
      }
      check_query_walk(s, layout);
      CHECK(s.check_invariants());
    }
  }
}

}  // namespace mmkit_model
