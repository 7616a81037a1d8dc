// Benchmark (not a test): 500 ConfigMap creates at QPS 50 / burst 100 against the dev environment.
// The token bucket predicts (500 - 100) / 50 = 8 s; prints what it took.
//
//   build-k8s/test/k8s_rate_limit_bench [count] [qps] [burst]

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "k8s/client.hpp"
#include "test/support/dev_env.hpp"
#include "test/support/wait.hpp"

using namespace dbuser::k8s;
using nlohmann::json;
using dbuser::expected;

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 500;
  client_options opts;
  opts.qps = argc > 2 ? std::atof(argv[2]) : 50;
  opts.burst = argc > 3 ? std::atoi(argv[3]) : 100;
  auto cfg = load_kubeconfig(dbuser::test::dev_env::get().kubeconfig());
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().to_string().c_str());
    return 1;
  }
  auto made = client::make(*cfg, opts);
  if (!made) {
    std::fprintf(stderr, "%s\n", made.error().to_string().c_str());
    return 1;
  }
  auto c = *made;
  const std::string ns = dbuser::test::unique_name("bench");
  auto nsr = wait_for<json>([&](callback<json> cb) {
    c->create(resource::namespaces(), "", json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}, cb);
  });
  if (!nsr) {
    std::fprintf(stderr, "%s\n", nsr.error().to_string().c_str());
    return 1;
  }
  std::mutex m;
  std::condition_variable cv;
  int done = 0, failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    json cm{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "cm-" + std::to_string(i)}}}};
    c->create(resource::config_maps(), ns, cm, [&](expected<json, error> r) {
      std::lock_guard<std::mutex> lock(m);
      ++done;
      if (!r) ++failed;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return done == count; });
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double predicted = count > opts.burst ? (count - opts.burst) / opts.qps : 0.0;
  std::printf("%d creates (%d failed) at qps %.0f burst %d: %.2f s elapsed, token bucket predicts %.2f s\n", count,
              failed, opts.qps, opts.burst, elapsed, predicted);
  return failed == 0 ? 0 : 1;
}
