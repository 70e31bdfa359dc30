// mmkit-translate: images that mmkit's own page tables and address spaces
// write out, on every arch (large pages, PSE-36, software PTEs of each kind,
// a self-map, both canonical halves), read back by the tool in-process and
// as the built executable, and checked against the structures that made
// them: page_table::for_each_mapping with the walker's rights for memmap,
// the walker for translate, the written software PTEs for pte.
#include "translate_tool.hpp"
#include "paging/test_memory.hpp"

#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/paging/page_table.hpp>
#include <mmkit/paging/walker.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace mmkit;
using tools::page_run;

namespace mmkit::tools {
// For failure messages.
inline std::ostream& operator<<(std::ostream& os, const page_run& r) {
  return os << std::hex << "{va 0x" << r.va << " pa 0x" << r.pa << " bytes 0x"
            << r.bytes << std::dec << " w" << r.writable << " x" << r.executable
            << " u" << r.user << "}";
}
}  // namespace mmkit::tools

namespace {

std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

/// A directory of its own under /tmp, removed with everything in it.
struct temp_dir {
  temp_dir() {
    char t[] = "/tmp/mmkit-translate-XXXXXX";
    REQUIRE(::mkdtemp(t) != nullptr);
    path = t;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const char* name) const { return path + "/" + name; }
  std::string path;
};

void write_file(const std::string& path, const void* bytes, std::size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(std::fwrite(bytes, 1, n, f) == n);
  REQUIRE(std::fclose(f) == 0);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct outcome {
  int status = -1;
  std::string out, err;
  /// The last line of out, without its newline.
  std::string last_line() const {
    std::string_view s = out;
    if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
    const auto nl = s.rfind('\n');
    return std::string(nl == std::string_view::npos ? s : s.substr(nl + 1));
  }
  std::size_t lines() const {
    std::size_t n = 0;
    for (const char c : out) n += c == '\n';
    return n;
  }
};

/// The tool in-process, as main() runs it.
outcome run_tool(const std::vector<std::string>& args) {
  const std::vector<std::string_view> v(args.begin(), args.end());
  tools::text out, err;
  outcome r;
  r.status = tools::run(v, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

#if defined(MMKIT_TRANSLATE_EXE)
/// The built executable, output captured in files of `dir`.
outcome run_executable(const std::vector<std::string>& args,
                       const temp_dir& dir) {
  std::string cmd = "'" MMKIT_TRANSLATE_EXE "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " >'" + dir.file("stdout") + "' 2>'" + dir.file("stderr") + "'";
  const int rc = std::system(cmd.c_str());
  outcome r;
  r.status = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_file(dir.file("stdout"));
  r.err = read_file(dir.file("stderr"));
  return r;
}
#endif

std::vector<std::string> command_line(const char* arch, std::uint64_t cr3,
                                      const std::string& image,
                                      std::vector<std::string> rest) {
  std::vector<std::string> a{"--arch", arch, "--cr3", hex(cr3), image};
  a.insert(a.end(), rest.begin(), rest.end());
  return a;
}

/// memmap's lines parsed back.
std::vector<page_run> parse_map(const std::string& text) {
  std::vector<page_run> runs;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    unsigned long long va = 0, pa = 0, bytes = 0;
    char rights[8] = {}, who[8] = {};
    REQUIRE_MESSAGE(std::sscanf(line.c_str(), "0x%llx 0x%llx 0x%llx %7s %7s",
                                &va, &pa, &bytes, rights, who) == 5,
                    line);
    const std::string r = rights, w = who;
    REQUIRE((r == "r" || r == "rw" || r == "rx" || r == "rwx"));
    REQUIRE((w == "user" || w == "kernel"));
    runs.push_back(page_run{va, pa, bytes, r.find('w') != std::string::npos,
                            r.find('x') != std::string::npos, w == "user"});
  }
  return runs;
}

const char* size_text(std::uint64_t bytes) {
  switch (bytes) {
    case 0x1000: return "4K";
    case 0x200000: return "2M";
    case 0x400000: return "4M";
    case 0x40000000: return "1G";
  }
  return "?";
}

/// The line translate must end with, from the walker's answer.
template <class A>
std::string expected_translate_line(const translation<A>& t, std::uint64_t va) {
  if (t.kind != entry_kind::valid) return "va=" + hex(va) + " fault: ";
  const char* rights =
      t.writable ? (t.executable ? "rwx" : "rw") : (t.executable ? "rx" : "r");
  return "va=" + hex(va) + " pa=" + hex(t.address.raw()) +
         " size=" + size_text(t.page_bytes) + " rights=" + rights +
         " user=" + (t.user ? "1" : "0");
}

template <class A>
const char* arch_name() {
  return A::name;
}

// --- images written by a page_table ------------------------------------------

template <class A>
using table_t =
    page_table<A, buffer_memory, simple_frame_source<buffer_memory>>;

/// A software PTE written at `va`.
template <class W>
struct written_pte {
  std::uint64_t va;
  W entry;
};

/// One arch's test image: page tables built with page_table in an arena
/// whose first frame is the root (so CR3 is 0), holding every kind of
/// mapping the tool must read.
template <class A>
struct table_image {
  using W = typename A::entry_type;
  using codec = entry_codec<A>;
  static constexpr std::uint64_t frames = 512;

  explicit table_image(unsigned seed) : rng(seed) {
    auto made = table_t<A>::create(a.memory, a.source);
    REQUIRE(made.ok());
    t = std::move(made).value();
    fill();
  }
  ~table_image() {
    // The self-map is not the page table's: take it out before the
    // page table checks and frees its tables.
    for (const auto& [slot, old] : raw_writes) *slot = old;
    CHECK(t.check_invariants());
  }

  std::uint64_t canonical(std::uint64_t va) const {
    if constexpr (A::sign_extended) {
      const unsigned s = 64 - A::va_bits;
      return static_cast<std::uint64_t>(static_cast<std::int64_t>(va << s) >>
                                        s);
    } else {
      return va;
    }
  }
  std::uint64_t below(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng);
  }
  page_attr random_attrs() {
    static constexpr page_attr choices[] = {
        page_attr::write | page_attr::user,
        page_attr::user,
        page_attr::write,
        page_attr::write | page_attr::user | page_attr::execute,
        page_attr::execute,
        page_attr::write | page_attr::global};
    return choices[below(std::size(choices))];
  }
  /// A 4 KiB-mappable physical address (below 4 GiB on x86_32).
  std::uint64_t random_pa() {
    const std::uint64_t limit = arch::frame_phys_limit<A>() >> page_shift;
    return below(limit < (std::uint64_t{1} << 24) ? limit
                                                  : std::uint64_t{1} << 24)
           << page_shift;
  }

  bool map(std::uint64_t va, std::uint64_t pa, std::uint64_t bytes,
           page_attr attrs) {
    const auto r = t.map(vaddr{va}, paddr{pa}, bytes, attrs);
    REQUIRE_MESSAGE((r.ok() || r.error() == status::conflicting_addresses),
                    hex(va));
    if (r.ok()) probes.push_back(va + below(bytes));
    return r.ok();
  }

  void fill() {
    const std::uint64_t upper = A::kernel_base + 0x10000000;
    const std::uint64_t clusters[] = {
        0x10000, 0x40000000, A::highest_user_address + 1 + 0x10000 - 0x200000,
        upper, upper + 0x01000000};
    // Runs of 4 KiB pages, some contiguous in both spaces with equal
    // rights (one memmap line), some broken by a rights change or a
    // physical jump.
    for (const std::uint64_t base : clusters) {
      for (int run = 0; run < 8; ++run) {
        std::uint64_t va = base + below(256) * page_size;
        std::uint64_t pa = random_pa();
        page_attr attrs = random_attrs();
        const std::uint64_t n = 1 + below(6);
        for (std::uint64_t i = 0; i < n;
             ++i, va += page_size, pa += page_size) {
          if (below(5) == 0) attrs = random_attrs();
          if (below(7) == 0) pa = random_pa();
          map(va, pa, page_size, attrs);
        }
      }
    }
    // Large pages of every size: two adjacent with contiguous frames, then
    // a 4 KiB page continuing them (one run across page sizes), in the
    // lower half; one global kernel page in the upper half.
    for (unsigned l = 1; l < A::levels; ++l) {
      if (!A::level[l].large_page) continue;
      const std::uint64_t span = A::level[l].span();
      const std::uint64_t va = A::va_bits > 32 ? span * 0x400 : 0x20000000;
      const std::uint64_t pa = span * (3 + l);
      REQUIRE(map(va, pa, span, page_attr::write | page_attr::user));
      REQUIRE(
          map(va + span, pa + span, span, page_attr::write | page_attr::user));
      REQUIRE(map(va + 2 * span, pa + 2 * span, page_size,
                  page_attr::write | page_attr::user));
      large_vas.push_back(va);
      REQUIRE(map(A::kernel_base + span * 8, span * 9, span,
                  page_attr::write | page_attr::global));
      large_vas.push_back(A::kernel_base + span * 8);
    }
    if constexpr (std::is_same_v<A, arch::x86_32>) {
      // PSE-36: a 4 MiB page above 4 GiB (PDE bits 20:13 hold PA 39:32).
      REQUIRE(map(0x30000000, 0x300400000, 0x400000, page_attr::write));
      pse36_va = 0x30000000;
    }
    // Both ends of the lower half and the start of the upper half, with
    // contiguous frames and equal rights: never one run.
    const std::uint64_t top = std::uint64_t{1} << (A::va_bits - 1);
    if constexpr (A::sign_extended) {
      map(top - page_size, 0x7000000, page_size, page_attr::write);
      map(canonical(top), 0x7001000, page_size, page_attr::write);
      hole = {top - page_size, canonical(top)};
    } else {
      map(0xFFFFF000, 0x7000000, page_size, page_attr::write);
    }
    // NT's software PTEs, every kind, in the 4 KiB clusters.
    using sw = software_pte<W>;
    for (int i = 0; i < 40; ++i) {
      const std::uint64_t va =
          clusters[below(std::size(clusters))] + below(256) * page_size;
      if (t.query(vaddr{va}).ok()) continue;
      if (auto leaf = t.find_leaf(vaddr{va}); leaf && *leaf.entry != 0)
        continue;
      const auto prot = static_cast<std::uint8_t>(1 + below(31));
      W e = 0;
      switch (i % 4) {
        case 0: e = sw::demand_zero(prot); break;
        case 1:
          e = sw::page_file(prot, static_cast<unsigned>(below(16)),
                            1 + below(sw::max_file_offset));
          break;
        case 2:
          e = sw::transition(prot, pfn{below(sw::max_transition_frame)});
          break;
        case 3:
          e = sw::prototype(i % 8 == 3 ? 0 : prot,
                            below(sw::max_prototype_index));
          break;
      }
      if (!t.write_leaf(vaddr{va}, e).ok()) continue;
      software.push_back({va, e});
    }
    add_self_map();
    // Anything at all: mostly unmapped, some non-canonical.
    for (int i = 0; i < 20; ++i) probes.push_back(below(~std::uint64_t{0}));
    for (int i = 0; i < 40; ++i)
      probes.push_back(canonical(below(std::uint64_t{1} << A::va_bits)));
  }

  /// NT's self-map: kernel-only, read/write, no-execute. The root maps
  /// itself (x86_32: PDE 0x300, 0xC0000000; 4- and 5-level: index 0x1ED);
  /// on PAE the page directory of 0xC0000000 maps the four directories.
  void add_self_map() {
    const W flags =
        static_cast<W>(codec::P | codec::RW | codec::A_ | codec::XD);
    if constexpr (std::is_same_v<A, arch::x86_pae>) {
      std::uint64_t pd[4];
      for (std::uint64_t k = 0; k < 4; ++k) {
        REQUIRE(t.ensure_leaf(vaddr{(k << 30) | 0x800000}).ok());
        const W pdpte = a.template entry<W>(t.root_frame(), unsigned(k));
        pd[k] = A::frame_address(pdpte);
      }
      for (unsigned k = 0; k < 4; ++k)
        raw_write(paddr{pd[3]}.frame(), k,
                  static_cast<W>(A::encode_frame(pd[k]) | flags));
      self_map_va = 0xC0000000;
    } else {
      const unsigned index = std::is_same_v<A, arch::x86_32> ? 0x300 : 0x1ED;
      raw_write(t.root_frame(), index,
                static_cast<W>(A::encode_frame(t.root().raw()) | flags));
      self_map_va =
          canonical(std::uint64_t{index} << A::level[A::levels - 1].shift);
    }
    for (int i = 0; i < 10; ++i)
      probes.push_back(self_map_va + below(0x4000) * page_size +
                       below(page_size));
  }
  void raw_write(pfn table, unsigned index, W value) {
    W& slot = a.template entry<W>(table, index);
    REQUIRE(slot == 0);
    raw_writes.emplace_back(&slot, slot);
    slot = value;
  }

  /// What memmap must print: the page table's own list of mappings, each
  /// confirmed by the walker (which also gives the rights folded over the
  /// levels), joined where contiguous with equal rights.
  std::vector<page_run> reference_map() const {
    std::vector<page_run> runs;
    t.for_each_mapping([&](const mapping& m) {
      const auto w = walk<A>(std::as_const(a.memory), t.root(), m.va,
                             access::read, cpu_mode::kernel);
      if (w.kind != entry_kind::valid) return;  // a reserved bit is set
      CHECK(w.address == m.pa);
      CHECK(w.page_bytes == m.bytes);
      const page_run p{m.va.raw(), m.pa.raw(),   m.bytes,
                       w.writable, w.executable, w.user};
      if (!runs.empty()) {
        page_run& b = runs.back();
        if (b.va + b.bytes == p.va && b.pa + b.bytes == p.pa &&
            b.writable == p.writable && b.executable == p.executable &&
            b.user == p.user) {
          b.bytes += p.bytes;
          return;
        }
      }
      runs.push_back(p);
    });
    return runs;
  }

  translation<A> walk_of(std::uint64_t va) const {
    return walk<A>(std::as_const(a.memory), t.root(), vaddr{va}, access::read,
                   cpu_mode::kernel);
  }

  void write(const std::string& path) const {
    write_file(path, a.bytes, frames * page_size);
  }

  test::arena a{frames, 400};
  table_t<A> t;
  std::mt19937_64 rng;
  std::vector<std::uint64_t> probes;
  std::vector<written_pte<W>> software;
  std::vector<std::uint64_t> large_vas;
  std::uint64_t pse36_va = 0, self_map_va = 0;
  std::pair<std::uint64_t, std::uint64_t> hole{};
  std::vector<std::pair<W*, W>> raw_writes;
};

}  // namespace

TEST_SUITE_BEGIN("tools");

TEST_CASE(
    "mmkit-translate: hex parsing takes 0x, no prefix and WinDbg's "
    "backtick, and refuses the rest") {
  std::uint64_t v = 0;
  CHECK((tools::parse_hex("0x1f", v) && v == 0x1F));
  CHECK((tools::parse_hex("1F", v) && v == 0x1F));
  CHECK((tools::parse_hex("0X00ff", v) && v == 0xFF));
  CHECK((tools::parse_hex("fffff800`12345678", v) && v == 0xFFFFF80012345678));
  CHECK((tools::parse_hex("0000000000000000000001", v) && v == 1));
  CHECK((tools::parse_hex("ffffffffffffffff", v) && v == ~std::uint64_t{0}));
  for (const char* bad :
       {"", "0x", "xyz", "1_0", "-1", "`12", "0x 1", "10000000000000000"})
    CHECK_MESSAGE(!tools::parse_hex(bad, v), bad);
}

TEST_CASE(
    "mmkit-translate: CR3's flag and PCID bits are masked; PAE keeps "
    "bits 31:5") {
  static_assert(tools::root_from_cr3<arch::x86_32>(0x12345018) ==
                paddr{0x12345000});
  static_assert(tools::root_from_cr3<arch::x86_32>(0x1'2345'6FFF) ==
                paddr{0x23456000});
  static_assert(tools::root_from_cr3<arch::x86_pae>(0x12345FF8) ==
                paddr{0x12345FE0});
  static_assert(tools::root_from_cr3<arch::x86_pae>(0x12345018) ==
                paddr{0x12345000});
  static_assert(tools::root_from_cr3<arch::x86_64>(0xC000'0012'3456'7ABC) ==
                paddr{0x12'3456'7000});
  static_assert(tools::root_from_cr3<arch::x86_la57>(0x8000'0000'0000'0FFF) ==
                paddr{0});
  CHECK(tools::root_table_bytes<arch::x86_pae>() == 32);
}

TEST_CASE("mmkit-translate: NT protections by name") {
  CHECK(tools::protection_name(mm::readwrite) == "READWRITE");
  CHECK(tools::protection_name(mm::execute_read) == "EXECUTE_READ");
  CHECK(tools::protection_name(mm::noaccess) == "NOACCESS");
  CHECK(tools::protection_name(mm::guard_page) == "DECOMMIT");
  CHECK(tools::protection_name(mm::readwrite | mm::guard_page) ==
        "READWRITE|GUARD_PAGE");
  CHECK(tools::protection_name(mm::readonly | mm::nocache) ==
        "READONLY|NOCACHE");
  CHECK(tools::protection_name(mm::readwrite | mm::writecombine) ==
        "READWRITE|WRITECOMBINE");
  CHECK(tools::size_name(0x1000) == "4K");
  CHECK(tools::size_name(0x400000) == "4M");
  CHECK(tools::size_name(0x40000000) == "1G");
}

TEST_CASE_TEMPLATE(
    "mmkit-translate: memmap, translate and pte agree with "
    "the page table that wrote the image",
    A, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  using W = typename A::entry_type;
  for (const unsigned seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    table_image<A> img(seed);
    // The first frame the source hands out is frame 0: a root at 0.
    REQUIRE(img.t.root() == paddr{0});
    temp_dir dir;
    const std::string image = dir.file("physmem.raw");
    img.write(image);
    const char* arch = arch_name<A>();

    // memmap: every run, exactly.
    const outcome map = run_tool(command_line(arch, 0, image, {"memmap"}));
    REQUIRE(map.status == 0);
    CHECK(map.err.empty());
    const std::vector<page_run> runs = parse_map(map.out);
    const std::vector<page_run> expected = img.reference_map();
    CHECK(runs.size() == expected.size());
    for (std::size_t i = 0; i < runs.size() && i < expected.size(); ++i)
      CHECK(runs[i] == expected[i]);
    CHECK(runs ==
          tools::map_memory<A>(std::as_const(img.a.memory), paddr{0}).runs);

    // The self-map's pages are mapped, kernel-only, read/write.
    const auto self = img.walk_of(img.self_map_va);
    REQUIRE(self.kind == entry_kind::valid);
    bool self_listed = false;
    for (const page_run& r : runs)
      if (r.va <= img.self_map_va && img.self_map_va - r.va < r.bytes)
        self_listed = !r.user && r.writable && r.executable == !A::has_nx;
    CHECK(self_listed);

    // The canonical hole splits runs however contiguous the frames.
    if (img.hole.first != 0) {
      bool low = false, high = false;
      for (const page_run& r : runs) {
        if (r.va + r.bytes == img.hole.first + page_size) low = true;
        if (r.va == img.hole.second) high = true;
      }
      CHECK(low);
      CHECK(high);
    }

    // translate: the walker's answer, one explained line per entry read.
    for (const std::uint64_t va : img.probes) {
      CAPTURE(hex(va));
      const auto w = img.walk_of(va);
      const outcome r =
          run_tool(command_line(arch, 0, image, {"translate", hex(va)}));
      CHECK(r.status == (w.kind == entry_kind::valid ? 0 : 1));
      const std::string line = r.last_line();
      const std::string want = expected_translate_line(w, va);
      CHECK_MESSAGE(line.starts_with(want), line);
      CHECK(r.lines() == w.depth + 1);
      if (w.kind == entry_kind::non_canonical)
        CHECK((line.find("non-canonical") != std::string::npos ||
               line.find("beyond the 32-bit") != std::string::npos));
    }
    // The non-canonical fail (and on 32-bit formats, anything at 4 GiB).
    const std::uint64_t outside = A::sign_extended
                                      ? std::uint64_t{1} << (A::va_bits - 1)
                                      : std::uint64_t{1} << 32;
    CHECK(run_tool(command_line(arch, 0, image, {"translate", hex(outside)}))
              .status == 1);

    // Large pages, PSE-36 above 4 GiB included.
    for (const std::uint64_t va : img.large_vas) {
      const outcome r = run_tool(
          command_line(arch, 0, image, {"translate", hex(va + 0x123)}));
      CHECK(r.status == 0);
      CHECK(r.last_line().find(size_text(img.walk_of(va).page_bytes)) !=
            std::string::npos);
    }
    if (img.pse36_va != 0) {
      const outcome r = run_tool(command_line(
          arch, 0, image, {"translate", hex(img.pse36_va + 0x1234)}));
      CHECK(r.last_line() ==
            "va=0x30001234 pa=0x300401234 size=4M rights=rwx user=0");
    }

    // pte: each software PTE decoded to what was written.
    using sw = software_pte<W>;
    for (const auto& written : img.software) {
      // Named copies, not a structured binding: clang 14 cannot capture a
      // binding in the lambda CAPTURE makes.
      const auto va = written.va;
      const auto e = written.entry;
      CAPTURE(hex(va));
      const outcome r =
          run_tool(command_line(arch, 0, image, {"pte", hex(va)}));
      CHECK(r.status == 0);
      const std::string line = r.last_line();
      CAPTURE(line);
      char entry[24];
      std::snprintf(entry, sizeof entry, "0x%0*llx",
                    static_cast<int>(sizeof(W) * 2),
                    static_cast<unsigned long long>(e));
      CHECK(line.starts_with("va=" + hex(va) + " level=PTE entry=" + entry +
                             " kind=" + entry_kind_name(sw::classify(e))));
      const std::string prot = " protection=" + hex(sw::protection(e)) + " (";
      switch (sw::classify(e)) {
        case entry_kind::demand_zero:
          CHECK(line.find(prot) != std::string::npos);
          break;
        case entry_kind::page_file:
          CHECK(line.find(" file=" + std::to_string(sw::page_file_number(e)) +
                          " offset=" + hex(sw::page_file_offset(e)) + prot) !=
                std::string::npos);
          break;
        case entry_kind::transition:
          CHECK(line.find(" pfn=" + hex(sw::frame(e).raw()) + prot) !=
                std::string::npos);
          break;
        case entry_kind::prototype:
          CHECK(line.find(" index=" + hex(sw::index(e)) + prot) !=
                std::string::npos);
          break;
        default: FAIL("not a software PTE");
      }
    }

    // CR3's flags and PCID change nothing.
    const std::uint64_t noisy =
        A::va_bits > 32 ? 0x8000'0000'0000'0ABCull : 0x18ull;
    CHECK(run_tool(command_line(arch, noisy, image, {"memmap"})).out ==
          map.out);

    // PAE: a PDPT that is not page-aligned (CR3 bits 31:5).
    if constexpr (std::is_same_v<A, arch::x86_pae>) {
      const std::uint64_t pdpt = 450 * page_size + 0xFE0;
      std::memcpy(img.a.bytes + pdpt, img.a.bytes, 32);
      img.write(image);
      const outcome moved =
          run_tool(command_line(arch, pdpt | 0x18, image, {"memmap"}));
      CHECK(moved.out == map.out);
      const outcome r = run_tool(command_line(
          arch, pdpt, image, {"translate", hex(img.probes.front())}));
      CHECK(r.out.starts_with("PDPTE table=0x1c2fe0 index="));
      std::memset(img.a.bytes + pdpt, 0, 32);
    }

#if defined(MMKIT_TRANSLATE_EXE)
    // The built executable prints exactly what the in-process run does.
    if (seed == 1) {
      const std::vector<std::vector<std::string>> commands = {
          {"memmap"},
          {"translate", hex(img.probes.front())},
          {"translate", hex(img.self_map_va)},
          {"translate", hex(outside)},
          {"pte", hex(img.software.front().va)}};
      for (const auto& c : commands) {
        const auto args = command_line(arch, 0, image, c);
        const outcome in = run_tool(args);
        const outcome ex = run_executable(args, dir);
        CHECK(ex.status == in.status);
        CHECK(ex.out == in.out);
        CHECK(ex.err == in.err);
      }
    }
#endif
  }
}

// --- images written by an address space --------------------------------------

TEST_CASE_TEMPLATE("mmkit-translate: reads the tables an address_space wrote",
                   A, arch::x86_32, arch::x86_pae, arch::x86_64,
                   arch::x86_la57) {
  using W = typename A::entry_type;
  hosted_system<> sys{std::uint64_t{4} << 20, std::uint64_t{4} << 20};
  address_space<A, hosted_config<>> as{sys};
  REQUIRE(as.creation_status() == status::success);

  // 16 read/write pages: 0..7 touched, 2 made read-only, 3 execute-read,
  // 5 trimmed (a transition PTE), 9 protected untouched; and four touched
  // execute-read/write pages elsewhere.
  vaddr base{0x50000000};
  std::uint64_t size = 16 * page_size;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite) == status::success);
  vaddr other{0x60000000};
  std::uint64_t other_size = 4 * page_size;
  REQUIRE(as.allocate(other, other_size, mem::reserve | mem::commit,
                      page::execute_readwrite) == status::success);
  for (std::uint64_t i = 0; i < 8; ++i)
    REQUIRE(as.access(vaddr{base.raw() + i * page_size}, access::write) ==
            status::success);
  for (std::uint64_t i = 0; i < 4; ++i)
    REQUIRE(as.access(vaddr{other.raw() + i * page_size}, access::write) ==
            status::success);
  std::uint32_t old = 0;
  const auto protect = [&](std::uint64_t page, std::uint32_t prot) {
    vaddr b{base.raw() + page * page_size};
    std::uint64_t s = page_size;
    REQUIRE(as.protect(b, s, prot, old) == status::success);
  };
  protect(2, page::readonly);
  protect(3, page::execute_read);
  protect(9, page::readonly);
  CHECK(as.trim(vaddr{base.raw() + 5 * page_size}));

  std::vector<std::uint64_t> pages;
  for (std::uint64_t i = 0; i < 20; ++i)
    pages.push_back(base.raw() + i * page_size);
  for (std::uint64_t i = 0; i < 5; ++i)
    pages.push_back(other.raw() + i * page_size);
  std::vector<translation<A>> expected;
  for (const std::uint64_t va : pages)
    expected.push_back(as.translate(vaddr{va}, access::read, cpu_mode::kernel));

  // The machine's physical memory, written out as a raw image.
  temp_dir dir;
  const std::string image = dir.file("physmem.raw");
  {
    auto& memory = sys.memory();
    std::FILE* f = std::fopen(image.c_str(), "wb");
    REQUIRE(f != nullptr);
    for (std::uint64_t i = 0; i < memory.frame_count(); ++i)
      REQUIRE(std::fwrite(memory.read_frame(pfn{i}), page_size, 1, f) == 1);
    REQUIRE(std::fclose(f) == 0);
  }
  const std::uint64_t cr3 = as.root().raw();
  const char* arch = arch_name<A>();

  bool seen_valid = false, seen_transition = false, seen_software = false;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const std::uint64_t va = pages[i];
    const translation<A>& t = expected[i];
    CAPTURE(hex(va));
    const outcome r =
        run_tool(command_line(arch, cr3, image, {"translate", hex(va)}));
    CHECK(r.status == (t.kind == entry_kind::valid ? 0 : 1));
    CHECK_MESSAGE(r.last_line().starts_with(expected_translate_line(t, va)),
                  r.last_line());
    const outcome p =
        run_tool(command_line(arch, cr3, image, {"pte", hex(va)}));
    CHECK(p.last_line().find(std::string(" kind=") + entry_kind_name(t.kind)) !=
          std::string::npos);
    if (t.kind != entry_kind::valid && t.level == 0) {
      const std::uint8_t prot = software_pte<W>::protection(t.last_entry());
      if (t.kind != entry_kind::zero && t.kind != entry_kind::prototype)
        CHECK(p.last_line().find(" protection=" + hex(prot) + " (") !=
              std::string::npos);
    }
    seen_valid |= t.kind == entry_kind::valid;
    seen_transition |= t.kind == entry_kind::transition;
    seen_software |= t.kind == entry_kind::demand_zero;
  }
  CHECK(seen_valid);
  CHECK(seen_transition);
  CHECK(seen_software);

  // memmap lists exactly the valid pages, with their frames and rights.
  const outcome map = run_tool(command_line(arch, cr3, image, {"memmap"}));
  REQUIRE(map.status == 0);
  std::vector<page_run> listed;
  for (const page_run& r : parse_map(map.out))
    for (std::uint64_t o = 0; o < r.bytes; o += page_size)
      listed.push_back(page_run{r.va + o, r.pa + o, page_size, r.writable,
                                r.executable, r.user});
  std::vector<page_run> valid;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const translation<A>& t = expected[i];
    if (t.kind != entry_kind::valid) continue;
    valid.push_back(page_run{pages[i], t.address.raw(), page_size, t.writable,
                             t.executable, t.user});
  }
  CHECK(listed == valid);
  CHECK(as.check_invariants());
}

// --- the command line --------------------------------------------------------

TEST_CASE("mmkit-translate: errors keep their cause") {
  temp_dir dir;
  const std::string missing = dir.file("none.raw");
  outcome r = run_tool(command_line("x86_64", 0, missing, {"memmap"}));
  CHECK(r.status == 2);
  CHECK(r.err.find(std::strerror(ENOENT)) != std::string::npos);
  CHECK(r.err.find(missing) != std::string::npos);

  r = run_tool(command_line("x86_64", 0, dir.path, {"memmap"}));
  CHECK(r.status == 2);
  CHECK(r.err.find(std::strerror(EISDIR)) != std::string::npos);

  r = run_tool(command_line("x86_64", 0, "/dev/null", {"memmap"}));
  CHECK(r.status == 2);
  CHECK(r.err.find("not a regular file") != std::string::npos);

  const std::string small = dir.file("small.raw");
  write_file(small, "abc", 3);
  r = run_tool(command_line("x86_64", 0, small, {"memmap"}));
  CHECK(r.status == 2);
  CHECK(r.err.find("3 bytes, less than one 4096-byte frame") !=
        std::string::npos);

  // A root beyond the image, and a table beyond it.
  const std::string one = dir.file("one.raw");
  std::vector<std::uint64_t> frame(page_size / 8, 0);
  frame[0] = 0x5000 | 0x7;  // PML4E 0 -> a PDPT past the end
  write_file(one, frame.data(), page_size);
  r = run_tool(command_line("x86_64", 0x1000, one, {"translate", "0"}));
  CHECK(r.status == 1);
  CHECK(r.last_line() ==
        "va=0x0 fault: the PML4E at 0x1000 lies beyond the image (0x1000 "
        "bytes)");
  r = run_tool(command_line("x86_64", 0, one, {"translate", "0x1234"}));
  CHECK(r.last_line() ==
        "va=0x1234 fault: the PDPTE at 0x5000 lies beyond the image (0x1000 "
        "bytes)");
  r = run_tool(command_line("x86_64", 0, one, {"memmap"}));
  CHECK(r.status == 0);
  CHECK(r.out.empty());
  CHECK(r.err.find("1 table(s) lie beyond the image") != std::string::npos);

  // A reserved bit stops the walk where the processor would.
  frame[0] = 0x0 | 0x80 | 0x7;  // PS in a PML4E is reserved
  write_file(one, frame.data(), page_size);
  r = run_tool(command_line("x86_64", 0, one, {"translate", "0"}));
  CHECK(r.last_line() == "va=0x0 fault: reserved bits 0x80 set in the PML4E");
  r = run_tool(command_line("x86_64", 0, one, {"pte", "0"}));
  CHECK(r.status == 1);

  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--arch", "arm64", "--cr3", "0", one,
                                 "memmap"},
        {"--arch", "x86_64", "--cr3", "zz", one, "memmap"},
        {"--arch", "x86_64", one, "memmap"},
        {"--cr3", "0", one, "memmap"},
        {"--arch", "x86_64", "--cr3", "0", one},
        {"--arch", "x86_64", "--cr3", "0", one, "translate"},
        {"--arch", "x86_64", "--cr3", "0", one, "translate", "0xg"},
        {"--arch", "x86_64", "--cr3", "0", one, "walk", "0"},
        {"--arch", "x86_64", "--cr3", "0", one, "memmap", "extra"},
        {"--arch", "x86_64", "--cr3", "0", "--verbose", one, "memmap"},
        {"--arch"}}) {
    const outcome o = run_tool(bad);
    CHECK(o.status == 2);
    CHECK(o.err.find("mmkit-translate: ") == 0);
    CHECK(o.err.find("usage: mmkit-translate") != std::string::npos);
  }
  r = run_tool({"--help"});
  CHECK(r.status == 0);
  CHECK(r.out.starts_with("usage: mmkit-translate --arch"));
  // --opt=value works as well as --opt value.
  CHECK(run_tool({"--arch=x86_64", "--cr3=0", one, "memmap"}).status == 0);
}

TEST_SUITE_END();
