#pragma once
// Lock policies: single-threaded at no cost by default, or a real mutex that
// makes an address space (and the system's PFN database) safe to use from
// several threads.
//
// An address space takes its lock around every call (allocate, free,
// protect, query, access, read, write); the system takes its own lock
// around PFN-database and commit-charge updates, nested inside the address
// space's lock (never the other way round), so two address spaces on one
// system can fault at once.

#include <mmkit/core/config.hpp>

#include <concepts>

#if MMKIT_HOSTED
#include <mutex>
#endif

namespace mmkit {

/// A lock an mmkit structure can hold around its operations.
template <class L>
concept LockPolicy = std::default_initializable<L> && requires(L& l) {
  /// Blocks until the caller holds the lock.
  l.lock();
  /// Requires: the caller holds the lock. Releases it.
  l.unlock();
};

/// No lock at all: the default, for single-threaded users; compiles away.
struct no_lock {
  constexpr void lock() noexcept {}
  constexpr void unlock() noexcept {}
};
static_assert(LockPolicy<no_lock>);

#if MMKIT_HOSTED
/// A std::mutex (hosted builds only).
class mutex_lock {
 public:
  void lock() { mutex_.lock(); }
  void unlock() { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};
static_assert(LockPolicy<mutex_lock>);
#endif

namespace detail {
/// A scope that holds a LockPolicy (std::lock_guard without <mutex>).
template <LockPolicy L>
class lock_scope {
 public:
  explicit lock_scope(L& l) noexcept : lock_(l) { lock_.lock(); }
  ~lock_scope() { lock_.unlock(); }
  lock_scope(const lock_scope&) = delete;
  lock_scope& operator=(const lock_scope&) = delete;

 private:
  L& lock_;
};
}  // namespace detail

}  // namespace mmkit
