// The fuzz target without libFuzzer: replays inputs (files, or every file
// of a folder) and pseudo-random ones, and reports executions per second.
//
//   fuzz_address_space_plain [--random N] [--max-len L] [--seed S] [PATH...]
//
// Random inputs are L bytes at most (default 4096, libFuzzer's -max_len in
// CI), of a length drawn uniformly from [3, L]. A mismatch prints the
// target's report and aborts, as under libFuzzer.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/multi_space.hpp"
#include "model/differential.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);

namespace {

std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Executions, ops and seconds, split by machine (byte 0, bits 2-3: 3 is
/// the above_4g machine).
struct tally {
  std::size_t runs[2] = {};
  std::uint64_t ops = 0;
  double seconds[2] = {};

  void run(const std::vector<std::uint8_t>& input) {
    const std::uint64_t ops_before = mmkit_fuzz::ops_run_total;
    const auto t0 = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(input.data(), input.size());
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    const int big = input.size() >= 3 && ((input[0] >> 2) & 3u) == 3;
    ++runs[big];
    seconds[big] += s;
    ops += mmkit_fuzz::ops_run_total - ops_before;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t random_runs = 0;
  std::size_t max_len = 4096;
  std::uint64_t seed = 1;
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--random" && i + 1 < argc) {
      random_runs = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--max-len" && i + 1 < argc) {
      max_len = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(
          stderr, "usage: %s [--random N] [--max-len L] [--seed S] [PATH...]\n",
          argv[0]);
      return 2;
    } else {
      paths.emplace_back(a);
    }
  }
  if (max_len < 3) max_len = 3;

  // Build both machines before timing anything (the above_4g one takes a
  // while: 2^20 PFN entries, most of them marked bad).
  for (const std::uint8_t machine : {0x00, 0x0C}) {
    const std::uint8_t warm[3] = {machine, 0, 0};
    LLVMFuzzerTestOneInput(warm, sizeof warm);
  }

  tally files, random;
  for (const auto& p : paths) {
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> inside;
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) inside.push_back(e.path());
      std::sort(inside.begin(), inside.end());
      for (const auto& f : inside) {
        files.run(read_file(f));
      }
    } else {
      files.run(read_file(p));
    }
  }

  mmkit_model::splitmix64 rng(seed);
  std::vector<std::uint8_t> input;
  for (std::size_t n = 0; n < random_runs; ++n) {
    input.resize(3 + rng.next() % (max_len - 2));
    for (std::size_t i = 0; i < input.size(); i += 8) {
      const std::uint64_t v = rng.next();
      std::memcpy(input.data() + i, &v,
                  std::min<std::size_t>(8, input.size() - i));
    }
    random.run(input);
  }

  const auto report = [](const char* what, const tally& t) {
    const std::size_t runs = t.runs[0] + t.runs[1];
    const double s = t.seconds[0] + t.seconds[1];
    if (runs == 0) return;
    std::printf(
        "%s: %zu executions in %.2f s, %.0f/s, %.0f ops each "
        "(small machine %zu at %.0f/s, above_4g %zu at %.0f/s)\n",
        what, runs, s, runs / s, static_cast<double>(t.ops) / runs, t.runs[0],
        t.runs[0] ? t.runs[0] / t.seconds[0] : 0.0, t.runs[1],
        t.runs[1] ? t.runs[1] / t.seconds[1] : 0.0);
  };
  report("files", files);
  report("random", random);
  return 0;
}
