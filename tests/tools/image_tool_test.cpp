// mmkit-image: PE images (small ones pe_builder.hpp writes, and the mingw-w64
// images tests/image builds) mapped by the tool in-process and as the built
// executable, at their preferred base and at --base. Each run is checked
// for its status line, for regions that tile the view, and for a dump equal
// byte for byte to pe_builder's independent expected_image; the builder's
// images also for every region line. Bad files and bad command lines get
// their status line or their cause and the documented exit status.
#include "image_tool.hpp"

#include "image/pe_builder.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace mmkit;
namespace pt = pe_test;
namespace it = mmkit::tools::image_tool;

namespace {

std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

/// A directory of its own under /tmp, removed with everything in it.
struct temp_dir {
  temp_dir() {
    char t[] = "/tmp/mmkit-image-XXXXXX";
    REQUIRE(::mkdtemp(t) != nullptr);
    path = t;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const char* name) const { return path + "/" + name; }
  std::string path;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct outcome {
  int status = -1;
  std::string out, err;
};

/// The tool in-process, as main() runs it.
outcome run_tool(const std::vector<std::string>& args) {
  const std::vector<std::string_view> v(args.begin(), args.end());
  tools::text out, err;
  outcome r;
  r.status = it::run(v, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

#if defined(MMKIT_IMAGE_EXE)
/// The built executable, output captured in files of `dir`.
outcome run_executable(const std::vector<std::string>& args,
                       const temp_dir& dir) {
  std::string cmd = "'" MMKIT_IMAGE_EXE "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " >'" + dir.file("stdout") + "' 2>'" + dir.file("stderr") + "'";
  const int rc = std::system(cmd.c_str());
  outcome r;
  r.status = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_text(dir.file("stdout"));
  r.err = read_text(dir.file("stderr"));
  return r;
}
#endif

/// One region line parsed back.
struct region {
  std::uint64_t base = 0, size = 0;
  std::string state, protect, type;
};

/// The status line and the region lines of an output.
struct report {
  std::string status;
  std::vector<region> regions;
  bool well_formed = true;  ///< every region line has five fields
};

report parse_report(const std::string& text) {
  report r;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, r.status)) r.well_formed = false;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    region g;
    std::string base, size, extra;
    if (!(l >> base >> size >> g.state >> g.protect >> g.type) ||
        (l >> extra) || !base.starts_with("0x") || !size.starts_with("0x")) {
      r.well_formed = false;
      continue;
    }
    g.base = std::stoull(base, nullptr, 16);
    g.size = std::stoull(size, nullptr, 16);
    r.regions.push_back(g);
  }
  return r;
}

/// Whether the regions tile [base, base + size): the first starts at
/// `base`, each where the one before ends, the last ends at base + size;
/// all MEM_IMAGE, committed with a protection or reserved with 0.
void check_tiling(const report& r, std::uint64_t base, std::uint64_t size) {
  CHECK(r.well_formed);
  REQUIRE_FALSE(r.regions.empty());
  std::uint64_t at = base;
  for (const region& g : r.regions) {
    CAPTURE(hex(g.base));
    CHECK(g.base == at);
    CHECK(g.size != 0);
    CHECK(g.size % page_size == 0);
    CHECK(g.type == "MEM_IMAGE");
    if (g.state == "MEM_RESERVE")
      CHECK(g.protect == "0");
    else
      CHECK((g.state == "MEM_COMMIT" && g.protect.starts_with("PAGE_")));
    at = g.base + g.size;
  }
  CHECK(at == base + size);
}

/// The run of `options IMAGE` with --dump, in-process and (when built) as
/// the executable, which must agree on everything.
struct mapped {
  outcome result;
  report lines;
  pt::bytes dump;
  bool dumped = false;
};

mapped map_image(std::vector<std::string> options, const std::string& image,
                 const temp_dir& dir) {
  const std::string dump_file = dir.file("dump.bin");
  std::filesystem::remove(dump_file);
  std::vector<std::string> args = options;
  args.insert(args.end(), {"--dump", dump_file, image});
  mapped m;
  m.result = run_tool(args);
  m.lines = parse_report(m.result.out);
  m.dumped = std::filesystem::exists(dump_file);
  if (m.dumped) m.dump = pt::read_file_bytes(dump_file);
#if defined(MMKIT_IMAGE_EXE)
  std::filesystem::remove(dump_file);
  const outcome e = run_executable(args, dir);
  CHECK(e.status == m.result.status);
  CHECK(e.out == m.result.out);
  CHECK(e.err == m.result.err);
  CHECK(std::filesystem::exists(dump_file) == m.dumped);
  if (m.dumped) CHECK((pt::read_file_bytes(dump_file) == m.dump));
#endif
  return m;
}

std::uint64_t view_size(const pt::bytes& file) {
  return pt::round_up(pt::read_headers(file).size_of_image, page_size);
}

/// `image` mapped at its preferred base, then at `other`: the status
/// lines, the tiling, the same regions at both bases, and the dumps
/// against expected_image.
void check_both_bases(const std::string& image, const char* arch,
                      std::uint64_t other) {
  temp_dir dir;
  const pt::bytes file = pt::read_file_bytes(image);
  const std::uint64_t preferred = pt::read_headers(file).image_base;
  const std::uint64_t size = view_size(file);
  CAPTURE(image);

  const mapped at_base = map_image({"--arch", arch}, image, dir);
  CHECK(at_base.result.status == 0);
  CHECK(at_base.result.err.empty());
  CHECK(at_base.lines.status == "status 0x00000000 STATUS_SUCCESS");
  check_tiling(at_base.lines, preferred, size);
  REQUIRE(at_base.dumped);
  CHECK(at_base.dump.size() == size);
  CHECK((at_base.dump == pt::expected_image(file, preferred)));

  // The preferred base named explicitly is the same map.
  const mapped named =
      map_image({"--arch", arch, "--base", hex(preferred)}, image, dir);
  CHECK(named.result.out == at_base.result.out);
  CHECK((named.dump == at_base.dump));

  const mapped away =
      map_image({"--arch", arch, "--base", hex(other)}, image, dir);
  CHECK(away.result.status == 0);
  CHECK(away.result.err.empty());
  CHECK(away.lines.status == "status 0x40000003 STATUS_IMAGE_NOT_AT_BASE");
  check_tiling(away.lines, other, size);
  REQUIRE(away.dumped);
  CHECK((away.dump == pt::expected_image(file, other)));
  // Relocation changes bytes, not the layout or the protections.
  REQUIRE(away.lines.regions.size() == at_base.lines.regions.size());
  for (std::size_t i = 0; i < away.lines.regions.size(); ++i) {
    const region& a = at_base.lines.regions[i];
    const region& b = away.lines.regions[i];
    CHECK(b.base - other == a.base - preferred);
    CHECK(b.size == a.size);
    CHECK(b.state == a.state);
    CHECK(b.protect == a.protect);
    CHECK(b.type == a.type);
  }
}

/// `bytes` written to `name` in `dir`; the path.
std::string write_image(const temp_dir& dir, const char* name,
                        const pt::bytes& bytes) {
  const std::string path = dir.file(name);
  pt::write_file_bytes(path, bytes);
  return path;
}

}  // namespace

TEST_SUITE_BEGIN("tools");

// --- names ------------------------------------------------------------------

TEST_CASE("mmkit-image: NT's names for State, Protect and Type") {
  CHECK(it::state_name(mem::commit) == "MEM_COMMIT");
  CHECK(it::state_name(mem::reserve) == "MEM_RESERVE");
  CHECK(it::state_name(mem::free) == "MEM_FREE");
  CHECK(it::state_name(0x7) == "0x7");
  CHECK(it::type_name(mem::image) == "MEM_IMAGE");
  CHECK(it::type_name(mem::mapped) == "MEM_MAPPED");
  CHECK(it::type_name(mem::private_memory) == "MEM_PRIVATE");
  CHECK(it::type_name(0) == "0");
  CHECK(it::protect_name(0) == "0");
  CHECK(it::protect_name(page::noaccess) == "PAGE_NOACCESS");
  CHECK(it::protect_name(page::readonly) == "PAGE_READONLY");
  CHECK(it::protect_name(page::readwrite) == "PAGE_READWRITE");
  CHECK(it::protect_name(page::writecopy) == "PAGE_WRITECOPY");
  CHECK(it::protect_name(page::execute) == "PAGE_EXECUTE");
  CHECK(it::protect_name(page::execute_read) == "PAGE_EXECUTE_READ");
  CHECK(it::protect_name(page::execute_readwrite) == "PAGE_EXECUTE_READWRITE");
  CHECK(it::protect_name(page::execute_writecopy) == "PAGE_EXECUTE_WRITECOPY");
  CHECK(it::protect_name(page::readwrite | page::guard) ==
        "PAGE_READWRITE+PAGE_GUARD");
  CHECK(it::protect_name(page::execute_read | page::nocache) ==
        "PAGE_EXECUTE_READ+PAGE_NOCACHE");
  CHECK(it::protect_name(page::readonly | page::writecombine) ==
        "PAGE_READONLY+PAGE_WRITECOMBINE");
  CHECK(it::protect_name(page::readonly | page::readwrite) == "0x6");
  CHECK(it::protect_name(page::guard) == "0x100");
  CHECK(it::protect_name(0x10002) == "0x10002");

  tools::text t;
  it::print_status(t, status::invalid_image_not_mz);
  it::print_status(t, status::success);
  it::print_region(t, {0x180001000, 0x180000000, page::execute_writecopy,
                       0x5000, mem::commit, page::execute_read, mem::image});
  CHECK(t.str() ==
        "status 0xc000012f STATUS_INVALID_IMAGE_NOT_MZ\n"
        "status 0x00000000 STATUS_SUCCESS\n"
        "0x180001000 0x5000 MEM_COMMIT PAGE_EXECUTE_READ MEM_IMAGE\n");
}

// --- images the builder writes ---------------------------------------------

TEST_CASE("mmkit-image: a PE32+ DLL, every region line at both bases") {
  temp_dir dir;
  const pt::bytes file = pt::build(pt::sample_spec(true)).data;
  const std::string image = write_image(dir, "sample64.dll", file);
  // The layout sample_spec describes: headers, .text, .rdata (2 pages),
  // .data (3), .shared, .bss (3), .reloc.
  const auto lines = [](std::uint64_t b) {
    const auto line = [&](std::uint64_t off, std::uint64_t size,
                          const char* prot) {
      return hex(b + off) + " " + hex(size) + " MEM_COMMIT " + prot +
             " MEM_IMAGE\n";
    };
    return line(0x0000, 0x1000, "PAGE_READONLY") +
           line(0x1000, 0x1000, "PAGE_EXECUTE_READ") +
           line(0x2000, 0x2000, "PAGE_READONLY") +
           line(0x4000, 0x3000, "PAGE_WRITECOPY") +
           line(0x7000, 0x1000, "PAGE_READWRITE") +
           line(0x8000, 0x3000, "PAGE_WRITECOPY") +
           line(0xB000, 0x1000, "PAGE_READONLY");
  };
  const mapped at_base = map_image({}, image, dir);  // x86_64 by default
  CHECK(at_base.result.status == 0);
  CHECK(at_base.result.out ==
        "status 0x00000000 STATUS_SUCCESS\n" + lines(0x180000000));
  CHECK((at_base.dump == pt::expected_image(file, 0x180000000)));

  for (const char* base : {"0x7ff000000000", "7FF000000000"}) {
    const mapped away = map_image({"--base", base}, image, dir);
    CHECK(away.result.status == 0);
    CHECK(away.result.out == "status 0x40000003 STATUS_IMAGE_NOT_AT_BASE\n" +
                                 lines(0x7ff000000000));
    CHECK((away.dump == pt::expected_image(file, 0x7ff000000000)));
    CHECK((away.dump != at_base.dump));  // the fixups moved
  }
  check_both_bases(image, "x86_64", 0x10000);
}

TEST_CASE("mmkit-image: a PE32 DLL on x86_32, padding reserved") {
  temp_dir dir;
  const pt::bytes file = pt::build(pt::sample_spec(false)).data;
  const std::string image = write_image(dir, "sample32.dll", file);
  check_both_bases(image, "x86_32", 0x20000000);

  // SectionAlignment 0x2000: the page after the headers is reserved.
  pt::image_spec s = pt::sample_spec(false);
  s.section_alignment = 0x2000;
  s.relocations = {{0x2008, pt::rel_highlow}, {0x4ffe, pt::rel_highlow}};
  const pt::bytes padded = pt::build(s).data;
  const std::string padded_image = write_image(dir, "padded32.dll", padded);
  const mapped m = map_image({"--arch", "x86_32"}, padded_image, dir);
  CHECK(m.result.status == 0);
  check_tiling(m.lines, 0x10000000, view_size(padded));
  REQUIRE(m.lines.regions.size() >= 2);
  CHECK(m.lines.regions[1].base == 0x10001000);
  CHECK(m.lines.regions[1].size == 0x1000);
  CHECK(m.lines.regions[1].state == "MEM_RESERVE");
  CHECK(m.result.out.find("\n0x10001000 0x1000 MEM_RESERVE 0 MEM_IMAGE\n") !=
        std::string::npos);
  CHECK((m.dump == pt::expected_image(padded, 0x10000000)));  // zeros there
  check_both_bases(padded_image, "x86_32", 0x20000000);
}

TEST_CASE("mmkit-image: the dump reads whatever the protection allows") {
  temp_dir dir;
  pt::image_spec s;
  s.image_base = 0x180000000;
  s.dll = true;
  s.sections = {
      {".xonly", pt::scn_code | pt::scn_execute, pt::pattern(0x300, 5), 0},
      {".none", pt::scn_initialized_data, pt::pattern(0x200, 6), 0},
      {".data", pt::data_flags, pt::pattern(0x100, 7), 0}};
  s.relocations = {{0x1008, pt::rel_dir64}, {0x3010, pt::rel_dir64}};
  const pt::bytes file = pt::build(s).data;
  const std::string image = write_image(dir, "protections.dll", file);
  const mapped m = map_image({"--base", "0x7ff000000000"}, image, dir);
  CHECK(m.result.status == 0);
  CHECK(m.result.out ==
        "status 0x40000003 STATUS_IMAGE_NOT_AT_BASE\n"
        "0x7ff000000000 0x1000 MEM_COMMIT PAGE_READONLY MEM_IMAGE\n"
        "0x7ff000001000 0x1000 MEM_COMMIT PAGE_EXECUTE MEM_IMAGE\n"
        "0x7ff000002000 0x1000 MEM_COMMIT PAGE_NOACCESS MEM_IMAGE\n"
        "0x7ff000003000 0x1000 MEM_COMMIT PAGE_WRITECOPY MEM_IMAGE\n"
        "0x7ff000004000 0x1000 MEM_COMMIT PAGE_READONLY MEM_IMAGE\n");
  // An execute-only page reads (execute implies read, as on the
  // processor); the NOACCESS page cannot be read and is written as zeros.
  pt::bytes expected = pt::expected_image(file, 0x7ff000000000);
  std::fill(expected.begin() + 0x2000, expected.begin() + 0x3000, std::byte{0});
  CHECK((m.dump == expected));
}

// --- the mingw-w64 images ---------------------------------------------------

TEST_CASE("mmkit-image: mingw-w64 images, at their base and at --base") {
#ifdef MMKIT_TEST_PE64_DLL
  check_both_bases(MMKIT_TEST_PE64_DLL, "x86_64", 0x7FF000000000);
#endif
#ifdef MMKIT_TEST_PE64_EXE
  check_both_bases(MMKIT_TEST_PE64_EXE, "x86_64", 0x7FF000000000);
#endif
#ifdef MMKIT_TEST_PE64_BIG_DLL
  check_both_bases(MMKIT_TEST_PE64_BIG_DLL, "x86_64", 0x7FF000000000);
#endif
#ifdef MMKIT_TEST_PE32_DLL
  check_both_bases(MMKIT_TEST_PE32_DLL, "x86_32", 0x20000000);
#endif
#ifdef MMKIT_TEST_PE32_EXE
  check_both_bases(MMKIT_TEST_PE32_EXE, "x86_32", 0x20000000);
#endif
#ifdef MMKIT_TEST_PE32_FIXED_EXE
  {
    // No relocations: at its base only.
    temp_dir dir;
    const pt::bytes file = pt::read_file_bytes(MMKIT_TEST_PE32_FIXED_EXE);
    const mapped m =
        map_image({"--arch", "x86_32"}, MMKIT_TEST_PE32_FIXED_EXE, dir);
    CHECK(m.result.status == 0);
    CHECK(m.lines.status == "status 0x00000000 STATUS_SUCCESS");
    check_tiling(m.lines, 0x400000, view_size(file));
    CHECK((m.dump == pt::expected_image(file, 0x400000)));
    // Elsewhere it cannot go: NT's status, nothing mapped, no dump.
    const mapped away = map_image({"--arch", "x86_32", "--base", "0x20000000"},
                                  MMKIT_TEST_PE32_FIXED_EXE, dir);
    CHECK(away.result.status == 1);
    CHECK(away.result.out ==
          "status 0xc0000018 STATUS_CONFLICTING_ADDRESSES\n");
    CHECK_FALSE(away.dumped);
  }
#endif
#if !defined(MMKIT_TEST_PE64_DLL) && !defined(MMKIT_TEST_PE32_DLL)
  MESSAGE("no mingw-w64 cross compiler: the real images were not built");
#endif
}

// --- what the tool refuses ---------------------------------------------------

TEST_CASE("mmkit-image: files the library refuses get the status line") {
  temp_dir dir;
  // Not a PE file at all.
  const std::string text = dir.file("notes.txt");
  { std::ofstream(text) << "not an image, not even MZ\n"; }
  mapped m = map_image({}, text, dir);
  CHECK(m.result.status == 1);
  CHECK(m.result.out == "status 0xc000012f STATUS_INVALID_IMAGE_NOT_MZ\n");
  CHECK_FALSE(m.dumped);

  // An empty file.
  const std::string empty = write_image(dir, "empty.dll", {});
  m = map_image({}, empty, dir);
  CHECK(m.result.status == 1);
  CHECK(m.result.out == "status 0xc0000020 STATUS_INVALID_FILE_FOR_SECTION\n");
  CHECK_FALSE(m.dumped);

  const std::string image =
      write_image(dir, "sample64.dll", pt::build(pt::sample_spec(true)).data);
  // Another machine's image.
  m = map_image({"--arch", "x86_32"}, image, dir);
  CHECK(m.result.status == 1);
  CHECK(m.result.out == "status 0xc000007b STATUS_INVALID_IMAGE_FORMAT\n");
  CHECK_FALSE(m.dumped);
  // A base NtMapViewOfSection refuses: not 64K-aligned, beyond user space.
  m = map_image({"--base", "0x180001000"}, image, dir);
  CHECK(m.result.status == 1);
  CHECK(m.result.out == "status 0xc0000220 STATUS_MAPPED_ALIGNMENT\n");
  m = map_image({"--base", "0xffff800000000000"}, image, dir);
  CHECK(m.result.status == 1);
  CHECK(m.result.out == "status 0xc00000f1 STATUS_INVALID_PARAMETER_3\n");
  CHECK_FALSE(m.dumped);
}

TEST_CASE("mmkit-image: usage errors and unreadable files keep their cause") {
  temp_dir dir;
  const std::string image =
      write_image(dir, "sample64.dll", pt::build(pt::sample_spec(true)).data);

  const std::string missing = dir.file("none.dll");
  outcome r = run_tool({missing});
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(r.err.find(std::strerror(ENOENT)) != std::string::npos);
  CHECK(r.err.find(missing) != std::string::npos);

  r = run_tool({dir.path});
  CHECK(r.status == 2);
  CHECK(r.err.find(std::strerror(EISDIR)) != std::string::npos);

  r = run_tool({"/dev/null"});
  CHECK(r.status == 2);
  CHECK(r.err.find("not a regular file") != std::string::npos);

  // The dump file cannot be created: the map is reported, then the cause.
  const std::string nowhere = dir.file("no-such-dir/dump.bin");
  r = run_tool({"--dump", nowhere, image});
  CHECK(r.status == 2);
  CHECK(r.out.starts_with("status 0x00000000 STATUS_SUCCESS\n"));
  CHECK(r.err.find("cannot open dump file") != std::string::npos);
  CHECK(r.err.find(std::strerror(ENOENT)) != std::string::npos);

  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{},
        {"--arch", "x86_pae", image},
        {"--arch", "arm64", image},
        {"--base", "zz", image},
        {"--base", "0x", image},
        {"--base", "0x10000000000000000", image},
        {"--dump", "", image},
        {image, "extra"},
        {"--verbose", image},
        {image, "--base"},
        {"--dump"}}) {
    const outcome o = run_tool(bad);
    CHECK(o.status == 2);
    CHECK(o.out.empty());
    CHECK(o.err.find("mmkit-image: ") == 0);
    CHECK(o.err.find("usage: mmkit-image") != std::string::npos);
  }
  r = run_tool({"--help"});
  CHECK(r.status == 0);
  CHECK(r.out.starts_with("usage: mmkit-image [--arch x86_64|x86_32]"));
  CHECK(r.out.find("zeros") != std::string::npos);
  // --opt=value works as well as --opt value.
  r = run_tool({"--arch=x86_64", "--base=0x7ff000000000", image});
  CHECK(r.status == 0);
  CHECK(r.out.starts_with("status 0x40000003 STATUS_IMAGE_NOT_AT_BASE\n"));

#if defined(MMKIT_IMAGE_EXE)
  // The executable's exit status, as a shell sees it.
  const outcome e = run_executable({missing}, dir);
  CHECK(e.status == 2);
  CHECK(e.err.find(std::strerror(ENOENT)) != std::string::npos);
  CHECK(run_executable({"--arch"}, dir).status == 2);
#endif
}

TEST_SUITE_END();
