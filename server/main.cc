// nib: parse the command line, build the App, run it.
#include <iostream>
#include <string>
#include <vector>

#include "server/app.h"
#include "server/config/pen_args.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto command_line = nib::PenArgs::parse(args);
  if (!command_line.ok()) {
    std::cerr << "nib: " << command_line.status().message() << "\n";
    return 2;
  }
  // Before the start, so that they reach the terminal even in Pen's background mode.
  for (const auto& warning : command_line->warnings) std::cerr << "nib: warning: " << warning << "\n";
  return nib::App(std::move(*command_line)).run();
}
