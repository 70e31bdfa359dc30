// address_space::host_page_of: the host address of a guest page for one
// access, with the fault path behind it, and the generation that says when
// a cached one went stale.
#include "emu_machine.hpp"

#include <mmkit/region/write_watch.hpp>

#include <cstring>
#include <type_traits>

using namespace emu_test;

namespace {

// The default observer costs nothing: the space's observer is its own
// members only, so an address space without an observer is no bigger than
// it was before observers could batch.
static_assert(std::is_empty_v<no_pte_observer>);
static_assert(sizeof(space_observer<no_pte_observer>) ==
              sizeof(watch_list*) + sizeof(std::uint64_t) +
                  sizeof(watch_record*) + sizeof(page_listener*));
static_assert(!emu::FlushingObserver<no_pte_observer>);
static_assert(!emu::CountsGenerations<no_pte_observer>);

struct empty_observer_config : hosted_config<> {
  using observer = no_pte_observer;
};
static_assert(sizeof(address_space<arch::x86_64, hosted_config<>>) ==
              sizeof(address_space<arch::x86_64, empty_observer_config>));

}  // namespace

TEST_SUITE_BEGIN("emu");

TEST_CASE_TEMPLATE(
    "host_page: a committed page's pointer reads and writes the guest's "
    "bytes",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  emu_machine m{256};
  emu_space<Arch> as{m.sys};
  const vaddr base = allocate(as, 4);
  const vaddr va = base + 0x1234;

  auto w = as.host_page_of(va, mmkit::access::write);  // demand-zero fault
  REQUIRE(w.ok());
  CHECK(w->bytes == page_size - 0x234);
  CHECK(as.faults().demand_zero == 1);
  const std::uint32_t tag = 0xC0FFEE;
  std::memcpy(w->pointer, &tag, sizeof tag);
  CHECK(peek(as, va) == tag);

  poke(as, va + 8, 0xBEEF);
  auto r = as.host_page_of(va + 8, mmkit::access::read);
  REQUIRE(r.ok());
  CHECK(r->pointer == w->pointer + 8);
  std::uint32_t back = 0;
  std::memcpy(&back, r->pointer, sizeof back);
  CHECK(back == 0xBEEF);
  // Making a page valid takes nothing from a cached pointer.
  CHECK(r->generation == w->generation);
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE("host_page: faults answer as access() does", Arch,
                   arch::x86_32, arch::x86_64) {
  emu_machine m{256};
  emu_space<Arch> as{m.sys};
  const vaddr reserved = allocate(as, 4, mem::reserve);
  CHECK(as.host_page_of(reserved, mmkit::access::read).error() ==
        status::access_violation);
  CHECK(as.host_page_of(vaddr{0x1000}, mmkit::access::read).error() ==
        status::access_violation);

  const vaddr ro = allocate(as, 1, mem::reserve | mem::commit, page::readonly);
  CHECK(as.host_page_of(ro, mmkit::access::read).ok());
  CHECK(as.host_page_of(ro, mmkit::access::write).error() ==
        status::access_violation);

  const vaddr guarded = allocate(as, 1, mem::reserve | mem::commit,
                                 page::readwrite | page::guard);
  CHECK(as.host_page_of(guarded, mmkit::access::read).error() ==
        status::guard_page_violation);
  CHECK(as.host_page_of(guarded, mmkit::access::write).ok());  // one-shot

  const vaddr none =
      allocate(as, 1, mem::reserve | mem::commit, page::noaccess);
  CHECK(as.host_page_of(none, mmkit::access::read).error() ==
        status::access_violation);
  // User pages are not the kernel's to miss: a kernel access succeeds.
  CHECK(as.host_page_of(ro, mmkit::access::read, cpu_mode::kernel).ok());
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE(
    "host_page: the generation moves exactly when a cached pointer may be "
    "stale",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  emu_machine m{256};
  emu_space<Arch> as{m.sys};
  const vaddr va = allocate(as, 4);
  auto first = as.host_page_of(va, mmkit::access::write);
  REQUIRE(first.ok());
  std::uint64_t g = as.change_generation();
  CHECK(first->generation == g);

  std::uint32_t old = 0;
  auto protect = [&](std::uint32_t prot) {
    vaddr b = va;
    std::uint64_t size = page_size;
    REQUIRE(as.protect(b, size, prot, old) == status::success);
  };
  protect(page::readonly);  // write taken away
  CHECK(as.change_generation() == g + 1);
  g = as.change_generation();
  protect(page::readwrite);  // nothing taken away
  CHECK(as.change_generation() == g);

  REQUIRE(as.trim(va));  // no longer valid
  CHECK(as.change_generation() == g + 1);
  g = as.change_generation();
  auto back = as.host_page_of(va, mmkit::access::read);  // soft fault
  REQUIRE(back.ok());
  CHECK(back->generation == g);
  CHECK(back->pointer == first->pointer);  // the same frame came back

  vaddr b = va;
  std::uint64_t size = page_size;
  REQUIRE(as.free(b, size, mem::decommit) == status::success);
  CHECK(as.change_generation() == g + 1);
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE(
    "host_page: a write to a WRITECOPY view gets a private page, and the "
    "read pointer goes stale",
    Arch, arch::x86_32, arch::x86_64) {
  emu_machine m{512};
  section_handle h;
  REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0,
                         4 * page_size, page::readwrite,
                         sec::commit) == status::success);
  {
    emu_space<Arch> as{m.sys};
    vaddr shared{0}, copy{0};
    std::uint64_t size = 0;
    REQUIRE(as.map_view(h, shared, size, 0, 0, page::readwrite) ==
            status::success);
    size = 0;
    REQUIRE(as.map_view(h, copy, size, 0, 0, page::writecopy) ==
            status::success);
    poke(as, shared, 0x1111);
    auto r = as.host_page_of(copy, mmkit::access::read);
    REQUIRE(r.ok());
    CHECK(r->pointer == as.host_page_of(shared, mmkit::access::read)->pointer);
    const std::uint64_t g = as.change_generation();

    auto w = as.host_page_of(copy, mmkit::access::write);  // copy-on-write
    REQUIRE(w.ok());
    CHECK(w->pointer != r->pointer);
    CHECK(w->generation == g + 1);
    const std::uint32_t mine = 0x2222;
    std::memcpy(w->pointer, &mine, sizeof mine);
    CHECK(peek(as, copy) == 0x2222);
    CHECK(peek(as, shared) == 0x1111);
    // The sink heard of the copy as a remap of that one page.
    const auto& ev = as.observer().sink().events;
    REQUIRE_FALSE(ev.empty());
    CHECK(ev.back().kind == emu::change_kind::remapped);
    CHECK(ev.back().range == vpn_range{copy.page(), copy.page()});
    CHECK(as.check_invariants());
  }
  close_section(m.sys, h);
}

TEST_CASE("host_page: without a counting observer the generation is 0") {
  hosted_system<> sys{std::uint64_t{4} << 20};
  address_space<arch::x86_64, hosted_config<>> as{sys};
  vaddr base{0};
  std::uint64_t size = page_size;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite) == status::success);
  auto p = as.host_page_of(base, mmkit::access::write);
  REQUIRE(p.ok());
  CHECK(p->generation == 0);
  CHECK(p->bytes == page_size);
}

TEST_SUITE_END();
