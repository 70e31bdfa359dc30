// x86-64 guest code run by unicorn with every guest byte in mmkit: the glue
// an emulator writes to put mmkit's memory manager under its CPU, and a test
// that the glue keeps the two coherent (ctest: example.unicorn_guest).
//
//   unicorn (the CPU)                        mmkit (the memory manager)
//   access to a page unicorn lacks  ───────► host_page_of(va, access): the
//   (UC_HOOK_MEM_*_UNMAPPED, *_PROT)         walk, then MmAccessFault's work
//   uc_mem_map_ptr(page, frame)     ◄─────── the frame's host address
//   `syscall` (UC_HOOK_INSN)        ───────► allocate / protect / free
//   uc_mem_unmap(page)              ◄─────── the change sink: pages whose
//                                            host pointer went stale
//
// Coherence: unicorn maps a page only for the accesses mmkit granted, on
// the frame mmkit handed out (a read maps it readable; a later write is a
// *_PROT fault that asks mmkit again, which sets D). Whatever takes a page
// away (free, protect, a guard, a working-set trim, copy-on-write) reaches
// the sink as a range event; the sink runs inside an mmkit call, so it only
// notes the range. Unicorn's map grows inside hooks but shrinks only between
// uc_emu_start calls: unmapping the region a memory hook is checking
// crashed unicorn 2.0.1, so a hook whose mmkit call took mapped pages away
// stops emulation (the syscall hook too, for one rule), and the run loop
// unmaps them and resumes. Resuming needs RIP at the faulting instruction,
// which unicorn 2.0.1 keeps exact only while a UC_HOOK_CODE hook is
// installed (else RIP is where the translation block began), hence an
// empty one.
//
// Exceptions: a fault mmkit refuses stops emulation with an exception
// record (status, RIP, read/write/execute, address), as KiDispatchException
// builds one. The host plays the guest's handler: a guard page violation is
// continued (the guard is gone, so the retried access proceeds); anything
// else is unhandled and ends the run with its status.
//
// The guest, hand-assembled below, runs twice on a stack in mmkit:
//   run 1: NtAllocateVirtualMemory 64 KiB, fill it (demand-zero faults, and
//          trims: the working set is capped at 8 pages), NtProtectVirtualMemory
//          one page PAGE_READONLY, write to it: STATUS_ACCESS_VIOLATION;
//   run 2: one page PAGE_READWRITE|PAGE_GUARD, read it (the guard fires
//          once), write it, NtFreeVirtualMemory, read the freed region:
//          STATUS_ACCESS_VIOLATION, as unicorn's mapping went with the free.
// The exit code is 0 only when every status, exception and byte is right.
#include <mmkit/mmkit.hpp>

#include <unicorn/unicorn.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <vector>

namespace {

using namespace mmkit;

// --- the guest --------------------------------------------------------------

// The system call convention (the example's own, close to NT's): rax is the
// service number (Windows 10/11 x64's), r10, rdx, r8, r9 the first four
// arguments; in/out values travel in registers rather than through pointers.
//   0x18 NtAllocateVirtualMemory  r10 base, rdx size, r8 type, r9 protect
//   0x50 NtProtectVirtualMemory   r10 base, rdx size, r8 new protection
//   0x1E NtFreeVirtualMemory      r10 base, rdx size, r8 free type
// Out: rax the NTSTATUS, r10 and rdx the base and size as the call rounded
// them, r8 the old protection (NtProtectVirtualMemory).
constexpr std::uint64_t nt_allocate = 0x18, nt_protect = 0x50, nt_free = 0x1E;

// The guest's code: bytes, offset, instruction (the columns are kept by
// hand, which clang-format would undo). Each run would end at its `hlt`;
// each ends in an access violation first.
// clang-format off
constexpr std::uint8_t guest_code[] = {
  // run 1: NtAllocateVirtualMemory(0, 64 KiB, MEM_COMMIT|MEM_RESERVE,
  //        PAGE_READWRITE), and rbx = the region
  0x45, 0x31, 0xD2,                         // 00 xor r10d, r10d
  0xBA, 0x00, 0x00, 0x01, 0x00,             // 03 mov edx, 0x10000
  0x41, 0xB8, 0x00, 0x30, 0x00, 0x00,       // 08 mov r8d, 0x3000
  0x41, 0xB9, 0x04, 0x00, 0x00, 0x00,       // 0e mov r9d, 4
  0xB8, 0x18, 0x00, 0x00, 0x00,             // 14 mov eax, 0x18
  0x0F, 0x05,                               // 19 syscall
  0x4C, 0x89, 0xD3,                         // 1b mov rbx, r10
  // each qword of the region gets its own address (demand-zero faults)
  0x48, 0x89, 0xDF,                         // 1e mov rdi, rbx
  0x48, 0x8D, 0xB3, 0x00, 0x00, 0x01, 0x00, // 21 lea rsi, [rbx+0x10000]
  0x48, 0x89, 0x3F,                         // 28 mov [rdi], rdi
  0x48, 0x83, 0xC7, 0x08,                   // 2b add rdi, 8
  0x48, 0x39, 0xF7,                         // 2f cmp rdi, rsi
  0x75, 0xF4,                               // 32 jne 28
  // NtProtectVirtualMemory(region + 0x3000, 4 KiB, PAGE_READONLY)
  0x4C, 0x8D, 0x93, 0x00, 0x30, 0x00, 0x00, // 34 lea r10, [rbx+0x3000]
  0xBA, 0x00, 0x10, 0x00, 0x00,             // 3b mov edx, 0x1000
  0x41, 0xB8, 0x02, 0x00, 0x00, 0x00,       // 40 mov r8d, 2
  0xB8, 0x50, 0x00, 0x00, 0x00,             // 46 mov eax, 0x50
  0x0F, 0x05,                               // 4b syscall
  // push the region (the stack's first touch), then write to the read-only
  // page: STATUS_ACCESS_VIOLATION. The push makes the write the second
  // instruction of its translation block, so the exception's RIP is exact
  // only if the glue keeps it so.
  0x53,                                     // 4d push rbx
  0x48, 0xC7, 0x83, 0x00, 0x30, 0x00, 0x00, // 4e mov qword [rbx+0x3000], -1
  0xFF, 0xFF, 0xFF, 0xFF,
  0xF4,                                     // 59 hlt
  // run 2 (rcx = the region, as a thread's start parameter):
  // NtProtectVirtualMemory(region + 0x5000, 4 KiB, PAGE_READWRITE|PAGE_GUARD)
  0x48, 0x89, 0xCB,                         // 5a mov rbx, rcx
  0x4C, 0x8D, 0x93, 0x00, 0x50, 0x00, 0x00, // 5d lea r10, [rbx+0x5000]
  0xBA, 0x00, 0x10, 0x00, 0x00,             // 64 mov edx, 0x1000
  0x41, 0xB8, 0x04, 0x01, 0x00, 0x00,       // 69 mov r8d, 0x104
  0xB8, 0x50, 0x00, 0x00, 0x00,             // 6f mov eax, 0x50
  0x0F, 0x05,                               // 74 syscall
  // push the region, read the guard page (STATUS_GUARD_PAGE_VIOLATION
  // once; resumed anywhere but here, the push would happen twice), push
  // what the retried read saw, write the page
  0x53,                                     // 76 push rbx
  0x48, 0x8B, 0x83, 0x00, 0x50, 0x00, 0x00, // 77 mov rax, [rbx+0x5000]
  0x50,                                     // 7e push rax
  0x48, 0x89, 0x83, 0x08, 0x50, 0x00, 0x00, // 7f mov [rbx+0x5008], rax
  // NtFreeVirtualMemory(region, 0, MEM_RELEASE)
  0x49, 0x89, 0xDA,                         // 86 mov r10, rbx
  0x31, 0xD2,                               // 89 xor edx, edx
  0x41, 0xB8, 0x00, 0x80, 0x00, 0x00,       // 8b mov r8d, 0x8000
  0xB8, 0x1E, 0x00, 0x00, 0x00,             // 91 mov eax, 0x1e
  0x0F, 0x05,                               // 96 syscall
  // a read of the freed region: STATUS_ACCESS_VIOLATION
  0x48, 0x8B, 0x03,                         // 98 mov rax, [rbx]
  0xF4,                                     // 9b hlt
};
// clang-format on
constexpr std::uint64_t run1_entry = 0x00, run1_end = 0x59, ro_write = 0x4E;
constexpr std::uint64_t run2_entry = 0x5A, run2_end = 0x9B, guard_read = 0x77,
                        freed_read = 0x98;

// --- mmkit's side: a change sink, and the address space it listens to -------

/// Notes the pages whose host pointers went stale. It runs inside mmkit
/// calls, so it may not call the address space, and leaves unicorn alone
/// (see the header comment).
struct unicorn_sink {
  std::vector<vpn_range>* stale = nullptr;
  void range_changed(vpn_range r, emu::change_kind k) noexcept {
    if (!emu::keeps_pointers(k)) stale->push_back(r);
  }
};
static_assert(emu::RangeSink<unicorn_sink>);

struct guest_config : hosted_config<> {
  using observer = emu::change_batcher<unicorn_sink>;
};
using space = address_space<arch::x86_64, guest_config>;

// --- the glue ---------------------------------------------------------------

using ull = unsigned long long;  // for printf

std::uint64_t reg(uc_engine* uc, int id) {
  std::uint64_t v = 0;
  uc_reg_read(uc, id, &v);
  return v;
}
void set_reg(uc_engine* uc, int id, std::uint64_t v) {
  uc_reg_write(uc, id, &v);
}

/// What a system call did, as the guest saw it.
struct syscall_record {
  std::uint64_t service = 0;
  status result = status::success;
  std::uint64_t base = 0, size = 0;
  std::uint32_t old_protect = 0;
  friend bool operator==(const syscall_record&,
                         const syscall_record&) = default;
};

/// EXCEPTION_RECORD's fields: ExceptionCode, ExceptionAddress and
/// ExceptionInformation[0..1] (the access, the address).
struct exception_record {
  status code = status::success;
  std::uint64_t rip = 0;
  mmkit::access kind = mmkit::access::read;
  std::uint64_t address = 0;
  friend bool operator==(const exception_record&,
                         const exception_record&) = default;
};

/// Unicorn's protections for an access mmkit granted (a valid x86 page is
/// readable, so R comes with each).
std::uint32_t uc_prot_of(mmkit::access a) {
  return a == mmkit::access::write     ? UC_PROT_READ | UC_PROT_WRITE
         : a == mmkit::access::execute ? UC_PROT_READ | UC_PROT_EXEC
                                       : UC_PROT_READ;
}

/// Unicorn's memory map kept as a cache of mmkit's page tables: one 4 KiB
/// region per guest page, on the frame mmkit handed out.
class unicorn_mmu {
 public:
  unicorn_mmu(uc_engine* uc, space& as, std::vector<vpn_range>& stale)
      : uc_(uc), as_(as), stale_(stale) {
    uc_hook h;
    hooked =
        uc_hook_add(uc_, &h, UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT,
                    reinterpret_cast<void*>(&on_fault), this, 1,
                    0) == UC_ERR_OK &&
        uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&on_syscall),
                    this, 1, 0, UC_X86_INS_SYSCALL) == UC_ERR_OK &&
        uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&exact_rip),
                    this, 1, 0) == UC_ERR_OK;
  }

  /// Runs the guest from `entry` to `end` with `rsp` and `rcx`, resuming
  /// after each stop the glue asked for and each continued exception.
  /// Returns: success at `end`, an unhandled exception's status, or
  /// unsuccessful when unicorn failed.
  status run(std::uint64_t entry, std::uint64_t end, std::uint64_t rsp,
             std::uint64_t rcx) {
    set_reg(uc_, UC_X86_REG_RSP, rsp);
    set_reg(uc_, UC_X86_REG_RCX, rcx);
    std::uint64_t pc = entry;
    for (int starts = 0; starts < 10000; ++starts) {
      unmap_stale();  // unicorn's map shrinks only here
      stop_ = stop::none;
      const uc_err e = uc_emu_start(uc_, pc, end, 0, 0);
      pc = reg(uc_, UC_X86_REG_RIP);
      if (stop_ == stop::resync) {
        ++resyncs;
        continue;
      }
      if (stop_ != stop::exception)
        return e == UC_ERR_OK && pc == end ? status::success
                                           : status::unsuccessful;
      // The dispatcher: the guest's handler continues a guard page
      // violation (EXCEPTION_CONTINUE_EXECUTION); the rest is unhandled.
      const exception_record& x = exceptions.back();
      const bool resume = x.code == status::guard_page_violation;
      std::printf("  exception %s at rip %#llx (%s %#llx): %s\n",
                  to_string(x.code), ull(x.rip),
                  x.kind == mmkit::access::write     ? "write"
                  : x.kind == mmkit::access::execute ? "execute"
                                                     : "read",
                  ull(x.address), resume ? "continued" : "unhandled");
      if (!resume) return x.code;
    }
    return status::unsuccessful;
  }

  /// Effects: the pages the sink noted leave unicorn's map.
  void unmap_stale() {
    for (const vpn_range r : stale_) {
      const auto first = mapped_.lower_bound(r.first.address().raw());
      const auto last = mapped_.upper_bound(r.last.address().raw());
      for (auto it = first; it != last; ++it, ++unmaps)
        uc_mem_unmap(uc_, it->first, page_size);
      mapped_.erase(first, last);
    }
    stale_.clear();
  }

  /// Whether unicorn's map agrees with mmkit's page tables: it maps the
  /// pages in mapped_ and no others, each on the frame its PTE names, and
  /// grants nothing the PTE does not (a page unicorn may write is dirty).
  bool coherent() {
    unmap_stale();
    uc_mem_region* regions = nullptr;
    std::uint32_t count = 0;
    if (uc_mem_regions(uc_, &regions, &count) != UC_ERR_OK) return false;
    bool ok = count == mapped_.size();
    for (std::uint32_t i = 0; i < count; ++i)
      ok = ok && regions[i].end - regions[i].begin + 1 == page_size &&
           mapped_.count(regions[i].begin) == 1;
    uc_free(regions);
    for (const auto& [va, m] : mapped_) {
      const auto t = as_.translate(vaddr{va});
      ok = ok && t.ok() &&
           as_.owner().memory().frame(t.address.frame()) == m.host &&
           (!(m.prot & UC_PROT_WRITE) || (t.writable && t.dirty)) &&
           (!(m.prot & UC_PROT_EXEC) || t.executable);
    }
    return ok;
  }
  /// Whether unicorn maps a page of [from, to).
  bool maps_any(std::uint64_t from, std::uint64_t to) const {
    return mapped_.lower_bound(from) != mapped_.lower_bound(to);
  }

  bool hooked = false;
  std::vector<syscall_record> syscalls;
  std::vector<exception_record> exceptions;
  std::uint64_t maps = 0, widenings = 0, unmaps = 0, resyncs = 0;

 private:
  enum class stop { none, resync, exception };
  struct mapping {
    std::byte* host;
    std::uint32_t prot;
  };

  /// Whether the sink noted a page unicorn maps.
  bool must_resync() const {
    for (const vpn_range r : stale_)
      if (maps_any(r.first.address().raw(), (r.last + 1).address().raw()))
        return true;
    return false;
  }

  /// UC_HOOK_MEM_*_UNMAPPED and *_PROT: the guest touched a page unicorn
  /// does not map for this access (either page of one that straddles two).
  static bool on_fault(uc_engine*, uc_mem_type type, std::uint64_t address,
                       int size, std::int64_t, void* self) {
    auto& m = *static_cast<unicorn_mmu*>(self);
    const mmkit::access kind =
        type == UC_MEM_WRITE_UNMAPPED || type == UC_MEM_WRITE_PROT
            ? mmkit::access::write
        : type == UC_MEM_FETCH_UNMAPPED || type == UC_MEM_FETCH_PROT
            ? mmkit::access::execute
            : mmkit::access::read;
    const std::uint64_t last = address + static_cast<std::uint64_t>(size) - 1;
    for (std::uint64_t page = address & ~(page_size - 1); page <= last;
         page += page_size)
      if (!m.resolve(vaddr{page}, kind, page < address ? address : page))
        return false;
    return true;  // unicorn retries the access
  }

  /// Effects: `page` is mapped in unicorn for `kind` once mmkit resolved
  /// the fault; or emulation stops, for an exception or for pages to unmap
  /// first. Returns: whether unicorn may retry the access.
  bool resolve(vaddr page, mmkit::access kind, std::uint64_t address) {
    const std::uint32_t want = uc_prot_of(kind);
    const auto it = mapped_.find(page.raw());
    if (it != mapped_.end() && (it->second.prot & want) == want) return true;
    const result<host_page> hp = as_.host_page_of(page, kind);
    if (!hp.ok()) {
      exceptions.push_back(
          {hp.error(), reg(uc_, UC_X86_REG_RIP), kind, address});
      stop_ = stop::exception;
      return false;
    }
    if (must_resync()) {  // the fault took pages away (a trim, a copy)
      stop_ = stop::resync;
      return false;
    }
    if (it == mapped_.end()) {
      if (uc_mem_map_ptr(uc_, page.raw(), page_size, want, hp->pointer) !=
          UC_ERR_OK)
        return false;
      ++maps;
      mapped_.emplace(page.raw(), mapping{hp->pointer, want});
      return true;
    }
    // A *_PROT fault: the frame is the same (a new one would have been
    // reported as remapped) and now serves this access too. Unicorn allows
    // widening a region inside a hook.
    ++widenings;
    it->second.prot |= want;
    return it->second.host == hp->pointer &&
           uc_mem_protect(uc_, page.raw(), page_size, it->second.prot) ==
               UC_ERR_OK;
  }

  /// UC_HOOK_INSN for `syscall`: the NT call, its results in registers.
  static void on_syscall(uc_engine* uc, void* self) {
    auto& m = *static_cast<unicorn_mmu*>(self);
    const std::uint64_t service = reg(uc, UC_X86_REG_RAX),
                        r8 = reg(uc, UC_X86_REG_R8);
    const auto arg = static_cast<std::uint32_t>(r8);
    vaddr base{reg(uc, UC_X86_REG_R10)};
    std::uint64_t size = reg(uc, UC_X86_REG_RDX);
    std::printf("  %s(%#llx, %#llx, %#llx) = ",
                service == nt_allocate  ? "NtAllocateVirtualMemory"
                : service == nt_protect ? "NtProtectVirtualMemory"
                : service == nt_free    ? "NtFreeVirtualMemory"
                                        : "?",
                ull(base.raw()), ull(size), ull(r8));
    std::uint32_t old = 0;
    status s = static_cast<status>(0xC000001C);  // INVALID_SYSTEM_SERVICE
    if (service == nt_allocate)
      s = m.as_.allocate(base, size, arg,
                         static_cast<std::uint32_t>(reg(uc, UC_X86_REG_R9)));
    else if (service == nt_protect)
      s = m.as_.protect(base, size, arg, old);
    else if (service == nt_free)
      s = m.as_.free(base, size, arg);
    std::printf("%s: %#llx, %#llx\n", to_string(s), ull(base.raw()), ull(size));
    m.syscalls.push_back({service, s, base.raw(), size, old});
    set_reg(uc, UC_X86_REG_RAX, static_cast<std::uint32_t>(s));
    set_reg(uc, UC_X86_REG_R10, base.raw());
    set_reg(uc, UC_X86_REG_RDX, size);
    if (service == nt_protect) set_reg(uc, UC_X86_REG_R8, old);
    // Stopped here, emulation resumes after `syscall` once the run loop
    // has unmapped what the call took away.
    if (m.must_resync()) {
      m.stop_ = stop::resync;
      uc_emu_stop(uc);
    }
  }

  /// UC_HOOK_CODE: nothing to do; its presence keeps RIP exact.
  static void exact_rip(uc_engine*, std::uint64_t, std::uint32_t, void*) {}

  uc_engine* uc_;
  space& as_;
  std::vector<vpn_range>& stale_;
  std::map<std::uint64_t, mapping> mapped_;  // guest page -> its mapping
  stop stop_ = stop::none;
};

// --- the checks -------------------------------------------------------------

int failures = 0;
void check(bool ok, const char* what) {
  std::printf("  %-4s %s\n", ok ? "ok" : "FAIL", what);
  failures += ok ? 0 : 1;
}

std::uint64_t read_u64(space& as, std::uint64_t va) {
  std::uint64_t v = 0;
  std::size_t done = 0;
  return as.read(vaddr{va}, &v, sizeof v, done) == status::success ? v : ~v;
}

}  // namespace

int main() {
  // 16 MiB of simulated RAM in host memory, for guest_config's spaces.
  basic_hosted_system<guest_config> sys{std::uint64_t{16} << 20};
  std::vector<vpn_range> stale;
  space as{sys, {}, emu::change_batcher<unicorn_sink>{unicorn_sink{&stale}}};

  // The code goes in while its page is PAGE_READWRITE, then becomes
  // PAGE_EXECUTE_READ; the stack is 16 committed pages; the working set is
  // capped at 8 pages, so that faults trim pages unicorn has mapped.
  vaddr code{0}, stack{0};
  std::uint64_t code_size = page_size, stack_size = 16 * page_size;
  std::uint32_t old = 0;
  std::size_t done = 0;
  if (as.allocate(code, code_size, mem::commit | mem::reserve,
                  page::readwrite) != status::success ||
      as.write(code, guest_code, sizeof guest_code, done) != status::success ||
      as.protect(code, code_size, page::execute_read, old) != status::success ||
      as.allocate(stack, stack_size, mem::commit | mem::reserve,
                  page::readwrite) != status::success ||
      as.set_working_set_limits(4, 8) != status::success)
    return 1;
  const std::uint64_t c = code.raw(), top = stack.raw() + stack_size;
  std::printf("code at %#llx (PAGE_EXECUTE_READ), stack below %#llx\n", ull(c),
              ull(top));

  uc_engine* uc = nullptr;
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) return 1;
  unicorn_mmu mmu{uc, as, stale};
  if (!mmu.hooked) return 1;

  std::printf("\nrun 1: allocate, fill, protect a page read-only, write it\n");
  const status r1 = mmu.run(c + run1_entry, c + run1_end, top, 0);
  const std::uint64_t b = mmu.syscalls.empty() ? 0 : mmu.syscalls[0].base;
  check(r1 == status::access_violation, "run 1 ends in an access violation");
  check(b != 0 && b % 0x10000 == 0 &&
            mmu.syscalls ==
                std::vector<syscall_record>{
                    {nt_allocate, status::success, b, 0x10000, 0},
                    {nt_protect, status::success, b + 0x3000, 0x1000,
                     page::readwrite}},
        "both calls succeed: a 64 KiB region, PAGE_READWRITE before");
  check(
      mmu.exceptions ==
          std::vector<exception_record>{{status::access_violation, c + ro_write,
                                         mmkit::access::write, b + 0x3000}},
      "the write to the read-only page raised it, at its instruction");
  bool pattern = true;
  for (std::uint64_t va = b; va < b + 0x10000; va += 8)
    pattern = pattern && read_u64(as, va) == va;
  check(pattern, "every qword holds its address (the read-only one too)");
  memory_basic_information info;
  check(as.query(vaddr{b + 0x3000}, info) == status::success &&
            info.protect == page::readonly && info.region_size == 0x1000,
        "VirtualQuery: that page is PAGE_READONLY");
  check(read_u64(as, top - 8) == b, "the stack holds the pushed base");
  check(mmu.resyncs > 0 && as.faults().soft > 0,
        "trims took pages from unicorn, and soft faults brought them back");
  check(mmu.coherent(), "unicorn maps only valid pages, on mmkit's frames");

  std::printf("\nrun 2: a guard page, then free the region and read it\n");
  const status r2 = mmu.run(c + run2_entry, c + run2_end, top, b);
  check(r2 == status::access_violation, "run 2 ends in an access violation");
  check(mmu.syscalls.size() == 4 &&
            mmu.syscalls[2] == syscall_record{nt_protect, status::success,
                                              b + 0x5000, 0x1000,
                                              page::readwrite} &&
            mmu.syscalls[3] ==
                syscall_record{nt_free, status::success, b, 0x10000, 0},
        "the guard protect and the free succeed");
  check(mmu.exceptions.size() == 3 &&
            mmu.exceptions[1] ==
                exception_record{status::guard_page_violation, c + guard_read,
                                 mmkit::access::read, b + 0x5000} &&
            mmu.exceptions[2] == exception_record{status::access_violation,
                                                  c + freed_read,
                                                  mmkit::access::read, b},
        "one guard page violation, then the freed read's access violation");
  check(read_u64(as, top - 8) == b && read_u64(as, top - 16) == b + 0x5000,
        "one push before the guarded read, and the retried read's bytes");
  check(as.faults().guard_page == 1 && as.faults().access_violation == 2,
        "mmkit counted one guard page and two access violations");
  check(as.query(vaddr{b}, info) == status::success && info.state == mem::free,
        "VirtualQuery: the region is free");
  check(!mmu.maps_any(b, b + 0x10000) && mmu.coherent(),
        "unicorn maps nothing of it, and agrees with mmkit");

  const fault_counts f = as.faults();
  std::printf(
      "\nunicorn: %llu pages mapped, %llu widened, %llu unmapped, %llu "
      "resyncs\nmmkit faults: demand-zero %llu, soft %llu, guard %llu, "
      "access violations %llu\n%s\n",
      ull(mmu.maps), ull(mmu.widenings), ull(mmu.unmaps), ull(mmu.resyncs),
      ull(f.demand_zero), ull(f.soft), ull(f.guard_page),
      ull(f.access_violation), failures == 0 ? "all as expected" : "FAILED");
  uc_close(uc);
  return failures == 0 ? 0 : 1;
}
