// Image-section benchmarks: a 1 MiB DLL mapped as SEC_IMAGE in
// address_space<x86_64>, beside what a Linux PE loader does, in one binary:
//
//   BM_map_image/{mmkit,mmkit_second_instance,host}
//       map the DLL and touch each of its pages once, then unmap. mmkit:
//       NtMapViewOfSection at its preferred base (the section made once,
//       as Windows keeps an image section while the file is cached),
//       a read access per page, NtUnmapViewOfSection; the second instance
//       does the same in a space that keeps its own view mapped, so every
//       page is already shared (counter: shared faults per map). host:
//       mmap(MAP_PRIVATE) of the file, mprotect of each section to its
//       protection, a read per page, munmap.
//   BM_relocate/mmkit
//       map at another base (every fixup applied to private copies of the
//       pages it touches) and unmap; the counter `s_per_page` is the time
//       per relocated page.
//
// The DLL is built in memory by tests/image/pe_builder.hpp: .text 512 KiB
// (RX), .rdata 256 KiB (R, a DIR64 fixup every 64 bytes), .data 256 KiB
// (RW), file alignment = section alignment = 4 KiB so that the host can
// map its sections straight from the file.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/system/hosted_system.hpp>

#include "image/pe_builder.hpp"

#include <benchmark/benchmark.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace mmkit;
using space = address_space<arch::x86_64, hosted_config<>>;
using system_type = hosted_system<>;
namespace pt = pe_test;

namespace {

constexpr std::uint64_t kib = 1024;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "image_bench: set-up failed: %s\n", what);
    std::abort();
  }
}

pt::bytes dll_bytes() {
  pt::image_spec s;
  s.dll = true;
  s.image_base = 0x180000000;
  s.file_alignment = 0x1000;
  pt::bytes text(512 * kib, std::byte{0xCC});
  pt::bytes rdata(256 * kib, std::byte{0x11});
  pt::bytes data(256 * kib, std::byte{0x22});
  s.sections = {{".text", pt::text_flags, text, 0},
                {".rdata", pt::rdata_flags, rdata, 0},
                {".data", pt::data_flags, data, 0}};
  const std::uint32_t rdata_rva = 0x1000 + 512 * kib;
  for (std::uint32_t off = 0; off < 256 * kib; off += 64)
    s.relocations.push_back({rdata_rva + off, pt::rel_dir64});
  return pt::build(s).data;
}

/// The DLL as a section, and a space to map it in.
struct image_fixture {
  image_fixture()
      : bytes(dll_bytes()),
        store(bytes.data(), bytes.size(), bytes.size(), false, "bench.dll"),
        file(store),
        sys(64 * kib * kib),
        as(sys),
        other(sys) {
    require(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                           page::execute_writecopy, sec::image,
                           &file) == status::success,
            "image section");
  }
  ~image_fixture() { close_section(sys, h); }

  /// Maps the DLL in `in` (at its base, or at `at`), reads every page once.
  status map_and_touch(space& in, vaddr& at, std::uint64_t& size) {
    const status s = in.map_view(h, at, size, 0, 0, page::readwrite);
    if (!succeeded(s)) return s;
    for (std::uint64_t off = 0; off < size; off += page_size)
      if (in.access(at + off, mmkit::access::read) != status::success)
        return status::unsuccessful;
    return s;
  }

  pt::bytes bytes;
  memory_store store;
  file_object file;
  system_type sys;
  space as;
  space other;
  section_handle h;
};

void map_image(benchmark::State& state, bool second_instance) {
  image_fixture f;
  vaddr kept{0};
  std::uint64_t kept_size = 0;
  if (second_instance)
    require(f.map_and_touch(f.other, kept, kept_size) == status::success,
            "first instance");
  const std::uint64_t shared_before = f.as.faults().shared;
  for (auto _ : state) {
    vaddr at{0};
    std::uint64_t size = 0;
    if (f.map_and_touch(f.as, at, size) != status::success ||
        f.as.unmap_view(at) != status::success) [[unlikely]] {
      state.SkipWithError("map, touch or unmap failed");
      break;
    }
  }
  state.counters["shared_faults_per_map"] = benchmark::Counter(
      static_cast<double>(f.as.faults().shared - shared_before),
      benchmark::Counter::kAvgIterations);
}

void BM_map_image_mmkit(benchmark::State& state) {
  map_image(state, false);
}
BENCHMARK(BM_map_image_mmkit)->Name("BM_map_image/mmkit");
void BM_map_image_second(benchmark::State& state) {
  map_image(state, true);
}
BENCHMARK(BM_map_image_second)->Name("BM_map_image/mmkit_second_instance");

void BM_map_image_host(benchmark::State& state) {
  const pt::bytes b = dll_bytes();
  const int fd = memfd_create("bench.dll", 0);
  require(fd >= 0 &&
              write(fd, b.data(), b.size()) == static_cast<ssize_t>(b.size()),
          "memfd");
  const std::uint64_t size = b.size();  // file offsets are the RVAs
  struct range {
    std::uint64_t rva, size;
    int prot;
  };
  const range sections[] = {
      {0x1000, 512 * kib, PROT_READ | PROT_EXEC},
      {0x1000 + 512 * kib, 256 * kib, PROT_READ},
      {0x1000 + 768 * kib, 256 * kib, PROT_READ | PROT_WRITE}};
  for (auto _ : state) {
    char* p =
        static_cast<char*>(mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0));
    if (p == MAP_FAILED) [[unlikely]] {
      state.SkipWithError("mmap failed");
      break;
    }
    for (const range& r : sections)
      require(mprotect(p + r.rva, r.size, r.prot) == 0, "mprotect");
    for (std::uint64_t off = 0; off < size; off += page_size) {
      // A load, kept: DoNotOptimize on the page itself may store to it.
      const char c = *reinterpret_cast<volatile const char*>(p + off);
      benchmark::DoNotOptimize(c);
    }
    munmap(p, size);
  }
  close(fd);
}
BENCHMARK(BM_map_image_host)->Name("BM_map_image/host");

void BM_relocate_mmkit(benchmark::State& state) {
  image_fixture f;
  std::uint64_t relocated_pages = 0;
  for (auto _ : state) {
    vaddr at{0x7FF000000000};
    std::uint64_t size = 0;
    const std::uint64_t before = f.as.frames_in_use();
    if (f.as.map_view(f.h, at, size, 0, 0, page::readwrite) !=
        status::image_not_at_base) [[unlikely]] {
      state.SkipWithError("relocated map failed");
      break;
    }
    relocated_pages = f.as.frames_in_use() - before;
    require(f.as.unmap_view(at) == status::success, "unmap");
  }
  state.counters["relocated_pages"] = static_cast<double>(relocated_pages);
  state.counters["s_per_page"] =
      benchmark::Counter(static_cast<double>(relocated_pages),
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
}
BENCHMARK(BM_relocate_mmkit)->Name("BM_relocate/mmkit");

}  // namespace

BENCHMARK_MAIN();
