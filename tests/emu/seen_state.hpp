// What the NT calls see of an address space, for tests that compare a
// space before and after (a snapshot restored, a saved system loaded):
// every VirtualQuery region of user space, the bytes of every page a
// user-mode read may see, and the commit charge.
#pragma once

#include <mmkit/address_space.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <map>
#include <vector>

namespace emu_test {

using namespace mmkit;

struct seen_state {
  std::vector<memory_basic_information> regions;
  std::map<std::uint64_t, std::array<std::uint8_t, page_size>> bytes;
  std::uint64_t commit = 0;
};

inline bool same_region(const memory_basic_information& a,
                        const memory_basic_information& b) {
  return a.base_address == b.base_address &&
         a.allocation_base == b.allocation_base &&
         a.allocation_protect == b.allocation_protect &&
         a.region_size == b.region_size && a.state == b.state &&
         a.protect == b.protect && a.type == b.type;
}

/// The state of `as`. Reads fault pages in (A bits, demand-zero frames),
/// as a debugger's reads would; guard and no-access pages are not read.
template <class Space>
seen_state look(Space& as) {
  using Arch = typename Space::core_type::arch_type;
  seen_state s;
  s.commit = as.commit_charge();
  std::uint64_t va = Arch::lowest_user_address;
  while (va <= Arch::highest_user_address) {
    memory_basic_information mbi{};
    REQUIRE(as.query(vaddr{va}, mbi) == status::success);
    if (mbi.state == mem::commit && !(mbi.protect & page::guard) &&
        mbi.protect != page::noaccess) {
      for (std::uint64_t p = 0; p < mbi.region_size; p += page_size) {
        std::array<std::uint8_t, page_size> b{};
        std::size_t done = 0;
        REQUIRE(as.read(vaddr{mbi.base_address + p}, b.data(), page_size,
                        done) == status::success);
        s.bytes[mbi.base_address + p] = b;
      }
    }
    s.regions.push_back(mbi);
    if (mbi.region_size == 0) break;
    va = mbi.base_address + mbi.region_size;
  }
  return s;
}

/// Checks region for region and byte for byte that `now` is `want`.
inline void require_same(const seen_state& now, const seen_state& want) {
  REQUIRE(now.regions.size() == want.regions.size());
  for (std::size_t i = 0; i < want.regions.size(); ++i) {
    CAPTURE(i);
    CAPTURE(want.regions[i].base_address);
    CHECK(same_region(now.regions[i], want.regions[i]));
  }
  CHECK(now.commit == want.commit);
  CHECK(now.bytes.size() == want.bytes.size());
  for (const auto& page : want.bytes) {
    const std::uint64_t va = page.first;  // (clang 14 captures no bindings)
    CAPTURE(va);
    auto it = now.bytes.find(va);
    REQUIRE(it != now.bytes.end());
    CHECK(it->second == page.second);
  }
}

}  // namespace emu_test
