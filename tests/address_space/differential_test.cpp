// address_space against the reference model: seeded random sequences of
// every NT call (valid, malformed and hostile arguments alike), compared
// after every operation, on every arch; then sections and views, with the
// section layer (prototype PTEs, share counts, the system's charge and
// pool) checked against the model after every operation and nothing left
// behind at the end. MMKIT_SOAK_OPS=<n> runs longer.
#include <mmkit/arch/all.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "address_space/nt_machine.hpp"
#include "model/differential.hpp"

namespace {

using namespace mmkit_model;
using mmkit_test::layout_of;

template <class Arch>
auto model_maker(std::uint64_t commit_limit) {
  return [commit_limit] {
    return std::make_unique<nt_model>(layout_of<Arch>(), commit_limit);
  };
}

}  // namespace

TEST_SUITE_BEGIN("nt");

TEST_CASE_TEMPLATE("address_space differential: 200,000 random ops per arch",
                   Arch, mmkit::arch::x86_32, mmkit::arch::x86_pae,
                   mmkit::arch::x86_64, mmkit::arch::x86_la57) {
  constexpr std::uint64_t seeds[] = {0x5EED0001, 0x5EED0002, 0x5EED0003,
                                     0x5EED0004};
  std::size_t total = 0;
  for (const std::uint64_t seed : seeds) {
    diff_config cfg;
    cfg.layout = layout_of<Arch>();
    cfg.seed = seed;
    cfg.ops = soak_ops(50000);
    CAPTURE(seed);
    const diff_result r = run_differential(
        cfg, [&] { return mmkit_test::make_nt_space<Arch>(cfg.commit_limit); },
        model_maker<Arch>(cfg.commit_limit));
    INFO(r.report);
    REQUIRE(r.ok);
    CHECK(r.ops_run == cfg.ops);
    CHECK(r.successful_ops * 2 > r.ops_run);
    total += r.ops_run;
  }
  MESSAGE(std::string(Arch::name)
          << ": " << total << " ops compared with the model");
}

TEST_CASE_TEMPLATE("address_space differential: sections and views", Arch,
                   mmkit::arch::x86_32, mmkit::arch::x86_64) {
  // Fewer ops: the section checks walk every view after every op.
  constexpr std::uint64_t seeds[] = {0x5EC70001, 0x5EC70002, 0x5EC70003};
  std::size_t total = 0;
  for (const std::uint64_t seed : seeds) {
    diff_config cfg;
    cfg.layout = layout_of<Arch>();
    cfg.seed = seed;
    cfg.ops = soak_ops(4000);
    cfg.commit_limit = 512;
    cfg.sections = true;
    cfg.invariant_period = 1;  // check_invariants() after every op
    CAPTURE(seed);
    const diff_result r = run_differential(
        cfg, [&] { return mmkit_test::make_nt_space<Arch>(cfg.commit_limit); },
        model_maker<Arch>(cfg.commit_limit));
    INFO(r.report);
    REQUIRE(r.ok);
    CHECK(r.ops_run == cfg.ops);
    CHECK(r.successful_ops * 3 > r.ops_run);
    total += r.ops_run;
  }
  MESSAGE(std::string(Arch::name)
          << ": " << total << " ops with sections compared with the model");
}

TEST_SUITE_END();
