// address_space benchmarks: NT's private-memory calls, the demand-zero fault
// and guest reads of address_space<x86_64>, each beside the peers a user
// would otherwise pick, in one binary:
//
//   BM_as_reserve_commit_release/{mmkit,mmkit_scattered,host,unicorn}/<live>
//       mmkit: allocate(base 0, 64 KiB, MEM_RESERVE|MEM_COMMIT, RW) and
//       free(MEM_RELEASE) with 1e3..1e6 live VADs, packed so that no hole
//       among them takes an aligned 64 KiB (the bottom-up search must pass
//       them all), or scattered with holes of every size; host:
//       mmap(PROT_NONE) + mprotect(RW) + munmap of 64 KiB, untouched, with 0
//       or 1e4 other live mappings; unicorn: uc_mem_map + uc_mem_unmap of
//       64 KiB with 0..2000 regions mapped.
//   BM_as_protect_flip/{mmkit,host,unicorn}
//       one committed, touched page READWRITE -> READONLY -> READWRITE
//       (two calls per item).
//   BM_as_demand_zero_fault/{mmkit,mmkit_zero_on_the_spot,
//                            mmkit_store_byte,host}
//       the first write to a committed page: mmkit's access(va, write) with
//       the zeroed list stocked, or empty (a free frame is zeroed at fault
//       time), or write() of one byte (fault and store, stocked); the
//       host's first-touch write fault on anonymous memory (one byte).
//   BM_as_read8/{mmkit,translator,unicorn}
//       8 bytes from a resident guest page: address_space::read (the NT
//       call), the translator's inline TLB path under it, uc_mem_read.
//   BM_as_metadata/mmkit
//       times query() at 1e5 VADs and reports the metadata bytes per VAD
//       and per committed, touched page as counters, measured from the
//       heap and from the frames the page tables hold.
//
// Every fixture is built once per (kind, N) and reused by all repetitions;
// addresses are precomputed and indexed with a power-of-two mask.
//
// Instruction counts: `bench_address_space --callgrind-loop=<op>:<N>` runs N
// items of one operation (rcr[s][<live VADs>], protect, fault, fault_spot,
// read, xlat) after its set-up and exits; run it under callgrind with N and 2N
// and divide the difference by N.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <benchmark/benchmark.h>
#include <unicorn/unicorn.h>

#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using namespace mmkit;

namespace {

using space = address_space<arch::x86_64, hosted_config<>>;
using system_type = hosted_system<>;
/// The translator an address space reads through, over the system's PFN
/// database directly (an address space's own goes through its
/// table_frame_source, which only marks the table frames as its own).
using translator_type =
    translator<arch::x86_64, host_memory, system_type::database_type>;

constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = kib * kib;
constexpr std::uint64_t gib = mib * kib;
constexpr std::uint64_t alloc_bytes = 64 * kib;
constexpr std::uint64_t user_lowest = space::lowest_user_address;

constexpr std::size_t probe_count = 1 << 12;
constexpr std::size_t probe_mask = probe_count - 1;

/// Set-up must not fail; a benchmark over a broken fixture measures nothing.
void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "address_space_bench: set-up failed: %s\n", what);
    std::abort();
  }
}

status allocate(space& as, std::uint64_t base, std::uint64_t size,
                std::uint32_t type, std::uint32_t prot) {
  vaddr b{base};
  return as.allocate(b, size, type, prot);
}

// --- live VADs --------------------------------------------------------------

/// How the live VADs lie.
///   packed     VAD i starts on granule 2i and covers 17..31 pages, so the
///              hole after each is 1..15 pages and never holds an aligned
///              64 KiB: a bottom-up search for 64 KiB must get past all of
///              them, and its answer is the first granule above them (the
///              search's worst case).
///   scattered  n VADs of 1..31 pages in n of 2n two-granule slots chosen
///              at random: holes of every size, the first fit near the
///              bottom (a fragmented process).
///
///   packed:   granule 2i          2i+1        2i+2
///             [VAD i ----------]hole          [VAD i+1 ---------]hole ...
enum class layout : std::uint8_t { packed, scattered };

/// `n` reserve-only VADs laid out as `how` says and inserted in a random
/// order (seed n), and the base a bottom-up 64 KiB reservation gets.
struct populated_space {
  populated_space(system_type& sys, std::uint64_t n, layout how) : as(sys) {
    require(as.creation_status() == status::success, "address space");
    const std::uint64_t slots = how == layout::packed ? n : 2 * n;
    std::vector<std::uint64_t> order(slots);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(n);
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(n);
    std::vector<std::uint64_t> pages_in(slots, 0);  // 0: an empty slot
    for (std::uint64_t i : order) {
      const std::uint64_t pages =
          how == layout::packed ? 17 + rng() % 15 : 1 + rng() % 31;
      pages_in[i] = pages;
      require(allocate(as, slot_base(i), pages * page_size, mem::reserve,
                       page::readwrite) == status::success,
              "live VAD");
    }
    // The lowest granule no VAD touches.
    expected_base = slot_base(slots);
    for (std::uint64_t i = 0; i < slots; ++i) {
      if (pages_in[i] == 0 || pages_in[i] <= granularity_pages) {
        expected_base =
            slot_base(i) + (pages_in[i] == 0 ? 0 : allocation_granularity);
        break;
      }
    }
  }
  /// The base of the i-th two-granule slot.
  static std::uint64_t slot_base(std::uint64_t i) {
    return user_lowest + i * 2 * allocation_granularity;
  }
  static constexpr std::uint64_t granularity_pages =
      allocation_granularity / page_size;
  space as;
  std::uint64_t expected_base = 0;
};

/// The system every populated space shares: physical memory is reserved
/// lazily, and reserve-only VADs cost no frames, only a root table each.
system_type& shared_system() {
  static system_type sys{1 * gib, 8 * gib};
  return sys;
}

/// One populated space per (N, layout), built on first use and kept for the
/// process.
populated_space& populated(std::uint64_t n, layout how = layout::packed) {
  // The system first, so that it is destroyed after the spaces on it.
  system_type& sys = shared_system();
  static std::map<std::pair<std::uint64_t, layout>,
                  std::unique_ptr<populated_space>>
      cache;
  auto& slot = cache[{n, how}];
  if (!slot) slot = std::make_unique<populated_space>(sys, n, how);
  return *slot;
}

// --- reserve + commit + release of 64 KiB -----------------------------------

void reserve_commit_release(benchmark::State& state, layout how) {
  populated_space& p =
      populated(static_cast<std::uint64_t>(state.range(0)), how);
  space& as = p.as;
  {
    // The answer must be the lowest granule no live VAD touches.
    vaddr base{0};
    std::uint64_t size = alloc_bytes;
    require(as.allocate(base, size, mem::reserve | mem::commit,
                        page::readwrite) == status::success &&
                base.raw() == p.expected_base,
            "first fit above the live VADs");
    std::uint64_t zero = 0;
    require(as.free(base, zero, mem::release) == status::success, "release");
  }
  for (auto _ : state) {
    vaddr base{0};
    std::uint64_t size = alloc_bytes;
    const status a =
        as.allocate(base, size, mem::reserve | mem::commit, page::readwrite);
    std::uint64_t zero = 0;
    const status f = as.free(base, zero, mem::release);
    if (a != status::success || f != status::success) [[unlikely]] {
      state.SkipWithError("allocate or free failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["live_vads"] = static_cast<double>(as.vads().size());
}

void BM_as_reserve_commit_release_mmkit(benchmark::State& state) {
  reserve_commit_release(state, layout::packed);
}
BENCHMARK(BM_as_reserve_commit_release_mmkit)
    ->Name("BM_as_reserve_commit_release/mmkit")
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000);

void BM_as_reserve_commit_release_mmkit_scattered(benchmark::State& state) {
  reserve_commit_release(state, layout::scattered);
}
BENCHMARK(BM_as_reserve_commit_release_mmkit_scattered)
    ->Name("BM_as_reserve_commit_release/mmkit_scattered")
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000);

/// `n` live host mappings: one PROT_NONE reservation of 2n * 64 KiB whose
/// every other 64 KiB is made PROT_READ, so the kernel keeps 2n VMAs (they
/// cannot merge) and no hole among them.
struct host_live_mappings {
  explicit host_live_mappings(std::uint64_t n) : bytes(2 * n * alloc_bytes) {
    if (n == 0) return;
    base = ::mmap(nullptr, bytes, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    require(base != MAP_FAILED, "host live mappings");
    for (std::uint64_t i = 0; i < n; ++i)
      require(::mprotect(static_cast<char*>(base) + 2 * i * alloc_bytes,
                         alloc_bytes, PROT_READ) == 0,
              "host live mapping split");
  }
  ~host_live_mappings() {
    if (base != nullptr) ::munmap(base, bytes);
  }
  std::uint64_t bytes;
  void* base = nullptr;
};

void BM_as_reserve_commit_release_host(benchmark::State& state) {
  const host_live_mappings live(static_cast<std::uint64_t>(state.range(0)));
  for (auto _ : state) {
    void* p = ::mmap(nullptr, alloc_bytes, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const int m = ::mprotect(p, alloc_bytes, PROT_READ | PROT_WRITE);
    const int u = ::munmap(p, alloc_bytes);
    if (p == MAP_FAILED || m != 0 || u != 0) [[unlikely]] {
      state.SkipWithError("mmap, mprotect or munmap failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_as_reserve_commit_release_host)
    ->Name("BM_as_reserve_commit_release/host")
    ->Arg(0)
    ->Arg(10000);

/// A unicorn x86-64 engine with `regions` 4 KiB regions mapped one page
/// apart (unicorn keeps a sorted array of regions; each map or unmap also
/// rebuilds the engine's memory view, O(regions)).
struct unicorn_engine {
  explicit unicorn_engine(std::uint64_t regions) {
    require(uc_open(UC_ARCH_X86, UC_MODE_64, &uc) == UC_ERR_OK, "uc_open");
    for (std::uint64_t i = 0; i < regions; ++i)
      require(uc_mem_map(uc, 0x100000 + i * 0x2000, 0x1000,
                         UC_PROT_READ | UC_PROT_WRITE) == UC_ERR_OK,
              "uc_mem_map");
  }
  ~unicorn_engine() { uc_close(uc); }
  unicorn_engine(const unicorn_engine&) = delete;
  unicorn_engine& operator=(const unicorn_engine&) = delete;
  uc_engine* uc = nullptr;
};

unicorn_engine& unicorn_with(std::uint64_t regions) {
  static std::map<std::uint64_t, std::unique_ptr<unicorn_engine>> cache;
  auto& slot = cache[regions];
  if (!slot) slot = std::make_unique<unicorn_engine>(regions);
  return *slot;
}

void BM_as_reserve_commit_release_unicorn(benchmark::State& state) {
  uc_engine* uc = unicorn_with(static_cast<std::uint64_t>(state.range(0))).uc;
  constexpr std::uint64_t at = 0x100000000;  // above every live region
  for (auto _ : state) {
    const uc_err m = uc_mem_map(uc, at, alloc_bytes, UC_PROT_ALL);
    const uc_err u = uc_mem_unmap(uc, at, alloc_bytes);
    if (m != UC_ERR_OK || u != UC_ERR_OK) [[unlikely]] {
      state.SkipWithError("uc_mem_map or uc_mem_unmap failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_as_reserve_commit_release_unicorn)
    ->Name("BM_as_reserve_commit_release/unicorn")
    ->Arg(0)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(2000)
    ->Unit(benchmark::kMicrosecond);

// --- a query of a huge fresh reservation -----------------------------------

/// One NtQueryVirtualMemory of a fresh 64 TiB reservation (nothing
/// committed, no page table below the root): the walk skips the missing
/// subtrees whole, so the query costs microseconds, not one step per page.
void BM_as_query_huge_mmkit(benchmark::State& state) {
  system_type sys{16 * mib};
  space as{sys};
  constexpr std::uint64_t huge = std::uint64_t{64} << 40;
  vaddr b{0};
  std::uint64_t size = huge;
  require(
      as.allocate(b, size, mem::reserve, page::readwrite) == status::success,
      "64 TiB reservation");
  for (auto _ : state) {
    memory_basic_information info;
    const status s = as.query(b, info);
    if (s != status::success || info.region_size != huge) [[unlikely]] {
      state.SkipWithError("query failed");
      break;
    }
    benchmark::DoNotOptimize(info);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_as_query_huge_mmkit)
    ->Name("BM_as_query_huge/mmkit")
    ->Unit(benchmark::kMicrosecond);

/// The host's nearest equivalent (Linux has no query of a mapping's state
/// short of /proc or mincore): an mmap of 64 TiB with PROT_NONE, then one
/// mprotect of its first page and back, which finds and splits the VMA.
void BM_as_query_huge_host(benchmark::State& state) {
  constexpr std::uint64_t huge = std::uint64_t{64} << 40;
  void* p = ::mmap(nullptr, huge, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    state.SkipWithError("the host would not reserve 64 TiB");
    return;
  }
  for (auto _ : state) {
    const int a = ::mprotect(p, page_size, PROT_READ);
    const int c = ::mprotect(p, page_size, PROT_NONE);
    if (a != 0 || c != 0) [[unlikely]] {
      state.SkipWithError("mprotect failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  ::munmap(p, huge);
}
BENCHMARK(BM_as_query_huge_host)
    ->Name("BM_as_query_huge/host")
    ->Unit(benchmark::kMicrosecond);

// --- protect flip of one page -----------------------------------------------

/// 1e4 live VADs (as above) plus one 64 KiB committed READWRITE allocation
/// whose pages are all touched (resident, valid PTEs, TLB warm).
struct resident_space {
  resident_space() : populated(shared_system(), 10000, layout::packed) {
    vaddr b{0};
    std::uint64_t size = alloc_bytes;
    require(populated.as.allocate(b, size, mem::reserve | mem::commit,
                                  page::readwrite) == status::success,
            "resident allocation");
    base = b.raw();
    for (std::uint64_t off = 0; off < alloc_bytes; off += page_size) {
      const std::uint64_t v = off ^ 0x5A5A5A5A5A5A5A5Aull;
      std::size_t done = 0;
      require(populated.as.write(vaddr{base + off}, &v, sizeof v, done) ==
                  status::success,
              "touch");
    }
  }
  populated_space populated;
  std::uint64_t base = 0;
};

resident_space& resident() {
  (void)shared_system();  // constructed first, destroyed last
  static resident_space r;
  return r;
}

void BM_as_protect_flip_mmkit(benchmark::State& state) {
  resident_space& r = resident();
  space& as = r.populated.as;
  for (auto _ : state) {
    vaddr b{r.base};
    std::uint64_t size = page_size;
    std::uint32_t old = 0;
    const status s1 = as.protect(b, size, page::readonly, old);
    b = vaddr{r.base};
    size = page_size;
    const status s2 = as.protect(b, size, page::readwrite, old);
    if (s1 != status::success || s2 != status::success || old != page::readonly)
        [[unlikely]] {
      state.SkipWithError("protect failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_as_protect_flip_mmkit)->Name("BM_as_protect_flip/mmkit");

void BM_as_protect_flip_host(benchmark::State& state) {
  void* p = ::mmap(nullptr, page_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  require(p != MAP_FAILED, "mmap");
  *static_cast<volatile char*>(p) = 1;
  for (auto _ : state) {
    const int a = ::mprotect(p, page_size, PROT_READ);
    const int b = ::mprotect(p, page_size, PROT_READ | PROT_WRITE);
    if (a != 0 || b != 0) [[unlikely]] {
      state.SkipWithError("mprotect failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  ::munmap(p, page_size);
}
BENCHMARK(BM_as_protect_flip_host)->Name("BM_as_protect_flip/host");

void BM_as_protect_flip_unicorn(benchmark::State& state) {
  // A one-page region, so that unicorn never has to split it: its cheapest
  // protect.
  unicorn_engine e(0);
  constexpr std::uint64_t at = 0x10000;
  require(uc_mem_map(e.uc, at, page_size, UC_PROT_READ | UC_PROT_WRITE) ==
              UC_ERR_OK,
          "uc_mem_map");
  const std::uint64_t v = 1;
  require(uc_mem_write(e.uc, at, &v, sizeof v) == UC_ERR_OK, "uc_mem_write");
  for (auto _ : state) {
    const uc_err a = uc_mem_protect(e.uc, at, page_size, UC_PROT_READ);
    const uc_err b =
        uc_mem_protect(e.uc, at, page_size, UC_PROT_READ | UC_PROT_WRITE);
    if (a != UC_ERR_OK || b != UC_ERR_OK) [[unlikely]] {
      state.SkipWithError("uc_mem_protect failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_as_protect_flip_unicorn)
    ->Name("BM_as_protect_flip/unicorn")
    ->Unit(benchmark::kMicrosecond);

// --- demand-zero fault ------------------------------------------------------

constexpr std::uint64_t fault_bytes = 64 * mib;
constexpr std::uint64_t fault_pages = fault_bytes / page_size;

/// Whether the zeroed list is kept stocked between rounds.
enum class zeroed_list : std::uint8_t { stocked, empty };
/// What the timed first write does: access(va, write) only, or write() of
/// one byte (the fault plus the store into the frame).
enum class first_write : std::uint8_t { access_only, store_byte };

/// A system just larger than one 64 MiB committed region, whose frames have
/// all been written once (so the host has backed them: a fault in the
/// simulation never waits on a host page fault), and whose zeroed list is
/// either stocked with the region's frames or empty (every frame on the free
/// list, zeroed at fault time).
///
/// One round faults every page of the region once; next_round() (outside
/// the timed region) decommits and recommits it and, when stocked, lets the
/// zero page worker zero the freed frames.
struct fault_space {
  explicit fault_space(zeroed_list z)
      : zeroed(z), sys{fault_bytes + 16 * mib, fault_bytes}, as(sys) {
    require(as.creation_status() == status::success, "address space");
    vaddr b{0};
    std::uint64_t size = fault_bytes;
    require(as.allocate(b, size, mem::reserve | mem::commit, page::readwrite) ==
                status::success,
            "commit 64 MiB");
    base = b.raw();
    // Every frame gets written once: the region's frames through the guest,
    // the rest (and so every frame the page tables may take) directly.
    const std::uint64_t v = 0xA5;
    for (std::uint64_t p = 0; p < fault_pages; ++p) {
      std::size_t done = 0;
      require(
          as.write(vaddr{base + p * page_size}, &v, 1, done) == status::success,
          "warm-up write");
    }
    std::vector<pfn> rest;
    auto& db = sys.pfns();
    while (db.count(page_state::zeroed) + db.count(page_state::free) != 0) {
      auto f = db.allocate(page_need::any);
      require(f.ok(), "drain");
      std::memset(sys.memory().frame(*f), 0xA5, page_size);
      rest.push_back(*f);
    }
    for (pfn f : rest) (void)db.release(f, release_to::free_list);
    next_round();
  }

  /// Effects: every page of the region committed and untouched again; the
  /// zeroed list restocked when `zeroed` says so.
  void next_round() {
    vaddr b{base};
    std::uint64_t size = fault_bytes;
    require(as.free(b, size, mem::decommit) == status::success, "decommit");
    b = vaddr{base};
    size = fault_bytes;
    require(
        as.allocate(b, size, mem::commit, page::readwrite) == status::success,
        "recommit");
    if (zeroed == zeroed_list::stocked)
      (void)sys.zero_free_pages(sys.pfns().count(page_state::free));
    next = 0;
  }

  /// Effects: one demand-zero fault (and its round's restart, untimed):
  /// the simulated CPU's write access alone, or with the byte written as
  /// the host benchmark writes it (write() faults the page in and stores).
  template <class Pause, class Resume>
  status fault_one(Pause&& pause, Resume&& resume,
                   first_write how = first_write::access_only) {
    if (next == fault_pages) [[unlikely]] {
      pause();
      next_round();
      resume();
    }
    const vaddr va{base + (next++ << page_shift)};
    if (how == first_write::access_only)
      return as.access(va, mmkit::access::write);
    const std::uint8_t one = 1;
    std::size_t done = 0;
    return as.write(va, &one, 1, done);
  }

  zeroed_list zeroed;
  system_type sys;
  space as;
  std::uint64_t base = 0;
  std::uint64_t next = 0;
};

void fault_benchmark(benchmark::State& state, zeroed_list z,
                     first_write how = first_write::access_only) {
  fault_space f(z);
  const fault_counts before = f.as.faults();
  for (auto _ : state) {
    const status s = f.fault_one([&] { state.PauseTiming(); },
                                 [&] { state.ResumeTiming(); }, how);
    if (s != status::success) [[unlikely]] {
      state.SkipWithError("fault failed");
      break;
    }
  }
  const fault_counts& after = f.as.faults();
  const double faults =
      static_cast<double>(after.demand_zero - before.demand_zero);
  state.SetItemsProcessed(state.iterations());
  // How many of the faults had to clear their frame (0 when stocked, 1 when
  // empty) and page-table pages per fault: proof of what was measured.
  state.counters["zeroed_on_the_spot"] =
      faults == 0 ? 0
                  : static_cast<double>(after.zeroed_on_the_spot -
                                        before.zeroed_on_the_spot) /
                        faults;
  state.counters["table_pages_per_fault"] =
      faults == 0
          ? 0
          : static_cast<double>(after.table_pages - before.table_pages) /
                faults;
}

void BM_as_demand_zero_fault_mmkit(benchmark::State& state) {
  fault_benchmark(state, zeroed_list::stocked);
}
BENCHMARK(BM_as_demand_zero_fault_mmkit)->Name("BM_as_demand_zero_fault/mmkit");

void BM_as_demand_zero_fault_mmkit_spot(benchmark::State& state) {
  fault_benchmark(state, zeroed_list::empty);
}
BENCHMARK(BM_as_demand_zero_fault_mmkit_spot)
    ->Name("BM_as_demand_zero_fault/mmkit_zero_on_the_spot");

// As the host benchmark does: the fault and the one-byte store, through
// address_space::write (the store misses the cache, as the host's does).
void BM_as_demand_zero_fault_mmkit_store(benchmark::State& state) {
  fault_benchmark(state, zeroed_list::stocked, first_write::store_byte);
}
BENCHMARK(BM_as_demand_zero_fault_mmkit_store)
    ->Name("BM_as_demand_zero_fault/mmkit_store_byte");

/// Touches and frees about 1 GiB once, so that the host's first-touch
/// faults that follow do not also pay for the host growing its own
/// reserves.
void prime_host_memory() {
  static const bool primed = [] {
    void* p = ::mmap(nullptr, gib, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    require(p != MAP_FAILED, "prime mmap");
    ::madvise(p, gib, MADV_NOHUGEPAGE);
    for (std::uint64_t off = 0; off < gib; off += page_size)
      static_cast<volatile char*>(p)[off] = 1;
    ::munmap(p, gib);
    return true;
  }();
  (void)primed;
}

void* host_fault_region() {
  void* p = ::mmap(nullptr, fault_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  require(p != MAP_FAILED, "mmap");
  require(::madvise(p, fault_bytes, MADV_NOHUGEPAGE) == 0, "madvise");
  return p;
}

void BM_as_demand_zero_fault_host(benchmark::State& state) {
  prime_host_memory();
  char* p = static_cast<char*>(host_fault_region());
  std::uint64_t next = 0;
  for (auto _ : state) {
    if (next == fault_pages) [[unlikely]] {
      state.PauseTiming();
      ::munmap(p, fault_bytes);
      p = static_cast<char*>(host_fault_region());
      next = 0;
      state.ResumeTiming();
    }
    static_cast<volatile char*>(p)[next++ << page_shift] = 1;
  }
  state.SetItemsProcessed(state.iterations());
  ::munmap(p, fault_bytes);
}
BENCHMARK(BM_as_demand_zero_fault_host)->Name("BM_as_demand_zero_fault/host");

// --- reading 8 bytes of a resident page -------------------------------------

/// Random 8-byte-aligned offsets into a 64 KiB region (16 pages, so every
/// page stays in a direct-mapped TLB at once).
const std::vector<std::uint64_t>& read_offsets() {
  static const std::vector<std::uint64_t> offsets = [] {
    std::vector<std::uint64_t> o(probe_count);
    std::mt19937_64 rng(8);
    for (auto& x : o) x = (rng() % (alloc_bytes / 8)) * 8;
    return o;
  }();
  return offsets;
}

void BM_as_read8_mmkit(benchmark::State& state) {
  resident_space& r = resident();
  space& as = r.populated.as;
  const auto& off = read_offsets();
  std::size_t i = 0;
  for (auto _ : state) {
    std::uint64_t v = 0;
    std::size_t done = 0;
    const status s =
        as.read(vaddr{r.base + off[i++ & probe_mask]}, &v, sizeof v, done);
    benchmark::DoNotOptimize(v);
    if (s != status::success) [[unlikely]] {
      state.SkipWithError("read failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_as_read8_mmkit)->Name("BM_as_read8/mmkit");

/// The translator an address space reads through, alone: a page table with
/// 16 pages mapped read/write at the same guest addresses.
struct translator_fixture {
  translator_fixture() : sys{16 * mib} {
    auto t = translator_type::create(sys.memory(), sys.pfns());
    require(t.ok(), "translator");
    xlat = std::move(t).value();
    for (std::uint64_t off = 0; off < alloc_bytes; off += page_size) {
      auto f = sys.pfns().allocate(page_need::zeroed);
      require(f.ok(), "frame");
      require(xlat.map(vaddr{base + off}, f->address(), page_size,
                       page_attr::user | page_attr::write)
                  .ok(),
              "map");
    }
  }
  static constexpr std::uint64_t base = 0x10000;
  system_type sys;
  translator_type xlat;
};

void BM_as_read8_translator(benchmark::State& state) {
  translator_fixture t;
  const auto& off = read_offsets();
  std::size_t i = 0;
  for (auto _ : state) {
    std::uint64_t v = 0;
    const bool ok = t.xlat.load(vaddr{t.base + off[i++ & probe_mask]}, v);
    benchmark::DoNotOptimize(v);
    if (!ok) [[unlikely]] {
      state.SkipWithError("load failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_as_read8_translator)->Name("BM_as_read8/translator");

void BM_as_read8_unicorn(benchmark::State& state) {
  unicorn_engine e(0);
  constexpr std::uint64_t at = 0x10000;
  require(uc_mem_map(e.uc, at, alloc_bytes, UC_PROT_READ | UC_PROT_WRITE) ==
              UC_ERR_OK,
          "uc_mem_map");
  const auto& off = read_offsets();
  std::size_t i = 0;
  for (auto _ : state) {
    std::uint64_t v = 0;
    const uc_err s = uc_mem_read(e.uc, at + off[i++ & probe_mask], &v, 8);
    benchmark::DoNotOptimize(v);
    if (s != UC_ERR_OK) [[unlikely]] {
      state.SkipWithError("uc_mem_read failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_as_read8_unicorn)->Name("BM_as_read8/unicorn");

// --- metadata bytes ---------------------------------------------------------

constexpr std::uint64_t metadata_vads = 100000;

/// Bytes of heap in use (glibc's count of allocated bytes, chunk headers
/// included).
std::uint64_t heap_in_use() {
  const struct mallinfo2 m = ::mallinfo2();
  return m.uordblks + m.hblkhd;
}

/// The metadata an address space holds, measured:
///   per VAD: heap bytes taken by 1e5 reserved VADs (the VAD nodes and
///     the pool's chunk overhead; nothing else is allocated per VAD);
///   per committed, touched page: the PFN entry of its frame, plus the page-
///     table pages (4 KiB each, with their own PFN entries) divided by the
///     pages touched. The PTE itself lives inside a leaf table page, so it
///     is part of the table bytes. Two layouts: "sparse", one page touched
///     in each of the 1e5 packed VADs (16 per leaf table), and "dense",
///     every page of one 64 MiB allocation.
struct metadata_fixture {
  metadata_fixture() : sys{2 * gib, 8 * gib} {
    sparse = std::make_unique<space>(sys);
    const std::uint64_t tables0 = sparse->table_pages_in_use();
    const std::uint64_t heap0 = heap_in_use();
    // Reserved only: 1e5 committed 64 KiB allocations would be 6.4 GiB of
    // commit, more than this machine's frames can promise.
    for (std::uint64_t i = 0; i < metadata_vads; ++i)
      require(allocate(*sparse, populated_space::slot_base(i), alloc_bytes,
                       mem::reserve, page::readwrite) == status::success,
              "metadata VAD");
    heap_per_vad = static_cast<double>(heap_in_use() - heap0) / metadata_vads;
    for (std::uint64_t i = 0; i < metadata_vads; ++i) {
      require(allocate(*sparse, populated_space::slot_base(i), page_size,
                       mem::commit, page::readwrite) == status::success,
              "sparse commit");
      require(sparse->access(vaddr{populated_space::slot_base(i)},
                             mmkit::access::write) == status::success,
              "sparse touch");
    }
    sparse_pages = sparse->frames_in_use();
    sparse_tables = sparse->table_pages_in_use() - tables0;

    dense = std::make_unique<space>(sys);
    const std::uint64_t dense_tables0 = dense->table_pages_in_use();
    require(
        allocate(*dense, 0x10000000, fault_bytes, mem::reserve | mem::commit,
                 page::readwrite) == status::success,
        "dense commit");
    for (std::uint64_t p = 0; p < fault_pages; ++p)
      require(dense->access(vaddr{0x10000000 + p * page_size},
                            mmkit::access::write) == status::success,
              "dense touch");
    dense_pages = dense->frames_in_use();
    dense_tables = dense->table_pages_in_use() - dense_tables0;

    std::mt19937_64 rng(5);
    probes.resize(probe_count);
    for (auto& x : probes)
      x = populated_space::slot_base(rng() % metadata_vads) +
          (rng() % 16) * page_size;
  }

  /// Bytes per committed, touched page: its frame's PFN entry plus the
  /// table pages (bytes and PFN entries) spread over the pages.
  static double per_page(std::uint64_t pages, std::uint64_t tables) {
    return sizeof(pfn_entry) + static_cast<double>(tables) *
                                   (page_size + sizeof(pfn_entry)) /
                                   static_cast<double>(pages);
  }

  system_type sys;
  std::unique_ptr<space> sparse;
  std::unique_ptr<space> dense;
  double heap_per_vad = 0;
  std::uint64_t sparse_pages = 0, sparse_tables = 0;
  std::uint64_t dense_pages = 0, dense_tables = 0;
  std::vector<std::uint64_t> probes;
};

void BM_as_metadata_mmkit(benchmark::State& state) {
  static metadata_fixture m;
  std::size_t i = 0;
  for (auto _ : state) {
    memory_basic_information info;
    const status s = m.sparse->query(vaddr{m.probes[i++ & probe_mask]}, info);
    benchmark::DoNotOptimize(info);
    if (s != status::success) [[unlikely]] {
      state.SkipWithError("query failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["vads"] = static_cast<double>(m.sparse->vads().size());
  state.counters["sizeof_vad"] = sizeof(vad);
  // A sanitizer's allocator keeps glibc's counts at zero: no figure then.
  if (m.heap_per_vad > 0) state.counters["heap_bytes_per_vad"] = m.heap_per_vad;
  state.counters["sizeof_pfn_entry"] = sizeof(pfn_entry);
  state.counters["pte_bytes"] = sizeof(space::entry_type);
  state.counters["sparse_table_pages"] = static_cast<double>(m.sparse_tables);
  state.counters["sparse_bytes_per_page"] =
      metadata_fixture::per_page(m.sparse_pages, m.sparse_tables);
  state.counters["dense_table_pages"] = static_cast<double>(m.dense_tables);
  state.counters["dense_bytes_per_page"] =
      metadata_fixture::per_page(m.dense_pages, m.dense_tables);
}
BENCHMARK(BM_as_metadata_mmkit)->Name("BM_as_metadata/mmkit");

// --- fixed loops for instruction counting ---------------------------------

int callgrind_loop(const std::string& op, long n) {
  std::uint64_t sum = 0;
  if (op.rfind("rcr", 0) == 0) {
    // rcr<live VADs> (packed) or rcrs<live VADs> (scattered), e.g.
    // rcr1000000; plain rcr is 1e4 packed.
    const bool scattered = op.size() > 3 && op[3] == 's';
    const char* digits = op.c_str() + (scattered ? 4 : 3);
    const std::uint64_t live =
        *digits != 0 ? std::strtoull(digits, nullptr, 10) : 10000;
    space& as =
        populated(live, scattered ? layout::scattered : layout::packed).as;
    for (long k = 0; k < n; ++k) {
      vaddr base{0};
      std::uint64_t size = alloc_bytes;
      sum += static_cast<std::uint32_t>(
          as.allocate(base, size, mem::reserve | mem::commit, page::readwrite));
      std::uint64_t zero = 0;
      sum += static_cast<std::uint32_t>(as.free(base, zero, mem::release));
    }
  } else if (op == "protect") {
    resident_space& r = resident();
    for (long k = 0; k < n; ++k) {
      std::uint32_t old = 0;
      for (std::uint32_t prot : {page::readonly, page::readwrite}) {
        vaddr b{r.base};
        std::uint64_t size = page_size;
        sum += static_cast<std::uint32_t>(
            r.populated.as.protect(b, size, prot, old));
      }
    }
  } else if (op == "fault" || op == "fault_spot") {
    fault_space f(op == "fault" ? zeroed_list::stocked : zeroed_list::empty);
    require(static_cast<std::uint64_t>(n) <= fault_pages, "N <= 16384");
    for (long k = 0; k < n; ++k)
      sum += static_cast<std::uint32_t>(f.fault_one([] {}, [] {}));
  } else if (op == "read") {
    resident_space& r = resident();
    const auto& off = read_offsets();
    for (long k = 0; k < n; ++k) {
      std::uint64_t v = 0;
      std::size_t done = 0;
      sum += static_cast<std::uint32_t>(r.populated.as.read(
          vaddr{r.base + off[static_cast<std::size_t>(k) & probe_mask]}, &v,
          sizeof v, done));
      sum += v;
    }
  } else if (op == "xlat") {
    translator_fixture t;
    const auto& off = read_offsets();
    for (long k = 0; k < n; ++k) {
      std::uint64_t v = 0;
      sum += t.xlat.load(
          vaddr{t.base + off[static_cast<std::size_t>(k) & probe_mask]}, v);
      sum += v;
    }
  } else {
    std::fprintf(stderr, "unknown operation %s\n", op.c_str());
    return 2;
  }
  benchmark::DoNotOptimize(sum);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strncmp(argv[1], "--callgrind-loop=", 17) == 0) {
    const std::string arg = argv[1] + 17;
    const auto colon = arg.find(':');
    if (colon == std::string::npos) return 2;
    return callgrind_loop(arg.substr(0, colon),
                          std::atol(arg.c_str() + colon + 1));
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
