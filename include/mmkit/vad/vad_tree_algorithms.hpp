#pragma once
// vad_tree_algorithms: the AVL algorithms under vad_tree (link, unlink,
// in-place resize, lookup descent, checker) over vad_links in Boost's
// compact AVL encoding, keeping the gap aggregates of vad.hpp exact in the
// same climb that rebalances. The container (vad_tree.hpp) owns the header
// and the floor and passes them in; nothing here allocates.
//
// Invariant (checked from scratch by check()):
//
//   gap_before(x)   the free pages just below x that lie at or above the
//                   tree's floor F (VPN 0 unless set): x.start - max(pred(x)
//                   .end + 1, F), or x.start - F for the first VAD, or 0
//                   when that is negative. It depends only on which VADs
//                   exist, never on the tree's shape: rotations leave it
//                   alone. An address space sets F to its lowest user VPN,
//                   so that the pages below it, which no search may return,
//                   never look like a fit.
//   own_fit(x)      the pages of that gap from its first 16-page boundary
//                   on (computed from start and gap_before, not stored).
//   child_fit(x, s) fit(x's s child), 0 for none, where fit(c) =
//                   max(own_fit(c), child_fit(c, 0), child_fit(c, 1)) is the
//                   largest own fit in c's subtree. A node stores its
//                   children's fits, not its own, so fit(x) needs no other
//                   node, a search prunes a child without reading it, and a
//                   climb never reads a sibling.
//
// Why one climb suffices. Boost.Intrusive has no augmentation hook, so the
// rebalancing is done here, with the fields kept as it goes. An insert or
// erase changes the set of nodes below the ancestors of the place where a
// node joins or leaves (for an erase with two children, the successor's old
// place: the successor takes the erased node's place and fields), and
// changes one gap: the in-order successor's, which is then an ancestor of
// that place or the node that takes it. So only the fields on that one
// path up can change, plus those of the nodes a rotation moves. A rotation
// does not change the set of nodes below the subtree it turns, and rotate()
// recomputes the fields of the two or three nodes it moves from the
// subtrees it keeps whole, whose fields are already right. climb() walks
// that path by parent links: each level stores the fit of the subtree
// below in its field, rebalances while the height still changes, and the
// climb goes on while the height changed, the successor lies above, or the
// field took a new value. Once none holds, every field above is a maximum
// over unchanged subtrees and gaps, so it is already right. move() (resize)
// changes two gaps and no shape: one climb from the lower of the two nodes
// passes the other.
//
// An erase that makes a gap bigger than any other carries the new maximum
// to the root, and the next insert there carries it back: a field per
// level is the price of an exact aggregate.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_free_range.hpp>

#include <cstddef>
#include <cstdint>

namespace mmkit::detail {

/// Where a new node joins the tree: below `link` (the header in an empty
/// tree) on the left or right, with `next` its in-order successor (the
/// header for none) and `free_lo` the first free page below it: one past
/// its predecessor's end, 0 for none (gap_from clamps it to the floor).
struct vad_link_point {
  vad_links* next = nullptr;
  vad_links* link = nullptr;
  bool link_left = false;
  std::uint64_t free_lo = 0;
};

struct vad_tree_algorithms {
  using nt = vad_node_traits;
  using node_ptr = nt::node_ptr;
  using const_node_ptr = nt::const_node_ptr;
  using fields = vad_fields;

  static vad& value(node_ptr n) noexcept { return *static_cast<vad*>(n); }
  static const vad& value(const_node_ptr n) noexcept {
    return *static_cast<const vad*>(n);
  }

  // --- gaps and fits ------------------------------------------------------
  /// The pages of [max(free_lo, floor), start - 1]: the gap below a VAD at
  /// `start` whose predecessor ends at free_lo - 1 (free_lo = 0: none).
  static std::uint64_t gap_from(std::uint64_t free_lo, std::uint64_t start,
                                std::uint64_t floor) noexcept {
    const std::uint64_t lo = free_lo > floor ? free_lo : floor;
    return start > lo ? start - lo : 0;
  }
  static void set_gap(vad& v, std::uint64_t free_lo,
                      std::uint64_t floor) noexcept {
    fields::set_gap(v, gap_from(free_lo, v.start().raw(), floor));
  }
  static std::uint32_t fit_of(const_node_ptr x) noexcept {
    return x ? fields::fit(value(x)) : 0;
  }
  /// Recomputes every gap for a new floor and then every field, children
  /// first. Complexity: O(n); recursion depth the height.
  static void rebuild(node_ptr hdr, std::uint64_t floor) noexcept {
    if (!nt::get_parent(hdr)) return;
    std::uint64_t next_free = 0;  // one past the previous VAD's end
    for (node_ptr x = nt::get_left(hdr); x; x = neighbour(hdr, x, 1)) {
      set_gap(value(x), next_free, floor);
      next_free = value(x).end().raw() + 1;  // no wrap matters: none follow
    }
    (void)rebuild_fields(nt::get_parent(hdr));
  }

  // --- walks and lookups --------------------------------------------------
  /// The in-order predecessor (side 0) or successor (side 1) of x, or
  /// null. Complexity: O(log n), O(1) amortised over a walk.
  static node_ptr neighbour(const_node_ptr hdr, node_ptr x,
                            unsigned side) noexcept {
    node_ptr c = nt::get_child(x, side);
    if (c) {
      while (nt::get_child(c, side ^ 1)) c = nt::get_child(c, side ^ 1);
      return c;
    }
    node_ptr up = nt::get_parent(x);
    while (up != hdr && nt::get_child(up, side) == x) {
      x = up;
      up = nt::get_parent(up);
    }
    return up == hdr ? nullptr : up;
  }

  /// Where a VPN falls among the VADs: the last one starting at or below it
  /// (null for none) and the first one starting above it (the header for
  /// none).
  struct bracket {
    node_ptr below;
    node_ptr above;
  };
  /// Every lookup and insert check descends here, by start: past the VAD
  /// it finds, it turns right and then left down to that VAD's in-order
  /// successor, the node an erase of it moves into its place, so an erase
  /// after a lookup finds that path in the cache. The descent never stops
  /// early and picks each child without a branch: which way a random
  /// address goes is a coin toss the branch predictor loses half the time,
  /// and a lost toss costs more than the level or two an early exit would
  /// save. Complexity: O(log n).
  static bracket bracket_of(node_ptr hdr, std::uint64_t p) noexcept {
    node_ptr x = nt::get_parent(hdr);
    bracket b{nullptr, hdr};
    while (x) {
      // Asked as "left?", so that the compare's carry is the select's mask.
      const bool left = p < fields::start(value(x));
      const node_ptr l = nt::get_left(x);
      const node_ptr r = nt::get_right(x);
      b.above = select_unpredictable(left, x, b.above);
      b.below = select_unpredictable(left, b.below, x);
      x = select_unpredictable(left, l, r);
    }
    return b;
  }

  /// Where the range r would join the tree, or false when a VAD intersects
  /// it. Complexity: O(log n).
  static bool find_link_point(node_ptr hdr, vpn_range r,
                              vad_link_point& at) noexcept {
    const bracket b = bracket_of(hdr, r.first.raw());
    if (b.below && r.first <= value(b.below).end()) return false;
    if (b.above != hdr && value(b.above).start() <= r.last) return false;
    // The new node hangs below `above` when that has no left child, else
    // below `below` (then the rightmost node of above's left subtree); in
    // an empty tree below the header.
    at.next = b.above;
    at.link_left = b.above != hdr ? !nt::get_left(b.above) : !b.below;
    at.link = at.link_left ? b.above : b.below;
    at.free_lo = b.below ? value(b.below).end().raw() + 1 : 0;
    return true;
  }

  /// Where a range found by the free-range search joins the tree: in the
  /// gap below `owner`, or above the highest VAD when owner is null.
  static vad_link_point link_point_below(node_ptr hdr,
                                         node_ptr owner) noexcept {
    vad_link_point at;
    const node_ptr root = nt::get_parent(hdr);
    if (owner == nullptr) {
      // The new node hangs right of the highest VAD.
      const node_ptr top = nt::get_right(hdr);
      at.next = hdr;
      at.link_left = !root;
      at.link = root ? top : hdr;
      at.free_lo = root ? value(top).end().raw() + 1 : 0;
      return at;
    }
    // owner becomes the successor: the new node hangs left of it, or right
    // of the highest node of its left subtree.
    at.next = owner;
    at.free_lo = value(owner).start().raw() - fields::gap(value(owner));
    node_ptr l = nt::get_left(owner);
    at.link_left = !l;
    if (l)
      while (nt::get_right(l)) l = nt::get_right(l);
    at.link = l ? l : owner;
    return at;
  }

  // --- link, unlink, move -------------------------------------------------
  /// Links the unlinked node x (its range set) at `at`. Complexity:
  /// O(log n), one climb.
  static void link(node_ptr hdr, node_ptr x, const vad_link_point& at,
                   std::uint64_t floor) noexcept {
    vad& v = value(x);
    set_gap(v, at.free_lo, floor);
    fields::set_child_fit(v, 0, 0);
    fields::set_child_fit(v, 1, 0);
    nt::reset(x);
    nt::set_parent(x, at.link);
    if (at.link == hdr) {  // the first VAD
      nt::set_parent(hdr, x);
      nt::set_left(hdr, x);
      nt::set_right(hdr, x);
      return;
    }
    const unsigned side = at.link_left ? 0 : 1;
    nt::set_child(at.link, side, x);
    // A new lowest or highest VAD hangs below the old one.
    if (nt::get_child(hdr, side) == at.link) nt::set_child(hdr, side, x);
    // The successor's gap shrinks; it is an ancestor of the new leaf.
    node_ptr next = nullptr;
    if (at.next != hdr) {
      next = at.next;
      set_gap(value(next), v.end().raw() + 1, floor);
    }
    climb<height::grew>(hdr, at.link, side, fields::fit(v), next);
  }

  /// Unlinks z. Complexity: O(log n), one climb.
  static void unlink(node_ptr hdr, node_ptr z, std::uint64_t floor) noexcept {
    const vad& v = value(z);
    const node_ptr zl = nt::get_left(z);
    const node_ptr zr = nt::get_right(z);
    const node_ptr zp = nt::get_parent(z);
    // The successor's gap will start where v's started, or at the floor
    // when v lies wholly below it.
    const std::uint64_t s = v.start().raw();
    const std::uint64_t free_lo = s >= floor ? s - fields::gap(v) : floor;
    // A node with one child has a leaf there (AVL), so the lowest and
    // highest VADs move at most one link.
    if (nt::get_left(hdr) == z) nt::set_left(hdr, zr ? zr : zp);
    if (nt::get_right(hdr) == z) nt::set_right(hdr, zl ? zl : zp);

    node_ptr p;               // where the climb starts,
    unsigned side;            // on which side of p the subtree shrank,
    node_ptr succ = zr;       // the successor, whose gap grows,
    node_ptr pass = nullptr;  // and the node the climb must pass for it
    if (zl && zr) {
      // The successor y, the lowest node of the right subtree, takes z's
      // place, links, fields and balance; its own place goes to its right
      // child. y's fields are stale until the climb passes it.
      node_ptr y = zr;
      while (nt::get_left(y)) y = nt::get_left(y);
      const node_ptr yr = nt::get_right(y);
      if (y == zr) {
        p = y;  // y keeps its right subtree, one lower than z's was
        side = 1;
      } else {
        p = nt::get_parent(y);
        side = 0;
        hang(p, 0, yr, fit_of(yr));
        hang(y, 1, zr, fields::child_fit(v, 1));
      }
      hang(y, 0, zl, fields::child_fit(v, 0));
      nt::set_balance(y, nt::get_balance(z));
      replace_child(hdr, zp, z, y);
      succ = pass = y;
    } else {
      // With a right child, the successor is that leaf, which takes z's
      // place: the climb starts from its new fit. Without one, it is the
      // nearest ancestor that z lies left of (none for the highest VAD).
      const node_ptr x = zl ? zl : zr;
      if (!zr) succ = pass = neighbour(hdr, z, 1);
      p = zp;
      side = zp != hdr && nt::get_right(zp) == z;
      replace_child(hdr, zp, z, x);
    }
    if (succ) set_gap(value(succ), free_lo, floor);
    nt::reset(z);
    // The subtree below p on `side` is one lower.
    if (p != hdr)
      climb<height::shrank>(hdr, p, side, fit_of(nt::get_child(p, side)), pass);
  }

  /// Gives x the range r in place, or returns false, x unchanged, when r
  /// would touch a neighbour. Complexity: O(log n), no rebalancing.
  static bool move(node_ptr hdr, node_ptr x, vpn_range r,
                   std::uint64_t floor) noexcept {
    const node_ptr pred = neighbour(hdr, x, 0);
    const node_ptr succ = neighbour(hdr, x, 1);
    if (pred && !(value(pred).end() < r.first)) return false;
    if (succ && !(r.last < value(succ).start())) return false;
    fields::set_ends(value(x), r);
    set_gap(value(x), pred ? value(pred).end().raw() + 1 : 0, floor);
    if (succ) set_gap(value(succ), r.last.raw() + 1, floor);
    // Two gaps changed and no shape: one climb from the lower of the two
    // nodes passes the other (the successor lies in x's right subtree when
    // x has one, else above x).
    node_ptr low = x, high = succ;
    if (succ && nt::get_right(x)) {
      low = succ;
      high = x;
    }
    const node_ptr up = nt::get_parent(low);
    climb<height::same>(hdr, up, up != hdr && nt::get_right(up) == low,
                        fields::fit(value(low)), high);
    return true;
  }

  // --- checker ------------------------------------------------------------
  /// Whether every invariant holds, recomputed from scratch: AVL shape and
  /// balance, parent links, address order without overlap, every gap and
  /// child fit, the lowest and highest links; `count` gets the node count.
  /// Complexity: O(n).
  static bool check(const_node_ptr hdr, std::uint64_t floor,
                    std::size_t& count) noexcept {
    const node_ptr root = nt::get_parent(hdr);
    count = 0;
    if (!root) return nt::get_left(hdr) == hdr && nt::get_right(hdr) == hdr;
    if (nt::get_parent(root) != hdr) return false;
    check_state st{floor};
    const subtree_facts f = check_subtree(root, st);
    count = f.count;
    node_ptr lo = root, hi = root;
    while (nt::get_left(lo)) lo = nt::get_left(lo);
    while (nt::get_right(hi)) hi = nt::get_right(hi);
    return f.ok && nt::get_left(hdr) == lo && nt::get_right(hdr) == hi;
  }

 private:
  static std::uint32_t rebuild_fields(node_ptr x) noexcept {
    if (!x) return 0;
    fields::set_child_fit(value(x), 0, rebuild_fields(nt::get_left(x)));
    fields::set_child_fit(value(x), 1, rebuild_fields(nt::get_right(x)));
    return fields::fit(value(x));
  }

  // --- the climb ----------------------------------------------------------
  /// How the height of the subtree a climb comes up from changed.
  enum class height : std::uint8_t { same, grew, shrank };

  /// Hangs `c` (which may be null) below p on `side`, and records f, the
  /// fit of c's subtree, in p's field for that side.
  static void hang(node_ptr p, unsigned side, node_ptr c,
                   std::uint32_t f) noexcept {
    nt::set_child(p, side, c);
    if (c) nt::set_parent(c, p);
    fields::set_child_fit(value(p), side, f);
  }
  /// Hangs `r` (which may be null) where `old` hung below `pp`; below the
  /// header, as the root.
  static void replace_child(node_ptr hdr, node_ptr pp, node_ptr old,
                            node_ptr r) noexcept {
    if (r) nt::set_parent(r, pp);
    if (pp == hdr)
      nt::set_parent(pp, r);
    else
      nt::set_child(pp, nt::get_right(pp) == old, r);
  }

  /// Rotates the subtree at p, whose `side` is two levels higher than the
  /// other, so that it balances again, and hangs it below pp, p's parent.
  /// The fields of the nodes it moves are recomputed from the subtrees it
  /// keeps whole. Returns the subtree's new root.
  static node_ptr rotate(node_ptr hdr, node_ptr p, unsigned side,
                         node_ptr pp) noexcept {
    const unsigned o = side ^ 1;
    const node_ptr c = nt::get_child(p, side);
    const unsigned cb = nt::get_balance(c);
    if (cb != nt::heavy(o)) {
      // Single: c comes up, p goes down on the o side and takes c's o
      // subtree in its place.
      hang(p, side, nt::get_child(c, o), fields::child_fit(value(c), o));
      hang(c, o, p, fields::fit(value(p)));
      const bool even = cb == nt::zero();  // erase only: the height stays
      nt::set_balance(p, even ? nt::heavy(side) : nt::zero());
      nt::set_balance(c, even ? nt::heavy(o) : nt::zero());
      replace_child(hdr, pp, p, c);
      return c;
    }
    // Double: c's o child g comes up with c on its `side` and p on its o
    // side; g's subtrees go to c and p.
    const node_ptr g = nt::get_child(c, o);
    const unsigned gb = nt::get_balance(g);
    hang(c, o, nt::get_child(g, side), fields::child_fit(value(g), side));
    hang(p, side, nt::get_child(g, o), fields::child_fit(value(g), o));
    hang(g, side, c, fields::fit(value(c)));
    hang(g, o, p, fields::fit(value(p)));
    nt::set_balance(p, gb == nt::heavy(side) ? nt::heavy(o) : nt::zero());
    nt::set_balance(c, gb == nt::heavy(o) ? nt::heavy(side) : nt::zero());
    nt::set_balance(g, nt::zero());
    replace_child(hdr, pp, p, g);
    return g;
  }

  /// The one climb after every change. The subtree below p on `side` now
  /// has fit f and changed height by H; `pass` is a node at or above p
  /// whose own gap changed, or null. Each level stores the fit of the
  /// subtree below in p's field and computes p's fit for the level above.
  /// The climb has three stretches, each a loop with one exit, so that a
  /// level costs no branch the predictor can lose (which side a node hangs
  /// on is a coin toss; where a stretch ends is not known before):
  ///  1. while the height changes: rebalance (after an insert the first
  ///     rotation ends that; after an erase a rotation may leave the
  ///     subtree one lower still);
  ///  2. up to and past `pass`, if it is still above;
  ///  3. until a field already holds its value. Then every field above is
  ///     a maximum over unchanged subtrees and gaps, so it is already
  ///     right.
  template <height H>
  static void climb(node_ptr hdr, node_ptr p, unsigned side, std::uint32_t f,
                    node_ptr pass) noexcept {
    if (p == hdr) return;
    if constexpr (H != height::same) {
      for (;;) {
        vad& v = value(p);
        fields::set_child_fit(v, side, f);
        pass = select_unpredictable(p == pass, node_ptr{}, pass);
        // The parent, read before the balance (in the same word) changes.
        const node_ptr up = nt::get_parent(p);
        const unsigned o = side ^ 1;
        const unsigned b = nt::get_balance(p);
        node_ptr top = p;  // the subtree's root once this level is done
        bool settled;
        if constexpr (H == height::grew) {
          // Even: now heavy on `side`, and still higher. Heavy on the other
          // side: now even. Heavy on `side`: rotate back to the old height.
          if (b == nt::heavy(side))
            top = rotate(hdr, p, side, up);
          else
            nt::set_balance(p, b == nt::zero() ? nt::heavy(side) : nt::zero());
          settled = b != nt::zero();
        } else {
          // Even: now heavy on the other side, at its old height. Heavy on
          // `side`: now even, and still lower. Heavy on the other side, two
          // higher now: rotate it up; the height stays only when that
          // side's child was even.
          if (b == nt::heavy(o)) {
            settled = nt::get_balance(nt::get_child(p, o)) == nt::zero();
            top = rotate(hdr, p, o, up);
          } else {
            nt::set_balance(p, b == nt::zero() ? nt::heavy(o) : nt::zero());
            settled = b == nt::zero();
          }
        }
        // p's fit from the value in hand, not read back from the store.
        f = top == p ? max_fit(f, fields::own_fit(v), fields::child_fit(v, o))
                     : fields::fit(value(top));
        side = nt::get_right(up) == top;
        p = up;
        if (p == hdr) return;
        if (settled) break;
      }
    }
    // Up to and past `pass`, if it is still above: every field.
    if (pass) {
      for (;;) {
        vad& v = value(p);
        fields::set_child_fit(v, side, f);
        f = max_fit(f, fields::own_fit(v), fields::child_fit(v, side ^ 1));
        const node_ptr up = nt::get_parent(p);
        const bool passed = p == pass;
        side = nt::get_right(up) == p;
        p = up;
        if (p == hdr) return;
        if (passed) break;
      }
    }
    // While the fields take new values.
    for (; p != hdr; p = nt::get_parent(p)) {
      vad& v = value(p);
      if (fields::child_fit(v, side) == f) return;
      fields::set_child_fit(v, side, f);
      f = max_fit(f, fields::own_fit(v), fields::child_fit(v, side ^ 1));
      side = nt::get_right(nt::get_parent(p)) == p;
    }
  }

  struct check_state {
    std::uint64_t floor;
    const vad* prev = nullptr;
  };
  struct subtree_facts {
    bool ok = true;
    std::size_t count = 0;
    std::size_t height = 0;
    std::uint64_t max_fit = 0;
  };
  static subtree_facts check_subtree(const_node_ptr x,
                                     check_state& st) noexcept {
    subtree_facts f;
    if (!x) return f;
    const node_ptr l = nt::get_left(x);
    const node_ptr r = nt::get_right(x);
    if ((l && nt::get_parent(l) != x) || (r && nt::get_parent(r) != x)) {
      f.ok = false;
      return f;
    }
    const subtree_facts lf = check_subtree(l, st);
    const vad& v = value(x);
    // In order: the previous VAD ends below this one; gap_before matches.
    const std::uint64_t s = v.start().raw();
    bool ok = lf.ok && v.start() <= v.end();
    const std::uint64_t expect_gap =
        gap_from(st.prev ? st.prev->end().raw() + 1 : 0, s, st.floor);
    if (st.prev && !(st.prev->end() < v.start())) ok = false;
    if (fields::gap(v) != expect_gap) ok = false;
    st.prev = &v;
    const subtree_facts rf = check_subtree(r, st);
    ok = ok && rf.ok;
    // AVL: heights differ by at most one and the stored balance says which.
    const unsigned bal = nt::get_balance(x);
    if (lf.height == rf.height)
      ok = ok && bal == nt::zero();
    else if (lf.height + 1 == rf.height)
      ok = ok && bal == nt::positive();
    else if (rf.height + 1 == lf.height)
      ok = ok && bal == nt::negative();
    else
      ok = false;
    // The fields from the gaps themselves, never from stored values.
    ok = ok && fields::child_fit(v, 0) == saturate_fit(lf.max_fit) &&
         fields::child_fit(v, 1) == saturate_fit(rf.max_fit);
    std::uint64_t m = expect_gap ? granule_fit(s - expect_gap, s - 1) : 0;
    if (lf.max_fit > m) m = lf.max_fit;
    if (rf.max_fit > m) m = rf.max_fit;
    f.ok = ok;
    f.count = lf.count + rf.count + 1;
    f.height = 1 + (lf.height > rf.height ? lf.height : rf.height);
    f.max_fit = m;
    return f;
  }
};

}  // namespace mmkit::detail
