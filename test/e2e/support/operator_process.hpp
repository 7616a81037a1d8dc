#pragma once

// The real dbuser-operator binary as a child process of a test: flags, environment, its output
// (stdout and stderr) appended to a log file, SIGTERM/SIGKILL and restart. Several instances may
// run side by side (each gets its own --listen port and log file).

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace dbuser::test::e2e {

// The operator binary this test suite was built with (compile definition from CMake).
std::string operator_binary();

struct operator_options {
  std::string binary = operator_binary();
  std::string kubeconfig;
  std::string ns;                  // --namespace (empty: all namespaces)
  std::string log_file;            // where stdout+stderr go (appended); empty: a unique file
  std::string log_format = "json"; // --log-format
  std::string log_level = "debug"; // --log-level
  std::string resync_period = "5s";
  std::string listen;              // --listen; empty: 127.0.0.1:<a free port>
  bool fault_injection = false;    // --enable-fault-injection
  bool leader_elect = false;       // --leader-elect
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> env; // added to the test's environment
};

// How the process ended.
struct process_exit {
  bool signaled = false; // killed by a signal (then `signal`), else exited with `code`
  int code = 0;
  int signal = 0;
  std::chrono::milliseconds took{0}; // from the stop request to the end (0 if it ended by itself)
};

class operator_process {
public:
  explicit operator_process(operator_options opts);
  ~operator_process(); // stops a running process (SIGTERM, SIGKILL after 10 s)
  operator_process(const operator_process&) = delete;
  operator_process& operator=(const operator_process&) = delete;

  void start();                     // throws when already running or when exec fails
  [[nodiscard]] bool running();     // reaps the child when it has ended
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] int starts() const { return starts_; }
  // SIGTERM, then SIGKILL after `grace`; returns how it ended.
  process_exit stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  process_exit kill();              // SIGKILL
  void restart(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Waits for the process to end by itself.
  std::optional<process_exit> wait_exit(std::chrono::milliseconds deadline);
  [[nodiscard]] const std::optional<process_exit>& last_exit() const { return last_exit_; }

  [[nodiscard]] const operator_options& options() const { return opts_; }
  [[nodiscard]] const std::string& log_path() const { return opts_.log_file; }
  [[nodiscard]] const std::string& listen_address() const { return opts_.listen; }
  [[nodiscard]] std::vector<std::string> argv() const;
  [[nodiscard]] std::string log() const; // everything every run wrote
  // The log lines that contain every one of `needles`.
  [[nodiscard]] std::vector<std::string> log_lines_with(const std::vector<std::string>& needles) const;
  // The log lines about one resource (json: its "namespace" and "name" fields; text: the
  // "ns/name: " prefix) that contain every one of `needles`.
  [[nodiscard]] std::vector<std::string> log_lines_about(const std::string& ns,
                                                         const std::string& name,
                                                         std::vector<std::string> needles) const;
  bool wait_for_log(const std::vector<std::string>& needles,
                    std::chrono::milliseconds deadline = std::chrono::seconds(30)) const;

private:
  bool reap(bool block);

  operator_options opts_;
  pid_t pid_ = -1;
  int starts_ = 0;
  std::chrono::steady_clock::time_point stop_requested_{};
  std::optional<process_exit> last_exit_;
};

// The lines of an operator's log (--log-format json) that are not a JSON object with msg, level
// and time; blank lines aside.
std::vector<std::string> non_json_lines(const std::string& log);

} // namespace dbuser::test::e2e
