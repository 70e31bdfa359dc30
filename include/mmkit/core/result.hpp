#pragma once
// result<T>: a value or the status that explains why there is none.
//
// The freestanding replacement for exceptions and std::expected: a failed
// result carries a status (never status::success), a successful one carries
// a T. Warnings such as partial_copy are failures here; operations that
// succeed with a warning return the value and the warning separately.
// Reading value() of a failed result is a bug and asserts.

#include <mmkit/core/assert.hpp>
#include <mmkit/core/status.hpp>

#include <type_traits>
#include <utility>

namespace mmkit {

template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T>, "result<T&> is not supported");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, status>,
                "result<status> would be ambiguous");
  // Keeping a default-constructed T beside the status (rather than a union)
  // keeps result constexpr and free of <memory>, which freestanding
  // implementations need not provide; every mmkit value type is cheap to
  // default-construct.
  static_assert(std::is_default_constructible_v<T>,
                "result<T> needs a default-constructible T");

 public:
  using value_type = T;

  /// Effects: a successful result holding `value`.
  constexpr result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)
      : status_(status::success), value_(std::move(value)) {}
  /// Requires: `failure` is not status::success.
  constexpr result(status failure) noexcept : status_(failure), value_() {
    MMKIT_ASSERT(failure != status::success);
  }

  constexpr bool ok() const noexcept { return status_ == status::success; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  constexpr status error() const noexcept { return status_; }

  /// Requires: ok().
  constexpr T& value() & noexcept {
    MMKIT_ASSERT(ok());
    return value_;
  }
  constexpr const T& value() const& noexcept {
    MMKIT_ASSERT(ok());
    return value_;
  }
  constexpr T&& value() && noexcept {
    MMKIT_ASSERT(ok());
    return std::move(value_);
  }
  constexpr T& operator*() & noexcept { return value(); }
  constexpr const T& operator*() const& noexcept { return value(); }
  constexpr T* operator->() noexcept { return &value(); }
  constexpr const T* operator->() const noexcept { return &value(); }

  /// The value, or `fallback` when the result failed.
  template <class U>
  constexpr T value_or(U&& fallback) const& {
    return ok() ? value_ : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  status status_;
  T value_;
};

/// result<void>: only a status, with the same vocabulary as result<T>.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  constexpr result() noexcept = default;
  constexpr result(status s) noexcept : status_(s) {}
  constexpr bool ok() const noexcept { return status_ == status::success; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  constexpr status error() const noexcept { return status_; }

 private:
  status status_ = status::success;
};

}  // namespace mmkit
