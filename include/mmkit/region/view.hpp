#pragma once
// Mapped-view operations over one address space: map and unmap a view of a
// section, and the private-memory calls as they apply to a view (commit in
// a SEC_RESERVE view, protect, flush). Arguments arrive checked by the NT
// layer (nt/section.hpp, nt/virtual_memory.hpp); every operation checks
// what needs the VADs and PTEs before it changes anything.
//
// A view's PTEs are written when it is mapped: every page gets a prototype
// PTE naming its section page (so its page tables are made, and charged,
// then, and a first touch never needs one). Faults then make pages valid
// through the section (fault/handlers.hpp). Protection is per view page;
// the committed state of a page is its section's, shared by every view.
//
// Copy-on-write: a WRITECOPY or EXECUTE_WRITECOPY page is mapped read-only
// and shared until the first write copies it into a private frame, whose
// protection is then READWRITE or EXECUTE_READWRITE. The view is charged
// for every one of its pages the first time any of them becomes
// copy-on-write (at map time for a WRITECOPY view, as NT charges them),
// and the charge goes back when it is unmapped.

#include <mmkit/core/address.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/fault/handlers.hpp>
#include <mmkit/phys/pfn_entry.hpp>
#include <mmkit/region/page_state.hpp>
#include <mmkit/region/private_memory.hpp>
#include <mmkit/section/pe_image.hpp>
#include <mmkit/section/section.hpp>
#include <mmkit/section/section_ops.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_tree.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mmkit::region {

/// Whether a view with protection `view` may map a section created with
/// `section`, and whether a page of a view with protection `section` may
/// be committed or protected to `view` (NT's MmCompatibleProtectionMask,
/// by base protection, for all three): a
/// READONLY or WRITECOPY section allows READONLY and WRITECOPY views, an
/// EXECUTE section only EXECUTE, an EXECUTE_READ section those and
/// EXECUTE_READ (not EXECUTE_WRITECOPY), READWRITE the non-executable
/// ones, EXECUTE_WRITECOPY all but the writable ones, EXECUTE_READWRITE
/// all; NOACCESS always.
constexpr bool view_protection_allowed(mm_protection section,
                                       mm_protection view) noexcept {
  constexpr auto bit = [](std::uint8_t base) {
    return static_cast<std::uint8_t>(1u << base);
  };
  constexpr std::uint8_t none = 1;  // NOACCESS (base 0)
  constexpr std::uint8_t allowed[8] = {
      none,                                           // NOACCESS
      none | bit(mm::readonly) | bit(mm::writecopy),  // READONLY
      none | bit(mm::execute),                        // EXECUTE
      none | bit(mm::readonly) | bit(mm::writecopy) | bit(mm::execute) |
          bit(mm::execute_read),  // EXECUTE_READ
      none | bit(mm::readonly) | bit(mm::readwrite) |
          bit(mm::writecopy),                         // READWRITE
      none | bit(mm::readonly) | bit(mm::writecopy),  // WRITECOPY
      0xFF,                                           // EXECUTE_READWRITE
      static_cast<std::uint8_t>(
          0xFF & ~bit(mm::readwrite) &
          ~bit(mm::execute_readwrite)),  // EXECUTE_WRITECOPY
  };
  return (allowed[section.base()] & bit(view.base())) != 0;
}

/// The protection a page of view `v` gets when `prot` is asked for: in a
/// copy-on-write view a shared page's write protection takes its
/// copy-on-write form; a private copy's copy-on-write protection takes its
/// writable form (it has been copied already).
constexpr mm_protection view_page_protection(mm_protection view,
                                             mm_protection prot,
                                             bool shared) noexcept {
  if (!shared) return fault::copied(prot);
  if (!view.is_copy_on_write() || !prot.allows_write()) return prot;
  const std::uint8_t base =
      prot.base() == mm::readwrite ? mm::writecopy : mm::execute_writecopy;
  return mm_protection{static_cast<std::uint8_t>(base | prot.modifiers())};
}

/// Effects: maps `pages` pages of section `s` from section page `first`
/// with protection `prot`, at `base` (64 KiB aligned) or, with base 0, in
/// the first free range below `limit` (top-down when asked), as a VAD of
/// `type`, charging `charge_pages` (by default: every page of a
/// copy-on-write view, none of another). `base` and `size` become the
/// view.
/// Returns: conflicting_addresses, no_memory (no free range),
/// quota_exceeded, commitment_limit (a copy-on-write view's charge, or its
/// page tables), insufficient_resources (no node, or an x86_32 PTE cannot
/// index the prototypes).
template <class Core>
status map_view(Core& c, section_object& s, std::uint64_t first,
                std::uint64_t pages, mm_protection prot, vaddr& base,
                std::uint64_t& size, placement where_to, std::uint64_t limit,
                vad_type type = vad_type::mapped,
                std::uint64_t charge_pages = ~std::uint64_t{0}) noexcept {
  const std::uint64_t proto = s.pages().proto + first;
  if (proto + pages - 1 > Core::sw::max_prototype_index)
    return status::insufficient_resources;
  vad_tree<vad>::insert_commit_data where;
  if (base.raw() != 0) {
    const vpn start = base.page();
    auto slot = c.vads.insert_check({start, start + (pages - 1)});
    if (!slot) return status::conflicting_addresses;
    where = *slot;
  } else {
    const std::uint64_t top =
        limit < Core::highest_user_address ? limit : Core::highest_user_address;
    auto slot = c.vads.find_free_slot(
        pages, {vaddr{Core::lowest_user_address}.page(), vaddr{top}.page()},
        where_to == placement::top_down ? search_direction::top_down
                                        : search_direction::bottom_up,
        Core::granularity_pages);
    if (!slot) return status::no_memory;
    where = *slot;
  }
  const vpn_range r = where.range();
  if (!c.quota_allows(1, 0)) return status::quota_exceeded;
  const std::uint64_t charge = charge_pages != ~std::uint64_t{0} ? charge_pages
                               : prot.is_copy_on_write()         ? pages
                                                                 : 0;
  if (const status st = c.charge(charge, r); st != status::success) return st;
  status why = status::success;
  mapped_vad* v = c.take_view_node(why);
  if (v == nullptr) {
    c.uncharge(charge);
    return why;
  }
  v->set_range(r);
  v->set_type(type);
  v->set_protection(prot.raw());
  v->set_flags(vad_flags::none);
  v->set_commit_charge(charge);
  v->first_proto = proto;
  c.vads.insert_commit(*v, where);
  section_ops<typename Core::system_type>::add_view(s, *v);
  // The view's PTEs are new (zero): no frame yet, no other call's to
  // rewrite; each takes its prototype's form, a leaf table at a time.
  pfn_work_done_before_writes(c, r);
  c.ptes.fill_absent_with(
      r,
      [&](vpn p) {
        return Core::model::view_prototype_entry(v->proto_of(p),
                                                 mm_protection{});
      },
      [](vpn, vpn) { return false; });
  base = r.first.address();
  size = r.count() << page_shift;
  return status::success;
}

/// Whether no PTE of the view pages `r` maps a frame or names a page-file
/// slot: each is zero or in prototype form (the section's page, not
/// mapped here).
template <class Core>
bool maps_no_frame(Core& c, vpn_range r) noexcept {
  using sw = typename Core::sw;
  bool none = true;
  c.ptes.for_each_span(r, [&](const auto& s) {
    if (!s.present()) return true;
    const auto* e = s.entries;
    for (vpn p = s.first;; ++p, ++e) {
      const entry_kind k = sw::classify(load_entry(e));
      if (k != entry_kind::zero && k != entry_kind::prototype)
        return none = false;
      if (p == s.last) return true;
    }
  });
  return none;
}

/// Effects: a valid shared PTE `e` lets go of its frame: a write it
/// recorded (D bit) marks the frame modified first.
template <class Core>
void unshare(Core& c, typename Core::entry_type e, pfn frame) noexcept {
  if (e & Core::model::codec::D) c.pfns().set_modified(frame);
  c.pfns().decrement_share_count(frame, release_to::backing_store);
}

/// Effects: NtUnmapViewOfSection of view `v`: shared frames are let go
/// (a recorded write marks them modified), private copies freed, the
/// PTEs and emptied tables go, the copy-on-write charge goes back, and
/// the section with its last reference.
template <class Core>
void unmap_view(Core& c, mapped_vad& v) noexcept {
  using entry_type = typename Core::entry_type;
  if (c.pfn_lock_goes_early() && maps_no_frame(c, v.range())) {
    // Only prototype-form PTEs: cleared without the PFN lock.
    clear_without_pfn_lock(c, v.range());
  } else {
    c.ptes.rewrite(
        v.range(),
        [&](vpn p, entry_type e) {
          const page_view pv = c.view_of(v, p, e);
          if (pv.valid && pv.shared)
            unshare(c, e, pv.frame);
          else if (pv.resident)
            c.free_frame(pv.frame);
          else if (pv.pte == entry_kind::page_file)
            c.free_slot(e);
          return entry_type{0};
        },
        [](vpn, vpn) { return true; });
  }
  if (v.commit_charge() != 0) c.uncharge(v.commit_charge());
  c.vads.erase(v);
  section_ops<typename Core::system_type>::remove_view(*c.sys, v);
  c.give_node(&v);
}

/// Effects: every view of the space is unmapped.
template <class Core>
void unmap_all_views(Core& c) noexcept {
  for (auto it = c.vads.begin(); it != c.vads.end();) {
    vad& v = *it++;
    if (!v.private_memory()) unmap_view(c, as_view(v));
  }
}

/// The IMAGE_FILE_MACHINE_* value of the images an `Arch` space runs.
template <class Arch>
constexpr std::uint16_t image_machine() noexcept {
  return Arch::va_bits > 32 ? 0x8664 : 0x014C;  // AMD64, I386
}

/// Effects: page `p` of view `v` (committed) is private to the view: the
/// section's page copied into a frame of the space's, with the section
/// page's protection (charged when the view was mapped).
/// Returns: the private frame's bytes, or null (no frame; `why` says).
template <class Core>
std::byte* make_private(Core& c, vad& v, vpn p, status& why) noexcept {
  using ops = section_ops<typename Core::system_type>;
  const page_view pv = c.view(v, p);
  if (!pv.committed) {
    why = status::invalid_image_format;  // a fixup in alignment padding
    return nullptr;
  }
  if (pv.resident && !pv.shared) return c.sys->memory().frame(pv.frame);
  typename ops::page_source how{};
  const auto shared =
      ops::page_in(*c.sys, as_view(v).section->pages(), pv.proto, how);
  if (!shared) {
    why = shared.error();
    return nullptr;
  }
  auto frame = c.pfns().allocate(page_need::any, 0, Core::frame_end);
  if (!frame) {
    why = status::no_memory;
    return nullptr;
  }
  std::byte* bytes = c.sys->memory().frame(*frame);
  std::memcpy(bytes, c.sys->memory().frame(*shared), page_size);
  if (pv.valid) unshare(c, c.ptes.read(p), pv.frame);
  c.pfns().set_pte_link(*frame, pte_link::hardware_pte(c.ptes.entry_address(p)),
                        0);
  c.count_frame(+1);
  [[maybe_unused]] const auto w =
      c.ptes.write(p, c.resident_pte(v, *frame, pv.protection));
  MMKIT_ASSERT(w.ok());
  return bytes;
}

/// Effects: the base relocations of image view `v`, mapped `delta` bytes
/// away from its preferred base, applied to private copies of the pages
/// they touch (each fixup's original value read from the section's
/// pages, which stay as the file has them). Returns: the first failure.
template <class Core>
status relocate(Core& c, vad& v, std::uint64_t delta) noexcept {
  using ops = section_ops<typename Core::system_type>;
  segment& seg = as_view(v).section->pages();
  status failed = status::success;
  // The page a fixup's byte lies in: the section's bytes (read) and this
  // view's private copy (written), remembered for the next byte, which is
  // nearly always in the same page.
  std::uint64_t cached = ~std::uint64_t{0};
  const std::byte* original = nullptr;
  std::byte* copy = nullptr;
  const auto page_of = [&](std::uint64_t page) {
    if (page == cached) return true;
    typename ops::page_source how{};
    const auto f = ops::page_in(*c.sys, seg, seg.proto + page, how);
    if (!f) {
      failed = f.error();
      return false;
    }
    original = c.sys->memory().frame(*f);
    copy = make_private(c, v, v.start() + page, failed);
    if (copy == nullptr) return false;
    cached = page;
    return true;
  };
  const status walked = pe::for_each_relocation(
      seg.store, *seg.image, [&](std::uint32_t rva, unsigned type) {
        if (failed != status::success) return;
        const unsigned width = type == pe::rel_dir64     ? 8
                               : type == pe::rel_highlow ? 4
                                                         : 2;
        std::uint64_t value = 0;
        for (unsigned i = 0; i < width; ++i) {
          const std::uint64_t at = rva + i;
          if (!page_of(at >> page_shift)) return;
          value |= std::uint64_t{static_cast<std::uint8_t>(
                       original[at & (page_size - 1)])}
                   << (8 * i);
        }
        switch (type) {
          case pe::rel_dir64: value += delta; break;
          case pe::rel_highlow:
            value = static_cast<std::uint32_t>(value + delta);
            break;
          case pe::rel_high:
            value = static_cast<std::uint16_t>(
                ((value << 16) + static_cast<std::uint32_t>(delta)) >> 16);
            break;
          default:  // pe::rel_low
            value = static_cast<std::uint16_t>(value + delta);
            break;
        }
        for (unsigned i = 0; i < width; ++i) {
          const std::uint64_t at = rva + i;
          if (!page_of(at >> page_shift)) return;
          copy[at & (page_size - 1)] = static_cast<std::byte>(value >> (8 * i));
        }
      });
  return failed != status::success ? failed : walked;
}

/// Effects: NtMapViewOfSection of image section `s` (arguments checked):
/// the whole image as an image VAD (AllocationProtect EXECUTE_WRITECOPY,
/// each page its section's protection), at its preferred base when `base`
/// is 0 and that is free, else where `base` says or the system finds
/// room; away from the preferred base, relocated. Charged for its
/// copy-on-write pages, or for every page when relocated.
/// Returns: success; image_not_at_base (mapped and relocated);
/// invalid_image_format (another machine's image, or a fixup in
/// alignment padding); conflicting_addresses (taken, or the preferred base
/// taken and the image has no relocations); the statuses of map_view.
template <class Core>
status map_image_view(Core& c, section_object& s, vaddr& base,
                      std::uint64_t& size, std::uint64_t limit) noexcept {
  using Arch = typename Core::arch_type;
  const segment& seg = s.pages();
  const pe::image_info& info = *seg.image;
  if (info.machine != image_machine<Arch>())
    return status::invalid_image_format;
  const bool relocatable =
      !info.relocations_stripped && info.relocation_directory.size != 0;
  std::uint64_t cow = 0;
  const auto& pool = c.sys->sections().pool;
  for (std::uint64_t i = 0; i < seg.pages; ++i)
    cow += mm_protection{proto::protection_of(pool[seg.proto + i])}
               .is_copy_on_write();
  const mm_protection prot{mm::execute_writecopy};
  vaddr at = base.raw() != 0 ? base : vaddr{info.image_base};
  status st = status::conflicting_addresses;
  const bool preferred_fits =
      at.raw() >= Core::lowest_user_address &&
      at.raw() <= Core::highest_user_address &&
      Core::highest_user_address - at.raw() + 1 >= seg.pages << page_shift &&
      at.raw() % allocation_granularity == 0;
  if (preferred_fits)
    st = map_view(c, s, 0, seg.pages, prot, at, size, placement::bottom_up,
                  limit, vad_type::image,
                  at.raw() == info.image_base ? cow : seg.pages);
  if (st == status::conflicting_addresses && base.raw() == 0 && relocatable) {
    at = vaddr{0};
    st = map_view(c, s, 0, seg.pages, prot, at, size, placement::bottom_up,
                  limit, vad_type::image, seg.pages);
  }
  if (st != status::success) return st;
  // map_view may have let go of the PFN lock for its PTE writes; the
  // relocation (or the unmap) works on the section's pages again.
  c.take_pfn_lock();
  if (at.raw() == info.image_base) {
    base = at;
    return status::success;
  }
  if (!relocatable) {
    unmap_view(c, as_view(*c.vads.find_containing(at.page())));
    return status::conflicting_addresses;
  }
  vad& v = *c.vads.find_containing(at.page());
  if (const status r = relocate(c, v, at.raw() - info.image_base);
      r != status::success) {
    unmap_view(c, as_view(v));
    return r;
  }
  base = at;
  return status::image_not_at_base;
}

/// Effects: the pages of `r` (in view `v`) get `prot` (see
/// view_page_protection); charges the view when a page becomes
/// copy-on-write and it is not charged yet.
/// Returns: section_protection (`prot` does not fit the view's
/// protection), not_committed (an uncommitted page; `old` then says
/// NOACCESS... as the NT layer reports), commitment_limit.
/// `old` receives the first page's protection.
template <class Core>
status protect_view(Core& c, vad& v, vpn_range r, mm_protection prot,
                    mm_protection& old) noexcept {
  using entry_type = typename Core::entry_type;
  const mm_protection bound{v.protection()};
  bool first = true;
  bool all_committed = true;
  // The view's protection first, then the pages' commitment (ReactOS's
  // NtMapViewOfSection apitest; current Windows). In a copy-on-write view a
  // write protection is asked in its copy-on-write form.
  if (!view_protection_allowed(bound, view_page_protection(bound, prot, true)))
    return status::section_protection;
  c.scan(v, r, [&](vpn, vpn, const page_view& pv) {
    if (first) old = pv.committed ? pv.protection : mm_protection{};
    first = false;
    return all_committed = pv.committed;
  });
  if (!all_committed) return status::not_committed;
  if (prot.is_copy_on_write() && v.commit_charge() < v.pages()) {
    const std::uint64_t more = v.pages() - v.commit_charge();
    if (const status s = c.charge(more, v.range()); s != status::success)
      return s;
    v.set_commit_charge(v.pages());
    // The VAD changed, not only its pages: a snapshot's restore remakes
    // the view, which gives the charge back (emu/snapshot.hpp).
    if (page_listener* j = journal_of(c)) j->range_touched(v.range());
  }
  c.ptes.rewrite(r, [&](vpn p, entry_type e) {
    const page_view pv = c.view_of(v, p, e);
    const mm_protection want = view_page_protection(bound, prot, pv.shared);
    if (pv.pte == entry_kind::page_file)
      return Core::model::with_protection(e, want);
    if (!pv.shared) return c.resident_pte(v, pv.frame, want);
    if (pv.valid) {
      if (Core::model::mappable(want)) {
        if (e & Core::model::codec::D) c.pfns().set_modified(pv.frame);
        return Core::model::view_valid_entry(pv.frame, want);
      }
      unshare(c, e, pv.frame);
    }
    return Core::model::view_prototype_entry(pv.proto, want);
  });
  return status::success;
}

/// Effects: MEM_COMMIT of `r` in view `v` of a page-file section: its
/// uncommitted section pages are committed (charged to the section:
/// shared commit), then the pages of `r` in this view get `prot`.
/// Returns: section_protection, commitment_limit.
template <class Core>
status commit_view(Core& c, vad& v, vpn_range r, mm_protection prot) noexcept {
  using ops = section_ops<typename Core::system_type>;
  const mm_protection bound{v.protection()};
  if (!view_protection_allowed(bound, view_page_protection(bound, prot, true)))
    return status::section_protection;
  const mapped_vad& mv = as_view(v);
  if (const status st = ops::commit_pages(*c.sys, mv.section->pages(),
                                          mv.proto_of(r.first), r.count());
      st != status::success)
    return st;
  mm_protection old{};
  const status s = protect_view(c, v, r, prot, old);
  // Every page is committed now and `prot` fits: only the copy-on-write
  // charge can fail, and commit never asks for copy-on-write.
  MMKIT_ASSERT(s == status::success);
  return s;
}

/// Effects: NtFlushVirtualMemory of `r` in view `v`: writes this view
/// recorded (D bits) mark their frames modified, and every modified page
/// of the section under `r` is written to its file.
/// Returns: the store's status for the first page it failed.
template <class Core>
status flush_view(Core& c, vad& v, vpn_range r) noexcept {
  using entry_type = typename Core::entry_type;
  using ops = section_ops<typename Core::system_type>;
  const mapped_vad& mv = as_view(v);
  c.ptes.rewrite(
      r,
      [&](vpn p, entry_type e) {
        const page_view pv = c.view_of(v, p, e);
        if (!pv.valid || !pv.shared || !(e & Core::model::codec::D)) return e;
        c.pfns().set_modified(pv.frame);
        return static_cast<entry_type>(e & ~Core::model::codec::D);
      },
      [](vpn, vpn) { return true; });
  segment& seg = mv.section->pages();
  for (vpn p = r.first;; ++p) {
    if (const status s = ops::write_page(*c.sys, seg, mv.proto_of(p));
        s != status::success)
      return s;
    if (p == r.last) break;
  }
  return status::success;
}

}  // namespace mmkit::region
