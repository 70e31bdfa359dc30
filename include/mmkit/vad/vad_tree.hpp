#pragma once
// vad_tree: a process's VADs in address order, with O(log n) lookup,
// conflict check, insert, erase and free-range search under every
// constraint NT's allocator has (size, alignment, ZeroBits/
// MEM_ADDRESS_REQUIREMENTS window, MEM_TOP_DOWN).
//
// The tree is a Boost.Intrusive AVL tree of caller-owned nodes (vad.hpp);
// it never allocates. Every peer except Linux finds free address space by
// walking the regions one by one (NT's MiFindEmptyAddressRangeInTree does);
// here each node carries a few numbers that make the search logarithmic.
//
// Invariant (checked from scratch by check_invariants()):
//
//   gap_before(x) = the free pages just below x that lie at or above the
//                   tree's floor F (VPN 0 unless set): x.start - max(pred(x)
//                   .end + 1, F), or x.start - F for the first VAD, or 0
//                   when that is negative. It depends only on which VADs
//                   exist, never on the shape of the tree, so rotations
//                   leave it alone; an insert or erase changes it for the
//                   new node and for the in-order successor only. An
//                   address space sets F to its lowest user VPN, so that
//                   the pages below it, which no search may return, never
//                   look like a fit (without it every bottom-up search
//                   descends the left spine to the gap below the first VAD).
//
//   own_fit(x)    = the free pages of that gap that start on an allocation-
//                   granularity (16-page) boundary: gap end + 1 -
//                   align_up(gap start, 16), or 0. Cached in the node.
//
//   fit(x)        = max(own_fit(x), fit(x.left), fit(x.right)): the largest
//                   own_fit in x's subtree. The node does not store its own
//                   fit; it stores its children's, child_max[0] = fit(left)
//                   and child_max[1] = fit(right) (0 for no child), so that
//                   fit(x) needs no other node, a search prunes a child
//                   without reading it, and a fix-up never reads a sibling.
//                   Fields are 32 bits, saturated at fit_saturation (2^32 - 1
//                   pages, 16 TiB); a request at least that large treats a
//                   saturated field as "may fit" and tests the gaps.
//
//                 [x: 40..4f, gap 0x20, own 0x20]  child_max {0x10, 0x40}
//                  /                          \          fit(x) = 0x40
//   [10..1f, gap 0x10, own 0x10]     [90..9f, gap 0x40, own 0x40]
//        child_max {0, 0}                 child_max {0, 0}
//
// Search. A request is (pages s, alignment A = 2^k >= 16 pages, window
// [lo, hi], direction). Every result starts on a 16-page boundary, so a gap
// holds an A-aligned fit only if it holds a 16-aligned one, i.e. only if its
// own_fit >= s. fit(c) < s therefore proves that no gap of c's subtree
// fits, and the search skips it; this pruning never loses an answer. Every
// gap the search does visit is tested exactly (clipped to the window,
// aligned to A, overflow-checked), so it never returns a range that does not
// fit. For A = 16 (NT's allocation granularity: every VirtualAlloc,
// MapViewOfFile and image load) the test fit >= s is also sufficient, so
// a subtree that passes it and lies inside the window always yields the
// answer: the search visits O(log n) nodes (those along the two window
// boundaries plus one descent). For a larger A a gap can hold a 16-aligned
// fit and still miss every A-aligned one; such "unlucky" gaps are visited
// and rejected, so the cost is O((1 + u) log n) where u counts the unlucky
// gaps lower (bottom-up) or higher (top-down) than the answer. A gap of
// own_fit >= s + A - 16 is never unlucky. This is the price of one
// aggregate rather than one per alignment; it is exact either way.
//
// Fix-up. Boost.Intrusive has no augmentation hook, so insert and erase
// are vad_tree's own AVL algorithms (climb_after_insert, climb_after_erase,
// rotate) over the nodes' Boost shape and balance encoding; Boost's
// avltree container walks and clears the tree as its own. The fields are
// kept in the rebalancing climb itself. Why that is complete:
//
//   child_max[s] of a node p is a function of the set of nodes in p's s
//   subtree and of their gaps. An insert or erase changes that set for the
//   ancestors of the place where a node joins or leaves (for an erase with
//   two children, the successor's old place: the successor takes the erased
//   node's place and fields), and changes one gap: the successor's, which
//   is an ancestor of the new leaf on insert, and on erase the node taking
//   the erased one's place, the erased node's right leaf, or the first
//   ancestor the climb enters from the left. So only fields on one path up
//   can change, plus those of the nodes a rotation moves. A rotation does
//   not change the set of nodes below the subtree it turns, and rotate()
//   recomputes the fields of the two or three nodes it moves from the
//   subtrees it keeps whole, whose fields are already right. The climb
//   writes one field per level and goes on while the subtree's height
//   changed (the AVL rebalancing), the successor still lies above, or the
//   field it wrote took a new value. Once none holds, every field above is
//   a maximum over unchanged subtrees and gaps, so it is already right.
//   (insert() does not test: it writes every field up to the root, which
//   is right a fortiori.)
//
// An erase that makes a gap bigger than any other (freeing a VAD between
// two wide gaps) carries the new maximum to the root, and the next insert
// there carries it back: a field per level is the price of an exact
// aggregate. Each level reads the parent pointer and one field, and the
// fit goes up in a register, never read back from the store it just made.
// insert() keeps the path its own descent took (descent_path) and climbs
// that instead of the parent links, writing every field to the root with
// no test: there a level costs a load, a max and a store, and the test's
// exit, a branch the predictor loses, cost more (erase + insert at 1e3 VADs
// 92 -> 88 ns). erase(find_for_erase(p)), the erase of the VAD at an
// address, does the same: find_for_erase descends by start, which turns
// right at the VAD and then left down to its in-order successor, so its
// path holds every node the erase's climb passes (the successor takes the
// VAD's step). That made find + erase at 1e3 VADs 65 -> 60 ns in a
// standalone driver, and 385 -> 270 ns at 1e5 in bench_vad.
// insert_commit and erase(Vad&) climb by parent links, where each level
// waits for a load and stopping early pays: with every climb run to the
// root, an address space's reserve/release pair at one end of the tree
// cost 1.7x as much (36.6 against 21.2 ns at 1e3 VADs).
// (Earlier versions let Boost rebalance and repaired after it, or kept the
// fields in the traits as Boost relinked: two climbs per change where one
// does, and erase+insert 20% slower. Keeping the path of a lookup in the
// tree itself, for the erase after it, saved 1 ns in 85 and was dropped.)
//
// The balance sits in a byte of its own (vad.hpp): a climb that sets a
// balance and then reads the parent pointer never waits for the store.
// Lookups descend without branches (lower_bound_end, and
// last_starting_at_or_below for find_for_erase).
//
// Complexity: find_containing and find_for_erase O(log n) (the first O(1)
// on a hint hit), insert_check O(log n), insert_commit and erase O(log n)
// (one climb: rebalancing and the fix-up), resize O(log n) with no
// rebalancing at all, find_free_range as above, iteration O(1) amortised
// per step. check_invariants O(n).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/vad/vad.hpp>

#include <boost/intrusive/avltree.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

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
/// the fit aggregate is exact for and the least a search may ask for.
inline constexpr std::uint64_t granularity_pages =
    allocation_granularity / page_size;

namespace detail {

/// Boost.Intrusive value traits binding a VadNode type to its vad_links
/// base, in safe-link mode (an unlinked node has a null parent, and Boost
/// asserts that a node it inserts is unlinked).
template <class Vad>
struct vad_value_traits {
  using node_traits = vad_node_traits;
  using node_ptr = vad_node_traits::node_ptr;
  using const_node_ptr = vad_node_traits::const_node_ptr;
  using value_type = Vad;
  using pointer = Vad*;
  using const_pointer = const Vad*;
  static constexpr boost::intrusive::link_mode_type link_mode =
      boost::intrusive::safe_link;

  static node_ptr to_node_ptr(value_type& v) noexcept {
    return static_cast<vad_links*>(static_cast<vad*>(&v));
  }
  static const_node_ptr to_node_ptr(const value_type& v) noexcept {
    return static_cast<const vad_links*>(static_cast<const vad*>(&v));
  }
  static pointer to_value_ptr(node_ptr n) noexcept {
    return static_cast<Vad*>(static_cast<vad*>(n));
  }
  static const_pointer to_value_ptr(const_node_ptr n) noexcept {
    return static_cast<const Vad*>(static_cast<const vad*>(n));
  }
};

/// The most nodes a path from the root down can pass in an AVL tree of at
/// most max(size_t) nodes: the smallest AVL tree of depth h has
/// N(h) = N(h - 1) + N(h - 2) + 1 nodes (N(1) = 1, N(2) = 2).
constexpr unsigned avl_max_depth() noexcept {
  constexpr std::size_t most = std::numeric_limits<std::size_t>::max();
  std::size_t shorter = 1, n = 2;  // N(h - 1), N(h)
  unsigned h = 2;
  while (n <= most - shorter - 1) {  // N(h + 1) still counts nodes
    const std::size_t taller = n + shorter + 1;
    shorter = n;
    n = taller;
    ++h;
  }
  return h;
}
static_assert(sizeof(std::size_t) != 8 || avl_max_depth() == 91);

/// The nodes a descent passed, root first, each with the side it took
/// there in bit 0 (nodes are at least 2-byte aligned): what a climb after
/// an insert or erase reads instead of the parent links.
struct descent_path {
  static_assert(alignof(vad_links) >= 2);
  std::uintptr_t steps[avl_max_depth()];
  unsigned depth = 0;
  static std::uintptr_t step(vad_links* x, bool right) noexcept {
    return reinterpret_cast<std::uintptr_t>(x) | right;
  }
  static vad_links* node(std::uintptr_t s) noexcept {
    return reinterpret_cast<vad_links*>(s & ~std::uintptr_t{1});
  }
};

}  // namespace detail

template <class Vad = vad>
class vad_tree {
  static_assert(VadNode<Vad>, "vad_tree<Vad> needs Vad derived from vad");

  struct start_less {
    bool operator()(const vad& a, const vad& b) const noexcept {
      return a.start() < b.start();
    }
  };
  using value_traits = detail::vad_value_traits<Vad>;
  using tree_type =
      boost::intrusive::avltree<Vad,
                                boost::intrusive::value_traits<value_traits>,
                                boost::intrusive::constant_time_size<false>,
                                boost::intrusive::compare<start_less>>;
  using node_traits = detail::vad_node_traits;
  using node_ptr = node_traits::node_ptr;

 public:
  using value_type = Vad;
  using iterator = typename tree_type::iterator;
  using const_iterator = typename tree_type::const_iterator;
  using reverse_iterator = typename tree_type::reverse_iterator;
  using const_reverse_iterator = typename tree_type::const_reverse_iterator;
  using size_type = std::size_t;

  /// Where a range would go, as insert_check or find_free_slot found it:
  /// what insert_commit needs to link it without another descent. Valid
  /// until the tree next changes.
  class insert_commit_data {
   public:
    insert_commit_data() noexcept = default;
    /// The range this position was found for.
    vpn_range range() const noexcept { return range_; }

   private:
    friend class vad_tree;
    node_ptr next_ = nullptr;  // the in-order successor, or the header
    node_ptr link_ = nullptr;  // the node the new one hangs below
    bool link_left_ = false;   // ... as its left child
    std::uint64_t free_lo_{};  // one past the predecessor's end, or 0
    vpn_range range_{};
  };

  /// The VAD containing a VPN, as find_for_erase found it, with the path of
  /// that lookup, so that erase(erase_data&) climbs the path instead of the
  /// parent links. Valid until the tree next changes. Its size is the
  /// path's: detail::avl_max_depth() words (728 bytes on a 64-bit host).
  class erase_data {
   public:
    erase_data() noexcept = default;
    /// The VAD found, or null when none contains the VPN.
    Vad* vad() const noexcept { return vad_; }

   private:
    friend class vad_tree;
    detail::descent_path path_;
    unsigned at_ = 0;  // the step of vad() in path_
    Vad* vad_ = nullptr;
  };

  /// An empty tree whose floor is VPN 0: every free page counts.
  vad_tree() noexcept = default;
  /// An empty tree whose free-range searches never return a page below
  /// `floor` (an address space's lowest user VPN).
  explicit vad_tree(vpn floor) noexcept : floor_(floor.raw()) {}
  vad_tree(const vad_tree&) = delete;
  vad_tree& operator=(const vad_tree&) = delete;
  /// Unlinks every VAD (the nodes stay the caller's).
  ~vad_tree() { clear(); }

  // --- size and iteration -------------------------------------------------
  size_type size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
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
    size_ = 0;
    hint_ = nullptr;
  }

  // --- the floor ----------------------------------------------------------
  /// The lowest VPN a free-range search may return; free pages below it
  /// are in no gap.
  vpn floor() const noexcept { return vpn{floor_}; }
  /// Effects: moves the floor and recomputes every gap and aggregate.
  /// Complexity: O(1) when empty, else O(n): set it before inserting.
  void set_floor(vpn floor) noexcept {
    floor_ = floor.raw();
    std::uint64_t next_free = 0;  // one past the previous VAD's end
    for (Vad& v : tree_) {
      set_gap(&v, gap_from(next_free, v.start_.raw()));
      next_free = v.end_.raw() + 1;  // no wrap matters: nothing follows
    }
    (void)rebuild(node_traits::get_parent(header()));
  }

  // --- lookup -------------------------------------------------------------
  /// The VAD containing `p`, or null. Tries the last hit first (NT's
  /// VadHint) and remembers the answer.
  /// Complexity: O(1) on a hint hit, O(log n) otherwise.
  Vad* find_containing(vpn p) noexcept {
    if (hint_holds(p)) return hint_;
    Vad* v = find_containing_no_hint(p);
    if (v) hint_ = v;
    return v;
  }
  const Vad* find_containing(vpn p) const noexcept {
    return const_cast<vad_tree*>(this)->find_containing(p);
  }
  /// find_containing without reading or updating the hint.
  Vad* find_containing_no_hint(vpn p) const noexcept {
    Vad* v = first_at_or_after(p);
    return v && v->start_ <= p ? v : nullptr;
  }

  /// The first VAD that ends at or after `p` (the one containing `p`, or
  /// the next one above it), or null. Complexity: O(log n).
  Vad* first_at_or_after(vpn p) const noexcept {
    const node_ptr x = lower_bound_end(p.raw());
    return x != header() ? value_of(x) : nullptr;
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
    return check(r, nullptr);
  }

  /// Effects: links `v` where insert_check or find_free_slot said.
  /// Requires: `d` came from one of them for v.range() with no change to
  /// the tree since; `v` is not linked. Complexity: O(log n).
  void insert_commit(Vad& v, const insert_commit_data& d) noexcept {
    parent_walk w{header()};
    commit(v, d, w);
  }

  /// Effects: inserts `v` unless a VAD intersects its range.
  /// Returns: status::conflicting_addresses (tree unchanged) or success.
  /// Requires: `v` is not linked. Complexity: O(log n). Stack: the descent's
  /// path, detail::avl_max_depth() words (91 on a 64-bit host, 728 bytes); a
  /// kernel short of stack inserts with insert_check + insert_commit.
  result<void> insert(Vad& v) noexcept {
    // The descent's path is kept, so the climb after linking reads it
    // rather than the parent links.
    descent_path path;
    auto d = check(v.range(), &path);
    if (!d) return d.error();
    // A descent to a null child ends where the new leaf hangs.
    MMKIT_ASSERT(path.depth == 0 ||
                 path.steps[path.depth - 1] ==
                     descent_path::step(d->link_, !d->link_left_));
    path_walk w{path, path.depth ? path.depth - 1 : 0};
    commit(v, *d, w);
    return {};
  }

  /// Effects: unlinks `v`. Requires: `v` is in this tree.
  /// Complexity: O(log n).
  void erase(Vad& v) noexcept {
    parent_walk w{header()};
    unlink(v, w, 0);
  }

  /// The VAD containing `p`, with the path of the lookup (see erase_data);
  /// vad() is null when none contains p. A hint hit (find_containing's last
  /// answer) is taken without a descent and records no path: the erase
  /// then climbs by parent links, through nodes a recent lookup or insert
  /// left in the cache. Does not set the hint.
  /// Complexity: O(1) on a hint hit, O(log n) otherwise.
  erase_data find_for_erase(vpn p) const noexcept {
    erase_data d;
    if (hint_holds(p)) {
      d.vad_ = hint_;  // path_.depth stays 0: no path
      return d;
    }
    const node_ptr z = last_starting_at_or_below(p.raw(), d.path_, d.at_);
    if (z && p <= value_of(z)->end_) d.vad_ = value_of(z);
    return d;
  }

  /// Effects: unlinks d.vad(), climbing the path find_for_erase recorded:
  /// what NtFreeVirtualMemory does with a whole reservation (find it by
  /// address, then remove it), cheaper than erase(Vad&) after a lookup.
  /// Requires: d came from find_for_erase with no change to the tree since,
  /// and d.vad() is not null. Complexity: O(log n).
  void erase(erase_data& d) noexcept {
    MMKIT_ASSERT(d.vad_ != nullptr);
    if (d.path_.depth == 0) {  // a hint hit
      erase(*d.vad_);
      return;
    }
    MMKIT_ASSERT(path_is_current(d));
    path_walk w{d.path_, 0};
    unlink(*d.vad_, w, d.at_);
  }

  /// Effects: gives `v` the range `r` in place, without unlinking it,
  /// when `r` stays clear of v's neighbours (always so when `r` lies inside
  /// v's range: NtFreeVirtualMemory of the head or tail of a reservation).
  /// Returns: status::conflicting_addresses, `v` unchanged, when `r` would
  /// touch a neighbour. Requires: `v` is in this tree; r.first <= r.last.
  /// Complexity: O(log n), and no rebalancing: cheaper than erase + insert.
  result<void> resize(Vad& v, vpn_range r) noexcept {
    MMKIT_ASSERT(v.is_linked());
    MMKIT_ASSERT(r.first <= r.last);
    const node_ptr x = value_traits::to_node_ptr(v);
    const node_ptr pred = neighbour(x, 0);
    const node_ptr succ = neighbour(x, 1);
    if (pred && !(value_of(pred)->end_ < r.first))
      return status::conflicting_addresses;
    if (succ && !(r.last < value_of(succ)->start_))
      return status::conflicting_addresses;
    v.start_ = r.first;
    v.end_ = r.last;
    set_gap(&v,
            gap_from(pred ? value_of(pred)->end_.raw() + 1 : 0, r.first.raw()));
    if (succ)
      set_gap(value_of(succ),
              gap_from(r.last.raw() + 1, value_of(succ)->start_.raw()));
    // Two gaps changed; each chain of fields is settled in turn (the
    // second stops where the first left the fields sound).
    settle(x, subtree_fit(x));
    if (succ) settle(succ, subtree_fit(succ));
    return {};
  }

  // --- free-range search --------------------------------------------------
  /// The lowest (bottom_up) or highest (top_down) VPN v such that
  /// [v, v + pages - 1] lies inside `window` and at or above the floor,
  /// touches no VAD, and v is a multiple of `alignment` (in pages).
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
    auto slot = find_free_slot(pages, window, dir, alignment);
    if (!slot) return slot.error();
    return slot->range_.first;
  }

  /// find_free_range, answered as the insert position of the range found
  /// (its range() is the answer), so that reserving it is one
  /// insert_commit with no second descent: what NtAllocateVirtualMemory
  /// without a base does. Same statuses and complexity.
  result<insert_commit_data> find_free_slot(
      std::uint64_t pages, vpn_range window,
      search_direction dir = search_direction::bottom_up,
      std::uint64_t alignment = granularity_pages) const noexcept {
    if (pages == 0 || !is_power_of_two(alignment) ||
        alignment < granularity_pages || window.last < window.first)
      return status::invalid_parameter;
    const std::uint64_t lo =
        window.first.raw() > floor_ ? window.first.raw() : floor_;
    if (lo > window.last.raw()) return status::no_memory;
    const request q{pages, alignment, lo, window.last.raw(),
                    pages < fit_saturation ? pages : fit_saturation};
    const node_ptr hdr = header();
    const node_ptr root = node_traits::get_parent(hdr);
    // The free space above the highest VAD belongs to no node.
    const node_ptr top = node_traits::get_right(hdr);
    std::uint64_t tail_lo = 0;
    bool has_tail = true;
    if (root) {
      const std::uint64_t e = value_of(top)->end_.raw();
      has_tail = e != max_u64;
      tail_lo = e + 1;
    }
    hit h{};
    const bool found =
        dir == search_direction::bottom_up
            ? (root && subtree_fit(root) >= q.need && search_up(root, q, h)) ||
                  (has_tail && fit_up(tail_lo, max_u64, q, h.first))
            : (has_tail && fit_down(tail_lo, max_u64, q, h.first)) ||
                  (root && subtree_fit(root) >= q.need &&
                   search_down(root, q, h));
    if (!found) return status::no_memory;
    insert_commit_data d;
    d.range_ = {vpn{h.first}, vpn{h.first + (pages - 1)}};
    if (h.owner == nullptr) {
      // Above the highest VAD: the new node hangs right of it.
      d.next_ = hdr;
      d.link_left_ = !root;
      d.link_ = root ? top : hdr;
      d.free_lo_ = tail_lo;
    } else {
      // In the gap below `owner`, which becomes the successor.
      const Vad* o = value_of(h.owner);
      d.next_ = h.owner;
      d.free_lo_ = o->start_.raw() - o->gap_before_;
      node_ptr l = node_traits::get_left(h.owner);
      d.link_left_ = !l;
      if (l)
        while (node_traits::get_right(l)) l = node_traits::get_right(l);
      d.link_ = l ? l : h.owner;
    }
    return d;
  }

  // --- checks -------------------------------------------------------------
  /// Whether every invariant holds, recomputed from scratch: AVL shape and
  /// balance, parent links, size, address order without overlap, every
  /// gap_before, own fit and child fit, and the hint. Complexity: O(n).
  bool check_invariants() const noexcept {
    const node_ptr hdr = header();
    const node_ptr root = node_traits::get_parent(hdr);
    if (root && node_traits::get_parent(root) != hdr) return false;
    check_state st{floor_};
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
    for (node_ptr x = node_traits::get_parent(value_traits::to_node_ptr(v));
         x != hdr; x = node_traits::get_parent(x))
      ++level;
    return level;
  }
  /// The left and right children of `v` (null when absent), for pictures.
  const Vad* left_of(const Vad& v) const noexcept {
    const node_ptr c = node_traits::get_left(value_traits::to_node_ptr(v));
    return c ? value_of(c) : nullptr;
  }
  const Vad* right_of(const Vad& v) const noexcept {
    const node_ptr c = node_traits::get_right(value_traits::to_node_ptr(v));
    return c ? value_of(c) : nullptr;
  }

 private:
  // --- aggregate arithmetic ----------------------------------------------
  static constexpr std::uint64_t max_u64 =
      std::numeric_limits<std::uint64_t>::max();

  /// The pages of [max(free_lo, floor), start - 1]: the gap below a VAD at
  /// `start` whose predecessor ends at free_lo - 1 (free_lo = 0: none).
  std::uint64_t gap_from(std::uint64_t free_lo,
                         std::uint64_t start) const noexcept {
    const std::uint64_t lo = free_lo > floor_ ? free_lo : floor_;
    return start > lo ? start - lo : 0;
  }
  /// The free pages of [lo, hi] that start on a 16-page boundary.
  static constexpr std::uint64_t granule_fit(std::uint64_t lo,
                                             std::uint64_t hi) noexcept {
    if (lo > max_u64 - (granularity_pages - 1)) return 0;
    const std::uint64_t a =
        (lo + granularity_pages - 1) & ~(granularity_pages - 1);
    return a <= hi ? hi - a + 1 : 0;
  }
  /// Sets a gap and the own fit cached beside it.
  static void set_gap(vad* v, std::uint64_t gap) noexcept {
    v->gap_before_ = gap;
    v->own_fit_ =
        detail::saturate_fit(detail::granule_fit_below(v->start_.raw(), gap));
  }
  /// The largest fit of x's subtree, from x's own fields alone.
  static std::uint32_t max_fit(std::uint32_t a, std::uint32_t b,
                               std::uint32_t c) noexcept {
    const std::uint32_t m = a > b ? a : b;
    return m > c ? m : c;
  }
  static std::uint32_t subtree_fit(node_ptr x) noexcept {
    const Vad* v = value_of(x);
    return max_fit(v->own_fit_, v->child_max_[0], v->child_max_[1]);
  }
  static std::uint32_t fit_of(node_ptr x) noexcept {
    return x ? subtree_fit(x) : 0;
  }
  /// Recomputes every field of x's subtree, children first; returns its
  /// fit. Complexity: O(size of the subtree); recursion depth the height.
  static std::uint32_t rebuild(node_ptr x) noexcept {
    if (!x) return 0;
    Vad* v = value_of(x);
    v->child_max_[0] = rebuild(node_traits::get_left(x));
    v->child_max_[1] = rebuild(node_traits::get_right(x));
    return subtree_fit(x);
  }

  /// The in-order predecessor (side 0) or successor (side 1) of x, or
  /// null. Complexity: O(log n), O(1) amortised over a walk.
  node_ptr neighbour(node_ptr x, unsigned side) const noexcept {
    node_ptr c = node_traits::get_child(x, side);
    if (c) {
      while (node_traits::get_child(c, side ^ 1))
        c = node_traits::get_child(c, side ^ 1);
      return c;
    }
    const node_ptr hdr = header();
    node_ptr up = node_traits::get_parent(x);
    while (up != hdr && node_traits::get_child(up, side) == x) {
      x = up;
      up = node_traits::get_parent(up);
    }
    return up == hdr ? nullptr : up;
  }

  // --- climbing -----------------------------------------------------------
  using descent_path = detail::descent_path;
  /// A climb's way up: to the parent of p, and the side p hangs on there.
  /// Returns false above the root.
  ///
  /// parent_walk follows the parent links: each level waits for the load
  /// of the one below it.
  struct parent_walk {
    node_ptr hdr;
    bool up(node_ptr& p, unsigned& side) const noexcept {
      const node_ptr c = p;
      p = p->parent_;
      if (p == hdr) return false;
      side = p->child_[1] == c;
      return true;
    }
  };
  /// path_walk reads the path the insert's own descent recorded, so no
  /// level waits for another. A rotation below leaves it valid: the node it
  /// brings up takes the rotated one's place on the same side.
  struct path_walk {
    descent_path& path;
    unsigned at;  // the step of the node the climb is at
    bool up(node_ptr& p, unsigned& side) noexcept {
      if (at == 0) return false;
      const std::uintptr_t s = path.steps[--at];
      p = descent_path::node(s);
      side = static_cast<unsigned>(s & 1);
      return true;
    }
  };

  // --- insert, in two steps ----------------------------------------------
  /// insert_check, recording the descent in `*path` when it is not null.
  result<insert_commit_data> check(vpn_range r,
                                   descent_path* path) const noexcept {
    MMKIT_ASSERT(r.first <= r.last);
    node_ptr prev = nullptr;
    const node_ptr next = lower_bound_end(r.first.raw(), &prev, path);
    const node_ptr hdr = header();
    if (next != hdr && value_of(next)->start_ <= r.last)
      return status::conflicting_addresses;
    // The new node hangs below `next` when `next` has no left child, else
    // below `prev` (then the rightmost node of next's left subtree); in an
    // empty tree below the header.
    insert_commit_data d;
    d.next_ = next;
    d.link_left_ = next != hdr ? !node_traits::get_left(next) : !prev;
    d.link_ = d.link_left_ ? next : prev;
    d.free_lo_ = prev ? value_of(prev)->end_.raw() + 1 : 0;
    d.range_ = r;
    return d;
  }

  /// insert_commit, climbing with `w` (which starts at d.link_).
  template <class Walk>
  void commit(Vad& v, const insert_commit_data& d, Walk& w) noexcept {
    MMKIT_ASSERT(!v.is_linked());
    MMKIT_ASSERT(d.next_ != nullptr && d.range_ == v.range());
    const node_ptr hdr = header();
    const node_ptr x = value_traits::to_node_ptr(v);
    set_gap(&v, gap_from(d.free_lo_, v.start_.raw()));
    v.child_max_[0] = v.child_max_[1] = 0;
    x->child_[0] = x->child_[1] = nullptr;
    node_traits::set_balance(x, node_traits::zero());
    x->parent_ = d.link_;
    ++size_;
    // A range just reserved is the likeliest next lookup (commit, touch,
    // free): it becomes the hint.
    hint_ = &v;
    if (d.link_ == hdr) {  // the first VAD
      hdr->parent_ = x;
      hdr->child_[0] = hdr->child_[1] = x;
      return;
    }
    const unsigned side = d.link_left_ ? 0 : 1;
    d.link_->child_[side] = x;
    // A new lowest or highest VAD hangs below the old one.
    if (hdr->child_[side] == d.link_) hdr->child_[side] = x;
    node_ptr next = nullptr;
    if (d.next_ != hdr) {  // the successor's gap shrinks
      next = d.next_;
      Vad* n = value_of(next);
      set_gap(n, gap_from(v.end_.raw() + 1, n->start_.raw()));
    }
    climb_after_insert(d.link_, side, v.own_fit_, next, w);
  }

  // --- erase --------------------------------------------------------------
  /// erase, climbing with `w`. For a path_walk, `zi` is v's step in the
  /// path, which descended by start (last_starting_at_or_below): right at
  /// v and then left down to its successor, the path's last node, when v
  /// has a right subtree.
  template <class Walk>
  void unlink(Vad& v, Walk& w, unsigned zi) noexcept {
    MMKIT_ASSERT(v.is_linked());
    if (hint_ == &v) hint_ = nullptr;
    const node_ptr z = value_traits::to_node_ptr(v);
    const node_ptr hdr = header();
    const node_ptr zl = z->child_[0];
    const node_ptr zr = z->child_[1];
    const node_ptr zp = z->parent_;
    const unsigned zside = zp->child_[1] == z;
    // The lowest free page below v that counts: v's gap's first page, or
    // the floor when v lies wholly below it. The successor's gap will
    // start there.
    const std::uint64_t s = v.start_.raw();
    const std::uint64_t free_lo = s >= floor_ ? s - v.gap_before_ : floor_;
    // A node with one child has a leaf there (AVL), so the lowest and
    // highest VADs move at most one link.
    const bool highest = hdr->child_[1] == z;
    if (hdr->child_[0] == z) hdr->child_[0] = zr ? zr : zp;
    if (hdr->child_[1] == z) hdr->child_[1] = zl ? zl : zp;

    erase_climb c;
    if (zl && zr) {
      // The successor y, the lowest node of the right subtree, takes z's
      // place, links and balance; its own place goes to its right child.
      node_ptr y = zr;
      while (y->child_[0]) y = y->child_[0];
      Vad* yv = value_of(y);
      const node_ptr yr = y->child_[1];
      if constexpr (std::is_same_v<Walk, path_walk>) {
        // y takes z's step (the descent went right there); the climb starts
        // at y there, or at y's old parent, the step above y's.
        MMKIT_ASSERT(descent_path::node(w.path.steps[w.path.depth - 1]) == y);
        w.path.steps[zi] = descent_path::step(y, true);
        w.at = y == zr ? zi : w.path.depth - 2;
      }
      if (y == zr) {
        c = {y, 1, fit_of(yr)};  // y's right side is one lower than z's was
      } else {
        const node_ptr yp = y->parent_;
        yp->child_[0] = yr;
        if (yr) yr->parent_ = yp;
        y->child_[1] = zr;
        zr->parent_ = y;
        yv->child_max_[1] = value_of(z)->child_max_[1];
        c = {yp, 0, fit_of(yr)};
      }
      y->child_[0] = zl;
      zl->parent_ = y;
      yv->child_max_[0] = value_of(z)->child_max_[0];
      node_traits::set_balance(y, node_traits::get_balance(z));
      y->parent_ = zp;
      if (zp == hdr)
        hdr->parent_ = y;  // the root hangs from the header's parent link
      else
        zp->child_[zside] = y;
      // y's gap grows; the climb passes y's new place.
      set_gap(yv, gap_from(free_lo, yv->start_.raw()));
      c.reach = y;
    } else {
      const node_ptr x = zl ? zl : zr;
      if (x) x->parent_ = zp;
      if (zp == hdr)
        hdr->parent_ = x;
      else
        zp->child_[zside] = x;
      if (zr) {
        // The successor is that right leaf.
        Vad* succ = value_of(zr);
        set_gap(succ, gap_from(free_lo, succ->start_.raw()));
      } else {
        // The successor is the nearest ancestor z lies left of: the first
        // node the climb enters from the left, none for the highest VAD.
        c.find_next = !highest;
      }
      c.p = zp;
      c.side = zside;
      c.f = fit_of(x);
      if constexpr (std::is_same_v<Walk, path_walk>)
        w.at = zi - (zi != 0);  // zp's step (none: z was the root)
    }
    c.free_lo = free_lo;
    climb_after_erase(c, w);
    z->parent_ = z->child_[0] = z->child_[1] = nullptr;  // safe-link
    node_traits::set_balance(z, node_traits::zero());
    --size_;
  }

  // --- descent ------------------------------------------------------------
  /// The first node (in address order) whose end is at or above `p`, or the
  /// header when there is none; `*prev`, when asked, gets the last node
  /// ending below `p` (null for none). Every lookup and insert_check goes
  /// through here. The descent never stops early and picks each child with
  /// a conditional move rather than a branch: which way a random address
  /// goes is a coin toss the branch predictor loses half the time, and a
  /// lost toss costs more than the level or two an early exit would save.
  node_ptr lower_bound_end(std::uint64_t p,
                           node_ptr* prev = nullptr) const noexcept {
    return lower_bound_end(p, prev, static_cast<descent_path*>(nullptr));
  }
  /// The same descent, recording each node it passes and the side it took
  /// there in `*path` when `path` is not null.
  node_ptr lower_bound_end(std::uint64_t p, node_ptr* prev,
                           descent_path* path) const noexcept {
    node_ptr x = node_traits::get_parent(header());
    node_ptr next = header();
    node_ptr below = nullptr;
    unsigned depth = 0;
    while (x) {
      const std::uint64_t e = value_of(x)->end_.raw();
      node_ptr l = x->child_[0];
      const node_ptr r = x->child_[1];
      if (path) path->steps[depth++] = descent_path::step(x, e < p);
#if defined(__x86_64__) && defined(__GNUC__)
      // One compare and three conditional moves: a level costs a load, the
      // compare and one cmov on the critical path. Compilers will not emit
      // cmov here on their own (GCC branches, and mask arithmetic is two
      // more steps per level).
      __asm__(
          "cmpq %[p], %[e]\n\t"
          "cmovbq %[r], %[l]\n\t"
          "cmovaeq %[x], %[next]\n\t"
          "cmovbq %[x], %[below]"
          : [l] "+r"(l), [next] "+r"(next), [below] "+r"(below)
          : [e] "r"(e), [p] "r"(p), [r] "r"(r), [x] "r"(x)
          : "cc");
      x = l;
#else
      const bool right = e < p;
      next = select_unpredictable(right, next, x);
      below = select_unpredictable(right, x, below);
      x = select_unpredictable(right, r, l);
#endif
    }
    if (path) path->depth = depth;
    if (prev) *prev = below;
    return next;
  }

  /// The last node (in address order) whose start is at or below `p`, or
  /// null, recording the descent in `path` and the found node's step in
  /// `at`. A descent by start turns right at the node it finds and then
  /// left down to that node's in-order successor, the node an erase links
  /// in its place: the path holds every node erase's climb passes.
  /// Branch-free, like lower_bound_end.
  node_ptr last_starting_at_or_below(std::uint64_t p, descent_path& path,
                                     unsigned& at) const noexcept {
    node_ptr x = node_traits::get_parent(header());
    node_ptr best = nullptr;
    unsigned depth = 0;
    at = 0;
    while (x) {
      const std::uint64_t s = value_of(x)->start_.raw();
      node_ptr l = x->child_[0];
      const node_ptr r = x->child_[1];
      path.steps[depth] = descent_path::step(x, s <= p);
#if defined(__x86_64__) && defined(__GNUC__)
      __asm__(
          "cmpq %[p], %[s]\n\t"
          "cmovbeq %[r], %[l]\n\t"
          "cmovbeq %[x], %[best]\n\t"
          "cmovbel %[d], %[at]"
          : [l] "+r"(l), [best] "+r"(best), [at] "+r"(at)
          : [s] "r"(s), [p] "r"(p), [r] "r"(r), [x] "r"(x), [d] "r"(depth)
          : "cc");
      x = l;
#else
      const bool right = s <= p;
      best = select_unpredictable(right, x, best);
      at = select_unpredictable(right, depth, at);
      x = select_unpredictable(right, r, l);
#endif
      ++depth;
    }
    path.depth = depth;
    return best;
  }

  /// Whether d's path is still the tree's: every step's node hangs below
  /// the one before on the side recorded, and d.vad() is at its step.
  /// For asserts. Complexity: O(log n).
  bool path_is_current(const erase_data& d) const noexcept {
    const descent_path& path = d.path_;
    if (d.at_ >= path.depth) return false;
    if (descent_path::node(path.steps[d.at_]) !=
        value_traits::to_node_ptr(*d.vad_))
      return false;
    node_ptr up = header();
    for (unsigned i = 0; i < path.depth; ++i) {
      const node_ptr x = descent_path::node(path.steps[i]);
      if (x->parent_ != up) return false;
      if (i > 0 && up->child_[path.steps[i - 1] & 1] != x) return false;
      up = x;
    }
    return up->child_[path.steps[path.depth - 1] & 1] == nullptr;
  }

  // --- fix-up -------------------------------------------------------------
  /// Stores `f`, the fit of c's subtree, in the field c's parent keeps for
  /// c, and so on up (settle_slot).
  void settle(node_ptr c, std::uint32_t f) noexcept {
    const node_ptr p = c->parent_;
    settle_slot(p, p->child_[1] == c, f);
  }
  /// Stores `f` in p's field for its `side` subtree, then p's new fit in
  /// the field p's parent keeps for p, and so on up, stopping at the first
  /// field that already holds its value (nothing above it can change). The
  /// field is indexed rather than branched on: which side a node hangs on
  /// is a coin toss the branch predictor would lose half the time.
  /// Requires: every field is sound but for this chain. p may be the header
  /// (nothing to do).
  void settle_slot(node_ptr p, unsigned side, std::uint32_t f) noexcept {
    const node_ptr hdr = header();
    while (p != hdr) {
      Vad* pv = value_of(p);
      if (pv->child_max_[side] == f) return;
      pv->child_max_[side] = f;
      // fit(p) from the value in hand, not read back from the store.
      f = max_fit(f, pv->own_fit_, pv->child_max_[side ^ 1]);
      const node_ptr c = p;
      p = p->parent_;
      side = p->child_[1] == c;
    }
  }

  // --- rebalancing --------------------------------------------------------
  // The AVL insert and erase, with the fields kept in the same climb. Boost
  // reads the balance as 0 even, 1 left higher, 2 right higher: the side s
  // is higher when the balance is s + 1.
  static unsigned heavy(unsigned side) noexcept {
    return side + 1;
  }

  /// Hangs `r` where `old` hung below `pp` (the root when pp is the header).
  void replace_child(node_ptr pp, node_ptr old, node_ptr r) noexcept {
    r->parent_ = pp;
    if (pp == header())
      pp->parent_ = r;
    else
      pp->child_[pp->child_[1] == old] = r;
  }

  /// Hangs `c` (which may be null) below p on `side`, and records f, the
  /// fit of c's subtree, in p's field for that side.
  static void hang(node_ptr p, unsigned side, node_ptr c,
                   std::uint32_t f) noexcept {
    p->child_[side] = c;
    if (c) c->parent_ = p;
    value_of(p)->child_max_[side] = f;
  }

  /// Rotates the subtree at p, whose `side` is two levels higher than the
  /// other, so that it balances again; its fields are recomputed from the
  /// subtrees it keeps whole. Returns the subtree's new root.
  node_ptr rotate(node_ptr p, unsigned side) noexcept {
    const unsigned o = side ^ 1;
    const node_ptr pp = p->parent_;
    const node_ptr c = p->child_[side];
    Vad* cv = value_of(c);
    const unsigned cb = node_traits::get_balance(c);
    if (cb != heavy(o)) {
      // Single: c comes up, p goes down on the o side and takes c's o
      // subtree in its place.
      hang(p, side, c->child_[o], cv->child_max_[o]);
      hang(c, o, p, subtree_fit(p));
      if (cb == node_traits::zero()) {  // erase only: the height stays
        node_traits::set_balance(p, heavy(side));
        node_traits::set_balance(c, heavy(o));
      } else {
        node_traits::set_balance(p, node_traits::zero());
        node_traits::set_balance(c, node_traits::zero());
      }
      replace_child(pp, p, c);
      return c;
    }
    // Double: c's o child g comes up with c on its `side` and p on its o
    // side; g's subtrees go to c and p.
    const node_ptr g = c->child_[o];
    Vad* gv = value_of(g);
    hang(c, o, g->child_[side], gv->child_max_[side]);
    hang(p, side, g->child_[o], gv->child_max_[o]);
    hang(g, side, c, subtree_fit(c));
    hang(g, o, p, subtree_fit(p));
    const unsigned gb = node_traits::get_balance(g);
    node_traits::set_balance(
        p, gb == heavy(side) ? heavy(o) : node_traits::zero());
    node_traits::set_balance(
        c, gb == heavy(o) ? heavy(side) : node_traits::zero());
    node_traits::set_balance(g, node_traits::zero());
    replace_child(pp, p, g);
    return g;
  }

  /// After linking a leaf below p on `side` (its fit f): climbs while the
  /// subtree height grows (AVL), then fields only: on a recorded path to
  /// the root; by parent links up to the successor `next` (whose gap
  /// shrank: an ancestor of the leaf, or null) and then while the fields
  /// take new values. `w` starts at p.
  template <class Walk>
  void climb_after_insert(node_ptr p, unsigned side, std::uint32_t f,
                          node_ptr next, Walk& w) noexcept {
    // The AVL climb: the subtree below p on `side` is one level higher.
    for (;;) {
      Vad* pv = value_of(p);
      pv->child_max_[side] = f;
      if (p == next) next = nullptr;
      const unsigned b = node_traits::get_balance(p);
      if (b == heavy(side)) {
        p = rotate(p, side);  // the height is back to what it was
        f = subtree_fit(p);
        break;
      }
      // fit(p) from the value in hand, not read back from the store.
      f = max_fit(f, pv->own_fit_, pv->child_max_[side ^ 1]);
      if (b != node_traits::zero()) {  // the other side was higher
        node_traits::set_balance(p, node_traits::zero());
        break;
      }
      node_traits::set_balance(p, heavy(side));
      if (!w.up(p, side)) return;
    }
    // The height stays from here up.
    if constexpr (std::is_same_v<Walk, path_walk>) {
      // Every field to the root, with no test of what it held: on a
      // recorded path a level costs a load, a max and a store, less than
      // the mispredicted exit a test would add. (By parent links each
      // level waits for a load, and stopping early pays.)
      while (w.up(p, side)) {
        Vad* pv = value_of(p);
        pv->child_max_[side] = f;
        f = max_fit(f, pv->own_fit_, pv->child_max_[side ^ 1]);
      }
      return;
    } else {
      // Up to the successor, then while the fields take new values.
      for (;;) {
        if (!w.up(p, side)) return;
        if (!next) break;
        Vad* pv = value_of(p);
        pv->child_max_[side] = f;
        if (p == next) next = nullptr;
        f = max_fit(f, pv->own_fit_, pv->child_max_[side ^ 1]);
      }
      settle_slot(p, side, f);
    }
  }

  /// Where an erase's climb starts: the field of p's `side` subtree, now
  /// one level lower, is to hold f.
  struct erase_climb {
    node_ptr p = nullptr;
    unsigned side = 0;
    std::uint32_t f = 0;
    node_ptr reach = nullptr;  // an ancestor whose gap grew, to climb past
    bool find_next = false;    // the successor is the first node entered
                               // from the left; its gap grows to free_lo
    std::uint64_t free_lo = 0;
  };
  /// Climbs while the subtree height shrinks (AVL), a field changes, or a
  /// node whose gap grew is still above.
  template <class Walk>
  void climb_after_erase(erase_climb c, Walk& w) noexcept {
    const node_ptr hdr = header();
    node_ptr p = c.p;
    unsigned side = c.side;
    std::uint32_t f = c.f;
    node_ptr reach = c.reach;
    bool find_next = c.find_next;
    if (p == hdr) return;
    // Once the successor is found its gap grows, and the climb must pass it.
    const auto visit = [&](Vad* pv) {
      if (find_next && side == 0) {
        set_gap(pv, gap_from(c.free_lo, pv->start_.raw()));
        find_next = false;
        reach = p;
      }
      pv->child_max_[side] = f;
      if (p == reach) reach = nullptr;
    };
    // The AVL climb: the subtree below p on `side` is one level lower.
    for (;;) {
      Vad* pv = value_of(p);
      visit(pv);
      const unsigned b = node_traits::get_balance(p);
      if (b == heavy(side ^ 1)) {
        // The other side is two higher: rotate it up. The height stays
        // only when that side's child was even.
        const bool stays = node_traits::get_balance(p->child_[side ^ 1]) ==
                           node_traits::zero();
        p = rotate(p, side ^ 1);
        f = subtree_fit(p);
        if (stays) break;
      } else {
        // fit(p) from the value in hand, not read back from the store.
        f = max_fit(f, pv->own_fit_, pv->child_max_[side ^ 1]);
        if (b == node_traits::zero()) {
          node_traits::set_balance(p, heavy(side ^ 1));
          break;
        }
        node_traits::set_balance(p, node_traits::zero());
      }
      if (!w.up(p, side)) return;
    }
    if constexpr (std::is_same_v<Walk, path_walk>) {
      // On a recorded path, every field to the root with no test, as
      // insert() does (the successor's gap on the way).
      while (w.up(p, side)) {
        Vad* pv = value_of(p);
        visit(pv);
        f = max_fit(f, pv->own_fit_, pv->child_max_[side ^ 1]);
      }
      return;
    }
    // The height stays from here up; the fields still change up to the
    // successor, and then while they take new values.
    for (;;) {
      const node_ptr ch = p;
      p = p->parent_;
      if (p == hdr) return;
      side = p->child_[1] == ch;
      if (!find_next && !reach) break;
      Vad* pv = value_of(p);
      visit(pv);
      f = max_fit(f, pv->own_fit_, pv->child_max_[side ^ 1]);
    }
    settle_slot(p, side, f);
  }

  // --- search -------------------------------------------------------------
  struct request {
    std::uint64_t pages;
    std::uint64_t align;
    std::uint64_t lo;
    std::uint64_t hi;
    std::uint64_t need;  // pages, saturated like the fields
  };
  /// A search's answer: the first VPN and the node whose gap holds it
  /// (null: the free space above the highest VAD).
  struct hit {
    std::uint64_t first = 0;
    node_ptr owner = nullptr;
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
  // x.end). A subtree is skipped, without reading it, when x's field for it
  // proves no gap of it can fit, or when it lies outside the window.
  static bool search_up(node_ptr x, const request& q, hit& out) noexcept {
    const Vad* v = value_of(x);
    const std::uint64_t s = v->start_.raw();
    const std::uint64_t glo = s - v->gap_before_;
    if (v->child_max_[0] >= q.need && q.lo < glo &&
        search_up(node_traits::get_left(x), q, out))
      return true;
    if (glo > q.hi) return false;
    if (v->gap_before_ != 0 && fit_up(glo, s - 1, q, out.first)) {
      out.owner = x;
      return true;
    }
    return v->child_max_[1] >= q.need && v->end_.raw() < q.hi &&
           search_up(node_traits::get_right(x), q, out);
  }
  static bool search_down(node_ptr x, const request& q, hit& out) noexcept {
    const Vad* v = value_of(x);
    const std::uint64_t s = v->start_.raw();
    const std::uint64_t glo = s - v->gap_before_;
    if (v->child_max_[1] >= q.need && v->end_.raw() < q.hi &&
        search_down(node_traits::get_right(x), q, out))
      return true;
    if (s == 0 || s - 1 < q.lo) return false;
    if (v->gap_before_ != 0 && fit_down(glo, s - 1, q, out.first)) {
      out.owner = x;
      return true;
    }
    return v->child_max_[0] >= q.need && q.lo < glo &&
           search_down(node_traits::get_left(x), q, out);
  }

  // --- checker ------------------------------------------------------------
  struct check_state {
    std::uint64_t floor;
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
    const std::uint64_t free_lo_raw = st.prev ? st.prev->end_.raw() + 1 : 0;
    const std::uint64_t free_lo =
        free_lo_raw > st.floor ? free_lo_raw : st.floor;
    const std::uint64_t expect_gap =
        v->start_.raw() > free_lo ? v->start_.raw() - free_lo : 0;
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
    // The fields from the gaps themselves, never from stored values.
    ok = ok && v->child_max_[0] == detail::saturate_fit(lf.max_fit) &&
         v->child_max_[1] == detail::saturate_fit(rf.max_fit) &&
         v->own_fit_ == detail::saturate_fit(detail::granule_fit_below(
                            v->start_.raw(), expect_gap));
    std::uint64_t m = expect_gap ? granule_fit(v->start_.raw() - expect_gap,
                                               v->start_.raw() - 1)
                                 : 0;
    if (lf.max_fit > m) m = lf.max_fit;
    if (rf.max_fit > m) m = rf.max_fit;
    f.ok = ok;
    f.count = lf.count + rf.count + 1;
    f.height = 1 + (lf.height > rf.height ? lf.height : rf.height);
    f.max_fit = m;
    return f;
  }

  // --- plumbing -----------------------------------------------------------
  /// Whether the hint contains `p`, in one compare (p - start wraps above
  /// end - start when p < start): which side of the hint a miss falls on
  /// is a coin toss.
  bool hint_holds(vpn p) const noexcept {
    return hint_ && p - hint_->start_ <= hint_->end_ - hint_->start_;
  }
  static Vad* value_of(node_ptr n) noexcept {
    return value_traits::to_value_ptr(n);
  }
  static const Vad* value_of(const vad_links* n) noexcept {
    return value_traits::to_value_ptr(n);
  }
  node_ptr header() const noexcept {
    return const_cast<vad_links*>(tree_.end().pointed_node());
  }

  tree_type tree_;
  size_type size_ = 0;
  mutable Vad* hint_ = nullptr;
  std::uint64_t floor_ = 0;
};

static_assert(VadNode<vad>);

}  // namespace mmkit
