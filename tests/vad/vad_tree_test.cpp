// vad_tree: lookups, conflict checks, insert/erase and iteration against a
// brute-force model, with the invariants (including every aggregate,
// recomputed from scratch) checked after every change.
#include <doctest/doctest.h>
#include <mmkit/vad/vad_tree.hpp>

#include "vad_model.hpp"

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

using namespace mmkit;
using vad_test::vad_model;

namespace {

struct tagged_vad : vad {
  std::uint32_t tag = 0;
};

template <class Space, class Node>
struct profile {
  using space = Space;
  using node = Node;
};

#define VAD_PROFILES                                 \
  profile<vad_test::x86_32_space, vad>,              \
      profile<vad_test::x86_pae_space, tagged_vad>,  \
      profile<vad_test::x86_64_space, vad>,          \
      profile<vad_test::x86_la57_space, tagged_vad>, \
      profile<vad_test::vpn52_space, vad>,           \
      profile<vad_test::u64_space, tagged_vad>

template <class Node>
Node make(std::uint64_t f, std::uint64_t l,
          vad_type t = vad_type::private_memory) {
  Node n;
  static_cast<vad&>(n) = vad({vpn{f}, vpn{l}}, t, mm::readwrite);
  return n;
}

/// A random range in one of three clusters: the bottom, the top of `Space`,
/// and one random place, so that ranges collide and gaps stay small.
template <class Space>
struct range_source {
  std::mt19937_64 rng;
  std::uint64_t middle;
  explicit range_source(std::uint64_t seed) : rng(seed) {
    middle = Space::lowest +
             (rng() % (Space::highest - Space::lowest - 0x20000)) + 0x8000;
  }
  std::uint64_t below(std::uint64_t n) { return rng() % n; }
  std::pair<std::uint64_t, std::uint64_t> next() {
    const std::uint64_t span = 0x1000;
    std::uint64_t base;
    switch (below(3)) {
      case 0: base = Space::lowest; break;
      case 1: base = Space::highest - span + 1; break;
      default: base = middle; break;
    }
    std::uint64_t first = base + below(span);
    if (below(2)) first &= ~std::uint64_t{0xF};  // mostly granular starts
    if (first < Space::lowest) first = Space::lowest;
    const std::uint64_t len = below(8) == 0 ? 1 + below(300) : 1 + below(40);
    std::uint64_t last = first + len - 1;
    if (last > Space::highest || last < first) last = Space::highest;
    return {first, last};
  }
  std::uint64_t probe() {
    auto [f, l] = next();
    (void)l;
    return f + below(64) - (f >= 32 ? 32 : 0);
  }
};

template <class Node>
void check_same(const Node* got, std::optional<vad_test::model_range> want) {
  REQUIRE((got != nullptr) == want.has_value());
  if (got) {
    CHECK(got->start().raw() == want->first);
    CHECK(got->end().raw() == want->last);
  }
}

}  // namespace

TEST_CASE_TEMPLATE("vad_tree: randomized insert/erase/lookup match the model",
                   P, VAD_PROFILES) {
  using Node = typename P::node;
  using Space = typename P::space;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    range_source<Space> src(seed * 7919);
    std::vector<std::unique_ptr<Node>> nodes;  // stable storage
    vad_tree<Node> tree;
    vad_model model;
    for (int step = 0; step < 1500; ++step) {
      CAPTURE(step);
      if (nodes.empty() || src.below(10) < 6) {
        const auto fl = src.next();
        const std::uint64_t f = fl.first, l = fl.second;
        CAPTURE(f);
        CAPTURE(l);
        auto n = std::make_unique<Node>(make<Node>(f, l));
        const bool conflict = model.overlaps_any(f, l);
        const result<void> r = tree.insert(*n);
        if (conflict) {
          REQUIRE(r.error() == status::conflicting_addresses);
          CHECK_FALSE(n->is_linked());
        } else {
          REQUIRE(r.ok());
          model.insert(f, l);
          nodes.push_back(std::move(n));
        }
      } else {
        const std::size_t i = src.below(nodes.size());
        model.erase(nodes[i]->start().raw());
        if (step % 2) {
          tree.erase(*nodes[i]);
        } else {
          // By address, as NtFreeVirtualMemory frees: any page of the VAD
          // finds it, and erase removes what the lookup found.
          const std::uint64_t p =
              nodes[i]->start().raw() + src.below(nodes[i]->pages());
          Node* v = tree.find_containing(vpn{p});
          REQUIRE(v == nodes[i].get());
          tree.erase(*v);
        }
        CHECK_FALSE(nodes[i]->is_linked());
        nodes[i] = std::move(nodes.back());
        nodes.pop_back();
      }
      REQUIRE(tree.size() == model.ranges().size());
      REQUIRE(tree.check_invariants());

      for (int q = 0; q < 4; ++q) {
        const std::uint64_t p = src.probe();
        CAPTURE(p);
        check_same(tree.find_containing(vpn{p}), model.containing(p));
        check_same(tree.find_containing_no_hint(vpn{p}), model.containing(p));
        check_same(tree.first_at_or_after(vpn{p}), model.first_at_or_after(p));
        check_same(tree.last_before(vpn{p}), model.last_before(p));
        check_same(tree.find_intersecting({vpn{p}, vpn{p}}),
                   model.containing(p));
        auto [f, l] = src.next();
        check_same(tree.find_intersecting({vpn{f}, vpn{l}}),
                   model.first_intersecting(f, l));
      }
      REQUIRE(tree.check_invariants());  // the hint is still sound
    }
    // Walks in both directions see the model's order.
    std::size_t i = 0;
    for (const Node& v : tree) {
      REQUIRE(i < model.ranges().size());
      CHECK(v.start().raw() == model.ranges()[i].first);
      ++i;
    }
    CHECK(i == model.ranges().size());
    for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
      --i;
      CHECK(it->end().raw() == model.ranges()[i].last);
    }
    tree.clear();
    CHECK(tree.empty());
    CHECK(tree.check_invariants());
  }
}

TEST_CASE("vad_tree: insert_check then insert_commit reserves a range") {
  vad a({vpn{0x100}, vpn{0x10f}}, vad_type::private_memory, mm::readwrite);
  vad b({vpn{0x200}, vpn{0x20f}}, vad_type::private_memory, mm::readwrite);
  vad_tree<> tree;
  REQUIRE(tree.insert(a).ok());
  REQUIRE(tree.insert(b).ok());
  // Overlaps at either end and containment all conflict; nothing changes.
  for (auto fl : {std::pair{0xF0u, 0x100u}, std::pair{0x10Fu, 0x120u},
                  std::pair{0x0u, 0x300u}, std::pair{0x105u, 0x106u},
                  std::pair{0x1FFu, 0x200u}}) {
    const unsigned f = fl.first, l = fl.second;
    CAPTURE(f);
    auto c = tree.insert_check({vpn{f}, vpn{l}});
    CHECK(c.error() == status::conflicting_addresses);
  }
  CHECK(tree.size() == 2);
  auto c = tree.insert_check({vpn{0x110}, vpn{0x1FF}});
  REQUIRE(c.ok());
  vad mid({vpn{0x110}, vpn{0x1FF}}, vad_type::mapped, mm::readonly);
  tree.insert_commit(mid, *c);
  CHECK(tree.size() == 3);
  CHECK(tree.check_invariants());
  CHECK(tree.find_containing(vpn{0x150}) == &mid);
  CHECK(mid.debug_gap_before() == 0);
  CHECK(b.debug_gap_before() == 0);
  CHECK(a.debug_gap_before() == 0x100);
  // Erasing the middle merges the gaps again.
  tree.erase(mid);
  CHECK(b.debug_gap_before() == 0xF0);
  CHECK(tree.check_invariants());
  CHECK(tree.find_containing(vpn{0x150}) == nullptr);
}

TEST_CASE(
    "vad_tree: the hint answers repeated lookups and forgets erased VADs") {
  std::vector<vad> v(64);
  vad_tree<> tree;
  for (std::uint64_t i = 0; i < v.size(); ++i) {
    v[i] = vad({vpn{i * 32}, vpn{i * 32 + 15}}, vad_type::private_memory,
               mm::readwrite);
    REQUIRE(tree.insert(v[i]).ok());
  }
  CHECK(tree.find_containing(vpn{40 * 32 + 3}) == &v[40]);
  CHECK(tree.find_containing(vpn{40 * 32 + 9}) == &v[40]);
  tree.erase(v[40]);
  CHECK(tree.check_invariants());
  CHECK(tree.find_containing(vpn{40 * 32 + 3}) == nullptr);
  CHECK(tree.find_containing(vpn{41 * 32}) == &v[41]);
  // Erase everything in an order that forces rotations at every level.
  for (std::uint64_t i = 0; i < v.size(); i += 2)
    if (i != 40) tree.erase(v[i]);
  CHECK(tree.check_invariants());
  for (std::uint64_t i = 1; i < v.size(); i += 2) tree.erase(v[i]);
  CHECK(tree.empty());
  CHECK(tree.check_invariants());
}

TEST_CASE("vad_tree: levels describe a balanced tree") {
  std::vector<vad> v(1000);
  vad_tree<> tree;
  for (std::uint64_t i = 0; i < v.size(); ++i) {
    v[i] = vad({vpn{i * 16}, vpn{i * 16}}, vad_type::private_memory,
               mm::readwrite);
    REQUIRE(tree.insert(v[i]).ok());  // ascending: the worst order
  }
  REQUIRE(tree.check_invariants());
  unsigned deepest = 0;
  for (const vad& x : tree) {
    const unsigned level = tree.level_of(x);
    if (level > deepest) deepest = level;
    if (const vad* l = tree.left_of(x)) CHECK(tree.level_of(*l) == level + 1);
    if (const vad* r = tree.right_of(x)) CHECK(tree.level_of(*r) == level + 1);
  }
  CHECK(tree.level_of(*tree.root()) == 0);
  CHECK(deepest <= 14);  // AVL: height < 1.44 log2(n + 2)
}
