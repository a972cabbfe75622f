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
  return nib::App(std::move(*command_line)).run();
}
