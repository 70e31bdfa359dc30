#pragma once
// Change notifications for an emulator's cache of host pointers: the PTE
// writer's per-page reports (vpn, before, after) turned into range events,
// one per run of consecutive pages that one address-space call changed the
// same way.
//
//   pte_writer ── space_observer ── change_batcher<Sink> ── Sink
//   (every leaf    (working set,     (classifies, joins       range_changed(
//    PTE write)     write watch)      runs, counts)            range, kind)
//
// What an emulator may cache, and so what is reported: a host pointer is
// handed out only for a valid PTE (address_space::host_page_of), so only
// changes of a valid PTE matter:
//
//   before     after      kind                 a cached pointer
//   valid      not valid  unmapped             is stale (trim, decommit,
//                                              release, unmap, guard)
//   valid      valid,     remapped             is stale (copy-on-write)
//              other frame
//   valid      valid,     rights_reduced       may no longer serve every
//              same frame                      access it did (protect, or D
//                                              cleared by a dirty reset, so
//                                              the next write must fault)
//   valid      valid,     rights_changed       stays good: nothing it relies
//              same frame                      on was taken (rights raised,
//                                              A cleared by aging, software
//                                              bits)
//   not valid  anything   (nothing)            none was handed out
//
// Events are kept back while they extend a run and flushed by the address
// space at the end of each call (address_space calls flush() with its locks
// still held, so a concurrent caller never sees the new state before the
// sink has dropped the old pointers). The sink must not call back into the
// address space.
//
// The generation counts the changes that can make a cached pointer stale
// (unmapped, remapped, rights_reduced): a pointer obtained at generation g
// is good while generation() == g. It moves at the per-page report, before
// the flush, so a caller comparing it never needs the events at all.
//
// Entries are decoded by their x86 bit positions, which every format shares
// (P 0, R/W 1, U/S 2, A 5, D 6; frame from bit 12; XD 63 in 64-bit entries
// only), as region/write_watch.hpp's space_observer does.

#include <mmkit/core/address.hpp>
#include <mmkit/paging/pte_writer.hpp>

#include <concepts>
#include <cstdint>
#include <utility>

namespace mmkit::emu {

/// How a run of valid pages changed (see the table above).
enum class change_kind : std::uint8_t {
  unmapped,        ///< no longer valid: cached pointers are stale
  remapped,        ///< valid on another frame: cached pointers are stale
  rights_reduced,  ///< same frame, some access now faults (or sets D)
  rights_changed,  ///< same frame, nothing taken away
};

/// Whether a cached pointer of a page that changed so may be kept.
constexpr bool keeps_pointers(change_kind k) noexcept {
  return k == change_kind::rights_changed;
}

/// Who hears of range events.
template <class S>
concept RangeSink = requires(S& s, vpn_range r, change_kind k) {
  /// Pages `r` all changed as `k` says, in one address-space call.
  { s.range_changed(r, k) }
  noexcept->std::same_as<void>;
};

/// The sink that listens to nothing (a change_batcher of it only counts
/// the generation).
struct no_range_sink {
  constexpr void range_changed(vpn_range, change_kind) noexcept {}
};
static_assert(RangeSink<no_range_sink>);

/// An observer that wants a call at the end of each address-space call.
template <class O>
concept FlushingObserver = requires(O& o) {
  { o.flush() }
  noexcept->std::same_as<void>;
};

/// An observer that counts the changes that make cached pointers stale.
template <class O>
concept CountsGenerations = requires(const O& o) {
  { o.generation() }
  noexcept->std::same_as<std::uint64_t>;
};

namespace detail {
/// The bits of a leaf entry, by their x86 positions.
template <class Entry>
struct leaf_bits {
  static constexpr Entry present = 0x1;
  static constexpr Entry writable = 0x2;
  static constexpr Entry user = 0x4;
  static constexpr Entry dirty = 0x40;
  static constexpr Entry no_execute =
      sizeof(Entry) == 8 ? static_cast<Entry>(std::uint64_t{1} << 63) : 0;
  /// Frame address: bits 31:12 of a 32-bit entry, 51:12 of a 64-bit one.
  static constexpr Entry frame =
      sizeof(Entry) == 8 ? static_cast<Entry>(0x000F'FFFF'FFFF'F000ull)
                         : static_cast<Entry>(0xFFFF'F000u);
  /// The bits that grant something when set (XD grants when clear).
  static constexpr Entry grants = writable | user | dirty;
};
}  // namespace detail

/// Effects: none. Returns: how a leaf entry's change from `before` to
/// `after` affects what may be cached, or false when nothing cacheable
/// changed (`before` not valid, or no change).
template <class Entry>
constexpr bool classify(Entry before, Entry after, change_kind& kind) noexcept {
  using b = detail::leaf_bits<Entry>;
  if (!(before & b::present) || before == after) return false;
  if (!(after & b::present)) {
    kind = change_kind::unmapped;
  } else if ((before & b::frame) != (after & b::frame)) {
    kind = change_kind::remapped;
  } else {
    const bool lost = (before & b::grants & ~after) != 0 ||
                      ((after & b::no_execute) && !(before & b::no_execute));
    kind = lost ? change_kind::rights_reduced : change_kind::rights_changed;
  }
  return true;
}

/// A PteObserver that batches the per-page reports of valid PTEs into
/// range events for `Sink`, and counts the generation (see the header
/// comment). Use it as Config::observer:
///
///   struct my_config : mmkit::hosted_config<> {
///     using observer = mmkit::emu::change_batcher<my_cache>;
///   };
///
/// Requires: the PTE writer reports the pages of one run in ascending
/// order (it does: every operation walks its range upwards).
/// Complexity: O(1) per report; one sink call per run.
template <RangeSink Sink = no_range_sink>
class change_batcher {
 public:
  change_batcher() noexcept = default;
  explicit change_batcher(Sink sink) noexcept : sink_(std::move(sink)) {}

  template <class Entry>
  void pte_changed(vpn p, Entry before, Entry after) noexcept {
    change_kind k{};
    if (!classify(before, after, k)) return;
    if (!keeps_pointers(k)) ++generation_;
    if (pending_ && k == kind_ && p == last_ + 1) {
      last_ = p;
      return;
    }
    flush();
    first_ = last_ = p;
    kind_ = k;
    pending_ = true;
  }

  /// Effects: the run held back, if any, goes to the sink.
  void flush() noexcept {
    if (!pending_) return;
    pending_ = false;
    sink_.range_changed(vpn_range{first_, last_}, kind_);
  }

  /// Changes so far that made cached pointers stale.
  std::uint64_t generation() const noexcept { return generation_; }

  Sink& sink() noexcept { return sink_; }
  const Sink& sink() const noexcept { return sink_; }

 private:
  vpn first_{}, last_{};
  change_kind kind_ = change_kind::unmapped;
  bool pending_ = false;
  std::uint64_t generation_ = 0;
  [[no_unique_address]] Sink sink_{};
};

/// Only the generation: the cheapest observer that lets an emulator check
/// its cached pointers (no events, no flush).
class generation_counter {
 public:
  template <class Entry>
  void pte_changed(vpn, Entry before, Entry after) noexcept {
    change_kind k{};
    if (classify(before, after, k) && !keeps_pointers(k)) ++generation_;
  }
  std::uint64_t generation() const noexcept { return generation_; }

 private:
  std::uint64_t generation_ = 0;
};

static_assert(PteObserver<change_batcher<>, std::uint32_t>);
static_assert(PteObserver<change_batcher<>, std::uint64_t>);
static_assert(PteObserver<generation_counter, std::uint64_t>);
static_assert(FlushingObserver<change_batcher<>>);
static_assert(CountsGenerations<change_batcher<>>);
static_assert(CountsGenerations<generation_counter>);
static_assert(!FlushingObserver<generation_counter>);

}  // namespace mmkit::emu
