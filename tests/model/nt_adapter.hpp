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
// table_pages_in_use(); for sections, map_view, unmap_view and flush.
//
// Sections (optional): what the model's world does (files, section
// objects, handles) is the system's, not the space's, so it comes from a
// `Sections` object shared by every adapter on one system
// (tests/address_space/nt_machine.hpp's section_system): int handles and
// file ids as the model's, and handle(h) giving the Impl's handle type.
//
// The pager: the trim of one page, the PTE kind of a page (Impl::translate;
// mmkit::entry_kind has pte_kind's values) and the soft and hard fault
// counts (Impl::faults) are the space's; the system's steps (the modified
// page writer, repurposing the standby list, the balance step, the
// page-file slots and list lengths) come from Sections too, when it has
// them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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

/// The Sections type of an adapter without sections.
struct no_sections {};

template <class Impl, class Sections = no_sections>
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

  /// The system's sections, shared with the other adapters on it.
  void attach_sections(Sections& s) { sections_ = &s; }
  Sections& sections() { return *sections_; }

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

  // ---- sections (see the header comment) -----------------------------------
  int create_file(std::vector<std::uint8_t> bytes, bool writable) {
    return sections_->create_file(std::move(bytes), writable);
  }
  std::vector<std::uint8_t> file_bytes(int file) const {
    return sections_->file_bytes(file);
  }
  nt_status set_end_of_file(int file, std::uint64_t size) {
    return detail::to_nt(sections_->set_end_of_file(file, size));
  }
  nt_status create_section(int& handle, std::uint32_t desired_access,
                           const std::string& name, std::uint32_t obj_flags,
                           std::uint64_t max_size, std::uint32_t protect,
                           std::uint32_t attributes, int file = -1) {
    return detail::to_nt(sections_->create_section(handle, desired_access, name,
                                                   obj_flags, max_size, protect,
                                                   attributes, file));
  }
  nt_status open_section(int& handle, std::uint32_t desired_access,
                         const std::string& name) {
    return detail::to_nt(sections_->open_section(handle, desired_access, name));
  }
  nt_status close_section(int handle) {
    return detail::to_nt(sections_->close_section(handle));
  }
  /// `commit_size` is the model's: mmkit's map_view takes no CommitSize
  /// (the case table marks the rows that use one as a known difference).
  nt_status map_view(int handle, std::uint64_t& base, std::uint64_t& size,
                     std::uint64_t offset, std::uint32_t type,
                     std::uint32_t protect, std::uint64_t zero_bits = 0,
                     std::uint64_t commit_size = 0) {
    (void)commit_size;
    if (!sections_->handle_open(handle)) return nt_status::invalid_handle;
    vaddr b{base};
    const auto st = impl_.map_view(sections_->handle(handle), b, size, offset,
                                   type, protect, zero_bits);
    base = b.raw();
    return detail::to_nt(st);
  }
  nt_status unmap_view(std::uint64_t address) {
    return detail::to_nt(impl_.unmap_view(vaddr{address}));
  }
  nt_status flush(std::uint64_t& base, std::uint64_t& size) {
    vaddr b{base};
    const auto st = impl_.flush(b, size);
    base = b.raw();
    return detail::to_nt(st);
  }
  std::uint64_t system_commit_charge() const {
    return sections_->commit_charge();
  }
  /// The section layer's state against the model's (Sections::check).
  template <class Model, class S = Sections>
  auto check_sections(const Model& m)
      -> decltype(std::declval<S&>().check(std::declval<Impl&>(), m)) {
    return sections_->check(impl_, m);
  }
  /// Whether the system holds what it held when the space was new.
  template <class S = Sections>
  auto check_idle() -> decltype(std::declval<S&>().check_idle()) {
    return sections_->check_idle();
  }

  // ---- the pager (see the header comment) ----------------------------------
  bool trim(std::uint64_t address) { return impl_.trim(vaddr{address}); }
  pte_kind pte(std::uint64_t address) {
    return static_cast<pte_kind>(
        static_cast<std::uint8_t>(impl_.translate(vaddr{address}).kind));
  }
  pager_faults faults() const {
    const auto f = impl_.faults();
    return {f.soft, f.hard};
  }
  template <class S = Sections>
  auto write_modified_pages(std::uint64_t n)
      -> decltype(std::declval<S&>().write_modified_pages(n)) {
    return sections_->write_modified_pages(n);
  }
  template <class S = Sections>
  auto repurpose_standby() -> decltype(std::declval<S&>().repurpose_standby()) {
    return sections_->repurpose_standby();
  }
  template <class S = Sections>
  auto balance() -> decltype(std::declval<S&>().balance()) {
    return sections_->balance();
  }
  template <class S = Sections>
  auto page_file_slots_used() const
      -> decltype(std::declval<const S&>().page_file_slots_used()) {
    return sections_->page_file_slots_used();
  }
  template <class S = Sections>
  auto listed_pages() const
      -> decltype(std::declval<const S&>().listed_pages()) {
    return sections_->listed_pages();
  }

  bool check_invariants() { return impl_.check_invariants(); }
  std::uint64_t commit_charge() const { return impl_.commit_charge(); }
  std::uint64_t frames_in_use() const { return impl_.frames_in_use(); }
  std::uint64_t table_pages_in_use() const {
    return impl_.table_pages_in_use();
  }

 private:
  Impl impl_;
  Sections* sections_ = nullptr;
};

}  // namespace mmkit_model
