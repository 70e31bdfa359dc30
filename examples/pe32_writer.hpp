#pragma once
// A tiny PE32 (i386) writer for the examples: headers and a section table
// in front of each section's raw data, laid out the way a linker lays out
// an image with 4 KiB section alignment and 512-byte file alignment. It
// writes only what the loader needs to map an image (no imports, exports,
// relocations or resources), so that an example can make an image of any
// size and page protections without a cross compiler or a file on disk.
//
// Layout written (offsets in the file / RVAs in the image):
//
//   file 0x000  DOS header ("MZ", e_lfanew = 0x40)
//   file 0x040  "PE\0\0", COFF file header, PE32 optional header (224
//               bytes, 16 empty data directories), section table
//   file SizeOfHeaders (0x200 for up to 9 sections): each section's raw
//               data, each padded to FileAlignment
//   rva 0x1000  the first section; each next one at the previous one's
//               end rounded up to SectionAlignment; SizeOfImage is the
//               last one's end
//
// Field offsets follow the Microsoft PE/COFF specification, sections "MS-
// DOS Stub", "COFF File Header", "Optional Header" and "Section Table".

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace pe32 {

using bytes = std::vector<std::byte>;

// IMAGE_FILE_HEADER.Characteristics.
inline constexpr std::uint16_t file_executable_image = 0x0002;
inline constexpr std::uint16_t file_32bit_machine = 0x0100;
inline constexpr std::uint16_t file_dll = 0x2000;

// IMAGE_SECTION_HEADER.Characteristics.
inline constexpr std::uint32_t scn_code = 0x00000020;
inline constexpr std::uint32_t scn_initialized_data = 0x00000040;
inline constexpr std::uint32_t scn_execute = 0x20000000;
inline constexpr std::uint32_t scn_read = 0x40000000;
inline constexpr std::uint32_t scn_write = 0x80000000;
/// Code: mapped EXECUTE_READ.
inline constexpr std::uint32_t text_flags = scn_code | scn_execute | scn_read;
/// Initialised writable data: mapped WRITECOPY (each page charged).
inline constexpr std::uint32_t data_flags =
    scn_initialized_data | scn_read | scn_write;

inline constexpr std::uint32_t section_alignment = 0x1000;
inline constexpr std::uint32_t file_alignment = 0x200;

/// One section: its name (up to 8 characters), characteristics, size in
/// the image (VirtualSize) and the bytes the file holds for it (at most
/// VirtualSize; the rest of the section reads as zero).
struct section {
  std::string_view name;
  std::uint32_t characteristics = 0;
  std::uint32_t virtual_size = 0;
  bytes data;
};

/// What write() makes.
struct image {
  std::uint32_t image_base = 0x400000;  ///< a multiple of 64 KiB
  bool dll = false;
  std::uint16_t subsystem = 2;  ///< IMAGE_SUBSYSTEM_WINDOWS_GUI
  std::uint32_t entry_rva = 0;  ///< AddressOfEntryPoint (0: none)
  std::vector<section> sections;
};

namespace detail {
constexpr std::uint32_t align_up(std::uint32_t v, std::uint32_t a) noexcept {
  return (v + a - 1) & ~(a - 1);
}
inline void put16(bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v & 0xFF);
  b[at + 1] = static_cast<std::byte>(v >> 8);
}
inline void put32(bytes& b, std::size_t at, std::uint32_t v) {
  put16(b, at, static_cast<std::uint16_t>(v & 0xFFFF));
  put16(b, at + 2, static_cast<std::uint16_t>(v >> 16));
}
}  // namespace detail

/// The RVA of each section of `img` as write() places them, then
/// SizeOfImage as the last element.
inline std::vector<std::uint32_t> layout(const image& img) {
  using detail::align_up;
  std::vector<std::uint32_t> rvas;
  std::uint32_t rva = section_alignment;  // the headers take one page
  for (const section& s : img.sections) {
    rvas.push_back(rva);
    rva += align_up(s.virtual_size, section_alignment);
  }
  rvas.push_back(rva);
  return rvas;
}

/// Requires: 1 to 9 sections, each with 0 < data.size() <= virtual_size
/// (a section with no file bytes would read as uninitialised data).
/// Returns: the image file's bytes.
inline bytes write(const image& img) {
  using detail::align_up;
  using detail::put16;
  using detail::put32;
  constexpr std::uint32_t nt_headers = 0x40;
  constexpr std::uint32_t optional_header = nt_headers + 4 + 20;
  constexpr std::uint16_t optional_size = 224;
  constexpr std::uint32_t section_table = optional_header + optional_size;
  constexpr std::uint32_t section_header_size = 40;

  const std::vector<std::uint32_t> rvas = layout(img);
  const auto count = static_cast<std::uint16_t>(img.sections.size());
  const std::uint32_t size_of_headers =
      align_up(section_table + section_header_size * count, file_alignment);

  // Where each section's raw data goes, and the file's size.
  std::vector<std::uint32_t> raw_at;
  std::uint32_t file_size = size_of_headers;
  std::uint32_t code = 0;
  std::uint32_t data = 0;
  for (const section& s : img.sections) {
    raw_at.push_back(file_size);
    const auto raw = static_cast<std::uint32_t>(s.data.size());
    file_size += align_up(raw, file_alignment);
    (s.characteristics & scn_code ? code : data) +=
        align_up(raw, file_alignment);
  }
  bytes out(file_size);

  // DOS header: the signature and where the NT headers are.
  put16(out, 0x00, 0x5A4D);  // "MZ"
  put32(out, 0x3C, nt_headers);

  // "PE\0\0" and the COFF file header.
  put32(out, nt_headers, 0x00004550);
  const std::size_t fh = nt_headers + 4;
  put16(out, fh + 0, 0x014C);  // IMAGE_FILE_MACHINE_I386
  put16(out, fh + 2, count);
  put16(out, fh + 16, optional_size);
  put16(out, fh + 18,
        static_cast<std::uint16_t>(file_executable_image | file_32bit_machine |
                                   (img.dll ? file_dll : 0)));

  // The PE32 optional header: Windows XP's version numbers (5.1), no data
  // directories in use.
  const std::size_t oh = optional_header;
  put16(out, oh + 0, 0x10B);  // PE32
  put32(out, oh + 4, code);   // SizeOfCode
  put32(out, oh + 8, data);   // SizeOfInitializedData
  put32(out, oh + 16, img.entry_rva);
  put32(out, oh + 20, rvas.front());  // BaseOfCode
  put32(out, oh + 24, rvas.front());  // BaseOfData
  put32(out, oh + 28, img.image_base);
  put32(out, oh + 32, section_alignment);
  put32(out, oh + 36, file_alignment);
  put16(out, oh + 40, 5);  // MajorOperatingSystemVersion
  put16(out, oh + 42, 1);
  put16(out, oh + 48, 4);            // MajorSubsystemVersion
  put32(out, oh + 56, rvas.back());  // SizeOfImage
  put32(out, oh + 60, size_of_headers);
  put16(out, oh + 68, img.subsystem);
  put32(out, oh + 72, 0x40000);   // SizeOfStackReserve
  put32(out, oh + 76, 0x1000);    // SizeOfStackCommit
  put32(out, oh + 80, 0x100000);  // SizeOfHeapReserve
  put32(out, oh + 84, 0x1000);    // SizeOfHeapCommit
  put32(out, oh + 92, 16);        // NumberOfRvaAndSizes

  // The section table, then the raw data.
  for (std::size_t i = 0; i < img.sections.size(); ++i) {
    const section& s = img.sections[i];
    const std::size_t sh = section_table + section_header_size * i;
    for (std::size_t k = 0; k < s.name.size() && k < 8; ++k)
      out[sh + k] = static_cast<std::byte>(s.name[k]);
    put32(out, sh + 8, s.virtual_size);
    put32(out, sh + 12, rvas[i]);
    put32(out, sh + 16,
          align_up(static_cast<std::uint32_t>(s.data.size()), file_alignment));
    put32(out, sh + 20, raw_at[i]);
    put32(out, sh + 36, s.characteristics);
    for (std::size_t k = 0; k < s.data.size(); ++k)
      out[raw_at[i] + k] = s.data[k];
  }
  return out;
}

}  // namespace pe32
