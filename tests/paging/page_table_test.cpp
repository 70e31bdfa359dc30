// page_table: map/unmap/protect/query against a std::map model on every
// arch, table counting and freeing, raw leaf access for software PTEs, and
// offline translation of tables written to a raw image file.
#include "test_memory.hpp"

#include <mmkit/arch/all.hpp>
#include <mmkit/paging/page_table.hpp>
#include <mmkit/paging/walker.hpp>
#include <mmkit/phys/image_memory.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

using namespace mmkit;

namespace mmkit {
// For failure messages.
inline std::ostream& operator<<(std::ostream& os, const mapping& m) {
  return os << "{va " << std::hex << m.va.raw() << " pa " << m.pa.raw()
            << " bytes " << m.bytes << " attrs "
            << static_cast<unsigned>(m.attrs) << " level " << std::dec
            << m.level << "}";
}
}  // namespace mmkit

namespace {

template <class A>
using table_t =
    page_table<A, buffer_memory, simple_frame_source<buffer_memory>>;

template <class A>
std::vector<std::uint64_t> page_sizes() {
  std::vector<std::uint64_t> s{page_size};
  for (unsigned l = 1; l < A::levels; ++l)
    if (A::level[l].large_page) s.push_back(A::level[l].span());
  return s;
}

/// What x86_32 cannot express (XD) reads back as "executable".
template <class A>
page_attr normalized(page_attr a) {
  return A::has_nx ? a : a | page_attr::execute;
}

/// Bases of regions where random mappings collide: the bottom of the space,
/// just below the top of the lower half, and the kernel base.
template <class A>
std::vector<std::uint64_t> region_bases() {
  const std::uint64_t span = A::va_bits > 32 ? 0x400000000ull : 0x4000000ull;
  return {0, A::highest_user_address + 1 + 0x10000 - span, A::kernel_base};
}

/// The obviously-right model: base -> mapping.
using model_t = std::map<std::uint64_t, mapping>;

const mapping* model_find(const model_t& m, std::uint64_t va) {
  auto it = m.upper_bound(va);
  if (it == m.begin()) return nullptr;
  --it;
  return va - it->first < it->second.bytes ? &it->second : nullptr;
}
bool model_overlaps(const model_t& m, std::uint64_t va, std::uint64_t bytes) {
  auto it = m.lower_bound(va);
  if (it != m.end() && it->first < va + bytes) return true;
  if (it == m.begin()) return false;
  --it;
  return va - it->first < it->second.bytes;
}

template <class A>
void check_against_model(const table_t<A>& t, const model_t& model) {
  REQUIRE(t.check_invariants());
  // Sign-extended upper-half addresses come last in table order; the model
  // sorts by raw value, which puts them last too.
  std::vector<mapping> got;
  t.for_each_mapping([&](const mapping& m) { got.push_back(m); });
  REQUIRE(got.size() == model.size());
  auto it = model.begin();
  for (const auto& m : got) {
    CAPTURE(m.va.raw());
    CHECK(m == it->second);
    ++it;
  }
}

}  // namespace

TEST_SUITE_BEGIN("paging");

TEST_CASE_TEMPLATE("page_table: randomized against a std::map model", A,
                   arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  const auto sizes = page_sizes<A>();
  const auto bases = region_bases<A>();
  for (unsigned seed : {1u, 7u, 2024u}) {
    CAPTURE(seed);
    INFO("arch " << std::string(A::name));
    test::arena a{1024};
    auto made = table_t<A>::create(a.memory, a.source);
    REQUIRE(made.ok());
    table_t<A> t = std::move(made).value();
    model_t model;
    std::mt19937_64 rng(seed);
    auto pick = [&](std::uint64_t n) { return rng() % n; };
    auto random_va = [&](std::uint64_t bytes) {
      // 512 slots of 4 KiB, 8 of a large size, from one region base.
      const std::uint64_t slots = bytes == page_size ? 512 : 8;
      return bases[pick(bases.size())] + pick(slots) * bytes;
    };
    auto random_attrs = [&] { return static_cast<page_attr>(pick(0x80)); };
    for (int op = 0; op < 1500; ++op) {
      CAPTURE(op);
      const auto kind = pick(10);
      if (kind < 5) {  // map
        const std::uint64_t bytes =
            pick(4) == 0 ? sizes[pick(sizes.size())] : page_size;
        const std::uint64_t va = random_va(bytes);
        // x86_32 4 KiB pages reach only 4 GiB; everything else MAXPHYADDR.
        const std::uint64_t reach =
            sizeof(typename A::entry_type) == 4 && bytes == page_size
                ? 0x100000000ull
                : arch::phys_limit<A>();
        const std::uint64_t pa = pick(reach / bytes) * bytes;
        const page_attr attrs = random_attrs();
        const auto r = t.map(vaddr{va}, paddr{pa}, bytes, attrs);
        if (model_overlaps(model, va, bytes)) {
          CHECK(r.error() == status::conflicting_addresses);
        } else {
          INFO(std::string(to_string(r.error()))
               << " va " << va << " pa " << pa << " bytes " << bytes);
          REQUIRE(r.ok());
          model[va] = mapping{
              vaddr{va}, paddr{pa}, bytes, normalized<A>(attrs),
              static_cast<unsigned>(arch::level_for_page_size<A>(bytes))};
        }
      } else if (kind < 7) {  // unmap an existing mapping or a random page
        std::uint64_t va;
        if (!model.empty() && pick(4) != 0) {
          auto it = model.begin();
          std::advance(it, static_cast<long>(pick(model.size())));
          va = it->first + pick(it->second.bytes);
        } else {
          va = random_va(page_size) + pick(page_size);
        }
        const auto r = t.unmap(vaddr{va});
        const mapping* m = model_find(model, va);
        if (m == nullptr) {
          CHECK(r.error() == status::memory_not_allocated);
        } else {
          REQUIRE(r.ok());
          CHECK(*r == *m);
          model.erase(m->va.raw());
        }
      } else if (kind < 8) {  // protect
        if (model.empty()) continue;
        auto it = model.begin();
        std::advance(it, static_cast<long>(pick(model.size())));
        const page_attr attrs = random_attrs();
        const auto r =
            t.protect(vaddr{it->first + pick(it->second.bytes)}, attrs);
        REQUIRE(r.ok());
        CHECK(*r == it->second);
        it->second.attrs = normalized<A>(attrs);
      } else {  // query and translate a random address
        const std::uint64_t va = random_va(page_size) + pick(page_size);
        const mapping* m = model_find(model, va);
        const auto q = t.query(vaddr{va});
        const auto w = walk<A>(a.memory, t.root(), vaddr{va}, access::read,
                               cpu_mode::kernel, ad_update::leave);
        if (m == nullptr) {
          CHECK(q.error() == status::memory_not_allocated);
          CHECK(w.kind == entry_kind::zero);
        } else {
          REQUIRE(q.ok());
          CHECK(*q == *m);
          CHECK(w.kind == entry_kind::valid);
          CHECK(w.address.raw() == m->pa.raw() + (va - m->va.raw()));
          CHECK(w.page_bytes == m->bytes);
          CHECK(w.writable == has(m->attrs, page_attr::write));
          CHECK(w.user == has(m->attrs, page_attr::user));
          CHECK(w.executable == has(m->attrs, page_attr::execute));
          CHECK(w.global == has(m->attrs, page_attr::global));
        }
      }
      REQUIRE(t.check_invariants());
      if (op % 100 == 0) check_against_model<A>(t, model);
    }
    check_against_model<A>(t, model);
    // Unmapping everything frees every table but the root.
    for (const auto& [va, m] : model) REQUIRE(t.unmap(vaddr{va}).ok());
    CHECK(t.table_pages() == 1);
    CHECK(a.source.frames_in_use() == 1);
    CHECK(t.check_invariants());
  }
}

TEST_CASE_TEMPLATE("page_table: table pages are counted and freed", A,
                   arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  test::arena a{64};
  {
    auto t = table_t<A>::create(a.memory, a.source).value();
    CHECK(t.table_pages() == 1);
    REQUIRE(t.map(vaddr{0x400000}, paddr{0x5000}, page_size, page_attr::write)
                .ok());
    CHECK(t.table_pages() == A::levels);
    REQUIRE(
        t.map(vaddr{0x401000}, paddr{0x6000}, page_size, page_attr::none).ok());
    CHECK(t.table_pages() == A::levels);  // same leaf table
    CHECK(a.source.table_use_count(t.root_frame()) == 1);
    CHECK(t.unmap(vaddr{0x400000}).ok());
    CHECK(t.table_pages() == A::levels);
    CHECK(t.unmap(vaddr{0x401FFF})->va == vaddr{0x401000});
    CHECK(t.table_pages() == 1);
    CHECK(a.source.table_use_count(t.root_frame()) == 0);
    CHECK(t.check_invariants());
    // Bad arguments.
    CHECK(t.map(vaddr{0x1234}, paddr{0}, page_size, page_attr::none).error() ==
          status::invalid_parameter);
    CHECK(t.map(vaddr{0}, paddr{0}, 0x3000, page_attr::none).error() ==
          status::invalid_parameter);
    CHECK(t.map(vaddr{0x0100000000000000}, paddr{0}, page_size, page_attr::none)
              .error() == status::invalid_address);
    CHECK(t.unmap(vaddr{0x400000}).error() == status::memory_not_allocated);
    CHECK(t.table_pages() == 1);
  }
  // The destructor gave the root back as well.
  CHECK(a.source.frames_in_use() == 0);
}

TEST_CASE_TEMPLATE("page_table: out of table frames leaves nothing behind", A,
                   arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  test::arena a{64, 2};  // root + one table
  auto t = table_t<A>::create(a.memory, a.source).value();
  const auto r =
      t.map(vaddr{0x400000}, paddr{0x5000}, page_size, page_attr::none);
  if (A::levels == 2) {
    CHECK(r.ok());
  } else {
    CHECK(r.error() == status::no_memory);
    CHECK(t.table_pages() == 1);
    CHECK(a.source.frames_in_use() == 1);
    CHECK(t.check_invariants());
  }
}

TEST_CASE_TEMPLATE("page_table: raw leaf access keeps counts for software PTEs",
                   A, arch::x86_32, arch::x86_pae, arch::x86_64,
                   arch::x86_la57) {
  using W = typename A::entry_type;
  using s = software_pte<W>;
  test::arena a{64};
  auto t = table_t<A>::create(a.memory, a.source).value();
  const vaddr v{0x7FF000};
  CHECK_FALSE(t.find_leaf(v));
  auto leaf = t.ensure_leaf(v);
  REQUIRE(leaf.ok());
  CHECK(t.table_pages() == A::levels);
  CHECK(*leaf->entry == 0);
  CHECK(t.find_leaf(v).entry == leaf->entry);
  CHECK(t.check_invariants());
  // Software PTEs count like valid ones.
  t.write_leaf(v, *leaf, s::demand_zero(mm::readwrite));
  CHECK(a.source.table_use_count(leaf->table) == 1);
  REQUIRE(
      t.write_leaf(v - page_size, s::transition(mm::readonly, pfn{9})).ok());
  CHECK(a.source.table_use_count(leaf->table) == 2);
  // Rewriting a non-zero entry does not change the count.
  REQUIRE(t.write_leaf(v - page_size, s::page_file(mm::readonly, 1, 5)).ok());
  CHECK(a.source.table_use_count(leaf->table) == 2);
  CHECK(t.check_invariants());
  // The walker sees them.
  CHECK(walk<A>(a.memory, t.root(), v).kind == entry_kind::demand_zero);
  CHECK(walk<A>(a.memory, t.root(), v - page_size).kind ==
        entry_kind::page_file);
  // A large-page map over them conflicts; a 4 KiB map on a software PTE too.
  CHECK(t.map(v, paddr{0}, page_size, page_attr::none).error() ==
        status::conflicting_addresses);
  // map/unmap see only valid entries.
  CHECK(t.unmap(v).error() == status::memory_not_allocated);
  // Zeroing both frees the tables up to the root.
  REQUIRE(t.write_leaf(v, W{0}).ok());
  CHECK(t.table_pages() == A::levels);
  t.write_leaf(v - page_size, t.find_leaf(v - page_size), W{0});
  CHECK(t.table_pages() == 1);
  CHECK_FALSE(t.find_leaf(v));
  // Writing zero where nothing is mapped is fine and allocates nothing.
  CHECK(t.write_leaf(v, W{0}).ok());
  CHECK(t.table_pages() == 1);
  // A leaf table made by ensure_leaf and never written is freed by a zero
  // write.
  REQUIRE(t.ensure_leaf(v).ok());
  CHECK(t.table_pages() == A::levels);
  REQUIRE(t.write_leaf(v, W{0}).ok());
  CHECK(t.table_pages() == 1);
  CHECK(t.check_invariants());
  // ensure_leaf under a large page conflicts.
  const std::uint64_t big = A::level[1].span();
  REQUIRE(t.map(vaddr{big}, paddr{0}, big, page_attr::none).ok());
  CHECK(t.ensure_leaf(vaddr{big + page_size}).error() ==
        status::conflicting_addresses);
  CHECK_FALSE(t.find_leaf(vaddr{big}));
}

TEST_CASE_TEMPLATE("page_table: offline translation through a raw image file",
                   A, arch::x86_32, arch::x86_pae, arch::x86_64,
                   arch::x86_la57) {
  using W = typename A::entry_type;
  test::arena a{128};
  auto t = table_t<A>::create(a.memory, a.source).value();
  const std::uint64_t big = A::level[1].span();
  REQUIRE(t.map(vaddr{0x10000}, paddr{0x50000}, page_size,
                page_attr::write | page_attr::user)
              .ok());
  REQUIRE(t.map(vaddr{A::kernel_base}, paddr{big * 3}, big,
                page_attr::write | page_attr::global)
              .ok());
  REQUIRE(
      t.write_leaf(vaddr{0x11000}, software_pte<W>::prototype(0, 1234)).ok());
  // Write the physical memory out as a raw image.
  char dir[] = "/tmp/mmkit-image-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/physmem.raw";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(a.bytes, page_size, 128, f) == 128);
    std::fclose(f);
  }
  auto img = image_memory::open(path.c_str());
  REQUIRE(img.ok());
  const image_memory& image = *img;
  CHECK(image.frame_count() == 128);
  auto r = walk<A>(image, t.root(), vaddr{0x10123}, access::write);
  CHECK(r.ok());
  CHECK(r.address == paddr{0x50123});
  CHECK(r.depth == A::levels);
  r = walk<A>(image, t.root(), vaddr{A::kernel_base + 0x1234}, access::read,
              cpu_mode::kernel);
  CHECK(r.ok());
  CHECK(r.global);
  CHECK(r.address == paddr{big * 3 + 0x1234});
  CHECK(r.page_bytes == big);
  CHECK_FALSE(walk<A>(image, t.root(), vaddr{A::kernel_base}).allowed);
  r = walk<A>(image, t.root(), vaddr{0x11000});
  CHECK(r.kind == entry_kind::prototype);
  CHECK(software_pte<W>::index(r.last_entry()) == 1234);
  CHECK(walk<A>(image, t.root(), vaddr{0x12000}).kind == entry_kind::zero);
  // The same answers as the live walk over the original memory.
  for (std::uint64_t v : {std::uint64_t{0x10000}, A::kernel_base + 0x5000,
                          std::uint64_t{0x11000}}) {
    const auto live = walk<A>(a.memory, t.root(), vaddr{v}, access::read,
                              cpu_mode::kernel, ad_update::leave);
    const auto off =
        walk<A>(image, t.root(), vaddr{v}, access::read, cpu_mode::kernel);
    CHECK(live.kind == off.kind);
    CHECK(live.address == off.address);
    CHECK(live.entries == off.entries);
  }
  // A missing file is reported.
  CHECK(image_memory::open((std::string(dir) + "/none").c_str()).error() ==
        status::invalid_parameter);
  std::remove(path.c_str());
  ::rmdir(dir);
}

TEST_SUITE_END();
