#include <mmkit/phys/pfn_entry.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <string_view>
#include <type_traits>

using namespace mmkit;

TEST_CASE("pfn_entry: 32 bytes, trivially copyable, NT page locations") {
  static_assert(sizeof(pfn_entry) == 32);
  static_assert(std::is_trivially_copyable_v<pfn_entry>);
  static_assert(static_cast<int>(page_state::zeroed) == 0);
  static_assert(static_cast<int>(page_state::free) == 1);
  static_assert(static_cast<int>(page_state::standby) == 2);
  static_assert(static_cast<int>(page_state::modified) == 3);
  static_assert(static_cast<int>(page_state::modified_no_write) == 4);
  static_assert(static_cast<int>(page_state::bad) == 5);
  static_assert(static_cast<int>(page_state::active) == 6);
  static_assert(static_cast<int>(page_state::transition) == 7);
  CHECK(is_list_state(page_state::bad));
  CHECK_FALSE(is_list_state(page_state::active));
  CHECK_FALSE(is_list_state(page_state::transition));
  CHECK(std::string_view{page_state_name(page_state::modified_no_write)} ==
        "modified-no-write");
}

TEST_CASE(
    "pfn_entry: every packed field round-trips without touching the others") {
  pfn_entry e;
  CHECK(e.state() == page_state::zeroed);
  CHECK(e.link().kind == pte_kind::none);
  CHECK(e.next() == pfn_entry::no_frame);

  e.set_colour(pfn_entry::max_colour);
  e.set_link(pte_link::hardware_pte(paddr{0xF'FFFF'FFFF'FFF8}));
  e.set_original_pte(0xDEAD'BEEF'0000'0480);
  e.set_state(page_state::transition);
  e.set_share_count(0xFFFF'FFFF);
  e.set_reference_count(0xFFFF);
  e.set_pending_release(release_to::backing_store_no_write);
  e.set_modified(true);
  e.set_read_in_progress(true);
  e.set_write_in_progress(true);
  e.set_page_table(true);
  e.set_bad_pending(true);

  CHECK(e.colour() == pfn_entry::max_colour);
  CHECK(e.link() == pte_link::hardware_pte(paddr{0xF'FFFF'FFFF'FFF8}));
  CHECK(e.link().table_frame() == pfn{0xFF'FFFF'FFFF});
  CHECK_FALSE(e.prototype());
  CHECK(e.original_pte() == 0xDEAD'BEEF'0000'0480);
  CHECK(e.state() == page_state::transition);
  CHECK(e.share_count() == 0xFFFF'FFFF);
  CHECK(e.reference_count() == 0xFFFF);
  CHECK(e.pending_release() == release_to::backing_store_no_write);
  CHECK(e.modified());
  CHECK(e.read_in_progress());
  CHECK(e.write_in_progress());
  CHECK(e.page_table());
  CHECK(e.bad_pending());

  // Clearing each flag leaves the rest alone.
  e.set_modified(false);
  CHECK(e.read_in_progress());
  CHECK(e.state() == page_state::transition);
  e.set_read_in_progress(false);
  e.set_write_in_progress(false);
  e.set_page_table(false);
  e.set_bad_pending(false);
  CHECK(e.pending_release() == release_to::backing_store_no_write);
  CHECK(e.state() == page_state::transition);
  CHECK(e.colour() == pfn_entry::max_colour);

  e.set_link(pte_link::prototype_pte(pte_link::max_value));
  CHECK(e.prototype());
  CHECK(e.link() == pte_link::prototype_pte(pte_link::max_value));
  CHECK(e.colour() == pfn_entry::max_colour);

  e.set_link(pte_link{});
  CHECK(e.link().kind == pte_kind::none);
  CHECK_FALSE(e.prototype());
}

TEST_CASE("pfn_entry: reset_active keeps only the colour") {
  pfn_entry e;
  e.set_colour(7);
  e.set_link(pte_link::prototype_pte(42));
  e.set_original_pte(0x400);
  e.set_modified(true);
  e.set_state(page_state::standby);
  e.set_next(3);
  e.set_prev(4);
  e.reset_active(7);
  CHECK(e.state() == page_state::active);
  CHECK(e.colour() == 7);
  CHECK(e.share_count() == 1);
  CHECK(e.reference_count() == 1);
  CHECK(e.link().kind == pte_kind::none);
  CHECK(e.original_pte() == 0);
  CHECK_FALSE(e.modified());
  CHECK(e.next() == pfn_entry::no_frame);
  CHECK(e.prev() == pfn_entry::no_frame);
}

TEST_CASE("pfn_entry: constexpr encode and decode") {
  constexpr pfn_entry e = [] {
    pfn_entry x;
    x.set_state(page_state::modified);
    x.set_colour(5);
    x.set_link(pte_link::hardware_pte(paddr{0x1234'5678}));
    return x;
  }();
  static_assert(e.state() == page_state::modified);
  static_assert(e.colour() == 5);
  static_assert(e.link().value == 0x1234'5678);
  CHECK(e.link().kind == pte_kind::hardware);
}
