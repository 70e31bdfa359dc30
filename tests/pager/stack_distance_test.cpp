// count_faults under lru_policy and opt_policy against two simulations
// written apart from them: Mattson's stack algorithm, which finds the LRU
// faults of every memory size in one pass, and Belady's OPT as a plain
// scan of the resident pages for the one used farthest ahead. Random
// traces (uniform and skewed, fixed seeds) and loops one page too big or
// more (LRU's worst case: every reference faults).
#include <mmkit/pager/replacement.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

using namespace mmkit;

namespace {

/// Mattson's stack algorithm: the LRU stack (most recent first) is the
/// content of every LRU memory at once, the m most recent pages being the
/// memory of m frames. A reference at stack depth d (1-based) hits in
/// every memory of d frames or more; a first reference misses in all.
class lru_stack_model {
 public:
  explicit lru_stack_model(const std::vector<page_key>& trace) {
    std::vector<page_key> stack;
    for (page_key k : trace) {
      std::size_t depth = 0;
      while (depth < stack.size() && stack[depth] != k) ++depth;
      if (depth == stack.size()) {
        ++first_references_;
        stack.insert(stack.begin(), k);
        continue;
      }
      if (depth + 1 >= at_depth_.size()) at_depth_.resize(depth + 2, 0);
      ++at_depth_[depth + 1];
      for (std::size_t i = depth; i > 0; --i) stack[i] = stack[i - 1];
      stack[0] = k;
    }
  }
  /// The faults of an LRU memory of `frames` frames: first references,
  /// and references deeper than `frames`.
  std::uint64_t faults(std::uint64_t frames) const {
    std::uint64_t f = first_references_;
    for (std::uint64_t d = frames + 1; d < at_depth_.size(); ++d)
      f += at_depth_[d];
    return f;
  }

 private:
  std::uint64_t first_references_ = 0;
  std::vector<std::uint64_t> at_depth_;  // references by stack depth
};

/// Belady's OPT: on a fault with every frame taken, the resident page
/// whose next reference is farthest ahead (or that has none) goes. The
/// next reference of each position is found once, backwards; then each
/// reference scans the frames. O(n * frames) a memory size.
class opt_scan_model {
 public:
  explicit opt_scan_model(const std::vector<page_key>& trace)
      : trace_(trace), next_(trace.size()) {
    std::unordered_map<page_key, std::size_t> seen_later;
    for (std::size_t i = trace.size(); i-- > 0;) {
      const auto it = seen_later.find(trace[i]);
      next_[i] = it == seen_later.end() ? trace.size() : it->second;
      seen_later[trace[i]] = i;
    }
  }
  std::uint64_t faults(std::uint64_t frames) const {
    struct frame {
      page_key page;
      std::size_t next_use;  // trace.size(): never again
    };
    std::vector<frame> memory;
    std::uint64_t faults = 0;
    for (std::size_t i = 0; i < trace_.size(); ++i) {
      bool hit = false;
      for (frame& f : memory)
        if (f.page == trace_[i]) {
          f.next_use = next_[i];
          hit = true;
          break;
        }
      if (hit) continue;
      ++faults;
      if (memory.size() < frames) {
        memory.push_back({trace_[i], next_[i]});
        continue;
      }
      std::size_t farthest = 0;
      for (std::size_t m = 1; m < memory.size(); ++m)
        if (memory[m].next_use > memory[farthest].next_use) farthest = m;
      memory[farthest] = {trace_[i], next_[i]};
    }
    return faults;
  }

 private:
  const std::vector<page_key>& trace_;
  std::vector<std::size_t> next_;
};

std::vector<page_key> uniform_trace(std::size_t n, std::uint64_t pages,
                                    std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> page(0, pages - 1);
  std::vector<page_key> t(n);
  for (page_key& k : t) k = 0x7000 + page(rng);
  return t;
}

/// Most references go to a few hot pages, the rest anywhere: a working
/// set with a tail, as programs have (a geometric rank distribution).
std::vector<page_key> skewed_trace(std::size_t n, std::uint64_t pages,
                                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::geometric_distribution<std::uint64_t> rank(0.08);
  std::vector<page_key> t(n);
  for (page_key& k : t) k = (rank(rng) % pages) * 3 + 1;
  return t;
}

std::vector<page_key> loop_trace(std::uint64_t loop, std::uint64_t rounds) {
  std::vector<page_key> t;
  for (std::uint64_t r = 0; r < rounds; ++r)
    for (std::uint64_t p = 0; p < loop; ++p) t.push_back(100 + p);
  return t;
}

constexpr std::uint64_t frame_counts[] = {1,  2,  3,  4,  5,  7,  8,   12,
                                          16, 23, 31, 32, 47, 64, 100, 500};

/// Every frame count: count_faults with lru_policy and opt_policy equals
/// the models.
void check_against_models(const std::vector<page_key>& trace) {
  const lru_stack_model stack(trace);
  const opt_scan_model belady(trace);
  for (std::uint64_t frames : frame_counts) {
    CAPTURE(frames);
    lru_policy lru;
    CHECK(count_faults(lru, trace, frames) == stack.faults(frames));
    opt_policy opt(trace);
    CHECK(count_faults(opt, trace, frames) == belady.faults(frames));
  }
}

}  // namespace

TEST_SUITE("pager") {
  TEST_CASE("stack distance: the models on a reference string by hand") {
    // 1 2 3 4 1 2 5 1 2 3 4 5: with 3 frames LRU faults 10 times, OPT 7;
    // with 4, LRU 8 and OPT 6 (the textbook figures).
    const std::vector<page_key> t{1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5};
    const lru_stack_model stack(t);
    CHECK(stack.faults(3) == 10);
    CHECK(stack.faults(4) == 8);
    CHECK(stack.faults(5) == 5);  // every page fits: first references only
    const opt_scan_model belady(t);
    CHECK(belady.faults(3) == 7);
    CHECK(belady.faults(4) == 6);
  }

  TEST_CASE("stack distance: LRU and OPT agree with the models, uniform") {
    for (std::uint64_t seed : {1u, 42u, 1234u}) {
      for (std::uint64_t pages : {8u, 40u, 150u}) {
        CAPTURE(seed);
        CAPTURE(pages);
        check_against_models(uniform_trace(2000, pages, seed));
      }
    }
  }

  TEST_CASE("stack distance: LRU and OPT agree with the models, skewed") {
    for (std::uint64_t seed : {7u, 2024u}) {
      for (std::uint64_t pages : {30u, 300u}) {
        CAPTURE(seed);
        CAPTURE(pages);
        check_against_models(skewed_trace(3000, pages, seed));
      }
    }
  }

  TEST_CASE("stack distance: a loop larger than memory faults every time") {
    for (std::uint64_t loop : {5u, 17u, 64u}) {
      CAPTURE(loop);
      const std::vector<page_key> t = loop_trace(loop, 12);
      const lru_stack_model stack(t);
      const opt_scan_model belady(t);
      for (std::uint64_t frames = 1; frames < loop; ++frames) {
        CAPTURE(frames);
        lru_policy lru;
        CHECK(count_faults(lru, t, frames) == t.size());
        CHECK(stack.faults(frames) == t.size());
        // OPT keeps frames - 1 pages of the loop in place and cycles the
        // last frame, so it does better than LRU whenever it has two.
        opt_policy opt(t);
        const std::uint64_t best = count_faults(opt, t, frames);
        CHECK(best == belady.faults(frames));
        if (frames >= 2) CHECK(best < t.size());
      }
      // With room for the loop, only the first round faults.
      lru_policy lru;
      CHECK(count_faults(lru, t, loop) == loop);
      check_against_models(t);
    }
  }

  TEST_CASE("stack distance: LRU never faults more with more memory") {
    // The inclusion property that makes the one-pass model possible: an
    // LRU memory of m frames holds a subset of one of m + 1.
    const std::vector<page_key> t = skewed_trace(3000, 120, 99);
    std::uint64_t previous = ~std::uint64_t{0};
    for (std::uint64_t frames = 1; frames <= 130; ++frames) {
      lru_policy lru;
      const std::uint64_t f = count_faults(lru, t, frames);
      CHECK(f <= previous);
      previous = f;
    }
  }
}  // TEST_SUITE
