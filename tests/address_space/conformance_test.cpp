// address_space against Windows' recorded behaviour: the case table of
// tests/model (the same table the reference model passes), for every arch.
#include <mmkit/address_space/address_space.hpp>
#include <mmkit/address_space/hosted_system.hpp>
#include <mmkit/arch/all.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>

#include "model/nt_adapter.hpp"
#include "model/nt_case_table.hpp"

namespace {

/// A fresh machine and address space whose commit limit is the table's
/// (physical frames + page file = nt_case_commit_limit pages).
template <class Arch>
struct conformance_space {
  using space = mmkit_model::nt_adapter<
      mmkit::address_space<Arch, mmkit::hosted_config<>>>;
  static constexpr std::uint64_t frames = 160;
  mmkit::hosted_system<> sys{frames << mmkit::page_shift,
                             (mmkit_model::nt_case_commit_limit - frames)
                                 << mmkit::page_shift};
  space as{sys};
};

/// The space, kept alive with its machine (an aliasing shared_ptr).
template <class Arch>
std::shared_ptr<typename conformance_space<Arch>::space> make_space() {
  auto owner = std::make_shared<conformance_space<Arch>>();
  return {owner, &owner->as};
}

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

}  // namespace

TEST_CASE_TEMPLATE("address_space: Windows case table", Arch,
                   mmkit::arch::x86_32, mmkit::arch::x86_pae,
                   mmkit::arch::x86_64, mmkit::arch::x86_la57) {
  mmkit_model::run_nt_case_table([] { return make_space<Arch>(); },
                                 layout_of<Arch>());
}
