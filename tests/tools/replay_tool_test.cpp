// mmkit-replay: its trace formats in-process (lackey lines, the binary
// format's round trip, every truncation of a binary file refused), and the
// built executable on small generated traces: the last line's format, the
// references it counts, LRU and OPT faults against Mattson's stack
// distances and a scan of Belady's farthest next use written here, the
// conversion both ways, formats told apart by content whatever the file
// name, clear errors for damaged files, and a sweep's CSV.
#include "trace.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace mmkit;
namespace rp = mmkit::tools::replay;

namespace {

/// A program's kind of trace: instruction fetches walking a little code,
/// data references around a few hot pages and a wider heap, some records
/// crossing page boundaries, and a few pages outside x86-64 user space
/// (the vsyscall page, the first 64 KiB) that the tool must move.
std::vector<rp::trace_record> program_trace(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<rp::trace_record> t;
  std::uint64_t pc = 0x401000;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t r = rng() % 100;
    if (r < 40) {
      pc = rng() % 16 == 0 ? 0x401000 + (rng() % 12) * 4096 + rng() % 4000
                           : pc + 1 + rng() % 7;
      t.push_back({rp::ref_kind::instruction, pc, 1 + rng() % 7});
      continue;
    }
    std::uint64_t address;
    if (r < 70)  // a hot stack
      address = 0x1ffefff000 - (rng() % 3) * 4096 + rng() % 4096;
    else if (r < 97)  // a heap of 60 pages
      address = 0x4a0000 + (rng() % 60) * 4096 + rng() % 4096;
    else if (r < 98)
      address = 0xffffffffff600000 + rng() % 64;  // vsyscall
    else if (r < 99)
      address = 0x1000 + rng() % 64;  // below 64 KiB
    else
      address = 0x4a0000 + (rng() % 60) * 4096 + 4090;  // crosses a page
    const rp::ref_kind kinds[] = {rp::ref_kind::load, rp::ref_kind::store,
                                  rp::ref_kind::modify};
    t.push_back({kinds[rng() % 3], address, std::uint64_t{1} << (rng() % 4)});
  }
  return t;
}

// The built executable's tests: files, figures worked out here, runs.
#if defined(MMKIT_REPLAY_EXE)

/// A directory of its own under /tmp, removed with everything in it.
struct temp_dir {
  temp_dir() {
    char t[] = "/tmp/mmkit-replay-XXXXXX";
    REQUIRE(::mkdtemp(t) != nullptr);
    path = t;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const char* name) const { return path + "/" + name; }
  std::string path;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
void write_all(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// The pages a trace references, one per page each record touches,
/// worked out here from the addresses.
std::vector<page_key> page_string(const std::vector<rp::trace_record>& t) {
  std::vector<page_key> keys;
  for (const rp::trace_record& r : t) {
    const std::uint64_t end = r.address + (r.size == 0 ? 1 : r.size);
    for (std::uint64_t a = r.address & ~std::uint64_t{0xfff}; a < end;
         a += 4096)
      keys.push_back(a / 4096);
  }
  return keys;
}

/// LRU faults of a memory of `frames` frames by stack distance: a
/// reference faults when its page is not among the `frames` most recently
/// used distinct pages.
std::uint64_t lru_faults(const std::vector<page_key>& keys,
                         std::uint64_t frames) {
  std::vector<page_key> stack;  // most recent first
  std::uint64_t faults = 0;
  for (page_key k : keys) {
    const auto it = std::find(stack.begin(), stack.end(), k);
    if (it == stack.end() ||
        static_cast<std::uint64_t>(it - stack.begin()) >= frames)
      ++faults;
    if (it != stack.end()) stack.erase(it);
    stack.insert(stack.begin(), k);
  }
  return faults;
}

/// OPT faults: on a fault with the memory full, the resident page next
/// used farthest ahead goes (found by looking ahead from here).
std::uint64_t opt_faults(const std::vector<page_key>& keys,
                         std::uint64_t frames) {
  std::vector<page_key> memory;
  std::uint64_t faults = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (std::find(memory.begin(), memory.end(), keys[i]) != memory.end())
      continue;
    ++faults;
    if (memory.size() == frames) {
      std::size_t victim = 0, farthest = 0;
      for (std::size_t m = 0; m < memory.size(); ++m) {
        std::size_t next = i + 1;
        while (next < keys.size() && keys[next] != memory[m]) ++next;
        if (next > farthest) {
          farthest = next;
          victim = m;
        }
      }
      memory[victim] = keys[i];
    } else {
      memory.push_back(keys[i]);
    }
  }
  return faults;
}

struct outcome {
  int status = -1;
  std::string out, err;
  /// The last line of stdout.
  std::string last() const {
    std::string s = out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    const std::size_t nl = s.rfind('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
  }
};

/// The built executable, its output captured in `dir`; `env` goes in
/// front of the command (a PATH, say).
outcome run_tool(const std::vector<std::string>& args, const temp_dir& dir,
                 const std::string& env = "") {
  std::string cmd = env + " '" MMKIT_REPLAY_EXE "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " >'" + dir.file("stdout") + "' 2>'" + dir.file("stderr") + "'";
  const int rc = std::system(cmd.c_str());
  outcome r;
  r.status = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_all(dir.file("stdout"));
  r.err = read_all(dir.file("stderr"));
  return r;
}

/// The figures of a last line, by name; empty when it is not one.
std::unordered_map<std::string, std::string> figures(const std::string& line) {
  static const std::regex form(
      "policy=(nt|clock|fifo|lru|opt) frames=[0-9]+ accesses=[0-9]+ "
      "faults=[0-9]+ demand_zero=[0-9]+ soft=[0-9]+ hard=[0-9]+ "
      "cow=[0-9]+ pagefile_writes=[0-9]+");
  std::unordered_map<std::string, std::string> f;
  if (!std::regex_match(line, form)) return f;
  std::istringstream in(line);
  std::string field;
  while (in >> field) {
    const std::size_t eq = field.find('=');
    f[field.substr(0, eq)] = field.substr(eq + 1);
  }
  return f;
}
std::uint64_t figure(const std::string& line, const char* name) {
  const auto f = figures(line);
  const auto it = f.find(name);
  REQUIRE(it != f.end());
  return std::stoull(it->second);
}

/// The fields of a CSV line.
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> f;
  std::istringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) f.push_back(field);
  return f;
}
#endif

}  // namespace

TEST_SUITE("tools") {
  TEST_CASE("replay trace: lackey lines, banners and refusals") {
    const std::string text =
        "==12345== Lackey, an example Valgrind tool\n"
        "==12345== Command: /bin/true\n"
        "--12345-- a message\n"
        "\n"
        "I  04016a0,3\n"
        " L 1ffefffd48,8\n"
        " S 1ffefffd40,8\r\n"
        " M 0403ff8,4\n"
        "I  ffffffffff600000,16\n";
    std::vector<rp::trace_record> t;
    std::string error;
    REQUIRE(rp::parse_lackey(text, t, error));
    REQUIRE(t.size() == 5);
    CHECK(t[0] == rp::trace_record{rp::ref_kind::instruction, 0x4016a0, 3});
    CHECK(t[1] == rp::trace_record{rp::ref_kind::load, 0x1ffefffd48, 8});
    CHECK(t[2] == rp::trace_record{rp::ref_kind::store, 0x1ffefffd40, 8});
    CHECK(t[3] == rp::trace_record{rp::ref_kind::modify, 0x403ff8, 4});
    CHECK(t[4].address == 0xffffffffff600000);
    // Printed back as lackey prints (banners dropped), and read again.
    std::vector<rp::trace_record> again;
    REQUIRE(rp::parse_lackey(rp::format_lackey(t), again, error));
    CHECK(again == t);
    CHECK(rp::format_lackey(t).starts_with("I  004016a0,3\n L 1ffefffd48,8\n"));

    for (const char* bad :
         {"X 1234,4\n", " L 1234\n", " L ,4\n", " L 12g4,4\n", "L1234,4\n",
          " L 1234,4 extra\n", " L 11112222333344445,4\n",
          " L 1234,99999999999999999999\n", "\x01\x02\x03garbage\n"}) {
      CAPTURE(bad);
      std::vector<rp::trace_record> none;
      CHECK_FALSE(rp::parse_lackey(bad, none, error));
      CHECK(error.starts_with("line 1 is not a lackey record"));
    }
    std::vector<rp::trace_record> none;
    CHECK_FALSE(rp::parse_lackey("I  1000,4\n\n L nope\n", none, error));
    CHECK(error.starts_with("line 3 "));
  }

  TEST_CASE("replay trace: a record is one reference per page it touches") {
    using rp::ref_kind;
    const std::vector<rp::trace_record> t{
        {ref_kind::load, 0x10ff8, 8},            // one page, ends at its end
        {ref_kind::load, 0x10ffc, 8},            // crosses: two
        {ref_kind::modify, 0x20ffe, 4},          // M crossing: two, not four
        {ref_kind::store, 0x30000, 0},           // size 0: its page
        {ref_kind::instruction, 0x40000, 8193},  // three pages
        {ref_kind::load, ~std::uint64_t{0} - 3, 16}};  // stops at the top
    const rp::page_refs refs = rp::expand(t);
    const std::vector<page_key> want{0x10, 0x10, 0x11, 0x20, 0x21,
                                     0x30, 0x40, 0x41, 0x42, 0xfffffffffffff};
    CHECK(refs.keys == want);
    CHECK(refs.kinds[3] == ref_kind::modify);
    CHECK(refs.kinds[4] == ref_kind::modify);
  }

  TEST_CASE("replay trace: the binary format round-trips and is compact") {
    const auto t = program_trace(5000, 11);
    std::vector<rp::trace_record> extremes{
        {rp::ref_kind::load, 0, 0},
        {rp::ref_kind::store, ~std::uint64_t{0}, ~std::uint64_t{0}},
        {rp::ref_kind::modify, 0x8000000000000000, 62},
        {rp::ref_kind::instruction, 0x7fffffffffffffff, 63},
        {rp::ref_kind::load, 1, 64}};
    for (const auto& records : {t, extremes}) {
      const std::string bytes = rp::encode_binary(records);
      CHECK(rp::is_binary_trace(bytes));
      std::vector<rp::trace_record> back;
      std::string error;
      REQUIRE(rp::decode_binary(bytes, back, error));
      CHECK(back == records);
    }
    const std::string bytes = rp::encode_binary(t);
    // Three bytes a record or so (the heap here is random over 60 pages:
    // a real program's references are closer), against lackey's fifteen.
    CHECK(bytes.size() < t.size() * 4);
    CHECK(bytes.size() * 4 < rp::format_lackey(t).size());
    // Lackey text never passes for binary.
    CHECK_FALSE(rp::is_binary_trace(rp::format_lackey(t)));
  }

  TEST_CASE("replay trace: every truncation or damage of a binary trace") {
    const std::string bytes = rp::encode_binary(program_trace(300, 5));
    // Every proper prefix but the empty file (an empty lackey trace):
    // refused, nothing kept, the cause named.
    for (std::size_t n = 1; n < bytes.size(); ++n) {
      CAPTURE(n);
      rp::loaded_trace t;
      std::string error;
      CHECK_FALSE(rp::parse_trace(bytes.substr(0, n), t, error));
      CHECK(t.records.empty());
      CHECK_FALSE(error.empty());
      if (n >= 8) CHECK(error.find("truncated binary trace") == 0);
    }
    // A byte more, another version, flags, a varint past 64 bits.
    std::vector<rp::trace_record> out;
    std::string error;
    CHECK_FALSE(rp::decode_binary(bytes + '\0', out, error));
    CHECK(error.find("1 bytes after the last of its 300 records") !=
          std::string::npos);
    std::string v2 = bytes;
    v2[8] = 2;
    CHECK_FALSE(rp::decode_binary(v2, out, error));
    CHECK(error.find("version 2") != std::string::npos);
    std::string flagged = bytes;
    flagged[10] = 1;
    CHECK_FALSE(rp::decode_binary(flagged, out, error));
    std::string header = bytes.substr(0, 20);
    for (int i = 12; i < 20; ++i) header[i] = i == 12 ? 1 : 0;  // 1 record
    CHECK_FALSE(rp::decode_binary(
        header + "\x01" + std::string(10, '\xff') + "\x01", out, error));
    CHECK(error.find("longer than 64 bits") != std::string::npos);
    // A huge count in a short file: refused, nothing reserved for it.
    std::string huge = bytes.substr(0, 20);
    for (int i = 12; i < 20; ++i) huge[i] = '\xff';
    CHECK_FALSE(rp::decode_binary(huge + "\x04\x02", out, error));
    CHECK(out.empty());
    // Random bytes behind the magic: refused or read, never a crash.
    std::mt19937_64 rng(77);
    for (int round = 0; round < 2000; ++round) {
      std::string junk = bytes.substr(0, 20);
      const std::size_t len = rng() % 40;
      for (std::size_t i = 0; i < len; ++i)
        junk.push_back(static_cast<char>(rng()));
      if (round % 2) junk[12] = static_cast<char>(rng() % 8);
      rp::loaded_trace t;
      (void)rp::parse_trace(junk, t, error);
    }
  }

#if defined(MMKIT_REPLAY_EXE)

  TEST_CASE("mmkit-replay: the last line, and references counted by page") {
    temp_dir dir;
    // 5 records: 1 + 2 (crossing) + 2 (M crossing) + 1 + 3 references.
    write_all(dir.file("t.lackey"),
              "==1== Lackey\n"
              "I  00401000,4\n"
              " L 004a0ffc,8\n"
              " M 004a1ffe,4\n"
              " S 004a3000,8\n"
              "I  00402ff0,8200\n");
    const std::uint64_t lru = lru_faults(
        {0x401, 0x4a0, 0x4a1, 0x4a1, 0x4a2, 0x4a3, 0x402, 0x403, 0x404}, 2);
    const outcome r = run_tool(
        {"--policy", "lru", "--frames", "2", dir.file("t.lackey")}, dir);
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());  // no progress bar: stderr is not a terminal
    CHECK(r.last() ==
          "policy=lru frames=2 accesses=9 faults=" + std::to_string(lru) +
              " demand_zero=8 soft=" + std::to_string(lru - 8) +
              " hard=0 cow=0 pagefile_writes=0");
    CHECK(r.out.starts_with("trace=" + dir.file("t.lackey") +
                            " format=lackey records=5 references=9 "));
  }

  TEST_CASE("mmkit-replay: LRU and OPT faults are the textbook counts") {
    temp_dir dir;
    const auto t = program_trace(2500, 3);
    const std::vector<page_key> keys = page_string(t);
    const std::set<page_key> distinct(keys.begin(), keys.end());
    write_all(dir.file("t.lackey"), rp::format_lackey(t));
    write_all(dir.file("t.bin"), rp::encode_binary(t));
    for (std::uint64_t frames : {1u, 3u, 8u, 20u, 50u, 200u}) {
      CAPTURE(frames);
      const std::uint64_t want_lru = lru_faults(keys, frames);
      const std::uint64_t want_opt = opt_faults(keys, frames);
      for (const char* file : {"t.lackey", "t.bin"}) {
        CAPTURE(file);
        for (const char* policy : {"lru", "opt"}) {
          CAPTURE(policy);
          const outcome r = run_tool({"--policy", policy, "--frames",
                                      std::to_string(frames), dir.file(file)},
                                     dir);
          REQUIRE(r.status == 0);
          CHECK(r.err.empty());  // no disagreement with the library
          const std::string line = r.last();
          CHECK(figure(line, "accesses") == keys.size());
          const std::uint64_t faults = figure(line, "faults");
          CHECK(faults == (policy[0] == 'l' ? want_lru : want_opt));
          CHECK(figure(line, "demand_zero") == distinct.size());
          CHECK(figure(line, "soft") + figure(line, "hard") ==
                faults - distinct.size());
        }
      }
      // The other policies: between OPT and every reference.
      for (const char* policy : {"nt", "clock", "fifo"}) {
        CAPTURE(policy);
        const outcome r = run_tool({"--policy", policy, "--frames",
                                    std::to_string(frames), dir.file("t.bin")},
                                   dir);
        REQUIRE(r.status == 0);
        const std::uint64_t faults = figure(r.last(), "faults");
        CHECK(faults >= want_opt);
        CHECK(faults <= keys.size());
      }
    }
  }

  TEST_CASE("mmkit-replay: a progress bar when stderr is a terminal") {
    // util-linux's script(1) runs the tool on a pseudo-terminal; without
    // it there is no terminal to test with (the other tests check that a
    // file gets no bar).
    if (::access("/usr/bin/script", X_OK) != 0) return;
    temp_dir dir;
    write_all(dir.file("t.bin"), rp::encode_binary(program_trace(20000, 4)));
    const std::string cmd = "/usr/bin/script -qec \"'" MMKIT_REPLAY_EXE
                            "' --policy fifo --frames 8 '" +
                            dir.file("t.bin") + "' >'" + dir.file("stdout") +
                            "'\" /dev/null >'" + dir.file("tty") +
                            "' 2>&1 </dev/null";
    const int rc = std::system(cmd.c_str());
    REQUIRE((rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0));
    const std::string tty = read_all(dir.file("tty"));
    CHECK(tty.find("\r[") != std::string::npos);
    CHECK(tty.find("100% fifo frames=8") != std::string::npos);
    const outcome r{0, read_all(dir.file("stdout")), ""};
    CHECK(r.out.find('\r') == std::string::npos);
    CHECK(figures(r.last()).size() == 9);
  }

  TEST_CASE("mmkit-replay: --convert both ways; formats told by content") {
    temp_dir dir;
    const auto t = program_trace(3000, 8);
    // Text with banners in front, as valgrind writes it.
    write_all(
        dir.file("in.bin"),  // a text file, whatever its name
        "==42== Lackey, an example Valgrind tool\n" + rp::format_lackey(t));
    outcome r =
        run_tool({"--convert", dir.file("in.bin"), dir.file("b.txt")}, dir);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("(lackey, 3000 records)") != std::string::npos);
    const std::string binary = read_all(dir.file("b.txt"));
    CHECK(rp::is_binary_trace(binary));
    std::vector<rp::trace_record> back;
    std::string error;
    REQUIRE(rp::decode_binary(binary, back, error));
    CHECK(back == t);

    r = run_tool({"--convert", dir.file("b.txt"), dir.file("again.bin")}, dir);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("(binary, 3000 records)") != std::string::npos);
    CHECK(read_all(dir.file("again.bin")) == rp::format_lackey(t));

    // The same replay from either file, whatever the names say.
    const outcome a = run_tool(
        {"--policy", "clock", "--frames", "16", dir.file("in.bin")}, dir);
    const outcome b = run_tool(
        {"--policy", "clock", "--frames", "16", dir.file("b.txt")}, dir);
    REQUIRE(a.status == 0);
    REQUIRE(b.status == 0);
    CHECK(a.last() == b.last());
    CHECK(a.out.find("format=lackey") != std::string::npos);
    CHECK(b.out.find("format=binary") != std::string::npos);
  }

  TEST_CASE("mmkit-replay: damaged files: a clear error and exit 2") {
    temp_dir dir;
    const std::string bytes = rp::encode_binary(program_trace(400, 2));
    write_all(dir.file("cut.bin"), bytes.substr(0, bytes.size() - 3));
    write_all(dir.file("header.bin"), bytes.substr(0, 13));
    std::string junk = bytes.substr(0, 20);
    junk += std::string(64, '\xff');
    write_all(dir.file("junk.bin"), junk);
    std::string noise;
    std::mt19937_64 rng(5);
    for (int i = 0; i < 4096; ++i) noise.push_back(static_cast<char>(rng()));
    write_all(dir.file("noise"), noise);
    struct expected {
      const char* file;
      const char* cause;
    };
    for (const expected& e :
         {expected{"cut.bin",
                   "truncated binary trace: the header says 400 "
                   "records, the file ends in record "},
          expected{"header.bin",
                   "truncated binary trace: the header is 20 "
                   "bytes, the file 13"},
          expected{"junk.bin", "damaged binary trace"},
          expected{"noise",
                   "neither a binary trace (no magic) nor lackey "
                   "text: line 1 is not a lackey record"},
          expected{"missing", "cannot open"}}) {
      CAPTURE(e.file);
      for (const std::vector<std::string>& args :
           {std::vector<std::string>{"--policy", "lru", "--frames", "4",
                                     dir.file(e.file)},
            std::vector<std::string>{"--convert", dir.file(e.file),
                                     dir.file("out")}}) {
        const outcome r = run_tool(args, dir);
        CHECK(r.status == 2);
        CHECK(r.err.find(e.cause) != std::string::npos);
        CHECK(r.err.starts_with("mmkit-replay: "));
        CHECK(r.err.find(dir.file(e.file) + ": ") != std::string::npos);
        CHECK(r.out.find("policy=") == std::string::npos);
      }
    }
    // Bad command lines.
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--policy", "mru", "--frames", "4", "x"},
          std::vector<std::string>{"--policy", "lru", "--frames", "0", "x"},
          std::vector<std::string>{"--policy", "lru", "x"},
          std::vector<std::string>{"--sweep-frames", "8,,16", "x"},
          std::vector<std::string>{"--convert", "x"}}) {
      const outcome r = run_tool(args, dir);
      CHECK(r.status == 2);
      CHECK(r.err.find("usage: mmkit-replay") != std::string::npos);
    }
  }

  TEST_CASE("mmkit-replay: --sweep writes the CSV, gnuplot or not") {
    temp_dir dir;
    const auto t = program_trace(1500, 21);
    const std::vector<page_key> keys = page_string(t);
    write_all(dir.file("t.bin"), rp::encode_binary(t));
    // No gnuplot on this PATH: said on stderr, the sweep stands.
    const outcome r = run_tool({"--sweep", "--sweep-frames", "16,4,8", "--csv",
                                dir.file("s.csv"), dir.file("t.bin")},
                               dir, "PATH='" + dir.path + "'");
    REQUIRE(r.status == 0);
    CHECK(r.err.find("gnuplot not found") != std::string::npos);
    const std::string csv = read_all(dir.file("s.csv"));
    std::istringstream in(csv);
    std::string line;
    REQUIRE(std::getline(in, line));
    CHECK(
        line.starts_with("policy,frames,accesses,faults,demand_zero,soft,"
                         "hard,cow,pagefile_writes"));
    std::vector<std::string> rows;
    while (std::getline(in, line)) rows.push_back(line);
    REQUIRE(rows.size() == 15);  // 5 policies x 3 frame counts
    const char* order[] = {"nt", "clock", "fifo", "lru", "opt"};
    for (std::size_t i = 0; i < rows.size(); ++i) {
      CAPTURE(rows[i]);
      const std::uint64_t frames = std::uint64_t{4} << (i % 3);
      CHECK(rows[i].starts_with(std::string(order[i / 3]) + "," +
                                std::to_string(frames) + "," +
                                std::to_string(keys.size()) + ","));
      const std::vector<std::string> f = split_csv(rows[i]);
      REQUIRE(f.size() == 10);
      const std::uint64_t faults = std::stoull(f[3]);
      if (i / 3 == 3) CHECK(faults == lru_faults(keys, frames));
      if (i / 3 == 4) CHECK(faults == opt_faults(keys, frames));
    }
    // stdout: the trace line and a line a run, the CSV's figures.
    CHECK(figure(r.last(), "frames") == 16);
    CHECK(r.last().starts_with("policy=opt "));
  }
#endif
}  // TEST_SUITE
