// Fuzzed configurations name hosts; resolving them would send DNS queries
// off the machine (the project's tests never leave loopback) and make every
// run depend on the network. This getaddrinfo, linked into each fuzz target
// ahead of libc's, answers numeric addresses and "localhost" and refuses every
// other name as an unknown host, as a resolver would.
#include <dlfcn.h>
#include <netdb.h>

#include <cstring>

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Real = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static Real real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "getaddrinfo"));
  struct addrinfo numeric {};
  if (hints != nullptr) numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST;
  if (node != nullptr && std::strcmp(node, "localhost") == 0) node = "127.0.0.1";
  return real(node, service, &numeric, res);
}
