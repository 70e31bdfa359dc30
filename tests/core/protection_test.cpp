#include <mmkit/core/protection.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace mmkit;

TEST_SUITE_BEGIN("core");

TEST_CASE("protection: Win32 PAGE_* values map to MM_ protections and back") {
  struct row {
    std::uint32_t win32;
    std::uint8_t mm;
  };
  const row rows[] = {
      {page::noaccess, mm::noaccess},
      {page::readonly, mm::readonly},
      {page::execute, mm::execute},
      {page::execute_read, mm::execute_read},
      {page::readwrite, mm::readwrite},
      {page::writecopy, mm::writecopy},
      {page::execute_readwrite, mm::execute_readwrite},
      {page::execute_writecopy, mm::execute_writecopy},
      {page::readwrite | page::guard, mm::readwrite | mm::guard_page},
      {page::readonly | page::nocache, mm::readonly | mm::nocache},
      {page::readwrite | page::writecombine, mm::readwrite | mm::writecombine},
  };
  for (const row& r : rows) {
    CAPTURE(r.win32);
    CHECK(mm_from_win32(r.win32) == r.mm);
    CHECK(win32_from_mm(r.mm) == r.win32);
  }
}

TEST_CASE("protection: invalid combinations are rejected") {
  CHECK(mm_from_win32(0) == 0xFF);
  CHECK(mm_from_win32(page::readonly | page::readwrite) == 0xFF);
  CHECK(mm_from_win32(page::noaccess | page::guard) == 0xFF);
  CHECK(mm_from_win32(page::readwrite | page::guard | page::nocache) == 0xFF);
  CHECK(mm_from_win32(page::readwrite | page::nocache | page::writecombine) ==
        0xFF);
  CHECK(mm_from_win32(0x800 | page::readwrite) == 0xFF);
  CHECK(mm_from_win32(page::guard) == 0xFF);
}

TEST_CASE("protection: access rights and names") {
  CHECK(rights_of(mm::noaccess) == access_rights{});
  CHECK(rights_of(mm::readwrite) == access_rights{true, true, false, false});
  CHECK(rights_of(mm::execute_writecopy) ==
        access_rights{true, false, true, true});
  CHECK(rights_of(mm::readwrite | mm::guard_page).write);
  CHECK(is_guard(mm::readwrite | mm::guard_page));
  CHECK_FALSE(is_guard(mm::noaccess));
  CHECK(std::string(mm_protection_name(mm::execute_writecopy)) ==
        "EXECUTE_WRITECOPY");
}

TEST_SUITE_END();
