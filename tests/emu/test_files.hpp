// Files for the emulator tests' file-backed and image sections: bytes in a
// memory store, and a small DLL built by tests/image/pe_builder.hpp.
#pragma once

#include "image/pe_builder.hpp"

#include <mmkit/section/backing_store.hpp>
#include <mmkit/section/section.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace emu_test {

using namespace mmkit;
namespace pt = pe_test;

/// A file a section maps: its bytes in a memory store.
struct test_file {
  test_file(std::vector<std::byte> b, bool writable)
      : bytes(std::move(b)),
        store(bytes.data(), bytes.size(), bytes.size(), writable),
        file(store) {}
  std::vector<std::byte> bytes;
  memory_store store;
  file_object file;
};

/// `n` bytes of a pattern that differs from page to page.
inline std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::byte>(seed + i * 7 + (i >> 12));
  return b;
}

/// A PE32+ DLL: code, writable data, uninitialised data and DIR64 fixups.
inline pt::bytes small_dll() {
  pt::image_spec s;
  s.pe32_plus = true;
  s.dll = true;
  s.image_base = 0x180000000;
  s.sections = {
      {".text", pt::text_flags, pattern(0x1800, 1), 0},
      {".data", pt::data_flags, pattern(0x1000, 3), 0x2400},
      {".bss", pt::bss_flags, {}, 0x2000},
  };
  // .text's page, and .data's first two pages (the second past its raw
  // data: zero, fixed up).
  s.relocations = {{0x1010, pt::rel_dir64},
                   {0x3010, pt::rel_dir64},
                   {0x4010, pt::rel_dir64}};
  return pt::build(s).data;
}

}  // namespace emu_test
