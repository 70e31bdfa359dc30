// emu::save_system / load_system: a saved system, loaded back into fresh
// spaces on a fresh system, answers every query as before and passes its
// invariant check; a truncated or corrupt file gives a status and leaves
// the spaces empty.
#include "emu_machine.hpp"
#include "seen_state.hpp"
#include "test_files.hpp"

#include <mmkit/emu/saved_system.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

using namespace emu_test;

namespace {

/// Two spaces after varied operations: private regions with mixed commit,
/// protection and guard pages, a MEM_COMMIT reservation partly
/// decommitted, a split reservation, trimmed pages, a page-file section
/// mapped in both spaces and a copy-on-write view with a private copy
/// (mapped ViewUnmap: its inheritance is saved too).
template <class Arch>
struct varied_system {
  emu_machine m{2048};
  emu_space<Arch> a{m.sys};
  emu_space<Arch> b{m.sys};
  section_handle h;

  varied_system() {
    const vaddr p = allocate(a, 32);
    for (std::uint64_t i = 0; i < 32; i += 3)
      poke(a, p + i * page_size, static_cast<std::uint32_t>(0x100 + i));
    vaddr x = p + 4 * page_size;
    std::uint64_t size = 2 * page_size;
    std::uint32_t old = 0;
    REQUIRE(a.protect(x, size, page::readonly | page::guard, old) ==
            status::success);
    x = p + 10 * page_size;
    size = 3 * page_size;
    REQUIRE(a.free(x, size, mem::decommit) == status::success);
    x = p + 20 * page_size;
    size = page_size;
    REQUIRE(a.protect(x, size, page::noaccess, old) == status::success);
    REQUIRE(a.trim(p));
    REQUIRE(a.trim(p + 3 * page_size));

    const vaddr r = allocate(a, 64, mem::reserve);
    x = r + 4 * page_size;
    size = 4 * page_size;
    REQUIRE(a.allocate(x, size, mem::commit, page::execute_readwrite) ==
            status::success);
    poke(a, r + 5 * page_size, 0x55);

    const vaddr s = allocate(b, 32);
    for (std::uint64_t i = 0; i < 32; ++i)
      poke(b, s + i * page_size, static_cast<std::uint32_t>(0x900 + i));
    x = s + 8 * page_size;
    size = 8 * page_size;
    REQUIRE(b.free(x, size, mem::release) == status::success);  // split

    REQUIRE(create_section(m.sys, h, section_access::all_access, nullptr, 0,
                           8 * page_size, page::readwrite,
                           sec::commit) == status::success);
    vaddr va{0}, vb{0}, cow{0};
    size = 0;
    REQUIRE(a.map_view(h, va, size, 0, 0, page::readwrite) == status::success);
    size = 0;
    REQUIRE(b.map_view(h, vb, size, 0, 0, page::readwrite) == status::success);
    size = 0;
    REQUIRE(b.map_view(h, cow, size, 0, 0, page::writecopy, 0,
                       section_inherit::view_unmap) == status::success);
    poke(a, va, 1);
    poke(a, va + 3 * page_size, 3);
    poke(b, cow + page_size, 2);  // a private copy
  }
  ~varied_system() { close_section(m.sys, h); }
};

template <class Space>
bool empty_and_sound(Space& s) {
  return s.vads().size() == 0 && s.commit_charge() == 0 && s.check_invariants();
}

/// Two x64 spaces over files: a data file (64 pages) mapped read-write in
/// both, with one page written and left dirty, one written and flushed,
/// and one only read; a DLL mapped at its preferred base in one space
/// (a .data page written: a private copy) and elsewhere in the other (its
/// fixed-up pages: private copies made at map time); a SEC_RESERVE
/// page-file section with three pages committed through a view.
struct file_system {
  using space = emu_space<arch::x86_64>;
  static constexpr std::uint64_t data_pages = 64;
  emu_machine m{4096};
  test_file data{pattern(data_pages * page_size + 100, 9), true};
  test_file dll{small_dll(), false};
  space a{m.sys};
  space b{m.sys};
  section_handle hd, hi, hr;
  vaddr da{0}, db{0}, ia{0}, ib{0}, ra{0};

  file_system() {
    REQUIRE(create_section(m.sys, hd, section_access::all_access, "data", 0, 0,
                           page::readwrite, sec::commit,
                           &data.file) == status::success);
    REQUIRE(create_section(m.sys, hi, section_access::all_access, nullptr, 0, 0,
                           page::execute_writecopy, sec::image,
                           &dll.file) == status::success);
    REQUIRE(create_section(m.sys, hr, section_access::all_access, nullptr, 0,
                           16 * page_size, page::readwrite,
                           sec::reserve) == status::success);
    std::uint64_t size = 0;
    REQUIRE(a.map_view(hd, da, size, 0, 0, page::readwrite) == status::success);
    size = 0;
    REQUIRE(b.map_view(hd, db, size, 0, 0, page::readonly) == status::success);
    size = 0;
    REQUIRE(a.map_view(hi, ia, size, 0, 0, page::readwrite) == status::success);
    REQUIRE(ia.raw() == 0x180000000);
    ib = vaddr{0x7FF000000000};
    size = 0;
    REQUIRE(b.map_view(hi, ib, size, 0, 0, page::readwrite) ==
            status::image_not_at_base);
    size = 0;
    REQUIRE(a.map_view(hr, ra, size, 0, 0, page::readwrite) == status::success);
    for (std::uint64_t pg : {2, 3, 9}) {
      vaddr at = ra + pg * page_size;
      size = page_size;
      REQUIRE(a.allocate(at, size, mem::commit, page::readwrite) ==
              status::success);
    }
    poke(a, ra + 2 * page_size, 0x2222);
    poke(a, ra + 9 * page_size, 0x9999);

    poke(a, da + page_size, 0x1111);      // dirty
    poke(a, da + 3 * page_size, 0x3333);  // written, then flushed
    vaddr f = da + 3 * page_size;
    size = page_size;
    REQUIRE(a.flush(f, size) == status::success);
    (void)peek(b, db + 5 * page_size);  // read only
    poke(a, ia + 0x3000, 0xDA7A);       // .data: a private copy
  }
  ~file_system() {
    close_section(m.sys, hd);
    close_section(m.sys, hi);
    close_section(m.sys, hr);
  }
};

/// A copy of `file` whose trailer is the checksum of its body (a corrupt
/// file the checksum does not catch).
std::vector<std::byte> fix_sum(std::vector<std::byte> file) {
  if (file.size() < 8) return file;
  const std::uint64_t h = emu::detail::fnv1a(
      std::span<const std::byte>(file).first(file.size() - 8));
  for (int i = 0; i < 8; ++i)
    file[file.size() - 8 + i] = static_cast<std::byte>(h >> (8 * i));
  return file;
}

}  // namespace

TEST_SUITE_BEGIN("emu");

TEST_CASE_TEMPLATE(
    "saved_system: a loaded system answers every query as before, and "
    "saves to the same bytes",
    Arch, arch::x86_32, arch::x86_64) {
  using space = emu_space<Arch>;
  varied_system<Arch> w;
  std::vector<std::byte> file;
  REQUIRE(emu::save_system<space>({&w.a, &w.b}, file) == status::success);

  emu_machine m2{2048};
  space a2{m2.sys};
  space b2{m2.sys};
  REQUIRE(emu::load_system<space>(file, {&a2, &b2}) == status::success);
  CHECK(a2.check_invariants());
  CHECK(b2.check_invariants());

  std::vector<std::byte> again;
  REQUIRE(emu::save_system<space>({&a2, &b2}, again) == status::success);
  CHECK(again == file);

  require_same(look(a2), look(w.a));
  require_same(look(b2), look(w.b));
  CHECK(a2.check_invariants());
  CHECK(b2.check_invariants());
  CHECK(w.a.check_invariants());

  // The section is shared again: a write through one space is seen in
  // the other.
  seen_state sa = look(a2);
  std::uint64_t view_a = 0;
  for (const auto& r : sa.regions)
    if (r.type == mem::mapped) view_a = r.base_address;
  REQUIRE(view_a != 0);
  poke(a2, vaddr{view_a + 7 * page_size}, 0xABCD);
  bool seen = false;
  for (const auto& r : look(b2).regions)
    if (r.type == mem::mapped && r.protect == page::readwrite &&
        r.base_address == r.allocation_base && r.region_size == 8 * page_size &&
        peek(b2, vaddr{r.base_address + 7 * page_size}) == 0xABCD)
      seen = true;
  CHECK(seen);
}

TEST_CASE(
    "saved_system: AWE regions and user physical pages load back: the same "
    "frame numbers, mapped where they were, with their bytes") {
  using space = emu_space<arch::x86_64>;
  emu_machine m{1024};
  space as{m.sys};
  const vaddr w = allocate(as, 8, mem::reserve | mem::physical);
  const vaddr priv = allocate(as, 4);
  poke(as, priv, 0x1111);
  std::array<pfn, 5> frames{};
  std::uint64_t n = frames.size();
  REQUIRE(as.allocate_user_physical_pages(n, frames.data()) == status::success);
  REQUIRE(n == frames.size());
  // Frames 0-2 at pages 1-3, frame 3 at page 6; frame 4 written through
  // page 7, then unmapped: owned, with bytes, mapped nowhere.
  REQUIRE(as.map_user_physical_pages(w + page_size, 3, frames.data()) ==
          status::success);
  REQUIRE(as.map_user_physical_pages(w + 6 * page_size, 1, &frames[3]) ==
          status::success);
  REQUIRE(as.map_user_physical_pages(w + 7 * page_size, 1, &frames[4]) ==
          status::success);
  for (std::uint64_t p = 1; p < 8; ++p)
    if (p < 4 || p > 5)
      poke(as, w + p * page_size, static_cast<std::uint32_t>(0xA0 + p));
  REQUIRE(as.map_user_physical_pages(w + 7 * page_size, 1, nullptr) ==
          status::success);
  std::vector<std::byte> file;
  REQUIRE(emu::save_system<space>({&as}, file) == status::success);

  emu_machine m2{1024};
  space a2{m2.sys};
  REQUIRE(emu::load_system<space>(file, {&a2}) == status::success);
  CHECK(a2.check_invariants());
  std::vector<std::byte> again;  // before look() reads pages in
  REQUIRE(emu::save_system<space>({&a2}, again) == status::success);
  CHECK(again == file);
  require_same(look(a2), look(as));
  CHECK(a2.user_physical_pages() == frames.size());
  for (std::uint64_t p = 0; p < 8; ++p) {
    const auto was = as.translate(w + p * page_size);
    const auto now = a2.translate(w + p * page_size);
    CHECK(now.kind == was.kind);
    if (was.kind == entry_kind::valid)
      CHECK(now.address.frame() == was.address.frame());
  }
  // Frame 4 kept its bytes.
  REQUIRE(a2.map_user_physical_pages(w, 1, &frames[4]) == status::success);
  CHECK(peek(a2, w) == 0xA7);
  REQUIRE(a2.map_user_physical_pages(w, 1, nullptr) == status::success);
  // The space owns exactly those frames.
  n = frames.size();
  CHECK(a2.free_user_physical_pages(n, frames.data()) == status::success);
  CHECK(n == frames.size());
  CHECK(a2.check_invariants());
}

TEST_CASE(
    "saved_system: a load whose user physical pages are in use where it "
    "runs fails with STATUS_CONFLICTING_ADDRESSES and leaves nothing "
    "behind") {
  using space = emu_space<arch::x86_64>;
  emu_machine m{1024};
  space as{m.sys};
  const vaddr w = allocate(as, 4, mem::reserve | mem::physical);
  std::array<pfn, 3> frames{};
  std::uint64_t n = frames.size();
  REQUIRE(as.allocate_user_physical_pages(n, frames.data()) == status::success);
  REQUIRE(as.map_user_physical_pages(w, 3, frames.data()) == status::success);
  allocate(as, 2);
  std::vector<std::byte> file;
  REQUIRE(emu::save_system<space>({&as}, file) == status::success);

  emu_machine m2{1024};
  space first{m2.sys};
  REQUIRE(emu::load_system<space>(file, {&first}) == status::success);
  space second{m2.sys};
  const std::uint64_t charge_with_second = m2.sys.commit_charge();
  CHECK(emu::load_system<space>(file, {&second}) ==
        status::conflicting_addresses);
  CHECK(second.user_physical_pages() == 0);
  CHECK(second.vad_nodes() == 0);
  CHECK(m2.sys.commit_charge() == charge_with_second);
  CHECK(second.check_invariants());
  CHECK(first.check_invariants());
  // A space that owns user physical pages already is not a fresh one.
  space third{m2.sys};
  pfn one{};
  n = 1;
  REQUIRE(third.allocate_user_physical_pages(n, &one) == status::success);
  CHECK(emu::load_system<space>(file, {&third}) == status::invalid_parameter);
}

TEST_CASE("saved_system: a file round trip through save_system_file") {
  using space = emu_space<arch::x86_64>;
  varied_system<arch::x86_64> w;
  char path[] = "/tmp/mmkit_saved_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(emu::save_system_file<space>({&w.a, &w.b}, path) == status::success);
  emu_machine m2{2048};
  space a2{m2.sys};
  space b2{m2.sys};
  REQUIRE(emu::load_system_file<space>(path, {&a2, &b2}) == status::success);
  require_same(look(a2), look(w.a));
  require_same(look(b2), look(w.b));
  std::remove(path);
  CHECK(emu::load_system_file<space>(path, {&a2, &b2}) ==
        status::object_name_not_found);
  CHECK(emu::save_system_file<space>({&w.a}, "/nonexistent/dir/f") ==
        status::unsuccessful);
}

TEST_CASE(
    "saved_system: wrong arch, version, space count and non-empty "
    "spaces give a status") {
  using space64 = emu_space<arch::x86_64>;
  using space32 = emu_space<arch::x86_32>;
  varied_system<arch::x86_64> w;
  std::vector<std::byte> file;
  REQUIRE(emu::save_system<space64>({&w.a, &w.b}, file) == status::success);
  emu_machine m2{2048};
  {
    space32 a{m2.sys}, b{m2.sys};
    CHECK(emu::load_system<space32>(file, {&a, &b}) ==
          status::invalid_image_format);
    CHECK(empty_and_sound(a));
    CHECK(empty_and_sound(b));
  }
  {
    space64 a{m2.sys};
    CHECK(emu::load_system<space64>(file, {&a}) == status::invalid_parameter);
    CHECK(empty_and_sound(a));
  }
  {
    space64 a{m2.sys}, b{m2.sys};
    allocate(a, 1);
    CHECK(emu::load_system<space64>(file, {&a, &b}) ==
          status::invalid_parameter);
    CHECK(empty_and_sound(b));
  }
  {
    std::vector<std::byte> other = file;
    other[8] = std::byte{emu::saved_format::version + 1};
    space64 a{m2.sys}, b{m2.sys};
    CHECK(emu::load_system<space64>(fix_sum(other), {&a, &b}) ==
          status::revision_mismatch);
    other[8] = std::byte{0};
    CHECK(emu::load_system<space64>(fix_sum(other), {&a, &b}) ==
          status::revision_mismatch);
    std::vector<std::byte> bad = file;
    bad[0] = std::byte{'X'};
    CHECK(emu::load_system<space64>(bad, {&a, &b}) ==
          status::file_corrupt_error);
    bad = file;
    bad[bad.size() / 2] ^= std::byte{1};
    CHECK(emu::load_system<space64>(bad, {&a, &b}) ==
          status::file_corrupt_error);
    CHECK(empty_and_sound(a));
    CHECK(empty_and_sound(b));
  }
  // Loaded twice on one system: the second gets its own (unnamed) section.
  {
    space64 a{m2.sys}, b{m2.sys}, c{m2.sys}, d{m2.sys};
    REQUIRE(emu::load_system<space64>(file, {&a, &b}) == status::success);
    REQUIRE(emu::load_system<space64>(file, {&c, &d}) == status::success);
    CHECK(a.check_invariants());
    CHECK(d.check_invariants());
  }
}

TEST_CASE(
    "saved_system: a version 2 file (no handle count, no section page "
    "records) still loads") {
  // A version 4 file of one space and one unnamed page-file section, made
  // version 2 by taking out what versions 3 and 4 added: the header's
  // handle count, the section's page record count and the space's count
  // of user physical pages (all 0 here).
  using space = emu_space<arch::x86_64>;
  varied_system<arch::x86_64> w;
  std::vector<std::byte> file;
  REQUIRE(emu::save_system<space>({&w.a}, file) == status::success);
  const auto u32_at = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= std::uint32_t{static_cast<std::uint8_t>(file[at + i])} << (8 * i);
    return v;
  };
  REQUIRE(u32_at(20) == 1);  // one section
  REQUIRE(u32_at(32) == 0);  // no handles
  constexpr std::size_t header = 36;
  // The section: size, protection, attributes, name length (0), file,
  // file size, then its page count.
  REQUIRE(u32_at(header + 16) == 0);
  const std::size_t count_at = header + 8 + 4 + 4 + 4 + 4 + 8;
  std::vector<std::byte> v2(file.begin(), file.begin() + 32);
  v2[8] = std::byte{2};
  v2.insert(v2.end(), file.begin() + header, file.begin() + count_at);
  // The space's user physical page count: the 8 bytes before the trailer.
  const auto awe_count_at = static_cast<std::ptrdiff_t>(file.size() - 16);
  for (std::ptrdiff_t i = 0; i < 8; ++i)
    REQUIRE(file[static_cast<std::size_t>(awe_count_at + i)] == std::byte{0});
  v2.insert(v2.end(), file.begin() + count_at + 8, file.begin() + awe_count_at);
  v2.insert(v2.end(), file.end() - 8, file.end());
  emu_machine m2{2048};
  space a{m2.sys};
  REQUIRE(emu::load_system<space>(fix_sum(v2), {&a}) == status::success);
  require_same(look(a), look(w.a));
  CHECK(a.check_invariants());
}

TEST_CASE(
    "saved_system: a version 1 file (written by that version) still loads, "
    "and saved again in the current version loads to the same state") {
  // Two x86_64 spaces of private memory and a named page-file section
  // mapped by a view and by a copy-on-write view with a private copy.
  using space = emu_space<arch::x86_64>;
  std::vector<std::byte> v1;
  {
    std::FILE* f = std::fopen(MMKIT_SAVED_V1_FILE, "rb");
    REQUIRE(f != nullptr);
    std::byte chunk[4096];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) != 0;)
      v1.insert(v1.end(), chunk, chunk + n);
    std::fclose(f);
  }
  REQUIRE(v1.size() > 12);
  REQUIRE(v1[8] == std::byte{1});
  emu_machine m1{2048};
  space a1{m1.sys}, b1{m1.sys};
  REQUIRE(emu::load_system<space>(v1, {&a1, &b1}) == status::success);
  CHECK(a1.check_invariants());
  CHECK(b1.check_invariants());
  std::vector<std::byte> v2;
  REQUIRE(emu::save_system<space>({&a1, &b1}, v2) == status::success);
  CHECK(v2[8] == std::byte{emu::saved_format::version});
  emu_machine m2{2048};
  space a2{m2.sys}, b2{m2.sys};
  REQUIRE(emu::load_system<space>(v2, {&a2, &b2}) == status::success);
  require_same(look(a2), look(a1));
  require_same(look(b2), look(b1));
  CHECK(a2.check_invariants());
  CHECK(b2.check_invariants());
}

TEST_CASE(
    "saved_system: data file, image and SEC_RESERVE sections load back "
    "over their files, whose bytes the saved system does not hold") {
  using space = file_system::space;
  file_system w;
  const seen_state want_a = look(w.a);
  const seen_state want_b = look(w.b);
  std::vector<std::byte> file;
  CHECK(emu::save_system<space>({&w.a, &w.b}, file, {&w.data.file}) ==
        status::not_supported);  // the DLL's file is not listed
  REQUIRE(emu::save_system<space>({&w.a, &w.b}, file,
                                  {&w.data.file, &w.dll.file}) ==
          status::success);
  // Bytes travel for eight pages: the dirty data page, the DLL's written
  // .data page and the three pages fixed up in b's copy, and the
  // SEC_RESERVE section's three committed pages (a page-file section's
  // bytes are nowhere else). Not for the data file's 64 pages, of which the
  // flushed and the read ones are resident, nor for the DLL's clean pages.
  CHECK(file.size() > 8 * page_size);
  CHECK(file.size() < 9 * page_size);

  // Another host: the same files (as they are now), opened again.
  test_file data2{w.data.bytes, true};
  test_file dll2{w.dll.bytes, false};
  emu_machine m2{4096};
  {
    space a2{m2.sys}, b2{m2.sys};
    REQUIRE(
        emu::load_system<space>(file, {&a2, &b2}, {&data2.file, &dll2.file}) ==
        status::success);
    CHECK(a2.check_invariants());
    CHECK(b2.check_invariants());
    require_same(look(a2), want_a);
    require_same(look(b2), want_b);
    // The data section is shared again, and over the file: b sees a's
    // write, and a flush writes it to data2.
    poke(a2, w.da + 7 * page_size, 0x7777);
    CHECK(peek(b2, w.db + 7 * page_size) == 0x7777);
    vaddr f{w.da.raw()};
    std::uint64_t size = 0;
    REQUIRE(a2.flush(f, size) == status::success);
    std::uint32_t in_file = 0;
    std::memcpy(&in_file, data2.bytes.data() + page_size, 4);
    CHECK(in_file == 0x1111);  // the dirty page, saved, loaded, flushed
    std::memcpy(&in_file, data2.bytes.data() + 7 * page_size, 4);
    CHECK(in_file == 0x7777);
    // The SEC_RESERVE section: pages 2, 3 and 9 committed, no other.
    memory_basic_information mbi{};
    REQUIRE(a2.query(w.ra + 3 * page_size, mbi) == status::success);
    CHECK(mbi.state == mem::commit);
    REQUIRE(a2.query(w.ra + 4 * page_size, mbi) == status::success);
    CHECK(mbi.state == mem::reserve);
  }
  // Files that are not the saved ones: a status, and nothing left behind.
  {
    space a2{m2.sys}, b2{m2.sys};
    CHECK(emu::load_system<space>(file, {&a2, &b2}, {&data2.file}) ==
          status::invalid_parameter);
    CHECK(emu::load_system<space>(file, {&a2, &b2}) ==
          status::invalid_parameter);
    test_file shorter{std::vector<std::byte>(page_size), true};
    CHECK(emu::load_system<space>(file, {&a2, &b2},
                                  {&shorter.file, &dll2.file}) ==
          status::file_invalid);
    // The DLL where the data file goes: its size gives it away.
    CHECK(
        emu::load_system<space>(file, {&a2, &b2}, {&dll2.file, &data2.file}) ==
        status::file_invalid);
    // An image of the same size whose headers say something else.
    test_file other{w.dll.bytes, false};
    other.bytes[0] = std::byte{'X'};  // not MZ
    CHECK(
        emu::load_system<space>(file, {&a2, &b2}, {&data2.file, &other.file}) ==
        status::invalid_image_not_mz);
    CHECK(empty_and_sound(a2));
    CHECK(empty_and_sound(b2));
    CHECK(data2.file.mapped_views() == 0);
  }
}

TEST_CASE(
    "saved_system: the sections the caller's handles keep are saved whole, "
    "views or none, and a load gives back a handle for each, with its "
    "access, and the name it keeps") {
  using space = emu_space<arch::x86_64>;
  emu_machine m{4096};
  test_file data{pattern(8 * page_size, 5), true};
  test_file dll{small_dll(), false};
  space a{m.sys};
  // A named page-file section: pages 0 and 2 written through a view since
  // unmapped, page 5 through a view still mapped.
  section_handle shm, shm_read, rsv, dat, img;
  REQUIRE(create_section(m.sys, shm, section_access::all_access, "guest shm", 0,
                         8 * page_size, page::readwrite,
                         sec::commit) == status::success);
  REQUIRE(open_section(m.sys, shm_read, section_access::map_read,
                       "guest shm") == status::success);
  vaddr v1{0}, v2{0};
  std::uint64_t size = 0;
  REQUIRE(a.map_view(shm, v1, size, 0, 0, page::readwrite) == status::success);
  poke(a, v1, 0x1000);
  poke(a, v1 + 2 * page_size, 0x1002);
  REQUIRE(a.unmap_view(v1) == status::success);
  size = 0;
  REQUIRE(a.map_view(shm, v2, size, 0, 0, page::readwrite) == status::success);
  poke(a, v2 + 5 * page_size, 0x1005);
  // SEC_RESERVE: pages 3 and 4 committed through a view since unmapped,
  // page 3 written.
  REQUIRE(create_section(m.sys, rsv, section_access::all_access, nullptr, 0,
                         16 * page_size, page::readwrite,
                         sec::reserve) == status::success);
  vaddr r{0};
  size = 0;
  REQUIRE(a.map_view(rsv, r, size, 0, 0, page::readwrite) == status::success);
  vaddr at = r + 3 * page_size;
  size = 2 * page_size;
  REQUIRE(a.allocate(at, size, mem::commit, page::readwrite) ==
          status::success);
  poke(a, r + 3 * page_size, 0x2003);
  REQUIRE(a.unmap_view(r) == status::success);
  // A data file's page written through a view since unmapped (its frame
  // modified: the file lacks it), and an image no view maps.
  REQUIRE(create_section(m.sys, dat, section_access::all_access, nullptr, 0, 0,
                         page::readwrite, sec::commit,
                         &data.file) == status::success);
  vaddr d{0};
  size = 0;
  REQUIRE(a.map_view(dat, d, size, 0, 0, page::readwrite) == status::success);
  poke(a, d + page_size, 0x3001);
  REQUIRE(a.unmap_view(d) == status::success);
  REQUIRE(create_section(m.sys, img, section_access::all_access, nullptr, 0, 0,
                         page::execute_writecopy, sec::image,
                         &dll.file) == status::success);

  const std::array<section_handle, 5> held{shm, rsv, dat, img, shm_read};
  std::vector<std::byte> file;
  REQUIRE(emu::save_system<space>({&a}, file, {&data.file, &dll.file}, held) ==
          status::success);
  // Page 5 travels once, with the section: the view's record has no bytes.
  // The bytes: shm's three pages, rsv's page 3, dat's page 1 (unless the
  // modified page writer wrote it to the file already).
  CHECK(file.size() < 6 * page_size);
  CHECK(file.size() > 4 * page_size);

  // Loaded over copies of the files (as written now) on a new system.
  emu_machine m2{4096};
  test_file data2{data.bytes, true};
  test_file dll2{dll.bytes, false};
  space a2{m2.sys};
  std::vector<section_handle> back;
  REQUIRE(emu::load_system<space>(file, {&a2}, {&data2.file, &dll2.file},
                                  &back) == status::success);
  CHECK(a2.check_invariants());
  CHECK(m2.sys.commit_charge() == m.sys.commit_charge());
  REQUIRE(back.size() == 5);
  CHECK(back[0].object == back[4].object);
  CHECK(back[0].access == section_access::all_access);
  CHECK(back[4].access == section_access::map_read);
  CHECK(back[0].object->handles() == 2);
  CHECK(back[0].object->views() == 1);  // the view at v2
  CHECK(back[2].object->file() == &data2.file);
  CHECK(back[3].object->is_image());
  // The name is back with the handles.
  section_handle named;
  REQUIRE(open_section(m2.sys, named, section_access::map_read, "guest shm") ==
          status::success);
  CHECK(named.object == back[0].object);
  close_section(m2.sys, named);

  CHECK(peek(a2, v2 + 5 * page_size) == 0x1005);
  vaddr w{0};
  size = 0;
  REQUIRE(a2.map_view(back[4], w, size, 0, 0, page::readonly) ==
          status::success);
  CHECK(peek(a2, w) == 0x1000);
  CHECK(peek(a2, w + page_size) == 0);
  CHECK(peek(a2, w + 2 * page_size) == 0x1002);
  CHECK(peek(a2, w + 5 * page_size) == 0x1005);
  REQUIRE(a2.unmap_view(w) == status::success);

  w = vaddr{0};
  size = 0;
  REQUIRE(a2.map_view(back[1], w, size, 0, 0, page::readwrite) ==
          status::success);
  memory_basic_information info;
  REQUIRE(a2.query(w, info) == status::success);
  CHECK(info.state == mem::reserve);
  CHECK(info.region_size == 3 * page_size);
  REQUIRE(a2.query(w + 3 * page_size, info) == status::success);
  CHECK(info.state == mem::commit);
  CHECK(info.region_size == 2 * page_size);
  CHECK(peek(a2, w + 3 * page_size) == 0x2003);
  CHECK(peek(a2, w + 4 * page_size) == 0);
  REQUIRE(a2.unmap_view(w) == status::success);

  w = vaddr{0};
  size = 0;
  REQUIRE(a2.map_view(back[2], w, size, 0, 0, page::readonly) ==
          status::success);
  CHECK(peek(a2, w + page_size) == 0x3001);
  REQUIRE(a2.unmap_view(w) == status::success);
  w = vaddr{0};
  size = 0;
  REQUIRE(a2.map_view(back[3], w, size, 0, 0, page::readonly) ==
          status::success);
  CHECK((peek(a2, w) & 0xFFFF) == 0x5A4D);  // "MZ"
  REQUIRE(a2.unmap_view(w) == status::success);

  // The handles go; the section the view maps stays, without its name.
  for (section_handle& h : back) close_section(m2.sys, h);
  CHECK(m2.sys.sections().live == 1);
  section_handle gone;
  CHECK(open_section(m2.sys, gone, section_access::map_read, "guest shm") ==
        status::object_name_not_found);
  CHECK(a2.check_invariants());

  // Loaded without asking for handles: only the mapped section stays.
  emu_machine m3{4096};
  test_file data3{data.bytes, true};
  space a3{m3.sys};
  REQUIRE(emu::load_system<space>(file, {&a3}, {&data3.file, &dll2.file}) ==
          status::success);
  CHECK(m3.sys.sections().live == 1);
  CHECK(peek(a3, v2 + 5 * page_size) == 0x1005);
  CHECK(a3.check_invariants());

  // A null handle is refused.
  const std::array<section_handle, 1> null_handle{};
  CHECK(emu::save_system<space>({&a}, file, {&data.file, &dll.file},
                                null_handle) == status::invalid_parameter);
  // So is a handle to another system's section (m3 still holds one).
  section_handle elsewhere;
  REQUIRE(create_section(m3.sys, elsewhere, section_access::all_access, nullptr,
                         0, page_size, page::readwrite,
                         sec::commit) == status::success);
  const std::array<section_handle, 1> foreign{elsewhere};
  CHECK(emu::save_system<space>({&a}, file, {&data.file, &dll.file}, foreign) ==
        status::invalid_handle);
  close_section(m3.sys, elsewhere);

  for (section_handle* h : {&shm, &shm_read, &rsv, &dat, &img})
    close_section(m.sys, *h);
}

TEST_CASE(
    "saved_system: every truncation and many corruptions give a "
    "status and leave the spaces empty") {
  using space = emu_space<arch::x86_64>;
  varied_system<arch::x86_64> w;
  std::vector<std::byte> file;
  // The section saved whole too, for its handle.
  const std::array<section_handle, 1> held{w.h};
  REQUIRE(emu::save_system<space>({&w.a, &w.b}, file, {}, held) ==
          status::success);
  emu_machine m2{2048};
  space a{m2.sys}, b{m2.sys};

  // Cut: at every length of the structure around the first pages, then a
  // stride; each with the checksum as it falls and with one made to fit.
  for (std::size_t n = 0; n < file.size(); n += n < 400 ? 1 : 397 + (n % 7)) {
    CAPTURE(n);
    std::vector<std::byte> cut(file.begin(),
                               file.begin() + static_cast<std::ptrdiff_t>(n));
    REQUIRE(emu::load_system<space>(cut, {&a, &b}) != status::success);
    REQUIRE(empty_and_sound(a));
    REQUIRE(empty_and_sound(b));
    cut.resize(n + 8);  // a trailer that fits the cut body
    REQUIRE(emu::load_system<space>(fix_sum(cut), {&a, &b}) != status::success);
    REQUIRE(empty_and_sound(a));
    REQUIRE(empty_and_sound(b));
  }

  // One byte changed: the checksum catches it; with the checksum made to
  // fit, the loader gives a status or a sound system.
  for (std::size_t at = 0; at + 8 < file.size();
       at += at < 400 ? 1 : 797 + (at % 13)) {
    CAPTURE(at);
    for (std::uint8_t x : {at % 2 ? std::uint8_t{0x01} : std::uint8_t{0x80},
                           std::uint8_t{0xFF}}) {
      std::vector<std::byte> bad = file;
      bad[at] ^= std::byte{x};
      REQUIRE(emu::load_system<space>(bad, {&a, &b}) != status::success);
      REQUIRE(empty_and_sound(a));
      REQUIRE(empty_and_sound(b));
      auto a2 = std::make_unique<space>(m2.sys);
      auto b2 = std::make_unique<space>(m2.sys);
      std::vector<section_handle> back;
      if (emu::load_system<space>(fix_sum(bad), {a2.get(), b2.get()}, {},
                                  &back) == status::success) {
        REQUIRE(a2->check_invariants());
        REQUIRE(b2->check_invariants());
        for (section_handle& h : back) close_section(m2.sys, h);
      } else {
        REQUIRE(back.empty());
        REQUIRE(empty_and_sound(*a2));
        REQUIRE(empty_and_sound(*b2));
      }
    }
  }
}

TEST_SUITE_END();
