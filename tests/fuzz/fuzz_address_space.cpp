// libFuzzer target: several address spaces of mixed archs on one small
// machine, each against the reference model, with the frames' owners
// tracked across spaces (tests/fuzz/multi_space.hpp has the input layout and
// every check). A mismatch prints the report (the machine, the spaces, the
// op after which the two sides differ and the ops before it) and aborts,
// which libFuzzer records as a crash with the input that caused it.
//
// The same file builds without libFuzzer into fuzz_address_space_plain
// (with fuzz_main.cpp), which replays inputs and measures executions per
// second.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/multi_space.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const mmkit_fuzz::input_result r = mmkit_fuzz::run_input(data, size);
  if (!r.ok) {
    std::fprintf(stderr, "%s\n", r.report.c_str());
    std::abort();
  }
  return 0;
}
