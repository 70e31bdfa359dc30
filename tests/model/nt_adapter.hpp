#pragma once
// nt_adapter: presents an mmkit::address_space<Arch, Config> (or anything
// with its API: vaddr-typed addresses, mmkit::status results) through the
// plain interface of the reference model (std::uint64_t addresses,
// mmkit_model::nt_status), so that the case table and the differential
// driver run unchanged against the model and against the library.
//
// It names no mmkit type: the address type, the access enums and the
// MEMORY_BASIC_INFORMATION type are deduced from the signatures of
// Impl::access and Impl::query, so this header still includes only std
// headers and the model. Usage, for the lead's side:
//
//   using space = mmkit_model::nt_adapter<mmkit::address_space<A, C>>;
//   space s{constructor arguments of address_space...};
//
// Requirements on Impl (the API of mmkit::address_space): allocate, free,
// protect, query, access, read, write as documented there; the address type
// V has `explicit V(std::uint64_t)` and `std::uint64_t raw() const`; the
// status type converts to std::uint32_t by static_cast with NTSTATUS
// values; check_invariants(), commit_charge(), frames_in_use(),
// table_pages_in_use().

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "model/nt_model.hpp"

namespace mmkit_model {
namespace detail {

// Pulls the parameter types out of `R (C::*)(V, K, M)` (access) and
// `R (C::*)(V, I&)` (query), with or without const / noexcept.
template <class F>
struct access_signature;
template <class R, class C, class V, class K, class M>
struct access_signature<R (C::*)(V, K, M)> {
  using vaddr = V;
  using kind = K;
  using mode = M;
};
template <class R, class C, class V, class K, class M>
struct access_signature<R (C::*)(V, K, M) noexcept>
    : access_signature<R (C::*)(V, K, M)> {};

template <class F>
struct query_signature;
template <class R, class C, class V, class I>
struct query_signature<R (C::*)(V, I&)> {
  using info = I;
};
template <class R, class C, class V, class I>
struct query_signature<R (C::*)(V, I&) noexcept>
    : query_signature<R (C::*)(V, I&)> {};
template <class R, class C, class V, class I>
struct query_signature<R (C::*)(V, I&) const>
    : query_signature<R (C::*)(V, I&)> {};
template <class R, class C, class V, class I>
struct query_signature<R (C::*)(V, I&) const noexcept>
    : query_signature<R (C::*)(V, I&)> {};

template <class S>
nt_status to_nt(S s) {
  return static_cast<nt_status>(static_cast<std::uint32_t>(s));
}

}  // namespace detail

template <class Impl>
class nt_adapter {
  using access_sig = detail::access_signature<decltype(&Impl::access)>;
  using vaddr = std::remove_cvref_t<typename access_sig::vaddr>;
  using kind_t = typename access_sig::kind;
  using mode_t = typename access_sig::mode;
  using info_t = typename detail::query_signature<decltype(&Impl::query)>::info;

 public:
  template <class... Args>
  explicit nt_adapter(Args&&... args) : impl_(std::forward<Args>(args)...) {}

  Impl& impl() { return impl_; }
  const Impl& impl() const { return impl_; }

  nt_status allocate(std::uint64_t& base, std::uint64_t& size,
                     std::uint32_t type, std::uint32_t protect,
                     std::uint64_t zero_bits = 0) {
    vaddr b{base};
    const auto st = impl_.allocate(b, size, type, protect, zero_bits);
    base = b.raw();
    return detail::to_nt(st);
  }
  nt_status free(std::uint64_t& base, std::uint64_t& size,
                 std::uint32_t free_type) {
    vaddr b{base};
    const auto st = impl_.free(b, size, free_type);
    base = b.raw();
    return detail::to_nt(st);
  }
  nt_status protect(std::uint64_t& base, std::uint64_t& size,
                    std::uint32_t new_protect, std::uint32_t& old_protect) {
    vaddr b{base};
    const auto st = impl_.protect(b, size, new_protect, old_protect);
    base = b.raw();
    return detail::to_nt(st);
  }
  nt_status query(std::uint64_t address, memory_basic_information& out) {
    info_t info{};
    const auto st = impl_.query(vaddr{address}, info);
    out.base_address = info.base_address;
    out.allocation_base = info.allocation_base;
    out.allocation_protect = info.allocation_protect;
    out.region_size = info.region_size;
    out.state = info.state;
    out.protect = info.protect;
    out.type = info.type;
    return detail::to_nt(st);
  }
  nt_status access(std::uint64_t address, access_kind kind,
                   access_mode mode = access_mode::user) {
    return detail::to_nt(impl_.access(
        vaddr{address}, static_cast<kind_t>(static_cast<std::uint8_t>(kind)),
        mode == access_mode::user ? mode_t::user : mode_t::kernel));
  }
  nt_status read(std::uint64_t address, void* buffer, std::size_t size,
                 std::size_t& bytes_done) {
    return detail::to_nt(impl_.read(vaddr{address}, buffer, size, bytes_done));
  }
  nt_status write(std::uint64_t address, const void* buffer, std::size_t size,
                  std::size_t& bytes_done) {
    return detail::to_nt(impl_.write(vaddr{address}, buffer, size, bytes_done));
  }

  bool check_invariants() { return impl_.check_invariants(); }
  std::uint64_t commit_charge() const { return impl_.commit_charge(); }
  std::uint64_t frames_in_use() const { return impl_.frames_in_use(); }
  std::uint64_t table_pages_in_use() const {
    return impl_.table_pages_in_use();
  }

 private:
  Impl impl_;
};

}  // namespace mmkit_model
