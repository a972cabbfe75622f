// nibctl: parse the command line, run the command against nib's admin API.
#include <iostream>
#include <string>
#include <vector>

#include "server/nibctl/nibctl.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return nib::nibctl::Nibctl(std::cout, std::cerr).run(args);
}
