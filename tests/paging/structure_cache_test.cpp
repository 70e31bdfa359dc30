// The paging-structure cache behind the translator's TLB: a miss in a
// cached region reads one leaf entry, with the same A/D behaviour as a full
// walk, and no access is ever served through a stale leaf table or stale
// upper-level rights: after the last page of a table is unmapped (the table
// freed and reused), after an upper-level entry changes, after a flush.
// Randomized against the uncached walker on every arch.
#include "test_memory.hpp"

#include <mmkit/arch/all.hpp>
#include <mmkit/paging/translator.hpp>

#include <doctest/doctest.h>

#include <random>
#include <vector>

using namespace mmkit;

namespace {
template <class A, class G = direct_mapped_tlb>
using translator_t =
    translator<A, buffer_memory, simple_frame_source<buffer_memory>, G>;

// Frames [0, 64) hold tables, [64, 256) data.
constexpr std::uint64_t data_first = 64;
// 1 GiB: every arch's regions below share all upper tables.
constexpr std::uint64_t base = 0x40000000;

template <class A>
constexpr std::uint64_t region = A::level[1].span();

/// The raw entry at `level` on `va`'s path, or null when a table on the way
/// is missing or a large page ends the path above `level`.
template <class A, class T>
typename A::entry_type* entry_at(test::arena& a, const T& t, vaddr va,
                                 unsigned level) {
  using codec = entry_codec<A>;
  std::uint64_t table = t.table().root().raw();
  for (unsigned l = A::levels - 1;; --l) {
    auto* e = &a.entry<typename A::entry_type>(paddr{table}.frame(),
                                               arch::table_index<A>(va, l));
    if (l == level) return e;
    if (!codec::is_present(*e) || codec::maps_page(*e, l)) return nullptr;
    table = A::frame_address(*e);
  }
}

/// Puts every table-referencing entry back to the page table's own form
/// (P|R/W|U/S, A kept), undoing rights edits made behind its back.
template <class A>
void normalize_upper(test::arena& a, std::uint64_t table, unsigned l) {
  using codec = entry_codec<A>;
  using W = typename A::entry_type;
  for (unsigned i = 0; i < A::level[l].entries(); ++i) {
    W& e = a.entry<W>(paddr{table}.frame(), i);
    if (l == 0 || !codec::is_present(e) || codec::maps_page(e, l)) continue;
    e = static_cast<W>(codec::table_entry(paddr{A::frame_address(e)}, l) |
                       (e & codec::A_));
    normalize_upper<A>(a, A::frame_address(e), l - 1);
  }
}

/// What the uncached walker says the host address of `va` is (A/D left).
template <class A, class T>
std::byte* expected_host(test::arena& a, const T& t, vaddr va, access acc,
                         cpu_mode mode) {
  const auto w =
      walk<A>(a.memory, t.table().root(), va, acc, mode, ad_update::leave);
  if (!w.ok() || w.address.frame().raw() >= a.memory.frame_count())
    return nullptr;
  return a.memory.frame(w.address.frame()) + va.page_offset();
}
}  // namespace

TEST_SUITE_BEGIN("paging");

TEST_CASE_TEMPLATE(
    "paging-structure cache: a miss in a cached region reads one leaf", A,
    arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  using W = typename A::entry_type;
  using codec = entry_codec<A>;
  test::arena a{256, data_first};
  auto t = translator_t<A>::create(a.memory, a.source).value();
  const vaddr v{base};
  for (std::uint64_t i = 0; i < 4; ++i)
    REQUIRE(t.map(v + i * page_size, pfn{data_first + i}.address(), page_size,
                  page_attr::write | page_attr::user)
                .ok());
  std::uint64_t x = 0;
  CHECK(t.load(v, x));
  CHECK(t.full_walks() == 1);
  CHECK(t.structure_cache().debug_valid_entries() == 1);
  // The full walk set A in every upper level it passed.
  for (unsigned l = 1; l < A::levels; ++l) {
    CAPTURE(l);
    if (A::level[l].access_bits) CHECK((*entry_at<A>(a, t, v, l) & codec::A_));
  }
  // Another page of the region: a TLB miss served by the cache. Its leaf
  // gets A on a read, D on a write, exactly as a walk would set them.
  const vaddr p2 = v + 2 * page_size;
  W& leaf = *entry_at<A>(a, t, p2, 0);
  CHECK_FALSE((leaf & codec::A_));
  CHECK(t.load(p2, x));
  CHECK(t.refills() == 2);
  CHECK(t.full_walks() == 1);
  CHECK((leaf & codec::A_));
  CHECK_FALSE((leaf & codec::D));
  CHECK(t.store(p2, std::uint32_t{7}));  // the write tag needs D: a refill
  CHECK(t.refills() == 3);
  CHECK(t.full_walks() == 1);
  CHECK((leaf & codec::D));
  CHECK(t.store(p2 + 4, std::uint32_t{8}));  // now a TLB hit
  CHECK(t.refills() == 3);
  // A fault at the leaf through the cache: not present, then protection.
  CHECK(t.host_pointer(v + 9 * page_size, access::read) == nullptr);
  CHECK(t.full_walks() == 1);
  REQUIRE(t.protect(v + page_size, page_attr::user).ok());
  CHECK_FALSE(t.store(v + page_size, std::uint8_t{1}));
  CHECK(t.load(v + page_size, x));
  // Kernel-only leaf: the user is refused through the cache too.
  REQUIRE(t.protect(v + 3 * page_size, page_attr::write).ok());
  CHECK(t.host_pointer(v + 3 * page_size, access::read) == nullptr);
  CHECK(t.host_pointer(v + 3 * page_size, access::write, cpu_mode::kernel) ==
        a.memory.frame(pfn{data_first + 3}));
  if constexpr (A::has_nx) {
    // No execute on the leaf: execution refused, reads allowed.
    CHECK(t.host_pointer(v + 2 * page_size, access::execute) == nullptr);
    REQUIRE(t.protect(v + 2 * page_size, page_attr::user | page_attr::execute)
                .ok());
    CHECK(t.host_pointer(v + 2 * page_size, access::execute) ==
          a.memory.frame(pfn{data_first + 2}));
  }
  CHECK(t.full_walks() == 1);
  CHECK(t.tlb().check_invariants());
  CHECK(t.table().check_invariants());
}

TEST_CASE_TEMPLATE(
    "paging-structure cache: no stale leaf table after the table is freed", A,
    arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  using W = typename A::entry_type;
  test::arena a{256, data_first};
  auto t = translator_t<A>::create(a.memory, a.source).value();
  const vaddr r1{base}, r2{base + region<A>}, r3{base + 2 * region<A>};
  const auto rw = page_attr::write | page_attr::user;
  pfn t1{};  // r1's leaf table

  SUBCASE("unmap of the last page") {
    REQUIRE(t.map(r1, pfn{data_first}.address(), page_size, rw).ok());
    REQUIRE(t.map(r2, pfn{data_first + 1}.address(), page_size, rw).ok());
    CHECK(t.host_pointer(r1, access::read) == a.memory.frame(pfn{data_first}));
    t1 = t.table_unsynchronized().find_leaf(r1).table;
    const auto tables = t.table().table_pages();
    REQUIRE(t.unmap(r1).ok());
    CHECK(t.table().table_pages() == tables - 1);  // r1's table was freed
  }
  SUBCASE("a zero written over the last leaf") {
    REQUIRE(t.write_leaf(r1, software_pte<W>::demand_zero(mm::readwrite)).ok());
    REQUIRE(t.map(r2, pfn{data_first + 1}.address(), page_size, rw).ok());
    CHECK(t.host_pointer(r1, access::read) == nullptr);  // fills the cache
    CHECK(t.structure_cache().debug_valid_entries() == 1);
    t1 = t.table_unsynchronized().find_leaf(r1).table;
    REQUIRE(t.write_leaf(r1, W{0}).ok());
  }
  SUBCASE("a table freed behind the translator's back, then invalidate") {
    REQUIRE(t.map(r1, pfn{data_first}.address(), page_size, rw).ok());
    REQUIRE(t.map(r2, pfn{data_first + 1}.address(), page_size, rw).ok());
    CHECK(t.host_pointer(r1, access::read) == a.memory.frame(pfn{data_first}));
    t1 = t.table_unsynchronized().find_leaf(r1).table;
    REQUIRE(t.table_unsynchronized().unmap(r1).ok());
    t.invalidate(r1);
  }
  CHECK(t.structure_cache().debug_valid_entries() == 0);
  // r3's new leaf table takes the frame r1's table had (the source reuses
  // the last frame freed), and its entry 0 maps another page: a stale cache
  // entry for r1 would now translate r1 through it.
  REQUIRE(t.map(r3, pfn{data_first + 2}.address(), page_size, rw).ok());
  REQUIRE(t.table_unsynchronized().find_leaf(r3).table == t1);
  CHECK(t.host_pointer(r1, access::read) == nullptr);
  CHECK(t.host_pointer(r1, access::write) == nullptr);
  CHECK(t.host_pointer(r3, access::read) ==
        a.memory.frame(pfn{data_first + 2}));
  // And the reverse: r1 mapped again gets a new table, found afresh.
  REQUIRE(
      t.map(r1 + page_size, pfn{data_first + 3}.address(), page_size, rw).ok());
  CHECK(t.host_pointer(r1 + page_size, access::read) ==
        a.memory.frame(pfn{data_first + 3}));
  CHECK(t.host_pointer(r1, access::read) == nullptr);
  CHECK(t.tlb().check_invariants());
  CHECK(t.table().check_invariants());
}

TEST_CASE_TEMPLATE(
    "paging-structure cache: unmapping the last page under an upper table "
    "empties it",
    A, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  test::arena a{256, data_first};
  auto t = translator_t<A>::create(a.memory, a.source).value();
  const auto rw = page_attr::write | page_attr::user;
  // Two regions under one level-1 table, which is freed with the second's
  // table; the frames are then reused for a different hierarchy.
  const vaddr r1{base}, r2{base + region<A>};
  REQUIRE(t.map(r1, pfn{data_first}.address(), page_size, rw).ok());
  REQUIRE(t.map(r2, pfn{data_first + 1}.address(), page_size, rw).ok());
  CHECK(t.host_pointer(r1, access::read) != nullptr);
  CHECK(t.host_pointer(r2, access::read) != nullptr);
  CHECK(t.structure_cache().debug_valid_entries() == 2);
  // Remove r1's page behind the translator's back, invalidating it alone.
  REQUIRE(t.table_unsynchronized().unmap(r1).ok());
  t.invalidate(r1);
  CHECK(t.structure_cache().debug_valid_entries() == 1);
  REQUIRE(t.unmap(r2).ok());
  CHECK(t.structure_cache().debug_valid_entries() == 0);
  CHECK(t.table().table_pages() == 1);
  CHECK(t.host_pointer(r2, access::read) == nullptr);
  CHECK(t.tlb().check_invariants());
  CHECK(t.table().check_invariants());
}

TEST_CASE_TEMPLATE(
    "paging-structure cache: no stale rights after an upper level changes", A,
    arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  using W = typename A::entry_type;
  using codec = entry_codec<A>;
  test::arena a{256, data_first};
  auto t = translator_t<A>::create(a.memory, a.source).value();
  const auto all = page_attr::write | page_attr::user | page_attr::execute;
  const vaddr r1{base}, r2{base + region<A>};
  REQUIRE(t.map(r1, pfn{data_first}.address(), page_size, all).ok());
  REQUIRE(t.map(r1 + page_size, pfn{data_first + 1}.address(), page_size, all)
              .ok());
  REQUIRE(t.map(r2, pfn{data_first + 2}.address(), page_size, all).ok());
  std::uint64_t x = 0;
  CHECK(t.store(r1, x));
  CHECK(t.store(r2, x));
  W& pde = *entry_at<A>(a, t, r1, 1);

  // Read-only PDE: after INVLPG of one page of the region, no page of the
  // region may be written, through the TLB or the cache.
  pde = static_cast<W>(pde & ~codec::RW);
  t.invalidate(r1);
  t.invalidate(r1 + page_size);  // its TLB entry (the cache entry is gone)
  CHECK_FALSE(t.store(r1, x));
  CHECK_FALSE(t.store(r1 + page_size, x));
  CHECK(t.load(r1 + page_size, x));
  CHECK(t.store(r2, x));  // another region, another PDE
  pde = static_cast<W>(pde | codec::RW);
  t.invalidate_range(r1, region<A>);
  CHECK(t.store(r1 + page_size, x));

  // Supervisor-only PDE, then invalidate_range over the region: the user is
  // refused, the kernel is not.
  pde = static_cast<W>(pde & ~codec::US);
  t.invalidate_range(r1, region<A>);
  CHECK(t.host_pointer(r1 + page_size, access::read) == nullptr);
  CHECK(t.host_pointer(r1 + page_size, access::read, cpu_mode::kernel) ==
        a.memory.frame(pfn{data_first + 1}));
  pde = static_cast<W>(pde | codec::US);
  t.flush();
  CHECK(t.host_pointer(r1 + page_size, access::read) ==
        a.memory.frame(pfn{data_first + 1}));

  if constexpr (A::has_nx) {
    CHECK(t.host_pointer(r1, access::execute) != nullptr);
    pde = static_cast<W>(pde | codec::XD);
    t.invalidate_range(r1, region<A>);
    CHECK(t.host_pointer(r1, access::execute) == nullptr);
    CHECK(t.host_pointer(r1, access::read) != nullptr);
    pde = static_cast<W>(pde & ~codec::XD);
    t.invalidate(r1);
  }

  // A level above the PDE covers both regions: invalidate_range over its
  // span reaches both.
  if constexpr (A::levels > 2 && A::level[2].access_bits) {
    W& top = *entry_at<A>(a, t, r1, 2);
    CHECK(t.host_pointer(r2, access::read) != nullptr);
    top = static_cast<W>(top & ~codec::US);
    t.invalidate_range(vaddr{r1.raw() & ~(A::level[2].span() - 1)},
                       A::level[2].span());
    CHECK(t.host_pointer(r1, access::read) == nullptr);
    CHECK(t.host_pointer(r2, access::read) == nullptr);
    top = static_cast<W>(top | codec::US);
    t.flush_non_global();
    CHECK(t.host_pointer(r2, access::read) != nullptr);
  }

  // Accessed bits: the cache only skips upper levels whose A is set. Clear
  // them behind the translator's back, invalidate, and the next access sets
  // them again.
  for (unsigned l = 1; l < A::levels; ++l) {
    W& e = *entry_at<A>(a, t, r1, l);
    e = static_cast<W>(e & ~codec::A_);
  }
  t.invalidate(r1);
  CHECK(t.load(r1, x));
  for (unsigned l = 1; l < A::levels; ++l) {
    CAPTURE(l);
    if (A::level[l].access_bits) CHECK((*entry_at<A>(a, t, r1, l) & codec::A_));
  }
  CHECK(t.tlb().check_invariants());
  CHECK(t.table().check_invariants());
}

TEST_CASE_TEMPLATE("paging-structure cache: flush empties it", A, arch::x86_32,
                   arch::x86_64) {
  test::arena a{256, data_first};
  auto t = translator_t<A>::create(a.memory, a.source).value();
  for (std::uint64_t i = 0; i < 4; ++i)
    REQUIRE(t.map(vaddr{base + i * (region<A> + page_size)},
                  pfn{data_first + i}.address(), page_size,
                  page_attr::user | page_attr::global)
                .ok());
  for (std::uint64_t i = 0; i < 4; ++i)
    CHECK(t.host_pointer(vaddr{base + i * (region<A> + page_size)},
                         access::read) != nullptr);
  CHECK(t.structure_cache().debug_valid_entries() == 4);
  t.flush_non_global();  // global pages stay in the TLB, the cache goes
  CHECK(t.structure_cache().debug_valid_entries() == 0);
  CHECK(t.tlb().debug_valid_entries() == 4);
  for (std::uint64_t i = 0; i < 4; ++i)
    CHECK(t.host_pointer(vaddr{base + i * (region<A> + page_size)},
                         access::write) == nullptr);
  CHECK(t.structure_cache().debug_valid_entries() == 4);
  t.flush();
  CHECK(t.structure_cache().debug_valid_entries() == 0);
  CHECK(t.tlb().debug_valid_entries() == 0);
  // A range of more regions than the cache holds drops everything.
  CHECK(t.host_pointer(vaddr{base}, access::read) != nullptr);
  t.invalidate_range(vaddr{0}, region<A> * 100);
  CHECK(t.structure_cache().debug_valid_entries() == 0);
  CHECK(t.tlb().check_invariants());
  CHECK(t.table().check_invariants());
}

TEST_CASE_TEMPLATE("paging-structure cache: randomized against the walker", A,
                   arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  using W = typename A::entry_type;
  using codec = entry_codec<A>;
  for (unsigned seed : {7u, 1234u}) {
    CAPTURE(seed);
    test::arena a{256, data_first};
    // Two cache entries over four regions: conflicts and refills.
    auto t = translator_t<A, tlb_geometry<8, 2, 2>>::create(a.memory, a.source)
                 .value();
    std::mt19937_64 rng(seed);
    auto random_va = [&] {
      return vaddr{base + (rng() % 4) * region<A> + (rng() % 16) * page_size +
                   (rng() % 512) * 8};
    };
    for (int op = 0; op < 4000; ++op) {
      CAPTURE(op);
      const vaddr v = random_va();
      const vaddr page{v.raw() & ~page_offset_mask};
      const auto kind = rng() % 16;
      if (kind == 0) {
        const page_attr attrs =
            page_attr::user | (rng() % 2 ? page_attr::write : page_attr::none) |
            (rng() % 2 ? page_attr::execute : page_attr::none);
        (void)t.map(page, pfn{data_first + rng() % 192}.address(), page_size,
                    attrs);
      } else if (kind == 1) {
        (void)t.unmap(page);
      } else if (kind == 2) {
        (void)t.protect(page, rng() % 2 ? page_attr::user
                                        : page_attr::user | page_attr::write);
      } else if (kind == 3) {
        // A software PTE or a zero (which may free the table).
        const W value =
            rng() % 2 ? W{0} : software_pte<W>::demand_zero(mm::readwrite);
        if (!t.table_unsynchronized().query(page))
          (void)t.write_leaf(page, value);
      } else if (kind == 4) {
        // An upper-level entry edited in place, then invalidated over the
        // span it maps.
        const unsigned l = 1 + static_cast<unsigned>(rng() % (A::levels - 1));
        if (!A::level[l].access_bits) continue;
        W* e = entry_at<A>(a, t, v, l);
        if (e == nullptr || !codec::is_present(*e) || codec::maps_page(*e, l))
          continue;
        const W bits[] = {codec::RW, codec::US, codec::XD};
        const W bit = bits[rng() % (A::has_nx ? 3 : 2)];
        *e = static_cast<W>(*e ^ bit);
        const std::uint64_t span = A::level[l].span();
        t.invalidate_range(vaddr{v.raw() & ~(span - 1)}, span);
      } else if (kind == 5 && rng() % 8 == 0) {
        t.flush();
      } else {
        const auto acc = static_cast<access>(rng() % 3);
        const auto mode = static_cast<cpu_mode>(rng() % 2);
        CAPTURE(static_cast<unsigned>(acc));
        CAPTURE(static_cast<unsigned>(mode));
        std::byte* expect = expected_host<A>(a, t, v, acc, mode);
        CHECK(t.host_pointer(v, acc, mode) == expect);
        if (expect != nullptr) {
          // The access set A, and D on a write, in the leaf.
          const W leaf = *entry_at<A>(a, t, v, 0);
          CHECK((leaf & codec::A_));
          if (acc == access::write) CHECK((leaf & codec::D));
        }
      }
    }
    CHECK(t.refills() > t.full_walks());  // the cache served some misses
    normalize_upper<A>(a, t.table().root().raw(), A::levels - 1);
    CHECK(t.tlb().check_invariants());
    CHECK(t.table().check_invariants());
  }
}

TEST_SUITE_END();
