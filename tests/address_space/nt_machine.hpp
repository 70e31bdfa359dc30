#pragma once
// What the conformance test, the differential test and the fuzz target need
// to run mmkit::address_space under the reference model's interface: the
// model's layout for an mmkit arch, the system half of sections (files,
// section objects and handles, shared by every space on a system), a
// machine (system + sections + address space) with a given commit limit,
// enough frames for every committed page and its page tables and a page
// file for every committed page, the pager's steps the differential driver
// takes, and the checks of the section layer against the model's world:
// prototype PTEs, share counts, the pager's lists, and what the system
// holds.

#include <mmkit/address_space.hpp>
#include <mmkit/nt/section.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/system/hosted_system.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/nt_adapter.hpp"
#include "model/nt_model.hpp"

namespace mmkit_test {

// The adapter reads a PTE's kind as the model's pte_kind.
static_assert(static_cast<int>(mmkit::entry_kind::valid) ==
                  static_cast<int>(mmkit_model::pte_kind::valid) &&
              static_cast<int>(mmkit::entry_kind::zero) ==
                  static_cast<int>(mmkit_model::pte_kind::zero) &&
              static_cast<int>(mmkit::entry_kind::demand_zero) ==
                  static_cast<int>(mmkit_model::pte_kind::demand_zero) &&
              static_cast<int>(mmkit::entry_kind::page_file) ==
                  static_cast<int>(mmkit_model::pte_kind::page_file) &&
              static_cast<int>(mmkit::entry_kind::transition) ==
                  static_cast<int>(mmkit_model::pte_kind::transition) &&
              static_cast<int>(mmkit::entry_kind::prototype) ==
                  static_cast<int>(mmkit_model::pte_kind::prototype));

/// The reference model's view of an mmkit arch.
template <class Arch>
mmkit_model::nt_layout layout_of() {
  mmkit_model::nt_layout l{};
  l.name = Arch::name;
  l.lowest = Arch::lowest_user_address;
  l.highest = Arch::highest_user_address;
  l.kernel_start = Arch::kernel_base;
  l.nx = Arch::has_nx;
  l.zero_bits_mask_form =
      sizeof(typename Arch::entry_type) == 8 && Arch::va_bits > 32;
  return l;
}

/// What a system holds that sections use, to compare with a baseline.
struct section_usage {
  std::uint64_t available = 0;
  std::uint64_t commit = 0;
  std::uint64_t uncharged = 0;
  std::uint64_t prototypes = 0;
  std::uint64_t live = 0;
  friend bool operator==(const section_usage&, const section_usage&) = default;
};
template <class System>
section_usage usage_of(System& sys) {
  return {sys.pfns().available(), sys.commit_charge(), sys.uncharged_frames(),
          sys.sections().pool.in_use(), sys.sections().live};
}
inline std::string text_of(const section_usage& u) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "{frames available %llu, commit %llu, uncharged frames %llu, "
                "prototypes %llu, live sections %llu}",
                static_cast<unsigned long long>(u.available),
                static_cast<unsigned long long>(u.commit),
                static_cast<unsigned long long>(u.uncharged),
                static_cast<unsigned long long>(u.prototypes),
                static_cast<unsigned long long>(u.live));
  return buf;
}

/// The system half of sections, as the model's world has it: files (in
/// memory stores), section handles by number. Every address space adapter
/// on the system shares one. Requires: it goes after the address spaces
/// and before the system (a file outlives its sections, and closing the
/// handles writes their files).
template <class System>
class section_system {
 public:
  /// NTSTATUS for a handle that is not open (mmkit has no handle table).
  static constexpr mmkit::status invalid_handle =
      static_cast<mmkit::status>(0xC0000008u);

  explicit section_system(System& sys) : sys_(&sys) {}
  section_system(const section_system&) = delete;
  section_system& operator=(const section_system&) = delete;
  ~section_system() { close_all(); }

  /// Closes every open handle (the sections whose views are gone go).
  void close_all() {
    for (std::size_t h = 0; h < handles_.size(); ++h)
      if (handles_[h]) mmkit::close_section(*sys_, handles_[h]);
  }

  int create_file(std::vector<std::uint8_t> bytes, bool writable) {
    auto f = std::make_unique<file>();
    const std::size_t size = bytes.size();
    // Room for the file to grow (a section larger than it, SetEndOfFile).
    const std::size_t capacity = std::max<std::size_t>(4 * size, 0x40000);
    f->bytes = std::move(bytes);
    f->bytes.resize(capacity, 0);
    f->store = mmkit::memory_store(f->bytes.data(), capacity, size, writable,
                                   "C:\\model.bin");
    f->object = std::make_unique<mmkit::file_object>(f->store);
    files_.push_back(std::move(f));
    return static_cast<int>(files_.size() - 1);
  }
  std::vector<std::uint8_t> file_bytes(int f) const {
    const file& fl = *files_.at(static_cast<std::size_t>(f));
    return {fl.bytes.begin(),
            fl.bytes.begin() + static_cast<std::ptrdiff_t>(fl.store.size())};
  }
  mmkit::status set_end_of_file(int f, std::uint64_t size) {
    return mmkit::set_end_of_file(
        *sys_, *files_.at(static_cast<std::size_t>(f))->object, size);
  }
  mmkit::status create_section(int& handle, std::uint32_t access,
                               const std::string& name, std::uint32_t flags,
                               std::uint64_t size, std::uint32_t prot,
                               std::uint32_t attrs, int file_id) {
    mmkit::section_handle h;
    const mmkit::status st = mmkit::create_section(
        *sys_, h, access, name.empty() ? nullptr : name.c_str(), flags, size,
        prot, attrs,
        file_id < 0
            ? nullptr
            : files_.at(static_cast<std::size_t>(file_id))->object.get());
    if (h) handle = add(h);
    return st;
  }
  mmkit::status open_section(int& handle, std::uint32_t access,
                             const std::string& name) {
    mmkit::section_handle h;
    const mmkit::status st =
        mmkit::open_section(*sys_, h, access, name.c_str());
    if (h) handle = add(h);
    return st;
  }
  mmkit::status close_section(int handle) {
    if (!handle_open(handle)) return invalid_handle;
    mmkit::close_section(*sys_, handles_[static_cast<std::size_t>(handle)]);
    return mmkit::status::success;
  }
  bool handle_open(int h) const {
    return h >= 0 && static_cast<std::size_t>(h) < handles_.size() &&
           static_cast<bool>(handles_[static_cast<std::size_t>(h)]);
  }
  const mmkit::section_handle& handle(int h) const {
    return handles_.at(static_cast<std::size_t>(h));
  }
  std::uint64_t commit_charge() const { return sys_->commit_charge(); }
  System& system() { return *sys_; }

  // The pager's steps, which are the system's as files and sections are
  // (the differential driver's PagerSpace, through nt_adapter).

  /// The modified page writer: up to `n` pages.
  std::uint64_t write_modified_pages(std::uint64_t n) {
    return sys_->write_modified_pages(n);
  }
  /// Every standby frame is taken for another use (their owners' PTEs and
  /// prototypes rewritten), then given back to the free list. Returns:
  /// how many standby frames there were.
  std::uint64_t repurpose_standby() {
    auto& db = sys_->pfns();
    const std::uint64_t standby = db.count(mmkit::page_state::standby);
    std::vector<mmkit::pfn> taken;
    while (db.count(mmkit::page_state::standby) != 0) {
      auto f = db.allocate(mmkit::page_need::any);
      if (!f) break;
      taken.push_back(*f);
    }
    for (const mmkit::pfn f : taken)
      db.release(f, mmkit::release_to::free_list);
    return standby;
  }
  /// The balance step under pressure: the available-memory thresholds are
  /// out of reach while it runs, so both its passes trim and write.
  /// Returns: the pages trimmed.
  std::uint64_t balance() {
    auto& db = sys_->pfns();
    const std::uint64_t low = db.low_threshold();
    const std::uint64_t high = db.high_threshold();
    constexpr std::uint64_t out_of_reach = std::uint64_t{1} << 40;
    db.set_available_thresholds(out_of_reach, out_of_reach);
    const std::uint64_t trimmed = sys_->balance();
    db.set_available_thresholds(low, high);
    return trimmed;
  }
  std::uint64_t page_file_slots_used() const {
    return sys_->page_files().used();
  }
  mmkit_model::pager_lists listed_pages() const {
    const auto& db = sys_->pfns();
    return {db.count(mmkit::page_state::modified),
            db.count(mmkit::page_state::standby)};
  }

  /// Remembers what the system holds now, for check_idle().
  void remember_baseline();
  /// The first difference between what the system holds and the baseline.
  std::optional<std::string> check_idle();
  /// The section checks of one space (`as`, an mmkit address space) and
  /// its model.
  template <class Space, class Model>
  std::optional<std::string> check(Space& as, const Model& model);

 private:
  struct file {
    std::vector<std::uint8_t> bytes;
    mmkit::memory_store store;
    std::unique_ptr<mmkit::file_object> object;
  };
  int add(const mmkit::section_handle& h) {
    handles_.push_back(h);
    return static_cast<int>(handles_.size() - 1);
  }

  System* sys_;
  section_usage baseline_;
  std::vector<std::unique_ptr<file>> files_;
  std::vector<mmkit::section_handle> handles_;
};

/// One address space as the section checks see it: its model, and two
/// questions about the implementation.
struct space_views {
  const mmkit_model::nt_model* model = nullptr;
  /// The section object of the view holding `va`, or null.
  std::function<const mmkit::section_object*(std::uint64_t va)> section_at;
  /// The frame the PTE of `va` names, if it is valid.
  std::function<std::optional<std::uint64_t>(std::uint64_t va)> valid_frame;
};

/// The space_views of an mmkit address space.
template <class Space>
space_views views_of(Space& as, const mmkit_model::nt_model& model) {
  space_views v;
  v.model = &model;
  v.section_at = [&as](std::uint64_t va) -> const mmkit::section_object* {
    const mmkit::vad* d = as.vads().find_containing(mmkit::vaddr{va}.page());
    return d == nullptr || d->private_memory() ? nullptr
                                               : mmkit::as_view(*d).section;
  };
  v.valid_frame = [&as](std::uint64_t va) -> std::optional<std::uint64_t> {
    const auto t = as.translate(mmkit::vaddr{va});
    if (t.kind != mmkit::entry_kind::valid) return std::nullopt;
    return t.address.frame().raw();
  };
  return v;
}

/// The section layer against the model's world `w`, over all the spaces of
/// a system: every live section is the library's (found through a handle
/// or a view) with the model's size, handle and view counts; every
/// prototype PTE is committed and resident as the model's page is, listed
/// when the model's pager has the page on a list, and names a page-file
/// slot when the model's page is paged out; every resident section frame
/// is active, linked back to its prototype, with share count 1 + the valid
/// PTEs that map it in all the spaces (or, listed, on the model's list,
/// still linked, mapped by none); a valid
/// PTE of a view names its section page's frame, or (a private copy) no
/// section frame; and the system's commit charge, uncharged frames,
/// prototype pool and live sections are the model's. O(views' pages +
/// sections' pages). The first difference, or nothing.
template <class System>
std::optional<std::string> check_sections(
    System& sys, const section_system<System>& ss,
    const mmkit_model::section_world& w, const std::vector<space_views>& spaces,
    std::set<std::uint64_t>* frames = nullptr) {
  using mmkit_model::section_world;
  const auto hex = [](std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx",
                  static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  auto& pool = sys.sections().pool;
  std::map<int, const mmkit::section_object*> object_of;
  const auto claim = [&](int s, const mmkit::section_object* o,
                         const std::string& how) -> std::optional<std::string> {
    if (o == nullptr) return "model section " + std::to_string(s) + ": " + how;
    const auto [it, fresh] = object_of.try_emplace(s, o);
    if (!fresh && it->second != o)
      return "model section " + std::to_string(s) +
             " is two library sections (" + how + ")";
    return std::nullopt;
  };
  for (std::size_t h = 0; h < w.handle_count(); ++h) {
    const int hi = static_cast<int>(h);
    if (w.handle_open(hi) != ss.handle_open(hi))
      return "handle " + std::to_string(h) + " open in one side only";
    if (!w.handle_open(hi)) continue;
    if (auto m = claim(w.handle(hi).section, ss.handle(hi).object,
                       "handle " + std::to_string(h)))
      return m;
    if (ss.handle(hi).access != w.handle(hi).access)
      return "handle " + std::to_string(h) + ": access differs";
  }
  for (const space_views& sp : spaces)
    for (const auto& [first, a] : sp.model->allocations()) {
      if (!a.mapped()) continue;
      if (auto m = claim(a.section, sp.section_at(first << 12),
                         "no library view at " + hex(first << 12)))
        return m;
    }
  // Sections and their prototype PTEs.
  std::set<const mmkit::segment*> segments;
  for (std::size_t si = 0; si < w.section_count(); ++si) {
    const auto& s = w.section(static_cast<int>(si));
    if (!s.live) continue;
    const auto o = object_of.find(static_cast<int>(si));
    if (o == object_of.end())
      return "model section " + std::to_string(si) +
             " is live with no handle and no view";
    const mmkit::section_object& obj = *o->second;
    const std::string who = "section " + std::to_string(si) + ": ";
    if (obj.size() != s.size)
      return who + "size " + hex(obj.size()) + ", model " + hex(s.size);
    if (obj.handles() != s.handles || obj.views() != s.views)
      return who + "handles/views " + std::to_string(obj.handles()) + "/" +
             std::to_string(obj.views()) + ", model " +
             std::to_string(s.handles) + "/" + std::to_string(s.views);
    const mmkit::segment& seg = obj.pages();
    segments.insert(&seg);
    if (seg.pages < s.pages)
      return who + "segment of " + std::to_string(seg.pages) + " pages";
    for (std::uint64_t i = 0; i < s.pages; ++i) {
      const std::uint64_t pp = pool[seg.proto + i];
      const bool c = w.page_committed(static_cast<int>(si), i);
      const bool r = w.page_resident(static_cast<int>(si), i);
      if (mmkit::proto::is_committed(pp) != c ||
          mmkit::proto::is_resident(pp) != r)
        return who + "page " + std::to_string(i) + ": prototype " + hex(pp) +
               ", model committed " + std::to_string(c) + " resident " +
               std::to_string(r);
      const auto where = w.page_paging(static_cast<int>(si), i);
      const bool listed = where && *where != section_world::paging::paged_out;
      const bool paged_out =
          where && *where == section_world::paging::paged_out;
      if (mmkit::proto::is_listed(pp) != listed ||
          (s.file < 0 && mmkit::proto::is_paged_out(pp) != paged_out))
        return who + "page " + std::to_string(i) + ": prototype " + hex(pp) +
               ", model listed " + std::to_string(listed) + " paged out " +
               std::to_string(paged_out);
    }
  }
  // The valid PTEs of the views.
  std::map<std::uint64_t, std::uint64_t> mapped;  // frame -> valid PTEs
  std::set<std::uint64_t> section_frames;
  for (const mmkit::segment* seg : segments)
    for (std::uint64_t i = 0; i < seg->pages; ++i)
      if (const std::uint64_t pp = pool[seg->proto + i];
          mmkit::proto::is_resident(pp))
        section_frames.insert(mmkit::proto::frame_of(pp).raw());
  if (frames != nullptr) *frames = section_frames;
  for (const space_views& sp : spaces)
    for (const auto& [first, a] : sp.model->allocations()) {
      if (!a.mapped()) continue;
      const mmkit::segment& seg = object_of.at(a.section)->pages();
      for (std::uint64_t v = first; v < a.end_vpn; ++v) {
        const auto f = sp.valid_frame(v << 12);
        if (!f) continue;
        const auto info = sp.model->view_page_at(v);
        if (info.copied) {
          if (section_frames.count(*f) != 0)
            return "private copy at " + hex(v << 12) + " maps section frame " +
                   hex(*f);
          continue;
        }
        const std::uint64_t pp = pool[seg.proto + info.section_page];
        if (!mmkit::proto::is_resident(pp) ||
            mmkit::proto::frame_of(pp).raw() != *f)
          return "view page " + hex(v << 12) + " maps frame " + hex(*f) +
                 ", its prototype is " + hex(pp);
        ++mapped[*f];
      }
    }
  // The model's list of each listed page, by prototype index: a file's
  // segment may be longer than the sections over it now.
  std::map<std::uint64_t, section_world::paging> on_list;
  for (std::size_t si = 0; si < w.section_count(); ++si) {
    const auto& s = w.section(static_cast<int>(si));
    if (!s.live) continue;
    const mmkit::segment& seg = object_of.at(static_cast<int>(si))->pages();
    const std::uint64_t pages = std::min(
        seg.pages, s.file < 0 ? s.pages : w.file(s.file).segment_pages);
    for (std::uint64_t i = 0; i < pages; ++i)
      if (const auto p = w.page_paging(static_cast<int>(si), i);
          p && *p != section_world::paging::paged_out)
        on_list[seg.proto + i] = *p;
  }
  for (const mmkit::segment* seg : segments)
    for (std::uint64_t i = 0; i < seg->pages; ++i) {
      const std::uint64_t pp = pool[seg->proto + i];
      if (!mmkit::proto::is_resident(pp)) continue;
      const mmkit::pfn f = mmkit::proto::frame_of(pp);
      const mmkit::pfn_entry& e = sys.pfns().entry(f);
      const auto m = mapped.find(f.raw());
      const auto l = on_list.find(seg->proto + i);
      if (l != on_list.end()) {
        const mmkit::page_state want =
            l->second == section_world::paging::modified
                ? mmkit::page_state::modified
                : mmkit::page_state::standby;
        if (e.state() != want || m != mapped.end() ||
            !(e.link() == mmkit::pte_link::prototype_pte(seg->proto + i)))
          return "listed section frame " + hex(f.raw()) + " (prototype " +
                 std::to_string(seg->proto + i) + "): state " +
                 std::to_string(static_cast<unsigned>(e.state())) +
                 ", expected " + std::to_string(static_cast<unsigned>(want));
        continue;
      }
      const std::uint64_t want = 1 + (m == mapped.end() ? 0 : m->second);
      if (e.state() != mmkit::page_state::active || e.share_count() != want ||
          !(e.link() == mmkit::pte_link::prototype_pte(seg->proto + i)))
        return "section frame " + hex(f.raw()) + " (prototype " +
               std::to_string(seg->proto + i) + "): state " +
               std::to_string(static_cast<unsigned>(e.state())) +
               ", share count " + std::to_string(e.share_count()) +
               ", expected " + std::to_string(want);
    }
  // What the system holds.
  if (sys.sections().live != w.live_sections())
    return "live sections " + std::to_string(sys.sections().live) + ", model " +
           std::to_string(w.live_sections());
  if (pool.in_use() != w.prototype_pages())
    return "prototype pool in use " + std::to_string(pool.in_use()) +
           ", model " + std::to_string(w.prototype_pages());
  if (sys.uncharged_frames() != w.resident_file_pages())
    return "uncharged frames " + std::to_string(sys.uncharged_frames()) +
           ", model's resident file pages " +
           std::to_string(w.resident_file_pages());
  if (sys.commit_charge() != w.commit_charge())
    return "system commit charge " + std::to_string(sys.commit_charge()) +
           ", model " + std::to_string(w.commit_charge());
  if (!pool.check_invariants()) return std::string("prototype pool broken");
  return std::nullopt;
}

template <class System>
void section_system<System>::remember_baseline() {
  baseline_ = usage_of(*sys_);
}
template <class System>
std::optional<std::string> section_system<System>::check_idle() {
  const section_usage now = usage_of(*sys_);
  if (now == baseline_) return std::nullopt;
  return "the system holds " + text_of(now) + ", at the start " +
         text_of(baseline_);
}
template <class System>
template <class Space, class Model>
std::optional<std::string> section_system<System>::check(Space& as,
                                                         const Model& model) {
  return check_sections(*sys_, *this, model.world(), {views_of(as, model)});
}

/// A simulated machine running one address space, with sections.
template <class Arch>
struct nt_machine {
  using system_type = mmkit::hosted_system<>;
  using sections_type = section_system<system_type>;
  using space = mmkit_model::nt_adapter<
      mmkit::address_space<Arch, mmkit::hosted_config<>>, sections_type>;
  /// Frames beyond the commit limit, for page tables.
  static constexpr std::uint64_t table_frames = 1024;
  /// Page-file slots beyond the commit limit (every committed page may be
  /// paged out at once; slot 0 is never used).
  static constexpr std::uint64_t spare_slots = 64;

  system_type sys;
  sections_type sections;
  space as;

  explicit nt_machine(std::uint64_t commit_limit)
      : sys((commit_limit + table_frames) << mmkit::page_shift,
            (commit_limit + spare_slots) << mmkit::page_shift),
        sections(sys),
        as(sys) {
    const auto set = sys.set_commit_limit(commit_limit);
    if (!set.ok() || as.impl().creation_status() != mmkit::status::success)
      std::abort();
    as.attach_sections(sections);
    sections.remember_baseline();
  }
};

/// The address space of a fresh machine, kept alive with it.
template <class Arch>
std::shared_ptr<typename nt_machine<Arch>::space> make_nt_space(
    std::uint64_t commit_limit) {
  auto owner = std::make_shared<nt_machine<Arch>>(commit_limit);
  return {owner, &owner->as};
}

}  // namespace mmkit_test
