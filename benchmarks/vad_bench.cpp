// vad_tree beside what a user would otherwise pick to keep regions:
// std::map keyed by start (sogen's choice), boost::icl::interval_map, and,
// for free-range search, the linear first-fit walk every other peer uses
// (NT's MiFindEmptyAddressRangeInTree, ReactOS, Zircon, SerenityOS).
//
// Every fixture is built once per (kind, N) and reused by all repetitions;
// probes are precomputed and indexed with a power-of-two mask.
#include <benchmark/benchmark.h>
#include <mmkit/vad/vad_tree.hpp>

#include <boost/icl/interval_map.hpp>
#include <boost/intrusive/avltree.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace {

using namespace mmkit;

constexpr std::uint64_t probe_count = 1 << 16;
constexpr std::uint64_t probe_mask = probe_count - 1;
constexpr std::uint64_t user_lowest = 0x10;

/// What a std::map user keeps per region: the same descriptor a vad has.
struct region {
  std::uint64_t last;
  std::uint64_t flags;
  void* section;
  std::uint64_t prototype;
};

/// N VADs of 1..16 pages starting on 64 KiB boundaries, 1..4 granules apart,
/// listed in a random order (the order every structure is filled in).
struct layout {
  std::vector<vpn_range> ranges;  // shuffled
  std::vector<std::uint64_t> probes;
  explicit layout(std::size_t n) {
    std::mt19937_64 rng(n);
    std::uint64_t next = user_lowest;
    ranges.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t first = next + 16 * (rng() % 4);
      const std::uint64_t last = first + rng() % 16;
      ranges.push_back({vpn{first}, vpn{last}});
      next = (last + 16) & ~std::uint64_t{15};
    }
    probes.resize(probe_count);
    for (auto& p : probes) {
      const vpn_range& r = ranges[rng() % n];
      p = r.first.raw() + rng() % r.count();
    }
    std::shuffle(ranges.begin(), ranges.end(), rng);
  }
};

struct mmkit_fixture {
  std::vector<vad> nodes;
  vad_tree<> tree;
  explicit mmkit_fixture(const layout& l) : nodes(l.ranges.size()) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      nodes[i] = vad(l.ranges[i], vad_type::private_memory, mm::readwrite);
      if (!tree.insert(nodes[i]).ok()) std::abort();
    }
  }
  ~mmkit_fixture() { tree.clear(); }
};
struct std_map_fixture {
  std::map<std::uint64_t, region> map;
  explicit std_map_fixture(const layout& l) {
    for (const auto& r : l.ranges)
      map.emplace(r.first.raw(), region{r.last.raw(), 4, nullptr, 0});
  }
};
/// The floor under any Boost.Intrusive AVL design: the same descriptor on a
/// stock `optimize_size` hook, keyed by start, with no aggregate at all (so
/// no free-range search). What vad_tree adds over it is the gap fields'
/// upkeep.
struct plain_avl_node : boost::intrusive::avl_set_base_hook<
                            boost::intrusive::optimize_size<true>> {
  std::uint64_t first = 0;
  region r{};
};
struct plain_avl_less {
  bool operator()(const plain_avl_node& a, const plain_avl_node& b) const {
    return a.first < b.first;
  }
  bool operator()(std::uint64_t k, const plain_avl_node& b) const {
    return k < b.first;
  }
  bool operator()(const plain_avl_node& a, std::uint64_t k) const {
    return a.first < k;
  }
};
struct plain_avl_fixture {
  using tree_type =
      boost::intrusive::avltree<plain_avl_node,
                                boost::intrusive::compare<plain_avl_less>>;
  std::vector<plain_avl_node> nodes;
  tree_type tree;
  explicit plain_avl_fixture(const layout& l) : nodes(l.ranges.size()) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      nodes[i].first = l.ranges[i].first.raw();
      nodes[i].r = region{l.ranges[i].last.raw(), 4, nullptr, 0};
      tree.insert_unique(nodes[i]);
    }
  }
  ~plain_avl_fixture() { tree.clear(); }
};
struct icl_fixture {
  boost::icl::interval_map<std::uint64_t, std::uint32_t> map;
  explicit icl_fixture(const layout& l) {
    std::uint32_t id = 0;
    for (const auto& r : l.ranges)
      map.add({boost::icl::discrete_interval<std::uint64_t>::closed(
                   r.first.raw(), r.last.raw()),
               ++id});
  }
};

template <class T>
T& cached(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<T>> cache;
  auto& p = cache[n];
  if (!p) p = std::make_unique<T>(n);
  return *p;
}
template <class T>
T& cached_from_layout(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<T>> cache;
  auto& p = cache[n];
  if (!p) p = std::make_unique<T>(cached<layout>(n));
  return *p;
}

// --- find containing ------------------------------------------------------

void BM_vad_find(benchmark::State& state, int impl) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const layout& l = cached<layout>(n);
  std::uint64_t i = 0;
  if (impl == 0) {
    auto& f = cached_from_layout<mmkit_fixture>(n);
    for (auto _ : state) {
      const vad* v = f.tree.find_containing(vpn{l.probes[i++ & probe_mask]});
      benchmark::DoNotOptimize(v);
    }
    state.counters["node_bytes"] = static_cast<double>(sizeof(vad));
  } else if (impl == 1) {
    auto& f = cached_from_layout<std_map_fixture>(n);
    for (auto _ : state) {
      const std::uint64_t p = l.probes[i++ & probe_mask];
      auto it = f.map.upper_bound(p);
      const region* r = nullptr;
      if (it != f.map.begin()) {
        --it;
        if (p <= it->second.last) r = &it->second;
      }
      benchmark::DoNotOptimize(r);
    }
  } else {
    auto& f = cached_from_layout<icl_fixture>(n);
    for (auto _ : state) {
      auto it = f.map.find(l.probes[i++ & probe_mask]);
      benchmark::DoNotOptimize(it);
    }
  }
  state.SetItemsProcessed(state.iterations());
}

/// Repeated lookups inside one VAD: NT's VadHint case.
void BM_vad_find_hint(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  auto& f = cached_from_layout<mmkit_fixture>(n);
  const vpn_range r = cached<layout>(n).ranges[n / 2];
  std::uint64_t i = 0;
  for (auto _ : state) {
    const vad* v =
        f.tree.find_containing(r.first + (i++ & (r.count() - 1) & 7));
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

// --- insert and erase -----------------------------------------------------

/// One NtFreeVirtualMemory + NtAllocateVirtualMemory at a fixed address per
/// iteration: find the region of a random address, remove it, put it back.
/// With `mask` 0 every iteration takes the same address: each branch goes
/// the way it went last time and the path stays in L1, which shows what
/// the random case spends on mispredicted branches and cache misses.
void BM_vad_insert_erase(benchmark::State& state, int impl,
                         std::uint64_t mask = probe_mask) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const layout& l = cached<layout>(n);
  std::uint64_t i = 0;
  if (impl == 0) {
    auto& f = cached_from_layout<mmkit_fixture>(n);
    for (auto _ : state) {
      vad* v = f.tree.find_containing(vpn{l.probes[i++ & mask]});
      f.tree.erase(*v);
      if (!f.tree.insert(*v).ok()) std::abort();
    }
    if (!f.tree.check_invariants()) state.SkipWithError("invariants");
  } else if (impl == 1) {
    auto& f = cached_from_layout<std_map_fixture>(n);
    for (auto _ : state) {
      const std::uint64_t p = l.probes[i++ & mask];
      auto it = std::prev(f.map.upper_bound(p));
      const std::uint64_t key = it->first;
      const region r = it->second;
      f.map.erase(it);
      auto done = f.map.emplace(key, r);
      benchmark::DoNotOptimize(done);
    }
  } else {
    auto& f = cached_from_layout<plain_avl_fixture>(n);
    for (auto _ : state) {
      const std::uint64_t p = l.probes[i++ & mask];
      auto it = std::prev(f.tree.upper_bound(p, plain_avl_less{}));
      plain_avl_node& v = *it;
      f.tree.erase(it);
      auto done = f.tree.insert_unique(v);
      benchmark::DoNotOptimize(done);
    }
  }
  state.SetItemsProcessed(state.iterations());
}

/// Insert and erase as operations of their own, at a steady N. A batch of
/// k operations is timed by hand and undone untimed (k = N / 4, at most
/// 1024), so the tree holds N VADs, give or take k, throughout; the
/// figure is the batch's time over k (counter `ns_per_op`). Successive
/// batches take different ranges, so no batch finds the last one's paths
/// in the cache.
///
/// Insert: a fresh range in a random free granule, with the conflict check
/// every caller needs (mmkit's insert does it; for std::map the cheapest
/// correct form, one upper_bound and an emplace_hint there). Erase: the
/// region containing a random address is found and removed, as
/// NtFreeVirtualMemory of a reservation does (mmkit: find_containing and
/// erase of what it found).
struct churn {
  std::size_t k;
  std::vector<vpn_range> fresh;       // ranges in distinct free granules
  std::vector<std::uint64_t> probes;  // one address in each of the N VADs
  std::vector<vad> fresh_nodes;       // mmkit's nodes for `fresh`
  std::vector<plain_avl_node> fresh_plain;
  std::size_t next_fresh = 0;
  std::size_t next_victim = 0;
  std::mt19937_64 rng;
  explicit churn(std::size_t n)
      : k(std::min<std::size_t>(1024, n / 4)), rng(n + 1) {
    const layout& l = cached<layout>(n);
    std::vector<vpn_range> sorted = l.ranges;
    std::sort(sorted.begin(), sorted.end(),
              [](const vpn_range& a, const vpn_range& b) {
                return a.first < b.first;
              });
    // A free granule lies below every VAD whose hole below holds one.
    std::uint64_t free_lo = user_lowest;
    for (const vpn_range& r : sorted) {
      const std::uint64_t g = (free_lo + 15) & ~std::uint64_t{15};
      if (g + 15 < r.first.raw())
        fresh.push_back({vpn{g}, vpn{g + rng() % 16}});
      free_lo = r.last.raw() + 1;
    }
    std::shuffle(fresh.begin(), fresh.end(), rng);
    fresh.resize(std::min(fresh.size(), n / 2));
    if (fresh.size() < 2 * k) std::abort();
    for (const vpn_range& r : l.ranges)
      probes.push_back(r.first.raw() + rng() % r.count());
    std::shuffle(probes.begin(), probes.end(), rng);
    fresh_nodes.resize(fresh.size());
    fresh_plain.resize(fresh.size());
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      fresh_nodes[i] = vad(fresh[i], vad_type::private_memory, mm::readwrite);
      fresh_plain[i].first = fresh[i].first.raw();
      fresh_plain[i].r = region{fresh[i].last.raw(), 4, nullptr, 0};
    }
  }
  /// Where the next k fresh ranges start in `fresh`. Each pass over the
  /// pool takes them in a new order, so that no sequence of branches
  /// repeats for a predictor to learn (at small N the pool is a few
  /// batches).
  std::size_t batch() {
    if (next_fresh + k > fresh.size()) {
      next_fresh = 0;
      for (std::size_t i = fresh.size() - 1; i > 0; --i) {
        const std::size_t j = rng() % (i + 1);
        std::swap(fresh[i], fresh[j]);
        std::swap(fresh_nodes[i], fresh_nodes[j]);
        std::swap(fresh_plain[i], fresh_plain[j]);
      }
    }
    const std::size_t b = next_fresh;
    next_fresh += k;
    return b;
  }
  /// The next k probes, each in a distinct VAD, likewise.
  const std::uint64_t* victims() {
    if (next_victim + k > probes.size()) {
      next_victim = 0;
      std::shuffle(probes.begin(), probes.end(), rng);
    }
    const std::uint64_t* v = &probes[next_victim];
    next_victim += k;
    return v;
  }
};

/// Runs one batch, times it by hand as the iteration's time, and returns
/// the seconds it took.
template <class F>
double timed(benchmark::State& state, F&& batch) {
  const auto t0 = std::chrono::steady_clock::now();
  batch();
  const std::chrono::duration<double> d = std::chrono::steady_clock::now() - t0;
  state.SetIterationTime(d.count());
  return d.count();
}

void finish_churn(benchmark::State& state, double seconds, std::size_t k) {
  state.counters["ns_per_op"] = benchmark::Counter(
      seconds * 1e9 / (static_cast<double>(state.iterations()) * k));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(k));
}

void BM_vad_insert(benchmark::State& state, int impl) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  churn& c = cached<churn>(n);
  double total = 0;
  if (impl == 0) {
    auto& f = cached_from_layout<mmkit_fixture>(n);
    for (auto _ : state) {
      vad* b = &c.fresh_nodes[c.batch()];
      total += timed(state, [&] {
        for (std::size_t i = 0; i < c.k; ++i)
          if (!f.tree.insert(b[i]).ok()) std::abort();
      });
      for (std::size_t i = 0; i < c.k; ++i) f.tree.erase(b[i]);
    }
    if (!f.tree.check_invariants()) state.SkipWithError("invariants");
  } else if (impl == 1) {
    auto& f = cached_from_layout<std_map_fixture>(n);
    for (auto _ : state) {
      const vpn_range* b = &c.fresh[c.batch()];
      total += timed(state, [&] {
        for (std::size_t i = 0; i < c.k; ++i) {
          const vpn_range& r = b[i];
          // The first region starting above r.last; the one before it must
          // end below r.first.
          auto it = f.map.upper_bound(r.last.raw());
          if (it != f.map.begin() &&
              std::prev(it)->second.last >= r.first.raw())
            std::abort();
          f.map.emplace_hint(it, r.first.raw(),
                             region{r.last.raw(), 4, nullptr, 0});
        }
      });
      for (std::size_t i = 0; i < c.k; ++i) f.map.erase(b[i].first.raw());
    }
  } else {
    auto& f = cached_from_layout<plain_avl_fixture>(n);
    for (auto _ : state) {
      plain_avl_node* b = &c.fresh_plain[c.batch()];
      total += timed(state, [&] {
        for (std::size_t i = 0; i < c.k; ++i) {
          plain_avl_node& v = b[i];
          auto it = f.tree.upper_bound(v.r.last, plain_avl_less{});
          if (it != f.tree.begin() && std::prev(it)->r.last >= v.first)
            std::abort();
          f.tree.insert_before(it, v);
        }
      });
      for (std::size_t i = 0; i < c.k; ++i)
        f.tree.erase(f.tree.iterator_to(b[i]));
    }
  }
  finish_churn(state, total, c.k);
}

void BM_vad_erase(benchmark::State& state, int impl) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  churn& c = cached<churn>(n);
  double total = 0;
  if (impl == 0) {
    auto& f = cached_from_layout<mmkit_fixture>(n);
    std::vector<vad*> gone(c.k);
    for (auto _ : state) {
      const std::uint64_t* p = c.victims();
      total += timed(state, [&] {
        for (std::size_t i = 0; i < c.k; ++i) {
          vad* v = f.tree.find_containing(vpn{p[i]});
          f.tree.erase(*v);
          gone[i] = v;
        }
      });
      for (vad* v : gone)
        if (!f.tree.insert(*v).ok()) std::abort();
    }
    if (!f.tree.check_invariants()) state.SkipWithError("invariants");
  } else if (impl == 1) {
    auto& f = cached_from_layout<std_map_fixture>(n);
    std::vector<std::pair<std::uint64_t, region>> gone(c.k);
    for (auto _ : state) {
      const std::uint64_t* p = c.victims();
      total += timed(state, [&] {
        for (std::size_t i = 0; i < c.k; ++i) {
          auto it = std::prev(f.map.upper_bound(p[i]));
          gone[i] = *it;
          f.map.erase(it);
        }
      });
      for (const auto& g : gone) f.map.insert(g);
    }
  } else {
    auto& f = cached_from_layout<plain_avl_fixture>(n);
    std::vector<plain_avl_node*> gone(c.k);
    for (auto _ : state) {
      const std::uint64_t* p = c.victims();
      total += timed(state, [&] {
        for (std::size_t i = 0; i < c.k; ++i) {
          auto it = std::prev(f.tree.upper_bound(p[i], plain_avl_less{}));
          gone[i] = &*it;
          f.tree.erase(it);
        }
      });
      for (plain_avl_node* v : gone) f.tree.insert_unique(*v);
    }
  }
  finish_churn(state, total, c.k);
}

/// NtFreeVirtualMemory of the first page of a reservation and a new
/// reservation of it again: the region's start moves up one page and back.
/// mmkit moves it in place (vad_tree::resize); a std::map keyed by start
/// must erase and re-emplace the region each time.
void BM_vad_move_start(benchmark::State& state, int impl) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const layout& l = cached<layout>(n);
  std::uint64_t i = 0;
  if (impl == 0) {
    auto& f = cached_from_layout<mmkit_fixture>(n);
    for (auto _ : state) {
      vad* v = f.tree.find_containing(vpn{l.probes[i++ & probe_mask]});
      const vpn_range r = v->range();
      if (r.first == r.last) continue;
      if (!f.tree.resize(*v, {r.first + 1, r.last}).ok()) std::abort();
      if (!f.tree.resize(*v, r).ok()) std::abort();
    }
    if (!f.tree.check_invariants()) state.SkipWithError("invariants");
  } else {
    auto& f = cached_from_layout<std_map_fixture>(n);
    for (auto _ : state) {
      const std::uint64_t p = l.probes[i++ & probe_mask];
      auto it = std::prev(f.map.upper_bound(p));
      const std::uint64_t key = it->first;
      const region r = it->second;
      if (key == r.last) continue;
      f.map.erase(it);
      auto moved = f.map.emplace(key + 1, r).first;
      f.map.erase(moved);
      auto done = f.map.emplace(key, r);
      benchmark::DoNotOptimize(done);
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// --- free-range search ----------------------------------------------------

/// N VADs of 16 pages, each gap exactly one 64 KiB granule, except one gap
/// of 3 granules near the far end of the search (the top for bottom-up, the
/// bottom for top-down): a 2-granule request fits only there.
struct fragmented {
  std::vector<vad> nodes;
  vad_tree<> tree;
  fragmented(std::size_t n, search_direction dir) : nodes(n) {
    const std::size_t wide = dir == search_direction::bottom_up ? n - 8 : 8;
    std::uint64_t next = user_lowest;
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) {
      next += i == wide ? 48 : 16;
      nodes[i] = vad({vpn{next}, vpn{next + 15}}, vad_type::private_memory,
                     mm::readwrite);
      next += 16;
      order[i] = i;
    }
    std::mt19937_64 rng(n);
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order)
      if (!tree.insert(nodes[i]).ok()) std::abort();
  }
  ~fragmented() { tree.clear(); }
  /// The window: the whole user range up to the last VAD, so the free space
  /// above the tree does not count.
  vpn_range window() const {
    return {vpn{user_lowest}, vpn{nodes.back().end().raw()}};
  }
};

template <search_direction Dir>
struct fragmented_in : fragmented {
  explicit fragmented_in(std::size_t n) : fragmented(n, Dir) {}
};

/// NT's algorithm: walk the VADs in order, first fit.
result<vpn> linear_first_fit(const vad_tree<>& tree, std::uint64_t pages,
                             vpn_range w, search_direction dir,
                             std::uint64_t align) {
  const std::uint64_t lo = w.first.raw(), hi = w.last.raw();
  if (dir == search_direction::bottom_up) {
    std::uint64_t free_lo = lo;
    for (const vad& v : tree) {
      if (v.end().raw() < free_lo) continue;
      const std::uint64_t a = (free_lo + align - 1) & ~(align - 1);
      if (a + pages - 1 < v.start().raw() && a + pages - 1 <= hi) return vpn{a};
      free_lo = v.end().raw() + 1;
      if (free_lo > hi) break;
    }
    const std::uint64_t a = (free_lo + align - 1) & ~(align - 1);
    if (a + pages - 1 <= hi) return vpn{a};
  } else {
    std::uint64_t free_hi = hi;
    for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
      if (it->start().raw() > free_hi) continue;
      if (it->end().raw() < free_hi && free_hi - it->end().raw() >= pages) {
        const std::uint64_t a = (free_hi - pages + 1) & ~(align - 1);
        if (a > it->end().raw() && a >= lo) return vpn{a};
      }
      if (it->start().raw() <= lo) return status::no_memory;
      free_hi = it->start().raw() - 1;
    }
    if (free_hi >= lo + pages - 1) {
      const std::uint64_t a = (free_hi - pages + 1) & ~(align - 1);
      if (a >= lo) return vpn{a};
    }
  }
  return status::no_memory;
}

template <search_direction Dir>
void BM_vad_find_free(benchmark::State& state, int impl) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  auto& f = cached<fragmented_in<Dir>>(n);
  const vpn_range w = f.window();
  // The expected answer: the wide gap's second granule (aligned, 2 pages
  // of granules).
  const auto want = f.tree.find_free_range(32, w, Dir, 16);
  const auto lin = linear_first_fit(f.tree, 32, w, Dir, 16);
  if (!want.ok() || !lin.ok() || *want != *lin) {
    state.SkipWithError("mmkit and the linear walk disagree");
    return;
  }
  for (auto _ : state) {
    result<vpn> r = impl == 0 ? f.tree.find_free_range(32, w, Dir, 16)
                              : linear_first_fit(f.tree, 32, w, Dir, 16);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_vad_find_free_up(benchmark::State& state, int impl) {
  BM_vad_find_free<search_direction::bottom_up>(state, impl);
}
void BM_vad_find_free_down(benchmark::State& state, int impl) {
  BM_vad_find_free<search_direction::top_down>(state, impl);
}

/// An address space's usual shape: N reservations packed from the lowest
/// user VPN (0x10) up, each 12 pages on its own 64 KiB boundary, so every
/// hole is 4 pages and holds no granule. A bottom-up request for one
/// granule fits only above the last VAD. With the tree's floor at the
/// lowest user VPN the root proves it at once; with the floor at 0 the 16
/// pages below VPN 0x10 look like a fit and every search walks the left
/// spine first (the cost before the floor existed).
struct packed {
  std::vector<vad> nodes;
  vad_tree<> tree;
  packed(std::size_t n, std::uint64_t floor) : nodes(n), tree(vpn{floor}) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t first = user_lowest + 16 * i;
      nodes[i] = vad({vpn{first}, vpn{first + 11}}, vad_type::private_memory,
                     mm::readwrite);
      order[i] = i;
    }
    std::mt19937_64 rng(n);
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order)
      if (!tree.insert(nodes[i]).ok()) std::abort();
  }
  ~packed() { tree.clear(); }
};
struct packed_floor : packed {
  explicit packed_floor(std::size_t n) : packed(n, user_lowest) {}
};
struct packed_no_floor : packed {
  explicit packed_no_floor(std::size_t n) : packed(n, 0) {}
};

void BM_vad_find_free_packed(benchmark::State& state, int impl) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const vpn_range user{vpn{user_lowest}, vpn{0x7FFFFFFEF}};  // x64 NT
  const vad_tree<>& tree = impl == 0   ? cached<packed_floor>(n).tree
                           : impl == 1 ? cached<packed_no_floor>(n).tree
                                       : cached<packed_floor>(n).tree;
  const std::uint64_t want = user_lowest + 16 * n;
  const auto got = impl == 2 ? linear_first_fit(tree, 16, user,
                                                search_direction::bottom_up, 16)
                             : tree.find_free_range(16, user);
  if (!got.ok() || got->raw() != want) {
    state.SkipWithError("the search missed the range above the last VAD");
    return;
  }
  for (auto _ : state) {
    result<vpn> r =
        impl == 2
            ? linear_first_fit(tree, 16, user, search_direction::bottom_up, 16)
            : tree.find_free_range(16, user);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int n : {1000, 10000, 100000, 1000000}) b->Arg(n);
}

BENCHMARK_CAPTURE(BM_vad_find, mmkit, 0)
    ->Name("BM_vad_find/mmkit")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find, std_map, 1)
    ->Name("BM_vad_find/std_map")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find, boost_icl, 2)
    ->Name("BM_vad_find/boost_icl")
    ->Apply(sizes);
BENCHMARK(BM_vad_find_hint)->Name("BM_vad_find_hint/mmkit")->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert_erase, mmkit, 0)
    ->Name("BM_vad_insert_erase/mmkit")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert_erase, std_map, 1)
    ->Name("BM_vad_insert_erase/std_map")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert_erase, boost_avl_plain, 2)
    ->Name("BM_vad_insert_erase/boost_avl_plain")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert_erase, mmkit, 0, 0)
    ->Name("BM_vad_insert_erase_one_address/mmkit")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert_erase, std_map, 1, 0)
    ->Name("BM_vad_insert_erase_one_address/std_map")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert_erase, boost_avl_plain, 2, 0)
    ->Name("BM_vad_insert_erase_one_address/boost_avl_plain")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert, mmkit, 0)
    ->Name("BM_vad_insert/mmkit")
    ->UseManualTime()
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert, std_map, 1)
    ->Name("BM_vad_insert/std_map")
    ->UseManualTime()
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_insert, boost_avl_plain, 2)
    ->Name("BM_vad_insert/boost_avl_plain")
    ->UseManualTime()
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_erase, mmkit, 0)
    ->Name("BM_vad_erase/mmkit")
    ->UseManualTime()
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_erase, std_map, 1)
    ->Name("BM_vad_erase/std_map")
    ->UseManualTime()
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_erase, boost_avl_plain, 2)
    ->Name("BM_vad_erase/boost_avl_plain")
    ->UseManualTime()
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_move_start, mmkit, 0)
    ->Name("BM_vad_move_start/mmkit")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_move_start, std_map, 1)
    ->Name("BM_vad_move_start/std_map")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find_free_up, mmkit, 0)
    ->Name("BM_vad_find_free_bottom_up/mmkit")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find_free_up, linear, 1)
    ->Name("BM_vad_find_free_bottom_up/linear")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find_free_down, mmkit, 0)
    ->Name("BM_vad_find_free_top_down/mmkit")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find_free_down, linear, 1)
    ->Name("BM_vad_find_free_top_down/linear")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find_free_packed, mmkit, 0)
    ->Name("BM_vad_find_free_packed/mmkit")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find_free_packed, mmkit_floor_0, 1)
    ->Name("BM_vad_find_free_packed/mmkit_floor_0")
    ->Apply(sizes);
BENCHMARK_CAPTURE(BM_vad_find_free_packed, linear, 2)
    ->Name("BM_vad_find_free_packed/linear")
    ->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
