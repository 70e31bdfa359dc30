// address_space against Windows' recorded behaviour: the case table of
// tests/model (the same table the reference model passes), for every arch.
// The cases marked as known differences must still differ (the run fails
// when one no longer does, so that its mark goes with the fix).
#include <mmkit/arch/all.hpp>

#include <doctest/doctest.h>

#include "address_space/nt_machine.hpp"
#include "model/nt_case_table.hpp"

TEST_SUITE_BEGIN("nt");

TEST_CASE_TEMPLATE("address_space: Windows case table", Arch,
                   mmkit::arch::x86_32, mmkit::arch::x86_pae,
                   mmkit::arch::x86_64, mmkit::arch::x86_la57) {
  mmkit_model::run_nt_case_table(
      [] {
        return mmkit_test::make_nt_space<Arch>(
            mmkit_model::nt_case_commit_limit);
      },
      mmkit_test::layout_of<Arch>(), mmkit_model::table_target::library);
}

TEST_SUITE_END();
