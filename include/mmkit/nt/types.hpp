#pragma once
// The vocabulary of the NT virtual-memory calls: MEM_* values,
// MEMORY_BASIC_INFORMATION.
//
// The MEM_* values equal Windows' own constants so that an emulator can pass
// a guest's flAllocationType / FreeType straight through.

#include <cstdint>

namespace mmkit {

/// MEM_* allocation, free, state and type values (winnt.h).
namespace mem {
inline constexpr std::uint32_t commit = 0x1000;
inline constexpr std::uint32_t reserve = 0x2000;
inline constexpr std::uint32_t decommit = 0x4000;
inline constexpr std::uint32_t release = 0x8000;
inline constexpr std::uint32_t free = 0x10000;            // a State value
inline constexpr std::uint32_t private_memory = 0x20000;  // MEM_PRIVATE
inline constexpr std::uint32_t mapped = 0x40000;
inline constexpr std::uint32_t reset = 0x80000;
inline constexpr std::uint32_t top_down = 0x100000;
inline constexpr std::uint32_t write_watch = 0x200000;
inline constexpr std::uint32_t physical = 0x400000;
inline constexpr std::uint32_t rotate = 0x800000;
inline constexpr std::uint32_t reset_undo = 0x1000000;
inline constexpr std::uint32_t image = 0x1000000;  // a Type value
inline constexpr std::uint32_t large_pages = 0x20000000;
}  // namespace mem

/// NtMapViewOfSection's InheritDisposition (SECTION_INHERIT): whether a
/// fork of the space maps the view in the child too.
namespace section_inherit {
inline constexpr std::uint32_t view_share = 1;  // the child maps it too
inline constexpr std::uint32_t view_unmap = 2;  // the child does not
}  // namespace section_inherit

/// MEMORY_BASIC_INFORMATION, with addresses and sizes widened to 64 bits for
/// every arch.
struct memory_basic_information {
  std::uint64_t base_address = 0;
  std::uint64_t allocation_base = 0;
  std::uint32_t allocation_protect = 0;
  std::uint64_t region_size = 0;
  std::uint32_t state = 0;    // mem::commit, mem::reserve or mem::free
  std::uint32_t protect = 0;  // PAGE_* of the region (0 unless committed)
  std::uint32_t type = 0;     // mem::private_memory, mem::mapped, mem::image
  friend constexpr bool operator==(const memory_basic_information&,
                                   const memory_basic_information&) = default;
};

}  // namespace mmkit
