// PFN database benchmarks: allocating and freeing frames, beside what a
// user would otherwise pick (a std::vector free list of frame numbers, and
// malloc/free of a page), at scale (4 Mi frames, 16 GiB simulated), and
// creating a hosted system of 1 to 64 GiB beside the eager build it
// replaced (host memory reported as a counter).
//
// Instruction counts: `bench_pfn --callgrind-loop=N` runs N allocate+free
// pairs on a hot list and exits; run it under callgrind with N and 2N and
// divide the difference by N. That loop lets the compiler see the release
// right after the allocation; to count a benchmark's own loop, run it under
// `valgrind --tool=callgrind --dump-instr=yes` and divide the function's
// instructions by the run count of its hottest instruction (the number of
// iterations).

#include <mmkit/phys/host_memory.hpp>
#include <mmkit/phys/pfn_database.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include <malloc.h>
#include <unistd.h>

using namespace mmkit;

namespace {

using database = pfn_database<host_memory>;

/// A database with its memory and entry storage.
struct bench_db {
  explicit bench_db(std::uint32_t frames,
                    initial_contents contents = initial_contents::unknown)
      : memory(host_memory::create(std::uint64_t{frames} * page_size).value()),
        entries(frames),
        db(memory, entries.data(), frames, contents) {}
  host_memory memory;
  std::vector<pfn_entry> entries;
  database db;
};

constexpr std::uint32_t hot_frames = 1024;

// --- one frame, hot list ---------------------------------------------------

void BM_pfn_allocate_free_hot(benchmark::State& state) {
  bench_db b(hot_frames);
  for (auto _ : state) {
    result<pfn> f = b.db.allocate(page_need::any);
    benchmark::DoNotOptimize(f);
    benchmark::DoNotOptimize(b.db.release(*f, release_to::free_list));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pfn_allocate_free_hot);

// The same with four page colours and a rotating colour hint.
void BM_pfn_allocate_free_hot_coloured(benchmark::State& state) {
  host_memory memory =
      host_memory::create(std::uint64_t{hot_frames} * page_size).value();
  std::vector<pfn_entry> entries(hot_frames);
  pfn_database<host_memory, detached_owner, frame_number_colouring<4>> db(
      memory, entries.data(), hot_frames);
  std::uint32_t colour = 0;
  for (auto _ : state) {
    result<pfn> f = db.allocate(page_need::any, colour++);
    benchmark::DoNotOptimize(f);
    benchmark::DoNotOptimize(db.release(*f, release_to::free_list));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pfn_allocate_free_hot_coloured);

// Baseline: a free list of frame numbers in a std::vector (no state, no
// counts, no back-links).
void BM_pfn_vector_freelist_hot(benchmark::State& state) {
  std::vector<std::uint32_t> free_list(hot_frames);
  std::iota(free_list.begin(), free_list.end(), 0u);
  for (auto _ : state) {
    const std::uint32_t f = free_list.back();
    free_list.pop_back();
    benchmark::DoNotOptimize(f);
    free_list.push_back(f);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pfn_vector_freelist_hot);

// The same free list where a program keeps it: in memory the rest of the
// program may see (the vector escapes), so each pop and push reads and
// writes it, as the database's lists are read and written. (Above, the
// compiler proves nothing else sees the vector and keeps its last element
// in a register: that loop is one store, a decrement and a branch.)
void BM_pfn_vector_freelist_hot_escaped(benchmark::State& state) {
  std::vector<std::uint32_t> free_list(hot_frames);
  std::iota(free_list.begin(), free_list.end(), 0u);
  benchmark::DoNotOptimize(free_list);
  for (auto _ : state) {
    const std::uint32_t f = free_list.back();
    free_list.pop_back();
    benchmark::DoNotOptimize(f);
    free_list.push_back(f);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pfn_vector_freelist_hot_escaped);

// Baseline: the host allocator handing out a page-sized block.
void BM_pfn_malloc_free_4096(benchmark::State& state) {
  for (auto _ : state) {
    void* p = std::malloc(4096);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pfn_malloc_free_4096);

// A demand-zero page's life: take a zeroed frame, free it, and let the zero
// page worker zero one frame back (one 4 KiB clear per item, hot).
void BM_pfn_allocate_zeroed_free_rezero(benchmark::State& state) {
  bench_db b(hot_frames, initial_contents::zero);
  for (auto _ : state) {
    result<pfn> f = b.db.allocate(page_need::zeroed);
    benchmark::DoNotOptimize(f);
    benchmark::DoNotOptimize(b.db.release(*f, release_to::free_list));
    benchmark::DoNotOptimize(b.db.zero_free_pages(1));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pfn_allocate_zeroed_free_rezero);

// --- 4 Mi frames (16 GiB simulated) ---------------------------------------

constexpr std::uint32_t big_frames = 4u << 20;

// Puts every frame back on the free list in a random order, so that the
// allocations that follow walk entries scattered over 128 MiB of metadata.
void refill_shuffled(database& db, std::vector<pfn>& held, std::mt19937& rng) {
  std::shuffle(held.begin(), held.end(), rng);
  for (pfn f : held) (void)db.release(f, release_to::free_list);
  held.clear();
}

// Allocation from a large, cold, shuffled free list: each allocation reads
// and writes a PFN entry that is not in cache.
void BM_pfn_allocate_4Mi_cold(benchmark::State& state) {
  bench_db b(big_frames);
  std::vector<pfn> held;
  held.reserve(big_frames);
  std::mt19937 rng(42);
  while (b.db.count(page_state::free) != 0)
    held.push_back(b.db.allocate(page_need::any).value());
  refill_shuffled(b.db, held, rng);
  for (auto _ : state) {
    if (b.db.count(page_state::free) == 0) {
      state.PauseTiming();
      refill_shuffled(b.db, held, rng);
      state.ResumeTiming();
    }
    result<pfn> f = b.db.allocate(page_need::any);
    benchmark::DoNotOptimize(f);
    held.push_back(*f);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["frames"] = big_frames;
  state.counters["metadata_bytes_per_frame"] =
      static_cast<double>(sizeof(pfn_entry) * std::uint64_t{big_frames} +
                          sizeof(database)) /
      big_frames;
}
BENCHMARK(BM_pfn_allocate_4Mi_cold)->Unit(benchmark::kNanosecond);

// Allocate + free at scale: with LIFO free lists the frame freed last is
// taken next, so a 4 Mi-frame database costs what a small one does.
void BM_pfn_allocate_free_4Mi(benchmark::State& state) {
  bench_db b(big_frames);
  for (auto _ : state) {
    result<pfn> f = b.db.allocate(page_need::any);
    benchmark::DoNotOptimize(f);
    benchmark::DoNotOptimize(b.db.release(*f, release_to::free_list));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["metadata_bytes_per_frame"] =
      static_cast<double>(sizeof(pfn_entry) * std::uint64_t{big_frames} +
                          sizeof(database)) /
      big_frames;
}
BENCHMARK(BM_pfn_allocate_free_4Mi);

// Baseline at scale: a shuffled std::vector free list of 4 Mi frame numbers
// (4 bytes per frame, nothing else known about a frame).
void BM_pfn_vector_freelist_4Mi(benchmark::State& state) {
  std::vector<std::uint32_t> free_list(big_frames);
  std::iota(free_list.begin(), free_list.end(), 0u);
  std::mt19937 rng(42);
  std::shuffle(free_list.begin(), free_list.end(), rng);
  std::vector<std::uint32_t> held;
  held.reserve(big_frames);
  for (auto _ : state) {
    if (free_list.empty()) {
      state.PauseTiming();
      std::shuffle(held.begin(), held.end(), rng);
      free_list.swap(held);
      state.ResumeTiming();
    }
    const std::uint32_t f = free_list.back();
    free_list.pop_back();
    benchmark::DoNotOptimize(f);
    held.push_back(f);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["metadata_bytes_per_frame"] = sizeof(std::uint32_t);
}
BENCHMARK(BM_pfn_vector_freelist_4Mi);

// Repurposing: every allocation takes the oldest standby frame and calls the
// owner back to rewrite its PTE (here, a store into an array of PTEs).
struct pte_array_owner {
  std::uint64_t* ptes = nullptr;
  void repurpose(pfn, pte_link link, std::uint64_t original) noexcept {
    ptes[link.value / 8] = original;
  }
};
static_assert(StandbyOwner<pte_array_owner>);

void BM_pfn_allocate_repurpose_standby(benchmark::State& state) {
  host_memory memory =
      host_memory::create(std::uint64_t{hot_frames} * page_size).value();
  std::vector<pfn_entry> entries(hot_frames);
  std::vector<std::uint64_t> ptes(hot_frames);
  pfn_database<host_memory, pte_array_owner> db(
      memory, entries.data(), hot_frames, initial_contents::unknown,
      pte_array_owner{ptes.data()});
  // Every frame mapped once, then all on standby: the lists hold nothing
  // else, so each allocation must repurpose.
  std::vector<pfn> frames;
  while (db.count(page_state::free) != 0) {
    const pfn f = db.allocate(page_need::any).value();
    db.set_pte_link(f, pte_link::hardware_pte(paddr{f.raw() * 8}), 0x80);
    frames.push_back(f);
  }
  for (pfn f : frames) (void)db.release(f, release_to::backing_store);
  for (auto _ : state) {
    result<pfn> f = db.allocate(page_need::any);
    benchmark::DoNotOptimize(f);
    db.set_pte_link(*f, pte_link::hardware_pte(paddr{f->raw() * 8}), 0x80);
    benchmark::DoNotOptimize(db.release(*f, release_to::backing_store));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pfn_allocate_repurpose_standby);

// Soft fault and re-release: a standby frame back to active and back.
void BM_pfn_reclaim_release_standby(benchmark::State& state) {
  bench_db b(hot_frames);
  std::vector<pfn> frames;
  while (b.db.count(page_state::free) != 0)
    frames.push_back(b.db.allocate(page_need::any).value());
  for (pfn f : frames) (void)b.db.release(f, release_to::backing_store);
  std::mt19937 rng(7);
  std::shuffle(frames.begin(), frames.end(), rng);
  const std::size_t mask = frames.size() - 1;
  std::size_t i = 0;
  for (auto _ : state) {
    const pfn f = frames[i++ & mask];
    b.db.reclaim(f);
    benchmark::DoNotOptimize(b.db.release(f, release_to::backing_store));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pfn_reclaim_release_standby);

// --- creating a system: lazy entries beside the eager build ---------------

// The host memory this process holds (resident set, /proc/self/statm).
std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (got != 2) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Reports what one more `make()` holds beyond what the process held before
// it: after creation, and after the first frame is handed out and written.
// The heap's free memory goes back to the host first, so that memory an
// earlier benchmark freed is not counted as free of charge.
template <class Make, class First>
void report_rss(benchmark::State& state, Make make, First first) {
  ::malloc_trim(0);
  const std::uint64_t before = resident_bytes();
  auto made = make();
  const std::uint64_t created = resident_bytes();
  first(*made);
  const std::uint64_t used = resident_bytes();
  state.counters["rss_created_bytes"] =
      static_cast<double>(created > before ? created - before : 0);
  state.counters["rss_first_frame_bytes"] =
      static_cast<double>(used > before ? used - before : 0);
}

// A hosted system of state.range(0) GiB, created and destroyed: O(1), the
// entries a lazily committed reservation that the database writes only as
// frames are first handed out.
void BM_pfn_create_hosted(benchmark::State& state) {
  const std::uint64_t bytes = static_cast<std::uint64_t>(state.range(0)) << 30;
  for (auto _ : state) {
    hosted_system<> sys{bytes};
    benchmark::DoNotOptimize(sys.pfns().available());
  }
  state.SetItemsProcessed(state.iterations());
  report_rss(
      state, [&] { return std::make_unique<hosted_system<>>(bytes); },
      [](hosted_system<>& sys) {
        const pfn f = sys.pfns().allocate(page_need::zeroed).value();
        std::memset(sys.memory().frame(f), 0x5A, page_size);
      });
}
BENCHMARK(BM_pfn_create_hosted)
    ->Arg(1)
    ->Arg(8)
    ->Arg(64)
    ->Unit(benchmark::kMicrosecond);

// Peer: the eager build hosted_system did before, over the same host
// reservation for the frames: a std::vector of every entry, each written
// and linked onto the zeroed list lowest first.
struct eager_system {
  explicit eager_system(std::uint64_t bytes)
      : memory(host_memory::create(bytes).value()),
        entries(memory.frame_count()) {
    const auto n = static_cast<std::uint32_t>(entries.size());
    for (std::uint32_t i = 0; i < n; ++i) {
      pfn_entry& e = entries[i];
      e = pfn_entry{};
      e.set_colour(0);
      e.set_state(page_state::zeroed);
      e.set_prev(i == 0 ? pfn_entry::no_frame : i - 1);
      e.set_next(i + 1 == n ? pfn_entry::no_frame : i + 1);
    }
  }
  host_memory memory;
  std::vector<pfn_entry> entries;
};

void BM_pfn_create_eager(benchmark::State& state) {
  const std::uint64_t bytes = static_cast<std::uint64_t>(state.range(0)) << 30;
  for (auto _ : state) {
    eager_system sys{bytes};
    benchmark::DoNotOptimize(sys.entries.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  report_rss(
      state, [&] { return std::make_unique<eager_system>(bytes); },
      [](eager_system& sys) {
        std::memset(sys.memory.frame(pfn{0}), 0x5A, page_size);
      });
}
BENCHMARK(BM_pfn_create_eager)
    ->Arg(1)
    ->Arg(8)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // A fixed loop for instruction counting, outside Google Benchmark.
  if (argc == 2 && std::strncmp(argv[1], "--callgrind-loop=", 17) == 0) {
    const long n = std::atol(argv[1] + 17);
    bench_db b(hot_frames);
    std::uint64_t sum = 0;
    for (long k = 0; k < n; ++k) {
      result<pfn> f = b.db.allocate(page_need::any);
      sum += f->raw();
      benchmark::DoNotOptimize(b.db.release(*f, release_to::free_list));
    }
    benchmark::DoNotOptimize(sum);
    return b.db.check_invariants() ? 0 : 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
