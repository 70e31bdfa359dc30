// Test-side PE tools, independent of include/mmkit/section/pe_image.hpp:
//
//   image_spec / build()      writes a PE32 or PE32+ image into a byte
//                             vector from a description: sections, their
//                             data and flags, alignments, relocations. A
//                             malformed case is a valid build with one field
//                             poked afterwards (pe_file::put16/32/64 and
//                             the offsets in namespace `field`).
//   expected_image()          what a view of any image file holds, computed
//                             the obvious way: headers, each section's raw
//                             data, zero fill, relocations applied for a new
//                             base. The mapping tests compare views with it.
//   relocation_fixups()       every fixup of a file's relocation table,
//                             decoded independently of the parser.
//   read_file_bytes / write_file_bytes   the mingw images and the corpus.
//
// Everything here assumes well-formed input where it says so and checks
// bounds with std::vector::at elsewhere, so a wrong offset throws (doctest
// reports it) instead of reading past a buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pe_test {

using bytes = std::vector<std::byte>;

// PE/COFF constants (Microsoft PE format specification), spelled out here
// so the tests do not take them from the header under test.
inline constexpr std::uint16_t machine_i386 = 0x014C;
inline constexpr std::uint16_t machine_amd64 = 0x8664;
inline constexpr std::uint16_t file_relocs_stripped = 0x0001;
inline constexpr std::uint16_t file_executable_image = 0x0002;
inline constexpr std::uint16_t file_large_address_aware = 0x0020;
inline constexpr std::uint16_t file_32bit_machine = 0x0100;
inline constexpr std::uint16_t file_dll = 0x2000;
inline constexpr std::uint32_t scn_code = 0x00000020;
inline constexpr std::uint32_t scn_initialized_data = 0x00000040;
inline constexpr std::uint32_t scn_uninitialized_data = 0x00000080;
inline constexpr std::uint32_t scn_discardable = 0x02000000;
inline constexpr std::uint32_t scn_shared = 0x10000000;
inline constexpr std::uint32_t scn_execute = 0x20000000;
inline constexpr std::uint32_t scn_read = 0x40000000;
inline constexpr std::uint32_t scn_write = 0x80000000;
inline constexpr std::uint32_t text_flags = scn_code | scn_execute | scn_read;
inline constexpr std::uint32_t rdata_flags = scn_initialized_data | scn_read;
inline constexpr std::uint32_t data_flags =
    scn_initialized_data | scn_read | scn_write;
inline constexpr std::uint32_t bss_flags =
    scn_uninitialized_data | scn_read | scn_write;
inline constexpr std::uint32_t reloc_flags =
    scn_initialized_data | scn_discardable | scn_read;
inline constexpr unsigned rel_absolute = 0;
inline constexpr unsigned rel_high = 1;
inline constexpr unsigned rel_low = 2;
inline constexpr unsigned rel_highlow = 3;
inline constexpr unsigned rel_dir64 = 10;
inline constexpr std::uint64_t page = 0x1000;

/// Byte offsets of header fields, for poking malformed cases.
namespace field {
// DOS header, from the start of the file.
inline constexpr std::size_t e_magic = 0x00;
inline constexpr std::size_t e_lfanew = 0x3C;
// From the NT headers (pe_file::nt).
inline constexpr std::size_t signature = 0;
inline constexpr std::size_t machine = 4;
inline constexpr std::size_t number_of_sections = 6;
inline constexpr std::size_t size_of_optional_header = 20;
inline constexpr std::size_t characteristics = 22;
// From the optional header (pe_file::optional).
inline constexpr std::size_t magic = 0;
inline constexpr std::size_t entry_point = 16;
inline constexpr std::size_t image_base_pe32 = 28;       // 4 bytes
inline constexpr std::size_t image_base_pe32_plus = 24;  // 8 bytes
inline constexpr std::size_t section_alignment = 32;
inline constexpr std::size_t file_alignment = 36;
inline constexpr std::size_t size_of_image = 56;
inline constexpr std::size_t size_of_headers = 60;
inline constexpr std::size_t subsystem = 68;
inline constexpr std::size_t dll_characteristics = 70;
inline constexpr std::size_t number_of_rva_and_sizes_pe32 = 92;
inline constexpr std::size_t number_of_rva_and_sizes_pe32_plus = 108;
inline constexpr std::size_t directories_pe32 = 96;
inline constexpr std::size_t directories_pe32_plus = 112;
// From a section header (pe_file::section_header(i)).
inline constexpr std::size_t virtual_size = 8;
inline constexpr std::size_t virtual_address = 12;
inline constexpr std::size_t size_of_raw_data = 16;
inline constexpr std::size_t pointer_to_raw_data = 20;
inline constexpr std::size_t section_characteristics = 36;
}  // namespace field

inline std::uint64_t round_up(std::uint64_t v, std::uint64_t a) {
  return (v + a - 1) / a * a;
}

inline std::uint64_t get(const bytes& b, std::size_t at, unsigned width) {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < width; ++i)
    v |= std::uint64_t(std::to_integer<unsigned>(b.at(at + i))) << (8 * i);
  return v;
}
inline void put(bytes& b, std::size_t at, std::uint64_t v, unsigned width) {
  for (unsigned i = 0; i < width; ++i)
    b.at(at + i) = std::byte(static_cast<unsigned char>(v >> (8 * i)));
}

/// A built image and where its headers are.
struct pe_file {
  bytes data;
  std::size_t nt = 0;             ///< e_lfanew
  std::size_t optional = 0;       ///< the optional header
  std::size_t section_table = 0;  ///< the first section header
  bool pe32_plus = false;

  std::size_t section_header(std::size_t i) const {
    return section_table + 40 * i;
  }
  void put16(std::size_t at, std::uint16_t v) { put(data, at, v, 2); }
  void put32(std::size_t at, std::uint32_t v) { put(data, at, v, 4); }
  void put64(std::size_t at, std::uint64_t v) { put(data, at, v, 8); }
  std::uint16_t get16(std::size_t at) const {
    return static_cast<std::uint16_t>(get(data, at, 2));
  }
  std::uint32_t get32(std::size_t at) const {
    return static_cast<std::uint32_t>(get(data, at, 4));
  }
  /// The offset of data directory `index` (rva, then size).
  std::size_t directory(unsigned index) const {
    return optional +
           (pe32_plus ? field::directories_pe32_plus
                      : field::directories_pe32) +
           8 * index;
  }
};

struct section_spec {
  std::string name;  ///< up to 8 characters
  std::uint32_t characteristics = data_flags;
  bytes raw;  ///< the section's file data; empty: no raw data (.bss)
  /// VirtualSize; 0 takes raw.size() (and 0 stays 0 when both are).
  std::uint32_t virtual_size = 0;
};

struct relocation {
  std::uint32_t rva;
  unsigned type;
};

/// An image to build. Sections follow the headers in order, each at the
/// previous one's end rounded up to section_alignment, with raw data at
/// file offsets rounded up to file_alignment; SizeOfImage ends the last
/// one. Relocations, when any, go in a .reloc section after the others
/// (blocks per 4K page, padded with ABSOLUTE entries to 4 bytes).
struct image_spec {
  bool pe32_plus = true;
  std::uint64_t image_base = 0x180000000;
  std::uint32_t section_alignment = 0x1000;
  std::uint32_t file_alignment = 0x200;
  std::uint32_t entry_point = 0;
  std::uint16_t subsystem = 3;  // IMAGE_SUBSYSTEM_WINDOWS_CUI
  std::uint16_t subsystem_major = 6;
  std::uint16_t subsystem_minor = 0;
  std::uint16_t dll_characteristics = 0x0140;  // DYNAMIC_BASE | NX_COMPAT
  bool dll = false;
  bool relocs_stripped = false;
  std::uint64_t stack_reserve = 0x100000;
  std::uint64_t stack_commit = 0x1000;
  std::uint32_t dos_stub = 0x80;  ///< e_lfanew (a multiple of 8)
  std::vector<section_spec> sections;
  std::vector<relocation> relocations;
};

/// The .reloc section's bytes for `rel` (blocks in page order).
inline bytes relocation_blocks(std::vector<relocation> rel) {
  std::sort(
      rel.begin(), rel.end(),
      [](const relocation& a, const relocation& b) { return a.rva < b.rva; });
  std::map<std::uint32_t, std::vector<std::uint16_t>> pages;
  for (const relocation& r : rel)
    pages[r.rva & ~0xFFFu].push_back(
        static_cast<std::uint16_t>((r.type << 12) | (r.rva & 0xFFF)));
  bytes out;
  for (auto& [pg, entries] : pages) {
    if (entries.size() % 2 != 0) entries.push_back(0);  // ABSOLUTE padding
    const std::size_t at = out.size();
    out.resize(at + 8 + 2 * entries.size());
    put(out, at, pg, 4);
    put(out, at + 4, 8 + 2 * entries.size(), 4);
    for (std::size_t i = 0; i < entries.size(); ++i)
      put(out, at + 8 + 2 * i, entries[i], 2);
  }
  return out;
}

/// Builds `spec` (well-formed by construction; poke fields afterwards for
/// malformed cases).
inline pe_file build(const image_spec& spec) {
  std::vector<section_spec> sections = spec.sections;
  if (!spec.relocations.empty())
    sections.push_back(
        {".reloc", reloc_flags, relocation_blocks(spec.relocations), 0});

  pe_file f;
  f.pe32_plus = spec.pe32_plus;
  f.nt = spec.dos_stub;
  f.optional = f.nt + 24;
  const std::size_t optional_size = spec.pe32_plus ? 240 : 224;
  f.section_table = f.optional + optional_size;
  const std::uint64_t headers_end = f.section_table + 40 * sections.size();
  const std::uint64_t size_of_headers =
      round_up(headers_end, spec.file_alignment);

  // Where each section goes.
  struct placed {
    std::uint64_t va, vsize, raw_ptr, raw_size;
  };
  std::vector<placed> at;
  std::uint64_t va = round_up(size_of_headers, spec.section_alignment);
  std::uint64_t file_end = size_of_headers;
  for (const section_spec& s : sections) {
    placed p{};
    p.va = va;
    p.vsize = s.virtual_size != 0 ? s.virtual_size : s.raw.size();
    p.raw_size = round_up(s.raw.size(), spec.file_alignment);
    p.raw_ptr = p.raw_size != 0 ? file_end : 0;
    file_end += p.raw_size;
    va += round_up(std::max<std::uint64_t>(p.vsize, 1), spec.section_alignment);
    at.push_back(p);
  }
  const std::uint64_t size_of_image = va;

  f.data.assign(file_end, std::byte{0});
  bytes& b = f.data;
  put(b, field::e_magic, 0x5A4D, 2);
  put(b, field::e_lfanew, f.nt, 4);
  put(b, f.nt + field::signature, 0x00004550, 4);
  put(b, f.nt + field::machine, spec.pe32_plus ? machine_amd64 : machine_i386,
      2);
  put(b, f.nt + field::number_of_sections, sections.size(), 2);
  put(b, f.nt + field::size_of_optional_header, optional_size, 2);
  std::uint16_t ch = file_executable_image;
  ch |= spec.pe32_plus ? file_large_address_aware : file_32bit_machine;
  if (spec.dll) ch |= file_dll;
  if (spec.relocs_stripped) ch |= file_relocs_stripped;
  put(b, f.nt + field::characteristics, ch, 2);

  const std::size_t o = f.optional;
  put(b, o + field::magic, spec.pe32_plus ? 0x20B : 0x10B, 2);
  put(b, o + 2, 14, 1);  // linker version, for looks
  put(b, o + field::entry_point, spec.entry_point, 4);
  if (spec.pe32_plus)
    put(b, o + field::image_base_pe32_plus, spec.image_base, 8);
  else
    put(b, o + field::image_base_pe32, spec.image_base, 4);
  put(b, o + field::section_alignment, spec.section_alignment, 4);
  put(b, o + field::file_alignment, spec.file_alignment, 4);
  put(b, o + 40, 6, 2);  // OS version
  put(b, o + 48, spec.subsystem_major, 2);
  put(b, o + 50, spec.subsystem_minor, 2);
  put(b, o + field::size_of_image, size_of_image, 4);
  put(b, o + field::size_of_headers, size_of_headers, 4);
  put(b, o + field::subsystem, spec.subsystem, 2);
  put(b, o + field::dll_characteristics, spec.dll_characteristics, 2);
  if (spec.pe32_plus) {
    put(b, o + 72, spec.stack_reserve, 8);
    put(b, o + 80, spec.stack_commit, 8);
    put(b, o + 88, 0x100000, 8);  // heap reserve
    put(b, o + 96, 0x1000, 8);    // heap commit
    put(b, o + field::number_of_rva_and_sizes_pe32_plus, 16, 4);
  } else {
    put(b, o + 72, spec.stack_reserve, 4);
    put(b, o + 76, spec.stack_commit, 4);
    put(b, o + 80, 0x100000, 4);
    put(b, o + 84, 0x1000, 4);
    put(b, o + field::number_of_rva_and_sizes_pe32, 16, 4);
  }
  if (!spec.relocations.empty()) {
    put(b, f.directory(5), at.back().va, 4);
    put(b, f.directory(5) + 4, sections.back().raw.size(), 4);
  }

  for (std::size_t i = 0; i < sections.size(); ++i) {
    const std::size_t h = f.section_header(i);
    const std::string& name = sections[i].name;
    for (std::size_t k = 0; k < 8 && k < name.size(); ++k)
      b.at(h + k) = std::byte(static_cast<unsigned char>(name[k]));
    put(b, h + field::virtual_size,
        sections[i].virtual_size != 0 ? sections[i].virtual_size
                                      : sections[i].raw.size(),
        4);
    put(b, h + field::virtual_address, at[i].va, 4);
    put(b, h + field::size_of_raw_data, at[i].raw_size, 4);
    put(b, h + field::pointer_to_raw_data, at[i].raw_ptr, 4);
    put(b, h + field::section_characteristics, sections[i].characteristics, 4);
    std::copy(sections[i].raw.begin(), sections[i].raw.end(),
              b.begin() + static_cast<std::ptrdiff_t>(at[i].raw_ptr));
  }
  return f;
}

/// `n` bytes of a recognisable pattern (seeded, so sections differ).
inline bytes pattern(std::size_t n, unsigned seed) {
  bytes out(n);
  std::uint32_t x = 0x9E3779B9u * (seed + 1);
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = std::byte(static_cast<unsigned char>(x));
  }
  return out;
}

/// A small image of every kind of section: code, read-only data, writable
/// data with pointers (relocated), a shared section, uninitialised data.
inline image_spec sample_spec(bool pe32_plus) {
  image_spec s;
  s.pe32_plus = pe32_plus;
  s.image_base = pe32_plus ? 0x180000000 : 0x10000000;
  s.dll = true;
  s.entry_point = 0x1010;
  s.sections.push_back({".text", text_flags, pattern(0x180, 1), 0});
  s.sections.push_back({".rdata", rdata_flags, pattern(0x1100, 2), 0});
  s.sections.push_back({".data", data_flags, pattern(0x200, 3), 0x2400});
  s.sections.push_back(
      {".shared", data_flags | scn_shared, pattern(0x40, 4), 0});
  s.sections.push_back({".bss", bss_flags, {}, 0x3000});
  // .text at 0x1000, .rdata 0x2000 (two pages), .data 0x4000 (three
  // pages), .shared 0x7000, .bss 0x8000, .reloc 0xB000.
  const unsigned ptr = pe32_plus ? rel_dir64 : rel_highlow;
  s.relocations = {{0x1004, rel_highlow}, {0x1020, rel_highlow}, {0x2008, ptr},
                   {0x2ff0, ptr},         {0x4000, ptr},         {0x4100, ptr},
                   {0x41f8, rel_high},    {0x41fa, rel_low},     {0x5000, ptr},
                   {0x7010, ptr}};
  return s;
}

/// One fixup as the file's table has it.
struct fixup {
  std::uint32_t rva;
  unsigned type;
  friend bool operator==(const fixup&, const fixup&) = default;
};

/// The headers expected_image and relocation_fixups need, read plainly.
struct plain_headers {
  std::uint64_t image_base = 0, size_of_image = 0, size_of_headers = 0;
  std::uint64_t section_alignment = 0;
  std::uint32_t reloc_rva = 0, reloc_size = 0;
  struct sec {
    std::uint64_t va, vsize, raw_ptr, raw_size;
  };
  std::vector<sec> sections;
};

/// Requires: `file` is an image the parser accepts.
inline plain_headers read_headers(const bytes& file) {
  plain_headers h;
  const std::size_t nt = get(file, 0x3C, 4);
  const std::size_t opt = nt + 24;
  const bool plus = get(file, opt, 2) == 0x20B;
  const std::size_t nsec = get(file, nt + 6, 2);
  const std::size_t opt_size = get(file, nt + 20, 2);
  h.image_base = plus ? get(file, opt + 24, 8) : get(file, opt + 28, 4);
  h.section_alignment = get(file, opt + 32, 4);
  h.size_of_image = get(file, opt + 56, 4);
  h.size_of_headers = get(file, opt + 60, 4);
  const std::size_t dirs = plus ? 112 : 96;
  const std::uint64_t ndirs = get(file, opt + (plus ? 108 : 92), 4);
  if (ndirs > 5 && opt_size >= dirs + 48) {
    h.reloc_rva = static_cast<std::uint32_t>(get(file, opt + dirs + 40, 4));
    h.reloc_size = static_cast<std::uint32_t>(get(file, opt + dirs + 44, 4));
  }
  for (std::size_t i = 0; i < nsec; ++i) {
    const std::size_t s = opt + opt_size + 40 * i;
    plain_headers::sec x{};
    const std::uint64_t vs = get(file, s + 8, 4);
    x.va = get(file, s + 12, 4);
    const std::uint64_t raw_size = get(file, s + 16, 4);
    const std::uint64_t raw_ptr = get(file, s + 20, 4);
    x.vsize = vs != 0 ? vs : raw_size;
    if (raw_size != 0 && raw_ptr != 0) {
      x.raw_ptr = raw_ptr;
      x.raw_size = raw_size;
    }
    h.sections.push_back(x);
  }
  return h;
}

/// Every fixup (ABSOLUTE padding left out) of a laid-out image's table.
inline std::vector<fixup> fixups_in(const bytes& image, std::uint32_t rva,
                                    std::uint32_t size) {
  std::vector<fixup> out;
  std::uint64_t pos = rva;
  const std::uint64_t end = std::uint64_t{rva} + size;
  while (rva != 0 && pos + 8 <= end) {
    const std::uint64_t pg = get(image, pos, 4);
    const std::uint64_t block = get(image, pos + 4, 4);
    if (block < 8) break;
    for (std::uint64_t e = pos + 8; e + 2 <= pos + block; e += 2) {
      const std::uint64_t v = get(image, e, 2);
      if ((v >> 12) != rel_absolute)
        out.push_back({static_cast<std::uint32_t>(pg + (v & 0xFFF)),
                       static_cast<unsigned>(v >> 12)});
    }
    pos += block;
  }
  return out;
}

/// How expected_image treats OptionalHeader.ImageBase in the header page
/// of an image mapped away from its base. Windows since Vista writes the
/// new base there (PeLib's ImageLoader::relocateImage notes it, with a
/// sample); a mapper may choose either, and says which.
enum class header_base { keep, rewrite };

/// What a view of `file` holds, SizeOfImage rounded up to a page, mapped
/// at `base`: the first SizeOfHeaders bytes of the file; at each section's
/// address its raw data, the first min(SizeOfRawData, VirtualSize rounded
/// up to a page) bytes, cut at end-of-file; zero everywhere else; then,
/// when `base` is not the preferred one, every fixup applied as NT's
/// relocation routine does it. A flat image (SectionAlignment under a
/// page) holds the file's first min(file size, SizeOfImage) bytes.
/// Requires: `file` is an image the parser accepts.
inline bytes expected_image(const bytes& file, std::uint64_t base,
                            header_base hb = header_base::keep) {
  const plain_headers h = read_headers(file);
  bytes image(round_up(h.size_of_image, page), std::byte{0});
  const auto copy = [&](std::uint64_t to, std::uint64_t from, std::uint64_t n) {
    if (from >= file.size()) return;
    n = std::min<std::uint64_t>(n, file.size() - from);
    for (std::uint64_t i = 0; i < n; ++i) image.at(to + i) = file.at(from + i);
  };
  if (h.section_alignment < page) {
    copy(0, 0, h.size_of_image);
  } else {
    copy(0, 0, h.size_of_headers);
    for (const auto& s : h.sections)
      if (s.raw_size != 0)
        copy(s.va, s.raw_ptr, std::min(s.raw_size, round_up(s.vsize, page)));
  }
  if (base == h.image_base) return image;

  const std::uint64_t delta = base - h.image_base;
  const bytes pristine = image;
  for (const fixup& x : fixups_in(pristine, h.reloc_rva, h.reloc_size)) {
    switch (x.type) {
      case rel_high: {  // the high half of a 32-bit value
        const std::uint64_t v = get(image, x.rva, 2);
        put(image, x.rva, ((v << 16) + (delta & 0xFFFFFFFF)) >> 16, 2);
        break;
      }
      case rel_low: put(image, x.rva, get(image, x.rva, 2) + delta, 2); break;
      case rel_highlow:
        put(image, x.rva, get(image, x.rva, 4) + delta, 4);
        break;
      case rel_dir64: put(image, x.rva, get(image, x.rva, 8) + delta, 8); break;
      default: throw std::runtime_error("relocation type the parser refuses");
    }
  }
  if (hb == header_base::rewrite) {
    const std::size_t opt = get(file, 0x3C, 4) + 24;
    if (get(file, opt, 2) == 0x20B)
      put(image, opt + 24, base, 8);
    else
      put(image, opt + 28, base, 4);
  }
  return image;
}

/// Every fixup of `file`'s relocation table, read from the laid-out image
/// (as a loader reads it). Requires: an image the parser accepts.
inline std::vector<fixup> relocation_fixups(const bytes& file) {
  const plain_headers h = read_headers(file);
  return fixups_in(expected_image(file, h.image_base), h.reloc_rva,
                   h.reloc_size);
}

inline bytes read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::vector<char> raw{std::istreambuf_iterator<char>(in),
                              std::istreambuf_iterator<char>()};
  bytes out(raw.size());
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

inline void write_file_bytes(const std::string& path, const bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()),
            static_cast<std::streamsize>(b.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace pe_test
