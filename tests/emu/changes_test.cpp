// Change notifications: the batcher's range events (one per run of pages one
// call changed the same way, none for pages that were not valid), and an
// emulator-style cache of host pointers kept by them that never serves a
// stale pointer under random operations.
#include "emu_machine.hpp"

#include <array>
#include <cstring>
#include <random>

using namespace emu_test;

namespace {

using kind = emu::change_kind;

template <class Space>
std::vector<cache_sink::event>& events(Space& as) {
  return as.observer().sink().events;
}

template <class Space>
void protect(Space& as, vaddr va, std::uint64_t pages, std::uint32_t prot) {
  vaddr b = va;
  std::uint64_t size = pages << page_shift;
  std::uint32_t old = 0;
  REQUIRE(as.protect(b, size, prot, old) == status::success);
}

}  // namespace

TEST_SUITE_BEGIN("emu");

TEST_CASE("changes: classify by what a cached pointer relies on") {
  using e32 = std::uint32_t;
  using e64 = std::uint64_t;
  kind k{};
  CHECK_FALSE(emu::classify<e32>(0, 0x1067, k));       // was not valid
  CHECK_FALSE(emu::classify<e32>(0x1067, 0x1067, k));  // no change
  REQUIRE(emu::classify<e32>(0x1067, 0x1080, k));      // transition
  CHECK(k == kind::unmapped);
  REQUIRE(emu::classify<e32>(0x1067, 0x2067, k));
  CHECK(k == kind::remapped);
  REQUIRE(emu::classify<e32>(0x1067, 0x1065, k));  // R/W cleared
  CHECK(k == kind::rights_reduced);
  REQUIRE(emu::classify<e32>(0x1067, 0x1027, k));  // D cleared
  CHECK(k == kind::rights_reduced);
  REQUIRE(emu::classify<e32>(0x1065, 0x1067, k));  // R/W granted
  CHECK(k == kind::rights_changed);
  REQUIRE(emu::classify<e32>(0x1067, 0x1047, k));  // A cleared (aging)
  CHECK(k == kind::rights_changed);
  REQUIRE(emu::classify<e64>(0x1067, 0x1067 | (e64{1} << 63), k));  // XD
  CHECK(k == kind::rights_reduced);
  REQUIRE(emu::classify<e64>(0x1067 | (e64{1} << 63), 0x1067, k));
  CHECK(k == kind::rights_changed);
}

TEST_CASE_TEMPLATE(
    "changes: one call's consecutive pages come as one range, and pages "
    "that were not valid as none",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  emu_machine m{512};
  emu_space<Arch> as{m.sys};
  const vaddr va = allocate(as, 16);
  for (std::uint64_t i = 0; i < 16; ++i) poke(as, va + i * page_size);
  auto& ev = events(as);
  CHECK(ev.empty());  // becoming valid takes nothing away

  protect(as, va, 8, page::readonly);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].range == vpn_range{va.page(), va.page() + 7});
  CHECK(ev[0].kind == kind::rights_reduced);
  ev.clear();
  protect(as, va, 8, page::readwrite);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == kind::rights_changed);
  ev.clear();

  // Decommit 4..15 with 10 and 11 trimmed first: the valid runs 4..9 and
  // 12..15 come as two ranges, the transition pages as none.
  REQUIRE(as.trim(va + 10 * page_size));
  REQUIRE(as.trim(va + 11 * page_size));
  REQUIRE(ev.size() == 2);  // two calls, one page each
  CHECK(ev[0].kind == kind::unmapped);
  ev.clear();
  vaddr b = va + 4 * page_size;
  std::uint64_t size = 12 * page_size;
  REQUIRE(as.free(b, size, mem::decommit) == status::success);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].range == vpn_range{va.page() + 4, va.page() + 9});
  CHECK(ev[1].range == vpn_range{va.page() + 12, va.page() + 15});
  CHECK(ev[0].kind == kind::unmapped);
  CHECK(ev[1].kind == kind::unmapped);
  ev.clear();

  // Committed but never touched: releasing them reports nothing for them.
  const vaddr untouched = allocate(as, 8);
  b = untouched;
  size = 0;
  REQUIRE(as.free(b, size, mem::release) == status::success);
  CHECK(ev.empty());
  b = va;
  size = 0;
  REQUIRE(as.free(b, size, mem::release) == status::success);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].range == vpn_range{va.page(), va.page() + 3});
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE(
    "changes: a cache of host pointers kept by the events never serves a "
    "stale one",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  const unsigned seed = 0xE5u + static_cast<unsigned>(Arch::levels);
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  auto below = [&](std::uint64_t n) { return rng() % n; };

  emu_machine m{1024};
  constexpr std::uint64_t private_pages = 32;
  constexpr std::uint64_t section_pages = 16;
  section_handle h;
  REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0,
                         section_pages * page_size, page::readwrite,
                         sec::commit) == status::success);
  {
    emu_space<Arch> as{m.sys};
    REQUIRE(as.track_dirty(vaddr{Arch::lowest_user_address},
                           std::uint64_t{64} << 20) == status::success);
    auto& cache = as.observer().sink().cache;
    vaddr priv = allocate(as, private_pages, mem::reserve);
    vaddr shared{0}, copy{0};
    std::uint64_t size = 0;
    REQUIRE(as.map_view(h, shared, size, 0, 0, page::readwrite) ==
            status::success);
    auto map_copy = [&] {
      vaddr c{0};
      std::uint64_t s = 0;
      REQUIRE(as.map_view(h, c, s, 0, 0, page::writecopy) == status::success);
      return c;
    };
    copy = map_copy();

    // A second cache that trusts only the generation: emptied whenever it
    // moves.
    std::map<std::uint64_t, std::byte*> by_generation;
    std::uint64_t seen_generation = as.change_generation();

    const std::array<std::uint32_t, 7> private_prots = {
        page::readonly,
        page::readwrite,
        page::noaccess,
        page::execute_read,
        page::execute_readwrite,
        page::readwrite | page::guard,
        page::execute};
    const std::array<std::uint32_t, 4> view_prots = {
        page::readonly, page::writecopy, page::noaccess,
        page::execute_writecopy};

    auto random_page = [&]() -> vaddr {
      switch (below(3)) {
        case 0: return priv + below(private_pages) * page_size;
        case 1: return shared + below(section_pages) * page_size;
        default: return copy + below(section_pages) * page_size;
      }
    };
    std::uint64_t hits = 0, fills = 0;

    for (int step = 0; step < 6000; ++step) {
      CAPTURE(step);
      // Three steps in four are accesses, the rest change the space.
      const std::uint64_t op = below(4) != 0 ? 0 : 45 + below(55);
      if (op < 45) {
        // A cached access, checked against a fresh host_page_of.
        const vaddr va = random_page() + below(page_size);
        const auto acc = static_cast<mmkit::access>(below(3));
        const std::uint64_t page = va.page().raw();
        auto it = cache.find(page);
        const bool hit =
            it != cache.end() && it->second.allowed[static_cast<int>(acc)];
        std::byte* cached = hit ? it->second.page + va.page_offset() : nullptr;
        auto g = by_generation.find(page);
        std::byte* by_gen = g != by_generation.end() &&
                                    acc == mmkit::access::read &&
                                    seen_generation == as.change_generation()
                                ? g->second + va.page_offset()
                                : nullptr;
        auto fresh = as.host_page_of(va, acc);
        if (hit) {
          ++hits;
          REQUIRE(fresh.ok());  // the cache served a page that faults
          CHECK(fresh->pointer == cached);
        }
        if (by_gen != nullptr) {
          REQUIRE(fresh.ok());
          CHECK(fresh->pointer == by_gen);
        }
        if (!fresh.ok()) continue;
        ++fills;
        std::byte* base = fresh->pointer - va.page_offset();
        auto& e = cache[page];
        // An entry that outlived a remap would name another frame.
        CHECK((e.page == nullptr || e.page == base));
        e.page = base;
        e.allowed[static_cast<int>(acc)] = true;
        if (seen_generation != fresh->generation) {
          by_generation.clear();
          seen_generation = fresh->generation;
        }
        by_generation[page] = base;
        if (acc == mmkit::access::write) {
          const auto value = static_cast<std::uint8_t>(rng());
          std::memcpy(fresh->pointer, &value, 1);
          std::uint8_t back = 0;
          std::size_t done = 0;
          REQUIRE(as.read(va, &back, 1, done) == status::success);
          CHECK(back == value);
        }
      } else if (op < 53) {
        vaddr b = priv + below(private_pages) * page_size;
        std::uint64_t s = (1 + below(8)) * page_size;
        (void)as.allocate(b, s, mem::commit, page::readwrite);
      } else if (op < 58) {
        vaddr b = priv + below(private_pages) * page_size;
        std::uint64_t s = (1 + below(8)) * page_size;
        (void)as.free(b, s, mem::decommit);
      } else if (op < 67) {
        vaddr b = priv + below(private_pages) * page_size;
        std::uint64_t s = (1 + below(8)) * page_size;
        std::uint32_t old = 0;
        (void)as.protect(b, s, private_prots[below(private_prots.size())], old);
      } else if (op < 71) {
        vaddr b = copy + below(section_pages) * page_size;
        std::uint64_t s = (1 + below(4)) * page_size;
        std::uint32_t old = 0;
        (void)as.protect(b, s, view_prots[below(view_prots.size())], old);
      } else if (op < 78) {
        (void)as.trim(random_page());
      } else if (op < 80) {
        (void)as.trim_working_set(1 + below(16));
      } else if (op < 86) {
        const std::uint32_t value = static_cast<std::uint32_t>(rng());
        std::size_t done = 0;
        (void)as.write(shared + below(section_pages) * page_size, &value,
                       sizeof value, done);
      } else if (op < 88) {
        vaddr b = priv;
        std::uint64_t s = 0;
        REQUIRE(as.free(b, s, mem::release) == status::success);
        priv = allocate(as, private_pages, mem::reserve);
      } else if (op < 90) {
        REQUIRE(as.unmap_view(copy) == status::success);
        copy = map_copy();
      } else if (op < 95) {
        std::array<vaddr, 64> out{};
        std::uint64_t count = out.size();
        const vaddr b = random_page();
        REQUIRE(as.query_dirty(b, (1 + below(16)) * page_size, out.data(),
                               count, dirty_reset::yes) == status::success);
      } else {
        // Reads and writes the emulator did not cache.
        std::uint32_t value = 0;
        std::size_t done = 0;
        const vaddr va = random_page();
        if (below(2) == 0)
          (void)as.read(va, &value, sizeof value, done);
        else
          (void)as.write(va, &value, sizeof value, done);
      }
      if (step % 500 == 0) REQUIRE(as.check_invariants());
    }
    MESSAGE("cache hits " << hits << ", fills " << fills);
    CHECK(hits > 400);
    CHECK(as.check_invariants());
  }
  close_section(m.sys, h);
}

TEST_SUITE_END();
