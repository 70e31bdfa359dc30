#pragma once
// Backing stores: where a file-backed section's pages come from and go back
// to (NT: the file object under a control area).
//
//   BackingStore        the concept: size, read, write, set_size, name
//   memory_store        bytes in a caller-given buffer (freestanding: tests,
//                       kernels with a RAM disk)
//   posix_file_store    a real file through pread/pwrite (hosted:
//                       section/posix_file_store.hpp)
//   store_ref           any model behind two pointers, so that one system
//                       holds sections over stores of different types
//
// A store is the caller's. The section layer reads whole pages and writes
// back only the bytes below the store's size: bytes past end-of-file in a
// section's last page read as zero and never reach the file.
//
// Threads: in a threaded system a fault reads its page with the PFN lock
// let go, as NT does its paging I/O: a private page from its page file
// (fault/handlers.hpp, handle_page_file), a section page from its file or
// the page file under the section lock held shared (section_ops::page_in),
// while other faults read other pages and the modified page writer writes
// other pages under the PFN lock. So a store must allow read() beside
// other read()s and beside write() and set_size() of other bytes (no two
// faults read one page at once: system::in_page_locked); memory_store and
// posix_file_store do.

#include <mmkit/core/status.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mmkit {

template <class S>
concept BackingStore = requires(S& s, const S& cs, std::uint64_t offset,
                                void* out, const void* in, std::size_t n) {
  /// The bytes the store holds (the file's end-of-file).
  { cs.size() }
  noexcept->std::same_as<std::uint64_t>;
  /// Whether write and set_size may be called (a file opened for writing).
  { cs.writable() }
  noexcept->std::same_as<bool>;
  /// Requires: offset + n <= size(). Reads n bytes at offset.
  { s.read(offset, out, n) }
  noexcept->std::same_as<status>;
  /// Requires: writable(); offset + n <= size().
  { s.write(offset, in, n) }
  noexcept->std::same_as<status>;
  /// Requires: writable(). The file's end-of-file becomes `offset` (new
  /// bytes read as zero).
  { s.set_size(offset) }
  noexcept->std::same_as<status>;
  /// A NUL-terminated name for dumps (a path), or null.
  { cs.name() }
  noexcept->std::convertible_to<const char*>;
};

/// A store kept in a caller-given buffer of `capacity` bytes, of which the
/// first `size` are the file. It never allocates: set_size past the
/// capacity answers STATUS_INSUFFICIENT_RESOURCES.
class memory_store {
 public:
  memory_store() noexcept = default;
  /// Requires: `buffer` holds `capacity` bytes and outlives the store;
  /// size <= capacity.
  memory_store(void* buffer, std::uint64_t capacity, std::uint64_t size,
               bool writable = true, const char* name = nullptr) noexcept
      : bytes_(static_cast<std::byte*>(buffer)),
        capacity_(capacity),
        size_(size),
        writable_(writable),
        name_(name) {}

  // The size and the counters are relaxed atomics (plain moves on x86-64),
  // so that reads may run beside each other and beside writes and resizes
  // of other bytes (see Threads above); the bytes themselves are the
  // caller's to keep apart.
  std::uint64_t size() const noexcept {
    return __atomic_load_n(&size_, __ATOMIC_RELAXED);
  }
  bool writable() const noexcept { return writable_; }
  const char* name() const noexcept { return name_; }
  status read(std::uint64_t offset, void* out, std::size_t n) noexcept {
    const std::uint64_t size = this->size();
    if (offset > size || n > size - offset) return status::invalid_parameter;
    if (n != 0) std::memcpy(out, bytes_ + offset, n);
    __atomic_fetch_add(&reads_, 1, __ATOMIC_RELAXED);
    return status::success;
  }
  status write(std::uint64_t offset, const void* in, std::size_t n) noexcept {
    if (!writable_) return status::access_denied;
    const std::uint64_t size = this->size();
    if (offset > size || n > size - offset) return status::invalid_parameter;
    if (n != 0) std::memcpy(bytes_ + offset, in, n);
    __atomic_fetch_add(&writes_, 1, __ATOMIC_RELAXED);
    return status::success;
  }
  status set_size(std::uint64_t size) noexcept {
    if (!writable_) return status::access_denied;
    if (size > capacity_) return status::insufficient_resources;
    const std::uint64_t old = this->size();
    if (size > old) std::memset(bytes_ + old, 0, size - old);
    __atomic_store_n(&size_, size, __ATOMIC_RELAXED);
    return status::success;
  }
  /// The file's bytes (for tests).
  const std::byte* data() const noexcept { return bytes_; }
  /// Reads and writes done so far (for tests: a shared page is read once).
  std::uint64_t reads() const noexcept {
    return __atomic_load_n(&reads_, __ATOMIC_RELAXED);
  }
  std::uint64_t writes() const noexcept {
    return __atomic_load_n(&writes_, __ATOMIC_RELAXED);
  }

 private:
  std::byte* bytes_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t size_ = 0;
  bool writable_ = false;
  const char* name_ = nullptr;
  std::uint64_t reads_ = 0;
  std::uint64_t writes_ = 0;
};
static_assert(BackingStore<memory_store>);

/// Any BackingStore, by reference: the store's address and a table of its
/// operations (no virtual functions, no RTTI, no allocation).
class store_ref {
 public:
  store_ref() noexcept = default;
  /// Requires: `s` outlives every section made over this reference.
  // (A store_ref models BackingStore itself; copies must stay copies.)
  template <BackingStore S>
  requires(!std::same_as<S, store_ref>) explicit store_ref(S& s) noexcept
      : self_(&s), ops_(&ops_for<S>) {}

  /// Whether the reference names a store (page-file sections have none).
  bool valid() const noexcept { return self_ != nullptr; }
  std::uint64_t size() const noexcept { return ops_->size(self_); }
  bool writable() const noexcept { return ops_->writable(self_); }
  const char* name() const noexcept { return ops_->name(self_); }
  status read(std::uint64_t offset, void* out, std::size_t n) const noexcept {
    return ops_->read(self_, offset, out, n);
  }
  status write(std::uint64_t offset, const void* in,
               std::size_t n) const noexcept {
    return ops_->write(self_, offset, in, n);
  }
  status set_size(std::uint64_t size) const noexcept {
    return ops_->set_size(self_, size);
  }
  friend bool operator==(const store_ref& a, const store_ref& b) noexcept {
    return a.self_ == b.self_;
  }

 private:
  struct ops {
    std::uint64_t (*size)(const void*) noexcept;
    bool (*writable)(const void*) noexcept;
    const char* (*name)(const void*) noexcept;
    status (*read)(void*, std::uint64_t, void*, std::size_t) noexcept;
    status (*write)(void*, std::uint64_t, const void*, std::size_t) noexcept;
    status (*set_size)(void*, std::uint64_t) noexcept;
  };
  template <class S>
  static constexpr ops ops_for{
      [](const void* s) noexcept { return static_cast<const S*>(s)->size(); },
      [](const void* s) noexcept {
        return static_cast<const S*>(s)->writable();
      },
      [](const void* s) noexcept -> const char* {
        return static_cast<const S*>(s)->name();
      },
      [](void* s, std::uint64_t o, void* out, std::size_t n) noexcept {
        return static_cast<S*>(s)->read(o, out, n);
      },
      [](void* s, std::uint64_t o, const void* in, std::size_t n) noexcept {
        return static_cast<S*>(s)->write(o, in, n);
      },
      [](void* s, std::uint64_t size) noexcept {
        return static_cast<S*>(s)->set_size(size);
      }};

  void* self_ = nullptr;
  const ops* ops_ = nullptr;
};

}  // namespace mmkit
