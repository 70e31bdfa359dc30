// Physical memory policies and the simple frame source.
#include "test_memory.hpp"

#include <mmkit/phys/host_memory.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include <unistd.h>

using namespace mmkit;

namespace {
/// Resident set size in bytes, from /proc/self/statm.
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}
}  // namespace

TEST_SUITE_BEGIN("paging");

TEST_CASE("host_memory: 64 GiB declared, only touched frames cost memory") {
  constexpr std::uint64_t bytes = 64ull << 30;
  auto made = host_memory::create(bytes);
  REQUIRE(made.ok());
  host_memory m = std::move(made).value();
  CHECK(m.frame_count() == bytes / page_size);
  const std::uint64_t before = resident_bytes();
  const pfn frames[] = {pfn{0}, pfn{m.frame_count() / 3},
                        pfn{m.frame_count() / 2 + 17},
                        pfn{m.frame_count() - 1}};
  for (pfn f : frames) {
    CAPTURE(f.raw());
    CHECK(m.read_frame(f)[100] == std::byte{0});  // zero until written
    m.frame(f)[100] = std::byte{0x5A};
    m.frame(f)[page_size - 1] = std::byte{0xA5};
  }
  for (pfn f : frames) CHECK(m.read_frame(f)[100] == std::byte{0x5A});
  // Four frames touched, far apart: a few pages of host memory, not GiBs.
  CHECK(resident_bytes() - before < (16ull << 20));
  // Giving a frame back makes it read as zero.
  REQUIRE(m.release_frames(frames[1], 1).ok());
  CHECK(m.read_frame(frames[1])[100] == std::byte{0});
  CHECK(m.read_frame(frames[2])[100] == std::byte{0x5A});
  CHECK(host_memory::create(100).error() == status::invalid_parameter);
  // Moving transfers the reservation.
  host_memory n = std::move(m);
  CHECK(m.frame_count() == 0);
  CHECK(n.read_frame(frames[3])[page_size - 1] == std::byte{0xA5});
}

TEST_CASE("buffer_memory: frames are slices of the caller's buffer") {
  alignas(4096) static std::byte buf[3 * 4096 + 100];
  buffer_memory m(buf, sizeof buf);
  CHECK(m.frame_count() == 3);
  CHECK(m.frame(pfn{2}) == buf + 2 * 4096);
  CHECK(m.read_frame(pfn{1}) == buf + 4096);
}

TEST_CASE("simple_frame_source: zero-filled frames, free list, counts") {
  test::arena a{16};
  simple_frame_source<buffer_memory> s(a.memory, pfn_range{pfn{4}, pfn{7}},
                                       a.counts.data());
  CHECK(s.capacity() == 4);
  std::set<std::uint64_t> got;
  for (int i = 0; i < 4; ++i) {
    auto f = s.allocate_table_frame();
    REQUIRE(f.ok());
    CHECK(s.owns(*f));
    CHECK(s.table_use_count(*f) == 0);
    got.insert(f->raw());
    // Dirty the frame so that reuse must zero it.
    a.memory.frame(*f)[8] = std::byte{1};
  }
  CHECK(got == std::set<std::uint64_t>{4, 5, 6, 7});
  CHECK(s.allocate_table_frame().error() == status::no_memory);
  CHECK(s.frames_in_use() == 4);
  s.release_table_frame(pfn{6});
  s.release_table_frame(pfn{4});
  CHECK(s.frames_free() == 2);
  auto f = s.allocate_table_frame();
  REQUIRE(f.ok());
  CHECK(f->raw() == 4);  // last released, first reused
  for (std::uint64_t i = 0; i < page_size; ++i)
    REQUIRE(a.memory.frame(*f)[i] == std::byte{0});
  s.table_use_count(*f) = 3;
  CHECK(a.counts[0] == 3);  // counts live in the caller's array
  CHECK(s.allocate_table_frame()->raw() == 6);
  CHECK(s.frames_in_use() == 4);
}

TEST_SUITE_END();
