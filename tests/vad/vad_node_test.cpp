// The vad node: descriptor fields, flag encoding, copies, layout.
#include <doctest/doctest.h>
#include <mmkit/vad/vad.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

using namespace mmkit;

TEST_CASE("vad: descriptor fields round-trip through the flags word") {
  vad v({vpn{0x290}, vpn{0x2d0}}, vad_type::mapped, mm::readonly);
  CHECK(v.start() == vpn{0x290});
  CHECK(v.end() == vpn{0x2d0});
  CHECK(v.pages() == 0x41);
  CHECK(v.range() == vpn_range{vpn{0x290}, vpn{0x2d0}});
  CHECK(v.type() == vad_type::mapped);
  CHECK_FALSE(v.private_memory());
  CHECK(v.protection() == mm::readonly);
  CHECK(v.flags() == vad_flags::none);
  CHECK(v.commit_charge() == 0);

  v.set_commit_charge(vad_word::max_commit);
  v.set_protection(mm::execute_writecopy | mm::guard_page);
  v.set_type(vad_type::image);
  v.set_flags(vad_flags::no_change | vad_flags::write_watch);
  CHECK(v.commit_charge() == vad_word::max_commit);
  CHECK(v.protection() == (mm::execute_writecopy | mm::guard_page));
  CHECK(v.type() == vad_type::image);
  CHECK(v.has(vad_flags::no_change));
  CHECK(v.has(vad_flags::write_watch));
  CHECK_FALSE(v.has(vad_flags::mem_commit));
  CHECK_FALSE(v.has(vad_flags::no_change | vad_flags::large_pages));
  // Each field leaves its neighbours alone.
  v.set_commit_charge(7);
  CHECK(v.protection() == (mm::execute_writecopy | mm::guard_page));
  CHECK(v.type() == vad_type::image);
  CHECK(v.flags() == (vad_flags::no_change | vad_flags::write_watch));
  v.set_flags(vad_flags::none);
  CHECK(v.commit_charge() == 7);
  CHECK(v.type() == vad_type::image);
  CHECK((~vad_flags::none) ==
        (vad_flags::mem_commit | vad_flags::no_change | vad_flags::large_pages |
         vad_flags::write_watch | vad_flags::physical_mapping |
         vad_flags::user_physical_pages | vad_flags::view_unmap));
  // The top flag leaves the type below it alone.
  v.set_flags(vad_flags::view_unmap);
  CHECK(v.type() == vad_type::image);
  CHECK(v.flags() == vad_flags::view_unmap);
}

namespace {
// A mapped view's fields live in a type derived from vad (a later
// `mapped_vad`), not in the base node.
struct mapped_view : vad {
  using vad::vad;
  void* section = nullptr;
  std::uint64_t first_prototype_pte = 0;
};
}  // namespace

TEST_CASE("vad: private memory and mapped-view fields") {
  mapped_view p({vpn{0x10}, vpn{0x10}}, vad_type::private_memory, mm::readwrite,
                vad_flags::mem_commit);
  CHECK(p.private_memory());
  CHECK(p.has(vad_flags::mem_commit));
  CHECK(p.section == nullptr);
  int section_object = 0;
  p.section = &section_object;
  p.first_prototype_pte = 0x123456789;
  CHECK(p.section == &section_object);
  CHECK(p.first_prototype_pte == 0x123456789);
  CHECK(p.contains(vpn{0x10}));
  CHECK_FALSE(p.contains(vpn{0x11}));
}

TEST_CASE("vad: copies carry the descriptor but not the links") {
  vad a({vpn{1}, vpn{5}}, vad_type::image, mm::execute_read);
  a.set_commit_charge(3);
  const vad b = a;
  CHECK(b.range() == a.range());
  CHECK(b.flags_word() == a.flags_word());
  CHECK_FALSE(b.is_linked());
}

TEST_CASE("vad: derived node types keep the base layout") {
  struct my_vad : vad {
    int user = 0;
  };
  static_assert(std::is_base_of_v<vad, my_vad>);
  // One cache line on LP64: links, range, aggregates and the flags word.
  static_assert(sizeof(void*) != 8 || sizeof(vad) == 64);
  static_assert(sizeof(vad) <= 64);
  CHECK(sizeof(my_vad) >= sizeof(vad));
}
