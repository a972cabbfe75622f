#pragma once
// A hostile client for the admin plane's tests: it sends one byte of `text`
// (cycling through it) every 100 ms on a thread of its own, until destroyed
// or the peer closes. The dribble is the behaviour under test, not a wait.
#include <atomic>
#include <string>
#include <thread>

#include "tests/support/test_client.h"

namespace nib::test {

class DribblingClient {
 public:
  DribblingClient(TestClient client, std::string text);
  ~DribblingClient();  // stops and joins (at most one interval)
  DribblingClient(const DribblingClient&) = delete;
  DribblingClient& operator=(const DribblingClient&) = delete;

 private:
  TestClient client_;
  const std::string text_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace nib::test
