#pragma once
// vad_tree: a process's VADs in address order, with O(log n) lookup,
// conflict check, insert, erase and free-range search under every
// constraint NT's allocator has (size, alignment, ZeroBits/
// MEM_ADDRESS_REQUIREMENTS window, MEM_TOP_DOWN).
//
// The tree is a Boost.Intrusive AVL tree of caller-owned nodes (vad.hpp);
// it never allocates. Every peer except Linux finds free address space by
// walking the regions one by one (NT's MiFindEmptyAddressRangeInTree does);
// here each node carries two numbers that make the search logarithmic.
//
// Invariant (checked from scratch by check_invariants()):
//
//   gap_before(x) = x.start - (pred(x).end + 1), or x.start for the first
//                   VAD: the free pages just below x. It depends only on
//                   which VADs exist, never on the shape of the tree, so
//                   rotations leave it alone; an insert or erase changes it
//                   for the new node and for the in-order successor only.
//
//   own_fit(x)    = the free pages of that gap that start on an allocation-
//                   granularity (16-page) boundary: gap end + 1 -
//                   align_up(gap start, 16), or 0.
//
//   max_fit(x)    = max(own_fit(x), max_fit(x.left), max_fit(x.right)),
//                   i.e. the largest own_fit in x's subtree.
//
//                 [x: 40..4f, gap 0x20, fit 0x20]
//                  /                          \  (children)
//   [10..1f, gap 0x10, fit 0x10]     [90..9f, gap 0x40, fit 0x40]
//        max_fit 0x10                     max_fit 0x40
//                  max_fit(x) = 0x40
//
// Search. A request is (pages s, alignment A = 2^k >= 16 pages, window
// [lo, hi], direction). Every result starts on a 16-page boundary, so a gap
// holds an A-aligned fit only if it holds a 16-aligned one, i.e. only if its
// own_fit >= s. max_fit(x) < s therefore proves that no gap of x's subtree
// fits, and the search skips it; this pruning never loses an answer. Every
// gap the search does visit is tested exactly (clipped to the window,
// aligned to A, overflow-checked), so it never returns a range that does not
// fit. For A = 16 (NT's allocation granularity: every VirtualAlloc,
// MapViewOfFile and image load) the test max_fit >= s is also sufficient, so
// a subtree that passes it and lies inside the window always yields the
// answer: the search visits O(log n) nodes (those along the two window
// boundaries plus one descent). For a larger A a gap can hold a 16-aligned
// fit and still miss every A-aligned one; such "unlucky" gaps are visited
// and rejected, so the cost is O((1 + u) log n) where u counts the unlucky
// gaps lower (bottom-up) or higher (top-down) than the answer. A gap of
// own_fit >= s + A - 16 is never unlucky. This is the price of one 8-byte
// aggregate rather than one per alignment; it is exact either way.
//
// Fix-up. Boost.Intrusive has no augmentation hook, so after every insert
// and erase the tree repairs max_fit itself. A node's max_fit changes only
// when the set of nodes below it changes or when one of their gaps does.
// The set changes for (a) the ancestors of the point where the tree was
// physically changed (the new leaf's parent, or the parent of the node
// unlinked) and (b) the nodes a rebalancing rotation moved. Every rotated
// node ends either on that ancestor path or as a child of a node on it (a
// rotation at p with child c leaves c or the grandchild g in p's place and p,
// c as its children), and the children of a moved node are subtrees that
// were not changed. So recomputing, from the changed point up to the root,
// each path node after recomputing its other child, repairs every changed
// set. Which links can change is known before the change: AVL rebalancing
// climbs from the change point and stops at a fixed node (after an insert,
// the first ancestor whose balance was not zero; after an erase, the first
// whose balance was zero), and rewrites at most that node's parent's link.
// The tree snapshots the links of that short stretch, and afterwards the
// highest node whose links differ (the whole path when the root moved)
// bounds the full recomputes. Above it nothing moved and only one child of
// each node changed, so climb() propagates the child's old and new value:
// an increase needs no other input, a decrease needs a recompute only where
// the child held the maximum, and the climb stops at the first node whose
// value stays the same. The gap change (new node and successor on insert,
// successor on erase) is repaired by a second climb from the successor.
// Both passes are O(log n) and usually a few nodes.
//
// Complexity: find_containing O(log n) (O(1) on a hint hit), insert_check
// O(log n), insert_commit and erase O(log n) (amortised O(1) rebalancing
// plus the fix-up), find_free_range as above, iteration O(1) amortised per
// step. check_invariants O(n).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/vad/vad.hpp>

#include <boost/intrusive/avltree.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace mmkit {

/// Which end of a window a free-range search prefers.
enum class search_direction : std::uint8_t {
  bottom_up,  // the lowest fitting range (NT's default)
  top_down,   // the highest fitting range (MEM_TOP_DOWN)
};

/// A VAD node type: vad itself or a type derived from it.
template <class Vad>
concept VadNode = std::derived_from<Vad, vad>;

/// The allocation granularity in pages (64 KiB / 4 KiB = 16): the alignment
/// the max_fit aggregate is exact for and the least a search may ask for.
inline constexpr std::uint64_t granularity_pages =
    allocation_granularity / page_size;

template <class Vad = vad>
class vad_tree {
  static_assert(VadNode<Vad>, "vad_tree<Vad> needs Vad derived from vad");

  struct start_less {
    bool operator()(const vad& a, const vad& b) const noexcept {
      return a.start() < b.start();
    }
  };
  using tree_type =
      boost::intrusive::avltree<Vad, boost::intrusive::base_hook<vad_hook>,
                                boost::intrusive::constant_time_size<true>,
                                boost::intrusive::compare<start_less>>;
  using value_traits = typename tree_type::value_traits;
  using node_traits = typename tree_type::node_traits;
  using node_ptr = typename node_traits::node_ptr;

 public:
  using value_type = Vad;
  using iterator = typename tree_type::iterator;
  using const_iterator = typename tree_type::const_iterator;
  using reverse_iterator = typename tree_type::reverse_iterator;
  using const_reverse_iterator = typename tree_type::const_reverse_iterator;
  using size_type = std::size_t;

  /// The result of insert_check: where a range would go. Valid until the
  /// tree next changes.
  class insert_commit_data {
   public:
    insert_commit_data() noexcept = default;

   private:
    friend class vad_tree;
    node_ptr next_ = nullptr;  // the in-order successor, or the header
    node_ptr prev_ = nullptr;  // the in-order predecessor, or null
    vpn_range range_{};
  };

  vad_tree() noexcept = default;
  vad_tree(const vad_tree&) = delete;
  vad_tree& operator=(const vad_tree&) = delete;
  /// Unlinks every VAD (the nodes stay the caller's).
  ~vad_tree() { clear(); }

  // --- size and iteration -------------------------------------------------
  size_type size() const noexcept { return tree_.size(); }
  bool empty() const noexcept { return tree_.empty(); }
  iterator begin() noexcept { return tree_.begin(); }
  iterator end() noexcept { return tree_.end(); }
  const_iterator begin() const noexcept { return tree_.begin(); }
  const_iterator end() const noexcept { return tree_.end(); }
  reverse_iterator rbegin() noexcept { return tree_.rbegin(); }
  reverse_iterator rend() noexcept { return tree_.rend(); }
  const_reverse_iterator rbegin() const noexcept { return tree_.rbegin(); }
  const_reverse_iterator rend() const noexcept { return tree_.rend(); }
  /// Requires: `v` is in this tree.
  iterator iterator_to(Vad& v) noexcept { return tree_.iterator_to(v); }
  const_iterator iterator_to(const Vad& v) const noexcept {
    return tree_.iterator_to(v);
  }
  /// The root VAD (the dump's level 0), or null when empty.
  const Vad* root() const noexcept {
    const node_ptr r = node_traits::get_parent(header());
    return r ? value_of(r) : nullptr;
  }

  /// Effects: unlinks every VAD. Complexity: O(n).
  void clear() noexcept {
    tree_.clear();
    hint_ = nullptr;
  }

  // --- lookup -------------------------------------------------------------
  /// The VAD containing `p`, or null. Tries the last hit first (NT's
  /// VadHint) and remembers the answer.
  /// Complexity: O(1) on a hint hit, O(log n) otherwise.
  Vad* find_containing(vpn p) noexcept {
    if (hint_ && hint_->start_ <= p && p <= hint_->end_) return hint_;
    Vad* v = find_containing_no_hint(p);
    if (v) hint_ = v;
    return v;
  }
  const Vad* find_containing(vpn p) const noexcept {
    return const_cast<vad_tree*>(this)->find_containing(p);
  }
  /// find_containing without reading or updating the hint.
  Vad* find_containing_no_hint(vpn p) const noexcept {
    node_ptr x = node_traits::get_parent(header());
    while (x) {
      Vad* v = value_of(x);
      if (p < v->start_)
        x = node_traits::get_left(x);
      else if (v->end_ < p)
        x = node_traits::get_right(x);
      else
        return v;
    }
    return nullptr;
  }

  /// The first VAD that ends at or after `p` (the one containing `p`, or
  /// the next one above it), or null. Complexity: O(log n).
  Vad* first_at_or_after(vpn p) const noexcept {
    node_ptr x = node_traits::get_parent(header());
    Vad* best = nullptr;
    while (x) {
      Vad* v = value_of(x);
      if (v->end_ >= p) {
        best = v;
        if (v->start_ <= p) return v;
        x = node_traits::get_left(x);
      } else {
        x = node_traits::get_right(x);
      }
    }
    return best;
  }
  /// The last VAD that ends before `p`, or null. Complexity: O(log n).
  Vad* last_before(vpn p) const noexcept {
    node_ptr x = node_traits::get_parent(header());
    Vad* best = nullptr;
    while (x) {
      Vad* v = value_of(x);
      if (v->end_ < p) {
        best = v;
        x = node_traits::get_right(x);
      } else {
        x = node_traits::get_left(x);
      }
    }
    return best;
  }
  /// The lowest VAD intersecting `r`, or null (the conflict check).
  /// Requires: r.first <= r.last. Complexity: O(log n).
  Vad* find_intersecting(vpn_range r) const noexcept {
    MMKIT_ASSERT(r.first <= r.last);
    Vad* v = first_at_or_after(r.first);
    return v && v->start_ <= r.last ? v : nullptr;
  }

  // --- insert and erase ---------------------------------------------------
  /// Effects: none. Returns where `r` would be inserted, or
  /// status::conflicting_addresses when a VAD intersects it.
  /// Requires: r.first <= r.last. Complexity: O(log n).
  result<insert_commit_data> insert_check(vpn_range r) const noexcept {
    MMKIT_ASSERT(r.first <= r.last);
    node_ptr x = node_traits::get_parent(header());
    node_ptr next = header();
    node_ptr prev = nullptr;
    while (x) {
      const Vad* v = value_of(x);
      if (v->end_ >= r.first) {
        if (v->start_ <= r.last) return status::conflicting_addresses;
        next = x;
        x = node_traits::get_left(x);
      } else {
        prev = x;
        x = node_traits::get_right(x);
      }
    }
    insert_commit_data d;
    d.next_ = next;
    d.prev_ = prev;
    d.range_ = r;
    return d;
  }

  /// Effects: links `v` where insert_check said.
  /// Requires: `d` came from insert_check(v.range()) with no change to the
  /// tree since; `v` is not linked. Complexity: O(log n).
  void insert_commit(Vad& v, const insert_commit_data& d) noexcept {
    MMKIT_ASSERT(!v.is_linked());
    MMKIT_ASSERT(d.next_ != nullptr && d.range_ == v.range());
    v.gap_before_ =
        d.prev_ ? v.start_ - (value_of(d.prev_)->end_ + 1) : v.start_.raw();
    Vad* next = d.next_ != header() ? value_of(d.next_) : nullptr;
    if (next) next->gap_before_ = next->start_ - (v.end_ + 1);

    // The new node hangs below `next` when `next` has no left child, else
    // below `prev` (the rightmost node of next's left subtree).
    typename tree_type::insert_commit_data link;
    link.link_left =
        next ? !node_traits::get_left(d.next_) : d.prev_ == nullptr;
    link.node = link.link_left ? d.next_ : d.prev_;
    path_snapshot snap;
    snap.record(link.node, header(), rebalancing::insertion);

    tree_.insert_unique_commit(v, link);
    fix_structure(value_traits::to_node_ptr(v), snap);
    if (next) fix_values(d.next_);
  }

  /// Effects: inserts `v` unless a VAD intersects its range.
  /// Returns: status::conflicting_addresses (tree unchanged) or success.
  /// Requires: `v` is not linked. Complexity: O(log n).
  result<void> insert(Vad& v) noexcept {
    auto d = insert_check(v.range());
    if (!d) return d.error();
    insert_commit(v, *d);
    return {};
  }

  /// Effects: unlinks `v`. Requires: `v` is in this tree.
  /// Complexity: O(log n).
  void erase(Vad& v) noexcept {
    MMKIT_ASSERT(v.is_linked());
    if (hint_ == &v) hint_ = nullptr;
    const node_ptr z = value_traits::to_node_ptr(v);
    const node_ptr hdr = header();
    node_ptr succ =
        boost::intrusive::bstree_algorithms<node_traits>::next_node(z);
    if (succ == hdr) succ = nullptr;

    // Where the tree physically changes (bstree_algorithms::erase): z's
    // parent when z has at most one child; else z's successor y moves into
    // z's place and y's old parent (or y itself) loses a child.
    const node_ptr zl = node_traits::get_left(z);
    const node_ptr zr = node_traits::get_right(z);
    node_ptr start = node_traits::get_parent(z);
    if (zl && zr) {
      // succ == minimum of z's right subtree.
      start = node_traits::get_parent(succ) == z
                  ? succ
                  : node_traits::get_parent(succ);
    }
    path_snapshot snap;
    snap.record(start, hdr, rebalancing::erasure, z);

    const std::uint64_t merged = v.gap_before_ + v.pages();
    tree_.erase(tree_.iterator_to(v));
    if (succ) value_of(succ)->gap_before_ += merged;
    if (start != hdr) fix_structure(start, snap);
    if (succ) fix_values(succ);
  }

  // --- free-range search --------------------------------------------------
  /// The lowest (bottom_up) or highest (top_down) VPN v such that
  /// [v, v + pages - 1] lies inside `window`, touches no VAD, and v is a
  /// multiple of `alignment` (in pages).
  /// Returns: status::invalid_parameter when pages is 0, alignment is not a
  /// power of two >= granularity_pages, or window.first > window.last;
  /// status::no_memory when no range fits (NtAllocateVirtualMemory's
  /// answer). Never wraps: windows may end at 2^64 - 1.
  /// Complexity: O(log n) for alignment == granularity_pages; see the
  /// header comment for larger alignments.
  result<vpn> find_free_range(
      std::uint64_t pages, vpn_range window,
      search_direction dir = search_direction::bottom_up,
      std::uint64_t alignment = granularity_pages) const noexcept {
    if (pages == 0 || !is_power_of_two(alignment) ||
        alignment < granularity_pages || window.last < window.first)
      return status::invalid_parameter;
    const request q{pages, alignment, window.first.raw(), window.last.raw()};
    const node_ptr root = node_traits::get_parent(header());
    // The free space above the highest VAD belongs to no node.
    const node_ptr top = node_traits::get_right(header());
    std::uint64_t tail_lo = 0;
    bool has_tail = true;
    if (root) {
      const std::uint64_t e = value_of(top)->end_.raw();
      has_tail = e != std::numeric_limits<std::uint64_t>::max();
      tail_lo = e + 1;
    }
    std::uint64_t out = 0;
    if (dir == search_direction::bottom_up) {
      if (root && search_up(root, q, out)) return vpn{out};
      if (has_tail &&
          fit_up(tail_lo, std::numeric_limits<std::uint64_t>::max(), q, out))
        return vpn{out};
    } else {
      if (has_tail &&
          fit_down(tail_lo, std::numeric_limits<std::uint64_t>::max(), q, out))
        return vpn{out};
      if (root && search_down(root, q, out)) return vpn{out};
    }
    return status::no_memory;
  }

  // --- checks -------------------------------------------------------------
  /// Whether every invariant holds, recomputed from scratch: AVL shape and
  /// balance, parent links, size, address order without overlap, every
  /// gap_before and every max_fit, and the hint. Complexity: O(n).
  bool check_invariants() const noexcept {
    const node_ptr hdr = header();
    const node_ptr root = node_traits::get_parent(hdr);
    if (root && node_traits::get_parent(root) != hdr) return false;
    check_state st;
    const subtree_facts f = check_subtree(root, st);
    if (!f.ok || f.count != size()) return false;
    if (hint_ && find_containing_no_hint(hint_->start_) != hint_) return false;
    if (root) {
      node_ptr lo = root, hi = root;
      while (node_traits::get_left(lo)) lo = node_traits::get_left(lo);
      while (node_traits::get_right(hi)) hi = node_traits::get_right(hi);
      if (node_traits::get_left(hdr) != lo || node_traits::get_right(hdr) != hi)
        return false;
    }
    return true;
  }

  /// The depth of `v` (the root is level 0), as `!vad` prints it.
  /// Requires: `v` is in this tree. Complexity: O(log n).
  unsigned level_of(const Vad& v) const noexcept {
    unsigned level = 0;
    const node_ptr hdr = header();
    for (node_ptr x = node_traits::get_parent(
             value_traits::to_node_ptr(const_cast<Vad&>(v)));
         x != hdr; x = node_traits::get_parent(x))
      ++level;
    return level;
  }
  /// The left and right children of `v` (null when absent), for pictures.
  const Vad* left_of(const Vad& v) const noexcept {
    return child(v, &node_traits::get_left);
  }
  const Vad* right_of(const Vad& v) const noexcept {
    return child(v, &node_traits::get_right);
  }

 private:
  // --- aggregate arithmetic ----------------------------------------------
  static constexpr std::uint64_t max_u64 =
      std::numeric_limits<std::uint64_t>::max();

  /// The free pages of [lo, hi] that start on a 16-page boundary.
  static constexpr std::uint64_t granule_fit(std::uint64_t lo,
                                             std::uint64_t hi) noexcept {
    if (lo > max_u64 - (granularity_pages - 1)) return 0;
    const std::uint64_t a =
        (lo + granularity_pages - 1) & ~(granularity_pages - 1);
    return a <= hi ? hi - a + 1 : 0;
  }
  static std::uint64_t own_fit(const vad* v) noexcept {
    if (v->gap_before_ == 0) return 0;
    const std::uint64_t s = v->start_.raw();
    return granule_fit(s - v->gap_before_, s - 1);
  }
  static std::uint64_t max_fit_of(node_ptr x) noexcept {
    return x ? value_of(x)->max_fit_ : 0;
  }
  static std::uint64_t compute_max_fit(node_ptr x) noexcept {
    std::uint64_t m = own_fit(value_of(x));
    const std::uint64_t l = max_fit_of(node_traits::get_left(x));
    const std::uint64_t r = max_fit_of(node_traits::get_right(x));
    if (l > m) m = l;
    if (r > m) m = r;
    return m;
  }

  // --- fix-up -------------------------------------------------------------
  enum class rebalancing : std::uint8_t { insertion, erasure };

  // The links of the nodes the rebalancing may change, taken before the
  // change. AVL rebalancing climbs from the change point and stops at a
  // fixed place: after an insertion, at the first ancestor whose balance
  // was not zero (it becomes zero, or rotates); after an erasure, at the
  // first whose balance was zero (it tips, its height stays). Rotations
  // happen below that node or at it and rewrite at most its parent's link,
  // so the snapshot ends one node above it. When the climb reaches the
  // root, the root itself may change, which highest_changed() detects.
  struct path_snapshot {
    // AVL height < 1.4405 log2(n + 2); 96 levels cover any n that fits in
    // a 64-bit address space of 80-byte nodes.
    static constexpr unsigned capacity = 96;
    node_ptr node[capacity];
    node_ptr left[capacity];
    node_ptr right[capacity];
    node_ptr root = nullptr;
    unsigned count = 0;

    void record(node_ptr from, node_ptr hdr, rebalancing kind,
                node_ptr skip = nullptr) noexcept {
      root = node_traits::get_parent(hdr);
      unsigned extra = 2;  // the stopping node and its parent
      for (node_ptr x = from; x != hdr && extra != 0;
           x = node_traits::get_parent(x)) {
        const bool zero = node_traits::get_balance(x) == node_traits::zero();
        const bool stops = kind == rebalancing::insertion ? !zero : zero;
        if (extra < 2 || stops) --extra;
        if (x == skip) continue;  // the erased node; its balance moves on
        MMKIT_ASSERT(count < capacity);
        node[count] = x;
        left[count] = node_traits::get_left(x);
        right[count] = node_traits::get_right(x);
        ++count;
      }
    }
    /// The highest recorded node whose links changed, or null when the
    /// root itself changed (then every level may have moved).
    node_ptr highest_changed(node_ptr hdr) const noexcept {
      if (node_traits::get_parent(hdr) != root) return nullptr;
      for (unsigned i = count; i-- > 0;) {
        if (node_traits::get_left(node[i]) != left[i] ||
            node_traits::get_right(node[i]) != right[i])
          return node[i];
      }
      return nullptr;
    }
  };

  /// Repairs max_fit after a structural change at `from` (see the header):
  /// full recomputes, other children included, up to the highest node
  /// whose links changed; above it, climb().
  void fix_structure(node_ptr from, const path_snapshot& snap) noexcept {
    const node_ptr hdr = header();
    const node_ptr zone_top = snap.highest_changed(hdr);
    node_ptr prev = nullptr;
    std::uint64_t old_fit = 0, new_fit = 0;
    for (node_ptr x = from; x != hdr;
         prev = x, x = node_traits::get_parent(x)) {
      const node_ptr l = node_traits::get_left(x);
      const node_ptr r = node_traits::get_right(x);
      if (l && l != prev) value_of(l)->max_fit_ = compute_max_fit(l);
      if (r && r != prev) value_of(r)->max_fit_ = compute_max_fit(r);
      Vad* v = value_of(x);
      old_fit = v->max_fit_;
      new_fit = compute_max_fit(x);
      v->max_fit_ = new_fit;
      if (x == zone_top) {
        climb(node_traits::get_parent(x), old_fit, new_fit);
        return;
      }
    }
  }
  /// Repairs max_fit after gap_before(from) changed; the structure is sound.
  void fix_values(node_ptr from) noexcept {
    Vad* v = value_of(from);
    const std::uint64_t old_fit = v->max_fit_;
    v->max_fit_ = compute_max_fit(from);
    climb(node_traits::get_parent(from), old_fit, v->max_fit_);
  }
  /// Propagates a child's change of max_fit from `child_old` to `child_new`
  /// up from its parent `x`, where nothing else below changed. An increase
  /// needs no other input (the new maximum is the child's unless the
  /// parent's was larger); a decrease needs a recompute only when the child
  /// held the parent's maximum. Stops as soon as a value stays the same.
  void climb(node_ptr x, std::uint64_t child_old,
             std::uint64_t child_new) noexcept {
    const node_ptr hdr = header();
    for (; x != hdr && child_old != child_new; x = node_traits::get_parent(x)) {
      Vad* v = value_of(x);
      const std::uint64_t old_fit = v->max_fit_;
      std::uint64_t new_fit;
      if (child_new > child_old) {
        if (child_new <= old_fit) return;
        new_fit = child_new;
      } else {
        if (old_fit > child_old) return;
        new_fit = compute_max_fit(x);
      }
      v->max_fit_ = new_fit;
      child_old = old_fit;
      child_new = new_fit;
    }
  }

  // --- search -------------------------------------------------------------
  struct request {
    std::uint64_t pages;
    std::uint64_t align;
    std::uint64_t lo;
    std::uint64_t hi;
  };
  /// The lowest aligned fit in [glo, ghi] clipped to the window.
  static bool fit_up(std::uint64_t glo, std::uint64_t ghi, const request& q,
                     std::uint64_t& out) noexcept {
    const std::uint64_t lo = glo > q.lo ? glo : q.lo;
    const std::uint64_t hi = ghi < q.hi ? ghi : q.hi;
    if (lo > hi || lo > max_u64 - (q.align - 1)) return false;
    const std::uint64_t a = (lo + q.align - 1) & ~(q.align - 1);
    if (a > hi || hi - a < q.pages - 1) return false;
    out = a;
    return true;
  }
  /// The highest aligned fit in [glo, ghi] clipped to the window.
  static bool fit_down(std::uint64_t glo, std::uint64_t ghi, const request& q,
                       std::uint64_t& out) noexcept {
    const std::uint64_t lo = glo > q.lo ? glo : q.lo;
    const std::uint64_t hi = ghi < q.hi ? ghi : q.hi;
    if (lo > hi || hi - lo < q.pages - 1) return false;
    const std::uint64_t a = (hi - (q.pages - 1)) & ~(q.align - 1);
    if (a < lo) return false;
    out = a;
    return true;
  }
  // In-order over the gaps of x's subtree: left subtree (all below x's gap),
  // x's own gap [start - gap_before, start - 1], right subtree (all above
  // x.end). A subtree is skipped when no gap of it can fit or when it lies
  // outside the window.
  static bool search_up(node_ptr x, const request& q,
                        std::uint64_t& out) noexcept {
    const Vad* v = value_of(x);
    if (v->max_fit_ < q.pages) return false;
    const std::uint64_t s = v->start_.raw();
    const std::uint64_t glo = s - v->gap_before_;
    const node_ptr l = node_traits::get_left(x);
    if (l && q.lo < glo && search_up(l, q, out)) return true;
    if (glo > q.hi) return false;
    if (v->gap_before_ != 0 && fit_up(glo, s - 1, q, out)) return true;
    const node_ptr r = node_traits::get_right(x);
    return r && v->end_.raw() < q.hi && search_up(r, q, out);
  }
  static bool search_down(node_ptr x, const request& q,
                          std::uint64_t& out) noexcept {
    const Vad* v = value_of(x);
    if (v->max_fit_ < q.pages) return false;
    const std::uint64_t s = v->start_.raw();
    const std::uint64_t glo = s - v->gap_before_;
    const node_ptr r = node_traits::get_right(x);
    if (r && v->end_.raw() < q.hi && search_down(r, q, out)) return true;
    if (s == 0 || s - 1 < q.lo) return false;
    if (v->gap_before_ != 0 && fit_down(glo, s - 1, q, out)) return true;
    const node_ptr l = node_traits::get_left(x);
    return l && q.lo < glo && search_down(l, q, out);
  }

  // --- checker ------------------------------------------------------------
  struct check_state {
    const Vad* prev = nullptr;
  };
  struct subtree_facts {
    bool ok = true;
    std::size_t count = 0;
    std::size_t height = 0;
    std::uint64_t max_fit = 0;
  };
  static subtree_facts check_subtree(node_ptr x, check_state& st) noexcept {
    subtree_facts f;
    if (!x) return f;
    const node_ptr l = node_traits::get_left(x);
    const node_ptr r = node_traits::get_right(x);
    if ((l && node_traits::get_parent(l) != x) ||
        (r && node_traits::get_parent(r) != x)) {
      f.ok = false;
      return f;
    }
    const subtree_facts lf = check_subtree(l, st);
    const Vad* v = value_of(x);
    // In order: the previous VAD ends below this one; gap_before matches.
    bool ok = lf.ok && v->start_ <= v->end_;
    const std::uint64_t expect_gap =
        st.prev ? v->start_ - (st.prev->end_ + 1) : v->start_.raw();
    if (st.prev && !(st.prev->end_ < v->start_)) ok = false;
    if (v->gap_before_ != expect_gap) ok = false;
    st.prev = v;
    const subtree_facts rf = check_subtree(r, st);
    ok = ok && rf.ok;
    // AVL: heights differ by at most one and the stored balance says which.
    const auto bal = node_traits::get_balance(x);
    if (lf.height == rf.height)
      ok = ok && bal == node_traits::zero();
    else if (lf.height + 1 == rf.height)
      ok = ok && bal == node_traits::positive();
    else if (rf.height + 1 == lf.height)
      ok = ok && bal == node_traits::negative();
    else
      ok = false;
    // max_fit from the gaps themselves, never from stored children values.
    std::uint64_t m =
        v->gap_before_
            ? granule_fit(v->start_.raw() - v->gap_before_, v->start_.raw() - 1)
            : 0;
    if (lf.max_fit > m) m = lf.max_fit;
    if (rf.max_fit > m) m = rf.max_fit;
    ok = ok && v->max_fit_ == m;
    f.ok = ok;
    f.count = lf.count + rf.count + 1;
    f.height = 1 + (lf.height > rf.height ? lf.height : rf.height);
    f.max_fit = m;
    return f;
  }

  // --- plumbing -----------------------------------------------------------
  static Vad* value_of(node_ptr n) noexcept {
    return value_traits::to_value_ptr(n);
  }
  node_ptr header() const noexcept { return tree_.end().pointed_node(); }
  template <class Get>
  const Vad* child(const Vad& v, Get get) const noexcept {
    const node_ptr c = get(value_traits::to_node_ptr(const_cast<Vad&>(v)));
    return c ? value_of(c) : nullptr;
  }

  tree_type tree_;
  mutable Vad* hint_ = nullptr;
};

static_assert(VadNode<vad>);

}  // namespace mmkit
