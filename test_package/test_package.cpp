// What an mmkit user writes first, built against the packaged mmkit: include
// everything (the VAD tree brings in Boost.Intrusive, so this also proves the
// Boost headers came with the package), reserve and commit as
// NtAllocateVirtualMemory would, touch a page, and exit 0 when the answers
// are Windows' answers.
#include <mmkit/mmkit.hpp>

#include <cstdint>
#include <cstdio>

int main() {
  using namespace mmkit;
  hosted_system<> sys{std::uint64_t{16} << 20};  // 16 MiB of simulated RAM
  address_space<arch::x86_64, hosted_config<>> as{sys};
  if (as.creation_status() != status::success) return 1;

  vaddr base{0x50001010};
  std::uint64_t size = 0xC000;
  const status s =
      as.allocate(base, size, mem::reserve | mem::commit, page::readwrite);
  const std::uint64_t value = 42;
  std::size_t done = 0;
  const status w = as.write(base + 0x10, &value, sizeof value, done);
  memory_basic_information info;
  const status q = as.query(base, info);
  std::printf("allocate: %s, base %#llx size %#llx; write: %s; query: %s\n",
              to_string(s), static_cast<unsigned long long>(base.raw()),
              static_cast<unsigned long long>(size), to_string(w),
              to_string(q));
  const bool ok = s == status::success && base.raw() == 0x50000000 &&
                  size == 0xE000 && w == status::success && done == 8 &&
                  q == status::success && info.state == mem::commit;
  return ok ? 0 : 1;
}
