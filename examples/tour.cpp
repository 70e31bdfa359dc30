// The mmkit tour: one Windows-style address space on a simulated machine,
// driven through the NT calls, with what happened printed at each step.
//
//   reserve -> commit -> touch -> protect -> guard page -> VirtualQuery
//   walk -> !vad dump -> PFN list counts -> an explained page walk
#include <mmkit/mmkit.hpp>

#include <cstdio>
#include <cstring>

namespace {

using namespace mmkit;
using space = address_space<arch::x86_64, hosted_config<>>;

const char* state_name(std::uint32_t s) {
  return s == mem::commit ? "COMMIT" : s == mem::reserve ? "RESERVE" : "FREE";
}

void show(const char* what, status s) {
  std::printf("  %-52s %s\n", what, to_string(s));
}

/// `v` as 0x<hex>, zero included (printf's %#x writes a bare 0).
struct hex {
  explicit hex(std::uint64_t v) {
    std::snprintf(text, sizeof text, "0x%llx",
                  static_cast<unsigned long long>(v));
  }
  char text[20];
};

void query_walk(space& as, std::uint64_t from, std::uint64_t to) {
  // Every column is as wide as its widest value (a 64-bit address or
  // size; a FREE region runs to the top of user space), so FREE rows line
  // up with the others.
  std::printf("\n  %-18s %-18s %-18s %-8s %-8s %s\n", "BaseAddress",
              "AllocationBase", "RegionSize", "State", "Protect", "Type");
  for (std::uint64_t a = from; a < to;) {
    memory_basic_information info;
    if (as.query(vaddr{a}, info) != status::success) break;
    std::printf("  %-18s %-18s %-18s %-8s %-8s %s\n",
                hex(info.base_address).text, hex(info.allocation_base).text,
                hex(info.region_size).text, state_name(info.state),
                hex(info.protect).text,
                info.type == mem::private_memory ? "PRIVATE" : "");
    a = info.base_address + info.region_size;
  }
}

}  // namespace

int main() {
  std::printf(
      "mmkit %d.%d.%d tour: an x64 address space on 256 MiB of "
      "simulated RAM\n\n",
      MMKIT_VERSION_MAJOR, MMKIT_VERSION_MINOR, MMKIT_VERSION_PATCH);
  hosted_system<> sys{std::uint64_t{256} << 20, std::uint64_t{256} << 20};
  space as{sys};
  if (as.creation_status() != status::success) return 1;

  std::printf(
      "1. VirtualAlloc(0x50001010, 0xC000, MEM_RESERVE, "
      "PAGE_READWRITE)\n");
  vaddr base{0x50001010};
  std::uint64_t size = 0xC000;
  show("reserve", as.allocate(base, size, mem::reserve, page::readwrite));
  std::printf(
      "  -> base %#llx size %#llx (base down to 64 KiB, end up to "
      "a page)\n",
      static_cast<unsigned long long>(base.raw()),
      static_cast<unsigned long long>(size));

  std::printf("\n2. commit two pages, touch them\n");
  vaddr commit_at{0x50002000};
  std::uint64_t commit_size = 0x2000;
  show("MEM_COMMIT 0x50002000..0x50003fff",
       as.allocate(commit_at, commit_size, mem::commit, page::readwrite));
  const char text[] = "written by the guest";
  std::size_t done = 0;
  show("write 21 bytes at 0x50002ff0 (crosses a page)",
       as.write(vaddr{0x50002FF0}, text, sizeof text, done));
  show("read of reserved-only 0x50000000",
       as.access(vaddr{0x50000000}, mmkit::access::read));

  std::printf("\n3. protect and guard\n");
  std::uint32_t old = 0;
  vaddr pb{0x50002000};
  std::uint64_t ps = 0x1000;
  show("VirtualProtect(0x50002000, PAGE_READONLY)",
       as.protect(pb, ps, page::readonly, old));
  std::printf("  -> old protection %#x\n", old);
  show("write to the read-only page",
       as.access(vaddr{0x50002000}, mmkit::access::write));
  vaddr gb{0x50003000};
  std::uint64_t gs = 0x1000;
  show("VirtualProtect(0x50003000, PAGE_READWRITE|PAGE_GUARD)",
       as.protect(gb, gs, page::readwrite | page::guard, old));
  show("first touch of the guard page",
       as.access(vaddr{0x50003000}, mmkit::access::read));
  show("second touch", as.access(vaddr{0x50003000}, mmkit::access::read));
  char back[sizeof text] = {};
  show("read the bytes back",
       as.read(vaddr{0x50002FF0}, back, sizeof back, done));
  std::printf("  -> \"%s\"\n", back);

  std::printf("\n4. a few more allocations, one top-down\n");
  for (int i = 0; i < 3; ++i) {
    vaddr b{0};
    std::uint64_t s = 0x3000 * (i + 1);
    (void)as.allocate(b, s, mem::reserve | mem::commit, page::execute_read);
  }
  vaddr top{0};
  std::uint64_t top_size = 0x10000;
  show(
      "MEM_RESERVE|MEM_TOP_DOWN 64 KiB",
      as.allocate(top, top_size, mem::reserve | mem::top_down, page::readonly));
  std::printf("  -> base %#llx\n", static_cast<unsigned long long>(top.raw()));

  std::printf("\n5. VirtualQuery walk of 0x50000000..0x50010000\n");
  query_walk(as, 0x50000000, 0x50010000);

  std::printf("\n6. !vad\n");
  auto out = [](const char* p, std::size_t n) { std::fwrite(p, 1, n, stdout); };
  dump_vads(as.vads(), out);

  std::printf("\n7. PFN lists\n");
  const auto& pfns = sys.pfns();
  std::printf(
      "  zeroed %llu  free %llu  standby %llu  modified %llu  "
      "active %llu  (page tables %llu)\n",
      static_cast<unsigned long long>(pfns.count(page_state::zeroed)),
      static_cast<unsigned long long>(pfns.count(page_state::free)),
      static_cast<unsigned long long>(pfns.count(page_state::standby)),
      static_cast<unsigned long long>(pfns.count(page_state::modified)),
      static_cast<unsigned long long>(pfns.count(page_state::active)),
      static_cast<unsigned long long>(pfns.page_table_count()));
  const auto& f = as.faults();
  std::printf(
      "  faults: demand-zero %llu, guard %llu, access violations "
      "%llu, table pages %llu\n",
      static_cast<unsigned long long>(f.demand_zero),
      static_cast<unsigned long long>(f.guard_page),
      static_cast<unsigned long long>(f.access_violation),
      static_cast<unsigned long long>(f.table_pages));
  std::printf("  commit charge %llu of %llu pages\n",
              static_cast<unsigned long long>(sys.commit_charge()),
              static_cast<unsigned long long>(sys.commit_limit()));

  std::printf("\n8. the walker explains 0x50002ff0\n");
  const auto t = as.translate(vaddr{0x50002FF0});
  std::printf(
      "  kind %s, stopped at level %s, physical %#llx, page %llu "
      "bytes, writable %d, user %d, executable %d\n",
      entry_kind_name(t.kind), t.level_name(),
      static_cast<unsigned long long>(t.address.raw()),
      static_cast<unsigned long long>(t.page_bytes), t.writable, t.user,
      t.executable);
  return 0;
}
