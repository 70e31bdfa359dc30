#pragma once
// Replacement policies: which page of a working set to trim next. One
// concept and five models, over page keys (a VPN, or a trace's page
// number); the policy sees what the pager tells it and answers victim().
//
//   nt_aging      NT's working-set aging: each aging pass clears the
//                 accessed bits and ages every page not accessed since the
//                 last pass; the oldest page goes first (ties: the one
//                 aged first)
//   clock         second chance: a hand sweeps the pages in insertion
//                 order, clearing reference bits, and takes the first page
//                 whose bit is clear
//   fifo          the page resident longest
//   lru           the page used least recently (exact: every access is
//                 seen, so it is for simulation: the trace replayer)
//   opt           Belady's optimal: the page whose next use lies farthest
//                 ahead, given the whole future trace
//
// What the pager calls: insert(k) when a page becomes resident, access(k)
// on every reference it sees (a fault, a replayed access; for nt_aging and
// clock this sets the page's accessed bit, as the hardware sets A),
// erase(k) when a page leaves for another reason (freed, unmapped), and
// victim() to choose and remove the next page to trim.
//
// Hosted: the models keep their pages in standard containers (the trace
// replayer and the tests drive them).

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "<mmkit/pager/replacement.hpp> needs a hosted C++ implementation"
#endif

#include <mmkit/core/assert.hpp>

#include <concepts>
#include <cstdint>
#include <limits>
#include <list>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mmkit {

using page_key = std::uint64_t;

template <class P>
concept ReplacementPolicy = requires(P& p, const P& cp, page_key k) {
  p.insert(k);
  p.access(k);
  p.erase(k);
  /// Requires: size() > 0. Chooses a page and removes it from the set.
  { p.victim() } -> std::same_as<page_key>;
  { cp.size() } -> std::same_as<std::uint64_t>;
  { cp.contains(k) } -> std::same_as<bool>;
};

/// Pages in insertion order with O(1) removal: what clock, FIFO and LRU
/// keep.
class ordered_pages {
 public:
  using list = std::list<page_key>;
  std::uint64_t size() const noexcept { return where_.size(); }
  bool contains(page_key k) const { return where_.count(k) != 0; }
  list::iterator push_back(page_key k) {
    MMKIT_ASSERT(!contains(k));
    order_.push_back(k);
    return where_[k] = std::prev(order_.end());
  }
  void erase(page_key k) {
    auto it = where_.find(k);
    if (it == where_.end()) return;
    order_.erase(it->second);
    where_.erase(it);
  }
  void move_to_back(page_key k) {
    auto it = where_.find(k);
    if (it != where_.end()) order_.splice(order_.end(), order_, it->second);
  }
  list& order() noexcept { return order_; }

 private:
  list order_;
  std::unordered_map<page_key, list::iterator> where_;
};

class fifo_policy {
 public:
  void insert(page_key k) { pages_.push_back(k); }
  void access(page_key) {}
  void erase(page_key k) { pages_.erase(k); }
  page_key victim() {
    const page_key k = pages_.order().front();
    pages_.erase(k);
    return k;
  }
  std::uint64_t size() const noexcept { return pages_.size(); }
  bool contains(page_key k) const { return pages_.contains(k); }

 private:
  ordered_pages pages_;
};
static_assert(ReplacementPolicy<fifo_policy>);

class lru_policy {
 public:
  void insert(page_key k) { pages_.push_back(k); }
  void access(page_key k) { pages_.move_to_back(k); }
  void erase(page_key k) { pages_.erase(k); }
  page_key victim() {
    const page_key k = pages_.order().front();
    pages_.erase(k);
    return k;
  }
  std::uint64_t size() const noexcept { return pages_.size(); }
  bool contains(page_key k) const { return pages_.contains(k); }

 private:
  ordered_pages pages_;
};
static_assert(ReplacementPolicy<lru_policy>);

class clock_policy {
 public:
  void insert(page_key k) {
    // A new page goes just behind the hand, with its bit set (it was just
    // referenced): the hand reaches it last.
    pages_.push_back(k);
    referenced_[k] = true;
  }
  void access(page_key k) {
    auto it = referenced_.find(k);
    if (it != referenced_.end()) it->second = true;
  }
  void erase(page_key k) {
    pages_.erase(k);
    referenced_.erase(k);
  }
  page_key victim() {
    auto& ring = pages_.order();
    for (;;) {
      const page_key k = ring.front();
      bool& bit = referenced_[k];
      if (!bit) {
        erase(k);
        return k;
      }
      bit = false;  // second chance: to the back of the ring
      pages_.move_to_back(k);
    }
  }
  std::uint64_t size() const noexcept { return pages_.size(); }
  bool contains(page_key k) const { return pages_.contains(k); }

 private:
  ordered_pages pages_;
  std::unordered_map<page_key, bool> referenced_;
};
static_assert(ReplacementPolicy<clock_policy>);

/// NT-style aging. An aging pass runs every `pass_every` victims chosen
/// (the working-set manager's periodic pass, counted in trims here).
class nt_aging_policy {
 public:
  explicit nt_aging_policy(std::uint64_t pass_every = 16) noexcept
      : pass_every_(pass_every == 0 ? 1 : pass_every) {}
  void insert(page_key k) {
    pages_.push_back(k);
    state_[k] = {0, true};
  }
  void access(page_key k) {
    auto it = state_.find(k);
    if (it != state_.end()) it->second.accessed = true;
  }
  void erase(page_key k) {
    pages_.erase(k);
    state_.erase(k);
  }
  /// The aging pass: accessed pages get age 0 (their bit cleared), the
  /// others grow one older (NT keeps a 3-bit age: at most 7).
  void age() {
    for (page_key k : pages_.order()) {
      auto& s = state_[k];
      s.age = s.accessed ? 0 : (s.age < 7 ? s.age + 1 : 7);
      s.accessed = false;
    }
  }
  page_key victim() {
    if (since_pass_++ % pass_every_ == 0) age();
    // The oldest page not accessed since the last pass; the first in
    // insertion order among equals.
    page_key best = pages_.order().front();
    int best_age = -1;
    for (page_key k : pages_.order()) {
      const auto& s = state_[k];
      const int a = s.accessed ? -1 : static_cast<int>(s.age);
      if (a > best_age) {
        best_age = a;
        best = k;
      }
    }
    erase(best);
    return best;
  }
  std::uint64_t size() const noexcept { return pages_.size(); }
  bool contains(page_key k) const { return pages_.contains(k); }

 private:
  struct page_state {
    unsigned age = 0;
    bool accessed = false;
  };
  ordered_pages pages_;
  std::unordered_map<page_key, page_state> state_;
  std::uint64_t pass_every_;
  std::uint64_t since_pass_ = 0;
};
static_assert(ReplacementPolicy<nt_aging_policy>);

/// Belady's OPT over a known trace: access(k) must be called for the
/// trace's references in order (insert(k) of a faulting reference counts
/// as its access).
class opt_policy {
 public:
  explicit opt_policy(const std::vector<page_key>& trace) {
    next_use_.resize(trace.size());
    std::unordered_map<page_key, std::uint64_t> later;
    for (std::uint64_t i = trace.size(); i-- > 0;) {
      auto it = later.find(trace[i]);
      next_use_[i] = it == later.end() ? never : it->second;
      later[trace[i]] = i;
    }
  }
  void insert(page_key k) { set(k, next_use_[position_++]); }
  void access(page_key k) { set(k, next_use_[position_++]); }
  void erase(page_key k) {
    auto it = next_.find(k);
    if (it == next_.end()) return;
    by_next_.erase({it->second, k});
    next_.erase(it);
  }
  page_key victim() {
    const auto last = std::prev(by_next_.end());
    const page_key k = last->second;
    erase(k);
    return k;
  }
  std::uint64_t size() const noexcept { return next_.size(); }
  bool contains(page_key k) const { return next_.count(k) != 0; }

 private:
  static constexpr std::uint64_t never =
      std::numeric_limits<std::uint64_t>::max();
  void set(page_key k, std::uint64_t next) {
    erase(k);
    next_[k] = next;
    by_next_.insert({next, k});
  }
  std::vector<std::uint64_t> next_use_;
  std::uint64_t position_ = 0;
  std::unordered_map<page_key, std::uint64_t> next_;
  std::set<std::pair<std::uint64_t, page_key>> by_next_;
};
static_assert(ReplacementPolicy<opt_policy>);

/// Replays `trace` through a memory of `frames` page frames under policy
/// `p`. Returns: the faults (references to a page not resident).
template <ReplacementPolicy P>
std::uint64_t count_faults(P& p, const std::vector<page_key>& trace,
                           std::uint64_t frames) {
  std::uint64_t faults = 0;
  for (page_key k : trace) {
    if (p.contains(k)) {
      p.access(k);
      continue;
    }
    ++faults;
    if (p.size() == frames) (void)p.victim();
    p.insert(k);
  }
  return faults;
}

}  // namespace mmkit
