// Seed 001's notepad, rebuilt: the address space of a 32-bit Windows XP
// notepad.exe (private memory, page-file sections, the .nls data files,
// the exe and the 27 DLLs it loads as image sections) made with the NT
// calls on a simulated x86_32 machine, and its `!vad` listing printed in
// the debugger's columns.
// examples/notepad_seed.hpp holds the rows and the calls behind each kind;
// tests/examples/notepad_test.cpp checks the listing against the seed.
//
//   mmkit_notepad_vad
#include "notepad_seed.hpp"

#include <cstdio>

int main() {
  notepad::process p;
  if (const notepad::failure f = p.build(); f) {
    std::fprintf(stderr, "row %x-%x: %s failed: %s\n", f.row->start, f.row->end,
                 f.call, mmkit::to_string(f.why));
    return 1;
  }
  std::printf("kd> !vad (notepad.exe, x86_32)\n");
  const std::string dump = p.vad_dump();
  std::fwrite(dump.data(), 1, dump.size(), stdout);
  std::printf(
      "commit charged to the process: %llu pages\n",
      static_cast<unsigned long long>(p.address_space().commit_charge()));
  return p.address_space().check_invariants() ? 0 : 1;
}
