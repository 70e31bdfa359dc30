#pragma once
// The NT section calls: NtCreateSection, NtOpenSection, NtClose on a
// section handle, SetEndOfFile on a mapped file, NtMapViewOfSection,
// NtUnmapViewOfSection and NtFlushVirtualMemory. This layer owns the
// argument checks, their order and the in/out rounding; the changes are
// section/section_ops.hpp's (the objects) and region/view.hpp's (the
// views).
//
// The calls on a system take its section lock themselves, and its PFN lock
// where they touch frames, commit or a store (section/section_ops.hpp says
// which); the view calls run inside address_space, which holds the space's
// lock and the section lock, and take the PFN lock here.

#include <mmkit/core/address.hpp>
#include <mmkit/core/lock_policy.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/nt/types.hpp>
#include <mmkit/nt/virtual_memory.hpp>
#include <mmkit/region/view.hpp>
#include <mmkit/section/section.hpp>
#include <mmkit/section/section_ops.hpp>

#include <cstdint>

namespace mmkit {

/// NtCreateSection(handle, desired_access, name / object_flags,
/// maximum_size, page_protection, allocation_attributes, file).
///   page-file section (`file` null): SEC_COMMIT (charged now) or
///   SEC_RESERVE (committed later through a view); `maximum_size` > 0,
///   rounded up to whole pages.
///   file section: `maximum_size` 0 maps the whole file; a larger size
///   grows a writable file and is refused over a read-only one.
///   name: null or empty for none; obj::openif opens an existing one.
///   image section (SEC_IMAGE, `file` required): the file parsed as a PE
///   image (section/pe_image.hpp) and laid out as NT lays images out;
///   `maximum_size` and `page_protection` are not used beyond their checks.
/// Statuses, in the order they are checked: invalid_parameter_6 (SEC_*
/// unknown, or not exactly one of SEC_COMMIT / SEC_RESERVE without
/// SEC_IMAGE, or NOCACHE with WRITECOMBINE), not_implemented
/// (SEC_LARGE_PAGES, SEC_BASED, SEC_NO_CHANGE, SEC_PROTECTED_IMAGE),
/// invalid_page_protection (not one plain protection other than
/// NOACCESS), invalid_file_for_section (SEC_IMAGE without a file, or an
/// empty file), invalid_parameter_4 (page-file section of size 0), the
/// parser's statuses for a bad image (invalid_image_not_mz,
/// invalid_image_format), then
/// section_ops::create's: object_name_exists (a success: the existing
/// section was opened), object_name_collision, name_too_long,
/// mapped_file_size_zero, access_denied, section_too_big,
/// commitment_limit, insufficient_resources.
template <class System>
status create_section(System& sys, section_handle& out,
                      std::uint32_t desired_access, const char* name,
                      std::uint32_t object_flags, std::uint64_t maximum_size,
                      std::uint32_t page_protection, std::uint32_t attributes,
                      file_object* file = nullptr) noexcept {
  constexpr std::uint32_t known = sec::based | sec::no_change | sec::file |
                                  sec::image | sec::protected_image |
                                  sec::reserve | sec::commit | sec::nocache |
                                  sec::writecombine | sec::large_pages;
  if (attributes & ~known) return status::invalid_parameter_6;
  const bool image = attributes & sec::image;
  const std::uint32_t kind = attributes & (sec::commit | sec::reserve);
  if (!image && kind != sec::commit && kind != sec::reserve)
    return status::invalid_parameter_6;
  if ((attributes & sec::nocache) && (attributes & sec::writecombine))
    return status::invalid_parameter_6;
  if (attributes &
      (sec::large_pages | sec::based | sec::no_change | sec::protected_image))
    return status::not_implemented;
  const mm_protection prot = mm_protection::from_win32(page_protection);
  if (!prot.is_valid() || prot.modifiers() != 0 || prot.base() == 0)
    return status::invalid_page_protection;
  // An image needs its file (NT: no file handle for SEC_IMAGE).
  if (image && file == nullptr) return status::invalid_file_for_section;
  if (file == nullptr && maximum_size == 0) return status::invalid_parameter_4;
  detail::lock_scope guard(sys.section_lock());
  return section_ops<System>::create(sys, out, desired_access, name,
                                     object_flags, maximum_size, prot,
                                     attributes, file);
}

/// NtOpenSection: another handle to the section called `name`.
/// Returns: object_name_not_found.
template <class System>
status open_section(System& sys, section_handle& out,
                    std::uint32_t desired_access, const char* name) noexcept {
  detail::lock_scope guard(sys.section_lock());
  return section_ops<System>::open(sys, out, desired_access, name);
}

/// NtClose of a section handle: the section goes when no handle and no
/// view refers to it; a file section's modified pages are then written.
/// `h` is cleared.
template <class System>
void close_section(System& sys, section_handle& h) noexcept {
  MMKIT_ASSERT(h.object != nullptr && h.object->belongs_to(&sys.sections()));
  using ops = section_ops<System>;
  detail::lock_scope guard(sys.section_lock());
  if (ops::close_frees_frames(*h.object)) {
    detail::lock_scope pfn_guard(sys.pfn_lock());
    ops::close(sys, *h.object);
  } else {
    ops::close(sys, *h.object);
  }
  h = {};
}

/// SetEndOfFile: `file`'s size becomes `size`.
/// Returns: access_denied (read-only file), user_mapped_file (a view maps
/// bytes at or past `size`), or the store's status.
template <class System>
status set_end_of_file(System& sys, file_object& file,
                       std::uint64_t size) noexcept {
  detail::lock_scope guard(sys.section_lock());
  detail::lock_scope pfn_guard(sys.pfn_lock());
  return section_ops<System>::set_end_of_file(sys, file, size);
}

namespace nt {

namespace detail {
/// Effects: the view just mapped at `at` records ViewUnmap, for a fork
/// (region/fork.hpp) to leave it out.
template <class Core>
void keep_inheritance(Core& c, vaddr at, std::uint32_t inherit) noexcept {
  if (inherit != section_inherit::view_unmap) return;
  vad* v = c.vads.find_containing(at.page());
  MMKIT_ASSERT(v != nullptr && !v->private_memory());
  v->set_flags(v->flags() | vad_flags::view_unmap);
}
}  // namespace detail

/// NtMapViewOfSection(section, process, base, zero_bits, commit_size
/// (ignored), offset, view_size, inherit, allocation_type, protect).
/// `base` and `view_size` are in/out.
///   base and offset: multiples of 64 KiB (base 0 lets the system choose,
///   bottom-up or MEM_TOP_DOWN, below the ZeroBits limit)
///   view_size 0: to the end of the section; rounded up to whole pages
///   inherit: section_inherit::view_share (a fork maps the view in the
///   child too) or view_unmap (it does not); kept in the VAD
/// Statuses, in the order they are checked: invalid_parameter_4
/// (ZeroBits), invalid_parameter_8 (inherit neither ViewShare nor
/// ViewUnmap), invalid_parameter_9 (allocation type other than
/// MEM_TOP_DOWN, MEM_RESERVE), invalid_page_protection, invalid_parameter_3
/// (base or range beyond user space), invalid_parameter_4 (a base the
/// ZeroBits do not allow), invalid_handle (a section of another system),
/// access_denied (the handle lacks SECTION_MAP_* for `protect`),
/// mapped_alignment (base or offset), invalid_parameter_9
/// or section_protection (MEM_RESERVE on a page-file or read-only file
/// section), section_protection (`protect` is not one the section's
/// protection allows: MmCompatibleProtectionMask),
/// invalid_view_size (offset or size past the section's end), then
/// region::map_view's: conflicting_addresses, no_memory,
/// quota_exceeded, commitment_limit, insufficient_resources.
/// An image section (SEC_IMAGE) is mapped whole (offset 0, else
/// invalid_view_size) by region::map_image_view: success at its preferred
/// base, image_not_at_base (a success: mapped elsewhere and relocated),
/// invalid_image_format (another machine's image), conflicting_addresses
/// (an image without relocations whose base is taken).
template <class Core>
status map_view(Core& c, const section_handle& h, vaddr& base,
                std::uint64_t& view_size, std::uint64_t offset,
                std::uint32_t allocation_type, std::uint32_t protect,
                std::uint64_t zero_bits,
                std::uint32_t inherit = section_inherit::view_share) noexcept {
  using Arch = typename Core::arch_type;
  MMKIT_ASSERT(h.object != nullptr);
  // The section's view list is the section lock's, which the caller
  // holds; its prototypes, the quota and the commit charge are the PFN
  // lock's (region::map_view may let go of it for the view's PTE writes).
  c.take_pfn_lock();
  // The order of ReactOS's NtMapViewOfSection: ZeroBits, the inherit
  // disposition, the allocation type, then the protection.
  std::uint64_t limit = 0;
  if (!zero_bits_limit<Arch>(zero_bits, limit))
    return status::invalid_parameter_4;
  if (inherit != section_inherit::view_share &&
      inherit != section_inherit::view_unmap)
    return status::invalid_parameter_8;
  if (allocation_type & ~(mem::top_down | mem::reserve))
    return status::invalid_parameter_9;
  const mm_protection prot = mm_protection::from_win32(protect);
  if (!prot.is_valid()) return status::invalid_page_protection;
  const std::uint64_t b = base.raw();
  // The range first (ReactOS's NtMapViewOfSection apitest and
  // ZwMapViewOfSection kmtest): a base past user space or a size that runs
  // past it is _3, a base above the ZeroBits limit _4, both before the
  // handle and the alignment.
  if (b > Core::highest_user_address ||
      Core::highest_user_address - b + 1 < view_size)
    return status::invalid_parameter_3;
  if (b != 0 && zero_bits != 0 &&
      (b > limit || (view_size != 0 && limit - b + 1 < view_size)))
    return status::invalid_parameter_4;
  // The handle is referenced with the rights the protection needs before
  // MmMapViewOfSection looks at anything else. A handle names its section
  // by address: another system's section is no object of this one's
  // (ObReferenceObjectByHandle's STATUS_INVALID_HANDLE).
  if (!h.object->belongs_to(&c.sys->sections())) return status::invalid_handle;
  section_object& s = *h.object;
  if (section_access::needed_for(prot) & ~h.access)
    return status::access_denied;
  if ((b & (allocation_granularity - 1)) != 0 ||
      (offset & (allocation_granularity - 1)) != 0)
    return status::mapped_alignment;
  if (b != 0 && b < Core::lowest_user_address)
    return status::invalid_parameter_3;
  // MEM_RESERVE is for views of writable file sections (ReactOS
  // ZwMapViewOfSection kmtest): a page-file section refuses it as an
  // allocation type, a read-only file section as a protection.
  if (allocation_type & mem::reserve) {
    if (!s.file_backed()) return status::invalid_parameter_9;
    if (!region::view_protection_allowed(s.protection(),
                                         mm_protection{mm::readwrite}))
      return status::section_protection;
  }
  if (s.is_image()) {
    // An image is mapped whole, each page with its section's protection
    // (the view's own is EXECUTE_WRITECOPY whatever `protect` says).
    if (offset != 0) return status::invalid_view_size;
    vaddr at = base;
    std::uint64_t out_size = 0;
    const status st = region::map_image_view(c, s, at, out_size, limit);
    if (!succeeded(st)) return st;
    detail::keep_inheritance(c, at, inherit);
    base = at;
    view_size = out_size;
    return st;
  }
  if (!region::view_protection_allowed(s.protection(), prot))
    return status::section_protection;
  const std::uint64_t size = s.size();
  if (offset >= size) return status::invalid_view_size;
  std::uint64_t want = view_size == 0 ? size - offset : view_size;
  if (want > size - offset) return status::invalid_view_size;
  want = *align_up(want, page_size);
  if (b != 0 && Core::highest_user_address - b + 1 < want)
    return status::invalid_parameter_3;
  if (b == 0 && want > Core::highest_user_address) return status::no_memory;
  // The view takes the section's caching attribute.
  const mm_protection view_prot = with_allocation_caching(prot, s.protection());
  vaddr at = base;
  std::uint64_t out_size = 0;
  const status st = region::map_view(
      c, s, offset >> page_shift, want >> page_shift, view_prot, at, out_size,
      (allocation_type & mem::top_down) ? region::placement::top_down
                                        : region::placement::bottom_up,
      limit);
  if (st != status::success) return st;
  detail::keep_inheritance(c, at, inherit);
  base = at;
  view_size = out_size;
  return status::success;
}

/// The view holding `va`, or null.
template <class Core>
mapped_vad* view_at(Core& c, vaddr va) noexcept {
  if (va.raw() > Core::highest_user_address) return nullptr;
  vad* v = c.vads.find_containing(va.page());
  return v != nullptr && !v->private_memory() ? &as_view(*v) : nullptr;
}

/// NtUnmapViewOfSection(process, base): `base` is any address inside the
/// view. Returns: not_mapped_view (no view there: free or private memory).
template <class Core>
status unmap_view(Core& c, vaddr base) noexcept {
  mapped_vad* v = view_at(c, base);
  if (v == nullptr) return status::not_mapped_view;
  // The caller holds the section lock; the frames are the PFN lock's
  // (region::unmap_view may let go of it while it clears a view that maps
  // no frame, and takes it back before the section may go).
  c.take_pfn_lock();
  region::unmap_view(c, *v);
  return status::success;
}

/// NtFlushVirtualMemory(process, base, size): the pages of the
/// page-rounded range, all in one view (size 0: from `base` to the view's
/// end), written to the section's file. `base` and `size` become the
/// range. Statuses: invalid_parameter_2 (base beyond user space),
/// not_mapped_data (private or free memory), not_mapped_view (the range
/// leaves the view), or the store's status.
template <class Core>
status flush(Core& c, vaddr& base, std::uint64_t& size) noexcept {
  const std::uint64_t b = base.raw();
  if (b > Core::highest_user_address) return status::invalid_parameter_2;
  mapped_vad* v = view_at(c, base);
  if (v == nullptr) return status::not_mapped_data;
  const vpn first = base.page();
  const vpn last = size == 0 ? v->end()
                   : Core::highest_user_address - b + 1 < size
                       ? vpn{~std::uint64_t{0}}
                       : vaddr{b + size - 1}.page();
  if (last > v->end()) return status::not_mapped_view;
  const status s = region::flush_view(c, *v, {first, last});
  if (s != status::success) return s;
  base = first.address();
  size = (last - first + 1) << page_shift;
  return status::success;
}

}  // namespace nt
}  // namespace mmkit
