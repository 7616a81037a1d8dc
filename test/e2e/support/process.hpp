#pragma once

// Child processes for the end-to-end tests: run a command to completion with its output captured,
// find a free TCP port for a listener, and read what a process has spent.

#include <chrono>
#include <sys/types.h>
#include <map>
#include <string>
#include <vector>

namespace dbuser::test::e2e {

struct exec_result {
  int status = -1; // exit code; -1 when it could not run or was killed by a signal
  std::string out;
  std::string err;
  [[nodiscard]] bool ok() const { return status == 0; }
};

// Runs argv[0] (looked up on PATH) with `input` on its stdin and `env` added to the environment;
// waits for it. stdout and stderr are captured separately.
exec_result run(const std::vector<std::string>& argv, const std::string& input = "",
                const std::map<std::string, std::string>& env = {});

// A TCP port on 127.0.0.1 that nobody listens on right now.
int free_tcp_port();

// The CPU time a process has spent so far (utime + stime of /proc/<pid>/stat), in seconds; 0 when
// it cannot be read (the process is gone).
double cpu_seconds(pid_t pid);

// The last `n` lines of `text` (for failure messages).
std::string tail_lines(const std::string& text, std::size_t n);

} // namespace dbuser::test::e2e
