// address_space under the mutex lock policy: several threads allocate,
// fault, write, read, query and free in one address space, and two address
// spaces fault at once on one system, and the background pager pages
// out under two writers. Run under ThreadSanitizer by the
// `tsan` preset (its test filter selects this file's cases by name).
#include "image/pe_builder.hpp"

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_32.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/emu/snapshot.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace mmkit;

namespace {

using locked_space = address_space<arch::x86_64, hosted_config<mutex_lock>>;

/// One worker: reserve+commit a region, write a pattern tagged with the
/// worker's id, read it back, query it, protect it, release it; repeatedly.
void churn(locked_space& as, unsigned id, unsigned rounds,
           std::atomic<unsigned>& failures) {
  for (unsigned i = 0; i < rounds; ++i) {
    vaddr base{0};
    std::uint64_t size = 0x8000;
    if (as.allocate(base, size, mem::reserve | mem::commit, page::readwrite) !=
        status::success) {
      ++failures;
      continue;
    }
    for (std::uint64_t off = 0; off < size; off += 0x1000) {
      const std::uint64_t tag = (std::uint64_t{id} << 32) | (i << 16) | off;
      std::size_t done = 0;
      if (as.write(base + off + 8, &tag, sizeof tag, done) != status::success)
        ++failures;
    }
    for (std::uint64_t off = 0; off < size; off += 0x1000) {
      const std::uint64_t want = (std::uint64_t{id} << 32) | (i << 16) | off;
      std::uint64_t got = 0;
      std::size_t done = 0;
      if (as.read(base + off + 8, &got, sizeof got, done) != status::success ||
          got != want)
        ++failures;
    }
    memory_basic_information info;
    if (as.query(base, info) != status::success || info.region_size != size ||
        info.state != mem::commit)
      ++failures;
    std::uint32_t old = 0;
    vaddr pb = base;
    std::uint64_t ps = 0x1000;
    if (as.protect(pb, ps, page::readonly, old) != status::success ||
        old != page::readwrite)
      ++failures;
    if (as.access(base, mmkit::access::write) != status::access_violation)
      ++failures;
    std::uint64_t zero = 0;
    if (as.free(base, zero, mem::release) != status::success) ++failures;
  }
}

/// Misses of a stress test: how many, and the first one's story.
struct miss_log {
  std::atomic<unsigned> count{0};
  std::mutex lock;
  std::string first;
  void operator()(const char* what, std::uint64_t tag, std::uint64_t page,
                  status st, std::uint64_t seen) {
    if (count++ != 0) return;
    std::lock_guard<std::mutex> hold{lock};
    first = std::string{what} + " tag " + std::to_string(tag) + " page " +
            std::to_string(page) + " status " +
            std::to_string(static_cast<std::uint32_t>(st)) + " value " +
            std::to_string(seen);
  }
};

/// One pass of a stress worker over `pages` pages at `base`: page i gets a
/// word tagged with `tag`, `i` and `pass`, then every word is read back.
/// With `probe`, host_page_of precedes each write and access() each read
/// (for their faults: the pointer is not used, as the background pager may
/// trim the page the moment the call returns).
void tagged_pass(locked_space& as, vaddr base, std::uint64_t pages,
                 std::uint64_t tag, std::uint64_t pass, bool probe,
                 miss_log& miss) {
  const auto word = [&](std::uint64_t i) { return tag ^ (i << 8) ^ pass; };
  for (std::uint64_t i = 0; i < pages; ++i) {
    if (probe) {
      auto page = as.host_page_of(base + i * page_size, mmkit::access::write);
      if (!page) miss("host_page_of", tag, i, page.error(), 0);
    }
    const std::uint64_t v = word(i);
    std::size_t done = 0;
    const status st = as.write(base + i * page_size, &v, sizeof v, done);
    if (st != status::success) miss("write", tag, i, st, v);
  }
  for (std::uint64_t i = 0; i < pages; ++i) {
    if (probe) {
      const status st =
          as.access(base + i * page_size + 8, mmkit::access::read);
      if (st != status::success) miss("access", tag, i, st, 0);
    }
    std::uint64_t v = 0;
    std::size_t done = 0;
    const status st = as.read(base + i * page_size, &v, sizeof v, done);
    if (st != status::success || v != word(i)) miss("read", tag, i, st, v);
  }
}

/// A stress worker: commits `pages` pages, makes `passes` tagged passes
/// over them, releases them.
void tagged_worker(locked_space& as, std::uint64_t pages, unsigned passes,
                   std::uint64_t tag, bool probe, miss_log& miss) {
  vaddr base{0};
  std::uint64_t size = pages * page_size;
  status st =
      as.allocate(base, size, mem::reserve | mem::commit, page::readwrite);
  if (st != status::success) {
    miss("allocate", tag, 0, st, 0);
    return;
  }
  for (unsigned pass = 0; pass < passes; ++pass)
    tagged_pass(as, base, pages, tag, pass, probe, miss);
  std::uint64_t zero = 0;
  st = as.free(base, zero, mem::release);
  if (st != status::success) miss("free", tag, 0, st, 0);
}

/// Runs side(k, done) for k = 0 and 1 on threads of their own, until
/// `done`, while a tagged worker in each of `a` and `b` commits 1,024
/// pages and makes two passes over them (the pressure that makes a
/// running background pager trim, write and repurpose).
template <class Side>
void beside_tagged_workers(locked_space& a, locked_space& b, miss_log& miss,
                           Side side) {
  std::atomic<bool> done{false};
  std::thread sa([&] { side(0u, done); });
  std::thread sb([&] { side(1u, done); });
  std::thread ta([&] { tagged_worker(a, 1024, 2, 0xA0000000, false, miss); });
  std::thread tb([&] { tagged_worker(b, 1024, 2, 0xB0000000, false, miss); });
  ta.join();
  tb.join();
  done.store(true);
  sa.join();
  sb.join();
}

/// A mutex whose try_lock can be told to fail, as it would while another
/// thread is in a call of the space: for the system's trims, which take a
/// space's lock only through try_lock.
struct refusing_lock {
  static inline std::atomic<bool> refuse{false};
  void lock() { m.lock(); }
  void unlock() { m.unlock(); }
  bool try_lock() { return !refuse.load() && m.try_lock(); }
  // A caller's retries wait as with mutex_lock (detail::back_off_for).
  static void pause() noexcept { mutex_lock::pause(); }
  static void sleep_briefly() noexcept { mutex_lock::sleep_briefly(); }
  std::mutex m;
};
using refusing_space =
    address_space<arch::x86_64, hosted_config<refusing_lock>>;

/// Checks that pages [0, n) from `at` hold their numbers (as written by
/// busy_space or write_pages_uncached).
void check_pages(refusing_space& as, vaddr at, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t got = 0;
    std::size_t done = 0;
    REQUIRE(as.read(at + i * page_size, &got, sizeof got, done) ==
            status::success);
    CHECK(got == i);
  }
}

/// The pages write_pages_uncached writes: the first fault's frame, then the
/// 32 its fill of the space's frame cache took, so that the cache is empty.
constexpr std::uint64_t uncached_pages = 1 + frame_cache::capacity;

/// Effects: `as` commits `reserve` pages and writes its number into each of
/// the first uncached_pages. Returns: where.
vaddr write_pages_uncached(refusing_space& as, std::uint64_t reserve) {
  vaddr at{0};
  std::uint64_t size = reserve * page_size;
  REQUIRE(as.allocate(at, size, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  std::size_t done = 0;
  for (std::uint64_t i = 0; i < uncached_pages; ++i)
    REQUIRE(as.write(at + i * page_size, &i, sizeof i, done) ==
            status::success);
  REQUIRE(as.cached_frames() == 0);
  return at;
}

/// A space that takes every frame of its system (in its working set or its
/// frame cache: pages [0, written) of `base` hold their numbers; the
/// pager's thresholds 0, so that nothing is trimmed meanwhile), and then
/// looks busy: in_a_call(f) runs f() while its lock refuses try_lock, as in
/// a call of its own, until a trim has passed it by (or 10 s went by).
struct busy_space {
  refusing_space as;
  vaddr base{0};
  std::uint64_t written = 0;
  hosted_system<refusing_lock>& sys;

  busy_space(hosted_system<refusing_lock>& s, std::uint64_t pages)
      : as{s}, sys{s} {
    std::uint64_t size = pages * page_size;
    REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                        page::readwrite) == status::success);
    sys.pfns().set_available_thresholds(0, 0);
    while (sys.pfns().available() != 0) {
      std::size_t done = 0;
      REQUIRE(written < pages);
      REQUIRE(as.write(base + written * page_size, &written, sizeof written,
                       done) == status::success);
      ++written;
    }
  }
  /// Effects: f() runs while this space is busy; afterwards a trim must
  /// have passed it by, and a later one trimmed it, its pages intact.
  template <class F>
  status in_a_call(F&& f) {
    refusing_lock::refuse = true;
    std::thread call_ends([&] {
      const auto give_up =
          std::chrono::steady_clock::now() + std::chrono::seconds{10};
      while (sys.stats().trims_passed_by == 0 &&
             std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::microseconds{100});
      refusing_lock::refuse = false;
    });
    const status s = f();
    call_ends.join();
    CHECK(sys.stats().trims_passed_by > 0);
    CHECK(as.working_set_size() < written);
    check_pages(as, base, written);
    CHECK(as.check_invariants());
    CHECK(sys.pfns().check_invariants());
    return s;
  }
};

}  // namespace

TEST_SUITE_BEGIN("address_space");

TEST_CASE(
    "address_space thread: a trim for memory passes by a space in a call of "
    "its own, and trims the caller's own space") {
  hosted_system<refusing_lock> sys{64 * page_size, 1024 * page_size};
  refusing_space a{sys};
  vaddr base{0};
  std::uint64_t size = 512 * page_size;
  REQUIRE(a.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  const auto touch = [&](std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t i = from; i < to; ++i) {
      std::size_t done = 0;
      REQUIRE(a.write(base + i * page_size, &i, sizeof i, done) ==
              status::success);
    }
  };
  touch(0, 40);
  const std::uint64_t resident = a.working_set_size();
  REQUIRE(resident == 40);
  // balance() from outside every space: a's lock looks taken, so a is
  // passed by and counted.
  sys.pfns().set_available_thresholds(63, 63);
  refusing_lock::refuse = true;
  CHECK(sys.balance() == 0);
  CHECK(a.working_set_size() == resident);
  CHECK(sys.stats().trims_passed_by > 0);
  // A fault of a's own that finds no frame trims a itself, lock or not.
  touch(40, 512);
  CHECK(sys.stats().trimmed > 0);
  refusing_lock::refuse = false;
  // With the lock free, balance trims a.
  const std::uint64_t before = sys.stats().trimmed;
  sys.balance();
  CHECK(sys.stats().trimmed > before);
  for (std::uint64_t i = 0; i < 512; ++i) {
    std::uint64_t v = 0;
    std::size_t done = 0;
    REQUIRE(a.read(base + i * page_size, &v, sizeof v, done) ==
            status::success);
    CHECK(v == i);
  }
  CHECK(a.check_invariants());
}

TEST_CASE(
    "address_space thread: a map_view whose page tables find every frame "
    "held by a space in a call of its own waits for that call instead of "
    "failing") {
  hosted_system<refusing_lock> sys{64 * page_size, 1024 * page_size};
  refusing_space mapper{sys};
  busy_space busy{sys, 64};
  REQUIRE(busy.as.working_set_size() == busy.written);
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0,
                         page_size, page::readwrite,
                         sec::commit) == status::success);
  // mapper's view needs page tables (three frames below its root). The
  // first tries find no frame and pass busy by; a later one trims it.
  vaddr view{0};
  std::uint64_t view_size = 0;
  const status s = busy.in_a_call([&] {
    return mapper.map_view(h, view, view_size, 0, 0, page::readwrite);
  });
  REQUIRE(s == status::success);
  CHECK(view_size == page_size);
  std::uint64_t v = 0x5EC7;
  std::size_t done = 0;
  CHECK(mapper.write(view, &v, sizeof v, done) == status::success);
  CHECK(mapper.unmap_view(view) == status::success);
  close_section(sys, h);
  CHECK(mapper.check_invariants());
}

TEST_CASE(
    "address_space thread: a fork whose child's page tables find every frame "
    "held by a space in a call of its own waits for that call instead of "
    "failing") {
  hosted_system<refusing_lock> sys{64 * page_size, 1024 * page_size};
  refusing_space parent{sys};
  refusing_space child{sys};
  // The parent's pages, its frame cache empty (a fork may drain the
  // caller's own cache).
  const vaddr at = write_pages_uncached(parent, 64);
  busy_space busy{sys, 64};
  // The child's tables (three frames below its root) are found only once
  // busy can be trimmed.
  REQUIRE(busy.in_a_call([&] { return parent.fork_into(child); }) ==
          status::success);
  check_pages(child, at, uncached_pages);
  CHECK(parent.check_invariants());
  CHECK(child.check_invariants());
}

TEST_CASE(
    "address_space thread: a snapshot restore that finds every frame held "
    "by a space in a call of its own waits for that call instead of "
    "failing") {
  hosted_system<refusing_lock> sys{96 * page_size, 1024 * page_size};
  refusing_space restored{sys};
  const vaddr at = write_pages_uncached(restored, 64);
  emu::snapshot<refusing_space> snap;
  REQUIRE(snap.take({&restored}) == status::success);
  // The pages go; busy takes every frame.
  vaddr base = at;
  std::uint64_t size = uncached_pages * page_size;
  REQUIRE(restored.free(base, size, mem::decommit) == status::success);
  busy_space busy{sys, 96};
  // The restore's pages need frames that only busy's trim can give.
  REQUIRE(busy.in_a_call([&] { return snap.restore(); }) == status::success);
  check_pages(restored, at, uncached_pages);
  snap.drop();
  CHECK(restored.check_invariants());
}

TEST_CASE(
    "address_space thread: the section lock prefers writers: a stream of "
    "shared holders that always overlap does not hold off lock()") {
  shared_mutex_lock l;
  std::atomic<bool> stop{false};
  // Two readers hand the lock over in turn: one lets go of its share only
  // when it is its turn and the other holds one (or after 20 ms), then
  // takes one again at once. Where shared holders may join while a writer
  // waits, one of them always holds the lock and the writer waits for
  // ever; where they may not, the holder's wait runs out and the writer
  // gets in.
  std::atomic<bool> held[2] = {false, false};
  std::atomic<int> turn{0};
  const auto reader = [&](int me) {
    while (!stop.load()) {
      l.lock_shared();
      held[me] = true;
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds{20};
      while (!(turn.load() == me && held[1 - me].load()) && !stop.load() &&
             std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::microseconds{50});
      held[me] = false;
      turn = 1 - me;
      l.unlock_shared();
    }
  };
  std::thread r1(reader, 0);
  while (!held[0].load()) std::this_thread::yield();
  std::thread r2(reader, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds{10});
  std::atomic<bool> got{false};
  std::thread writer([&] {
    l.lock();
    got = true;
    CHECK((!held[0].load() && !held[1].load()));
    l.unlock();
  });
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (!got.load() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  const bool in_time = got.load();
  stop = true;
  writer.join();
  r1.join();
  r2.join();
  CHECK(in_time);
}

TEST_CASE(
    "address_space thread: guest accesses in four spaces at once, while "
    "faults repurpose each other's frames and the pager trims") {
  // 192 frames for 4 x 256 pages: every pass faults, and most faults take
  // a standby frame of another space, whose thread is walking its tables.
  hosted_system<mutex_lock> sys{192 * page_size, 2048 * page_size};
  std::vector<std::unique_ptr<locked_space>> spaces;
  for (int i = 0; i < 4; ++i)
    spaces.push_back(std::make_unique<locked_space>(sys));
  REQUIRE(sys.start_background_pager(std::chrono::milliseconds{1}) ==
          status::success);
  miss_log miss;
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      tagged_worker(*spaces[i], 256, 4, 0x1000000ull * (i + 1), true, miss);
    });
  for (auto& t : threads) t.join();
  sys.stop_background_pager();
  CAPTURE(miss.first);
  CHECK(miss.count.load() == 0);
  CHECK(sys.stats().repurposed > 0);
  CHECK(sys.commit_charge() == 0);
  CHECK(sys.page_files().used() == 0);
  for (auto& as : spaces) CHECK(as->check_invariants());
  CHECK(sys.pfns().check_invariants());
}

TEST_CASE(
    "address_space thread: commits, decommits, releases and views in four "
    "spaces at once, while faults repurpose each other's frames and the "
    "pager trims") {
  // 256 frames, and each space keeps 96 pages of its own written before
  // the threads start: memory is full, so the rounds' faults take other
  // spaces' standby frames (however the threads overlap), while the
  // untouched halves are committed, decommitted and released without the
  // PFN lock.
  hosted_system<mutex_lock> sys{256 * page_size, 2048 * page_size};
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0,
                         64 * page_size, page::readwrite,
                         sec::commit) == status::success);
  std::vector<std::unique_ptr<locked_space>> spaces;
  std::vector<vaddr> kept;
  for (int i = 0; i < 4; ++i) {
    spaces.push_back(std::make_unique<locked_space>(sys));
    vaddr at{0};
    std::uint64_t size = 96 * page_size;
    REQUIRE(spaces.back()->allocate(at, size, mem::reserve | mem::commit,
                                    page::readwrite) == status::success);
    for (std::uint64_t p = 0; p < 96; ++p)
      REQUIRE(spaces.back()->access(at + p * page_size, mmkit::access::write) ==
              status::success);
    kept.push_back(at);
  }
  const std::uint64_t repurposed_before = sys.stats().repurposed;
  REQUIRE(sys.start_background_pager(std::chrono::milliseconds{1}) ==
          status::success);
  std::atomic<unsigned> failures{0};
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      locked_space& as = *spaces[i];
      for (std::uint64_t round = 0; round < 100; ++round) {
        vaddr base{0};
        std::uint64_t size = 192 * page_size;
        if (as.allocate(base, size, mem::reserve | mem::commit,
                        page::readwrite) != status::success) {
          ++failures;
          continue;
        }
        // Even pages written with a tag, odd pages left untouched.
        const std::uint64_t tag = (std::uint64_t{i} << 48) | (round << 32);
        for (std::uint64_t p = 0; p < 192; p += 2) {
          const std::uint64_t v = tag | p;
          std::size_t done = 0;
          if (as.write(base + p * page_size, &v, sizeof v, done) !=
              status::success)
            ++failures;
        }
        // The untouched top third goes and comes back; a view comes and
        // goes beside it.
        vaddr top = base + 128 * page_size;
        std::uint64_t top_size = 64 * page_size;
        if (as.free(top, top_size, mem::decommit) != status::success)
          ++failures;
        top = base + 129 * page_size;
        top_size = page_size;
        if (as.allocate(top, top_size, mem::commit, page::readwrite) !=
            status::success)
          ++failures;
        vaddr view{0};
        std::uint64_t view_size = 0;
        if (as.map_view(h, view, view_size, 0, 0, page::readwrite) !=
                status::success ||
            as.unmap_view(view) != status::success)
          ++failures;
        for (std::uint64_t p = 0; p < 128; p += 2) {
          std::uint64_t v = 0;
          std::size_t done = 0;
          if (as.read(base + p * page_size, &v, sizeof v, done) !=
                  status::success ||
              v != (tag | p))
            ++failures;
        }
        std::uint64_t zero = 0;
        if (as.free(base, zero, mem::release) != status::success) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  sys.stop_background_pager();
  CHECK(sys.stats().repurposed > repurposed_before);
  for (std::size_t i = 0; i < spaces.size(); ++i) {
    std::uint64_t zero = 0;
    CHECK(spaces[i]->free(kept[i], zero, mem::release) == status::success);
  }
  close_section(sys, h);
  CHECK(failures.load() == 0);
  CHECK(sys.commit_charge() == 0);
  for (auto& as : spaces) {
    CHECK(as->check_invariants());
    CHECK(as->table_pages_in_use() == 1);
  }
  CHECK(sys.pfns().check_invariants());
}

TEST_CASE("address_space thread: one address space shared by four threads") {
  hosted_system<mutex_lock> sys{std::uint64_t{64} << 20};
  locked_space as{sys};
  REQUIRE(as.creation_status() == status::success);
  std::atomic<unsigned> failures{0};
  std::vector<std::thread> threads;
  for (unsigned id = 0; id < 4; ++id)
    threads.emplace_back([&, id] { churn(as, id, 200, failures); });
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(as.commit_charge() == 0);
  CHECK(as.frames_in_use() == 0);
  CHECK(as.table_pages_in_use() == 1);
  CHECK(as.check_invariants());
  CHECK(sys.pfns().check_invariants());
}

TEST_CASE(
    "address_space thread: two address spaces fault at once on one system") {
  hosted_system<mutex_lock> sys{std::uint64_t{64} << 20};
  locked_space a{sys};
  locked_space b{sys};
  std::atomic<unsigned> failures{0};
  std::thread ta([&] { churn(a, 1, 300, failures); });
  std::thread tb([&] { churn(b, 2, 300, failures); });
  ta.join();
  tb.join();
  CHECK(failures.load() == 0);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
  CHECK(sys.commit_charge() == 0);
  CHECK(sys.pfns().check_invariants());
}

TEST_CASE(
    "address_space thread: watchers read the counters and query while others "
    "allocate, protect and fault") {
  hosted_system<mutex_lock> sys{std::uint64_t{64} << 20};
  locked_space a{sys};
  locked_space b{sys};
  std::atomic<unsigned> failures{0};
  std::atomic<bool> done{false};
  std::thread ta([&] { churn(a, 1, 200, failures); });
  std::thread tb([&] { churn(b, 2, 200, failures); });
  // The watchers only read: every figure, and queries of user space.
  const auto watch = [&](locked_space& as) {
    std::uint64_t seen = 0;
    while (!done.load()) {
      seen += as.commit_charge() + as.frames_in_use() +
              as.table_pages_in_use() + as.faults().demand_zero;
      seen += sys.commit_charge() + sys.commit_limit() + sys.space_count();
      memory_basic_information info;
      if (as.query(vaddr{0x10000}, info) != status::success) ++failures;
      seen += info.region_size;
    }
    return seen;
  };
  std::thread wa([&] { (void)watch(a); });
  std::thread wb([&] { (void)watch(b); });
  ta.join();
  tb.join();
  done.store(true);
  wa.join();
  wb.join();
  CHECK(failures.load() == 0);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
  CHECK(sys.commit_charge() == 0);
}

TEST_CASE(
    "address_space thread: the background pager pages out while two spaces "
    "write and read back 8x their memory") {
  // 256 frames, 2,048 pages committed: the background pager trims, writes
  // and the faults repurpose while the workers run.
  hosted_system<mutex_lock> sys{256 * page_size, 4096 * page_size};
  locked_space a{sys};
  locked_space b{sys};
  REQUIRE(sys.start_background_pager(std::chrono::milliseconds{1}) ==
          status::success);
  CHECK(sys.start_background_pager(std::chrono::milliseconds{1}) ==
        status::invalid_parameter);
  miss_log miss;
  std::thread ta([&] { tagged_worker(a, 1024, 3, 0xA0000000, false, miss); });
  std::thread tb([&] { tagged_worker(b, 1024, 3, 0xB0000000, false, miss); });
  ta.join();
  tb.join();
  sys.stop_background_pager();
  CAPTURE(miss.first);
  CHECK(miss.count.load() == 0);
  CHECK(sys.background_pager_passes() > 0);
  CHECK(sys.stats().pagefile_writes > 0);
  CHECK(sys.page_files().used() == 0);
  CHECK(sys.commit_charge() == 0);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
}

TEST_CASE(
    "address_space thread: the space's own figures are read under its lock "
    "alone; frames_in_use, which a repurpose changes, waits for the PFN "
    "lock") {
  hosted_system<mutex_lock> sys{std::uint64_t{16} << 20};
  locked_space as{sys};
  vaddr base{0};
  std::uint64_t size = 4 * page_size;
  REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                      page::readwrite) == status::success);
  REQUIRE(as.access(base, mmkit::access::write) == status::success);
  sys.pfn_lock().lock();  // another space's long call
  auto own = std::async(std::launch::async, [&as] {
    return as.commit_charge() + as.working_set_size() + as.vad_nodes() +
           as.table_pages_in_use() + as.faults().demand_zero +
           as.cached_frames() + as.user_physical_pages();
  });
  CHECK(own.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  auto shared =
      std::async(std::launch::async, [&as] { return as.frames_in_use(); });
  CHECK(shared.wait_for(std::chrono::milliseconds{50}) ==
        std::future_status::timeout);
  sys.pfn_lock().unlock();
  CHECK(shared.get() == 1);
  CHECK(own.get() ==
        4 + 1 + 1 + as.table_pages_in_use() + 1 + as.cached_frames() + 0);
}

TEST_CASE(
    "address_space thread: a query of free or private memory, and a protect "
    "of private pages not trimmed, need only the space's lock; a view's and "
    "a trimmed page's wait for the PFN lock") {
  hosted_system<mutex_lock> sys{std::uint64_t{16} << 20};
  locked_space as{sys};
  vaddr priv{0};
  std::uint64_t size = 4 * page_size;
  REQUIRE(as.allocate(priv, size, mem::reserve | mem::commit,
                      page::readwrite) == status::success);
  REQUIRE(as.access(priv, mmkit::access::write) == status::success);
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0,
                         page_size, page::readwrite,
                         sec::commit) == status::success);
  vaddr view{0};
  size = 0;
  REQUIRE(as.map_view(h, view, size, 0, 0, page::readwrite) == status::success);
  // Another call holds the PFN lock (as a long fault in another space
  // would) while this thread queries.
  sys.pfn_lock().lock();
  const auto query_in_thread = [&](vaddr va) {
    return std::async(std::launch::async, [&as, va] {
      memory_basic_information info;
      return as.query(va, info) == status::success ? info.state : 0u;
    });
  };
  auto free_q = query_in_thread(vaddr{0x40000000});
  auto priv_q = query_in_thread(priv);
  CHECK(free_q.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  CHECK(priv_q.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  auto view_q = query_in_thread(view);
  CHECK(view_q.wait_for(std::chrono::milliseconds{50}) ==
        std::future_status::timeout);
  sys.pfn_lock().unlock();
  CHECK(free_q.get() == mem::free);
  CHECK(priv_q.get() == mem::commit);
  CHECK(view_q.get() == mem::commit);

  // Protect likewise: valid and demand-zero private pages need only the
  // space's lock; a trimmed page (its frame on a list) waits.
  const auto protect_in_thread = [&](vaddr va, std::uint32_t prot) {
    return std::async(std::launch::async, [&as, va, prot] {
      vaddr b = va;
      std::uint64_t bytes = 2 * page_size;
      std::uint32_t old = 0;
      return as.protect(b, bytes, prot, old) == status::success ? old : 0u;
    });
  };
  sys.pfn_lock().lock();
  auto own = protect_in_thread(priv, page::readonly);
  CHECK(own.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  sys.pfn_lock().unlock();
  CHECK(own.get() == page::readwrite);
  REQUIRE(as.trim(priv));
  sys.pfn_lock().lock();
  auto trimmed = protect_in_thread(priv, page::readwrite);
  CHECK(trimmed.wait_for(std::chrono::milliseconds{50}) ==
        std::future_status::timeout);
  sys.pfn_lock().unlock();
  CHECK(trimmed.get() == page::readonly);
  memory_basic_information info;
  REQUIRE(as.query(priv, info) == status::success);
  CHECK(info.protect == page::readwrite);
  CHECK(info.region_size == 4 * page_size);
  REQUIRE(as.unmap_view(view) == status::success);
  close_section(sys, h);
}

/// Two spaces on a system of 256 frames, each with a region of 64 pages
/// committed read-write and written (page i of space k holds word(k, i)),
/// and the background pager running. Beside the tagged workers' 2 x 1,024
/// pages, the regions' pages are pushed out: trimmed (transition PTEs) and
/// repurposed (page-file PTEs, which another space's fault rewrites under
/// the PFN lock alone).
struct paged_pair {
  static constexpr std::uint64_t pages = 64;
  hosted_system<mutex_lock> sys{256 * page_size, 4096 * page_size};
  locked_space a{sys};
  locked_space b{sys};
  std::array<locked_space*, 2> spaces{&a, &b};
  std::array<vaddr, 2> region{};
  miss_log miss;

  static std::uint64_t word(unsigned k, std::uint64_t i) {
    return 0xF00D0000 + k * 0x1000 + i;
  }
  paged_pair() {
    for (unsigned k = 0; k < 2; ++k) {
      std::uint64_t size = pages * page_size;
      REQUIRE(spaces[k]->allocate(region[k], size, mem::reserve | mem::commit,
                                  page::readwrite) == status::success);
      for (std::uint64_t i = 0; i < pages; ++i) {
        const std::uint64_t w = word(k, i);
        std::size_t done = 0;
        REQUIRE(spaces[k]->write(region[k] + i * page_size, &w, sizeof w,
                                 done) == status::success);
      }
    }
    REQUIRE(sys.start_background_pager(std::chrono::milliseconds{1}) ==
            status::success);
  }
  /// Whether page i of space k still holds its word (faulted back in).
  bool holds_word(unsigned k, std::uint64_t i) {
    std::uint64_t w = 0;
    std::size_t done = 0;
    return spaces[k]->read(region[k] + i * page_size, &w, sizeof w, done) ==
               status::success &&
           w == word(k, i);
  }
  /// Stops the pager; checks that nothing was missed and all is sound.
  void finish() {
    sys.stop_background_pager();
    CAPTURE(miss.first);
    CHECK(miss.count.load() == 0);
    CHECK(sys.stats().pagefile_writes > 0);
    for (unsigned k = 0; k < 2; ++k)
      for (std::uint64_t i = 0; i < pages; ++i) CHECK(holds_word(k, i));
    CHECK(a.check_invariants());
    CHECK(b.check_invariants());
    CHECK(sys.pfns().check_invariants());
  }
};

TEST_CASE(
    "address_space thread: queries of private memory, answered without the "
    "PFN lock, see the same region while the pager trims and faults "
    "repurpose its pages") {
  paged_pair w;
  std::atomic<std::uint64_t> queries{0};
  beside_tagged_workers(
      w.a, w.b, w.miss, [&](unsigned k, std::atomic<bool>& done) {
        do {  // at least once, however the threads are scheduled
          memory_basic_information info;
          const status st = w.spaces[k]->query(w.region[k] + page_size, info);
          if (st != status::success || info.state != mem::commit ||
              info.protect != page::readwrite ||
              info.type != mem::private_memory ||
              info.allocation_base != w.region[k].raw() ||
              info.region_size != (paged_pair::pages - 1) * page_size)
            w.miss("query", k, 1, st, info.region_size);
          ++queries;
        } while (!done.load());
      });
  CHECK(queries.load() > 0);
  w.finish();
}

TEST_CASE(
    "address_space thread: protects flip a region's pages while the pager "
    "trims them and other spaces' faults repurpose their frames") {
  paged_pair w;
  std::atomic<std::uint64_t> flips{0};
  beside_tagged_workers(
      w.a, w.b, w.miss, [&](unsigned k, std::atomic<bool>& done) {
        std::uint32_t now = page::readwrite;
        do {  // at least once, however the threads are scheduled
          const std::uint32_t next =
              now == page::readwrite ? page::readonly : page::readwrite;
          vaddr at = w.region[k];
          std::uint64_t size = paged_pair::pages * page_size;
          std::uint32_t old = 0;
          const status st = w.spaces[k]->protect(at, size, next, old);
          if (st != status::success || old != now)
            w.miss("protect", k, 0, st, old);
          now = next;
          // A read faults a trimmed or paged-out page back in.
          const std::uint64_t i = flips++ % paged_pair::pages;
          if (!w.holds_word(k, i)) w.miss("read", k, i, status::success, 0);
        } while (!done.load());
      });
  CHECK(flips.load() > 0);
  w.finish();
}

TEST_SUITE_END();

/// A PE32+ DLL of one code page with a DIR64 fixup in it.
pe_test::bytes tiny_dll() {
  pe_test::image_spec s;
  s.pe32_plus = true;
  s.dll = true;
  s.image_base = 0x180000000;
  pe_test::bytes text(0x200);
  for (std::size_t i = 0; i < text.size(); ++i)
    text[i] = static_cast<std::byte>(i * 11 + 5);
  s.sections = {{".text", pe_test::text_flags, text, 0}};
  s.relocations = {{0x1010, pe_test::rel_dir64}};
  return pe_test::build(s).data;
}

/// A PTE observer that asks, at a space's first PTE write of each call
/// after arm(), whether another thread could take the PFN lock then: a
/// helper thread tries it (the writing thread itself may not).
struct pfn_lock_probe {
  mutex_lock* pfn_lock = nullptr;
  bool armed = false;
  int free_at_write = -1;  // -1: no write since arm()
  void arm() {
    armed = true;
    free_at_write = -1;
  }
  template <class Entry>
  void pte_changed(vpn, Entry, Entry) noexcept {
    if (!armed) return;
    armed = false;
    bool got = false;
    std::thread([&] {
      got = pfn_lock->try_lock();
      if (got) pfn_lock->unlock();
    }).join();
    free_at_write = got;
  }
};
struct probe_config : hosted_config<mutex_lock> {
  using observer = pfn_lock_probe;
};

TEST_CASE(
    "address_space thread: a commit, decommit, map or unmap of pages that "
    "hold no frame writes its PTEs without the PFN lock; one over a "
    "resident page holds it") {
  basic_hosted_system<probe_config> sys{std::uint64_t{16} << 20};
  address_space<arch::x86_64, probe_config> as{sys};
  as.observer().pfn_lock = &sys.pfn_lock();
  const std::uint64_t tables_at_start = as.table_pages_in_use();
  // Returns whether another thread could take the PFN lock at the call's
  // first PTE write (-1: no write).
  auto allocate = [&](vaddr& at, std::uint64_t pages, std::uint32_t type,
                      std::uint32_t prot = page::readwrite) {
    std::uint64_t size = pages * page_size;
    as.observer().arm();
    REQUIRE(as.allocate(at, size, type, prot) == status::success);
    return as.observer().free_at_write;
  };
  auto free = [&](vaddr at, std::uint64_t pages, std::uint32_t type) {
    std::uint64_t size = pages * page_size;
    as.observer().arm();
    REQUIRE(as.free(at, size, type) == status::success);
    return as.observer().free_at_write;
  };
  // MEM_RESERVE | MEM_COMMIT of 3 MiB: its two leaf tables are made under
  // the lock, its 768 PTEs written without it.
  vaddr base{0};
  CHECK(allocate(base, 768, mem::reserve | mem::commit) == 1);
  CHECK(as.table_pages_in_use() > tables_at_start);
  // Its release clears them without it, and the tables go once the
  // release has it again.
  CHECK(free(base, 0, mem::release) == 1);
  CHECK(as.table_pages_in_use() == tables_at_start);
  CHECK(as.commit_charge() == 0);
  // MEM_COMMIT in a reservation: fresh pages, then fresh and committed
  // untouched ones.
  vaddr r{0};
  CHECK(allocate(r, 1024, mem::reserve) == -1);  // no PTE written
  vaddr at = r + 8 * page_size;
  CHECK(allocate(at, 8, mem::commit) == 1);
  at = r;
  CHECK(allocate(at, 600, mem::commit) == 1);
  // A page that holds a frame: a commit over it (a new protection) and a
  // decommit of it hold the lock to their end.
  REQUIRE(as.access(r + 4 * page_size, mmkit::access::write) ==
          status::success);
  at = r;
  CHECK(allocate(at, 16, mem::commit, page::readonly) == 0);
  CHECK(free(r, 16, mem::decommit) == 0);
  // Untouched pages: a decommit clears them without it.
  CHECK(free(r + 100 * page_size, 100, mem::decommit) == 1);
  CHECK(as.commit_charge() == 600 - 16 - 100);
  CHECK(sys.pfns().check_invariants());
  CHECK(as.check_invariants());
  // The pages left read and write as committed memory does.
  REQUIRE(as.access(r + 500 * page_size, mmkit::access::write) ==
          status::success);
  REQUIRE(as.access(r + 150 * page_size, mmkit::access::read) ==
          status::access_violation);
  CHECK(free(r, 0, mem::release) == 0);  // page 500 holds a frame
  CHECK(as.table_pages_in_use() == tables_at_start);
  CHECK(as.commit_charge() == 0);
  CHECK(as.check_invariants());

  // A view's PTEs are new: written without it too.
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0,
                         768 * page_size, page::readwrite,
                         sec::commit) == status::success);
  vaddr view{0};
  std::uint64_t size = 0;
  as.observer().arm();
  REQUIRE(as.map_view(h, view, size, 0, 0, page::readwrite) == status::success);
  CHECK(as.observer().free_at_write == 1);
  // Unmapped untouched: cleared without it, the tables freed with it.
  as.observer().arm();
  REQUIRE(as.unmap_view(view) == status::success);
  CHECK(as.observer().free_at_write == 1);
  CHECK(as.table_pages_in_use() == tables_at_start);
  // A view that maps a frame holds it to the end of its unmap.
  view = vaddr{0};
  size = 0;
  REQUIRE(as.map_view(h, view, size, 0, 0, page::readwrite) == status::success);
  REQUIRE(as.access(view + 700 * page_size, mmkit::access::write) ==
          status::success);
  as.observer().arm();
  REQUIRE(as.unmap_view(view) == status::success);
  CHECK(as.observer().free_at_write == 0);
  CHECK(as.table_pages_in_use() == tables_at_start);
  close_section(sys, h);

  // An image away from its base: the view's PTEs without it, then the
  // relocation with it again.
  const pe_test::bytes dll = tiny_dll();
  memory_store store(const_cast<std::byte*>(dll.data()), dll.size(), dll.size(),
                     false);
  file_object file(store);
  REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                         page::execute_writecopy, sec::image,
                         &file) == status::success);
  view = vaddr{0x7FF000000000};
  size = 0;
  as.observer().arm();
  REQUIRE(as.map_view(h, view, size, 0, 0, page::readwrite) ==
          status::image_not_at_base);
  CHECK(as.observer().free_at_write == 1);
  const pe_test::bytes want = pe_test::expected_image(dll, view.raw());
  std::uint64_t fixed = 0, expected = 0;
  std::size_t done = 0;
  REQUIRE(as.read(view + 0x1010, &fixed, sizeof fixed, done) ==
          status::success);
  std::memcpy(&expected, want.data() + 0x1010, sizeof expected);
  CHECK(fixed == expected);
  CHECK(as.check_invariants());
  REQUIRE(as.unmap_view(view) == status::success);
  close_section(sys, h);
  CHECK(as.check_invariants());
}

TEST_CASE_TEMPLATE(
    "address_space thread: demand-zero faults take frames from the space's "
    "frame cache without the PFN lock; the fault that finds it empty waits "
    "for the lock and fills it",
    Arch, arch::x86_32, arch::x86_64) {
  hosted_system<mutex_lock> sys{std::uint64_t{16} << 20};
  constexpr std::uint64_t cached = frame_cache::capacity;
  fault_counts before_b{};
  {
    address_space<Arch, hosted_config<mutex_lock>> as{sys};
    vaddr base{0};
    std::uint64_t size = (cached + 2) * page_size;
    REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                        page::readwrite) == status::success);
    CHECK(as.cached_frames() == 0);
    // The first fault makes the leaf table and fills the cache.
    REQUIRE(as.access(base, mmkit::access::write) == status::success);
    CHECK(as.cached_frames() == cached);
    const std::uint64_t frames = as.frames_in_use();
    const std::uint64_t available = sys.pfns().available();

    // While another call holds the PFN lock, the next `cached` faults
    // complete: their frames come from the cache.
    sys.pfn_lock().lock();
    auto from_cache = std::async(std::launch::async, [&] {
      for (std::uint64_t i = 1; i <= cached; ++i)
        if (as.access(base + i * page_size, mmkit::access::write) !=
            status::success)
          return false;
      return true;
    });
    CHECK(from_cache.wait_for(std::chrono::seconds{10}) ==
          std::future_status::ready);
    // The cache is empty now: the next fault waits for the PFN lock.
    auto from_lists = std::async(std::launch::async, [&] {
      return as.access(base + (cached + 1) * page_size, mmkit::access::write);
    });
    CHECK(from_lists.wait_for(std::chrono::milliseconds{50}) ==
          std::future_status::timeout);
    sys.pfn_lock().unlock();
    CHECK(from_cache.get());
    CHECK(from_lists.get() == status::success);
    // It took its own frame from the lists and filled the cache again.
    CHECK(as.cached_frames() == cached);
    CHECK(as.frames_in_use() == frames + cached + 1);
    CHECK(sys.pfns().available() == available - 1 - cached);
    // Every page reads zero, and the system counts every fault.
    for (std::uint64_t i = 0; i < cached + 2; ++i) {
      std::uint64_t word = 1;
      std::size_t done = 0;
      REQUIRE(as.read(base + i * page_size + 64, &word, sizeof word, done) ==
              status::success);
      CHECK(word == 0);
    }
    CHECK(as.faults().demand_zero == cached + 2);
    CHECK(sys.faults() == as.faults());
    before_b = as.faults();
    CHECK(as.check_invariants());
  }
  // The space's cache went back with it, and its counts stay counted.
  CHECK(sys.pfns().count(page_state::active) == 0);
  CHECK(sys.faults() == before_b);
  CHECK(sys.pfns().check_invariants());
}

TEST_CASE(
    "address_space thread: a space's cached frames go to another space's "
    "committed pages when memory runs short") {
  // 256 frames and no page file: space b commits every page the commit
  // limit allows, which it can touch only with the frames in a's cache.
  hosted_system<mutex_lock> sys{256 * page_size};
  locked_space a{sys};
  locked_space b{sys};
  vaddr base_a{0};
  std::uint64_t size = page_size;
  REQUIRE(a.allocate(base_a, size, mem::reserve | mem::commit,
                     page::readwrite) == status::success);
  REQUIRE(a.access(base_a, mmkit::access::write) == status::success);
  REQUIRE(a.cached_frames() == frame_cache::capacity);

  vaddr base_b{0};
  size = 256 * page_size;
  REQUIRE(b.allocate(base_b, size, mem::reserve, page::readwrite) ==
          status::success);
  std::uint64_t committed = 0;
  for (; committed < 256; ++committed) {
    vaddr at = base_b + committed * page_size;
    std::uint64_t one = page_size;
    if (b.allocate(at, one, mem::commit, page::readwrite) != status::success)
      break;
  }
  REQUIRE(committed > 128);
  // More pages committed than the lists hold: a's cache must give back.
  CHECK(committed + 1 > sys.pfns().available());
  // Touched from another thread, as an emulator's vCPU would.
  std::atomic<std::uint64_t> touched{0};
  std::thread t([&] {
    for (std::uint64_t i = 0; i < committed; ++i)
      if (b.access(base_b + i * page_size, mmkit::access::write) ==
          status::success)
        ++touched;
  });
  t.join();
  CHECK(touched.load() == committed);
  CHECK(a.cached_frames() == 0);
  CHECK(b.faults().demand_zero == committed);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
  CHECK(sys.pfns().check_invariants());
}

TEST_CASE(
    "address_space thread: while an x86_32 space is bound to the low zone "
    "of a machine with more than 4 GiB, frame caches go home and stay "
    "empty") {
  hosted_system<mutex_lock> sys{std::uint64_t{8} << 30};
  locked_space wide{sys};
  vaddr base{0};
  std::uint64_t size = 256 * page_size;
  REQUIRE(wide.allocate(base, size, mem::reserve | mem::commit,
                        page::readwrite) == status::success);
  std::uint64_t next = 0;
  const auto touch = [&](std::uint64_t n) {
    for (std::uint64_t end = next + n; next < end; ++next)
      REQUIRE(wide.access(base + next * page_size, mmkit::access::write) ==
              status::success);
  };
  touch(1);
  CHECK(wide.cached_frames() == frame_cache::capacity);
  {
    address_space<arch::x86_32, hosted_config<mutex_lock>> narrow{sys};
    REQUIRE(narrow.creation_status() == status::success);
    CHECK(wide.cached_frames() == 0);
    CHECK(narrow.cached_frames() == 0);
    touch(frame_cache::capacity + 8);
    CHECK(wide.cached_frames() == 0);
    vaddr low{0};
    std::uint64_t low_size = 16 * page_size;
    REQUIRE(narrow.allocate(low, low_size, mem::reserve | mem::commit,
                            page::readwrite) == status::success);
    for (std::uint64_t i = 0; i < 16; ++i)
      REQUIRE(narrow.access(low + i * page_size, mmkit::access::write) ==
              status::success);
    CHECK(narrow.cached_frames() == 0);
    CHECK(narrow.check_invariants());
  }
  // Gone: the next fault that finds the cache empty fills it again.
  touch(1);
  CHECK(wide.cached_frames() == frame_cache::capacity);
  CHECK(wide.check_invariants());
}

TEST_CASE(
    "address_space thread: frames marked bad while faults map them from "
    "the frame cache keep the mark, and go bad when released") {
  hosted_system<mutex_lock> sys{std::uint64_t{16} << 20};
  constexpr std::uint64_t pages = 512;
  constexpr std::uint64_t marked_below = 1024;  // every 8th frame below
  {
    locked_space as{sys};
    vaddr base{0};
    std::uint64_t size = pages * page_size;
    REQUIRE(as.allocate(base, size, mem::reserve | mem::commit,
                        page::readwrite) == status::success);
    std::atomic<bool> done{false};
    std::thread marker([&] {
      do {  // at least once, however the threads are scheduled
        for (std::uint64_t f = 0; f < marked_below; f += 8) {
          sys.pfn_lock().lock();
          sys.pfns().mark_bad(pfn{f});
          sys.pfn_lock().unlock();
        }
      } while (!done.load());
    });
    std::uint64_t failed = 0;
    for (std::uint64_t i = 0; i < pages; ++i)
      failed += as.access(base + i * page_size, mmkit::access::write) !=
                status::success;
    done = true;
    marker.join();
    CHECK(failed == 0);
    CHECK(as.check_invariants());
  }
  // Every frame marked went bad once the space let it go: none lost its
  // mark to a fault's write of its entry.
  for (std::uint64_t f = 0; f < marked_below; f += 8)
    CHECK(sys.pfns().entry(pfn{f}).state() == page_state::bad);
  CHECK(sys.pfns().count(page_state::bad) == marked_below / 8);
  CHECK(sys.pfns().check_invariants());
}

/// Whether `f`, run on another thread while this thread holds `lock`,
/// finishes: it is given ten seconds, far more than it needs, and a call
/// that waits for `lock` never finishes (the lock is then let go, so the
/// call completes and the thread joins).
template <class Lock, class F>
bool finishes_while_held(Lock& lock, F f) {
  lock.lock();
  std::promise<void> finished;
  std::future<void> done = finished.get_future();
  std::thread t([&] {
    f();
    finished.set_value();
  });
  const bool ok =
      done.wait_for(std::chrono::seconds{10}) == std::future_status::ready;
  lock.unlock();
  t.join();
  return ok;
}

TEST_CASE(
    "address_space thread: sections have a lock of their own: faults and "
    "private memory calls run while it is held, and section handles open "
    "and close while the PFN lock is held") {
  hosted_system<mutex_lock> sys{std::uint64_t{16} << 20};
  locked_space as{sys};
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, "shared pages", 0,
                         16 * page_size, page::readwrite,
                         sec::commit) == status::success);
  vaddr view{0};
  std::uint64_t view_size = 0;
  REQUIRE(as.map_view(h, view, view_size, 0, 0, page::readwrite) ==
          status::success);
  std::vector<std::byte> file_bytes(8 * page_size, std::byte{0x5A});
  memory_store store(file_bytes.data(), file_bytes.size(), file_bytes.size());
  file_object file(store);
  section_handle data;
  REQUIRE(create_section(sys, data, section_access::all_access, nullptr, 0, 0,
                         page::readwrite, sec::commit,
                         &file) == status::success);

  // The section lock held: a view page and private pages fault in, and
  // private memory is committed, protected, queried and released.
  unsigned failures = 0;
  CHECK(finishes_while_held(sys.section_lock(), [&] {
    std::uint64_t v = 0x1234;
    std::size_t done = 0;
    failures +=
        as.write(view + 3 * page_size, &v, sizeof v, done) != status::success;
    vaddr base{0};
    std::uint64_t size = 8 * page_size;
    failures += as.allocate(base, size, mem::reserve | mem::commit,
                            page::readwrite) != status::success;
    failures += as.write(base, &v, sizeof v, done) != status::success;
    std::uint32_t old = 0;
    vaddr pb = view;
    std::uint64_t ps = page_size;
    failures += as.protect(pb, ps, page::readonly, old) != status::success;
    memory_basic_information info;
    failures +=
        as.query(view, info) != status::success || info.type != mem::mapped;
    std::uint64_t zero = 0;
    failures += as.free(base, zero, mem::release) != status::success;
  }));
  CHECK(failures == 0);

  // The PFN lock held: a named section is opened, opened again through
  // OBJ_OPENIF, a second data section made over a file already in use,
  // and the handles closed (none of them the last reference to pages).
  CHECK(finishes_while_held(sys.pfn_lock(), [&] {
    section_handle again;
    failures += open_section(sys, again, section_access::map_read,
                             "shared pages") != status::success;
    section_handle openif;
    failures +=
        create_section(sys, openif, section_access::all_access, "shared pages",
                       obj::openif, 16 * page_size, page::readwrite,
                       sec::commit) != status::object_name_exists;
    section_handle second;
    failures += create_section(sys, second, section_access::map_read, nullptr,
                               0, 4 * page_size, page::readonly, sec::commit,
                               &file) != status::success;
    if (again) close_section(sys, again);
    if (openif) close_section(sys, openif);
    if (second) close_section(sys, second);
    // The view keeps the section: its last handle goes without the PFN
    // lock too.
    close_section(sys, h);
  }));
  CHECK(failures == 0);
  CHECK(sys.sections().live == 2);

  std::uint64_t v = 0;
  std::size_t done = 0;
  REQUIRE(as.read(view + 3 * page_size, &v, sizeof v, done) == status::success);
  CHECK(v == 0x1234);
  REQUIRE(as.unmap_view(view) == status::success);  // the section goes
  CHECK(sys.sections().live == 1);
  close_section(sys, data);
  CHECK(sys.sections().live == 0);
  CHECK(sys.commit_charge() == 0);
  CHECK(as.check_invariants());
  CHECK(sys.pfns().check_invariants());
}

TEST_CASE(
    "address_space thread: sections created, opened, mapped, written, "
    "unmapped and closed from four spaces at once, over the page file, a "
    "shared data file and a shared image, while the pager trims") {
  // 256 frames for 4 spaces: the pager trims and writes as they go.
  hosted_system<mutex_lock> sys{256 * page_size, 2048 * page_size};
  constexpr std::uint64_t file_pages = 16;
  std::vector<std::byte> file_bytes(file_pages * page_size);
  memory_store store(file_bytes.data(), file_bytes.size(), file_bytes.size());
  file_object data_file(store);
  const pe_test::bytes dll = tiny_dll();
  memory_store dll_store(const_cast<std::byte*>(dll.data()), dll.size(),
                         dll.size(), false);
  file_object dll_file(dll_store);
  section_handle shared;
  REQUIRE(create_section(sys, shared, section_access::all_access, "shared", 0,
                         4 * page_size, page::readwrite,
                         sec::commit) == status::success);
  REQUIRE(sys.start_background_pager(std::chrono::milliseconds{1}) ==
          status::success);
  std::vector<std::unique_ptr<locked_space>> spaces;
  for (int i = 0; i < 4; ++i)
    spaces.push_back(std::make_unique<locked_space>(sys));
  miss_log miss;
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      locked_space& as = *spaces[i];
      const std::string own = "own " + std::to_string(i);
      std::size_t done = 0;
      for (std::uint64_t round = 0; round < 40; ++round) {
        const std::uint64_t tag = (std::uint64_t{i} << 48) | (round << 32);
        // A named page-file section of its own: written through one view,
        // opened by name and read through another.
        section_handle mine;
        status st =
            create_section(sys, mine, section_access::all_access, own.c_str(),
                           0, 32 * page_size, page::readwrite, sec::reserve);
        if (st != status::success) {
          miss("create", tag, 0, st, 0);
          continue;
        }
        vaddr a{0};
        std::uint64_t size = 0;
        st = as.map_view(mine, a, size, 0, 0, page::readwrite);
        if (st != status::success) miss("map", tag, 0, st, 0);
        std::uint64_t commit_size = 8 * page_size;
        vaddr c = a;
        if (st == status::success &&
            (st = as.allocate(c, commit_size, mem::commit, page::readwrite)) !=
                status::success)
          miss("commit view", tag, 0, st, 0);
        for (std::uint64_t p = 0; p < 8 && st == status::success; ++p) {
          const std::uint64_t v = tag | p;
          if (as.write(a + p * page_size, &v, sizeof v, done) !=
              status::success)
            miss("write own", tag, p, st, 0);
        }
        section_handle again;
        st = open_section(sys, again, section_access::map_read, own.c_str());
        if (st != status::success) miss("open", tag, 0, st, 0);
        close_section(sys, mine);  // the view and `again` keep it
        vaddr b{0};
        size = 0;
        if (again && (st = as.map_view(again, b, size, 0, 0, page::readonly)) ==
                         status::success) {
          for (std::uint64_t p = 0; p < 8; ++p) {
            std::uint64_t v = 0;
            if (as.read(b + p * page_size, &v, sizeof v, done) !=
                    status::success ||
                v != (tag | p))
              miss("read own", tag, p, status::success, v);
          }
          as.unmap_view(b);
        }
        if (a.raw() != 0) as.unmap_view(a);
        if (again) close_section(sys, again);  // the section goes

        // The shared section: each space its own page.
        section_handle s;
        if ((st = open_section(sys, s, section_access::all_access, "shared")) !=
            status::success)
          miss("open shared", tag, 0, st, 0);
        vaddr sv{0};
        size = 0;
        if (s && (st = as.map_view(s, sv, size, 0, 0, page::readwrite)) ==
                     status::success) {
          const std::uint64_t v = tag;
          std::uint64_t back = 0;
          if (as.write(sv + i * page_size, &v, sizeof v, done) !=
                  status::success ||
              as.read(sv + i * page_size, &back, sizeof back, done) !=
                  status::success ||
              back != tag)
            miss("shared page", tag, i, status::success, back);
          as.unmap_view(sv);
        }
        if (s) close_section(sys, s);

        // The data file: a section over it in each space now and then
        // (the last close writes the file and lets its segment go); each
        // space finds its page as it last wrote it.
        section_handle d;
        if ((st = create_section(sys, d, section_access::all_access, nullptr, 0,
                                 0, page::readwrite, sec::commit,
                                 &data_file)) != status::success)
          miss("create data", tag, 0, st, 0);
        vaddr dv{0};
        size = 0;
        if (d && (st = as.map_view(d, dv, size, 0, 0, page::readwrite)) ==
                     status::success) {
          std::uint64_t before = 0;
          const vaddr at = dv + (4 + i) * page_size;
          if (as.read(at, &before, sizeof before, done) != status::success ||
              (round != 0 && before != (tag - (std::uint64_t{1} << 32))))
            miss("data page", tag, i, status::success, before);
          if (as.write(at, &tag, sizeof tag, done) != status::success)
            miss("write data", tag, i, status::success, 0);
          as.unmap_view(dv);
        }
        if (d) close_section(sys, d);

        // The image: one segment for every space's section over it.
        section_handle img;
        if ((st = create_section(sys, img, section_access::all_access, nullptr,
                                 0, 0, page::execute_writecopy, sec::image,
                                 &dll_file)) != status::success)
          miss("create image", tag, 0, st, 0);
        vaddr iv{0};
        size = 0;
        if (img) {
          st = as.map_view(img, iv, size, 0, 0, page::readwrite);
          if (st != status::success && st != status::image_not_at_base)
            miss("map image", tag, 0, st, 0);
          else {
            std::uint8_t first = 0;
            if (as.read(iv, &first, 1, done) != status::success || first != 'M')
              miss("image header", tag, 0, status::success, first);
            as.unmap_view(iv);
          }
          close_section(sys, img);
        }
      }
    });
  for (auto& t : threads) t.join();
  sys.stop_background_pager();
  INFO(miss.first);
  CHECK(miss.count.load() == 0);
  // The file holds each space's last write.
  for (std::uint64_t i = 0; i < 4; ++i) {
    std::uint64_t v = 0;
    std::memcpy(&v, file_bytes.data() + (4 + i) * page_size, sizeof v);
    CHECK(v == ((i << 48) | (std::uint64_t{39} << 32)));
  }
  close_section(sys, shared);
  CHECK(sys.sections().live == 0);
  CHECK(sys.sections().pool.in_use() == 0);
  CHECK(sys.commit_charge() == 0);
  for (auto& as : spaces) CHECK(as->check_invariants());
  CHECK(sys.pfns().check_invariants());
}

namespace {

/// A page file's store whose reads can be held at a gate: a read counts
/// its arrival, then waits while the gate is shut; the next read may be
/// told to fail.
class gated_store {
 public:
  gated_store(void* bytes, std::uint64_t capacity, std::uint64_t size = 0)
      : inner_(bytes, capacity, size) {}
  std::uint64_t size() const noexcept { return inner_.size(); }
  bool writable() const noexcept { return true; }
  const char* name() const noexcept { return "gated page file"; }
  status read(std::uint64_t offset, void* out, std::size_t n) noexcept {
    arrivals_.fetch_add(1);
    while (shut_.load() && (only_ == any || only_ == offset))
      std::this_thread::yield();
    if (fail_next_.exchange(false)) return status::unsuccessful;
    return inner_.read(offset, out, n);
  }
  status write(std::uint64_t offset, const void* in, std::size_t n) noexcept {
    return inner_.write(offset, in, n);
  }
  status set_size(std::uint64_t size) noexcept { return inner_.set_size(size); }

  /// Reads wait at the gate while it is shut: all of them, or only those
  /// at byte offset `only`.
  void shut(bool s, std::uint64_t only = any) {
    only_ = only;
    shut_.store(s);
  }
  void fail_next() { fail_next_.store(true); }
  unsigned arrivals() const { return arrivals_.load(); }
  std::uint64_t reads() const { return inner_.reads(); }

 private:
  static constexpr std::uint64_t any = ~std::uint64_t{0};
  memory_store inner_;
  std::atomic<bool> shut_{false};
  std::uint64_t only_ = any;  // written before shut_ is set
  std::atomic<bool> fail_next_{false};
  std::atomic<unsigned> arrivals_{0};
};

/// The gate of a store shut beforehand, as a lock for finishes_while_held:
/// taking it does nothing, letting it go opens the gate.
struct shut_gate {
  gated_store& store;
  void lock() {}
  void unlock() { store.shut(false); }
};

/// A guest read of 8 bytes at `va` in `s`, on a thread of its own, held at
/// `store`'s gate (shut beforehand): the constructor returns once the read
/// has reached the store. join(), then look at `value` and `result`.
struct held_read {
  std::uint64_t value = 0;
  status result = status::unsuccessful;
  std::thread thread;
  held_read(locked_space& s, vaddr va, gated_store& store) {
    const unsigned before = store.arrivals();
    thread = std::thread([this, &s, va] {
      std::size_t done = 0;
      result = s.read(va, &value, sizeof value, done);
    });
    while (store.arrivals() == before) std::this_thread::yield();
  }
  void join() { thread.join(); }
};

/// PFN work in space `s`: 8 private pages committed, written (demand-zero
/// faults) and released, with the modified page writer run in between,
/// after a trim of the first page when `trim` (which then must be written).
/// Returns: how many steps failed.
unsigned commit_write_release(hosted_system<mutex_lock>& sys, locked_space& s,
                              bool trim) {
  unsigned failures = 0;
  vaddr base{0};
  std::uint64_t size = 8 * page_size;
  failures += s.allocate(base, size, mem::reserve | mem::commit,
                         page::readwrite) != status::success;
  for (std::uint64_t i = 0; i < 8; ++i) {
    const std::uint64_t v = i;
    std::size_t n = 0;
    failures +=
        s.write(base + i * page_size, &v, sizeof v, n) != status::success;
  }
  if (trim) failures += !s.trim(base);
  const std::uint64_t written = sys.write_modified_pages(8);
  if (trim) failures += written != 1;
  std::uint64_t zero = 0;
  failures += s.free(base, zero, mem::release) != status::success;
  return failures;
}

}  // namespace

TEST_CASE(
    "address_space thread: a hard fault reads the page file without the PFN "
    "lock, and a failed read changes nothing") {
  hosted_system<mutex_lock> sys{std::uint64_t{4} << 20};
  std::vector<std::byte> file_bytes(64 * page_size);
  gated_store store(file_bytes.data(), file_bytes.size());
  std::uint64_t bits[1];
  page_file pf(store_ref{store}, bits, 64);
  REQUIRE(sys.add_page_file(pf));
  locked_space a{sys};
  locked_space b{sys};
  vaddr base{0};
  std::uint64_t size = 4 * page_size;
  REQUIRE(a.allocate(base, size, mem::reserve | mem::commit, page::readwrite) ==
          status::success);
  const auto value = [](std::uint64_t i) { return 0xA11CE000 + i; };
  for (std::uint64_t i = 0; i < 4; ++i) {
    const std::uint64_t v = value(i);
    std::size_t done = 0;
    REQUIRE(a.write(base + i * page_size, &v, sizeof v, done) ==
            status::success);
  }
  // The four pages go out: trimmed, written to the page file, and their
  // frames repurposed, so that their PTEs name page-file slots.
  for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(a.trim(base + i * page_size));
  REQUIRE(sys.write_modified_pages(8) == 4);
  {
    std::lock_guard<mutex_lock> guard(sys.pfn_lock());
    std::vector<pfn> taken;
    while (sys.pfns().count(page_state::standby) != 0)
      taken.push_back(sys.pfns().allocate(page_need::any).value());
    for (pfn f : taken) sys.pfns().release(f, release_to::free_list);
  }
  for (std::uint64_t i = 0; i < 4; ++i)
    REQUIRE(a.translate(base + i * page_size).kind == entry_kind::page_file);
  REQUIRE(sys.page_files().used() == 4);

  // A hard fault in `a` waits at the store's gate. Meanwhile `b` commits,
  // writes, trims and releases, and the modified page writer runs: all
  // of it takes the PFN lock, which the waiting fault does not hold.
  store.shut(true);
  held_read fault(a, base, store);
  unsigned failures = 0;
  shut_gate gate{store};
  CHECK(finishes_while_held(
      gate, [&] { failures = commit_write_release(sys, b, true); }));
  fault.join();
  CHECK(failures == 0);
  CHECK(fault.result == status::success);
  CHECK(fault.value == value(0));
  CHECK(a.faults().hard == 1);

  // A read the store fails: STATUS_IN_PAGE_ERROR, and the page is still
  // in its slot, to be read by the next access.
  store.fail_next();
  std::uint64_t got = 0;
  std::size_t n = 0;
  CHECK(a.read(base + page_size, &got, sizeof got, n) == status::in_page_error);
  CHECK(a.translate(base + page_size).kind == entry_kind::page_file);
  CHECK(sys.page_files().used() == 3);
  CHECK(a.read(base + page_size, &got, sizeof got, n) == status::success);
  CHECK(got == value(1));
  for (std::uint64_t i = 2; i < 4; ++i) {
    CHECK(a.read(base + i * page_size, &got, sizeof got, n) == status::success);
    CHECK(got == value(i));
  }
  CHECK(a.faults().hard == 4);
  CHECK(sys.page_files().used() == 0);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
}

TEST_CASE(
    "address_space thread: a fault reads a section page without the PFN "
    "lock, and a second fault on that page waits for the read") {
  hosted_system<mutex_lock> sys{std::uint64_t{4} << 20, std::uint64_t{1} << 20};
  const auto value = [](std::uint64_t i) { return 0xF11E0000 + i; };
  std::vector<std::byte> file_bytes(8 * page_size);
  for (std::uint64_t i = 0; i < 8; ++i) {
    const std::uint64_t v = value(i);
    std::memcpy(file_bytes.data() + i * page_size, &v, sizeof v);
  }
  gated_store store(file_bytes.data(), file_bytes.size(), file_bytes.size());
  file_object file(store);
  section_handle h;
  REQUIRE(create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                         page::readwrite, sec::commit,
                         &file) == status::success);
  locked_space a{sys};
  locked_space b{sys};
  locked_space c{sys};
  vaddr va{0}, vb{0};
  std::uint64_t sa = 0, sb = 0;
  REQUIRE(a.map_view(h, va, sa, 0, 0, page::readwrite) == status::success);
  REQUIRE(b.map_view(h, vb, sb, 0, 0, page::readwrite) == status::success);

  // `a`'s fault waits at the store's gate; `b` faults on the same page.
  store.shut(true);
  held_read fault_a(a, va, store);
  std::uint64_t got_b = 0;
  status status_b = status::unsuccessful;
  std::thread fault_b([&] {
    std::size_t done = 0;
    status_b = b.read(vb, &got_b, sizeof got_b, done);
  });
  // `b` comes to wait for `a`'s read (a collided fault), asleep until the
  // read ends.
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (sys.stats().in_page_waits == 0 &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  CHECK(sys.stats().in_page_waits == 1);
  // Meanwhile a third space commits, writes and releases private pages,
  // and the modified page writer runs: all of it PFN work. (A call that
  // holds every lock, such as a trim, would wait: the read holds the
  // section lock.)
  unsigned failures = 0;
  shut_gate gate{store};
  CHECK(finishes_while_held(
      gate, [&] { failures = commit_write_release(sys, c, false); }));
  fault_a.join();
  fault_b.join();
  CHECK(failures == 0);
  CHECK(fault_a.result == status::success);
  CHECK(status_b == status::success);
  CHECK(fault_a.value == value(0));
  CHECK(got_b == value(0));
  // One read served both: `b` found the page resident once the read was
  // done, and maps the same frame.
  CHECK(store.reads() == 1);
  // `b` slept through the read in one wait: woken by its end, not polling.
  CHECK(sys.stats().in_page_waits == 1);
  CHECK(a.translate(va).address == b.translate(vb).address);
  CHECK(a.faults().hard + b.faults().hard == 1);
  CHECK(a.faults().shared + b.faults().shared == 1);

  // A read the store fails: STATUS_IN_PAGE_ERROR, nothing changes, and the
  // next fault on the page reads it.
  store.fail_next();
  std::uint64_t got_a = 0;
  std::size_t n = 0;
  CHECK(a.read(va + page_size, &got_a, sizeof got_a, n) ==
        status::in_page_error);
  CHECK(b.read(vb + page_size, &got_b, sizeof got_b, n) == status::success);
  CHECK(got_b == value(1));
  CHECK(a.read(va + page_size, &got_a, sizeof got_a, n) == status::success);
  CHECK(got_a == value(1));
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
  CHECK(c.check_invariants());
  REQUIRE(a.unmap_view(va) == status::success);
  REQUIRE(b.unmap_view(vb) == status::success);
  close_section(sys, h);
  CHECK(sys.commit_charge() == 0);
  CHECK(sys.pfns().check_invariants());
}

TEST_CASE(
    "address_space thread: faults read separate section pages at once: a "
    "read held at its file does not hold up reads of other pages of that "
    "file or of another file") {
  hosted_system<mutex_lock> sys{std::uint64_t{4} << 20, std::uint64_t{1} << 20};
  const auto value = [](std::uint64_t file, std::uint64_t i) {
    return 0xF11E0000 + (file << 8) + i;
  };
  std::vector<std::byte> bytes[2];
  for (std::uint64_t f = 0; f < 2; ++f) {
    bytes[f].resize(4 * page_size);
    for (std::uint64_t i = 0; i < 4; ++i) {
      const std::uint64_t v = value(f, i);
      std::memcpy(bytes[f].data() + i * page_size, &v, sizeof v);
    }
  }
  gated_store store0(bytes[0].data(), bytes[0].size(), bytes[0].size());
  gated_store store1(bytes[1].data(), bytes[1].size(), bytes[1].size());
  file_object file0(store0), file1(store1);
  section_handle h0, h1;
  REQUIRE(create_section(sys, h0, section_access::all_access, nullptr, 0, 0,
                         page::readwrite, sec::commit,
                         &file0) == status::success);
  REQUIRE(create_section(sys, h1, section_access::all_access, nullptr, 0, 0,
                         page::readwrite, sec::commit,
                         &file1) == status::success);
  locked_space a{sys};
  locked_space b{sys};
  vaddr a0{0}, b0{0}, b1{0};
  std::uint64_t size = 0;
  REQUIRE(a.map_view(h0, a0, size, 0, 0, page::readwrite) == status::success);
  size = 0;
  REQUIRE(b.map_view(h0, b0, size, 0, 0, page::readwrite) == status::success);
  size = 0;
  REQUIRE(b.map_view(h1, b1, size, 0, 0, page::readwrite) == status::success);

  // `a`'s read of file 0's first page waits at the gate.
  store0.shut(true, 0);
  held_read fault_a(a, a0, store0);
  // Meanwhile `b` reads file 0's second page and file 1's first.
  std::uint64_t got_b0 = 0, got_b1 = 0;
  status status_b0 = status::unsuccessful, status_b1 = status::unsuccessful;
  shut_gate gate{store0};
  CHECK(finishes_while_held(gate, [&] {
    std::size_t done = 0;
    status_b0 = b.read(b0 + page_size, &got_b0, sizeof got_b0, done);
    status_b1 = b.read(b1, &got_b1, sizeof got_b1, done);
  }));
  fault_a.join();
  CHECK(fault_a.result == status::success);
  CHECK(status_b0 == status::success);
  CHECK(status_b1 == status::success);
  CHECK(fault_a.value == value(0, 0));
  CHECK(got_b0 == value(0, 1));
  CHECK(got_b1 == value(1, 0));
  CHECK(store0.reads() == 2);
  CHECK(store1.reads() == 1);
  // The page `a` read is `b`'s too, without another read.
  std::uint64_t again = 0;
  std::size_t done = 0;
  CHECK(b.read(b0, &again, sizeof again, done) == status::success);
  CHECK(again == value(0, 0));
  CHECK(store0.reads() == 2);
  CHECK(a.translate(a0).address == b.translate(b0).address);
  CHECK(a.check_invariants());
  CHECK(b.check_invariants());
  REQUIRE(a.unmap_view(a0) == status::success);
  REQUIRE(b.unmap_view(b0) == status::success);
  REQUIRE(b.unmap_view(b1) == status::success);
  close_section(sys, h0);
  close_section(sys, h1);
  CHECK(sys.commit_charge() == 0);
  CHECK(sys.pfns().check_invariants());
}
