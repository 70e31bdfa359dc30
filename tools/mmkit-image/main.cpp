// mmkit-image: maps a PE file as an image section and prints what
// VirtualQuery reports of the view (see image_tool.hpp for what it prints).
#include "image_tool.hpp"

#include <cstdio>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  mmkit::tools::text out, err;
  const int status = mmkit::tools::image_tool::run(args, out, err);
  std::fwrite(out.str().data(), 1, out.str().size(), stdout);
  std::fwrite(err.str().data(), 1, err.str().size(), stderr);
  return std::fflush(stdout) == 0 ? status : 2;
}
