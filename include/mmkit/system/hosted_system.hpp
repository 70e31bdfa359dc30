#pragma once
// hosted_system: a system whose physical memory is a lazily committed host
// reservation and whose PFN entries live in a host vector: what a hosted
// program (an emulator, a test, the tour) wants in one line:
//
//   mmkit::hosted_system<> sys{1ull << 30};   // 1 GiB of simulated RAM
//   mmkit::address_space<mmkit::arch::x86_64, mmkit::hosted_config<>> as{sys};
//
// The frame bytes are a host reservation that costs nothing until a frame
// is touched; the PFN entries (32 bytes per frame, 0.8% of the simulated
// RAM) are built when the system is: 64 GiB of simulated RAM costs 512 MiB
// of host memory and a quarter of a second up front.

#include <mmkit/core/config.hpp>
#if !MMKIT_HOSTED
#error "mmkit/system/hosted_system.hpp needs a hosted C++ implementation"
#endif

#include <mmkit/core/lock_policy.hpp>
#include <mmkit/phys/host_memory.hpp>
#include <mmkit/region/pool_vad_allocator.hpp>
#include <mmkit/system/system.hpp>

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace mmkit {

/// The configuration of a hosted system: host memory, a lock policy and
/// VAD nodes from a growing pool.
template <LockPolicy Lock = no_lock>
using hosted_config = system_config<host_memory, Lock, pool_vad_allocator<vad>>;

namespace detail {
/// The PFN entries, constructed before the system that points at them.
struct pfn_storage {
  std::vector<pfn_entry> entries;
};

inline host_memory reserve_host_memory(std::uint64_t bytes) noexcept {
  auto m = host_memory::create(bytes);
  // A host that cannot reserve address space cannot run a simulation at
  // all; there is no status to return from a constructor.
  MMKIT_ASSERT(m.ok() && "host reservation failed");
  if (!m) std::abort();
  return std::move(m).value();
}
}  // namespace detail

template <LockPolicy Lock = no_lock>
class hosted_system : private detail::pfn_storage,
                      public system<hosted_config<Lock>> {
 public:
  /// Effects: `physical_bytes` of simulated physical memory (rounded down
  /// to whole frames, reserved on the host but not committed) and a page
  /// file of `page_file_bytes` counted in the commit limit.
  explicit hosted_system(std::uint64_t physical_bytes,
                         std::uint64_t page_file_bytes = 0)
      : detail::pfn_storage{std::vector<pfn_entry>(physical_bytes >>
                                                   page_shift)},
        system<hosted_config<Lock>>(
            detail::reserve_host_memory(physical_bytes), entries.data(),
            physical_bytes >> page_shift, page_file_bytes >> page_shift) {}
};

}  // namespace mmkit
