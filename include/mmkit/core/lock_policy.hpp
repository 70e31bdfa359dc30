#pragma once
// Lock policies: single-threaded at no cost by default, or a real mutex that
// makes an address space (and the system's PFN database) safe to use from
// several threads.
//
// An address space takes its own lock around every call. The system's
// section lock (section objects: names, handles, views) and then its PFN
// lock (the PFN database, commit charge, page files, prototype PTEs) are
// taken inside it, never the other way round. The PFN lock is held for the
// whole of a call that changes the space (but allocate, free, map_view,
// unmap_view and protect take it only for their PFN work), and in the
// guest's accesses (access, read, write, host_page_of) only for a fault's
// PFN work, which a demand-zero fault served from its space's frame cache
// does not need, so accesses and their faults in separate address spaces
// run at once; a hard fault lets go of it while it reads its page (a
// section page's under the section lock held shared, a SharedLockPolicy:
// shared_mutex_lock goes with mutex_lock). The
// system reaches into a space whose lock it does not hold
// (a trim) only through try_lock, or while that space's call waits for the
// PFN lock, and otherwise passes the space by. address_space.hpp
// (locked_scope) says what each lock covers.

#include <mmkit/core/config.hpp>

#include <concepts>

#include <cstdint>

#if MMKIT_HOSTED
#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>
#if defined(__GLIBC__)
#include <pthread.h>
#endif
#endif

namespace mmkit {

/// A lock an mmkit structure can hold around its operations.
template <class L>
concept LockPolicy = std::default_initializable<L> && requires(L& l) {
  /// Blocks until the caller holds the lock.
  l.lock();
  /// Requires: the caller holds the lock. Releases it.
  l.unlock();
  /// Takes the lock if no one holds it, without waiting. Returns: whether
  /// the caller now holds it.
  { l.try_lock() } -> std::same_as<bool>;
};

/// No lock at all: the default, for single-threaded users; compiles away.
struct no_lock {
  constexpr void lock() noexcept {}
  constexpr void unlock() noexcept {}
  constexpr bool try_lock() noexcept { return true; }
};
static_assert(LockPolicy<no_lock>);

#if MMKIT_HOSTED
/// A std::mutex (hosted builds only).
class mutex_lock {
 public:
  /// Spins a little before it sleeps: the PFN lock is mostly held for well
  /// under a microsecond (a frame cache's fill, a table), and a sleep and
  /// wake-up through the kernel costs several.
  void lock() {
    for (unsigned i = 0; i < spins; ++i) {
      if (mutex_.try_lock()) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    mutex_.lock();
  }
  void unlock() {
    mutex_.unlock();
  }
  bool try_lock() {
    return mutex_.try_lock();
  }
  /// Lets other threads run: a caller that let go of its locks because it
  /// needs what another thread's call holds waits here before retrying.
  static void pause() noexcept {
    std::this_thread::yield();
  }
  /// A longer wait, for a caller that paused many times already
  /// (detail::back_off_for).
  static void sleep_briefly() noexcept {
    std::this_thread::sleep_for(std::chrono::microseconds{100});
  }
  /// Blocks while `*word` (changed with atomic stores) is `old`: the wait
  /// for an event, which wake_all(word) ends (a futex on Linux). A policy
  /// without these makes its waiters poll (detail::wait_for_change).
  static void wait_on(std::uint32_t* word, std::uint32_t old) noexcept {
    std::atomic_ref<std::uint32_t>(*word).wait(old, std::memory_order_acquire);
  }
  static void wake_all(std::uint32_t* word) noexcept {
    std::atomic_ref<std::uint32_t>(*word).notify_all();
  }

 private:
  static constexpr unsigned spins = 128;
  std::mutex mutex_;
};
static_assert(LockPolicy<mutex_lock>);
#endif

/// A lock that may also be held shared: by many holders at once, while no
/// one holds it exclusively (lock()). The system's section lock is one, so
/// that faults read section pages beside each other (system.hpp).
template <class L>
concept SharedLockPolicy = LockPolicy<L> && requires(L& l) {
  /// Blocks until the caller holds the lock shared.
  l.lock_shared();
  /// Requires: the caller holds the lock shared. Releases its share.
  l.unlock_shared();
};

/// A LockPolicy held shared as it is held exclusively: for a policy that
/// has no shared mode of its own (a user's, no_lock). Shared holders then
/// take turns, which is correct, only slower.
template <LockPolicy L>
struct exclusive_as_shared : L {
  void lock_shared() { this->lock(); }
  void unlock_shared() { this->unlock(); }
};

/// The shared lock that goes with lock policy L: L itself when it has a
/// shared mode; shared_mutex_lock for mutex_lock; else
/// exclusive_as_shared<L>.
template <LockPolicy L>
struct shared_lock_of {
  using type = exclusive_as_shared<L>;
};
template <SharedLockPolicy L>
struct shared_lock_of<L> {
  using type = L;
};

#if MMKIT_HOSTED
/// A reader-writer lock (hosted builds only): mutex_lock's shared partner.
/// It prefers writers: once lock() waits, new shared holders wait behind
/// it, so a stream of section reads (faults holding the section lock
/// shared) cannot hold off a map_view or a section's close for ever. With
/// glibc that is a pthread rwlock of kind
/// PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP (its default, like
/// std::shared_mutex, prefers readers); elsewhere std::shared_mutex, whose
/// preference is the platform's. Shared holds do not nest (a holder that
/// takes it shared again while a writer waits would wait for ever); mmkit
/// takes it once per fault.
class shared_mutex_lock {
 public:
#if defined(__GLIBC__)
  shared_mutex_lock() noexcept {
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &a);
    pthread_rwlockattr_destroy(&a);
  }
  ~shared_mutex_lock() {
    pthread_rwlock_destroy(&lock_);
  }
  shared_mutex_lock(const shared_mutex_lock&) = delete;
  shared_mutex_lock& operator=(const shared_mutex_lock&) = delete;
  void lock() {
    pthread_rwlock_wrlock(&lock_);
  }
  void unlock() {
    pthread_rwlock_unlock(&lock_);
  }
  bool try_lock() {
    return pthread_rwlock_trywrlock(&lock_) == 0;
  }
  void lock_shared() {
    pthread_rwlock_rdlock(&lock_);
  }
  void unlock_shared() {
    pthread_rwlock_unlock(&lock_);
  }
#else
  void lock() {
    mutex_.lock();
  }
  void unlock() {
    mutex_.unlock();
  }
  bool try_lock() {
    return mutex_.try_lock();
  }
  void lock_shared() {
    mutex_.lock_shared();
  }
  void unlock_shared() {
    mutex_.unlock_shared();
  }
#endif
  static void pause() noexcept {
    std::this_thread::yield();
  }
  static void sleep_briefly() noexcept {
    mutex_lock::sleep_briefly();
  }

 private:
#if defined(__GLIBC__)
  pthread_rwlock_t lock_;
#else
  std::shared_mutex mutex_;
#endif
};
static_assert(SharedLockPolicy<shared_mutex_lock>);
template <>
struct shared_lock_of<mutex_lock> {
  using type = shared_mutex_lock;
};
#endif

namespace detail {
/// L::pause() where the policy has one (a real lock); else nothing: a
/// policy without it never has another thread to wait for.
template <LockPolicy L>
void pause_for() noexcept {
  if constexpr (requires { L::pause(); }) L::pause();
}
/// The wait before try number `tries` (from 0) of a call that let go of
/// its locks because other threads' calls hold what it needs: the first
/// 64 yield (pause_for); the later ones sleep (L::sleep_briefly(), where
/// the policy has it), so that a retry budget spans time, not a count of
/// yields that a busy machine runs through at once.
template <LockPolicy L>
void back_off_for(unsigned tries) noexcept {
  if constexpr (requires { L::sleep_briefly(); }) {
    if (tries >= 64) {
      L::sleep_briefly();
      return;
    }
  }
  pause_for<L>();
}
/// Blocks while `*word` is `old` (L::wait_on, an event's wait), or, where
/// the policy cannot block on a word, waits as back_off_for(tries) does
/// and returns: the caller looks again either way.
template <LockPolicy L>
void wait_for_change(std::uint32_t* word, std::uint32_t old,
                     unsigned tries) noexcept {
  if constexpr (requires { L::wait_on(word, old); })
    L::wait_on(word, old);
  else
    back_off_for<L>(tries);
}
/// Wakes every waiter of wait_for_change(word, ...), where the policy
/// blocks them.
template <LockPolicy L>
void wake_waiters(std::uint32_t* word) noexcept {
  if constexpr (requires { L::wake_all(word); }) L::wake_all(word);
}
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
