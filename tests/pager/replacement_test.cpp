// Replacement policies against textbook counts and independent
// simulations: LRU against Mattson's stack distances, OPT against a
// brute-force Belady, FIFO showing Belady's anomaly, and every policy at
// least OPT's faults on random and looping traces.
#include <mmkit/pager/replacement.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

using namespace mmkit;

namespace {

/// LRU faults for every memory size at once, from stack distances: a
/// reference faults in a memory of m frames iff its distance is > m.
std::uint64_t lru_by_stack_distance(const std::vector<page_key>& trace,
                                    std::uint64_t frames) {
  std::vector<page_key> stack;  // most recent first
  std::uint64_t faults = 0;
  for (page_key k : trace) {
    const auto it = std::find(stack.begin(), stack.end(), k);
    const std::uint64_t distance =
        it == stack.end() ? ~std::uint64_t{0}
                          : static_cast<std::uint64_t>(it - stack.begin()) + 1;
    if (distance > frames) ++faults;
    if (it != stack.end()) stack.erase(it);
    stack.insert(stack.begin(), k);
  }
  return faults;
}

/// Belady by brute force: on a fault with memory full, look ahead for the
/// resident page used farthest in the future (or never).
std::uint64_t opt_brute_force(const std::vector<page_key>& trace,
                              std::uint64_t frames) {
  std::vector<page_key> memory;
  std::uint64_t faults = 0;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    if (std::find(memory.begin(), memory.end(), trace[i]) != memory.end())
      continue;
    ++faults;
    if (memory.size() == frames) {
      std::size_t worst = 0, worst_next = 0;
      for (std::size_t m = 0; m < memory.size(); ++m) {
        std::size_t next = i + 1;
        while (next < trace.size() && trace[next] != memory[m]) ++next;
        if (next > worst_next) {
          worst_next = next;
          worst = m;
        }
      }
      memory.erase(memory.begin() + static_cast<std::ptrdiff_t>(worst));
    }
    memory.push_back(trace[i]);
  }
  return faults;
}

std::vector<page_key> random_trace(std::uint64_t n, std::uint64_t pages,
                                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<page_key> t(n);
  for (auto& k : t) k = rng() % pages;
  return t;
}
std::vector<page_key> looping_trace(std::uint64_t loops, std::uint64_t pages) {
  std::vector<page_key> t;
  for (std::uint64_t l = 0; l < loops; ++l)
    for (std::uint64_t p = 0; p < pages; ++p) t.push_back(p);
  return t;
}

}  // namespace

TEST_SUITE("pager") {
  TEST_CASE("the textbook reference string (Belady's anomaly)") {
    const std::vector<page_key> t{1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5};
    fifo_policy f3, f4;
    CHECK(count_faults(f3, t, 3) == 9);
    CHECK(count_faults(f4, t, 4) == 10);  // more memory, more faults
    lru_policy l3, l4;
    CHECK(count_faults(l3, t, 3) == 10);
    CHECK(count_faults(l4, t, 4) == 8);
    opt_policy o3(t), o4(t);
    CHECK(count_faults(o3, t, 3) == 7);
    CHECK(count_faults(o4, t, 4) == 6);
  }

  TEST_CASE("LRU and OPT agree with independent simulations") {
    const std::vector<std::vector<page_key>> traces{
        random_trace(3000, 40, 1), random_trace(3000, 200, 2),
        looping_trace(20, 30), looping_trace(5, 300)};
    for (const auto& t : traces) {
      for (std::uint64_t frames : {1u, 4u, 16u, 29u, 31u, 64u}) {
        CAPTURE(frames);
        lru_policy lru;
        CHECK(count_faults(lru, t, frames) == lru_by_stack_distance(t, frames));
        opt_policy opt(t);
        CHECK(count_faults(opt, t, frames) == opt_brute_force(t, frames));
      }
    }
  }

  TEST_CASE("no policy beats OPT; a loop one page too big defeats LRU") {
    const auto loop = looping_trace(10, 17);
    lru_policy lru;
    CHECK(count_faults(lru, loop, 16) == loop.size());  // every reference
    const auto t = random_trace(5000, 64, 9);
    for (std::uint64_t frames : {8u, 32u}) {
      opt_policy opt(t);
      const std::uint64_t best = count_faults(opt, t, frames);
      fifo_policy fifo;
      clock_policy clock;
      nt_aging_policy aging;
      lru_policy lru2;
      CHECK(count_faults(fifo, t, frames) >= best);
      CHECK(count_faults(clock, t, frames) >= best);
      CHECK(count_faults(aging, t, frames) >= best);
      CHECK(count_faults(lru2, t, frames) >= best);
    }
  }

  TEST_CASE("clock gives a second chance; aging keeps what was accessed") {
    clock_policy c;
    for (page_key k : {1, 2, 3}) c.insert(k);
    // Every bit is set on insertion: the hand clears 1, 2, 3 and takes 1.
    CHECK(c.victim() == 1);
    c.access(2);
    CHECK(c.victim() == 3);  // 2 was referenced again
    nt_aging_policy a(1);
    for (page_key k : {1, 2, 3}) a.insert(k);
    a.age();  // all accessed: age 0, bits clear
    a.access(1);
    a.access(3);
    CHECK(a.victim() == 2);  // the one not accessed since the pass
  }

}  // TEST_SUITE
