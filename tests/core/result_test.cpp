#include <mmkit/core/address.hpp>
#include <mmkit/core/result.hpp>

#include <doctest/doctest.h>

using namespace mmkit;

namespace {
result<int> halve(int x) {
  if (x % 2) return status::invalid_parameter;
  return x / 2;
}
constexpr result<vaddr> constexpr_use() {
  return vaddr{0x1000};
}
}  // namespace

TEST_SUITE_BEGIN("core");

TEST_CASE("result: holds a value or a failure status") {
  auto ok = halve(8);
  REQUIRE(ok.ok());
  CHECK(static_cast<bool>(ok));
  CHECK(ok.error() == status::success);
  CHECK(*ok == 4);
  CHECK(ok.value() == 4);
  auto bad = halve(7);
  CHECK_FALSE(bad.ok());
  CHECK(bad.error() == status::invalid_parameter);
  CHECK(bad.value_or(-1) == -1);
  CHECK(ok.value_or(-1) == 4);
  static_assert(constexpr_use().ok());
  static_assert(constexpr_use()->raw() == 0x1000);
}

TEST_CASE("result: copies and moves keep value and status") {
  result<int> a = 5;
  result<int> b = a;
  CHECK(*b == 5);
  b = result<int>{status::no_memory};
  CHECK(b.error() == status::no_memory);
  a = b;
  CHECK_FALSE(a.ok());
  result<void> v;
  CHECK(v.ok());
  result<void> f = status::access_violation;
  CHECK(f.error() == status::access_violation);
}

TEST_SUITE_END();
