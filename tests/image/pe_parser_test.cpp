// The PE parser (include/mmkit/section/pe_image.hpp) against images from
// the test builder (pe_builder.hpp) and from the mingw-w64 cross compilers
// (tests/image/pe/, built by pe_images.cmake): fields, layout, relocations,
// every malformed case with its status, and robustness sweeps.

#include <mmkit/section/backing_store.hpp>
#include <mmkit/section/pe_image.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/pe_builder.hpp"

namespace {

using namespace pe_test;
using mmkit::memory_store;
using mmkit::status;
using mmkit::store_ref;
namespace pe = mmkit::pe;
namespace mm = mmkit::mm;

// The statuses by value, so that the tests do not depend on their names.
constexpr status success = status::success;
constexpr status not_mz = static_cast<status>(0xC000012Fu);
constexpr status bad_format = static_cast<status>(0xC000007Bu);
constexpr status empty_file = static_cast<status>(0xC0000020u);

/// A file, a store over it and what parse made of it.
class opened {
 public:
  explicit opened(bytes b)
      : file_(std::move(b)),
        store_(file_.data(), file_.size(), file_.size(), false),
        ref_(store_) {
    status_ = pe::parse(ref_, *info_);
  }
  opened(const opened&) = delete;
  opened& operator=(const opened&) = delete;

  status result() const { return status_; }
  const pe::image_info& info() const { return *info_; }
  const store_ref& ref() const { return ref_; }
  const bytes& file() const { return file_; }

  std::vector<fixup> fixups(status* st = nullptr) const {
    std::vector<fixup> out;
    const status s = pe::for_each_relocation(
        ref_, *info_, [&](std::uint32_t rva, unsigned type) {
          out.push_back({rva, type});
        });
    if (st != nullptr) *st = s;
    return out;
  }

 private:
  bytes file_;
  memory_store store_;
  store_ref ref_;
  std::unique_ptr<pe::image_info> info_ = std::make_unique<pe::image_info>();
  status status_ = status::unsuccessful;
};

status parse_status(const bytes& b) {
  return opened(b).result();
}

/// The image as parse and read_image see it: every committed page read,
/// uncommitted ones zero. Counts the committed pages.
bytes read_whole(const opened& o, std::size_t* committed = nullptr) {
  const std::uint64_t size = round_up(o.info().size_of_image, page);
  bytes out(size, std::byte{0xCC});  // read_image must write every byte
  std::size_t pages = 0;
  for (std::uint64_t at = 0; at < size; at += page) {
    const status st = pe::read_image(o.ref(), o.info(), at, out.data() + at,
                                     static_cast<std::size_t>(page));
    if (st == success) {
      ++pages;
    } else {
      CHECK(st == bad_format);
      std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(at), page,
                  std::byte{0});
    }
  }
  if (committed != nullptr) *committed = pages;
  return out;
}

/// Committed pages by the plain reading of the headers: header pages and
/// each section's VirtualSize rounded up to a page (all of SizeOfImage for
/// a flat image).
std::size_t committed_pages(const bytes& file) {
  const plain_headers h = read_headers(file);
  if (h.section_alignment < page) return round_up(h.size_of_image, page) / page;
  std::size_t n = round_up(h.size_of_headers, page) / page;
  for (const auto& s : h.sections) n += round_up(s.vsize, page) / page;
  return n;
}

/// Applies the fixups parse's walk reports to `image` for a move by delta.
void apply(bytes& image, const std::vector<fixup>& fixups,
           std::uint64_t delta) {
  for (const fixup& x : fixups) {
    switch (x.type) {
      case rel_high:
        put(image, x.rva,
            (get(image, x.rva, 2) + ((delta >> 16) & 0xFFFF)) & 0xFFFF, 2);
        break;
      case rel_low: put(image, x.rva, get(image, x.rva, 2) + delta, 2); break;
      case rel_highlow:
        put(image, x.rva, get(image, x.rva, 4) + delta, 4);
        break;
      case rel_dir64: put(image, x.rva, get(image, x.rva, 8) + delta, 8); break;
      default: FAIL("unexpected relocation type " << x.type);
    }
  }
}

/// Everything a successful parse must agree on with the independent
/// reading: layout bytes, committed pages, fixups, and relocated bytes.
void check_against_reference(const opened& o, std::uint64_t new_base) {
  REQUIRE(o.result() == success);
  std::size_t pages = 0;
  const bytes laid_out = read_whole(o, &pages);
  CHECK(pages == committed_pages(o.file()));
  CHECK(laid_out == expected_image(o.file(), o.info().image_base));

  status st = status::unsuccessful;
  const std::vector<fixup> walked = o.fixups(&st);
  REQUIRE(st == success);
  CHECK(walked == relocation_fixups(o.file()));
  CHECK(pe::validate_relocations(o.ref(), o.info()) == success);

  bytes moved = laid_out;
  apply(moved, walked, new_base - o.info().image_base);
  CHECK(moved == expected_image(o.file(), new_base));
}

/// A compact image of every section kind, under 4 KiB (corpus seeds).
image_spec small_spec(bool pe32_plus) {
  image_spec s;
  s.pe32_plus = pe32_plus;
  s.image_base = pe32_plus ? 0x140000000 : 0x400000;
  s.entry_point = 0x1000;
  s.sections.push_back({".text", text_flags, pattern(0x40, 11), 0});
  s.sections.push_back({".rdata", rdata_flags, pattern(0x40, 12), 0});
  s.sections.push_back({".data", data_flags, pattern(0x40, 13), 0});
  s.sections.push_back(
      {".shared", data_flags | scn_shared, pattern(0x20, 14), 0});
  s.sections.push_back({".bss", bss_flags, {}, 0x1800});
  const unsigned ptr = pe32_plus ? rel_dir64 : rel_highlow;
  s.relocations = {{0x1008, rel_highlow}, {0x2000, ptr},     {0x3010, ptr},
                   {0x3020, rel_high},    {0x3022, rel_low}, {0x4000, ptr}};
  return s;
}

/// A flat image: SectionAlignment == FileAlignment == 0x20.
image_spec flat_spec() {
  image_spec s;
  s.pe32_plus = false;
  s.image_base = 0x10000000;
  s.section_alignment = 0x20;
  s.file_alignment = 0x20;
  s.sections.push_back({".text", text_flags, pattern(0x40, 21), 0});
  s.sections.push_back({".data", data_flags, pattern(0x60, 22), 0});
  return s;
}

image_spec no_section_spec() {
  image_spec s;
  s.pe32_plus = true;
  return s;
}

/// The corpus seeds: name and image.
std::vector<std::pair<std::string, bytes>> corpus_seeds() {
  std::vector<std::pair<std::string, bytes>> out;
  out.emplace_back("pe64_small", build(small_spec(true)).data);
  out.emplace_back("pe32_small", build(small_spec(false)).data);
  out.emplace_back("pe32_flat", build(flat_spec()).data);
  out.emplace_back("pe64_no_sections", build(no_section_spec()).data);
  image_spec big_align = small_spec(false);
  big_align.section_alignment = 0x2000;
  for (auto& r : big_align.relocations)
    r.rva = r.rva / 0x1000 * 0x2000 + r.rva % 0x1000;
  out.emplace_back("pe32_align_2000", build(big_align).data);
  return out;
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

TEST_SUITE("image") {
  TEST_CASE(
      "pe_image: built PE32+ and PE32 images parse with the fields written") {
    for (const bool plus : {true, false}) {
      CAPTURE(plus);
      const image_spec spec = sample_spec(plus);
      const opened o(build(spec).data);
      REQUIRE(o.result() == success);
      const pe::image_info& i = o.info();
      CHECK(i.machine == (plus ? 0x8664 : 0x14C));
      CHECK(i.pe32_plus == plus);
      CHECK_FALSE(i.mapped_flat);
      CHECK(i.image_base == spec.image_base);
      CHECK(i.section_alignment == 0x1000);
      CHECK(i.file_alignment == 0x200);
      CHECK(i.size_of_headers == 0x400);
      CHECK(i.size_of_image == 0xC000);
      CHECK(i.entry_point == 0x1010);
      CHECK(i.stack_reserve == spec.stack_reserve);
      CHECK(i.stack_commit == spec.stack_commit);
      CHECK(i.subsystem == 3);
      CHECK(i.subsystem_major == 6);
      CHECK(i.subsystem_minor == 0);
      CHECK((i.characteristics & file_dll) != 0);
      CHECK(i.dll_characteristics == 0x140);
      CHECK_FALSE(i.relocations_stripped);
      CHECK(i.file_size == o.file().size());
      CHECK(i.relocation_directory.rva == 0xB000);
      CHECK(i.relocation_directory.size ==
            relocation_blocks(spec.relocations).size());
      REQUIRE(i.section_count == 6);
      const char* names[] = {".text",   ".rdata", ".data",
                             ".shared", ".bss",   ".reloc"};
      const std::uint32_t vas[] = {0x1000, 0x2000, 0x4000,
                                   0x7000, 0x8000, 0xB000};
      for (std::uint32_t k = 0; k < 6; ++k) {
        CAPTURE(k);
        CHECK(std::string(i.sections[k].name) == names[k]);
        CHECK(i.sections[k].virtual_address == vas[k]);
      }
      CHECK(i.sections[2].virtual_size == 0x2400);
      CHECK(i.sections[2].raw_size == 0x200);
      CHECK(i.sections[4].raw_offset == 0);  // .bss: no raw data
      CHECK(i.sections[4].raw_size == 0);
      CHECK(i.sections[4].virtual_size == 0x3000);
      CHECK(pe::section_protection(i.sections[0].characteristics) ==
            mm::execute_read);
      CHECK(pe::section_protection(i.sections[1].characteristics) ==
            mm::readonly);
      CHECK(pe::section_protection(i.sections[2].characteristics) ==
            mm::writecopy);
      CHECK(pe::section_protection(i.sections[3].characteristics) ==
            mm::readwrite);
      check_against_reference(o, plus ? 0x7FF612340000 : 0x22340000);
    }
  }

  TEST_CASE("pe_image: a section's protection follows NT's image table") {
    // Index: X = 1, R = 2, W = 4, SHARED = 8 (the table's order of columns).
    const std::uint8_t expected[16] = {
        mm::noaccess,         mm::execute,           mm::readonly,
        mm::execute_read,     mm::writecopy,         mm::execute_writecopy,
        mm::writecopy,        mm::execute_writecopy, mm::noaccess,
        mm::execute,          mm::readonly,          mm::execute_read,
        mm::readwrite,        mm::execute_readwrite, mm::readwrite,
        mm::execute_readwrite};
    for (unsigned k = 0; k < 16; ++k) {
      std::uint32_t c = scn_initialized_data;  // content flags do not count
      if (k & 1) c |= scn_execute;
      if (k & 2) c |= scn_read;
      if (k & 4) c |= scn_write;
      if (k & 8) c |= scn_shared;
      CAPTURE(k);
      CHECK(pe::section_protection(c) == expected[k]);
    }
  }

  TEST_CASE("pe_image: layouts with padding, flat images and no sections") {
    SUBCASE("SectionAlignment over a page reserves the padding") {
      image_spec s = small_spec(true);
      s.section_alignment = 0x4000;
      for (auto& r : s.relocations)
        r.rva = r.rva / 0x1000 * 0x4000 + r.rva % 0x1000;
      const opened o(build(s).data);
      REQUIRE(o.result() == success);
      CHECK(o.info().sections[0].virtual_address == 0x4000);
      // The headers' second page is padding: not committed.
      std::byte b[4];
      CHECK(pe::read_image(o.ref(), o.info(), 0x1000, b, 4) == bad_format);
      CHECK(pe::read_image(o.ref(), o.info(), 0xFFE, b, 4) == bad_format);
      CHECK(pe::read_image(o.ref(), o.info(), 0xFFC, b, 4) == success);
      check_against_reference(o, 0x150000000);
      // A fixup in .text's padding (0x5000 to 0x8000) is refused.
      pe_file f = build(s);
      const std::size_t raw =
          f.get32(f.section_header(5) + field::pointer_to_raw_data);
      CHECK(f.get32(raw) == 0x4000);  // the first block: .text's page
      f.put32(raw, 0x5000);
      f.put16(raw + 8, 0x3010);  // HIGHLOW at 0x5010
      const opened bad(f.data);
      REQUIRE(bad.result() == success);
      CHECK(pe::validate_relocations(bad.ref(), bad.info()) == bad_format);
      // So is one whose bytes run from .text's last page into the padding.
      f.put32(raw, 0x4000);
      f.put16(raw + 8, 0xAFFC);  // DIR64 at 0x4FFC
      const opened straddling(f.data);
      REQUIRE(straddling.result() == success);
      CHECK(pe::validate_relocations(straddling.ref(), straddling.info()) ==
            bad_format);
    }
    SUBCASE("a flat image is the file at its own offsets") {
      const opened o(build(flat_spec()).data);
      REQUIRE(o.result() == success);
      CHECK(o.info().mapped_flat);
      CHECK(o.info().sections[0].virtual_address ==
            o.info().sections[0].raw_offset);
      check_against_reference(o, 0x20000000);
    }
    SUBCASE("a flat image's sections must sit at their file offsets") {
      pe_file f = build(flat_spec());
      f.put32(f.section_header(1) + field::virtual_address,
              f.get32(f.section_header(1) + field::virtual_address) + 0x20);
      CHECK(parse_status(f.data) == bad_format);
    }
    SUBCASE("a flat image's raw data must cover VirtualSize") {
      pe_file f = build(flat_spec());
      f.put32(f.section_header(1) + field::virtual_size, 0x61);
      CHECK(parse_status(f.data) == bad_format);
    }
    SUBCASE("an image of headers only") {
      const opened o(build(no_section_spec()).data);
      REQUIRE(o.result() == success);
      CHECK(o.info().section_count == 0);
      CHECK(o.info().size_of_image == 0x1000);
      check_against_reference(o, 0x190000000);
    }
    SUBCASE("a SectionAlignment under a page needs an equal FileAlignment") {
      image_spec s = flat_spec();
      s.section_alignment = 0x200;
      s.file_alignment = 0x200;
      pe_file f = build(s);
      CHECK(parse_status(f.data) == success);
      f.put32(f.optional + field::section_alignment, 0x800);
      CHECK(parse_status(f.data) == bad_format);
    }
    SUBCASE("SizeOfHeaders past a file of headers only is refused") {
      pe_file f = build(no_section_spec());
      CHECK(f.data.size() == 0x200);
      f.put32(f.optional + field::size_of_headers, 0x800);
      CHECK(parse_status(f.data) == bad_format);
    }
    SUBCASE("headers rounded to SectionAlignment past SizeOfImage") {
      image_spec s = no_section_spec();
      s.section_alignment = 0x2000;
      pe_file f = build(s);
      CHECK(parse_status(f.data) == success);  // SizeOfImage 0x2000
      f.put32(f.optional + field::size_of_image, 0x1000);
      CHECK(parse_status(f.data) == bad_format);
    }
    SUBCASE("an e_lfanew off 4 bytes is refused, headers intact") {
      image_spec s = small_spec(true);
      s.dos_stub = 0x82;
      CHECK(parse_status(build(s).data) == bad_format);
      s.dos_stub = 0x84;
      CHECK(parse_status(build(s).data) == success);
    }
    SUBCASE("a section table past SizeOfImage is refused") {
      // e_lfanew 0x3000 puts the table at 0x3108, SizeOfHeaders says 0x200:
      // the one section at 0x1000 ends the image at 0x2000.
      image_spec s;
      s.dos_stub = 0x3000;
      s.sections.push_back({".d", data_flags, pattern(0x10, 5), 0});
      pe_file f = build(s);
      f.put32(f.optional + field::size_of_headers, 0x200);
      f.put32(f.section_header(0) + field::virtual_address, 0x1000);
      f.put32(f.optional + field::size_of_image, 0x2000);
      CHECK(parse_status(f.data) == bad_format);
      f.put32(f.optional + field::size_of_image, 0x4000);
      CHECK(parse_status(f.data) == success);
    }
    SUBCASE("SizeOfOptionalHeader short of NumberOfRvaAndSizes is refused") {
      // The table moved to follow a 100-byte optional header, so that only
      // the size is wrong.
      for (const bool plus : {true, false}) {
        CAPTURE(plus);
        pe_file f = build(small_spec(plus));
        const std::size_t n = 6 * 40;
        const std::size_t to = f.optional + 90;
        std::memmove(f.data.data() + to, f.data.data() + f.section_table, n);
        f.put16(f.nt + field::size_of_optional_header, 90);
        CHECK(parse_status(f.data) == bad_format);
      }
    }
    SUBCASE("96 sections are taken, 97 refused") {
      image_spec s;
      for (int k = 0; k < 96; ++k)
        s.sections.push_back({".d", data_flags, pattern(0x10, k), 0});
      const opened o(build(s).data);
      CHECK(o.result() == success);
      CHECK(o.info().section_count == 96);
      s.sections.push_back({".d", data_flags, pattern(0x10, 97), 0});
      CHECK(parse_status(build(s).data) == bad_format);
    }
    SUBCASE("VirtualSize 0 takes SizeOfRawData") {
      pe_file f = build(small_spec(true));
      f.put32(f.section_header(0) + field::virtual_size, 0);
      const opened o(f.data);
      REQUIRE(o.result() == success);
      CHECK(o.info().sections[0].virtual_size == 0x200);
    }
    SUBCASE("raw data with PointerToRawData 0 is no raw data") {
      pe_file f = build(small_spec(true));
      f.put32(f.section_header(1) + field::pointer_to_raw_data, 0);
      const opened o(f.data);
      REQUIRE(o.result() == success);
      CHECK(o.info().sections[1].raw_size == 0);
      CHECK(o.info().sections[1].raw_offset == 0);
      check_against_reference(o, 0x150000000);
    }
    SUBCASE("an earlier section cut at end-of-file reads zero after it") {
      // Move .data's raw data to the file's last 0x100 bytes and make it
      // 0x200 long: it runs 0x100 past the end. The last section stays whole.
      pe_file f = build(small_spec(true));
      const std::size_t h = f.section_header(2);
      f.put32(h + field::pointer_to_raw_data,
              static_cast<std::uint32_t>(f.data.size() - 0x100));
      const opened o(f.data);
      REQUIRE(o.result() == success);
      CHECK(o.info().sections[2].raw_size == 0x100);
      check_against_reference(o, 0x150000000);
    }
    SUBCASE("a section table past SizeOfHeaders is taken") {
      image_spec s = small_spec(false);
      s.dos_stub =
          0x200;  // the table ends at 0x200 + 24 + 224 + 6 * 40 = 0x3E8
      pe_file f = build(s);
      f.put32(f.optional + field::size_of_headers, 0x300);
      const opened o(f.data);
      CHECK(o.result() == success);
    }
  }

  TEST_CASE("pe_image: malformed files get NT's status") {
    struct row {
      const char* what;
      bool pe32_plus;
      std::function<void(pe_file&)> poke;
      status expected;
    };
    const auto opt32 = [](pe_file& f, std::size_t at, std::uint32_t v) {
      f.put32(f.optional + at, v);
    };
    const auto sec32 = [](pe_file& f, std::size_t i, std::size_t at,
                          std::uint32_t v) {
      f.put32(f.section_header(i) + at, v);
    };
    const std::vector<row> rows = {
        {"the valid image", true, [](pe_file&) {}, success},
        {"the valid PE32 image", false, [](pe_file&) {}, success},
        {"an empty file", true, [](pe_file& f) { f.data.clear(); }, empty_file},
        {"one byte", true, [](pe_file& f) { f.data.resize(1); }, not_mz},
        {"shorter than a DOS header", true,
         [](pe_file& f) { f.data.resize(63); }, not_mz},
        {"a text file", true,
         [](pe_file& f) {
           const std::string text(200, 'x');
           f.data.assign(text.size(), std::byte{'x'});
         },
         not_mz},
        {"ZM for MZ", true, [](pe_file& f) { f.put16(0, 0x4D5A); }, not_mz},
        {"e_lfanew 0", true, [](pe_file& f) { f.put32(field::e_lfanew, 0); },
         bad_format},
        {"e_lfanew past the file", true,
         [](pe_file& f) { f.put32(field::e_lfanew, 0x100000); }, bad_format},
        {"e_lfanew negative", true,
         [](pe_file& f) { f.put32(field::e_lfanew, 0x80000080u); }, bad_format},
        {"e_lfanew not 4-aligned", true,
         [](pe_file& f) { f.put32(field::e_lfanew, 0x82); }, bad_format},
        {"e_lfanew at the file's last bytes", true,
         [](pe_file& f) {
           f.put32(field::e_lfanew,
                   static_cast<std::uint32_t>(f.data.size() - 8));
         },
         bad_format},
        {"PE\\0\\1 signature", true,
         [](pe_file& f) { f.put32(f.nt, 0x01004550); }, bad_format},
        {"NE signature", false, [](pe_file& f) { f.put32(f.nt, 0x454E); },
         bad_format},
        {"cut inside the file header", true,
         [](pe_file& f) { f.data.resize(f.nt + 12); }, bad_format},
        {"cut inside the optional header", true,
         [](pe_file& f) { f.data.resize(f.optional + 100); }, bad_format},
        {"ROM optional header magic", true,
         [](pe_file& f) { f.put16(f.optional, 0x107); }, bad_format},
        {"PE32+ magic with an i386 machine", true,
         [](pe_file& f) { f.put16(f.nt + field::machine, machine_i386); },
         bad_format},
        {"PE32 magic with an AMD64 machine", false,
         [](pe_file& f) { f.put16(f.nt + field::machine, machine_amd64); },
         bad_format},
        {"an ARM64 machine", true,
         [](pe_file& f) { f.put16(f.nt + field::machine, 0xAA64); },
         bad_format},
        {"SizeOfOptionalHeader 0", true,
         [](pe_file& f) { f.put16(f.nt + field::size_of_optional_header, 0); },
         bad_format},
        {"SizeOfOptionalHeader short of NumberOfRvaAndSizes", true,
         [](pe_file& f) {
           f.put16(f.nt + field::size_of_optional_header, 111);
         },
         bad_format},
        {"SizeOfOptionalHeader short of NumberOfRvaAndSizes (PE32)", false,
         [](pe_file& f) { f.put16(f.nt + field::size_of_optional_header, 95); },
         bad_format},
        {"SizeOfOptionalHeader past the file", true,
         [](pe_file& f) {
           f.put16(f.nt + field::size_of_optional_header, 0xFFF0);
         },
         bad_format},
        {"SectionAlignment 0", true,
         [&](pe_file& f) { opt32(f, field::section_alignment, 0); },
         bad_format},
        {"SectionAlignment not a power of two", true,
         [&](pe_file& f) { opt32(f, field::section_alignment, 0x3000); },
         bad_format},
        {"FileAlignment 0", true,
         [&](pe_file& f) { opt32(f, field::file_alignment, 0); }, bad_format},
        {"FileAlignment not a power of two", true,
         [&](pe_file& f) { opt32(f, field::file_alignment, 0x300); },
         bad_format},
        {"FileAlignment under 512 with page sections", true,
         [&](pe_file& f) { opt32(f, field::file_alignment, 0x100); },
         bad_format},
        {"FileAlignment over SectionAlignment", true,
         [&](pe_file& f) { opt32(f, field::file_alignment, 0x2000); },
         bad_format},
        {"SectionAlignment under a page, FileAlignment different", false,
         [&](pe_file& f) { opt32(f, field::section_alignment, 0x800); },
         bad_format},
        {"SizeOfImage 0", true,
         [&](pe_file& f) { opt32(f, field::size_of_image, 0); }, bad_format},
        {"SizeOfImage over the largest image", true,
         [&](pe_file& f) { opt32(f, field::size_of_image, 0x77001000); },
         bad_format},
        {"SizeOfImage short of the last section", true,
         [&](pe_file& f) { opt32(f, field::size_of_image, 0xB000); },
         bad_format},
        {"SizeOfImage a page past the sections (taken)", true,
         [&](pe_file& f) { opt32(f, field::size_of_image, 0xD000); }, success},
        {"SizeOfImage not page-aligned (taken)", true,
         [&](pe_file& f) { opt32(f, field::size_of_image, 0xC001); }, success},
        {"ImageBase not 64K-aligned", true,
         [](pe_file& f) {
           f.put64(f.optional + field::image_base_pe32_plus, 0x180001000);
         },
         bad_format},
        {"ImageBase not 64K-aligned (PE32)", false,
         [](pe_file& f) {
           f.put32(f.optional + field::image_base_pe32, 0x10008000);
         },
         bad_format},
        {"SizeOfHeaders 0", true,
         [&](pe_file& f) { opt32(f, field::size_of_headers, 0); }, bad_format},
        {"SizeOfHeaders past the file", true,
         [&](pe_file& f) {
           opt32(f, field::size_of_headers,
                 static_cast<std::uint32_t>(f.data.size() + 1));
         },
         bad_format},
        {"SizeOfHeaders past the first section", true,
         [&](pe_file& f) { opt32(f, field::size_of_headers, 0x1200); },
         bad_format},
        {"SizeOfHeaders past SizeOfImage", true,
         [&](pe_file& f) {
           opt32(f, field::size_of_headers, 0x400);
           opt32(f, field::size_of_image, 0x200);
         },
         bad_format},
        {"NumberOfSections 97", true,
         [](pe_file& f) { f.put16(f.nt + field::number_of_sections, 97); },
         bad_format},
        {"a section table past the file", true,
         [](pe_file& f) {
           f.put32(field::e_lfanew, 0x80);
           f.data.resize(f.section_header(3));
           f.put32(f.optional + field::size_of_headers, 0x200);
         },
         bad_format},
        {"a section of no size", true,
         [&](pe_file& f) {
           sec32(f, 5, field::virtual_size, 0);
           sec32(f, 5, field::size_of_raw_data, 0);
         },
         bad_format},
        {"overlapping sections", true,
         [&](pe_file& f) { sec32(f, 1, field::virtual_address, 0x1000); },
         bad_format},
        {"sections out of order", true,
         [&](pe_file& f) {
           sec32(f, 0, field::virtual_address, 0x2000);
           sec32(f, 1, field::virtual_address, 0x1000);
         },
         bad_format},
        {"a gap between sections", true,
         [&](pe_file& f) {
           for (std::size_t i = 1; i < 6; ++i)
             sec32(f, i, field::virtual_address,
                   f.get32(f.section_header(i) + field::virtual_address) +
                       0x1000);
           opt32(f, field::size_of_image, 0xD000);
         },
         bad_format},
        {"a gap after the headers", true,
         [&](pe_file& f) {
           for (std::size_t i = 0; i < 6; ++i)
             sec32(f, i, field::virtual_address,
                   f.get32(f.section_header(i) + field::virtual_address) +
                       0x1000);
           opt32(f, field::size_of_image, 0xD000);
         },
         bad_format},
        {"a VirtualAddress off SectionAlignment", true,
         [&](pe_file& f) { sec32(f, 1, field::virtual_address, 0x2200); },
         bad_format},
        {"a VirtualSize past 4 GiB", true,
         [&](pe_file& f) { sec32(f, 5, field::virtual_size, 0xFFFFF001u); },
         bad_format},
        {"a section past SizeOfImage", true,
         [&](pe_file& f) { sec32(f, 5, field::virtual_size, 0x1001); },
         bad_format},
        {"raw data whose end overflows 32 bits", true,
         [&](pe_file& f) {
           sec32(f, 0, field::pointer_to_raw_data, 0xFFFFFE00u);
           sec32(f, 0, field::size_of_raw_data, 0x400);
         },
         bad_format},
        {"the last section's raw data past the file", true,
         [&](pe_file& f) {
           sec32(
               f, 5, field::size_of_raw_data,
               f.get32(f.section_header(5) + field::size_of_raw_data) + 0x200);
         },
         bad_format},
        {"the file cut inside the last section", true,
         [](pe_file& f) { f.data.resize(f.data.size() - 1); }, bad_format},
        {"an earlier section's raw data past the file (taken)", true,
         [&](pe_file& f) { sec32(f, 0, field::pointer_to_raw_data, 0x100000); },
         success},
    };
    for (const row& r : rows) {
      CAPTURE(r.what);
      pe_file f = build(sample_spec(r.pe32_plus));
      r.poke(f);
      const opened o(f.data);
      CHECK(o.result() == r.expected);
      if (r.expected == success) {
        CHECK(pe::validate_relocations(o.ref(), o.info()) == success);
        std::size_t pages = 0;
        read_whole(o, &pages);
        CHECK(pages == committed_pages(o.file()));
      }
    }
  }

  TEST_CASE("pe_image: relocations walk the table in file order") {
    for (const bool plus : {true, false}) {
      CAPTURE(plus);
      const image_spec spec = sample_spec(plus);
      const opened o(build(spec).data);
      REQUIRE(o.result() == success);
      status st = status::unsuccessful;
      const std::vector<fixup> walked = o.fixups(&st);
      REQUIRE(st == success);
      std::vector<fixup> written;
      for (const relocation& r : spec.relocations)
        written.push_back({r.rva, r.type});
      std::sort(written.begin(), written.end(),
                [](const fixup& a, const fixup& b) { return a.rva < b.rva; });
      CHECK(walked == written);
      // HIGH with a carry out of the low half, LOW, and moves both ways.
      for (const std::uint64_t base :
           {spec.image_base + 0x12348000, spec.image_base - 0x10000,
            spec.image_base + 0xFFFF0000}) {
        CAPTURE(hex(base));
        check_against_reference(o, base);
      }
    }
    SUBCASE("a callback's status stops the walk") {
      const opened o(build(sample_spec(true)).data);
      int calls = 0;
      const status st = pe::for_each_relocation(
          o.ref(), o.info(), [&](std::uint32_t, unsigned) {
            return ++calls == 3 ? status::access_denied : status::success;
          });
      CHECK(st == status::access_denied);
      CHECK(calls == 3);
    }
    SUBCASE("no directory, no calls") {
      image_spec s = sample_spec(true);
      s.relocations.clear();
      s.relocs_stripped = true;
      const opened o(build(s).data);
      REQUIRE(o.result() == success);
      CHECK(o.info().relocations_stripped);
      CHECK(o.info().relocation_directory.rva == 0);
      CHECK(o.fixups().empty());
    }
    SUBCASE("NumberOfRvaAndSizes 5 hides the directory") {
      pe_file f = build(sample_spec(true));
      f.put32(f.optional + field::number_of_rva_and_sizes_pe32_plus, 5);
      const opened o(f.data);
      REQUIRE(o.result() == success);
      CHECK(o.info().relocation_directory.size == 0);
    }
  }

  TEST_CASE("pe_image: malformed relocation tables are refused") {
    // The sample's .reloc: first block at 0xB000 (page 0x1000: 2 entries,
    // size 12), then page 0x2000, ...; the directory entry holds the size.
    struct row {
      const char* what;
      std::function<void(pe_file&, std::size_t reloc_raw)> poke;
      status expected;
    };
    const auto entry = [](pe_file& f, std::size_t raw, std::size_t k,
                          std::uint16_t v) { f.put16(raw + 8 + 2 * k, v); };
    const std::vector<row> rows = {
        {"the valid table", [](pe_file&, std::size_t) {}, success},
        {"HIGHADJ (4)",
         [&](pe_file& f, std::size_t raw) { entry(f, raw, 0, 0x4004); },
         bad_format},
        {"type 5",
         [&](pe_file& f, std::size_t raw) { entry(f, raw, 0, 0x5004); },
         bad_format},
        {"type 15",
         [&](pe_file& f, std::size_t raw) { entry(f, raw, 1, 0xF020); },
         bad_format},
        {"ABSOLUTE anywhere is padding",
         [&](pe_file& f, std::size_t raw) { entry(f, raw, 1, 0x0FFF); },
         success},
        {"a block size under 8",
         [](pe_file& f, std::size_t raw) { f.put32(raw + 4, 4); }, bad_format},
        {"a block size 0",
         [](pe_file& f, std::size_t raw) { f.put32(raw + 4, 0); }, bad_format},
        {"an odd block size",
         [](pe_file& f, std::size_t raw) { f.put32(raw + 4, 13); }, bad_format},
        {"an odd block size ending the directory",
         [](pe_file& f, std::size_t raw) {
           const std::uint32_t size = f.get32(f.directory(5) + 4);
           f.put32(f.directory(5) + 4, size - 1);
           f.put32(raw + size - 12 + 4, 11);  // the last block: 12 bytes
         },
         bad_format},
        {"a block past the directory",
         [](pe_file& f, std::size_t raw) { f.put32(raw + 4, 0x1000); },
         bad_format},
        {"a directory cut inside a block header",
         [](pe_file& f, std::size_t) { f.put32(f.directory(5) + 4, 12 + 4); },
         bad_format},
        {"a directory past SizeOfImage",
         [](pe_file& f, std::size_t) { f.put32(f.directory(5), 0xBFF0); },
         bad_format},
        {"a directory at SizeOfImage",
         [](pe_file& f, std::size_t) { f.put32(f.directory(5), 0xC000); },
         bad_format},
        {"a fixup past SizeOfImage",
         [](pe_file& f, std::size_t raw) { f.put32(raw, 0xBFFF000); },
         bad_format},
        {"a DIR64 fixup whose bytes end past SizeOfImage",
         [&](pe_file& f, std::size_t raw) {
           f.put32(raw, 0xB000);
           entry(f, raw, 0, 0xAFFC);
         },
         bad_format},
        {"a fixup in a section's last committed bytes",
         [&](pe_file& f, std::size_t raw) {
           f.put32(raw, 0x6000);  // .data ends at 0x7000
           entry(f, raw, 0, 0x3FFC);
         },
         success},
        {"SizeOfImage ending inside the directory",
         [](pe_file& f, std::size_t) {
           f.put32(f.optional + field::size_of_image, 0xB010);
         },
         bad_format},
        {"a LOW fixup on a section's last committed byte",
         [&](pe_file& f, std::size_t raw) {
           f.put32(raw, 0x6000);
           entry(f, raw, 0, 0x2FFF);
         },
         bad_format},
        {"a block address off a page boundary is used as written",
         [&](pe_file& f, std::size_t raw) { f.put32(raw, 0x1010); }, success},
        {"a fixup in the headers",
         [&](pe_file& f, std::size_t raw) {
           f.put32(raw, 0);
           entry(f, raw, 0, 0x3100);
         },
         success},
    };
    for (const row& r : rows) {
      CAPTURE(r.what);
      pe_file f = build(sample_spec(true));
      const std::size_t reloc_raw =
          f.get32(f.section_header(5) + field::pointer_to_raw_data);
      r.poke(f, reloc_raw);
      const opened o(f.data);
      REQUIRE(o.result() == success);
      CHECK(pe::validate_relocations(o.ref(), o.info()) == r.expected);
      if (r.expected == success) check_against_reference(o, 0x7FF000000000);
    }
  }

  TEST_CASE("pe_image: parse reads only through the store and only inside it") {
    // A store that records every read and can fail them.
    struct watching_store {
      const bytes* file = nullptr;
      std::uint64_t reads = 0, max_end = 0;
      bool fail = false;
      std::uint64_t size() const noexcept { return file->size(); }
      bool writable() const noexcept { return false; }
      const char* name() const noexcept { return "watched"; }
      status read(std::uint64_t off, void* out, std::size_t n) noexcept {
        ++reads;
        if (fail) return status::in_page_error;
        if (off > size() || n > size() - off) return status::invalid_parameter;
        std::memcpy(out, file->data() + off, n);
        max_end = std::max(max_end, off + n);
        return status::success;
      }
      status write(std::uint64_t, const void*, std::size_t) noexcept {
        return status::access_denied;
      }
      status set_size(std::uint64_t) noexcept { return status::access_denied; }
    };
    static_assert(mmkit::BackingStore<watching_store>);
    const bytes file = build(sample_spec(true)).data;
    watching_store w;
    w.file = &file;
    const store_ref ref(w);
    auto info = std::make_unique<pe::image_info>();
    CHECK(pe::parse(ref, *info) == success);
    CHECK(w.max_end <= 0x400);  // the headers, nothing else
    CHECK(w.reads > 0);
    CHECK(pe::validate_relocations(ref, *info) == success);
    CHECK(w.max_end <= file.size());
    w.fail = true;
    CHECK(pe::parse(ref, *info) == status::in_page_error);
  }

  TEST_CASE(
      "pe_image: every truncation of an image gets a status, never a read past "
      "it") {
    for (const bool plus : {true, false}) {
      const bytes full = build(sample_spec(plus)).data;
      for (std::size_t n = 0; n <= full.size(); ++n) {
        CAPTURE(n);
        const opened o(
            bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)));
        const status st = o.result();
        const bool known = st == success || st == not_mz || st == bad_format ||
                           st == empty_file;
        CHECK(known);
        if (st == success) {
          CHECK(n == full.size());
          CHECK(pe::validate_relocations(o.ref(), o.info()) == success);
        }
      }
    }
  }

  TEST_CASE(
      "pe_image: corrupting any header byte gives a status, never a crash") {
    for (const bool plus : {true, false}) {
      const bytes good = build(sample_spec(plus)).data;
      for (std::size_t at = 0; at < 0x400; ++at) {
        for (const unsigned v : {0x00u, 0xFFu, 0x80u, 0x01u, 0x7Fu}) {
          bytes b = good;
          b[at] = std::byte(static_cast<unsigned char>(v));
          const opened o(std::move(b));
          const status st = o.result();
          if (!(st == success || st == not_mz || st == bad_format)) {
            FAIL("offset " << hex(at) << " value " << hex(v) << ": status "
                           << hex(static_cast<std::uint32_t>(st)));
          }
          if (st != success) continue;
          // Whatever parse took must hold together.
          const status rel = pe::validate_relocations(o.ref(), o.info());
          CHECK((rel == success || rel == bad_format));
          std::size_t pages = 0;
          read_whole(o, &pages);
        }
      }
    }
  }

  TEST_CASE("pe_image: random builds agree with the independent reading") {
    const std::uint64_t seed = 20240622;
    std::uint64_t state = seed;
    const auto next = [&] {  // splitmix64
      std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    };
    const std::uint32_t flags[] = {
        text_flags, rdata_flags,
        data_flags, data_flags | scn_shared,
        bss_flags,  scn_execute,
        0,          scn_execute | scn_read | scn_write};
    for (int round = 0; round < 200; ++round) {
      CAPTURE(seed);
      CAPTURE(round);
      image_spec s;
      s.pe32_plus = (next() & 1) != 0;
      s.image_base = (s.pe32_plus ? 0x140000000ull : 0x400000ull) +
                     (next() % 64) * 0x10000;
      s.section_alignment = 0x1000u << (next() % 3);
      s.file_alignment = 0x200u << (next() % 3);
      const int count = static_cast<int>(next() % 7);
      std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;  // rva, bytes
      std::uint64_t va = s.section_alignment;  // headers fit in one alignment
      for (int k = 0; k < count; ++k) {
        section_spec sec;
        sec.name = ".s" + std::to_string(k);
        sec.characteristics = flags[next() % 8];
        const std::size_t raw = (next() % 3 == 0) ? 0 : 1 + next() % 0x2400;
        sec.raw = pattern(raw, static_cast<unsigned>(next()));
        sec.virtual_size = raw == 0
                               ? static_cast<std::uint32_t>(1 + next() % 0x3000)
                               : static_cast<std::uint32_t>(
                                     next() % 2 ? 0 : 1 + next() % 0x3000);
        const std::uint64_t vs = sec.virtual_size ? sec.virtual_size : raw;
        spans.emplace_back(va, round_up(vs, page));
        va += round_up(vs, s.section_alignment);
        s.sections.push_back(std::move(sec));
      }
      const unsigned types[] = {rel_high, rel_low, rel_highlow, rel_dir64};
      for (const auto& [rva, len] : spans) {
        const int n = static_cast<int>(next() % 6);
        for (int k = 0; k < n; ++k) {
          const unsigned t = types[next() % 4];
          const std::uint64_t width = t == rel_dir64     ? 8
                                      : t == rel_highlow ? 4
                                                         : 2;
          const std::uint64_t off = next() % (len - width + 1);
          s.relocations.push_back({static_cast<std::uint32_t>(rva + off), t});
        }
      }
      const opened o(build(s).data);
      REQUIRE(o.result() == success);
      CHECK(o.info().section_count ==
            s.sections.size() + !s.relocations.empty());
      for (std::size_t k = 0; k < s.sections.size(); ++k) {
        CHECK(pe::section_protection(o.info().sections[k].characteristics) ==
              pe::section_protection(s.sections[k].characteristics));
      }
      const std::uint64_t delta = (next() % 4096) * 0x10000;
      check_against_reference(o, s.image_base + delta);
    }
  }

  TEST_CASE("pe_image: the fuzz corpus seeds are the builder's images") {
    // MMKIT_REGEN_PE_CORPUS=1 rewrites them.
    const std::string dir = MMKIT_PE_CORPUS_DIR;
    const bool regen = std::getenv("MMKIT_REGEN_PE_CORPUS") != nullptr;
    for (const auto& seed : corpus_seeds()) {
      const std::string& name = seed.first;
      const bytes& image = seed.second;
      CAPTURE(name);
      CHECK(image.size() <= 4096);
      CHECK(parse_status(image) == success);
      const std::string path = dir + "/" + name;
      if (regen) write_file_bytes(path, image);
      CHECK(read_file_bytes(path) == image);
    }
  }

  // ---- Images built by the mingw-w64 cross compilers ------------------------

  namespace {

#ifdef MMKIT_TEST_PE64_DLL
  constexpr bool have_mingw64 = true;
#else
  constexpr bool have_mingw64 = false;
#endif
#ifdef MMKIT_TEST_PE32_DLL
  constexpr bool have_mingw32 = true;
#else
  constexpr bool have_mingw32 = false;
#endif

  const pe::section_info* find_section(const pe::image_info& i,
                                       const char* name) {
    for (std::uint32_t k = 0; k < i.section_count; ++k)
      if (std::strcmp(i.sections[k].name, name) == 0) return &i.sections[k];
    return nullptr;
  }

  /// What every mingw image of tests/image/pe/image.c has.
  void check_mingw_image(const opened& o, bool plus, std::uint64_t base,
                         bool dll, bool relocatable) {
    REQUIRE(o.result() == success);
    const pe::image_info& i = o.info();
    CHECK(i.machine == (plus ? 0x8664 : 0x14C));
    CHECK(i.pe32_plus == plus);
    CHECK(i.image_base == base);
    CHECK(((i.characteristics & file_dll) != 0) == dll);
    CHECK(i.relocations_stripped == !relocatable);
    CHECK(i.subsystem == 3);  // console, ld's default
    CHECK(i.entry_point != 0);
    const auto* text = find_section(i, ".text");
    const auto* rdata = find_section(i, ".rdata");
    const auto* data = find_section(i, ".data");
    const auto* shared = find_section(i, ".shared");
    const auto* bss = find_section(i, ".bss");
    REQUIRE(text != nullptr);
    REQUIRE(rdata != nullptr);
    REQUIRE(data != nullptr);
    REQUIRE(shared != nullptr);
    REQUIRE(bss != nullptr);
    CHECK(pe::section_protection(text->characteristics) == mm::execute_read);
    CHECK(pe::section_protection(rdata->characteristics) == mm::readonly);
    CHECK(pe::section_protection(data->characteristics) == mm::writecopy);
    CHECK(pe::section_protection(shared->characteristics) == mm::readwrite);
    CHECK(pe::section_protection(bss->characteristics) == mm::writecopy);
    CHECK(bss->raw_size == 0);
    CHECK(bss->virtual_size >= 4096);  // int bss_buffer[1024]
    CHECK(i.entry_point >= text->virtual_address);
    CHECK(i.entry_point < text->virtual_address + text->virtual_size);

    status st = status::unsuccessful;
    const std::vector<fixup> walked = o.fixups(&st);
    CHECK(st == success);
    if (relocatable) {
      CHECK(i.relocation_directory.rva != 0);
      // data_pointer, function_pointer (in .data), rodata_pointer (.rdata).
      const auto in = [](const pe::section_info* s, const fixup& x) {
        return x.rva >= s->virtual_address &&
               x.rva < s->virtual_address + s->virtual_size;
      };
      const unsigned ptr = plus ? rel_dir64 : rel_highlow;
      CHECK(std::count_if(walked.begin(), walked.end(), [&](const fixup& x) {
              return in(data, x) && x.type == ptr;
            }) >= 2);
      CHECK(std::count_if(walked.begin(), walked.end(), [&](const fixup& x) {
              return in(rdata, x) && x.type == ptr;
            }) >= 1);
      check_against_reference(o, base + 0x10000000);
    } else {
      CHECK(i.relocation_directory.rva == 0);
      CHECK(walked.empty());
      check_against_reference(o, base);
    }
  }

  }  // namespace

  TEST_CASE("pe_image: mingw-w64 x86_64 images" * doctest::skip(!have_mingw64)){
#ifdef MMKIT_TEST_PE64_DLL
      SUBCASE("DLL"){const opened o(read_file_bytes(MMKIT_TEST_PE64_DLL));
  check_mingw_image(o, true, 0x180000000, true, true);
  CHECK(o.info().section_alignment == 0x1000);
  CHECK(o.info().file_alignment == 0x200);
}
SUBCASE("EXE") {
  const opened o(read_file_bytes(MMKIT_TEST_PE64_EXE));
  check_mingw_image(o, true, 0x140000000, false, true);
  CHECK(o.info().file_alignment == 0x400);    // --file-alignment 0x400
  CHECK(o.info().stack_reserve == 0x200000);  // --stack 0x200000,0x3000
  CHECK(o.info().stack_commit == 0x3000);
}
SUBCASE("the 1 MiB DLL") {
  const opened o(read_file_bytes(MMKIT_TEST_PE64_BIG_DLL));
  REQUIRE(o.result() == success);
  CHECK(o.file().size() >= 1000000);
  status st = status::unsuccessful;
  const auto walked = o.fixups(&st);
  CHECK(st == success);
  CHECK(walked.size() >= 256 * 1024 / 8);  // big_pointers
  check_against_reference(o, 0x7FF700000000);
}
#endif
}

TEST_CASE("pe_image: mingw-w64 i686 images" * doctest::skip(!have_mingw32)) {
#ifdef MMKIT_TEST_PE32_DLL
  SUBCASE("DLL") {
    const opened o(read_file_bytes(MMKIT_TEST_PE32_DLL));
    check_mingw_image(o, false, 0x10000000, true, true);
  }
  SUBCASE("EXE with SectionAlignment 0x2000") {
    const opened o(read_file_bytes(MMKIT_TEST_PE32_EXE));
    check_mingw_image(o, false, 0x400000, false, true);
    CHECK(o.info().section_alignment == 0x2000);
    CHECK(o.info().sections[0].virtual_address == 0x2000);
  }
  SUBCASE("EXE with its relocations stripped") {
    const opened o(read_file_bytes(MMKIT_TEST_PE32_FIXED_EXE));
    check_mingw_image(o, false, 0x400000, false, false);
  }
#endif
}

}  // TEST_SUITE
