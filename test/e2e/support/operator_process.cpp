#include "test/e2e/support/operator_process.hpp"

#include "test/support/wait.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "test/e2e/support/process.hpp"

namespace dbuser::test::e2e {

using namespace std::chrono;

std::string operator_binary() {
  return DBUSER_OPERATOR_BINARY;
}

operator_process::operator_process(operator_options opts) : opts_(std::move(opts)) {
  if (opts_.log_file.empty()) {
    const std::string dir = std::string(DBUSER_BINARY_DIR) + "/test/e2e-logs";
    std::filesystem::create_directories(dir);
    opts_.log_file = dir + "/" + unique_name("operator") + ".log";
  }
  if (opts_.listen.empty())
    opts_.listen = "127.0.0.1:" + std::to_string(free_tcp_port());
}

operator_process::~operator_process() {
  try {
    if (running())
      stop();
  } catch (...) { // NOLINT(bugprone-empty-catch): a destructor must not throw
  }
}

std::vector<std::string> operator_process::argv() const {
  std::vector<std::string> a{opts_.binary,    "--log-format",    opts_.log_format,
                             "--log-level",   opts_.log_level,   "--resync-period",
                             opts_.resync_period, "--listen",    opts_.listen};
  if (!opts_.kubeconfig.empty())
    a.insert(a.end(), {"--kubeconfig", opts_.kubeconfig});
  if (!opts_.ns.empty())
    a.insert(a.end(), {"--namespace", opts_.ns});
  if (opts_.fault_injection)
    a.emplace_back("--enable-fault-injection");
  if (opts_.leader_elect)
    a.emplace_back("--leader-elect");
  a.insert(a.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  return a;
}

void operator_process::start() {
  if (running())
    throw std::logic_error("operator already running as pid " + std::to_string(pid_));
  const auto args = argv();
  std::vector<char*> cargs;
  for (const auto& s : args)
    cargs.push_back(const_cast<char*>(s.c_str()));
  cargs.push_back(nullptr);
  int log_fd = ::open(opts_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("cannot open " + opts_.log_file);
  const pid_t test_pid = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    // A test that crashes (a fatal signal, an abort) takes its operator with it: no operator is
    // left running against the shared environment. (Operators are started from the test's main
    // thread, whose end this follows.)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != test_pid)
      ::_exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // A clean signal state: the operator blocks and sigwaits SIGTERM/SIGINT itself.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [k, v] : opts_.env)
      ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(cargs[0], cargs.data());
    std::fprintf(stderr, "exec %s failed: errno %d\n", cargs[0], errno);
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
  ++starts_;
  last_exit_.reset();
}

bool operator_process::reap(bool block) {
  if (pid_ <= 0)
    return true;
  int st = 0;
  pid_t r = 0;
  do {
    r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0)
    return false;
  process_exit e;
  if (r == pid_) {
    e.signaled = WIFSIGNALED(st);
    e.signal = e.signaled ? WTERMSIG(st) : 0;
    e.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  if (stop_requested_ != steady_clock::time_point{})
    e.took = duration_cast<milliseconds>(steady_clock::now() - stop_requested_);
  last_exit_ = e;
  stop_requested_ = {};
  pid_ = -1;
  return true;
}

bool operator_process::running() {
  return pid_ > 0 && !reap(false);
}

process_exit operator_process::stop(milliseconds grace) {
  if (!running())
    return last_exit_.value_or(process_exit{});
  stop_requested_ = steady_clock::now();
  ::kill(pid_, SIGTERM);
  if (!wait_until([this] { return !running(); }, grace, milliseconds(20))) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  return last_exit_.value_or(process_exit{});
}

process_exit operator_process::kill() {
  if (!running())
    return last_exit_.value_or(process_exit{});
  stop_requested_ = steady_clock::now();
  ::kill(pid_, SIGKILL);
  reap(true);
  return last_exit_.value_or(process_exit{});
}

void operator_process::restart(milliseconds grace) {
  stop(grace);
  start();
}

std::optional<process_exit> operator_process::wait_exit(milliseconds deadline) {
  if (wait_until([this] { return !running(); }, deadline, milliseconds(20)))
    return last_exit_;
  return std::nullopt;
}

std::string operator_process::log() const {
  std::ifstream in(opts_.log_file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> operator_process::log_lines_with(
    const std::vector<std::string>& needles) const {
  std::vector<std::string> found;
  std::istringstream in(log());
  std::string line;
  while (std::getline(in, line)) {
    bool all = true;
    for (const auto& n : needles)
      all = all && line.find(n) != std::string::npos;
    if (all)
      found.push_back(line);
  }
  return found;
}

std::vector<std::string> operator_process::log_lines_about(const std::string& ns,
                                                          const std::string& name,
                                                          std::vector<std::string> needles) const {
  if (opts_.log_format == "json") {
    needles.push_back("\"namespace\":\"" + ns + "\"");
    needles.push_back("\"name\":\"" + name + "\"");
  } else {
    needles.push_back(ns + "/" + name + ": ");
  }
  return log_lines_with(needles);
}

bool operator_process::wait_for_log(const std::vector<std::string>& needles,
                                    milliseconds deadline) const {
  return wait_until([&] { return !log_lines_with(needles).empty(); }, deadline,
                    milliseconds(100));
}

std::vector<std::string> non_json_lines(const std::string& log) {
  std::vector<std::string> bad;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("msg") || !j.contains("level")
        || !j.contains("time"))
      bad.push_back(line);
  }
  return bad;
}

} // namespace dbuser::test::e2e
