#pragma once
// Build configuration shared by every layer.
//
// MMKIT_HOSTED says whether a host C++ library (files, threads, mmap) is
// available. It follows __STDC_HOSTED__ unless the user defines it. The few
// headers that need a host include this file and stop a freestanding build
// with #error; every other header works in a kernel built with
// -ffreestanding -fno-exceptions -fno-rtti.

#if !defined(MMKIT_HOSTED)
#if __STDC_HOSTED__
#define MMKIT_HOSTED 1
#else
#define MMKIT_HOSTED 0
#endif
#endif

/// mmkit's version, as the package exports it.
#define MMKIT_VERSION_MAJOR 0
#define MMKIT_VERSION_MINOR 1
#define MMKIT_VERSION_PATCH 0

/// Forces inlining of a small function on a hot path (the translation
/// fast path, the per-PTE steps of a range write), where the compiler's
/// own heuristics would leave a call per page.
#if defined(__GNUC__)
#define MMKIT_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define MMKIT_ALWAYS_INLINE inline
#endif
