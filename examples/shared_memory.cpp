// Shared memory and mapped files, as two Windows processes and a third see
// them: spaces A and B share a named page-file section (CreateFileMapping
// with INVALID_HANDLE_VALUE, then OpenFileMapping by name); space C maps a
// real file copy-on-write (MapViewOfFile with FILE_MAP_COPY). Each space's
// `!vad` dump and VirtualQuery table are printed at the end.
//
//   mmkit_shared_memory [FILE]   (a temporary file when none is given)
#include <mmkit/mmkit.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

namespace {

using namespace mmkit;
using space = address_space<arch::x86_64, hosted_config<>>;

void show(const char* what, status s) {
  std::printf("  %-58s %s\n", what, to_string(s));
  if (!succeeded(s)) std::exit(1);
}

const char* state_name(std::uint32_t s) {
  return s == mem::commit ? "COMMIT" : s == mem::reserve ? "RESERVE" : "FREE";
}
const char* type_name(std::uint32_t t) {
  return t == mem::private_memory ? "PRIVATE"
         : t == mem::mapped       ? "MAPPED"
         : t == mem::image        ? "IMAGE"
                                  : "";
}

/// The VirtualQuery walk over every allocation of `as`, and its `!vad`.
void describe(const char* name, space& as) {
  std::printf("\n%s: VirtualQuery\n  %-14s %-14s %-10s %-8s %-8s %-8s %s\n",
              name, "BaseAddress", "AllocBase", "Size", "State", "Protect",
              "AllocPr", "Type");
  for (const vad& v : as.vads()) {
    const std::uint64_t end = (v.end() + 1).address().raw();
    for (std::uint64_t a = v.start().address().raw(); a < end;) {
      memory_basic_information i;
      if (as.query(vaddr{a}, i) != status::success) break;
      std::printf("  %-14llx %-14llx %-10llx %-8s %-8x %-8x %s\n",
                  static_cast<unsigned long long>(i.base_address),
                  static_cast<unsigned long long>(i.allocation_base),
                  static_cast<unsigned long long>(i.region_size),
                  state_name(i.state), i.protect, i.allocation_protect,
                  type_name(i.type));
      a = i.base_address + i.region_size;
    }
  }
  std::printf("%s: !vad\n", name);
  auto out = [](const char* p, std::size_t n) { std::fwrite(p, 1, n, stdout); };
  dump_vads(as.vads(), out, section_vad_names{});
}

}  // namespace

int main(int argc, char** argv) {
  // The file C maps: the one given, or a temporary one of 3 pages.
  std::string path = argc > 1 ? argv[1] : "";
  bool temporary = false;
  if (path.empty()) {
    char name[] = "/tmp/mmkit-shared-memory-XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) return 1;
    const std::string text(3 * 4096, '.');
    if (::write(fd, text.data(), text.size()) !=
        static_cast<ssize_t>(text.size()))
      return 1;
    ::close(fd);
    path = name;
    temporary = true;
  }

  hosted_system<> sys{256ull << 20, 256ull << 20};
  space a{sys}, b{sys}, c{sys};

  std::printf(
      "1. A: CreateFileMapping(INVALID_HANDLE_VALUE, PAGE_READWRITE, "
      "64 KiB, \"Local\\\\demo\")\n");
  section_handle ha;
  show("NtCreateSection(SEC_COMMIT)",
       create_section(sys, ha, section_access::all_access, "Local\\demo",
                      obj::openif, 0x10000, page::readwrite, sec::commit));
  vaddr va{0};
  std::uint64_t size = 0;
  show("A: NtMapViewOfSection(PAGE_READWRITE)",
       a.map_view(ha, va, size, 0, 0, page::readwrite));
  const char hello[] = "hello from A";
  std::size_t done = 0;
  show("A: write \"hello from A\"", a.write(va, hello, sizeof hello, done));

  std::printf(
      "\n2. B: OpenFileMapping(FILE_MAP_ALL_ACCESS, \"Local\\\\demo\")\n");
  section_handle hb;
  show("NtOpenSection",
       open_section(sys, hb, section_access::all_access, "Local\\demo"));
  vaddr vb{0};
  size = 0;
  show("B: NtMapViewOfSection(PAGE_READWRITE)",
       b.map_view(hb, vb, size, 0, 0, page::readwrite));
  char seen[sizeof hello] = {};
  show("B: read", b.read(vb, seen, sizeof seen, done));
  std::printf("  B sees \"%s\" in the frame A wrote (A: %#llx, B: %#llx)\n",
              seen,
              static_cast<unsigned long long>(a.translate(va).address.raw()),
              static_cast<unsigned long long>(b.translate(vb).address.raw()));

  std::printf("\n3. C: MapViewOfFile(FILE_MAP_COPY) of %s\n", path.c_str());
  auto store = posix_file_store::open(path.c_str(), false);
  if (!store) {
    std::printf("  cannot open %s: %s\n", path.c_str(),
                to_string(store.error()));
    return 1;
  }
  file_object file{*store};
  section_handle hc;
  show("NtCreateSection(file, PAGE_WRITECOPY, size 0: the whole file)",
       create_section(sys, hc, section_access::map_read, nullptr, 0, 0,
                      page::writecopy, sec::commit, &file));
  vaddr vc{0};
  size = 0;
  show("C: NtMapViewOfSection(PAGE_WRITECOPY)",
       c.map_view(hc, vc, size, 0, 0, page::writecopy));
  const char mine[] = "C's private copy";
  show("C: write (the first write copies the page)",
       c.write(vc, mine, sizeof mine, done));
  std::printf("  copy-on-write faults: %llu; the file is unchanged\n",
              static_cast<unsigned long long>(c.faults().copy_on_write));

  describe("A", a);
  describe("B", b);
  describe("C", c);

  // The views go before the file they map (C's view writes nothing back:
  // its only write went to a private copy).
  a.unmap_view(va);
  b.unmap_view(vb);
  c.unmap_view(vc);
  close_section(sys, ha);
  close_section(sys, hb);
  close_section(sys, hc);
  if (temporary) ::unlink(path.c_str());
  return 0;
}
