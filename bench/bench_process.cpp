// dbuser-bench: the operator process, CPU seconds of the dev environment, the sampler thread (see
// bench_driver.hpp).

#include "bench/bench_driver.hpp"
#include "bench/bench_pg.hpp"

#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <sys/wait.h>

using namespace std::chrono;

namespace dbuser::bench {

// --- the operator process -------------------------------------------------------------------

operator_proc start_operator(const options& o, const std::string& ns, const std::string& log) {
  operator_proc p;
  p.port = free_port();
  p.log = log;
  std::vector<std::string> args{o.operator_bin,
                                "--kubeconfig", must_env("KUBECONFIG"),
                                "--listen", "127.0.0.1:" + std::to_string(p.port),
                                "--log-level", "warn", // else the operator's default flags
                                "--db-pool-size", std::to_string(o.pool_size)};
  if (!o.fairness_probe) // the probe's namespace is another one: then every namespace, the default
    args.insert(args.end(), {"--namespace", ns});
  args.insert(args.end(), o.operator_args.begin(), o.operator_args.end());
  p.pid = ::fork();
  if (p.pid < 0)
    throw std::runtime_error("fork failed");
  if (p.pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::perror("execv");
    ::_exit(127);
  }
  return p;
}

bool alive(pid_t pid) {
  int st = 0;
  return ::waitpid(pid, &st, WNOHANG) == 0;
}

void stop_operator(operator_proc& p) {
  if (p.pid <= 0)
    return;
  ::kill(p.pid, SIGTERM);
  for (int i = 0; i < 150; ++i) {
    int st = 0;
    if (::waitpid(p.pid, &st, WNOHANG) != 0) {
      p.pid = -1;
      return;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  ::kill(p.pid, SIGKILL);
  int st = 0;
  ::waitpid(p.pid, &st, 0);
  p.pid = -1;
}

namespace {

// CPU seconds of the parts of this dev environment, to see who spends the machine's cores:
// the operator, kube-apiserver, etcd, PostgreSQL (the postmaster, its live backends and the ones
// that ended: cutime/cstime), the bench itself, and the whole machine (/proc/stat; it includes
// other people's work on a shared machine).
struct stat_fields {
  pid_t ppid = 0;
  double cpu = 0, children = 0;
  bool ok = false;
};

stat_fields read_stat(const std::string& pid) {
  stat_fields r;
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 > text.size())
    return r;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; rest >> x && f.size() < 15;)
    f.push_back(x);
  if (f.size() < 15)
    return r;
  const double tck = static_cast<double>(::sysconf(_SC_CLK_TCK));
  try {
    r.ppid = std::stoi(f[1]);
    r.cpu = (std::stod(f[11]) + std::stod(f[12])) / tck;
    r.children = (std::stod(f[13]) + std::stod(f[14])) / tck;
    r.ok = true;
  } catch (const std::exception&) {
  }
  return r;
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

} // namespace

std::map<std::string, double> cpu_of_env(pid_t op) {
  std::map<std::string, double> out;
  const std::string dev = env_or("DBUSER_DEV_DIR", "");
  const std::string apiserver = first_line(env_or("DBUSER_APISERVER_PID_FILE", dev + "/kube-apiserver.pid"));
  const std::string etcd = first_line(dev + "/etcd.pid");
  const std::string postmaster = first_line(env_or("DBUSER_PG_DATA", dev + "/pg/data") + "/postmaster.pid");
  auto own = [&](const char* what, const std::string& pid) {
    if (pid.empty())
      return;
    auto s = read_stat(pid);
    if (s.ok)
      out[what] = s.cpu + (std::string(what) == "postgres" ? s.children : 0);
  };
  own("operator", std::to_string(op));
  own("kube-apiserver", apiserver);
  own("etcd", etcd);
  own("postgres", postmaster);
  own("bench", std::to_string(::getpid()));
  if (!postmaster.empty())
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const auto name = entry.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0])))
        continue;
      auto s = read_stat(name);
      if (s.ok && std::to_string(s.ppid) == postmaster)
        out["postgres"] += s.cpu;
    }
  std::istringstream cpu(first_line("/proc/stat"));
  std::string label;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  cpu >> label >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  out["machine"] = (user + nice + system + irq + softirq + steal) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return out;
}

json cpu_delta(const std::map<std::string, double>& a, const std::map<std::string, double>& b) {
  json j = json::object();
  for (const auto& [k, v] : b) {
    auto i = a.find(k);
    j[k] = std::round((v - (i == a.end() ? 0 : i->second)) * 100) / 100;
  }
  return j;
}

// --- the sampler ------------------------------------------------------------------------------

void sampler::start(pid_t operator_pid) {
  pid = operator_pid;
  thread = std::thread([this] {
    std::unique_ptr<pqxx::connection> c;
    while (!stop) {
      try {
        if (!c)
          c = std::make_unique<pqxx::connection>(admin_conninfo());
        auto conns = operator_connections(*c);
        peak_conns = std::max(peak_conns.load(), conns.admin);
        peak_login_conns = std::max(peak_login_conns.load(), conns.login_checks);
        roles = count_roles(*c, role_prefix);
      } catch (const std::exception& e) {
        c.reset();
      }
      auto p = read_proc(pid.load());
      if (p.ok)
        peak_rss_kb = std::max(peak_rss_kb.load(), p.rss_kb);
      ++samples;
      std::this_thread::sleep_for(milliseconds(200));
    }
  });
}

void sampler::finish() {
  stop = true;
  if (thread.joinable())
    thread.join();
}

} // namespace dbuser::bench
