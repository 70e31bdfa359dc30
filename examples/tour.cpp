// The mmkit tour: what the library does, shown on a tiny scenario.
#include <mmkit/mmkit.hpp>

#include <cstdio>

int main() {
  using namespace mmkit;
  std::printf("mmkit %d.%d.%d tour\n\n", MMKIT_VERSION_MAJOR,
              MMKIT_VERSION_MINOR, MMKIT_VERSION_PATCH);
  std::printf("core: NT rounding of VirtualAlloc(0x50001010, 0xC000)\n");
  const vaddr base = granularity_align_down(vaddr{0x50001010});
  const auto end = align_up(0x50001010 + 0xC000, page_size);
  std::printf("  base %#llx size %#llx\n",
              static_cast<unsigned long long>(base.raw()),
              static_cast<unsigned long long>(*end - base.raw()));
  return 0;
}
