// libFuzzer target for saved systems (include/mmkit/emu/saved_system.hpp):
// the input is a saved file. Its trailer is first set to the checksum of
// the rest, so mutations reach the parser and the rebuild rather than
// stopping at the checksum (a test covers the checksum itself). It is
// loaded into two fresh x86_64 spaces of a small system, asking for the
// handles it saved. The target aborts (a crash to libFuzzer) when
//   - the load answers success and a space fails its invariant check, or
//   - the load answers a failure and a space is not empty, fails its
//     invariant check, or a handle came back, or
//   - a section outlives the spaces and the handles the load gave;
// an assert or a sanitizer report inside the loader is a finding too.
//
// The same file builds without libFuzzer into fuzz_saved_system_plain
// (with tests/image/fuzz_pe_main.cpp, which replays inputs and mutations
// of them); tests/fuzz/CMakeLists.txt defines both. Seeds:
// tests/fuzz/corpus_saved_system (small files save_system wrote: two
// x86_64 spaces of private memory; a named section shared by a view and
// a copy-on-write view with a private copy; views of the target's two
// files, below, with a dirty data page and a written image page; sections
// kept by handles alone, saved whole; an AWE region mapping two of its
// space's three user physical pages, saved from a machine like this one,
// so that the frames it names are free here).
//
// The target's files: a data file of 8 pages and a half, and a small DLL
// (tests/image/pe_builder.hpp). A load gets as many of them as the
// input's header asks for (at most both), so a file section's record
// reaches the rebuild. The data file's bytes are put back before each
// load: a loaded section's dirty pages are written to it when it goes.

#include "image/pe_builder.hpp"

#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/emu/saved_system.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace {

using space = mmkit::address_space<mmkit::arch::x86_64, mmkit::hosted_config<>>;

[[noreturn]] void fail(const char* what, std::uint32_t st) {
  std::fprintf(stderr, "fuzz_saved_system: %s (status %#x)\n", what, st);
  std::abort();
}

/// A small machine, made once: every load leaves it as it found it (the
/// spaces go, and with their views the sections).
struct machine {
  static constexpr std::uint64_t frames = 512;
  std::vector<mmkit::pfn_entry> entries = std::vector<mmkit::pfn_entry>(frames);
  std::vector<std::uint64_t> prototypes = std::vector<std::uint64_t>(4096);
  mmkit::system<mmkit::hosted_config<>> sys{
      mmkit::host_memory::create(frames << mmkit::page_shift).value(),
      entries.data(),
      frames,
      0,
      prototypes.data(),
      prototypes.size()};
};

/// The files a saved system's sections may map (see the header comment).
struct files {
  static constexpr std::size_t data_bytes = 8 * mmkit::page_size + 2048;
  std::vector<std::byte> pristine = pattern(data_bytes);
  std::vector<std::byte> data_bytes_now = pristine;
  mmkit::memory_store data_store{data_bytes_now.data(), data_bytes, data_bytes,
                                 true};
  mmkit::file_object data{data_store};
  std::vector<std::byte> dll_bytes = dll();
  mmkit::memory_store dll_store{dll_bytes.data(), dll_bytes.size(),
                                dll_bytes.size(), false};
  mmkit::file_object image{dll_store};

  static std::vector<std::byte> pattern(std::size_t n) {
    std::vector<std::byte> b(n);
    for (std::size_t i = 0; i < n; ++i)
      b[i] = static_cast<std::byte>(i * 7 + (i >> 12));
    return b;
  }
  static std::vector<std::byte> dll() {
    namespace pt = pe_test;
    pt::image_spec s;
    s.pe32_plus = true;
    s.dll = true;
    s.image_base = 0x180000000;
    s.sections = {{".text", pt::text_flags, pattern(0x1200), 0},
                  {".data", pt::data_flags, pattern(0x800), 0x1800}};
    s.relocations = {{0x1010, pt::rel_dir64}, {0x3010, pt::rel_dir64}};
    return pt::build(s).data;
  }
};

/// The number of files the header of `file` asks for (version 2 on), or 0.
std::uint32_t files_asked(const std::vector<std::byte>& file) {
  if (file.size() < 32 || file[8] < std::byte{2}) return 0;
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i)
    n |= std::uint32_t{static_cast<std::uint8_t>(file[28 + i])} << (8 * i);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static machine m;
  std::vector<std::byte> file(size);
  for (std::size_t i = 0; i < size; ++i) file[i] = std::byte{data[i]};
  if (size >= 8) {
    const std::uint64_t h = mmkit::emu::detail::fnv1a(
        std::span<const std::byte>(file).first(size - 8));
    for (int i = 0; i < 8; ++i)
      file[size - 8 + i] = static_cast<std::byte>(h >> (8 * i));
  }
  static files f;
  std::copy(f.pristine.begin(), f.pristine.end(), f.data_bytes_now.begin());
  {
    space a{m.sys};
    space b{m.sys};
    std::vector<mmkit::section_handle> handles;
    mmkit::status st;
    switch (files_asked(file)) {
      case 0:
        st = mmkit::emu::load_system<space>(file, {&a, &b}, {}, &handles);
        break;
      case 1:
        st =
            mmkit::emu::load_system<space>(file, {&a, &b}, {&f.data}, &handles);
        break;
      default:
        st = mmkit::emu::load_system<space>(file, {&a, &b}, {&f.data, &f.image},
                                            &handles);
        break;
    }
    const auto code = static_cast<std::uint32_t>(st);
    if (st == mmkit::status::success) {
      if (!a.check_invariants() || !b.check_invariants())
        fail("a loaded system fails its invariant check", code);
    } else {
      if (a.vads().size() != 0 || b.vads().size() != 0 ||
          a.commit_charge() != 0 || b.commit_charge() != 0 ||
          a.user_physical_pages() != 0 || b.user_physical_pages() != 0 ||
          !handles.empty())
        fail("a failed load left something in the spaces", code);
      if (!a.check_invariants() || !b.check_invariants())
        fail("a failed load broke an invariant", code);
    }
    for (mmkit::section_handle& h : handles) mmkit::close_section(m.sys, h);
  }
  if (m.sys.sections().live != 0 || m.sys.commit_charge() != 0)
    fail("a section outlived its views and handles", 0);
  return 0;
}
