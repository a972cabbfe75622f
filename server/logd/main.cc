// nib-logd: parse the command line, merge the logs.
#include <iostream>
#include <string>
#include <vector>

#include "server/logd/nib_logd.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return nib::logd::run(args, std::cout, std::cerr);
}
