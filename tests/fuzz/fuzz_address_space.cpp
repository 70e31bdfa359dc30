// libFuzzer target: the differential driver (tests/model/differential.hpp)
// with its ops taken from the fuzzer's input instead of a seeded RNG.
//
// Input layout: byte 0 selects the arch layout (modulo 4: x86_32, x86_pae,
// x86_64, x86_la57); the remaining bytes feed the op generator, 2 bytes per
// random number, until they run out. A difference between the
// implementation and the reference model prints the driver's report (seed
// field 0, the op index, the shortest failing prefix and its op log) and
// aborts, which libFuzzer records as a crash with the input that caused it.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <mmkit/arch/all.hpp>

#include "address_space/nt_machine.hpp"
#include "model/differential.hpp"
#include "model/nt_model.hpp"

namespace {

using namespace mmkit_model;
using mmkit_test::layout_of;

constexpr std::uint64_t commit_limit = 2048;  // pages, both sides

template <class Arch>
int fuzz_one(const std::uint8_t* data, std::size_t size) {
  byte_entropy entropy(data, size);
  diff_config cfg;
  cfg.layout = layout_of<Arch>();
  cfg.seed = 0;
  cfg.ops = 4096;
  cfg.walk_period = 16;
  cfg.invariant_period = 1;
  const diff_result r = run_differential_with(
      entropy, cfg,
      [] { return mmkit_test::make_nt_space<Arch>(commit_limit); },
      [] {
        return std::make_unique<nt_model>(layout_of<Arch>(), commit_limit);
      });
  if (!r.ok) {
    std::fprintf(stderr, "%s\n", r.report.c_str());
    std::abort();
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 2) return 0;
  switch (data[0] % 4) {
    case 0: return fuzz_one<mmkit::arch::x86_32>(data + 1, size - 1);
    case 1: return fuzz_one<mmkit::arch::x86_pae>(data + 1, size - 1);
    case 2: return fuzz_one<mmkit::arch::x86_64>(data + 1, size - 1);
    default: return fuzz_one<mmkit::arch::x86_la57>(data + 1, size - 1);
  }
}
