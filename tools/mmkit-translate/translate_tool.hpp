#pragma once
// mmkit-translate's logic, kept apart from main() so that the tests call it
// in-process: translating virtual addresses through the page tables in a raw
// physical-memory image, listing what the tables map, and decoding NT's
// software PTEs.
//
//   mmkit-translate --arch x86_32|x86_pae|x86_64|x86_la57 --cr3 HEX IMAGE
//                   translate VA | memmap | pte VA
//
// The image (byte n is physical address n) is mapped read-only through
// image_memory; nothing here can write to it. Every read goes through the
// library's walker (translate, pte) or through the same entry codec
// (memmap), so the tool answers as the processor would (SDM vol. 3A,
// chapter 4 "Paging"):
//   - CR3 names the root table with its address bits only: the PWT/PCD
//     flags, the PCID (bits 11:0) and bits 63:MAXPHYADDR are masked. In PAE
//     mode CR3 bits 31:5 hold the PDPT's address (SDM 4.4.1), so the PDPT
//     may sit anywhere 32-byte aligned, not only at a page boundary. A root
//     at physical address 0 is as good as any other.
//   - An entry with a reserved bit set translates nothing (#PF with RSVD);
//     a table beyond the end of the image cannot be read and is reported.
//   - memmap walks every present entry, through self-map entries too (the
//     pages they reach are mapped as far as the processor is concerned),
//     and folds R/W, U/S and XD over the levels as the walker does. A run
//     is a maximal sequence of pages, whatever their sizes, contiguous in
//     both address spaces with the same rights; addresses are the
//     sign-extended canonical ones, so a run never spans the canonical
//     hole.
//
// Exit status: 0 done; 1 the address does not translate (translate), or no
// entry could be read (pte); 2 a usage or image error, with its cause.

#include <mmkit/arch/all.hpp>
#include <mmkit/core/access.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/paging/walker.hpp>
#include <mmkit/phys/image_memory.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>

namespace mmkit::tools {

// --- output -----------------------------------------------------------------

/// Text written by the tool, kept in a string so that a test reads exactly
/// what the executable prints.
class text {
 public:
#if defined(__GNUC__)
  [[gnu::format(printf, 2, 3)]]
#endif
  void
  print(const char* format, ...) {
    va_list args;
    va_start(args, format);
    va_list again;
    va_copy(again, args);
    char small[256];
    const int n = std::vsnprintf(small, sizeof small, format, args);
    if (n > 0 && static_cast<std::size_t>(n) < sizeof small) {
      str_.append(small, static_cast<std::size_t>(n));
    } else if (n > 0) {
      const std::size_t old = str_.size();
      str_.resize(old + static_cast<std::size_t>(n) + 1);
      std::vsnprintf(str_.data() + old, static_cast<std::size_t>(n) + 1, format,
                     again);
      str_.resize(old + static_cast<std::size_t>(n));
    }
    va_end(again);
    va_end(args);
  }
  const std::string& str() const noexcept {
    return str_;
  }

 private:
  std::string str_;
};

namespace detail {
constexpr unsigned long long ull(std::uint64_t v) noexcept {
  return v;
}
}  // namespace detail

// --- parsing ----------------------------------------------------------------

/// The paging modes the tool knows.
enum class arch_id : std::uint8_t { x86_32, x86_pae, x86_64, x86_la57 };

/// The arch named `s`; false when there is none.
inline bool parse_arch(std::string_view s, arch_id& out) noexcept {
  if (s == "x86_32")
    out = arch_id::x86_32;
  else if (s == "x86_pae")
    out = arch_id::x86_pae;
  else if (s == "x86_64")
    out = arch_id::x86_64;
  else if (s == "x86_la57")
    out = arch_id::x86_la57;
  else
    return false;
  return true;
}

/// A hexadecimal number, with or without 0x; a backtick may separate digit
/// groups as WinDbg prints 64-bit addresses (fffff800`12345678).
/// Returns false for an empty string, a non-hex digit, or more than 64 bits.
inline bool parse_hex(std::string_view s, std::uint64_t& out) noexcept {
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s.remove_prefix(2);
  std::uint64_t v = 0;
  bool digits = false;
  for (const char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      d = static_cast<unsigned>(c - 'A' + 10);
    else if (c == '`' && digits)
      continue;
    else
      return false;
    if (v >> 60 != 0) return false;  // a 17th significant digit
    v = (v << 4) | d;
    digits = true;
  }
  if (!digits) return false;
  out = v;
  return true;
}

// --- CR3 --------------------------------------------------------------------

/// The size of arch A's root table: a page, or 32 bytes for the PAE PDPT.
template <arch::PagingArch A>
constexpr std::uint64_t root_table_bytes() noexcept {
  return A::level[A::levels - 1].entries() * sizeof(typename A::entry_type);
}

/// The root table's physical address in a CR3 value: the address bits
/// alone (31:12 for 32-bit paging, 31:5 for PAE, MAXPHYADDR-1:12 in IA-32e
/// mode). PWT, PCD, the PCID and the bits above the address are masked.
template <arch::PagingArch A>
constexpr paddr root_from_cr3(std::uint64_t cr3) noexcept {
  constexpr std::uint64_t align =
      root_table_bytes<A>() < page_size ? root_table_bytes<A>() : page_size;
  return paddr{cr3 & (arch::root_phys_limit<A>() - 1) & ~(align - 1)};
}

// --- the memory map ---------------------------------------------------------

/// Pages the processor would translate: `bytes` at `va` map `pa`, with the
/// rights folded over every level.
struct page_run {
  std::uint64_t va = 0, pa = 0, bytes = 0;
  bool writable = false, executable = false, user = false;
  friend constexpr bool operator==(const page_run&, const page_run&) = default;
};

/// Whether `next` continues `run`: contiguous in both address spaces, with
/// the same rights. Addresses are canonical (sign-extended), so the last
/// lower-half page and the first upper-half page are never contiguous.
constexpr bool continues(const page_run& run, const page_run& next) noexcept {
  return run.va + run.bytes == next.va && run.pa + run.bytes == next.pa &&
         run.writable == next.writable && run.executable == next.executable &&
         run.user == next.user;
}

/// The memory map of one address space.
struct memory_map {
  /// Maximal runs, ascending by (canonical) virtual address.
  std::vector<page_run> runs;
  /// Tables referenced by present entries that lie beyond the image: what
  /// they map is unknown and not in `runs`.
  std::uint64_t tables_beyond_image = 0;
};

namespace detail {

template <arch::PagingArch A>
constexpr std::uint64_t canonical(std::uint64_t va) noexcept {
  if constexpr (A::sign_extended && A::va_bits < 64) {
    const unsigned s = 64 - A::va_bits;
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(va << s) >> s);
  } else {
    return va;
  }
}

/// Calls f(page_run) for every page mapped below the table at `table` of
/// `level`, in ascending index order; `and_bits`/`or_bits` are the rights
/// folded above, as the walker folds them.
template <arch::PagingArch A, PhysicalMemory M, class F>
void visit_table(const M& memory, std::uint64_t table, unsigned level,
                 std::uint64_t base, typename A::entry_type and_bits,
                 typename A::entry_type or_bits, F& f, std::uint64_t& beyond) {
  using W = typename A::entry_type;
  using codec = entry_codec<A>;
  const arch::level_desc& d = A::level[level];
  // A table never crosses a frame (a page, or the 32-byte aligned PDPT).
  if ((table >> page_shift) >= memory.frame_count()) {
    ++beyond;
    return;
  }
  const std::byte* bytes =
      memory.read_frame(pfn{table >> page_shift}) + (table & page_offset_mask);
  for (std::uint64_t i = 0; i < d.entries(); ++i) {
    W e;
    std::memcpy(&e, bytes + i * sizeof(W), sizeof(W));
    if (!codec::is_present(e) || codec::reserved_set(e, level) != 0) continue;
    std::uint64_t va = base | (i << d.shift);
    if (level == A::levels - 1) va = canonical<A>(va);
    W a = and_bits, o = or_bits;
    if (d.access_bits) {
      a = static_cast<W>(a & e);
      o = static_cast<W>(o | e);
    }
    if (codec::maps_page(e, level)) {
      f(page_run{va, codec::page_address(e, level).raw(), d.span(),
                 (a & codec::RW) != 0, (o & codec::XD) == 0,
                 (a & codec::US) != 0});
    } else {
      visit_table<A>(memory, A::frame_address(e), level - 1, va, a, o, f,
                     beyond);
    }
  }
}

}  // namespace detail

/// Requires: `root` is the root table's address (see root_from_cr3).
/// Effects: calls f(const page_run&) for every page (4 KiB or large) that
/// `memory`'s tables map, in ascending canonical-address order, each with
/// its effective rights. Returns: how many tables lie beyond the memory.
/// Complexity: O(present entries reachable from the root); a self-map
/// entry makes the tables reachable once more per level it spans.
template <arch::PagingArch A, PhysicalMemory M, class F>
std::uint64_t for_each_page(const M& memory, paddr root, F&& f) {
  using W = typename A::entry_type;
  std::uint64_t beyond = 0;
  detail::visit_table<A>(memory, root.raw(), A::levels - 1, 0,
                         static_cast<W>(~W{0}), W{0}, f, beyond);
  return beyond;
}

/// The memory map: for_each_page's pages joined into maximal runs.
template <arch::PagingArch A, PhysicalMemory M>
memory_map map_memory(const M& memory, paddr root) {
  memory_map m;
  m.tables_beyond_image =
      for_each_page<A>(memory, root, [&](const page_run& p) {
        if (!m.runs.empty() && continues(m.runs.back(), p))
          m.runs.back().bytes += p.bytes;
        else
          m.runs.push_back(p);
      });
  return m;
}

// --- text -------------------------------------------------------------------

/// "r", "rw", "rx" or "rwx" (a present page is always readable).
constexpr const char* rights_name(bool writable, bool executable) noexcept {
  return writable ? (executable ? "rwx" : "rw") : (executable ? "rx" : "r");
}

/// A page size as "4K", "2M", "4M", "1G".
inline std::string size_name(std::uint64_t bytes) {
  const char* unit = "K";
  std::uint64_t n = bytes >> 10;
  if (bytes >= (std::uint64_t{1} << 30) &&
      bytes % (std::uint64_t{1} << 30) == 0) {
    unit = "G";
    n = bytes >> 30;
  } else if (bytes >= (std::uint64_t{1} << 20) &&
             bytes % (std::uint64_t{1} << 20) == 0) {
    unit = "M";
    n = bytes >> 20;
  }
  return std::to_string(n) + unit;
}

/// A 5-bit MM_ protection in NT's names ("READWRITE", "READONLY|GUARD_PAGE",
/// "NOACCESS").
inline std::string protection_name(std::uint8_t p) {
  static constexpr const char* base[8] = {
      "ZERO_ACCESS", "READONLY",  "EXECUTE",           "EXECUTE_READ",
      "READWRITE",   "WRITECOPY", "EXECUTE_READWRITE", "EXECUTE_WRITECOPY"};
  const std::uint8_t b = p & mm::base_mask;
  switch (p & mm::modifier_mask) {
    case mm::nocache: return std::string(base[b]) + "|NOCACHE";
    case mm::guard_page:
      return b == 0 ? "DECOMMIT" : std::string(base[b]) + "|GUARD_PAGE";
    case mm::noaccess:
      return b == 0 ? "NOACCESS" : std::string(base[b]) + "|WRITECOMBINE";
    default: return base[b];
  }
}

/// One line explaining the entry `e` read at level `level` from
/// `entry_address` (index `index` of its table).
template <arch::PagingArch A>
void explain_entry(text& out, unsigned level, paddr entry_address,
                   unsigned index, typename A::entry_type e) {
  using W = typename A::entry_type;
  using codec = entry_codec<A>;
  using detail::ull;
  const arch::level_desc& d = A::level[level];
  out.print("%-5s table=0x%llx index=0x%x entry=0x%0*llx", d.name,
            ull(entry_address.raw() - std::uint64_t{index} * sizeof(W)), index,
            static_cast<int>(sizeof(W) * 2), ull(e));
  if (!codec::is_present(e)) {
    out.print(" not present (%s)\n",
              entry_kind_name(software_pte<W>::classify(e)));
    return;
  }
  const decoded_entry x = codec::decode(e, level);
  out.print(" P");
  if (d.access_bits) {
    if (x.writable) out.print(" RW");
    if (x.user) out.print(" US");
  }
  if (x.write_through) out.print(" PWT");
  if (x.cache_disable) out.print(" PCD");
  if (d.access_bits && x.accessed) out.print(" A");
  if (x.dirty) out.print(" D");
  if (x.large) out.print(" PS");
  if (x.global) out.print(" G");
  if (x.pat) out.print(" PAT");
  if (d.access_bits && x.no_execute) out.print(" XD");
  if (x.reserved != 0) {
    out.print(" reserved=0x%llx\n", ull(x.reserved));
    return;
  }
  if (codec::maps_page(e, level))
    out.print(" -> %s page 0x%llx\n", size_name(d.span()).c_str(),
              ull(x.address));
  else
    out.print(" -> table 0x%llx\n", ull(x.address));
}

/// Every entry a walk read, root first.
template <arch::PagingArch A>
void explain_walk(text& out, const translation<A>& t, vaddr va) {
  for (unsigned i = 0; i < t.depth; ++i) {
    const unsigned level = A::levels - 1 - i;
    explain_entry<A>(out, level, t.entry_addresses[i],
                     arch::table_index<A>(va, level), t.entries[i]);
  }
}

/// Why a walk that read no usable entry stopped, as the end of a line.
template <arch::PagingArch A, PhysicalMemory M>
void print_stop(text& out, const M& memory, paddr root, const translation<A>& t,
                vaddr va) {
  using detail::ull;
  const char* name = A::level[t.level].name;
  switch (t.kind) {
    case entry_kind::non_canonical:
      if constexpr (A::sign_extended)
        out.print("non-canonical address (bits 63:%u differ)\n",
                  A::va_bits - 1);
      else
        out.print("address beyond the %u-bit address space\n", A::va_bits);
      return;
    case entry_kind::beyond_memory: {
      const std::uint64_t table =
          t.depth == 0 ? root.raw() : A::frame_address(t.last_entry());
      out.print("the %s at 0x%llx lies beyond the image (0x%llx bytes)\n", name,
                ull(table + std::uint64_t{arch::table_index<A>(va, t.level)} *
                                sizeof(typename A::entry_type)),
                ull(memory.frame_count() * page_size));
      return;
    }
    case entry_kind::reserved_bits:
      out.print("reserved bits 0x%llx set in the %s\n",
                ull(entry_codec<A>::reserved_set(t.last_entry(), t.level)),
                name);
      return;
    case entry_kind::valid: out.print("valid\n"); return;
    default:
      out.print("%s not present (%s)\n", name, entry_kind_name(t.kind));
      return;
  }
}

// --- the commands -----------------------------------------------------------

enum class command : std::uint8_t { translate, memmap, pte };

/// translate: the explained walk of `va`, then its outcome on one line:
///   va=0x... pa=0x... size=4K|2M|4M|1G rights=r|rw|rx|rwx user=0|1
/// or `va=0x... fault: <why>`. Returns 0 when `va` translates, else 1.
template <arch::PagingArch A, PhysicalMemory M>
int translate(const M& memory, paddr root, vaddr va, text& out) {
  using detail::ull;
  // A kernel-mode read: the rights are reported, not enforced.
  const translation<A> t =
      walk<A>(memory, root, va, access::read, cpu_mode::kernel);
  explain_walk<A>(out, t, va);
  if (t.kind == entry_kind::valid) {
    out.print("va=0x%llx pa=0x%llx size=%s rights=%s user=%d\n", ull(va.raw()),
              ull(t.address.raw()), size_name(t.page_bytes).c_str(),
              rights_name(t.writable, t.executable), t.user ? 1 : 0);
    return 0;
  }
  out.print("va=0x%llx fault: ", ull(va.raw()));
  print_stop<A>(out, memory, root, t, va);
  return 1;
}

/// pte: the walk of `va` down to the entry where it stops, then that entry
/// decoded on one line:
///   va=0x... level=PTE entry=0x... kind=<kind> <fields>
/// with NT's software-PTE fields for a not-present entry (protection; page
/// file number and offset; transition frame; prototype index) and the page
/// for a present one. Returns 0 when an entry was read, else 1.
template <arch::PagingArch A, PhysicalMemory M>
int decode_pte(const M& memory, paddr root, vaddr va, text& out) {
  using W = typename A::entry_type;
  using sw = software_pte<W>;
  using detail::ull;
  const translation<A> t =
      walk<A>(memory, root, va, access::read, cpu_mode::kernel);
  explain_walk<A>(out, t, va);
  if (t.depth == 0 || t.kind == entry_kind::non_canonical ||
      t.kind == entry_kind::beyond_memory) {
    out.print("va=0x%llx fault: ", ull(va.raw()));
    print_stop<A>(out, memory, root, t, va);
    return 1;
  }
  const W e = t.last_entry();
  out.print("va=0x%llx level=%s entry=0x%0*llx kind=%s", ull(va.raw()),
            A::level[t.level].name, static_cast<int>(sizeof(W) * 2), ull(e),
            entry_kind_name(t.kind));
  const auto protection = [&] {
    const std::uint8_t p = sw::protection(e);
    out.print(" protection=0x%x (%s)", p, protection_name(p).c_str());
  };
  switch (t.kind) {
    case entry_kind::valid:
      out.print(" pa=0x%llx size=%s", ull(t.address.raw()),
                size_name(t.page_bytes).c_str());
      break;
    case entry_kind::reserved_bits:
      out.print(" reserved=0x%llx",
                ull(entry_codec<A>::reserved_set(e, t.level)));
      break;
    case entry_kind::demand_zero: protection(); break;
    case entry_kind::page_file:
      out.print(" file=%u offset=0x%llx", sw::page_file_number(e),
                ull(sw::page_file_offset(e)));
      protection();
      break;
    case entry_kind::transition:
      out.print(" pfn=0x%llx", ull(sw::frame(e).raw()));
      protection();
      break;
    case entry_kind::prototype:
      out.print(" index=0x%llx", ull(sw::index(e)));
      if (sw::protection(e) == 0)
        out.print(" protection=0x0 (the prototype's)");
      else
        protection();
      break;
    default: break;
  }
  out.print("\n");
  return t.kind == entry_kind::reserved_bits ? 1 : 0;
}

/// memmap: one line per run, `0x<va> 0x<pa> 0x<size> <rights> user|kernel`.
/// Tables beyond the image are counted in a note on `err`. Returns 0.
template <arch::PagingArch A, PhysicalMemory M>
int print_memory_map(const M& memory, paddr root, text& out, text& err) {
  using detail::ull;
  const memory_map m = map_memory<A>(memory, root);
  for (const page_run& r : m.runs)
    out.print("0x%llx 0x%llx 0x%llx %s %s\n", ull(r.va), ull(r.pa),
              ull(r.bytes), rights_name(r.writable, r.executable),
              r.user ? "user" : "kernel");
  if (m.tables_beyond_image != 0)
    err.print(
        "mmkit-translate: note: %llu table(s) lie beyond the image; what "
        "they map is not listed\n",
        ull(m.tables_beyond_image));
  return 0;
}

/// Runs `cmd` for arch A over `memory` with the root table CR3 names.
template <arch::PagingArch A, PhysicalMemory M>
int execute(const M& memory, std::uint64_t cr3, command cmd, vaddr va,
            text& out, text& err) {
  const paddr root = root_from_cr3<A>(cr3);
  switch (cmd) {
    case command::translate: return translate<A>(memory, root, va, out);
    case command::pte: return decode_pte<A>(memory, root, va, out);
    case command::memmap: return print_memory_map<A>(memory, root, out, err);
  }
  return 2;
}

/// Calls f(Arch{}) with the arch `id` names.
template <class F>
decltype(auto) with_arch(arch_id id, F&& f) {
  switch (id) {
    case arch_id::x86_32: return f(arch::x86_32{});
    case arch_id::x86_pae: return f(arch::x86_pae{});
    case arch_id::x86_64: return f(arch::x86_64{});
    case arch_id::x86_la57: break;
  }
  return f(arch::x86_la57{});
}

// --- the command line -------------------------------------------------------

inline constexpr const char* usage_text =
    "usage: mmkit-translate --arch x86_32|x86_pae|x86_64|x86_la57 --cr3 HEX "
    "IMAGE <command>\n"
    "commands:\n"
    "  translate VA  explain the walk of VA level by level, then\n"
    "                va=0x.. pa=0x.. size=4K|2M|4M|1G rights=r|rw|rx|rwx "
    "user=0|1\n"
    "  memmap        one line per run of mapped pages:\n"
    "                0x<va> 0x<pa> 0x<size> <rights> <user|kernel>\n"
    "  pte VA        decode the entry where the walk of VA stops (NT "
    "software PTEs:\n"
    "                demand-zero, transition, page file, prototype)\n"
    "IMAGE is a raw physical-memory image (byte n is physical address n), "
    "mapped\n"
    "read-only. HEX and VA are hexadecimal, with or without 0x. CR3's flag "
    "and PCID\n"
    "bits are ignored; for x86_pae CR3 bits 31:5 locate the PDPT.\n"
    "exit status: 0 done, 1 VA does not translate, 2 usage or image "
    "error\n";

/// The parsed command line.
struct options {
  arch_id arch = arch_id::x86_64;
  std::uint64_t cr3 = 0;
  std::string image;
  command cmd = command::translate;
  std::uint64_t va = 0;
  bool help = false;
};

/// Parses `args` (without the program name). Returns false with the reason
/// on `err` when they are not a valid command line.
inline bool parse_options(std::span<const std::string_view> args, options& o,
                          text& err) {
  bool have_arch = false, have_cr3 = false;
  std::vector<std::string_view> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      o.help = true;
      return true;
    }
    std::string_view value;
    const bool is_arch = a == "--arch" || a.starts_with("--arch=");
    const bool is_cr3 = a == "--cr3" || a.starts_with("--cr3=");
    if (is_arch || is_cr3) {
      if (const auto eq = a.find('='); eq != std::string_view::npos) {
        value = a.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        err.print("mmkit-translate: %.*s needs a value\n",
                  static_cast<int>(a.size()), a.data());
        return false;
      }
      if (is_arch) {
        if (!parse_arch(value, o.arch)) {
          err.print(
              "mmkit-translate: unknown arch '%.*s' (x86_32, x86_pae, "
              "x86_64 or x86_la57)\n",
              static_cast<int>(value.size()), value.data());
          return false;
        }
        have_arch = true;
      } else {
        if (!parse_hex(value, o.cr3)) {
          err.print("mmkit-translate: CR3 '%.*s' is not a hex number\n",
                    static_cast<int>(value.size()), value.data());
          return false;
        }
        have_cr3 = true;
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      err.print("mmkit-translate: unknown option '%.*s'\n",
                static_cast<int>(a.size()), a.data());
      return false;
    }
    rest.push_back(a);
  }
  if (!have_arch || !have_cr3) {
    err.print("mmkit-translate: %s is required\n",
              !have_arch ? "--arch" : "--cr3");
    return false;
  }
  if (rest.size() < 2) {
    err.print("mmkit-translate: %s\n",
              rest.empty() ? "no IMAGE and command given" : "no command given");
    return false;
  }
  o.image = std::string(rest[0]);
  const std::string_view c = rest[1];
  std::size_t wanted = 2;
  if (c == "translate" || c == "pte") {
    o.cmd = c == "pte" ? command::pte : command::translate;
    wanted = 3;
    if (rest.size() < 3) {
      err.print("mmkit-translate: %.*s needs a VA\n",
                static_cast<int>(c.size()), c.data());
      return false;
    }
    if (!parse_hex(rest[2], o.va)) {
      err.print("mmkit-translate: VA '%.*s' is not a hex number\n",
                static_cast<int>(rest[2].size()), rest[2].data());
      return false;
    }
  } else if (c == "memmap") {
    o.cmd = command::memmap;
  } else {
    err.print("mmkit-translate: unknown command '%.*s'\n",
              static_cast<int>(c.size()), c.data());
    return false;
  }
  if (rest.size() > wanted) {
    err.print("mmkit-translate: unexpected argument '%.*s'\n",
              static_cast<int>(rest[wanted].size()), rest[wanted].data());
    return false;
  }
  return true;
}

/// Maps the image at `path` read-only into `image`. Returns false with the
/// cause on `err`: errno's text when the file cannot be opened or mapped,
/// or why its contents cannot be an image.
inline bool open_image(const std::string& path, image_memory& image,
                       text& err) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    err.print("mmkit-translate: cannot open image '%s': %s\n", path.c_str(),
              std::strerror(errno));
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    err.print("mmkit-translate: cannot open image '%s': %s\n", path.c_str(),
              std::strerror(EISDIR));
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    // A device reports no size to map; a raw image is a file.
    err.print("mmkit-translate: image '%s' is not a regular file\n",
              path.c_str());
    return false;
  }
  if (st.st_size < static_cast<off_t>(page_size)) {
    err.print(
        "mmkit-translate: image '%s' is %lld bytes, less than one %llu-byte "
        "frame\n",
        path.c_str(), static_cast<long long>(st.st_size),
        detail::ull(page_size));
    return false;
  }
  errno = 0;
  auto opened = image_memory::open(path.c_str());
  if (!opened) {
    const int why = errno;
    err.print("mmkit-translate: cannot map image '%s': %s\n", path.c_str(),
              why != 0 ? std::strerror(why) : to_string(opened.error()));
    return false;
  }
  image = std::move(opened).value();
  return true;
}

/// The whole tool: parses `args` (without the program name), maps the
/// image and runs the command. Returns the exit status.
inline int run(std::span<const std::string_view> args, text& out, text& err) {
  options o;
  if (!parse_options(args, o, err)) {
    err.print("%s", usage_text);
    return 2;
  }
  if (o.help) {
    out.print("%s", usage_text);
    return 0;
  }
  image_memory image;
  if (!open_image(o.image, image, err)) return 2;
  return with_arch(o.arch, [&](auto a) {
    return execute<decltype(a)>(image, o.cr3, o.cmd, vaddr{o.va}, out, err);
  });
}

}  // namespace mmkit::tools
