// Section benchmarks: views of sections in address_space<x86_64>, each
// beside the peer a user would otherwise pick, in one binary:
//
//   BM_cow_fault/{mmkit,host}
//       one copy-on-write fault, per page: the first one-byte write to a
//       page of a copy-on-write view whose pages were already read (mapped
//       shared, read-only). mmkit: a WRITECOPY view of a file section over
//       a memory store; host: a MAP_PRIVATE mapping of a file that was
//       already read in.
//   BM_map_unmap/{mmkit,host,unicorn}/<N>
//       map and unmap a 64 KiB view of a file section with N other views
//       live. host: mmap(MAP_SHARED) + munmap of 64 KiB of a file with N
//       other mappings of it; unicorn: uc_mem_map_ptr + uc_mem_unmap of
//       64 KiB of one host buffer with N other such regions (N = 1e2 only:
//       unicorn asserts with 1e4 regions).
//   BM_shared_fault/{mmkit,host}
//       the first read of a page that another address space (host: another
//       mapping) has already made resident: no I/O, no zeroing. mmkit: a
//       second space's view of a page-file section; host: a second
//       MAP_SHARED mapping of a memfd whose pages the first one touched.
//
// Each fixture is built once and reused; rounds are restarted outside the
// timed region.
//
// Instruction counts: `bench_section --callgrind-loop=<op>:<N>` runs N
// items of one operation (cow, map, shared) after its set-up and exits;
// run it under callgrind with N and 2N and divide the difference by N.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <benchmark/benchmark.h>
#include <unicorn/unicorn.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace mmkit;
using space = address_space<arch::x86_64, hosted_config<>>;
using system_type = hosted_system<>;

namespace {

constexpr std::uint64_t mib = std::uint64_t{1} << 20;
constexpr std::uint64_t round_pages = 4096;  // 16 MiB per round
constexpr std::uint64_t round_bytes = round_pages * page_size;
constexpr std::uint64_t view_bytes = 64 * 1024;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "section_bench: set-up failed: %s\n", what);
    std::abort();
  }
}

/// A host file of `bytes` bytes (a memfd: a file without a disk).
int host_file(std::uint64_t bytes, const char* name) {
  const int fd = memfd_create(name, 0);
  require(fd >= 0, "memfd_create");
  require(ftruncate(fd, static_cast<off_t>(bytes)) == 0, "ftruncate");
  std::vector<char> page(page_size, 'x');
  for (std::uint64_t off = 0; off < bytes; off += page_size)
    require(pwrite(fd, page.data(), page.size(), static_cast<off_t>(off)) ==
                static_cast<ssize_t>(page.size()),
            "pwrite");
  return fd;
}

// --- BM_cow_fault ----------------------------------------------------------

/// A file section of one round's pages, all resident in the section, and a
/// WRITECOPY view whose pages have been read (valid, shared, read-only).
struct cow_fixture {
  cow_fixture()
      : file_bytes(round_bytes),
        store(file_bytes.data(), round_bytes, round_bytes, true, "bench.bin"),
        file(store),
        sys(3 * round_bytes + 64 * mib),
        as(sys) {
    require(as.creation_status() == status::success, "address space");
    require(
        create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                       page::readwrite, sec::commit, &file) == status::success,
        "section");
    next_round();
  }
  ~cow_fixture() {
    if (view.raw() != 0) (void)as.unmap_view(view);
    close_section(sys, h);
  }
  void next_round() {
    if (view.raw() != 0)
      require(as.unmap_view(view) == status::success, "unmap");
    view = vaddr{0};
    std::uint64_t size = 0;
    require(
        as.map_view(h, view, size, 0, 0, page::writecopy) == status::success,
        "map");
    for (std::uint64_t p = 0; p < round_pages; ++p)
      require(as.access(view + (p << page_shift), mmkit::access::read) ==
                  status::success,
              "pre-read");
    next = 0;
  }
  status write_next() {
    const std::uint8_t one = 1;
    std::size_t done = 0;
    return as.write(view + (next++ << page_shift), &one, 1, done);
  }

  std::vector<std::byte> file_bytes;
  memory_store store;
  file_object file;
  system_type sys;
  space as;
  section_handle h;
  vaddr view{0};
  std::uint64_t next = 0;
};

/// Times `f.step()` once per item, restarting the fixture's round (untimed)
/// when its pages are used up.
template <class Fixture, class Step>
void run_rounds(benchmark::State& state, Fixture& f, Step step,
                const char* what) {
  for (auto _ : state) {
    if (f.next == round_pages) [[unlikely]] {
      state.PauseTiming();
      f.next_round();
      state.ResumeTiming();
    }
    if (step() != status::success) [[unlikely]] {
      state.SkipWithError(what);
      break;
    }
  }
}

void BM_cow_fault_mmkit(benchmark::State& state) {
  cow_fixture f;
  run_rounds(
      state, f, [&] { return f.write_next(); }, "copy-on-write fault failed");
  state.counters["copies"] = static_cast<double>(f.as.faults().copy_on_write);
}
BENCHMARK(BM_cow_fault_mmkit)->Name("BM_cow_fault/mmkit");

void BM_cow_fault_host(benchmark::State& state) {
  const int fd = host_file(round_bytes, "cow");
  auto map_round = [&] {
    void* p =
        mmap(nullptr, round_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    require(p != MAP_FAILED, "mmap");
    volatile const char* c = static_cast<const char*>(p);
    for (std::uint64_t off = 0; off < round_bytes; off += page_size)
      (void)c[off];  // read in: mapped from the page cache, read-only
    return static_cast<char*>(p);
  };
  char* base = map_round();
  std::uint64_t next = 0;
  for (auto _ : state) {
    if (next == round_pages) [[unlikely]] {
      state.PauseTiming();
      munmap(base, round_bytes);
      base = map_round();
      next = 0;
      state.ResumeTiming();
    }
    *reinterpret_cast<volatile char*>(base + (next++ << page_shift)) = 1;
  }
  munmap(base, round_bytes);
  close(fd);
}
BENCHMARK(BM_cow_fault_host)->Name("BM_cow_fault/host");

// --- BM_map_unmap ----------------------------------------------------------

/// A 64 KiB file section with `live` views of it mapped.
struct map_fixture {
  explicit map_fixture(std::uint64_t live)
      : file_bytes(view_bytes),
        store(file_bytes.data(), view_bytes, view_bytes, true, "map.bin"),
        file(store),
        sys(256 * mib),
        as(sys) {
    require(as.creation_status() == status::success, "address space");
    require(
        create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                       page::readwrite, sec::commit, &file) == status::success,
        "section");
    for (std::uint64_t i = 0; i < live; ++i) {
      vaddr b{0};
      std::uint64_t size = 0;
      require(as.map_view(h, b, size, 0, 0, page::readwrite) == status::success,
              "live view");
    }
  }
  ~map_fixture() { close_section(sys, h); }  // the space unmaps its views

  std::vector<std::byte> file_bytes;
  memory_store store;
  file_object file;
  system_type sys;
  space as;
  section_handle h;
};

void BM_map_unmap_mmkit(benchmark::State& state) {
  map_fixture f(static_cast<std::uint64_t>(state.range(0)));
  for (auto _ : state) {
    vaddr b{0};
    std::uint64_t size = 0;
    const status m = f.as.map_view(f.h, b, size, 0, 0, page::readwrite);
    const status u = f.as.unmap_view(b);
    if (m != status::success || u != status::success) [[unlikely]] {
      state.SkipWithError("map or unmap failed");
      break;
    }
  }
}
BENCHMARK(BM_map_unmap_mmkit)->Name("BM_map_unmap/mmkit")->Arg(100)->Arg(10000);

void BM_map_unmap_host(benchmark::State& state) {
  const int fd = host_file(view_bytes, "map");
  std::vector<void*> live;
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    void* p =
        mmap(nullptr, view_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    require(p != MAP_FAILED, "live mapping");
    live.push_back(p);
  }
  for (auto _ : state) {
    void* p =
        mmap(nullptr, view_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || munmap(p, view_bytes) != 0) [[unlikely]] {
      state.SkipWithError("mmap or munmap failed");
      break;
    }
  }
  for (void* p : live) munmap(p, view_bytes);
  close(fd);
}
BENCHMARK(BM_map_unmap_host)->Name("BM_map_unmap/host")->Arg(100)->Arg(10000);

void BM_map_unmap_unicorn(benchmark::State& state) {
  uc_engine* uc = nullptr;
  require(uc_open(UC_ARCH_X86, UC_MODE_64, &uc) == UC_ERR_OK, "uc_open");
  // One host buffer every region maps: unicorn's nearest thing to a view.
  std::unique_ptr<char[]> buffer(
      new (std::align_val_t{page_size}) char[view_bytes]);
  const std::uint64_t live = static_cast<std::uint64_t>(state.range(0));
  for (std::uint64_t i = 0; i < live; ++i)
    require(
        uc_mem_map_ptr(uc, 0x100000 + i * 2 * view_bytes, view_bytes,
                       UC_PROT_READ | UC_PROT_WRITE, buffer.get()) == UC_ERR_OK,
        "uc_mem_map_ptr");
  const std::uint64_t at = 0x100000 + live * 2 * view_bytes;
  for (auto _ : state) {
    const uc_err m = uc_mem_map_ptr(uc, at, view_bytes,
                                    UC_PROT_READ | UC_PROT_WRITE, buffer.get());
    const uc_err u = uc_mem_unmap(uc, at, view_bytes);
    if (m != UC_ERR_OK || u != UC_ERR_OK) [[unlikely]] {
      state.SkipWithError("uc_mem_map_ptr or uc_mem_unmap failed");
      break;
    }
  }
  uc_close(uc);
  ::operator delete[](buffer.release(), std::align_val_t{page_size});
}
// Unicorn only where it can: its memory map (QEMU's) asserts once it holds
// about 4,000 regions (`map->sections_nb < TARGET_PAGE_SIZE` in exec.c), so
// there is no 1e4 row.
BENCHMARK(BM_map_unmap_unicorn)->Name("BM_map_unmap/unicorn")->Arg(100);

// --- BM_shared_fault -------------------------------------------------------

/// A page-file section whose pages space `a` has all touched, and a view
/// of it in space `b` whose pages are mapped one read at a time.
struct shared_fixture {
  shared_fixture() : sys(2 * round_bytes + 64 * mib), a(sys), b(sys) {
    require(create_section(sys, h, section_access::all_access, nullptr, 0,
                           round_bytes, page::readwrite,
                           sec::commit) == status::success,
            "section");
    vaddr va{0};
    std::uint64_t size = 0;
    require(a.map_view(h, va, size, 0, 0, page::readwrite) == status::success,
            "map a");
    for (std::uint64_t p = 0; p < round_pages; ++p)
      require(a.access(va + (p << page_shift), mmkit::access::write) ==
                  status::success,
              "touch");
    next_round();
  }
  ~shared_fixture() { close_section(sys, h); }
  void next_round() {
    if (view.raw() != 0)
      require(b.unmap_view(view) == status::success, "unmap");
    view = vaddr{0};
    std::uint64_t size = 0;
    require(b.map_view(h, view, size, 0, 0, page::readwrite) == status::success,
            "map b");
    next = 0;
  }
  status read_next() {
    return b.access(view + (next++ << page_shift), mmkit::access::read);
  }

  system_type sys;
  space a;
  space b;
  section_handle h;
  vaddr view{0};
  std::uint64_t next = 0;
};

void BM_shared_fault_mmkit(benchmark::State& state) {
  shared_fixture f;
  run_rounds(
      state, f, [&] { return f.read_next(); }, "shared fault failed");
  state.counters["shared"] = static_cast<double>(f.b.faults().shared);
}
BENCHMARK(BM_shared_fault_mmkit)->Name("BM_shared_fault/mmkit");

void BM_shared_fault_host(benchmark::State& state) {
  const int fd = memfd_create("shared", 0);
  require(fd >= 0 && ftruncate(fd, round_bytes) == 0, "memfd");
  char* first = static_cast<char*>(
      mmap(nullptr, round_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  require(first != MAP_FAILED, "first mapping");
  for (std::uint64_t off = 0; off < round_bytes; off += page_size)
    first[off] = 1;
  auto map_round = [&] {
    void* p =
        mmap(nullptr, round_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    require(p != MAP_FAILED, "second mapping");
    return static_cast<char*>(p);
  };
  char* second = map_round();
  std::uint64_t next = 0;
  for (auto _ : state) {
    if (next == round_pages) [[unlikely]] {
      state.PauseTiming();
      munmap(second, round_bytes);
      second = map_round();
      next = 0;
      state.ResumeTiming();
    }
    // A load, kept: DoNotOptimize on the page itself may store to it.
    const char c = *reinterpret_cast<volatile const char*>(
        second + (next++ << page_shift));
    benchmark::DoNotOptimize(c);
  }
  munmap(second, round_bytes);
  munmap(first, round_bytes);
  close(fd);
}
BENCHMARK(BM_shared_fault_host)->Name("BM_shared_fault/host");

int callgrind_loop(const std::string& op, long n) {
  if (op == "cow") {
    cow_fixture f;
    for (long k = 0; k < n; ++k) {
      if (f.next == round_pages) f.next_round();
      require(f.write_next() == status::success, "cow");
    }
  } else if (op == "map") {
    map_fixture f(10000);
    for (long k = 0; k < n; ++k) {
      vaddr b{0};
      std::uint64_t size = 0;
      require(f.as.map_view(f.h, b, size, 0, 0, page::readwrite) ==
                      status::success &&
                  f.as.unmap_view(b) == status::success,
              "map");
    }
  } else if (op == "shared") {
    shared_fixture f;
    for (long k = 0; k < n; ++k) {
      if (f.next == round_pages) f.next_round();
      require(f.read_next() == status::success, "shared");
    }
  } else {
    return 2;
  }
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
