// Page files: slots taken and given back, pages written and read back, the
// first file's slot 0 never handed out, several files filled in order.
#include <mmkit/pager/page_file.hpp>
#include <mmkit/section/backing_store.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

using namespace mmkit;

TEST_SUITE("pager") {
  TEST_CASE("page file: every slot once, then insufficient_resources") {
    std::vector<std::byte> buf(130 * page_size);
    memory_store store(buf.data(), buf.size(), 0, true, "pagefile.sys");
    std::vector<std::uint64_t> bits(3);
    page_file f(store_ref{store}, bits.data(), 130);
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 130; ++i) {
      const auto s = f.allocate();
      REQUIRE(s);
      CHECK(seen.insert(*s).second);
      CHECK(*s < 130);
    }
    CHECK(f.allocate().error() == status::insufficient_resources);
    f.free(77);
    CHECK(*f.allocate() == 77);
    CHECK(f.used() == 130);
  }

  TEST_CASE("page file: pages written and read back, the store grown") {
    std::vector<std::byte> buf(8 * page_size);
    memory_store store(buf.data(), buf.size(), 0, true);
    std::vector<std::uint64_t> bits(1);
    page_file f(store_ref{store}, bits.data(), 8);
    std::vector<std::byte> page(page_size), back(page_size);
    for (std::size_t i = 0; i < page_size; ++i)
      page[i] = static_cast<std::byte>(i * 7);
    const auto s = f.allocate();
    REQUIRE(s);
    CHECK(f.write(*s, page.data()) == status::success);
    CHECK(store.size() >= (*s + 1) * page_size);
    CHECK(f.read(*s, back.data()) == status::success);
    CHECK(back == page);
  }

  TEST_CASE("page file set: slot (0, 0) is never used; files fill in order") {
    std::vector<std::byte> a(4 * page_size), b(4 * page_size);
    memory_store sa(a.data(), a.size(), 0, true),
        sb(b.data(), b.size(), 0, true);
    std::uint64_t wa = 0, wb = 0;
    page_file fa(store_ref{sa}, &wa, 4), fb(store_ref{sb}, &wb, 4);
    page_file_set set;
    CHECK(*set.add(fa) == 0);
    CHECK(*set.add(fb) == 1);
    CHECK(set.slots() == 7);  // 3 + 4: slot 0 of file 0 is kept back
    std::vector<page_slot> got;
    for (int i = 0; i < 7; ++i) {
      const auto s = set.allocate();
      REQUIRE(s);
      CHECK_FALSE((s->file == 0 && s->offset == 0));
      got.push_back(*s);
    }
    CHECK(got[0].file == 0);
    CHECK(got[3].file == 1);
    CHECK(set.allocate().error() == status::insufficient_resources);
    CHECK(set.used() == 7);
    set.free(got[5]);
    CHECK(set.used() == 6);
  }

}  // TEST_SUITE
