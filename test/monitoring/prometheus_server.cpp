#include "test/monitoring/prometheus_server.hpp"

#include "test/e2e/support/process.hpp"
#include "test/observability/http_get.hpp"
#include "test/support/wait.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace dbuser::test::monitoring {

namespace fs = std::filesystem;
using namespace std::chrono;

std::string url_encode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

prometheus_server::prometheus_server(const std::string& config) {
  std::string tmpl = (fs::temp_directory_path() / "dbuser-prometheus-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  log_ = dir_ + "/prometheus.log";
  std::ofstream(dir_ + "/prometheus.yml") << config;
  address_ = "127.0.0.1:" + std::to_string(e2e::free_tcp_port());
  const std::vector<std::string> args{"prometheus",
                                      "--config.file=" + dir_ + "/prometheus.yml",
                                      "--storage.tsdb.path=" + dir_ + "/data",
                                      "--web.listen-address=" + address_,
                                      "--storage.tsdb.retention.time=1h",
                                      "--log.level=warn"};
  const int log_fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("cannot open " + log_);
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    std::vector<char*> argv;
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::perror("exec prometheus");
    ::_exit(127);
  }
  ::close(log_fd);
  const bool ready = wait_until(
    [&] { return !running() || http_get(address_, "/-/ready").status == 200; }, seconds(60),
    milliseconds(100));
  if (!ready || !running()) {
    std::ifstream in(log_);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    throw std::runtime_error("prometheus did not become ready: " + e2e::tail_lines(text, 20));
  }
}

bool prometheus_server::running() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

prometheus_server::~prometheus_server() {
  if (running()) {
    ::kill(pid_, SIGTERM);
    const bool ended = wait_until([&] { return !running(); }, seconds(10), milliseconds(50));
    if (!ended && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

nlohmann::json prometheus_server::api(const std::string& path_and_query) const {
  auto r = http_get(address_, "/api/v1/" + path_and_query);
  if (r.status == 0)
    return nullptr;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

nlohmann::json prometheus_server::query(const std::string& promql) const {
  return api("query?query=" + url_encode(promql));
}

} // namespace dbuser::test::monitoring
