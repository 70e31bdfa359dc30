#pragma once
// vad: one Virtual Address Descriptor, the record NT keeps for every
// reservation or mapped view of a process (MMVAD), as a node of vad_tree.
//
// The node is an intrusive Boost.Intrusive AVL node, so the tree never
// allocates: the caller owns every vad, in an array, a pool, or a
// `struct my_vad : vad` of its own that adds per-VAD fields. Derive, and give
// vad_tree<my_vad> the derived type; the tree only ever uses the members
// below.
//
// The links are mmkit's own (vad_links): three pointers and a balance
// byte, in the shape and encoding Boost.Intrusive's AVL algorithms use, read
// by Boost's avltree container through vad_node_traits. Unlike Boost's
// `optimize_size` hook the balance is not folded into the parent pointer:
// an AVL climb sets a node's balance and then reads its parent, and with
// both in one word every level would wait for the store to reach the load
// (some 5 cycles). The byte costs nothing: on Itanium-ABI compilers (GCC,
// Clang) vad's first field fills the rest of the links' last 8 bytes, and
// the node stays 88 bytes. vad_tree links, unlinks and rebalances nodes
// itself, keeping the gap fields below in the same climb (vad_tree.hpp).
//
// Layout (88 bytes on an LP64 Itanium-ABI host), hot fields first:
//
//   offset  0  parent, left, right
//          24  balance_, then own_fit_ at 28
//          32  start_, end_                  inclusive VPNs (lookup)
//          48  gap_before_                   free pages below start_
//          56  child_max_[2]                 32-bit gap-search aggregates
//          64  u_                            commit | protection | type | flags
//          72  section_, first_prototype_pte_ mapped views only
//
// A lookup touches bytes 8..47 of each node on its path, a free-range search
// and the fix-up bytes 0..63: one cache line when the node starts on one.
// The descriptor fields a lookup never reads come last. The MMVAD_FLAGS word
// `u_` follows NT's x64 layout in spirit (CommitCharge is 51 bits there too),
// encoded and decoded over the raw word:
//
//   63..58 flags (vad_flags)   57..56 type   55..51 protection   50..0 commit
//
// Aggregates (maintained by vad_tree, read-only here):
//   gap_before_  pages of free space between the in-order predecessor's end
//                and start_ (from the tree's floor, VPN 0 unless set, for
//                the first VAD; free pages below the floor never count). It
//                depends only on the set of VADs, never on the tree's shape.
//   own_fit_     the pages of gap_before_ that start on an allocation-
//                granularity boundary (a cache of a function of the gap).
//   child_max_   the largest own fit of any node of the left ([0]) or right
//                ([1]) subtree, 0 for none. Fields hold at most
//                fit_saturation (2^32 - 1 pages, 16 TiB). A node's own gap
//                enters its parent's field, never one of its own, so a gap
//                change costs one field per level. See vad_tree.hpp.

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
  return static_cast<vad_flags>(~static_cast<std::uint8_t>(a) & 0x3Fu);
}

namespace detail {
struct vad_node_traits;
}

/// The AVL links every vad carries: parent, left and right pointers and a
/// byte with the AVL balance. The tree's header (a bare vad_links inside
/// Boost's container) has the same links. A vad that is in no tree has a
/// null parent.
class vad_links {
 public:
  vad_links() noexcept = default;
  // Links belong to the tree a node is in, never to a copy of it.
  vad_links(const vad_links&) noexcept {}
  vad_links& operator=(const vad_links&) noexcept { return *this; }

  /// Whether the node is in a tree.
  bool is_linked() const noexcept { return parent_ != nullptr; }

 private:
  friend struct detail::vad_node_traits;
  template <class>
  friend class vad_tree;  // its insert and erase relink nodes directly
  vad_links* parent_ = nullptr;
  vad_links* child_[2] = {nullptr, nullptr};  // left, right
  std::uint8_t balance_ = 0;                  // vad_node_traits' encoding
};

/// The name the node's base had when it was Boost's own hook; kept for code
/// that spells it.
using vad_hook = vad_links;

namespace detail {

/// The node traits through which Boost.Intrusive's avltree container and
/// its iterators read vad_links (the NodeTraits interface of Boost's AVL
/// algorithms). Balance: 0 zero, 1 negative (left higher), 2 positive
/// (right higher). vad_tree links and rebalances with its own climb, which
/// keeps the gap fields as it goes (vad_tree.hpp), and keeps this shape and
/// encoding, so that Boost's container walks, clears and checks the tree.
struct vad_node_traits {
  using node = vad_links;
  using node_ptr = vad_links*;
  using const_node_ptr = const vad_links*;
  using balance = unsigned;

  static node_ptr get_parent(const_node_ptr n) noexcept { return n->parent_; }
  static void set_parent(node_ptr n, node_ptr p) noexcept { n->parent_ = p; }
  /// Child 0 is the left one, child 1 the right one.
  static node_ptr get_child(const_node_ptr n, unsigned side) noexcept {
    return n->child_[side];
  }
  static void set_child(node_ptr n, unsigned side, node_ptr c) noexcept {
    n->child_[side] = c;
  }
  static node_ptr get_left(const_node_ptr n) noexcept { return n->child_[0]; }
  static void set_left(node_ptr n, node_ptr l) noexcept { set_child(n, 0, l); }
  static node_ptr get_right(const_node_ptr n) noexcept { return n->child_[1]; }
  static void set_right(node_ptr n, node_ptr r) noexcept { set_child(n, 1, r); }
  static balance get_balance(const_node_ptr n) noexcept { return n->balance_; }
  static void set_balance(node_ptr n, balance b) noexcept {
    n->balance_ = static_cast<std::uint8_t>(b);
  }
  static constexpr balance zero() noexcept { return 0; }
  static constexpr balance negative() noexcept { return 1; }
  static constexpr balance positive() noexcept { return 2; }
};

}  // namespace detail

template <class Vad>
class vad_tree;

/// The largest value a VAD's subtree-fit fields hold: 2^32 - 1 pages (16
/// TiB). A fit at least this large is recorded as this; vad_tree's search
/// treats it as "any size may fit here" and tests the gaps themselves.
inline constexpr std::uint64_t fit_saturation = 0xFFFFFFFFu;

namespace detail {
/// The pages of the gap [start - gap, start - 1] that start on an
/// allocation-granularity boundary, with no overflow for any start and gap:
/// the gap's first boundary lies (-(start - gap)) mod 16 pages into it.
constexpr std::uint64_t granule_fit_below(std::uint64_t start,
                                          std::uint64_t gap) noexcept {
  constexpr std::uint64_t g = allocation_granularity / page_size;
  const std::uint64_t skip = (std::uint64_t{0} - (start - gap)) & (g - 1);
  return (gap > skip ? gap : skip) - skip;  // a max, with no branch
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
}  // namespace detail

/// The MMVAD_FLAGS word, encoded over its raw 64 bits.
namespace vad_word {
using commit = bit_field<50, 0>;
using protection = bit_field<55, 51>;
using type = bit_field<57, 56>;
using flags = bit_field<63, 58>;
/// The largest commit charge a VAD can record (as NT x64: 51 bits).
inline constexpr std::uint64_t max_commit = (std::uint64_t{1} << 51) - 1;
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
      : vad_links(),
        start_(o.start_),
        end_(o.end_),
        u_(o.u_),
        section_(o.section_),
        first_prototype_pte_(o.first_prototype_pte_) {}
  vad& operator=(const vad& o) noexcept {
    MMKIT_ASSERT(!is_linked() || (start_ == o.start_ && end_ == o.end_));
    start_ = o.start_;
    end_ = o.end_;
    u_ = o.u_;
    section_ = o.section_;
    first_prototype_pte_ = o.first_prototype_pte_;
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

  /// Requires: the vad is not in a tree; range.first <= range.last.
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

  // --- mapped views -------------------------------------------------------
  /// The section a mapped view belongs to (NT: ControlArea), opaque here.
  void* section() const noexcept { return section_; }
  void set_section(void* s) noexcept { section_ = s; }
  /// The index of the view's first prototype PTE in the system's pool.
  std::uint64_t first_prototype_pte() const noexcept {
    return first_prototype_pte_;
  }
  void set_first_prototype_pte(std::uint64_t index) noexcept {
    first_prototype_pte_ = index;
  }

  // --- aggregates, for tests and pictures ---------------------------------
  std::uint64_t debug_gap_before() const noexcept { return gap_before_; }
  /// The largest granule-aligned fit of any gap in this VAD's subtree
  /// (saturated at fit_saturation).
  std::uint64_t debug_max_fit() const noexcept {
    std::uint32_t m = own_fit_;
    if (child_max_[0] > m) m = child_max_[0];
    if (child_max_[1] > m) m = child_max_[1];
    return m;
  }

 private:
  template <class>
  friend class vad_tree;

  std::uint32_t own_fit_ = 0;  // first: it fills the links' tail padding
  vpn start_{};
  vpn end_{};
  std::uint64_t gap_before_ = 0;
  std::uint32_t child_max_[2] = {0, 0};  // left, right subtree
  std::uint64_t u_ = 0;
  void* section_ = nullptr;
  std::uint64_t first_prototype_pte_ = 0;
};

namespace detail {
// All layout checks of the node in one place.
constexpr bool check_vad_layout() noexcept {
#if defined(__GNUC__) && !defined(_MSC_VER)
  // Itanium ABI: vad's first field goes into the links' tail padding.
  static_assert(sizeof(void*) != 8 || sizeof(vad) == 88,
                "vad is 88 bytes on LP64; keep hot fields in the first 64");
#endif
  static_assert(vad_word::flags::fits(0x3F), "six flag bits");
  return true;
}
static_assert(check_vad_layout());
}  // namespace detail

}  // namespace mmkit
