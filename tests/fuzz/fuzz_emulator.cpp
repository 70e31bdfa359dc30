// libFuzzer target for what emulators and snapshot fuzzers build on
// (issue 21): snapshots, fork, change notifications, host pointers and
// dirty pages, driven together over a few address spaces of one small
// hosted system with a page file and a page-file section, with trims,
// MEM_RESET, write watch and working-set limits among them. The unit tests
// drive each feature alone; this target looks for the interactions: a fork
// taken under a snapshot, a restore after the forked child wrote, a cached
// pointer after a trim that a snapshot's journal also saw, and so on.
//
//   input: 1 config byte | entropy (a byte a number below 256, two above)
//
//   config bit 0     arch: x86_32 or x86_64
//          bits 1-2  frames: 160, 256, 512 or 1,024 (a small machine
//                    runs the pager: trims, page-file writes, hard faults)
//          bit 3     page file of 64 pages, else none
//
// Then, per number drawn, an op (the list is run_op's switch) in a space
// slot (three slots). The input's end, or max_ops, ends the run.
//
// There is no reference model: the checks are what must hold whatever the
// statuses (the NT semantics of each call are the differential fuzzer's,
// fuzz_address_space.cpp). After every op:
//   - every live space passes check_invariants() (the VAD tree, the page
//     table, commit charges, the PFN database);
//   - every host pointer the emulator cache holds (filled by host_page_of,
//     emptied by the change events, as emu/changes.hpp says an emulator
//     keeps its TLB) is still what host_page_of returns for its access;
//     so is every pointer handed out at the current change generation.
// On the ops themselves:
//   - a write reads back in its space, is reported by query_dirty (and by
//     GetWriteWatch in a MEM_WRITE_WATCH reservation), and changes no
//     private page of any other space (fork's copy-on-write, both ways),
//     nor any mapped page of another space when it wrote a copy-on-write
//     page;
//   - a fork keeps its parent's bytes and charge, and the child is, to the
//     NT calls, its parent after it (when no ViewUnmap view is left out);
//   - a restore brings every space its snapshot covers back to what the
//     calls saw at the snapshot (regions, commit charge, bytes), and
//     leaves the private pages and regions of the spaces it does not cover
//     as they were.
// A failure prints the ops so far and aborts; libFuzzer keeps the input
// (the plain driver saves it where FUZZ_EMULATOR_SAVE says).
// FUZZ_EMULATOR_LOG=1 prints the ops of every input run.
//
// The same file builds without libFuzzer into fuzz_emulator_plain (with
// tests/image/fuzz_pe_main.cpp, which replays inputs and mutations of
// them); tests/fuzz/CMakeLists.txt defines both. Seeds:
// tests/fuzz/corpus_emulator.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_32.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/emu/changes.hpp>
#include <mmkit/emu/snapshot.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/system/hosted_system.hpp>

#include "emu/cache_sink.hpp"

#include <array>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace mmkit;

constexpr std::size_t max_ops = 160;
constexpr std::size_t slots = 3;
constexpr std::size_t max_snapshots = 3;
constexpr std::uint64_t section_pages = 16;

/// The input being run, for fail() to save (FUZZ_EMULATOR_SAVE names the
/// file; libFuzzer keeps crashing inputs itself).
std::vector<std::uint8_t> current_input;

unsigned long long ull(std::uint64_t v) noexcept {
  return v;
}
unsigned code(status s) noexcept {
  return static_cast<std::uint32_t>(s);
}

struct fuzz_config : hosted_config<> {
  using observer = emu::change_batcher<emu_test::cache_sink>;
};

/// The numbers an input supplies; zeros once it is used up.
class entropy {
 public:
  entropy(const std::uint8_t* data, std::size_t size) noexcept
      : data_(data), size_(size) {}
  bool done() const noexcept { return at_ >= size_; }
  /// A number below `n` (n >= 1).
  std::uint64_t below(std::uint64_t n) noexcept {
    std::uint64_t v = next();
    if (n > 256) v = v << 8 | next();
    return v % n;
  }

 private:
  std::uint8_t next() noexcept { return at_ < size_ ? data_[at_++] : 0; }
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

/// What the NT calls see of a space: its regions, commit charge and the
/// bytes of every page a read may see. Reads fault pages in, as a
/// debugger's would; guard and no-access pages are not read.
struct seen_state {
  std::vector<memory_basic_information> regions;
  std::map<std::uint64_t, std::vector<std::uint8_t>> bytes;
  std::uint64_t commit = 0;
};

/// What a step does (run::run_op).
enum class op : std::uint8_t {
  allocate,
  commit,
  decommit,
  release,
  protect,
  write,
  read,
  host_page,
  trim,
  map_view,
  unmap_view,
  fork,
  take,
  restore,
  drop,
  dirty,
};

/// One run: the system, its spaces and snapshots, and the log of ops.
template <class Arch>
class run {
 public:
  using space = address_space<Arch, fuzz_config>;
  using snapshot = emu::snapshot<space>;

  run(std::uint64_t frames, std::uint64_t page_file_pages)
      : sys_(frames << page_shift, page_file_pages << page_shift) {
    if (sys_.creation_status() != status::success)
      fail("the system could not be made");
    if (create_section(sys_, section_, section_access::all_access, nullptr, 0,
                       section_pages * page_size, page::readwrite,
                       sec::commit) != status::success)
      fail("the section could not be made");
  }

  ~run() {
    while (!snaps_.empty()) snaps_.pop_back();  // newest first
    for (auto& s : spaces_) s.reset();
    close_section(sys_, section_);
  }

  void step(entropy& e) {
    // Weighted: writes and allocations most, so that an input of random
    // bytes builds up state for the rest to act on.
    static constexpr op ops[] = {
        op::allocate,  op::allocate, op::allocate,  op::commit,
        op::decommit,  op::release,  op::protect,   op::protect,
        op::write,     op::write,    op::write,     op::write,
        op::write,     op::read,     op::host_page, op::host_page,
        op::host_page, op::trim,     op::map_view,  op::unmap_view,
        op::fork,      op::take,     op::restore,   op::restore,
        op::drop,      op::dirty};
    const std::size_t s = e.below(slots);
    run_op(e, s, ops[e.below(sizeof ops)]);
    check_all();
    ++steps_;
  }

  std::size_t steps() const noexcept { return steps_; }
  /// Effects: the ops so far go to stderr (FUZZ_EMULATOR_LOG set: what a
  /// seed exercises).
  void print_log() const {
    for (std::size_t i = 0; i < log_.size(); ++i)
      std::fprintf(stderr, "  %3zu %s\n", i, log_[i].c_str());
  }

 private:
  /// A region a slot's space allocated or mapped (its base), and whether
  /// it is a view mapped ViewUnmap.
  struct region {
    vaddr base;
    bool view_unmap = false;
  };
  struct slot_state {
    std::vector<region> regions;
  };
  /// A snapshot, what the calls saw of each space it covers when it was
  /// taken, and the regions the driver knew then.
  struct taken {
    std::unique_ptr<snapshot> snap = std::make_unique<snapshot>();
    std::array<bool, slots> covers{};
    std::array<seen_state, slots> seen;
    std::array<slot_state, slots> known;
  };

  [[noreturn]] void fail(const char* what, std::uint64_t a = 0,
                         std::uint64_t b = 0) {
    std::fprintf(stderr,
                 "fuzz_emulator (%s): %s (%#llx, %#llx)\nafter the ops:\n",
                 Arch::name, what, static_cast<unsigned long long>(a),
                 static_cast<unsigned long long>(b));
    print_log();
    if (const char* path = std::getenv("FUZZ_EMULATOR_SAVE")) {
      if (std::FILE* f = std::fopen(path, "wb")) {
        std::fwrite(current_input.data(), 1, current_input.size(), f);
        std::fclose(f);
      }
    }
    std::abort();
  }
  /// Effects: the op is logged, printf-style.
  [[gnu::format(printf, 2, 3)]] void note(const char* fmt, ...) {
    char line[200];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    log_.emplace_back(line);
  }

  space* make_space(std::size_t s) {
    spaces_[s] = std::make_unique<space>(sys_);
    state_[s] = {};
    by_generation_[s].clear();
    if (spaces_[s]->creation_status() != status::success) {
      spaces_[s].reset();
      return nullptr;
    }
    return spaces_[s].get();
  }
  bool covered(std::size_t s) const noexcept {
    for (const taken& t : snaps_)
      if (t.covers[s]) return true;
    return false;
  }

  /// An address in one of the slot's regions (a page past a view's or a
  /// reservation's end now and then), or a fixed low one.
  vaddr pick_address(entropy& e, std::size_t s) {
    const auto& r = state_[s].regions;
    const std::uint64_t page = e.below(20);
    if (r.empty()) return vaddr{0x10000 + page * page_size};
    return r[e.below(r.size())].base + page * page_size;
  }
  std::uint64_t pick_pages(entropy& e) { return 1 + e.below(8); }

  static std::uint32_t pick_protection(entropy& e) {
    static constexpr std::uint32_t prots[] = {page::readonly,
                                              page::readwrite,
                                              page::noaccess,
                                              page::execute_read,
                                              page::execute_readwrite,
                                              page::readwrite | page::guard,
                                              page::writecopy,
                                              page::execute_writecopy,
                                              page::readonly | page::guard};
    return prots[e.below(sizeof prots / sizeof *prots)];
  }

  seen_state look(space& as) {
    seen_state out;
    out.commit = as.commit_charge();
    std::uint64_t va = Arch::lowest_user_address;
    while (va <= Arch::highest_user_address) {
      memory_basic_information mbi{};
      if (as.query(vaddr{va}, mbi) != status::success)
        fail("query in user space failed", va);
      // No call here reserves or maps more than 24 pages.
      if (mbi.state != mem::free && mbi.region_size > 24 * page_size)
        fail("a region larger than any allocation", mbi.base_address,
             mbi.region_size);
      if (mbi.state == mem::commit && !(mbi.protect & page::guard) &&
          mbi.protect != page::noaccess) {
        for (std::uint64_t p = 0; p < mbi.region_size; p += page_size) {
          std::vector<std::uint8_t> b(page_size);
          std::size_t done = 0;
          const status st =
              as.read(vaddr{mbi.base_address + p}, b.data(), page_size, done);
          if (st != status::success)
            fail("a readable committed page could not be read",
                 mbi.base_address + p, static_cast<std::uint32_t>(st));
          out.bytes[mbi.base_address + p] = std::move(b);
        }
      }
      out.regions.push_back(mbi);
      if (mbi.region_size == 0) break;
      va = mbi.base_address + mbi.region_size;
    }
    return out;
  }
  /// The same without mapped memory: what nothing but the space itself may
  /// change (a restore of a section page shows in every view of it).
  seen_state look_private(space& as) {
    seen_state all = look(as);
    seen_state out;
    out.commit = all.commit;
    for (const auto& r : all.regions)
      if (r.type != mem::mapped) out.regions.push_back(r);
    for (auto& [va, b] : all.bytes) {
      memory_basic_information mbi{};
      (void)as.query(vaddr{va}, mbi);
      if (mbi.type != mem::mapped) out.bytes[va] = std::move(b);
    }
    return out;
  }
  static void print_regions(const char* which, const seen_state& s) {
    std::fprintf(stderr, "%s:\n", which);
    for (const auto& r : s.regions)
      std::fprintf(stderr,
                   "  %#llx +%#llx state %#x protect %#x type %#x "
                   "(allocation %#llx, %#x)\n",
                   ull(r.base_address), ull(r.region_size), r.state, r.protect,
                   r.type, ull(r.allocation_base), r.allocation_protect);
  }
  /// What require_same compares: the regions too, or the commit charge
  /// and the bytes alone.
  enum class compare : bool { charge_and_bytes, all };
  void require_same(const seen_state& now, const seen_state& want,
                    const char* what, compare c = compare::all) {
    bool same = now.regions.size() == want.regions.size();
    for (std::size_t i = 0; same && i < want.regions.size(); ++i)
      same = now.regions[i] == want.regions[i];
    if (!same && c == compare::all) {
      print_regions("regions now", now);
      print_regions("regions expected", want);
      fail(what);
    }
    if (now.commit != want.commit) fail(what, now.commit, want.commit);
    if (now.bytes.size() != want.bytes.size())
      fail(what, now.bytes.size(), want.bytes.size());
    for (const auto& [va, b] : want.bytes) {
      auto it = now.bytes.find(va);
      if (it == now.bytes.end() || it->second != b) fail(what, va);
    }
  }

  /// The 8 bytes at `va` of another space's page of type `type`, if a
  /// read may see them.
  bool peek_other(space& as, vaddr va, std::uint32_t type, std::uint64_t& v) {
    memory_basic_information mbi{};
    if (as.query(va, mbi) != status::success || mbi.state != mem::commit ||
        mbi.type != type || (mbi.protect & page::guard) ||
        mbi.protect == page::noaccess)
      return false;
    std::size_t done = 0;
    if (as.read(va, &v, sizeof v, done) != status::success)
      fail("a readable committed page could not be read", va.raw());
    return true;
  }

  void op_write(entropy& e, std::size_t s, space& as) {
    const vaddr va = pick_address(e, s) + e.below(page_size / 8) * 8;
    const std::uint64_t value =
        e.below(65536) * 0x0001000100010001ull ^ log_.size();
    memory_basic_information mine{};
    (void)as.query(va, mine);
    const bool copy_on_write =
        mine.type == mem::mapped && (mine.protect == page::writecopy ||
                                     mine.protect == page::execute_writecopy);
    // Another space's private page never changes; a mapped page only
    // when this write may go to the section's page.
    struct other {
      std::size_t slot;
      std::uint32_t type;
      std::uint64_t before;
    };
    std::vector<other> others;
    for (std::size_t t = 0; t < slots; ++t) {
      if (t == s || !spaces_[t]) continue;
      std::uint64_t v = 0;
      if (peek_other(*spaces_[t], va, mem::private_memory, v))
        others.push_back({t, mem::private_memory, v});
      else if ((copy_on_write || mine.type != mem::mapped) &&
               peek_other(*spaces_[t], va, mem::mapped, v))
        others.push_back({t, mem::mapped, v});
    }
    std::size_t done = 0;
    const status st = as.write(va, &value, sizeof value, done);
    note("%zu write %#llx = %#llx: %#x", s, ull(va.raw()), ull(value),
         code(st));
    if (st == status::success) {
      std::uint64_t back = 0;
      if (as.read(va, &back, sizeof back, done) != status::success ||
          back != value)
        fail("a write does not read back", va.raw(), back);
      vaddr dirty[4];
      std::uint64_t count = 4;
      if (as.query_dirty(va.page().address(), page_size, dirty, count) !=
              status::success ||
          count != 1 || dirty[0] != va.page().address())
        fail("a page just written is not dirty", va.raw(), count);
      // In a MEM_WRITE_WATCH reservation, GetWriteWatch reports it too.
      std::uint32_t granularity = 0;
      count = 4;
      const status w = as.get_write_watch(0, va.page().address(), page_size,
                                          dirty, count, granularity);
      if (w == status::success &&
          (count != 1 || dirty[0] != va.page().address()))
        fail("a page just written is not in its write watch", va.raw(), count);
    }
    for (const other& o : others) {
      std::uint64_t now = 0;
      if (!peek_other(*spaces_[o.slot], va, o.type, now)) continue;
      if (now != o.before)
        fail("a write changed another space's page", va.raw(), o.slot);
    }
  }

  void op_host_page(entropy& e, std::size_t s, space& as) {
    const vaddr va = pick_address(e, s);
    const auto acc = static_cast<mmkit::access>(e.below(3));
    const auto h = as.host_page_of(va, acc);
    note("%zu host_page_of %#llx for %u: %#x", s, ull(va.raw()),
         static_cast<unsigned>(acc),
         code(h.ok() ? status::success : h.error()));
    if (!h.ok()) return;
    auto& cache = as.observer().sink().cache;
    auto& entry = cache[va.page().raw()];
    std::byte* const page = h->pointer - va.page_offset();
    if (entry.page != nullptr && entry.page != page) {
      // The cache kept a pointer the space no longer hands out.
      fail("host_page_of moved a page the cache still held", va.raw());
    }
    entry.page = page;
    entry.allowed[static_cast<unsigned>(acc)] = true;
    by_generation_[s][{va.page().raw(), static_cast<unsigned>(acc)}] = {
        page, h->generation};
  }

  void op_fork(std::size_t s, space& parent) {
    std::size_t c = slots;
    for (std::size_t t = 0; t < slots; ++t)
      if (!spaces_[t]) c = t;
    if (c == slots) return;
    space* child = make_space(c);
    if (child == nullptr) return;
    bool unmap_views = false;
    for (const region& r : state_[s].regions) unmap_views |= r.view_unmap;
    const seen_state before = look(parent);
    const status st = parent.fork_into(*child);
    note("%zu fork into %zu: %#x", s, c, code(st));
    if (st != status::success) {
      if (child->vad_nodes() != 0 || child->commit_charge() != 0)
        fail("a failed fork left the child changed", c);
      spaces_[c].reset();
      return;
    }
    for (const region& r : state_[s].regions)
      if (!r.view_unmap) state_[c].regions.push_back(r);
    // The parent's bytes and charge stay. So do its regions, but for the
    // protection of a view's private copies, which both spaces now show in
    // copy-on-write form (region/page_state.hpp, shared_entry).
    const seen_state after = look(parent);
    require_same(after, before, "a fork changed its parent",
                 compare::charge_and_bytes);
    if (!unmap_views)
      require_same(look(*child), after, "the child is not its parent");
  }

  void op_take(std::size_t s) {
    if (snaps_.size() == max_snapshots) return;
    taken t;
    for (std::size_t i = 0; i < slots; ++i)
      if (spaces_[i]) {
        t.covers[i] = true;
        t.seen[i] = look(*spaces_[i]);
        t.known[i] = state_[i];
      }
    status st = status::success;
    switch ((t.covers[0] ? 1 : 0) | (t.covers[1] ? 2 : 0) |
            (t.covers[2] ? 4 : 0)) {
      case 0: return;
      case 1: st = t.snap->take({spaces_[0].get()}); break;
      case 2: st = t.snap->take({spaces_[1].get()}); break;
      case 3: st = t.snap->take({spaces_[0].get(), spaces_[1].get()}); break;
      case 4: st = t.snap->take({spaces_[2].get()}); break;
      case 5: st = t.snap->take({spaces_[0].get(), spaces_[2].get()}); break;
      case 6: st = t.snap->take({spaces_[1].get(), spaces_[2].get()}); break;
      default:
        st = t.snap->take(
            {spaces_[0].get(), spaces_[1].get(), spaces_[2].get()});
    }
    note("%zu snapshot %zu taken: %#x", s, snaps_.size(), code(st));
    if (st == status::success) snaps_.push_back(std::move(t));
  }

  void op_restore(std::size_t s) {
    if (snaps_.empty()) return;
    taken& t = snaps_.back();
    std::array<seen_state, slots> others;
    for (std::size_t i = 0; i < slots; ++i)
      if (spaces_[i] && !t.covers[i]) others[i] = look_private(*spaces_[i]);
    const status st = t.snap->restore();
    note("%zu snapshot %zu restored: %#x", s, snaps_.size() - 1, code(st));
    if (st != status::success) {
      // Frames ran out part-way; a later restore finishes it.
      if (st != status::no_memory) fail("a restore failed", code(st));
      return;
    }
    for (std::size_t i = 0; i < slots; ++i) {
      if (!spaces_[i]) continue;
      note("  compare space %zu%s", i, t.covers[i] ? "" : " (not covered)");
      if (t.covers[i]) {
        require_same(look(*spaces_[i]), t.seen[i],
                     "a restore did not bring a space back");
        state_[i] = t.known[i];
      } else {
        require_same(look_private(*spaces_[i]), others[i],
                     "a restore changed a space it does not cover");
      }
    }
  }

  void run_op(entropy& e, std::size_t s, op what) {
    space* as = spaces_[s].get();
    if (as == nullptr) {
      as = make_space(s);
      note("%zu new space", s);
      if (as == nullptr) return;
    }
    vaddr base{0};
    std::uint64_t size = 0;
    std::uint32_t old = 0;
    status st = status::success;
    switch (what) {
      case op::allocate: {  // reserve, perhaps commit
        size = (1 + e.below(24)) * page_size;
        std::uint32_t type =
            e.below(4) != 0 ? mem::reserve | mem::commit : mem::reserve;
        if (e.below(4) == 0) type |= mem::write_watch;
        const std::uint32_t prot =
            e.below(2) != 0 ? page::readwrite : pick_protection(e);
        st = as->allocate(base, size, type, prot);
        note("%zu allocate %llu pages, type %#x, prot %#x: %#x at %#llx", s,
             ull(size >> page_shift), type, prot, code(st), ull(base.raw()));
        if (st == status::success) state_[s].regions.push_back({base});
        break;
      }
      case op::commit: {
        base = pick_address(e, s);
        size = pick_pages(e) * page_size;
        const std::uint32_t prot =
            e.below(2) != 0 ? page::readwrite : pick_protection(e);
        const std::uint32_t type = e.below(6) == 0 ? mem::reset : mem::commit;
        st = as->allocate(base, size, type, prot);
        note("%zu %s %#llx +%#llx prot %#x: %#x", s,
             type == mem::reset ? "reset" : "commit", ull(base.raw()),
             ull(size), prot, code(st));
        break;
      }
      case op::decommit: {  // size 0: to the region's end
        base = pick_address(e, s);
        size = e.below(4) == 0 ? 0 : pick_pages(e) * page_size;
        st = as->free(base, size, mem::decommit);
        note("%zu decommit %#llx +%#llx: %#x", s, ull(base.raw()), ull(size),
             code(st));
        break;
      }
      case op::release: {  // whole or a part
        auto& r = state_[s].regions;
        if (r.empty()) break;
        const std::size_t i = e.below(r.size());
        base = r[i].base;
        size = 0;
        if (e.below(3) == 0) {
          base = base + e.below(4) * page_size;
          size = pick_pages(e) * page_size;
        }
        const std::uint64_t size_asked = size;
        st = as->free(base, size, mem::release);
        note("%zu release %#llx +%#llx: %#x", s, ull(base.raw()), ull(size),
             code(st));
        if (st == status::success && size_asked == 0)
          r.erase(r.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
      case op::protect: {
        base = pick_address(e, s);
        size = pick_pages(e) * page_size;
        const std::uint32_t prot = pick_protection(e);
        st = as->protect(base, size, prot, old);
        note("%zu protect %#llx +%#llx to %#x: %#x", s, ull(base.raw()),
             ull(size), prot, code(st));
        break;
      }
      case op::write: op_write(e, s, *as); break;
      case op::read: {
        base = pick_address(e, s);
        std::uint8_t buf[16];
        std::size_t done = 0;
        st = as->read(base, buf, sizeof buf, done);
        note("%zu read %#llx: %#x", s, ull(base.raw()), code(st));
        break;
      }
      case op::host_page: op_host_page(e, s, *as); break;
      case op::trim: {  // trims, and the pager
        base = pick_address(e, s);
        switch (e.below(5)) {
          case 4: {  // a hard maximum: faults past it trim the space
            const std::uint64_t most = 4 + e.below(29);
            note("%zu working set limits 2..%llu: %#x", s, ull(most),
                 code(as->set_working_set_limits(2, most)));
            break;
          }
          case 0:
          case 1:
            note("%zu trim %#llx: %d", s, ull(base.raw()),
                 as->trim(base) ? 1 : 0);
            break;
          case 2:
            note("%zu trim_working_set: %llu", s, ull(as->trim_working_set(8)));
            break;
          default:
            note("%zu write_modified_pages: %llu", s,
                 ull(sys_.write_modified_pages(8)));
        }
        break;
      }
      case op::map_view: {  // of the section
        const std::uint32_t prots[] = {page::readwrite, page::writecopy,
                                       page::readonly, page::execute_writecopy};
        const std::uint32_t prot = prots[e.below(4)];
        const bool unmap = e.below(4) == 0;
        st = as->map_view(
            section_, base, size, 0, 0, prot, 0,
            unmap ? section_inherit::view_unmap : section_inherit::view_share);
        note("%zu map_view prot %#x%s: %#x at %#llx", s, prot,
             unmap ? " ViewUnmap" : "", code(st), ull(base.raw()));
        if (st == status::success) state_[s].regions.push_back({base, unmap});
        break;
      }
      case op::unmap_view: {
        auto& r = state_[s].regions;
        if (r.empty()) break;
        const std::size_t i = e.below(r.size());
        st = as->unmap_view(r[i].base);
        note("%zu unmap_view %#llx: %#x", s, ull(r[i].base.raw()), code(st));
        if (st == status::success)
          r.erase(r.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
      case op::fork: op_fork(s, *as); break;
      case op::take: op_take(s); break;
      case op::restore: op_restore(s); break;
      case op::drop: {  // the newest snapshot, or a space
        if (!snaps_.empty() && e.below(2) == 0) {
          snaps_.pop_back();
          note("%zu snapshot %zu dropped", s, snaps_.size());
        } else if (!covered(s)) {
          spaces_[s].reset();
          note("%zu space destroyed", s);
        }
        break;
      }
      case op::dirty: {  // the dirty pages of a region, reset
        base = pick_address(e, s);
        size = 16 * page_size;
        vaddr out[16];
        std::uint64_t count = 16;
        st = as->query_dirty(base, size, out, count, dirty_reset::yes);
        note("%zu query_dirty %#llx reset: %#x, %llu", s, ull(base.raw()),
             code(st), ull(count));
        if (st == status::success)
          for (std::uint64_t i = 0; i < count; ++i)
            if (out[i] < base.page().address() ||
                out[i] >= base.page().address() + size)
              fail("a dirty page out of the range asked", out[i].raw());
      }
    }
  }

  /// The checks after every op (see the header comment).
  void check_all() {
    for (std::size_t s = 0; s < slots; ++s) {
      space* as = spaces_[s].get();
      if (as == nullptr) continue;
      if (!as->check_invariants()) fail("check_invariants", s);
      // Copied: host_page_of may not change the cache when it is right,
      // but a wrong one must not move under the loop.
      const auto cache = as->observer().sink().cache;
      for (const auto& [page, entry] : cache)
        for (unsigned a = 0; a < 3; ++a) {
          if (!entry.allowed[a]) continue;
          const auto h = as->host_page_of(vpn{page}.address(),
                                          static_cast<mmkit::access>(a));
          if (!h.ok() || h->pointer != entry.page)
            fail("the cache holds a stale host pointer",
                 vpn{page}.address().raw(), a);
        }
      // The other way to keep such a cache: trust a pointer while the
      // change generation has not moved.
      const std::uint64_t now = as->change_generation();
      auto& kept = by_generation_[s];
      for (auto it = kept.begin(); it != kept.end();) {
        if (it->second.generation != now) {
          it = kept.erase(it);
          continue;
        }
        const vaddr va = vpn{it->first.first}.address();
        const auto h =
            as->host_page_of(va, static_cast<mmkit::access>(it->first.second));
        if (!h.ok() || h->pointer != it->second.page)
          fail("a pointer of the current generation is stale", va.raw(),
               it->first.second);
        ++it;
      }
    }
  }

  basic_hosted_system<fuzz_config> sys_;
  section_handle section_;
  std::array<std::unique_ptr<space>, slots> spaces_;
  std::array<slot_state, slots> state_;
  /// Per slot, (page, access) -> the host page host_page_of gave and the
  /// change generation it gave it at.
  struct by_generation {
    std::byte* page = nullptr;
    std::uint64_t generation = 0;
  };
  std::array<std::map<std::pair<std::uint64_t, unsigned>, by_generation>, slots>
      by_generation_;
  std::vector<taken> snaps_;
  std::vector<std::string> log_;
  std::size_t steps_ = 0;
};

template <class Arch>
void run_input(const std::uint8_t* data, std::size_t size) {
  static constexpr std::uint64_t frames[] = {160, 256, 512, 1024};
  const std::uint8_t config = data[0];
  entropy e{data + 1, size - 1};
  run<Arch> r{frames[(config >> 1) & 3], (config & 8) ? 64u : 0u};
  while (!e.done() && r.steps() < max_ops) r.step(e);
  if (std::getenv("FUZZ_EMULATOR_LOG") != nullptr) r.print_log();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 2) return 0;
  current_input.assign(data, data + size);
  if (data[0] & 1)
    run_input<arch::x86_64>(data, size);
  else
    run_input<arch::x86_32>(data, size);
  return 0;
}
