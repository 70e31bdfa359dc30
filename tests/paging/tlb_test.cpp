// The software TLB and the translator: hits return the right host bytes,
// and no access is ever served from a stale entry after unmap, protect,
// write_leaf or a flush; randomized against a model on every arch.
#include "test_memory.hpp"

#include <mmkit/arch/all.hpp>
#include <mmkit/paging/translator.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <random>

using namespace mmkit;

namespace {
template <class A, class G = direct_mapped_tlb>
using translator_t =
    translator<A, buffer_memory, simple_frame_source<buffer_memory>, G>;

// Frames [0, 64) hold tables, [64, 256) data.
constexpr std::uint64_t data_first = 64;
}  // namespace

TEST_SUITE_BEGIN("paging");

TEST_CASE("tlb: lookup, fill, invalidate and flushes") {
  software_tlb<tlb_geometry<16, 1>> tlb;
  alignas(4096) static std::byte page[4096];
  const vaddr v{0x7000};
  CHECK(tlb.lookup(v, access::read, cpu_mode::user) == nullptr);
  tlb.fill(v, page, /*write=*/false, /*execute=*/true, /*global=*/false,
           cpu_mode::user);
  CHECK(tlb.lookup(vaddr{0x7123}, access::read, cpu_mode::user) ==
        page + 0x123);
  CHECK(tlb.lookup(vaddr{0x7123}, access::execute, cpu_mode::user) ==
        page + 0x123);
  CHECK(tlb.lookup(vaddr{0x7123}, access::write, cpu_mode::user) == nullptr);
  CHECK(tlb.lookup(vaddr{0x7123}, access::read, cpu_mode::kernel) == nullptr);
  // An 8-byte access that crosses into the next page misses.
  CHECK(tlb.lookup<8>(vaddr{0x7FF8}, access::read, cpu_mode::user) ==
        page + 0xFF8);
  CHECK(tlb.lookup<8>(vaddr{0x7FF9}, access::read, cpu_mode::user) == nullptr);
  // The same set, another page: a miss (tags differ).
  CHECK(tlb.lookup(vaddr{0x17000}, access::read, cpu_mode::user) == nullptr);
  tlb.invalidate(vaddr{0x7FFF});
  CHECK(tlb.lookup(v, access::read, cpu_mode::user) == nullptr);
  CHECK(tlb.debug_valid_entries() == 0);
  // Global entries survive flush_non_global, not flush.
  tlb.fill(vaddr{0x1000}, page, true, false, true, cpu_mode::kernel);
  tlb.fill(vaddr{0x2000}, page, true, false, false, cpu_mode::kernel);
  tlb.flush_non_global();
  CHECK(tlb.lookup(vaddr{0x1000}, access::write, cpu_mode::kernel) == page);
  CHECK(tlb.lookup(vaddr{0x2000}, access::write, cpu_mode::kernel) == nullptr);
  tlb.flush();
  CHECK(tlb.debug_valid_entries() == 0);
  // invalidate_range over more pages than sets scans every entry.
  for (std::uint64_t i = 0; i < 16; ++i)
    tlb.fill(vaddr{0x100000 + i * 0x1000}, page, false, false, false,
             cpu_mode::user);
  tlb.fill(vaddr{0x900000}, page, false, false, false, cpu_mode::user);
  CHECK(tlb.debug_valid_entries() == 16);  // 0x900000 evicted set 0's entry
  tlb.invalidate_range(vaddr{0x100000}, 0x200000);
  CHECK(tlb.debug_valid_entries() == 1);
  CHECK(tlb.lookup(vaddr{0x900000}, access::read, cpu_mode::user) == page);
  CHECK(tlb.check_invariants());
}

TEST_CASE("tlb: set-associative ways and replacement") {
  software_tlb<tlb_geometry<4, 2>> tlb;
  alignas(4096) static std::byte pages[3][4096];
  // Three pages of set 0: the third evicts the first (round robin).
  tlb.fill(vaddr{0x0000}, pages[0], false, false, false, cpu_mode::user);
  tlb.fill(vaddr{0x4000}, pages[1], false, false, false, cpu_mode::user);
  CHECK(tlb.lookup(vaddr{0x0008}, access::read, cpu_mode::user) ==
        pages[0] + 8);
  CHECK(tlb.lookup(vaddr{0x4008}, access::read, cpu_mode::user) ==
        pages[1] + 8);
  tlb.fill(vaddr{0x8000}, pages[2], false, false, false, cpu_mode::user);
  CHECK(tlb.lookup(vaddr{0x0000}, access::read, cpu_mode::user) == nullptr);
  CHECK(tlb.lookup(vaddr{0x4000}, access::read, cpu_mode::user) == pages[1]);
  CHECK(tlb.lookup(vaddr{0x8000}, access::read, cpu_mode::user) == pages[2]);
  // Refilling a cached page reuses its way.
  tlb.fill(vaddr{0x8000}, pages[2], true, false, false, cpu_mode::user);
  CHECK(tlb.debug_valid_entries() == 2);
  CHECK(tlb.lookup(vaddr{0x8000}, access::write, cpu_mode::user) == pages[2]);
  CHECK(tlb.check_invariants());
}

TEST_CASE_TEMPLATE("translator: no access through a stale entry", A,
                   arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  test::arena a{256, data_first};
  auto t = translator_t<A>::create(a.memory, a.source).value();
  const vaddr v{0x20000};
  REQUIRE(t.map(v, pfn{data_first}.address(), page_size,
                page_attr::write | page_attr::user)
              .ok());
  CHECK(t.store(v + 8, std::uint64_t{0x1122334455667788}));
  std::uint64_t x = 0;
  CHECK(t.load(v + 8, x));
  CHECK(x == 0x1122334455667788);
  const auto fills = t.refills();
  CHECK(t.load(v + 16, x));
  CHECK(t.refills() == fills);  // a hit
  // The first write walked and set D.
  CHECK(t.translate(v).dirty);
  // Protect to read-only: writes fault at once, reads still hit.
  REQUIRE(t.protect(v, page_attr::user).ok());
  CHECK_FALSE(t.store(v, std::uint32_t{1}));
  CHECK(t.load(v + 8, x));
  // Unmap: the next load faults.
  REQUIRE(t.unmap(v).ok());
  CHECK_FALSE(t.load(v + 8, x));
  CHECK(t.host_pointer(v, access::read) == nullptr);
  // A software PTE written over a valid entry invalidates too.
  REQUIRE(
      t.map(v, pfn{data_first + 1}.address(), page_size, page_attr::user).ok());
  CHECK(t.load(v, x));
  using W = typename A::entry_type;
  REQUIRE(t.write_leaf(v, software_pte<W>::transition(mm::readonly,
                                                      pfn{data_first + 1}))
              .ok());
  CHECK_FALSE(t.load(v, x));
  REQUIRE(t.write_leaf(v, W{0}).ok());
  CHECK(t.table().table_pages() == 1);
  // Kernel-only page: user access faults, kernel access works; the kernel
  // fill never serves the user.
  REQUIRE(t.map(v, pfn{data_first + 2}.address(), page_size, page_attr::write)
              .ok());
  CHECK(t.store(v, std::uint16_t{0xBEEF}, cpu_mode::kernel));
  std::uint16_t y = 0;
  CHECK_FALSE(t.load(v, y, cpu_mode::user));
  CHECK(t.load(v, y, cpu_mode::kernel));
  CHECK(y == 0xBEEF);
  // A large page unmapped drops every 4 KiB piece of it.
  const std::uint64_t big = A::level[1].span();
  REQUIRE(t.map(vaddr{big}, paddr{0}, big, page_attr::user).ok());
  CHECK(t.host_pointer(vaddr{big + 0x3000}, access::read) ==
        a.memory.frame(pfn{3}));
  REQUIRE(t.unmap(vaddr{big + 0x5000}).ok());
  CHECK(t.host_pointer(vaddr{big + 0x3000}, access::read) == nullptr);
  // Tables changed behind the translator's back need an explicit flush.
  REQUIRE(t.map(vaddr{big}, paddr{0}, page_size, page_attr::user).ok());
  CHECK(t.host_pointer(vaddr{big}, access::read) != nullptr);
  REQUIRE(t.table_unsynchronized().unmap(vaddr{big}).ok());
  t.flush();
  CHECK(t.host_pointer(vaddr{big}, access::read) == nullptr);
}

TEST_CASE_TEMPLATE("translator: page-crossing reads and writes", A,
                   arch::x86_32, arch::x86_64) {
  test::arena a{256, data_first};
  auto t = translator_t<A, four_way_tlb>::create(a.memory, a.source).value();
  const vaddr v{0x30000};
  REQUIRE(t.map(v, pfn{data_first + 5}.address(), page_size,
                page_attr::write | page_attr::user)
              .ok());
  REQUIRE(t.map(v + page_size, pfn{data_first + 9}.address(), page_size,
                page_attr::write | page_attr::user)
              .ok());
  const std::uint64_t value = 0x0102030405060708;
  CHECK(t.store(v + 0xFFC, value));
  std::uint64_t back = 0;
  CHECK(t.load(v + 0xFFC, back));
  CHECK(back == value);
  // The bytes landed in two different frames.
  CHECK(a.memory.frame(pfn{data_first + 5})[0xFFC] == std::byte{0x08});
  CHECK(a.memory.frame(pfn{data_first + 9})[0] == std::byte{0x04});
  // A partial copy stops at the first unmapped byte.
  char buf[0x3000];
  CHECK(t.read(v + 0x800, buf, sizeof buf) == 0x2000 - 0x800);
}

TEST_CASE_TEMPLATE("translator: randomized against a model", A, arch::x86_32,
                   arch::x86_pae, arch::x86_64, arch::x86_la57) {
  for (unsigned seed : {3u, 99u}) {
    CAPTURE(seed);
    test::arena a{256, data_first};
    auto t =
        translator_t<A, tlb_geometry<8, 2>>::create(a.memory, a.source).value();
    struct page {
      std::uint64_t frame;
      bool writable;
    };
    std::map<std::uint64_t, page> model;  // vpn -> page
    std::mt19937_64 rng(seed);
    for (int op = 0; op < 3000; ++op) {
      CAPTURE(op);
      const std::uint64_t vpn = 0x100 + rng() % 64;
      const vaddr v{vpn << page_shift};
      const auto kind = rng() % 8;
      auto it = model.find(vpn);
      if (kind == 0) {
        const std::uint64_t frame = data_first + rng() % 192;
        const bool w = rng() % 2;
        const auto r =
            t.map(v, pfn{frame}.address(), page_size,
                  page_attr::user | (w ? page_attr::write : page_attr::none));
        CHECK(r.ok() == (it == model.end()));
        if (r.ok()) model[vpn] = {frame, w};
      } else if (kind == 1) {
        CHECK(t.unmap(v).ok() == (it != model.end()));
        if (it != model.end()) model.erase(it);
      } else if (kind == 2) {
        const bool w = rng() % 2;
        const auto r = t.protect(
            v, page_attr::user | (w ? page_attr::write : page_attr::none));
        CHECK(r.ok() == (it != model.end()));
        if (it != model.end()) it->second.writable = w;
      } else if (kind == 3 && rng() % 16 == 0) {
        t.flush();
      } else {
        const std::uint64_t off = (rng() % 512) * 8;
        std::uint64_t x = 0;
        if (kind < 6) {
          const bool ok = t.load(v + off, x);
          CHECK(ok == (it != model.end()));
          if (ok) {
            std::uint64_t expect;
            std::memcpy(&expect, a.memory.frame(pfn{it->second.frame}) + off,
                        8);
            CHECK(x == expect);
          }
        } else {
          x = rng();
          const bool ok = t.store(v + off, x);
          CHECK(ok == (it != model.end() && it->second.writable));
          if (ok) {
            std::uint64_t got;
            std::memcpy(&got, a.memory.frame(pfn{it->second.frame}) + off, 8);
            CHECK(got == x);
          }
        }
      }
    }
    CHECK(t.tlb().check_invariants());
    CHECK(t.table().check_invariants());
  }
}

TEST_SUITE_END();
