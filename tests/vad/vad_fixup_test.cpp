// vad_tree's aggregate fix-up under the patterns that broke it and the ones
// an address space produces: every erase of every small tree shape, erase +
// shrink + reinsert of the same node, splits into two nodes, nodes recycled
// after erase, long runs of adjacent VADs, small search windows, and the
// tree's floor. The invariants (every gap and fit recomputed from scratch,
// and the AVL balance) are checked after every change.
#include <doctest/doctest.h>
#include <mmkit/vad/vad_tree.hpp>

#include "vad_model.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

using namespace mmkit;
using vad_test::vad_model;

namespace {

// REQUIRE only on failure: doctest's bookkeeping per assertion would
// dominate these loops' run time under the sanitizers.
#define VAD_FAST_REQUIRE(expr)  \
  do {                          \
    if (!(expr)) REQUIRE(expr); \
  } while (false)

vad make_vad(std::uint64_t first, std::uint64_t last) {
  return vad({vpn{first}, vpn{last}}, vad_type::private_memory, mm::readwrite);
}

/// n VADs in one of several layouts, so that a node holding a stale max_fit
/// shows: layout 0 gives every VAD its own gap and fit (VAD i is 1 + 3i
/// pages long with 16(i + 1) + i free pages below it); the others draw gaps
/// from {0, 1..15, 16..63, 0x65} and lengths of 1..8 pages from a fixed
/// seed, so that merging a gap often leaves its fit unchanged.
std::vector<vpn_range> layout_of(std::size_t n, unsigned which) {
  std::vector<vpn_range> r;
  std::mt19937_64 rng(which);
  std::uint64_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t gap = 16 * (i + 1) + i, len = 1 + 3 * i;
    if (which != 0) {
      static constexpr std::uint64_t kinds[] = {0, 0, 1, 2, 3};
      switch (kinds[rng() % 5]) {
        case 0: gap = 0; break;
        case 1: gap = 1 + rng() % 15; break;
        case 2: gap = 16 + rng() % 48; break;
        default: gap = 0x65; break;
      }
      len = 1 + rng() % 8;
    }
    const std::uint64_t first = next + gap;
    r.push_back({vpn{first}, vpn{first + len - 1}});
    next = first + len;
  }
  return r;
}

/// The three ways an address space changes a VAD it keeps (NtFreeVirtualMemory
/// on part of a reservation): shrink from the top, from the bottom, or split
/// around a hole (the node keeps the head, `tail` takes the rest).
enum class change : std::uint8_t { erase, shrink_top, shrink_bottom, split };

/// Applies `c` to `v` (linked in `t`); returns whether `tail` was linked.
template <class Tree>
bool apply(Tree& t, vad& v, vad& tail, change c) {
  const vpn_range whole = v.range();
  t.erase(v);
  if (c == change::erase) return false;
  if (whole.first == whole.last) {  // nothing to shrink: put it back
    VAD_FAST_REQUIRE(t.insert(v).ok());
    return false;
  }
  bool linked_tail = false;
  switch (c) {
    case change::shrink_top: v.set_range({whole.first, whole.last - 1}); break;
    case change::shrink_bottom:
      v.set_range({whole.first + 1, whole.last});
      break;
    default:
      if (whole.last - whole.first >= 2) {
        tail.set_range({whole.first + 2, whole.last});
        VAD_FAST_REQUIRE(t.insert(tail).ok());
        linked_tail = true;
      }
      v.set_range({whole.first, whole.first});
      break;
  }
  VAD_FAST_REQUIRE(t.insert(v).ok());
  return linked_tail;
}

}  // namespace

// The shortest sequence that left a stale max_fit: erasing a node whose
// in-order successor is its own right child, a leaf, while the node leans
// left. The successor takes the node's place and the rebalancing rotates
// there; the node that rotated above it must learn the successor's gap.
TEST_CASE("vad_tree fix-up: erase whose successor is a right leaf rotates") {
  const std::uint64_t ranges[][2] = {
      {0x0, 0xe},     {0x90, 0x96}, {0xdf0, 0xdf0},
      {0x41b, 0x421}, {0xba, 0xc5}, {0x1d1, 0x1d8},
      {0x24, 0x2a},   {0x18, 0x1a}, {0x20, 0x23}};
  std::vector<vad> v(std::size(ranges));
  vad_tree<> t;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = make_vad(ranges[i][0], ranges[i][1]);
    VAD_FAST_REQUIRE(t.insert(v[i]).ok());
    VAD_FAST_REQUIRE(t.check_invariants());
  }
  // [24-2a] has [18-1a] (two children) on its left and [90-96] (a leaf) on
  // its right.
  REQUIRE(t.right_of(v[6]) == &v[1]);
  REQUIRE(t.left_of(v[6]) == &v[7]);
  t.erase(v[6]);
  CHECK(t.check_invariants());
  // [18-1a] rotated up; [90-96] now hangs below it with the 0x6c-page gap
  // [2b, 8f], which holds 0x60 granule-aligned pages.
  CHECK(v[7].debug_max_fit() == 0x60);
  const result<vpn> r = t.find_free_range(0x60, {vpn{0}, vpn{0xFF}});
  REQUIRE(r.ok());
  CHECK(r->raw() == 0x30);
  t.clear();
}

namespace {

/// One insertion order per AVL shape of n nodes: all n! orders for small n
/// (a tree's shape is told by the depths of its nodes in address order),
/// or `samples` random orders beyond that.
std::vector<std::vector<std::size_t>> orders_per_shape(std::size_t n,
                                                       std::size_t samples) {
  std::vector<std::vector<std::size_t>> out;
  std::vector<std::vector<unsigned>> seen;
  const std::vector<vpn_range> layout = layout_of(n, 0);
  std::vector<vad> v(n);
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(n);
  auto consider = [&] {
    vad_tree<> t;
    for (std::size_t i : order) {
      v[i] = make_vad(layout[i].first.raw(), layout[i].last.raw());
      VAD_FAST_REQUIRE(t.insert(v[i]).ok());
    }
    std::vector<unsigned> depths;
    for (const vad& x : t) depths.push_back(t.level_of(x));
    t.clear();
    if (std::find(seen.begin(), seen.end(), depths) != seen.end()) return;
    seen.push_back(depths);
    out.push_back(order);
  };
  if (samples == 0) {
    do consider();
    while (std::next_permutation(order.begin(), order.end()));
  } else {
    for (std::size_t s = 0; s < samples; ++s) {
      std::shuffle(order.begin(), order.end(), rng);
      consider();
    }
  }
  return out;
}

}  // namespace

// Every AVL shape of up to 7 VADs (and most of 8 to 12), in four gap
// layouts; each node is then erased, shrunk in place or split, one at a
// time. The smallest tree where an erase rotates below the root has 8 nodes.
TEST_CASE("vad_tree fix-up: every change to every small tree shape") {
  for (std::size_t n = 1; n <= 12; ++n) {
    CAPTURE(n);
    const auto orders = orders_per_shape(n, n <= 7 ? 0 : 300);
    std::vector<vad> v(n);
    vad tail;
    for (unsigned which = 0; which < 4; ++which) {
      CAPTURE(which);
      const std::vector<vpn_range> layout = layout_of(n, which);
      for (const auto& order : orders) {
        for (std::size_t k = 0; k < n; ++k) {
          for (change c : {change::erase, change::shrink_top,
                           change::shrink_bottom, change::split}) {
            CAPTURE(k);
            CAPTURE(static_cast<int>(c));
            vad_tree<> t;
            for (std::size_t i : order) {
              v[i] = make_vad(layout[i].first.raw(), layout[i].last.raw());
              VAD_FAST_REQUIRE(t.insert(v[i]).ok());
            }
            VAD_FAST_REQUIRE(t.check_invariants());
            apply(t, v[k], tail, c);
            VAD_FAST_REQUIRE(t.check_invariants());
            t.clear();
          }
        }
      }
    }
  }
}

namespace {

// Calls fn(n, layout, order) for every shape of up to 7 VADs (and sampled
// shapes of 8 and 9), in four gap layouts, with one insertion order that
// builds the shape.
template <class Fn>
void for_each_small_tree(Fn fn) {
  for (std::size_t n = 1; n <= 9; ++n) {
    CAPTURE(n);
    const auto orders = orders_per_shape(n, n <= 7 ? 0 : 200);
    for (unsigned which = 0; which < 4; ++which) {
      CAPTURE(which);
      const std::vector<vpn_range> layout = layout_of(n, which);
      for (const auto& order : orders) fn(n, layout, order);
    }
  }
}

// Whether two trees built alike hold every linked node of `a` and its twin
// in `b` at the same level with the same gap and fields.
void require_same_trees(const vad_tree<>& ta, const std::vector<vad>& a,
                        const vad_tree<>& tb, const std::vector<vad>& b) {
  VAD_FAST_REQUIRE(ta.check_invariants());
  VAD_FAST_REQUIRE(tb.check_invariants());
  for (std::size_t i = 0; i < a.size(); ++i) {
    VAD_FAST_REQUIRE(a[i].is_linked() == b[i].is_linked());
    if (!a[i].is_linked()) continue;
    VAD_FAST_REQUIRE(ta.level_of(a[i]) == tb.level_of(b[i]));
    VAD_FAST_REQUIRE(a[i].debug_max_fit() == b[i].debug_max_fit());
    VAD_FAST_REQUIRE(a[i].debug_gap_before() == b[i].debug_gap_before());
  }
}

}  // namespace

// insert() and insert_check + insert_commit (the address space's way) must
// build the same tree with the same fields, insert by insert, and re-insert
// any node alike.
TEST_CASE("vad_tree fix-up: insert and insert_check + insert_commit agree") {
  auto two_step = [](vad_tree<>& t, vad& x) {
    auto d = t.insert_check(x.range());
    VAD_FAST_REQUIRE(d.ok());
    t.insert_commit(x, *d);
  };
  for_each_small_tree([&](std::size_t n, const std::vector<vpn_range>& layout,
                          const std::vector<std::size_t>& order) {
    std::vector<vad> a(n), b(n);
    vad_tree<> ta, tb;
    for (std::size_t i : order) {
      a[i] = make_vad(layout[i].first.raw(), layout[i].last.raw());
      b[i] = a[i];
      VAD_FAST_REQUIRE(ta.insert(a[i]).ok());
      two_step(tb, b[i]);
      require_same_trees(ta, a, tb, b);
    }
    for (std::size_t k = 0; k < n; ++k) {
      CAPTURE(k);
      ta.erase(a[k]);
      tb.erase(b[k]);
      VAD_FAST_REQUIRE(ta.insert(a[k]).ok());
      two_step(tb, b[k]);
      require_same_trees(ta, a, tb, b);
    }
    ta.clear();
    tb.clear();
  });
}

// An erase of the VAD found at an address (NtFreeVirtualMemory's way) and
// an erase of the node itself: on every small tree, erasing each node both
// ways, found by its first, last or a middle page with the hint elsewhere,
// leaves the same tree, and the gaps and fields are sound.
TEST_CASE("vad_tree fix-up: erase by address and erase of a node agree") {
  for_each_small_tree([](std::size_t n, const std::vector<vpn_range>& layout,
                         const std::vector<std::size_t>& order) {
    std::vector<vad> a(n), b(n);
    for (std::size_t k = 0; k < n; ++k) {
      CAPTURE(k);
      vad_tree<> ta, tb;
      for (std::size_t i : order) {
        a[i] = make_vad(layout[i].first.raw(), layout[i].last.raw());
        b[i] = a[i];
        VAD_FAST_REQUIRE(ta.insert(a[i]).ok());
        VAD_FAST_REQUIRE(tb.insert(b[i]).ok());
      }
      const vpn_range r = layout[k];
      const vpn p = k % 3 == 0   ? r.first
                    : k % 3 == 1 ? r.last
                                 : r.first + (r.count() / 2);
      ta.erase(a[k]);
      // The hint (the last VAD inserted) points elsewhere, so that the
      // lookup descends.
      if (n > 1) (void)tb.find_containing(layout[(k + 1) % n].first);
      vad* found = tb.find_containing(p);
      VAD_FAST_REQUIRE(found == &b[k]);
      tb.erase(*found);
      require_same_trees(ta, a, tb, b);
      ta.clear();
      tb.clear();
    }
  });
}

// Larger trees erase with rotations at several levels (an AVL erase may
// rotate all the way up); random orders of up to 64 VADs, every node erased
// in turn, and then the whole tree torn down in a random order.
TEST_CASE("vad_tree fix-up: erasures that rebalance at several levels") {
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    const std::size_t n = 8 + rng() % 57;
    const std::vector<vpn_range> layout =
        layout_of(n, static_cast<unsigned>(seed % 4));
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<vad> v(n);
    vad tail;
    auto build = [&](vad_tree<>& t) {
      for (std::size_t i : order) {
        v[i] = make_vad(layout[i].first.raw(), layout[i].last.raw());
        VAD_FAST_REQUIRE(t.insert(v[i]).ok());
      }
    };
    for (std::size_t k = 0; k < n; ++k) {
      CAPTURE(k);
      vad_tree<> t;
      build(t);
      apply(t, v[k], tail, static_cast<change>(rng() % 4));
      VAD_FAST_REQUIRE(t.check_invariants());
      t.clear();
    }
    vad_tree<> t;
    build(t);
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      t.erase(v[i]);
      VAD_FAST_REQUIRE(t.check_invariants());
    }
    CHECK(t.empty());
  }
}

namespace {

/// An address space's use of the tree, kept honest by the model: reserve
/// where the search says (bottom-up or top-down, granule or larger
/// alignment) or at a chosen granule, release whole, from either end or
/// from the middle (a split), with nodes recycled through a free list.
template <class Space>
struct allocator_run {
  static constexpr std::size_t capacity = 512;
  std::mt19937_64 rng;
  std::vector<vad> pool = std::vector<vad>(capacity);
  std::vector<vad*> free_nodes;
  std::vector<vad*> live;
  vad_tree<> tree;
  vad_model model;
  std::uint64_t lo = Space::lowest;
  std::uint64_t hi;  // a small slice of the space keeps VADs adjacent

  std::uint64_t floor = 0;  // the tree's

  allocator_run(std::uint64_t seed, bool with_floor) : rng(seed) {
    hi = Space::lowest + 0x4000 - 1;
    if (with_floor) set_floor(lo);
    for (vad& v : pool) free_nodes.push_back(&v);
  }
  ~allocator_run() { tree.clear(); }
  std::uint64_t below(std::uint64_t n) { return rng() % n; }
  void set_floor(std::uint64_t f) {
    floor = f;
    tree.set_floor(vpn{f});
    REQUIRE(tree.floor() == vpn{f});
  }
  /// The model's answer: the search never returns a page below the floor.
  std::optional<std::uint64_t> model_find(std::uint64_t pages,
                                          std::uint64_t wlo, std::uint64_t whi,
                                          search_direction dir,
                                          std::uint64_t align) const {
    if (wlo < floor) wlo = floor;
    if (wlo > whi) return std::nullopt;
    return model.find_free(pages, wlo, whi, dir, align);
  }

  vad* take(std::uint64_t f, std::uint64_t l) {
    vad* v = free_nodes.back();
    free_nodes.pop_back();
    *v = make_vad(f, l);
    return v;
  }
  void give_back(std::size_t i) {
    free_nodes.push_back(live[i]);
    live[i] = live.back();
    live.pop_back();
  }

  void reserve() {
    if (free_nodes.size() < 2) return;
    const std::uint64_t pages =
        below(4) == 0 ? 1 + below(0x100) : 1 + below(24);
    if (below(4) == 0) {  // at a chosen granule
      const std::uint64_t f = (lo + below(hi - lo)) & ~std::uint64_t{15};
      if (f < lo || hi - f < pages - 1) return;
      const std::uint64_t l = f + pages - 1;
      const bool conflict = model.overlaps_any(f, l);
      vad* v = take(f, l);
      const result<void> r = tree.insert(*v);
      VAD_FAST_REQUIRE(r.ok() == !conflict);
      if (!conflict) {
        model.insert(f, l);
        live.push_back(v);
      } else {
        free_nodes.push_back(v);
      }
      return;
    }
    static constexpr std::uint64_t aligns[] = {16, 16, 16, 32, 256};
    const std::uint64_t align = aligns[below(5)];
    const auto dir =
        below(2) ? search_direction::bottom_up : search_direction::top_down;
    CAPTURE(pages);
    CAPTURE(align);
    const auto want = model_find(pages, lo, hi, dir, align);
    const result<vpn> got =
        tree.find_free_range(pages, {vpn{lo}, vpn{hi}}, dir, align);
    VAD_FAST_REQUIRE(got.ok() == want.has_value());
    if (!want) return;
    VAD_FAST_REQUIRE(got->raw() == *want);
    vad* v = take(*want, *want + pages - 1);
    VAD_FAST_REQUIRE(tree.insert(*v).ok());
    model.insert(*want, *want + pages - 1);
    live.push_back(v);
  }

  void release() {
    if (live.empty()) return;
    const std::size_t i = below(live.size());
    vad& v = *live[i];
    const std::uint64_t f = v.start().raw(), l = v.end().raw();
    const std::uint64_t kind = f == l ? 0 : below(4);
    model.erase(f);
    if (kind == 0) {  // MEM_RELEASE of the whole allocation
      tree.erase(v);
      give_back(i);
      return;
    }
    // A part: [a, b] inside [f, l], not the whole.
    std::uint64_t a = f, b = l;
    if (kind == 1) {
      b = f + below(l - f);  // from the bottom
    } else if (kind == 2) {
      a = f + 1 + below(l - f);  // from the top
    } else if (l - f >= 2) {
      a = f + 1 + below(l - f - 1);  // from the middle
      b = a + below(l - a);
    } else {
      b = f;
    }
    const vpn_range keep =
        a > f ? vpn_range{vpn{f}, vpn{a - 1}} : vpn_range{vpn{b + 1}, vpn{l}};
    if (below(2)) {
      // In place, as resize() does it.
      VAD_FAST_REQUIRE(tree.resize(v, keep).ok());
    } else {
      // Erase, narrow, insert the same node again.
      tree.erase(v);
      v.set_range(keep);
      VAD_FAST_REQUIRE(tree.insert(v).ok());
    }
    model.insert(keep.first.raw(), keep.last.raw());
    if (a > f && b < l && !free_nodes.empty()) {
      vad* t = take(b + 1, l);
      VAD_FAST_REQUIRE(tree.insert(*t).ok());
      model.insert(b + 1, l);
      live.push_back(t);
    }
  }

  void query_small_window() {
    // Windows start up to 0x20 pages below the user range (and the floor).
    const std::uint64_t wlo = lo + below(hi - lo) - (lo >= 0x20 ? 0x20 : lo);
    const std::uint64_t whi = wlo + below(0x80);
    const std::uint64_t pages = 1 + below(40);
    const auto dir =
        below(2) ? search_direction::bottom_up : search_direction::top_down;
    const std::uint64_t align = below(3) ? 16 : 64;
    CAPTURE(wlo);
    CAPTURE(whi);
    CAPTURE(pages);
    const auto want = model_find(pages, wlo, whi, dir, align);
    const result<vpn> got =
        tree.find_free_range(pages, {vpn{wlo}, vpn{whi}}, dir, align);
    VAD_FAST_REQUIRE(got.ok() == want.has_value());
    if (want) VAD_FAST_REQUIRE(got->raw() == *want);
  }
};

}  // namespace

TEST_CASE_TEMPLATE("vad_tree fix-up: an address space's reserve and release",
                   Space, vad_test::x86_32_space, vad_test::x86_la57_space,
                   vad_test::u64_space) {
  for (std::uint64_t seed : {0x5EED0001u, 0x5EED0004u}) {
    CAPTURE(seed);
    const bool with_floor = seed & 1;
    CAPTURE(with_floor);
    allocator_run<Space> run(seed, with_floor);
    for (int step = 0; step < 2000; ++step) {
      CAPTURE(step);
      // Move the floor under a full tree now and then: into the lowest
      // VADs, and back.
      if (step % 700 == 699) {
        run.set_floor(run.floor == 0 ? run.lo + 0x40 : run.floor - 0x40);
        VAD_FAST_REQUIRE(run.tree.check_invariants());
      }
      // Grow to a few hundred VADs, then churn around that size.
      if (run.below(100) < (run.live.size() < 200 ? 60u : 45u))
        run.reserve();
      else
        run.release();
      VAD_FAST_REQUIRE(run.tree.size() == run.model.ranges().size());
      VAD_FAST_REQUIRE(run.tree.check_invariants());
      run.query_small_window();
    }
  }
}

TEST_CASE("vad_tree: the floor hides the free pages below it") {
  // An address space's first VAD at its lowest user VPN (0x10) leaves the
  // 16 pages below it free; with the floor there they are no gap at all.
  std::vector<vad> v(64);
  vad_tree<> plain;
  vad_tree<> floored(vpn{0x10});
  CHECK(plain.floor() == vpn{0});
  CHECK(floored.floor() == vpn{0x10});
  for (std::uint64_t i = 0; i < v.size(); ++i) {
    // Packed: 24 pages each, 8 free pages between neighbours, none of
    // them on a 16-page boundary.
    v[i] = make_vad(0x10 + i * 32, 0x10 + i * 32 + 23);
    REQUIRE(floored.insert(v[i]).ok());
  }
  REQUIRE(floored.check_invariants());
  CHECK(v[0].debug_gap_before() == 0);
  CHECK(floored.root()->debug_max_fit() == 0);  // no gap holds a granule
  const std::uint64_t above = (0x10 + 64 * 32 + 15) & ~std::uint64_t{15};
  const vpn_range all{vpn{0}, vpn{~std::uint64_t{0}}};
  auto r = floored.find_free_range(16, all);
  REQUIRE(r.ok());
  CHECK(r->raw() == above);
  // A window wholly below the floor holds nothing.
  CHECK(floored.find_free_range(1, {vpn{0}, vpn{0xF}}).error() ==
        status::no_memory);
  // Lowering the floor to 0 gives the 16 pages back.
  floored.set_floor(vpn{0});
  REQUIRE(floored.check_invariants());
  CHECK(v[0].debug_gap_before() == 0x10);
  r = floored.find_free_range(16, all);
  REQUIRE(r.ok());
  CHECK(r->raw() == 0);
  // A floor inside the VADs: everything below it is hidden, above it counts.
  floored.set_floor(vpn{0x10 + 10 * 32 + 4});
  REQUIRE(floored.check_invariants());
  CHECK(v[10].debug_gap_before() == 0);
  CHECK(v[11].debug_gap_before() == 8);
  r = floored.find_free_range(1, all);
  REQUIRE(r.ok());
  CHECK(r->raw() == above);  // the 8-page holes hold no granule start
  // Erasing around the floor merges gaps only above it.
  floored.erase(v[10]);
  floored.erase(v[11]);
  REQUIRE(floored.check_invariants());
  CHECK(v[12].debug_gap_before() == (0x10 + 12 * 32) - (0x10 + 10 * 32 + 4));
  floored.erase(v[9]);
  REQUIRE(floored.check_invariants());
  r = floored.find_free_range(16, all);
  REQUIRE(r.ok());
  CHECK(r->raw() == 0x160);  // the first granule at or above the floor
  floored.clear();
}

TEST_CASE("vad_tree: resize moves a VAD's ends in place between neighbours") {
  vad a = make_vad(0x100, 0x10F);
  vad b = make_vad(0x200, 0x2FF);
  vad c = make_vad(0x400, 0x40F);
  vad_tree<> t(vpn{0x10});
  for (vad* x : {&a, &b, &c}) REQUIRE(t.insert(*x).ok());
  // Shrink from both ends: both gaps around b grow.
  REQUIRE(t.resize(b, {vpn{0x240}, vpn{0x27F}}).ok());
  CHECK(t.check_invariants());
  CHECK(b.range() == vpn_range{vpn{0x240}, vpn{0x27F}});
  CHECK(b.debug_gap_before() == 0x130);
  CHECK(c.debug_gap_before() == 0x180);
  CHECK(t.find_containing(vpn{0x200}) == nullptr);
  auto r = t.find_free_range(0x130, {vpn{0x10}, vpn{0x3FF}});
  REQUIRE(r.ok());
  CHECK(r->raw() == 0x110);  // exactly the hole below b
  r = t.find_free_range(0x131, {vpn{0x10}, vpn{0x3FF}});
  REQUIRE(r.ok());
  CHECK(r->raw() == 0x280);  // only the hole above it
  // Grow up to the neighbours, but not into them.
  CHECK(t.resize(b, {vpn{0x10F}, vpn{0x27F}}).error() ==
        status::conflicting_addresses);
  CHECK(t.resize(b, {vpn{0x240}, vpn{0x400}}).error() ==
        status::conflicting_addresses);
  CHECK(b.range() == vpn_range{vpn{0x240}, vpn{0x27F}});
  REQUIRE(t.resize(b, {vpn{0x110}, vpn{0x3FF}}).ok());
  CHECK(t.check_invariants());
  CHECK(b.debug_gap_before() == 0);
  CHECK(c.debug_gap_before() == 0);
  CHECK(t.find_free_range(1, {vpn{0x100}, vpn{0x40F}}).error() ==
        status::no_memory);
  // The first VAD's gap is counted from the floor.
  REQUIRE(t.resize(a, {vpn{0x8}, vpn{0x10F}}).ok());
  CHECK(a.debug_gap_before() == 0);
  CHECK(t.check_invariants());
  t.clear();
}
