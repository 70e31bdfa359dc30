#pragma once
// Page protections in both of NT's vocabularies.
//
// Callers speak Win32 PAGE_* values (what VirtualAlloc and VirtualProtect
// take, equal to Windows' constants so guest arguments pass straight
// through). NT stores protection in 5 bits (MM_* values: MMVAD_FLAGS
// .Protection, and bits 5..9 of a software PTE):
//
//   low 3 bits  0 NOACCESS-ish, 1 READONLY, 2 EXECUTE, 3 EXECUTE_READ,
//               4 READWRITE, 5 WRITECOPY, 6 EXECUTE_READWRITE,
//               7 EXECUTE_WRITECOPY
//   0x08        NOCACHE        0x10 GUARD
//   0x18        with base 0: NOACCESS; with base != 0: WRITECOMBINE
//
// A zero MM protection means "not specified" (a PTE with no protection).

#include <cstdint>

namespace mmkit {

/// Win32 PAGE_* constants (winnt.h values).
namespace page {
inline constexpr std::uint32_t noaccess = 0x01;
inline constexpr std::uint32_t readonly = 0x02;
inline constexpr std::uint32_t readwrite = 0x04;
inline constexpr std::uint32_t writecopy = 0x08;
inline constexpr std::uint32_t execute = 0x10;
inline constexpr std::uint32_t execute_read = 0x20;
inline constexpr std::uint32_t execute_readwrite = 0x40;
inline constexpr std::uint32_t execute_writecopy = 0x80;
inline constexpr std::uint32_t guard = 0x100;
inline constexpr std::uint32_t nocache = 0x200;
inline constexpr std::uint32_t writecombine = 0x400;
/// The base protections (exactly one must be set).
inline constexpr std::uint32_t base_mask = 0xFF;
/// The modifiers that may accompany a base protection.
inline constexpr std::uint32_t modifier_mask = guard | nocache | writecombine;
}  // namespace page

/// The 5-bit MM_ protection NT keeps in VADs and software PTEs.
namespace mm {
inline constexpr std::uint8_t zero_access = 0;
inline constexpr std::uint8_t readonly = 1;
inline constexpr std::uint8_t execute = 2;
inline constexpr std::uint8_t execute_read = 3;
inline constexpr std::uint8_t readwrite = 4;
inline constexpr std::uint8_t writecopy = 5;
inline constexpr std::uint8_t execute_readwrite = 6;
inline constexpr std::uint8_t execute_writecopy = 7;
inline constexpr std::uint8_t nocache = 0x08;
inline constexpr std::uint8_t guard_page = 0x10;
inline constexpr std::uint8_t noaccess = 0x18;
inline constexpr std::uint8_t writecombine = 0x18;  // with a base != 0
inline constexpr std::uint8_t base_mask = 0x07;
inline constexpr std::uint8_t modifier_mask = 0x18;
inline constexpr std::uint8_t mask = 0x1F;
}  // namespace mm

/// What a protection lets the processor do, once modifiers are set aside.
struct access_rights {
  bool read = false;
  bool write = false;  // write in place
  bool execute = false;
  bool copy_on_write = false;  // a write is allowed, but copies first
  friend constexpr bool operator==(access_rights, access_rights) = default;
};

/// The MM_ protection for a Win32 PAGE_* value, or 0xFF when the value is not
/// exactly one base protection plus legal modifiers. PAGE_NOACCESS takes no
/// modifier; GUARD, NOCACHE and WRITECOMBINE exclude one another.
constexpr std::uint8_t mm_from_win32(std::uint32_t p) noexcept {
  constexpr std::uint8_t invalid = 0xFF;
  if (p & ~(page::base_mask | page::modifier_mask)) return invalid;
  const std::uint32_t base = p & page::base_mask;
  const std::uint32_t mods = p & page::modifier_mask;
  std::uint8_t mm = 0;
  switch (base) {
    case page::noaccess: mm = mm::noaccess; break;
    case page::readonly: mm = mm::readonly; break;
    case page::readwrite: mm = mm::readwrite; break;
    case page::writecopy: mm = mm::writecopy; break;
    case page::execute: mm = mm::execute; break;
    case page::execute_read: mm = mm::execute_read; break;
    case page::execute_readwrite: mm = mm::execute_readwrite; break;
    case page::execute_writecopy: mm = mm::execute_writecopy; break;
    default: return invalid;  // zero or more than one base bit
  }
  if (mods == 0) return mm;
  if (base == page::noaccess) return invalid;
  switch (mods) {
    case page::guard: return static_cast<std::uint8_t>(mm | mm::guard_page);
    case page::nocache: return static_cast<std::uint8_t>(mm | mm::nocache);
    case page::writecombine:
      return static_cast<std::uint8_t>(mm | mm::writecombine);
    default: return invalid;  // two modifiers at once
  }
}

/// The Win32 PAGE_* value for a 5-bit MM_ protection (0 for zero_access).
constexpr std::uint32_t win32_from_mm(std::uint8_t mm_prot) noexcept {
  constexpr std::uint32_t base_of[8] = {0,
                                        page::readonly,
                                        page::execute,
                                        page::execute_read,
                                        page::readwrite,
                                        page::writecopy,
                                        page::execute_readwrite,
                                        page::execute_writecopy};
  const std::uint8_t b = mm_prot & mm::base_mask;
  const std::uint8_t mods = mm_prot & mm::modifier_mask;
  if (mods == mm::noaccess && b == 0) return page::noaccess;
  std::uint32_t w = base_of[b];
  if (mods == mm::guard_page)
    w |= page::guard;
  else if (mods == mm::nocache)
    w |= page::nocache;
  else if (mods == mm::writecombine)
    w |= page::writecombine;
  return w;
}

/// What an MM_ protection grants (modifiers ignored; NOACCESS grants
/// nothing).
constexpr access_rights rights_of(std::uint8_t mm_prot) noexcept {
  if ((mm_prot & mm::modifier_mask) == mm::noaccess &&
      (mm_prot & mm::base_mask) == 0)
    return {};
  switch (mm_prot & mm::base_mask) {
    case mm::readonly: return {true, false, false, false};
    case mm::execute: return {false, false, true, false};
    case mm::execute_read: return {true, false, true, false};
    case mm::readwrite: return {true, true, false, false};
    case mm::writecopy: return {true, false, false, true};
    case mm::execute_readwrite: return {true, true, true, false};
    case mm::execute_writecopy: return {true, false, true, true};
    default: return {};
  }
}

constexpr bool is_guard(std::uint8_t mm_prot) noexcept {
  return (mm_prot & mm::modifier_mask) == mm::guard_page &&
         (mm_prot & mm::base_mask) != 0;
}

/// An MM_ protection as a type: the 5-bit value NT keeps in VADs and
/// software PTEs, with what it means. `invalid()` stands for a Win32 value
/// that names no protection (from_win32's answer to a bad argument).
class mm_protection {
 public:
  constexpr mm_protection() noexcept = default;
  constexpr explicit mm_protection(std::uint8_t raw) noexcept : raw_(raw) {}

  static constexpr mm_protection invalid() noexcept {
    return mm_protection{0xFF};
  }
  /// The protection for a Win32 PAGE_* value (invalid() when it is not one).
  static constexpr mm_protection from_win32(std::uint32_t p) noexcept {
    return mm_protection{mm_from_win32(p)};
  }

  constexpr std::uint8_t raw() const noexcept { return raw_; }
  constexpr bool is_valid() const noexcept { return raw_ != 0xFF; }
  constexpr std::uint32_t to_win32() const noexcept {
    return win32_from_mm(raw_);
  }
  constexpr access_rights rights() const noexcept { return rights_of(raw_); }
  constexpr std::uint8_t base() const noexcept { return raw_ & mm::base_mask; }
  constexpr std::uint8_t modifiers() const noexcept {
    return raw_ & mm::modifier_mask;
  }
  constexpr bool is_guard() const noexcept { return mmkit::is_guard(raw_); }
  constexpr bool is_copy_on_write() const noexcept {
    return base() == mm::writecopy || base() == mm::execute_writecopy;
  }
  /// The same protection with the one-shot guard lifted.
  constexpr mm_protection without_guard() const noexcept {
    return is_guard() ? mm_protection{static_cast<std::uint8_t>(
                            raw_ & ~mm::guard_page)}
                      : *this;
  }
  /// Whether an access of this kind is allowed (execute counts as read
  /// where the arch has no NX: `nx` false).
  constexpr bool allows_read() const noexcept {
    return rights().read || rights().execute;
  }
  constexpr bool allows_write() const noexcept { return rights().write; }
  constexpr bool allows_execute(bool nx) const noexcept {
    return rights().execute || (!nx && rights().read);
  }

  friend constexpr bool operator==(mm_protection, mm_protection) = default;

 private:
  std::uint8_t raw_ = 0;
};

/// The protection name `!vad` prints for an MM_ protection ("READWRITE").
constexpr const char* mm_protection_name(std::uint8_t mm_prot) noexcept {
  constexpr const char* names[8] = {
      "NO_ACCESS", "READONLY",  "EXECUTE",           "EXECUTE_READ",
      "READWRITE", "WRITECOPY", "EXECUTE_READWRITE", "EXECUTE_WRITECOPY"};
  return names[mm_prot & mm::base_mask];
}

}  // namespace mmkit
