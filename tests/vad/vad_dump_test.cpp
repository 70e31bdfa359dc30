// The notepad.exe VAD tree from a real `!vad` dump (the seed's 32-bit XP
// process), rebuilt as a fixture: every row round-trips through the tree,
// the dump prints the seed's columns, and the DOT export draws the tree.
#include <doctest/doctest.h>
#include <mmkit/vad/vad_dump.hpp>

#include "vad_model.hpp"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

using namespace mmkit;

namespace {

struct seed_row {
  std::uint32_t address;  // the VAD's kernel address in the seed's dump
  unsigned level;         // its depth in NT's tree
  std::uint64_t start, end, commit;
  vad_type type;
  std::uint8_t protection;
  const char* name;  // the backing name, null for private memory
};

// Copied from the seed's `!vad 0x89986468` listing, in its order.
const seed_row notepad_rows[] = {
    {0x8953a9b8, 3, 0x10, 0x10, 1, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x899b56f0, 2, 0x20, 0x20, 1, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x899b55b0, 5, 0x30, 0x3f, 6, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x89521148, 4, 0x40, 0x7f, 18, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x89984880, 3, 0x80, 0x82, 0, vad_type::mapped, mm::readonly,
     "Pagefile section, shared commit 0x3"},
    {0x895191d0, 4, 0x90, 0x91, 0, vad_type::mapped, mm::readonly,
     "Pagefile section, shared commit 0x2"},
    {0x89a63878, 1, 0xa0, 0x19f, 21, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x8997f0a8, 4, 0x1a0, 0x1af, 6, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x899b5a00, 3, 0x1b0, 0x1bf, 0, vad_type::mapped, mm::readwrite,
     "Pagefile section, shared commit 0x3"},
    {0x8952c0a8, 4, 0x1c0, 0x1d5, 0, vad_type::mapped, mm::readonly,
     "\\WINDOWS\\system32\\unicode.nls"},
    {0x899b1870, 2, 0x1e0, 0x220, 0, vad_type::mapped, mm::readonly,
     "\\WINDOWS\\system32\\locale.nls"},
    {0x899b57f0, 4, 0x230, 0x270, 0, vad_type::mapped, mm::readonly,
     "\\WINDOWS\\system32\\sortkey.nls"},
    {0x8997def0, 3, 0x280, 0x285, 0, vad_type::mapped, mm::readonly,
     "\\WINDOWS\\system32\\sorttbls.nls"},
    {0x89986468, 0, 0x290, 0x2d0, 0, vad_type::mapped, mm::readonly,
     "Pagefile section, shared commit 0x41"},
    {0x89527cc0, 5, 0x2e0, 0x3a7, 0, vad_type::mapped, mm::execute_read,
     "Pagefile section, shared commit 0x4"},
    {0x8997c3f8, 6, 0x3b0, 0x3bf, 8, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x8956ac58, 7, 0x3c0, 0x3c0, 1, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x895232a8, 8, 0x3d0, 0x3d0, 1, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x895211c8, 10, 0x3e0, 0x3e1, 0, vad_type::mapped, mm::readonly,
     "Pagefile section, shared commit 0x2"},
    {0x8953a6e0, 9, 0x3f0, 0x3f1, 0, vad_type::mapped, mm::readonly,
     "Pagefile section, shared commit 0x2"},
    {0x89c551b0, 10, 0x400, 0x40f, 3, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x89522b08, 4, 0x410, 0x41f, 8, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x89519150, 3, 0x420, 0x42f, 4, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x899798c8, 4, 0x430, 0x432, 0, vad_type::mapped, mm::readonly,
     "\\WINDOWS\\system32\\ctype.nls"},
    {0x8954b718, 2, 0x440, 0x47f, 3, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x8996f178, 5, 0x480, 0x582, 0, vad_type::mapped, mm::readonly,
     "Pagefile section, shared commit 0x103"},
    {0x8996f218, 4, 0x590, 0x88f, 0, vad_type::mapped, mm::execute_read,
     "Pagefile section, shared commit 0x22"},
    {0x89b09108, 3, 0x890, 0x90f, 1, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x89520ae8, 5, 0x910, 0x95f, 0, vad_type::mapped, mm::readonly,
     "Pagefile section, shared commit 0x50"},
    {0x89520b18, 4, 0x960, 0x960, 0, vad_type::mapped, mm::readwrite,
     "Pagefile section, shared commit 0x1"},
    {0x89981558, 6, 0x970, 0x9af, 0, vad_type::mapped, mm::readwrite,
     "Pagefile section, shared commit 0x10"},
    {0x899b5630, 5, 0x9b0, 0x9bd, 0, vad_type::mapped, mm::readwrite,
     "Pagefile section, shared commit 0xe"},
    {0x899ad850, 7, 0x9c0, 0xabf, 123, vad_type::private_memory, mm::readwrite,
     nullptr},
    {0x899b5a30, 6, 0xad0, 0xb4f, 0, vad_type::mapped, mm::readwrite,
     "Pagefile section, shared commit 0x7"},
    {0x89546d90, 7, 0xb50, 0xbcf, 0, vad_type::mapped, mm::readwrite,
     "Pagefile section, shared commit 0x2"},
    {0x899ba9e0, 1, 0x1000, 0x1012, 3, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\notepad.exe"},
    {0x89527d30, 7, 0x58fb0, 0x59179, 9, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\AppPatch\\AcGenral.dll"},
    {0x89519c60, 8, 0x5adc0, 0x5adf6, 2, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\uxtheme.dll"},
    {0x89527c90, 6, 0x5cc30, 0x5cc55, 20, vad_type::image,
     mm::execute_writecopy, "\\WINDOWS\\system32\\shimeng.dll"},
    {0x8953a6b0, 7, 0x62c20, 0x62c28, 1, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\lpk.dll"},
    {0x89522ad8, 5, 0x72f70, 0x72f95, 3, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\winspool.drv"},
    {0x899b5660, 8, 0x73640, 0x7366d, 2, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\MSCTFIME.IME"},
    {0x899b5970, 7, 0x73fa0, 0x7400a, 16, vad_type::image,
     mm::execute_writecopy, "\\WINDOWS\\system32\\usp10.dll"},
    {0x89518648, 8, 0x74680, 0x746cb, 3, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\MSCTF.dll"},
    {0x895198f8, 6, 0x759d0, 0x75a7e, 3, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\userenv.dll"},
    {0x89979c40, 7, 0x76300, 0x7631c, 1, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\imm32.dll"},
    {0x89a65c70, 4, 0x76320, 0x76366, 4, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\comdlg32.dll"},
    {0x899adb98, 8, 0x76990, 0x76acc, 8, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\ole32.dll"},
    {0x899ad7e0, 7, 0x76b10, 0x76b39, 2, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\winmm.dll"},
    {0x899adbc8, 8, 0x770f0, 0x7717a, 4, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\oleaut32.dll"},
    {0x899b6b38, 6, 0x77180, 0x77282, 2, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\WinSxS\\x86_Microsoft.Windows.Common-Controls_"
     "6595b64144ccf1df_6.0.2600.5512_x-ww_35d4ce83\\comctl32.dll"},
    {0x899add30, 8, 0x77bb0, 0x77bc4, 2, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\msacm32.dll"},
    {0x895180a8, 9, 0x77bd0, 0x77bd7, 1, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\version.dll"},
    {0x89b08508, 7, 0x77be0, 0x77c37, 7, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\msvcrt.dll"},
    {0x895232e8, 8, 0x77d10, 0x77d9f, 2, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\user32.dll"},
    {0x8996f148, 5, 0x77da0, 0x77e48, 5, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\advapi32.dll"},
    {0x899b5690, 6, 0x77e50, 0x77ee1, 1, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\rpcrt4.dll"},
    {0x89b084d8, 8, 0x77ef0, 0x77f38, 2, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\gdi32.dll"},
    {0x89b08478, 9, 0x77f40, 0x77fb5, 2, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\shlwapi.dll"},
    {0x899b5710, 7, 0x77fc0, 0x77fd0, 1, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\secur32.dll"},
    {0x899b5a90, 3, 0x7c800, 0x7c91d, 5, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\kernel32.dll"},
    {0x899848b0, 2, 0x7c920, 0x7c9b2, 5, vad_type::image, mm::execute_writecopy,
     "\\WINDOWS\\system32\\ntdll.dll"},
    {0x899b58e0, 5, 0x7d590, 0x7dd83, 30, vad_type::image,
     mm::execute_writecopy, "\\WINDOWS\\system32\\shell32.dll"},
    {0x899b57c0, 4, 0x7f6f0, 0x7f7ef, 0, vad_type::mapped, mm::execute_read,
     "Pagefile section, shared commit 0x6"},
    {0x89984850, 3, 0x7ffa0, 0x7ffd2, 0, vad_type::mapped, mm::readonly,
     "Pagefile section, shared commit 0x33"},
    {0x89983180, 4, 0x7ffd4, 0x7ffd4, 1, vad_type::private_memory,
     mm::readwrite, nullptr},
    {0x899ad870, 5, 0x7ffdf, 0x7ffdf, 1, vad_type::private_memory,
     mm::readwrite, nullptr},
};

// The seed's lines, verbatim.
const char* const notepad_lines[] = {
    "8953a9b8 3 10 10 1 Private READWRITE",
    "899b56f0 2 20 20 1 Private READWRITE",
    "899b55b0 5 30 3f 6 Private READWRITE",
    "89521148 4 40 7f 18 Private READWRITE",
    "89984880 3 80 82 0 Mapped READONLY Pagefile section, shared commit 0x3",
    "895191d0 4 90 91 0 Mapped READONLY Pagefile section, shared commit 0x2",
    "89a63878 1 a0 19f 21 Private READWRITE",
    "8997f0a8 4 1a0 1af 6 Private READWRITE",
    "899b5a00 3 1b0 1bf 0 Mapped READWRITE Pagefile section, shared commit 0x3",
    "8952c0a8 4 1c0 1d5 0 Mapped READONLY \\WINDOWS\\system32\\unicode.nls",
    "899b1870 2 1e0 220 0 Mapped READONLY \\WINDOWS\\system32\\locale.nls",
    "899b57f0 4 230 270 0 Mapped READONLY \\WINDOWS\\system32\\sortkey.nls",
    "8997def0 3 280 285 0 Mapped READONLY \\WINDOWS\\system32\\sorttbls.nls",
    "89986468 0 290 2d0 0 Mapped READONLY Pagefile section, shared commit 0x41",
    "89527cc0 5 2e0 3a7 0 Mapped EXECUTE_READ Pagefile section, shared commit "
    "0x4",
    "8997c3f8 6 3b0 3bf 8 Private READWRITE",
    "8956ac58 7 3c0 3c0 1 Private READWRITE",
    "895232a8 8 3d0 3d0 1 Private READWRITE",
    "895211c8 10 3e0 3e1 0 Mapped READONLY Pagefile section, shared commit 0x2",
    "8953a6e0 9 3f0 3f1 0 Mapped READONLY Pagefile section, shared commit 0x2",
    "89c551b0 10 400 40f 3 Private READWRITE",
    "89522b08 4 410 41f 8 Private READWRITE",
    "89519150 3 420 42f 4 Private READWRITE",
    "899798c8 4 430 432 0 Mapped READONLY \\WINDOWS\\system32\\ctype.nls",
    "8954b718 2 440 47f 3 Private READWRITE",
    "8996f178 5 480 582 0 Mapped READONLY Pagefile section, shared commit "
    "0x103",
    "8996f218 4 590 88f 0 Mapped EXECUTE_READ Pagefile section, shared commit "
    "0x22",
    "89b09108 3 890 90f 1 Private READWRITE",
    "89520ae8 5 910 95f 0 Mapped READONLY Pagefile section, shared commit 0x50",
    "89520b18 4 960 960 0 Mapped READWRITE Pagefile section, shared commit 0x1",
    "89981558 6 970 9af 0 Mapped READWRITE Pagefile section, shared commit "
    "0x10",
    "899b5630 5 9b0 9bd 0 Mapped READWRITE Pagefile section, shared commit 0xe",
    "899ad850 7 9c0 abf 123 Private READWRITE",
    "899b5a30 6 ad0 b4f 0 Mapped READWRITE Pagefile section, shared commit 0x7",
    "89546d90 7 b50 bcf 0 Mapped READWRITE Pagefile section, shared commit 0x2",
    "899ba9e0 1 1000 1012 3 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\notepad.exe",
    "89527d30 7 58fb0 59179 9 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\AppPatch\\AcGenral.dll",
    "89519c60 8 5adc0 5adf6 2 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\uxtheme.dll",
    "89527c90 6 5cc30 5cc55 20 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\shimeng.dll",
    "8953a6b0 7 62c20 62c28 1 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\lpk.dll",
    "89522ad8 5 72f70 72f95 3 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\winspool.drv",
    "899b5660 8 73640 7366d 2 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\MSCTFIME.IME",
    "899b5970 7 73fa0 7400a 16 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\usp10.dll",
    "89518648 8 74680 746cb 3 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\MSCTF.dll",
    "895198f8 6 759d0 75a7e 3 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\userenv.dll",
    "89979c40 7 76300 7631c 1 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\imm32.dll",
    "89a65c70 4 76320 76366 4 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\comdlg32.dll",
    "899adb98 8 76990 76acc 8 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\ole32.dll",
    "899ad7e0 7 76b10 76b39 2 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\winmm.dll",
    "899adbc8 8 770f0 7717a 4 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\oleaut32.dll",
    "899b6b38 6 77180 77282 2 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\WinSxS\\x86_Microsoft.Windows.Common-Controls_6595b64144ccf1df_"
    "6.0.2600.5512_x-ww_35d4ce83\\comctl32.dll",
    "899add30 8 77bb0 77bc4 2 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\msacm32.dll",
    "895180a8 9 77bd0 77bd7 1 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\version.dll",
    "89b08508 7 77be0 77c37 7 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\msvcrt.dll",
    "895232e8 8 77d10 77d9f 2 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\user32.dll",
    "8996f148 5 77da0 77e48 5 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\advapi32.dll",
    "899b5690 6 77e50 77ee1 1 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\rpcrt4.dll",
    "89b084d8 8 77ef0 77f38 2 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\gdi32.dll",
    "89b08478 9 77f40 77fb5 2 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\shlwapi.dll",
    "899b5710 7 77fc0 77fd0 1 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\secur32.dll",
    "899b5a90 3 7c800 7c91d 5 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\kernel32.dll",
    "899848b0 2 7c920 7c9b2 5 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\ntdll.dll",
    "899b58e0 5 7d590 7dd83 30 Mapped Exe EXECUTE_WRITECOPY "
    "\\WINDOWS\\system32\\shell32.dll",
    "899b57c0 4 7f6f0 7f7ef 0 Mapped EXECUTE_READ Pagefile section, shared "
    "commit 0x6",
    "89984850 3 7ffa0 7ffd2 0 Mapped READONLY Pagefile section, shared commit "
    "0x33",
    "89983180 4 7ffd4 7ffd4 1 Private READWRITE",
    "899ad870 5 7ffdf 7ffdf 1 Private READWRITE",
};

/// A VAD carrying its backing name: the address-space layer's way to add
/// per-VAD fields.
struct named_vad : vad {
  const char* name = nullptr;
};

struct by_name {
  const char* operator()(const named_vad& v) const noexcept { return v.name; }
};
static_assert(VadNamer<by_name, named_vad>);

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}
/// Everything after the first  space-separated columns.
std::string after_columns(const std::string& line, int n) {
  std::size_t pos = 0;
  for (int i = 0; i < n; ++i) pos = line.find(' ', pos) + 1;
  return line.substr(pos);
}

struct notepad_fixture {
  std::vector<named_vad> nodes;
  vad_tree<named_vad> tree;
  notepad_fixture() : nodes(std::size(notepad_rows)) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const seed_row& r = notepad_rows[i];
      static_cast<vad&>(nodes[i]) =
          vad({vpn{r.start}, vpn{r.end}}, r.type, r.protection);
      nodes[i].set_commit_charge(r.commit);
      nodes[i].name = r.name;
      REQUIRE(tree.insert(nodes[i]).ok());
    }
  }
};

}  // namespace

TEST_CASE("vad_dump: notepad rows round-trip through the tree") {
  notepad_fixture fx;
  REQUIRE(fx.tree.size() == std::size(notepad_rows));
  REQUIRE(fx.tree.check_invariants());
  std::size_t i = 0;
  for (const named_vad& v : fx.tree) {  // address order is the seed's order
    const seed_row& r = notepad_rows[i++];
    CAPTURE(r.address);
    CHECK(v.start().raw() == r.start);
    CHECK(v.end().raw() == r.end);
    CHECK(v.commit_charge() == r.commit);
    CHECK(v.type() == r.type);
    CHECK(v.protection() == r.protection);
    CHECK(v.name == r.name);
    // Every page of the row finds its VAD.
    CHECK(fx.tree.find_containing(vpn{r.start}) == &v);
    CHECK(fx.tree.find_containing(vpn{r.end}) == &v);
  }
  // A duplicate of any row conflicts and changes nothing.
  named_vad again;
  static_cast<vad&>(again) =
      vad({vpn{0x7c900}, vpn{0x7c920}}, vad_type::image, mm::execute_writecopy);
  CHECK(fx.tree.insert(again).error() == status::conflicting_addresses);
  CHECK(fx.tree.size() == std::size(notepad_rows));
  CHECK(fx.tree.check_invariants());
}

TEST_CASE("vad_dump: the listing prints the seed's columns") {
  notepad_fixture fx;
  std::string out;
  auto sink = [&](const char* p, std::size_t n) { out.append(p, n); };
  dump_vads(fx.tree, sink, by_name{});
  const auto lines = split(out, '\n');
  REQUIRE(lines.size() == std::size(notepad_rows) + 2);
  CHECK(lines.front() == "VAD Level Start End Commit");
  std::size_t i = 0;
  unsigned deepest = 0;
  std::uint64_t level_sum = 0;
  for (const named_vad& v : fx.tree) {
    const std::string& line = lines[1 + i];
    CAPTURE(line);
    const auto cols = split(line, ' ');
    REQUIRE(cols.size() >= 7);
    // Column 1: the node's address, padded to the host's pointer width.
    CHECK(cols[0].size() == 2 * sizeof(void*));
    CHECK(std::stoull(cols[0], nullptr, 16) ==
          reinterpret_cast<std::uintptr_t>(&v));
    // Column 2: the level. This AVL tree is balanced where NT's was not
    // (the seed reaches level 10 with 67 VADs), so check it against the
    // tree's own shape.
    const unsigned level = static_cast<unsigned>(std::stoul(cols[1]));
    CHECK(level == fx.tree.level_of(v));
    if (const named_vad* l = fx.tree.left_of(v))
      CHECK(fx.tree.level_of(*l) == level + 1);
    if (const named_vad* r = fx.tree.right_of(v))
      CHECK(fx.tree.level_of(*r) == level + 1);
    if (level > deepest) deepest = level;
    level_sum += level;
    // Columns 3..: start, end, commit, type, Exe, protection, name exactly
    // as the seed prints them.
    CHECK(after_columns(line, 2) == after_columns(notepad_lines[i], 2));
    ++i;
  }
  CHECK(deepest <= 7);  // 67 nodes: an AVL tree is at most 8 levels deep
  CHECK(fx.tree.level_of(*fx.tree.root()) == 0);
  CHECK(lines.back() ==
        "Total VADs: 67, average level: " + std::to_string(level_sum / 67) +
            ", maximum depth: " + std::to_string(deepest));
}

TEST_CASE("vad_dump: free-range search on the notepad address space") {
  notepad_fixture fx;
  vad_test::vad_model model;
  for (const seed_row& r : notepad_rows) model.insert(r.start, r.end);
  const vpn_range user{vpn{0x10}, vpn{0x7FFEF}};
  for (std::uint64_t align : {16u, 32u, 256u, 512u}) {
    for (std::uint64_t pages : {1u, 16u, 17u, 0x100u, 0x1000u, 0x30000u}) {
      for (auto dir :
           {search_direction::bottom_up, search_direction::top_down}) {
        CAPTURE(align);
        CAPTURE(pages);
        const auto want = model.find_free(pages, 0x10, 0x7FFEF, dir, align);
        const auto got = fx.tree.find_free_range(pages, user, dir, align);
        REQUIRE(got.ok() == want.has_value());
        if (want) CHECK(got->raw() == *want);
      }
    }
  }
  // The first free 64 KiB block: between the heaps at 0x9c0 and 0xad0.
  CHECK(fx.tree.find_free_range(16, user)->raw() == 0xac0);
  // MEM_TOP_DOWN: XP keeps KUSER_SHARED_DATA at 0x7ffe0000 outside the VAD
  // tree, so the tree alone sees that block as free.
  CHECK(fx.tree.find_free_range(16, user, search_direction::top_down)->raw() ==
        0x7ffe0);
  // Two blocks only fit below the PEB/TEB pages.
  CHECK(fx.tree.find_free_range(32, user, search_direction::top_down)->raw() ==
        0x7ff80);
}

TEST_CASE("vad_dump: the DOT export draws every node and edge") {
  notepad_fixture fx;
  std::string dot;
  auto sink = [&](const char* p, std::size_t n) { dot.append(p, n); };
  export_dot(fx.tree, sink, by_name{});
  CHECK(dot.rfind("digraph vad_tree {\n", 0) == 0);
  CHECK(dot.substr(dot.size() - 2) == "}\n");
  std::size_t boxes = 0, edges = 0, lefts = 0;
  for (const auto& line : split(dot, '\n')) {
    if (line.find(" [label=\"") != std::string::npos &&
        line.find(" -> ") == std::string::npos)
      ++boxes;
    if (line.find(" -> ") != std::string::npos) ++edges;
    if (line.find("[label=\"L\"]") != std::string::npos) ++lefts;
  }
  CHECK(boxes == std::size(notepad_rows));
  CHECK(edges == std::size(notepad_rows) - 1);  // a tree
  std::size_t want_lefts = 0;
  for (const named_vad& v : fx.tree)
    want_lefts += fx.tree.left_of(v) != nullptr;
  CHECK(lefts == want_lefts);
  // Backslashes in file names are escaped for DOT.
  CHECK(dot.find("\\\\WINDOWS\\\\system32\\\\ntdll.dll") != std::string::npos);
  CHECK(dot.find("7c920-7c9b2\\nImage EXECUTE_WRITECOPY commit 5") !=
        std::string::npos);
}

TEST_CASE("vad_dump: number formatting") {
  char b[20];
  CHECK(std::string(b, detail::format_hex(0, b)) == "0");
  CHECK(std::string(b, detail::format_hex(0x7ffdf, b)) == "7ffdf");
  CHECK(std::string(b, detail::format_hex(0xab, b, 8)) == "000000ab");
  CHECK(std::string(b, detail::format_hex(~std::uint64_t{0}, b)) ==
        "ffffffffffffffff");
  CHECK(std::string(b, detail::format_dec(0, b)) == "0");
  CHECK(std::string(b, detail::format_dec(18446744073709551615u, b)) ==
        "18446744073709551615");
}
