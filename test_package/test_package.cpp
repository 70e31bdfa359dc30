// A program an mmkit user would write first: include everything, use a few
// core types, and exit 0 when they behave.
#include <mmkit/mmkit.hpp>

#include <cstdio>

int main() {
  const mmkit::vaddr base{0x50001010};
  const auto page = mmkit::granularity_align_down(base);
  const auto end = mmkit::align_up(0x50001010 + 0xC000, mmkit::page_size);
  std::printf("reservation %#llx..%#llx, %s\n",
              static_cast<unsigned long long>(page.raw()),
              static_cast<unsigned long long>(*end),
              mmkit::to_string(mmkit::status::conflicting_addresses));
  return page.raw() == 0x50000000 && *end == 0x5000E000 ? 0 : 1;
}
