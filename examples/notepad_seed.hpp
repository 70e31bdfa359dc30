#pragma once
// Seed 001's notepad, rebuilt: the user address space of a 32-bit Windows
// XP notepad.exe whose `!vad` listing the seed shows, made with the NT
// calls a process and its loader make, on one simulated x86_32 machine.
// examples/notepad_vad.cpp prints the listing; tests/examples/
// notepad_test.cpp compares it with the seed row by row.
//
// Each row of the listing is one VAD, and each kind of VAD comes from its
// own calls:
//
//   Private READWRITE, Commit n
//       NtAllocateVirtualMemory(MEM_RESERVE) of the row, then MEM_COMMIT of
//       its first n pages (the Commit column counts committed pages).
//   Mapped <prot> "Pagefile section, shared commit 0xN"
//       NtCreateSection with no file, of the row's size and protection.
//       When N is the whole row: SEC_COMMIT. Otherwise SEC_RESERVE, and
//       MEM_COMMIT of N pages through the view: the debugger's "shared
//       commit" is the section's committed pages, which belong to the
//       section (every view sees them), not to the view, whose own Commit
//       is 0. An EXECUTE_READ view needs a section created EXECUTE_READ
//       (a view may not ask for more than its section allows).
//   Mapped READONLY <file name>
//       A read-only data file (the .nls tables), NtCreateSection over it
//       and a READONLY view of the whole file.
//   Mapped Exe EXECUTE_WRITECOPY <image path>, Commit n
//       A PE32 image written here (examples/pe32_writer.hpp): one page of
//       headers, .text (RX) and n pages of .data (RW), SizeOfImage the
//       row's size and ImageBase its start; NtCreateSection(SEC_IMAGE) and
//       a view at the preferred base. The view is charged for its
//       copy-on-write pages, which are exactly the .data pages.
//
// Two rows need more than one call: the single pages at 7ffd4 and 7ffdf
// do not start on a 64 KiB boundary, and MEM_RESERVE rounds a base down
// to 64 KiB, so no one reservation makes either (the system placed them,
// not VirtualAlloc). The same rows come from the user-mode calls by
// carving: reserve the 64 KiB block holding them, commit their pages, then
// MEM_RELEASE the pages between, which trims and splits the reservation
// into one VAD per row. The carving goes first, because the page-file view
// at 7ffa0 ends inside that block (7ffd2).
//
// The node addresses and levels are this process's (host pointers, this
// tree's shape), not the seed's; everything else on a row is the seed's.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_32.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/section/section_dump.hpp>
#include <mmkit/system/hosted_system.hpp>
#include <mmkit/vad/vad_dump.hpp>

#include "pe32_writer.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace notepad {

/// What is behind a row (see the header comment).
enum class backing { private_memory, page_file, data_file, image };

/// One VAD to make: the row of seed 001's listing it reproduces.
struct vad_plan {
  backing kind;
  std::uint32_t start;  ///< first page (VPN), as the Start column
  std::uint32_t end;    ///< last page, inclusive, as the End column
  /// Private and image rows: the Commit column. Page-file rows: the
  /// section's shared commit (the view's own Commit is 0).
  std::uint32_t commit;
  std::uint32_t protect;  ///< the Win32 PAGE_* of the view or reservation
  const char* name;       ///< the file's path (data file and image rows)
};

namespace detail {
inline constexpr auto rw = mmkit::page::readwrite;
inline constexpr auto ro = mmkit::page::readonly;
inline constexpr auto rx = mmkit::page::execute_read;
inline constexpr auto wc = mmkit::page::execute_writecopy;
inline constexpr backing priv = backing::private_memory;
inline constexpr backing pf = backing::page_file;
inline constexpr backing file = backing::data_file;
inline constexpr backing img = backing::image;
}  // namespace detail

/// Seed 001's `!vad` rows, in address order.
inline constexpr vad_plan seed_001[] = {
    {detail::priv, 0x10, 0x10, 1, detail::rw, nullptr},
    {detail::priv, 0x20, 0x20, 1, detail::rw, nullptr},
    {detail::priv, 0x30, 0x3f, 6, detail::rw, nullptr},
    {detail::priv, 0x40, 0x7f, 18, detail::rw, nullptr},
    {detail::pf, 0x80, 0x82, 0x3, detail::ro, nullptr},
    {detail::pf, 0x90, 0x91, 0x2, detail::ro, nullptr},
    {detail::priv, 0xa0, 0x19f, 21, detail::rw, nullptr},
    {detail::priv, 0x1a0, 0x1af, 6, detail::rw, nullptr},
    {detail::pf, 0x1b0, 0x1bf, 0x3, detail::rw, nullptr},
    {detail::file, 0x1c0, 0x1d5, 0, detail::ro,
     "\\WINDOWS\\system32\\unicode.nls"},
    {detail::file, 0x1e0, 0x220, 0, detail::ro,
     "\\WINDOWS\\system32\\locale.nls"},
    {detail::file, 0x230, 0x270, 0, detail::ro,
     "\\WINDOWS\\system32\\sortkey.nls"},
    {detail::file, 0x280, 0x285, 0, detail::ro,
     "\\WINDOWS\\system32\\sorttbls.nls"},
    {detail::pf, 0x290, 0x2d0, 0x41, detail::ro, nullptr},
    {detail::pf, 0x2e0, 0x3a7, 0x4, detail::rx, nullptr},
    {detail::priv, 0x3b0, 0x3bf, 8, detail::rw, nullptr},
    {detail::priv, 0x3c0, 0x3c0, 1, detail::rw, nullptr},
    {detail::priv, 0x3d0, 0x3d0, 1, detail::rw, nullptr},
    {detail::pf, 0x3e0, 0x3e1, 0x2, detail::ro, nullptr},
    {detail::pf, 0x3f0, 0x3f1, 0x2, detail::ro, nullptr},
    {detail::priv, 0x400, 0x40f, 3, detail::rw, nullptr},
    {detail::priv, 0x410, 0x41f, 8, detail::rw, nullptr},
    {detail::priv, 0x420, 0x42f, 4, detail::rw, nullptr},
    {detail::file, 0x430, 0x432, 0, detail::ro,
     "\\WINDOWS\\system32\\ctype.nls"},
    {detail::priv, 0x440, 0x47f, 3, detail::rw, nullptr},
    {detail::pf, 0x480, 0x582, 0x103, detail::ro, nullptr},
    {detail::pf, 0x590, 0x88f, 0x22, detail::rx, nullptr},
    {detail::priv, 0x890, 0x90f, 1, detail::rw, nullptr},
    {detail::pf, 0x910, 0x95f, 0x50, detail::ro, nullptr},
    {detail::pf, 0x960, 0x960, 0x1, detail::rw, nullptr},
    {detail::pf, 0x970, 0x9af, 0x10, detail::rw, nullptr},
    {detail::pf, 0x9b0, 0x9bd, 0xe, detail::rw, nullptr},
    {detail::priv, 0x9c0, 0xabf, 123, detail::rw, nullptr},
    {detail::pf, 0xad0, 0xb4f, 0x7, detail::rw, nullptr},
    {detail::pf, 0xb50, 0xbcf, 0x2, detail::rw, nullptr},
    {detail::img, 0x1000, 0x1012, 3, detail::wc,
     "\\WINDOWS\\system32\\notepad.exe"},
    {detail::img, 0x58fb0, 0x59179, 9, detail::wc,
     "\\WINDOWS\\AppPatch\\AcGenral.dll"},
    {detail::img, 0x5adc0, 0x5adf6, 2, detail::wc,
     "\\WINDOWS\\system32\\uxtheme.dll"},
    {detail::img, 0x5cc30, 0x5cc55, 20, detail::wc,
     "\\WINDOWS\\system32\\shimeng.dll"},
    {detail::img, 0x62c20, 0x62c28, 1, detail::wc,
     "\\WINDOWS\\system32\\lpk.dll"},
    {detail::img, 0x72f70, 0x72f95, 3, detail::wc,
     "\\WINDOWS\\system32\\winspool.drv"},
    {detail::img, 0x73640, 0x7366d, 2, detail::wc,
     "\\WINDOWS\\system32\\MSCTFIME.IME"},
    {detail::img, 0x73fa0, 0x7400a, 16, detail::wc,
     "\\WINDOWS\\system32\\usp10.dll"},
    {detail::img, 0x74680, 0x746cb, 3, detail::wc,
     "\\WINDOWS\\system32\\MSCTF.dll"},
    {detail::img, 0x759d0, 0x75a7e, 3, detail::wc,
     "\\WINDOWS\\system32\\userenv.dll"},
    {detail::img, 0x76300, 0x7631c, 1, detail::wc,
     "\\WINDOWS\\system32\\imm32.dll"},
    {detail::img, 0x76320, 0x76366, 4, detail::wc,
     "\\WINDOWS\\system32\\comdlg32.dll"},
    {detail::img, 0x76990, 0x76acc, 8, detail::wc,
     "\\WINDOWS\\system32\\ole32.dll"},
    {detail::img, 0x76b10, 0x76b39, 2, detail::wc,
     "\\WINDOWS\\system32\\winmm.dll"},
    {detail::img, 0x770f0, 0x7717a, 4, detail::wc,
     "\\WINDOWS\\system32\\oleaut32.dll"},
    {detail::img, 0x77180, 0x77282, 2, detail::wc,
     "\\WINDOWS\\WinSxS\\x86_Microsoft.Windows.Common-Controls_"
     "6595b64144ccf1df_6.0.2600.5512_x-ww_35d4ce83\\comctl32.dll"},
    {detail::img, 0x77bb0, 0x77bc4, 2, detail::wc,
     "\\WINDOWS\\system32\\msacm32.dll"},
    {detail::img, 0x77bd0, 0x77bd7, 1, detail::wc,
     "\\WINDOWS\\system32\\version.dll"},
    {detail::img, 0x77be0, 0x77c37, 7, detail::wc,
     "\\WINDOWS\\system32\\msvcrt.dll"},
    {detail::img, 0x77d10, 0x77d9f, 2, detail::wc,
     "\\WINDOWS\\system32\\user32.dll"},
    {detail::img, 0x77da0, 0x77e48, 5, detail::wc,
     "\\WINDOWS\\system32\\advapi32.dll"},
    {detail::img, 0x77e50, 0x77ee1, 1, detail::wc,
     "\\WINDOWS\\system32\\rpcrt4.dll"},
    {detail::img, 0x77ef0, 0x77f38, 2, detail::wc,
     "\\WINDOWS\\system32\\gdi32.dll"},
    {detail::img, 0x77f40, 0x77fb5, 2, detail::wc,
     "\\WINDOWS\\system32\\shlwapi.dll"},
    {detail::img, 0x77fc0, 0x77fd0, 1, detail::wc,
     "\\WINDOWS\\system32\\secur32.dll"},
    {detail::img, 0x7c800, 0x7c91d, 5, detail::wc,
     "\\WINDOWS\\system32\\kernel32.dll"},
    {detail::img, 0x7c920, 0x7c9b2, 5, detail::wc,
     "\\WINDOWS\\system32\\ntdll.dll"},
    {detail::img, 0x7d590, 0x7dd83, 30, detail::wc,
     "\\WINDOWS\\system32\\shell32.dll"},
    {detail::pf, 0x7f6f0, 0x7f7ef, 0x6, detail::rx, nullptr},
    {detail::pf, 0x7ffa0, 0x7ffd2, 0x33, detail::ro, nullptr},
    {detail::priv, 0x7ffd4, 0x7ffd4, 1, detail::rw, nullptr},  // carved
    {detail::priv, 0x7ffdf, 0x7ffdf, 1, detail::rw, nullptr},  // carved
};

using machine = mmkit::hosted_system<>;
using space = mmkit::address_space<mmkit::arch::x86_32, mmkit::hosted_config<>>;

/// Why build() stopped: the status of the call that failed, the row it
/// was making and which call it was. `row` is null on success.
struct failure {
  mmkit::status why = mmkit::status::success;
  const vad_plan* row = nullptr;
  const char* call = "";
  explicit operator bool() const noexcept { return row != nullptr; }
};

/// The notepad process: a machine, the files its views map, and its
/// address space. Build it once with build(); it lives until destroyed
/// (the views go first, then the files they map, then the machine).
class process {
 public:
  process() = default;
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  /// Effects: makes every row of `plan` (seed 001's by default) with the
  /// NT calls the header comment lists: first the private rows that do
  /// not start on 64 KiB (carved out of their block), then the rest in
  /// address order. Returns: the first failure, or none.
  failure build(const vad_plan* plan = seed_001,
                std::size_t count = std::size(seed_001)) {
    if (as_.creation_status() != mmkit::status::success)
      return {as_.creation_status(), plan, "address_space"};
    for (std::size_t i = 0; i < count; ++i)
      if (is_carved(plan[i]))
        if (failure f = carve(plan, count, plan[i]); f) return f;
    for (std::size_t i = 0; i < count; ++i) {
      const vad_plan& r = plan[i];
      if (is_carved(r)) continue;
      failure f;
      switch (r.kind) {
        case backing::private_memory: f = make_private(r); break;
        case backing::page_file: f = make_page_file_view(r); break;
        case backing::data_file: f = make_data_file_view(r); break;
        case backing::image: f = make_image_view(r); break;
      }
      if (f) return f;
    }
    return {};
  }

  space& address_space() noexcept { return as_; }
  machine& system() noexcept { return sys_; }

  /// The `!vad` listing of the space: header, one line per VAD, summary.
  std::string vad_dump() const {
    std::string text;
    auto out = [&](const char* p, std::size_t n) { text.append(p, n); };
    mmkit::dump_vads(as_.vads(), out, mmkit::section_vad_names{});
    return text;
  }

 private:
  static constexpr std::uint64_t page = mmkit::page_size;
  static constexpr std::uint32_t block_pages =
      mmkit::allocation_granularity / mmkit::page_size;

  /// A file the process maps: its bytes, the store over them, and the
  /// file object sections are made over (pinned: the store points at the
  /// bytes, the file object at the store).
  struct mapped_file {
    std::vector<std::byte> bytes;
    mmkit::memory_store store;
    mmkit::file_object file;
    mapped_file(std::vector<std::byte> b, const char* name)
        : bytes(std::move(b)),
          store(bytes.data(), bytes.size(), bytes.size(), false, name),
          file(store) {}
  };

  static std::uint32_t pages_of(const vad_plan& r) noexcept {
    return r.end - r.start + 1;
  }
  static mmkit::vaddr address_of(std::uint64_t vpn) noexcept {
    return mmkit::vaddr{vpn * page};
  }
  static bool is_carved(const vad_plan& r) noexcept {
    return r.kind == backing::private_memory && r.start % block_pages != 0;
  }

  /// The private rows that share `first`'s 64 KiB block and do not start
  /// on it: reserve the block, commit each row's first `commit` pages,
  /// release every page no row covers.
  failure carve(const vad_plan* plan, std::size_t count,
                const vad_plan& first) {
    const std::uint32_t block = first.start - first.start % block_pages;
    // Carved once, by the block's first row.
    for (std::size_t i = 0; i < count && &plan[i] != &first; ++i)
      if (is_carved(plan[i]) &&
          plan[i].start - plan[i].start % block_pages == block)
        return {};
    mmkit::vaddr base = address_of(block);
    std::uint64_t size = block_pages * page;
    if (auto s = as_.allocate(base, size, mmkit::mem::reserve, first.protect);
        s != mmkit::status::success)
      return {s, &first, "NtAllocateVirtualMemory(MEM_RESERVE)"};
    bool kept[block_pages] = {};
    for (std::size_t i = 0; i < count; ++i) {
      const vad_plan& r = plan[i];
      if (!is_carved(r) || r.start - r.start % block_pages != block) continue;
      if (r.end >= block + block_pages || r.commit > pages_of(r))
        return {mmkit::status::invalid_parameter, &r, "carve"};
      for (std::uint32_t p = r.start; p <= r.end; ++p) kept[p - block] = true;
      if (failure f = commit_private(r); f) return f;
    }
    for (std::uint32_t p = 0; p < block_pages;) {
      if (kept[p]) {
        ++p;
        continue;
      }
      std::uint32_t q = p;
      while (q < block_pages && !kept[q]) ++q;
      mmkit::vaddr at = address_of(block + p);
      std::uint64_t n = (q - p) * page;
      if (auto s = as_.free(at, n, mmkit::mem::release);
          s != mmkit::status::success)
        return {s, &first, "NtFreeVirtualMemory(MEM_RELEASE)"};
      p = q;
    }
    return {};
  }

  /// MEM_COMMIT of the row's first `commit` pages.
  failure commit_private(const vad_plan& r) {
    if (r.commit == 0) return {};
    mmkit::vaddr base = address_of(r.start);
    std::uint64_t size = r.commit * page;
    if (auto s = as_.allocate(base, size, mmkit::mem::commit, r.protect);
        s != mmkit::status::success)
      return {s, &r, "NtAllocateVirtualMemory(MEM_COMMIT)"};
    return {};
  }

  failure make_private(const vad_plan& r) {
    mmkit::vaddr base = address_of(r.start);
    std::uint64_t size = pages_of(r) * page;
    if (auto s = as_.allocate(base, size, mmkit::mem::reserve, r.protect);
        s != mmkit::status::success)
      return {s, &r, "NtAllocateVirtualMemory(MEM_RESERVE)"};
    return commit_private(r);
  }

  /// NtMapViewOfSection of all of `h` at the row's start. Callers close
  /// the handle afterwards: the view keeps the section alive.
  failure map_whole(mmkit::section_handle& h, const vad_plan& r,
                    std::uint32_t protect) {
    mmkit::vaddr base = address_of(r.start);
    std::uint64_t size = 0;
    const mmkit::status s = as_.map_view(h, base, size, 0, 0, protect);
    if (s != mmkit::status::success) return {s, &r, "NtMapViewOfSection"};
    if (base != address_of(r.start) || size != pages_of(r) * page)
      return {mmkit::status::conflicting_addresses, &r, "NtMapViewOfSection"};
    return {};
  }

  failure make_page_file_view(const vad_plan& r) {
    const std::uint32_t pages = pages_of(r);
    if (r.commit == 0 || r.commit > pages)
      return {mmkit::status::invalid_parameter, &r, "plan"};
    const bool whole = r.commit == pages;
    mmkit::section_handle h;
    if (auto s = mmkit::create_section(
            sys_, h, mmkit::section_access::all_access, nullptr, 0,
            pages * page, r.protect,
            whole ? mmkit::sec::commit : mmkit::sec::reserve);
        s != mmkit::status::success)
      return {s, &r, "NtCreateSection"};
    failure f = map_whole(h, r, r.protect);
    if (!f && !whole) {
      // The section's pages are committed through the view, with the
      // view's protection: they count in the section's shared commit.
      mmkit::vaddr base = address_of(r.start);
      std::uint64_t size = r.commit * page;
      if (auto s = as_.allocate(base, size, mmkit::mem::commit, r.protect);
          s != mmkit::status::success)
        f = {s, &r, "NtAllocateVirtualMemory(MEM_COMMIT) in the view"};
    }
    mmkit::close_section(sys_, h);
    return f;
  }

  failure make_data_file_view(const vad_plan& r) {
    // The seed gives the view's pages, not the file's bytes: the file
    // fills them.
    mapped_file& f =
        add_file(std::vector<std::byte>(pages_of(r) * page), r.name);
    mmkit::section_handle h;
    if (auto s = mmkit::create_section(sys_, h, mmkit::section_access::map_read,
                                       nullptr, 0, 0, mmkit::page::readonly,
                                       mmkit::sec::commit, &f.file);
        s != mmkit::status::success)
      return {s, &r, "NtCreateSection(file)"};
    failure fail = map_whole(h, r, r.protect);
    mmkit::close_section(sys_, h);
    return fail;
  }

  /// The PE32 image of an image row: headers, .text (RX), and .data (RW)
  /// of `commit` pages, at the row's start as ImageBase.
  static pe32::bytes image_file(const vad_plan& r) {
    const std::uint32_t data_pages = r.commit;
    const std::uint32_t text_pages = pages_of(r) - 1 - data_pages;
    const bool dll = !std::string_view{r.name}.ends_with(".exe");
    pe32::image img;
    img.image_base = r.start * static_cast<std::uint32_t>(page);
    img.dll = dll;
    img.entry_rva = static_cast<std::uint32_t>(page);  // .text's start
    // .text: DllMain returning TRUE (mov eax, 1; ret 12), or an exe's
    // entry returning 0 (xor eax, eax; ret).
    pe32::bytes code =
        dll ? pe32::bytes{std::byte{0xB8}, std::byte{1}, std::byte{0},
                          std::byte{0},    std::byte{0}, std::byte{0xC2},
                          std::byte{12},   std::byte{0}}
            : pe32::bytes{std::byte{0x33}, std::byte{0xC0}, std::byte{0xC3}};
    img.sections.push_back({".text", pe32::text_flags,
                            text_pages * static_cast<std::uint32_t>(page),
                            std::move(code)});
    // .data: the image's path, as some data to start from.
    const std::string path(r.name);
    pe32::bytes data(path.size() + 1);
    for (std::size_t i = 0; i < path.size(); ++i)
      data[i] = static_cast<std::byte>(path[i]);
    img.sections.push_back({".data", pe32::data_flags,
                            data_pages * static_cast<std::uint32_t>(page),
                            std::move(data)});
    return pe32::write(img);
  }

  failure make_image_view(const vad_plan& r) {
    if (r.protect != mmkit::page::execute_writecopy || r.commit == 0 ||
        r.commit + 2 > pages_of(r))
      return {mmkit::status::invalid_parameter, &r, "plan"};
    mapped_file& f = add_file(image_file(r), r.name);
    mmkit::section_handle h;
    if (auto s = mmkit::create_section(
            sys_, h, mmkit::section_access::all_access, nullptr, 0, 0,
            mmkit::page::execute_writecopy, mmkit::sec::image, &f.file);
        s != mmkit::status::success)
      return {s, &r, "NtCreateSection(SEC_IMAGE)"};
    // Base 0: the image goes to its preferred base (STATUS_SUCCESS, not
    // STATUS_IMAGE_NOT_AT_BASE), which is the row's start.
    mmkit::vaddr base{0};
    std::uint64_t size = 0;
    const mmkit::status s =
        as_.map_view(h, base, size, 0, 0, mmkit::page::execute_writecopy);
    mmkit::close_section(sys_, h);
    if (s != mmkit::status::success)
      return {s, &r, "NtMapViewOfSection(image)"};
    if (base != address_of(r.start) || size != pages_of(r) * page)
      return {mmkit::status::conflicting_addresses, &r,
              "NtMapViewOfSection(image)"};
    return {};
  }

  mapped_file& add_file(std::vector<std::byte> bytes, const char* name) {
    files_.push_back(std::make_unique<mapped_file>(std::move(bytes), name));
    return *files_.back();
  }

  // Declaration order is teardown order reversed: the space (its views)
  // goes before the files they map, and both before the machine.
  machine sys_{64ull << 20, 64ull << 20};
  std::vector<std::unique_ptr<mapped_file>> files_;
  space as_{sys_};
};

}  // namespace notepad
