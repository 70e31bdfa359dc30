#pragma once
// differential: runs the same random sequence of NT calls against an
// implementation and the reference model and reports the first difference.
//
//   seed / fuzz bytes --> entropy --> op_generator --> diff_op ----+
//                                       ^  (reads the model's      |
//                                       |   allocations to aim)    v
//                                       +----------------- pair.step(op)
//                                                          |  impl.call(...)
//                                                          |  model.call(...)
//                                                          +- compare outputs
//
// After every op: status, out-parameters (base, size, old protection, query
// information, bytes_done), the bytes read (where the model knows them) and
// the commit charge are compared. Every `walk_period` ops: the whole query
// walk of user space, the bytes of every accessible committed page the ops
// touched since the last check, and the model's own invariants. Every
// `invariant_period` ops: the implementation's check_invariants(). Every
// `full_bytes_period` ops: the bytes of all accessible committed pages. At
// the end every
// remaining allocation is released through both and frames_in_use() /
// table_pages_in_use() of the implementation must be back to their values
// at construction.
//
// With `diff_config::sections`, both sides get the same files and the ops
// make, open and close sections and map, unmap and flush views (the
// generator keeps away from mmkit's known differences from Windows, see
// op_generator). After every op the files are compared, the system's commit
// charge, and, where the implementation has them (nt_machine.hpp), its
// section checks: every prototype PTE committed and resident as the
// model's section page, every resident section frame's share count 1 +
// the valid PTEs that map it (or, for a page the model's pager has on a
// list, the frame on that list), the system's charge, uncharged frames,
// prototype pool and live sections the model's. At the end every view is
// unmapped and every handle closed, and the system must hold what it held
// at the start (check_idle).
//
// With `diff_config::pager` (the default), the ops also take pages out of
// the working set (trim), run the modified page writer, repurpose every
// standby frame and run the balance step under pressure, on spaces that
// have the pager (PagerSpace: the model, and nt_adapter over a system with
// a page file). After every op the soft and hard fault counts, the
// page-file slots in use, the lengths of the modified and standby lists and
// the PTE kind of every committed page the op named (valid, demand-zero,
// transition, page-file, prototype: pte_kind) are compared, and after a
// repurpose or balance step those of the pages it moved; every
// `pte_period` ops, the PTE kind of every committed page and view page.
// The bytes checks above see that nothing the pager does changes a page's
// contents. The balance step's clock (accessed bits, its hand) is the
// implementation's choice: the model follows the pages the implementation
// trimmed, and the driver checks that each could be trimmed and that
// their count is what the step reported. At the end no page-file slot may
// be in use and both lists must be empty. (A read brings a trimmed page
// back, so a thorough replay's extra byte checks read only pages in the
// working set: see step().)
//
// The ops are concrete values (diff_op), recorded as they are generated, so
// a failing run can be replayed on a fresh pair. On a mismatch the driver
// replays the recorded ops with every check after every op ("thorough"),
// which finds the first op after which the two sides are observably
// different: that prefix is the shortest failing one (the checks of a
// shorter prefix all passed in the thorough replay). It confirms this by
// replaying exactly that prefix and the prefix one shorter on fresh pairs,
// and reports the seed, the op index, the prefix length and the log of the
// ops in that prefix.
//
// Space interface (the model's; nt_adapter gives it to mmkit's
// address_space): allocate, free, protect, query, access, read, write,
// check_invariants, commit_charge, frames_in_use, table_pages_in_use; for
// sections: create_file, file_bytes, create_section, open_section,
// close_section, map_view, unmap_view, flush, system_commit_charge; for the
// pager (PagerSpace): trim, pte, faults, write_modified_pages,
// repurpose_standby, balance, page_file_slots_used, listed_pages.

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "model/nt_model.hpp"

namespace mmkit_model {

// ---- entropy ------------------------------------------------------------

/// splitmix64: tiny, fast, and good enough to drive a test generator.
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  bool exhausted() const { return false; }

 private:
  std::uint64_t state_;
};

/// Entropy from a fuzzer's input: 2 bytes per number (so an input of a few
/// KiB drives hundreds of ops, and a mutated byte changes one decision),
/// zeros once the input is used up (exhausted() tells the driver to stop).
class byte_entropy {
 public:
  byte_entropy(const std::uint8_t* data, std::size_t size)
      : data_(data), size_(size) {}
  std::uint64_t next() {
    std::uint64_t v = 0;
    for (int i = 0; i < 2 && pos_ < size_; ++i)
      v |= std::uint64_t{data_[pos_++]} << (8 * i);
    return v;
  }
  bool exhausted() const { return pos_ >= size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// ---- ops ----------------------------------------------------------------

struct diff_op {
  enum class kind : std::uint8_t {
    allocate,  // addr, size, a = type, b = protect, zero_bits
    free,      // addr, size, a = free type
    protect,   // addr, size, a = new protect
    query,     // addr
    access,    // addr, a = access_kind, b = access_mode
    read,      // addr, size
    write,     // addr, size, data from `seed`
    // Sections (handles are the model's numbers, names from section_names).
    create_section,  // size, a = protect, b = SEC_ attrs, c = access,
                     // file (-1: page file), name (-1: none), zero_bits =
                     // OBJ_ flags
    open_section,    // name, c = access
    close_section,   // handle
    map_view,        // handle, addr, size, offset, a = type, b = protect,
                     // zero_bits
    unmap_view,      // addr
    flush,           // addr, size
    // The pager (the system's steps act on every space of the system).
    trim,            // addr, size = pages (from addr's page on)
    write_modified,  // size = how many pages at most
    repurpose,       // every standby frame
    balance,         // the balance step under pressure
  };
  kind k = kind::query;
  std::uint64_t addr = 0;
  std::uint64_t size = 0;
  std::uint32_t a = 0;
  std::uint32_t b = 0;
  std::uint64_t zero_bits = 0;
  std::uint64_t seed = 0;  // write data: byte i = data_byte(seed, i)
  std::uint32_t c = 0;
  int handle = -1;
  int file = -1;
  int name = -1;
  std::uint64_t offset = 0;
};

/// The names sections get in generated ops.
inline constexpr const char* section_names[] = {"Local\\A", "Local\\B",
                                                "Global\\C"};
inline std::string section_name(int n) {
  return n < 0 ? std::string() : section_names[n];
}

inline std::uint8_t data_byte(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + i * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 29)) * 0xBF58476D1CE4E5B9ull;
  return static_cast<std::uint8_t>(z >> 56);
}

inline std::string describe(const diff_op& op) {
  char buf[200];
  const auto a = static_cast<unsigned long long>(op.addr);
  const auto s = static_cast<unsigned long long>(op.size);
  switch (op.k) {
    case diff_op::kind::allocate:
      std::snprintf(buf, sizeof buf,
                    "allocate(base 0x%llx, size 0x%llx, type 0x%x, protect "
                    "0x%x, zero_bits 0x%llx)",
                    a, s, op.a, op.b,
                    static_cast<unsigned long long>(op.zero_bits));
      break;
    case diff_op::kind::free:
      std::snprintf(buf, sizeof buf, "free(base 0x%llx, size 0x%llx, 0x%x)", a,
                    s, op.a);
      break;
    case diff_op::kind::protect:
      std::snprintf(buf, sizeof buf, "protect(base 0x%llx, size 0x%llx, 0x%x)",
                    a, s, op.a);
      break;
    case diff_op::kind::query:
      std::snprintf(buf, sizeof buf, "query(0x%llx)", a);
      break;
    case diff_op::kind::access:
      std::snprintf(buf, sizeof buf, "access(0x%llx, %s, %s)", a,
                    op.a == 0   ? "read"
                    : op.a == 1 ? "write"
                                : "execute",
                    op.b == 0 ? "user" : "kernel");
      break;
    case diff_op::kind::read:
      std::snprintf(buf, sizeof buf, "read(0x%llx, 0x%llx bytes)", a, s);
      break;
    case diff_op::kind::write:
      std::snprintf(buf, sizeof buf, "write(0x%llx, 0x%llx bytes, data %llu)",
                    a, s, static_cast<unsigned long long>(op.seed));
      break;
    case diff_op::kind::create_section:
      std::snprintf(buf, sizeof buf,
                    "create_section(size 0x%llx, protect 0x%x, attrs 0x%x, "
                    "access 0x%x, file %d, name %s, obj 0x%llx)",
                    s, op.a, op.b, op.c, op.file,
                    op.name < 0 ? "-" : section_names[op.name],
                    static_cast<unsigned long long>(op.zero_bits));
      break;
    case diff_op::kind::open_section:
      std::snprintf(buf, sizeof buf, "open_section(%s, access 0x%x)",
                    op.name < 0 ? "-" : section_names[op.name], op.c);
      break;
    case diff_op::kind::close_section:
      std::snprintf(buf, sizeof buf, "close_section(handle %d)", op.handle);
      break;
    case diff_op::kind::map_view:
      std::snprintf(buf, sizeof buf,
                    "map_view(handle %d, base 0x%llx, size 0x%llx, offset "
                    "0x%llx, type 0x%x, protect 0x%x, zero_bits 0x%llx)",
                    op.handle, a, s, static_cast<unsigned long long>(op.offset),
                    op.a, op.b, static_cast<unsigned long long>(op.zero_bits));
      break;
    case diff_op::kind::unmap_view:
      std::snprintf(buf, sizeof buf, "unmap_view(0x%llx)", a);
      break;
    case diff_op::kind::flush:
      std::snprintf(buf, sizeof buf, "flush(0x%llx, 0x%llx)", a, s);
      break;
    case diff_op::kind::trim:
      std::snprintf(buf, sizeof buf, "trim(0x%llx, %llu pages)", a, s);
      break;
    case diff_op::kind::write_modified:
      if (op.size == ~std::uint64_t{0})
        std::snprintf(buf, sizeof buf, "write_modified_pages(all)");
      else
        std::snprintf(buf, sizeof buf, "write_modified_pages(%llu)", s);
      break;
    case diff_op::kind::repurpose:
      std::snprintf(buf, sizeof buf, "repurpose_standby()");
      break;
    case diff_op::kind::balance:
      std::snprintf(buf, sizeof buf, "balance()");
      break;
  }
  return buf;
}

// ---- generator ------------------------------------------------------------

/// Produces ops biased towards valid calls on existing allocations, with a
/// steady share of malformed ones (unaligned, overflowing, zero, beyond
/// user space, bad flags and protections, ranges spanning allocations).
///
/// With `sections`, a share of the ops make, open and close sections
/// (over the model world's files or the page file) and map, unmap and
/// flush views, and the others aim at views too. Those ops keep away from
/// what mmkit is known to do otherwise than Windows (nt_case_table.hpp's
/// cases marked `differs`): no MEM_RESERVE or CommitSize in a map, no
/// section larger than a file a view maps (mmkit does not grow a mapped
/// segment: STATUS_NOT_IMPLEMENTED), and no commit or protect in an
/// EXECUTE view of READONLY, WRITECOPY, EXECUTE_READ or EXECUTE_WRITECOPY,
/// nor in an EXECUTE_READ view of EXECUTE_WRITECOPY (the case table pins
/// those; the generator was written while mmkit still allowed them).
///
/// With `pager`, 3% of the ops are the pager's (6% with sections, whose
/// runs are short): most trim pages (aimed at pages the model holds
/// valid), the rest write modified pages, repurpose the standby list or
/// run the balance step. Without it the generator draws exactly what it
/// drew before the pager existed (the fuzz corpus depends on that).
template <class Entropy>
class op_generator {
 public:
  op_generator(Entropy& e, const nt_layout& layout, bool sections = false,
               bool pager = false)
      : e_(e), L_(layout), sections_(sections), pager_(pager) {}

  template <model_bug Bug>
  diff_op next(const basic_nt_model<Bug>& model) {
    if (pager_ && below(1000) < (sections_ ? 60u : 30u))
      return gen_pager(model);
    if (!sections_) return next_private(model);
    const std::uint64_t roll = below(1000);
    diff_op op = roll < 220   ? gen_section(model)
                 : roll < 320 ? gen_in_view(model)
                              : next_private(model);
    keep_to_known_ground(model, op);
    return op;
  }

 private:
  template <model_bug Bug>
  diff_op next_private(const basic_nt_model<Bug>& model) {
    const auto& allocs = model.allocations();
    const std::uint64_t roll = below(1000);
    // Keep the number of live allocations bounded so the model stays fast
    // and the commit limit is reached only now and then.
    const bool crowded = allocs.size() > 48;
    if (roll < (crowded ? 250u : 170u)) return gen_allocate(model);
    if (roll < 330) return gen_free(model);
    if (roll < 470) return gen_protect(model);
    if (roll < 560) return gen_query(model);
    if (roll < 660) return gen_access(model);
    if (roll < 800) return gen_read(model);
    return gen_write(model);
  }

  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : e_.next() % n; }
  bool chance(unsigned percent) { return below(100) < percent; }

  static constexpr std::uint32_t valid_protects[] = {
      page::noaccess,
      page::readonly,
      page::readwrite,
      page::readwrite,
      page::readwrite,
      page::execute,
      page::execute_read,
      page::execute_readwrite,
      page::readwrite | page::guard,
      page::readonly | page::guard,
      page::readwrite | page::nocache,
      page::execute_read | page::writecombine,
  };
  static constexpr std::uint32_t bad_protects[] = {
      0,
      page::writecopy,
      page::execute_writecopy,
      page::noaccess | page::guard,
      page::readwrite | page::guard | page::nocache,
      page::readwrite | 0x800,
      page::readonly | page::readwrite,
      0xFFFFFFFF,
  };
  std::uint32_t protection() {
    if (chance(6)) return bad_protects[below(std::size(bad_protects))];
    return valid_protects[below(std::size(valid_protects))];
  }

  /// A malformed or extreme address.
  std::uint64_t odd_address() {
    switch (below(9)) {
      case 0: return 0;
      case 1: return 0xF000;
      case 2: return L_.highest;
      case 3: return L_.highest + 1;
      case 4: return L_.kernel_start;
      case 5: return ~std::uint64_t{0};
      case 6: return L_.highest - below(0x30000);
      case 7: return L_.kernel_start + below(0x100000);
      default: return e_.next();
    }
  }
  std::uint64_t odd_size(std::uint64_t addr) {
    switch (below(6)) {
      case 0: return 0;
      case 1: return ~std::uint64_t{0};
      case 2: return addr <= L_.highest ? L_.highest + 1 - addr + 1 : 1;
      case 3: return addr <= L_.highest ? L_.highest + 1 - addr : 1;
      case 4: return std::uint64_t{1} << below(64);
      default: return e_.next();
    }
  }
  /// An address inside the arena where explicit-base reservations go.
  std::uint64_t arena_address() {
    constexpr std::uint64_t arena = 0x20000000;
    std::uint64_t a = arena + below(1024) * 0x10000;
    if (chance(30)) a += below(0x10000);
    return a;
  }
  std::uint64_t region_pages() {
    const std::uint64_t r = below(100);
    if (r < 60) return 1 + below(8);
    if (r < 90) return 1 + below(64);
    return 1 + below(1024);
  }

  /// A random range inside a random allocation: [first page, pages), plus
  /// an unaligned byte form sometimes. Returns false if there is none.
  template <class Model>
  bool inside(const Model& m, std::uint64_t& addr, std::uint64_t& size,
              std::uint64_t max_pages = 16) {
    const auto& allocs = m.allocations();
    if (allocs.empty()) return false;
    auto it = allocs.begin();
    std::advance(it, static_cast<long>(below(allocs.size())));
    const std::uint64_t first = it->first;
    const std::uint64_t n = it->second.end_vpn - first;
    const std::uint64_t p = below(n);
    const std::uint64_t len = 1 + below(std::min(n - p, max_pages));
    addr = (first + p) << 12;
    size = len << 12;
    if (chance(20)) {
      // Unaligned: same pages, byte-granular ends.
      const std::uint64_t off = below(0x1000);
      const std::uint64_t trim = below(0x1000);
      addr += off;
      size = size > off + trim ? size - off - trim : 1;
    }
    if (chance(8)) size += 0x1000 * (1 + below(4));  // may run past the end
    return true;
  }
  /// A byte range mostly within committed pages (for read / write).
  template <class Model>
  bool committed_range(const Model& m, std::uint64_t& addr,
                       std::uint64_t& size) {
    const auto& pages = m.committed_pages();
    if (pages.empty()) return false;
    // Sample a committed page by looking up a random vpn in the map.
    const auto& allocs = m.allocations();
    auto it = allocs.begin();
    std::advance(it, static_cast<long>(below(allocs.size())));
    const std::uint64_t v = it->first + below(it->second.end_vpn - it->first);
    auto p = pages.lower_bound(v);
    if (p == pages.end()) p = pages.begin();
    addr = (p->first << 12) + below(0x1000);
    const std::uint64_t r = below(100);
    size = r < 50   ? 1 + below(64)
           : r < 85 ? 1 + below(0x1000)
                    : 1 + below(0x3000);
    return true;
  }

  template <class Model>
  diff_op gen_allocate(const Model& m) {
    diff_op op;
    op.k = diff_op::kind::allocate;
    op.b = protection();
    const std::uint64_t r = below(100);
    if (r < 10) {  // malformed
      op.addr = chance(50) ? odd_address() : 0;
      op.size = chance(50) ? odd_size(op.addr) : region_pages() << 12;
      static constexpr std::uint32_t bad_types[] = {
          0,          mem::top_down, mem::reset | mem::commit,   mem::free,
          0x40000000, mem::release,  mem::decommit | mem::commit};
      op.a = chance(60) ? bad_types[below(std::size(bad_types))]
                        : mem::reserve | mem::commit;
      if (chance(40)) {
        // Random type bits (never the ones outside the model: write watch,
        // physical, large pages, reset-undo).
        op.a = static_cast<std::uint32_t>(e_.next()) &
               ~(mem::write_watch | mem::physical | mem::large_pages |
                 mem::reset_undo);
      }
      if (chance(30))
        op.zero_bits = chance(50) ? below(64) : e_.next() >> below(64);
      return op;
    }
    if (r < 45) {  // commit inside an existing allocation
      if (!inside(m, op.addr, op.size, 32)) return gen_reserve(op);
      op.a = chance(5) ? mem::commit | mem::top_down : mem::commit;
      return op;
    }
    if (r < 50) {  // MEM_RESET
      if (!inside(m, op.addr, op.size)) return gen_reserve(op);
      op.a = mem::reset;
      return op;
    }
    return gen_reserve(op);
  }
  diff_op gen_reserve(diff_op op) {
    op.k = diff_op::kind::allocate;
    const std::uint64_t pages = region_pages();
    op.size = pages << 12;
    if (chance(25)) op.size -= below(0x1000);
    const bool commit = chance(45) && pages <= 64;
    op.a = mem::reserve | (commit ? mem::commit : 0u);
    const std::uint64_t r = below(100);
    if (r < 45) {
      op.addr = arena_address();
    } else if (r < 75) {
      op.addr = 0;
    } else if (r < 88) {
      op.addr = 0;
      op.a |= mem::top_down;
    } else {
      op.addr = 0;
      if (chance(50)) op.a |= mem::top_down;
      if (chance(70)) {
        op.zero_bits = 1 + below(24);
      } else {
        op.zero_bits = e_.next() >> below(40);
      }
    }
    if (commit && chance(15)) op.a = mem::commit;  // NULL base + commit only
    return op;
  }

  template <class Model>
  diff_op gen_free(const Model& m) {
    diff_op op;
    op.k = diff_op::kind::free;
    op.a = chance(55) ? mem::release : mem::decommit;
    const std::uint64_t r = below(100);
    const auto& allocs = m.allocations();
    if (r < 6 || allocs.empty()) {  // malformed
      op.addr = odd_address();
      op.size = chance(50) ? 0 : odd_size(op.addr);
      static constexpr std::uint32_t bad[] = {
          0, 1, mem::commit, mem::decommit | mem::release, mem::reserve};
      if (chance(50)) op.a = bad[below(std::size(bad))];
      return op;
    }
    if (r < 45) {  // the whole allocation, size 0 at its base
      auto it = allocs.begin();
      std::advance(it, static_cast<long>(below(allocs.size())));
      op.addr = (it->first << 12) + (chance(10) ? below(0x2000) : 0);
      op.size = 0;
      return op;
    }
    if (r < 55) {  // spanning allocations or holes
      auto it = allocs.begin();
      std::advance(it, static_cast<long>(below(allocs.size())));
      op.addr = (it->first << 12) + below(4) * 0x1000;
      op.size = (it->second.end_vpn - it->first) * 0x1000 + below(0x40000);
      return op;
    }
    inside(m, op.addr, op.size, 64);
    return op;
  }

  template <class Model>
  diff_op gen_protect(const Model& m) {
    diff_op op;
    op.k = diff_op::kind::protect;
    op.a = protection();
    if (chance(6) || !inside(m, op.addr, op.size)) {
      op.addr = chance(50) ? odd_address() : arena_address();
      op.size = chance(50) ? odd_size(op.addr) : 0x1000;
      return op;
    }
    // Prefer committed runs so that most protects succeed.
    const auto& pages = m.committed_pages();
    if (!pages.empty() && chance(60)) {
      auto p = pages.lower_bound(op.addr >> 12);
      if (p == pages.end()) p = pages.begin();
      std::uint64_t len = 1;
      for (auto q = std::next(p);
           q != pages.end() && q->first == p->first + len && len < 8 &&
           chance(70);
           ++q)
        ++len;
      op.addr = (p->first << 12) + (chance(15) ? below(0x1000) : 0);
      op.size = len << 12;
    }
    return op;
  }

  template <class Model>
  diff_op gen_query(const Model& m) {
    diff_op op;
    op.k = diff_op::kind::query;
    std::uint64_t size = 0;
    if (chance(15) || !inside(m, op.addr, size)) op.addr = odd_address();
    return op;
  }

  template <class Model>
  diff_op gen_access(const Model& m) {
    diff_op op;
    op.k = diff_op::kind::access;
    op.a = static_cast<std::uint32_t>(below(3));
    op.b = chance(10) ? 1u : 0u;
    std::uint64_t size = 0;
    if (sections_ && chance(50) && view_range(m, op.addr, size)) return op;
    if (chance(10) || !committed_range(m, op.addr, size))
      op.addr = odd_address();
    return op;
  }

  template <class Model>
  diff_op gen_read(const Model& m) {
    diff_op op;
    op.k = diff_op::kind::read;
    if (sections_ && chance(50) && view_range(m, op.addr, op.size)) return op;
    if (chance(8) || !committed_range(m, op.addr, op.size)) {
      op.addr = chance(50) ? odd_address() : arena_address();
      op.size = 1 + below(0x2000);
    }
    return op;
  }

  template <class Model>
  diff_op gen_write(const Model& m) {
    diff_op op;
    op.k = diff_op::kind::write;
    op.seed = e_.next();
    if (sections_ && chance(50) && view_range(m, op.addr, op.size)) return op;
    if (chance(8) || !committed_range(m, op.addr, op.size)) {
      op.addr = chance(50) ? odd_address() : arena_address();
      op.size = 1 + below(0x2000);
    }
    return op;
  }

  // ---- sections ------------------------------------------------------------

  /// A byte range in a random view (most within one page), or false.
  template <class Model>
  bool view_range(const Model& m, std::uint64_t& addr, std::uint64_t& size) {
    const auto* a = random_view(m);
    if (a == nullptr) return false;
    const std::uint64_t pages = a->second.end_vpn - a->first;
    addr = ((a->first + below(pages)) << 12) + below(0x1000);
    size = chance(70) ? 1 + below(64) : 1 + below(0x2000);
    return true;
  }
  template <class Model>
  const typename Model::allocation_map::value_type* random_view(
      const Model& m) {
    std::vector<const typename Model::allocation_map::value_type*> views;
    for (const auto& kv : m.allocations())
      if (kv.second.mapped()) views.push_back(&kv);
    if (views.empty()) return nullptr;
    return views[below(views.size())];
  }
  /// A random open handle of the world, or -1.
  int random_handle(const section_world& w) {
    std::vector<int> open;
    for (std::size_t h = 0; h < w.handle_count(); ++h)
      if (w.handle_open(static_cast<int>(h)))
        open.push_back(static_cast<int>(h));
    if (open.empty()) return -1;
    return open[below(open.size())];
  }
  /// A protect or a MEM_COMMIT of a range in a view.
  template <class Model>
  diff_op gen_in_view(const Model& m) {
    const auto* a = random_view(m);
    if (a == nullptr) return next_private(m);
    diff_op op;
    static constexpr std::uint32_t prots[] = {
        page::noaccess,          page::readonly,
        page::readwrite,         page::writecopy,
        page::execute_readwrite, page::readwrite | page::guard,
        page::execute_read};
    const std::uint64_t pages = a->second.end_vpn - a->first;
    const std::uint64_t p = below(pages);
    op.addr = (a->first + p) << 12;
    op.size = (1 + below(std::min<std::uint64_t>(pages - p, 8))) << 12;
    if (chance(10)) op.size += 0x1000;  // past the view
    const std::uint32_t prot = prots[below(std::size(prots))];
    if (chance(50)) {
      op.k = diff_op::kind::protect;
      op.a = prot;
    } else {
      op.k = diff_op::kind::allocate;
      op.a = mem::commit;
      op.b = prot;
    }
    return op;
  }

  template <class Model>
  diff_op gen_section(const Model& m) {
    const section_world& w = m.world();
    diff_op op;
    // Keep the live sections few, so the commit limit is reached only now
    // and then: past a dozen, mostly close.
    std::uint64_t roll = below(100);
    if (w.live_sections() > 12 && chance(60))
      roll = random_handle(w) >= 0 ? 35 : 85;  // close, or unmap
    if (roll < 22) {                           // create
      op.k = diff_op::kind::create_section;
      static constexpr std::uint32_t prots[] = {
          page::readonly,          page::readwrite,    page::readwrite,
          page::writecopy,         page::execute_read, page::execute_readwrite,
          page::execute_writecopy, page::execute};
      op.a = prots[below(std::size(prots))];
      op.c = chance(85) ? section_access::all_access
             : chance(50)
                 ? section_access::map_read
                 : section_access::map_write | section_access::map_read;
      if (chance(50) && w.file_count() != 0) {
        op.file = static_cast<int>(below(w.file_count()));
        const auto& f = w.file(op.file);
        const std::uint64_t fs = f.bytes.size();
        op.size = chance(70) || fs == 0 ? 0 : 1 + below(fs);
        op.b = chance(80) ? sec::commit : sec::reserve;
        // No section larger than a mapped file's segment: mmkit does not
        // grow a segment a view maps (differs).
        bool mapped = false;
        for (std::size_t v = 0; v < w.view_count(); ++v) {
          const auto& vw = w.view(static_cast<int>(v));
          mapped |= vw.section >= 0 && w.section(vw.section).file == op.file;
        }
        const std::uint64_t room = f.segment_pages << 12;
        if (mapped && f.users != 0 && (op.size == 0 ? fs : op.size) > room)
          op.size = room;
      } else {
        op.size = ((1 + below(12)) << 12) - (chance(30) ? below(0x1000) : 0);
        op.b = chance(55) ? sec::commit : sec::reserve;
      }
      if (chance(3)) op.b = chance(50) ? sec::commit | sec::reserve : 0;
      if (chance(3))
        op.a = chance(50) ? page::noaccess : page::readwrite | 0x800;
      if (chance(25)) {
        op.name = static_cast<int>(below(std::size(section_names)));
        op.zero_bits = chance(70) ? obj_openif : 0;
      }
      return op;
    }
    if (roll < 30) {  // open
      op.k = diff_op::kind::open_section;
      op.name = static_cast<int>(below(std::size(section_names)));
      op.c = chance(80) ? section_access::all_access : section_access::map_read;
      return op;
    }
    if (roll < 42) {  // close
      op.k = diff_op::kind::close_section;
      op.handle = chance(5) ? 9999 : random_handle(w);
      if (op.handle < 0) op.handle = 9999;
      return op;
    }
    if (roll < 78) return gen_map(m);
    if (roll < 90) {  // unmap
      op.k = diff_op::kind::unmap_view;
      const auto* a = random_view(m);
      if (a == nullptr || chance(8)) {
        op.addr = chance(50) ? arena_address() : odd_address();
      } else {
        op.addr = ((a->first + below(a->second.end_vpn - a->first)) << 12) +
                  below(0x1000);
      }
      return op;
    }
    op.k = diff_op::kind::flush;
    const auto* a = random_view(m);
    if (a == nullptr || chance(8)) {
      op.addr = chance(50) ? arena_address() : odd_address();
      op.size = below(0x3000);
      return op;
    }
    const std::uint64_t pages = a->second.end_vpn - a->first;
    op.addr = ((a->first + below(pages)) << 12) + below(0x1000);
    op.size = chance(40) ? 0 : 1 + below(pages << 12);
    return op;
  }

  template <class Model>
  diff_op gen_map(const Model& m) {
    const section_world& w = m.world();
    diff_op op;
    op.k = diff_op::kind::map_view;
    op.handle = chance(3) ? 9999 : random_handle(w);
    if (op.handle < 0) op.handle = 9999;
    static constexpr std::uint32_t view_prots[] = {
        page::noaccess,
        page::readonly,
        page::readwrite,
        page::readwrite,
        page::readwrite,
        page::writecopy,
        page::writecopy,
        page::execute_read,
        page::execute_readwrite,
        page::execute_writecopy,
        page::readwrite | page::guard,
        page::readonly | page::nocache,
        page::execute};
    op.b = view_prots[below(std::size(view_prots))];
    if (chance(2)) op.b = page::readonly | page::readwrite;
    std::uint64_t section_size = 0x10000;
    if (w.handle_open(op.handle)) {
      const auto& h = w.handle(op.handle);
      section_size = w.section(h.section).size;
    }
    const std::uint64_t r = below(100);
    if (r < 55) {
      op.addr = 0;
      if (chance(15)) op.a = mem::top_down;
      if (chance(10)) op.zero_bits = 1 + below(20);
    } else {
      op.addr = arena_address() & ~std::uint64_t{0xFFFF};
      if (chance(5)) op.zero_bits = 1 + below(4);  // may not allow the base
    }
    if (chance(80)) {
      op.offset = 0;
    } else {
      op.offset = below((section_size >> 16) + 2) << 16;
    }
    const std::uint64_t left =
        section_size > op.offset ? section_size - op.offset : 0x1000;
    op.size = chance(50) ? 0 : 1 + below(left + (chance(10) ? 0x2000 : 0));
    if (chance(4)) {  // an unaligned base or offset
      if (chance(50) || op.addr == 0)
        op.offset += 0x1000 * (1 + below(15));
      else
        op.addr += 0x1000 * (1 + below(15));
    }
    if (chance(2)) op.a = mem::commit;  // _9
    // A bad handle with otherwise good arguments: the object manager's
    // check, which comes after the argument checks, is the adapter's.
    if (!w.handle_open(op.handle)) {
      op.a &= mem::top_down;
      if ((op.b & 0xFFu) == (page::readonly | page::readwrite))
        op.b = page::readonly;
    }
    return op;
  }

  /// A commit or protect in an EXECUTE or EXECUTE_READ view that mmkit
  /// takes and Windows refuses (see the class comment) asks for NOACCESS
  /// instead.
  template <class Model>
  void keep_to_known_ground(const Model& m, diff_op& op) {
    const bool commit = op.k == diff_op::kind::allocate &&
                        (op.a & ~mem::top_down) == mem::commit;
    if ((!commit && op.k != diff_op::kind::protect) || op.addr > L_.highest ||
        !m.in_view(op.addr >> 12))
      return;
    const auto& allocs = m.allocations();
    auto a = allocs.upper_bound(op.addr >> 12);
    --a;
    const std::uint32_t view = a->second.protect & 0xFFu;
    std::uint32_t& want = commit ? op.b : op.a;
    const std::uint32_t w = want & 0xFFu;
    if ((view == page::execute &&
         (w == page::readonly || w == page::writecopy ||
          w == page::execute_read || w == page::execute_writecopy)) ||
        (view == page::execute_read && w == page::execute_writecopy))
      want = page::noaccess;
  }

  // ---- the pager
  // -------------------------------------------------------------

  template <class Model>
  diff_op gen_pager(const Model& m) {
    const std::uint64_t r = below(100);
    if (r < 70) return gen_trim(m);
    diff_op op;
    if (r < 87) {
      op.k = diff_op::kind::write_modified;
      op.size = chance(50) ? ~std::uint64_t{0} : 1 + below(16);
    } else if (r < 97) {
      op.k = diff_op::kind::repurpose;
    } else {
      op.k = diff_op::kind::balance;
    }
    return op;
  }
  /// A trim of one page or a few, most of the time from a page the model
  /// holds valid (a committed page or a view's page).
  template <class Model>
  diff_op gen_trim(const Model& m) {
    diff_op op;
    op.k = diff_op::kind::trim;
    op.size = chance(75) ? 1 : 1 + below(8);
    if (chance(4)) {
      op.addr = odd_address();
      return op;
    }
    for (int tries = 0; tries < 6; ++tries) {
      std::uint64_t size = 0;
      const bool found = sections_ && chance(40)
                             ? view_range(m, op.addr, size)
                             : committed_range(m, op.addr, size);
      if (!found) op.addr = arena_address();
      if (m.expected_pte(op.addr >> 12) == pte_kind::valid) break;
    }
    return op;
  }

  Entropy& e_;
  nt_layout L_;
  bool sections_ = false;
  bool pager_ = false;
};

// ---- the pair -------------------------------------------------------------

struct diff_config {
  nt_layout layout = nt_layout::x86_64();
  std::uint64_t seed = 1;
  std::size_t ops = 20000;
  std::uint64_t commit_limit = 2048;  // pages, both sides
  std::size_t walk_period = 64;       // full query walk + touched bytes
  std::size_t invariant_period = 16;  // impl check_invariants() (model: walk)
  std::size_t full_bytes_period = 4096;  // every accessible committed page
  std::size_t pte_period = 512;  // the pager: every committed page's PTE
  /// Sections and views too: the pair makes the same files on both sides
  /// (section_files), the generator makes section ops, and after every op
  /// the files are compared and, where the implementation has them, its
  /// section checks run (check_sections(model): prototype PTEs, share
  /// counts, what the system holds).
  bool sections = false;
  /// The pager's ops and checks too (see the header comment), where both
  /// sides are PagerSpaces.
  bool pager = true;
};

/// What the driver needs of a space for the pager's ops and checks.
template <class S>
concept PagerSpace = requires(S& s, const S& cs, std::uint64_t a) {
  /// The working-set trim of `a`'s page: whether it left.
  { s.trim(a) } -> std::same_as<bool>;
  /// What the PTE of `a`'s page holds.
  { s.pte(a) } -> std::same_as<pte_kind>;
  /// The space's soft and hard faults so far.
  { cs.faults() } -> std::same_as<pager_faults>;
  /// The system's steps, each answering how many pages it moved.
  { s.write_modified_pages(a) } -> std::convertible_to<std::uint64_t>;
  { s.repurpose_standby() } -> std::convertible_to<std::uint64_t>;
  { s.balance() } -> std::convertible_to<std::uint64_t>;
  /// The system's page-file slots in use, and its two lists' lengths.
  { cs.page_file_slots_used() } -> std::convertible_to<std::uint64_t>;
  { cs.listed_pages() } -> std::same_as<pager_lists>;
};
static_assert(PagerSpace<nt_model>);

/// The files a sections run gives both sides: sizes, writable.
inline constexpr std::pair<std::uint64_t, bool> section_files[] = {
    {0x3000, true}, {0x9000, true}, {0x1800, false}};
/// File `k`'s contents.
inline std::vector<std::uint8_t> section_file_bytes(std::size_t k) {
  std::vector<std::uint8_t> b(section_files[k].first);
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = data_byte(0xF11E0000 + k, i);
  return b;
}

/// The op count for a test: `default_ops`, or MMKIT_SOAK_OPS when set.
inline std::size_t soak_ops(std::size_t default_ops) {
  if (const char* s = std::getenv("MMKIT_SOAK_OPS")) {
    const unsigned long long n = std::strtoull(s, nullptr, 10);
    if (n > 0) return static_cast<std::size_t>(n);
  }
  return default_ops;
}

struct diff_result {
  bool ok = true;
  std::uint64_t seed = 0;
  std::size_t ops_run = 0;
  std::size_t first_failure = 0;   // op index at which the run diverged
  std::size_t prefix_length = 0;   // shortest failing prefix (ops)
  std::size_t successful_ops = 0;  // ops the model completed with success
  std::string mismatch;            // what differed, at the end of the prefix
  std::string report;              // everything, for printing
  std::vector<diff_op> prefix;     // the ops of the shortest failing prefix
};

enum class check_level : std::uint8_t { periodic, thorough };

/// One implementation and one model, stepped together.
template <class Impl, class Model>
class diff_pair {
 public:
  /// Whether both sides have the pager (diff_config::pager asks for it).
  static constexpr bool has_pager = PagerSpace<Impl> && PagerSpace<Model>;

  diff_pair(Impl& impl, Model& model, const diff_config& cfg)
      : impl_(impl),
        model_(model),
        cfg_(cfg),
        base_frames_(impl.frames_in_use()),
        base_tables_(impl.table_pages_in_use()) {
    if (cfg_.sections)
      for (std::size_t k = 0; k < std::size(section_files); ++k) {
        impl_.create_file(section_file_bytes(k), section_files[k].second);
        model_.create_file(section_file_bytes(k), section_files[k].second);
      }
  }

  /// Runs one op on both sides and compares; the mismatch text or nothing.
  std::optional<std::string> step(const diff_op& op, std::size_t index,
                                  check_level level) {
    if (auto m = run(op)) return m;
    if (impl_.commit_charge() != model_.commit_charge())
      return fmt("commit charge: impl %llu, model %llu", impl_.commit_charge(),
                 model_.commit_charge());
    if (cfg_.sections)
      if (auto m = section_checks()) return m;
    if (pager())
      if (auto m = pager_checks(op)) return m;
    const bool thorough = level == check_level::thorough;
    const bool walk_due = (index + 1) % cfg_.walk_period == 0;
    if (thorough || (index + 1) % cfg_.invariant_period == 0) {
      if (!impl_.check_invariants())
        return std::string("impl invariants broken");
    }
    // A read brings a page back into the working set (a fault), which
    // changes what the pager's ops do next. So that a thorough replay
    // follows the run it replays, its extra byte checks read only pages in
    // the working set already; the ones due by the schedule read as the
    // run did.
    const bool in_working_set_only = pager() && !walk_due;
    if (thorough || walk_due) {
      if (!model_.check_invariants())
        return std::string("model invariants broken");
      if (auto m = compare_walk()) return m;
      if (auto m = compare_bytes(touched_pages(), in_working_set_only))
        return m;
      if (!in_working_set_only) touched_.clear();
    }
    // Every page's PTE now and then (the op's own pages are checked after
    // every op; thorough replays: with the walk period).
    if (pager() &&
        (index + 1) % (thorough ? cfg_.walk_period : cfg_.pte_period) == 0)
      if (auto m = compare_all_ptes()) return m;
    // Pages no op touched are compared now and then (thorough replays:
    // with the walk period, so a stray write is still pinned down closely).
    if ((index + 1) % cfg_.full_bytes_period == 0) {
      if (auto m = compare_all_bytes(false)) return m;
    } else if (thorough && walk_due) {
      if (auto m = compare_all_bytes(pager())) return m;
    }
    return std::nullopt;
  }

  /// Final phase: full comparison, release everything through both sides,
  /// check the frames and page-table pages are back to the baseline.
  std::optional<std::string> finish() {
    if (auto m = compare_walk()) return m;
    if (pager())
      if (auto m = compare_all_ptes()) return m;
    if (auto m = compare_all_bytes()) return m;
    while (!model_.allocations().empty()) {
      diff_op op;
      const auto& first = *model_.allocations().begin();
      op.addr = first.first << 12;
      if (first.second.mapped()) {
        op.k = diff_op::kind::unmap_view;
      } else {
        op.k = diff_op::kind::free;
        op.size = 0;
        op.a = mem::release;
      }
      if (auto m = run(op)) return "final release: " + *m;
      if (cfg_.sections)
        if (auto m = section_checks()) return "final release: " + *m;
    }
    if (cfg_.sections) {
      const section_world& w = model_.world();
      for (std::size_t h = 0; h < w.handle_count(); ++h) {
        if (!w.handle_open(static_cast<int>(h))) continue;
        diff_op op;
        op.k = diff_op::kind::close_section;
        op.handle = static_cast<int>(h);
        if (auto m = run(op)) return "final close: " + *m;
        if (auto m = section_checks()) return "final close: " + *m;
      }
      if (w.live_sections() != 0 || w.commit_charge() != 0)
        return fmt(
            "the model holds %llu sections, commit charge %llu, "
            "after everything was closed",
            w.live_sections(), w.commit_charge());
      if constexpr (requires { impl_.check_idle(); }) {
        if (auto m = impl_.check_idle()) return "at the end: " + *m;
      }
    }
    if (auto m = compare_walk()) return m;
    if (!impl_.check_invariants())
      return std::string("impl invariants broken at the end");
    if (impl_.commit_charge() != 0)
      return fmt("commit charge %llu after releasing everything",
                 impl_.commit_charge());
    if (impl_.frames_in_use() != base_frames_)
      return fmt("frames_in_use %llu after releasing everything, baseline %llu",
                 impl_.frames_in_use(), base_frames_);
    if (impl_.table_pages_in_use() != base_tables_)
      return fmt(
          "table_pages_in_use %llu after releasing everything, baseline %llu",
          impl_.table_pages_in_use(), base_tables_);
    if (pager()) {
      if constexpr (has_pager) {
        if (auto m = pager_counts()) return "at the end: " + *m;
        const std::uint64_t slots = impl_.page_file_slots_used();
        const pager_lists lists = impl_.listed_pages();
        if (slots != 0 || lists.modified != 0 || lists.standby != 0)
          return fmt(
              "%llu page-file slots in use, %llu modified and %llu standby "
              "pages after releasing everything",
              slots, lists.modified, lists.standby);
      }
    }
    return std::nullopt;
  }

 private:
  template <class... A>
  static std::string fmt(const char* f, A... a) {
    char buf[512];
    std::snprintf(buf, sizeof buf, f, static_cast<unsigned long long>(a)...);
    return buf;
  }
  static std::string st(nt_status s) { return status_name(s); }
  static std::string info_text(const memory_basic_information& m) {
    return to_text(m);
  }

  /// Remembers a byte range whose pages the next byte check reads back.
  void touch(std::uint64_t addr, std::uint64_t size) {
    if (addr > model_.layout().highest) return;
    const std::uint64_t room = model_.layout().highest - addr;
    const std::uint64_t last =
        (addr + std::min<std::uint64_t>(size == 0 ? 0 : size - 1, room)) >> 12;
    touched_.push_back({addr >> 12, last});
  }
  /// The committed pages of the touched ranges, each once.
  std::vector<std::uint64_t> touched_pages() const {
    std::set<std::uint64_t> pages;
    const auto& committed = model_.committed_pages();
    for (const auto& [first, last] : touched_) {
      for (auto p = committed.lower_bound(first);
           p != committed.end() && p->first <= last; ++p)
        pages.insert(p->first);
      if (!cfg_.sections) continue;
      // And the committed pages of views in the range.
      const auto& allocs = model_.allocations();
      auto a = allocs.upper_bound(first);
      if (a != allocs.begin()) --a;
      for (; a != allocs.end() && a->first <= last; ++a) {
        if (!a->second.mapped()) continue;
        const std::uint64_t lo = std::max(first, a->first);
        const std::uint64_t hi = std::min(last, a->second.end_vpn - 1);
        for (std::uint64_t v = lo; v <= hi && lo <= hi; ++v)
          if (model_.view_page_at(v).committed) pages.insert(v);
      }
    }
    return {pages.begin(), pages.end()};
  }

  /// After every op of a sections run: the files, the system's commit
  /// charge, and the implementation's own section checks.
  std::optional<std::string> section_checks() {
    if (auto m = compare_files()) return m;
    if (impl_.system_commit_charge() != model_.system_commit_charge())
      return fmt("system commit charge: impl %llu, model %llu",
                 impl_.system_commit_charge(), model_.system_commit_charge());
    if constexpr (requires { impl_.check_sections(model_); }) {
      if (auto m = impl_.check_sections(model_)) return "sections: " + *m;
    }
    return std::nullopt;
  }
  std::optional<std::string> compare_files() {
    for (std::size_t f = 0; f < model_.world().file_count(); ++f) {
      const auto ib = impl_.file_bytes(static_cast<int>(f));
      const auto mb = model_.file_bytes(static_cast<int>(f));
      if (ib == mb) continue;
      if (ib.size() != mb.size())
        return fmt("file %llu: impl size 0x%llx, model 0x%llx", f, ib.size(),
                   mb.size());
      std::size_t i = 0;
      while (ib[i] == mb[i]) ++i;
      return fmt("file %llu byte 0x%llx: impl 0x%02llx, model 0x%02llx", f, i,
                 ib[i], mb[i]);
    }
    return std::nullopt;
  }

  std::optional<std::string> run(const diff_op& op) {
    auto m = run_op(op);
    if (last_ == nt_status::success) ++successes_;
    return m;
  }

  std::optional<std::string> run_op(const diff_op& op) {
    switch (op.k) {
      case diff_op::kind::allocate:
      case diff_op::kind::free:
      case diff_op::kind::protect: {
        std::uint64_t ib = op.addr, is = op.size, mb = op.addr, ms = op.size;
        std::uint32_t iold = 0, mold = 0;
        nt_status ir{}, mr{};
        if (op.k == diff_op::kind::allocate) {
          ir = impl_.allocate(ib, is, op.a, op.b, op.zero_bits);
          mr = model_.allocate(mb, ms, op.a, op.b, op.zero_bits);
        } else if (op.k == diff_op::kind::free) {
          ir = impl_.free(ib, is, op.a);
          mr = model_.free(mb, ms, op.a);
        } else {
          ir = impl_.protect(ib, is, op.a, iold);
          mr = model_.protect(mb, ms, op.a, mold);
        }
        last_ = mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        if (ib != mb || is != ms)
          return fmt("out base/size: impl 0x%llx/0x%llx, model 0x%llx/0x%llx",
                     ib, is, mb, ms);
        if (op.k == diff_op::kind::protect && mr == nt_status::success &&
            iold != mold)
          return fmt("old protect: impl 0x%llx, model 0x%llx", iold, mold);
        if (mr == nt_status::success) touch(mb, ms == 0 ? 1 : ms);
        return std::nullopt;
      }
      case diff_op::kind::query: {
        memory_basic_information im{}, mm{};
        const nt_status ir = impl_.query(op.addr, im);
        const nt_status mr = model_.query(op.addr, mm);
        last_ = mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        if (mr == nt_status::success && !(im == mm))
          return "query: impl " + info_text(im) + ", model " + info_text(mm);
        return std::nullopt;
      }
      case diff_op::kind::access: {
        const auto k = static_cast<access_kind>(op.a);
        const auto md = static_cast<access_mode>(op.b);
        const nt_status ir = impl_.access(op.addr, k, md);
        const nt_status mr = model_.access(op.addr, k, md);
        last_ = mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        return std::nullopt;
      }
      case diff_op::kind::read: {
        std::vector<std::uint8_t> ib(op.size, 0xA5), mb(op.size, 0xA5);
        std::size_t idone = 0, mdone = 0;
        const nt_status ir = impl_.read(op.addr, ib.data(), ib.size(), idone);
        const nt_status mr = model_.read(op.addr, mb.data(), mb.size(), mdone);
        last_ = mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        if (idone != mdone)
          return fmt("bytes_done: impl %llu, model %llu", idone, mdone);
        if (auto m = compare_buffers(op.addr, ib.data(), mb.data(), mdone))
          return m;
        return std::nullopt;
      }
      case diff_op::kind::write: {
        std::vector<std::uint8_t> buf(op.size);
        for (std::size_t i = 0; i < buf.size(); ++i)
          buf[i] = data_byte(op.seed, i);
        std::size_t idone = 0, mdone = 0;
        const nt_status ir =
            impl_.write(op.addr, buf.data(), buf.size(), idone);
        const nt_status mr =
            model_.write(op.addr, buf.data(), buf.size(), mdone);
        last_ = mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        if (idone != mdone)
          return fmt("bytes_done: impl %llu, model %llu", idone, mdone);
        touch(op.addr, op.size);
        return std::nullopt;
      }
      case diff_op::kind::create_section:
      case diff_op::kind::open_section: {
        int ih = -1, mh = -1;
        const std::string name = section_name(op.name);
        nt_status ir{}, mr{};
        if (op.k == diff_op::kind::create_section) {
          const auto flags = static_cast<std::uint32_t>(op.zero_bits);
          ir = impl_.create_section(ih, op.c, name, flags, op.size, op.a, op.b,
                                    op.file);
          mr = model_.create_section(mh, op.c, name, flags, op.size, op.a, op.b,
                                     op.file);
        } else {
          ir = impl_.open_section(ih, op.c, name);
          mr = model_.open_section(mh, op.c, name);
        }
        last_ = mr == nt_status::object_name_exists ? nt_status::success : mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        if (ih != mh) return fmt("handle: impl %llu, model %llu", ih, mh);
        return std::nullopt;
      }
      case diff_op::kind::close_section: {
        const nt_status ir = impl_.close_section(op.handle);
        const nt_status mr = model_.close_section(op.handle);
        last_ = mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        return std::nullopt;
      }
      case diff_op::kind::map_view:
      case diff_op::kind::flush: {
        std::uint64_t ib = op.addr, is = op.size, mb = op.addr, ms = op.size;
        nt_status ir{}, mr{};
        if (op.k == diff_op::kind::map_view) {
          ir = impl_.map_view(op.handle, ib, is, op.offset, op.a, op.b,
                              op.zero_bits);
          mr = model_.map_view(op.handle, mb, ms, op.offset, op.a, op.b,
                               op.zero_bits);
        } else {
          ir = impl_.flush(ib, is);
          mr = model_.flush(mb, ms);
        }
        last_ = mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        if (ib != mb || is != ms)
          return fmt("out base/size: impl 0x%llx/0x%llx, model 0x%llx/0x%llx",
                     ib, is, mb, ms);
        if (mr == nt_status::success && op.k == diff_op::kind::map_view)
          touch(mb, ms);
        return std::nullopt;
      }
      case diff_op::kind::unmap_view: {
        const nt_status ir = impl_.unmap_view(op.addr);
        const nt_status mr = model_.unmap_view(op.addr);
        last_ = mr;
        if (ir != mr) return "status: impl " + st(ir) + ", model " + st(mr);
        return std::nullopt;
      }
      case diff_op::kind::trim:
      case diff_op::kind::write_modified:
      case diff_op::kind::repurpose:
      case diff_op::kind::balance:
        if constexpr (has_pager) {
          return run_pager(op);
        } else {
          return std::string("a pager op for spaces without the pager");
        }
    }
    return std::nullopt;
  }

  // ---- the pager ------------------------------------------------------------

  bool pager() const { return has_pager && cfg_.pager; }

  std::optional<std::string> run_pager(const diff_op& op) {
    last_ = nt_status::success;
    switch (op.k) {
      case diff_op::kind::trim: {
        bool any = false;
        const std::uint64_t highest = model_.layout().highest;
        for (std::uint64_t i = 0; i < std::max<std::uint64_t>(op.size, 1);
             ++i) {
          if (op.addr > highest || i > (highest - op.addr) >> 12) break;
          const std::uint64_t va = op.addr + (i << 12);
          const bool it = impl_.trim(va);
          const bool mt = model_.trim(va);
          if (it != mt)
            return fmt("trim(0x%llx): impl %llu, model %llu", va, it, mt);
          any |= mt;
        }
        // A trim that finds nothing valid counts as a miss of the generator.
        if (!any) last_ = nt_status::not_committed;
        return std::nullopt;
      }
      case diff_op::kind::write_modified: {
        const std::uint64_t iw = impl_.write_modified_pages(op.size);
        const std::uint64_t mw = model_.write_modified_pages(op.size);
        if (iw != mw)
          return fmt("write_modified_pages: impl wrote %llu, model %llu", iw,
                     mw);
        return std::nullopt;
      }
      case diff_op::kind::repurpose: {
        // The PTEs that change are those of this space's standby pages.
        const std::vector<std::uint64_t> standby = model_.pages_on_standby();
        const std::uint64_t ir = impl_.repurpose_standby();
        const std::uint64_t mr = model_.repurpose_standby();
        if (ir != mr)
          return fmt("repurpose_standby: impl took %llu frames, model %llu", ir,
                     mr);
        for (const std::uint64_t v : standby)
          if (auto m = compare_pte(v)) return m;
        return std::nullopt;
      }
      case diff_op::kind::balance: {
        // Which valid pages the clock trims is the implementation's
        // choice: the model follows it, page by page, and every page it
        // trimmed must be one the model can trim. Every modified page is
        // written in the end, whichever they were.
        std::vector<std::uint64_t> valid;
        for (const auto& [v, p] : model_.committed_pages())
          if (model_.expected_pte(v) == pte_kind::valid) valid.push_back(v);
        for (const auto& [first, a] : model_.allocations())
          if (a.mapped())
            for (std::uint64_t v = first; v < a.end_vpn; ++v)
              if (model_.expected_pte(v) == pte_kind::valid) valid.push_back(v);
        const std::uint64_t trimmed = impl_.balance();
        std::uint64_t left = 0;
        for (const std::uint64_t v : valid) {
          if (impl_.pte(v << 12) == pte_kind::valid) continue;
          if (!model_.trim(v << 12))
            return fmt("balance trimmed 0x%llx, which cannot leave", v << 12);
          ++left;
        }
        if (left != trimmed)
          return fmt("balance reported %llu pages trimmed, %llu left", trimmed,
                     left);
        model_.write_modified_pages(~std::uint64_t{0});
        // Only the pages that were valid can have changed.
        for (const std::uint64_t v : valid)
          if (auto m = compare_pte(v)) return m;
        return std::nullopt;
      }
      default: return std::nullopt;
    }
  }

  /// After every op: the fault counts, slots and lists, and the PTEs of
  /// the pages the op named (up to 16).
  std::optional<std::string> pager_checks(const diff_op& op) {
    if constexpr (has_pager) {
      if (auto m = pager_counts()) return m;
      const std::uint64_t highest = model_.layout().highest;
      std::uint64_t bytes = 0;
      switch (op.k) {
        case diff_op::kind::allocate:
        case diff_op::kind::free:
        case diff_op::kind::protect:
        case diff_op::kind::read:
        case diff_op::kind::write:
        case diff_op::kind::flush: bytes = op.size; break;
        case diff_op::kind::access:
        case diff_op::kind::query:
        case diff_op::kind::unmap_view: bytes = 1; break;
        case diff_op::kind::trim:
          bytes = std::min<std::uint64_t>(op.size, 16) << 12;
          break;
        default: return std::nullopt;
      }
      if (op.addr > highest) return std::nullopt;
      bytes = std::min<std::uint64_t>(
          {bytes == 0 ? 1 : bytes, 16u << 12, highest - op.addr + 1});
      return compare_ptes(op.addr >> 12, (op.addr + bytes - 1) >> 12);
    } else {
      (void)op;
      return std::nullopt;
    }
  }
  /// The fault counts, the page-file slots in use and the lists' lengths.
  std::optional<std::string> pager_counts() {
    if constexpr (has_pager) {
      const pager_faults fi = impl_.faults();
      const pager_faults fm = model_.faults();
      if (fi != fm)
        return fmt(
            "faults: impl %llu soft, %llu hard; model %llu soft, %llu hard",
            fi.soft, fi.hard, fm.soft, fm.hard);
      const std::uint64_t si = impl_.page_file_slots_used();
      const std::uint64_t sm = model_.page_file_slots_used();
      if (si != sm)
        return fmt("page-file slots in use: impl %llu, model %llu", si, sm);
      const pager_lists li = impl_.listed_pages();
      const pager_lists lm = model_.listed_pages();
      if (li != lm)
        return fmt(
            "lists: impl %llu modified, %llu standby; model %llu modified, "
            "%llu standby",
            li.modified, li.standby, lm.modified, lm.standby);
    }
    return std::nullopt;
  }
  /// The PTE of page `v` against the model's expectation; pages the model
  /// expects nothing of (not committed, outside views) are skipped.
  std::optional<std::string> compare_pte(std::uint64_t v) {
    if constexpr (has_pager) {
      const pte_kind want = model_.expected_pte(v);
      if (want == pte_kind::zero) return std::nullopt;
      const pte_kind have = impl_.pte(v << 12);
      if (have == want) return std::nullopt;
      return fmt("PTE of 0x%llx: ", v << 12) + "impl " + pte_kind_name(have) +
             ", model " + pte_kind_name(want);
    } else {
      (void)v;
      return std::nullopt;
    }
  }
  std::optional<std::string> compare_ptes(std::uint64_t first,
                                          std::uint64_t last) {
    for (std::uint64_t v = first; v <= last; ++v)
      if (auto m = compare_pte(v)) return m;
    return std::nullopt;
  }
  /// Every committed page's PTE and every view page's.
  std::optional<std::string> compare_all_ptes() {
    for (const auto& [v, p] : model_.committed_pages())
      if (auto m = compare_pte(v)) return m;
    for (const auto& [first, a] : model_.allocations())
      if (a.mapped())
        if (auto m = compare_ptes(first, a.end_vpn - 1)) return m;
    return std::nullopt;
  }

  /// Compares bytes the model knows (pages not under MEM_RESET).
  std::optional<std::string> compare_buffers(std::uint64_t addr,
                                             const std::uint8_t* ib,
                                             const std::uint8_t* mb,
                                             std::size_t n) const {
    if (n == 0 || std::memcmp(ib, mb, n) == 0) return std::nullopt;
    for (std::size_t i = 0; i < n; ++i) {
      if (ib[i] == mb[i]) continue;
      const std::uint64_t va = addr + i;
      if (!model_.contents_known(va >> 12)) {
        // Skip the rest of this page.
        const std::size_t skip = static_cast<std::size_t>(0xFFF - (va & 0xFFF));
        i += skip;
        continue;
      }
      return fmt("byte at 0x%llx: impl 0x%02llx, model 0x%02llx", va, ib[i],
                 mb[i]);
    }
    return std::nullopt;
  }

  /// Compares whole pages through read(); skips pages a user-mode read
  /// would fault on or disturb (no access, guard), pages whose contents
  /// are undefined and, with `in_working_set_only`, pages the model does
  /// not hold valid.
  template <class Pages>
  std::optional<std::string> compare_bytes(const Pages& vpns,
                                           bool in_working_set_only = false) {
    std::vector<std::uint8_t> ib(0x1000), mb(0x1000);
    const auto& committed = model_.committed_pages();
    for (const std::uint64_t v : vpns) {
      if constexpr (has_pager) {
        if (in_working_set_only && model_.expected_pte(v) != pte_kind::valid)
          continue;
      } else {
        (void)in_working_set_only;
      }
      std::uint32_t prot = 0;
      if (cfg_.sections && model_.in_view(v)) {
        const auto info = model_.view_page_at(v);
        if (!info.committed) continue;
        prot = info.protect;
      } else {
        const auto p = committed.find(v);
        if (p == committed.end() || p->second.unknown) continue;
        prot = p->second.protect;
      }
      if ((prot & page::guard) || !model_.rights_of(prot).read) continue;
      std::size_t idone = 0, mdone = 0;
      const nt_status ir = impl_.read(v << 12, ib.data(), 0x1000, idone);
      const nt_status mr = model_.read(v << 12, mb.data(), 0x1000, mdone);
      if (ir != mr || idone != mdone)
        return fmt(
            "page 0x%llx read back: impl status 0x%llx done %llu, "
            "model status 0x%llx done %llu",
            v << 12, static_cast<std::uint32_t>(ir), idone,
            static_cast<std::uint32_t>(mr), mdone);
      if (auto m = compare_buffers(v << 12, ib.data(), mb.data(), mdone))
        return "page read back: " + *m;
    }
    return std::nullopt;
  }
  std::optional<std::string> compare_all_bytes(
      bool in_working_set_only = false) {
    std::vector<std::uint64_t> all;
    for (const auto& [v, p] : model_.committed_pages()) all.push_back(v);
    if (cfg_.sections)
      for (const auto& [first, a] : model_.allocations())
        if (a.mapped())
          for (std::uint64_t v = first; v < a.end_vpn; ++v) all.push_back(v);
    return compare_bytes(all, in_working_set_only);
  }

  /// The whole query walk of user space, region by region.
  std::optional<std::string> compare_walk() {
    std::uint64_t addr = 0;
    const std::uint64_t end = model_.layout().highest + 1;
    for (std::size_t n = 0; addr < end; ++n) {
      memory_basic_information im{}, mm{};
      const nt_status ir = impl_.query(addr, im);
      const nt_status mr = model_.query(addr, mm);
      if (ir != mr)
        return fmt("walk at 0x%llx: ", addr) + "impl " + st(ir) + ", model " +
               st(mr);
      if (mr != nt_status::success) return fmt("walk at 0x%llx failed", addr);
      if (!(im == mm))
        return fmt("walk at 0x%llx: ", addr) + "impl " + info_text(im) +
               ", model " + info_text(mm);
      if (mm.region_size == 0 || n > 1000000)
        return std::string("walk does not advance");
      addr += mm.region_size;
    }
    return std::nullopt;
  }

  Impl& impl_;
  Model& model_;
  diff_config cfg_;
  std::uint64_t base_frames_;
  std::uint64_t base_tables_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> touched_;  // vpns
  nt_status last_ = nt_status::success;
  std::size_t successes_ = 0;

 public:
  /// Ops for which the model reported success (a measure of how well the
  /// generator aims).
  std::size_t successes() const { return successes_; }
};

namespace detail {
template <class T>
decltype(auto) deref_space(T& holder) {
  if constexpr (requires { *holder; })
    return (*holder);
  else
    return (holder);
}

/// Replays `ops` on a fresh pair; the index of the first failing op (ops.size()
/// for a failure in the final phase when `finish` is set), or nullopt.
template <class MakeImpl, class MakeModel>
std::optional<std::pair<std::size_t, std::string>> replay(
    const std::vector<diff_op>& ops, std::size_t count, const diff_config& cfg,
    MakeImpl& make_impl, MakeModel& make_model, check_level level,
    bool finish) {
  auto ih = make_impl();
  auto mh = make_model();
  auto& impl = deref_space(ih);
  auto& model = deref_space(mh);
  diff_pair pair(impl, model, cfg);
  for (std::size_t i = 0; i < count; ++i) {
    if (auto m = pair.step(ops[i], i, level)) return std::pair{i, *m};
  }
  if (finish) {
    if (auto m = pair.finish()) return std::pair{count, *m};
  }
  return std::nullopt;
}
}  // namespace detail

/// Re-runs a failing sequence to find and confirm its shortest failing
/// prefix, and fills in the report.
template <class MakeImpl, class MakeModel>
void minimise(diff_result& r, const std::vector<diff_op>& ops,
              bool failed_in_finish, const diff_config& cfg,
              MakeImpl& make_impl, MakeModel& make_model) {
  const std::size_t upto = failed_in_finish ? ops.size() : r.first_failure + 1;
  auto t = detail::replay(ops, upto, cfg, make_impl, make_model,
                          check_level::thorough, failed_in_finish);
  std::size_t len = upto;
  if (t) {
    len = std::min(t->first + 1, upto);
    r.mismatch = t->second;
  }
  std::ostringstream os;
  // Confirm: this prefix fails on a fresh pair, one op fewer does not.
  const bool needs_finish = failed_in_finish && t && t->first == upto;
  const auto again = detail::replay(ops, len, cfg, make_impl, make_model,
                                    check_level::thorough, needs_finish);
  const auto shorter =
      len == 0 ? std::nullopt
               : detail::replay(ops, len - 1, cfg, make_impl, make_model,
                                check_level::thorough, false);
  r.prefix_length = len;
  r.prefix.assign(ops.begin(),
                  ops.begin() + static_cast<long>(std::min(len, ops.size())));
  os << "differential mismatch [" << cfg.layout.name << "] seed " << r.seed
     << ", first seen after op " << r.first_failure << " of " << r.ops_run
     << "\n  mismatch: " << r.mismatch << "\n  shortest failing prefix: " << len
     << " ops"
     << (again ? " (confirmed on a fresh pair"
               : " (NOT reproduced on a fresh pair")
     << (shorter ? ", but a shorter prefix also fails)" : ")") << "\n";
  const std::size_t shown = std::min<std::size_t>(r.prefix.size(), 300);
  if (shown < r.prefix.size())
    os << "  (first " << r.prefix.size() - shown << " ops not shown)\n";
  for (std::size_t i = r.prefix.size() - shown; i < r.prefix.size(); ++i)
    os << "  #" << i << " " << describe(r.prefix[i]) << "\n";
  r.report = os.str();
}

/// Runs `cfg.ops` generated ops (or until `entropy` is exhausted) on a
/// pair made by `make_impl()` / `make_model()` (each returns a space, or a
/// pointer / smart pointer to one; the model must be a basic_nt_model).
template <class Entropy, class MakeImpl, class MakeModel>
diff_result run_differential_with(Entropy& entropy, const diff_config& cfg,
                                  MakeImpl&& make_impl,
                                  MakeModel&& make_model) {
  diff_result r;
  r.seed = cfg.seed;
  std::vector<diff_op> ops;
  ops.reserve(cfg.ops);
  bool failed_in_finish = false;
  {
    auto ih = make_impl();
    auto mh = make_model();
    auto& impl = detail::deref_space(ih);
    auto& model = detail::deref_space(mh);
    diff_pair pair(impl, model, cfg);
    op_generator<Entropy> gen(entropy, cfg.layout, cfg.sections,
                              cfg.pager && decltype(pair)::has_pager);
    for (std::size_t i = 0; i < cfg.ops && !entropy.exhausted(); ++i) {
      ops.push_back(gen.next(model));
      r.ops_run = i + 1;
      if (auto m = pair.step(ops.back(), i, check_level::periodic)) {
        r.ok = false;
        r.first_failure = i;
        r.mismatch = *m;
        break;
      }
    }
    r.successful_ops = pair.successes();
    if (r.ok) {
      if (auto m = pair.finish()) {
        r.ok = false;
        r.first_failure = ops.size();
        r.mismatch = *m;
        failed_in_finish = true;
      }
    }
  }
  if (!r.ok) minimise(r, ops, failed_in_finish, cfg, make_impl, make_model);
  return r;
}

/// Seeded run: splitmix64(cfg.seed).
template <class MakeImpl, class MakeModel>
diff_result run_differential(const diff_config& cfg, MakeImpl&& make_impl,
                             MakeModel&& make_model) {
  splitmix64 rng(cfg.seed);
  return run_differential_with(rng, cfg, make_impl, make_model);
}

}  // namespace mmkit_model
