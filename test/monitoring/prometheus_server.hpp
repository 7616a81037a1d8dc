#pragma once

// A real Prometheus (Debian's package, never its system service) as a child process of a test:
// its own config, storage in a temporary directory, a free port on 127.0.0.1; stopped and
// cleaned up when the object goes away. Queries go through its HTTP API.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/types.h>

namespace dbuser::test::monitoring {

class prometheus_server {
public:
  // `config` is the prometheus.yml text. Throws when it cannot start.
  explicit prometheus_server(const std::string& config);
  ~prometheus_server();
  prometheus_server(const prometheus_server&) = delete;
  prometheus_server& operator=(const prometheus_server&) = delete;

  [[nodiscard]] const std::string& address() const { return address_; } // "127.0.0.1:port"
  [[nodiscard]] const std::string& log_path() const { return log_; }
  [[nodiscard]] bool running();
  // GET /api/v1/<path> and its parsed JSON (null when it did not answer or not as JSON).
  [[nodiscard]] nlohmann::json api(const std::string& path_and_query) const;
  // An instant query; the API's whole answer ({"status": ..., "data": {"result": [...]}}).
  [[nodiscard]] nlohmann::json query(const std::string& promql) const;

private:
  std::string dir_, log_, address_;
  pid_t pid_ = -1;
};

[[nodiscard]] std::string url_encode(const std::string& s);

} // namespace dbuser::test::monitoring
