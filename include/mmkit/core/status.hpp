#pragma once
// status: the outcome of every mmkit operation that can fail for a reason the
// caller must handle. The enumerator values ARE the NTSTATUS codes, so a
// status can be handed to a guest unchanged and compared with what Windows
// returns.
//
// NTSTATUS severity lives in the top two bits: 00 success, 01 informational,
// 10 warning (guard_page_violation, partial_copy), 11 error.

#include <cstdint>

namespace mmkit {

enum class status : std::uint32_t {
  success = 0x00000000,
  object_name_exists = 0x40000000,  // STATUS_OBJECT_NAME_EXISTS
  image_not_at_base = 0x40000003,   // STATUS_IMAGE_NOT_AT_BASE
  image_machine_type_mismatch =
      0x4000000E,                         // STATUS_IMAGE_MACHINE_TYPE_MISMATCH
  guard_page_violation = 0x80000001,      // STATUS_GUARD_PAGE_VIOLATION
  partial_copy = 0x8000000D,              // STATUS_PARTIAL_COPY
  unsuccessful = 0xC0000001,              // STATUS_UNSUCCESSFUL
  not_implemented = 0xC0000002,           // STATUS_NOT_IMPLEMENTED
  info_length_mismatch = 0xC0000004,      // STATUS_INFO_LENGTH_MISMATCH
  access_violation = 0xC0000005,          // STATUS_ACCESS_VIOLATION
  in_page_error = 0xC0000006,             // STATUS_IN_PAGE_ERROR
  invalid_handle = 0xC0000008,            // STATUS_INVALID_HANDLE
  invalid_parameter = 0xC000000D,         // STATUS_INVALID_PARAMETER
  no_memory = 0xC0000017,                 // STATUS_NO_MEMORY
  conflicting_addresses = 0xC0000018,     // STATUS_CONFLICTING_ADDRESSES
  not_mapped_view = 0xC0000019,           // STATUS_NOT_MAPPED_VIEW
  unable_to_free_vm = 0xC000001A,         // STATUS_UNABLE_TO_FREE_VM
  unable_to_delete_section = 0xC000001B,  // STATUS_UNABLE_TO_DELETE_SECTION
  already_committed = 0xC0000021,         // STATUS_ALREADY_COMMITTED
  access_denied = 0xC0000022,             // STATUS_ACCESS_DENIED
  object_name_not_found = 0xC0000034,     // STATUS_OBJECT_NAME_NOT_FOUND
  object_name_collision = 0xC0000035,     // STATUS_OBJECT_NAME_COLLISION
  invalid_file_for_section = 0xC0000020,  // STATUS_INVALID_FILE_FOR_SECTION
  not_mapped_data = 0xC0000088,           // STATUS_NOT_MAPPED_DATA
  name_too_long = 0xC0000106,             // STATUS_NAME_TOO_LONG
  mapped_file_size_zero = 0xC000011E,     // STATUS_MAPPED_FILE_SIZE_ZERO
  user_mapped_file = 0xC0000243,          // STATUS_USER_MAPPED_FILE
  invalid_parameter_7 = 0xC00000F5,       // STATUS_INVALID_PARAMETER_7
  invalid_parameter_8 = 0xC00000F6,       // STATUS_INVALID_PARAMETER_8
  invalid_parameter_9 = 0xC00000F7,       // STATUS_INVALID_PARAMETER_9
  invalid_parameter_10 = 0xC00000F8,      // STATUS_INVALID_PARAMETER_10
  section_too_big = 0xC0000040,           // STATUS_SECTION_TOO_BIG
  quota_exceeded = 0xC0000044,            // STATUS_QUOTA_EXCEEDED
  section_protection = 0xC000004E,        // STATUS_SECTION_PROTECTION
  invalid_page_protection = 0xC0000045,   // STATUS_INVALID_PAGE_PROTECTION
  not_committed = 0xC000002D,             // STATUS_NOT_COMMITTED
  integer_overflow = 0xC0000095,          // STATUS_INTEGER_OVERFLOW
  insufficient_resources = 0xC000009A,    // STATUS_INSUFFICIENT_RESOURCES
  invalid_image_format = 0xC000007B,      // STATUS_INVALID_IMAGE_FORMAT
  invalid_image_not_mz = 0xC000012F,      // STATUS_INVALID_IMAGE_NOT_MZ
  invalid_image_protect = 0xC0000130,     // STATUS_INVALID_IMAGE_PROTECT
  free_vm_not_at_base = 0xC000009F,       // STATUS_FREE_VM_NOT_AT_BASE
  memory_not_allocated = 0xC00000A0,      // STATUS_MEMORY_NOT_ALLOCATED
  invalid_parameter_1 = 0xC00000EF,       // STATUS_INVALID_PARAMETER_1
  invalid_parameter_2 = 0xC00000F0,       // STATUS_INVALID_PARAMETER_2
  invalid_parameter_3 = 0xC00000F1,       // STATUS_INVALID_PARAMETER_3
  invalid_parameter_4 = 0xC00000F2,       // STATUS_INVALID_PARAMETER_4
  invalid_parameter_5 = 0xC00000F3,       // STATUS_INVALID_PARAMETER_5
  invalid_parameter_6 = 0xC00000F4,       // STATUS_INVALID_PARAMETER_6
  invalid_view_size = 0xC000001F,         // STATUS_INVALID_VIEW_SIZE
  mapped_alignment = 0xC0000220,          // STATUS_MAPPED_ALIGNMENT
  commitment_limit = 0xC000012D,          // STATUS_COMMITMENT_LIMIT
  invalid_address = 0xC0000141,           // STATUS_INVALID_ADDRESS
  not_supported = 0xC00000BB,             // STATUS_NOT_SUPPORTED
  invalid_device_request = 0xC0000010,    // STATUS_INVALID_DEVICE_REQUEST
  revision_mismatch = 0xC0000059,         // STATUS_REVISION_MISMATCH
  file_corrupt_error = 0xC0000102,        // STATUS_FILE_CORRUPT_ERROR
  file_invalid = 0xC0000098,              // STATUS_FILE_INVALID
};

/// NT_SUCCESS: success and informational codes (severity 0 or 1).
constexpr bool succeeded(status s) noexcept {
  return static_cast<std::int32_t>(s) >= 0;
}
/// NT_WARNING: severity 2 (guard_page_violation, partial_copy).
constexpr bool is_warning(status s) noexcept {
  return (static_cast<std::uint32_t>(s) >> 30) == 2;
}
/// NT_ERROR: severity 3.
constexpr bool is_error(status s) noexcept {
  return (static_cast<std::uint32_t>(s) >> 30) == 3;
}

/// The STATUS_* name of a status ("STATUS_ACCESS_VIOLATION"), or
/// "STATUS_<unknown>" for a value this header does not name.
constexpr const char* to_string(status s) noexcept {
  switch (s) {
#define MMKIT_STATUS_NAME(e, text) \
  case status::e: return text;
    MMKIT_STATUS_NAME(success, "STATUS_SUCCESS")
    MMKIT_STATUS_NAME(object_name_exists, "STATUS_OBJECT_NAME_EXISTS")
    MMKIT_STATUS_NAME(image_not_at_base, "STATUS_IMAGE_NOT_AT_BASE")
    MMKIT_STATUS_NAME(image_machine_type_mismatch,
                      "STATUS_IMAGE_MACHINE_TYPE_MISMATCH")
    MMKIT_STATUS_NAME(invalid_image_format, "STATUS_INVALID_IMAGE_FORMAT")
    MMKIT_STATUS_NAME(invalid_image_not_mz, "STATUS_INVALID_IMAGE_NOT_MZ")
    MMKIT_STATUS_NAME(invalid_image_protect, "STATUS_INVALID_IMAGE_PROTECT")
    MMKIT_STATUS_NAME(guard_page_violation, "STATUS_GUARD_PAGE_VIOLATION")
    MMKIT_STATUS_NAME(partial_copy, "STATUS_PARTIAL_COPY")
    MMKIT_STATUS_NAME(unsuccessful, "STATUS_UNSUCCESSFUL")
    MMKIT_STATUS_NAME(not_implemented, "STATUS_NOT_IMPLEMENTED")
    MMKIT_STATUS_NAME(info_length_mismatch, "STATUS_INFO_LENGTH_MISMATCH")
    MMKIT_STATUS_NAME(access_violation, "STATUS_ACCESS_VIOLATION")
    MMKIT_STATUS_NAME(in_page_error, "STATUS_IN_PAGE_ERROR")
    MMKIT_STATUS_NAME(invalid_handle, "STATUS_INVALID_HANDLE")
    MMKIT_STATUS_NAME(invalid_parameter, "STATUS_INVALID_PARAMETER")
    MMKIT_STATUS_NAME(no_memory, "STATUS_NO_MEMORY")
    MMKIT_STATUS_NAME(conflicting_addresses, "STATUS_CONFLICTING_ADDRESSES")
    MMKIT_STATUS_NAME(not_mapped_view, "STATUS_NOT_MAPPED_VIEW")
    MMKIT_STATUS_NAME(unable_to_free_vm, "STATUS_UNABLE_TO_FREE_VM")
    MMKIT_STATUS_NAME(unable_to_delete_section,
                      "STATUS_UNABLE_TO_DELETE_SECTION")
    MMKIT_STATUS_NAME(already_committed, "STATUS_ALREADY_COMMITTED")
    MMKIT_STATUS_NAME(access_denied, "STATUS_ACCESS_DENIED")
    MMKIT_STATUS_NAME(object_name_not_found, "STATUS_OBJECT_NAME_NOT_FOUND")
    MMKIT_STATUS_NAME(object_name_collision, "STATUS_OBJECT_NAME_COLLISION")
    MMKIT_STATUS_NAME(invalid_file_for_section,
                      "STATUS_INVALID_FILE_FOR_SECTION")
    MMKIT_STATUS_NAME(not_mapped_data, "STATUS_NOT_MAPPED_DATA")
    MMKIT_STATUS_NAME(name_too_long, "STATUS_NAME_TOO_LONG")
    MMKIT_STATUS_NAME(mapped_file_size_zero, "STATUS_MAPPED_FILE_SIZE_ZERO")
    MMKIT_STATUS_NAME(user_mapped_file, "STATUS_USER_MAPPED_FILE")
    MMKIT_STATUS_NAME(invalid_parameter_7, "STATUS_INVALID_PARAMETER_7")
    MMKIT_STATUS_NAME(invalid_parameter_8, "STATUS_INVALID_PARAMETER_8")
    MMKIT_STATUS_NAME(invalid_parameter_9, "STATUS_INVALID_PARAMETER_9")
    MMKIT_STATUS_NAME(invalid_parameter_10, "STATUS_INVALID_PARAMETER_10")
    MMKIT_STATUS_NAME(section_too_big, "STATUS_SECTION_TOO_BIG")
    MMKIT_STATUS_NAME(section_protection, "STATUS_SECTION_PROTECTION")
    MMKIT_STATUS_NAME(invalid_page_protection, "STATUS_INVALID_PAGE_PROTECTION")
    MMKIT_STATUS_NAME(not_committed, "STATUS_NOT_COMMITTED")
    MMKIT_STATUS_NAME(integer_overflow, "STATUS_INTEGER_OVERFLOW")
    MMKIT_STATUS_NAME(insufficient_resources, "STATUS_INSUFFICIENT_RESOURCES")
    MMKIT_STATUS_NAME(quota_exceeded, "STATUS_QUOTA_EXCEEDED")
    MMKIT_STATUS_NAME(free_vm_not_at_base, "STATUS_FREE_VM_NOT_AT_BASE")
    MMKIT_STATUS_NAME(memory_not_allocated, "STATUS_MEMORY_NOT_ALLOCATED")
    MMKIT_STATUS_NAME(invalid_parameter_1, "STATUS_INVALID_PARAMETER_1")
    MMKIT_STATUS_NAME(invalid_parameter_2, "STATUS_INVALID_PARAMETER_2")
    MMKIT_STATUS_NAME(invalid_parameter_3, "STATUS_INVALID_PARAMETER_3")
    MMKIT_STATUS_NAME(invalid_parameter_4, "STATUS_INVALID_PARAMETER_4")
    MMKIT_STATUS_NAME(invalid_parameter_5, "STATUS_INVALID_PARAMETER_5")
    MMKIT_STATUS_NAME(invalid_parameter_6, "STATUS_INVALID_PARAMETER_6")
    MMKIT_STATUS_NAME(invalid_view_size, "STATUS_INVALID_VIEW_SIZE")
    MMKIT_STATUS_NAME(not_supported, "STATUS_NOT_SUPPORTED")
    MMKIT_STATUS_NAME(mapped_alignment, "STATUS_MAPPED_ALIGNMENT")
    MMKIT_STATUS_NAME(commitment_limit, "STATUS_COMMITMENT_LIMIT")
    MMKIT_STATUS_NAME(invalid_address, "STATUS_INVALID_ADDRESS")
    MMKIT_STATUS_NAME(invalid_device_request, "STATUS_INVALID_DEVICE_REQUEST")
    MMKIT_STATUS_NAME(revision_mismatch, "STATUS_REVISION_MISMATCH")
    MMKIT_STATUS_NAME(file_corrupt_error, "STATUS_FILE_CORRUPT_ERROR")
    MMKIT_STATUS_NAME(file_invalid, "STATUS_FILE_INVALID")
#undef MMKIT_STATUS_NAME
  }
  return "STATUS_<unknown>";
}

}  // namespace mmkit
