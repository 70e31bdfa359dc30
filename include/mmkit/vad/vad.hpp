#pragma once
// vad: one Virtual Address Descriptor, the record NT keeps for every
// reservation or mapped view of a process (MMVAD), as a node of vad_tree.
//
// The node is intrusive, so the tree never allocates: the caller owns every
// vad, in an array, a pool, or a `struct my_vad : vad` of its own that adds
// per-VAD fields. Derive, and give vad_tree<my_vad> the derived type; the
// tree only ever uses the members below.
//
// Layout, 64 bytes (one cache line) on every LP64 host:
//
//   offset  0  parent | balance    Boost.Intrusive's optimize_size encoding:
//                                  the AVL balance in the pointer's low bits
//           8  left, right
//          24  start_, end_        inclusive VPNs
//          40  gap_before_         free pages just below start_
//          48  child_fit_[2]       32-bit gap-search aggregates
//          56  u_                  commit | protection | type | flags
//
// A lookup reads bytes 8..39 of each node on its path; a free-range search
// and the tree's fix-up climb read bytes 0..55. The MMVAD_FLAGS word `u_`
// follows NT's x64 layout in spirit (CommitCharge is 51 bits there, 50
// here: the seventh flag, a view's inheritance, which NT keeps in
// MMVAD_FLAGS2, took a bit), encoded and decoded over the raw word:
//
//   63..57 flags (vad_flags)   56..55 type   54..50 protection   49..0 commit
//
// A mapped view also needs its section (NT: ControlArea) and the index of
// its first prototype PTE. Those 16 bytes will live in a `mapped_vad`
// derived from vad, so that private memory, most of an address space, keeps
// the one-line node; vad itself has no room for them.
//
// Aggregates (kept by vad_tree, read-only here; vad_tree.hpp says how):
//   gap_before_  the free pages between the in-order predecessor's end and
//                start_, counted from the tree's floor for the first VAD.
//                It depends only on the set of VADs, never on the shape.
//   child_fit_   the largest granule-aligned fit (see own_fit below) of any
//                gap in the left ([0]) or right ([1]) subtree, 0 for none,
//                saturated at fit_saturation (2^32 - 1 pages, 16 TiB).
//   own fit      the pages of gap_before_ that start on an allocation-
//                granularity boundary; computed from start_ and gap_before_
//                when needed, never stored.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>
#include <mmkit/core/protection.hpp>

#include <cstddef>
#include <cstdint>

namespace mmkit {

/// What a VAD describes (MMVAD_FLAGS PrivateMemory and ImageMap).
enum class vad_type : std::uint8_t {
  private_memory = 0,  // VirtualAlloc'd memory, backed by the page file
  mapped = 1,          // a view of a data section (file or page-file backed)
  image = 2,           // a view of an image section (an EXE or DLL)
};

/// The MMVAD_FLAGS bits that apply to a simulated address space.
enum class vad_flags : std::uint8_t {
  none = 0,
  mem_commit = 1u << 0,           // committed at reservation (MEM_COMMIT)
  no_change = 1u << 1,            // protection may not change (SEC_NO_CHANGE)
  large_pages = 1u << 2,          // MEM_LARGE_PAGES
  write_watch = 1u << 3,          // MEM_WRITE_WATCH
  physical_mapping = 1u << 4,     // maps device memory
  user_physical_pages = 1u << 5,  // AWE (MEM_PHYSICAL)
  view_unmap = 1u << 6,           // a view a fork leaves out (ViewUnmap)
};

constexpr vad_flags operator|(vad_flags a, vad_flags b) noexcept {
  return static_cast<vad_flags>(static_cast<std::uint8_t>(a) |
                                static_cast<std::uint8_t>(b));
}
constexpr vad_flags operator&(vad_flags a, vad_flags b) noexcept {
  return static_cast<vad_flags>(static_cast<std::uint8_t>(a) &
                                static_cast<std::uint8_t>(b));
}
constexpr vad_flags operator~(vad_flags a) noexcept {
  return static_cast<vad_flags>(~static_cast<std::uint8_t>(a) & 0x7Fu);
}

namespace detail {
struct vad_node_traits;
struct vad_fields;
}  // namespace detail

/// The AVL links every vad carries: the parent pointer with the balance in
/// its two low bits, and the left and right children. The tree's header (a
/// bare vad_links inside Boost's container) has the same links. A vad that
/// is in no tree has a null parent.
class vad_links {
 public:
  vad_links() noexcept = default;
  // Links belong to the tree a node is in, never to a copy of it.
  vad_links(const vad_links&) noexcept {}
  vad_links& operator=(const vad_links&) noexcept { return *this; }

  /// Whether the node is in a tree.
  bool is_linked() const noexcept { return (parent_ & ~balance_mask) != 0; }

 private:
  friend struct detail::vad_node_traits;
  static constexpr std::uintptr_t balance_mask = 3;
  std::uintptr_t parent_ = 0;                 // parent pointer | balance
  vad_links* child_[2] = {nullptr, nullptr};  // left, right
};

namespace detail {

/// Boost.Intrusive's NodeTraits over vad_links, as its compact AVL node
/// traits (optimize_size) encode them: balance 0 zero, 1 negative (left
/// higher), 2 positive (right higher), in the parent pointer's low bits.
/// Boost's avltree container walks, clears and checks the tree through
/// these; vad_tree links and rebalances through them too (vad_tree.hpp).
struct vad_node_traits {
  using node = vad_links;
  using node_ptr = vad_links*;
  using const_node_ptr = const vad_links*;
  using balance = unsigned;
  static constexpr std::uintptr_t mask = vad_links::balance_mask;

  static node_ptr get_parent(const_node_ptr n) noexcept {
    return reinterpret_cast<node_ptr>(n->parent_ & ~mask);
  }
  static void set_parent(node_ptr n, node_ptr p) noexcept {
    n->parent_ = reinterpret_cast<std::uintptr_t>(p) | (n->parent_ & mask);
  }
  /// Child 0 is the left one, child 1 the right one.
  static node_ptr get_child(const_node_ptr n, unsigned side) noexcept {
    return n->child_[side];
  }
  static void set_child(node_ptr n, unsigned side, node_ptr c) noexcept {
    n->child_[side] = c;
  }
  static node_ptr get_left(const_node_ptr n) noexcept { return n->child_[0]; }
  static void set_left(node_ptr n, node_ptr l) noexcept { n->child_[0] = l; }
  static node_ptr get_right(const_node_ptr n) noexcept { return n->child_[1]; }
  static void set_right(node_ptr n, node_ptr r) noexcept { n->child_[1] = r; }
  static balance get_balance(const_node_ptr n) noexcept {
    return static_cast<balance>(n->parent_ & mask);
  }
  static void set_balance(node_ptr n, balance b) noexcept {
    n->parent_ = (n->parent_ & ~mask) | b;
  }
  /// Unlinks n for good: null parent, balance zero, no children.
  static void reset(node_ptr n) noexcept {
    n->parent_ = 0;
    n->child_[0] = n->child_[1] = nullptr;
  }
  static constexpr balance zero() noexcept { return 0; }
  static constexpr balance negative() noexcept { return 1; }
  static constexpr balance positive() noexcept { return 2; }
  /// The balance that says `side` (0 left, 1 right) is the higher one.
  static constexpr balance heavy(unsigned side) noexcept { return side + 1; }
};

}  // namespace detail

/// The largest value a subtree-fit field holds: 2^32 - 1 pages (16 TiB). A
/// fit at least this large is recorded as this; vad_tree's search treats
/// it as "any size may fit here" and tests the gaps themselves.
inline constexpr std::uint64_t fit_saturation = 0xFFFFFFFFu;

namespace detail {
/// The pages of the gap [start - gap, start - 1] that start on an
/// allocation-granularity boundary, with no overflow for any start and gap:
/// the gap's first boundary lies (-(start - gap)) mod 16 pages into it.
constexpr std::uint64_t granule_fit_below(std::uint64_t start,
                                          std::uint64_t gap) noexcept {
  constexpr std::uint64_t g = allocation_granularity / page_size;
  const std::uint64_t skip = (std::uint64_t{0} - (start - gap)) & (g - 1);
  // max(gap - skip, 0) with a mask, not a branch: a climb computes it at
  // every level, and whether a gap holds a granule is a coin toss.
  const std::uint64_t keep = std::uint64_t{0} - std::uint64_t{gap > skip};
  return (gap - skip) & keep;
}
static_assert(granule_fit_below(0x20, 0x10) == 0x10);
static_assert(granule_fit_below(0x20, 0x0F) == 0);
static_assert(granule_fit_below(0x28, 0x20) == 0x18);
static_assert(granule_fit_below(0, 0) == 0);
static_assert(granule_fit_below(~std::uint64_t{0}, 5) == 0);
static_assert(granule_fit_below(0xFFFFFFFFFFFFFFF8u, 0x20) == 0x18);
/// Saturates a fit to the width of the subtree fields.
constexpr std::uint32_t saturate_fit(std::uint64_t fit) noexcept {
  return fit < fit_saturation ? static_cast<std::uint32_t>(fit)
                              : static_cast<std::uint32_t>(fit_saturation);
}
constexpr std::uint32_t max_fit(std::uint32_t a, std::uint32_t b,
                                std::uint32_t c) noexcept {
  const std::uint32_t m = a > b ? a : b;
  return m > c ? m : c;
}
}  // namespace detail

/// The MMVAD_FLAGS word, encoded over its raw 64 bits.
namespace vad_word {
using commit = bit_field<49, 0>;
using protection = bit_field<54, 50>;
using type = bit_field<56, 55>;
using flags = bit_field<63, 57>;
/// The largest commit charge a VAD can record: 50 bits (NT x64 has 51), still
/// far past the pages of any user space (LA57's has 2^44).
inline constexpr std::uint64_t max_commit = (std::uint64_t{1} << 50) - 1;
}  // namespace vad_word

/// One VAD. Derive from it to add fields; see the header comment.
class vad : public vad_links {
 public:
  vad() noexcept = default;

  /// Requires: range.first <= range.last; `protection` is a 5-bit MM_ value.
  vad(vpn_range range, vad_type type, std::uint8_t protection,
      vad_flags flags = vad_flags::none) noexcept
      : vad_links(), start_(range.first), end_(range.last) {
    MMKIT_ASSERT(range.first <= range.last);
    set_type(type);
    set_protection(protection);
    set_flags(flags);
  }

  // Copies carry the descriptor, never the links or the aggregates.
  vad(const vad& o) noexcept
      : vad_links(), start_(o.start_), end_(o.end_), u_(o.u_) {}
  vad& operator=(const vad& o) noexcept {
    MMKIT_ASSERT(!is_linked() || (start_ == o.start_ && end_ == o.end_));
    start_ = o.start_;
    end_ = o.end_;
    u_ = o.u_;
    return *this;
  }

  // --- the range ----------------------------------------------------------
  /// StartingVpn and EndingVpn, both inclusive.
  vpn start() const noexcept { return start_; }
  vpn end() const noexcept { return end_; }
  vpn_range range() const noexcept { return {start_, end_}; }
  /// The number of pages described (never 0; 2^64 pages cannot occur since
  /// VPNs are at most 52 bits wide).
  std::uint64_t pages() const noexcept { return (end_ - start_) + 1; }
  bool contains(vpn p) const noexcept { return start_ <= p && p <= end_; }

  /// Requires: the vad is not in a tree (vad_tree::resize moves a linked
  /// one); range.first <= range.last.
  void set_range(vpn_range range) noexcept {
    MMKIT_ASSERT(!is_linked());
    MMKIT_ASSERT(range.first <= range.last);
    start_ = range.first;
    end_ = range.last;
  }

  // --- MMVAD_FLAGS --------------------------------------------------------
  vad_type type() const noexcept {
    return static_cast<vad_type>(vad_word::type::get(u_));
  }
  void set_type(vad_type t) noexcept {
    MMKIT_ASSERT(static_cast<std::uint8_t>(t) <= 2);
    u_ = vad_word::type::set(u_, static_cast<std::uint64_t>(t));
  }
  /// MMVAD_FLAGS.PrivateMemory.
  bool private_memory() const noexcept {
    return type() == vad_type::private_memory;
  }
  /// The allocation protection, a 5-bit MM_ value (core/protection.hpp).
  std::uint8_t protection() const noexcept {
    return static_cast<std::uint8_t>(vad_word::protection::get(u_));
  }
  void set_protection(std::uint8_t mm_prot) noexcept {
    MMKIT_ASSERT(mm_prot <= mm::mask);
    u_ = vad_word::protection::set(u_, mm_prot);
  }
  /// Pages charged against the commit limit for this VAD.
  std::uint64_t commit_charge() const noexcept {
    return vad_word::commit::get(u_);
  }
  /// Requires: pages <= vad_word::max_commit.
  void set_commit_charge(std::uint64_t pages) noexcept {
    MMKIT_ASSERT(pages <= vad_word::max_commit);
    u_ = vad_word::commit::set(u_, pages);
  }
  vad_flags flags() const noexcept {
    return static_cast<vad_flags>(vad_word::flags::get(u_));
  }
  void set_flags(vad_flags f) noexcept {
    u_ = vad_word::flags::set(u_, static_cast<std::uint64_t>(f));
  }
  /// Whether every flag of `f` is set.
  bool has(vad_flags f) const noexcept { return (flags() & f) == f; }
  /// The raw MMVAD_FLAGS word (for dumps and snapshots).
  std::uint64_t flags_word() const noexcept { return u_; }

  // --- aggregates, for tests and pictures ---------------------------------
  std::uint64_t debug_gap_before() const noexcept { return gap_before_; }
  /// The largest granule-aligned fit of any gap in this VAD's subtree
  /// (saturated at fit_saturation).
  std::uint64_t debug_max_fit() const noexcept;

 private:
  friend struct detail::vad_fields;

  vpn start_{};
  vpn end_{};
  std::uint64_t gap_before_ = 0;
  std::uint32_t child_fit_[2] = {0, 0};  // left, right subtree
  std::uint64_t u_ = 0;
};

namespace detail {

/// The aggregate fields of a vad, for vad_tree and its free-range search
/// (the only code that writes them).
struct vad_fields {
  static std::uint64_t start(const vad& v) noexcept { return v.start_.raw(); }
  static std::uint64_t end(const vad& v) noexcept { return v.end_.raw(); }
  /// Moves a linked VAD's ends; vad_tree::resize keeps the order.
  static void set_ends(vad& v, vpn_range r) noexcept {
    v.start_ = r.first;
    v.end_ = r.last;
  }
  static std::uint64_t gap(const vad& v) noexcept { return v.gap_before_; }
  static void set_gap(vad& v, std::uint64_t gap) noexcept {
    v.gap_before_ = gap;
  }
  static std::uint32_t child_fit(const vad& v, unsigned side) noexcept {
    return v.child_fit_[side];
  }
  static void set_child_fit(vad& v, unsigned side, std::uint32_t f) noexcept {
    v.child_fit_[side] = f;
  }
  /// The granule-aligned pages of v's own gap, saturated.
  static std::uint32_t own_fit(const vad& v) noexcept {
    return saturate_fit(granule_fit_below(v.start_.raw(), v.gap_before_));
  }
  /// The fit of v's subtree, from v's fields alone.
  static std::uint32_t fit(const vad& v) noexcept {
    return max_fit(own_fit(v), v.child_fit_[0], v.child_fit_[1]);
  }
};

// All layout checks of the node in one place.
constexpr bool check_vad_layout() noexcept {
  static_assert(alignof(vad_links) > vad_node_traits::mask,
                "the balance lives in the parent pointer's low bits");
  static_assert(sizeof(void*) != 8 || sizeof(vad) == 64,
                "vad is one 64-byte cache line on LP64");
  static_assert(sizeof(vad) <= 64);
  static_assert(vad_word::flags::fits(0x3F), "six flag bits");
  return true;
}
static_assert(check_vad_layout());

}  // namespace detail

inline std::uint64_t vad::debug_max_fit() const noexcept {
  return detail::vad_fields::fit(*this);
}

}  // namespace mmkit
