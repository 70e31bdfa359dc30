#pragma once
// Section objects and what they share: NT's SECTION, SEGMENT and the
// mapped-view VAD, as plain records. The operations on them live in
// section/section_ops.hpp (creation, lifetime, paging in and writing back)
// and region/view.hpp (mapping views into an address space).
//
//   section_object   what NtCreateSection makes: a size, a page protection,
//                    SEC_* attributes, an optional name, and two kinds of
//                    reference (handles, views); it lives until both are 0
//   segment          the pages: a run of prototype PTEs in the system's
//                    pool, the backing store (none for a page-file section)
//                    and the list of views mapping them. A page-file
//                    section has its own; every section over one file
//                    shares the file's (so two CreateFileMapping calls on a
//                    file, in two processes, share its frames)
//   file_object      the caller's file: a backing store and its data
//                    segment; it must outlive the sections made over it
//   mapped_vad       a view: a VAD that also names its section and the
//                    prototype PTE of its first page, and links it into
//                    its segment's view list
//
// Nothing here allocates: section objects come from the system's section
// allocator, view nodes from the address space's view allocator, prototype
// PTEs from the system's pool (section/prototype_pool.hpp).

#include <mmkit/core/protection.hpp>
#include <mmkit/section/backing_store.hpp>
#include <mmkit/section/pe_image.hpp>
#include <mmkit/section/prototype_pool.hpp>
#include <mmkit/vad/vad.hpp>

#include <cstdint>

namespace mmkit {

/// SEC_* allocation attributes (winnt.h).
namespace sec {
inline constexpr std::uint32_t based = 0x200000;
inline constexpr std::uint32_t no_change = 0x400000;
inline constexpr std::uint32_t file = 0x800000;
inline constexpr std::uint32_t image = 0x1000000;
inline constexpr std::uint32_t protected_image = 0x2000000;
inline constexpr std::uint32_t reserve = 0x4000000;
inline constexpr std::uint32_t commit = 0x8000000;
inline constexpr std::uint32_t nocache = 0x10000000;
inline constexpr std::uint32_t writecombine = 0x40000000;
inline constexpr std::uint32_t large_pages = 0x80000000;
}  // namespace sec

/// Section access rights (winnt.h) and the generic rights they map from.
namespace section_access {
inline constexpr std::uint32_t query = 0x0001;
inline constexpr std::uint32_t map_write = 0x0002;
inline constexpr std::uint32_t map_read = 0x0004;
inline constexpr std::uint32_t map_execute = 0x0008;
inline constexpr std::uint32_t extend_size = 0x0010;
inline constexpr std::uint32_t all_access = 0x000F001F;
inline constexpr std::uint32_t maximum_allowed = 0x02000000;
inline constexpr std::uint32_t generic_all = 0x10000000;
inline constexpr std::uint32_t generic_execute = 0x20000000;
inline constexpr std::uint32_t generic_write = 0x40000000;
inline constexpr std::uint32_t generic_read = 0x80000000;

/// The specific rights `desired` asks for, generic rights mapped as NT's
/// section type maps them (STANDARD_RIGHTS_* left out: no security model).
constexpr std::uint32_t granted(std::uint32_t desired) noexcept {
  std::uint32_t g = desired & all_access;
  if (desired & (generic_all | maximum_allowed)) g |= all_access;
  if (desired & generic_read) g |= query | map_read;
  if (desired & generic_write) g |= map_write;
  if (desired & generic_execute) g |= map_execute;
  return g;
}

/// The rights a view with MM_ protection `prot` needs from the section
/// handle (NT's MmMakeSectionAccess).
constexpr std::uint32_t needed_for(mm_protection prot) noexcept {
  constexpr std::uint32_t by_base[8] = {map_read,
                                        map_read,
                                        map_execute,
                                        map_execute | map_read,
                                        map_write,
                                        map_read,
                                        map_execute | map_write,
                                        map_execute | map_read};
  return by_base[prot.base()];
}
}  // namespace section_access

/// OBJ_* attributes the section calls take.
namespace obj {
/// Create opens an existing section of the same name instead of failing
/// (CreateFileMapping passes it): status::object_name_exists.
inline constexpr std::uint32_t openif = 0x80;
}  // namespace obj

class section_object;
class mapped_vad;

/// The pages a section maps (see the header comment).
struct segment {
  store_ref store;  ///< the file; none for a page-file section
  std::uint64_t proto = prototype_pool::none;  ///< first prototype PTE
  std::uint64_t pages = 0;
  std::uint64_t bytes = 0;      ///< the bytes the sections cover
  std::uint64_t committed = 0;  ///< page-file: pages charged (shared commit)
  std::uint64_t resident = 0;   ///< pages a frame holds
  std::uint32_t users = 0;      ///< section objects on it
  std::uint64_t view_count = 0;
  mapped_vad* views = nullptr;  ///< every view mapping it, in no order
  /// An image segment's parsed headers (SEC_IMAGE), else null.
  const pe::image_info* image = nullptr;
  /// The system's segments that hold prototypes (section_table), so the
  /// pager finds a prototype's segment.
  segment* next_segment = nullptr;
  segment* prev_segment = nullptr;

  bool file_backed() const noexcept { return store.valid(); }
  /// Whether prototype `index` is one of this segment's.
  bool holds(std::uint64_t index) const noexcept {
    return index >= proto && index - proto < pages;
  }
  bool in_use() const noexcept { return users != 0; }
};

/// The caller's file: what a file-backed section reads and writes, and the
/// data segment every section over it shares. Requires: it (and its store)
/// outlives every section created over it and every view of one, so an
/// address space that still maps it must be destroyed first.
class file_object {
 public:
  file_object() noexcept = default;
  template <BackingStore S>
  explicit file_object(S& store) noexcept {
    data.store = store_ref{store};
    image.store = data.store;
  }
  file_object(const file_object&) = delete;
  file_object& operator=(const file_object&) = delete;

  const store_ref& store() const noexcept { return data.store; }
  /// Views of this file, as data and as an image (for tests and dumps).
  std::uint64_t mapped_views() const noexcept {
    return data.view_count + image.view_count;
  }

  segment data;            ///< what data sections map (NT: DataSectionObject)
  segment image;           ///< what SEC_IMAGE sections map (ImageSectionObject)
  pe::image_info headers;  ///< the image's, while `image` is in use
};

/// A section object (see the header comment).
class section_object {
 public:
  static constexpr std::uint32_t max_name = 127;

  section_object() noexcept = default;
  section_object(const section_object&) = delete;
  section_object& operator=(const section_object&) = delete;

  /// The pages.
  segment& pages() noexcept { return *seg_; }
  const segment& pages() const noexcept { return *seg_; }
  file_object* file() const noexcept { return file_; }
  bool file_backed() const noexcept { return file_ != nullptr; }
  /// Whether it is an image section (SEC_IMAGE).
  bool is_image() const noexcept { return seg_->image != nullptr; }
  /// The size it was created with (NtQuerySection's MaximumSize), bytes.
  std::uint64_t size() const noexcept { return size_; }
  /// SectionPageProtection, with SEC_NOCACHE / SEC_WRITECOMBINE folded in.
  mm_protection protection() const noexcept { return protection_; }
  std::uint32_t attributes() const noexcept { return attributes_; }
  const char* name() const noexcept { return name_; }
  std::uint32_t handles() const noexcept { return handles_; }
  std::uint32_t views() const noexcept { return views_; }
  /// Whether the section is one of the system whose section table is
  /// `table` (a handle names an object by address; one of another system
  /// is an invalid handle there).
  bool belongs_to(const void* table) const noexcept { return table_ == table; }
  /// Pages of the segment, from the view's first page's prototype index.
  std::uint64_t page_of(std::uint64_t proto_index) const noexcept {
    return proto_index - seg_->proto;
  }

 private:
  template <class>
  friend class section_table;
  template <class>
  friend struct section_ops;

  segment own_;
  segment* seg_ = &own_;
  file_object* file_ = nullptr;
  std::uint64_t size_ = 0;
  mm_protection protection_{};
  std::uint32_t attributes_ = 0;
  std::uint32_t handles_ = 0;
  std::uint32_t views_ = 0;
  const void* table_ = nullptr;  ///< its system's section table
  section_object* next_named_ = nullptr;
  section_object* prev_named_ = nullptr;
  char name_[max_name + 1] = {};
};

/// What a handle to a section is: the object and the rights granted.
struct section_handle {
  section_object* object = nullptr;
  std::uint32_t access = 0;
  explicit operator bool() const noexcept { return object != nullptr; }
};

/// A mapped view's VAD (see the header comment).
class mapped_vad : public vad {
 public:
  mapped_vad() noexcept = default;
  section_object* section = nullptr;
  /// The prototype PTE of the view's first page.
  std::uint64_t first_proto = 0;
  mapped_vad* next_view = nullptr;
  mapped_vad* prev_view = nullptr;

  /// The prototype index of page `p` of the view.
  std::uint64_t proto_of(vpn p) const noexcept {
    return first_proto + (p - start());
  }
};

/// A mapped VAD as such. Requires: !v.private_memory().
inline mapped_vad& as_view(vad& v) noexcept {
  MMKIT_ASSERT(!v.private_memory());
  return static_cast<mapped_vad&>(v);
}
inline const mapped_vad& as_view(const vad& v) noexcept {
  MMKIT_ASSERT(!v.private_memory());
  return static_cast<const mapped_vad&>(v);
}

}  // namespace mmkit
