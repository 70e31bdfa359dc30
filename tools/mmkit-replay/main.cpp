// mmkit-replay: replays a memory trace through an mmkit address space
// under a replacement policy (see replay_tool.hpp for the command line).
#include "replay_tool.hpp"

#include <csignal>
#include <cstdio>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
  // gnuplot is fed through a pipe: a write to one that has closed must
  // fail, not end the tool.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string_view> args(argv + 1, argv + argc);
  const int status = mmkit::tools::replay::run(args, stdout, stderr);
  return std::fflush(stdout) == 0 ? status : 2;
}
