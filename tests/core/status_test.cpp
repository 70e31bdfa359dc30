#include <mmkit/core/status.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>

using mmkit::status;

TEST_SUITE_BEGIN("core");

TEST_CASE("status: values are the NTSTATUS codes") {
  struct row {
    status s;
    std::uint32_t code;
    const char* name;
  };
  const row rows[] = {
      {status::success, 0x00000000, "STATUS_SUCCESS"},
      {status::guard_page_violation, 0x80000001, "STATUS_GUARD_PAGE_VIOLATION"},
      {status::partial_copy, 0x8000000D, "STATUS_PARTIAL_COPY"},
      {status::access_violation, 0xC0000005, "STATUS_ACCESS_VIOLATION"},
      {status::invalid_parameter, 0xC000000D, "STATUS_INVALID_PARAMETER"},
      {status::invalid_parameter_1, 0xC00000EF, "STATUS_INVALID_PARAMETER_1"},
      {status::invalid_parameter_2, 0xC00000F0, "STATUS_INVALID_PARAMETER_2"},
      {status::invalid_parameter_3, 0xC00000F1, "STATUS_INVALID_PARAMETER_3"},
      {status::invalid_parameter_4, 0xC00000F2, "STATUS_INVALID_PARAMETER_4"},
      {status::invalid_parameter_5, 0xC00000F3, "STATUS_INVALID_PARAMETER_5"},
      {status::no_memory, 0xC0000017, "STATUS_NO_MEMORY"},
      {status::conflicting_addresses, 0xC0000018,
       "STATUS_CONFLICTING_ADDRESSES"},
      {status::unable_to_free_vm, 0xC000001A, "STATUS_UNABLE_TO_FREE_VM"},
      {status::not_committed, 0xC000002D, "STATUS_NOT_COMMITTED"},
      {status::invalid_page_protection, 0xC0000045,
       "STATUS_INVALID_PAGE_PROTECTION"},
      {status::free_vm_not_at_base, 0xC000009F, "STATUS_FREE_VM_NOT_AT_BASE"},
      {status::memory_not_allocated, 0xC00000A0, "STATUS_MEMORY_NOT_ALLOCATED"},
      {status::commitment_limit, 0xC000012D, "STATUS_COMMITMENT_LIMIT"},
      {status::section_protection, 0xC000004E, "STATUS_SECTION_PROTECTION"},
      {status::mapped_alignment, 0xC0000220, "STATUS_MAPPED_ALIGNMENT"},
      {status::invalid_view_size, 0xC000001F, "STATUS_INVALID_VIEW_SIZE"},
      {status::invalid_address, 0xC0000141, "STATUS_INVALID_ADDRESS"},
      {status::not_supported, 0xC00000BB, "STATUS_NOT_SUPPORTED"},
      {status::invalid_device_request, 0xC0000010,
       "STATUS_INVALID_DEVICE_REQUEST"},
      {status::revision_mismatch, 0xC0000059, "STATUS_REVISION_MISMATCH"},
      {status::file_corrupt_error, 0xC0000102, "STATUS_FILE_CORRUPT_ERROR"},
      {status::file_invalid, 0xC0000098, "STATUS_FILE_INVALID"},
      {status::info_length_mismatch, 0xC0000004, "STATUS_INFO_LENGTH_MISMATCH"},
      {status::insufficient_resources, 0xC000009A,
       "STATUS_INSUFFICIENT_RESOURCES"},
      {status::integer_overflow, 0xC0000095, "STATUS_INTEGER_OVERFLOW"},
      {status::already_committed, 0xC0000021, "STATUS_ALREADY_COMMITTED"},
  };
  for (const row& r : rows) {
    CAPTURE(r.name);
    CHECK(static_cast<std::uint32_t>(r.s) == r.code);
    CHECK(std::strcmp(mmkit::to_string(r.s), r.name) == 0);
  }
  CHECK(std::strcmp(mmkit::to_string(static_cast<status>(0xC0001234)),
                    "STATUS_<unknown>") == 0);
}

TEST_CASE("status: severity follows NT_SUCCESS / NT_WARNING / NT_ERROR") {
  CHECK(mmkit::succeeded(status::success));
  CHECK_FALSE(mmkit::succeeded(status::guard_page_violation));
  CHECK(mmkit::is_warning(status::guard_page_violation));
  CHECK(mmkit::is_warning(status::partial_copy));
  CHECK_FALSE(mmkit::is_error(status::partial_copy));
  CHECK(mmkit::is_error(status::access_violation));
  CHECK_FALSE(mmkit::is_warning(status::access_violation));
}

TEST_SUITE_END();
