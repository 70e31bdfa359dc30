// system: the machine its address spaces share. When the PFN database takes
// a standby frame for another use, the system finds the address space whose
// transition PTE names the frame and has it rewrite that PTE (TLB dropped,
// observer told), so no page ever keeps a frame someone else now owns.
#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/phys/host_memory.hpp>
#include <mmkit/region/pool_vad_allocator.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

using namespace mmkit;

namespace {

/// Records the PTE changes of one address space.
struct recording_observer {
  struct change {
    std::uint64_t page, before, after;
  };
  std::vector<change> log;
  template <class E>
  void pte_changed(vpn p, E before, E after) noexcept {
    log.push_back({p.raw(), before, after});
  }
};

struct observed_config
    : system_config<host_memory, no_lock, pool_vad_allocator<vad>> {
  using observer = recording_observer;
};

/// A system of `frames` frames with observed address spaces.
struct observed_machine {
  explicit observed_machine(std::uint64_t frames)
      : entries(frames),
        sys(host_memory::create(frames << page_shift).value(), entries.data(),
            frames, 0) {}
  std::vector<pfn_entry> entries;
  mmkit::system<observed_config> sys;
};

template <class Arch>
using observed_space = address_space<Arch, observed_config>;

template <class Space>
vaddr commit(Space& as, std::uint64_t pages) {
  vaddr base{0};
  std::uint64_t size = pages << page_shift;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite) == status::success);
  return base;
}

}  // namespace

TEST_SUITE_BEGIN("system");

TEST_CASE(
    "system: a trimmed page comes back with a soft fault, contents "
    "intact") {
  observed_machine m{256};
  observed_space<arch::x86_32> a{m.sys};
  const vaddr va = commit(a, 4);
  const std::uint64_t tag = 0x1234'5678'9abc'def0;
  std::size_t done = 0;
  REQUIRE(a.write(va, &tag, sizeof tag, done) == status::success);
  const pfn frame = a.translate(va).address.frame();
  a.observer().log.clear();

  REQUIRE(a.trim(va));
  CHECK_FALSE(a.trim(va));  // no longer valid
  CHECK(m.sys.pfns().entry(frame).state() == page_state::modified);
  CHECK(a.frames_in_use() == 1);  // the frame still holds the page
  CHECK(a.translate(va).kind == entry_kind::transition);
  REQUIRE(a.observer().log.size() == 1);
  CHECK(a.observer().log[0].page == va.page().raw());

  std::uint64_t back = 0;
  REQUIRE(a.read(va, &back, sizeof back, done) == status::success);
  CHECK(back == tag);
  CHECK(a.faults().soft == 1);
  CHECK(a.translate(va).address.frame() == frame);
  CHECK(m.sys.pfns().entry(frame).state() == page_state::active);
  CHECK(a.check_invariants());
}

TEST_CASE(
    "system: repurposing a standby frame rewrites the PTE of the space "
    "that owned it") {
  observed_machine m{64};
  observed_space<arch::x86_32> a{m.sys};
  observed_space<arch::x86_64> b{m.sys};
  REQUIRE(a.creation_status() == status::success);
  REQUIRE(b.creation_status() == status::success);
  CHECK(m.sys.space_count() == 2);
  auto& db = m.sys.pfns();

  // A's page is trimmed and then written out (as the modified page writer
  // would, which the pager issue adds): its frame is on standby, named by
  // A's transition PTE.
  const vaddr va = commit(a, 1) + 0x10;  // not page-aligned: any VA of it
  const std::uint64_t tag = 0xA;
  std::size_t done = 0;
  REQUIRE(a.write(va, &tag, sizeof tag, done) == status::success);
  const pfn frame = a.translate(va).address.frame();
  REQUIRE(a.trim(va));
  db.move_to_standby_after_write(frame);
  CHECK(db.entry(frame).state() == page_state::standby);
  a.observer().log.clear();
  // B has pages of its own.
  const vaddr vb = commit(b, 4);
  REQUIRE(b.write(vb, &tag, sizeof tag, done) == status::success);
  b.observer().log.clear();

  // Someone takes every frame: once zeroed and free are empty, the
  // database repurposes the standby frame and calls the system back.
  std::vector<pfn> taken;
  while (true) {
    auto f = db.allocate(page_need::zeroed);
    REQUIRE(f.ok());
    taken.push_back(*f);
    if (*f == frame) break;
  }
  // A's PTE no longer names the frame. Its observer hears nothing: the
  // page was absent and stays absent, no translation or right changed
  // (the system rewrites the word from whatever thread needs the frame,
  // while A's own thread may be walking its tables).
  CHECK(a.observer().log.empty());
  CHECK(a.frames_in_use() == 0);
  CHECK(a.translate(va).kind == entry_kind::demand_zero);
  CHECK(b.observer().log.empty());
  for (pfn f : taken) db.release(f, release_to::free_list);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
  // A's page is committed and untouched again (its copy would come back
  // from the page file once there is one); B's data is B's.
  std::uint64_t seen = 99;
  REQUIRE(a.read(va, &seen, sizeof seen, done) == status::success);
  CHECK(seen == 0);
  REQUIRE(b.read(vb, &seen, sizeof seen, done) == status::success);
  CHECK(seen == tag);
}

TEST_CASE(
    "system: a space that cannot get its root table reports it and "
    "holds nothing") {
  hosted_system<> sys{std::uint64_t{1} << 20};  // 256 frames
  std::vector<std::unique_ptr<address_space<arch::x86_64, hosted_config<>>>>
      spaces;
  while (sys.pfns().available() != 0)
    spaces.push_back(
        std::make_unique<address_space<arch::x86_64, hosted_config<>>>(sys));
  address_space<arch::x86_64, hosted_config<>> late{sys};
  CHECK(late.creation_status() == status::no_memory);
  vaddr base{0};
  std::uint64_t size = 0x1000;
  CHECK(late.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite) == status::no_memory);
  memory_basic_information info;
  CHECK(late.query(vaddr{0x10000}, info) == status::no_memory);
  CHECK(late.access(vaddr{0x10000}, access::read) == status::no_memory);
  std::size_t done = 1;
  CHECK(late.read(vaddr{0x10000}, &size, sizeof size, done) ==
        status::no_memory);
  CHECK(done == 0);
  CHECK(late.check_invariants());
  CHECK(sys.space_count() == spaces.size());
}

TEST_CASE(
    "system: pool quota bounds VAD nodes and page tables per space and "
    "per system") {
  hosted_system<> sys{std::uint64_t{16} << 20};
  using space = address_space<arch::x86_64, hosted_config<>>;
  space a{sys};
  space b{sys};
  a.set_quota({2, ~std::uint64_t{0}});
  vaddr r1{0}, r2{0}, r3{0};
  std::uint64_t s1 = 0x30000, s2 = 0x10000, s3 = 0x10000;
  REQUIRE(a.allocate(r1, s1, mem::reserve, page::readwrite) == status::success);
  REQUIRE(a.allocate(r2, s2, mem::reserve, page::readwrite) == status::success);
  CHECK(a.allocate(r3, s3, mem::reserve, page::readwrite) ==
        status::quota_exceeded);
  CHECK(r3.raw() == 0);
  CHECK(s3 == 0x10000);
  CHECK(a.vad_nodes() == 2);
  // Releasing the middle of a reservation needs a second node.
  vaddr mid = r1 + 0x10000;
  std::uint64_t ms = 0x10000;
  CHECK(a.free(mid, ms, mem::release) == status::quota_exceeded);
  memory_basic_information info;
  REQUIRE(a.query(r1, info) == status::success);
  CHECK(info.region_size == 0x30000);

  // Page tables: the root and the three tables of one 2 MiB span.
  space c{sys};
  c.set_quota({~std::uint64_t{0}, 4});
  vaddr p{0x40000000};
  std::uint64_t ps = 0x1000;
  REQUIRE(c.allocate(p, ps, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  CHECK(c.table_pages_in_use() == 4);
  vaddr q{0x80000000};
  std::uint64_t qs = 0x1000;
  CHECK(c.allocate(q, qs, mem::reserve | mem::commit, page::readwrite) ==
        status::quota_exceeded);
  CHECK(c.commit_charge() == 1);
  CHECK(c.vad_nodes() == 1);

  // The system's quota counts every space.
  sys.set_quota({4, ~std::uint64_t{0}});
  vaddr r4{0};
  std::uint64_t s4 = 0x10000;
  CHECK(sys.vad_nodes() == 3);
  REQUIRE(b.allocate(r4, s4, mem::reserve, page::readwrite) == status::success);
  r4 = vaddr{0};
  CHECK(b.allocate(r4, s4, mem::reserve, page::readwrite) ==
        status::quota_exceeded);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
  CHECK(c.check_invariants());
}

TEST_CASE("system: less RAM than a frame is a status, not an abort") {
  for (std::uint64_t bytes :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{4095}}) {
    hosted_system<> tiny{bytes};
    CHECK(tiny.creation_status() == status::invalid_parameter);
    CHECK(tiny.pfns().frame_count() == 0);
    CHECK(tiny.commit_limit() == 0);
    address_space<arch::x86_32, hosted_config<>> as{tiny};
    CHECK(as.creation_status() == status::no_memory);
    vaddr base{0};
    std::uint64_t size = 0x1000;
    CHECK(as.allocate(base, size, mem::reserve, page::readwrite) ==
          status::no_memory);
  }
  hosted_system<> one{4096};
  CHECK(one.creation_status() == status::success);
  CHECK(one.pfns().frame_count() == 1);
}

TEST_SUITE_END();
