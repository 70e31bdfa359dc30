#pragma once
// multi_space: the fuzz target's differential driver. Up to four address
// spaces of mixed archs share one small simulated machine; each is stepped
// against its own reference model (model/nt_model.hpp, the models sharing
// one section_world as the spaces share one system) with the op generator
// of model/differential.hpp, and the driver keeps what the models
// cannot know: which space owns each physical frame.
//
//   input: 3 config bytes | entropy (2 bytes a number, as byte_entropy)
//
//   byte 0  bits 0-1  spaces - 1 (1..4)
//           bits 2-3  machine: 3 = above_4g, else small
//           bits 4-5  pressure: frames held back before the spaces are made
//           bits 6-7  commit limit: 1/2, 1, 2 or 8 times the usable frames
//   byte 1  2 bits per space: x86_32, x86_pae, x86_64, x86_la57
//   byte 2  bits 0-1  frames zeroed ahead: 0, 8, 32, 128 (the others are
//                     zeroed when taken)
//           bit 2     sections: the spaces make, open and close sections
//                     (page file, or the three files both sides get) and
//                     map, unmap and flush views; small machine only
//           bits 3-7  unused
//
// Then, per number drawn: the space (one op in 128: destroy it and make one
// of another arch in its slot), and the op, from that space's generator.
// At most max_ops ops; the input's end ends the run.
//
// Machines, built once and reused: before each execution every usable frame
// is put back on the free list, lowest first, with zero bytes, so that an
// execution never depends on the ones before it.
//
//   small      512 frames (2 MiB), all usable: spaces of every arch take
//              frames the others released.
//   above_4g   4 GiB + 512 KiB: frames [0, 128) and [2^20, 2^20 + 128)
//              usable, all the others marked bad. An x86_32 PTE keeps 20
//              bits of frame number: were an x86_32 space given frame
//              2^20 + k, its PTE would name frame k, which is live too.
//
// Checks. After every op: status, out-parameters, old protection, query
// information, bytes read (where the model knows them) and bytes_done, as
// differential.hpp does; each space's commit charge, and the system's
// against the models' sum and the limit; each space's frames_in_use()
// against the pages the driver saw become resident (a fault or a copy
// through them; MEM_RESET, decommit and release give them back); the PFN
// database's page-table, active and available counts against the spaces'
// pages and tables; and for every page that became resident, the frame its
// PTE names (read by a walk that sets no accessed bit): below what the arch
// can name, active in the PFN database with share count 1 (or, trimmed by a
// reclaim for another call's frames under pressure, standby or modified
// with share count 0) and its back-link at that PTE, and owned by no other
// page of any space.
// Every check_period ops (every op when replaying a failure): the query
// walk and the model's invariants of each space, the implementation's
// check_invariants() (small machine: on above_4g its PFN part is O(2^20),
// 7 ms, and runs only at the end of a failure's replay), the state of every
// usable frame (owned by a page: active, standby or modified; a table:
// active page table; else
// zeroed or free, the counts per zone matching available_below()), and
// ownership again: every resident
// page still maps the frame it got; the table frames the walks pass (one
// per leaf-table span of every allocation, and one per resident page) are
// as many as table_pages_in_use(), the root below CR3's limit, each a page
// table in the PFN database, within the arch's reach, of one space only
// and never also a page; and the bytes of
// the pages written since the last check, read from their frames, match the
// model's. At the end: the bytes of every resident page (and no model data
// on a page without a frame), every allocation released through both
// sides, the tables back to their count at creation, then with the spaces
// destroyed the PFN database idle and the commit charge zero.
//
// Sections. A view's shared page is its section's frame, not a space's: it
// is owned by no page and counted apart (the models' resident section
// pages); a copy-on-write page's private copy is its space's like any other
// page. After every op of a sections run: each space's check_invariants(),
// the files against the model's, and the section checks of
// address_space/nt_machine.hpp over all the spaces (every prototype PTE
// committed and resident as the model's section page; every resident
// section frame active, linked back to its prototype, with share count 1 +
// the valid PTEs that map it in every space; a valid view PTE naming its
// section page's frame or, a copy, none; the system's charge, uncharged
// frames, prototype pool and live sections the model's). At the end every
// view is unmapped and every handle closed: no section, prototype PTE or
// uncharged frame is left, and then the PFN database is idle as above.
// A map refused for want of frames (its page tables, made at map time, or
// its copy-on-write charge), a SEC_COMMIT refused by the frame promise,
// and a file page brought in without a frame the promise allows are
// claims checked against the machine, as below.
//
// What the models cannot see. When the implementation refuses for a reason
// the model has no notion of, the driver checks the claim against the
// machine and does not run the model (the implementation promises to change
// nothing on failure, which every later comparison checks):
// - commitment_limit: the limit is the system's, shared by the spaces (each
//   model gets all of it, so when a model refuses the system must too), and
//   commit may be a promise of frames. The claim holds when the spaces'
//   charge plus what the commit would add passes the limit, or when the
//   usable frames (below 4 GiB for an x86_32 space on above_4g) could not
//   back every committed page and page table (see commit_refusable()).
// - no_memory from creating a space: when no frame is free where its root
//   may lie, or every free one is promised that way.
// - insufficient_resources (page tables for commit, protect, decommit):
//   when fewer frames are available below the arch's bound than the range's
//   leaf tables could need.
// - no_memory on a fault, or a read or write that stops part-way where the
//   model would go on (or lift a guard page the implementation left armed):
//   when fewer frames are available than a fault can need; the model then
//   copies just the bytes the implementation copied.
// So precedence between these refusals and argument errors is not checked
// here under pressure; the single-space differential test checks it.
//
// A failure is replayed with every check after every op, which pins the
// first op after which the two sides differ; the report gives the machine,
// the spaces, both op indices and the ops before it.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/all.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/paging/walker.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "address_space/nt_machine.hpp"
#include "model/differential.hpp"
#include "model/nt_adapter.hpp"
#include "model/nt_model.hpp"

namespace mmkit_fuzz {

using namespace mmkit_model;
using machine_system = mmkit::hosted_system<>;
using database = machine_system::database_type;
using sections_type = mmkit_test::section_system<machine_system>;

inline constexpr std::uint64_t page_bytes = 0x1000;
inline constexpr std::size_t max_spaces = 4;

// ---- one address space of any arch ------------------------------------------

/// What a walk of one page's tables found, changing nothing (no A bits).
struct page_probe {
  mmkit::entry_kind kind = mmkit::entry_kind::zero;
  std::uint64_t frame = 0;        // valid or transition leaf
  std::uint64_t pte_address = 0;  // the leaf PTE (when the walk reached it)
  unsigned depth = 0;             // tables read, root first
  std::array<std::uint64_t, 5> tables{};
};

/// The arch's constants the driver needs.
struct space_traits {
  const char* name = "";
  unsigned levels = 0;
  unsigned leaf_index_bits = 0;
  std::uint64_t frame_end = 0;  // frames its entries can name lie below
  std::uint64_t root_end = 0;   // and its root table below this
};

/// An address space behind the model's interface, plus what the driver
/// reads off its page tables.
class fuzz_space {
 public:
  virtual ~fuzz_space() = default;
  virtual const space_traits& traits() const = 0;
  virtual bool created() const = 0;
  virtual nt_status allocate(std::uint64_t& base, std::uint64_t& size,
                             std::uint32_t type, std::uint32_t protect,
                             std::uint64_t zero_bits) = 0;
  virtual nt_status free(std::uint64_t& base, std::uint64_t& size,
                         std::uint32_t free_type) = 0;
  virtual nt_status protect(std::uint64_t& base, std::uint64_t& size,
                            std::uint32_t new_protect,
                            std::uint32_t& old_protect) = 0;
  virtual nt_status query(std::uint64_t address,
                          memory_basic_information& out) = 0;
  virtual nt_status access(std::uint64_t address, access_kind kind,
                           access_mode mode) = 0;
  virtual nt_status read(std::uint64_t address, void* buffer, std::size_t size,
                         std::size_t& bytes_done) = 0;
  virtual nt_status write(std::uint64_t address, const void* buffer,
                          std::size_t size, std::size_t& bytes_done) = 0;
  virtual bool check_invariants() = 0;
  virtual std::uint64_t commit_charge() const = 0;
  virtual std::uint64_t frames_in_use() const = 0;
  virtual std::uint64_t table_pages_in_use() const = 0;
  virtual std::uint64_t root_frame() const = 0;
  virtual page_probe probe(std::uint64_t va) const = 0;
  // Views of the system's sections (handles are the section_system's).
  virtual nt_status map_view(int handle, std::uint64_t& base,
                             std::uint64_t& size, std::uint64_t offset,
                             std::uint32_t type, std::uint32_t protect,
                             std::uint64_t zero_bits) = 0;
  virtual nt_status unmap_view(std::uint64_t address) = 0;
  virtual nt_status flush(std::uint64_t& base, std::uint64_t& size) = 0;
  /// What the section checks need of this space (nt_machine.hpp).
  virtual mmkit_test::space_views views(const nt_model& model) = 0;
};

template <class Arch>
class space_of final : public fuzz_space {
  using impl_type = mmkit::address_space<Arch, mmkit::hosted_config<>>;
  using entry_type = typename Arch::entry_type;

 public:
  space_of(machine_system& sys, sections_type& sections) : sys_(sys), as_(sys) {
    as_.attach_sections(sections);
  }

  static const space_traits& arch_traits() {
    static constexpr std::uint64_t limit =
        mmkit::arch::frame_phys_limit<Arch>() >> mmkit::page_shift;
    static const space_traits t{
        Arch::name, Arch::levels, Arch::level[0].index_bits,
        limit < database::max_frames ? limit : database::max_frames,
        mmkit::arch::root_phys_limit<Arch>() >> mmkit::page_shift};
    return t;
  }
  const space_traits& traits() const override { return arch_traits(); }
  bool created() const override {
    return as_.impl().creation_status() == mmkit::status::success;
  }
  nt_status allocate(std::uint64_t& base, std::uint64_t& size,
                     std::uint32_t type, std::uint32_t protect,
                     std::uint64_t zero_bits) override {
    return as_.allocate(base, size, type, protect, zero_bits);
  }
  nt_status free(std::uint64_t& base, std::uint64_t& size,
                 std::uint32_t free_type) override {
    return as_.free(base, size, free_type);
  }
  nt_status protect(std::uint64_t& base, std::uint64_t& size,
                    std::uint32_t new_protect,
                    std::uint32_t& old_protect) override {
    return as_.protect(base, size, new_protect, old_protect);
  }
  nt_status query(std::uint64_t address,
                  memory_basic_information& out) override {
    return as_.query(address, out);
  }
  nt_status access(std::uint64_t address, access_kind kind,
                   access_mode mode) override {
    return as_.access(address, kind, mode);
  }
  nt_status read(std::uint64_t address, void* buffer, std::size_t size,
                 std::size_t& bytes_done) override {
    return as_.read(address, buffer, size, bytes_done);
  }
  nt_status write(std::uint64_t address, const void* buffer, std::size_t size,
                  std::size_t& bytes_done) override {
    return as_.write(address, buffer, size, bytes_done);
  }
  bool check_invariants() override { return as_.check_invariants(); }
  std::uint64_t commit_charge() const override { return as_.commit_charge(); }
  std::uint64_t frames_in_use() const override { return as_.frames_in_use(); }
  std::uint64_t table_pages_in_use() const override {
    return as_.table_pages_in_use();
  }
  std::uint64_t root_frame() const override {
    return as_.impl().root().frame().raw();
  }
  page_probe probe(std::uint64_t va) const override {
    // The const memory overload of walk() never sets accessed bits: the
    // probe is an observer, as a memory-forensics tool reading the tables.
    const auto& memory = std::as_const(sys_.memory());
    const mmkit::translation<Arch> t =
        mmkit::walk<Arch>(memory, as_.impl().root(), mmkit::vaddr{va},
                          mmkit::access::read, mmkit::cpu_mode::user);
    page_probe p;
    p.kind = t.kind;
    p.depth = t.depth;
    for (unsigned i = 0; i < t.depth; ++i)
      p.tables[i] = t.entry_addresses[i].frame().raw();
    if (t.depth == Arch::levels)
      p.pte_address = t.entry_addresses[Arch::levels - 1].raw();
    if (t.kind == mmkit::entry_kind::valid) {
      p.frame = t.address.frame().raw();
    } else if (t.kind == mmkit::entry_kind::transition) {
      p.frame = mmkit::software_pte<entry_type>::frame(t.last_entry()).raw();
    }
    return p;
  }
  nt_status map_view(int handle, std::uint64_t& base, std::uint64_t& size,
                     std::uint64_t offset, std::uint32_t type,
                     std::uint32_t protect, std::uint64_t zero_bits) override {
    return as_.map_view(handle, base, size, offset, type, protect, zero_bits);
  }
  nt_status unmap_view(std::uint64_t address) override {
    return as_.unmap_view(address);
  }
  nt_status flush(std::uint64_t& base, std::uint64_t& size) override {
    return as_.flush(base, size);
  }
  mmkit_test::space_views views(const nt_model& model) override {
    return mmkit_test::views_of(as_.impl(), model);
  }

 private:
  machine_system& sys_;
  nt_adapter<impl_type, sections_type> as_;
};

inline constexpr unsigned arch_count = 4;

inline std::unique_ptr<fuzz_space> make_space(unsigned arch,
                                              machine_system& sys,
                                              sections_type& sections) {
  switch (arch % arch_count) {
    case 0:
      return std::make_unique<space_of<mmkit::arch::x86_32>>(sys, sections);
    case 1:
      return std::make_unique<space_of<mmkit::arch::x86_pae>>(sys, sections);
    case 2:
      return std::make_unique<space_of<mmkit::arch::x86_64>>(sys, sections);
    default:
      return std::make_unique<space_of<mmkit::arch::x86_la57>>(sys, sections);
  }
}

inline nt_layout layout_for(unsigned arch) {
  switch (arch % arch_count) {
    case 0: return mmkit_test::layout_of<mmkit::arch::x86_32>();
    case 1: return mmkit_test::layout_of<mmkit::arch::x86_pae>();
    case 2: return mmkit_test::layout_of<mmkit::arch::x86_64>();
    default: return mmkit_test::layout_of<mmkit::arch::x86_la57>();
  }
}

// ---- machines ---------------------------------------------------------------

enum class machine_kind : std::uint8_t { small, above_4g };

/// A system reused across executions. reset() gives every execution the
/// same start: no frame in use, every usable frame free (lowest first) with
/// zero bytes.
class fuzz_machine {
 public:
  /// Requires: `usable` ranges are [first, first + count) of `frames`.
  fuzz_machine(std::uint64_t frames,
               std::vector<std::pair<std::uint64_t, std::uint64_t>> usable)
      : sys_(frames << mmkit::page_shift), usable_(std::move(usable)) {
    auto& db = sys_.pfns();
    std::uint64_t next = 0;
    for (const auto& [first, count] : usable_) {
      for (; next < first; ++next) db.mark_bad(mmkit::pfn{next});
      next = first + count;
      usable_count_ += count;
    }
    for (; next < frames; ++next) db.mark_bad(mmkit::pfn{next});
  }

  /// The machine of kind `k`, built on first use.
  static fuzz_machine& get(machine_kind k) {
    auto& m = held(k);
    if (!m) m = make(k);
    return *m;
  }
  /// A new machine of kind `k` in place of the old one (which a failed
  /// execution may have left with frames in use).
  static fuzz_machine& rebuild(machine_kind k) {
    auto& m = held(k);
    m.reset();
    m = make(k);
    return *m;
  }

  machine_system& sys() { return sys_; }
  database& pfns() { return sys_.pfns(); }
  std::uint64_t usable_count() const { return usable_count_; }
  const std::vector<std::pair<std::uint64_t, std::uint64_t>>& usable() const {
    return usable_;
  }
  bool above_4g() const { return sys_.pfns().frame_count() > (1u << 20); }

  /// Effects: every usable frame free, lowest first, its bytes zero; then
  /// `prezero` of them zeroed ahead (on the zeroed list).
  /// Returns: false, changing nothing, when a frame is still in use (an
  /// execution that failed leaked it).
  bool reset(std::uint64_t prezero) {
    auto& db = sys_.pfns();
    if (db.available() != usable_count_) return false;
    for (const auto& [first, count] : usable_)
      for (std::uint64_t f = first; f < first + count; ++f)
        if (db.entry(mmkit::pfn{f}).state() == mmkit::page_state::free)
          std::memset(sys_.memory().frame(mmkit::pfn{f}), 0, page_bytes);
    // Take every frame, then give them back highest first: the free lists
    // are LIFO, so the lowest frame ends up first.
    while (db.allocate(mmkit::page_need::any, 0, database::any_frame)) {
    }
    for (auto r = usable_.rbegin(); r != usable_.rend(); ++r)
      for (std::uint64_t f = r->first + r->second; f-- > r->first;)
        db.release(mmkit::pfn{f}, mmkit::release_to::free_list);
    sys_.zero_free_pages(prezero);
    return true;
  }

 private:
  static std::unique_ptr<fuzz_machine>& held(machine_kind k) {
    static std::unique_ptr<fuzz_machine> machines[2];
    return machines[k == machine_kind::small ? 0 : 1];
  }
  static std::unique_ptr<fuzz_machine> make(machine_kind k) {
    if (k == machine_kind::small)
      return std::make_unique<fuzz_machine>(
          512, std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, 512}});
    return std::make_unique<fuzz_machine>(
        (std::uint64_t{1} << 20) + 128,
        std::vector<std::pair<std::uint64_t, std::uint64_t>>{
            {0, 128}, {std::uint64_t{1} << 20, 128}});
  }

  machine_system sys_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> usable_;
  std::uint64_t usable_count_ = 0;
};

// ---- the input's configuration ----------------------------------------------

struct fuzz_config {
  machine_kind machine = machine_kind::small;
  unsigned spaces = 1;
  std::array<unsigned, max_spaces> archs{};
  unsigned pressure = 0;
  unsigned commit_factor = 0;
  unsigned prezero = 0;
  /// Sections and views too (small machine only).
  bool sections = false;

  static constexpr std::size_t header_bytes = 3;

  /// Requires: `data` holds header_bytes bytes.
  static fuzz_config parse(const std::uint8_t* data) {
    fuzz_config c;
    c.spaces = 1 + (data[0] & 3u);
    c.machine = ((data[0] >> 2) & 3u) == 3 ? machine_kind::above_4g
                                           : machine_kind::small;
    c.pressure = (data[0] >> 4) & 3u;
    c.commit_factor = (data[0] >> 6) & 3u;
    for (unsigned i = 0; i < max_spaces; ++i)
      c.archs[i] = (data[1] >> (2 * i)) & 3u;
    c.prezero = data[2] & 3u;
    c.sections = ((data[2] >> 2) & 1u) != 0 && c.machine == machine_kind::small;
    return c;
  }

  /// Frames taken from the low zone (below 4 GiB) and from anywhere (high
  /// zone first) before the spaces are made.
  std::pair<std::uint64_t, std::uint64_t> held() const {
    if (machine == machine_kind::small) {
      static constexpr std::uint64_t hold[] = {0, 256, 384, 448};
      return {hold[pressure], 0};
    }
    // Usable: 128 low, 128 high.
    static constexpr std::pair<std::uint64_t, std::uint64_t> hold[] = {
        {0, 0}, {0, 112}, {96, 0}, {104, 104}};
    return hold[pressure];
  }
};

// ---- the run ----------------------------------------------------------------

struct logged_op {
  unsigned space = 0;
  bool recreate = false;  // destroy the space, make one of arch `new_arch`
  unsigned new_arch = 0;
  diff_op op;
};

inline std::string describe(const logged_op& l) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "[space %u] ", l.space);
  if (l.recreate)
    return buf + std::string("destroy; new space of arch ") +
           layout_for(l.new_arch).name;
  return buf + mmkit_model::describe(l.op);
}

/// One execution: the spaces, their models and the frame owners.
class multi_space_run {
 public:
  static constexpr std::size_t max_ops = 2000;
  static constexpr std::size_t check_period = 64;

  multi_space_run(fuzz_machine& m, const fuzz_config& cfg, check_level level)
      : m_(m), cfg_(cfg), thorough_(level == check_level::thorough) {}

  ~multi_space_run() {
    for (auto& s : slots_) s.impl.reset();
    // Then the handles (the sections go with them, their files written),
    // so that the machine is idle for the next execution.
    sections_.reset();
    for (const mmkit::pfn f : held_)
      m_.pfns().release(f, mmkit::release_to::free_list);
  }

  multi_space_run(const multi_space_run&) = delete;
  multi_space_run& operator=(const multi_space_run&) = delete;

  /// Runs the execution; the mismatch, or nothing.
  std::optional<std::string> run(byte_entropy& e) {
    e_ = &e;
    static constexpr std::uint64_t prezero[] = {0, 8, 32, 128};
    if (!m_.reset(prezero[cfg_.prezero]))
      return std::string(
          "the machine is not idle: the run before leaked frames");
    auto& db = m_.pfns();
    const auto [low, any] = cfg_.held();
    for (std::uint64_t i = 0; i < low + any; ++i) {
      auto f = db.allocate(mmkit::page_need::any, 0,
                           i < low ? mmkit::pfn{database::low_zone_frames}
                                   : database::any_frame);
      if (!f) return std::string("the machine has fewer frames than it should");
      held_.push_back(*f);
    }
    usable_ = m_.usable_count() - held_.size();
    static constexpr std::uint64_t factor_x2[] = {1, 2, 4, 16};
    commit_limit_ = usable_ * factor_x2[cfg_.commit_factor] / 2;
    if (!m_.sys().set_commit_limit(commit_limit_).ok())
      return std::string("commit limit refused on an idle machine");
    // One world of sections for the models, one section system for the
    // spaces; the files the same on both sides.
    world_ = std::make_shared<section_world>(commit_limit_);
    sections_ = std::make_unique<sections_type>(m_.sys());
    if (cfg_.sections)
      for (std::size_t k = 0; k < std::size(section_files); ++k) {
        sections_->create_file(section_file_bytes(k), section_files[k].second);
        world_->create_file(section_file_bytes(k), section_files[k].second);
      }

    for (unsigned i = 0; i < cfg_.spaces; ++i) {
      slots_.emplace_back();
      if (auto m = create(i, cfg_.archs[i])) return m;
    }
    if (auto m = global_checks()) return m;

    for (std::size_t i = 0; i < max_ops && !e.exhausted(); ++i) {
      const std::uint64_t r = e.next();
      logged_op l;
      l.space = static_cast<unsigned>(r % slots_.size());
      slot& s = slots_[l.space];
      l.recreate = (r >> 9) == 0 || !s.impl;
      if (l.recreate) {
        l.new_arch = static_cast<unsigned>(e.next() % arch_count);
      } else {
        l.op = s.gen->next(*s.model);
      }
      log_.push_back(l);
      index_ = i;
      auto m = l.recreate ? recreate(l.space, l.new_arch) : step(l.space, l.op);
      if (!m) m = global_checks();
      if (!m && cfg_.sections) m = invariants();
      if (!m && (thorough_ || (i + 1) % check_period == 0)) m = full_checks();
      if (m) return fail(*m);
    }
    index_ = log_.size();
    if (auto m = finish()) return fail(*m);
    return std::nullopt;
  }

  const std::vector<logged_op>& log() const { return log_; }
  /// The op after which the mismatch was seen (log().size(): the end).
  std::size_t failed_at() const { return failed_at_; }
  std::size_t successes() const { return successes_; }

 private:
  struct slot {
    std::unique_ptr<fuzz_space> impl;
    std::unique_ptr<nt_model> model;
    std::unique_ptr<op_generator<byte_entropy>> gen;
    unsigned arch = 0;
    /// vpn -> frame of every page the driver saw become resident.
    std::map<std::uint64_t, std::uint64_t> resident;
    /// Pages written since the last full check.
    std::vector<std::uint64_t> written;
    std::uint64_t base_tables = 0;
  };
  struct owner {
    unsigned space;
    std::uint64_t vpn;
  };

  template <class... A>
  static std::string fmt(const char* f, A... a) {
    char buf[512];
    std::snprintf(buf, sizeof buf, f, static_cast<unsigned long long>(a)...);
    return buf;
  }
  std::string where(unsigned s) const {
    return fmt("space %llu (", s) +
           (slots_[s].impl ? slots_[s].impl->traits().name : "none") + "): ";
  }

  std::string fail(const std::string& m) {
    failed_at_ = index_;
    return m;
  }

  /// STATUS_INSUFFICIENT_RESOURCES: the implementation's status for "not
  /// enough frames for the page tables"; the model never returns it.
  static constexpr nt_status insufficient_resources =
      static_cast<nt_status>(0xC000009Au);
  static std::string st(nt_status s) {
    return s == insufficient_resources ? "STATUS_INSUFFICIENT_RESOURCES"
                                       : status_name(s);
  }

  std::uint64_t available_to(unsigned s) const {
    return m_.pfns().available_below(
        mmkit::pfn{slots_[s].impl->traits().frame_end});
  }
  /// Whether writing PTEs over [first, last] may need more table frames
  /// than space `s` can get (every leaf table missing, each needing a
  /// table at every level but the root).
  bool tables_short(unsigned s, std::uint64_t first, std::uint64_t last) const {
    const space_traits& t = slots_[s].impl->traits();
    const std::uint64_t spans =
        (last >> t.leaf_index_bits) - (first >> t.leaf_index_bits) + 1;
    return available_to(s) < spans * (t.levels - 1);
  }
  /// Whether a fault in space `s` may find no frame for the page or its
  /// tables.
  bool fault_short(unsigned s) const {
    return available_to(s) < slots_[s].impl->traits().levels ||
           !promise_room(1);
  }
  /// Whether `n` more frames fit the promise made to committed pages (a
  /// file section's page brought in takes one no charge covers).
  bool promise_room(std::uint64_t n) const {
    return world_->commit_charge() + m_.pfns().page_table_count() +
               m_.sys().uncharged_frames() + n <=
           m_.usable_count();
  }

  /// What the model's access would answer at `va`, without its side effect
  /// (a guard page keeps its guard).
  static nt_status model_touch(const nt_model& m, std::uint64_t va,
                               access_kind kind) {
    if (va > m.layout().highest) return nt_status::access_violation;
    std::uint32_t prot = 0;
    if (m.in_view(va >> 12)) {
      const auto info = m.view_page_at(va >> 12);
      if (!info.committed) return nt_status::access_violation;
      prot = info.protect;
    } else {
      const auto p = m.committed_pages().find(va >> 12);
      if (p == m.committed_pages().end()) return nt_status::access_violation;
      prot = p->second.protect;
    }
    const auto r = m.rights_of(prot);
    const bool allowed = kind == access_kind::read ? r.read
                         : kind == access_kind::write
                             ? r.write || nt_model::copy_on_write(prot)
                             : r.execute;
    if (!allowed) return nt_status::access_violation;
    if (prot & page::guard) return nt_status::guard_page_violation;
    return nt_status::success;
  }

  /// Whether the implementation still reports page `va` of space `s` as a
  /// guard page.
  bool still_guarded(unsigned s, std::uint64_t va) const {
    memory_basic_information info{};
    return slots_[s].impl->query(va, info) == nt_status::success &&
           (info.protect & page::guard) != 0;
  }

  /// The pages [first, last] an allocate / free / protect names, as the
  /// model sees them before the op (a size-0 free: the whole allocation).
  static std::optional<std::pair<std::uint64_t, std::uint64_t>> op_range(
      const nt_model& m, const diff_op& op) {
    if (op.k == diff_op::kind::free && op.size == 0) {
      const auto& allocs = m.allocations();
      auto a = allocs.upper_bound(op.addr >> 12);
      if (a == allocs.begin()) return std::nullopt;
      --a;
      if ((op.addr >> 12) >= a->second.end_vpn) return std::nullopt;
      return std::pair{a->first, a->second.end_vpn - 1};
    }
    if (op.size == 0 || op.addr + (op.size - 1) < op.addr) return std::nullopt;
    return std::pair{op.addr >> 12, (op.addr + op.size - 1) >> 12};
  }

  /// The pages a commit `op` would charge if its arguments are good (a new
  /// reservation: all of them; inside one: those not committed yet), or
  /// nothing for a range that cannot be.
  static std::optional<std::uint64_t> commit_need(const nt_model& m,
                                                  const diff_op& op) {
    if (!(op.a & mem::commit) || op.size == 0 ||
        op.size > (std::uint64_t{1} << 57) ||
        op.addr > (std::uint64_t{1} << 63))
      return std::nullopt;
    const auto page_up = [](std::uint64_t a) {
      return (a + page_bytes - 1) & ~(page_bytes - 1);
    };
    if ((op.a & mem::reserve) || op.addr == 0) {
      if (op.addr == 0) return page_up(op.size) >> 12;
      const std::uint64_t start = op.addr & ~std::uint64_t{0xFFFF};
      return (page_up(op.addr + op.size) - start) >> 12;
    }
    const std::uint64_t first = op.addr >> 12;
    const std::uint64_t end = page_up(op.addr + op.size) >> 12;
    std::uint64_t fresh = end - first;
    const auto& committed = m.committed_pages();
    for (auto p = committed.lower_bound(first);
         p != committed.end() && p->first < end; ++p)
      --fresh;
    return fresh;
  }

  /// Whether an address space whose frames lie below `end` can use only
  /// frames below 4 GiB on a machine that has others (x86_32 pages, and
  /// the x86_32 and PAE roots, on the above_4g machine).
  bool low_zone_only(std::uint64_t end) const {
    return m_.above_4g() && end <= database::low_zone_frames;
  }
  /// What the spaces that can use only frames below 4 GiB have committed
  /// and not touched yet: the low frames they are owed.
  std::uint64_t low_outstanding() const {
    std::uint64_t owed = 0;
    for (const slot& sl : slots_)
      if (sl.impl && low_zone_only(sl.impl->traits().frame_end))
        owed += sl.model->commit_charge() - sl.resident.size();
    return owed;
  }
  /// Whether a commit `op` of space `s` may be refused with
  /// commitment_limit: the spaces' charge plus what it adds passes the
  /// system's limit; or commit is a promise that the frames cannot keep
  /// (every committed page and page table backed by a usable frame, and
  /// for a space that can use only frames below 4 GiB, its untouched pages
  /// by free frames there). The tables a commit makes are bounded by one
  /// table per level but the root for each leaf-table span it may cover.
  bool commit_refusable(unsigned s, const diff_op& op) const {
    const auto need = commit_need(*slots_[s].model, op);
    if (!need) return false;
    if (system_charge() + *need > commit_limit_) return true;
    const space_traits& t = slots_[s].impl->traits();
    const auto range = op_range(*slots_[s].model, op);
    const std::uint64_t pages =
        range ? range->second - range->first + 1 : *need;
    const std::uint64_t tables =
        ((pages >> t.leaf_index_bits) + 2) * (t.levels - 1);
    const auto& db = m_.pfns();
    if (system_charge() + db.page_table_count() + m_.sys().uncharged_frames() +
            *need + tables >
        m_.usable_count())
      return true;
    return low_zone_only(t.frame_end) &&
           low_outstanding() + *need + tables >
               db.available_below(mmkit::pfn{database::low_zone_frames});
  }

  /// The system's commit charge as the models see it: every space's and
  /// every page-file section's.
  std::uint64_t system_charge() const { return world_->commit_charge(); }

  // ---- spaces come and go ---------------------------------------------------

  std::optional<std::string> create(unsigned s, unsigned arch) {
    slot& sl = slots_[s];
    sl = slot{};
    sl.arch = arch;
    sl.impl = make_space(arch, m_.sys(), *sections_);
    if (!sl.impl->created()) {
      // Only a root table without a frame to take excuses it (none free
      // where the root may lie, or every free one promised to committed
      // pages): the slot stays empty until the next op for it makes
      // another space.
      const space_traits& t = sl.impl->traits();
      sl.impl.reset();
      const auto& db = m_.pfns();
      const std::uint64_t root_end = std::min(t.root_end, t.frame_end);
      const std::uint64_t avail = db.available_below(mmkit::pfn{root_end});
      const bool promised =
          !promise_room(1) ||
          (low_zone_only(root_end) &&
           low_outstanding() + 1 >
               db.available_below(mmkit::pfn{database::low_zone_frames}));
      if (avail != 0 && !promised)
        return fmt("space %llu: creation failed with %llu frames available", s,
                   avail);
      return std::nullopt;
    }
    sl.model = std::make_unique<nt_model>(layout_for(arch), world_);
    sl.gen = std::make_unique<op_generator<byte_entropy>>(*e_, layout_for(arch),
                                                          cfg_.sections);
    sl.base_tables = sl.impl->table_pages_in_use();
    return std::nullopt;
  }

  std::optional<std::string> recreate(unsigned s, unsigned arch) {
    slot& sl = slots_[s];
    if (sl.impl) {
      auto& db = m_.pfns();
      const std::uint64_t frames =
          sl.impl->frames_in_use() + sl.impl->table_pages_in_use();
      const std::uint64_t avail = db.available();
      const std::uint64_t section_frames = section_resident();
      const std::string who = where(s);
      for (const auto& [vpn, f] : sl.resident) owners_.erase(f);
      sl.resident.clear();
      sl.impl.reset();
      // Its views go with it, and sections they alone kept alive, with
      // their frames and charge.
      sl.model.reset();
      const std::uint64_t freed = section_frames - section_resident();
      if (db.available() != avail + frames + freed)
        return who + fmt("destroying it returned %llu frames, it held %llu "
                         "and its views' sections %llu",
                         db.available() - avail, frames, freed);
      if (m_.sys().commit_charge() != world_->commit_charge())
        return who + fmt("destroying it left commit charge %llu, expected %llu",
                         m_.sys().commit_charge(), world_->commit_charge());
    }
    return create(s, arch);
  }

  // ---- residency and frame ownership ----------------------------------------

  /// Checks the PFN entry of `frame`, the page `vpn` of space `s` (whose
  /// leaf PTE is at `pte`).
  std::optional<std::string> check_page_frame(unsigned s, std::uint64_t vpn,
                                              std::uint64_t frame,
                                              std::uint64_t pte) const {
    const auto& db = m_.pfns();
    if (frame >= slots_[s].impl->traits().frame_end ||
        frame >= db.frame_count())
      return where(s) + fmt("page 0x%llx maps frame 0x%llx, beyond its reach",
                            vpn << 12, frame);
    const mmkit::pfn_entry& e = db.entry(mmkit::pfn{frame});
    // Active and mapped once; or, trimmed from its working set by a
    // reclaim for another call's frames (its PTE in transition), on the
    // standby or modified list and mapped nowhere.
    const bool trimmed = e.state() == mmkit::page_state::standby ||
                         e.state() == mmkit::page_state::modified ||
                         e.state() == mmkit::page_state::modified_no_write;
    if (e.page_table() || (e.state() == mmkit::page_state::active
                               ? e.share_count() != 1
                               : !trimmed || e.share_count() != 0))
      return where(s) +
             fmt("page 0x%llx maps frame 0x%llx, whose PFN entry is state "
                 "%llu, page table %llu, share count %llu",
                 vpn << 12, frame, static_cast<unsigned>(e.state()),
                 e.page_table(), e.share_count());
    if (!(e.link() == mmkit::pte_link::hardware_pte(mmkit::paddr{pte})))
      return where(s) +
             fmt("page 0x%llx: frame 0x%llx's PFN back-link is 0x%llx, its "
                 "PTE is at 0x%llx",
                 vpn << 12, frame, e.link().value, pte);
    return std::nullopt;
  }

  /// Pages [first, last] of space `s` hold frames now (a fault or a copy
  /// went through them): each new one must name a frame nobody owns.
  std::optional<std::string> became_resident(unsigned s, std::uint64_t first,
                                             std::uint64_t last) {
    slot& sl = slots_[s];
    for (std::uint64_t v = first; v <= last; ++v) {
      if (sl.resident.count(v) != 0) continue;
      // A view's shared page is its section's frame (the section checks
      // look after it); a private copy is the space's own.
      if (sl.model->in_view(v) && !sl.model->view_page_at(v).copied) continue;
      const page_probe p = sl.impl->probe(v << 12);
      if (p.kind != mmkit::entry_kind::valid &&
          p.kind != mmkit::entry_kind::transition)
        return where(s) +
               fmt("page 0x%llx was touched but its PTE is kind %llu", v << 12,
                   static_cast<unsigned>(p.kind));
      if (auto m = check_page_frame(s, v, p.frame, p.pte_address)) return m;
      const auto [it, fresh] = owners_.try_emplace(p.frame, owner{s, v});
      if (!fresh)
        return where(s) +
               fmt("page 0x%llx got frame 0x%llx, which is page 0x%llx of "
                   "space %llu",
                   v << 12, p.frame, it->second.vpn << 12, it->second.space);
      sl.resident.emplace(v, p.frame);
    }
    return std::nullopt;
  }

  /// Pages [first, last] of space `s` gave their frames back.
  void dropped(unsigned s, std::uint64_t first, std::uint64_t last) {
    auto& r = slots_[s].resident;
    for (auto it = r.lower_bound(first); it != r.end() && it->first <= last;) {
      owners_.erase(it->second);
      it = r.erase(it);
    }
  }

  /// The bytes of resident page `vpn` of space `s`, read from its frame,
  /// against the model's.
  std::optional<std::string> compare_frame(unsigned s, std::uint64_t vpn,
                                           std::uint64_t frame) const {
    if (slots_[s].model->in_view(vpn)) {
      const auto want = slots_[s].model->view_bytes(vpn);
      const auto* have = reinterpret_cast<const std::uint8_t*>(
          std::as_const(m_.sys().memory()).read_frame(mmkit::pfn{frame}));
      if (std::memcmp(have, want.data(), page_bytes) == 0) return std::nullopt;
      std::size_t i = 0;
      while (have[i] == want[i]) ++i;
      return where(s) + fmt("copy's byte at 0x%llx (frame 0x%llx): 0x%02llx, "
                            "the model says 0x%02llx",
                            (vpn << 12) + i, frame, have[i], want[i]);
    }
    const auto& committed = slots_[s].model->committed_pages();
    const auto p = committed.find(vpn);
    if (p == committed.end())
      return where(s) + fmt("page 0x%llx holds frame 0x%llx but the model has "
                            "it uncommitted",
                            vpn << 12, frame);
    if (p->second.unknown) return std::nullopt;
    static const std::array<std::uint8_t, page_bytes> zeros{};
    const std::uint8_t* want =
        p->second.bytes ? p->second.bytes->data() : zeros.data();
    const auto* have = reinterpret_cast<const std::uint8_t*>(
        std::as_const(m_.sys().memory()).read_frame(mmkit::pfn{frame}));
    if (std::memcmp(have, want, page_bytes) == 0) return std::nullopt;
    std::size_t i = 0;
    while (have[i] == want[i]) ++i;
    return where(s) + fmt("byte at 0x%llx (frame 0x%llx): 0x%02llx, the model "
                          "says 0x%02llx",
                          (vpn << 12) + i, frame, have[i], want[i]);
  }

  // ---- one op ---------------------------------------------------------------

  std::optional<std::string> step(unsigned s, const diff_op& op) {
    switch (op.k) {
      case diff_op::kind::allocate:
      case diff_op::kind::free:
      case diff_op::kind::protect: return step_mutation(s, op);
      case diff_op::kind::query: return step_query(s, op);
      case diff_op::kind::access: return step_access(s, op);
      case diff_op::kind::read:
      case diff_op::kind::write: return step_copy(s, op);
      case diff_op::kind::create_section:
      case diff_op::kind::open_section:
      case diff_op::kind::close_section:
      case diff_op::kind::map_view:
      case diff_op::kind::unmap_view:
      case diff_op::kind::flush: return step_section(s, op);
      // The pager's ops: this driver's generators make none.
      case diff_op::kind::trim:
      case diff_op::kind::write_modified:
      case diff_op::kind::repurpose:
      case diff_op::kind::balance: break;
    }
    return std::nullopt;
  }

  /// Section frames the models hold (page-file and file pages brought in).
  std::uint64_t section_resident() const {
    return world_->resident_file_pages() + world_->resident_page_file_pages();
  }

  std::optional<std::string> step_section(unsigned s, const diff_op& op) {
    slot& sl = slots_[s];
    const auto to_nt = [](mmkit::status x) {
      return static_cast<nt_status>(static_cast<std::uint32_t>(x));
    };
    const auto differ = [&](nt_status ir, nt_status mr) {
      return where(s) + "status: impl " + st(ir) + ", model " + st(mr);
    };
    switch (op.k) {
      case diff_op::kind::create_section:
      case diff_op::kind::open_section: {
        int ih = -1, mh = -1;
        const std::string name = section_name(op.name);
        const auto flags = static_cast<std::uint32_t>(op.zero_bits);
        const nt_status ir =
            op.k == diff_op::kind::create_section
                ? to_nt(sections_->create_section(ih, op.c, name, flags,
                                                  op.size, op.a, op.b, op.file))
                : to_nt(sections_->open_section(ih, op.c, name));
        if (ir == nt_status::commitment_limit && op.file < 0 &&
            (op.b & sec::commit)) {
          // SEC_COMMIT is a promise too: the frames may not back it.
          const std::uint64_t pages = (op.size + page_bytes - 1) / page_bytes;
          if (ih < 0 && (!world_->can_charge(pages) || !promise_room(pages)))
            return std::nullopt;
        }
        const nt_status mr =
            op.k == diff_op::kind::create_section
                ? world_->create_section(mh, op.c, name, flags, op.size, op.a,
                                         op.b, op.file)
                : world_->open_section(mh, op.c, name);
        if (ir != mr) return differ(ir, mr);
        if (ih != mh)
          return where(s) + fmt("handle: impl %llu, model %llu", ih, mh);
        if (mr == nt_status::success) ++successes_;
        return std::nullopt;
      }
      case diff_op::kind::close_section: {
        const nt_status ir = to_nt(sections_->close_section(op.handle));
        const nt_status mr = world_->close_section(op.handle);
        if (ir != mr) return differ(ir, mr);
        if (mr == nt_status::success) ++successes_;
        return compare_files();
      }
      case diff_op::kind::map_view: {
        std::uint64_t ib = op.addr, is = op.size, mb = op.addr, ms = op.size;
        const nt_status ir = sl.impl->map_view(op.handle, ib, is, op.offset,
                                               op.a, op.b, op.zero_bits);
        if ((ir == nt_status::commitment_limit ||
             ir == insufficient_resources || ir == nt_status::no_memory) &&
            map_refusable(s, op)) {
          // The view's page tables (written at map time) or its
          // copy-on-write charge may not fit: the model is not run.
          if (ib != op.addr || is != op.size)
            return where(s) + "out base/size changed by a failed map";
          return std::nullopt;
        }
        const nt_status mr = sl.model->map_view(op.handle, mb, ms, op.offset,
                                                op.a, op.b, op.zero_bits);
        if (ir != mr) return differ(ir, mr);
        if (ib != mb || is != ms)
          return where(s) + fmt("map: out base/size: impl 0x%llx/0x%llx, model "
                                "0x%llx/0x%llx",
                                ib, is, mb, ms);
        if (mr == nt_status::success) ++successes_;
        return std::nullopt;
      }
      case diff_op::kind::unmap_view: {
        std::optional<std::pair<std::uint64_t, std::uint64_t>> range;
        if (op.addr <= sl.model->layout().highest) {
          const auto& allocs = sl.model->allocations();
          auto a = allocs.upper_bound(op.addr >> 12);
          if (a != allocs.begin()) {
            --a;
            if ((op.addr >> 12) < a->second.end_vpn)
              range = std::pair{a->first, a->second.end_vpn - 1};
          }
        }
        const nt_status ir = sl.impl->unmap_view(op.addr);
        const nt_status mr = sl.model->unmap_view(op.addr);
        if (ir != mr) return differ(ir, mr);
        if (mr != nt_status::success) return std::nullopt;
        ++successes_;
        dropped(s, range->first, range->second);
        return compare_files();
      }
      case diff_op::kind::flush: {
        std::uint64_t ib = op.addr, is = op.size, mb = op.addr, ms = op.size;
        const nt_status ir = sl.impl->flush(ib, is);
        const nt_status mr = sl.model->flush(mb, ms);
        if (ir != mr) return differ(ir, mr);
        if (ib != mb || is != ms)
          return where(s) + fmt("flush: out base/size: impl 0x%llx/0x%llx, "
                                "model 0x%llx/0x%llx",
                                ib, is, mb, ms);
        if (mr == nt_status::success) ++successes_;
        return compare_files();
      }
      default: break;
    }
    return std::nullopt;
  }

  /// Whether a map the implementation refused for want of frames may be
  /// refused so: its page tables (one per level but the root for each
  /// leaf-table span, made at map time) and its copy-on-write charge may
  /// not fit the frames or the promise.
  bool map_refusable(unsigned s, const diff_op& op) const {
    if (!world_->handle_open(op.handle)) return false;
    const auto& sec = world_->section(world_->handle(op.handle).section);
    const std::uint64_t bytes =
        op.size != 0 ? op.size
                     : (sec.size > op.offset ? sec.size - op.offset : 0);
    const std::uint64_t pages = (bytes + page_bytes - 1) / page_bytes;
    const space_traits& t = slots_[s].impl->traits();
    const std::uint64_t tables =
        ((pages >> t.leaf_index_bits) + 2) * (t.levels - 1);
    const std::uint64_t cow = (op.b & 0xFFu) == page::writecopy ||
                                      (op.b & 0xFFu) == page::execute_writecopy
                                  ? pages
                                  : 0;
    return available_to(s) < tables || !promise_room(tables + cow) ||
           !world_->can_charge(cow);
  }

  /// Every space's check_invariants() (after every op of a sections run:
  /// small machine only, where the PFN database's part is cheap).
  std::optional<std::string> invariants() const {
    for (unsigned i = 0; i < slots_.size(); ++i)
      if (slots_[i].impl && !slots_[i].impl->check_invariants())
        return where(i) + "impl invariants broken";
    return std::nullopt;
  }

  /// The files, the implementation's against the model's.
  std::optional<std::string> compare_files() const {
    for (std::size_t f = 0; f < world_->file_count(); ++f) {
      const auto ib = sections_->file_bytes(static_cast<int>(f));
      const auto& mb = world_->file_bytes(static_cast<int>(f));
      if (ib == mb) continue;
      if (ib.size() != mb.size())
        return fmt("file %llu: impl size 0x%llx, model 0x%llx", f, ib.size(),
                   mb.size());
      std::size_t i = 0;
      while (ib[i] == mb[i]) ++i;
      return fmt("file %llu byte 0x%llx: impl 0x%02llx, model 0x%02llx", f, i,
                 ib[i], mb[i]);
    }
    return std::nullopt;
  }

  /// The section layer against the world, over every space; the frames
  /// of resident section pages go to `frames`.
  std::optional<std::string> section_checks(
      std::set<std::uint64_t>* frames = nullptr) const {
    std::vector<mmkit_test::space_views> views;
    for (const slot& sl : slots_)
      if (sl.impl) views.push_back(sl.impl->views(*sl.model));
    return mmkit_test::check_sections(m_.sys(), *sections_, *world_, views,
                                      frames);
  }

  std::optional<std::string> step_mutation(unsigned s, const diff_op& op) {
    slot& sl = slots_[s];
    fuzz_space& impl = *sl.impl;
    nt_model& model = *sl.model;
    const auto range = op_range(model, op);
    std::uint64_t ib = op.addr, is = op.size, mb = op.addr, ms = op.size;
    std::uint32_t iold = 0, mold = 0;
    nt_status ir{};
    if (op.k == diff_op::kind::allocate) {
      ir = impl.allocate(ib, is, op.a, op.b, op.zero_bits);
    } else if (op.k == diff_op::kind::free) {
      ir = impl.free(ib, is, op.a);
    } else {
      ir = impl.protect(ib, is, op.a, iold);
    }
    if (ir == insufficient_resources) {
      // Short of page-table frames: plausible only when the range's tables
      // might not fit. The model is not run; the implementation changed
      // nothing, which the comparisons that follow check.
      if (ib != op.addr || is != op.size)
        return where(s) + "out base/size changed by a failed call";
      // A NULL base lands where the space chooses: its range may straddle
      // one more leaf-table span than the one from 0 does.
      const std::uint64_t extra =
          op.addr == 0 ? std::uint64_t{1} << sl.impl->traits().leaf_index_bits
                       : 0;
      if (!range || !tables_short(s, range->first, range->second + extra))
        return where(s) +
               fmt("STATUS_INSUFFICIENT_RESOURCES with %llu frames available",
                   available_to(s));
      return std::nullopt;
    }

    if (ir == nt_status::commitment_limit && op.k == diff_op::kind::allocate) {
      // The limit is the system's, and the frames must be able to back
      // what is committed: see commit_refusable(). The model is not run
      // (see above).
      if (ib != op.addr || is != op.size)
        return where(s) + "out base/size changed by a failed call";
      if (commit_refusable(s, op)) return std::nullopt;
      // Otherwise the model must refuse too: it runs below.
    }

    nt_status mr{};
    if (op.k == diff_op::kind::allocate) {
      mr = model.allocate(mb, ms, op.a, op.b, op.zero_bits);
    } else if (op.k == diff_op::kind::free) {
      mr = model.free(mb, ms, op.a);
    } else {
      mr = model.protect(mb, ms, op.a, mold);
    }
    if (ir != mr)
      return where(s) + "status: impl " + st(ir) + ", model " + st(mr);
    if (ib != mb || is != ms)
      return where(s) +
             fmt("out base/size: impl 0x%llx/0x%llx, model 0x%llx/0x%llx", ib,
                 is, mb, ms);
    if (op.k == diff_op::kind::protect && mr == nt_status::success &&
        iold != mold)
      return where(s) +
             fmt("old protect: impl 0x%llx, model 0x%llx", iold, mold);
    if (mr != nt_status::success) return std::nullopt;
    ++successes_;
    if (op.k == diff_op::kind::free && range) {
      dropped(s, range->first, range->second);
    } else if (op.k == diff_op::kind::allocate && op.a == mem::reset &&
               !model.in_view(mb >> 12)) {
      // MEM_RESET discards the pages' contents: their frames go back (a
      // view's pages stay as they are).
      dropped(s, mb >> 12, (mb + ms - 1) >> 12);
    }
    return std::nullopt;
  }

  std::optional<std::string> step_query(unsigned s, const diff_op& op) {
    memory_basic_information im{}, mm{};
    const nt_status ir = slots_[s].impl->query(op.addr, im);
    const nt_status mr = slots_[s].model->query(op.addr, mm);
    if (ir != mr)
      return where(s) + "status: impl " + st(ir) + ", model " + st(mr);
    if (mr == nt_status::success && !(im == mm))
      return where(s) + "query: impl " + to_text(im) + ", model " + to_text(mm);
    if (mr == nt_status::success) ++successes_;
    return std::nullopt;
  }

  std::optional<std::string> step_access(unsigned s, const diff_op& op) {
    slot& sl = slots_[s];
    const auto k = static_cast<access_kind>(op.a);
    const auto md = static_cast<access_mode>(op.b);
    const nt_status ir = sl.impl->access(op.addr, k, md);
    if (ir == nt_status::no_memory) {
      const nt_status mt = model_touch(*sl.model, op.addr, k);
      if (mt == nt_status::success || mt == nt_status::guard_page_violation) {
        if (!fault_short(s))
          return where(s) + fmt("access at 0x%llx: STATUS_NO_MEMORY with %llu "
                                "frames available",
                                op.addr, available_to(s));
        return std::nullopt;  // the model is not run (see step_mutation)
      }
    }
    const nt_status mr = sl.model->access(op.addr, k, md);
    if (ir != mr)
      return where(s) + "status: impl " + st(ir) + ", model " + st(mr);
    if (mr != nt_status::success) return std::nullopt;
    ++successes_;
    return became_resident(s, op.addr >> 12, op.addr >> 12);
  }

  std::optional<std::string> step_copy(unsigned s, const diff_op& op) {
    slot& sl = slots_[s];
    const bool is_write = op.k == diff_op::kind::write;
    const access_kind kind = is_write ? access_kind::write : access_kind::read;
    // The buffers are the run's, reused: an op allocates nothing.
    std::vector<std::uint8_t>& ibuf = ibuf_;
    std::vector<std::uint8_t>& mbuf = mbuf_;
    ibuf.resize(op.size);
    mbuf.resize(op.size);
    if (is_write) {
      // Write data: a splitmix64 stream from the op's seed, 8 bytes a step.
      splitmix64 data(op.seed);
      for (std::size_t i = 0; i < ibuf.size(); i += 8) {
        const std::uint64_t v = data.next();
        std::memcpy(ibuf.data() + i, &v,
                    std::min<std::size_t>(8, ibuf.size() - i));
      }
      std::memcpy(mbuf.data(), ibuf.data(), ibuf.size());
    } else {
      std::memset(ibuf.data(), 0xA5, ibuf.size());
      std::memset(mbuf.data(), 0xA5, mbuf.size());
    }
    std::size_t idone = 0, mdone = 0;
    const nt_status ir =
        is_write ? sl.impl->write(op.addr, ibuf.data(), ibuf.size(), idone)
                 : sl.impl->read(op.addr, ibuf.data(), ibuf.size(), idone);
    std::size_t model_size = mbuf.size();
    bool short_of_frames = false;
    if ((ir == nt_status::no_memory && idone == 0) ||
        (ir == nt_status::partial_copy && idone > 0 && idone < op.size)) {
      // Where the implementation stopped, the model would copy on, or
      // raise a guard page that the implementation left armed: only a
      // fault without a frame (for the page or for the table that lifting
      // the guard needs) stops there.
      const std::uint64_t at = op.addr + idone;
      const nt_status mt = model_touch(*sl.model, at, kind);
      if (mt == nt_status::success ||
          (mt == nt_status::guard_page_violation && still_guarded(s, at))) {
        if (!fault_short(s))
          return where(s) + fmt("copy stopped at 0x%llx (done %llu) with "
                                "%llu frames available",
                                op.addr + idone, idone, available_to(s));
        short_of_frames = true;
        model_size = idone;
      }
    }
    if (short_of_frames && model_size == 0) return std::nullopt;
    const nt_status mr =
        is_write ? sl.model->write(op.addr, mbuf.data(), model_size, mdone)
                 : sl.model->read(op.addr, mbuf.data(), model_size, mdone);
    if (short_of_frames) {
      if (mr != nt_status::success || mdone != idone)
        return where(s) + fmt("the model copies only %llu of the %llu bytes "
                              "the implementation copied",
                              mdone, idone);
    } else if (ir != mr) {
      return where(s) + "status: impl " + st(ir) + ", model " + st(mr);
    }
    if (idone != mdone)
      return where(s) + fmt("bytes_done: impl %llu, model %llu", idone, mdone);
    if (!is_write)
      if (auto m = compare_buffers(s, op.addr, ibuf.data(), mbuf.data(), mdone))
        return m;
    if (mr == nt_status::success) ++successes_;
    if (mdone == 0) return std::nullopt;
    const std::uint64_t first = op.addr >> 12;
    const std::uint64_t last = (op.addr + mdone - 1) >> 12;
    if (is_write)
      for (std::uint64_t v = first; v <= last; ++v) sl.written.push_back(v);
    return became_resident(s, first, last);
  }

  /// Compares bytes read, where the model knows them (not under MEM_RESET).
  std::optional<std::string> compare_buffers(unsigned s, std::uint64_t addr,
                                             const std::uint8_t* ib,
                                             const std::uint8_t* mb,
                                             std::size_t n) const {
    if (n == 0 || std::memcmp(ib, mb, n) == 0) return std::nullopt;
    for (std::size_t i = 0; i < n; ++i) {
      if (ib[i] == mb[i]) continue;
      const std::uint64_t va = addr + i;
      if (!slots_[s].model->contents_known(va >> 12)) {
        i += static_cast<std::size_t>(0xFFF - (va & 0xFFF));
        continue;
      }
      return where(s) +
             fmt("read byte at 0x%llx: impl 0x%02llx, model 0x%02llx", va,
                 ib[i], mb[i]);
    }
    return std::nullopt;
  }

  // ---- checks ---------------------------------------------------------------

  /// After every op: commit charges, resident frames, PFN counts. O(spaces).
  std::optional<std::string> global_checks() const {
    std::uint64_t charge = 0, frames = 0, tables = 0;
    for (unsigned i = 0; i < slots_.size(); ++i) {
      const slot& sl = slots_[i];
      if (!sl.impl) continue;
      if (sl.impl->commit_charge() != sl.model->commit_charge())
        return where(i) + fmt("commit charge: impl %llu, model %llu",
                              sl.impl->commit_charge(),
                              sl.model->commit_charge());
      if (sl.impl->frames_in_use() != sl.resident.size())
        return where(i) + fmt("frames_in_use %llu, pages seen resident %llu",
                              sl.impl->frames_in_use(), sl.resident.size());
      charge += sl.model->commit_charge();
      frames += sl.impl->frames_in_use();
      tables += sl.impl->table_pages_in_use();
    }
    const auto& db = m_.pfns();
    if (world_->commit_charge() != charge + world_->section_charge())
      return fmt(
          "the models hold commit charge %llu, the spaces %llu and "
          "the sections %llu",
          world_->commit_charge(), charge, world_->section_charge());
    charge = world_->commit_charge();
    if (m_.sys().commit_charge() != charge)
      return fmt("system commit charge %llu, the models' %llu",
                 m_.sys().commit_charge(), charge);
    if (charge > commit_limit_)
      return fmt("the spaces hold commit charge %llu, past the limit %llu",
                 charge, commit_limit_);
    // Section frames: held by their sections, not by a space.
    frames += section_resident();
    if (db.page_table_count() != tables)
      return fmt("PFN database: %llu page tables, the spaces hold %llu",
                 db.page_table_count(), tables);
    // A space's frames_in_use counts its pages in transition too: a
    // commit or fault short of frames trims other spaces' working sets
    // (system::make_available_locked), and a trimmed page keeps its frame
    // on the standby or modified list until it is repurposed or written.
    const std::uint64_t held = held_.size();
    const std::uint64_t in_transition =
        db.count(mmkit::page_state::standby) +
        db.count(mmkit::page_state::modified) +
        db.count(mmkit::page_state::modified_no_write);
    if (db.count(mmkit::page_state::active) + in_transition !=
        frames + tables + held)
      return fmt(
          "PFN database: %llu frames active and %llu in transition, the "
          "spaces hold %llu pages and %llu tables, the driver %llu",
          db.count(mmkit::page_state::active), in_transition, frames, tables,
          held);
    const std::uint64_t listed_free =
        db.count(mmkit::page_state::free) + db.count(mmkit::page_state::zeroed);
    if (listed_free + frames + tables + held != m_.usable_count())
      return fmt(
          "PFN database: %llu frames free or zeroed, %llu in use, of "
          "%llu",
          listed_free, frames + tables + held, m_.usable_count());
    if (cfg_.sections)
      if (auto m = section_checks()) return "sections: " + *m;
    return std::nullopt;
  }

  /// The query walk of user space, region by region.
  std::optional<std::string> compare_walk(unsigned s) const {
    const slot& sl = slots_[s];
    std::uint64_t addr = 0;
    const std::uint64_t end = sl.model->layout().highest + 1;
    for (std::size_t n = 0; addr < end; ++n) {
      memory_basic_information im{}, mm{};
      const nt_status ir = sl.impl->query(addr, im);
      const nt_status mr = sl.model->query(addr, mm);
      if (ir != mr)
        return where(s) + fmt("walk at 0x%llx: impl ", addr) + st(ir) +
               ", model " + st(mr);
      if (mr != nt_status::success)
        return where(s) + fmt("walk at 0x%llx failed", addr);
      if (!(im == mm))
        return where(s) + fmt("walk at 0x%llx: impl ", addr) + to_text(im) +
               ", model " + to_text(mm);
      if (mm.region_size == 0 || n > 1000000)
        return where(s) + "walk does not advance";
      addr += mm.region_size;
    }
    return std::nullopt;
  }

  /// Every `check_period` ops and at the end: walks, invariants, the owner
  /// of every resident page and page table, the bytes of written pages
  /// (of every resident page when `all_bytes`).
  std::optional<std::string> full_checks(bool all_bytes = false) {
    const auto& db = m_.pfns();
    std::unordered_map<std::uint64_t, unsigned> table_owner;
    for (unsigned i = 0; i < slots_.size(); ++i) {
      slot& sl = slots_[i];
      if (!sl.impl) continue;
      if (auto m = compare_walk(i)) return m;
      if (!sl.model->check_invariants())
        return where(i) + "model invariants broken";
      // The above_4g machine's PFN check is O(2^20): see finish().
      if (!m_.above_4g() && !sl.impl->check_invariants())
        return where(i) + "impl invariants broken";
      const space_traits& t = sl.impl->traits();
      const std::uint64_t root = sl.impl->root_frame();
      if (root >= t.root_end)
        return where(i) +
               fmt("root table at frame 0x%llx, beyond CR3's reach", root);
      std::unordered_set<std::uint64_t> mine{root};
      const auto claim_table =
          [&](std::uint64_t f) -> std::optional<std::string> {
        const auto [it, fresh] = table_owner.try_emplace(f, i);
        if (!fresh) {
          if (it->second == i) return std::nullopt;
          return where(i) +
                 fmt("table frame 0x%llx is also a table of space %llu", f,
                     it->second);
        }
        mine.insert(f);
        if (f >= t.frame_end || f >= db.frame_count())
          return where(i) + fmt("table frame 0x%llx beyond its reach", f);
        const mmkit::pfn_entry& e = db.entry(mmkit::pfn{f});
        if (e.state() != mmkit::page_state::active || !e.page_table())
          return where(i) + fmt("table frame 0x%llx: PFN state %llu, page "
                                "table %llu",
                                f, static_cast<unsigned>(e.state()),
                                e.page_table());
        if (const auto o = owners_.find(f); o != owners_.end())
          return where(i) + fmt("table frame 0x%llx is page 0x%llx of space "
                                "%llu",
                                f, o->second.vpn << 12, o->second.space);
        return std::nullopt;
      };
      if (auto m = claim_table(root)) return m;
      for (const auto& [vpn, frame] : sl.resident) {
        const page_probe p = sl.impl->probe(vpn << 12);
        if ((p.kind != mmkit::entry_kind::valid &&
             p.kind != mmkit::entry_kind::transition) ||
            p.frame != frame)
          return where(i) + fmt("resident page 0x%llx held frame 0x%llx, its "
                                "PTE is now kind %llu naming 0x%llx",
                                vpn << 12, frame, static_cast<unsigned>(p.kind),
                                p.frame);
        for (unsigned d = 0; d < p.depth; ++d)
          if (auto m = claim_table(p.tables[d])) return m;
        if (auto m = check_page_frame(i, vpn, frame, p.pte_address)) return m;
        if (all_bytes)
          if (auto m = compare_frame(i, vpn, frame)) return m;
      }
      // Tables also hold PTEs of pages without frames (protections,
      // decommit marks): one walk per leaf-table span of every allocation
      // reaches every table there is, the root included.
      const std::uint64_t span = std::uint64_t{1} << t.leaf_index_bits;
      for (const auto& [first, a] : sl.model->allocations()) {
        for (std::uint64_t v = first; v < a.end_vpn; v = (v | (span - 1)) + 1) {
          const page_probe p = sl.impl->probe(v << 12);
          for (unsigned d = 0; d < p.depth; ++d)
            if (auto m = claim_table(p.tables[d])) return m;
        }
      }
      if (mine.size() != sl.impl->table_pages_in_use())
        return where(i) + fmt("%llu table frames reached from its "
                              "allocations, table_pages_in_use %llu",
                              mine.size(), sl.impl->table_pages_in_use());
      if (!all_bytes) {
        for (const std::uint64_t v : sl.written) {
          const auto r = sl.resident.find(v);
          if (r != sl.resident.end())
            if (auto m = compare_frame(i, v, r->second)) return m;
        }
      }
      sl.written.clear();
      if (all_bytes) {
        // A page without a frame reads as zeros: the model must hold no
        // bytes for it.
        for (const auto& [v, p] : sl.model->committed_pages())
          if (p.bytes && sl.resident.count(v) == 0)
            return where(i) + fmt("page 0x%llx has data in the model and no "
                                  "frame",
                                  v << 12);
      }
    }
    std::set<std::uint64_t> section_frames;
    if (cfg_.sections)
      if (auto m = section_checks(&section_frames)) return "sections: " + *m;
    return check_usable_frames(table_owner, section_frames);
  }

  /// The state of every usable frame: a page's is active, or standby or
  /// modified once a reclaim trimmed it (checked above), a table's an
  /// active page table (above), a frame the driver holds active, any other
  /// zeroed or free; the zeroed, free and standby frames below 4 GiB are
  /// what available_below(4 GiB) counts. O(usable frames).
  std::optional<std::string> check_usable_frames(
      const std::unordered_map<std::uint64_t, unsigned>& tables,
      const std::set<std::uint64_t>& section_frames) const {
    const auto& db = m_.pfns();
    std::unordered_set<std::uint64_t> held;
    for (const mmkit::pfn f : held_) held.insert(f.raw());
    std::uint64_t available = 0, available_low = 0;
    for (const auto& [first, count] : m_.usable()) {
      for (std::uint64_t f = first; f < first + count; ++f) {
        const mmkit::page_state st = db.entry(mmkit::pfn{f}).state();
        if (owners_.count(f) != 0 || section_frames.count(f) != 0) {
          // A page's (checked above, or by the sections): a trimmed one on
          // the standby list counts as available too.
          if (st == mmkit::page_state::standby) {
            ++available;
            available_low += f < database::low_zone_frames;
          }
          continue;
        }
        if (tables.count(f) != 0) continue;
        if (held.count(f) != 0) {
          if (st != mmkit::page_state::active)
            return fmt("frame 0x%llx, held by the driver, is in state %llu", f,
                       static_cast<unsigned>(st));
          continue;
        }
        if (st != mmkit::page_state::zeroed && st != mmkit::page_state::free)
          return fmt(
              "frame 0x%llx belongs to no page and no table, and is "
              "in state %llu",
              f, static_cast<unsigned>(st));
        ++available;
        available_low += f < database::low_zone_frames;
      }
    }
    if (available != db.available() ||
        available_low !=
            db.available_below(mmkit::pfn{database::low_zone_frames}))
      return fmt(
          "PFN database: %llu frames available (%llu below 4 GiB), "
          "the frames' own states say %llu (%llu)",
          db.available(),
          db.available_below(mmkit::pfn{database::low_zone_frames}), available,
          available_low);
    return std::nullopt;
  }

  /// The final phase: every check, every allocation released through both
  /// sides, then the spaces destroyed and the machine back to idle.
  std::optional<std::string> finish() {
    if (auto m = full_checks(true)) return m;
    for (unsigned i = 0; i < slots_.size(); ++i) {
      slot& sl = slots_[i];
      if (!sl.impl) continue;
      while (!sl.model->allocations().empty()) {
        diff_op op;
        const auto& first = *sl.model->allocations().begin();
        op.addr = first.first << 12;
        if (first.second.mapped()) {
          op.k = diff_op::kind::unmap_view;
          if (auto m = step_section(i, op)) return "final unmap: " + *m;
        } else {
          op.k = diff_op::kind::free;
          op.size = 0;
          op.a = mem::release;
          if (auto m = step_mutation(i, op)) return "final release: " + *m;
        }
        if (auto m = global_checks()) return "final release: " + *m;
      }
      if (sl.impl->frames_in_use() != 0 || !sl.resident.empty() ||
          sl.impl->commit_charge() != 0)
        return where(i) + fmt("after releasing everything: %llu frames, %llu "
                              "resident pages seen, commit charge %llu",
                              sl.impl->frames_in_use(), sl.resident.size(),
                              sl.impl->commit_charge());
      if (sl.impl->table_pages_in_use() != sl.base_tables)
        return where(i) + fmt("table_pages_in_use %llu after releasing "
                              "everything, %llu when made",
                              sl.impl->table_pages_in_use(), sl.base_tables);
    }
    // Then the handles: every section goes, its file written.
    for (std::size_t h = 0; h < world_->handle_count(); ++h) {
      if (!world_->handle_open(static_cast<int>(h))) continue;
      diff_op op;
      op.k = diff_op::kind::close_section;
      op.handle = static_cast<int>(h);
      if (auto m = step_section(0, op)) return "final close: " + *m;
      if (auto m = global_checks()) return "final close: " + *m;
    }
    if (world_->live_sections() != 0 || m_.sys().sections().live != 0 ||
        m_.sys().sections().pool.in_use() != 0 ||
        m_.sys().uncharged_frames() != 0)
      return fmt(
          "with every view unmapped and handle closed: %llu sections "
          "in the model, %llu in the system, %llu prototype PTEs in "
          "use, %llu uncharged frames",
          world_->live_sections(), m_.sys().sections().live,
          m_.sys().sections().pool.in_use(), m_.sys().uncharged_frames());
    if (auto m = full_checks(true)) return m;
    if (m_.above_4g() && thorough_) {
      // Replaying a failure: one space is enough, the O(2^20) part (the
      // PFN database's check) is the machine's.
      for (unsigned i = 0; i < slots_.size(); ++i) {
        if (!slots_[i].impl) continue;
        if (!slots_[i].impl->check_invariants())
          return where(i) + "impl invariants broken";
        break;
      }
    }
    for (slot& sl : slots_) {
      sl.impl.reset();
      sl.model.reset();
    }
    const auto& db = m_.pfns();
    if (db.page_table_count() != 0 ||
        db.count(mmkit::page_state::active) != held_.size() ||
        db.available() + held_.size() != m_.usable_count() ||
        m_.sys().commit_charge() != 0)
      return fmt(
          "with every space gone: %llu page tables, %llu frames "
          "active (the driver holds %llu), %llu available of %llu, "
          "commit charge %llu",
          db.page_table_count(), db.count(mmkit::page_state::active),
          held_.size(), db.available(), m_.usable_count(),
          m_.sys().commit_charge());
    return std::nullopt;
  }

  fuzz_machine& m_;
  fuzz_config cfg_;
  bool thorough_;
  std::shared_ptr<section_world> world_;
  std::unique_ptr<sections_type> sections_;
  byte_entropy* e_ = nullptr;
  std::vector<slot> slots_;
  std::vector<mmkit::pfn> held_;
  std::unordered_map<std::uint64_t, owner> owners_;  // frame -> page
  std::vector<logged_op> log_;
  std::vector<std::uint8_t> ibuf_, mbuf_;
  std::uint64_t usable_ = 0;
  std::uint64_t commit_limit_ = 0;
  std::size_t index_ = 0;
  std::size_t failed_at_ = 0;
  std::size_t successes_ = 0;
};

// ---- one input --------------------------------------------------------------

struct input_result {
  bool ok = true;
  std::string report;
  std::size_t ops = 0;
  std::size_t successes = 0;
};

inline std::string config_text(const fuzz_config& c, std::uint64_t usable) {
  std::string t = c.machine == machine_kind::small
                      ? "small machine (512 frames)"
                      : "above_4g machine (128 + 128 usable frames)";
  t += ", " + std::to_string(usable) + " usable after pressure " +
       std::to_string(c.pressure) + ", commit factor " +
       std::to_string(c.commit_factor) + ", prezero " +
       std::to_string(c.prezero) + ", spaces:";
  for (unsigned i = 0; i < c.spaces; ++i)
    t += std::string(" ") + layout_for(c.archs[i]).name;
  return t;
}

/// Ops run by run_input() so far, over all inputs (the plain driver's
/// statistics).
inline std::uint64_t ops_run_total = 0;

/// Runs one fuzz input (config bytes, then entropy); on a mismatch replays
/// it with every check after every op and reports both.
inline input_result run_input(const std::uint8_t* data, std::size_t size) {
  input_result out;
  if (size < fuzz_config::header_bytes) return out;
  const fuzz_config cfg = fuzz_config::parse(data);
  fuzz_machine& m = fuzz_machine::get(cfg.machine);
  const std::uint64_t usable = m.usable_count();
  const std::uint8_t* body = data + fuzz_config::header_bytes;
  const std::size_t body_size = size - fuzz_config::header_bytes;
  std::string first;
  std::size_t first_at = 0;
  {
    byte_entropy e(body, body_size);
    multi_space_run run(m, cfg, check_level::periodic);
    auto r = run.run(e);
    out.ops = run.log().size();
    out.successes = run.successes();
    ops_run_total += out.ops;
    if (!r) return out;
    first = *r;
    first_at = run.failed_at();
  }
  // The replay gets a new machine: the failed run may have leaked frames
  // (its start was a reset machine, which is what a new one is).
  out.ok = false;
  byte_entropy e(body, body_size);
  multi_space_run replay(fuzz_machine::rebuild(cfg.machine), cfg,
                         check_level::thorough);
  const auto r = replay.run(e);
  const std::size_t at = r ? replay.failed_at() : first_at;
  const auto [low, any] = cfg.held();
  std::string rep = "multi-space differential mismatch\n  " +
                    config_text(cfg, usable - low - any) +
                    "\n  seen after op " + std::to_string(first_at) + ": " +
                    first + "\n";
  if (r)
    rep += "  with every check after every op, first seen after op " +
           std::to_string(at) + ": " + *r + "\n";
  else
    rep += "  (not reproduced with every check after every op)\n";
  const auto& log = replay.log();
  const std::size_t last = std::min(at + 1, log.size());
  const std::size_t from = last > 60 ? last - 60 : 0;
  if (from > 0) rep += "  (first " + std::to_string(from) + " ops not shown)\n";
  for (std::size_t i = from; i < last; ++i)
    rep += "  #" + std::to_string(i) + " " + describe(log[i]) + "\n";
  out.report = rep;
  return out;
}

}  // namespace mmkit_fuzz
