// fork: an address space cloned copy-on-write (region/fork.hpp), as NT's
// MiCloneProcessAddressSpace did: private pages shared read-only by both
// spaces until one writes, views inherited, nothing leaked whichever space
// goes first. Every step ends with both spaces' invariants (and the PFN
// database's, which check_invariants includes).
#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <vector>

using namespace mmkit;

namespace {

template <class Arch>
struct machine {
  using space = address_space<Arch, hosted_config<>>;
  hosted_system<> sys{std::uint64_t{16} << 20, std::uint64_t{16} << 20};
  std::unique_ptr<space> parent = std::make_unique<space>(sys);
  std::unique_ptr<space> child = std::make_unique<space>(sys);

  bool invariants() {
    return (!parent || parent->check_invariants()) &&
           (!child || child->check_invariants());
  }
  std::uint64_t available() { return sys.pfns().available(); }
};

template <class Space>
vaddr allocate(Space& as, std::uint64_t pages,
               std::uint32_t prot = page::readwrite,
               std::uint32_t type = mem::reserve | mem::commit) {
  vaddr base{0};
  std::uint64_t size = pages << page_shift;
  REQUIRE(as.allocate(base, size, type, prot) == status::success);
  return base;
}
template <class Space>
std::uint32_t read32(Space& as, vaddr va) {
  std::uint32_t v = 0;
  std::size_t done = 0;
  REQUIRE(as.read(va, &v, sizeof v, done) == status::success);
  return v;
}
template <class Space>
void write32(Space& as, vaddr va, std::uint32_t v) {
  std::size_t done = 0;
  REQUIRE(as.write(va, &v, sizeof v, done) == status::success);
}
template <class Space>
std::uint64_t frame_of(Space& as, vaddr va) {
  const auto t = as.translate(va);
  REQUIRE(t.kind == entry_kind::valid);
  return t.address.frame().raw();
}
inline std::uint32_t share_count(hosted_system<>& sys, std::uint64_t frame) {
  return sys.pfns().entry(pfn{frame}).share_count();
}
template <class Space>
std::uint32_t protection_at(Space& as, vaddr va) {
  memory_basic_information info;
  REQUIRE(as.query(va, info) == status::success);
  return info.protect;
}

/// A read-write page-file section of one page, committed.
inline section_handle one_page_section(hosted_system<>& sys) {
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0,
                         page_size, page::readwrite,
                         sec::commit) == status::success);
  return h;
}

}  // namespace

TEST_SUITE_BEGIN("fork");

TEST_CASE_TEMPLATE("fork: copy-on-write is seen in both directions", Arch,
                   arch::x86_32, arch::x86_pae, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 4);
  write32(*m.parent, a, 0x1111);
  write32(*m.parent, a + page_size, 0x2222);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  CHECK(m.invariants());

  SUBCASE("the parent writes: the child keeps the old bytes") {
    write32(*m.parent, a, 0xAAAA);
    CHECK(read32(*m.parent, a) == 0xAAAA);
    CHECK(read32(*m.child, a) == 0x1111);
  }
  SUBCASE("the child writes: the parent keeps the old bytes") {
    write32(*m.child, a + page_size, 0xBBBB);
    CHECK(read32(*m.child, a + page_size) == 0xBBBB);
    CHECK(read32(*m.parent, a + page_size) == 0x2222);
  }
  SUBCASE("both write: each sees its own") {
    write32(*m.parent, a, 0xAAAA);
    write32(*m.child, a, 0xCCCC);
    CHECK(read32(*m.parent, a) == 0xAAAA);
    CHECK(read32(*m.child, a) == 0xCCCC);
  }
  // Untouched pages read as zero in both, and stay apart once written.
  CHECK(read32(*m.child, a + 2 * page_size) == 0);
  write32(*m.child, a + 3 * page_size, 7);
  CHECK(read32(*m.parent, a + 3 * page_size) == 0);
  CHECK(m.parent->commit_charge() == 4);
  CHECK(m.child->commit_charge() == 4);
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE("fork: reads share the frame and take none", Arch,
                   arch::x86_32, arch::x86_pae, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 1);
  write32(*m.parent, a, 42);
  const std::uint64_t frame = frame_of(*m.parent, a);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  const std::uint64_t available = m.available();
  CHECK(read32(*m.child, a) == 42);
  CHECK(read32(*m.parent, a) == 42);
  CHECK(m.available() == available);
  CHECK(frame_of(*m.child, a) == frame);
  CHECK(frame_of(*m.parent, a) == frame);
  CHECK(share_count(m.sys, frame) == 2);
  // The page reads as it did: same protection, and both count the frame.
  CHECK(protection_at(*m.child, a) == page::readwrite);
  CHECK(protection_at(*m.parent, a) == page::readwrite);
  CHECK(m.parent->frames_in_use() == 1);
  CHECK(m.child->frames_in_use() == 1);
  // Both map it read-only until a write.
  CHECK(!m.parent->translate(a, access::write).ok());
  CHECK(!m.child->translate(a, access::write).ok());
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE(
    "fork: the writer takes one new frame; the last sharer's write takes "
    "none",
    Arch, arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 1);
  write32(*m.parent, a, 5);
  const std::uint64_t frame = frame_of(*m.parent, a);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  std::uint64_t available = m.available();
  write32(*m.child, a, 6);
  CHECK(m.available() == available - 1);
  CHECK(frame_of(*m.child, a) != frame);
  CHECK(share_count(m.sys, frame) == 1);
  CHECK(m.child->faults().copy_on_write == 1);
  CHECK(m.invariants());
  available = m.available();
  write32(*m.parent, a, 7);
  CHECK(m.available() == available);
  CHECK(frame_of(*m.parent, a) == frame);
  CHECK(m.parent->translate(a, access::write).ok());
  CHECK(read32(*m.parent, a) == 7);
  CHECK(read32(*m.child, a) == 6);
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE(
    "fork: decommit, release and MEM_RESET in one space leave the other's "
    "bytes",
    Arch, arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 3);
  for (int i = 0; i < 3; ++i) write32(*m.parent, a + i * page_size, 10 + i);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  const std::uint64_t frame = frame_of(*m.parent, a);
  // Which pages each space still has (0, 1, 2 or none): the other keeps
  // its bytes.
  std::uint64_t child_from = 0, parent_from = 0;

  SUBCASE("the child decommits a page") {
    vaddr b = a;
    std::uint64_t size = page_size;
    REQUIRE(m.child->free(b, size, mem::decommit) == status::success);
    CHECK(share_count(m.sys, frame) == 1);
    CHECK(m.child->commit_charge() == 2);
    CHECK(m.child->frames_in_use() == 2);
    child_from = 1;
  }
  SUBCASE("the parent releases the whole region") {
    vaddr b = a;
    std::uint64_t size = 0;
    REQUIRE(m.parent->free(b, size, mem::release) == status::success);
    CHECK(share_count(m.sys, frame) == 1);
    CHECK(m.parent->frames_in_use() == 0);
    parent_from = 3;
  }
  SUBCASE("the parent resets the pages") {
    vaddr b = a;
    std::uint64_t size = 3 * page_size;
    REQUIRE(m.parent->allocate(b, size, mem::reset, page::readwrite) ==
            status::success);
    CHECK(share_count(m.sys, frame) == 1);
    parent_from = 3;  // its contents are gone (MEM_RESET)
  }
  CHECK(m.invariants());
  for (std::uint64_t i = 0; i < 3; ++i) {
    const vaddr at = a + i * page_size;
    if (i >= child_from) CHECK(read32(*m.child, at) == 10 + i);
    if (i >= parent_from) CHECK(read32(*m.parent, at) == 10 + i);
  }
  // The last sharer writes its page without a copy.
  const std::uint64_t available = m.available();
  if (child_from == 0) {
    write32(*m.child, a, 99);
    CHECK(m.available() == available);
  } else {
    write32(*m.parent, a, 99);
    CHECK(m.available() == available);
  }
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE(
    "fork: whichever space goes first, no frame and no commit leak", Arch,
    arch::x86_32, arch::x86_pae, arch::x86_64) {
  machine<Arch> m;
  m.parent.reset();
  m.child.reset();
  const std::uint64_t available = m.available();
  const std::uint64_t commit = m.sys.commit_charge();
  bool parent_first = false;
  SUBCASE("the parent first") {
    parent_first = true;
  }
  SUBCASE("the child first") {
    parent_first = false;
  }
  {
    using space = typename machine<Arch>::space;
    auto parent = std::make_unique<space>(m.sys);
    auto child = std::make_unique<space>(m.sys);
    const vaddr a = allocate(*parent, 16);
    for (int i = 0; i < 16; ++i) write32(*parent, a + i * page_size, i + 1);
    REQUIRE(parent->fork_into(*child) == status::success);
    CHECK(m.sys.commit_charge() == commit + 32);
    write32(*child, a, 100);
    write32(*parent, a + page_size, 200);
    CHECK(parent->check_invariants());
    CHECK(child->check_invariants());
    if (parent_first) {
      parent.reset();
      CHECK(child->check_invariants());
      for (int i = 2; i < 16; ++i)
        CHECK(read32(*child, a + i * page_size) == std::uint32_t(i + 1));
      write32(*child, a + 2 * page_size, 3);
    } else {
      child.reset();
      CHECK(parent->check_invariants());
      for (int i = 2; i < 16; ++i)
        CHECK(read32(*parent, a + i * page_size) == std::uint32_t(i + 1));
      write32(*parent, a + 2 * page_size, 3);
    }
  }
  CHECK(m.available() == available);
  CHECK(m.sys.commit_charge() == commit);
  CHECK(m.sys.pfns().check_invariants());
}

TEST_CASE_TEMPLATE("fork: a grandchild shares the frame three ways", Arch,
                   arch::x86_32, arch::x86_pae, arch::x86_64) {
  machine<Arch> m;
  using space = typename machine<Arch>::space;
  space grandchild{m.sys};
  const vaddr a = allocate(*m.parent, 2);
  write32(*m.parent, a, 1);
  write32(*m.parent, a + page_size, 2);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  REQUIRE(m.child->fork_into(grandchild) == status::success);
  const std::uint64_t frame = frame_of(*m.parent, a);
  CHECK(frame_of(grandchild, a) == frame);
  CHECK(share_count(m.sys, frame) == 3);
  CHECK(grandchild.check_invariants());
  write32(*m.child, a, 10);
  CHECK(share_count(m.sys, frame) == 2);
  write32(grandchild, a, 20);
  CHECK(share_count(m.sys, frame) == 1);
  CHECK(read32(*m.parent, a) == 1);
  CHECK(read32(*m.child, a) == 10);
  CHECK(read32(grandchild, a) == 20);
  CHECK(read32(grandchild, a + page_size) == 2);
  CHECK(m.sys.commit_charge() >= 6);
  CHECK(m.invariants());
  CHECK(grandchild.check_invariants());
}

TEST_CASE_TEMPLATE("fork: a protect in one space leaves the other's alone",
                   Arch, arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 1);
  write32(*m.parent, a, 3);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  vaddr b = a;
  std::uint64_t size = page_size;
  std::uint32_t old = 0;
  REQUIRE(m.child->protect(b, size, page::readonly, old) == status::success);
  CHECK(old == page::readwrite);
  CHECK(protection_at(*m.child, a) == page::readonly);
  CHECK(protection_at(*m.parent, a) == page::readwrite);
  CHECK(m.invariants());
  std::size_t done = 0;
  const std::uint32_t v = 4;
  CHECK(m.child->write(a, &v, sizeof v, done) == status::access_violation);
  write32(*m.parent, a, 4);
  CHECK(read32(*m.child, a) == 3);
  // NOACCESS and back: the bytes stay the child's.
  REQUIRE(m.child->protect(b, size, page::noaccess, old) == status::success);
  CHECK(m.child->access(a, access::read) == status::access_violation);
  REQUIRE(m.child->protect(b, size, page::readwrite, old) == status::success);
  CHECK(read32(*m.child, a) == 3);
  write32(*m.child, a, 5);
  CHECK(read32(*m.parent, a) == 4);
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE(
    "fork: NOACCESS and guard pages are shared and keep their bytes", Arch,
    arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 2);
  write32(*m.parent, a, 0x77);
  write32(*m.parent, a + page_size, 0x88);
  vaddr b = a;
  std::uint64_t size = page_size;
  std::uint32_t old = 0;
  REQUIRE(m.parent->protect(b, size, page::noaccess, old) == status::success);
  b = a + page_size;
  REQUIRE(m.parent->protect(b, size, page::readwrite | page::guard, old) ==
          status::success);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  CHECK(m.invariants());
  CHECK(m.child->access(a, access::read) == status::access_violation);
  CHECK(m.child->access(a + page_size, access::read) ==
        status::guard_page_violation);
  CHECK(read32(*m.child, a + page_size) == 0x88);
  write32(*m.child, a + page_size, 0x99);
  // The parent's guard is its own: still there.
  CHECK(m.parent->access(a + page_size, access::read) ==
        status::guard_page_violation);
  CHECK(read32(*m.parent, a + page_size) == 0x88);
  b = a;
  REQUIRE(m.child->protect(b, size, page::readwrite, old) == status::success);
  CHECK(read32(*m.child, a) == 0x77);
  write32(*m.child, a, 0x66);
  REQUIRE(m.parent->protect(b, size, page::readonly, old) == status::success);
  CHECK(read32(*m.parent, a) == 0x77);
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE(
    "fork: trimmed and paged-out pages are brought in and shared", Arch,
    arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 3);
  for (int i = 0; i < 3; ++i) write32(*m.parent, a + i * page_size, 50 + i);
  // Page 0 trimmed (modified list), page 1 written out and its frame
  // repurposed (in the page file), page 2 resident.
  REQUIRE(m.parent->trim(a));
  REQUIRE(m.parent->trim(a + page_size));
  REQUIRE(m.sys.write_modified_pages(2) == 2);
  REQUIRE(m.parent->access(a, access::read) == status::success);
  auto& db = m.sys.pfns();
  std::vector<pfn> taken;
  while (db.count(page_state::standby) != 0) {
    auto f = db.allocate(page_need::any);
    REQUIRE(f);
    taken.push_back(*f);
  }
  for (const pfn f : taken) db.release(f, release_to::free_list);
  REQUIRE(m.parent->translate(a + page_size).kind == entry_kind::page_file);
  REQUIRE(m.parent->trim(a));
  CHECK(m.invariants());
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  CHECK(m.invariants());
  for (int i = 0; i < 3; ++i) {
    const vaddr at = a + i * page_size;
    CHECK(frame_of(*m.parent, at) == frame_of(*m.child, at));
    CHECK(read32(*m.child, at) == std::uint32_t(50 + i));
  }
  CHECK(m.sys.page_files().used() == 0);
  write32(*m.child, a + page_size, 1);
  CHECK(read32(*m.parent, a + page_size) == 51);
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE(
    "fork: a shared frame is not trimmed; once it is one space's it is", Arch,
    arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 1);
  write32(*m.parent, a, 9);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  CHECK(!m.parent->trim(a));
  CHECK(m.parent->trim_working_set(10) == 0);
  m.child.reset();
  CHECK(m.parent->check_invariants());
  // Alone now, still read-only: the trim claims the frame, and the page
  // comes back by a soft fault with its bytes.
  CHECK(m.parent->trim(a));
  CHECK(m.parent->check_invariants());
  CHECK(m.sys.write_modified_pages(1) == 1);
  CHECK(read32(*m.parent, a) == 9);
  write32(*m.parent, a, 10);
  CHECK(read32(*m.parent, a) == 10);
  CHECK(m.parent->check_invariants());
}

TEST_CASE_TEMPLATE(
    "fork: views are inherited: a shared section stays shared, a "
    "copy-on-write view's copied page forks copy-on-write",
    Arch, arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  section_handle h;
  REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0,
                         2 * page_size, page::readwrite,
                         sec::commit) == status::success);
  vaddr shared{0}, cow{0};
  std::uint64_t size = 0;
  REQUIRE(m.parent->map_view(h, shared, size, 0, 0, page::readwrite) ==
          status::success);
  size = 0;
  REQUIRE(m.parent->map_view(h, cow, size, 0, 0, page::writecopy) ==
          status::success);
  write32(*m.parent, shared, 0x51);
  write32(*m.parent, cow + page_size, 0xC0);  // a private copy
  const std::uint64_t commit = m.sys.commit_charge();
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  CHECK(m.invariants());
  CHECK(m.sys.commit_charge() == commit + 2);  // the copy-on-write view's
  // The section's pages: one copy, whoever writes.
  CHECK(read32(*m.child, shared) == 0x51);
  write32(*m.child, shared + page_size, 0x52);
  CHECK(read32(*m.parent, shared + page_size) == 0x52);
  write32(*m.parent, shared, 0x53);
  CHECK(read32(*m.child, shared) == 0x53);
  CHECK(read32(*m.child, cow) == 0x53);
  // The private copy: shared by the fork, copied by the first writer.
  CHECK(frame_of(*m.child, cow + page_size) ==
        frame_of(*m.parent, cow + page_size));
  CHECK(read32(*m.child, cow + page_size) == 0xC0);
  write32(*m.child, cow + page_size, 0xC1);
  CHECK(read32(*m.parent, cow + page_size) == 0xC0);
  write32(*m.parent, cow + page_size, 0xC2);
  CHECK(read32(*m.child, cow + page_size) == 0xC1);
  CHECK(m.invariants());
  m.child.reset();
  m.parent.reset();
  close_section(m.sys, h);
  CHECK(m.sys.sections().live == 0);
  CHECK(m.sys.commit_charge() == 0);
  CHECK(m.sys.pfns().check_invariants());
}

TEST_CASE_TEMPLATE(
    "fork: views follow their inheritance: ViewShare is mapped in the "
    "child, ViewUnmap is not",
    Arch, arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  section_handle h = one_page_section(m.sys);
  vaddr kept{0}, left{0};
  std::uint64_t size = 0;
  REQUIRE(m.parent->map_view(h, kept, size, 0, 0, page::readwrite, 0,
                             section_inherit::view_share) == status::success);
  size = 0;
  REQUIRE(m.parent->map_view(h, left, size, 0, 0, page::readwrite, 0,
                             section_inherit::view_unmap) == status::success);
  write32(*m.parent, left, 0x5A);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  CHECK(m.invariants());
  CHECK(read32(*m.child, kept) == 0x5A);
  memory_basic_information info;
  REQUIRE(m.child->query(left, info) == status::success);
  CHECK(info.state == mem::free);
  CHECK(m.child->access(left, access::read) == status::access_violation);
  // The parent's view is untouched.
  CHECK(read32(*m.parent, left) == 0x5A);
  m.child.reset();
  m.parent.reset();
  close_section(m.sys, h);
  CHECK(m.sys.sections().live == 0);
  CHECK(m.sys.pfns().check_invariants());
}

TEST_CASE_TEMPLATE(
    "NtMapViewOfSection: an InheritDisposition other than ViewShare or "
    "ViewUnmap is STATUS_INVALID_PARAMETER_8, and maps nothing; ZeroBits, "
    "inheritance, allocation type and protection are checked in that order",
    Arch, arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  section_handle h = one_page_section(m.sys);
  for (const std::uint32_t inherit : {0u, 3u, 0xFFFFFFFFu}) {
    vaddr base{0};
    std::uint64_t size = 0;
    CHECK(m.parent->map_view(h, base, size, 0, 0, page::readwrite, 0,
                             inherit) == status::invalid_parameter_8);
    CHECK(base == vaddr{0});
    CHECK(size == 0);
  }
  // ReactOS's order: ZeroBits (_4), the inheritance (_8), the allocation
  // type (_9), then the protection.
  vaddr base{0};
  std::uint64_t size = 0;
  CHECK(m.parent->map_view(h, base, size, 0, 0, 0, 0, 0) ==
        status::invalid_parameter_8);
  CHECK(m.parent->map_view(h, base, size, 0, mem::commit, 0, 0, 0) ==
        status::invalid_parameter_8);
  CHECK(m.parent->map_view(h, base, size, 0, mem::commit, 0) ==
        status::invalid_parameter_9);
  CHECK(m.parent->map_view(h, base, size, 0, mem::commit, 0, 22, 0) ==
        status::invalid_parameter_4);
  CHECK(m.parent->vad_nodes() == 0);
  m.parent.reset();
  close_section(m.sys, h);
  CHECK(m.sys.sections().live == 0);
}

TEST_CASE_TEMPLATE(
    "fork: a write-watch region is inherited with its state reset, an AWE "
    "region is not",
    Arch, arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  const vaddr w = allocate(*m.parent, 2, page::readwrite,
                           mem::reserve | mem::commit | mem::write_watch);
  write32(*m.parent, w, 1);
  vaddr awe{0};
  std::uint64_t size = 4 * page_size;
  REQUIRE(m.parent->allocate(awe, size, mem::reserve | mem::physical,
                             page::readwrite) == status::success);
  REQUIRE(m.parent->fork_into(*m.child) == status::success);
  CHECK(m.invariants());
  const auto watched = [&](auto& as) {
    vaddr out[4];
    std::uint64_t count = 4;
    std::uint32_t granularity = 0;
    REQUIRE(as.get_write_watch(0, w, 2 * page_size, out, count, granularity) ==
            status::success);
    return count;
  };
  CHECK(watched(*m.parent) == 1);
  CHECK(watched(*m.child) == 0);
  write32(*m.child, w + page_size, 2);
  CHECK(watched(*m.child) == 1);
  memory_basic_information info;
  REQUIRE(m.child->query(awe, info) == status::success);
  CHECK(info.state == mem::free);
  CHECK(m.child->vad_nodes() == 1);
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE("fork: a fork that fails changes neither space", Arch,
                   arch::x86_32, arch::x86_64) {
  machine<Arch> m;
  const vaddr a = allocate(*m.parent, 4);
  allocate(*m.parent, 2);
  write32(*m.parent, a, 8);
  const std::uint64_t available = m.available();
  const std::uint64_t commit = m.sys.commit_charge();
  const std::uint64_t frame = frame_of(*m.parent, a);
  status want = status::success;
  SUBCASE("the commit limit") {
    REQUIRE(m.sys.set_commit_limit(commit + 3).ok());
    want = status::commitment_limit;
  }
  SUBCASE("no VAD node for the second reservation") {
    m.child->set_quota({1, ~std::uint64_t{0}});
    want = status::quota_exceeded;
  }
  SUBCASE("no page table allowed") {
    m.child->set_quota({~std::uint64_t{0}, 1});
    want = status::quota_exceeded;
  }
  CHECK(m.parent->fork_into(*m.child) == want);
  CHECK(m.child->vad_nodes() == 0);
  CHECK(m.child->commit_charge() == 0);
  CHECK(m.child->frames_in_use() == 0);
  CHECK(m.sys.commit_charge() == commit);
  CHECK(m.available() == available);
  CHECK(share_count(m.sys, frame) == 1);
  CHECK(m.parent->translate(a, access::write).ok());
  CHECK(m.invariants());
  // The child stays usable: a fork into it still works once allowed.
  m.child->set_quota({});
  REQUIRE(m.sys.set_commit_limit(commit * 4 + 64).ok());
  CHECK(m.parent->fork_into(*m.child) == status::success);
  CHECK(read32(*m.child, a) == 8);
  CHECK(m.invariants());
}

TEST_CASE_TEMPLATE(
    "fork: the parent's resident pages are not trimmed for the child's "
    "tables: with no other frame to take, the fork fails and changes "
    "nothing",
    Arch, arch::x86_32, arch::x86_64) {
  using space = address_space<Arch, hosted_config<>>;
  hosted_system<> sys{64 * page_size, 1024 * page_size};
  space parent{sys};
  space child{sys};
  const vaddr a = allocate(parent, 64);
  sys.pfns().set_available_thresholds(0, 0);
  std::uint32_t written = 0;
  while (sys.pfns().available() != 0) {
    REQUIRE(written < 64);
    write32(parent, a + written * page_size, written);
    ++written;
  }
  const std::uint64_t resident = parent.working_set_size();
  const std::uint64_t commit = sys.commit_charge();
  // Trimming the parent would turn pages the fork found resident into
  // standby pages under it; it fails instead, as it ran out of frames.
  CHECK(parent.fork_into(child) == status::insufficient_resources);
  CHECK(parent.working_set_size() == resident);
  CHECK(child.vad_nodes() == 0);
  CHECK(child.commit_charge() == 0);
  CHECK(sys.commit_charge() == commit);
  for (std::uint32_t i = 0; i < written; ++i)
    CHECK(read32(parent, a + i * page_size) == i);
  CHECK(parent.check_invariants());
  CHECK(child.check_invariants());
  // With frames to spare (half the pages decommitted), it works.
  vaddr half = a + 32 * page_size;
  std::uint64_t size = 32 * page_size;
  REQUIRE(parent.free(half, size, mem::decommit) == status::success);
  CHECK(parent.fork_into(child) == status::success);
  for (std::uint32_t i = 0; i < 32; ++i)
    CHECK(read32(child, a + i * page_size) == i);
  CHECK(parent.check_invariants());
  CHECK(child.check_invariants());
}

TEST_CASE_TEMPLATE(
    "fork: the child must be another, empty space on the same system", Arch,
    arch::x86_64) {
  machine<Arch> m;
  allocate(*m.parent, 1);
  CHECK(m.parent->fork_into(*m.parent) == status::invalid_parameter);
  allocate(*m.child, 1);
  CHECK(m.parent->fork_into(*m.child) == status::invalid_parameter);
  hosted_system<> other{std::uint64_t{4} << 20};
  typename machine<Arch>::space stranger{other};
  CHECK(m.parent->fork_into(stranger) == status::invalid_parameter);
  CHECK(m.invariants());
}

TEST_CASE("fork: spaces with locks fork as those without") {
  using locked = address_space<arch::x86_64, hosted_config<mutex_lock>>;
  hosted_system<mutex_lock> sys{std::uint64_t{4} << 20};
  locked parent{sys};
  locked child{sys};
  const vaddr a = allocate(parent, 1);
  write32(parent, a, 1);
  REQUIRE(parent.fork_into(child) == status::success);
  write32(child, a, 2);
  CHECK(read32(parent, a) == 1);
  CHECK(parent.check_invariants());
  CHECK(child.check_invariants());
}

TEST_SUITE_END();
