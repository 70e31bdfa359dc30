#pragma once
// vad_tree: a process's VADs in address order, with O(log n) lookup,
// conflict check, insert, erase, in-place resize and free-range search
// under every constraint NT's allocator has (vad_free_range.hpp).
//
// The tree is a Boost.Intrusive AVL tree of caller-owned nodes (vad.hpp);
// it never allocates. As in Boost.Intrusive, the work is split three ways:
// node traits (vad.hpp: Boost's compact AVL encoding, the balance in the
// parent pointer), algorithms (vad_tree_algorithms.hpp: link, unlink and
// resize in one climb that rebalances and keeps the gap aggregates exact;
// vad_free_range.hpp: the search over those aggregates), and this
// container, which holds Boost's avltree for the header and the iterators
// and adds the size, the floor and the hint.
//
// Complexity: find_containing O(log n), O(1) on a hint hit (NT's VadHint);
// insert_check O(log n); insert_commit, insert and erase O(log n), one
// climb; resize O(log n) with no rebalancing; find_free_slot O(log n) for
// granule alignment; iteration O(1) amortised per step; check_invariants
// O(n).

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_free_range.hpp>
#include <mmkit/vad/vad_tree_algorithms.hpp>

#include <boost/intrusive/avltree.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mmkit {

/// A VAD node type: vad itself or a type derived from it.
template <class Vad>
concept VadNode = std::derived_from<Vad, vad>;

namespace detail {

/// Boost.Intrusive value traits binding a VadNode type to its vad_links
/// base, in safe-link mode (an unlinked node has a null parent).
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
  using nt = detail::vad_node_traits;
  using node_ptr = nt::node_ptr;
  using algo = detail::vad_tree_algorithms;

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
    detail::vad_link_point at_;
    vpn_range range_{};
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
    const node_ptr r = nt::get_parent(header());
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
    algo::rebuild(header(), floor_);
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
    const node_ptr b = algo::bracket_of(header(), p.raw()).below;
    return b && p <= value_of(b)->end() ? value_of(b) : nullptr;
  }

  /// The first VAD that ends at or after `p` (the one containing `p`, or
  /// the next one above it), or null. Complexity: O(log n).
  Vad* first_at_or_after(vpn p) const noexcept {
    const auto b = algo::bracket_of(header(), p.raw());
    if (b.below && p <= value_of(b.below)->end()) return value_of(b.below);
    return b.above != header() ? value_of(b.above) : nullptr;
  }
  /// The last VAD that ends before `p`, or null. Complexity: O(log n).
  Vad* last_before(vpn p) const noexcept {
    node_ptr b = algo::bracket_of(header(), p.raw()).below;
    if (b && !(value_of(b)->end() < p)) b = algo::neighbour(header(), b, 0);
    return b ? value_of(b) : nullptr;
  }
  /// The lowest VAD intersecting `r`, or null (the conflict check).
  /// Requires: r.first <= r.last. Complexity: O(log n).
  Vad* find_intersecting(vpn_range r) const noexcept {
    MMKIT_ASSERT(r.first <= r.last);
    Vad* v = first_at_or_after(r.first);
    return v && v->start() <= r.last ? v : nullptr;
  }

  // --- insert, erase, resize ----------------------------------------------
  /// Effects: none. Returns where `r` would be inserted, or
  /// status::conflicting_addresses when a VAD intersects it.
  /// Requires: r.first <= r.last. Complexity: O(log n).
  result<insert_commit_data> insert_check(vpn_range r) const noexcept {
    MMKIT_ASSERT(r.first <= r.last);
    insert_commit_data d;
    if (!algo::find_link_point(header(), r, d.at_))
      return status::conflicting_addresses;
    d.range_ = r;
    return d;
  }

  /// Effects: links `v` where insert_check or find_free_slot said, and
  /// makes it the hint (a range just reserved is the likeliest next
  /// lookup). Requires: `d` came from one of them for v.range() with no
  /// change to the tree since; `v` is not linked. Complexity: O(log n).
  void insert_commit(Vad& v, const insert_commit_data& d) noexcept {
    MMKIT_ASSERT(!v.is_linked());
    MMKIT_ASSERT(d.at_.next != nullptr && d.range_ == v.range());
    algo::link(header(), value_traits::to_node_ptr(v), d.at_, floor_);
    ++size_;
    hint_ = &v;
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
    algo::unlink(header(), value_traits::to_node_ptr(v), floor_);
    --size_;
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
    if (!algo::move(header(), value_traits::to_node_ptr(v), r, floor_))
      return status::conflicting_addresses;
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
  /// Complexity: O(log n) for alignment == granularity_pages; see
  /// vad_free_range.hpp for larger alignments.
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
    detail::free_range_request q;
    const status s =
        detail::make_free_range_request(pages, window, alignment, floor_, q);
    if (s != status::success) return s;
    const node_ptr hdr = header();
    const node_ptr root = nt::get_parent(hdr);
    const vad* highest = root ? value_of(nt::get_right(hdr)) : nullptr;
    detail::free_range_hit h;
    if (!detail::find_free(root, highest, q, dir, h)) return status::no_memory;
    insert_commit_data d;
    d.at_ = algo::link_point_below(hdr, const_cast<node_ptr>(h.owner));
    d.range_ = {vpn{h.first}, vpn{h.first + (pages - 1)}};
    return d;
  }

  // --- checks and pictures ------------------------------------------------
  /// Whether every invariant holds, recomputed from scratch: AVL shape and
  /// balance, parent links, size, address order without overlap, every
  /// gap_before and child fit, the lowest and highest links, and the hint.
  /// Complexity: O(n).
  bool check_invariants() const noexcept {
    std::size_t count = 0;
    if (!algo::check(header(), floor_, count) || count != size_) return false;
    return !hint_ || find_containing_no_hint(hint_->start()) == hint_;
  }

  /// The depth of `v` (the root is level 0), as `!vad` prints it.
  /// Requires: `v` is in this tree. Complexity: O(log n).
  unsigned level_of(const Vad& v) const noexcept {
    unsigned level = 0;
    const node_ptr hdr = header();
    for (node_ptr x = nt::get_parent(value_traits::to_node_ptr(v)); x != hdr;
         x = nt::get_parent(x))
      ++level;
    return level;
  }
  /// The left and right children of `v` (null when absent), for pictures.
  const Vad* left_of(const Vad& v) const noexcept {
    const node_ptr c = nt::get_left(value_traits::to_node_ptr(v));
    return c ? value_of(c) : nullptr;
  }
  const Vad* right_of(const Vad& v) const noexcept {
    const node_ptr c = nt::get_right(value_traits::to_node_ptr(v));
    return c ? value_of(c) : nullptr;
  }

 private:
  // --- plumbing -----------------------------------------------------------
  /// Whether the hint contains `p`, in one compare (p - start wraps above
  /// end - start when p < start): which side of the hint a miss falls on
  /// is a coin toss.
  bool hint_holds(vpn p) const noexcept {
    return hint_ && p - hint_->start() <= hint_->end() - hint_->start();
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
