#pragma once
// What the conformance test, the differential test and the fuzz target need
// to run mmkit::address_space under the reference model's interface: the
// model's layout for an mmkit arch, and a machine (system + address space)
// with a given commit limit and enough frames for every committed page and
// its page tables.

#include <mmkit/address_space.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <cstdint>
#include <memory>

#include "model/nt_adapter.hpp"
#include "model/nt_model.hpp"

namespace mmkit_test {

/// The reference model's view of an mmkit arch.
template <class Arch>
mmkit_model::nt_layout layout_of() {
  mmkit_model::nt_layout l{};
  l.name = Arch::name;
  l.lowest = Arch::lowest_user_address;
  l.highest = Arch::highest_user_address;
  l.kernel_start = Arch::kernel_base;
  l.nx = Arch::has_nx;
  l.zero_bits_mask_form =
      sizeof(typename Arch::entry_type) == 8 && Arch::va_bits > 32;
  return l;
}

/// A simulated machine running one address space.
template <class Arch>
struct nt_machine {
  using space = mmkit_model::nt_adapter<
      mmkit::address_space<Arch, mmkit::hosted_config<>>>;
  /// Frames beyond the commit limit, for page tables.
  static constexpr std::uint64_t table_frames = 1024;

  mmkit::hosted_system<> sys;
  space as;

  explicit nt_machine(std::uint64_t commit_limit)
      : sys((commit_limit + table_frames) << mmkit::page_shift), as(sys) {
    const auto set = sys.set_commit_limit(commit_limit);
    if (!set.ok() || as.impl().creation_status() != mmkit::status::success)
      std::abort();
  }
};

/// The address space of a fresh machine, kept alive with it.
template <class Arch>
std::shared_ptr<typename nt_machine<Arch>::space> make_nt_space(
    std::uint64_t commit_limit) {
  auto owner = std::make_shared<nt_machine<Arch>>(commit_limit);
  return {owner, &owner->as};
}

}  // namespace mmkit_test
