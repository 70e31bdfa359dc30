// Bad input changes nothing: every malformed call returns its NTSTATUS, and
// the whole address space (the query walk of user space and the bytes of
// every readable committed page) is identical before and after it. Also the
// isolation rules: user mode cannot reach kernel space, no-execute pages do
// not execute (where the arch has NX), and released frames come back zeroed.
#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace mmkit;

namespace {

template <class Arch>
using space = address_space<Arch, hosted_config<>>;

/// Everything a caller can observe: the query walk and the bytes of every
/// readable committed page.
struct snapshot {
  std::vector<memory_basic_information> regions;
  std::vector<std::uint8_t> bytes;
  std::uint64_t commit_charge = 0;
  bool operator==(const snapshot&) const = default;
};

template <class Arch>
snapshot take(space<Arch>& as) {
  snapshot s;
  s.commit_charge = as.commit_charge();
  std::uint64_t a = 0;
  while (a <= Arch::highest_user_address) {
    memory_basic_information info;
    REQUIRE(as.query(vaddr{a}, info) == status::success);
    s.regions.push_back(info);
    // Guard pages are left unread: reading one would disarm it.
    if (info.state == mem::commit && !(info.protect & page::guard) &&
        (info.protect & (page::readonly | page::readwrite | page::execute_read |
                         page::execute_readwrite))) {
      const std::size_t at = s.bytes.size();
      s.bytes.resize(at + info.region_size);
      std::size_t done = 0;
      REQUIRE(as.read(vaddr{info.base_address}, s.bytes.data() + at,
                      info.region_size, done) == status::success);
    }
    a = info.base_address + info.region_size;
  }
  return s;
}

struct bad_call {
  const char* what;
  enum kind { alloc, free_, protect } k;
  std::uint64_t base, size;
  std::uint32_t flags, prot;
  std::uint64_t zero_bits;
  status expect;
};

}  // namespace

TEST_SUITE_BEGIN("nt");

TEST_CASE_TEMPLATE(
    "address_space: malformed calls return their status and change nothing",
    Arch, arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  hosted_system<> sys{std::uint64_t{32} << 20};
  space<Arch> as{sys};
  // A populated space: data in two allocations, a guard page, a read-only
  // page and a reserved hole.
  const std::uint64_t A = 0x50000000, B = 0x50100000;
  {
    vaddr b{A};
    std::uint64_t s = 0x10000;
    REQUIRE(as.allocate(b, s, mem::reserve | mem::commit, page::readwrite) ==
            status::success);
    b = vaddr{B};
    s = 0x8000;
    REQUIRE(as.allocate(b, s, mem::reserve, page::readwrite) ==
            status::success);
    b = vaddr{B + 0x2000};
    s = 0x2000;
    REQUIRE(as.allocate(b, s, mem::commit, page::readwrite) == status::success);
    std::vector<std::uint8_t> pattern(0x3000);
    for (std::size_t i = 0; i < pattern.size(); ++i)
      pattern[i] = static_cast<std::uint8_t>(i * 7 + 1);
    std::size_t done = 0;
    REQUIRE(as.write(vaddr{A + 0x800}, pattern.data(), pattern.size(), done) ==
            status::success);
    REQUIRE(as.write(vaddr{B + 0x2100}, pattern.data(), 0x100, done) ==
            status::success);
    std::uint32_t old = 0;
    b = vaddr{A + 0x4000};
    s = 0x1000;
    REQUIRE(as.protect(b, s, page::readonly, old) == status::success);
    b = vaddr{A + 0x5000};
    s = 0x1000;
    REQUIRE(as.protect(b, s, page::readwrite | page::guard, old) ==
            status::success);
  }
  const std::uint64_t top = Arch::highest_user_address;
  const std::uint64_t huge = ~std::uint64_t{0};
  const bad_call calls[] = {
      // NtAllocateVirtualMemory
      {"no type", bad_call::alloc, 0, 0x1000, 0, page::readwrite, 0,
       status::invalid_parameter_5},
      {"unknown type bit", bad_call::alloc, 0, 0x1000,
       mem::reserve | 0x40000000, page::readwrite, 0,
       status::invalid_parameter_5},
      {"MEM_RESET with MEM_COMMIT", bad_call::alloc, A, 0x1000,
       mem::reset | mem::commit, page::readwrite, 0,
       status::invalid_parameter_5},
      {"ZeroBits 22", bad_call::alloc, 0, 0x1000, mem::reserve, page::readwrite,
       22, status::invalid_parameter_3},
      {"protection 0", bad_call::alloc, 0, 0x1000, mem::reserve, 0, 0,
       status::invalid_page_protection},
      {"two base protections", bad_call::alloc, 0, 0x1000, mem::reserve,
       page::readonly | page::readwrite, 0, status::invalid_page_protection},
      {"NOACCESS|GUARD", bad_call::alloc, 0, 0x1000, mem::reserve,
       page::noaccess | page::guard, 0, status::invalid_page_protection},
      {"private WRITECOPY", bad_call::alloc, 0, 0x1000, mem::reserve,
       page::writecopy, 0, status::invalid_page_protection},
      {"size 0", bad_call::alloc, 0, 0, mem::reserve, page::readwrite, 0,
       status::invalid_parameter_4},
      {"overflowing size", bad_call::alloc, 0x60000000, huge, mem::reserve,
       page::readwrite, 0, status::invalid_parameter_4},
      {"range past user space", bad_call::alloc, top - 0xFFFF, 0x20000,
       mem::reserve, page::readwrite, 0, status::invalid_parameter_4},
      {"base in kernel space", bad_call::alloc, Arch::kernel_base, 0x1000,
       mem::reserve, page::readwrite, 0, status::invalid_parameter_2},
      {"base below 64 KiB", bad_call::alloc, 0x1000, 0x1000, mem::reserve,
       page::readwrite, 0, status::invalid_parameter_2},
      {"reserve over an allocation", bad_call::alloc, A + 0x8000, 0x1000,
       mem::reserve, page::readwrite, 0, status::conflicting_addresses},
      {"commit across two allocations", bad_call::alloc, A + 0xF000, 0x100000,
       mem::commit, page::readwrite, 0, status::conflicting_addresses},
      {"commit in free memory", bad_call::alloc, 0x70000000, 0x1000,
       mem::commit, page::readwrite, 0, status::conflicting_addresses},
      {"commit past the commit limit", bad_call::alloc, 0, 0x40000000,
       mem::reserve | mem::commit, page::readwrite, 0,
       status::commitment_limit},
      // NtFreeVirtualMemory
      {"both free types", bad_call::free_, A, 0, mem::decommit | mem::release,
       0, 0, status::invalid_parameter_4},
      {"no free type", bad_call::free_, A, 0, 0, 0, 0,
       status::invalid_parameter_4},
      {"free in kernel space", bad_call::free_, Arch::kernel_base, 0,
       mem::release, 0, 0, status::invalid_parameter_2},
      {"free size past user space", bad_call::free_, A, top, mem::release, 0, 0,
       status::invalid_parameter_3},
      {"free of free memory", bad_call::free_, 0x70000000, 0, mem::release, 0,
       0, status::memory_not_allocated},
      {"release size 0 not at the base", bad_call::free_, A + 0x1000, 0,
       mem::release, 0, 0, status::free_vm_not_at_base},
      {"release spanning two allocations", bad_call::free_, A, 0x110000,
       mem::release, 0, 0, status::unable_to_free_vm},
      {"decommit past the allocation", bad_call::free_, B + 0x7000, 0x2000,
       mem::decommit, 0, 0, status::unable_to_free_vm},
      // NtProtectVirtualMemory
      {"protect 0", bad_call::protect, A, 0x1000, 0, 0, 0,
       status::invalid_page_protection},
      {"protect size 0", bad_call::protect, A, 0, page::readonly, 0, 0,
       status::invalid_parameter_3},
      {"protect in kernel space", bad_call::protect, Arch::kernel_base, 0x1000,
       page::readonly, 0, 0, status::invalid_parameter_2},
      {"protect reserved pages", bad_call::protect, B, 0x3000, page::readonly,
       0, 0, status::not_committed},
      {"protect across allocations", bad_call::protect, A + 0xF000, 0x2000,
       page::readonly, 0, 0, status::conflicting_addresses},
      {"protect free memory", bad_call::protect, 0x70000000, 0x1000,
       page::readonly, 0, 0, status::conflicting_addresses},
      {"protect private memory WRITECOPY", bad_call::protect, A, 0x1000,
       page::writecopy, 0, 0, status::invalid_page_protection},
  };
  const snapshot before = take<Arch>(as);
  for (const bad_call& c : calls) {
    CAPTURE(std::string(c.what));
    vaddr b{c.base};
    std::uint64_t s = c.size;
    std::uint32_t old = 0xFFFF;
    status got = status::success;
    switch (c.k) {
      case bad_call::alloc:
        got = as.allocate(b, s, c.flags, c.prot, c.zero_bits);
        break;
      case bad_call::free_: got = as.free(b, s, c.flags); break;
      case bad_call::protect: got = as.protect(b, s, c.flags, old); break;
    }
    CHECK(got == c.expect);
    CHECK(b.raw() == c.base);
    CHECK(s == c.size);
    // OldProtect: PAGE_NOACCESS once protect has looked the range up
    // (current Windows), untouched on every earlier failure.
    const bool looked_up =
        c.k == bad_call::protect && (c.expect == status::not_committed ||
                                     c.expect == status::conflicting_addresses);
    CHECK(old == (looked_up ? page::noaccess : 0xFFFF));
    CHECK(take<Arch>(as) == before);
  }
  memory_basic_information info;
  CHECK(as.query(vaddr{Arch::kernel_base}, info) == status::invalid_parameter);
  CHECK(as.query(vaddr{top + 1}, info) == status::invalid_parameter);
  CHECK(take<Arch>(as) == before);
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE(
    "address_space: user mode stays out of kernel space and NX holds", Arch,
    arch::x86_32, arch::x86_pae, arch::x86_64, arch::x86_la57) {
  hosted_system<> sys{std::uint64_t{8} << 20};
  space<Arch> as{sys};
  vaddr b{0x40000000};
  std::uint64_t s = 0x2000;
  REQUIRE(as.allocate(b, s, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  CHECK(as.access(vaddr{Arch::kernel_base}, mmkit::access::read) ==
        status::access_violation);
  CHECK(as.access(vaddr{Arch::kernel_base}, mmkit::access::read,
                  mmkit::cpu_mode::kernel) == status::access_violation);
  CHECK(as.access(b, mmkit::access::write) == status::success);
  // Read-write data is not executable where the processor has NX.
  CHECK(as.access(b, mmkit::access::execute) ==
        (Arch::has_nx ? status::access_violation : status::success));
  std::uint32_t old = 0;
  std::uint64_t one = 0x1000;
  REQUIRE(as.protect(b, one, page::execute_read, old) == status::success);
  CHECK(as.access(b, mmkit::access::execute) == status::success);
  CHECK(as.access(b, mmkit::access::write) == status::access_violation);
  // The walker sees what the dispatcher decided: user, not writable.
  const auto t = as.translate(b);
  CHECK(t.user);
  CHECK_FALSE(t.writable);
  CHECK(as.check_invariants());
}

TEST_SUITE_END();
