#pragma once
// The page-state model: what a page is, from its VAD and its PTE, for every
// kind of PTE. The one place that reads meaning out of a private page's
// entry; region/private_memory.hpp, the fault dispatcher and query all ask
// it.
//
// Where a page's state lives: the VAD says "reserved" for its whole range;
// each page's own PTE says the rest.
//
//   PTE                          page
//   zero                         reserved, not committed
//   demand-zero(prot)            committed with prot, never touched
//   valid                        committed and resident; its protection is
//                                the original PTE kept in the frame's PFN
//                                entry (hardware bits cannot hold GUARD)
//   valid, bits 9..11 != 0       a fork's page (region/fork.hpp): its
//                                frame may be mapped by other address
//                                spaces too, so its protection's base is
//                                in the PTE's bits 9..11 (which the
//                                processor ignores; NT keeps its
//                                copy-on-write bit there) and its caching
//                                modifier in PCD/PWT, never in the shared
//                                PFN entry; mapped read-only, so that a
//                                write copies it (fault/handlers.hpp)
//   transition(prot, frame)      committed and resident: the frame is still
//                                active (a NOACCESS or GUARD page, which
//                                stays not present so every access faults)
//                                or on the standby/modified list (trimmed)
//   page file(prot, slot)        committed, paged out: its only copy is
//                                in page-file slot `slot`
//   prototype(index)             a view's page, through its section
//
// So every committed page has a non-zero PTE, and the page table that holds
// it cannot be freed under it: commit makes (and charges) the tables its
// pages need, and a first touch never has to find a frame for a table.
// (NT lets MEM_RESERVE|MEM_COMMIT leave the PTEs zero and the VAD say
// "committed"; mmkit writes them, which costs one PTE per committed page,
// a cost commit charge already bounds, and buys a fault path that cannot
// run out of memory.)
//
// A mapped view's pages (view_page below) read differently: their state
// comes through the section's prototype PTE.
//
//   PTE                          view page
//   prototype(prot, index)       not mapped here yet: committed when the
//                                prototype is; protection `prot`, or when
//                                0 the prototype's own (an image page's),
//                                or the view's
//   valid                        the section's shared frame (its PFN entry
//                                links to the prototype) or, after a
//                                copy-on-write, a private copy (linked to
//                                this PTE); either way the protection's
//                                base is in the entry's bits 9..11, which
//                                the processor ignores (NT keeps its
//                                copy-on-write bit there too), and the
//                                caching modifier in PCD/PWT
//   transition(prot, frame)      a private copy with NOACCESS or GUARD, or
//                                trimmed (its frame on a list)
//   page file(prot, slot)        a private copy, paged out
//
// A private page's frame, while resident, holds the only copy of the page
// (its original PTE is demand-zero) except on the standby list, after the
// modified page writer put it in a page-file slot (its original PTE is that
// page-file PTE, which the PTE becomes when the frame is repurposed). A
// soft fault frees the slot again: a page is in a frame or in a slot, so
// the page files and the frames together back every committed page.
//
// No entry asserts: a kind that a layer cannot handle is reported as such,
// and the operations refuse it with status::not_implemented before they
// change anything.

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/paging/entry.hpp>
#include <mmkit/section/prototype_pool.hpp>
#include <mmkit/vad/vad.hpp>

#include <cstdint>

namespace mmkit {

/// What one page is.
struct page_view {
  entry_kind pte = entry_kind::zero;  ///< the kind of its PTE
  bool committed = false;
  bool resident = false;       ///< a frame holds it (valid or transition PTE)
  bool valid = false;          ///< the PTE is present
  mm_protection protection{};  ///< when committed
  pfn frame{};                 ///< when resident
  /// A view's page still shared with its section (not a private copy).
  bool shared = false;
  /// A private page in a fork's form (valid, protection in the PTE): other
  /// address spaces may map its frame, and a write copies it when they do.
  bool forked = false;
  std::uint64_t proto = 0;  ///< a view page's prototype PTE index

  /// Whether the private-memory layer can change the page: a prototype
  /// PTE is a view's (the section layer's).
  constexpr bool supported() const noexcept {
    return pte != entry_kind::prototype;
  }
  /// Whether the two pages fall in one query region: same state and, when
  /// committed, same protection.
  constexpr bool same_region(const page_view& o) const noexcept {
    return committed == o.committed &&
           (!committed || protection == o.protection);
  }
};

/// Reads pages of one arch: `Database` gives a valid page's original PTE.
template <arch::PagingArch Arch, class Database>
struct page_model {
  using entry_type = typename Arch::entry_type;
  using sw = software_pte<entry_type>;
  using codec = entry_codec<Arch>;

  /// The page of VAD `v` whose PTE is `e`.
  static page_view view(const vad& v, entry_type e,
                        const Database& db) noexcept {
    page_view pv;
    if (e == 0) return pv;
    if (codec::is_present(e)) {
      pv.pte = entry_kind::valid;
      pv.committed = pv.resident = pv.valid = true;
      pv.frame = codec::page_address(e, 0).frame();
      if (view_prot_bits::get(e) != 0) {
        // A fork's page: the protection is the PTE's own.
        pv.forked = true;
        pv.protection = protection_in(e);
        return pv;
      }
      // The frame is this space's alone, so its entry is read as a mapped
      // frame's (a query holding only the space's lock reads it).
      pv.protection = mm_protection{sw::protection(
          static_cast<entry_type>(db.mapped_entry(pv.frame).original_pte()))};
      return pv;
    }
    const mm_protection prot{sw::protection(e)};
    pv.pte = sw::classify(e);
    switch (pv.pte) {
      case entry_kind::demand_zero:
        pv.committed = true;
        pv.protection = prot;
        return pv;
      case entry_kind::transition:
        pv.committed = pv.resident = true;
        pv.protection = prot;
        pv.frame = sw::frame(e);
        return pv;
      case entry_kind::page_file:
      case entry_kind::prototype:
        // Committed either way. A prototype PTE with no protection of its
        // own takes the section's, which the section layer knows; until
        // then the VAD's stands in.
        pv.committed = true;
        pv.protection = prot.raw() != 0 ? prot : mm_protection{v.protection()};
        return pv;
      default:
        // Cannot be: classify() answers only the kinds above for a
        // non-zero, not-present entry. Report a committed page this layer
        // will not touch rather than trust it.
        pv.pte = entry_kind::prototype;
        pv.committed = true;
        pv.protection = mm_protection{v.protection()};
        return pv;
    }
  }

  /// The view every page under a missing leaf table has: nothing
  /// committed there.
  static page_view view_absent(const vad&) noexcept { return {}; }

  // --- mapped views (see the header comment) -------------------------------

  /// Bits 9..11 of a valid view PTE: the protection's base.
  using view_prot_bits = bit_field<11, 9>;

  /// The page of view `v` whose prototype PTE is `index` and whose PTE is
  /// `e`, with the system's prototype `pool`.
  static page_view view_page(const vad& v, std::uint64_t index, entry_type e,
                             const Database& db,
                             const prototype_pool& pool) noexcept {
    page_view pv;
    pv.proto = index;
    if (e == 0) return pv;
    if (codec::is_present(e)) {
      pv.pte = entry_kind::valid;
      pv.committed = pv.resident = pv.valid = true;
      pv.frame = codec::page_address(e, 0).frame();
      pv.shared = db.entry(pv.frame).prototype();
      pv.protection = protection_in(e);
      return pv;
    }
    pv.pte = sw::classify(e);
    const mm_protection prot{sw::protection(e)};
    switch (pv.pte) {
      case entry_kind::prototype: {
        // Protection: the view page's own, else the section page's (an
        // image's), else the view's.
        const std::uint64_t pp = pool[sw::index(e)];
        pv.shared = true;
        pv.committed = proto::is_committed(pp);
        pv.protection = prot.raw() != 0 ? prot
                        : proto::protection_of(pp) != 0
                            ? mm_protection{proto::protection_of(pp)}
                            : mm_protection{v.protection()};
        return pv;
      }
      case entry_kind::transition:
        pv.committed = pv.resident = true;
        pv.protection = prot;
        pv.frame = sw::frame(e);
        return pv;
      case entry_kind::page_file:
        // A private copy, paged out.
        pv.committed = true;
        pv.protection = prot;
        return pv;
      default:
        // Views hold no other kind; report one no operation touches.
        pv.pte = entry_kind::page_file;
        pv.committed = true;
        pv.protection = mm_protection{v.protection()};
        return pv;
    }
  }

  /// The protection a valid PTE `e` keeps itself (a view's, a fork's
  /// page's): the base in bits 9..11, the caching modifier in PCD/PWT.
  static mm_protection protection_in(entry_type e) noexcept {
    std::uint8_t p = static_cast<std::uint8_t>(view_prot_bits::get(e));
    if (e & codec::PCD)
      p |= mm::nocache;
    else if (e & codec::PWT)
      p |= mm::writecombine;
    return mm_protection{p};
  }

  /// A valid view PTE for `frame` with `prot` (mappable).
  static entry_type view_valid_entry(pfn frame, mm_protection prot) noexcept {
    return static_cast<entry_type>(
        view_prot_bits::set(valid_entry(frame, prot), prot.base()));
  }
  /// A private copy's PTE in a view: valid, or transition when `prot`
  /// grants nothing or is a guard page.
  static entry_type view_resident_entry(pfn frame,
                                        mm_protection prot) noexcept {
    return mappable(prot) ? view_valid_entry(frame, prot)
                          : sw::transition(prot.raw(), frame);
  }
  /// The PTE of a view page not mapped here, with `prot` (0: the view's).
  static entry_type view_prototype_entry(std::uint64_t index,
                                         mm_protection prot) noexcept {
    return sw::prototype(prot.raw(), index);
  }

  // --- the PTEs a private page gets ----------------------------------------

  /// Whether a page with `prot` may be mapped valid (NOACCESS and GUARD
  /// pages stay not present so that every access reaches the dispatcher).
  static constexpr bool mappable(mm_protection prot) noexcept {
    return !prot.is_guard() && prot.rights() != access_rights{};
  }

  /// The hardware leaf entry for a resident page with `prot` (mappable).
  static entry_type valid_entry(pfn frame, mm_protection prot) noexcept {
    const access_rights r = prot.rights();
    page_attr a = page_attr::user;
    // A copy-on-write page is mapped read-only: the first write faults and
    // copies.
    if (r.write) a |= page_attr::write;
    // x86 cannot make a page executable but unreadable or readable but
    // not executable without NX; execute-only pages are readable.
    if (r.execute) a |= page_attr::execute;
    if (prot.modifiers() == mm::nocache) a |= page_attr::cache_disable;
    // NT programs PAT entry 1 as write-combining: PWT=1 selects it.
    if (prot.modifiers() == mm::writecombine) a |= page_attr::write_through;
    return codec::leaf_entry(frame.address(), 0, a);
  }

  /// The PTE of a resident page with `prot`: valid when it grants some
  /// access, else a transition PTE that keeps the frame.
  static entry_type resident_entry(pfn frame, mm_protection prot) noexcept {
    return mappable(prot) ? valid_entry(frame, prot)
                          : sw::transition(prot.raw(), frame);
  }

  // --- a fork's shared frames (region/fork.hpp) ----------------------------

  /// The copy-on-write form of `prot`: READWRITE becomes WRITECOPY,
  /// EXECUTE_READWRITE EXECUTE_WRITECOPY; the rest stay.
  static constexpr mm_protection copy_on_write_form(
      mm_protection prot) noexcept {
    if (!prot.allows_write()) return prot;
    const std::uint8_t base =
        prot.base() == mm::readwrite ? mm::writecopy : mm::execute_writecopy;
    return mm_protection{static_cast<std::uint8_t>(base | prot.modifiers())};
  }
  /// A private page's valid PTE in a fork's form, for `frame` with `prot`
  /// (mappable): read-only, its protection in bits 9..11 (see the header
  /// comment).
  static entry_type forked_entry(pfn frame, mm_protection prot) noexcept {
    const auto e =
        static_cast<entry_type>(valid_entry(frame, prot) & ~codec::RW);
    return static_cast<entry_type>(view_prot_bits::set(e, prot.base()));
  }
  /// The PTE of resident page of `v` (a private page or a view's private
  /// copy) with `prot` whose frame other address spaces map too (a
  /// fork's): valid and read-only (a write copies it), or transition when
  /// `prot` grants nothing or is a guard page. A view's private copy shows
  /// its protection in copy-on-write form, as any copy-on-write view page.
  static entry_type shared_entry(const vad& v, pfn frame,
                                 mm_protection prot) noexcept {
    if (!mappable(prot)) return sw::transition(prot.raw(), frame);
    return v.private_memory()
               ? forked_entry(frame, prot)
               : view_valid_entry(frame, copy_on_write_form(prot));
  }

  /// The PTE a committed, non-resident page with `prot` holds.
  static entry_type absent_entry(mm_protection prot) noexcept {
    return sw::demand_zero(prot.raw());
  }
  /// The not-present, non-prototype PTE `e` (demand-zero, page file or
  /// transition) with protection `prot`, the rest kept.
  static entry_type with_protection(entry_type e, mm_protection prot) noexcept {
    switch (sw::classify(e)) {
      case entry_kind::page_file:
        return sw::page_file(prot.raw(), sw::page_file_number(e),
                             sw::page_file_offset(e));
      case entry_kind::transition:
        return sw::transition(prot.raw(), sw::frame(e));
      default: return absent_entry(prot);
    }
  }
};

}  // namespace mmkit
