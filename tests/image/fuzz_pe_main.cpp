// The PE fuzz target without libFuzzer: replays inputs (files, or every
// file of a folder) and mutations of them, and reports executions per
// second.
//
//   fuzz_pe_image_plain [--random N] [--seed S] [PATH...]
//
// Each of the N random inputs is a replayed input (or, with none, 64
// random bytes) with a few changes drawn from a fixed-seed generator:
// bytes overwritten with random or boundary values, 16- and 32-bit fields
// overwritten, the file cut or extended. A finding aborts with the
// target's report, as under libFuzzer; --seed and the run's index
// reproduce it.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);

namespace {

std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

void mutate(std::vector<std::uint8_t>& b, splitmix64& rng) {
  static const std::uint32_t boundary[] = {
      0,      1,       2,          0x7F,       0x80,       0xFF,      0x100,
      0x1FF,  0x200,   0xFFF,      0x1000,     0x2000,     0x7FFF,    0x8000,
      0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFF000, 0xFFFFFFFF};
  const int changes = 1 + static_cast<int>(rng.next() % 4);
  for (int c = 0; c < changes; ++c) {
    if (b.empty()) b.push_back(0);
    const std::size_t at = rng.next() % b.size();
    switch (rng.next() % 6) {
      case 0: b[at] = static_cast<std::uint8_t>(rng.next()); break;
      case 1:
      case 2: {  // a 16- or 32-bit field
        const unsigned width = (rng.next() & 1) ? 4 : 2;
        const std::uint32_t v =
            boundary[rng.next() % (sizeof boundary / sizeof *boundary)];
        for (unsigned k = 0; k < width && at + k < b.size(); ++k)
          b[at + k] = static_cast<std::uint8_t>(v >> (8 * k));
        break;
      }
      case 3: b[at] ^= static_cast<std::uint8_t>(1u << (rng.next() % 8)); break;
      case 4: b.resize(at); break;  // cut
      case 5: b.resize(b.size() + rng.next() % 0x400, 0); break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t random_runs = 0;
  std::uint64_t seed = 1;
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--random" && i + 1 < argc) {
      random_runs = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "usage: %s [--random N] [--seed S] [PATH...]\n",
                   argv[0]);
      return 2;
    } else {
      paths.emplace_back(a);
    }
  }

  std::vector<std::vector<std::uint8_t>> inputs;
  for (const auto& p : paths) {
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> inside;
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) inside.push_back(e.path());
      std::sort(inside.begin(), inside.end());
      for (const auto& f : inside) inputs.push_back(read_file(f));
    } else {
      inputs.push_back(read_file(p));
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& in : inputs) LLVMFuzzerTestOneInput(in.data(), in.size());
  const auto t1 = std::chrono::steady_clock::now();

  splitmix64 rng{seed};
  std::vector<std::uint8_t> input;
  for (std::size_t n = 0; n < random_runs; ++n) {
    if (inputs.empty()) {
      input.resize(64);
      for (auto& x : input) x = static_cast<std::uint8_t>(rng.next());
    } else {
      input = inputs[rng.next() % inputs.size()];
    }
    mutate(input, rng);
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  const auto t2 = std::chrono::steady_clock::now();

  const double files_s = std::chrono::duration<double>(t1 - t0).count();
  const double random_s = std::chrono::duration<double>(t2 - t1).count();
  if (!inputs.empty())
    std::printf("files: %zu executions in %.2f s\n", inputs.size(), files_s);
  if (random_runs != 0)
    std::printf("random: %zu executions in %.2f s, %.0f/s (seed %llu)\n",
                random_runs, random_s, random_runs / random_s,
                static_cast<unsigned long long>(seed));
  return 0;
}
