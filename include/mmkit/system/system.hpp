#pragma once
// system: the simulated machine that address spaces share: the physical
// memory, its PFN database, the commit limit, and the lock that guards them.
//
//   system ─┬─ Memory          the frame bytes (host_memory, buffer_memory)
//           ├─ pfn_database    one entry per frame, NT's page lists
//           ├─ commit charge   against commit_limit = frames + page file
//           └─ lock            the PFN lock (no_lock by default)
//
// Every address_space created on a system takes its page tables and its
// pages from the system's PFN database, so frames released by one address
// space are reused by the next (after zeroing: a released frame goes to the
// free list and is handed out for a demand-zero fault only from the zeroed
// list or zeroed on the spot, so its old contents are never visible).
//
// Commit charge is NT's: every committed private page is charged when it is
// committed (not when it is touched) against the limit, and the charge is
// returned on decommit or release. Committing past the limit fails with
// status::commitment_limit and changes nothing.

#include <mmkit/core/lock_policy.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/phys/pfn_database.hpp>
#include <mmkit/phys/physical_memory.hpp>
#include <mmkit/region/vad_allocator.hpp>
#include <mmkit/vad/vad.hpp>

#include <cstdint>
#include <utility>

namespace mmkit {

/// The policies a system and its address spaces are built from.
///   memory          the physical memory policy (a WritablePhysicalMemory)
///   lock            the lock policy (no_lock: single-threaded at no cost)
///   vad_allocator   where address spaces get VAD nodes (by default a
///                   caller-given array: nothing is allocated behind the
///                   caller's back)
template <WritablePhysicalMemory Memory, LockPolicy Lock = no_lock,
          VadAllocator<vad> NodeAllocator = caller_vad_allocator<vad>>
struct system_config {
  using memory = Memory;
  using lock = Lock;
  using vad_allocator = NodeAllocator;
};

template <class Config>
class system {
 public:
  using config = Config;
  using memory_type = typename Config::memory;
  using lock_type = typename Config::lock;
  using database_type = pfn_database<memory_type>;

  /// Requires: `entries` points to `frames` PFN entries that outlive the
  /// system; frames <= memory.frame_count(). Effects: a system whose
  /// physical memory is the first `frames` frames of `memory` (whose bytes
  /// are taken to be zero when `contents` says so, as a fresh host
  /// reservation is) and whose commit limit is frames + page_file_pages.
  system(memory_type memory, pfn_entry* entries, std::uint64_t frames,
         std::uint64_t page_file_pages,
         initial_contents contents = initial_contents::zero) noexcept
      : memory_(std::move(memory)),
        pfns_(memory_, entries, frames, contents),
        commit_limit_(frames + page_file_pages) {}

  system(const system&) = delete;
  system& operator=(const system&) = delete;

  memory_type& memory() noexcept { return memory_; }
  database_type& pfns() noexcept { return pfns_; }
  const database_type& pfns() const noexcept { return pfns_; }
  /// The PFN lock: held around every PFN-database and commit update.
  lock_type& pfn_lock() noexcept { return lock_; }

  /// The most pages that may be committed at once (NT's commit limit).
  std::uint64_t commit_limit() const noexcept { return commit_limit_; }
  /// Effects: sets the commit limit to `pages` (NT derives it from the
  /// available memory and the page files; an emulator reproducing a given
  /// machine, or a test, may want its figure exactly).
  /// Returns: status::commitment_limit, changing nothing, when more than
  /// `pages` are charged already.
  result<void> set_commit_limit(std::uint64_t pages) noexcept {
    detail::lock_scope guard(lock_);
    if (pages < commit_charge_) return status::commitment_limit;
    commit_limit_ = pages;
    return {};
  }
  /// The pages committed now, over all address spaces.
  std::uint64_t commit_charge() const noexcept { return commit_charge_; }

  /// Requires: the PFN lock is held. Effects: charges `pages` more pages.
  /// Returns: status::commitment_limit (charging nothing) when the charge
  /// would pass the limit.
  result<void> charge_commit_locked(std::uint64_t pages) noexcept {
    if (pages > commit_limit_ - commit_charge_) return status::commitment_limit;
    commit_charge_ += pages;
    return {};
  }
  /// Requires: the PFN lock is held; `pages` were charged.
  void return_commit_locked(std::uint64_t pages) noexcept {
    MMKIT_ASSERT(pages <= commit_charge_);
    commit_charge_ -= pages;
  }

  /// The zero page worker's step (the owner drives it; no hidden thread):
  /// zeroes up to `n` free frames onto the zeroed list.
  /// Returns: the frames zeroed.
  std::uint64_t zero_free_pages(std::uint64_t n) noexcept {
    detail::lock_scope guard(lock_);
    return pfns_.zero_free_pages(n);
  }

 private:
  memory_type memory_;
  database_type pfns_;
  std::uint64_t commit_limit_ = 0;
  std::uint64_t commit_charge_ = 0;
  [[no_unique_address]] lock_type lock_;
};

}  // namespace mmkit
