// Draws one small x64 process's address space for docs/: its VAD tree
// (vad_dump.hpp's export_dot) and its map (a VirtualQuery walk from 0 to
// the top of user space), both as Graphviz DOT.
//
//   vad_picture OUT_DIR    writes OUT_DIR/vad_tree.dot and
//                          OUT_DIR/address_space_map.dot
//
// scripts/vad-pictures compiles it, runs it and turns the DOT into SVG with
// `dot -Tsvg`. The process is made through the NT calls alone: an
// executable's regions, a heap, a stack with its guard page, a few
// allocations of the system's choosing (one of them released again, so the
// tree has a hole to find), one top-down and one with write watch.
//
// export_dot names each node by its host address; the names are renumbered
// here in the order they first appear, so that the same address space
// always gives the same file.
#include <mmkit/mmkit.hpp>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace {

using namespace mmkit;
using space = address_space<arch::x86_64, hosted_config<>>;

void must(status s, const char* what) {
  if (s != status::success) {
    std::fprintf(stderr, "vad_picture: %s: %s\n", what, to_string(s));
    std::exit(1);
  }
}

/// Reserves (and commits `commit_bytes` of) a region at `at` (0: the
/// system chooses); returns its base.
std::uint64_t region(space& as, std::uint64_t at, std::uint64_t bytes,
                     std::uint32_t type, std::uint32_t protect,
                     std::uint64_t commit_bytes = 0,
                     std::uint32_t commit_protect = page::readwrite) {
  vaddr base{at};
  std::uint64_t size = bytes;
  must(as.allocate(base, size, type, protect), "reserve");
  if (commit_bytes != 0) {
    vaddr c = base;
    std::uint64_t cs = commit_bytes;
    must(as.allocate(c, cs, mem::commit, commit_protect), "commit");
  }
  return base.raw();
}

void build(space& as) {
  // An executable's headers, code and data as private memory (sections
  // are not in mmkit yet), each its own 64 KiB-aligned reservation.
  region(as, 0x140000000, 0x1000, mem::reserve | mem::commit, page::readonly);
  region(as, 0x140010000, 0x6000, mem::reserve | mem::commit,
         page::execute_read);
  region(as, 0x140020000, 0x3000, mem::reserve | mem::commit, page::readwrite);
  // The process heap: 1 MiB reserved, its first 64 KiB committed.
  region(as, 0, 0x100000, mem::reserve, page::readwrite, 0x10000);
  // The main thread's stack: 1 MiB reserved, the top 12 KiB committed, a
  // guard page below them.
  const std::uint64_t stack =
      region(as, 0, 0x100000, mem::reserve, page::readwrite);
  {
    vaddr top{stack + 0x100000 - 0x3000};
    std::uint64_t ts = 0x3000;
    must(as.allocate(top, ts, mem::commit, page::readwrite), "stack");
    vaddr guard{stack + 0x100000 - 0x4000};
    std::uint64_t gs = 0x1000;
    must(as.allocate(guard, gs, mem::commit, page::readwrite | page::guard),
         "guard page");
  }
  // Allocations of the system's choosing, bottom-up, of assorted sizes and
  // rights; the third is released again.
  std::uint64_t released = 0;
  const std::uint32_t rights[] = {page::readwrite, page::readonly,
                                  page::execute_readwrite, page::noaccess};
  for (int i = 0; i < 9; ++i) {
    const std::uint64_t bytes = 0x2000 + 0x7000 * (i % 4);
    const bool reserve_only = i % 5 == 4;
    const std::uint64_t b = region(
        as, 0, bytes, reserve_only ? mem::reserve : mem::reserve | mem::commit,
        rights[i % 4]);
    if (i == 2) released = b;
  }
  {
    vaddr r{released};
    std::uint64_t rs = 0;
    must(as.free(r, rs, mem::release), "release");
  }
  // A top-down allocation and a write-watch reservation.
  region(as, 0, 0x20000, mem::reserve | mem::commit | mem::top_down,
         page::readwrite);
  region(as, 0, 0x40000, mem::reserve | mem::write_watch, page::readwrite,
         0x8000);
}

/// export_dot's host-address node names, renumbered in order of appearance.
std::string renumber(const std::string& dot) {
  std::map<std::string, int> names;
  std::string out;
  for (std::size_t i = 0; i < dot.size();) {
    // A name is `v` and hex digits, standing alone ("vad_tree" is not).
    std::size_t j = i + 1;
    if (dot[i] == 'v' && (i == 0 || dot[i - 1] == ' '))
      while (j < dot.size() &&
             std::isxdigit(static_cast<unsigned char>(dot[j])))
        ++j;
    const bool is_name =
        j > i + 1 &&
        (j == dot.size() ||
         !(std::isalnum(static_cast<unsigned char>(dot[j])) || dot[j] == '_'));
    if (!is_name) {
      out += dot[i++];
      continue;
    }
    const std::string name = dot.substr(i, j - i);
    const auto it = names.emplace(name, static_cast<int>(names.size())).first;
    out += "vad" + std::to_string(it->second);
    i = j;
  }
  return out;
}

std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

/// KB / MB / GB / TB, as a debugger would round a region's size.
std::string size_text(std::uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char b[32];
  std::snprintf(b, sizeof b,
                v == static_cast<double>(static_cast<std::uint64_t>(v))
                    ? "%.0f %s"
                    : "%.1f %s",
                v, units[u]);
  return b;
}

std::string protect_text(std::uint32_t p) {
  if (p == 0) return "";
  const char* base = "?";
  switch (p & page::base_mask) {
    case page::noaccess: base = "NOACCESS"; break;
    case page::readonly: base = "READONLY"; break;
    case page::readwrite: base = "READWRITE"; break;
    case page::writecopy: base = "WRITECOPY"; break;
    case page::execute: base = "EXECUTE"; break;
    case page::execute_read: base = "EXECUTE_READ"; break;
    case page::execute_readwrite: base = "EXECUTE_READWRITE"; break;
    case page::execute_writecopy: base = "EXECUTE_WRITECOPY"; break;
  }
  std::string s = base;
  if (p & page::guard) s += "|GUARD";
  if (p & page::nocache) s += "|NOCACHE";
  if (p & page::writecombine) s += "|WRITECOMBINE";
  return s;
}

/// A fill colour per state, and per protection for committed memory.
const char* colour(const memory_basic_information& m) {
  if (m.state == mem::free) return "#ffffff";
  if (m.state == mem::reserve) return "#e0e0e0";
  if (m.protect & page::guard) return "#f4a582";
  switch (m.protect & page::base_mask) {
    case page::readonly: return "#d9f0d3";
    case page::readwrite: return "#c6dbef";
    case page::execute_read: return "#fee391";
    case page::execute_readwrite: return "#fdae6b";
    default: return "#bdbdbd";
  }
}

std::string address_map(space& as) {
  std::string d =
      "digraph address_space_map {\n"
      "  node [shape=plaintext, fontname=\"monospace\", fontsize=10];\n"
      "  map [label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" "
      "cellpadding=\"3\">\n"
      "    <tr><td><b>BaseAddress</b></td><td><b>RegionSize</b></td>"
      "<td><b>State</b></td><td><b>Protect</b></td>"
      "<td><b>AllocationBase</b></td></tr>\n";
  for (std::uint64_t a = 0; a <= arch::x86_64::highest_user_address;) {
    memory_basic_information m;
    if (as.query(vaddr{a}, m) != status::success) break;
    const char* state = m.state == mem::commit    ? "COMMIT"
                        : m.state == mem::reserve ? "RESERVE"
                                                  : "FREE";
    d += "    <tr>";
    const std::string cells[] = {
        hex(m.base_address), size_text(m.region_size), state,
        protect_text(m.protect),
        m.state == mem::free ? "" : hex(m.allocation_base)};
    for (const std::string& c : cells) {
      d += "<td align=\"left\" bgcolor=\"";
      d += colour(m);
      d += "\">" + (c.empty() ? std::string(" ") : c) + "</td>";
    }
    d += "</tr>\n";
    a = m.base_address + m.region_size;
  }
  d += "  </table>>];\n}\n";
  return d;
}

bool write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: vad_picture OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  hosted_system<> sys{std::uint64_t{64} << 20};
  space as{sys};
  must(as.creation_status(), "address space");
  build(as);
  if (!as.check_invariants()) {
    std::fprintf(stderr, "vad_picture: invariants broken\n");
    return 1;
  }

  std::string tree;
  auto sink = [&tree](const char* p, std::size_t n) { tree.append(p, n); };
  export_dot(as.vads(), sink);
  if (!write_file(dir + "/vad_tree.dot", renumber(tree)) ||
      !write_file(dir + "/address_space_map.dot", address_map(as))) {
    std::fprintf(stderr, "vad_picture: cannot write to %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
