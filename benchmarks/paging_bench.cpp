// Paging benchmarks: mmkit's translator beside the peers a user would
// otherwise pick, in one binary.
//
//   BM_paging_translate_hit/<arch>        TLB-hit host_pointer, independent
//   BM_paging_translate_hit_chain/<arch>  TLB-hit loads, each address read
//                                         from the previous load (latency)
//   BM_paging_native_load[_chain]         the same loops on a plain host array
//   BM_paging_miss_walk_fill/<arch>       the miss path: leaf entry from the
//                                         paging-structure cache + rights +
//                                         TLB fill (tables cache-resident)
//   BM_paging_miss_full_walk/<arch>       invalidate(va), then the miss path
//                                         with a full walk (cache missed)
//   BM_paging_walk/<arch>                 walk_fast alone, no caches
//   BM_paging_read8/<arch>                8-byte guest read through mmkit
//   BM_paging_read8_unicorn               uc_mem_read of 8 bytes, same layout
//   BM_paging_tlb_flush/<entries>         software_tlb::flush() with every
//                                         entry of both modes filled
//   BM_paging_tlb_flush_refill/<entries>  flush, then refill every entry: what
//                                         a guest's CR3 write costs in all
//
// Instruction counts: `bench_paging --count=<loop>:<iterations>`, loop one
// of empty, hit, miss, miss_full, walk, read8, flush, tlb_flush,
// tlb_flush_4096, runs only that loop (x86_64),
// so callgrind can be run twice with N and 2N and the difference divided by
// N; `empty` is the loop alone (index, load of the address, loop control),
// to subtract from the others (see the README's paging section).

#include <mmkit/arch/all.hpp>
#include <mmkit/paging/translator.hpp>
#include <mmkit/phys/host_memory.hpp>
#include <mmkit/phys/simple_frame_source.hpp>

#include <benchmark/benchmark.h>
#include <unicorn/unicorn.h>
#include <algorithm>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace mmkit;

namespace {

constexpr std::uint64_t guest_base = 0x10000000;  // 256 MiB, canonical on all
constexpr std::uint64_t mapped_pages = 256;       // fits the TLB: hits only
constexpr std::uint64_t table_frames = 1024;
constexpr std::size_t address_count = 4096;  // power of two
constexpr std::size_t address_mask = address_count - 1;

template <class A>
struct fixture {
  using source_t = simple_frame_source<host_memory>;
  using translator_t = translator<A, host_memory, source_t>;

  host_memory memory;
  std::vector<std::uint32_t> counts;
  source_t source;
  translator_t t;
  std::vector<std::uint64_t> addresses;  // random 8-byte-aligned guest VAs

  explicit fixture(std::uint64_t pages = mapped_pages)
      : memory(host_memory::create((table_frames + pages + 16) * page_size)
                   .value()),
        counts(table_frames),
        source(memory, pfn_range{pfn{0}, pfn{table_frames - 1}}, counts.data()),
        t(translator_t::create(memory, source).value()) {
    for (std::uint64_t i = 0; i < pages; ++i) {
      auto r = t.map(vaddr{guest_base + i * page_size},
                     pfn{table_frames + i}.address(), page_size,
                     page_attr::write | page_attr::user);
      if (!r) std::abort();
    }
    std::mt19937_64 rng(42);
    addresses.resize(address_count);
    for (auto& a : addresses)
      a = guest_base + (rng() % pages) * page_size + (rng() % 512) * 8;
    // Touch every page with a write so that A and D are set and the TLB holds
    // read and write tags.
    for (std::uint64_t i = 0; i < pages; ++i)
      if (!t.store(vaddr{guest_base + i * page_size}, std::uint64_t{0}))
        std::abort();
    // A random cycle through the addresses for the dependent chain: the
    // guest word at addresses[i] holds the next guest address.
    std::vector<std::size_t> order(address_count);
    for (std::size_t i = 0; i < address_count; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i = 0; i < address_count; ++i) {
      const auto from = addresses[order[i]];
      const auto to = addresses[order[(i + 1) % address_count]];
      if (!t.store(vaddr{from}, to)) std::abort();
    }
  }
};

template <class A>
void BM_paging_translate_hit(benchmark::State& state) {
  fixture<A> f;
  const std::uint64_t* addr = f.addresses.data();
  std::size_t i = 0;
  for (auto _ : state) {
    std::byte* p =
        f.t.host_pointer(vaddr{addr[i++ & address_mask]}, access::read);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}

template <class A>
void BM_paging_translate_hit_chain(benchmark::State& state) {
  fixture<A> f;
  std::uint64_t va = f.addresses[0];
  for (auto _ : state) {
    std::uint64_t next;
    f.t.load(vaddr{va}, next);
    va = next;
  }
  benchmark::DoNotOptimize(va);
  state.SetItemsProcessed(state.iterations());
}

// The baseline: the same number of loads from a host array of the same size
// (what an emulator without any translation would do).
void BM_paging_native_load(benchmark::State& state) {
  std::vector<std::uint64_t> memory(mapped_pages * page_size / 8, 1);
  std::vector<std::uint64_t> index(address_count);
  std::mt19937_64 rng(42);
  for (auto& x : index) x = rng() % memory.size();
  std::size_t i = 0;
  for (auto _ : state) {
    const std::uint64_t* p = &memory[index[i++ & address_mask]];
    benchmark::DoNotOptimize(p);
    benchmark::DoNotOptimize(*p);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_paging_native_load_chain(benchmark::State& state) {
  std::vector<std::uint64_t> memory(mapped_pages * page_size / 8, 0);
  std::vector<std::uint64_t> index(address_count);
  std::mt19937_64 rng(42);
  for (auto& x : index) x = rng() % memory.size();
  for (std::size_t i = 0; i < address_count; ++i)
    memory[index[i]] = index[(i + 1) % address_count];
  std::uint64_t at = index[0];
  for (auto _ : state) at = memory[at];
  benchmark::DoNotOptimize(at);
  state.SetItemsProcessed(state.iterations());
}

// The miss path alone: refill() walks, checks and fills every time (tables
// are cache-resident: 4096 random addresses over 256 pages of one table).
template <class A>
void BM_paging_miss_walk_fill(benchmark::State& state) {
  fixture<A> f;
  const std::uint64_t* addr = f.addresses.data();
  std::size_t i = 0;
  for (auto _ : state) {
    std::byte* p = f.t.refill(vaddr{addr[i++ & address_mask]}, access::read,
                              cpu_mode::user);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}

// The miss path when the paging-structure cache misses too: invalidate(va)
// drops the page and its region, so refill() walks every level.
template <class A>
void BM_paging_miss_full_walk(benchmark::State& state) {
  fixture<A> f;
  const std::uint64_t* addr = f.addresses.data();
  std::size_t i = 0;
  for (auto _ : state) {
    const vaddr va{addr[i++ & address_mask]};
    f.t.invalidate(va);
    std::byte* p = f.t.refill(va, access::read, cpu_mode::user);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}

// The explained walker's fast form alone (what a refill cost before the
// paging-structure cache, less the TLB fill).
template <class A>
void BM_paging_walk(benchmark::State& state) {
  fixture<A> f;
  const std::uint64_t* addr = f.addresses.data();
  const paddr root = f.t.table().root();
  std::size_t i = 0;
  for (auto _ : state) {
    const walk_outcome w =
        walk_fast<A>(f.memory, root, vaddr{addr[i++ & address_mask]},
                     access::read, cpu_mode::user, ad_update::set);
    benchmark::DoNotOptimize(w.address);
  }
  state.SetItemsProcessed(state.iterations());
}

template <class A>
void BM_paging_read8(benchmark::State& state) {
  fixture<A> f;
  const std::uint64_t* addr = f.addresses.data();
  std::size_t i = 0;
  for (auto _ : state) {
    std::uint64_t x;
    const bool ok = f.t.load(vaddr{addr[i++ & address_mask]}, x);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_paging_read8_unicorn(benchmark::State& state) {
  uc_engine* uc = nullptr;
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) {
    state.SkipWithError("uc_open failed");
    return;
  }
  if (uc_mem_map(uc, guest_base, mapped_pages * page_size, UC_PROT_ALL) !=
      UC_ERR_OK) {
    state.SkipWithError("uc_mem_map failed");
    uc_close(uc);
    return;
  }
  std::vector<std::uint64_t> addresses(address_count);
  std::mt19937_64 rng(42);
  for (auto& a : addresses)
    a = guest_base + (rng() % mapped_pages) * page_size + (rng() % 512) * 8;
  std::size_t i = 0;
  for (auto _ : state) {
    std::uint64_t x;
    const uc_err e = uc_mem_read(uc, addresses[i++ & address_mask], &x, 8);
    benchmark::DoNotOptimize(e);
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(state.iterations());
  uc_close(uc);
}

// flush() of a software TLB of `entries` entries per mode, both modes full.
// The TLB is filled once, before the loop: a flush moves to the next
// generation and writes no entry, so its cost does not depend on what the
// entries hold, and the clearing at the wrap-around of the generation (once
// every 4095 flushes) is in the mean. No peer here: unicorn 2.0's
// uc_ctl_flush_tlb() flushes its translation blocks, not its TLB.
template <std::size_t Entries>
void BM_paging_tlb_flush(benchmark::State& state) {
  using tlb_t = software_tlb<tlb_geometry<Entries, 1>>;
  auto tlb = std::make_unique<tlb_t>();
  alignas(4096) static std::byte page[4096];
  for (std::size_t i = 0; i < Entries; ++i)
    for (const cpu_mode m : {cpu_mode::user, cpu_mode::kernel})
      tlb->fill(vaddr{guest_base + i * page_size}, page, true, true, false, m);
  if (tlb->debug_valid_entries() != 2 * Entries) std::abort();
  for (auto _ : state) {
    tlb->flush();
    benchmark::ClobberMemory();
  }
  if (tlb->debug_valid_entries() != 0) std::abort();
  state.SetItemsProcessed(state.iterations());
}

// A flush and the refill of every entry it dropped (one mode): the flush is
// then a small part of what a TLB-wide invalidation costs the guest.
template <std::size_t Entries>
void BM_paging_tlb_flush_refill(benchmark::State& state) {
  using tlb_t = software_tlb<tlb_geometry<Entries, 1>>;
  auto tlb = std::make_unique<tlb_t>();
  alignas(4096) static std::byte page[4096];
  for (auto _ : state) {
    tlb->flush();
    for (std::size_t i = 0; i < Entries; ++i)
      tlb->fill(vaddr{guest_base + i * page_size}, page, true, true, false,
                cpu_mode::user);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

#define MMKIT_PAGING_BENCH_ARCHS(bm)                           \
  BENCHMARK_TEMPLATE(bm, arch::x86_32)->Name(#bm "/x86_32");   \
  BENCHMARK_TEMPLATE(bm, arch::x86_pae)->Name(#bm "/x86_pae"); \
  BENCHMARK_TEMPLATE(bm, arch::x86_64)->Name(#bm "/x86_64");   \
  BENCHMARK_TEMPLATE(bm, arch::x86_la57)->Name(#bm "/x86_la57")

MMKIT_PAGING_BENCH_ARCHS(BM_paging_translate_hit);
MMKIT_PAGING_BENCH_ARCHS(BM_paging_translate_hit_chain);
BENCHMARK(BM_paging_native_load);
BENCHMARK(BM_paging_native_load_chain);
MMKIT_PAGING_BENCH_ARCHS(BM_paging_miss_walk_fill);
MMKIT_PAGING_BENCH_ARCHS(BM_paging_miss_full_walk);
MMKIT_PAGING_BENCH_ARCHS(BM_paging_walk);
MMKIT_PAGING_BENCH_ARCHS(BM_paging_read8);
BENCHMARK(BM_paging_read8_unicorn);
BENCHMARK_TEMPLATE(BM_paging_tlb_flush, 64)->Name("BM_paging_tlb_flush/64");
BENCHMARK_TEMPLATE(BM_paging_tlb_flush, 256)->Name("BM_paging_tlb_flush/256");
BENCHMARK_TEMPLATE(BM_paging_tlb_flush, 1024)->Name("BM_paging_tlb_flush/1024");
BENCHMARK_TEMPLATE(BM_paging_tlb_flush, 4096)->Name("BM_paging_tlb_flush/4096");
BENCHMARK_TEMPLATE(BM_paging_tlb_flush_refill, 256)
    ->Name("BM_paging_tlb_flush_refill/256");
BENCHMARK_TEMPLATE(BM_paging_tlb_flush_refill, 4096)
    ->Name("BM_paging_tlb_flush_refill/4096");

// n flushes of a direct-mapped software TLB of `Entries` entries per mode,
// both modes filled first.
template <std::size_t Entries>
void count_tlb_flush(std::uint64_t n) {
  using tlb_t = software_tlb<tlb_geometry<Entries, 1>>;
  static tlb_t tlb;
  alignas(4096) static std::byte page[4096];
  for (std::size_t i = 0; i < Entries; ++i)
    for (const cpu_mode m : {cpu_mode::user, cpu_mode::kernel})
      tlb.fill(vaddr{guest_base + i * page_size}, page, true, true, false, m);
  for (std::uint64_t i = 0; i < n; ++i) {
    tlb.flush();
    benchmark::ClobberMemory();
  }
}

// --count=<loop>:<n>: run one loop n times on x86_64 and nothing else, for
// instruction counting. The set-up is identical for every n, so the
// difference of two runs is the loop alone.
[[gnu::noinline]] std::uint64_t count_loop(const std::string& loop,
                                           std::uint64_t n) {
  static fixture<arch::x86_64> f;
  const std::uint64_t* addr = f.addresses.data();
  std::uint64_t sink = 0;
  if (loop == "hit") {
    for (std::uint64_t i = 0; i < n; ++i) {
      std::byte* p =
          f.t.host_pointer(vaddr{addr[i & address_mask]}, access::read);
      benchmark::DoNotOptimize(p);
    }
  } else if (loop == "miss") {
    for (std::uint64_t i = 0; i < n; ++i) {
      std::byte* p = f.t.refill(vaddr{addr[i & address_mask]}, access::read,
                                cpu_mode::user);
      benchmark::DoNotOptimize(p);
    }
  } else if (loop == "miss_full") {
    for (std::uint64_t i = 0; i < n; ++i) {
      const vaddr va{addr[i & address_mask]};
      f.t.invalidate(va);
      std::byte* p = f.t.refill(va, access::read, cpu_mode::user);
      benchmark::DoNotOptimize(p);
    }
  } else if (loop == "walk") {
    const paddr root = f.t.table().root();
    for (std::uint64_t i = 0; i < n; ++i) {
      const walk_outcome w =
          walk_fast<arch::x86_64>(f.memory, root, vaddr{addr[i & address_mask]},
                                  access::read, cpu_mode::user, ad_update::set);
      benchmark::DoNotOptimize(w.address);
    }
  } else if (loop == "read8") {
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t x;
      f.t.load(vaddr{addr[i & address_mask]}, x);
      sink += x;
    }
  } else if (loop == "flush") {
    // The translator's flush: the TLB (direct-mapped, 256 entries per mode)
    // and the paging-structure cache.
    for (std::uint64_t i = 0; i < n; ++i) {
      f.t.flush();
      benchmark::ClobberMemory();
    }
  } else if (loop == "tlb_flush") {
    // The software TLB's flush alone (direct-mapped, 256 entries per mode).
    count_tlb_flush<direct_mapped_tlb::sets>(n);
  } else if (loop == "tlb_flush_4096") {
    // The same with 4096 entries per mode.
    count_tlb_flush<4096>(n);
  } else if (loop == "empty") {
    // The address is loaded into a register, as every other loop does
    // (DoNotOptimize would let the compiler name the array slot instead).
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t a = addr[i & address_mask];
      asm volatile("" : : "r"(a));
    }
  } else {
    std::fprintf(stderr, "unknown loop '%s'\n", loop.c_str());
    std::exit(2);
  }
  return sink;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--count=", 8) == 0) {
      const std::string spec = argv[i] + 8;
      const auto colon = spec.find(':');
      const std::uint64_t n =
          std::strtoull(spec.c_str() + colon + 1, nullptr, 10);
      const std::uint64_t s = count_loop(spec.substr(0, colon), n);
      std::printf("%s x %llu done (%llu)\n", spec.substr(0, colon).c_str(),
                  static_cast<unsigned long long>(n),
                  static_cast<unsigned long long>(s));
      return 0;
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
