// A kernel's use of mmkit: no heap, no exceptions, no RTTI, no host. The
// simulated RAM, its PFN entries and the VAD nodes are static buffers the
// "kernel" owns; the address space allocates nothing behind its back.
//
// Built twice: freestanding (-ffreestanding -fno-exceptions -fno-rtti, as an
// object: the package.freestanding_example check) and hosted, where main()
// runs kernel_main() as the test example.freestanding.

#include <mmkit/address_space.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/phys/buffer_memory.hpp>

#include <cstddef>
#include <cstdint>

namespace {

constexpr std::uint64_t frames = 128;  // 512 KiB of simulated RAM
constexpr std::size_t nodes = 32;      // at most 32 reservations

alignas(4096) std::byte ram[frames * mmkit::page_size];
mmkit::pfn_entry pfn_entries[frames];
mmkit::vad vad_nodes[nodes];

// The default VAD allocator of system_config is an array the caller gives.
using config = mmkit::system_config<mmkit::buffer_memory>;
using space = mmkit::address_space<mmkit::arch::x86_64, config>;

}  // namespace

/// Reserves and commits 64 KiB, writes and reads it back through the page
/// tables, protects a page, and releases it all. Returns 0 when every step
/// did what NT does.
int kernel_main() {
  // Static storage is zero: the frames start on the zeroed list.
  mmkit::system<config> sys{mmkit::buffer_memory{ram, sizeof ram}, pfn_entries,
                            frames, 0, mmkit::initial_contents::zero};
  space as{sys, mmkit::caller_vad_allocator<mmkit::vad>{vad_nodes, nodes}};
  if (as.creation_status() != mmkit::status::success) return 1;

  mmkit::vaddr base{0};
  std::uint64_t size = 0x10000;
  if (as.allocate(base, size, mmkit::mem::reserve | mmkit::mem::commit,
                  mmkit::page::readwrite) != mmkit::status::success)
    return 2;
  const std::uint64_t magic = 0x6B65726E656CULL;  // "kernel"
  std::size_t done = 0;
  if (as.write(base + 0x1008, &magic, sizeof magic, done) !=
      mmkit::status::success)
    return 3;
  std::uint64_t back = 0;
  if (as.read(base + 0x1008, &back, sizeof back, done) !=
          mmkit::status::success ||
      back != magic)
    return 4;
  mmkit::vaddr p = base + 0x1000;
  std::uint64_t one = 0x1000;
  std::uint32_t old = 0;
  if (as.protect(p, one, mmkit::page::readonly, old) !=
          mmkit::status::success ||
      old != mmkit::page::readwrite)
    return 5;
  if (as.access(base + 0x1000, mmkit::access::write) !=
      mmkit::status::access_violation)
    return 6;
  // Every reservation needs a node: the 33rd finds none and says so.
  std::uint64_t zero = 0;
  if (as.free(base, zero, mmkit::mem::release) != mmkit::status::success)
    return 7;
  for (std::size_t i = 0; i <= nodes; ++i) {
    mmkit::vaddr b{0};
    std::uint64_t s = 0x1000;
    const mmkit::status st =
        as.allocate(b, s, mmkit::mem::reserve, mmkit::page::readwrite);
    if (st != (i < nodes ? mmkit::status::success
                         : mmkit::status::insufficient_resources))
      return 8;
  }
  return as.check_invariants() ? 0 : 9;
}

#if __STDC_HOSTED__
int main() {
  return kernel_main();
}
#endif
