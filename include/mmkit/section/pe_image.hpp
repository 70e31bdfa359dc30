#pragma once
// The PE parser behind SEC_IMAGE: reads a PE32 (i386) or PE32+ (AMD64) file
// through a store_ref, checks it as NT's image-section code does, and
// reports what an image section needs: the headers NtQuerySection's
// SectionImageInformation reports, the section table, and the base
// relocations. It never reads outside the store, allocates nothing and
// keeps no state (freestanding: <cstdint>, <cstddef>, <cstring>,
// <type_traits>).
//
//   parse(file, info)                 headers and section table, checked
//   for_each_relocation(file, info, f)  every base-relocation fixup, checked
//   validate_relocations(file, info)  the same walk with nothing to do
//   read_image(file, info, rva, ...)  image bytes as a view holds them
//                                     before relocation
//   section_protection(c)             the MM_ protection of a section
//
// The image, as a view lays it out (SectionAlignment >= a page):
//
//   rva 0                        headers: the file's first SizeOfHeaders
//   |  SizeOfHeaders             bytes, zero to the page end; READONLY
//   |  round up to a page ...    alignment padding (reserved) when
//   |  round up to SectionAlignment   SectionAlignment is over a page
//   +- section 0 VirtualAddress  raw data: the first min(SizeOfRawData,
//   |                            VirtualSize rounded up to a page) bytes
//   |                            at PointerToRawData, zero after
//   |  ... padding to SectionAlignment
//   +- section 1 VirtualAddress  (always the previous end: no gaps)
//   ...
//   SizeOfImage (rounded up to a page) ends the view
//
// An image whose SectionAlignment is under a page (then FileAlignment must
// equal it) is "mapped flat" (NT's ImageMappedFlat): its view is the file's
// bytes at their own offsets, one EXECUTE_WRITECOPY region of SizeOfImage
// rounded up to a page. info.mapped_flat says which layout applies.
//
// Where the checks come from. NT's own image-section code
// (MiCreateImageFileMap, MiVerifyImageHeader) is not public; each check
// below cites what is: the Microsoft PE/COFF specification ("PE spec"),
// Wine's server/mapping.c and its loader tests (dlls/kernel32/tests/
// loader.c, whose expectations were recorded on Windows), ReactOS's
// PeFmtCreateSection (ntoskrnl/mm/section.c), and Avast's PeLib
// ImageLoader (retdec src/pelib/ImageLoader.cpp), which reproduces the
// Windows loader's checks version by version with sample files. No code is
// taken from any of them.
//
// Facts decided (see also each check):
// - A zero-length file: STATUS_INVALID_FILE_FOR_SECTION, as issue 22 asks
//   (Wine's server would answer STATUS_INVALID_IMAGE_NOT_MZ, its DOS
//   header read coming up short).
// - No MZ, or a file shorter than the 64-byte DOS header:
//   STATUS_INVALID_IMAGE_NOT_MZ (Wine get_image_params).
// - A bad PE signature: STATUS_INVALID_IMAGE_FORMAT, as issue 22 asks.
//   Windows answers STATUS_INVALID_IMAGE_PROTECT (0xC0000130) there (Wine
//   and ReactOS both return it); detail::bad_signature is the one place to
//   change to follow Windows instead.
// - Raw data past end-of-file: refused for the last section only; an
//   earlier section's data is cut at end-of-file and the rest reads as
//   zero. PeLib records that the Windows loader checks only the last
//   section against the file size (LDR_ERROR_FILE_IS_CUT vs
//   FILE_IS_CUT_LOADABLE, with samples). section_info::raw_size is the cut
//   size, so a reader of [raw_offset, raw_offset + raw_size) stays inside
//   the file.
// - A section with no R, W or X flag maps NOACCESS (mm::noaccess): NT's
//   image protection table has NOACCESS at index 0, as PeLib's
//   ImageProtectionArray reproduces it. (ReactOS instead infers rights from
//   the CNT_ flags; Windows does not.)
// - FileAlignment: a power of two, at least 512 unless it equals
//   SectionAlignment (PeLib: "(FileAlignment & 511) && SectionAlignment !=
//   FileAlignment" refused; Wine's tests load images with both at 4). The PE
//   spec's 64K upper bound is a "should" Windows does not enforce, and is
//   not enforced here.
// - At most 96 sections (max_sections; the PE spec: "the Windows loader
//   limits the number of sections to 96"; PeLib has Windows 7 and later
//   take 192).
// - SizeOfImage may exceed the sections' end (Windows 10 no longer checks
//   that it matches, per PeLib); it must cover them.
// - PointerToRawData is used as written. NT rounds it down to 512 when
//   SectionAlignment is a page or more (PeLib); linkers always write it
//   aligned, and the test images are, so the difference is not modelled.

#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/section/backing_store.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace mmkit::pe {

namespace detail {
// The image statuses, by the short names the checks below use.
inline constexpr status invalid_image_not_mz = status::invalid_image_not_mz;
inline constexpr status invalid_image_format = status::invalid_image_format;
inline constexpr status invalid_image_protect = status::invalid_image_protect;
/// What a bad PE signature answers (see the header comment).
inline constexpr status bad_signature = invalid_image_format;
}  // namespace detail

/// IMAGE_FILE_HEADER.Machine values this parser accepts.
inline constexpr std::uint16_t machine_i386 = 0x014C;
inline constexpr std::uint16_t machine_amd64 = 0x8664;

/// IMAGE_FILE_HEADER.Characteristics bits.
inline constexpr std::uint16_t file_relocs_stripped = 0x0001;
inline constexpr std::uint16_t file_executable_image = 0x0002;
inline constexpr std::uint16_t file_dll = 0x2000;

/// IMAGE_SECTION_HEADER.Characteristics bits.
inline constexpr std::uint32_t scn_cnt_code = 0x00000020;
inline constexpr std::uint32_t scn_cnt_initialized_data = 0x00000040;
inline constexpr std::uint32_t scn_cnt_uninitialized_data = 0x00000080;
inline constexpr std::uint32_t scn_mem_discardable = 0x02000000;
inline constexpr std::uint32_t scn_mem_shared = 0x10000000;
inline constexpr std::uint32_t scn_mem_execute = 0x20000000;
inline constexpr std::uint32_t scn_mem_read = 0x40000000;
inline constexpr std::uint32_t scn_mem_write = 0x80000000;

/// Base-relocation types (IMAGE_REL_BASED_*) the walk accepts.
inline constexpr unsigned rel_absolute = 0;
inline constexpr unsigned rel_high = 1;
inline constexpr unsigned rel_low = 2;
inline constexpr unsigned rel_highlow = 3;
inline constexpr unsigned rel_dir64 = 10;

/// The page size of both x86 archs; image layout is in these pages.
inline constexpr std::uint64_t page_size = 0x1000;
/// The most sections parse accepts (more: STATUS_INVALID_IMAGE_FORMAT).
inline constexpr std::uint32_t max_sections = 96;
/// NT's largest image (MM_SIZE_OF_LARGEST_IMAGE, as PeLib reproduces it).
inline constexpr std::uint64_t largest_image = 0x77000000;
/// The protection of the header pages (Wine's loader tests: PAGE_READONLY).
inline constexpr std::uint8_t header_protection = mm::readonly;
/// The protection of a flat image's one region (Wine's loader tests:
/// PAGE_EXECUTE_WRITECOPY when SectionAlignment is under a page).
inline constexpr std::uint8_t flat_protection = mm::execute_writecopy;

/// One section as a view uses it. The sizes are the effective ones:
/// virtual_size is VirtualSize, or SizeOfRawData when VirtualSize is 0 (PE
/// spec; ReactOS and PeLib do the same); raw_offset and raw_size are both 0
/// when either PointerToRawData or SizeOfRawData is (uninitialised data:
/// ReactOS "ignore explicit BSS sections"), and raw_size stops at
/// end-of-file (see the header comment).
struct section_info {
  char name[9];  ///< the 8-byte name, NUL-terminated
  std::uint32_t virtual_address;
  std::uint32_t virtual_size;
  std::uint32_t raw_offset;
  std::uint32_t raw_size;
  std::uint32_t characteristics;
};

/// A data directory entry (IMAGE_DATA_DIRECTORY).
struct data_directory {
  std::uint32_t rva;
  std::uint32_t size;
};

/// What parse reports: the fields of SectionImageInformation and the
/// layout of the image. Sizes and addresses are 64-bit so that sums of them
/// cannot overflow.
struct image_info {
  std::uint16_t machine;  ///< machine_i386 or machine_amd64
  bool pe32_plus;         ///< optional header magic 0x20B (else 0x10B)
  bool mapped_flat;       ///< SectionAlignment under a page (see above)
  std::uint64_t image_base;
  std::uint64_t size_of_image;
  std::uint64_t size_of_headers;
  std::uint64_t section_alignment;
  std::uint64_t file_alignment;
  std::uint64_t entry_point;  ///< AddressOfEntryPoint, an RVA
  std::uint64_t stack_reserve;
  std::uint64_t stack_commit;
  std::uint16_t subsystem;
  std::uint16_t subsystem_major;
  std::uint16_t subsystem_minor;
  std::uint16_t characteristics;  ///< IMAGE_FILE_HEADER.Characteristics
  std::uint16_t dll_characteristics;
  std::uint32_t loader_flags;
  std::uint32_t checksum;
  std::uint64_t file_size;  ///< the store's size when parsed
  /// The base-relocation directory (entry 5), {0, 0} when the optional
  /// header has no such entry (NumberOfRvaAndSizes <= 5).
  data_directory relocation_directory;
  bool relocations_stripped;  ///< IMAGE_FILE_RELOCS_STRIPPED
  std::uint32_t section_count;
  section_info sections[max_sections];
};

namespace detail {

constexpr std::uint16_t load16(const unsigned char* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
constexpr std::uint32_t load32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(load16(p)) |
         (static_cast<std::uint32_t>(load16(p + 2)) << 16);
}
constexpr std::uint64_t load64(const unsigned char* p) noexcept {
  return static_cast<std::uint64_t>(load32(p)) |
         (static_cast<std::uint64_t>(load32(p + 4)) << 32);
}

/// v rounded up to a, a power of two; v and a are below 2^33, so the sum
/// cannot overflow.
constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) noexcept {
  return (v + a - 1) & ~(a - 1);
}
constexpr bool is_power_of_two(std::uint64_t v) noexcept {
  return v != 0 && (v & (v - 1)) == 0;
}

/// Reads n bytes at offset, refusing (with `refusal`) what the store does
/// not hold. A store's own failure passes through.
inline status read_file(const store_ref& file, std::uint64_t offset, void* out,
                        std::size_t n, status refusal) noexcept {
  const std::uint64_t size = file.size();
  if (offset > size || n > size - offset) return refusal;
  return file.read(offset, out, n);
}

// Header layouts (PE spec, "MS-DOS Stub", "COFF File Header", "Optional
// Header", "Section Table"): byte offsets of the fields read here.
inline constexpr std::uint64_t dos_header_size = 64;
inline constexpr std::uint64_t dos_e_lfanew = 0x3C;
inline constexpr std::uint32_t nt_signature = 0x00004550;  // "PE\0\0"
inline constexpr std::uint64_t file_header_offset = 4;     // after signature
inline constexpr std::uint64_t optional_header_offset = 24;
inline constexpr std::uint64_t section_header_size = 40;
inline constexpr std::uint16_t magic_pe32 = 0x10B;
inline constexpr std::uint16_t magic_pe32_plus = 0x20B;
/// The optional header up to and including NumberOfRvaAndSizes.
inline constexpr std::uint64_t optional_fixed_pe32 = 96;
inline constexpr std::uint64_t optional_fixed_pe32_plus = 112;
/// The whole optional header with its 16 directories.
inline constexpr std::uint64_t optional_full_pe32_plus = 240;
inline constexpr unsigned directory_basereloc = 5;

/// A run of committed pages of the view: the header pages or a section's
/// (alignment padding and the tail after the last section are not
/// committed), and where its bytes come from.
struct region_view {
  std::uint64_t rva;         ///< first byte of the region
  std::uint64_t committed;   ///< bytes of committed pages
  std::uint64_t raw_offset;  ///< file offset of the region's data
  std::uint64_t raw_size;    ///< bytes of data (<= committed), zero after
};

/// The region holding rva; false when rva is in no committed page.
inline bool find_region(const image_info& info, std::uint64_t rva,
                        region_view& out) noexcept {
  if (info.mapped_flat) {
    const std::uint64_t committed = align_up(info.size_of_image, page_size);
    const std::uint64_t data = info.file_size < info.size_of_image
                                   ? info.file_size
                                   : info.size_of_image;
    out = {0, committed, 0, data};
    return rva < committed;
  }
  const std::uint64_t header_pages = align_up(info.size_of_headers, page_size);
  if (rva < header_pages) {
    out = {0, header_pages, 0, info.size_of_headers};
    return true;
  }
  for (std::uint32_t i = 0; i < info.section_count; ++i) {
    const section_info& s = info.sections[i];
    const std::uint64_t committed = align_up(s.virtual_size, page_size);
    if (rva >= s.virtual_address && rva - s.virtual_address < committed) {
      const std::uint64_t data =
          s.raw_size < committed ? s.raw_size : committed;
      out = {s.virtual_address, committed, s.raw_offset, data};
      return true;
    }
  }
  return false;
}

}  // namespace detail

/// Requires: info came from parse(file, info) over the same store.
/// Effects: copies the image bytes [rva, rva + n) as a view holds them
/// before relocation: file bytes where a region has data, zero after.
/// STATUS_INVALID_IMAGE_FORMAT when part of the range is not in a committed
/// region (alignment padding, past the last section, past SizeOfImage).
/// Complexity: O(n / page + sections per region crossed).
inline status read_image(const store_ref& file, const image_info& info,
                         std::uint64_t rva, void* out, std::size_t n) noexcept {
  auto* dst = static_cast<unsigned char*>(out);
  while (n != 0) {
    detail::region_view r{};
    if (!detail::find_region(info, rva, r)) return detail::invalid_image_format;
    const std::uint64_t at = rva - r.rva;  // < r.committed
    const std::uint64_t left = r.committed - at;
    const std::size_t chunk = left < n ? static_cast<std::size_t>(left) : n;
    std::size_t from_file = 0;
    if (at < r.raw_size) {
      const std::uint64_t data_left = r.raw_size - at;
      from_file =
          data_left < chunk ? static_cast<std::size_t>(data_left) : chunk;
      if (const status st =
              detail::read_file(file, r.raw_offset + at, dst, from_file,
                                detail::invalid_image_format);
          st != status::success)
        return st;
    }
    std::memset(dst + from_file, 0, chunk - from_file);
    dst += chunk;
    rva += chunk;
    n -= chunk;
  }
  return status::success;
}

/// Effects: reads and checks the headers and section table of the PE file
/// in `file`, filling `out`. On any failure `out` is left zeroed except
/// for what was read before the failing check (callers map nothing).
/// Returns STATUS_SUCCESS, or:
///   STATUS_INVALID_FILE_FOR_SECTION  the file is empty
///   STATUS_INVALID_IMAGE_NOT_MZ      no DOS header or no MZ signature
///   STATUS_INVALID_IMAGE_FORMAT      anything else NT refuses (each check
///                                    below names it)
///   a store's own read failure, unchanged
/// Complexity: O(sections); reads the headers once.
inline status parse(const store_ref& file, image_info& out) noexcept {
  using namespace detail;
  out = image_info{};
  const std::uint64_t file_size = file.size();
  out.file_size = file_size;

  // An empty file: issue 22 (NtCreateSection(SEC_IMAGE) on a 0-byte file).
  if (file_size == 0) return status::invalid_file_for_section;

  // The DOS header: the whole 64 bytes and "MZ" (Wine get_image_params:
  // a short read or another magic is STATUS_INVALID_IMAGE_NOT_MZ).
  unsigned char dos[dos_header_size];
  if (const status st =
          read_file(file, 0, dos, sizeof dos, invalid_image_not_mz);
      st != status::success)
    return st;
  if (load16(dos) != 0x5A4D) return invalid_image_not_mz;

  // e_lfanew: a positive LONG (ReactOS refuses e_lfanew <= 0), 4-byte
  // aligned (PeLib LDR_ERROR_E_LFANEW_UNALIGNED), with the signature and
  // file header inside the file (Wine: a short read of them is
  // STATUS_INVALID_IMAGE_FORMAT).
  const std::uint32_t e_lfanew = load32(dos + dos_e_lfanew);
  if (e_lfanew == 0 || (e_lfanew & 0x80000000u) != 0 || (e_lfanew & 3) != 0)
    return invalid_image_format;
  const std::uint64_t nt = e_lfanew;
  unsigned char head[optional_header_offset + 2];  // through Magic
  if (const status st = read_file(file, nt, head, optional_header_offset,
                                  invalid_image_format);
      st != status::success)
    return st;
  if (load32(head) != nt_signature) return bad_signature;

  const unsigned char* fh = head + file_header_offset;
  const std::uint16_t machine = load16(fh + 0);
  const std::uint16_t section_count = load16(fh + 2);
  const std::uint16_t optional_size = load16(fh + 16);
  const std::uint16_t file_characteristics = load16(fh + 18);

  // The optional header: its Magic must be present (ReactOS: "doesn't
  // contain the Magic field") and be PE32 or PE32+ (PE spec "Optional
  // Header Standard Fields"; Wine refuses any other magic).
  if (optional_size < 2) return invalid_image_format;
  if (const status st =
          read_file(file, nt + optional_header_offset,
                    head + optional_header_offset, 2, invalid_image_format);
      st != status::success)
    return st;
  const std::uint16_t magic = load16(head + optional_header_offset);
  if (magic != magic_pe32 && magic != magic_pe32_plus)
    return invalid_image_format;
  const bool plus = magic == magic_pe32_plus;

  // The machine must be an x86 one, with the magic that goes with it
  // (Wine: IMAGE_FILE_MACHINE_I386 with PE32, AMD64 with PE32+, else
  // STATUS_INVALID_IMAGE_FORMAT). Whether it suits the address space that
  // maps it is the mapper's question.
  if (!((machine == machine_i386 && !plus) ||
        (machine == machine_amd64 && plus)))
    return invalid_image_format;

  // SizeOfOptionalHeader must cover the fields through NumberOfRvaAndSizes,
  // and the file must hold what it declares (Windows 7 and later refuse a
  // file shorter than its NT headers, per PeLib LDR_ERROR_NTHEADER_OUT_OF_
  // FILE; ReactOS: "The file doesn't contain the full NT header").
  const std::uint64_t fixed =
      plus ? optional_fixed_pe32_plus : optional_fixed_pe32;
  if (optional_size < fixed) return invalid_image_format;
  unsigned char opt[optional_full_pe32_plus] = {};
  const std::uint64_t opt_read =
      optional_size < sizeof opt ? optional_size : sizeof opt;
  if (const status st =
          read_file(file, nt + optional_header_offset, opt,
                    static_cast<std::size_t>(opt_read), invalid_image_format);
      st != status::success)
    return st;
  const std::uint64_t section_table =
      nt + optional_header_offset + optional_size;
  if (section_table > file_size) return invalid_image_format;

  // The fields (PE spec "Optional Header Windows-Specific Fields"; PE32
  // and PE32+ differ in BaseOfData and in the width of ImageBase and the
  // stack and heap sizes).
  out.machine = machine;
  out.pe32_plus = plus;
  out.entry_point = load32(opt + 16);
  out.image_base = plus ? load64(opt + 24) : load32(opt + 28);
  out.section_alignment = load32(opt + 32);
  out.file_alignment = load32(opt + 36);
  out.subsystem_major = load16(opt + 48);
  out.subsystem_minor = load16(opt + 50);
  out.size_of_image = load32(opt + 56);
  out.size_of_headers = load32(opt + 60);
  out.checksum = load32(opt + 64);
  out.subsystem = load16(opt + 68);
  out.dll_characteristics = load16(opt + 70);
  out.stack_reserve = plus ? load64(opt + 72) : load32(opt + 72);
  out.stack_commit = plus ? load64(opt + 80) : load32(opt + 76);
  out.loader_flags = plus ? load32(opt + 104) : load32(opt + 88);
  const std::uint32_t directories = plus ? load32(opt + 108) : load32(opt + 92);
  out.characteristics = file_characteristics;
  out.relocations_stripped = (file_characteristics & file_relocs_stripped) != 0;
  // The relocation directory counts only when NumberOfRvaAndSizes includes
  // it (the loader's RtlImageDirectoryEntryToData rule) and the optional
  // header holds it.
  const std::uint64_t reloc_entry = fixed + 8 * directory_basereloc;
  if (directories > directory_basereloc && optional_size >= reloc_entry + 8) {
    out.relocation_directory = {load32(opt + reloc_entry),
                                load32(opt + reloc_entry + 4)};
  }

  // Alignments (PE spec: SectionAlignment >= FileAlignment, both powers of
  // two, FileAlignment 512 or more unless SectionAlignment is under a page,
  // where the two must be equal). PeLib lists Windows' refusals: either one
  // zero or not a power of two, SectionAlignment < FileAlignment, and
  // FileAlignment not a multiple of 512 unless equal to SectionAlignment;
  // ReactOS refuses SectionAlignment under a page with a different
  // FileAlignment; Wine's tests show SectionAlignment 0x200 with
  // FileAlignment 0x1000 refused on Windows.
  const std::uint64_t sa = out.section_alignment;
  const std::uint64_t fa = out.file_alignment;
  if (!is_power_of_two(sa) || !is_power_of_two(fa)) return invalid_image_format;
  if (fa > sa) return invalid_image_format;
  if (sa < page_size && fa != sa) return invalid_image_format;
  if (fa < 512 && fa != sa) return invalid_image_format;
  out.mapped_flat = sa < page_size;

  // SizeOfImage: not zero (Wine's tests: "image size == 0 -> failure"),
  // at most MM_SIZE_OF_LARGEST_IMAGE (PeLib). ImageBase: a multiple of 64K
  // (PE spec; PeLib and ReactOS refuse others).
  if (out.size_of_image == 0 || out.size_of_image > largest_image)
    return invalid_image_format;
  if ((out.image_base & 0xFFFF) != 0) return invalid_image_format;

  // SizeOfHeaders: within SizeOfImage (PeLib LDR_ERROR_SIZE_OF_HEADERS_
  // INVALID); for a sectioned image not zero (PeLib LDR_ERROR_SIZE_OF_
  // HEADERS_ZERO) and inside the file (issue 22: the header pages are the
  // file's first SizeOfHeaders bytes).
  if (out.size_of_headers > out.size_of_image) return invalid_image_format;
  if (!out.mapped_flat &&
      (out.size_of_headers == 0 || out.size_of_headers > file_size))
    return invalid_image_format;

  // The section table: at most max_sections entries (PE spec: the Windows
  // loader limits sections to 96), inside the file, and inside SizeOfImage
  // (Wine refuses a table past it). A table past SizeOfHeaders is taken,
  // as Wine takes it (it widens the header size instead); the view's
  // header pages then hold only the first SizeOfHeaders bytes.
  if (section_count > max_sections) return invalid_image_format;
  const std::uint64_t table_end =
      section_table + section_header_size * section_count;
  if (table_end > file_size) return invalid_image_format;
  if (table_end > align_up(out.size_of_image, page_size))
    return invalid_image_format;

  // The sections. Sectioned images: each VirtualAddress is the previous
  // region's end rounded up to SectionAlignment, the first after the
  // headers rounded up the same way (ReactOS "Memory gap between section
  // %u and the previous"; PeLib LDR_ERROR_INVALID_SECTION_VA), which also
  // refuses overlapping, unordered and misaligned sections; each takes its
  // size rounded up to SectionAlignment, and all of them together must fit
  // in SizeOfImage rounded up to a page (PeLib counts the PTEs:
  // LDR_ERROR_INVALID_SECTION_VSIZE). Flat images: each section's
  // VirtualAddress is its PointerToRawData and SizeOfRawData covers its
  // VirtualSize (PeLib LDR_ERROR_SECTION_SIZE_MISMATCH), inside
  // SizeOfImage.
  const std::uint64_t image_end = align_up(out.size_of_image, page_size);
  std::uint64_t next = align_up(out.size_of_headers, sa);
  if (!out.mapped_flat && next > image_end) return invalid_image_format;
  for (std::uint32_t i = 0; i < section_count; ++i) {
    unsigned char sh[section_header_size];
    if (const status st =
            read_file(file, section_table + section_header_size * i, sh,
                      sizeof sh, invalid_image_format);
        st != status::success)
      return st;
    section_info& s = out.sections[i];
    std::memcpy(s.name, sh, 8);
    s.name[8] = '\0';
    const std::uint32_t virtual_size = load32(sh + 8);
    s.virtual_address = load32(sh + 12);
    const std::uint32_t raw_size = load32(sh + 16);
    const std::uint32_t raw_offset = load32(sh + 20);
    s.characteristics = load32(sh + 36);
    s.virtual_size = virtual_size != 0 ? virtual_size : raw_size;
    const bool has_data = raw_size != 0 && raw_offset != 0;
    s.raw_offset = has_data ? raw_offset : 0;
    s.raw_size = has_data ? raw_size : 0;

    // A section of no size (ReactOS "Virtual size of section %u is null")
    // and raw data whose end overflows 32 bits (PeLib LDR_ERROR_RAW_DATA_
    // OVERFLOW) are refused.
    if (s.virtual_size == 0) return invalid_image_format;
    if (std::uint64_t{s.raw_offset} + s.raw_size > 0xFFFFFFFFu)
      return invalid_image_format;

    if (out.mapped_flat) {
      if (s.virtual_address != s.raw_offset || s.raw_size < s.virtual_size)
        return invalid_image_format;
      if (std::uint64_t{s.virtual_address} + s.virtual_size > out.size_of_image)
        return invalid_image_format;
    } else {
      if (s.virtual_address != next) return invalid_image_format;
      next += align_up(s.virtual_size, sa);
      if (next > image_end) return invalid_image_format;
    }
    // A sectioned image's last section must have its raw data in the file;
    // any other section's is cut at end-of-file (see the header comment;
    // PeLib: Windows checks neither earlier sections nor flat images).
    const std::uint64_t raw_end = std::uint64_t{s.raw_offset} + s.raw_size;
    if (raw_end > file_size) {
      if (!out.mapped_flat && i + 1 == section_count)
        return invalid_image_format;
      s.raw_size = s.raw_offset >= file_size
                       ? 0
                       : static_cast<std::uint32_t>(file_size - s.raw_offset);
      if (s.raw_size == 0) s.raw_offset = 0;
    }
  }
  out.section_count = section_count;
  return status::success;
}

/// Requires: info came from parse(file, info) over the same store.
/// Effects: walks the base-relocation blocks of the directory
/// info.relocation_directory (read as the view holds it, see read_image),
/// calling f(rva, type) for each fixup of type HIGH (1), LOW (2), HIGHLOW
/// (3) or DIR64 (10), in file order; ABSOLUTE (0) entries are padding and
/// skipped. f may return void, or a status: anything but STATUS_SUCCESS
/// stops the walk and is returned. No directory (rva or size 0): success
/// and no call.
/// Returns STATUS_INVALID_IMAGE_FORMAT, at the first offending entry
/// (after f has seen the fixups before it), for: a directory outside
/// SizeOfImage or not in committed pages; a block shorter than its 8-byte
/// header, of odd size, or running past the directory; another type
/// (NT's relocation routine fails on a type it does not know); a fixup
/// whose 2, 4 or 8 bytes are not inside SizeOfImage and in committed pages.
/// Callers that must not act on part of a bad table run
/// validate_relocations first.
/// Complexity: O(directory size), reading it in chunks of 128 entries.
template <class F>
status for_each_relocation(const store_ref& file, const image_info& info,
                           F&& f) noexcept {
  using namespace detail;
  const std::uint64_t dir = info.relocation_directory.rva;
  const std::uint64_t size = info.relocation_directory.size;
  if (dir == 0 || size == 0) return status::success;
  const std::uint64_t end = dir + size;  // both below 2^32: no overflow
  if (end > info.size_of_image) return invalid_image_format;

  // Whether [rva, rva + n) is inside SizeOfImage and in committed pages.
  const auto writable_range = [&](std::uint64_t rva, std::uint64_t n) {
    if (rva + n > info.size_of_image) return false;
    region_view r{};
    if (!find_region(info, rva, r)) return false;
    return rva + n - r.rva <= r.committed;
  };

  std::uint64_t pos = dir;
  while (pos < end) {
    // IMAGE_BASE_RELOCATION: VirtualAddress of the page, SizeOfBlock
    // (PE spec ".reloc Section"), then 16-bit entries: type in bits 15:12,
    // offset in the page in bits 11:0.
    if (end - pos < 8) return invalid_image_format;
    unsigned char block[8];
    if (const status st = read_image(file, info, pos, block, sizeof block);
        st != status::success)
      return st;
    const std::uint64_t page = load32(block);
    const std::uint64_t block_size = load32(block + 4);
    if (block_size < 8 || (block_size & 1) != 0 || block_size > end - pos)
      return invalid_image_format;

    std::uint64_t entry = pos + 8;
    const std::uint64_t block_end = pos + block_size;
    while (entry < block_end) {
      unsigned char chunk[256];
      const std::uint64_t left = block_end - entry;
      const std::size_t n =
          left < sizeof chunk ? static_cast<std::size_t>(left) : sizeof chunk;
      if (const status st = read_image(file, info, entry, chunk, n);
          st != status::success)
        return st;
      for (std::size_t k = 0; k < n; k += 2) {
        const std::uint16_t e = load16(chunk + k);
        const unsigned type = e >> 12;
        unsigned width = 0;
        switch (type) {
          case rel_absolute: continue;
          case rel_high:
          case rel_low: width = 2; break;
          case rel_highlow: width = 4; break;
          case rel_dir64: width = 8; break;
          default: return invalid_image_format;
        }
        const std::uint64_t target = page + (e & 0xFFFu);
        if (!writable_range(target, width)) return invalid_image_format;
        using result_type =
            decltype(f(static_cast<std::uint32_t>(target), type));
        if constexpr (std::is_same_v<result_type, status>) {
          if (const status st = f(static_cast<std::uint32_t>(target), type);
              st != status::success)
            return st;
        } else {
          f(static_cast<std::uint32_t>(target), type);
        }
      }
      entry += n;
    }
    pos = block_end;
  }
  return status::success;
}

/// Requires: info came from parse(file, info). Effects: checks the whole
/// base-relocation table (for_each_relocation with nothing to do).
inline status validate_relocations(const store_ref& file,
                                   const image_info& info) noexcept {
  return for_each_relocation(file, info, [](std::uint32_t, unsigned) {});
}

/// The MM_ protection of a section's pages from its characteristics,
/// as NT's image protection table gives it (indexed by the X, R, W and
/// SHARED bits; PeLib's ImageProtectionArray reproduces it):
///   none -> NOACCESS     X -> EXECUTE       R -> READONLY
///   RX -> EXECUTE_READ   W or RW -> WRITECOPY (READWRITE if shared)
///   WX or RWX -> EXECUTE_WRITECOPY (EXECUTE_READWRITE if shared)
/// A write right implies read, as the table has it.
constexpr std::uint8_t section_protection(std::uint32_t c) noexcept {
  const bool x = (c & scn_mem_execute) != 0;
  const bool r = (c & scn_mem_read) != 0;
  const bool w = (c & scn_mem_write) != 0;
  const bool shared = (c & scn_mem_shared) != 0;
  if (w) {
    if (x) return shared ? mm::execute_readwrite : mm::execute_writecopy;
    return shared ? mm::readwrite : mm::writecopy;
  }
  if (x) return r ? mm::execute_read : mm::execute;
  return r ? mm::readonly : mm::noaccess;
}

static_assert(section_protection(0) == mm::noaccess);
static_assert(section_protection(scn_mem_read) == mm::readonly);
static_assert(section_protection(scn_mem_read | scn_mem_write) ==
              mm::writecopy);
static_assert(section_protection(scn_mem_read | scn_mem_write |
                                 scn_mem_shared) == mm::readwrite);
static_assert(section_protection(scn_mem_read | scn_mem_execute) ==
              mm::execute_read);
static_assert(section_protection(scn_mem_read | scn_mem_write |
                                 scn_mem_execute) == mm::execute_writecopy);
static_assert(section_protection(scn_mem_read | scn_mem_write |
                                 scn_mem_execute | scn_mem_shared) ==
              mm::execute_readwrite);
static_assert(section_protection(scn_mem_execute) == mm::execute);

}  // namespace mmkit::pe
