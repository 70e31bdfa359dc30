#pragma once
// mmkit-replay's traces: reading and writing the two formats, and turning
// records into page references. Nothing here touches the memory manager,
// so that the tests check the formats in-process.
//
// Lackey text is what `valgrind --tool=lackey --trace-mem=yes` prints, one
// record a line:
//
//   I  04016a0,3          an instruction fetch of 3 bytes at 0x4016a0
//    L 1ffefffd48,8       a load
//    S 1ffefffd40,8       a store
//    M 0403ff8,4          a modify (a load and a store of the same bytes)
//
// Lines that start with `==` or `--` (valgrind's banners and messages) and
// blank lines are skipped; any other line that is not a record is an error
// with its line number, so that a file of the wrong kind is refused rather
// than read as an empty trace.
//
// The binary format is this tool's own, little-endian throughout:
//
//   offset  size  field
//   0       8     magic 89 4D 4D 4B 54 52 43 1A  ("\x89MMKTRC\x1a": the
//                 first byte is not ASCII, so no text file starts so)
//   8       2     version, 1
//   10      2     flags, 0 (no flag is defined; others are refused)
//   12      8     record count
//   20      ...   records
//
// A record is one byte, then up to two LEB128 varints:
//
//   byte    bits 1:0  kind: 0 I, 1 L, 2 S, 3 M
//           bits 3:2  base: which of its stream's four bases the address
//                     is coded against
//           bits 7:4  size code: 0-12 the size itself, 13 size 16, 14 size
//                     32, 15 the size follows as a varint
//   varint  the size, when the code is 15
//   varint  the address, zigzag-coded as its difference from the base,
//           modulo 2^64
//
// Each stream (instructions; data, L, S and M together) keeps four bases,
// all 0 at the start; the writer codes an address against the nearest
// (the lowest of equals), and that base becomes the address. A program's
// data references move among a few places (its stack, its heap, a
// library's data), so each settles on a base of its own and most records
// take two or three bytes, where lackey's line takes fifteen. The count
// in the header lets a reader tell a truncated file from a short one, and
// bytes after the last record are refused.
//
// A page reference is one 4 KiB page a record touches: a record whose
// bytes cross a page boundary is a reference to each page it touches, and
// an M record, though it both reads and writes, is one reference a page.
// A record of size 0 is taken to touch the page of its address.

#include <mmkit/pager/replacement.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mmkit::tools::replay {

// --- records ----------------------------------------------------------------

/// What a trace record does. The values are the binary format's.
enum class ref_kind : std::uint8_t {
  instruction = 0,
  load = 1,
  store = 2,
  modify = 3
};

/// Lackey's letter for a kind: I, L, S, M.
constexpr char kind_letter(ref_kind k) noexcept {
  switch (k) {
    case ref_kind::instruction: return 'I';
    case ref_kind::load: return 'L';
    case ref_kind::store: return 'S';
    case ref_kind::modify: return 'M';
  }
  return '?';
}

struct trace_record {
  ref_kind kind = ref_kind::load;
  std::uint64_t address = 0;
  std::uint64_t size = 0;
  friend bool operator==(const trace_record&, const trace_record&) = default;
};

enum class trace_format : std::uint8_t { lackey, binary };

constexpr const char* format_name(trace_format f) noexcept {
  return f == trace_format::binary ? "binary" : "lackey";
}

inline constexpr std::uint64_t page_shift = 12;

/// The first and last page a record touches (a size of 0 touches the
/// page of its address; a record running past the top of the address
/// space stops at its last page).
constexpr page_key first_page(const trace_record& r) noexcept {
  return r.address >> page_shift;
}
constexpr page_key last_page(const trace_record& r) noexcept {
  const std::uint64_t room = ~std::uint64_t{0} - r.address;
  const std::uint64_t extra = r.size == 0 ? 0 : r.size - 1;
  return (r.address + (extra < room ? extra : room)) >> page_shift;
}
/// The page references a record makes.
constexpr std::uint64_t pages_touched(const trace_record& r) noexcept {
  return last_page(r) - first_page(r) + 1;
}

/// A trace as page references, in order: keys[i] is the page (address >>
/// 12) of reference i, kinds[i] the kind of the record that made it.
struct page_refs {
  std::vector<page_key> keys;
  std::vector<ref_kind> kinds;
  std::uint64_t size() const noexcept { return keys.size(); }
};

inline page_refs expand(std::span<const trace_record> records) {
  page_refs out;
  std::uint64_t n = 0;
  for (const trace_record& r : records) n += pages_touched(r);
  out.keys.reserve(n);
  out.kinds.reserve(n);
  for (const trace_record& r : records) {
    const page_key last = last_page(r);
    for (page_key p = first_page(r);; ++p) {
      out.keys.push_back(p);
      out.kinds.push_back(r.kind);
      if (p == last) break;
    }
  }
  return out;
}

// --- lackey text ------------------------------------------------------------

namespace detail {

constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r';
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Parses one lackey line. Returns: 1 a record (in `out`), 0 a line to
/// skip, -1 not a record.
inline int parse_lackey_line(std::string_view line, trace_record& out) {
  if (line.starts_with("==") || line.starts_with("--")) return 0;
  std::size_t i = 0;
  while (i < line.size() && is_blank(line[i])) ++i;
  if (i == line.size()) return 0;
  switch (line[i]) {
    case 'I': out.kind = ref_kind::instruction; break;
    case 'L': out.kind = ref_kind::load; break;
    case 'S': out.kind = ref_kind::store; break;
    case 'M': out.kind = ref_kind::modify; break;
    default: return -1;
  }
  ++i;
  const std::size_t kind_end = i;
  while (i < line.size() && line[i] == ' ') ++i;
  if (i == kind_end) return -1;
  std::uint64_t address = 0;
  const std::size_t address_start = i;
  for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
    if (address >> 60) return -1;  // more than 64 bits
    address = address << 4 | static_cast<unsigned>(hex_value(line[i]));
  }
  if (i == address_start || i == line.size() || line[i] != ',') return -1;
  ++i;
  std::uint64_t size = 0;
  const std::size_t size_start = i;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
    const auto digit = static_cast<std::uint64_t>(line[i] - '0');
    if (size > (~std::uint64_t{0} - digit) / 10) return -1;
    size = size * 10 + digit;
  }
  if (i == size_start) return -1;
  while (i < line.size() && is_blank(line[i])) ++i;
  if (i != line.size()) return -1;
  out.address = address;
  out.size = size;
  return 1;
}

}  // namespace detail

/// Effects: appends the records of lackey text `text` to `out`.
/// Returns: whether every line was a record or a line to skip; when not,
/// `error` names the first line that was neither.
inline bool parse_lackey(std::string_view text, std::vector<trace_record>& out,
                         std::string& error) {
  std::uint64_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    trace_record r;
    const int got = detail::parse_lackey_line(line, r);
    if (got < 0) {
      std::string shown(line.substr(0, 40));
      for (char& c : shown)
        if (static_cast<unsigned char>(c) < 0x20 ||
            static_cast<unsigned char>(c) > 0x7e)
          c = '?';
      error = "line " + std::to_string(line_number) +
              " is not a lackey record (\"" + shown +
              (line.size() > 40 ? "...\")" : "\")");
      return false;
    }
    if (got > 0) out.push_back(r);
  }
  return true;
}

/// Appends one record as lackey prints it.
inline void append_lackey(std::string& out, const trace_record& r) {
  char b[64];
  const int n =
      r.kind == ref_kind::instruction
          ? std::snprintf(b, sizeof b, "I  %08llx,%llu\n",
                          static_cast<unsigned long long>(r.address),
                          static_cast<unsigned long long>(r.size))
          : std::snprintf(b, sizeof b, " %c %08llx,%llu\n", kind_letter(r.kind),
                          static_cast<unsigned long long>(r.address),
                          static_cast<unsigned long long>(r.size));
  out.append(b, static_cast<std::size_t>(n));
}

inline std::string format_lackey(std::span<const trace_record> records) {
  std::string out;
  out.reserve(records.size() * 16);
  for (const trace_record& r : records) append_lackey(out, r);
  return out;
}

// --- the binary format ------------------------------------------------------

inline constexpr unsigned char binary_magic[8] = {0x89, 'M', 'M', 'K',
                                                  'T',  'R', 'C', 0x1A};
inline constexpr std::uint16_t binary_version = 1;
inline constexpr std::size_t binary_header_size = 20;

/// Whether `bytes` start as a binary trace does (the magic): how the tool
/// tells the formats apart, whatever the file is called.
inline bool is_binary_trace(std::string_view bytes) noexcept {
  return bytes.size() >= sizeof binary_magic &&
         std::memcmp(bytes.data(), binary_magic, sizeof binary_magic) == 0;
}

namespace detail {

inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

/// Reads a varint at `at`, moving past it. Returns: false when the bytes
/// end first or it does not fit 64 bits.
inline bool get_varint(std::string_view bytes, std::size_t& at,
                       std::uint64_t& v) noexcept {
  v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (at == bytes.size()) return false;
    const auto b = static_cast<unsigned char>(bytes[at++]);
    // The tenth byte holds bit 63 only.
    if (shift == 63 && b > 1) return false;
    v |= std::uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

constexpr std::uint64_t zigzag(std::uint64_t delta) noexcept {
  return delta << 1 ^ (0 - (delta >> 63));
}
constexpr std::uint64_t unzigzag(std::uint64_t z) noexcept {
  return z >> 1 ^ (0 - (z & 1));
}

inline void put_le(std::string& out, std::uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>(v >> (8 * i) & 0xff));
}
inline std::uint64_t get_le(std::string_view bytes, std::size_t at,
                            unsigned n) noexcept {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < n; ++i)
    v |= std::uint64_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  return v;
}

/// The stream a kind's addresses are coded in: 0 instructions, 1 data.
constexpr unsigned stream_of(ref_kind k) noexcept {
  return k == ref_kind::instruction ? 0 : 1;
}

/// The sizes of codes 13 and 14; code 15 says a varint follows.
inline constexpr std::uint64_t size_of_code_13 = 16;
inline constexpr std::uint64_t size_of_code_14 = 32;
inline constexpr unsigned size_escape = 15;

constexpr unsigned size_code(std::uint64_t size) noexcept {
  if (size <= 12) return static_cast<unsigned>(size);
  if (size == size_of_code_13) return 13;
  if (size == size_of_code_14) return 14;
  return size_escape;
}

/// The bases of both streams, as the writer and the reader keep them.
struct address_bases {
  static constexpr unsigned count = 4;
  std::uint64_t base[2][count] = {};

  /// The base nearest `address` in `stream` (the lowest of equals).
  unsigned nearest(unsigned stream, std::uint64_t address) const noexcept {
    unsigned best = 0;
    std::uint64_t best_z = ~std::uint64_t{0};
    for (unsigned i = 0; i < count; ++i) {
      const std::uint64_t z = zigzag(address - base[stream][i]);
      if (z < best_z) {
        best_z = z;
        best = i;
      }
    }
    return best;
  }
};

}  // namespace detail

inline std::string encode_binary(std::span<const trace_record> records) {
  std::string out;
  out.reserve(binary_header_size + records.size() * 3);
  out.append(reinterpret_cast<const char*>(binary_magic), sizeof binary_magic);
  detail::put_le(out, binary_version, 2);
  detail::put_le(out, 0, 2);
  detail::put_le(out, records.size(), 8);
  detail::address_bases bases;
  for (const trace_record& r : records) {
    const unsigned stream = detail::stream_of(r.kind);
    const unsigned b = bases.nearest(stream, r.address);
    const unsigned code = detail::size_code(r.size);
    out.push_back(
        static_cast<char>(code << 4 | b << 2 | static_cast<unsigned>(r.kind)));
    if (code == detail::size_escape) detail::put_varint(out, r.size);
    std::uint64_t& base = bases.base[stream][b];
    detail::put_varint(out, detail::zigzag(r.address - base));
    base = r.address;
  }
  return out;
}

/// Effects: appends the records of the binary trace `bytes` to `out`.
/// Returns: whether the whole file was read; when not, `error` says what
/// was wrong and where (and nothing is appended).
inline bool decode_binary(std::string_view bytes,
                          std::vector<trace_record>& out, std::string& error) {
  if (!is_binary_trace(bytes)) {
    error = "not a binary trace (no magic)";
    return false;
  }
  if (bytes.size() < binary_header_size) {
    error = "truncated binary trace: the header is " +
            std::to_string(binary_header_size) + " bytes, the file " +
            std::to_string(bytes.size());
    return false;
  }
  const auto version = detail::get_le(bytes, 8, 2);
  const auto flags = detail::get_le(bytes, 10, 2);
  const std::uint64_t count = detail::get_le(bytes, 12, 8);
  if (version != binary_version) {
    error = "binary trace version " + std::to_string(version) +
            " (this tool reads version " + std::to_string(binary_version) + ")";
    return false;
  }
  if (flags != 0) {
    error = "binary trace with unknown flags " + std::to_string(flags);
    return false;
  }
  // Every record takes two bytes at least: a count beyond that is a
  // truncated (or damaged) file, found below; nothing is reserved for it.
  const std::size_t kept = out.size();
  const std::uint64_t room = (bytes.size() - binary_header_size) / 2;
  out.reserve(kept + (count < room ? count : room));
  detail::address_bases bases;
  std::size_t at = binary_header_size;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::size_t start = at;
    trace_record r;
    bool ok = at < bytes.size();
    unsigned b = 0;
    if (ok) {
      const auto head = static_cast<unsigned char>(bytes[at++]);
      r.kind = static_cast<ref_kind>(head & 3);
      b = head >> 2 & 3;
      const unsigned code = head >> 4;
      r.size = code <= 12   ? code
               : code == 13 ? detail::size_of_code_13
               : code == 14 ? detail::size_of_code_14
                            : 0;
      if (code == detail::size_escape)
        ok = detail::get_varint(bytes, at, r.size);
    }
    std::uint64_t delta = 0;
    ok = ok && detail::get_varint(bytes, at, delta);
    if (!ok) {
      out.resize(kept);
      error = at >= bytes.size()
                  ? "truncated binary trace: the header says " +
                        std::to_string(count) +
                        " records, the file ends in "
                        "record " +
                        std::to_string(i) + " (offset " +
                        std::to_string(start) + ")"
                  : "damaged binary trace: record " + std::to_string(i) +
                        " (offset " + std::to_string(start) +
                        ") has a number longer than 64 bits";
      return false;
    }
    std::uint64_t& base = bases.base[detail::stream_of(r.kind)][b];
    r.address = base + detail::unzigzag(delta);
    base = r.address;
    out.push_back(r);
  }
  if (at != bytes.size()) {
    out.resize(kept);
    error = "damaged binary trace: " + std::to_string(bytes.size() - at) +
            " bytes after the last of its " + std::to_string(count) +
            " records";
    return false;
  }
  return true;
}

// --- files ------------------------------------------------------------------

/// Effects: `bytes` become the contents of the file at `path`.
/// Returns: whether it could be read; `error` says why not.
inline bool read_file(const std::string& path, std::string& bytes,
                      std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  bytes.clear();
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) != 0)
    bytes.append(buffer, n);
  const bool failed = std::ferror(f) != 0;
  const int saved = errno;
  std::fclose(f);
  if (failed) {
    error = "cannot read " + path + ": " + std::strerror(saved);
    return false;
  }
  return true;
}

inline bool write_file(const std::string& path, std::string_view bytes,
                       std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    error = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  const bool written =
      std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const int saved = errno;
  if (std::fclose(f) != 0 || !written) {
    error =
        "cannot write " + path + ": " + std::strerror(written ? errno : saved);
    return false;
  }
  return true;
}

/// A trace as read from a file, and which format it was in.
struct loaded_trace {
  std::vector<trace_record> records;
  trace_format format = trace_format::lackey;
};

/// Reads `bytes` as a binary trace if they start with the magic, else as
/// lackey text. Returns: whether they were one or the other; `error` says
/// why not.
inline bool parse_trace(std::string_view bytes, loaded_trace& out,
                        std::string& error) {
  out.records.clear();
  if (is_binary_trace(bytes)) {
    out.format = trace_format::binary;
    return decode_binary(bytes, out.records, error);
  }
  out.format = trace_format::lackey;
  if (parse_lackey(bytes, out.records, error)) return true;
  error = "neither a binary trace (no magic) nor lackey text: " + error;
  return false;
}

inline bool load_trace(const std::string& path, loaded_trace& out,
                       std::string& error) {
  std::string bytes;
  if (!read_file(path, bytes, error)) return false;
  if (parse_trace(bytes, out, error)) return true;
  error = path + ": " + error;
  return false;
}

}  // namespace mmkit::tools::replay
