// Tests of the NT reference model: the Windows case table played against
// the model on every arch layout, the pager's states (trimmed, written,
// repurposed, faulted back) of private pages, views and files, the
// differential driver run model against model (it must agree with itself
// over 200,000 ops per arch), and the driver catching a deliberately
// injected bug and reporting the shortest failing prefix.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "model/differential.hpp"
#include "model/nt_case_table.hpp"
#include "model/nt_model.hpp"

namespace {

using namespace mmkit_model;

struct arch_x86_32 {
  static constexpr nt_layout layout = nt_layout::x86_32();
};
struct arch_x86_pae {
  static constexpr nt_layout layout = nt_layout::x86_pae();
};
struct arch_x86_64 {
  static constexpr nt_layout layout = nt_layout::x86_64();
};
struct arch_x86_la57 {
  static constexpr nt_layout layout = nt_layout::x86_la57();
};

#define MMKIT_MODEL_ARCHS arch_x86_32, arch_x86_pae, arch_x86_64, arch_x86_la57

template <model_bug Bug = model_bug::none>
auto model_maker(const nt_layout& L, std::uint64_t limit) {
  return [L, limit] { return std::make_unique<basic_nt_model<Bug>>(L, limit); };
}

}  // namespace

TEST_SUITE_BEGIN("model");

TEST_CASE_TEMPLATE("nt_model: follows the Windows case table", Arch,
                   MMKIT_MODEL_ARCHS) {
  const nt_layout L = Arch::layout;
  run_nt_case_table(model_maker(L, nt_case_commit_limit), L);
}

TEST_CASE("nt_model: protection validity and rights") {
  using M = nt_model;
  CHECK(M::valid_protect(page::readwrite));
  CHECK(M::valid_protect(page::execute_read | page::guard));
  CHECK(M::valid_protect(page::readonly | page::writecombine));
  CHECK_FALSE(M::valid_protect(0));
  CHECK_FALSE(M::valid_protect(page::noaccess | page::guard));
  CHECK_FALSE(M::valid_protect(page::noaccess | page::nocache));
  CHECK_FALSE(M::valid_protect(page::readwrite | page::guard | page::nocache));
  CHECK_FALSE(M::valid_protect(page::readonly | page::readwrite));
  CHECK_FALSE(M::valid_protect(page::readwrite | 0x800));
  CHECK(M::copy_on_write(page::writecopy | page::guard));
  CHECK_FALSE(M::copy_on_write(page::readwrite));

  const M x86(nt_layout::x86_32(), 16);
  const M x64(nt_layout::x86_64(), 16);
  CHECK(x86.rights_of(page::readonly).execute);  // no NX
  CHECK_FALSE(x64.rights_of(page::readonly).execute);
  CHECK(x64.rights_of(page::execute).read);
  CHECK_FALSE(x64.rights_of(page::execute_read).write);
  CHECK_FALSE(x64.rights_of(page::noaccess).read);
}

TEST_CASE("nt_model: ZeroBits forms") {
  const nt_model x86(nt_layout::x86_32(), 16);
  const nt_model x64(nt_layout::x86_64(), 16);
  CHECK(x86.zero_bits_limit(1) == 0x7FFFFFFFu);
  CHECK(x64.zero_bits_limit(1) == 0x7FFFFFFFu);
  CHECK(x64.zero_bits_limit(21) == 0x7FFu);
  CHECK_FALSE(x64.zero_bits_limit(22).has_value());
  CHECK_FALSE(x86.zero_bits_limit(32).has_value());
  CHECK_FALSE(x86.zero_bits_limit(0x1aaaaaaa).has_value());
  CHECK(x64.zero_bits_limit(0x1aaaaaaa) == 0x1FFFFFFFu);
  CHECK(x64.zero_bits_limit(0x0000003FFFFFFFFFull) == 0x3FFFFFFFFFull);
  CHECK_FALSE(x64.zero_bits_limit(0x20).has_value());  // 58 leading zeros
  CHECK(x64.zero_bits_limit(0x400) == 0x7FFu);         // 53 leading zeros
}

TEST_CASE_TEMPLATE("differential: the model agrees with itself", Arch,
                   MMKIT_MODEL_ARCHS) {
  const nt_layout L = Arch::layout;
  // 4 fixed seeds x 50,000 ops = 200,000 ops per arch (MMKIT_SOAK_OPS sets
  // the ops per seed for a soak run).
  const std::uint64_t seeds[] = {0x5EED0001, 0x5EED0002, 0x5EED0003,
                                 0x5EED0004};
  for (const std::uint64_t seed : seeds) {
    diff_config cfg;
    cfg.layout = L;
    cfg.seed = seed;
    cfg.ops = soak_ops(50000);
    CAPTURE(seed);
    CAPTURE(L.name);
    const diff_result r =
        run_differential(cfg, model_maker(L, cfg.commit_limit),
                         model_maker(L, cfg.commit_limit));
    INFO(r.report);
    CHECK(r.ok);
    CHECK(r.ops_run == cfg.ops);
    // The generator aims: most calls are valid and hit something.
    CHECK(r.successful_ops * 2 > r.ops_run);
  }
}

TEST_CASE_TEMPLATE("differential: the model agrees with itself on sections",
                   Arch, arch_x86_32, arch_x86_64) {
  const nt_layout L = Arch::layout;
  const std::uint64_t seeds[] = {0x5EC70001, 0x5EC70002};
  for (const std::uint64_t seed : seeds) {
    diff_config cfg;
    cfg.layout = L;
    cfg.seed = seed;
    cfg.ops = soak_ops(10000);
    cfg.commit_limit = 512;
    cfg.sections = true;
    CAPTURE(seed);
    const diff_result r =
        run_differential(cfg, model_maker(L, cfg.commit_limit),
                         model_maker(L, cfg.commit_limit));
    INFO(r.report);
    CHECK(r.ok);
    CHECK(r.ops_run == cfg.ops);
    CHECK(r.successful_ops * 3 > r.ops_run);
  }
}

TEST_CASE("nt_model: sections, views and copy-on-write in two spaces") {
  // Two spaces of one world share a section's pages; a copy-on-write view
  // in one leaves the other alone; the last reference writes the file.
  auto world = std::make_shared<section_world>(64);
  nt_model a(nt_layout::x86_64(), world);
  nt_model b(nt_layout::x86_32(), world);
  const int file =
      world->create_file(std::vector<std::uint8_t>(0x2800, 7), true);
  int h = -1;
  REQUIRE(world->create_section(h, section_access::all_access, "", 0, 0,
                                page::readwrite, sec::commit,
                                file) == nt_status::success);
  std::uint64_t va = 0, sa = 0, vb = 0, sb = 0, vc = 0, sc = 0;
  REQUIRE(a.map_view(h, va, sa, 0, 0, page::readwrite) == nt_status::success);
  REQUIRE(b.map_view(h, vb, sb, 0, 0, page::readwrite) == nt_status::success);
  REQUIRE(b.map_view(h, vc, sc, 0, 0, page::writecopy) == nt_status::success);
  CHECK(sa == 0x3000);
  CHECK(b.commit_charge() == 3);  // the copy-on-write view
  std::size_t done = 0;
  const std::uint32_t x = 0xABCD;
  REQUIRE(a.write(va + 0x1000, &x, 4, done) == nt_status::success);
  std::uint32_t y = 0;
  REQUIRE(b.read(vb + 0x1000, &y, 4, done) == nt_status::success);
  CHECK(y == 0xABCD);
  const std::uint32_t z = 0x1234;
  REQUIRE(b.write(vc + 0x1000, &z, 4, done) == nt_status::success);
  REQUIRE(a.read(va + 0x1000, &y, 4, done) == nt_status::success);
  CHECK(y == 0xABCD);
  memory_basic_information m;
  REQUIRE(b.query(vc + 0x1000, m) == nt_status::success);
  CHECK(m.protect == page::readwrite);
  CHECK(m.type == mem::mapped);
  CHECK(world->page_resident(0, 1));
  CHECK_FALSE(world->page_resident(0, 2));
  REQUIRE(world->close_section(h) == nt_status::success);
  CHECK(world->file_bytes(file)[0x1000] == 7);  // views keep it cached
  CHECK(a.unmap_view(va + 0x10) == nt_status::success);
  CHECK(b.unmap_view(vc) == nt_status::success);
  CHECK(b.commit_charge() == 0);
  CHECK(b.unmap_view(vb) == nt_status::success);
  CHECK(world->file_bytes(file)[0x1000] == 0xCD);  // written back
  CHECK(world->live_sections() == 0);
  CHECK(world->commit_charge() == 0);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
}

TEST_CASE("nt_model: a private page is trimmed, written, repurposed, read") {
  nt_model m(nt_layout::x86_64(), 64);
  std::uint64_t base = 0, size = 0x3000;
  REQUIRE(m.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
          nt_status::success);
  const std::uint64_t v = base >> 12;
  CHECK(m.expected_pte(v) == pte_kind::demand_zero);
  CHECK_FALSE(m.trim(base));  // never touched: not in the working set
  std::size_t done = 0;
  const std::uint32_t x = 0x5A5A1234;
  REQUIRE(m.write(base + 8, &x, 4, done) == nt_status::success);
  CHECK(m.expected_pte(v) == pte_kind::valid);
  CHECK(m.trim(base + 0x123));
  CHECK_FALSE(m.trim(base));  // gone already
  CHECK(m.expected_pte(v) == pte_kind::transition);
  CHECK(m.listed_pages() == pager_lists{1, 0});
  CHECK(m.page_file_slots_used() == 0);

  // Soft fault: the frame comes back from the modified list.
  std::uint32_t y = 0;
  REQUIRE(m.read(base + 8, &y, 4, done) == nt_status::success);
  CHECK(y == x);
  CHECK(m.faults() == pager_faults{1, 0});
  CHECK(m.expected_pte(v) == pte_kind::valid);
  CHECK(m.listed_pages() == pager_lists{0, 0});

  // Written, then its standby frame taken: only the slot holds it.
  CHECK(m.trim(base));
  CHECK(m.write_modified_pages(16) == 1);
  CHECK(m.listed_pages() == pager_lists{0, 1});
  CHECK(m.page_file_slots_used() == 1);
  CHECK(m.expected_pte(v) == pte_kind::transition);
  CHECK(m.repurpose_standby() == 1);
  CHECK(m.expected_pte(v) == pte_kind::page_file);
  CHECK(m.listed_pages() == pager_lists{0, 0});
  CHECK(m.page_file_slots_used() == 1);

  // Protect keeps it in its slot; an access the protection refuses reads
  // nothing; a read is a hard fault that frees the slot.
  std::uint64_t at = base, len = 0x1000;
  std::uint32_t old = 0;
  REQUIRE(m.protect(at, len, page::readonly, old) == nt_status::success);
  CHECK(m.expected_pte(v) == pte_kind::page_file);
  CHECK(m.access(base, access_kind::write) == nt_status::access_violation);
  CHECK(m.expected_pte(v) == pte_kind::page_file);
  REQUIRE(m.read(base + 8, &y, 4, done) == nt_status::success);
  CHECK(y == x);
  CHECK(m.faults() == pager_faults{1, 1});
  CHECK(m.expected_pte(v) == pte_kind::valid);
  CHECK(m.page_file_slots_used() == 0);

  // NOACCESS and GUARD pages are resident but not valid: not trimmed.
  REQUIRE(m.protect(at, len, page::noaccess, old) == nt_status::success);
  CHECK(m.expected_pte(v) == pte_kind::transition);
  CHECK_FALSE(m.trim(base));
  CHECK(m.check_invariants());
}

TEST_CASE("nt_model: decommit, reset and release give the slots back") {
  nt_model m(nt_layout::x86_32(), 64);
  std::uint64_t base = 0, size = 0x4000;
  REQUIRE(m.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
          nt_status::success);
  std::size_t done = 0;
  for (std::uint64_t i = 0; i < 4; ++i) {
    const std::uint8_t b = static_cast<std::uint8_t>(i + 1);
    REQUIRE(m.write(base + i * 0x1000, &b, 1, done) == nt_status::success);
    REQUIRE(m.trim(base + i * 0x1000));
  }
  // The writer takes the oldest first: pages 0 and 1 go to standby.
  CHECK(m.write_modified_pages(2) == 2);
  CHECK(m.listed_pages() == pager_lists{2, 2});
  CHECK(m.repurpose_standby() == 2);
  CHECK(m.expected_pte((base >> 12) + 0) == pte_kind::page_file);
  CHECK(m.expected_pte((base >> 12) + 2) == pte_kind::transition);
  CHECK(m.write_modified_pages(~std::uint64_t{0}) == 2);
  CHECK(m.page_file_slots_used() == 4);

  std::uint64_t at = base, len = 0x1000;
  REQUIRE(m.allocate(at, len, mem::reset, page::readwrite) ==
          nt_status::success);
  CHECK(m.expected_pte(base >> 12) == pte_kind::demand_zero);
  CHECK(m.page_file_slots_used() == 3);
  at = base + 0x2000;
  len = 0x1000;
  REQUIRE(m.free(at, len, mem::decommit) == nt_status::success);
  CHECK(m.page_file_slots_used() == 2);
  CHECK(m.listed_pages() == pager_lists{0, 1});
  at = base;
  len = 0;
  REQUIRE(m.free(at, len, mem::release) == nt_status::success);
  CHECK(m.page_file_slots_used() == 0);
  CHECK(m.listed_pages() == pager_lists{0, 0});
  CHECK(m.check_invariants());
}

TEST_CASE("nt_model: a view's page goes back to its prototype when trimmed") {
  // Two views of one page-file section: the section page is listed only
  // when the last view lets it go, and comes back through either.
  auto world = std::make_shared<section_world>(64);
  nt_model a(nt_layout::x86_64(), world);
  int h = -1;
  REQUIRE(world->create_section(h, section_access::all_access, "", 0, 0x2000,
                                page::readwrite, sec::commit,
                                -1) == nt_status::success);
  std::uint64_t va = 0, sa = 0, vb = 0, sb = 0;
  REQUIRE(a.map_view(h, va, sa, 0, 0, page::readwrite) == nt_status::success);
  REQUIRE(a.map_view(h, vb, sb, 0, 0, page::readonly) == nt_status::success);
  std::size_t done = 0;
  const std::uint32_t x = 0xC0FFEE;
  std::uint32_t y = 0;
  REQUIRE(a.write(va, &x, 4, done) == nt_status::success);
  REQUIRE(a.read(vb, &y, 4, done) == nt_status::success);
  CHECK(a.expected_pte(va >> 12) == pte_kind::valid);
  CHECK(a.expected_pte(vb >> 12) == pte_kind::valid);
  CHECK(a.expected_pte((va >> 12) + 1) == pte_kind::prototype);
  CHECK(world->mappings(0, 0) == 2);

  CHECK(a.trim(va));
  CHECK(a.expected_pte(va >> 12) == pte_kind::prototype);
  CHECK_FALSE(world->page_paging(0, 0).has_value());  // vb still maps it
  CHECK(a.trim(vb));
  // A page-file section's page has no other copy: the modified list.
  CHECK(world->page_paging(0, 0) == section_world::paging::modified);
  CHECK(world->page_resident(0, 0));

  // Written to a slot, then taken back by a fault (soft), slot freed.
  CHECK(a.write_modified_pages(~std::uint64_t{0}) == 1);
  CHECK(a.page_file_slots_used() == 1);
  REQUIRE(a.read(va, &y, 4, done) == nt_status::success);
  CHECK(a.faults() == pager_faults{1, 0});
  CHECK(a.page_file_slots_used() == 0);
  CHECK_FALSE(world->page_paging(0, 0).has_value());

  // Paged out: no longer resident; the next fault reads the slot (hard).
  CHECK(a.trim(va));
  CHECK(a.write_modified_pages(~std::uint64_t{0}) == 1);
  CHECK(a.repurpose_standby() == 1);
  CHECK(world->page_paging(0, 0) == section_world::paging::paged_out);
  CHECK_FALSE(world->page_resident(0, 0));
  CHECK(a.expected_pte(va >> 12) == pte_kind::prototype);
  REQUIRE(a.read(vb, &y, 4, done) == nt_status::success);
  CHECK(y == x);
  CHECK(a.faults() == pager_faults{1, 1});
  CHECK(a.page_file_slots_used() == 0);

  // A private copy of a copy-on-write view is paged as a private page.
  std::uint64_t vc = 0, sc = 0;
  REQUIRE(a.map_view(h, vc, sc, 0, 0, page::writecopy) == nt_status::success);
  const std::uint32_t z = 0x7777;
  REQUIRE(a.write(vc, &z, 4, done) == nt_status::success);
  CHECK(a.expected_pte(vc >> 12) == pte_kind::valid);
  CHECK(a.trim(vc));
  CHECK(a.expected_pte(vc >> 12) == pte_kind::transition);
  CHECK(a.write_modified_pages(~std::uint64_t{0}) == 1);
  CHECK(a.repurpose_standby() == 1);
  CHECK(a.expected_pte(vc >> 12) == pte_kind::page_file);
  REQUIRE(a.read(vc, &y, 4, done) == nt_status::success);
  CHECK(y == z);
  CHECK(a.faults() == pager_faults{1, 2});
  CHECK(a.check_invariants());

  CHECK(a.unmap_view(vc) == nt_status::success);
  CHECK(a.unmap_view(va) == nt_status::success);
  CHECK(a.unmap_view(vb) == nt_status::success);
  REQUIRE(world->close_section(h) == nt_status::success);
  CHECK(world->slots_used() == 0);
  CHECK(world->check_pager());
}

TEST_CASE("nt_model: a file's clean page goes to standby, a dirty one home") {
  auto world = std::make_shared<section_world>(64);
  nt_model a(nt_layout::x86_32(), world);
  const int file =
      world->create_file(std::vector<std::uint8_t>(0x2000, 7), true);
  int h = -1;
  REQUIRE(world->create_section(h, section_access::all_access, "", 0, 0,
                                page::readwrite, sec::commit,
                                file) == nt_status::success);
  std::uint64_t va = 0, sa = 0;
  REQUIRE(a.map_view(h, va, sa, 0, 0, page::readwrite) == nt_status::success);
  std::size_t done = 0;
  std::uint8_t b = 0;
  const std::uint8_t w = 0x42;
  REQUIRE(a.read(va, &b, 1, done) == nt_status::success);
  REQUIRE(a.write(va + 0x1000, &w, 1, done) == nt_status::success);
  CHECK(a.faults() == pager_faults{0, 2});  // both read from the file

  CHECK(a.trim(va));
  CHECK(a.trim(va + 0x1000));
  CHECK(world->page_paging(0, 0) == section_world::paging::standby);
  CHECK(world->page_paging(0, 1) == section_world::paging::modified);
  CHECK(world->file_bytes(file)[0x1000] == 7);
  CHECK(a.write_modified_pages(~std::uint64_t{0}) == 1);
  CHECK(world->file_bytes(file)[0x1000] == 0x42);
  CHECK(a.page_file_slots_used() == 0);  // files take no slots
  CHECK(a.listed_pages() == pager_lists{0, 2});

  CHECK(a.repurpose_standby() == 2);
  CHECK(world->resident_file_pages() == 0);
  REQUIRE(a.read(va + 0x1000, &b, 1, done) == nt_status::success);
  CHECK(b == 0x42);
  CHECK(a.faults() == pager_faults{0, 3});
  CHECK(a.check_invariants());
  CHECK(a.unmap_view(va) == nt_status::success);
  REQUIRE(world->close_section(h) == nt_status::success);
  CHECK(world->check_pager());
}

TEST_CASE("nt_model: the balance step trims every valid page, writes all") {
  nt_model m(nt_layout::x86_pae(), 64);
  std::uint64_t base = 0, size = 0x4000;
  REQUIRE(m.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
          nt_status::success);
  std::size_t done = 0;
  std::uint8_t b = 0;
  for (std::uint64_t i = 0; i < 3; ++i)
    REQUIRE(m.read(base + i * 0x1000, &b, 1, done) == nt_status::success);
  std::uint64_t at = base + 0x2000, len = 0x1000;
  std::uint32_t old = 0;
  REQUIRE(m.protect(at, len, page::noaccess, old) == nt_status::success);
  CHECK(m.balance() == 2);
  CHECK(m.listed_pages() == pager_lists{0, 2});
  CHECK(m.page_file_slots_used() == 2);
  CHECK(m.expected_pte(base >> 12) == pte_kind::transition);
  CHECK(m.expected_pte((base >> 12) + 2) == pte_kind::transition);  // NOACCESS
  CHECK(m.expected_pte((base >> 12) + 3) == pte_kind::demand_zero);
  CHECK(m.check_invariants());
}

TEST_CASE("differential: an injected bug is caught with its shortest prefix") {
  const nt_layout L = nt_layout::x86_64();
  diff_config cfg;
  cfg.layout = L;
  cfg.ops = 20000;

  SUBCASE("recommit loses data") {
    cfg.seed = 0xB06001;
    CAPTURE(cfg.seed);
    const diff_result r = run_differential(
        cfg, model_maker<model_bug::recommit_zeroes>(L, cfg.commit_limit),
        model_maker(L, cfg.commit_limit));
    INFO(r.report);
    REQUIRE_FALSE(r.ok);
    CHECK(r.prefix_length > 0);
    CHECK(r.prefix_length <= r.first_failure + 1);
    CHECK(r.prefix.size() == r.prefix_length);
    CHECK(r.report.find("confirmed on a fresh pair)") != std::string::npos);
    CHECK(r.report.find("seed " + std::to_string(cfg.seed)) !=
          std::string::npos);
    CHECK(r.mismatch.find("byte") != std::string::npos);
    MESSAGE("sample report (truncated):\n" << r.report.substr(0, 1500));
  }
  SUBCASE("decommit keeps its charge") {
    cfg.seed = 0xB06002;
    CAPTURE(cfg.seed);
    const diff_result r = run_differential(
        cfg, model_maker<model_bug::decommit_keeps_charge>(L, cfg.commit_limit),
        model_maker(L, cfg.commit_limit));
    INFO(r.report);
    REQUIRE_FALSE(r.ok);
    CHECK(r.report.find("confirmed on a fresh pair)") != std::string::npos);
    CHECK(r.mismatch.find("commit charge") != std::string::npos);
    // The last op of the shortest prefix is the faulty decommit.
    REQUIRE(!r.prefix.empty());
    CHECK(r.prefix.back().k == diff_op::kind::free);
    CHECK(r.prefix.back().a == mem::decommit);
  }
  SUBCASE("a trim leaves the page in the working set") {
    cfg.seed = 0xB06003;
    CAPTURE(cfg.seed);
    const diff_result r = run_differential(
        cfg, model_maker<model_bug::trim_keeps_page>(L, cfg.commit_limit),
        model_maker(L, cfg.commit_limit));
    INFO(r.report);
    REQUIRE_FALSE(r.ok);
    CHECK(r.report.find("confirmed on a fresh pair)") != std::string::npos);
    // Seen right after the trim: its page's PTE, or the lists.
    REQUIRE(!r.prefix.empty());
    CHECK(r.prefix.back().k == diff_op::kind::trim);
  }
}

TEST_CASE("differential: byte-driven runs stop when the input ends") {
  const nt_layout L = nt_layout::x86_pae();
  std::uint8_t bytes[256];
  for (int i = 0; i < 256; ++i)
    bytes[i] = static_cast<std::uint8_t>(i * 37 + 11);
  byte_entropy e(bytes, sizeof bytes);
  diff_config cfg;
  cfg.layout = L;
  cfg.ops = 100000;
  const diff_result r =
      run_differential_with(e, cfg, model_maker(L, cfg.commit_limit),
                            model_maker(L, cfg.commit_limit));
  INFO(r.report);
  CHECK(r.ok);
  CHECK(r.ops_run > 0);
  CHECK(r.ops_run < 256);
}

TEST_SUITE_END();
