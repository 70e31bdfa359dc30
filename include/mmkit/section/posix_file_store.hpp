#pragma once
// posix_file_store: a BackingStore over a real file (hosted), read with
// pread and written with pwrite at the offsets the section layer asks for.
// Its size is the file's (fstat), so a file that grows or shrinks outside
// the library is seen as it is now. The store owns its descriptor.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "<mmkit/section/posix_file_store.hpp> needs a hosted C++ implementation"
#endif

#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/section/backing_store.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mmkit {

class posix_file_store {
 public:
  posix_file_store() noexcept = default;
  /// Opens `path` for reading, and for writing when `writable` (as
  /// CreateFile with GENERIC_READ [| GENERIC_WRITE]); the file must exist.
  /// Returns: object_name_not_found, access_denied or unsuccessful on
  /// failure.
  static result<posix_file_store> open(const char* path,
                                       bool writable) noexcept {
    const int fd = ::open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
      return errno == ENOENT   ? status::object_name_not_found
             : errno == EACCES ? status::access_denied
                               : status::unsuccessful;
    posix_file_store s;
    s.fd_ = fd;
    s.writable_ = writable;
    s.name_ = path;
    return s;
  }
  posix_file_store(posix_file_store&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)),
        writable_(o.writable_),
        name_(std::move(o.name_)) {}
  posix_file_store& operator=(posix_file_store&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
      writable_ = o.writable_;
      name_ = std::move(o.name_);
    }
    return *this;
  }
  ~posix_file_store() { close(); }

  std::uint64_t size() const noexcept {
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_size);
  }
  bool writable() const noexcept { return writable_; }
  const char* name() const noexcept { return name_.c_str(); }

  status read(std::uint64_t offset, void* out, std::size_t n) noexcept {
    auto* p = static_cast<char*>(out);
    while (n != 0) {
      const ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (got <= 0) return status::in_page_error;  // error or short file
      p += got;
      offset += static_cast<std::uint64_t>(got);
      n -= static_cast<std::size_t>(got);
    }
    return status::success;
  }
  status write(std::uint64_t offset, const void* in, std::size_t n) noexcept {
    if (!writable_) return status::access_denied;
    const auto* p = static_cast<const char*>(in);
    while (n != 0) {
      const ssize_t put = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
      if (put <= 0) return status::unsuccessful;
      p += put;
      offset += static_cast<std::uint64_t>(put);
      n -= static_cast<std::size_t>(put);
    }
    return status::success;
  }
  status set_size(std::uint64_t size) noexcept {
    if (!writable_) return status::access_denied;
    return ::ftruncate(fd_, static_cast<off_t>(size)) == 0
               ? status::success
               : status::unsuccessful;
  }

 private:
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  bool writable_ = false;
  std::string name_;
};
static_assert(BackingStore<posix_file_store>);

}  // namespace mmkit
