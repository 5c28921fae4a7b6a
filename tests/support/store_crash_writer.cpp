// vigil_store_crash_writer PATH: writes alerts into the store at PATH until killed. After
// each flush() it prints the highest alert id it knows is committed, one line, flushed, so
// tests/unit/store_crash_test.cpp can SIGKILL it at any point and then check those ids.
#include <cstdio>
#include <random>

#include "store/store.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s STORE.db\n", argv[0]);
    return 2;
  }
  vigil::store::StoreConfig config;
  config.path = argv[1];
  config.max_age = std::chrono::hours(24 * 365 * 200);  // the test's rows must all stay
  config.flush_interval = std::chrono::milliseconds(5);
  auto store = vigil::store::open_sqlite_store(config);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 1;
  }
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> burst(1, 400);
  for (std::int64_t n = 0;; ++n) {
    const int rows = burst(random);
    for (int i = 0; i < rows; ++i) {
      vigil::store::AlertRecord alert;
      alert.time_ns = 1'700'000'000'000'000'000 + n;
      alert.rule = "crash writer";
      alert.output = "burst " + std::to_string(n) + " row " + std::to_string(i);
      alert.json = R"({"padding":")" + std::string(200, 'p') + "\"}";
      (void)(*store)->add_alert(std::move(alert));
    }
    if (!(*store)->flush(std::chrono::seconds(10))) continue;
    vigil::store::AlertQuery newest;
    newest.paging.limit = 1;
    auto page = (*store)->alerts(newest);
    if (!page || page->items.empty()) continue;
    std::printf("%lld\n", static_cast<long long>(page->items.front().id));
    std::fflush(stdout);
  }
}
