#pragma once
// hosted_system: a system whose physical memory and PFN entries are lazily
// committed host reservations: what a hosted program (an emulator, a test,
// the tour) wants in one line:
//
//   mmkit::hosted_system<> sys{1ull << 30};   // 1 GiB of simulated RAM
//   mmkit::address_space<mmkit::arch::x86_64, mmkit::hosted_config<>> as{sys};
//
// basic_hosted_system<Config> is the same for a configuration derived from
// hosted_config (one with an observer for an emulator's cache, say).
//
// The frame bytes are a host reservation that costs nothing until a frame
// is touched. The PFN entries (32 bytes per frame, 0.8% of the simulated
// RAM) are a second one: the database writes no entry when it is built and
// writes them a 4 KiB page (128 frames) at a time as frames are first
// handed out (see "Fresh frames" in pfn_database.hpp), so the host commits
// only the entry pages of frames in use. Creating a system takes a few
// microseconds and no host memory for 1 GiB or 64 GiB of simulated RAM
// alike (the eager build took 512 MiB and 0.4 s for 64 GiB); the first
// frame handed out costs one page of entries.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "mmkit/system/hosted_system.hpp needs a hosted C++ implementation"
#endif

#include <mmkit/core/lock_policy.hpp>
#include <mmkit/pager/page_file.hpp>
#include <mmkit/phys/host_memory.hpp>
#include <mmkit/region/heap_watch_allocator.hpp>
#include <mmkit/region/pool_vad_allocator.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/system/system.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>

namespace mmkit {

/// The configuration of a hosted system: host memory, a lock policy, VAD
/// nodes, view nodes and section objects from growing pools and
/// write-watch bitmaps from the heap.
template <LockPolicy Lock = no_lock>
using hosted_config =
    system_config<host_memory, Lock, pool_vad_allocator<vad>,
                  heap_watch_allocator, pool_vad_allocator<mapped_vad>,
                  pool_vad_allocator<section_object>>;

namespace detail {
/// The host reservations a hosted system is built on, made before the
/// system that uses them: the frame bytes and the PFN entries (the same
/// lazily committed, zero-filled kind of mapping), and why they could not
/// be made.
struct hosted_reservations {
  explicit hosted_reservations(std::uint64_t physical_bytes,
                               std::uint64_t page_file_bytes = 0) noexcept {
    make_page_file(page_file_bytes >> page_shift);
    const std::uint64_t count = physical_bytes >> page_shift;
    if (count == 0) {
      why = status::invalid_parameter;  // less RAM than one frame
      return;
    }
    auto bytes = host_memory::create(count << page_shift);
    auto entries = host_memory::create(
        (count * sizeof(pfn_entry) + page_size - 1) & ~(page_size - 1));
    auto protos = host_memory::create(prototype_count * sizeof(std::uint64_t));
    if (!bytes || !entries || !protos) {
      why = !bytes     ? bytes.error()
            : !entries ? entries.error()
                       : protos.error();
      return;
    }
    frame_memory = std::move(bytes).value();
    pfn_entry_pages = std::move(entries).value();
    prototype_pages = std::move(protos).value();
    frames = frame_memory.frame_count();
  }

  /// Prototype PTEs of a hosted system: 2^20 (4 GiB of section pages, as
  /// many as an x86_32 PTE can index), reserved and touched only as used.
  static constexpr std::uint64_t prototype_count = std::uint64_t{1} << 20;
  std::uint64_t* prototypes() noexcept {
    if (prototype_pages.frame_count() == 0) return nullptr;
    return reinterpret_cast<std::uint64_t*>(prototype_pages.frame(pfn{0}));
  }
  std::uint64_t prototypes_available() const noexcept {
    return prototype_pages.frame_count() == 0 ? 0 : prototype_count;
  }

  /// The first entry (the reservation's first byte), or null for no frames.
  pfn_entry* pfn_entries() noexcept {
    if (pfn_entry_pages.frame_count() == 0) return nullptr;
    // The database writes each entry whole before it reads it, and
    // pfn_entry is trivially copyable (an implicit-lifetime type), so the
    // fresh mapping serves as an array of them.
    return reinterpret_cast<pfn_entry*>(pfn_entry_pages.frame(pfn{0}));
  }

  /// The in-memory page file: a lazily committed reservation of its bytes
  /// and one of its slot bitmap.
  void make_page_file(std::uint64_t slots) noexcept {
    if (slots == 0) return;
    auto bytes = host_memory::create(slots << page_shift);
    auto bits = host_memory::create(((slots + 63) / 64 * 8 + page_size - 1) &
                                    ~(page_size - 1));
    if (!bytes || !bits) {
      why = !bytes ? bytes.error() : bits.error();
      return;
    }
    page_file_bytes = std::move(bytes).value();
    page_file_bits = std::move(bits).value();
    page_file_store = memory_store{page_file_bytes.frame(pfn{0}),
                                   slots << page_shift, slots << page_shift};
    ::new (&in_memory_page_file) page_file(
        store_ref{page_file_store},
        reinterpret_cast<std::uint64_t*>(page_file_bits.frame(pfn{0})), slots);
  }

  status why = status::success;
  host_memory page_file_bytes;
  host_memory page_file_bits;
  memory_store page_file_store;
  page_file in_memory_page_file;
  host_memory frame_memory;
  host_memory pfn_entry_pages;
  host_memory prototype_pages;
  std::uint64_t frames = 0;  // frame_memory may be moved from; this stays
};
static_assert(std::is_trivially_copyable_v<pfn_entry>);
}  // namespace detail

/// A hosted system of configuration `Config`: hosted_config<Lock>, or a
/// configuration derived from it (one that adds an observer, say:
/// `struct my_config : hosted_config<> { using observer = ...; };`).
/// hosted_system<Lock> is the plain one.
template <class Config>
requires std::is_same_v<typename Config::memory, host_memory>
class basic_hosted_system : private detail::hosted_reservations,
                            public system<Config> {
  using Lock = typename Config::lock;

 public:
  /// Effects: `physical_bytes` of simulated physical memory (rounded down
  /// to whole frames, reserved on the host but not committed) and an
  /// in-memory page file of `page_file_bytes` (a host reservation of the
  /// same kind; add_page_file adds more, such as a real file's). When that is
  /// less than one frame, or the host will not reserve it, the system has
  /// no frames and creation_status() says why (invalid_parameter,
  /// no_memory); its address spaces then fail creation with no_memory.
  explicit basic_hosted_system(std::uint64_t physical_bytes,
                               std::uint64_t page_file_bytes = 0) noexcept
      : detail::hosted_reservations(physical_bytes, page_file_bytes),
        system<Config>(std::move(frame_memory), pfn_entries(), frames, 0,
                       prototypes(), prototypes_available()) {
    if (in_memory_page_file.slots() != 0)
      (void)this->add_page_file(in_memory_page_file);
  }

  /// success, or why the simulated RAM could not be reserved.
  status creation_status() const noexcept { return why; }

  basic_hosted_system(const basic_hosted_system&) = delete;
  basic_hosted_system& operator=(const basic_hosted_system&) = delete;
  ~basic_hosted_system() { stop_background_pager(); }

  /// Effects: a host thread runs the pager every `period`: the balance
  /// step (system::balance), then the modified page writer over what is
  /// modified. Off until this is called; the caller may instead step the
  /// system itself. The thread holds the PFN lock while it works, which
  /// every address-space call holds too, so the system's Lock must be a
  /// real lock (mutex_lock). Returns: invalid_parameter when it runs
  /// already or `period` is zero, insufficient_resources when no thread
  /// could be started.
  status start_background_pager(std::chrono::milliseconds period) requires(
      !std::is_same_v<Lock, no_lock>) {
    if (pager_.joinable() || period.count() <= 0)
      return status::invalid_parameter;
    {
      std::lock_guard<std::mutex> g(pager_mutex_);
      stop_ = false;
    }
    try {
      pager_ = std::thread([this, period] {
        std::unique_lock<std::mutex> g(pager_mutex_);
        while (!pager_wake_.wait_for(g, period, [this] { return stop_; })) {
          g.unlock();
          this->balance();
          // Everything modified now (counted under the PFN lock).
          this->write_modified_pages(~std::uint64_t{0});
          pager_passes_.fetch_add(1, std::memory_order_relaxed);
          g.lock();
        }
      });
    } catch (...) {
      return status::insufficient_resources;
    }
    return status::success;
  }
  /// Effects: the background pager (if running) finishes its pass and
  /// stops.
  void stop_background_pager() noexcept {
    if (!pager_.joinable()) return;
    {
      std::lock_guard<std::mutex> g(pager_mutex_);
      stop_ = true;
    }
    pager_wake_.notify_all();
    pager_.join();
  }
  /// Passes the background pager has made.
  std::uint64_t background_pager_passes() const noexcept {
    return pager_passes_.load(std::memory_order_relaxed);
  }

 private:
  std::thread pager_;
  std::mutex pager_mutex_;
  std::condition_variable pager_wake_;
  bool stop_ = false;
  std::atomic<std::uint64_t> pager_passes_{0};
};

/// The plain hosted system: hosted_config<Lock>.
template <LockPolicy Lock = no_lock>
using hosted_system = basic_hosted_system<hosted_config<Lock>>;

}  // namespace mmkit
