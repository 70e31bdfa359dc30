#pragma once
// Saved systems: a system's address spaces written to bytes (or a file)
// and loaded back into fresh, empty spaces, on this host or another of the
// same page size (the format fixes its byte order: little endian).
//
//   std::vector<std::byte> file;
//   emu::save_system({&a, &b}, file, {&dll}, handles);  // or _file
//   ...
//   std::vector<section_handle> back;
//   emu::load_system<space>(file, {&a2, &b2}, {&dll2}, &back);  // fresh
//
// Section handles: an emulator's guest holds handles to sections, some of
// which no view maps (written through a view since unmapped, or never
// mapped). The caller lists the handles it holds (`handles`); each is
// saved with the section it refers to, whole, and a load gives one handle
// back for each, in the same order, with the same access (`back`; the
// caller closes them). A named section keeps its name while a handle
// does.
//
// The files the spaces' file-backed and image sections map are the
// caller's (section/section.hpp, file_object): a save names each by its
// place in the list the caller gives, and a load takes the same files,
// opened again, in the same order (on another host: the same files there).
//
// What is saved is what emu::snapshot captures (emu/snapshot.hpp): per
// space every VAD (range, type, protection, flags, commit charge; a view's
// section and first page) and every committed page (protection; its bytes,
// or none for a demand-zero page never touched; a view's page says whether
// it is a private copy). Loading rebuilds them with the snapshot's own
// restore code, so what comes back is what a snapshot restore gives: the
// same VirtualQuery answers, bytes and commit charges; which frames hold
// the pages, and the PFN lists, may differ. User physical pages (AWE,
// region/awe.hpp) are the exception: the guest names them by frame number,
// so a load takes the very frames the file names (pfn_database::claim),
// before it makes anything else, and fails with STATUS_CONFLICTING_ADDRESSES
// when one is in use or past the loading system's memory.
//
// The format (version 4). Every field is little endian and written byte by
// byte, never as a C++ object, so no pointer, padding or host order gets in;
// sections and views refer to each other by index, sections to files by
// their place in the caller's list.
//
//   header   "MMKITSAV"  u32 version (4)  u32 0x0A0B0C0D (order check)
//            u32 page size (4096)  u32 sections  u32 spaces  u32 files
//            u32 handles
//   section  u64 size  u32 page protection (PAGE_*)  u32 SEC_* attributes
//            u32 name length (<= 127)  the name's bytes (no terminator)
//            u32 file (0xFFFFFFFF: the page file)  u64 the file's size
//            u64 page records
//     page   u64 page of the section  u8 bits (1: bytes follow)  [4096]
//   handle   u32 section  u32 access (SECTION_*)
//   space    u32 paging levels  u32 PTE bytes  u32 VA bits   u64 VADs
//     VAD    u64 first page  u64 last page  u8 type  u8 protection (MM_*)
//            u8 flags  u64 commit charge  u32 section (0xFFFFFFFF: none)
//            u64 first section page  u64 page records
//       page u64 page  u8 protection (MM_*)  u8 bits (1: bytes follow,
//            2: a view's private copy, 4: an AWE page: its frame follows)
//            [u64 frame]  [4096 bytes]
//     user physical pages  u64 count, then per page, by frame:
//            u64 frame  4096 bytes
//   trailer  u64 FNV-1a 64 of every byte before it
//
// Version 3 is version 4 without user physical pages: no AWE region, no
// count. Version 2 is version 3 without handles: no header count, no handle
// records, no section page records. Version 1 is version 2 without the
// files: no header count, no section file fields, page-file sections only.
// Both load.
//
// Sections saved: each section a view maps, and each a listed handle
// refers to.
//   - A section a handle keeps is saved whole, in its own page records: a
//     page-file section's every committed page (with its bytes once it was
//     touched), a file section's pages whose frames are modified (the file
//     lacks them). A view's shared page of such a page-file section then
//     carries no bytes of its own.
//   - A page-file section's bytes travel in the views' page records (a
//     shared page's record holds the section page's bytes), so a section
//     page no saved view maps comes back zero. A SEC_RESERVE section's
//     pages the records name are committed again; one no saved view maps
//     comes back uncommitted.
//   - A data file or image section is made again over its file (checked:
//     the file's size as saved, the section's size and kind as saved). A
//     shared page's record holds bytes only where the file lacks them: its
//     frame modified, or dirty in the view. Every other page comes from the
//     file again, so a saved system is small next to the files it maps. A
//     view's private copies (written copy-on-write pages, an image's
//     relocated pages) keep their bytes, as a private page does.
// Not saved (save answers not_supported): device (MMIO) ranges, and
// sections over files the caller did not list. A loaded
// section no listed handle kept has no handle, and so no name (a name goes
// with a section's last handle, as in NT): it lives while its views do.
//
// Loading reads the whole input and checks every count, index, range and
// protection before it makes anything; what it then makes and cannot
// finish (frames or commit ran out, a name already taken, a rebuilt VAD
// that does not match its record) is taken down again. So a truncated or
// corrupt input gives a status and leaves the spaces empty; it never
// asserts. Hosted: the loader's temporaries are on the heap.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "mmkit/emu/saved_system.hpp needs a hosted C++ implementation"
#endif

#include <mmkit/emu/snapshot.hpp>
#include <mmkit/nt/section.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

namespace mmkit::emu {

/// The format's constants (see the header comment).
namespace saved_format {
inline constexpr char magic[8] = {'M', 'M', 'K', 'I', 'T', 'S', 'A', 'V'};
inline constexpr std::uint32_t version = 4;
/// The oldest version load_system reads.
inline constexpr std::uint32_t oldest_version = 1;
inline constexpr std::uint32_t order_check = 0x0A0B0C0D;
inline constexpr std::uint32_t no_section = 0xFFFFFFFF;
inline constexpr std::uint32_t no_file = 0xFFFFFFFF;
inline constexpr std::uint8_t has_bytes = 1;
inline constexpr std::uint8_t private_copy = 2;
/// An AWE page's record: the frame it maps follows (version 4).
inline constexpr std::uint8_t awe_frame = 4;
/// The header and a section record of version 1 (the least a file holds);
/// version 2 adds the file count (header) and the file fields (section),
/// version 3 the handle count (header), the page record count (section),
/// the section page records and the handle records.
inline constexpr std::size_t header_bytes = 8 + 5 * 4;
inline constexpr std::size_t section_bytes = 8 + 3 * 4;
inline constexpr std::size_t section_file_bytes = 4 + 8;
inline constexpr std::size_t section_pages_bytes = 8;
inline constexpr std::size_t section_page_bytes = 8 + 1;
inline constexpr std::size_t handle_bytes = 4 + 4;
inline constexpr std::size_t space_bytes = 3 * 4 + 8;
inline constexpr std::size_t vad_bytes = 8 + 8 + 3 + 8 + 4 + 8 + 8;
inline constexpr std::size_t page_bytes = 8 + 2;
/// A user physical page (version 4): its frame number and bytes.
inline constexpr std::size_t awe_page_bytes = 8 + 4096;
inline constexpr std::size_t trailer_bytes = 8;
}  // namespace saved_format

namespace detail {

/// FNV-1a, 64 bits: the trailer's checksum.
inline std::uint64_t fnv1a(std::span<const std::byte> b) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (std::byte x : b) {
    h ^= static_cast<std::uint8_t>(x);
    h *= 1099511628211ull;
  }
  return h;
}

/// Little-endian fields, appended.
struct saved_writer {
  std::vector<std::byte>& out;
  void u8(std::uint8_t v) { out.push_back(static_cast<std::byte>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + n);
  }
};

/// Little-endian fields, read with a bounds check before each: a read past
/// the end answers false and reads nothing.
struct saved_reader {
  std::span<const std::byte> in;
  std::size_t at = 0;
  std::size_t left() const noexcept { return in.size() - at; }
  bool u8(std::uint8_t& v) noexcept {
    if (left() < 1) return false;
    v = static_cast<std::uint8_t>(in[at++]);
    return true;
  }
  bool u32(std::uint32_t& v) noexcept {
    if (left() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v |= std::uint32_t{static_cast<std::uint8_t>(in[at++])} << (8 * i);
    return true;
  }
  bool u64(std::uint64_t& v) noexcept {
    if (left() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i)
      v |= std::uint64_t{static_cast<std::uint8_t>(in[at++])} << (8 * i);
    return true;
  }
  const std::byte* take(std::size_t n) noexcept {
    if (left() < n) return nullptr;
    const std::byte* p = in.data() + at;
    at += n;
    return p;
  }
};

/// A protection the format may carry: one the Win32 encoding names, so it
/// survives to_win32 / from_win32.
inline bool known_protection(std::uint8_t raw) noexcept {
  const mm_protection p{raw};
  return p.is_valid() && mm_protection::from_win32(p.to_win32()).raw() == raw;
}

template <class Space>
struct saved_system_io {
  using snap = snapshot<Space>;
  using part = typename snap::part;
  using system_type = typename Space::system_type;
  using core_type = typename Space::core_type;
  using arch = typename core_type::arch_type;
  using ops = section_ops<system_type>;

  static constexpr std::uint32_t arch_levels = arch::levels;
  static constexpr std::uint32_t arch_entry =
      sizeof(typename Space::entry_type);
  static constexpr std::uint32_t arch_va_bits = arch::va_bits;

  /// A section as the file describes it.
  struct section_desc {
    std::uint64_t size = 0;
    std::uint32_t protection = 0;
    std::uint32_t attributes = 0;
    char name[section_object::max_name + 1] = {};
    std::uint32_t file = saved_format::no_file;  ///< in the caller's list
    std::uint64_t file_size = 0;                 ///< the file's, at the save
  };
  using file_list = std::initializer_list<file_object*>;
  using handle_list = std::span<const section_handle>;

  /// The page records of the sections saved whole (version 3): each
  /// section's run of records, and the bytes they carry.
  struct section_pages {
    struct record {
      std::uint64_t page = 0;  ///< of the section
      bool has_bytes = false;
      std::size_t bytes = 0;  ///< in pages, into `bytes`
    };
    std::vector<record> records;
    std::vector<std::pair<std::size_t, std::size_t>> runs;  // per section
    std::vector<std::byte> bytes;
    const std::byte* bytes_of(const record& r) const noexcept {
      return bytes.data() + r.bytes * page_size;
    }
    void add(std::uint64_t page, const std::byte* from) {
      record r{page, from != nullptr, bytes.size() / page_size};
      if (from != nullptr) bytes.insert(bytes.end(), from, from + page_size);
      records.push_back(r);
    }
  };
  /// A handle the file records: its section, by index, and its access.
  struct handle_record {
    std::uint32_t section = 0;
    std::uint32_t access = 0;
  };

  // --- save --------------------------------------------------------------

  static status save(std::initializer_list<Space*> spaces,
                     std::vector<std::byte>& out, file_list files,
                     handle_list handles) {
    std::vector<std::unique_ptr<part>> parts;
    status st = status::success;
    // The sections the caller's handles keep, each once.
    std::vector<section_object*> held;
    for (const section_handle& h : handles) {
      if (!h) return status::invalid_parameter;
      // A handle names its section by address: one of another system than
      // the spaces' is not a handle of theirs.
      if (spaces.size() != 0 &&
          !h.object->belongs_to(&(*spaces.begin())->owner().sections()))
        return status::invalid_handle;
      if (std::find(held.begin(), held.end(), h.object) == held.end())
        held.push_back(h.object);
    }
    std::vector<const section_object*> whole;
    for (section_object* s : held)
      if (!s->file_backed()) whole.push_back(s);
    for (Space* s : spaces) {
      if (&s->owner() != &(*spaces.begin())->owner()) {
        st = status::invalid_parameter;
        break;
      }
      parts.push_back(std::make_unique<part>());
      part& p = *parts.back();
      p.space = s;
      p.saved = true;
      p.whole = whole;
      st = s->emu_with_core([&](auto& c) -> status {
        for (const vad& v : c.vads)
          if (v.has(vad_flags::physical_mapping)) return status::not_supported;
        return snap::capture(c, p);
      });
      if (st != status::success) break;
    }
    std::vector<section_object*> sections;
    const auto add_section = [&](section_object* s) {
      if (s->file_backed() &&
          file_index(files, s->file()) == saved_format::no_file)
        st = status::not_supported;
      else if (std::find(sections.begin(), sections.end(), s) == sections.end())
        sections.push_back(s);
    };
    if (st == status::success)
      for (auto& p : parts)
        for (const vad_record& v : p->vads)
          if (v.section != nullptr && st == status::success)
            add_section(v.section);
    for (section_object* s : held)
      if (st == status::success) add_section(s);
    section_pages pages;
    if (st == status::success)
      st = (*spaces.begin())->emu_with_core([&](auto& c) {
        return capture_sections(c, sections, held, pages);
      });
    if (st == status::success)
      write(parts, sections, pages, handles, files, out);
    // The capture's handles go.
    for (auto& p : parts)
      for (vad_record& v : p->vads)
        if (v.section != nullptr)
          p->space->emu_with_core(
              [&](auto& c) { ops::close(*c.sys, *v.section); });
    return st;
  }

  /// `f`'s place in `files`, or no_file.
  static std::uint32_t file_index(file_list files,
                                  const file_object* f) noexcept {
    std::uint32_t i = 0;
    for (const file_object* x : files) {
      if (x == f) return i;
      ++i;
    }
    return saved_format::no_file;
  }

  /// Effects: `pages` gets each held section's page records (the header
  /// comment says which pages), and an empty run for every other section.
  /// A page-file page not resident is read in. Returns: no_memory or
  /// in_page_error (a page could not be read in).
  template <class Core>
  static status capture_sections(Core& c,
                                 const std::vector<section_object*>& sections,
                                 const std::vector<section_object*>& held,
                                 section_pages& pages) {
    const auto& pool = c.sys->sections().pool;
    for (section_object* s : sections) {
      const std::size_t first = pages.records.size();
      if (std::find(held.begin(), held.end(), s) != held.end()) {
        segment& seg = s->pages();
        const std::uint64_t n =
            s->is_image() ? seg.pages : ops::pages_of(s->size());
        for (std::uint64_t i = 0; i < n; ++i) {
          const std::uint64_t word = pool[seg.proto + i];
          if (!proto::is_committed(word)) continue;
          if (s->file_backed()) {
            // Only what the file lacks: a modified frame's bytes.
            if (proto::is_resident(word) &&
                c.pfns().entry(proto::frame_of(word)).modified())
              pages.add(i, c.sys->memory().frame(proto::frame_of(word)));
            continue;
          }
          if (!proto::is_resident(word) && !proto::is_paged_out(word)) {
            // Never touched: a SEC_RESERVE section's commit is recorded.
            if (s->attributes() & sec::reserve) pages.add(i, nullptr);
            continue;
          }
          typename ops::page_source how{};
          const auto f = ops::page_in(*c.sys, seg, seg.proto + i, how);
          if (!f) return f.error();
          pages.add(i, c.sys->memory().frame(*f));
        }
      }
      pages.runs.emplace_back(first, pages.records.size());
    }
    return status::success;
  }

  static void write(const std::vector<std::unique_ptr<part>>& parts,
                    const std::vector<section_object*>& sections,
                    const section_pages& pages, handle_list handles,
                    file_list files, std::vector<std::byte>& out) {
    namespace f = saved_format;
    out.clear();
    saved_writer w{out};
    w.raw(f::magic, sizeof f::magic);
    w.u32(f::version);
    w.u32(f::order_check);
    w.u32(static_cast<std::uint32_t>(page_size));
    w.u32(static_cast<std::uint32_t>(sections.size()));
    w.u32(static_cast<std::uint32_t>(parts.size()));
    w.u32(static_cast<std::uint32_t>(files.size()));
    w.u32(static_cast<std::uint32_t>(handles.size()));
    const auto index_of = [&](const section_object* s) {
      return static_cast<std::uint32_t>(
          std::find(sections.begin(), sections.end(), s) - sections.begin());
    };
    for (std::size_t k = 0; k < sections.size(); ++k) {
      const section_object* s = sections[k];
      w.u64(s->size());
      w.u32(mm_protection{s->protection().base()}.to_win32());
      w.u32(s->attributes());
      const std::size_t n = std::strlen(s->name());
      w.u32(static_cast<std::uint32_t>(n));
      w.raw(s->name(), n);
      w.u32(s->file_backed() ? file_index(files, s->file()) : f::no_file);
      w.u64(s->file_backed() ? s->file()->store().size() : 0);
      const auto [first, end] = pages.runs[k];
      w.u64(end - first);
      for (std::size_t i = first; i < end; ++i) {
        const auto& r = pages.records[i];
        w.u64(r.page);
        w.u8(r.has_bytes ? f::has_bytes : 0);
        if (r.has_bytes) w.raw(pages.bytes_of(r), page_size);
      }
    }
    for (const section_handle& h : handles) {
      w.u32(index_of(h.object));
      w.u32(h.access);
    }
    for (const auto& p : parts) {
      w.u32(arch_levels);
      w.u32(arch_entry);
      w.u32(arch_va_bits);
      w.u64(p->vads.size());
      for (const vad_record& v : p->vads) {
        w.u64(v.range.first.raw());
        w.u64(v.range.last.raw());
        w.u8(static_cast<std::uint8_t>(v.type));
        w.u8(v.protection.raw());
        w.u8(static_cast<std::uint8_t>(v.flags));
        w.u64(v.commit_charge);
        w.u32(v.section == nullptr ? f::no_section : index_of(v.section));
        w.u64(v.first_page);
        w.u64(v.end_record - v.first_record);
        for (std::size_t i = v.first_record; i < v.end_record; ++i) {
          const page_record& r = p->pages[i];
          w.u64(r.page.raw());
          w.u8(r.protection.raw());
          const bool awe = (v.flags & vad_flags::user_physical_pages) ==
                           vad_flags::user_physical_pages;
          w.u8(
              static_cast<std::uint8_t>((r.has_bytes ? f::has_bytes : 0) |
                                        (r.private_copy ? f::private_copy : 0) |
                                        (awe ? f::awe_frame : 0)));
          if (awe) w.u64(r.frame.raw());
          if (r.has_bytes) w.raw(p->bytes_of(r), page_size);
        }
      }
      w.u64(p->awe_frames.size());
      for (pfn frame : p->awe_frames) {
        w.u64(frame.raw());
        w.raw(p->awe_bytes_of(frame), page_size);
      }
    }
    w.u64(fnv1a(out));
  }

  // --- load --------------------------------------------------------------

  static status load(std::span<const std::byte> in,
                     std::initializer_list<Space*> spaces, file_list files,
                     std::vector<section_handle>* handles_out) {
    namespace f = saved_format;
    if (spaces.size() == 0) return status::invalid_parameter;
    system_type& sys = (*spaces.begin())->owner();
    for (Space* s : spaces) {
      if (&s->owner() != &sys) return status::invalid_parameter;
      if (!s->emu_with_core([](auto& c) { return c.vads.empty(); }) ||
          s->user_physical_pages() != 0)
        return status::invalid_parameter;
    }
    // The frame: magic, version, checksum.
    if (in.size() < f::header_bytes + f::trailer_bytes)
      return status::file_corrupt_error;
    if (std::memcmp(in.data(), f::magic, sizeof f::magic) != 0)
      return status::file_corrupt_error;
    const auto body = in.first(in.size() - f::trailer_bytes);
    saved_reader tail{in.last(f::trailer_bytes)};
    std::uint64_t sum = 0;
    tail.u64(sum);
    saved_reader r{body, sizeof f::magic};
    std::uint32_t version = 0, order = 0, psize = 0, nsections = 0, nspaces = 0,
                  nfiles = 0, nhandles = 0;
    r.u32(version);
    if (version < f::oldest_version || version > f::version)
      return status::revision_mismatch;
    if (sum != fnv1a(body)) return status::file_corrupt_error;
    r.u32(order);
    r.u32(psize);
    r.u32(nsections);
    r.u32(nspaces);
    if (version >= 2 && !r.u32(nfiles)) return status::file_corrupt_error;
    if (version >= 3 && !r.u32(nhandles)) return status::file_corrupt_error;
    if (order != f::order_check || psize != page_size)
      return status::file_corrupt_error;
    if (nspaces != spaces.size() || nfiles != files.size())
      return status::invalid_parameter;

    // Everything parsed and checked before anything is made.
    const std::size_t section_min = f::section_bytes +
                                    (version >= 2 ? f::section_file_bytes : 0) +
                                    (version >= 3 ? f::section_pages_bytes : 0);
    if (nsections > r.left() / section_min) return status::file_corrupt_error;
    std::vector<section_desc> sections(nsections);
    section_pages spages;
    for (section_desc& d : sections) {
      if (const status st = parse_section(r, version, files, d);
          st != status::success)
        return st;
      const std::size_t first = spages.records.size();
      if (version >= 3)
        if (const status st = parse_section_pages(r, d, spages);
            st != status::success)
          return st;
      spages.runs.emplace_back(first, spages.records.size());
    }
    if (nhandles > r.left() / f::handle_bytes)
      return status::file_corrupt_error;
    std::vector<handle_record> saved_handles(nhandles);
    for (handle_record& h : saved_handles) {
      r.u32(h.section);
      if (!r.u32(h.access) || h.section >= nsections ||
          (h.access & ~section_access::all_access) != 0)
        return status::file_corrupt_error;
    }
    std::vector<std::unique_ptr<part>> parts;
    std::vector<std::vector<std::uint32_t>> indexes;  // a view's section
    for (std::uint32_t i = 0; i < nspaces; ++i) {
      parts.push_back(std::make_unique<part>());
      indexes.emplace_back();
      std::uint32_t levels = 0, entry = 0, va_bits = 0;
      r.u32(levels);
      r.u32(entry);
      if (!r.u32(va_bits)) return status::file_corrupt_error;
      if (levels != arch_levels || entry != arch_entry ||
          va_bits != arch_va_bits)
        return status::invalid_image_format;
      const status st =
          parse_space(r, version, sections, *parts.back(), indexes.back());
      if (st != status::success) return st;
    }
    if (r.left() != 0) return status::file_corrupt_error;

    // Made: each space's user physical pages first (the very frames the
    // file names, before anything else takes one), then the sections, then
    // each space's VADs and pages.
    std::vector<section_handle> handles(sections.size());
    status st = status::success;
    {
      auto at = spaces.begin();
      for (std::size_t i = 0; i < parts.size() && st == status::success;
           ++i, ++at) {
        part& p = *parts[i];
        Space* s = *at;
        st = s->emu_with_core([&](auto& c) -> status {
          awe_pages& awe = s->emu_awe();
          for (pfn frame : p.awe_frames) {
            if (const status a = region::awe_adopt(c, awe, frame);
                a != status::success)
              return a;
            std::memcpy(c.sys->memory().frame(frame), p.awe_bytes_of(frame),
                        page_size);
          }
          return status::success;
        });
      }
    }
    for (std::size_t i = 0; i < sections.size() && st == status::success; ++i)
      st = make_section(sys, sections[i], files, handles[i]);
    if (st == status::success && !spages.records.empty())
      st = (*spaces.begin())->emu_with_core([&](auto& c) {
        return restore_sections(c, handles, spages);
      });
    auto it = spaces.begin();
    for (std::size_t i = 0; i < parts.size() && st == status::success;
         ++i, ++it) {
      part& p = *parts[i];
      p.space = *it;
      p.saved = true;
      for (std::size_t k = 0; k < p.vads.size(); ++k)
        if (indexes[i][k] != f::no_section)
          p.vads[k].section = handles[indexes[i][k]].object;
      st = p.space->emu_with_core([&](auto& c) -> status {
        for (const vad_record& v : p.vads)
          if (const status s = snap::remake(c, p, v); s != status::success)
            return s;
        return matches(c, p) ? status::success : status::file_corrupt_error;
      });
    }
    if (st != status::success)
      for (Space* s : spaces)
        s->emu_with_core([&](auto& c) {
          clear(c);
          region::awe_free_all(c, s->emu_awe());
        });
    else if (handles_out != nullptr) {
      // The caller's handles, before the loader's own go.
      handles_out->clear();
      mmkit::detail::lock_scope guard(sys.section_lock());
      for (const handle_record& h : saved_handles) {
        section_object& s = *handles[h.section].object;
        ops::add_handle(s);
        handles_out->push_back({&s, h.access});
      }
    }
    for (section_handle& h : handles)
      if (h) close_section(sys, h);
    return st;
  }

  /// One section record of a file of `version`, checked against the files
  /// the caller gave.
  static status parse_section(saved_reader& r, std::uint32_t version,
                              file_list files, section_desc& d) {
    namespace f = saved_format;
    constexpr auto bad = status::file_corrupt_error;
    std::uint32_t len = 0;
    r.u64(d.size);
    r.u32(d.protection);
    r.u32(d.attributes);
    if (!r.u32(len) || len > section_object::max_name) return bad;
    const std::byte* name = r.take(len);
    if (name == nullptr) return bad;
    std::memcpy(d.name, name, len);
    if (std::memchr(d.name, 0, len) != nullptr) return bad;
    if (version >= 2) {
      r.u32(d.file);
      if (!r.u64(d.file_size)) return bad;
    }
    const mm_protection p = mm_protection::from_win32(d.protection);
    if (d.size == 0 || d.size > (std::uint64_t{1} << 48) || !p.is_valid() ||
        p.modifiers() != 0 || p.base() == 0)
      return bad;
    const std::uint32_t kind =
        d.attributes & (sec::commit | sec::reserve | sec::image | sec::file);
    if (d.file == f::no_file) {
      // The page file: SEC_COMMIT, or SEC_RESERVE (version 2).
      if (d.file_size != 0 ||
          (kind != sec::commit && (version < 2 || kind != sec::reserve)))
        return bad;
      return status::success;
    }
    // A file: the caller's, of the size it had.
    if (d.file >= files.size()) return bad;
    const bool image = (kind & sec::image) != 0;
    if (image ? d.attributes != sec::image
              : (kind & ~sec::file) != sec::commit &&
                    (kind & ~sec::file) != sec::reserve)
      return bad;
    // A data section never outgrows its file (a larger one grew it).
    if (!image && d.size > d.file_size) return bad;
    if (files.begin()[d.file]->store().size() != d.file_size)
      return status::file_invalid;
    return status::success;
  }

  /// The page records of section `d` (version 3), checked: pages of the
  /// section in order, bytes for every record but a SEC_RESERVE page-file
  /// section's untouched commit.
  static status parse_section_pages(saved_reader& r, const section_desc& d,
                                    section_pages& out) {
    namespace f = saved_format;
    constexpr auto bad = status::file_corrupt_error;
    std::uint64_t n = 0;
    if (!r.u64(n) || n > r.left() / f::section_page_bytes) return bad;
    const std::uint64_t pages = (d.size + page_size - 1) >> page_shift;
    const bool may_lack_bytes =
        d.file == f::no_file && (d.attributes & sec::reserve) != 0;
    std::uint64_t next = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t page = 0;
      std::uint8_t bits = 0;
      r.u64(page);
      if (!r.u8(bits)) return bad;
      if (page < next || page >= pages ||
          (bits != f::has_bytes && (bits != 0 || !may_lack_bytes)))
        return bad;
      next = page + 1;
      const std::byte* b = nullptr;
      if (bits == f::has_bytes && (b = r.take(page_size)) == nullptr)
        return bad;
      out.add(page, b);
    }
    return status::success;
  }

  /// Effects: the sections saved whole (made in `made`) get their pages
  /// back: a SEC_RESERVE section's commits, and the recorded bytes (the
  /// frame marked modified: the file or the page file lacks them).
  /// Returns: file_corrupt_error (a record names a page its section does
  /// not commit: an image's padding), commitment_limit, no_memory,
  /// in_page_error.
  template <class Core>
  static status restore_sections(Core& c,
                                 const std::vector<section_handle>& made,
                                 const section_pages& pages) {
    auto& pool = c.sys->sections().pool;
    for (std::size_t k = 0; k < made.size(); ++k) {
      segment& seg = made[k].object->pages();
      const auto [first, end] = pages.runs[k];
      for (std::size_t i = first; i < end; ++i) {
        const auto& r = pages.records[i];
        const std::uint64_t index = seg.proto + r.page;
        if (!seg.file_backed())
          if (const status st = ops::commit_pages(*c.sys, seg, index, 1);
              st != status::success)
            return st;
        if (!proto::is_committed(pool[index]))
          return status::file_corrupt_error;
        if (!r.has_bytes) continue;
        typename ops::page_source how{};
        const auto f = ops::page_in(*c.sys, seg, index, how);
        if (!f) return f.error();
        c.pfns().set_modified(*f);
        std::memcpy(c.sys->memory().frame(*f), pages.bytes_of(r), page_size);
      }
    }
    return status::success;
  }

  /// Effects: the section `d` describes is made again in `out`.
  /// Returns: success, object_name_collision (its name is someone else's
  /// section), file_invalid (over its file it is not what was saved), or
  /// create_section's status.
  static status make_section(system_type& sys, const section_desc& d,
                             file_list files, section_handle& out) {
    file_object* file =
        d.file == saved_format::no_file ? nullptr : files.begin()[d.file];
    const bool image = (d.attributes & sec::image) != 0;
    status st = create_section(
        sys, out, section_access::all_access, d.name[0] != 0 ? d.name : nullptr,
        0, image ? 0 : d.size, d.protection, d.attributes, file);
    if (st == status::object_name_exists)
      st = status::object_name_collision;  // opened, not made: another's
    else if (st == status::success &&
             (out.object->size() != d.size || out.object->is_image() != image))
      st = status::file_invalid;  // the file's headers changed
    if (st != status::success && out) close_section(sys, out);
    return st;
  }

  /// One space's VADs and pages, checked; `index` gets each VAD's section.
  static status parse_space(saved_reader& r, std::uint32_t version,
                            const std::vector<section_desc>& sections, part& p,
                            std::vector<std::uint32_t>& index) {
    namespace f = saved_format;
    constexpr auto bad = status::file_corrupt_error;
    const std::uint64_t lowest =
        vaddr{core_type::lowest_user_address}.page().raw();
    const std::uint64_t highest =
        vaddr{core_type::highest_user_address}.page().raw();
    std::uint64_t nvads = 0;
    if (!r.u64(nvads) || nvads > r.left() / f::vad_bytes) return bad;
    std::uint64_t after = lowest;  // the first page the next VAD may use
    for (std::uint64_t k = 0; k < nvads; ++k) {
      std::uint64_t first = 0, last = 0, charge = 0, first_page = 0, n = 0;
      std::uint8_t type = 0, prot = 0, flags = 0;
      std::uint32_t sec = 0;
      r.u64(first);
      r.u64(last);
      r.u8(type);
      r.u8(prot);
      r.u8(flags);
      r.u64(charge);
      r.u32(sec);
      r.u64(first_page);
      if (!r.u64(n)) return bad;
      if (first < after || last < first || last > highest) return bad;
      after = last + 1;
      const std::uint64_t pages = last - first + 1;
      if (!known_protection(prot) || charge > pages || n > pages ||
          n > r.left() / f::page_bytes)
        return bad;
      vad_record v;
      v.range = {vpn{first}, vpn{last}};
      v.protection = mm_protection{prot};
      v.flags = static_cast<vad_flags>(flags);
      v.commit_charge = charge;
      v.first_page = first_page;
      const bool awe =
          version >= 4 &&
          flags == static_cast<std::uint8_t>(vad_flags::user_physical_pages);
      if (type == static_cast<std::uint8_t>(vad_type::private_memory)) {
        v.type = vad_type::private_memory;
        if ((!awe && (flags & ~std::uint8_t{static_cast<std::uint8_t>(
                                  vad_flags::mem_commit |
                                  vad_flags::write_watch)}) != 0) ||
            sec != f::no_section || first_page != 0)
          return bad;
        // An AWE region: PAGE_READWRITE, no charge (region/awe.hpp).
        if (awe && (prot != mm::readwrite || charge != 0)) return bad;
      } else if (type == static_cast<std::uint8_t>(vad_type::mapped) ||
                 type == static_cast<std::uint8_t>(vad_type::image)) {
        v.type = static_cast<vad_type>(type);
        if ((flags & ~std::uint8_t{static_cast<std::uint8_t>(
                         vad_flags::view_unmap)}) != 0 ||
            sec >= sections.size())
          return bad;
        const section_desc& d = sections[sec];
        // An image's view maps an image section, a data view any other.
        if ((v.type == vad_type::image) != ((d.attributes & sec::image) != 0))
          return bad;
        const std::uint64_t spages = (d.size + page_size - 1) >> page_shift;
        if (first_page >= spages || pages > spages - first_page) return bad;
        if (!region::view_protection_allowed(
                mm_protection::from_win32(d.protection), v.protection))
          return bad;
      } else {
        return bad;
      }
      v.first_record = p.pages.size();
      std::uint64_t next = first;  // records by page, inside the VAD
      for (std::uint64_t i = 0; i < n; ++i) {
        std::uint64_t page = 0;
        std::uint8_t pprot = 0, bits = 0;
        r.u64(page);
        r.u8(pprot);
        if (!r.u8(bits)) return bad;
        const std::uint8_t allowed =
            awe ? f::awe_frame : f::has_bytes | f::private_copy;
        if (page < next || page > last || !known_protection(pprot) ||
            (bits & ~allowed) != 0 ||
            ((bits & f::private_copy) != 0 &&
             v.type == vad_type::private_memory))
          return bad;
        // An AWE page: mapped read-write, its frame's number and no bytes.
        if (awe && (bits != f::awe_frame || pprot != mm::readwrite)) return bad;
        next = page + 1;
        page_record pr;
        pr.page = vpn{page};
        pr.protection = mm_protection{pprot};
        pr.private_copy = (bits & f::private_copy) != 0;
        if (awe) {
          std::uint64_t frame = 0;
          if (!r.u64(frame)) return bad;
          pr.frame = pfn{frame};
        }
        if ((bits & f::has_bytes) != 0) {
          const std::byte* b = r.take(page_size);
          if (b == nullptr) return bad;
          pr.has_bytes = true;
          pr.bytes = p.bytes.size() / page_size;
          p.bytes.insert(p.bytes.end(), b, b + page_size);
        }
        p.pages.push_back(pr);
      }
      v.end_record = p.pages.size();
      p.vads.push_back(v);
      index.push_back(sec);
    }
    if (version < 4) return status::success;
    // The user physical pages: ascending, each with its bytes; every AWE
    // page maps one of them, and no two map the same.
    std::uint64_t n = 0;
    if (!r.u64(n) || n > r.left() / f::awe_page_bytes) return bad;
    p.awe_first_bytes = p.bytes.size() / page_size;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t frame = 0;
      r.u64(frame);
      const std::byte* b = r.take(page_size);
      if (b == nullptr ||
          (!p.awe_frames.empty() && frame <= p.awe_frames.back().raw()))
        return bad;
      p.awe_frames.push_back(pfn{frame});
      p.bytes.insert(p.bytes.end(), b, b + page_size);
    }
    std::vector<pfn> mapped;
    for (const vad_record& v : p.vads)
      if ((v.flags & vad_flags::user_physical_pages) ==
          vad_flags::user_physical_pages)
        for (std::size_t i = v.first_record; i < v.end_record; ++i) {
          if (!p.captured(p.pages[i].frame)) return bad;
          mapped.push_back(p.pages[i].frame);
        }
    std::sort(mapped.begin(), mapped.end());
    if (std::adjacent_find(mapped.begin(), mapped.end()) != mapped.end())
      return bad;
    return status::success;
  }

  /// Whether the rebuilt VADs are the records (a file can name a charge
  /// or protection the rebuild does not give).
  template <class Core>
  static bool matches(Core& c, const part& p) noexcept {
    if (c.vads.size() != p.vads.size()) return false;
    for (const vad_record& v : p.vads) {
      const vad* now = c.vads.find_containing(v.range.first);
      if (now == nullptr || now->range() != v.range || now->type() != v.type ||
          now->protection() != v.protection.raw() || now->flags() != v.flags ||
          now->commit_charge() != v.commit_charge)
        return false;
      for (std::size_t i = v.first_record; i < v.end_record; ++i) {
        const page_view pv = c.view(*now, p.pages[i].page);
        if (!pv.committed || pv.protection != p.pages[i].protection ||
            (region::is_awe(*now) && pv.frame != p.pages[i].frame))
          return false;
      }
    }
    return true;
  }

  /// Effects: every VAD of the space goes (a failed load's roll back).
  template <class Core>
  static void clear(Core& c) noexcept {
    while (!c.vads.empty()) {
      vad& v = *c.vads.begin();
      if (v.private_memory())
        region::release(c, v, v.range());
      else
        region::unmap_view(c, as_view(v));
    }
  }
};

}  // namespace detail

/// Effects: `spaces` (all on one system) are written to `out` (replacing
/// what it held) in the format of the header comment; a file section
/// names its file by its place in `files`; each of `handles` (the
/// caller's open section handles on that system) is saved with its
/// section, whole. The spaces are as they were, but for page-file section
/// pages read in to be saved.
/// Returns: invalid_parameter (spaces on two systems, a null handle),
/// invalid_handle (a handle to another system's section),
/// not_supported (a
/// view of a file not in `files`, a device range),
/// no_memory or in_page_error (a page could not be read in); then `out`
/// is unspecified.
template <class Space>
status save_system(std::initializer_list<Space*> spaces,
                   std::vector<std::byte>& out,
                   std::initializer_list<file_object*> files = {},
                   std::span<const section_handle> handles = {}) {
  return detail::saved_system_io<Space>::save(spaces, out, files, handles);
}

/// Effects: save_system, written to the file at `path` (replaced).
/// Returns: save_system's statuses, or unsuccessful (the file could not be
/// written).
template <class Space>
status save_system_file(std::initializer_list<Space*> spaces, const char* path,
                        std::initializer_list<file_object*> files = {},
                        std::span<const section_handle> handles = {}) {
  std::vector<std::byte> bytes;
  if (const status st = save_system(spaces, bytes, files, handles);
      st != status::success)
    return st;
  std::FILE* f = std::fopen(path, "wb");
  if (f == nullptr) return status::unsuccessful;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok ? status::success : status::unsuccessful;
}

/// Effects: the spaces saved in `in` are rebuilt in `spaces`: fresh, empty
/// spaces of one system, as many as were saved, in the same order; the
/// sections are created on that system, a file section over the file at
/// its place in `files` (the files the save was given, opened again).
/// When `handles` is not null, it gets a handle for each handle saved, in
/// the save's order, with its access (the caller closes them; a failed
/// load leaves it as it was); otherwise a section no view maps goes at the
/// end of the load.
/// Returns: invalid_parameter (a space not empty or owning user physical
/// pages, spaces on two systems,
/// another number of spaces or of files), file_corrupt_error (bad magic
/// or checksum, a truncated input, contents that do not hold together),
/// revision_mismatch (a format version this code does not read),
/// invalid_image_format (a space saved from another arch), file_invalid
/// (a file whose size, or whose image, is not what was saved),
/// conflicting_addresses (a user physical page the file names is in use
/// here, or past this system's memory), or what
/// rebuilding met (commitment_limit, no_memory, quota_exceeded,
/// object_name_collision, a file's read error, ...). On any failure the
/// spaces are empty and no section is left.
template <class Space>
status load_system(std::span<const std::byte> in,
                   std::initializer_list<Space*> spaces,
                   std::initializer_list<file_object*> files = {},
                   std::vector<section_handle>* handles = nullptr) {
  return detail::saved_system_io<Space>::load(in, spaces, files, handles);
}

/// Effects: load_system of the file at `path`.
/// Returns: load_system's statuses, or object_name_not_found (no such
/// file), unsuccessful (it could not be read).
template <class Space>
status load_system_file(const char* path, std::initializer_list<Space*> spaces,
                        std::initializer_list<file_object*> files = {},
                        std::vector<section_handle>* handles = nullptr) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr) return status::object_name_not_found;
  std::vector<std::byte> bytes;
  std::byte chunk[4096];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) != 0;)
    bytes.insert(bytes.end(), chunk, chunk + n);
  const bool ok = std::ferror(f) == 0;
  std::fclose(f);
  if (!ok) return status::unsuccessful;
  return load_system(std::span<const std::byte>(bytes), spaces, files, handles);
}

}  // namespace mmkit::emu
