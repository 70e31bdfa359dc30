#pragma once
// Fault callbacks for emulator authors: device (MMIO) ranges whose bytes go
// to the caller's device, a user pager that fills pages on first touch
// (userfaultfd's UFFDIO_COPY, Zircon's pager), and a hook on accesses that
// fault, which may fix the space and ask for a retry (unicorn's
// UC_HOOK_MEM_*_UNMAPPED / _PROT).
//
//   address_space ── fault_callbacks<Slots>   (per space, fixed size)
//                      ├─ entries[Slots]      {pages, mmio_device}
//                      │                      {pages, page_supplier}
//                      └─ fault_hook          one per space
//
// Where the callbacks live. A VAD node has no room for a pointer (vad.hpp:
// one cache line, every bit used), and the VAD allocators hand out plain
// vads and mapped_vads, so a device pointer cannot ride in the node without
// a third node type and a third allocator in every Config. Devices and
// suppliers are few (an emulator maps a handful of device windows), so
// they sit in a small table inside the address space: Config::
// fault_callback_slots entries (8 when the Config names none), found by a
// linear search that runs only on the slow path (a fault, and for
// suppliers only while one is registered). Nothing is allocated; a full
// table refuses a new entry with insufficient_resources, as a full VAD
// allocator does. The callbacks themselves are a context pointer and plain
// function pointers (no virtual functions, so no vtable and no
// __cxa_pure_virtual in a freestanding link); `of(object)` builds them for
// any object with the member functions the concepts below name.
//
// Device ranges (map_mmio). A reservation of its own: one VAD, private to
// the tree's bookkeeping (its node comes from the VAD allocator) but marked
// vad_flags::physical_mapping ("maps device memory"), whose pages never
// get a PTE or a frame. So:
//   - VirtualQuery shows it as NT shows a view of \Device\PhysicalMemory:
//     MEM_MAPPED, MEM_COMMIT, the protection it was mapped with;
//   - other reservations and views that overlap it are refused with
//     STATUS_CONFLICTING_ADDRESSES (its VAD is in the tree);
//   - MEM_COMMIT/MEM_RESET into it and NtProtectVirtualMemory answer
//     STATUS_CONFLICTING_ADDRESSES (as an AWE region does: its protection
//     is fixed at map time), NtFreeVirtualMemory answers
//     STATUS_UNABLE_TO_DELETE_SECTION (as a view does); unmap_mmio removes
//     it;
//   - the fault dispatcher answers an access its protection allows with
//     STATUS_INVALID_DEVICE_REQUEST ("not a valid operation for the target
//     device": there is no memory to touch) and one it refuses with
//     STATUS_ACCESS_VIOLATION. access() and host_page_of() return that
//     status as it is, so an emulator learns to take its slow path;
//     address_space::read()/write() move the bytes through the device, one
//     call per contiguous run of device bytes (offsets from the range's
//     first byte), with the locks released, so a device may remap memory
//     (bank switching) from its callback.
//
// The user pager (set_page_supplier). Pages of a private reservation whose
// first touch is a demand-zero fault get a zeroed frame that the supplier
// fills before the PTE becomes valid; a supplier that fails makes the
// fault fail with its status (STATUS_IN_PAGE_ERROR is the natural one)
// and nothing changes: the frame goes back, the PTE stays demand-zero, the
// next touch asks again. A page that leaves memory keeps its contents the
// usual way (trimmed: a soft fault; paged out: the page file), and is not
// supplied again. A page that loses its contents (MEM_DECOMMIT then
// MEM_COMMIT, MEM_RESET) is demand-zero again, and is supplied again on its
// next touch, as Zircon's pager is asked again for pages not present. The
// supplier runs inside the fault handler with the address space's lock and
// the PFN lock held: it must not call into the address space (or the
// system). MEM_RELEASE of supplied pages ends their supply; a release in
// the middle of a supplied range splits its entry in two and needs a free
// slot (insufficient_resources otherwise, nothing released).
//
// The fault hook (set_fault_hook). Called when access(), read(), write()
// or host_page_of() would return STATUS_ACCESS_VIOLATION, with the address,
// the access and why (fault_reason), and with every lock released, so it
// may allocate, protect or map on the same space. hook_action::retry
// repeats the access from the faulting byte (a read/write keeps the bytes
// already copied); hook_action::fail returns the violation. At most
// hook_retry_limit retries in a row at one address: the next violation
// there is returned without calling the hook again, so a hook that fixes
// nothing cannot loop for ever. STATUS_GUARD_PAGE_VIOLATION is not hooked:
// it is one-shot already (the retried access proceeds), and a guest
// expects to see it.

#include <mmkit/core/access.hpp>
#include <mmkit/core/address.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
#include <mmkit/region/awe.hpp>
#include <mmkit/region/private_memory.hpp>
#include <mmkit/vad/vad.hpp>
#include <mmkit/vad/vad_tree.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mmkit::emu {

// --- the callbacks ---------------------------------------------------------

/// An object a device range can send its bytes to.
template <class D>
concept MmioDevice = requires(D& d, std::uint64_t offset, void* out,
                              const void* in, std::size_t n) {
  /// Reads `n` bytes at `offset` (from the range's first byte) into `out`.
  { d.read(offset, out, n) }
  noexcept->std::same_as<status>;
  /// Writes `n` bytes from `in` at `offset`.
  { d.write(offset, in, n) }
  noexcept->std::same_as<status>;
};

/// A device, type-erased: `context` and the two calls. A status other than
/// success fails the access with that status.
struct mmio_device {
  void* context = nullptr;
  status (*read)(void* context, std::uint64_t offset, void* out,
                 std::size_t n) noexcept = nullptr;
  status (*write)(void* context, std::uint64_t offset, const void* in,
                  std::size_t n) noexcept = nullptr;

  /// The calls of `d`, which must outlive the range it is mapped at.
  template <MmioDevice D>
  static mmio_device of(D& d) noexcept {
    return {
        __builtin_addressof(d),
        [](void* c, std::uint64_t o, void* out, std::size_t n) noexcept {
          return static_cast<D*>(c)->read(o, out, n);
        },
        [](void* c, std::uint64_t o, const void* in, std::size_t n) noexcept {
          return static_cast<D*>(c)->write(o, in, n);
        }};
  }
};
static_assert(!MmioDevice<mmio_device>);

/// An object that supplies the contents of pages on first touch.
template <class S>
concept PageSupplier = requires(S& s, vaddr va, std::byte* page) {
  /// Fills the page at `va` (page-aligned) through `page`, its 4 KiB
  /// frame (zeroed). Runs with the space's locks held: it must not call
  /// into the address space.
  { s.supply(va, page) }
  noexcept->std::same_as<status>;
};

/// A supplier, type-erased.
struct page_supplier {
  void* context = nullptr;
  status (*supply)(void* context, vaddr va, std::byte* page) noexcept = nullptr;

  /// The call of `s`, which must outlive its registration.
  template <PageSupplier S>
  static page_supplier of(S& s) noexcept {
    return {__builtin_addressof(s),
            [](void* c, vaddr va, std::byte* page) noexcept {
              return static_cast<S*>(c)->supply(va, page);
            }};
  }
};
static_assert(!PageSupplier<page_supplier>);

/// Why an access raised an access violation.
enum class fault_reason : std::uint8_t {
  unmapped,       ///< no reservation holds the address (or beyond user space)
  not_committed,  ///< reserved, not committed
  protection,     ///< the page's (or device range's) protection refuses it
};

/// What the hook wants done with the access.
enum class hook_action : std::uint8_t {
  fail,   ///< the access raises the access violation
  retry,  ///< the space was fixed: try the access again
};

/// One access violation, as the hook hears of it.
struct fault_event {
  vaddr va;              ///< the faulting byte
  mmkit::access kind{};  ///< read, write or execute
  cpu_mode mode{};
  fault_reason reason{};
};

/// How many retries in a row at one address a hook may ask for.
inline constexpr unsigned hook_retry_limit = 8;

/// An object that hears of access violations.
template <class H>
concept FaultHook = requires(H& h, const fault_event& e) {
  /// Called with the space's locks released: may change the space.
  { h.on_fault(e) }
  noexcept->std::same_as<hook_action>;
};

/// A hook, type-erased; a null `on_fault` is no hook.
struct fault_hook {
  void* context = nullptr;
  hook_action (*on_fault)(void* context,
                          const fault_event& e) noexcept = nullptr;

  template <FaultHook H>
  static fault_hook of(H& h) noexcept {
    return {__builtin_addressof(h), [](void* c, const fault_event& e) noexcept {
              return static_cast<H*>(c)->on_fault(e);
            }};
  }
};
static_assert(!FaultHook<fault_hook>);

// --- the table -------------------------------------------------------------

/// What one slot of the table holds.
enum class callback_kind : std::uint8_t { none, mmio, supplier };

/// One slot: a device range or a supplied range, pages first..last.
struct callback_entry {
  vpn first{}, last{};
  callback_kind kind = callback_kind::none;
  union target {
    mmio_device device;
    page_supplier supplier;
    constexpr target() noexcept : device{} {}
  } to;

  bool holds(vpn p) const noexcept { return first <= p && p <= last; }
  bool overlaps(vpn_range r) const noexcept {
    return first <= r.last && r.first <= last;
  }
};

/// A run of device bytes an access reaches: where they go.
struct device_span {
  mmio_device device{};
  std::uint64_t offset = 0;  ///< from the device range's first byte
  std::size_t bytes = 0;     ///< up to the range's end
};

/// The fault callbacks of one address space: `Slots` entries and the hook.
/// All calls require the space's locks (address_space holds them).
template <std::size_t Slots>
class fault_callbacks {
 public:
  static constexpr std::size_t capacity = Slots;

  /// The entry of kind `k` holding page `p`, or null.
  const callback_entry* find(callback_kind k, vpn p) const noexcept {
    for (std::size_t i = 0; i < Slots; ++i)
      if (slots_[i].kind == k && slots_[i].holds(p)) return &slots_[i];
    return nullptr;
  }
  /// The supplier of page `p`, or null. O(1) while none is registered.
  const page_supplier* supplier_of(vpn p) const noexcept {
    if (suppliers_ == 0) [[likely]]
      return nullptr;
    const callback_entry* e = find(callback_kind::supplier, p);
    return e != nullptr ? &e->to.supplier : nullptr;
  }
  /// Whether an entry of kind `k` overlaps `r`.
  bool overlaps(callback_kind k, vpn_range r) const noexcept {
    for (std::size_t i = 0; i < Slots; ++i)
      if (slots_[i].kind == k && slots_[i].overlaps(r)) return true;
    return false;
  }
  /// A free slot, or null.
  callback_entry* free_slot() noexcept {
    for (std::size_t i = 0; i < Slots; ++i)
      if (slots_[i].kind == callback_kind::none) return &slots_[i];
    return nullptr;
  }
  bool has_free_slot() const noexcept {
    return const_cast<fault_callbacks&>(*this).free_slot() != nullptr;
  }
  /// Requires: free_slot() is not null.
  void add(callback_kind k, vpn_range r, callback_entry::target to) noexcept {
    callback_entry* e = free_slot();
    MMKIT_ASSERT(e != nullptr && k != callback_kind::none);
    e->first = r.first;
    e->last = r.last;
    e->kind = k;
    e->to = to;
    suppliers_ += k == callback_kind::supplier;
  }
  /// Effects: the entry of kind `k` that is exactly `r` goes.
  /// Returns: whether there was one.
  bool remove(callback_kind k, vpn_range r) noexcept {
    for (std::size_t i = 0; i < Slots; ++i) {
      callback_entry& e = slots_[i];
      if (e.kind != k || e.first != r.first || e.last != r.last) continue;
      suppliers_ -= k == callback_kind::supplier;
      e = callback_entry{};
      return true;
    }
    return false;
  }

  /// Whether MEM_RELEASE of `r` can clip the supplied ranges: a release
  /// strictly inside one splits it and needs a free slot.
  bool can_release(vpn_range r) const noexcept {
    for (std::size_t i = 0; i < Slots; ++i) {
      const callback_entry& e = slots_[i];
      if (e.kind == callback_kind::supplier && e.first < r.first &&
          r.last < e.last)
        return has_free_slot();
    }
    return true;
  }
  /// Effects: the pages of `r` (just released) are supplied no more.
  /// Requires: can_release(r).
  void released(vpn_range r) noexcept {
    for (std::size_t i = 0; i < Slots; ++i) {
      callback_entry& e = slots_[i];
      if (e.kind != callback_kind::supplier || !e.overlaps(r)) continue;
      if (r.first <= e.first && e.last <= r.last) {
        e = callback_entry{};
        --suppliers_;
      } else if (r.first <= e.first) {
        e.first = r.last + 1;
      } else if (e.last <= r.last) {
        e.last = r.first - 1;
      } else {
        const vpn tail_last = e.last;
        e.last = r.first - 1;
        add(callback_kind::supplier, {r.last + 1, tail_last}, e.to);
      }
    }
  }

  /// The hook (on_fault null: none).
  fault_hook hook() const noexcept { return hook_; }
  void set_hook(fault_hook h) noexcept { hook_ = h; }

  /// For the invariant check: calls f(entry) for each used slot until f
  /// returns false; returns whether all passed, and how many suppliers.
  template <class F>
  bool all_of(F&& f, std::size_t& suppliers) const noexcept {
    suppliers = 0;
    for (std::size_t i = 0; i < Slots; ++i) {
      if (slots_[i].kind == callback_kind::none) continue;
      suppliers += slots_[i].kind == callback_kind::supplier;
      if (!f(slots_[i])) return false;
    }
    return suppliers == suppliers_;
  }

 private:
  callback_entry slots_[Slots == 0 ? 1 : Slots]{};
  std::size_t suppliers_ = 0;
  fault_hook hook_{};
};

/// Config::fault_callback_slots when the configuration names it, else 8.
template <class Config>
struct callback_slots_of {
  static constexpr std::size_t value = 8;
};
template <class Config>
requires requires {
  Config::fault_callback_slots;
}
struct callback_slots_of<Config> {
  static constexpr std::size_t value = Config::fault_callback_slots;
};

/// The status of a call's answer (a status, or a result's).
constexpr status status_of(status s) noexcept {
  return s;
}
template <class T>
constexpr status status_of(const result<T>& r) noexcept {
  return r.error();
}

/// The fill the fault dispatcher's demand-zero handler runs on a fresh,
/// zeroed frame (fault/handlers.hpp): the supplier's, when page `p` has
/// one.
template <std::size_t Slots>
struct supplied_fill {
  const fault_callbacks<Slots>* table = nullptr;
  bool supplies(vpn p) const noexcept {
    return table->supplier_of(p) != nullptr;
  }
  status operator()(vpn p, std::byte* page) const noexcept {
    const page_supplier* s = table->supplier_of(p);
    return s == nullptr ? status::success
                        : s->supply(s->context, p.address(), page);
  }
};

/// Retries of the hook in a row at one address (see the header comment).
class retry_count {
 public:
  /// Whether the hook may be asked (again) about `at`.
  bool allows(std::uint64_t at) noexcept {
    if (at != at_) {
      at_ = at;
      n_ = 0;
    }
    return n_++ < hook_retry_limit;
  }

 private:
  std::uint64_t at_ = ~std::uint64_t{0};
  unsigned n_ = 0;
};

// --- operations over a space (the caller holds its locks) -----------------

namespace detail {
/// The pages of [base, base + size), or false when empty or beyond user
/// space.
template <class Core>
bool pages_of(vaddr base, std::uint64_t size, vpn_range& r) noexcept {
  if (size == 0 || base.raw() > Core::highest_user_address ||
      Core::highest_user_address - base.raw() + 1 < size)
    return false;
  r = {base.page(), vaddr{base.raw() + size - 1}.page()};
  return true;
}
}  // namespace detail

/// Effects: a device range of the pages covering [base, base + size) (base
/// 0: the system picks a free 64 KiB-aligned range, bottom-up), whose
/// accesses go to `dev` (see the header comment). `base` becomes the
/// range's first byte.
/// Returns: invalid_parameter (a null call, an empty range or one beyond
/// user space), invalid_page_protection (not a valid protection, or a
/// copy-on-write or guard one), insufficient_resources (no free slot, or no
/// VAD node), conflicting_addresses, no_memory (no free range),
/// quota_exceeded.
template <class Core, std::size_t Slots>
status map_mmio(Core& c, fault_callbacks<Slots>& t, vaddr& base,
                std::uint64_t size, std::uint32_t protect,
                mmio_device dev) noexcept {
  if (dev.read == nullptr || dev.write == nullptr)
    return status::invalid_parameter;
  const mm_protection prot = mm_protection::from_win32(protect);
  if (!prot.is_valid() || prot.is_copy_on_write() || prot.is_guard())
    return status::invalid_page_protection;
  if (size == 0 || base.raw() > Core::highest_user_address ||
      Core::highest_user_address - base.raw() + 1 < size)
    return status::invalid_parameter;
  if (!t.has_free_slot()) return status::insufficient_resources;
  vad_tree<vad>::insert_commit_data where;
  if (base.raw() != 0) {
    vpn_range r{};
    if (!detail::pages_of<Core>(base, size, r))
      return status::invalid_parameter;
    if (r.first < vaddr{Core::lowest_user_address}.page())
      return status::conflicting_addresses;
    auto slot = c.vads.insert_check(r);
    if (!slot) return status::conflicting_addresses;
    where = *slot;
  } else {
    const std::uint64_t pages = (size + (page_size - 1)) >> page_shift;
    auto slot = c.vads.find_free_slot(
        pages,
        {vaddr{Core::lowest_user_address}.page(),
         vaddr{Core::highest_user_address}.page()},
        search_direction::bottom_up, Core::granularity_pages);
    if (!slot) return status::no_memory;
    where = *slot;
  }
  status why = status::success;
  vad* v = c.take_node(why);
  if (v == nullptr) return why;
  const vpn_range r = where.range();
  v->set_range(r);
  v->set_type(vad_type::private_memory);
  v->set_protection(prot.raw());
  v->set_flags(vad_flags::physical_mapping);
  v->set_commit_charge(0);
  c.vads.insert_commit(*v, where);
  callback_entry::target to;
  to.device = dev;
  t.add(callback_kind::mmio, r, to);
  base = r.first.address();
  return status::success;
}

/// Effects: the device range holding `base` goes (its VAD and its slot).
/// Returns: not_mapped_view (no device range there).
template <class Core, std::size_t Slots>
status unmap_mmio(Core& c, fault_callbacks<Slots>& t, vaddr base) noexcept {
  if (base.raw() > Core::highest_user_address) return status::not_mapped_view;
  vad* v = c.vads.find_containing(base.page());
  if (v == nullptr || !region::is_device_memory(*v))
    return status::not_mapped_view;
  [[maybe_unused]] const bool had = t.remove(callback_kind::mmio, v->range());
  MMKIT_ASSERT(had);
  c.vads.erase(*v);
  c.give_node(v);
  return status::success;
}

/// The device bytes an access of up to `n` bytes at `va` reaches (the
/// dispatcher said `va` is in a device range whose protection allows it);
/// bytes 0 when no entry holds it.
template <std::size_t Slots>
device_span device_at(const fault_callbacks<Slots>& t, vaddr va,
                      std::size_t n) noexcept {
  const callback_entry* e = t.find(callback_kind::mmio, va.page());
  if (e == nullptr) return {};
  const std::uint64_t offset = va.raw() - e->first.address().raw();
  const std::uint64_t left =
      ((e->last - e->first) + 1) * page_size - offset;  // to the range's end
  return {e->to.device, offset, left < n ? static_cast<std::size_t>(left) : n};
}

/// Effects: the pages covering [base, base + size), all in one private
/// reservation, are supplied by `s` on first touch from now on (pages
/// already touched keep their contents).
/// Returns: invalid_parameter (a null call, an empty range or one beyond
/// user space), conflicting_addresses (not inside one private reservation,
/// or overlapping another supplied range), insufficient_resources (no free
/// slot).
template <class Core, std::size_t Slots>
status set_page_supplier(Core& c, fault_callbacks<Slots>& t, vaddr base,
                         std::uint64_t size, page_supplier s) noexcept {
  vpn_range r{};
  if (s.supply == nullptr || !detail::pages_of<Core>(base, size, r))
    return status::invalid_parameter;
  const vad* v = c.vads.find_containing(r.first);
  if (v == nullptr || r.last > v->end() || !v->private_memory() ||
      region::is_awe(*v) || region::is_device_memory(*v) ||
      t.overlaps(callback_kind::supplier, r))
    return status::conflicting_addresses;
  if (!t.has_free_slot()) return status::insufficient_resources;
  callback_entry::target to;
  to.supplier = s;
  t.add(callback_kind::supplier, r, to);
  return status::success;
}

/// Effects: the supplied range set_page_supplier(base, size) made (or what
/// releases left of it, exactly) is supplied no more.
/// Returns: invalid_parameter when no supplied range is exactly that.
template <class Core, std::size_t Slots>
status clear_page_supplier(fault_callbacks<Slots>& t, vaddr base,
                           std::uint64_t size) noexcept {
  vpn_range r{};
  if (!detail::pages_of<Core>(base, size, r) ||
      !t.remove(callback_kind::supplier, r))
    return status::invalid_parameter;
  return status::success;
}

/// Why an access to `va` raised an access violation, from the VADs and
/// PTEs as they are now.
template <class Core>
fault_reason reason_of(Core& c, vaddr va) noexcept {
  if (va.raw() > Core::highest_user_address) return fault_reason::unmapped;
  const vad* v = c.vads.find_containing(va.page());
  if (v == nullptr) return fault_reason::unmapped;
  if (region::is_device_memory(*v)) return fault_reason::protection;
  return c.view(*v, va.page()).committed ? fault_reason::protection
                                         : fault_reason::not_committed;
}

/// Whether the table agrees with the VADs: each device VAD has exactly one
/// device entry of its range and no page of it is committed; each supplied
/// range lies in one private reservation (not AWE, not a device range), and
/// no two overlap.
template <class Core, std::size_t Slots>
bool check_callbacks(Core& c, const fault_callbacks<Slots>& t) noexcept {
  std::size_t devices = 0;
  for (const vad& v : c.vads) {
    if (!region::is_device_memory(v)) continue;
    ++devices;
    const callback_entry* e = t.find(callback_kind::mmio, v.start());
    if (e == nullptr || e->first != v.start() || e->last != v.end() ||
        !v.private_memory() || v.commit_charge() != 0)
      return false;
  }
  std::size_t entries = 0, suppliers = 0;
  const bool ok = t.all_of(
      [&](const callback_entry& e) {
        ++entries;
        if (e.kind == callback_kind::mmio) return true;
        const vad* v = c.vads.find_containing(e.first);
        if (v == nullptr || e.last > v->end() || !v->private_memory() ||
            region::is_awe(*v) || region::is_device_memory(*v))
          return false;
        // No other supplied range overlaps this one.
        std::size_t overlapping = 0;
        std::size_t ignored = 0;
        t.all_of(
            [&](const callback_entry& o) {
              overlapping += o.kind == callback_kind::supplier &&
                             o.overlaps({e.first, e.last});
              return true;
            },
            ignored);
        return overlapping == 1;
      },
      suppliers);
  return ok && entries - suppliers == devices;
}

}  // namespace mmkit::emu
