// libFuzzer target for the PE parser (include/mmkit/section/pe_image.hpp):
// the input is a file. It is parsed; when parse takes it, the relocation
// table is walked and every page of the image is read as a view would read
// it. The target aborts (a crash to libFuzzer) when
//   - parse, the walk or read_image answers a status other than the ones
//     they document (STATUS_INVALID_PARAMETER from the store would mean a
//     read outside the file that the parser did not check first), or
//   - what parse accepted breaks its own promises: sections in order
//     without gaps inside SizeOfImage, raw data inside the file, fixups
//     inside SizeOfImage.
// The input sits in a buffer of exactly its size, so AddressSanitizer sees
// any read past it.
//
// The same file builds without libFuzzer into fuzz_pe_image_plain (with
// tests/image/fuzz_pe_main.cpp), which replays inputs and mutations of
// them; tests/image/fuzz.cmake defines both.

#include <mmkit/section/backing_store.hpp>
#include <mmkit/section/pe_image.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what, std::uint64_t a = 0,
                       std::uint64_t b = 0) {
  std::fprintf(stderr, "fuzz_pe_image: %s (%#llx, %#llx)\n", what,
               static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  std::abort();
}

constexpr auto not_mz = static_cast<mmkit::status>(0xC000012Fu);
constexpr auto bad_format = static_cast<mmkit::status>(0xC000007Bu);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using mmkit::status;
  namespace pe = mmkit::pe;
  std::unique_ptr<std::uint8_t[]> copy(new std::uint8_t[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(copy.get(), data, size);
  mmkit::memory_store store(copy.get(), size, size, false);
  const mmkit::store_ref file(store);
  static pe::image_info info;  // 3 KiB: not on the stack

  const status st = pe::parse(file, info);
  if (st != status::success) {
    if (st != not_mz && st != bad_format &&
        st != status::invalid_file_for_section)
      fail("parse answered an undocumented status",
           static_cast<std::uint32_t>(st));
    return 0;
  }

  // What parse accepted.
  if (info.section_count > pe::max_sections) fail("too many sections");
  if (info.size_of_image == 0 || info.size_of_image > pe::largest_image)
    fail("SizeOfImage", info.size_of_image);
  const std::uint64_t image_end =
      (info.size_of_image + pe::page_size - 1) & ~(pe::page_size - 1);
  std::uint64_t next = (info.size_of_headers + info.section_alignment - 1) &
                       ~(info.section_alignment - 1);
  for (std::uint32_t i = 0; i < info.section_count; ++i) {
    const pe::section_info& s = info.sections[i];
    if (std::uint64_t{s.raw_offset} + s.raw_size > size)
      fail("raw data past the file", i, s.raw_offset);
    if (s.virtual_size == 0) fail("a section of no size", i);
    if (!info.mapped_flat) {
      if (s.virtual_address != next) fail("a gap or overlap", i, next);
      next += (std::uint64_t{s.virtual_size} + info.section_alignment - 1) &
              ~(info.section_alignment - 1);
      if (next > image_end) fail("a section past SizeOfImage", i, next);
    }
  }

  // Every fixup inside SizeOfImage; the walk answers success or the
  // format status.
  std::uint64_t fixups = 0;
  const status rel = pe::for_each_relocation(
      file, info, [&](std::uint32_t rva, unsigned type) {
        const unsigned width = type == pe::rel_dir64     ? 8
                               : type == pe::rel_highlow ? 4
                                                         : 2;
        if (std::uint64_t{rva} + width > info.size_of_image)
          fail("a fixup past SizeOfImage", rva, type);
        ++fixups;
      });
  if (rel != status::success && rel != bad_format)
    fail("the walk answered an undocumented status",
         static_cast<std::uint32_t>(rel));
  if (pe::validate_relocations(file, info) != rel)
    fail("validate_relocations disagrees with the walk");

  // Every page read as a view reads it (at most 64 pages of a big image).
  static unsigned char page[pe::page_size];
  const std::uint64_t pages = image_end / pe::page_size;
  const std::uint64_t step = pages > 64 ? pages / 64 : 1;
  for (std::uint64_t p = 0; p < pages; p += step) {
    const status r =
        pe::read_image(file, info, p * pe::page_size, page, sizeof page);
    if (r != status::success && r != bad_format)
      fail("read_image answered an undocumented status",
           static_cast<std::uint32_t>(r), p);
  }
  (void)fixups;
  return 0;
}
