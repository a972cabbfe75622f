#include "tests/support/dribbling_client.h"

namespace nib::test {

namespace {
constexpr auto kInterval = std::chrono::milliseconds(100);
constexpr size_t kMaxBytes = 3000;  // five minutes: longer than any test
}  // namespace

DribblingClient::DribblingClient(TestClient client, std::string text)
    : client_(std::move(client)), text_(std::move(text)) {
  thread_ = std::thread([this] {
    for (size_t i = 0; i < kMaxBytes && !stop_.load(); ++i) {
      if (!client_.write_all(std::string_view(text_).substr(i % text_.size(), 1)).ok()) return;
      std::this_thread::sleep_for(kInterval);
    }
  });
}

DribblingClient::~DribblingClient() {
  stop_ = true;
  thread_.join();
}

}  // namespace nib::test
