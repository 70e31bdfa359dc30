// The section layer's building blocks: the prototype PTE pool and the
// backing stores.
#include <mmkit/section/backing_store.hpp>
#include <mmkit/section/prototype_pool.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

using namespace mmkit;

TEST_SUITE("section") {
  TEST_CASE("prototype pool: runs are handed out first fit, zeroed") {
    std::vector<std::uint64_t> words(64, 0xDEAD);
    prototype_pool pool(words.data(), words.size());
    const auto a = pool.allocate(10);
    const auto b = pool.allocate(20);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a == 0);
    CHECK(*b == 10);
    for (std::uint64_t i = 0; i < 30; ++i) CHECK(pool[i] == 0);
    CHECK(pool.in_use() == 30);
    CHECK_FALSE(pool.allocate(35));  // 34 left
    CHECK(pool.allocate(35).error() == status::insufficient_resources);
    pool.free(*a, 10);
    const auto c = pool.allocate(4);  // first fit: the hole at 0
    REQUIRE(c);
    CHECK(*c == 0);
    CHECK(pool.check_invariants());
  }

  TEST_CASE("prototype pool: freed runs merge with both neighbours") {
    std::vector<std::uint64_t> words(30);
    prototype_pool pool(words.data(), words.size());
    const auto a = *pool.allocate(10);
    const auto b = *pool.allocate(10);
    const auto c = *pool.allocate(10);
    pool.free(a, 10);
    pool.free(c, 10);
    pool.free(b, 10);  // joins both: one run of 30 again
    CHECK(pool.check_invariants());
    CHECK(pool.in_use() == 0);
    const auto all = pool.allocate(30);
    REQUIRE(all);
    CHECK(*all == 0);
  }

  TEST_CASE("prototype pool: random allocate and free against a bitmap") {
    std::vector<std::uint64_t> words(512);
    prototype_pool pool(words.data(), words.size());
    std::vector<bool> used(512, false);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
    std::mt19937_64 rng(7);
    for (int step = 0; step < 4000; ++step) {
      if (runs.empty() || rng() % 2 == 0) {
        const std::uint64_t n = 1 + rng() % 40;
        const auto r = pool.allocate(n);
        // First fit: it fails only when no free stretch is long enough.
        std::uint64_t longest = 0, cur = 0;
        for (bool u : used) {
          cur = u ? 0 : cur + 1;
          longest = cur > longest ? cur : longest;
        }
        REQUIRE(static_cast<bool>(r) == (longest >= n));
        if (!r) continue;
        for (std::uint64_t i = *r; i < *r + n; ++i) {
          REQUIRE_FALSE(used[i]);
          used[i] = true;
        }
        runs.push_back({*r, n});
      } else {
        const std::size_t k = rng() % runs.size();
        pool.free(runs[k].first, runs[k].second);
        for (std::uint64_t i = 0; i < runs[k].second; ++i)
          used[runs[k].first + i] = false;
        runs.erase(runs.begin() + static_cast<std::ptrdiff_t>(k));
      }
      REQUIRE(pool.check_invariants());
    }
  }

  TEST_CASE("memory store: a file in a buffer, growing up to its capacity") {
    std::vector<std::byte> buf(8192);
    memory_store s(buf.data(), buf.size(), 100, true, "C:\\data.bin");
    CHECK(s.size() == 100);
    CHECK(std::strcmp(s.name(), "C:\\data.bin") == 0);
    const char hello[] = "hello";
    CHECK(s.write(10, hello, 5) == status::success);
    char back[5] = {};
    CHECK(s.read(10, back, 5) == status::success);
    CHECK(std::memcmp(back, hello, 5) == 0);
    CHECK(s.read(98, back, 5) == status::invalid_parameter);  // past the end
    CHECK(s.set_size(9000) == status::insufficient_resources);
    CHECK(s.set_size(200) == status::success);
    CHECK(s.size() == 200);

    memory_store ro(buf.data(), buf.size(), 100, false);
    CHECK(ro.write(0, hello, 5) == status::access_denied);
    CHECK(ro.set_size(50) == status::access_denied);
  }

  TEST_CASE("store_ref: a copy names the same store, not the reference") {
    std::vector<std::byte> buf(4096);
    memory_store s(buf.data(), buf.size(), 100, true);
    store_ref a{s};
    store_ref b = a;  // a store_ref is a BackingStore too: still a copy
    const store_ref c(a);
    CHECK(b == a);
    CHECK(c == a);
    CHECK(b.size() == 100);
  }

  TEST_CASE("store_ref: any store behind one type") {
    std::vector<std::byte> buf(4096);
    memory_store s(buf.data(), buf.size(), 4096, true, "a");
    const store_ref r{s};
    CHECK(r.valid());
    CHECK_FALSE(store_ref{}.valid());
    CHECK(r.size() == 4096);
    CHECK(r.writable());
    const std::uint32_t v = 0x1234;
    CHECK(r.write(8, &v, 4) == status::success);
    CHECK(s.writes() == 1);
    std::uint32_t w = 0;
    CHECK(r.read(8, &w, 4) == status::success);
    CHECK(w == v);
  }

}  // TEST_SUITE
