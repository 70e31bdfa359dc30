#pragma once
// mmkit-replay's command line: one replay, a sweep of frame counts by
// policies (a CSV and a gnuplot chart of faults against memory), and the
// conversion between the trace formats. trace.hpp reads and writes the
// traces; engine.hpp replays them through an address space.
//
//   mmkit-replay --policy nt|clock|fifo|lru|opt --frames N
//                [--ram PAGES] [--pagefile FILE] TRACE
//   mmkit-replay --sweep [--sweep-frames N,N,...] [--csv FILE]
//                [--plot FILE] [--ram PAGES] [--pagefile FILE] TRACE
//   mmkit-replay --convert IN OUT
//
// Output (stdout): a line about the trace, then for each run
//   policy=<p> frames=<n> accesses=<a> faults=<f> demand_zero=<d> soft=<s>
//   hard=<h> cow=<c> pagefile_writes=<w>
// (a single replay prints one, and it is the last line). A progress bar
// goes to stderr when stderr is a terminal, and nowhere else.
//
// Exit status: 0 done; 1 a run the library refused (a commit, an access;
// stderr says which reference); 2 a usage error, or a file that cannot be
// read, written or parsed. A sweep whose chart cannot be drawn (no
// gnuplot) still succeeds: stderr says why, the CSV is written.

#include "engine.hpp"
#include "trace.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace mmkit::tools::replay {

inline constexpr const char* usage_text =
    "usage: mmkit-replay --policy nt|clock|fifo|lru|opt --frames N\n"
    "                    [--ram PAGES] [--pagefile FILE] TRACE\n"
    "       mmkit-replay --sweep [--sweep-frames N,N,...] [--csv FILE]\n"
    "                    [--plot FILE] [--ram PAGES] [--pagefile FILE] TRACE\n"
    "       mmkit-replay --convert IN OUT\n"
    "\n"
    "Replays TRACE's memory references through an mmkit address space "
    "(x86-64,\n"
    "on a hosted system), the working set capped at N pages of the trace: "
    "on a\n"
    "reference to a page not in it, the policy's victim is trimmed. TRACE "
    "is\n"
    "`valgrind --tool=lackey --trace-mem=yes` output or this tool's binary "
    "format,\n"
    "told apart by content. Each 4 KiB page a record touches is one "
    "reference.\n"
    "\n"
    "  --policy P        nt (NT's working-set aging), clock, fifo, lru, "
    "opt (Belady)\n"
    "  --frames N        the working set's cap, in pages (page tables not "
    "counted)\n"
    "  --ram PAGES       physical memory (default: room for every page "
    "committed)\n"
    "  --pagefile FILE   page to FILE (created or truncated) instead of "
    "memory\n"
    "  --sweep           every policy at each frame count; prints a line "
    "a run\n"
    "  --sweep-frames L  the frame counts, e.g. 8,16,32 (default: a series "
    "up to\n"
    "                    the trace's distinct pages)\n"
    "  --csv FILE        the sweep's CSV (default sweep.csv)\n"
    "  --plot FILE       its chart, SVG drawn by gnuplot (default: the CSV's "
    "name\n"
    "                    with .svg); without gnuplot only the CSV is "
    "written\n"
    "  --convert IN OUT  lackey text IN is written to OUT in the binary "
    "format,\n"
    "                    a binary IN as lackey text (records only: banner "
    "lines\n"
    "                    are dropped)\n"
    "\n"
    "The last line a replay prints:\n"
    "  policy=<p> frames=<n> accesses=<a> faults=<f> demand_zero=<d> "
    "soft=<s>\n"
    "  hard=<h> cow=<c> pagefile_writes=<w>\n"
    "exit status: 0 done, 1 the library refused a run, 2 usage or file "
    "error\n";

// --- the command line -------------------------------------------------------

enum class mode : std::uint8_t { replay, sweep, convert, help };

struct options {
  mode what = mode::replay;
  policy_id policy = policy_id::lru;
  bool policy_given = false;
  std::uint64_t frames = 0;
  std::uint64_t ram_pages = 0;
  std::string page_file;
  std::vector<std::uint64_t> sweep_frames;  ///< empty: the default series
  std::string csv = "sweep.csv";
  std::string plot;  ///< empty: the CSV's name with .svg
  std::vector<std::string> files;
};

namespace detail {

/// A positive decimal number. Returns: whether `s` is one.
inline bool parse_count(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (~std::uint64_t{0} - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return v != 0;
}

inline bool parse_count_list(std::string_view s,
                             std::vector<std::uint64_t>& out) {
  out.clear();
  while (true) {
    const std::size_t comma = s.find(',');
    std::uint64_t v = 0;
    if (!parse_count(s.substr(0, comma), v)) return false;
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return true;
}

}  // namespace detail

/// Parses the arguments (argv without argv[0]). Returns: whether they make
/// a command; `error` says what is wrong when not.
inline bool parse_options(std::span<const std::string_view> args, options& o,
                          std::string& error) {
  bool sweep = false, convert = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    const auto value = [&](std::string_view& v) {
      if (i + 1 == args.size()) {
        error = std::string(a) + " needs a value";
        return false;
      }
      v = args[++i];
      return true;
    };
    std::string_view v;
    if (a == "--help" || a == "-h") {
      o.what = mode::help;
      return true;
    } else if (a == "--policy") {
      if (!value(v)) return false;
      if (!parse_policy(v, o.policy)) {
        error = "unknown policy '" + std::string(v) +
                "' (nt, clock, fifo, lru or opt)";
        return false;
      }
      o.policy_given = true;
    } else if (a == "--frames") {
      if (!value(v)) return false;
      if (!detail::parse_count(v, o.frames)) {
        error =
            "--frames needs a positive number, not '" + std::string(v) + "'";
        return false;
      }
    } else if (a == "--ram") {
      if (!value(v)) return false;
      if (!detail::parse_count(v, o.ram_pages)) {
        error = "--ram needs a positive number of pages, not '" +
                std::string(v) + "'";
        return false;
      }
    } else if (a == "--pagefile") {
      if (!value(v)) return false;
      o.page_file = v;
    } else if (a == "--sweep") {
      sweep = true;
    } else if (a == "--sweep-frames") {
      if (!value(v)) return false;
      if (!detail::parse_count_list(v, o.sweep_frames)) {
        error =
            "--sweep-frames needs positive numbers separated by commas, "
            "not '" +
            std::string(v) + "'";
        return false;
      }
      sweep = true;
    } else if (a == "--csv") {
      if (!value(v)) return false;
      o.csv = v;
    } else if (a == "--plot") {
      if (!value(v)) return false;
      o.plot = v;
    } else if (a == "--convert") {
      convert = true;
    } else if (a.size() > 1 && a[0] == '-') {
      error = "unknown option " + std::string(a);
      return false;
    } else {
      o.files.emplace_back(a);
    }
  }
  if (sweep && convert) {
    error = "--sweep and --convert do not go together";
    return false;
  }
  if (convert) {
    o.what = mode::convert;
    if (o.files.size() != 2) {
      error = "--convert needs IN and OUT";
      return false;
    }
    return true;
  }
  o.what = sweep ? mode::sweep : mode::replay;
  if (o.files.size() != 1) {
    error = o.files.empty() ? "no TRACE given" : "more than one TRACE given";
    return false;
  }
  if (!sweep && (!o.policy_given || o.frames == 0)) {
    error = "a replay needs --policy and --frames (or --sweep)";
    return false;
  }
  if (o.plot.empty()) {
    o.plot = o.csv;
    if (o.plot.ends_with(".csv")) o.plot.resize(o.plot.size() - 4);
    o.plot += ".svg";
  }
  return true;
}

// --- the progress bar -------------------------------------------------------

/// A bar on stderr, drawn only when stderr is a terminal; redrawn when the
/// percentage moves.
class progress_bar {
 public:
  progress_bar(std::FILE* err, std::uint64_t total) noexcept
      : err_(err), total_(total == 0 ? 1 : total) {
    enabled_ = ::isatty(::fileno(err)) == 1;
  }
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  ~progress_bar() { finish(); }

  /// Sets the label and where the next run's count starts.
  void begin(std::string label, std::uint64_t base) {
    label_ = std::move(label);
    base_ = base;
    draw(base, true);
  }
  /// `done` references of the current run are done.
  void update(std::uint64_t done) { draw(base_ + done, false); }
  /// Clears the bar.
  void finish() {
    if (!enabled_ || !drawn_) return;
    std::fprintf(err_, "\r%*s\r", static_cast<int>(width_), "");
    std::fflush(err_);
    drawn_ = false;
  }

 private:
  void draw(std::uint64_t done, bool force) {
    if (!enabled_) return;
    const unsigned percent =
        static_cast<unsigned>((done > total_ ? total_ : done) * 100 / total_);
    if (!force && drawn_ && percent == percent_) return;
    percent_ = percent;
    constexpr unsigned cells = 30;
    char bar[cells + 1];
    for (unsigned c = 0; c < cells; ++c)
      bar[c] = c < percent * cells / 100 ? '#' : '.';
    bar[cells] = 0;
    const int n =
        std::fprintf(err_, "\r[%s] %3u%% %s ", bar, percent, label_.c_str());
    if (n > 0 && static_cast<unsigned>(n) < width_)
      std::fprintf(err_, "%*s",
                   static_cast<int>(width_ - static_cast<unsigned>(n)), "");
    if (n > 0 && static_cast<unsigned>(n) > width_)
      width_ = static_cast<unsigned>(n);
    std::fflush(err_);
    drawn_ = true;
  }

  std::FILE* err_;
  std::uint64_t total_;
  std::uint64_t base_ = 0;
  std::string label_;
  unsigned percent_ = 0;
  unsigned width_ = 0;
  bool enabled_ = false;
  bool drawn_ = false;
};

// --- the sweep --------------------------------------------------------------

/// The default frame counts of a sweep over a trace of `distinct` pages:
/// the powers of two below it (the steep end of the curve, where few
/// frames make a large difference) and sixteen even steps up to it (where
/// every page fits and only first touches fault).
inline std::vector<std::uint64_t> sweep_series(std::uint64_t distinct) {
  std::vector<std::uint64_t> s;
  if (distinct == 0) return s;
  for (std::uint64_t f = 1; f < distinct; f *= 2) s.push_back(f);
  for (std::uint64_t j = 1; j <= 16; ++j)
    s.push_back(std::max<std::uint64_t>(1, distinct * j / 16));
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

inline constexpr const char* csv_header =
    "policy,frames,accesses,faults,demand_zero,soft,hard,cow,pagefile_writes,"
    "pagefile_reads\n";

inline std::string csv_row(const replay_counts& c) {
  char b[320];
  std::snprintf(
      b, sizeof b, "%s,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu\n",
      policy_name(c.policy), static_cast<unsigned long long>(c.frames),
      static_cast<unsigned long long>(c.accesses),
      static_cast<unsigned long long>(c.faults),
      static_cast<unsigned long long>(c.demand_zero),
      static_cast<unsigned long long>(c.soft),
      static_cast<unsigned long long>(c.hard),
      static_cast<unsigned long long>(c.cow),
      static_cast<unsigned long long>(c.pagefile_writes),
      static_cast<unsigned long long>(c.pagefile_reads));
  return b;
}

namespace detail {

/// `s` as a gnuplot single-quoted string ('' stands for a quote).
inline std::string gnuplot_quote(std::string_view s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += '\'';
    q += c;
  }
  return q + "'";
}

/// The path of `program` in $PATH, or empty when it is in none of its
/// directories.
inline std::string find_in_path(std::string_view program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  std::string_view dirs(path);
  while (true) {
    const std::size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + std::string(program);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (colon == std::string_view::npos) return {};
    dirs.remove_prefix(colon + 1);
  }
}

/// Runs `program` with `script` on its standard input and its standard
/// output sent to stderr (stdout is the tool's report). Returns: whether
/// it ran and exited 0; `error` says why not.
inline bool run_with_input(const std::string& program,
                           const std::string& script, std::string& error) {
  int fds[2];
  if (::pipe(fds) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::string arg0 = program;
  char* argv[] = {arg0.data(), nullptr};
  pid_t pid = 0;
  const int spawned =
      ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[0]);
  if (spawned != 0) {
    ::close(fds[1]);
    error = "cannot run " + program + ": " + std::strerror(spawned);
    return false;
  }
  // SIGPIPE is ignored (main), so a program that stops reading makes
  // write fail rather than end the tool.
  std::size_t at = 0;
  while (at < script.size()) {
    const ssize_t n = ::write(fds[1], script.data() + at, script.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    at += static_cast<std::size_t>(n);
  }
  ::close(fds[1]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    error = program +
            (WIFEXITED(wstatus)
                 ? " exited with status " + std::to_string(WEXITSTATUS(wstatus))
                 : std::string(" was killed"));
    return false;
  }
  return true;
}

inline std::string base_name(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path
                                                     : path.substr(slash + 1));
}

}  // namespace detail

/// The gnuplot script that draws `rows` (a sweep: rows of each policy in
/// frame order) as faults against memory, one line a policy, into the SVG
/// file `plot`; a dashed line marks `first_touches` (the trace's distinct
/// pages), the faults no memory size avoids. Faults are on a log scale:
/// a few frames take hundreds of times more than enough frames do.
inline std::string gnuplot_script(std::span<const replay_counts> rows,
                                  const std::string& plot,
                                  const std::string& title,
                                  std::uint64_t first_touches) {
  // One colour a policy (OPT, the bound, in black), the same in every
  // chart.
  struct style {
    policy_id policy;
    const char* colour;
    const char* label;
  };
  static constexpr style styles[] = {
      {policy_id::nt, "#7b3294", "nt (working-set aging)"},
      {policy_id::clock, "#1b9e77", "clock"},
      {policy_id::fifo, "#d95f02", "fifo"},
      {policy_id::lru, "#1f78b4", "lru"},
      {policy_id::opt, "#000000", "opt (Belady)"}};
  const std::string touches = std::to_string(first_touches);
  std::string s;
  s += "set terminal svg size 900,560 dynamic noenhanced font 'sans,13' "
       "background '#ffffff'\n";
  s += "set output " + detail::gnuplot_quote(plot) + "\n";
  s += "set title " + detail::gnuplot_quote(title) + "\n";
  s += "set xlabel 'memory (page frames in the working set)'\n";
  s += "set ylabel 'page faults'\n";
  s += "set logscale y\n";
  s += "set grid xtics ytics mytics\n";
  s += "set key top right box opaque\n";
  s += "set xrange [0:*]\n";
  s += "set autoscale xfixmax\n";
  s += "set arrow from graph 0, first " + touches + " to graph 1, first " +
       touches + " nohead dashtype 2 linecolor '#808080'\n";
  // Below the line, where no curve goes.
  s += "set label 'first touches: " + touches + "' at graph 0.98, first " +
       touches + " right offset 0, -0.8 textcolor '#606060'\n";
  for (const style& st : styles) {
    s += std::string("$") + policy_name(st.policy) + " << EOD\n";
    for (const replay_counts& r : rows)
      if (r.policy == st.policy)
        s += std::to_string(r.frames) + " " + std::to_string(r.faults) + "\n";
    s += "EOD\n";
  }
  s += "plot ";
  bool first = true;
  for (const style& st : styles) {
    if (!first) s += ", \\\n     ";
    first = false;
    s += std::string("$") + policy_name(st.policy) +
         " using 1:2 with linespoints lw 2 pt 7 ps 0.6 linecolor '" +
         st.colour + "' title '" + st.label + "'";
  }
  s += "\n";
  return s;
}

// --- the commands -----------------------------------------------------------

namespace detail {

/// The trace, its page references and their layout, read once for every
/// run.
struct prepared_trace {
  loaded_trace trace;
  page_refs refs;
  guest_layout layout{std::span<const page_key>{}};
};

inline bool prepare(const std::string& path, prepared_trace& t, std::FILE* out,
                    std::FILE* err) {
  std::string error;
  if (!load_trace(path, t.trace, error)) {
    std::fprintf(err, "mmkit-replay: %s\n", error.c_str());
    return false;
  }
  t.refs = expand(t.trace.records);
  t.layout = guest_layout(t.refs.keys);
  std::fprintf(out,
               "trace=%s format=%s records=%zu references=%llu "
               "distinct_pages=%llu granules=%llu moved_granules=%llu\n",
               path.c_str(), format_name(t.trace.format),
               t.trace.records.size(),
               static_cast<unsigned long long>(t.refs.size()),
               static_cast<unsigned long long>(t.layout.distinct_pages()),
               static_cast<unsigned long long>(t.layout.granules()),
               static_cast<unsigned long long>(t.layout.moved_granules()));
  return true;
}

/// One run, its line printed; warnings for what the checks found.
/// Returns: whether it ran to its end.
inline bool run_one(const prepared_trace& t, const replay_setup& setup,
                    progress_bar& bar, std::uint64_t base,
                    replay_counts& counts, std::FILE* out, std::FILE* err) {
  bar.begin(std::string(policy_name(setup.policy)) +
                " frames=" + std::to_string(setup.frames),
            base);
  std::string error;
  const bool ok = replay(t.refs, t.layout, setup, counts, error,
                         [&](std::uint64_t done) { bar.update(done); });
  if (!ok) {
    bar.finish();
    std::fprintf(err, "mmkit-replay: policy %s, frames %llu: %s\n",
                 policy_name(setup.policy),
                 static_cast<unsigned long long>(setup.frames), error.c_str());
    return false;
  }
  if (counts.mismatches != 0 || counts.trims_refused != 0) {
    bar.finish();
    std::fprintf(err,
                 "mmkit-replay: warning: policy %s, frames %llu: the library "
                 "disagreed with the policy at %llu references (policy "
                 "faults %llu, library faults %llu) and refused %llu trims\n",
                 policy_name(setup.policy),
                 static_cast<unsigned long long>(setup.frames),
                 static_cast<unsigned long long>(counts.mismatches),
                 static_cast<unsigned long long>(counts.policy_faults),
                 static_cast<unsigned long long>(counts.faults),
                 static_cast<unsigned long long>(counts.trims_refused));
  }
  std::fprintf(out, "%s\n", summary_line(counts).c_str());
  std::fflush(out);
  return true;
}

}  // namespace detail

inline int run_convert(const options& o, std::FILE* out, std::FILE* err) {
  loaded_trace t;
  std::string error;
  if (!load_trace(o.files[0], t, error)) {
    std::fprintf(err, "mmkit-replay: %s\n", error.c_str());
    return 2;
  }
  const trace_format to = t.format == trace_format::binary
                              ? trace_format::lackey
                              : trace_format::binary;
  const std::string bytes = to == trace_format::binary
                                ? encode_binary(t.records)
                                : format_lackey(t.records);
  if (!write_file(o.files[1], bytes, error)) {
    std::fprintf(err, "mmkit-replay: %s\n", error.c_str());
    return 2;
  }
  std::fprintf(out, "converted %s (%s, %zu records) to %s (%s, %zu bytes)\n",
               o.files[0].c_str(), format_name(t.format), t.records.size(),
               o.files[1].c_str(), format_name(to), bytes.size());
  return 0;
}

inline int run_replay(const options& o, std::FILE* out, std::FILE* err) {
  detail::prepared_trace t;
  if (!detail::prepare(o.files[0], t, out, err)) return 2;
  replay_setup setup{o.policy, o.frames, o.ram_pages, o.page_file};
  progress_bar bar(err, t.refs.size());
  replay_counts counts;
  return detail::run_one(t, setup, bar, 0, counts, out, err) ? 0 : 1;
}

inline int run_sweep(const options& o, std::FILE* out, std::FILE* err) {
  detail::prepared_trace t;
  if (!detail::prepare(o.files[0], t, out, err)) return 2;
  const std::vector<std::uint64_t> frames =
      o.sweep_frames.empty() ? sweep_series(t.layout.distinct_pages())
                             : o.sweep_frames;
  const std::uint64_t runs = frames.size() * std::size(all_policies);
  progress_bar bar(err, runs * t.refs.size());
  std::vector<replay_counts> rows;
  std::uint64_t run = 0;
  for (policy_id p : all_policies) {
    for (std::uint64_t n : frames) {
      replay_setup setup{p, n, o.ram_pages, o.page_file};
      replay_counts counts;
      if (!detail::run_one(t, setup, bar, run * t.refs.size(), counts, out,
                           err))
        return 1;
      rows.push_back(counts);
      ++run;
    }
  }
  bar.finish();

  std::string csv = csv_header;
  for (const replay_counts& r : rows) csv += csv_row(r);
  std::string error;
  if (!write_file(o.csv, csv, error)) {
    std::fprintf(err, "mmkit-replay: %s\n", error.c_str());
    return 2;
  }
  std::fprintf(err, "mmkit-replay: wrote %s (%zu runs)\n", o.csv.c_str(),
               rows.size());

  // The chart is a convenience: whatever happens to it, the sweep stands.
  if (rows.empty()) {
    std::fprintf(err,
                 "mmkit-replay: the trace has no references; %s not "
                 "drawn\n",
                 o.plot.c_str());
    return 0;
  }
  const std::string gnuplot = detail::find_in_path("gnuplot");
  if (gnuplot.empty()) {
    std::fprintf(err,
                 "mmkit-replay: gnuplot not found in PATH (Debian: apt "
                 "install gnuplot-nox); %s not drawn, the CSV is written\n",
                 o.plot.c_str());
    return 0;
  }
  const std::string title =
      "mmkit-replay: " + detail::base_name(o.files[0]) + " (" +
      std::to_string(t.refs.size()) + " references, " +
      std::to_string(t.layout.distinct_pages()) + " distinct pages)";
  if (!detail::run_with_input(
          gnuplot,
          gnuplot_script(rows, o.plot, title, t.layout.distinct_pages()),
          error)) {
    std::fprintf(err, "mmkit-replay: %s; %s not drawn, the CSV is written\n",
                 error.c_str(), o.plot.c_str());
    return 0;
  }
  std::fprintf(err, "mmkit-replay: wrote %s\n", o.plot.c_str());
  return 0;
}

/// The tool: arguments (without argv[0]) in, the exit status out.
inline int run(std::span<const std::string_view> args, std::FILE* out,
               std::FILE* err) {
  options o;
  std::string error;
  if (!parse_options(args, o, error)) {
    std::fprintf(err, "mmkit-replay: %s\n%s", error.c_str(), usage_text);
    return 2;
  }
  switch (o.what) {
    case mode::help: std::fputs(usage_text, out); return 0;
    case mode::convert: return run_convert(o, out, err);
    case mode::replay: return run_replay(o, out, err);
    case mode::sweep: return run_sweep(o, out, err);
  }
  return 2;
}

}  // namespace mmkit::tools::replay
