#pragma once
// translator<Arch, Memory, Source, Geometry>: a page table and the software
// TLB over it, kept coherent: the fast path of a simulated CPU's memory
// access.
//
//   host_pointer(va, acc, mode)
//     ├─ TLB hit:  index, tag compare, add            (the inline fast path)
//     └─ TLB miss: walk_fast (sets A, and D on a write), check the rights,
//                  fill the TLB, return the host address; null on a fault
//
// Every mutation made through the translator (unmap, protect, write_leaf)
// invalidates the pages it changes, so no access is ever served from a stale
// translation; map needs none (misses are never cached). Code that changes
// the tables behind the translator's back (table_unsynchronized(), an aging
// pass clearing A bits, a fault handler rewriting a leaf through raw access)
// calls invalidate() / invalidate_range() / flush() itself.
//
// A/D policy: ad_update::set (the default) makes the tables record accesses
// as hardware would; ad_update::leave makes the translator read-only toward
// the tables (the TLB then caches writable pages on first touch).

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/paging/page_table.hpp>
#include <mmkit/paging/tlb.hpp>
#include <mmkit/paging/walker.hpp>
#include <mmkit/phys/frame_source.hpp>
#include <mmkit/phys/physical_memory.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace mmkit {

template <arch::PagingArch Arch, WritablePhysicalMemory Memory,
          FrameSource Source, TlbGeometry Geometry = direct_mapped_tlb>
class translator {
 public:
  using table_type = page_table<Arch, Memory, Source>;
  using entry_type = typename Arch::entry_type;
  using tlb_type = software_tlb<Geometry>;

  translator() noexcept = default;

  /// Effects: a translator over a new, empty page table (see
  /// page_table::create). Returns the source's status when no root frame.
  static result<translator> create(Memory& memory, Source& source,
                                   ad_update update = ad_update::set) noexcept {
    auto t = table_type::create(memory, source);
    if (!t) return t.error();
    translator x;
    x.table_ = std::move(t).value();
    x.memory_ = &memory;
    x.update_ = update;
    return x;
  }

  // --- the fast path ------------------------------------------------------

  /// The host address of the byte at `va` for an access `acc` in `mode`, or
  /// null when the access faults (not present, rights, reserved bits,
  /// non-canonical, or a frame beyond the physical memory).
  /// Complexity: on a TLB hit, an index, a compare and an add.
  MMKIT_ALWAYS_INLINE std::byte* host_pointer(
      vaddr va, access acc, cpu_mode mode = cpu_mode::user) noexcept {
    if (const auto* e = tlb_.template hit<1>(va, acc, mode)) [[likely]]
      return tlb_type::host_address(*e, va);
    return refill(va, acc, mode);
  }

  /// Effects: reads a T at `va` (any alignment, page crossing included).
  /// Returns: false when any byte faults (`out` is then unspecified).
  template <class T>
  requires std::is_trivially_copyable_v<T> MMKIT_ALWAYS_INLINE bool load(
      vaddr va, T& out, cpu_mode mode = cpu_mode::user) noexcept {
    if (const auto* e = tlb_.template hit<sizeof(T)>(va, access::read, mode))
        [[likely]] {
      __builtin_memcpy(&out, tlb_type::host_address(*e, va), sizeof(T));
      return true;
    }
    return read(va, &out, sizeof(T), mode) == sizeof(T);
  }

  /// Effects: writes a T at `va`. Returns: false when any byte faults
  /// (the bytes before the fault are written).
  template <class T>
  requires std::is_trivially_copyable_v<T> MMKIT_ALWAYS_INLINE bool store(
      vaddr va, const T& value, cpu_mode mode = cpu_mode::user) noexcept {
    if (const auto* e = tlb_.template hit<sizeof(T)>(va, access::write, mode))
        [[likely]] {
      __builtin_memcpy(tlb_type::host_address(*e, va), &value, sizeof(T));
      return true;
    }
    return write(va, &value, sizeof(T), mode) == sizeof(T);
  }

  /// Effects: copies `n` bytes from `va` to `dst`, page by page, stopping at
  /// the first byte that faults. Returns: the bytes copied (n on success;
  /// fewer is NT's partial copy).
  std::size_t read(vaddr va, void* dst, std::size_t n,
                   cpu_mode mode = cpu_mode::user) noexcept {
    return copy(va, static_cast<std::byte*>(dst), n, access::read, mode);
  }
  /// Effects: copies `n` bytes from `src` to `va`, as read(). Returns: the
  /// bytes written.
  std::size_t write(vaddr va, const void* src, std::size_t n,
                    cpu_mode mode = cpu_mode::user) noexcept {
    return copy(va, const_cast<std::byte*>(static_cast<const std::byte*>(src)),
                n, access::write, mode);
  }

  /// The explained walk of `va` (not through the TLB); A/D as the policy.
  translation<Arch> translate(vaddr va, access acc = access::read,
                              cpu_mode mode = cpu_mode::user) noexcept {
    return walk<Arch>(*memory_, table_.root(), va, acc, mode, update_);
  }

  // --- mutations that keep the TLB coherent --------------------------------

  /// As page_table::map. No invalidation is needed: faults are not cached.
  result<void> map(vaddr va, paddr pa, std::uint64_t bytes,
                   page_attr attrs) noexcept {
    return table_.map(va, pa, bytes, attrs);
  }
  /// As page_table::unmap, then drops every TLB entry of the page.
  result<mapping> unmap(vaddr va) noexcept {
    auto m = table_.unmap(va);
    if (m) tlb_.invalidate_range(m->va, m->bytes);
    return m;
  }
  /// As page_table::protect, then drops every TLB entry of the page.
  result<mapping> protect(vaddr va, page_attr attrs) noexcept {
    auto m = table_.protect(va, attrs);
    if (m) tlb_.invalidate_range(m->va, m->bytes);
    return m;
  }
  /// As page_table::write_leaf, then drops the page from the TLB.
  result<void> write_leaf(vaddr va, entry_type value) noexcept {
    auto r = table_.write_leaf(va, value);
    tlb_.invalidate(va);
    return r;
  }

  void invalidate(vaddr va) noexcept { tlb_.invalidate(va); }
  void invalidate_range(vaddr va, std::uint64_t bytes) noexcept {
    tlb_.invalidate_range(va, bytes);
  }
  void flush() noexcept { tlb_.flush(); }
  void flush_non_global() noexcept { tlb_.flush_non_global(); }

  const table_type& table() const noexcept { return table_; }
  /// The page table for changes the translator does not see; the caller
  /// invalidates what it changes.
  table_type& table_unsynchronized() noexcept { return table_; }
  const tlb_type& tlb() const noexcept { return tlb_; }
  Memory& memory() const noexcept { return *memory_; }
  /// TLB misses served by a walk so far.
  std::uint64_t refills() const noexcept { return refills_; }

  /// The miss path: walk, check, fill. Public so that benchmarks and tests
  /// can time and drive it alone.
  [[gnu::noinline]] std::byte* refill(vaddr va, access acc,
                                      cpu_mode mode) noexcept {
    ++refills_;
    const walk_outcome w =
        walk_fast<Arch>(*memory_, table_.root(), va, acc, mode, update_);
    if (!w.ok()) [[unlikely]]
      return nullptr;
    const pfn f = w.address.frame();
    if (f.raw() >= memory_->frame_count()) [[unlikely]]
      return nullptr;
    std::byte* page = memory_->frame(f);
    const bool can_write =
        w.writable && (w.dirty || update_ == ad_update::leave);
    tlb_.fill(va, page, can_write, w.executable, w.global, mode);
    return page + va.page_offset();
  }

 private:
  std::size_t copy(vaddr va, std::byte* buf, std::size_t n, access acc,
                   cpu_mode mode) noexcept {
    std::size_t done = 0;
    while (done < n) {
      const vaddr at = va + done;
      const std::size_t room =
          static_cast<std::size_t>(page_size - at.page_offset());
      const std::size_t chunk = n - done < room ? n - done : room;
      std::byte* p = host_pointer(at, acc, mode);
      if (p == nullptr) return done;
      if (acc == access::write)
        __builtin_memcpy(p, buf + done, chunk);
      else
        __builtin_memcpy(buf + done, p, chunk);
      done += chunk;
    }
    return done;
  }

  table_type table_;
  tlb_type tlb_;
  Memory* memory_ = nullptr;
  ad_update update_ = ad_update::set;
  std::uint64_t refills_ = 0;
};

}  // namespace mmkit
