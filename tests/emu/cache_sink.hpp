// An emulator's software TLB kept by change notifications: what the emulator
// tests and the emulator fuzz target (tests/fuzz/fuzz_emulator.cpp) share.
// No doctest here, so that a fuzz target can include it.
#pragma once

#include <mmkit/core/address.hpp>
#include <mmkit/emu/changes.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace emu_test {

/// An emulator's software TLB: guest page -> host page and the accesses it
/// was handed out for. Range events that take anything away drop entries.
struct cache_sink {
  struct entry {
    std::byte* page = nullptr;  // host address of the guest page's byte 0
    bool allowed[3] = {false, false, false};  // by mmkit::access
  };
  struct event {
    mmkit::vpn_range range;
    mmkit::emu::change_kind kind;
  };
  std::map<std::uint64_t, entry> cache;
  std::vector<event> events;

  void range_changed(mmkit::vpn_range r, mmkit::emu::change_kind k) noexcept {
    events.push_back({r, k});
    if (mmkit::emu::keeps_pointers(k)) return;
    cache.erase(cache.lower_bound(r.first.raw()),
                cache.upper_bound(r.last.raw()));
  }
};

}  // namespace emu_test
