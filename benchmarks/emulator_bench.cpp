// Emulator benchmarks: bulk copies in and out of guest memory and the host
// pointer fast path of address_space<x86_64>, each beside the peer a user
// would otherwise pick, in one binary:
//
//   BM_guest_copy/{mmkit,mmkit_write,memcpy}/1MiB
//       1 MiB between a host buffer and 256 resident guest pages:
//       address_space::read (guest to host) and write (host to guest),
//       page by page through the software TLB; memcpy between two host
//       buffers of 1 MiB, the bound.
//   BM_host_pointer/mmkit/{uncached,cached}, BM_host_pointer/translator
//       the host address of a resident page for a read: host_page_of (the
//       locked call an emulator makes on a miss of its own cache); the
//       emulator's own cache of its answers (a direct-mapped array checked
//       against the change generation, as QEMU checks its TLB); and the
//       translator's inline TLB path under host_page_of.
//   BM_fault_threads/{mmkit,mmkit_recycled,host}/<threads>
//       threads against throughput: each thread takes demand-zero faults
//       on 2,048 pages of its own address space (mmkit: one
//       hosted_system<mutex_lock>, a space per thread; host: a private
//       anonymous mapping per thread), timed from the moment all threads
//       run to the last one's end (thread_team).
//       mmkit takes frames known zero; mmkit_recycled frames used and freed
//       before, which each fault zeroes (outside the PFN lock).
//       A fault holds the system's PFN lock only for its frame and PFN
//       entry, but the free list and the PFN entries are shared: the
//       threads take turns there, and their cache lines move between
//       cores.
//   BM_access_threads/mmkit/<threads>
//       threads against throughput for guest accesses: each thread reads
//       a byte of each of 1,024 resident pages of its own address space,
//       16 times (more pages than the TLB holds: every access walks).
//       access() holds only its space's lock when it does not fault.
//       host_memory: the same reads of a host buffer per thread, the bound.
//   BM_protect_threads/{mmkit,host}/<threads>
//       threads against throughput for VirtualProtect: each thread flips
//       16 resident pages of its own space between read-write and
//       read-only, 4,096 times, querying after each (mmkit), or mprotects a
//       mapping of its own (host). A private range of valid pages needs
//       only its space's lock.
//   BM_commit_threads/{mmkit,host}/<threads>
//       threads against throughput for VirtualAlloc: each thread, in its
//       own space, reserves and commits 1 MiB and releases it, 1,024
//       times, touching no page (mmkit), or mmaps and munmaps 1 MiB
//       (host). A commit of pages that hold no frame writes its PTEs
//       without the PFN lock; the release holds it.
//   <threads> is 1, 2 and 4, and 8 and 16 where the machine has that many
//   hardware threads (thread_counts).
//   BM_restore/{mmkit,fork,memcpy}/<dirty pages>
//       a snapshot fuzzer's reset over 256 MiB committed and touched, after
//       a run that wrote <dirty pages> pages (16 or 1,024, spread over the
//       range): emu::snapshot::restore; a host fork() snapshot (a child
//       that writes the same pages and exits, waited for: the cost of a
//       fork server's reset); memcpy of all committed memory back from a
//       copy. The writes are inside the timed loop for all three.
//
// Set-up (commit, first touch) is outside the timed loops; bytes/s and
// items/s are reported.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/emu/changes.hpp>
#include <mmkit/emu/snapshot.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

using namespace mmkit;

namespace {

using space = address_space<arch::x86_64, hosted_config<>>;
constexpr std::uint64_t copy_bytes = std::uint64_t{1} << 20;

/// A space with `bytes` committed and touched at `base`.
struct guest {
  hosted_system<> sys{std::uint64_t{64} << 20};
  space as{sys};
  vaddr base{0};
  explicit guest(std::uint64_t bytes) {
    std::uint64_t size = bytes;
    if (as.allocate(base, size, mem::reserve | mem::commit, page::readwrite) !=
        status::success)
      std::abort();
    std::vector<std::byte> zero(bytes, std::byte{1});
    std::size_t done = 0;
    if (as.write(base, zero.data(), zero.size(), done) != status::success)
      std::abort();
  }
};

void BM_guest_copy_mmkit(benchmark::State& state) {
  guest g{copy_bytes};
  std::vector<std::byte> buffer(copy_bytes);
  for (auto _ : state) {
    std::size_t done = 0;
    benchmark::DoNotOptimize(
        g.as.read(g.base, buffer.data(), buffer.size(), done));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(copy_bytes));
}
BENCHMARK(BM_guest_copy_mmkit)->Name("BM_guest_copy/mmkit/1MiB");

void BM_guest_copy_mmkit_write(benchmark::State& state) {
  guest g{copy_bytes};
  std::vector<std::byte> buffer(copy_bytes, std::byte{2});
  for (auto _ : state) {
    std::size_t done = 0;
    benchmark::DoNotOptimize(
        g.as.write(g.base, buffer.data(), buffer.size(), done));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(copy_bytes));
}
BENCHMARK(BM_guest_copy_mmkit_write)->Name("BM_guest_copy/mmkit_write/1MiB");

void BM_guest_copy_memcpy(benchmark::State& state) {
  std::vector<std::byte> from(copy_bytes, std::byte{1});
  std::vector<std::byte> to(copy_bytes);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), copy_bytes);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(copy_bytes));
}
BENCHMARK(BM_guest_copy_memcpy)->Name("BM_guest_copy/memcpy/1MiB");

/// The thread counts of the BM_*_threads benchmarks: 1, 2 and 4
/// everywhere, and 8 and 16 on a machine with that many hardware threads
/// (on fewer, they would only measure the host's scheduler).
void thread_counts(benchmark::internal::Benchmark* b) {
  const unsigned cores = std::thread::hardware_concurrency();
  for (int n : {1, 2, 4, 8, 16})
    if (n <= 4 || static_cast<unsigned>(n) <= cores) b->Arg(n);
}

constexpr std::uint64_t probe_pages = 64;

void BM_host_page_of_mmkit(benchmark::State& state) {
  guest g{probe_pages * page_size};
  std::uint64_t i = 0;
  for (auto _ : state) {
    auto p = g.as.host_page_of(g.base + (i++ % probe_pages) * page_size,
                               access::read);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_host_page_of_mmkit)->Name("BM_host_pointer/mmkit/uncached");

void BM_host_page_of_translator(benchmark::State& state) {
  hosted_system<> sys{std::uint64_t{64} << 20};
  using xlat =
      translator<arch::x86_64, host_memory, hosted_system<>::database_type>;
  auto x = xlat::create(sys.memory(), sys.pfns()).value();
  for (std::uint64_t p = 0; p < probe_pages; ++p) {
    auto f = sys.pfns().allocate(page_need::zeroed);
    if (!f.ok() || !x.map(vaddr{0x10000 + p * page_size}, f->address(),
                          page_size, page_attr::write | page_attr::user)
                        .ok())
      std::abort();
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(x.host_pointer(
        vaddr{0x10000 + (i++ % probe_pages) * page_size}, access::read));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_host_page_of_translator)->Name("BM_host_pointer/translator");

/// A space whose observer counts the changes that make pointers stale.
struct counting_config : hosted_config<> {
  using observer = emu::change_batcher<emu::no_range_sink>;
};
using counting_space = address_space<arch::x86_64, counting_config>;

void BM_host_pointer_cached(benchmark::State& state) {
  basic_hosted_system<counting_config> sys{std::uint64_t{64} << 20};
  counting_space as{sys};
  vaddr base{0};
  std::uint64_t size = probe_pages * page_size;
  if (as.allocate(base, size, mem::reserve | mem::commit, page::readwrite) !=
      status::success)
    std::abort();
  // The emulator's cache: guest page -> host page, and the generation the
  // answer belongs to.
  struct entry {
    std::uint64_t page = ~std::uint64_t{0};
    std::byte* host = nullptr;
    std::uint64_t generation = 0;
  };
  std::array<entry, 256> cache{};
  auto lookup = [&](vaddr va) {
    entry& e = cache[va.page().raw() % cache.size()];
    if (e.page == va.page().raw() && e.generation == as.change_generation())
        [[likely]]
      return e.host + va.page_offset();
    auto p = as.host_page_of(va, access::read);
    if (!p) std::abort();
    e = {va.page().raw(), p->pointer - va.page_offset(), p->generation};
    return p->pointer;
  };
  std::uint64_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(
        lookup(base + (i++ % probe_pages) * page_size + 8));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_host_pointer_cached)->Name("BM_host_pointer/mmkit/cached");

// --- threads against throughput -------------------------------------------

constexpr std::uint64_t fault_pages = 2048;

using locked_space = address_space<arch::x86_64, hosted_config<mutex_lock>>;

/// An address space per thread on `sys`, each with `pages` committed at
/// its base (0: nothing allocated).
struct thread_spaces {
  std::vector<std::unique_ptr<locked_space>> spaces;
  std::vector<vaddr> bases;
  thread_spaces(hosted_system<mutex_lock>& sys, std::size_t threads,
                std::uint64_t pages) {
    for (std::size_t t = 0; t < threads; ++t) {
      spaces.push_back(std::make_unique<locked_space>(sys));
      vaddr base{0};
      std::uint64_t size = pages * page_size;
      if (pages != 0 &&
          spaces.back()->allocate(base, size, mem::reserve | mem::commit,
                                  page::readwrite) != status::success)
        std::abort();
      bases.push_back(base);
    }
  }
  /// Effects: every page of every space is faulted in (written).
  void touch_all(std::uint64_t pages) {
    for (std::size_t t = 0; t < spaces.size(); ++t)
      for (std::uint64_t p = 0; p < pages; ++p)
        if (spaces[t]->access(bases[t] + p * page_size, access::write) !=
            status::success)
          std::abort();
  }
};

/// Workers started once per benchmark run, outside the timing, that run
/// one job per round. A round's time runs from the moment every worker is
/// running (a barrier they spin at once woken) to the last one's end, so
/// that neither thread creation nor wake-ups are timed: with 16 threads
/// those cost more than a round of 2,048 faults, and hid how the work
/// itself scales.
class thread_team {
 public:
  explicit thread_team(std::size_t threads) : threads_(threads) {
    for (std::size_t t = 0; t < threads; ++t)
      workers_.emplace_back([this, t] { work(t); });
  }
  ~thread_team() {
    stop_ = true;
    start_round();
    for (auto& w : workers_) w.join();
  }
  thread_team(const thread_team&) = delete;
  thread_team& operator=(const thread_team&) = delete;

  /// Effects: runs f(t) on every worker t, t = 0 .. threads - 1, and
  /// waits for all. Returns: the round's time in seconds.
  template <class F>
  double run(F&& f) {
    job_ = &f;
    call_ = [](void* job, std::size_t t) {
      (*static_cast<std::remove_reference_t<F>*>(job))(t);
    };
    start_round();
    while (!done_.load(std::memory_order_acquire)) done_.wait(false);
    return std::chrono::duration<double>(end_ - begin_).count();
  }

 private:
  void start_round() {
    arrived_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    done_.store(false, std::memory_order_relaxed);
    round_.fetch_add(1, std::memory_order_release);
    round_.notify_all();
  }
  void work(std::size_t t) {
    std::uint64_t seen = 0;
    while (true) {
      round_.wait(seen, std::memory_order_acquire);
      seen = round_.load(std::memory_order_acquire);
      if (stop_) return;
      if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
        begin_ = std::chrono::steady_clock::now();
        go_.store(seen, std::memory_order_release);
      } else {
        while (go_.load(std::memory_order_acquire) != seen)
          std::this_thread::yield();
      }
      call_(job_, t);
      if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
        end_ = std::chrono::steady_clock::now();
        done_.store(true, std::memory_order_release);
        done_.notify_one();
      }
    }
  }

  std::size_t threads_;
  std::vector<std::thread> workers_;
  void* job_ = nullptr;
  void (*call_)(void*, std::size_t) = nullptr;
  bool stop_ = false;
  std::atomic<std::uint64_t> round_{0};
  std::atomic<std::uint64_t> go_{0};
  std::atomic<std::size_t> arrived_{0};
  std::atomic<std::size_t> finished_{0};
  std::atomic<bool> done_{false};
  std::chrono::steady_clock::time_point begin_, end_;
};

/// Recycled: every frame the faults will take was used and freed before
/// (written, decommitted, committed again), so it is on the free list,
/// not the zeroed one, and each fault zeroes its frame, outside the PFN
/// lock (fault/handlers.hpp). Otherwise the system is new and its frames
/// are known zero.
template <bool Recycled>
void BM_fault_threads_mmkit(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  thread_team team{threads};
  for (auto _ : state) {
    // Made and destroyed outside the timing (a system's destruction gives
    // its host memory back, at a cost that grows with the pages touched).
    // Fresh frames: twice the pages touched, so that the faults run above
    // the pager's low threshold (1/16 of memory) to the end, as a guest's
    // faults do on a machine that is not short of memory. Recycled: 64
    // frames spare a thread, so that nearly every frame a fault takes is
    // a recycled one (zeroed frames go first).
    const std::uint64_t frames = Recycled ? fault_pages + 64 : 2 * fault_pages;
    auto sys = std::make_unique<hosted_system<mutex_lock>>(threads * frames *
                                                           page_size);
    auto made = std::make_unique<thread_spaces>(*sys, threads, fault_pages);
    auto& spaces = made->spaces;
    auto& bases = made->bases;
    if constexpr (Recycled) {
      for (std::size_t t = 0; t < threads; ++t) {
        // A byte written per page: the frames' host pages are resident, so
        // the timed zeroing pays for no host page fault.
        for (std::uint64_t p = 0; p < fault_pages; ++p) {
          const std::uint8_t byte = 1;
          std::size_t done = 0;
          if (spaces[t]->write(bases[t] + p * page_size, &byte, 1, done) !=
              status::success)
            std::abort();
        }
        vaddr at = bases[t];
        std::uint64_t size = fault_pages * page_size;
        if (spaces[t]->free(at, size, mem::decommit) != status::success ||
            spaces[t]->allocate(at, size, mem::commit, page::readwrite) !=
                status::success)
          std::abort();
      }
    }
    state.SetIterationTime(team.run([&](std::size_t t) {
      for (std::uint64_t p = 0; p < fault_pages; ++p)
        if (spaces[t]->access(bases[t] + p * page_size, access::write) !=
            status::success)
          std::abort();
    }));
  }
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * threads * fault_pages));
}
BENCHMARK_TEMPLATE(BM_fault_threads_mmkit, false)
    ->Name("BM_fault_threads/mmkit")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();
BENCHMARK_TEMPLATE(BM_fault_threads_mmkit, true)
    ->Name("BM_fault_threads/mmkit_recycled")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();

void BM_fault_threads_host(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  const std::size_t bytes = fault_pages * page_size;
  thread_team team{threads};
  for (auto _ : state) {
    std::vector<std::byte*> maps;
    for (std::size_t t = 0; t < threads; ++t) {
      void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) std::abort();
      maps.push_back(static_cast<std::byte*>(m));
    }
    state.SetIterationTime(team.run([&](std::size_t t) {
      for (std::uint64_t p = 0; p < fault_pages; ++p)
        maps[t][p * page_size] = std::byte{1};
    }));
    for (std::byte* m : maps) munmap(m, bytes);
  }
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * threads * fault_pages));
}
BENCHMARK(BM_fault_threads_host)
    ->Name("BM_fault_threads/host")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();

/// Threads against throughput for guest accesses: each thread reads one
/// byte of each of 1,024 resident pages of its own address space (more
/// than the TLB holds, so every access walks the tables), 16 times over.
/// access() holds its space's lock alone unless it faults.
constexpr std::uint64_t access_pages = 1024;
constexpr std::uint64_t access_rounds = 16;

void BM_access_threads_mmkit(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  thread_team team{threads};
  hosted_system<mutex_lock> sys{threads * (access_pages + 64) * page_size};
  thread_spaces made{sys, threads, access_pages};
  made.touch_all(access_pages);
  auto& spaces = made.spaces;
  auto& bases = made.bases;
  for (auto _ : state)
    state.SetIterationTime(team.run([&](std::size_t t) {
      for (std::uint64_t r = 0; r < access_rounds; ++r)
        for (std::uint64_t p = 0; p < access_pages; ++p)
          if (spaces[t]->access(bases[t] + p * page_size, access::read) !=
              status::success)
            std::abort();
    }));
  state.SetItemsProcessed(static_cast<std::int64_t>(
      state.iterations() * threads * access_pages * access_rounds));
}
BENCHMARK(BM_access_threads_mmkit)
    ->Name("BM_access_threads/mmkit")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();

/// The bound: each thread reads the same bytes of its own host buffer
/// (what a guest access costs once an emulator holds the host pointer).
void BM_access_threads_host(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  thread_team team{threads};
  std::vector<std::vector<std::byte>> buffers(
      threads, std::vector<std::byte>(access_pages * page_size, std::byte{1}));
  for (auto _ : state)
    state.SetIterationTime(team.run([&](std::size_t t) {
      const volatile std::byte* b = buffers[t].data();
      for (std::uint64_t r = 0; r < access_rounds; ++r)
        for (std::uint64_t p = 0; p < access_pages; ++p) (void)b[p * page_size];
    }));
  state.SetItemsProcessed(static_cast<std::int64_t>(
      state.iterations() * threads * access_pages * access_rounds));
}
BENCHMARK(BM_access_threads_host)
    ->Name("BM_access_threads/host_memory")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();

/// Threads against throughput for VirtualProtect: each thread flips 16
/// resident pages of its own address space between PAGE_READWRITE and
/// PAGE_READONLY, 4,096 times (one call per flip), and queries the range
/// after each. A private range of valid pages needs only its space's lock
/// (region::protect). host: mprotect alone (Linux has no cheap
/// call that answers as VirtualQuery does), on a mapping per thread.
constexpr std::uint64_t protect_pages = 16;
constexpr std::uint64_t protect_rounds = 4096;

void BM_protect_threads_mmkit(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  thread_team team{threads};
  hosted_system<mutex_lock> sys{threads * (protect_pages + 64) * page_size};
  thread_spaces made{sys, threads, protect_pages};
  made.touch_all(protect_pages);
  for (auto _ : state)
    state.SetIterationTime(team.run([&](std::size_t t) {
      locked_space& as = *made.spaces[t];
      for (std::uint64_t r = 0; r < protect_rounds; ++r) {
        vaddr at = made.bases[t];
        std::uint64_t size = protect_pages * page_size;
        std::uint32_t old = 0;
        if (as.protect(at, size, r % 2 ? page::readwrite : page::readonly,
                       old) != status::success)
          std::abort();
        memory_basic_information info;
        if (as.query(at, info) != status::success) std::abort();
        benchmark::DoNotOptimize(info.protect);
      }
    }));
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * threads * protect_rounds));
}
BENCHMARK(BM_protect_threads_mmkit)
    ->Name("BM_protect_threads/mmkit")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();

void BM_protect_threads_host(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  thread_team team{threads};
  const std::size_t bytes = protect_pages * page_size;
  std::vector<std::byte*> maps;
  for (std::size_t t = 0; t < threads; ++t) {
    void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) std::abort();
    std::memset(m, 1, bytes);
    maps.push_back(static_cast<std::byte*>(m));
  }
  for (auto _ : state)
    state.SetIterationTime(team.run([&](std::size_t t) {
      for (std::uint64_t r = 0; r < protect_rounds; ++r)
        if (mprotect(maps[t], bytes,
                     r % 2 ? PROT_READ | PROT_WRITE : PROT_READ) != 0)
          std::abort();
    }));
  for (std::byte* m : maps) munmap(m, bytes);
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * threads * protect_rounds));
}
BENCHMARK(BM_protect_threads_host)
    ->Name("BM_protect_threads/host")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();

/// BM_commit_threads: 1 MiB reserved and committed, then released.
constexpr std::uint64_t commit_pages = 256;
constexpr std::uint64_t commit_rounds = 1024;

void BM_commit_threads_mmkit(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  thread_team team{threads};
  hosted_system<mutex_lock> sys{threads * (commit_pages + 64) * page_size};
  thread_spaces made{sys, threads, 0};
  for (auto _ : state)
    state.SetIterationTime(team.run([&](std::size_t t) {
      locked_space& as = *made.spaces[t];
      for (std::uint64_t r = 0; r < commit_rounds; ++r) {
        vaddr at{0};
        std::uint64_t size = commit_pages * page_size;
        if (as.allocate(at, size, mem::reserve | mem::commit,
                        page::readwrite) != status::success)
          std::abort();
        size = 0;
        if (as.free(at, size, mem::release) != status::success) std::abort();
      }
    }));
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * threads * commit_rounds));
}
BENCHMARK(BM_commit_threads_mmkit)
    ->Name("BM_commit_threads/mmkit")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();

void BM_commit_threads_host(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  thread_team team{threads};
  const std::size_t bytes = commit_pages * page_size;
  for (auto _ : state)
    state.SetIterationTime(team.run([&](std::size_t) {
      for (std::uint64_t r = 0; r < commit_rounds; ++r) {
        void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) std::abort();
        munmap(m, bytes);
      }
    }));
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * threads * commit_rounds));
}
BENCHMARK(BM_commit_threads_host)
    ->Name("BM_commit_threads/host")
    ->Apply(thread_counts)
    ->Unit(benchmark::kMicrosecond)
    ->UseManualTime();

// --- snapshot restore ------------------------------------------------------

constexpr std::uint64_t restore_bytes = std::uint64_t{256} << 20;
constexpr std::uint64_t restore_pages = restore_bytes >> page_shift;

/// The page the run writes as its i-th of `dirty`: spread over the range.
std::uint64_t dirty_page(std::uint64_t i, std::uint64_t dirty) {
  return i * (restore_pages / dirty);
}

void BM_restore_mmkit(benchmark::State& state) {
  const auto dirty = static_cast<std::uint64_t>(state.range(0));
  auto sys = std::make_unique<hosted_system<>>(restore_bytes +
                                               (std::uint64_t{16} << 20));
  auto as = std::make_unique<space>(*sys);
  vaddr base{0};
  std::uint64_t size = restore_bytes;
  if (as->allocate(base, size, mem::reserve | mem::commit, page::readwrite) !=
      status::success)
    std::abort();
  std::vector<std::byte> ones(restore_bytes, std::byte{1});
  std::size_t done = 0;
  if (as->write(base, ones.data(), ones.size(), done) != status::success)
    std::abort();
  ones = {};
  emu::snapshot<space> snap;
  if (snap.take({as.get()}) != status::success) std::abort();
  std::uint32_t v = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < dirty; ++i) {
      ++v;
      if (as->write(base + dirty_page(i, dirty) * page_size, &v, sizeof v,
                    done) != status::success)
        std::abort();
    }
    if (snap.restore() != status::success) std::abort();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_restore_mmkit)
    ->Name("BM_restore/mmkit")
    ->Arg(16)
    ->Arg(1024)
    ->Unit(benchmark::kMicrosecond);

void BM_restore_fork(benchmark::State& state) {
  const auto dirty = static_cast<std::uint64_t>(state.range(0));
  void* m = mmap(nullptr, restore_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) std::abort();
  auto* bytes = static_cast<std::byte*>(m);
  std::memset(bytes, 1, restore_bytes);
  for (auto _ : state) {
    const pid_t child = fork();
    if (child < 0) std::abort();
    if (child == 0) {
      for (std::uint64_t i = 0; i < dirty; ++i)
        bytes[dirty_page(i, dirty) * page_size] = std::byte{2};
      _exit(0);
    }
    int st = 0;
    if (waitpid(child, &st, 0) != child) std::abort();
  }
  munmap(m, restore_bytes);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_restore_fork)
    ->Name("BM_restore/fork")
    ->Arg(16)
    ->Arg(1024)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_restore_memcpy(benchmark::State& state) {
  const auto dirty = static_cast<std::uint64_t>(state.range(0));
  std::vector<std::byte> live(restore_bytes, std::byte{1});
  std::vector<std::byte> copy(restore_bytes, std::byte{1});
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < dirty; ++i)
      live[dirty_page(i, dirty) * page_size] = std::byte{2};
    std::memcpy(live.data(), copy.data(), restore_bytes);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_restore_memcpy)
    ->Name("BM_restore/memcpy")
    ->Arg(16)
    ->Arg(1024)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
