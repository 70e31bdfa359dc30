// Emulator benchmarks: bulk copies in and out of guest memory and the host
// pointer fast path of address_space<x86_64>, each beside the peer a user
// would otherwise pick, in one binary:
//
//   BM_guest_copy/{mmkit,mmkit_write,memcpy}/1MiB
//       1 MiB between a host buffer and 256 resident guest pages:
//       address_space::read (guest to host) and write (host to guest),
//       page by page through the software TLB; memcpy between two host
//       buffers of 1 MiB, the bound.
//   BM_host_page_of/{mmkit,translator}
//       the host address of a resident page for a read: host_page_of (the
//       locked call an emulator makes on a miss of its own cache), and the
//       translator's inline TLB path under it.
//
// Set-up (commit, first touch) is outside the timed loops; bytes/s and
// items/s are reported.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
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
BENCHMARK(BM_host_page_of_mmkit)->Name("BM_host_page_of/mmkit");

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
BENCHMARK(BM_host_page_of_translator)->Name("BM_host_page_of/translator");

}  // namespace

BENCHMARK_MAIN();
