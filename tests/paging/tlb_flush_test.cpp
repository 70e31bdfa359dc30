// Flushes of the software TLB and the paging-structure cache by generation:
// after flush() no earlier entry is returned, after flush_non_global() only
// the global ones are, through many generations and the wrap-around of the
// generation counter; invalidate() and invalidate_range() stay exact
// whatever the generation of an entry. Randomized against a model.
#include "test_memory.hpp"

#include <mmkit/arch/all.hpp>
#include <mmkit/paging/translator.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <tuple>

using namespace mmkit;

namespace {

alignas(4096) std::byte host_pages[16][4096];

/// What the TLB must return for a (mode, page): exactly this entry.
struct model_entry {
  unsigned host;
  bool write, execute, global;
};
using model_key = std::tuple<unsigned, std::uint64_t>;  // mode, page

std::byte* expected(const std::map<model_key, model_entry>& model,
                    std::uint64_t page, cpu_mode mode, mmkit::access acc) {
  const auto it = model.find({static_cast<unsigned>(mode), page});
  if (it == model.end()) return nullptr;
  if (acc == mmkit::access::write && !it->second.write) return nullptr;
  if (acc == mmkit::access::execute && !it->second.execute) return nullptr;
  return host_pages[it->second.host];
}

/// The TLB holds exactly the model: every entry it reports is in the model
/// with the same rights and host page, and the counts agree.
template <class Tlb>
void check_against(const Tlb& tlb,
                   const std::map<model_key, model_entry>& model) {
  CHECK(tlb.check_invariants());
  CHECK(tlb.debug_valid_entries() == model.size());
  std::size_t seen = 0;
  tlb.debug_for_each([&](vaddr page, cpu_mode mode, bool write, bool execute,
                         std::byte* host) {
    ++seen;
    const auto it =
        model.find({static_cast<unsigned>(mode), page.raw() >> page_shift});
    REQUIRE(it != model.end());
    CHECK(write == it->second.write);
    CHECK(execute == it->second.execute);
    CHECK(host == host_pages[it->second.host]);
  });
  CHECK(seen == model.size());
}

template <class A, class G = direct_mapped_tlb>
using translator_t =
    translator<A, buffer_memory, simple_frame_source<buffer_memory>, G>;

// Frames [0, 64) hold tables, [64, 256) data.
constexpr std::uint64_t data_first = 64;

}  // namespace

TEST_SUITE_BEGIN("paging");

TEST_CASE_TEMPLATE("tlb: randomized flushes, invalidations and lookups", G,
                   tlb_geometry<16, 1>, tlb_geometry<8, 4>,
                   tlb_geometry<2, 2>) {
  using tlb_t = software_tlb<G>;
  constexpr std::uint64_t universe = G::sets * G::ways;
  // At most `ways` pages per set, so a fill never evicts a valid entry and
  // the TLB must agree with the model exactly. The second universe ends at
  // the last page number, whose page bits are those of invalid_tag.
  const std::uint64_t bases[] = {0x100, (std::uint64_t{1} << 52) - universe};
  const std::uint64_t starts[] = {0, tlb_t::max_generation - 40,
                                  tlb_t::max_generation};
  unsigned seed = 11;
  for (const std::uint64_t base : bases) {
    for (const std::uint64_t start : starts) {
      ++seed;
      CAPTURE(seed);
      CAPTURE(base);
      CAPTURE(start);
      auto tlb = std::make_unique<tlb_t>();
      tlb->debug_restart_at(start);
      CHECK(tlb->debug_generation() == start);
      std::map<model_key, model_entry> model;
      std::mt19937_64 rng(seed);
      bool wrapped = false;
      for (int op = 0; op < 4000; ++op) {
        CAPTURE(op);
        const std::uint64_t page = base + rng() % universe;
        const auto mode = static_cast<cpu_mode>(rng() % 2);
        const auto kind = rng() % 16;
        if (kind < 6) {
          const model_entry e{static_cast<unsigned>(rng() % 16), rng() % 2 == 0,
                              rng() % 2 == 0, rng() % 4 == 0};
          tlb->fill(vaddr{(page << page_shift) | (rng() & page_offset_mask)},
                    host_pages[e.host], e.write, e.execute, e.global, mode);
          model[{static_cast<unsigned>(mode), page}] = e;
        } else if (kind == 6) {
          const std::uint64_t before = tlb->debug_generation();
          tlb->flush();
          wrapped |= tlb->debug_generation() < before;
          model.clear();
        } else if (kind == 7) {
          const std::uint64_t before = tlb->debug_generation();
          tlb->flush_non_global();
          wrapped |= tlb->debug_generation() < before;
          std::erase_if(model,
                        [](const auto& kv) { return !kv.second.global; });
        } else if (kind == 8) {
          tlb->invalidate(vaddr{(page << page_shift) | (rng() % page_size)});
          model.erase({0u, page});
          model.erase({1u, page});
        } else if (kind == 9) {
          // A range of up to universe + 2 pages from `page`, unaligned ends.
          const std::uint64_t last_page = std::min(
              page + rng() % (universe + 2), (std::uint64_t{1} << 52) - 1);
          const std::uint64_t first = (page << page_shift) | (rng() % 4096);
          const std::uint64_t end =
              (last_page << page_shift) + 1 + rng() % 4095;
          tlb->invalidate_range(vaddr{first}, end - first);
          std::erase_if(model, [&](const auto& kv) {
            const std::uint64_t p = std::get<1>(kv.first);
            return p >= page && p <= last_page;
          });
        } else {
          for (unsigned a = 0; a < 3; ++a) {
            const auto acc = static_cast<mmkit::access>(a);
            CAPTURE(a);
            std::byte* want = expected(model, page, mode, acc);
            const vaddr at{(page << page_shift) | 0x123};
            CHECK(tlb->lookup(at, acc, mode) ==
                  (want == nullptr ? nullptr : want + 0x123));
            // hit() is the current generation only; anything else it
            // returns must be what the model holds.
            const std::uintptr_t* h = tlb->hit(at, acc, mode);
            if (h != nullptr)
              CHECK(tlb_t::host_address(*h, at) == want + 0x123);
          }
          // An 8-byte access: within the page it hits, across it misses.
          std::byte* want = expected(model, page, mode, mmkit::access::read);
          CHECK(tlb->template lookup<8>(vaddr{(page << page_shift) | 0xFF8},
                                        mmkit::access::read, mode) ==
                (want == nullptr ? nullptr : want + 0xFF8));
          CHECK(tlb->template lookup<8>(vaddr{(page << page_shift) | 0xFFC},
                                        mmkit::access::read, mode) == nullptr);
        }
        if (op % 64 == 0) check_against(*tlb, model);
      }
      check_against(*tlb, model);
      if (start == tlb_t::max_generation) CHECK(wrapped);
    }
  }
}

TEST_CASE(
    "tlb: every earlier entry misses after a flush, over many generations") {
  using tlb_t = software_tlb<tlb_geometry<4, 2>>;
  tlb_t tlb;
  // Two full turns of the generation counter and a few more flushes.
  const std::uint64_t flushes = 2 * (tlb_t::max_generation + 1) + 7;
  unsigned wraps = 0;
  for (std::uint64_t g = 0; g < flushes; ++g) {
    const vaddr user{0x5000 + (g % 8) * page_size};
    const vaddr kernel{0x9000 + (g % 8) * page_size};
    std::byte* const host = host_pages[g % 16];
    tlb.fill(user, host, true, false, false, cpu_mode::user);
    tlb.fill(kernel, host, false, true, g % 3 == 0, cpu_mode::kernel);
    if (tlb.lookup(user, mmkit::access::write, cpu_mode::user) != host ||
        tlb.lookup(kernel, mmkit::access::execute, cpu_mode::kernel) != host)
      FAIL("a fill did not hit, flush " << g);
    const std::uint64_t before = tlb.debug_generation();
    tlb.flush();
    wraps += tlb.debug_generation() < before;
    // Nothing filled before the flush is returned, by any lookup.
    for (std::uint64_t p = 0; p < 8; ++p) {
      for (const cpu_mode m : {cpu_mode::user, cpu_mode::kernel}) {
        if (tlb.lookup(vaddr{0x5000 + p * page_size}, mmkit::access::read, m) !=
                nullptr ||
            tlb.lookup(vaddr{0x9000 + p * page_size}, mmkit::access::read, m) !=
                nullptr)
          FAIL("an entry survived flush " << g);
      }
    }
    if (tlb.debug_valid_entries() != 0) FAIL("entries left after flush " << g);
  }
  CHECK(wraps == 2);
  CHECK(tlb.check_invariants());
}

TEST_CASE(
    "tlb: flush_non_global keeps global entries through the wrap-around") {
  using tlb_t = software_tlb<tlb_geometry<8, 2>>;
  auto tlb = std::make_unique<tlb_t>();
  tlb->debug_restart_at(tlb_t::max_generation - 3);
  const vaddr global_user{0x1000}, global_kernel{0x2000};
  const vaddr plain_user{0x3000}, plain_kernel{0x4000};
  // A global page dropped by flush() stays dropped, the wrap-around too.
  const vaddr dropped{0x6000};
  tlb->fill(dropped, host_pages[6], true, true, true, cpu_mode::user);
  tlb->flush();
  tlb->fill(global_user, host_pages[1], true, true, true, cpu_mode::user);
  tlb->fill(global_kernel, host_pages[2], false, true, true, cpu_mode::kernel);
  bool wrapped = false;
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    tlb->fill(plain_user, host_pages[3], true, false, false, cpu_mode::user);
    tlb->fill(plain_kernel, host_pages[4], true, false, false,
              cpu_mode::kernel);
    CHECK(tlb->debug_valid_entries() == 4);
    const std::uint64_t before = tlb->debug_generation();
    tlb->flush_non_global();
    const bool wrapped_now = tlb->debug_generation() < before;
    wrapped |= wrapped_now;
    CHECK(tlb->debug_valid_entries() == 2);
    CHECK(tlb->lookup(dropped, mmkit::access::read, cpu_mode::user) == nullptr);
    CHECK(tlb->lookup(plain_user, mmkit::access::read, cpu_mode::user) ==
          nullptr);
    CHECK(tlb->lookup(plain_kernel, mmkit::access::read, cpu_mode::kernel) ==
          nullptr);
    // The global entries answer lookup() at once, with their rights ...
    CHECK(tlb->lookup(global_user + 8, mmkit::access::write, cpu_mode::user) ==
          host_pages[1] + 8);
    CHECK(tlb->lookup(global_kernel, mmkit::access::write, cpu_mode::kernel) ==
          nullptr);
    CHECK(tlb->lookup(global_kernel, mmkit::access::execute,
                      cpu_mode::kernel) == host_pages[2]);
    // ... and the miss path brings them into the current generation, where
    // the inline hit() sees them. A kind they do not allow stays a miss.
    // The wrap-around moves them there at once.
    if (wrapped_now) {
      CHECK_FALSE(tlb->may_revive(cpu_mode::user));
      CHECK(tlb->hit(global_user, mmkit::access::read, cpu_mode::user) !=
            nullptr);
      CHECK(tlb->hit(global_kernel, mmkit::access::read, cpu_mode::kernel) !=
            nullptr);
    } else if (round % 2 == 0) {
      CHECK(tlb->may_revive(cpu_mode::user));
      CHECK(tlb->hit(global_user, mmkit::access::read, cpu_mode::user) ==
            nullptr);
      const std::uintptr_t* a =
          tlb->revive(global_user, mmkit::access::write, cpu_mode::user);
      REQUIRE(a != nullptr);
      CHECK(tlb_t::host_address(*a, global_user) == host_pages[1]);
      CHECK(tlb->hit(global_user, mmkit::access::read, cpu_mode::user) !=
            nullptr);
      CHECK(tlb->revive(global_kernel, mmkit::access::write,
                        cpu_mode::kernel) == nullptr);
      CHECK(tlb->hit(global_kernel, mmkit::access::execute, cpu_mode::kernel) !=
            nullptr);
      // A page that is not cached, or not global, is not revived.
      CHECK(tlb->revive(plain_user, mmkit::access::read, cpu_mode::user) ==
            nullptr);
      CHECK(tlb->revive(vaddr{0x7000}, mmkit::access::read, cpu_mode::user) ==
            nullptr);
    }
    CHECK(tlb->debug_valid_entries() == 2);
  }
  CHECK(wrapped);
  tlb->flush();
  CHECK(tlb->debug_valid_entries() == 0);
  CHECK_FALSE(tlb->may_revive(cpu_mode::user));
  CHECK(tlb->lookup(global_user, mmkit::access::read, cpu_mode::user) ==
        nullptr);
  CHECK(tlb->lookup(global_kernel, mmkit::access::read, cpu_mode::kernel) ==
        nullptr);
  // A global entry filled after flush() survives the next
  // flush_non_global(); one filled before it does not come back.
  tlb->fill(global_user, host_pages[5], false, false, true, cpu_mode::user);
  tlb->flush_non_global();
  CHECK(tlb->lookup(global_user, mmkit::access::read, cpu_mode::user) ==
        host_pages[5]);
  CHECK(tlb->lookup(global_kernel, mmkit::access::read, cpu_mode::kernel) ==
        nullptr);
  CHECK(tlb->check_invariants());
}

TEST_CASE("tlb: invalidate after a flush is exact") {
  software_tlb<tlb_geometry<4, 2>> tlb;
  // A and B share set 1; C is in set 2.
  const vaddr a{0x1000}, b{0x5000}, c{0x2000};
  tlb.fill(a, host_pages[1], true, false, true, cpu_mode::user);
  tlb.fill(b, host_pages[2], true, false, false, cpu_mode::user);
  tlb.flush_non_global();
  // B refilled in the new generation, A dormant beside it.
  tlb.fill(b, host_pages[3], false, false, false, cpu_mode::user);
  CHECK(tlb.debug_valid_entries() == 2);
  tlb.invalidate(a);
  CHECK(tlb.lookup(a, mmkit::access::read, cpu_mode::user) == nullptr);
  CHECK(tlb.revive(a, mmkit::access::read, cpu_mode::user) == nullptr);
  CHECK(tlb.lookup(b, mmkit::access::read, cpu_mode::user) == host_pages[3]);
  CHECK(tlb.debug_valid_entries() == 1);
  // A stale entry of B's page is gone too: one entry per page.
  tlb.invalidate(b);
  CHECK(tlb.lookup(b, mmkit::access::read, cpu_mode::user) == nullptr);
  CHECK(tlb.debug_valid_entries() == 0);
  // A page refilled after flush() with another host page: the new one, and
  // invalidate drops it without touching its neighbour.
  tlb.fill(c, host_pages[4], true, true, false, cpu_mode::kernel);
  tlb.flush();
  tlb.fill(c, host_pages[5], true, true, false, cpu_mode::kernel);
  tlb.fill(a, host_pages[6], true, true, true, cpu_mode::kernel);
  CHECK(tlb.lookup(c, mmkit::access::write, cpu_mode::kernel) == host_pages[5]);
  tlb.invalidate(c);
  CHECK(tlb.lookup(c, mmkit::access::read, cpu_mode::kernel) == nullptr);
  CHECK(tlb.lookup(a, mmkit::access::read, cpu_mode::kernel) == host_pages[6]);
  // invalidate_range drops dormant global entries as well, so they do not
  // come back.
  tlb.flush_non_global();
  tlb.invalidate_range(vaddr{0}, 0x100000);
  CHECK(tlb.lookup(a, mmkit::access::read, cpu_mode::kernel) == nullptr);
  CHECK(tlb.debug_valid_entries() == 0);
  CHECK(tlb.check_invariants());
}

TEST_CASE("paging-structure cache: flushes through the wrap-around") {
  using cache_t = paging_structure_cache<arch::x86_64, 4>;
  using W = arch::x86_64::entry_type;
  alignas(4096) static W tables[3][512];
  auto cache = std::make_unique<cache_t>();
  cache->debug_restart_at(cache_t::max_generation - 2);
  const vaddr r1{0x40000000}, r2{0x40200000};
  bool wrapped = false;
  for (int round = 0; round < 8; ++round) {
    CAPTURE(round);
    cache->fill(r1, tables[round % 3], ~W{0}, 0);
    cache->fill(r2, tables[(round + 1) % 3], ~W{0}, 0);
    REQUIRE(cache->find(r1 + 0x1234) != nullptr);
    CHECK(cache->find(r1)->table == tables[round % 3]);
    CHECK(cache->find(r2)->table == tables[(round + 1) % 3]);
    CHECK(cache->debug_valid_entries() == 2);
    const std::uint64_t before = cache->debug_generation();
    cache->flush();
    wrapped |= cache->debug_generation() < before;
    CHECK(cache->find(r1) == nullptr);
    CHECK(cache->find(r2) == nullptr);
    CHECK(cache->debug_valid_entries() == 0);
  }
  CHECK(wrapped);
  // After a flush, invalidate() of a stale region leaves a new one alone.
  cache->fill(r1, tables[0], ~W{0}, 0);
  cache->flush();
  cache->fill(r2, tables[1], ~W{0}, 0);
  cache->invalidate(r1);
  CHECK(cache->find(r2) != nullptr);
  cache->invalidate_range(r2, page_size);
  CHECK(cache->find(r2) == nullptr);
}

TEST_CASE_TEMPLATE("translator: every flush re-walks, through the wrap-around",
                   A, arch::x86_32, arch::x86_pae, arch::x86_64,
                   arch::x86_la57) {
  using translator_type = translator_t<A, tlb_geometry<8, 2>>;
  using tlb_t = typename translator_type::tlb_type;
  using cache_t = typename translator_type::structure_cache_type;
  test::arena a{256, data_first};
  auto t = translator_type::create(a.memory, a.source).value();
  // Pages 0-3 global, 4-7 not, all in one leaf table.
  const std::uint64_t base = 0x400000;
  auto va = [&](std::uint64_t i) { return vaddr{base + i * page_size}; };
  for (std::uint64_t i = 0; i < 8; ++i) {
    REQUIRE(t.map(va(i), pfn{data_first + i}.address(), page_size,
                  page_attr::user | page_attr::write |
                      (i < 4 ? page_attr::global : page_attr::none))
                .ok());
    std::memset(a.memory.frame(pfn{data_first + i}), static_cast<int>(i + 1),
                page_size);
  }
  auto touch_all = [&](std::uint64_t first, std::uint64_t last) {
    for (std::uint64_t i = first; i <= last; ++i) {
      std::uint8_t x = 0;
      CHECK(t.load(va(i) + 5, x));
      CHECK(x == i + 1);
    }
  };
  t.debug_restart_at(tlb_t::max_generation - 5, cache_t::max_generation - 3);
  touch_all(0, 7);
  for (int round = 0; round < 12; ++round) {
    CAPTURE(round);
    // Hits only, now.
    auto refills = t.refills();
    touch_all(0, 7);
    CHECK(t.refills() == refills);
    if (round % 2 == 0) {
      // flush(): every page refills, the first through a full walk.
      t.flush();
      refills = t.refills();
      const auto walks = t.full_walks();
      touch_all(0, 7);
      CHECK(t.refills() == refills + 8);
      CHECK(t.full_walks() == walks + 1);
    } else {
      // flush_non_global(): the global pages come back without a walk
      // (revived on their first miss, or at once when the generation wraps
      // around), the others refill.
      t.flush_non_global();
      const auto walks = t.full_walks();
      touch_all(0, 3);
      CHECK(t.full_walks() == walks);
      refills = t.refills();
      touch_all(4, 7);
      CHECK(t.refills() == refills + 4);
      CHECK(t.full_walks() == walks + 1);
    }
  }
  // A mapping changed behind the translator's back is seen after a flush:
  // never the old frame.
  REQUIRE(t.table_unsynchronized().unmap(va(6)).ok());
  REQUIRE(t.table_unsynchronized()
              .map(va(6), pfn{data_first + 20}.address(), page_size,
                   page_attr::user)
              .ok());
  std::memset(a.memory.frame(pfn{data_first + 20}), 0x77, page_size);
  t.flush_non_global();
  std::uint8_t x = 0;
  CHECK(t.load(va(6), x));
  CHECK(x == 0x77);
  CHECK_FALSE(t.store(va(6), x));  // now read-only
  REQUIRE(t.table_unsynchronized().unmap(va(1)).ok());
  t.flush();
  CHECK_FALSE(t.load(va(1), x));
  CHECK(t.tlb().check_invariants());
  CHECK(t.table().check_invariants());
}

TEST_CASE_TEMPLATE("translator: large pages after a flush", A, arch::x86_32,
                   arch::x86_pae, arch::x86_64, arch::x86_la57) {
  for (unsigned l = 1; l < A::levels; ++l) {
    if (!A::level[l].large_page) continue;
    CAPTURE(l);
    test::arena a{256, data_first};
    auto t = translator_t<A>::create(a.memory, a.source).value();
    const std::uint64_t span = A::level[l].span();
    REQUIRE(t.map(vaddr{span}, paddr{0}, span, page_attr::user).ok());
    // The first access sets A; after a flush the upper levels are all
    // present with A set, and PS alone says the walk ends above the leaf.
    for (std::uint64_t i = 3; i < 9; ++i) {
      CAPTURE(i);
      if (i % 2 == 0)
        t.flush();
      else
        t.flush_non_global();
      const auto walks = t.full_walks();
      CHECK(t.host_pointer(vaddr{span + i * page_size + 8},
                           mmkit::access::read) == a.memory.frame(pfn{i}) + 8);
      CHECK(t.full_walks() == walks + 1);
      CHECK(t.host_pointer(vaddr{span + i * page_size}, mmkit::access::write) ==
            nullptr);
    }
    CHECK(t.tlb().check_invariants());
    CHECK(t.table().check_invariants());
  }
}

TEST_CASE(
    "translator: a global page revived after flush_non_global still "
    "walks to set D on its first write") {
  test::arena a{256, data_first};
  auto t = translator_t<arch::x86_64>::create(a.memory, a.source).value();
  const vaddr v{0x600000};
  REQUIRE(t.map(v, pfn{data_first}.address(), page_size,
                page_attr::user | page_attr::write | page_attr::global)
              .ok());
  std::uint32_t x = 0;
  CHECK(t.load(v, x));  // A set, D clear: cached read-only
  CHECK_FALSE(t.translate(v).dirty);
  t.flush_non_global();
  const auto walks = t.full_walks();
  CHECK(t.load(v, x));  // revived
  CHECK(t.full_walks() == walks);
  const auto refills = t.refills();
  CHECK(t.store(v, std::uint32_t{7}));  // walks, sets D
  CHECK(t.refills() == refills + 1);
  CHECK(t.translate(v).dirty);
  CHECK(t.store(v + 4, std::uint32_t{8}));  // a hit now
  CHECK(t.refills() == refills + 1);
  CHECK(t.load(v, x));
  CHECK(x == 7);
  CHECK(t.tlb().check_invariants());
  CHECK(t.table().check_invariants());
}

TEST_SUITE_END();
