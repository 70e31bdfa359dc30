// vad_tree::find_free_range and find_free_slot against the brute-force
// model: bottom-up and top-down, every alignment, windows, and the top of
// the address space; ranges found are reserved through the slot.
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

constexpr std::uint64_t max_u64 = ~std::uint64_t{0};

template <class Space>
struct free_range_fixture {
  std::mt19937_64 rng;
  std::vector<std::unique_ptr<vad>> nodes;
  vad_tree<> tree;
  vad_model model;
  std::uint64_t bases[3];

  explicit free_range_fixture(std::uint64_t seed) : rng(seed) {
    bases[0] = Space::lowest;
    bases[1] = Space::highest - 0x3000 + 1;
    bases[2] =
        Space::lowest + rng() % (Space::highest - Space::lowest - 0x8000);
  }
  std::uint64_t below(std::uint64_t n) { return rng() % n; }
  std::uint64_t near() { return bases[below(3)] + below(0x3000); }

  void mutate() {
    if (nodes.empty() || below(10) < 7) {
      std::uint64_t f = near();
      if (below(3)) f &= ~std::uint64_t{0xF};
      const std::uint64_t len = 1 + (below(6) == 0 ? below(0x200) : below(24));
      std::uint64_t l = f + len - 1;
      if (l > Space::highest || l < f) l = Space::highest;
      if (f < Space::lowest || f > l) return;
      if (model.overlaps_any(f, l)) return;
      auto n = std::make_unique<vad>(
          vad({vpn{f}, vpn{l}}, vad_type::private_memory, mm::readwrite));
      REQUIRE(tree.insert(*n).ok());
      model.insert(f, l);
      nodes.push_back(std::move(n));
    } else {
      const std::size_t i = below(nodes.size());
      model.erase(nodes[i]->start().raw());
      tree.erase(*nodes[i]);
      nodes[i] = std::move(nodes.back());
      nodes.pop_back();
    }
  }

  void query() {
    static constexpr std::uint64_t aligns[] = {16, 16, 16, 32, 64, 256, 4096};
    const std::uint64_t align = aligns[below(7)];
    std::uint64_t pages = 1 + below(below(4) == 0 ? 0x400 : 40);
    std::uint64_t lo, hi;
    switch (below(4)) {
      case 0:
        lo = Space::lowest;
        hi = Space::highest;
        break;  // whole space
      case 1:
        lo = 0;
        hi = max_u64;
        break;  // unbounded
      default: {
        lo = near();
        hi = lo + below(0x2000);
        if (hi < lo) hi = max_u64;
        if (below(4) == 0) hi = Space::highest;
        if (hi < lo) std::swap(lo, hi);
      }
    }
    const auto dir =
        below(2) ? search_direction::bottom_up : search_direction::top_down;
    CAPTURE(align);
    CAPTURE(pages);
    CAPTURE(lo);
    CAPTURE(hi);
    CAPTURE(static_cast<int>(dir));
    const auto want = model.find_free(pages, lo, hi, dir, align);
    const result<vpn> got =
        tree.find_free_range(pages, {vpn{lo}, vpn{hi}}, dir, align);
    REQUIRE(got.ok() == want.has_value());
    if (want) {
      CHECK(got->raw() == *want);
    } else {
      CHECK(got.error() == status::no_memory);
    }
    // The same search answered as an insert position, and now and then
    // reserved through it without a second descent.
    const auto slot =
        tree.find_free_slot(pages, {vpn{lo}, vpn{hi}}, dir, align);
    REQUIRE(slot.ok() == want.has_value());
    if (!want) {
      CHECK(slot.error() == status::no_memory);
      return;
    }
    CHECK(slot->range().first.raw() == *want);
    CHECK(slot->range().last.raw() == *want + (pages - 1));
    if (below(6) == 0) {
      auto n = std::make_unique<vad>(
          vad(slot->range(), vad_type::private_memory, mm::readwrite));
      tree.insert_commit(*n, *slot);
      model.insert(*want, *want + (pages - 1));
      REQUIRE(tree.check_invariants());
      CHECK(tree.size() == model.ranges().size());
      // The VAD just reserved is the hint, and found without a descent.
      CHECK(tree.find_containing(slot->range().last) == n.get());
      nodes.push_back(std::move(n));
    }
  }
};

}  // namespace

TEST_CASE_TEMPLATE("vad_tree: free-range search matches a linear scan", Space,
                   vad_test::x86_32_space, vad_test::x86_64_space,
                   vad_test::x86_la57_space, vad_test::vpn52_space,
                   vad_test::u64_space) {
  for (std::uint64_t seed : {11u, 12u, 13u}) {
    CAPTURE(seed);
    free_range_fixture<Space> fx(seed);
    for (int step = 0; step < 700; ++step) {
      CAPTURE(step);
      fx.mutate();
      REQUIRE(fx.tree.check_invariants());
      for (int q = 0; q < 6; ++q) fx.query();
    }
  }
}

TEST_CASE("vad_tree: free-range search in an empty tree") {
  vad_tree<> tree;
  CHECK(tree.find_free_range(16, {vpn{0x10}, vpn{0x7FFEF}})->raw() == 0x10);
  CHECK(tree.find_free_range(16, {vpn{0x10}, vpn{0x7FFEF}},
                             search_direction::top_down)
            ->raw() == 0x7FFE0);
  CHECK(tree.find_free_range(1, {vpn{0}, vpn{max_u64}},
                             search_direction::top_down)
            ->raw() == max_u64 - 15);
  CHECK(tree.find_free_range(0x80000, {vpn{0x10}, vpn{0x7FFEF}}).error() ==
        status::no_memory);
}

TEST_CASE("vad_tree: free-range boundaries at the top of the user range") {
  constexpr std::uint64_t top = vad_test::x86_64_space::highest;
  vad last({vpn{top - 15}, vpn{top}}, vad_type::private_memory, mm::readwrite);
  vad below({vpn{top - 0x4F}, vpn{top - 0x30}}, vad_type::private_memory,
            mm::readwrite);
  vad_tree<> tree;
  REQUIRE(tree.insert(last).ok());
  REQUIRE(tree.insert(below).ok());
  REQUIRE(tree.check_invariants());
  const vpn_range user{vpn{0x10}, vpn{top}};
  // The highest free granule sits between the two VADs: [top-0x2F, top-0x10].
  auto r = tree.find_free_range(0x10, user, search_direction::top_down);
  REQUIRE(r.ok());
  CHECK(r->raw() == top - 0x1F);
  r = tree.find_free_range(0x20, user, search_direction::top_down);
  REQUIRE(r.ok());
  CHECK(r->raw() == top - 0x2F);
  // Three granules only fit below `below`.
  r = tree.find_free_range(0x30, user, search_direction::top_down);
  REQUIRE(r.ok());
  CHECK(r->raw() == top - 0x7F);
  // A range that ends exactly at the highest user VPN.
  tree.erase(last);
  r = tree.find_free_range(0x10, user, search_direction::top_down);
  REQUIRE(r.ok());
  CHECK(r->raw() == top - 15);
  CHECK(tree.check_invariants());
}

TEST_CASE("vad_tree: free-range search never wraps at 2^64") {
  vad top({vpn{max_u64 - 15}, vpn{max_u64}}, vad_type::private_memory,
          mm::readwrite);
  vad_tree<> tree;
  REQUIRE(tree.insert(top).ok());
  REQUIRE(tree.check_invariants());
  const vpn_range all{vpn{0}, vpn{max_u64}};
  auto r = tree.find_free_range(16, all, search_direction::top_down);
  REQUIRE(r.ok());
  CHECK(r->raw() == max_u64 - 31);
  // A window inside the top VAD holds nothing.
  CHECK(tree.find_free_range(1, {vpn{max_u64 - 3}, vpn{max_u64}}).error() ==
        status::no_memory);
  // An alignment whose next multiple would wrap.
  CHECK(tree.find_free_range(1, {vpn{max_u64 - 100}, vpn{max_u64}},
                             search_direction::bottom_up,
                             std::uint64_t{1} << 63)
            .error() == status::no_memory);
  CHECK(tree.find_free_range(max_u64, all).error() == status::no_memory);
}

TEST_CASE(
    "vad_tree: size larger than any gap and windows that exclude everything") {
  std::vector<vad> v(100);
  vad_tree<> tree;
  for (std::uint64_t i = 0; i < v.size(); ++i) {
    // 16-page VADs every 32 pages: every gap is exactly one granule.
    v[i] = vad({vpn{0x100 + i * 32}, vpn{0x10F + i * 32}},
               vad_type::private_memory, mm::readwrite);
    REQUIRE(tree.insert(v[i]).ok());
  }
  const vpn_range inner{vpn{0x100}, vpn{0x100 + 100 * 32 - 17}};
  CHECK(tree.find_free_range(17, inner).error() == status::no_memory);
  CHECK(tree.find_free_range(16, inner)->raw() == 0x110);
  CHECK(tree.find_free_range(16, inner, search_direction::top_down)->raw() ==
        0x100 + 98 * 32 + 16);
  // A window inside one VAD, and one smaller than the request.
  CHECK(tree.find_free_range(1, {vpn{0x101}, vpn{0x10E}}).error() ==
        status::no_memory);
  CHECK(tree.find_free_range(16, {vpn{0x110}, vpn{0x11E}}).error() ==
        status::no_memory);
  // Malformed requests.
  CHECK(tree.find_free_range(0, inner).error() == status::invalid_parameter);
  CHECK(
      tree.find_free_range(16, inner, search_direction::bottom_up, 8).error() ==
      status::invalid_parameter);
  CHECK(tree.find_free_range(16, inner, search_direction::bottom_up, 48)
            .error() == status::invalid_parameter);
  CHECK(tree.find_free_range(16, {vpn{0x200}, vpn{0x100}}).error() ==
        status::invalid_parameter);
}

TEST_CASE("vad_tree: large alignments find lucky gaps and skip unlucky ones") {
  // Gap [0x110, 0x1FF] holds 16-aligned runs but no 256-aligned start with
  // 16 pages after it; gap [0x310, 0x40F] holds exactly one at 0x400.
  vad a({vpn{0x100}, vpn{0x10F}}, vad_type::private_memory, mm::readwrite);
  vad b({vpn{0x200}, vpn{0x30F}}, vad_type::private_memory, mm::readwrite);
  vad c({vpn{0x410}, vpn{0x41F}}, vad_type::private_memory, mm::readwrite);
  vad d({vpn{0x420}, vpn{0xFFF}}, vad_type::private_memory, mm::readwrite);
  vad_tree<> tree;
  for (vad* x : {&a, &b, &c, &d}) REQUIRE(tree.insert(*x).ok());
  const vpn_range w{vpn{0x100}, vpn{0xFFF}};
  CHECK(tree.find_free_range(16, w, search_direction::bottom_up, 256)->raw() ==
        0x400);
  CHECK(tree.find_free_range(16, w, search_direction::top_down, 256)->raw() ==
        0x400);
  CHECK(tree.find_free_range(17, w, search_direction::bottom_up, 256).error() ==
        status::no_memory);
  CHECK(tree.find_free_range(16, w)->raw() == 0x110);
}

TEST_CASE("vad_tree: fits beyond 16 TiB saturate the fields but stay exact") {
  // Gaps of 2^36 - 0x100, 2^34 - 1, 2^34 and 2^50 - ... pages: far more
  // than the 32-bit fields hold. Requests on either side of the saturation
  // point must still get the model's answer.
  const std::uint64_t starts[] = {
      0x100, std::uint64_t{1} << 36,
      (std::uint64_t{1} << 36) + (std::uint64_t{1} << 34),
      (std::uint64_t{1} << 37) + 0x10, std::uint64_t{1} << 50};
  std::vector<vad> v(std::size(starts));
  vad_tree<> tree;
  vad_model model;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = vad({vpn{starts[i]}, vpn{starts[i] + 0xF}}, vad_type::private_memory,
               mm::readwrite);
    REQUIRE(tree.insert(v[i]).ok());
    model.insert(starts[i], starts[i] + 0xF);
  }
  REQUIRE(tree.check_invariants());
  CHECK(tree.root()->debug_max_fit() == fit_saturation);
  const std::uint64_t sizes[] = {16,
                                 fit_saturation - 1,
                                 fit_saturation,
                                 fit_saturation + 1,
                                 std::uint64_t{1} << 33,
                                 (std::uint64_t{1} << 34) - 0x10,
                                 (std::uint64_t{1} << 34) + 1,
                                 (std::uint64_t{1} << 36) - 0x200,
                                 std::uint64_t{1} << 40,
                                 std::uint64_t{1} << 52};
  const std::uint64_t aligns[] = {16, std::uint64_t{1} << 20};
  const vpn_range windows[] = {
      {vpn{0}, vpn{max_u64}},
      {vpn{0x10}, vpn{(std::uint64_t{1} << 48) - 1}},
      {vpn{std::uint64_t{1} << 36}, vpn{std::uint64_t{1} << 38}}};
  for (const vpn_range w : windows)
    for (const std::uint64_t pages : sizes)
      for (const std::uint64_t align : aligns)
        for (const auto dir :
             {search_direction::bottom_up, search_direction::top_down}) {
          CAPTURE(pages);
          CAPTURE(align);
          CAPTURE(w.first.raw());
          CAPTURE(static_cast<int>(dir));
          const auto want =
              model.find_free(pages, w.first.raw(), w.last.raw(), dir, align);
          const result<vpn> got = tree.find_free_range(pages, w, dir, align);
          REQUIRE(got.ok() == want.has_value());
          if (want) CHECK(got->raw() == *want);
        }
  // Erasing inside the saturated region keeps every field exact.
  tree.erase(v[2]);
  tree.erase(v[0]);
  CHECK(tree.check_invariants());
  tree.clear();
}
