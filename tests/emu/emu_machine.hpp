// What the emulator tests share: a hosted machine with sections whose
// address spaces report range events to a recording sink that also keeps an
// emulator-style cache of host pointers.
#pragma once

#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/emu/changes.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include "cache_sink.hpp"

#include <cstdint>
#include <map>
#include <vector>

namespace emu_test {

using namespace mmkit;

struct emu_config : hosted_config<> {
  using observer = emu::change_batcher<cache_sink>;
};

/// A system of `frames` frames whose spaces use emu_config, with room for
/// sections.
struct emu_machine {
  explicit emu_machine(std::uint64_t frames)
      : entries(frames),
        prototypes(1 << 16),
        sys(host_memory::create(frames << page_shift).value(), entries.data(),
            frames, 0, prototypes.data(), prototypes.size()) {}
  std::vector<pfn_entry> entries;
  std::vector<std::uint64_t> prototypes;
  mmkit::system<emu_config> sys;
};

template <class Arch>
using emu_space = address_space<Arch, emu_config>;

template <class Space>
vaddr allocate(Space& as, std::uint64_t pages,
               std::uint32_t type = mem::reserve | mem::commit,
               std::uint32_t prot = page::readwrite) {
  vaddr base{0};
  std::uint64_t size = pages << page_shift;
  REQUIRE(as.allocate(base, size, type, prot) == status::success);
  return base;
}

template <class Space>
void poke(Space& as, vaddr va, std::uint32_t value = 0x5A5A) {
  std::size_t done = 0;
  REQUIRE(as.write(va, &value, sizeof value, done) == status::success);
}

template <class Space>
std::uint32_t peek(Space& as, vaddr va) {
  std::uint32_t value = 0;
  std::size_t done = 0;
  REQUIRE(as.read(va, &value, sizeof value, done) == status::success);
  return value;
}

}  // namespace emu_test
