// Pager benchmarks: soft and hard faults, trimming and trace replay in
// address_space<x86_64>, beside the host kernel where it has a peer:
//
//   BM_transition_fault/{mmkit,host}
//       one soft fault, per page: the first read of a page whose frame is
//       still in memory. mmkit: a private page trimmed to the modified
//       list (transition PTE), read again; host: the first read of a page
//       of a file already in the page cache, mapped afresh: a minor fault.
//       The kernel maps 16 pages around each such fault (fault-around), so
//       the host reads every 16th page: each read is one minor fault, as
//       the minflt counter shows.
//   BM_hard_fault/mmkit
//       one hard fault, per page: a private page written to the in-memory
//       page file and its frame repurposed, read again.
//   BM_trim/mmkit
//       one trim, per page: a valid private page leaves the working set
//       (transition PTE, frame to the modified list).
//   BM_replay/mmkit/{fits,spills}
//       accesses per second of a trace replayed through as.access(): a
//       synthetic trace of 1,000,000 references over 4,096 pages (a hot
//       set, loops and scans, as a program's references mix them), with
//       the working set's maximum at all its pages (fits) or a quarter
//       (spills: the space's clock trims and the references soft-fault).
//
// Each fixture is built once; rounds are restarted outside the timed
// region.

#include <mmkit/mmkit.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <benchmark/benchmark.h>

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

using namespace mmkit;
using space = address_space<arch::x86_64, hosted_config<>>;
using system_type = hosted_system<>;

namespace {

constexpr std::uint64_t mib = std::uint64_t{1} << 20;
constexpr std::uint64_t round_pages = 4096;  // 16 MiB per round
constexpr std::uint64_t round_bytes = round_pages * page_size;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "bench_pager: %s failed\n", what);
    std::abort();
  }
}

/// A space with `round_pages` committed, written pages and a page file.
struct private_fixture {
  private_fixture() : sys(256 * mib, 256 * mib), as(sys) {
    require(as.creation_status() == status::success, "address space");
    std::uint64_t size = round_bytes;
    require(as.allocate(base, size, mem::reserve | mem::commit,
                        page::readwrite) == status::success,
            "commit");
    for (std::uint64_t i = 0; i < round_pages; ++i)
      touch(i, mmkit::access::write);
  }
  vaddr page(std::uint64_t i) const { return base + (i << page_shift); }
  void touch(std::uint64_t i, mmkit::access kind) {
    require(as.access(page(i), kind) == status::success, "access");
  }
  void trim_all() {
    for (std::uint64_t i = 0; i < round_pages; ++i) (void)as.trim(page(i));
  }
  /// Every page to the page file, its frame repurposed.
  void page_out_all() {
    trim_all();
    require(sys.write_modified_pages(round_pages) == round_pages, "write");
    std::vector<pfn> taken;
    while (sys.pfns().count(page_state::standby) != 0) {
      auto f = sys.pfns().allocate(page_need::any);
      require(f.ok(), "repurpose");
      taken.push_back(*f);
    }
    for (pfn f : taken) sys.pfns().release(f, release_to::free_list);
  }

  system_type sys;
  space as;
  vaddr base{0};
};

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// --- BM_transition_fault -----------------------------------------------------

void BM_transition_fault_mmkit(benchmark::State& state) {
  private_fixture fx;
  fx.trim_all();
  std::uint64_t next = 0;
  for (auto _ : state) {
    if (next == round_pages) [[unlikely]] {
      state.PauseTiming();
      fx.trim_all();
      next = 0;
      state.ResumeTiming();
    }
    fx.touch(next++, mmkit::access::read);
  }
  const fault_counts f = fx.as.faults();
  state.counters["soft_faults_per_page"] =
      static_cast<double>(f.soft) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_transition_fault_mmkit)->Name("BM_transition_fault/mmkit");

void BM_transition_fault_host(benchmark::State& state) {
  char path[] = "/tmp/mmkit-bench-pager-XXXXXX";
  const int fd = mkstemp(path);
  require(fd >= 0, "mkstemp");
  std::remove(path);
  require(ftruncate(fd, static_cast<off_t>(round_bytes)) == 0, "ftruncate");
  {
    // Into the page cache once.
    void* p =
        mmap(nullptr, round_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    require(p != MAP_FAILED, "mmap");
    for (std::uint64_t off = 0; off < round_bytes; off += page_size)
      static_cast<char*>(p)[off] = 1;
    munmap(p, round_bytes);
  }
  auto map_round = [&] {
    void* p = mmap(nullptr, round_bytes, PROT_READ, MAP_SHARED, fd, 0);
    require(p != MAP_FAILED, "mmap");
    return static_cast<const char*>(p);
  };
  // One read per fault-around window (64 KiB).
  constexpr std::uint64_t stride = 16;
  const char* base = map_round();
  std::uint64_t next = 0;
  const long before = minor_faults();
  for (auto _ : state) {
    if (next == round_pages / stride) [[unlikely]] {
      state.PauseTiming();
      munmap(const_cast<char*>(base), round_bytes);
      base = map_round();
      next = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(*reinterpret_cast<const volatile char*>(
        base + ((next++ * stride) << page_shift)));
  }
  state.counters["minor_faults_per_page"] =
      static_cast<double>(minor_faults() - before) /
      static_cast<double>(state.iterations());
  munmap(const_cast<char*>(base), round_bytes);
  close(fd);
}
BENCHMARK(BM_transition_fault_host)->Name("BM_transition_fault/host");

// --- BM_hard_fault
// -------------------------------------------------------------

void BM_hard_fault_mmkit(benchmark::State& state) {
  private_fixture fx;
  fx.page_out_all();
  std::uint64_t next = 0;
  for (auto _ : state) {
    if (next == round_pages) [[unlikely]] {
      state.PauseTiming();
      fx.page_out_all();
      next = 0;
      state.ResumeTiming();
    }
    fx.touch(next++, mmkit::access::read);
  }
  state.counters["hard_faults_per_page"] =
      static_cast<double>(fx.as.faults().hard) /
      static_cast<double>(state.iterations());
}
BENCHMARK(BM_hard_fault_mmkit)->Name("BM_hard_fault/mmkit");

// --- BM_trim
// -------------------------------------------------------------------

void BM_trim_mmkit(benchmark::State& state) {
  private_fixture fx;
  std::uint64_t next = 0;
  for (auto _ : state) {
    if (next == round_pages) [[unlikely]] {
      state.PauseTiming();
      for (std::uint64_t i = 0; i < round_pages; ++i)
        fx.touch(i, mmkit::access::read);  // soft faults: valid again
      fx.sys.write_modified_pages(0);
      next = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(fx.as.trim(fx.page(next++)));
  }
}
BENCHMARK(BM_trim_mmkit)->Name("BM_trim/mmkit");

// --- BM_replay
// -----------------------------------------------------------------

/// The synthetic trace: page numbers in [0, pages).
std::vector<std::uint32_t> make_trace(std::uint32_t pages, std::size_t n) {
  std::mt19937 rng(42);
  std::vector<std::uint32_t> t;
  t.reserve(n);
  const std::uint32_t hot = pages / 16;
  while (t.size() < n) {
    switch (rng() % 3) {
      case 0:  // a burst in the hot set
        for (int i = 0; i < 64; ++i) t.push_back(rng() % hot);
        break;
      case 1: {  // a loop over a few pages
        const std::uint32_t first = rng() % (pages - 32);
        for (int rep = 0; rep < 4; ++rep)
          for (std::uint32_t p = first; p < first + 16; ++p) t.push_back(p);
        break;
      }
      default: {  // a scan
        const std::uint32_t first = rng() % (pages - 256);
        for (std::uint32_t p = first; p < first + 128; ++p) t.push_back(p);
        break;
      }
    }
  }
  t.resize(n);
  return t;
}

void BM_replay_mmkit(benchmark::State& state) {
  constexpr std::uint32_t pages = 4096;
  static const std::vector<std::uint32_t> trace = make_trace(pages, 1000000);
  const std::uint64_t maximum = state.range(0) != 0 ? pages : pages / 4;
  for (auto _ : state) {
    state.PauseTiming();
    {
      system_type sys(256 * mib, 256 * mib);
      space as(sys);
      require(as.set_working_set_limits(16, maximum) == status::success,
              "limits");
      vaddr base{0};
      std::uint64_t size = std::uint64_t{pages} * page_size;
      require(as.allocate(base, size, mem::reserve | mem::commit,
                          page::readwrite) == status::success,
              "commit");
      state.ResumeTiming();
      for (std::uint32_t p : trace)
        benchmark::DoNotOptimize(as.access(
            base + (std::uint64_t{p} << page_shift), mmkit::access::read));
      state.PauseTiming();
      state.counters["faults"] = static_cast<double>(
          as.faults().demand_zero + as.faults().soft + as.faults().hard);
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(trace.size()));
}
BENCHMARK(BM_replay_mmkit)
    ->Name("BM_replay/mmkit")
    ->ArgName("fits")
    ->Arg(1)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
