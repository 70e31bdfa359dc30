// Fault callbacks (emu/fault_callbacks.hpp): device (MMIO) ranges whose
// bytes go to the caller's device, a user pager that fills pages on first
// touch, and a hook that may fix an access violation and ask for a retry.
#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/emu/fault_callbacks.hpp>
#include <mmkit/phys/host_memory.hpp>
#include <mmkit/region/heap_watch_allocator.hpp>
#include <mmkit/region/pool_vad_allocator.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

using namespace mmkit;

namespace {

/// A lock that only counts how many locks this thread holds, so that a
/// callback can tell whether it was called with the space's locks held.
struct tracking_lock {
  static inline thread_local int held = 0;
  void lock() noexcept { ++held; }
  void unlock() noexcept { --held; }
  bool try_lock() noexcept {
    ++held;
    return true;
  }
};

struct cb_config : hosted_config<tracking_lock> {};
/// A table of two slots, to see it fill up.
struct two_slot_config : hosted_config<tracking_lock> {
  static constexpr std::size_t fault_callback_slots = 2;
};

template <class Config>
struct machine {
  explicit machine(std::uint64_t frames)
      : entries(frames),
        sys(host_memory::create(frames << page_shift).value(), entries.data(),
            frames, 0) {}
  std::vector<pfn_entry> entries;
  mmkit::system<Config> sys;
};

template <class Arch, class Config = cb_config>
using space = address_space<Arch, Config>;

/// A device of `bytes` bytes of registers that logs every call.
struct recording_device {
  struct call {
    bool write;
    std::uint64_t offset;
    std::size_t n;
    friend bool operator==(const call&, const call&) = default;
  };
  explicit recording_device(std::size_t bytes) : regs(bytes) {}
  std::vector<std::uint8_t> regs;
  std::vector<call> log;
  bool unlocked = true;  // every call came with the locks released

  status read(std::uint64_t offset, void* out, std::size_t n) noexcept {
    unlocked = unlocked && tracking_lock::held == 0;
    log.push_back({false, offset, n});
    std::memcpy(out, regs.data() + offset, n);
    return status::success;
  }
  status write(std::uint64_t offset, const void* in, std::size_t n) noexcept {
    unlocked = unlocked && tracking_lock::held == 0;
    log.push_back({true, offset, n});
    std::memcpy(regs.data() + offset, in, n);
    return status::success;
  }
};
static_assert(emu::MmioDevice<recording_device>);

/// A supplier that writes each page's address into its first 8 bytes and
/// a marker after it, or fails while `failing`.
struct pattern_supplier {
  std::vector<std::uint64_t> asked;
  bool failing = false;
  bool locked = true;  // every call came with the locks held

  status supply(vaddr va, std::byte* page) noexcept {
    locked = locked && tracking_lock::held != 0;
    asked.push_back(va.raw());
    if (failing) {
      page[0] = std::byte{0xEE};  // scribbles, then fails
      return status::in_page_error;
    }
    const std::uint64_t tag = va.raw();
    std::memcpy(page, &tag, sizeof tag);
    page[8] = std::byte{0xA5};
    return status::success;
  }
};
static_assert(emu::PageSupplier<pattern_supplier>);

/// A hook that records each event and runs `fix` (which may change the
/// space), answering `answer`.
template <class Space>
struct recording_hook {
  Space* as = nullptr;
  std::vector<emu::fault_event> events;
  bool unlocked = true;
  emu::hook_action answer = emu::hook_action::retry;
  void (*fix)(Space&, const emu::fault_event&) = nullptr;

  emu::hook_action on_fault(const emu::fault_event& e) noexcept {
    unlocked = unlocked && tracking_lock::held == 0;
    events.push_back(e);
    if (fix != nullptr) fix(*as, e);
    return answer;
  }
};

template <class Space>
vaddr allocate_at(Space& as, std::uint64_t at, std::uint64_t pages,
                  std::uint32_t type = mem::reserve | mem::commit,
                  std::uint32_t prot = page::readwrite) {
  vaddr base{at};
  std::uint64_t size = pages << page_shift;
  REQUIRE(as.allocate(base, size, type, prot) == status::success);
  return base;
}

template <class Space>
std::uint64_t read_u64(Space& as, vaddr va) {
  std::uint64_t v = 0;
  std::size_t done = 0;
  REQUIRE(as.read(va, &v, sizeof v, done) == status::success);
  return v;
}

template <class Space>
void write_u64(Space& as, vaddr va, std::uint64_t v) {
  std::size_t done = 0;
  REQUIRE(as.write(va, &v, sizeof v, done) == status::success);
}

}  // namespace

TEST_SUITE_BEGIN("emu");

// --- device ranges ---------------------------------------------------------

TEST_CASE_TEMPLATE(
    "mmio: reads and writes reach the device with the range's offsets and "
    "sizes, the locks released",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  machine<cb_config> m{256};
  space<Arch> as{m.sys};
  recording_device dev{3 * page_size};
  vaddr base{0};
  // 2.5 pages round up to 3.
  REQUIRE(as.map_mmio(base, 2 * page_size + 0x800, page::readwrite, dev) ==
          status::success);
  CHECK(base.raw() % allocation_granularity == 0);

  write_u64(as, base + 0x10, 0x1122334455667788);
  CHECK(dev.log.back() == recording_device::call{true, 0x10, 8});
  CHECK(read_u64(as, base + 0x10) == 0x1122334455667788);
  CHECK(dev.log.back() == recording_device::call{false, 0x10, 8});

  // One call for a run across the range's pages.
  std::vector<std::uint8_t> buf(2 * page_size);
  std::size_t done = 0;
  CHECK(as.read(base + 0x800, buf.data(), buf.size(), done) == status::success);
  CHECK(done == buf.size());
  CHECK(dev.log.back() == recording_device::call{false, 0x800, 2 * page_size});
  // The range ends at its third page: a read past it stops there.
  CHECK(as.read(base + 3 * page_size - 4, buf.data(), 8, done) ==
        status::partial_copy);
  CHECK(done == 4);
  CHECK(dev.log.back() == recording_device::call{false, 3 * page_size - 4, 4});

  CHECK(dev.unlocked);
  // No frame or PTE ever backs it.
  CHECK(as.frames_in_use() == 0);
  CHECK(as.working_set_size() == 0);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "mmio: a read or write spanning memory and a device range goes through "
    "both") {
  machine<cb_config> m{256};
  space<arch::x86_64> as{m.sys};
  // memory [0x10000000, +64 KiB), device [0x10010000, +64 KiB), memory
  // [0x10020000, +64 KiB).
  allocate_at(as, 0x10000000, 16);
  recording_device dev{16 * page_size};
  vaddr base{0x10010000};
  REQUIRE(as.map_mmio(base, 16 * page_size, page::readwrite, dev) ==
          status::success);
  CHECK(base.raw() == 0x10010000);
  allocate_at(as, 0x10020000, 16);

  for (std::size_t i = 0; i < dev.regs.size(); ++i)
    dev.regs[i] = static_cast<std::uint8_t>(i * 7);
  std::vector<std::uint8_t> out(0x100, 0x11);
  std::size_t done = 0;
  REQUIRE(as.write(vaddr{0x1000FF00}, out.data(), out.size(), done) ==
          status::success);
  REQUIRE(as.write(vaddr{0x10020000}, out.data(), out.size(), done) ==
          status::success);
  dev.log.clear();

  std::vector<std::uint8_t> in(0x10200);
  REQUIRE(as.read(vaddr{0x1000FF00}, in.data(), in.size(), done) ==
          status::success);
  CHECK(done == in.size());
  REQUIRE(dev.log.size() == 1);
  CHECK(dev.log[0] == recording_device::call{false, 0, 16 * page_size});
  CHECK(std::memcmp(in.data(), out.data(), 0x100) == 0);
  CHECK(std::memcmp(in.data() + 0x100, dev.regs.data(), 16 * page_size) == 0);
  CHECK(std::memcmp(in.data() + 0x10100, out.data(), 0x100) == 0);

  // A write across the device's start.
  dev.log.clear();
  std::vector<std::uint8_t> w(0x20, 0xCD);
  REQUIRE(as.write(vaddr{0x1000FFF0}, w.data(), w.size(), done) ==
          status::success);
  REQUIRE(dev.log.size() == 1);
  CHECK(dev.log[0] == recording_device::call{true, 0, 0x10});
  CHECK(dev.regs[0] == 0xCD);
  CHECK(dev.regs[0x10] == static_cast<std::uint8_t>(0x10 * 7));
  CHECK(dev.unlocked);
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE("mmio: the range's protection applies", Arch, arch::x86_32,
                   arch::x86_64) {
  machine<cb_config> m{256};
  space<Arch> as{m.sys};
  recording_device dev{page_size};
  vaddr ro{0};
  REQUIRE(as.map_mmio(ro, page_size, page::readonly, dev) == status::success);
  std::uint32_t v = 0x42;
  std::size_t done = 0;

  SUBCASE("a read-only range refuses writes with an access violation") {
    CHECK(as.write(ro + 4, &v, sizeof v, done) == status::access_violation);
    CHECK(done == 0);
    CHECK(dev.log.empty());
    CHECK(as.read(ro + 4, &v, sizeof v, done) == status::success);
    CHECK(dev.log.size() == 1);
  }
  SUBCASE(
      "access() and host_page_of() send an allowed access to the slow "
      "path") {
    CHECK(as.access(ro, mmkit::access::read) == status::invalid_device_request);
    CHECK(as.access(ro, mmkit::access::write) == status::access_violation);
    CHECK(as.host_page_of(ro, mmkit::access::read).error() ==
          status::invalid_device_request);
    CHECK(as.host_page_of(ro, mmkit::access::write).error() ==
          status::access_violation);
    CHECK(dev.log.empty());  // neither moves any byte
  }
  SUBCASE("a NOACCESS range refuses everything") {
    vaddr none{0};
    REQUIRE(as.map_mmio(none, page_size, page::noaccess, dev) ==
            status::success);
    CHECK(as.read(none, &v, sizeof v, done) == status::access_violation);
    CHECK(as.access(none, mmkit::access::read) == status::access_violation);
    CHECK(dev.log.empty());
  }
  SUBCASE("copy-on-write and guard protections are refused") {
    vaddr b{0};
    CHECK(as.map_mmio(b, page_size, page::writecopy, dev) ==
          status::invalid_page_protection);
    CHECK(as.map_mmio(b, page_size, page::readwrite | page::guard, dev) ==
          status::invalid_page_protection);
    CHECK(as.map_mmio(b, 0, page::readwrite, dev) == status::invalid_parameter);
  }
  CHECK(as.check_invariants());
}

TEST_CASE(
    "mmio: VirtualQuery shows a committed mapped range, and unmap_mmio "
    "removes it") {
  machine<cb_config> m{256};
  space<arch::x86_64> as{m.sys};
  recording_device dev{4 * page_size};
  vaddr base{0x20000000};
  REQUIRE(as.map_mmio(base, 4 * page_size, page::readwrite | page::nocache,
                      dev) == status::success);

  memory_basic_information info;
  REQUIRE(as.query(base + page_size + 5, info) == status::success);
  CHECK(info.base_address == base.raw() + page_size);
  CHECK(info.allocation_base == base.raw());
  CHECK(info.region_size == 3 * page_size);
  CHECK(info.state == mem::commit);
  CHECK(info.type == mem::mapped);
  CHECK(info.protect == (page::readwrite | page::nocache));
  CHECK(info.allocation_protect == (page::readwrite | page::nocache));
  CHECK(as.vad_nodes() == 1);

  CHECK(as.unmap_mmio(base + 2 * page_size) == status::success);
  REQUIRE(as.query(base, info) == status::success);
  CHECK(info.state == mem::free);
  CHECK(as.vad_nodes() == 0);
  std::uint32_t v = 0;
  std::size_t done = 0;
  CHECK(as.read(base, &v, sizeof v, done) == status::access_violation);
  CHECK(dev.log.empty());
  CHECK(as.unmap_mmio(base) == status::not_mapped_view);
  // Its slot is free again, and ordinary memory may take its place.
  allocate_at(as, base.raw(), 4);
  CHECK(as.unmap_mmio(base) == status::not_mapped_view);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "mmio: overlaps and the NT calls on a device range answer the NT "
    "statuses") {
  machine<cb_config> m{256};
  space<arch::x86_64> as{m.sys};
  recording_device dev{16 * page_size};
  const vaddr memory = allocate_at(as, 0x30000000, 16, mem::reserve);
  vaddr b = memory + 2 * page_size;
  CHECK(as.map_mmio(b, page_size, page::readwrite, dev) ==
        status::conflicting_addresses);

  vaddr d{0x30010000};
  REQUIRE(as.map_mmio(d, 16 * page_size, page::readwrite, dev) ==
          status::success);
  vaddr at = d;
  std::uint64_t size = page_size;
  CHECK(as.allocate(at, size, mem::reserve, page::readwrite) ==
        status::conflicting_addresses);
  CHECK(as.allocate(at, size, mem::commit, page::readwrite) ==
        status::conflicting_addresses);
  std::uint32_t old = 0;
  CHECK(as.protect(at, size, page::readonly, old) ==
        status::conflicting_addresses);
  CHECK(as.free(at, size, mem::decommit) == status::unable_to_delete_section);
  size = 0;
  CHECK(as.free(at, size, mem::release) == status::unable_to_delete_section);
  vaddr again = d + page_size;
  CHECK(as.map_mmio(again, page_size, page::readwrite, dev) ==
        status::conflicting_addresses);
  CHECK(as.unmap_view(d) == status::not_mapped_view);
  CHECK(as.vad_nodes() == 2);
  CHECK(as.check_invariants());
}

TEST_CASE("mmio: a full callback table refuses a new range") {
  machine<two_slot_config> m{256};
  space<arch::x86_64, two_slot_config> as{m.sys};
  recording_device dev{page_size};
  vaddr a{0}, b{0}, c{0};
  REQUIRE(as.map_mmio(a, page_size, page::readwrite, dev) == status::success);
  REQUIRE(as.map_mmio(b, page_size, page::readwrite, dev) == status::success);
  CHECK(as.map_mmio(c, page_size, page::readwrite, dev) ==
        status::insufficient_resources);
  CHECK(as.vad_nodes() == 2);
  REQUIRE(as.unmap_mmio(a) == status::success);
  CHECK(as.map_mmio(c, page_size, page::readwrite, dev) == status::success);
  CHECK(as.check_invariants());
}

// --- the user pager --------------------------------------------------------

TEST_CASE_TEMPLATE(
    "page supplier: pages are filled on their first touch only, inside the "
    "fault",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  machine<cb_config> m{256};
  space<Arch> as{m.sys};
  const vaddr base = allocate_at(as, 0x400000, 8);
  pattern_supplier s;
  // Pages 2..5 only.
  REQUIRE(as.set_page_supplier(base + 2 * page_size, 4 * page_size, s) ==
          status::success);

  const vaddr p3 = base + 3 * page_size;
  CHECK(read_u64(as, p3 + 8) == 0xA5);  // the fault fills the whole page
  REQUIRE(s.asked.size() == 1);
  CHECK(s.asked[0] == p3.raw());
  CHECK(read_u64(as, p3) == p3.raw());
  CHECK(read_u64(as, p3 + 16) == 0);  // the rest of the frame is zeroed
  write_u64(as, p3, 7);
  CHECK(read_u64(as, p3) == 7);
  CHECK(s.asked.size() == 1);  // touched once, supplied once

  // host_page_of and access() fault the same way.
  auto hp = as.host_page_of(base + 4 * page_size + 0x10, mmkit::access::write);
  REQUIRE(hp.ok());
  CHECK(s.asked.size() == 2);
  CHECK(as.access(base + 5 * page_size, mmkit::access::read) ==
        status::success);
  CHECK(s.asked.size() == 3);
  CHECK(read_u64(as, base + 5 * page_size) == (base + 5 * page_size).raw());

  // Pages outside the supplied range are demand-zero as ever.
  CHECK(read_u64(as, base + page_size) == 0);
  CHECK(read_u64(as, base + 6 * page_size) == 0);
  CHECK(s.asked.size() == 3);
  CHECK(s.locked);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "page supplier: a failing supplier fails the fault and leaves the page "
    "untouched") {
  machine<cb_config> m{256};
  space<arch::x86_64> as{m.sys};
  const vaddr base = allocate_at(as, 0x400000, 4);
  pattern_supplier s;
  s.failing = true;
  REQUIRE(as.set_page_supplier(base, 4 * page_size, s) == status::success);
  const std::uint64_t frames = as.frames_in_use();
  const std::uint64_t free_frames = m.sys.pfns().available();

  std::uint64_t v = 0;
  std::size_t done = 0;
  CHECK(as.read(base, &v, sizeof v, done) == status::in_page_error);
  CHECK(done == 0);
  CHECK(as.access(base, mmkit::access::write) == status::in_page_error);
  CHECK(as.host_page_of(base, mmkit::access::read).error() ==
        status::in_page_error);
  CHECK(s.asked.size() == 3);  // asked again at each touch
  CHECK(as.frames_in_use() == frames);
  CHECK(as.working_set_size() == 0);
  CHECK(m.sys.pfns().available() == free_frames);
  memory_basic_information info;
  REQUIRE(as.query(base, info) == status::success);
  CHECK(info.state == mem::commit);
  CHECK(as.check_invariants());

  SUBCASE("part-way through a copy: partial_copy") {
    s.failing = false;
    write_u64(as, base + page_size - 8, 1);  // page 0 supplied
    s.failing = true;
    std::uint64_t two[2] = {};
    CHECK(as.read(base + page_size - 8, two, sizeof two, done) ==
          status::partial_copy);
    CHECK(done == 8);
    CHECK(two[0] == 1);
  }
  SUBCASE("once the supplier recovers, the page is its contents") {
    s.failing = false;
    CHECK(read_u64(as, base) == base.raw());  // no 0xEE scribble
  }
  CHECK(as.check_invariants());
}

TEST_CASE(
    "page supplier: trimmed pages keep their contents; decommitted and "
    "recommitted pages are supplied again") {
  machine<cb_config> m{256};
  space<arch::x86_64> as{m.sys};
  const vaddr base = allocate_at(as, 0x400000, 2);
  pattern_supplier s;
  REQUIRE(as.set_page_supplier(base, 2 * page_size, s) == status::success);
  write_u64(as, base + 16, 0xBEEF);
  REQUIRE(s.asked.size() == 1);

  REQUIRE(as.trim(base));
  CHECK(as.working_set_size() == 0);
  CHECK(read_u64(as, base + 16) == 0xBEEF);  // soft fault, same frame
  CHECK(read_u64(as, base) == base.raw());
  CHECK(s.asked.size() == 1);
  CHECK(as.faults().soft == 1);

  vaddr b = base;
  std::uint64_t size = page_size;
  REQUIRE(as.free(b, size, mem::decommit) == status::success);
  allocate_at(as, base.raw(), 1, mem::commit);
  CHECK(read_u64(as, base + 16) == 0);  // the old contents are gone
  CHECK(read_u64(as, base) == base.raw());
  CHECK(s.asked.size() == 2);  // asked again
  CHECK(as.check_invariants());
}

TEST_CASE("page supplier: released pages are supplied no more") {
  machine<cb_config> m{512};
  space<arch::x86_64> as{m.sys};
  // Three 64 KiB granules, all supplied.
  const vaddr base = allocate_at(as, 0x1000000, 48);
  pattern_supplier s;
  REQUIRE(as.set_page_supplier(base, 48 * page_size, s) == status::success);

  // Releasing the middle granule splits the reservation and the supplied
  // range.
  vaddr mid = base + allocation_granularity;
  std::uint64_t size = allocation_granularity;
  REQUIRE(as.free(mid, size, mem::release) == status::success);
  CHECK(as.check_invariants());
  // New memory in the hole is not supplied.
  allocate_at(as, mid.raw(), 16);
  CHECK(read_u64(as, mid) == 0);
  CHECK(s.asked.empty());
  // Both halves still are.
  CHECK(read_u64(as, base) == base.raw());
  const vaddr tail = base + 2 * allocation_granularity + page_size;
  CHECK(read_u64(as, tail) == tail.raw());
  CHECK(s.asked.size() == 2);
  // The halves are two ranges now: clearing the whole is refused.
  CHECK(as.clear_page_supplier(base, 48 * page_size) ==
        status::invalid_parameter);
  CHECK(as.clear_page_supplier(base, 16 * page_size) == status::success);
  CHECK(as.check_invariants());

  // Releasing a whole reservation ends its supply.
  vaddr last = base + 2 * allocation_granularity;
  size = 0;
  REQUIRE(as.free(last, size, mem::release) == status::success);
  allocate_at(as, last.raw(), 16);
  CHECK(read_u64(as, last + page_size) == 0);
  CHECK(s.asked.size() == 2);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "page supplier: a release that would split a supplied range with the "
    "table full is refused, and nothing is released") {
  machine<two_slot_config> m{256};
  space<arch::x86_64, two_slot_config> as{m.sys};
  const vaddr base = allocate_at(as, 0x1000000, 48);
  pattern_supplier s;
  REQUIRE(as.set_page_supplier(base, 48 * page_size, s) == status::success);
  recording_device dev{page_size};
  vaddr d{0};
  REQUIRE(as.map_mmio(d, page_size, page::readwrite, dev) == status::success);

  vaddr mid = base + allocation_granularity;
  std::uint64_t size = allocation_granularity;
  CHECK(as.free(mid, size, mem::release) == status::insufficient_resources);
  memory_basic_information info;
  REQUIRE(as.query(mid, info) == status::success);
  CHECK(info.state == mem::commit);
  // A release at the end only clips it.
  vaddr end = base + 2 * allocation_granularity;
  size = allocation_granularity;
  CHECK(as.free(end, size, mem::release) == status::success);
  CHECK(as.check_invariants());
}

TEST_CASE("page supplier: only a range inside one private reservation") {
  machine<cb_config> m{256};
  space<arch::x86_64> as{m.sys};
  pattern_supplier s;
  const vaddr base = allocate_at(as, 0x400000, 4, mem::reserve);
  CHECK(as.set_page_supplier(base, 4 * page_size, s) == status::success);
  CHECK(as.set_page_supplier(base + page_size, page_size, s) ==
        status::conflicting_addresses);  // overlaps
  CHECK(as.set_page_supplier(base + 2 * page_size, 4 * page_size, s) ==
        status::conflicting_addresses);  // leaves the reservation
  CHECK(as.set_page_supplier(vaddr{0x800000}, page_size, s) ==
        status::conflicting_addresses);  // free
  recording_device dev{page_size};
  vaddr d{0};
  REQUIRE(as.map_mmio(d, page_size, page::readwrite, dev) == status::success);
  CHECK(as.set_page_supplier(d, page_size, s) ==
        status::conflicting_addresses);  // a device range
  CHECK(as.set_page_supplier(base, 0, s) == status::invalid_parameter);
  CHECK(as.clear_page_supplier(base, page_size) == status::invalid_parameter);
  CHECK(as.clear_page_supplier(base, 4 * page_size) == status::success);
  CHECK(as.check_invariants());
}

// --- the fault hook --------------------------------------------------------

TEST_CASE_TEMPLATE(
    "fault hook: an unmapped access whose hook maps the page and retries "
    "succeeds",
    Arch, arch::x86_32, arch::x86_64) {
  using S = space<Arch>;
  machine<cb_config> m{256};
  S as{m.sys};
  recording_hook<S> h;
  h.as = &as;
  h.fix = [](S& s, const emu::fault_event& e) {
    vaddr b{e.va.raw() & ~(allocation_granularity - 1)};
    std::uint64_t size = allocation_granularity;
    CHECK(s.allocate(b, size, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  };
  as.set_fault_hook(h);

  const vaddr va{0x500010};
  write_u64(as, va, 0x77);  // the hook allocates, the write is retried
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].va == va);
  CHECK(h.events[0].kind == mmkit::access::write);
  CHECK(h.events[0].reason == emu::fault_reason::unmapped);
  CHECK(read_u64(as, va) == 0x77);

  SUBCASE("through access()") {
    CHECK(as.access(vaddr{0x600000}, mmkit::access::read) == status::success);
    CHECK(h.events.back().kind == mmkit::access::read);
  }
  SUBCASE("through host_page_of()") {
    auto p = as.host_page_of(vaddr{0x700008}, mmkit::access::write);
    REQUIRE(p.ok());
    CHECK(h.events.back().va == vaddr{0x700008});
  }
  SUBCASE("a copy keeps the bytes it copied before the fault") {
    std::vector<std::uint8_t> buf(2 * page_size, 0x3C);
    std::size_t done = 0;
    // [0x500000, 0x510000) is mapped; the copy runs on into 0x510000.
    CHECK(as.write(vaddr{0x510000 - page_size}, buf.data(), buf.size(), done) ==
          status::success);
    CHECK(done == buf.size());
    CHECK(h.events.back().va == vaddr{0x510000});
  }
  CHECK(h.unlocked);
  CHECK(as.check_invariants());
}

TEST_CASE(
    "fault hook: a hook that makes a read-only page writable lets the write "
    "succeed") {
  using S = space<arch::x86_64>;
  machine<cb_config> m{256};
  S as{m.sys};
  const vaddr ro =
      allocate_at(as, 0x400000, 1, mem::reserve | mem::commit, page::readonly);
  recording_hook<S> h;
  h.as = &as;
  h.fix = [](S& s, const emu::fault_event& e) {
    vaddr b = e.va;
    std::uint64_t size = 1;
    std::uint32_t old = 0;
    CHECK(s.protect(b, size, page::readwrite, old) == status::success);
    CHECK(old == page::readonly);
  };
  as.set_fault_hook(h);
  write_u64(as, ro + 8, 5);
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].reason == emu::fault_reason::protection);
  CHECK(h.events[0].kind == mmkit::access::write);
  CHECK(read_u64(as, ro + 8) == 5);
  CHECK(h.unlocked);
  CHECK(as.check_invariants());
}

TEST_CASE("fault hook: a reserved page's fault says not_committed") {
  using S = space<arch::x86_64>;
  machine<cb_config> m{256};
  S as{m.sys};
  const vaddr r = allocate_at(as, 0x400000, 4, mem::reserve);
  recording_hook<S> h;
  h.as = &as;
  h.fix = [](S& s, const emu::fault_event& e) {
    vaddr b = e.va;
    std::uint64_t size = 1;
    CHECK(s.allocate(b, size, mem::commit, page::readwrite) == status::success);
  };
  as.set_fault_hook(h);
  CHECK(read_u64(as, r + 2 * page_size) == 0);
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].reason == emu::fault_reason::not_committed);
  CHECK(as.commit_charge() == 1);
  CHECK(as.check_invariants());
}

TEST_CASE("fault hook: a hook that answers fail gives the access violation") {
  using S = space<arch::x86_64>;
  machine<cb_config> m{256};
  S as{m.sys};
  recording_hook<S> h;
  h.answer = emu::hook_action::fail;
  as.set_fault_hook(h);
  std::uint64_t v = 0;
  std::size_t done = 0;
  CHECK(as.read(vaddr{0x400000}, &v, sizeof v, done) ==
        status::access_violation);
  CHECK(as.access(vaddr{0x400000}, mmkit::access::execute) ==
        status::access_violation);
  CHECK(h.events.size() == 2);
  CHECK(h.events[1].kind == mmkit::access::execute);

  SUBCASE("a write refused by a read-only device range is hooked too") {
    recording_device dev{page_size};
    vaddr d{0};
    REQUIRE(as.map_mmio(d, page_size, page::readonly, dev) == status::success);
    CHECK(as.write(d, &v, sizeof v, done) == status::access_violation);
    CHECK(h.events.back().reason == emu::fault_reason::protection);
    CHECK(dev.log.empty());
  }
  SUBCASE("without a hook nothing is called") {
    as.clear_fault_hook();
    CHECK(as.access(vaddr{0x400000}, mmkit::access::read) ==
          status::access_violation);
    CHECK(h.events.size() == 2);
  }
}

TEST_CASE(
    "fault hook: a hook that retries without fixing anything is called a "
    "bounded number of times") {
  using S = space<arch::x86_64>;
  machine<cb_config> m{256};
  S as{m.sys};
  recording_hook<S> h;  // retries, fixes nothing
  as.set_fault_hook(h);
  CHECK(as.access(vaddr{0x400000}, mmkit::access::read) ==
        status::access_violation);
  CHECK(h.events.size() == emu::hook_retry_limit);

  // A copy that got somewhere before it stuck: partial_copy.
  h.events.clear();
  const vaddr base = allocate_at(as, 0x800000, 1);
  std::uint64_t two[2] = {};
  std::size_t done = 0;
  CHECK(as.read(base + page_size - 8, two, sizeof two, done) ==
        status::partial_copy);
  CHECK(done == 8);
  CHECK(h.events.size() == emu::hook_retry_limit);
  CHECK(as.check_invariants());
}

TEST_CASE("fault hook: guard-page violations are not hooked") {
  using S = space<arch::x86_64>;
  machine<cb_config> m{256};
  S as{m.sys};
  const vaddr g = allocate_at(as, 0x400000, 1, mem::reserve | mem::commit,
                              page::readwrite | page::guard);
  recording_hook<S> h;
  as.set_fault_hook(h);
  CHECK(as.access(g, mmkit::access::read) == status::guard_page_violation);
  CHECK(as.access(g, mmkit::access::read) == status::success);
  CHECK(h.events.empty());
}

TEST_SUITE_END();
