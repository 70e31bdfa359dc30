#pragma once
// mmkit-replay's engine: a trace's page references replayed through an
// mmkit address space, with a replacement policy choosing which page of
// the working set to trim.
//
// One run is one hosted_system and one x86-64 address_space on it:
//
//   reference to page k (the trace's address >> 12), at guest VA va(k)
//     k not in the policy's set: a fault expected
//       set full (N pages): v = policy.victim(); as.trim(va(v))
//                           (its PTE becomes a transition PTE; the frame
//                           goes to the modified list)
//       first touch of va(k)'s 64 KiB granule:
//           as.allocate(granule, 64 KiB, MEM_RESERVE | MEM_COMMIT,
//                       PAGE_EXECUTE_READWRITE)
//       policy.insert(k)
//     else policy.access(k)
//     as.access(va(k), execute for I, read for L, write for S and M)
//
// so the policy's set is the working set: the pages resident in the
// address space, N at most (page-table pages are not counted). The fault
// counts reported are the address space's own (as.faults()): demand-zero
// on a first touch, soft when a trimmed page's frame is still on the
// modified or standby list, hard when it had gone to the page file and
// was taken for another page. Every reference checks that the library
// faulted exactly when the policy said it would; a disagreement is
// counted and reported (it means the library trimmed or faulted a page
// on its own, as its working-set manager does when memory runs short).
//
// An M record writes only: the write needs the page writable and present
// as the read does, and a read first would be one more reference.
//
// The guest layout: x86-64 user space is [0x10000, 0x7FFF'FFFF'0000) (NT's
// lowest and highest user addresses, the top 64 KiB excluded). A trace
// page inside it keeps its address. The others (the first 64 KiB, kernel
// addresses such as Linux's vsyscall page, non-canonical ones) are moved
// granule by granule, in order of first reference, to the highest 64 KiB
// granules that no page of the trace uses, keeping their offset in the
// granule: distinct trace pages stay distinct guest pages, and pages that
// shared a granule still do.
//
// Memory: --ram PAGES frames, by default enough for every committed page
// and page table (commit is charged by granule, 16 pages each), twice the
// trace's distinct pages, and 4096 at least, so that trimmed pages stay on
// the lists and come back with soft faults. Page file: the hosted
// system's in-memory one, or --pagefile FILE, a real file (a
// posix_file_store) added to a system made without one; slots for every
// committed page either way. balance() runs every 256
// references, so the modified page writer and the working-set manager do what
// NT's would.

#include "trace.hpp"

#include <mmkit/mmkit.hpp>
#include <mmkit/pager/page_file.hpp>
#include <mmkit/pager/replacement.hpp>
#include <mmkit/section/posix_file_store.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace mmkit::tools::replay {

// --- policies -----------------------------------------------------------

enum class policy_id : std::uint8_t { nt, clock, fifo, lru, opt };

/// Every policy, in the order a sweep runs them.
inline constexpr policy_id all_policies[] = {policy_id::nt, policy_id::clock,
                                             policy_id::fifo, policy_id::lru,
                                             policy_id::opt};

constexpr const char* policy_name(policy_id p) noexcept {
  switch (p) {
    case policy_id::nt: return "nt";
    case policy_id::clock: return "clock";
    case policy_id::fifo: return "fifo";
    case policy_id::lru: return "lru";
    case policy_id::opt: return "opt";
  }
  return "?";
}

inline bool parse_policy(std::string_view s, policy_id& out) noexcept {
  for (policy_id p : all_policies)
    if (s == policy_name(p)) {
      out = p;
      return true;
    }
  return false;
}

// --- the guest layout ---------------------------------------------------

/// Where the trace's pages live in the guest (see the header comment),
/// and what they take: distinct pages, 64 KiB granules, page tables.
class guest_layout {
 public:
  static constexpr std::uint64_t granule_shift = 16;
  static constexpr std::uint64_t pages_per_granule = 16;
  /// The user range a page keeps its address in, as pages: [first, end).
  static constexpr page_key first_user_page =
      arch::x86_64::lowest_user_address >> page_shift;
  static constexpr page_key end_user_page =
      (arch::x86_64::highest_user_address + 1) >> page_shift;

  explicit guest_layout(std::span<const page_key> keys) {
    std::unordered_set<page_key> pages;
    std::unordered_set<std::uint64_t> user_granules;
    for (page_key k : keys)
      if (pages.insert(k).second && in_user_range(k))
        user_granules.insert(k >> 4);
    distinct_pages_ = pages.size();
    // Moved granules take the highest free ones, in order of first
    // reference.
    std::uint64_t next = (end_user_page >> 4) - 1;
    for (page_key k : keys) {
      if (in_user_range(k) || moved_.count(k >> 4) != 0) continue;
      while (user_granules.count(next) != 0) --next;
      moved_[k >> 4] = next--;
    }
    // Page tables: one per distinct 2 MiB, 1 GiB and 512 GiB region, and
    // the root.
    std::unordered_set<std::uint64_t> granules, pt, pd, pdpt;
    for (page_key k : pages) {
      const std::uint64_t va = va_of(k);
      granules.insert(va >> granule_shift);
      pt.insert(va >> 21);
      pd.insert(va >> 30);
      pdpt.insert(va >> 39);
    }
    granules_ = granules.size();
    table_pages_ = pt.size() + pd.size() + pdpt.size() + 1;
  }

  static constexpr bool in_user_range(page_key k) noexcept {
    return k >= first_user_page && k < end_user_page;
  }
  /// The guest VA of trace page `k`. Requires: k is one of the trace's.
  std::uint64_t va_of(page_key k) const {
    if (in_user_range(k)) return k << page_shift;
    return moved_.at(k >> 4) << granule_shift | (k & 15) << page_shift;
  }

  std::uint64_t distinct_pages() const noexcept { return distinct_pages_; }
  std::uint64_t granules() const noexcept { return granules_; }
  /// Pages committed when every granule is: 16 a granule.
  std::uint64_t commit_pages() const noexcept {
    return granules_ * pages_per_granule;
  }
  /// Page-table pages the trace's pages need at most (the root included).
  std::uint64_t table_pages() const noexcept { return table_pages_; }
  /// Granules moved out of the ranges user space has no room for.
  std::uint64_t moved_granules() const noexcept { return moved_.size(); }

  /// The memory a run gets when --ram is not given (see the header).
  std::uint64_t default_ram_pages() const noexcept {
    std::uint64_t pages = commit_pages() + table_pages() + 64;
    if (pages < 2 * distinct_pages_) pages = 2 * distinct_pages_;
    return pages < 4096 ? 4096 : pages;
  }
  /// Page-file slots: every committed page, and slack.
  std::uint64_t page_file_slots() const noexcept {
    return commit_pages() + 1024;
  }

 private:
  std::unordered_map<std::uint64_t, std::uint64_t> moved_;  // granules
  std::uint64_t distinct_pages_ = 0;
  std::uint64_t granules_ = 0;
  std::uint64_t table_pages_ = 0;
};

// --- one run ------------------------------------------------------------

struct replay_setup {
  policy_id policy = policy_id::lru;
  std::uint64_t frames = 0;     ///< the working set's cap, in pages
  std::uint64_t ram_pages = 0;  ///< 0: guest_layout::default_ram_pages()
  std::string page_file;        ///< empty: an in-memory page file
};

/// What one run counted: the last line's figures, and the checks.
struct replay_counts {
  policy_id policy = policy_id::lru;
  std::uint64_t frames = 0;
  std::uint64_t accesses = 0;
  std::uint64_t faults = 0;
  std::uint64_t demand_zero = 0;
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
  std::uint64_t cow = 0;
  std::uint64_t pagefile_writes = 0;
  std::uint64_t pagefile_reads = 0;
  std::uint64_t policy_faults = 0;  ///< references the policy missed
  std::uint64_t mismatches = 0;     ///< references the library disagreed on
  std::uint64_t trims_refused = 0;  ///< as.trim of a victim returned false
  std::uint64_t ram_pages = 0;
};

/// The last line: `policy=<p> frames=<n> accesses=<a> faults=<f>
/// demand_zero=<d> soft=<s> hard=<h> cow=<c> pagefile_writes=<w>`.
inline std::string summary_line(const replay_counts& c) {
  char b[320];
  std::snprintf(b, sizeof b,
                "policy=%s frames=%llu accesses=%llu faults=%llu "
                "demand_zero=%llu soft=%llu hard=%llu cow=%llu "
                "pagefile_writes=%llu",
                policy_name(c.policy),
                static_cast<unsigned long long>(c.frames),
                static_cast<unsigned long long>(c.accesses),
                static_cast<unsigned long long>(c.faults),
                static_cast<unsigned long long>(c.demand_zero),
                static_cast<unsigned long long>(c.soft),
                static_cast<unsigned long long>(c.hard),
                static_cast<unsigned long long>(c.cow),
                static_cast<unsigned long long>(c.pagefile_writes));
  return b;
}

namespace detail {

inline constexpr std::uint64_t balance_every = 256;
inline constexpr std::uint64_t progress_every = 4096;

constexpr mmkit::access access_of(ref_kind k) noexcept {
  switch (k) {
    case ref_kind::instruction: return mmkit::access::execute;
    case ref_kind::load: return mmkit::access::read;
    case ref_kind::store:
    case ref_kind::modify: return mmkit::access::write;
  }
  return mmkit::access::read;
}

constexpr std::uint64_t faults_of(const fault_counts& f) noexcept {
  return f.demand_zero + f.soft + f.hard + f.copy_on_write;
}

inline std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

/// The page file a run writes to when it is a real file (--pagefile),
/// and its bitmap; it must outlive the system that uses it.
struct file_page_file {
  posix_file_store file;
  std::vector<std::uint64_t> bitmap;
  std::unique_ptr<page_file> pf;

  /// Effects: a page file of `slots` slots in the file at `path`
  /// (created, or truncated). Returns: whether it could be made.
  bool open(const std::string& path, std::uint64_t slots, std::string& error) {
    const int fd =
        ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      error = "cannot create page file " + path + ": " + std::strerror(errno);
      return false;
    }
    ::close(fd);
    auto f = posix_file_store::open(path.c_str(), true);
    if (!f) {
      error = "cannot open page file " + path + ": " + to_string(f.error());
      return false;
    }
    file = std::move(f).value();
    bitmap.assign((slots + 63) / 64, 0);
    pf = std::make_unique<page_file>(store_ref(file), bitmap.data(), slots);
    return true;
  }
};

}  // namespace detail

/// Replays `refs` (whose pages `layout` places) under `policy`, with the
/// working set capped at setup.frames pages; `progress(done)` is called
/// every few thousand references with the references done. Returns:
/// whether the run went to its end; `error` says why not (a system or
/// address space that could not be made, a commit or an access refused).
template <ReplacementPolicy Policy, class Progress>
bool replay_with(Policy& policy, const page_refs& refs,
                 const guest_layout& layout, const replay_setup& setup,
                 replay_counts& counts, std::string& error,
                 Progress&& progress) {
  counts = {};
  counts.policy = setup.policy;
  counts.frames = setup.frames;
  counts.accesses = refs.size();
  counts.ram_pages =
      setup.ram_pages != 0 ? setup.ram_pages : layout.default_ram_pages();

  // A real page file, when one is asked for, is made first: the system
  // that uses it goes before it.
  const bool in_memory = setup.page_file.empty();
  detail::file_page_file file;
  if (!in_memory &&
      !file.open(setup.page_file, layout.page_file_slots(), error))
    return false;
  hosted_system<> sys{counts.ram_pages << page_shift,
                      in_memory ? layout.page_file_slots() << page_shift : 0};
  if (sys.creation_status() != status::success) {
    error = "cannot make a system of " + std::to_string(counts.ram_pages) +
            " pages: " + to_string(sys.creation_status());
    return false;
  }
  if (!in_memory) {
    if (auto added = sys.add_page_file(*file.pf); !added) {
      error =
          std::string("cannot add the page file: ") + to_string(added.error());
      return false;
    }
  }
  address_space<arch::x86_64, hosted_config<>> as{sys};
  if (as.creation_status() != status::success) {
    error = std::string("cannot make the address space: ") +
            to_string(as.creation_status());
    return false;
  }

  std::unordered_set<std::uint64_t> granules;
  std::uint64_t faults_before = 0;
  for (std::uint64_t i = 0; i < refs.size(); ++i) {
    const page_key k = refs.keys[i];
    const std::uint64_t va = layout.va_of(k);
    const bool miss = !policy.contains(k);
    if (miss) {
      ++counts.policy_faults;
      if (policy.size() == setup.frames) {
        const page_key v = policy.victim();
        if (!as.trim(vaddr{layout.va_of(v)})) ++counts.trims_refused;
      }
      if (granules.insert(va >> guest_layout::granule_shift).second) {
        vaddr base{va &
                   ~((std::uint64_t{1} << guest_layout::granule_shift) - 1)};
        std::uint64_t size = std::uint64_t{1} << guest_layout::granule_shift;
        const status s = as.allocate(base, size, mem::reserve | mem::commit,
                                     page::execute_readwrite);
        if (s != status::success) {
          error = "reference " + std::to_string(i) +
                  ": committing the granule at " +
                  detail::hex(va & ~std::uint64_t{0xffff}) +
                  " failed: " + to_string(s) +
                  (s == status::commitment_limit
                       ? " (more --ram, or a larger page file, is needed)"
                       : "");
          return false;
        }
      }
      policy.insert(k);
    } else {
      policy.access(k);
    }
    const status s = as.access(vaddr{va}, detail::access_of(refs.kinds[i]));
    if (s != status::success) {
      error = "reference " + std::to_string(i) + ": " +
              kind_letter(refs.kinds[i]) + " access to " + detail::hex(va) +
              " (trace address " + detail::hex(k << page_shift) +
              ") failed: " + to_string(s);
      return false;
    }
    const std::uint64_t faults_now = detail::faults_of(as.faults());
    if ((faults_now != faults_before) != miss || faults_now - faults_before > 1)
      ++counts.mismatches;
    faults_before = faults_now;
    if ((i + 1) % detail::balance_every == 0) (void)sys.balance();
    if ((i + 1) % detail::progress_every == 0) progress(i + 1);
  }
  progress(refs.size());

  const fault_counts f = as.faults();
  counts.demand_zero = f.demand_zero;
  counts.soft = f.soft;
  counts.hard = f.hard;
  counts.cow = f.copy_on_write;
  counts.faults = detail::faults_of(f);
  const pager_stats p = sys.stats();
  counts.pagefile_writes = p.pagefile_writes;
  counts.pagefile_reads = p.pagefile_reads;
  return true;
}

/// As replay_with, with the policy setup.policy names (OPT is given the
/// whole reference string).
template <class Progress>
bool replay(const page_refs& refs, const guest_layout& layout,
            const replay_setup& setup, replay_counts& counts,
            std::string& error, Progress&& progress) {
  switch (setup.policy) {
    case policy_id::nt: {
      nt_aging_policy p;
      return replay_with(p, refs, layout, setup, counts, error, progress);
    }
    case policy_id::clock: {
      clock_policy p;
      return replay_with(p, refs, layout, setup, counts, error, progress);
    }
    case policy_id::fifo: {
      fifo_policy p;
      return replay_with(p, refs, layout, setup, counts, error, progress);
    }
    case policy_id::lru: {
      lru_policy p;
      return replay_with(p, refs, layout, setup, counts, error, progress);
    }
    case policy_id::opt: {
      opt_policy p(refs.keys);
      return replay_with(p, refs, layout, setup, counts, error, progress);
    }
  }
  return false;
}

}  // namespace mmkit::tools::replay
