#pragma once
// MMKIT_ASSERT: the one macro that reports bugs (never expected failures,
// which are statuses). Override it by defining MMKIT_ASSERT before including
// any mmkit header; define MMKIT_ENABLE_ASSERTS to keep the checks in builds
// with NDEBUG.
//
// The default handler prints the failed condition when a host C library is
// present and then stops the program; in a freestanding build it traps.

#if __STDC_HOSTED__
#include <cstdio>
#include <cstdlib>
#endif

namespace mmkit::detail {

[[noreturn]] inline void assert_failed(const char* condition, const char* file,
                                       int line) noexcept {
#if __STDC_HOSTED__
  std::fprintf(stderr, "mmkit: assertion failed: %s (%s:%d)\n", condition, file,
               line);
  std::abort();
#else
  (void)condition;
  (void)file;
  (void)line;
  __builtin_trap();
#endif
}

}  // namespace mmkit::detail

#if !defined(MMKIT_ASSERTS_ENABLED)
#if !defined(NDEBUG) || defined(MMKIT_ENABLE_ASSERTS)
#define MMKIT_ASSERTS_ENABLED 1
#else
#define MMKIT_ASSERTS_ENABLED 0
#endif
#endif

#if !defined(MMKIT_ASSERT)
#if MMKIT_ASSERTS_ENABLED
#define MMKIT_ASSERT(condition) \
  ((condition)                  \
       ? static_cast<void>(0)   \
       : ::mmkit::detail::assert_failed(#condition, __FILE__, __LINE__))
#else
#define MMKIT_ASSERT(condition) static_cast<void>(sizeof(!(condition)))
#endif
#endif
