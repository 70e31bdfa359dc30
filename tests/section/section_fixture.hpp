// What the section tests share: a hosted machine, address spaces of any
// arch on it, and the checks that every test runs after it changes
// something (invariants, share counts against the views, no leaks).
#pragma once

#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace section_test {

using namespace mmkit;
using machine = hosted_system<>;
template <class Arch>
using space = address_space<Arch, hosted_config<>>;

/// A handle with every right, for tests that are not about access.
inline section_handle make_page_file_section(
    machine& sys, std::uint64_t size, std::uint32_t prot = page::readwrite,
    std::uint32_t attrs = sec::commit, const char* name = nullptr) {
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, name, 0, size,
                         prot, attrs) == status::success);
  return h;
}

template <class Space>
vaddr map(Space& as, const section_handle& h, std::uint32_t prot,
          std::uint64_t offset = 0, std::uint64_t size = 0) {
  vaddr base{0};
  REQUIRE(as.map_view(h, base, size, offset, 0, prot) == status::success);
  return base;
}

template <class Space>
std::uint32_t read32(Space& as, vaddr va) {
  std::uint32_t v = 0;
  std::size_t done = 0;
  REQUIRE(as.read(va, &v, sizeof v, done) == status::success);
  return v;
}
template <class Space>
void write32(Space& as, vaddr va, std::uint32_t v) {
  std::size_t done = 0;
  REQUIRE(as.write(va, &v, sizeof v, done) == status::success);
}

/// Adds to `mapped[frame]` one for every valid PTE of `as` that maps a
/// section's shared frame (a view page whose walk ends at the frame its
/// prototype PTE holds).
template <class Space>
void count_shared_mappings(machine& sys, Space& as,
                           std::vector<std::uint64_t>& mapped) {
  for (const vad& v : as.vads()) {
    if (v.private_memory()) continue;
    const auto& mv = as_view(v);
    for (vpn p = v.start();; ++p) {
      const std::uint64_t pp = sys.sections().pool[mv.proto_of(p)];
      const auto t = as.translate(p.address());
      if (t.kind == entry_kind::valid && proto::is_resident(pp) &&
          t.address.frame() == proto::frame_of(pp))
        ++mapped[proto::frame_of(pp).raw()];
      if (p == v.end()) break;
    }
  }
}

/// Whether every resident page of `seg` has share count 1 (its prototype)
/// plus the valid PTEs counted in `mapped`, and a PFN entry linked back.
inline bool shares_match(machine& sys, const segment& seg,
                         const std::vector<std::uint64_t>& mapped) {
  std::uint64_t resident = 0;
  for (std::uint64_t i = 0; i < seg.pages; ++i) {
    const std::uint64_t pp = sys.sections().pool[seg.proto + i];
    if (!proto::is_resident(pp)) continue;
    ++resident;
    const pfn f = proto::frame_of(pp);
    const pfn_entry& e = sys.pfns().entry(f);
    if (e.share_count() != 1 + mapped[f.raw()]) return false;
    if (!(e.link() == pte_link::prototype_pte(seg.proto + i))) return false;
    if (e.state() != page_state::active) return false;
  }
  return resident == seg.resident;
}

/// The system's resources in use, to compare before and after a test.
struct usage {
  std::uint64_t free_frames = 0;  // available
  std::uint64_t commit = 0;
  std::uint64_t uncharged = 0;
  std::uint64_t prototypes = 0;
  std::uint64_t sections = 0;
  friend bool operator==(const usage&, const usage&) = default;
};
inline usage usage_of(machine& sys) {
  return {sys.pfns().available(), sys.commit_charge(), sys.uncharged_frames(),
          sys.sections().pool.in_use(), sys.sections().live};
}

}  // namespace section_test
