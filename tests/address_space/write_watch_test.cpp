// Write watch: MEM_WRITE_WATCH reservations, NtGetWriteWatch and
// NtResetWriteWatch, case by case as Wine's test_write_watch
// (dlls/kernel32/tests/virtual.c) observes Windows.
#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <vector>

using namespace mmkit;

namespace {

template <class Arch>
struct watched {
  hosted_system<> sys{std::uint64_t{16} << 20};
  address_space<Arch, hosted_config<>> as{sys};
  std::uint64_t base = 0;
  static constexpr std::uint64_t size = 0x10000;

  explicit watched(std::uint32_t type = mem::reserve | mem::commit,
                   std::uint32_t prot = page::readwrite) {
    vaddr b{0};
    std::uint64_t s = size;
    REQUIRE(as.allocate(b, s, type | mem::write_watch, prot) ==
            status::success);
    base = b.raw();
  }
  ~watched() { CHECK(as.check_invariants()); }

  /// The written pages of [at, at + bytes), as page numbers from base.
  std::vector<std::uint64_t> written(std::uint64_t at, std::uint64_t bytes,
                                     std::uint32_t flags = 0,
                                     std::uint64_t count = 64) {
    std::array<vaddr, 64> out{};
    std::uint32_t granularity = 0;
    REQUIRE(as.get_write_watch(flags, vaddr{at}, bytes, out.data(), count,
                               granularity) == status::success);
    CHECK(granularity == page_size);
    std::vector<std::uint64_t> pages;
    for (std::uint64_t i = 0; i < count; ++i)
      pages.push_back((out[i].raw() - base) / page_size);
    return pages;
  }
  void poke(std::uint64_t offset, std::uint32_t value = 0x44) {
    std::size_t done = 0;
    REQUIRE(as.write(vaddr{base + offset}, &value, sizeof value, done) ==
            status::success);
  }
  status protect(std::uint64_t offset, std::uint64_t bytes,
                 std::uint32_t prot) {
    vaddr b{base + offset};
    std::uint32_t old = 0;
    return as.protect(b, bytes, prot, old);
  }
};

using V = std::vector<std::uint64_t>;
constexpr std::uint64_t P = page_size;

}  // namespace

TEST_SUITE_BEGIN("region");

TEST_CASE_TEMPLATE("write watch: writes are reported page by page and reset",
                   Arch, arch::x86_32, arch::x86_pae, arch::x86_64,
                   arch::x86_la57) {
  watched<Arch> w;
  memory_basic_information info;
  REQUIRE(w.as.query(vaddr{w.base}, info) == status::success);
  CHECK(info.state == mem::commit);
  CHECK(info.type == mem::private_memory);
  CHECK(info.region_size == w.size);

  CHECK(w.written(w.base, w.size) == V{});
  w.poke(P + 1);
  CHECK(w.written(w.base, w.size) == V{1});
  // WRITE_WATCH_FLAG_RESET reports, then forgets.
  CHECK(w.written(w.base, w.size, write_watch_flag_reset) == V{1});
  CHECK(w.written(w.base, w.size) == V{});
  w.poke(2 * P + 3);
  w.poke(4 * P + 8);
  CHECK(w.written(w.base, w.size) == (V{2, 4}));
  CHECK(w.written(w.base + 3 * P, 2 * P) == V{4});
  // ResetWriteWatch over the first three pages.
  CHECK(w.as.reset_write_watch(vaddr{w.base}, 3 * P) == status::success);
  CHECK(w.written(w.base, w.size) == V{4});
  // A write across a page boundary marks both pages.
  w.poke(2 * P - 2, 0xdeadbeef);
  CHECK(w.written(w.base, w.size) == (V{1, 2, 4}));
  // A reset with a count resets only the pages it returns.
  CHECK(w.written(w.base, w.size, write_watch_flag_reset, 1) == V{1});
  CHECK(w.written(w.base, w.size) == (V{2, 4}));
  // Changing protections does not affect watches.
  REQUIRE(w.protect(0, 3 * P, page::readonly) == status::success);
  REQUIRE(w.protect(0, 3 * P, page::readwrite) == status::success);
  CHECK(w.written(w.base, w.size) == (V{2, 4}));
}

TEST_CASE_TEMPLATE(
    "write watch: NOACCESS, decommit and guard pages keep or "
    "fire as on Windows",
    Arch, arch::x86_32, arch::x86_64) {
  // The initial protection does not matter.
  watched<Arch> w{mem::reserve, page::noaccess};
  vaddr b{w.base};
  std::uint64_t s = w.size;
  REQUIRE(w.as.allocate(b, s, mem::commit, page::noaccess) == status::success);
  CHECK(w.written(w.base, w.size) == V{});
  REQUIRE(w.protect(0, 6 * P, page::readwrite) == status::success);
  w.poke(5 * P + 200, 3);
  REQUIRE(w.protect(0, 6 * P, page::noaccess) == status::success);
  CHECK(w.written(w.base, w.size) == V{5});
  // Decommit forgets the page, not the write.
  b = vaddr{w.base};
  s = w.size;
  REQUIRE(w.as.free(b, s, mem::decommit) == status::success);
  CHECK(w.written(w.base, w.size) == V{5});
  // A guard page in a write-watch region still fires once.
  REQUIRE(w.as.reset_write_watch(vaddr{w.base}, w.size) == status::success);
  b = vaddr{w.base};
  s = P;
  REQUIRE(w.as.allocate(b, s, mem::commit, page::readwrite | page::guard) ==
          status::success);
  CHECK(w.as.access(vaddr{w.base}, access::write) ==
        status::guard_page_violation);
  CHECK(w.written(w.base, w.size) == V{});
  CHECK(w.as.access(vaddr{w.base}, access::write) == status::success);
  CHECK(w.written(w.base, w.size) == V{0});
}

TEST_CASE("write watch: what is refused, with NT's statuses") {
  watched<arch::x86_64> w;
  std::array<vaddr, 4> out{};
  std::uint64_t count = 4;
  std::uint32_t g = 0;
  const auto get = [&](std::uint32_t flags, std::uint64_t at,
                       std::uint64_t bytes, std::uint64_t n) {
    count = n;
    return w.as.get_write_watch(flags, vaddr{at}, bytes, out.data(), count, g);
  };
  CHECK(get(0, 0, w.size, 4) == status::invalid_parameter);  // no region
  CHECK(get(0xdeadbeef, w.base, w.size, 4) == status::invalid_parameter);
  CHECK(get(0, w.base, 0, 4) == status::invalid_parameter);
  CHECK(get(0, w.base, 2 * w.size, 4) == status::invalid_parameter);
  CHECK(get(0, w.base + w.size - P, P + 1, 4) == status::invalid_parameter);
  CHECK(get(0, w.base, w.size, 0) == status::invalid_parameter);
  CHECK(count == 0);  // unchanged on failure
  CHECK(w.as.reset_write_watch(vaddr{w.base}, 0) == status::invalid_parameter);
  // A reservation without write watch is not watched.
  vaddr plain{0};
  std::uint64_t ps = 0x10000;
  REQUIRE(w.as.allocate(plain, ps, mem::reserve | mem::commit,
                        page::readwrite) == status::success);
  CHECK(get(0, plain.raw(), ps, 4) == status::invalid_parameter);
  CHECK(w.as.reset_write_watch(plain, ps) == status::invalid_parameter);
  // MEM_WRITE_WATCH needs MEM_RESERVE; with it, commit is optional.
  vaddr b{0};
  std::uint64_t s = 0x10000;
  CHECK(w.as.allocate(b, s, mem::write_watch, page::readwrite) ==
        status::invalid_parameter_5);
  CHECK(w.as.allocate(b, s, mem::commit | mem::write_watch, page::readwrite) ==
        status::invalid_parameter_5);
  REQUIRE(w.as.allocate(b, s, mem::reserve | mem::write_watch,
                        page::readwrite) == status::success);
  // Releasing the reservation drops its record; the range is free again.
  std::uint64_t zero = 0;
  REQUIRE(w.as.free(b, zero, mem::release) == status::success);
  CHECK(get(0, b.raw(), s, 4) == status::invalid_parameter);
}

TEST_CASE(
    "write watch: a freestanding configuration without a bitmap "
    "allocator refuses it") {
  struct plain_config
      : system_config<host_memory, no_lock, pool_vad_allocator<vad>> {};
  std::vector<pfn_entry> entries(64);
  mmkit::system<plain_config> sys{host_memory::create(64 * page_size).value(),
                                  entries.data(), 64, 0};
  address_space<arch::x86_64, plain_config> as{sys};
  vaddr b{0};
  std::uint64_t s = 0x10000;
  CHECK(as.allocate(b, s, mem::reserve | mem::write_watch, page::readwrite) ==
        status::insufficient_resources);
  CHECK(as.vads().empty());
  CHECK(as.check_invariants());
}

TEST_SUITE_END();
