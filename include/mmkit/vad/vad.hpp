#pragma once
// vad: one Virtual Address Descriptor, the record NT keeps for every
// reservation or mapped view of a process (MMVAD), as a node of vad_tree.
//
// The node is an intrusive Boost AVL node (`optimize_size`: the balance sits
// in the low bits of the parent pointer), so the tree never allocates: the
// caller owns every vad, in an array, a pool, or a `struct my_vad : vad` of
// its own that adds per-VAD fields. Derive, and give vad_tree<my_vad> the
// derived type; the tree only ever uses the members below.
//
// Layout (80 bytes on an LP64 host), hot fields first:
//
//   offset  0  parent|balance, left, right   AVL links (lookup: left/right)
//          24  start_, end_                  inclusive VPNs (lookup)
//          40  gap_before_, max_fit_         gap-search aggregates
//          56  u_                            commit | protection | type | flags
//          64  section_, first_prototype_pte_ mapped views only
//
// A lookup touches bytes 0..39 of each node on its path, a free-range search
// bytes 0..55. The descriptor fields a lookup never reads come last. The
// MMVAD_FLAGS word `u_` follows NT's x64 layout in spirit (CommitCharge is 51
// bits there too), encoded and decoded over the raw word:
//
//   63..58 flags (vad_flags)   57..56 type   55..51 protection   50..0 commit
//
// Aggregates (maintained by vad_tree, read-only here):
//   gap_before_  pages of free space between the in-order predecessor's end
//                and start_ (from VPN 0 for the first VAD). It depends only
//                on the set of VADs, never on the tree's shape.
//   max_fit_     the largest number of free pages that start on an
//                allocation-granularity boundary inside one gap_before_ of
//                any node of this subtree. See vad_tree.hpp.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>
#include <mmkit/core/protection.hpp>

#include <boost/intrusive/avl_set_hook.hpp>

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

/// The intrusive hook every vad carries. Safe-link mode: a linked node
/// cannot be inserted twice and knows whether it is linked.
using vad_hook =
    boost::intrusive::avl_set_base_hook<boost::intrusive::optimize_size<true>>;

template <class Vad>
class vad_tree;

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
class vad : public vad_hook {
 public:
  vad() noexcept = default;

  /// Requires: range.first <= range.last; `protection` is a 5-bit MM_ value.
  vad(vpn_range range, vad_type type, std::uint8_t protection,
      vad_flags flags = vad_flags::none) noexcept
      : start_(range.first), end_(range.last) {
    MMKIT_ASSERT(range.first <= range.last);
    set_type(type);
    set_protection(protection);
    set_flags(flags);
  }

  // Copies carry the descriptor, never the links or the aggregates.
  vad(const vad& o) noexcept
      : vad_hook(),
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
  std::uint64_t debug_max_fit() const noexcept { return max_fit_; }

 private:
  template <class>
  friend class vad_tree;

  vpn start_{};
  vpn end_{};
  std::uint64_t gap_before_ = 0;
  std::uint64_t max_fit_ = 0;
  std::uint64_t u_ = 0;
  void* section_ = nullptr;
  std::uint64_t first_prototype_pte_ = 0;
};

namespace detail {
// All layout checks of the node in one place.
constexpr bool check_vad_layout() noexcept {
  static_assert(sizeof(vad_hook) == 3 * sizeof(void*),
                "optimize_size packs the balance into the parent pointer");
  static_assert(sizeof(void*) != 8 || sizeof(vad) == 80,
                "vad is 80 bytes on LP64; keep hot fields in the first 56");
  static_assert(vad_word::flags::fits(0x3F), "six flag bits");
  return true;
}
static_assert(check_vad_layout());
}  // namespace detail

}  // namespace mmkit
