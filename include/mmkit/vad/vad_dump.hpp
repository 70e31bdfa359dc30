#pragma once
// Pictures of a vad_tree: a `!vad`-style listing in the debugger's columns
// and a Graphviz DOT export.
//
// Both write through a CharSink (any callable taking `const char*` and a
// length), so they work in a kernel with no stdio: hand them a serial port,
// a ring buffer or a std::string. Numbers are formatted here, not by printf.
//
// `!vad` columns, one VAD per line in address order:
//
//   VAD Level Start End Commit
//   <node address> <depth> <start vpn> <end vpn> <commit> Private|Mapped
//     [Exe] <PROTECTION> [<backing name>]
//
// Start and End are hex VPNs without a prefix, Commit is decimal pages, the
// level is the depth in the tree (the root is 0) and the node address is the
// host address of the vad, zero-padded to the pointer width. "Exe" marks an
// image view. The backing name (a file path, "Pagefile section, shared
// commit 0x3") comes from the caller's VadNamer; a null or empty name prints
// nothing, as `!vad` prints nothing for private memory.

#include <mmkit/core/protection.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_tree.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mmkit {

/// Where text goes: `sink(chars, count)`.
template <class Sink>
concept CharSink = requires(Sink& s, const char* p, std::size_t n) {
  s(p, n);
};

/// The backing name of a VAD: `namer(v)` returns a NUL-terminated name that
/// stays valid until the next call, or null for none.
template <class Namer, class Vad>
concept VadNamer = requires(Namer& n, const Vad& v) {
  { n(v) } -> std::convertible_to<const char*>;
};

/// A namer that names nothing (private memory only, or no names known).
struct no_vad_names {
  template <class Vad>
  const char* operator()(const Vad&) const noexcept {
    return nullptr;
  }
};
static_assert(VadNamer<no_vad_names, vad>);

namespace detail {

/// Writes `v` in lowercase hex, at least `min_digits` digits, into `buf`;
/// returns the count. `buf` holds at least 16 characters.
constexpr std::size_t format_hex(std::uint64_t v, char* buf,
                                 unsigned min_digits = 1) noexcept {
  constexpr char digits[] = "0123456789abcdef";
  char tmp[16];
  std::size_t n = 0;
  do {
    tmp[n++] = digits[v & 0xF];
    v >>= 4;
  } while (v != 0);
  while (n < min_digits && n < 16) tmp[n++] = '0';
  for (std::size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return n;
}
/// Writes `v` in decimal into `buf` (at least 20 characters); returns the
/// count.
constexpr std::size_t format_dec(std::uint64_t v, char* buf) noexcept {
  char tmp[20];
  std::size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return n;
}
constexpr std::size_t c_length(const char* s) noexcept {
  std::size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

/// A sink with the small helpers both pictures need.
template <CharSink Sink>
struct text_writer {
  Sink& sink;
  void text(const char* s) { sink(s, c_length(s)); }
  void chars(const char* s, std::size_t n) { sink(s, n); }
  void hex(std::uint64_t v, unsigned min_digits = 1) {
    char b[16];
    sink(b, format_hex(v, b, min_digits));
  }
  void dec(std::uint64_t v) {
    char b[20];
    sink(b, format_dec(v, b));
  }
  /// `s` inside a DOT double-quoted string: quotes and backslashes escaped.
  void dot_escaped(const char* s) {
    for (; *s != '\0'; ++s) {
      if (*s == '"' || *s == '\\') sink("\\", 1);
      sink(s, 1);
    }
  }
};

template <class Vad>
std::uint64_t node_id(const Vad& v) noexcept {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&v));
}

}  // namespace detail

/// Effects: writes one `!vad` line for `v` (no newline).
template <class Vad, CharSink Sink, class Namer = no_vad_names>
requires VadNamer<Namer, Vad>
void dump_vad_line(const vad_tree<Vad>& tree, const Vad& v, Sink& sink,
                   Namer namer = {}) {
  detail::text_writer<Sink> w{sink};
  w.hex(detail::node_id(v), 2 * sizeof(void*));
  w.text(" ");
  w.dec(tree.level_of(v));
  w.text(" ");
  w.hex(v.start().raw());
  w.text(" ");
  w.hex(v.end().raw());
  w.text(" ");
  w.dec(v.commit_charge());
  w.text(v.private_memory() ? " Private" : " Mapped");
  if (v.type() == vad_type::image) w.text(" Exe");
  w.text(" ");
  w.text(mm_protection_name(v.protection()));
  const char* name = namer(v);
  if (name != nullptr && name[0] != '\0') {
    w.text(" ");
    w.text(name);
  }
}

/// Effects: writes the whole tree as `!vad` prints it: a header line, one
/// line per VAD in address order, and a summary line ("Total VADs: 63,
/// average level: 5, maximum depth: 10"). Complexity: O(n log n).
template <class Vad, CharSink Sink, class Namer = no_vad_names>
requires VadNamer<Namer, Vad>
void dump_vads(const vad_tree<Vad>& tree, Sink& sink, Namer namer = {}) {
  detail::text_writer<Sink> w{sink};
  w.text("VAD Level Start End Commit\n");
  std::uint64_t total_level = 0;
  unsigned max_level = 0;
  for (const Vad& v : tree) {
    dump_vad_line(tree, v, sink, namer);
    w.text("\n");
    const unsigned level = tree.level_of(v);
    total_level += level;
    if (level > max_level) max_level = level;
  }
  w.text("Total VADs: ");
  w.dec(tree.size());
  w.text(", average level: ");
  w.dec(tree.empty() ? 0 : total_level / tree.size());
  w.text(", maximum depth: ");
  w.dec(max_level);
  w.text("\n");
}

/// Effects: writes the tree as a Graphviz digraph: one box per VAD (range,
/// type, protection, commit, backing name, and the gap aggregates), edges
/// labelled L and R from parent to child. Complexity: O(n).
template <class Vad, CharSink Sink, class Namer = no_vad_names>
requires VadNamer<Namer, Vad>
void export_dot(const vad_tree<Vad>& tree, Sink& sink, Namer namer = {}) {
  detail::text_writer<Sink> w{sink};
  w.text("digraph vad_tree {\n");
  w.text("  node [shape=box, fontname=\"monospace\"];\n");
  for (const Vad& v : tree) {
    w.text("  v");
    w.hex(detail::node_id(v));
    w.text(" [label=\"");
    w.hex(v.start().raw());
    w.text("-");
    w.hex(v.end().raw());
    w.text("\\n");
    w.text(v.type() == vad_type::image ? "Image "
           : v.private_memory()        ? "Private "
                                       : "Mapped ");
    w.text(mm_protection_name(v.protection()));
    w.text(" commit ");
    w.dec(v.commit_charge());
    const char* name = namer(v);
    if (name != nullptr && name[0] != '\0') {
      w.text("\\n");
      w.dot_escaped(name);
    }
    w.text("\\ngap 0x");
    w.hex(v.debug_gap_before());
    w.text(" max fit 0x");
    w.hex(v.debug_max_fit());
    w.text("\"];\n");
    const Vad* kids[2] = {tree.left_of(v), tree.right_of(v)};
    const char* side[2] = {"L", "R"};
    for (int i = 0; i < 2; ++i) {
      if (kids[i] == nullptr) continue;
      w.text("  v");
      w.hex(detail::node_id(v));
      w.text(" -> v");
      w.hex(detail::node_id(*kids[i]));
      w.text(" [label=\"");
      w.text(side[i]);
      w.text("\"];\n");
    }
  }
  w.text("}\n");
}

}  // namespace mmkit
