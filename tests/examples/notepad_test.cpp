// Seed 001's notepad (examples/notepad_seed.hpp): the `!vad` listing of the
// rebuilt address space against the seed's, field by field, and what the
// rows stand for seen through VirtualQuery and the commit charge.
#include "notepad_seed.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace mmkit;

/// One row of a `!vad` listing without its node address and level (which
/// are host pointers and this tree's shape here, the kernel's in the
/// seed).
struct row {
  std::uint64_t start;
  std::uint64_t end;
  std::uint64_t commit;  ///< decimal pages, as the debugger prints it
  std::string kind;      ///< "Private" or "Mapped"
  bool exe;
  std::string protection;
  std::string name;  ///< empty for private memory
};

/// Seed 001, the `!vad` of notepad.exe on 32-bit Windows XP, every row,
/// transcribed column by column (Start, End, Commit, type, Exe,
/// protection, name).
const row seed_rows[] = {
    {0x10, 0x10, 1, "Private", false, "READWRITE", ""},
    {0x20, 0x20, 1, "Private", false, "READWRITE", ""},
    {0x30, 0x3f, 6, "Private", false, "READWRITE", ""},
    {0x40, 0x7f, 18, "Private", false, "READWRITE", ""},
    {0x80, 0x82, 0, "Mapped", false, "READONLY",
     "Pagefile section, shared commit 0x3"},
    {0x90, 0x91, 0, "Mapped", false, "READONLY",
     "Pagefile section, shared commit 0x2"},
    {0xa0, 0x19f, 21, "Private", false, "READWRITE", ""},
    {0x1a0, 0x1af, 6, "Private", false, "READWRITE", ""},
    {0x1b0, 0x1bf, 0, "Mapped", false, "READWRITE",
     "Pagefile section, shared commit 0x3"},
    {0x1c0, 0x1d5, 0, "Mapped", false, "READONLY",
     "\\WINDOWS\\system32\\unicode.nls"},
    {0x1e0, 0x220, 0, "Mapped", false, "READONLY",
     "\\WINDOWS\\system32\\locale.nls"},
    {0x230, 0x270, 0, "Mapped", false, "READONLY",
     "\\WINDOWS\\system32\\sortkey.nls"},
    {0x280, 0x285, 0, "Mapped", false, "READONLY",
     "\\WINDOWS\\system32\\sorttbls.nls"},
    {0x290, 0x2d0, 0, "Mapped", false, "READONLY",
     "Pagefile section, shared commit 0x41"},
    {0x2e0, 0x3a7, 0, "Mapped", false, "EXECUTE_READ",
     "Pagefile section, shared commit 0x4"},
    {0x3b0, 0x3bf, 8, "Private", false, "READWRITE", ""},
    {0x3c0, 0x3c0, 1, "Private", false, "READWRITE", ""},
    {0x3d0, 0x3d0, 1, "Private", false, "READWRITE", ""},
    {0x3e0, 0x3e1, 0, "Mapped", false, "READONLY",
     "Pagefile section, shared commit 0x2"},
    {0x3f0, 0x3f1, 0, "Mapped", false, "READONLY",
     "Pagefile section, shared commit 0x2"},
    {0x400, 0x40f, 3, "Private", false, "READWRITE", ""},
    {0x410, 0x41f, 8, "Private", false, "READWRITE", ""},
    {0x420, 0x42f, 4, "Private", false, "READWRITE", ""},
    {0x430, 0x432, 0, "Mapped", false, "READONLY",
     "\\WINDOWS\\system32\\ctype.nls"},
    {0x440, 0x47f, 3, "Private", false, "READWRITE", ""},
    {0x480, 0x582, 0, "Mapped", false, "READONLY",
     "Pagefile section, shared commit 0x103"},
    {0x590, 0x88f, 0, "Mapped", false, "EXECUTE_READ",
     "Pagefile section, shared commit 0x22"},
    {0x890, 0x90f, 1, "Private", false, "READWRITE", ""},
    {0x910, 0x95f, 0, "Mapped", false, "READONLY",
     "Pagefile section, shared commit 0x50"},
    {0x960, 0x960, 0, "Mapped", false, "READWRITE",
     "Pagefile section, shared commit 0x1"},
    {0x970, 0x9af, 0, "Mapped", false, "READWRITE",
     "Pagefile section, shared commit 0x10"},
    {0x9b0, 0x9bd, 0, "Mapped", false, "READWRITE",
     "Pagefile section, shared commit 0xe"},
    {0x9c0, 0xabf, 123, "Private", false, "READWRITE", ""},
    {0xad0, 0xb4f, 0, "Mapped", false, "READWRITE",
     "Pagefile section, shared commit 0x7"},
    {0xb50, 0xbcf, 0, "Mapped", false, "READWRITE",
     "Pagefile section, shared commit 0x2"},
    {0x1000, 0x1012, 3, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\notepad.exe"},
    {0x58fb0, 0x59179, 9, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\AppPatch\\AcGenral.dll"},
    {0x5adc0, 0x5adf6, 2, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\uxtheme.dll"},
    {0x5cc30, 0x5cc55, 20, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\shimeng.dll"},
    {0x62c20, 0x62c28, 1, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\lpk.dll"},
    {0x72f70, 0x72f95, 3, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\winspool.drv"},
    {0x73640, 0x7366d, 2, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\MSCTFIME.IME"},
    {0x73fa0, 0x7400a, 16, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\usp10.dll"},
    {0x74680, 0x746cb, 3, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\MSCTF.dll"},
    {0x759d0, 0x75a7e, 3, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\userenv.dll"},
    {0x76300, 0x7631c, 1, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\imm32.dll"},
    {0x76320, 0x76366, 4, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\comdlg32.dll"},
    {0x76990, 0x76acc, 8, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\ole32.dll"},
    {0x76b10, 0x76b39, 2, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\winmm.dll"},
    {0x770f0, 0x7717a, 4, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\oleaut32.dll"},
    {0x77180, 0x77282, 2, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\WinSxS\\x86_Microsoft.Windows.Common-Controls_"
     "6595b64144ccf1df_6.0.2600.5512_x-ww_35d4ce83\\comctl32.dll"},
    {0x77bb0, 0x77bc4, 2, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\msacm32.dll"},
    {0x77bd0, 0x77bd7, 1, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\version.dll"},
    {0x77be0, 0x77c37, 7, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\msvcrt.dll"},
    {0x77d10, 0x77d9f, 2, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\user32.dll"},
    {0x77da0, 0x77e48, 5, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\advapi32.dll"},
    {0x77e50, 0x77ee1, 1, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\rpcrt4.dll"},
    {0x77ef0, 0x77f38, 2, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\gdi32.dll"},
    {0x77f40, 0x77fb5, 2, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\shlwapi.dll"},
    {0x77fc0, 0x77fd0, 1, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\secur32.dll"},
    {0x7c800, 0x7c91d, 5, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\kernel32.dll"},
    {0x7c920, 0x7c9b2, 5, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\ntdll.dll"},
    {0x7d590, 0x7dd83, 30, "Mapped", true, "EXECUTE_WRITECOPY",
     "\\WINDOWS\\system32\\shell32.dll"},
    {0x7f6f0, 0x7f7ef, 0, "Mapped", false, "EXECUTE_READ",
     "Pagefile section, shared commit 0x6"},
    {0x7ffa0, 0x7ffd2, 0, "Mapped", false, "READONLY",
     "Pagefile section, shared commit 0x33"},
    {0x7ffd4, 0x7ffd4, 1, "Private", false, "READWRITE", ""},
    {0x7ffdf, 0x7ffdf, 1, "Private", false, "READWRITE", ""},
};

/// The rows of a dump_vads listing: every line between the header and
/// the summary, split into its columns.
std::vector<row> parse_rows(const std::string& text) {
  std::vector<row> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("VAD Level", 0) == 0 || line.rfind("Total VADs", 0) == 0)
      continue;
    std::istringstream cols(line);
    std::string node, level, start, end, commit, word;
    row r{};
    cols >> node >> level >> start >> end >> commit >> r.kind >> word;
    r.start = std::stoull(start, nullptr, 16);
    r.end = std::stoull(end, nullptr, 16);
    r.commit = std::stoull(commit, nullptr, 10);
    r.exe = word == "Exe";
    if (r.exe) cols >> word;
    r.protection = word;
    std::getline(cols, r.name);
    if (!r.name.empty() && r.name.front() == ' ') r.name.erase(0, 1);
    rows.push_back(r);
  }
  return rows;
}

/// The notepad process, built; a failed build stops the test with its
/// row and call.
void build(notepad::process& p) {
  const notepad::failure f = p.build();
  INFO("row ", f.row != nullptr ? f.row->start : 0, ": ", f.call, " ",
       to_string(f.why));
  REQUIRE_FALSE(f);
}

}  // namespace

TEST_SUITE("examples") {
  TEST_CASE("notepad: the !vad rows are seed 001's, row for row") {
    notepad::process p;
    build(p);
    const std::string text = p.vad_dump();
    CAPTURE(text);
    CHECK(text.rfind("VAD Level Start End Commit\n", 0) == 0);
    CHECK(text.find("Total VADs: 67,") != std::string::npos);
    const std::vector<row> rows = parse_rows(text);
    REQUIRE(rows.size() == std::size(seed_rows));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const row& got = rows[i];
      const row& want = seed_rows[i];
      CAPTURE(i);
      CAPTURE(want.start);
      CHECK(got.start == want.start);
      CHECK(got.end == want.end);
      CHECK(got.commit == want.commit);
      CHECK(got.kind == want.kind);
      CHECK(got.exe == want.exe);
      CHECK(got.protection == want.protection);
      CHECK(got.name == want.name);
    }
    CHECK(p.address_space().check_invariants());
  }

  TEST_CASE("notepad: the process is charged its rows' Commit column") {
    // Private rows are charged their committed pages and image views their
    // copy-on-write pages; a page-file view is charged nothing (its shared
    // commit is the section's).
    notepad::process p;
    build(p);
    std::uint64_t total = 0;
    for (const row& r : seed_rows) total += r.commit;
    CHECK(p.address_space().commit_charge() == total);
    CHECK(p.address_space().check_invariants());
  }

  TEST_CASE("notepad: VirtualQuery sees images, views and carved pages") {
    notepad::process p;
    build(p);
    auto& as = p.address_space();
    for (const row& r : seed_rows) {
      CAPTURE(r.start);
      const std::uint64_t base = r.start << page_shift;
      memory_basic_information head;
      REQUIRE(as.query(vaddr{base}, head) == status::success);
      // Every row is its own allocation: the pages at 7ffd4 and 7ffdf too,
      // carved out of their 64 KiB block.
      CHECK(head.allocation_base == base);
      if (r.kind == "Private") {
        CHECK(head.type == mem::private_memory);
        CHECK(head.allocation_protect == page::readwrite);
        CHECK(head.state == mem::commit);
        CHECK(head.region_size == r.commit << page_shift);
      } else if (r.exe) {
        // The headers are read-only, the .data pages (the Commit column)
        // copy-on-write, and the file's first bytes are "MZ".
        CHECK(head.type == mem::image);
        CHECK(head.allocation_protect == page::execute_writecopy);
        CHECK(head.protect == page::readonly);
        char mz[2] = {};
        std::size_t done = 0;
        CHECK(as.read(vaddr{base}, mz, sizeof mz, done) == status::success);
        CHECK((mz[0] == 'M' && mz[1] == 'Z'));
        memory_basic_information data;
        const std::uint64_t data_at = (r.end + 1 - r.commit) << page_shift;
        REQUIRE(as.query(vaddr{data_at}, data) == status::success);
        CHECK(data.base_address == data_at);
        CHECK(data.protect == page::writecopy);
        CHECK(data.region_size == r.commit << page_shift);
      } else {
        CHECK(head.type == mem::mapped);
        CHECK(head.state == mem::commit);
        CHECK(
            r.protection ==
            mm_protection_name(mm_protection::from_win32(head.protect).raw()));
      }
    }
    CHECK(as.check_invariants());
  }

}  // TEST_SUITE
