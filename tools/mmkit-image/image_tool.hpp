#pragma once
// mmkit-image's logic, kept apart from main() so that the tests call it
// in-process: mapping a PE file as an image section (SEC_IMAGE) into a
// fresh address space and printing what VirtualQuery reports of the view,
// optionally with the view's bytes written to a file.
//
//   mmkit-image [--arch x86_64|x86_32] [--base HEX] [--dump FILE] IMAGE
//
// What it does, as a Windows loader would:
//   NtCreateSection(SECTION_ALL_ACCESS, PAGE_EXECUTE_WRITECOPY, SEC_IMAGE,
//                   the file opened read-only)
//   NtMapViewOfSection(base = --base or 0, offset 0, size 0,
//                      PAGE_READWRITE)
// on a hosted_system sized for the image (twice SizeOfImage, so that every
// page may be both shared and relocated, plus room for page tables). A
// base of 0 lets the system choose: the image's preferred base when it is
// free, which it always is in a fresh address space.
//
// Output (stdout):
//   status 0x<8 hex digits> <STATUS_NAME>        the map's (or the
//                                                create's) NTSTATUS
//   0x<BaseAddress> 0x<RegionSize> <State> <Protect> <Type>
//                                                one line per VirtualQuery
//                                                region of the view, in
//                                                address order
// State, Protect and Type are NT's names (MEM_COMMIT, PAGE_EXECUTE_READ,
// PAGE_READWRITE+PAGE_GUARD, MEM_IMAGE); a Protect of 0 (a reserved
// region) prints as `0`, and a value NT has no name for as hex.
//
// --dump FILE writes the view's bytes (SizeOfImage rounded up to a page:
// the view size) as the address space holds them after relocation, read
// page by page as a debugger reads them (ReadProcessMemory: user-mode
// reads that fault pages in, whatever the protection allows to read). A
// page no read can reach (NOACCESS, reserved alignment padding) is written
// as zeros. Nothing is written when the image is not mapped.
//
// Exit status: 0 mapped (STATUS_SUCCESS or STATUS_IMAGE_NOT_AT_BASE); 1 the
// library refused the image or the map (the status line says why); 2 a
// usage error, or a file that cannot be opened or written, with the cause
// on stderr.

// The output buffer (text) and the hex parser are mmkit-translate's: both
// tools print and parse alike.
#include "../mmkit-translate/translate_tool.hpp"

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_32.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/nt/types.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/section/pe_image.hpp>
#include <mmkit/section/posix_file_store.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>

namespace mmkit::tools::image_tool {

using tools::detail::ull;

// --- names --------------------------------------------------------------

/// MEMORY_BASIC_INFORMATION.State by name: MEM_COMMIT, MEM_RESERVE,
/// MEM_FREE, else the value in hex.
inline std::string state_name(std::uint32_t state) {
  switch (state) {
    case mem::commit: return "MEM_COMMIT";
    case mem::reserve: return "MEM_RESERVE";
    case mem::free: return "MEM_FREE";
    default: break;
  }
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", state);
  return b;
}

/// MEMORY_BASIC_INFORMATION.Type by name: MEM_IMAGE, MEM_MAPPED,
/// MEM_PRIVATE, `0` (a free region has none), else the value in hex.
inline std::string type_name(std::uint32_t type) {
  switch (type) {
    case 0: return "0";
    case mem::image: return "MEM_IMAGE";
    case mem::mapped: return "MEM_MAPPED";
    case mem::private_memory: return "MEM_PRIVATE";
    default: break;
  }
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", type);
  return b;
}

/// A Win32 PAGE_* protection by name: one base protection, then each
/// modifier after a `+` ("PAGE_READWRITE+PAGE_GUARD"); `0` for none (a
/// reserved or free region); the value in hex when it is not one base
/// protection with known modifiers.
inline std::string protect_name(std::uint32_t protect) {
  if (protect == 0) return "0";
  struct named {
    std::uint32_t value;
    const char* name;
  };
  static constexpr named bases[] = {
      {page::noaccess, "PAGE_NOACCESS"},
      {page::readonly, "PAGE_READONLY"},
      {page::readwrite, "PAGE_READWRITE"},
      {page::writecopy, "PAGE_WRITECOPY"},
      {page::execute, "PAGE_EXECUTE"},
      {page::execute_read, "PAGE_EXECUTE_READ"},
      {page::execute_readwrite, "PAGE_EXECUTE_READWRITE"},
      {page::execute_writecopy, "PAGE_EXECUTE_WRITECOPY"}};
  static constexpr named modifiers[] = {
      {page::guard, "PAGE_GUARD"},
      {page::nocache, "PAGE_NOCACHE"},
      {page::writecombine, "PAGE_WRITECOMBINE"}};
  std::string s;
  for (const named& b : bases)
    if ((protect & page::base_mask) == b.value) s = b.name;
  if (s.empty() || (protect & ~(page::base_mask | page::modifier_mask))) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%x", protect);
    return b;
  }
  for (const named& m : modifiers)
    if (protect & m.value) (s += '+') += m.name;
  return s;
}

/// The status line: `status 0x<8 hex digits> <STATUS_NAME>`.
inline void print_status(text& out, status s) {
  out.print("status 0x%08x %s\n", static_cast<unsigned>(s), to_string(s));
}

/// One region line: `0x<base> 0x<size> <State> <Protect> <Type>`.
inline void print_region(text& out, const memory_basic_information& m) {
  out.print("0x%llx 0x%llx %s %s %s\n", ull(m.base_address), ull(m.region_size),
            state_name(m.state).c_str(), protect_name(m.protect).c_str(),
            type_name(m.type).c_str());
}

// --- the command line ---------------------------------------------------

/// The address spaces the tool maps into (the arches PE images exist for).
enum class arch_id : std::uint8_t { x86_64, x86_32 };

inline bool parse_arch(std::string_view s, arch_id& out) noexcept {
  if (s == "x86_64")
    out = arch_id::x86_64;
  else if (s == "x86_32")
    out = arch_id::x86_32;
  else
    return false;
  return true;
}

inline constexpr const char* usage_text =
    "usage: mmkit-image [--arch x86_64|x86_32] [--base HEX] [--dump FILE] "
    "IMAGE\n"
    "Maps IMAGE, a PE file, as an image section (SEC_IMAGE) into a fresh "
    "address\n"
    "space of the arch (default x86_64), at its preferred base or at "
    "--base (given\n"
    "to NtMapViewOfSection; HEX with or without 0x), then prints\n"
    "  status 0x<NTSTATUS> <STATUS_NAME>\n"
    "  0x<BaseAddress> 0x<RegionSize> <State> <Protect> <Type>   per "
    "VirtualQuery\n"
    "                                        region of the view, in address "
    "order\n"
    "--dump FILE  writes the view's SizeOfImage bytes (rounded up to a "
    "page) as the\n"
    "             address space holds them after relocation, read page by "
    "page as a\n"
    "             debugger reads; pages no read reaches (NOACCESS, "
    "reserved) are\n"
    "             written as zeros. Not written when the image is not "
    "mapped.\n"
    "exit status: 0 mapped (at its base or relocated), 1 the image or the "
    "map\n"
    "refused (see the status line), 2 usage error or a file that cannot be "
    "opened\n"
    "or written\n";

/// The parsed command line.
struct options {
  arch_id arch = arch_id::x86_64;
  std::uint64_t base = 0;  ///< 0: the image's preferred base
  std::string dump;        ///< empty: no dump
  std::string image;
  bool help = false;
};

/// Parses `args` (without the program name). Returns false with the reason
/// on `err` when they are not a valid command line.
inline bool parse_options(std::span<const std::string_view> args, options& o,
                          text& err) {
  bool have_image = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      o.help = true;
      return true;
    }
    const auto named = [&](std::string_view name) {
      return a == name || (a.starts_with(name) && a.size() > name.size() &&
                           a[name.size()] == '=');
    };
    const bool is_arch = named("--arch"), is_base = named("--base"),
               is_dump = named("--dump");
    if (is_arch || is_base || is_dump) {
      std::string_view value;
      if (const auto eq = a.find('='); eq != std::string_view::npos) {
        value = a.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        err.print("mmkit-image: %.*s needs a value\n",
                  static_cast<int>(a.size()), a.data());
        return false;
      }
      if (is_arch && !parse_arch(value, o.arch)) {
        err.print("mmkit-image: unknown arch '%.*s' (x86_64 or x86_32)\n",
                  static_cast<int>(value.size()), value.data());
        return false;
      }
      if (is_base && !parse_hex(value, o.base)) {
        err.print("mmkit-image: base '%.*s' is not a hex number\n",
                  static_cast<int>(value.size()), value.data());
        return false;
      }
      if (is_dump) {
        if (value.empty()) {
          err.print("mmkit-image: --dump needs a file name\n");
          return false;
        }
        o.dump = std::string(value);
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      err.print("mmkit-image: unknown option '%.*s'\n",
                static_cast<int>(a.size()), a.data());
      return false;
    }
    if (have_image) {
      err.print("mmkit-image: unexpected argument '%.*s'\n",
                static_cast<int>(a.size()), a.data());
      return false;
    }
    o.image = std::string(a);
    have_image = true;
  }
  if (!have_image) {
    err.print("mmkit-image: no IMAGE given\n");
    return false;
  }
  return true;
}

// --- the files ----------------------------------------------------------

/// Opens `path` read-only as the section's backing store. Returns false
/// with the cause on `err` when it is not a file that can be read.
inline bool open_image(const std::string& path, posix_file_store& store,
                       text& err) {
  struct stat st {};
  int why = 0;
  if (::stat(path.c_str(), &st) != 0)
    why = errno;
  else if (S_ISDIR(st.st_mode))
    why = EISDIR;
  if (why != 0) {
    err.print("mmkit-image: cannot open image '%s': %s\n", path.c_str(),
              std::strerror(why));
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    // A device or a pipe has no size to lay an image out by.
    err.print("mmkit-image: image '%s' is not a regular file\n", path.c_str());
    return false;
  }
  errno = 0;
  auto opened = posix_file_store::open(path.c_str(), false);
  if (!opened) {
    why = errno;
    err.print("mmkit-image: cannot open image '%s': %s\n", path.c_str(),
              why != 0 ? std::strerror(why) : to_string(opened.error()));
    return false;
  }
  store = std::move(opened).value();
  return true;
}

/// Simulated RAM and page file for an image of `image_bytes`: every page
/// may be both a shared section page and a relocated private copy, and a
/// relocated view is charged for every page; 32 MiB more holds the page
/// tables. The reservations are lazily committed host memory: unused
/// bytes cost nothing. SizeOfImage is at most pe::largest_image, so the
/// RAM stays within x86_32's 4 GiB.
inline constexpr std::uint64_t spare_bytes = std::uint64_t{32} << 20;
inline std::uint64_t ram_for(std::uint64_t image_bytes) noexcept {
  return 2 * ((image_bytes + page_size - 1) & ~(page_size - 1)) + spare_bytes;
}

/// The view's bytes, page by page as a debugger reads them, to `path`.
/// Returns false with the cause on `err` when the file cannot be written.
template <class Space>
bool dump_view(Space& as, vaddr base, std::uint64_t size,
               const std::string& path, text& err) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    err.print("mmkit-image: cannot open dump file '%s': %s\n", path.c_str(),
              std::strerror(errno));
    return false;
  }
  std::vector<std::byte> buffer(page_size);
  int why = 0;
  for (std::uint64_t off = 0; why == 0 && off < size; off += page_size) {
    // A page that faults (NOACCESS, reserved) reads as zeros: the read
    // copies nothing of a page whose first byte faults.
    std::fill(buffer.begin(), buffer.end(), std::byte{0});
    std::size_t done = 0;
    (void)as.read(base + off, buffer.data(), buffer.size(), done);
    if (std::fwrite(buffer.data(), 1, buffer.size(), f) != buffer.size())
      why = errno != 0 ? errno : EIO;
  }
  if (std::fclose(f) != 0 && why == 0) why = errno != 0 ? errno : EIO;
  if (why != 0) {
    err.print("mmkit-image: cannot write dump file '%s': %s\n", path.c_str(),
              std::strerror(why));
    return false;
  }
  return true;
}

// --- the map ------------------------------------------------------------

/// Creates the image section over `store`, maps it into a fresh address
/// space of arch A on its own system, and prints the status line and the
/// view's regions (see the header comment). Returns the exit status.
template <arch::PagingArch A>
int map_image(posix_file_store& store, const options& o, text& out, text& err) {
  using space = address_space<A, hosted_config<>>;
  // The headers size the system; a file the parser refuses gets the same
  // status from create_section below, on a system of the spare size.
  auto info = std::make_unique<pe::image_info>();
  const std::uint64_t image_bytes =
      pe::parse(store_ref{store}, *info) == status::success
          ? info->size_of_image
          : 0;
  file_object file(store);
  hosted_system<> sys(ram_for(image_bytes), ram_for(image_bytes));
  if (sys.creation_status() != status::success) {
    print_status(out, sys.creation_status());
    err.print("mmkit-image: cannot reserve 0x%llx bytes of simulated RAM\n",
              ull(ram_for(image_bytes)));
    return 1;
  }
  section_handle h;
  status st = create_section(sys, h, section_access::all_access, nullptr, 0, 0,
                             page::execute_writecopy, sec::image, &file);
  if (st != status::success) {
    print_status(out, st);
    return 1;
  }
  int exit_status = 0;
  {
    space as(sys);
    vaddr base{o.base};
    std::uint64_t size = 0;
    st = as.creation_status() != status::success
             ? as.creation_status()
             : as.map_view(h, base, size, 0, 0, page::readwrite);
    print_status(out, st);
    if (!succeeded(st)) {
      exit_status = 1;
    } else {
      const std::uint64_t end = base.raw() + size;
      for (std::uint64_t at = base.raw(); at < end;) {
        memory_basic_information m;
        const status q = as.query(vaddr{at}, m);
        if (q != status::success || m.base_address != at ||
            m.region_size == 0) {
          // Cannot happen for a view just mapped; say so rather than loop.
          err.print("mmkit-image: VirtualQuery at 0x%llx: %s\n", ull(at),
                    to_string(q));
          exit_status = 1;
          break;
        }
        print_region(out, m);
        at = m.base_address + m.region_size;
      }
      if (exit_status == 0 && !o.dump.empty() &&
          !dump_view(as, base, size, o.dump, err))
        exit_status = 2;
    }
  }  // the address space goes first, its view with it
  close_section(sys, h);
  return exit_status;
}

/// The whole tool: parses `args` (without the program name), opens the
/// image and maps it. Returns the exit status.
inline int run(std::span<const std::string_view> args, text& out, text& err) {
  options o;
  if (!parse_options(args, o, err)) {
    err.print("%s", usage_text);
    return 2;
  }
  if (o.help) {
    out.print("%s", usage_text);
    return 0;
  }
  posix_file_store store;
  if (!open_image(o.image, store, err)) return 2;
  return o.arch == arch_id::x86_32
             ? map_image<arch::x86_32>(store, o, out, err)
             : map_image<arch::x86_64>(store, o, out, err);
}

}  // namespace mmkit::tools::image_tool
