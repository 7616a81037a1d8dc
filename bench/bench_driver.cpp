// dbuser-bench: throughput, latency, memory, CPU, PostgreSQL connections and Kubernetes requests
// of the real operator binary managing N PostgresUsers, then deletion of all N, then the raw
// baseline (raw_baseline.cpp) doing the same per-user work directly. See bench/README.md.
//
// Expected flow
//   1. Fresh namespace with the postgres-admin Secret; leftover bench_ roles, privilege groups
//      and bench_db dropped; bench_db made with table bench_before (bench_during: halfway in 4).
//   2. The operator starts (--namespace <it>, --listen 127.0.0.1:<free port>, --log-level warn,
//      --kube-qps/--kube-burst high); the bench waits for /readyz, then idles 5 s: idle RSS.
//   3. The bench's own informers watch PostgresUsers and the operator's Secrets in the namespace.
//   4. N PostgresUsers are created with `--concurrency` requests in flight; each send time is
//      recorded, and the time the bench's watch sees Ready=True.
//   5. All Ready and all Secrets seen: throughput, latency, CPU, peak RSS, requests per user
//      (operator /metrics, counters before and after); then idle `--idle-seconds`: RSS after.
//   6. Restart storm (skipped with --no-restart): SIGTERM, wait for the exit, a new operator with
//      the same flags; then, from its start, the time until its /metrics count N reconciles ended
//      (every user verified again: each Ready user is reconciled once at start), and over the
//      phase (until 3 s after that, so that writes still in flight are counted) its Kubernetes
//      requests by verb (writes must be 0), the peak PostgreSQL connections, the CPU of the new
//      operator and of PostgreSQL, and the new operator's RSS.
//   7. Every PostgresUser deleted (through the operator): time until all are gone and every role
//      dropped. The operator stops (SIGTERM).
//   8. The raw baseline runs with the same N, pool size and concurrency.
//   9. Cleanup: namespace, leftover roles and groups, bench_db. A table, then one `BENCH_JSON {...}` line.
//
// A sampler thread polls pg_stat_activity (application_name dbuser-operator) and /proc every
// 200 ms during 4-7.

#include "bench/bench_common.hpp"
#include "bench/bench_pg.hpp"
#include "k8s/informer.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <iomanip>
#include <map>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

using namespace dbuser;
using namespace dbuser::bench;
using namespace std::chrono;

namespace {

struct options {
  int n = 1000;
  std::string operator_bin = "build/bin/dbuser-operator";
  std::string raw_bin; // empty: no raw baseline
  std::string out_dir = "bench/out";
  int concurrency = 64;
  int idle_seconds = 60;
  int pool_size = 4;
  std::string perf_file; // perf record of the operator from the first create until all Ready
  bool restart = true;    // the restart storm (step 6)
  std::vector<std::string> operator_args; // after --
};

// --- small HTTP client for /readyz and /metrics ----------------------------------------------

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// GET http://127.0.0.1:port/path → (status, body); status 0 when it failed.
std::pair<int, std::string> http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return {0, ""};
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return {0, ""};
  }
  std::string resp;
  char buf[65536];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.size() < 12)
    return {0, ""};
  int status = std::atoi(resp.c_str() + 9);
  auto body_at = resp.find("\r\n\r\n");
  std::string body = body_at == std::string::npos ? "" : resp.substr(body_at + 4);
  // Chunked bodies: strip the chunk framing.
  auto headers = resp.substr(0, body_at);
  std::string lower;
  for (char c : headers)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    std::string out;
    std::size_t at = 0;
    while (at < body.size()) {
      auto eol = body.find("\r\n", at);
      if (eol == std::string::npos)
        break;
      auto size = std::stoul(body.substr(at, eol - at), nullptr, 16);
      if (size == 0)
        break;
      out += body.substr(eol + 2, size);
      at = eol + 2 + size + 2;
    }
    body = out;
  }
  return {status, body};
}

// Prometheus text → series ("name{labels}") → value.
using series_map = std::map<std::string, double>;

series_map parse_metrics(const std::string& text) {
  series_map m;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos)
      continue;
    try {
      m[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
    }
  }
  return m;
}

std::string label_of(const std::string& series, const std::string& label) {
  auto at = series.find(label + "=\"");
  if (at == std::string::npos)
    return "";
  at += label.size() + 2;
  return series.substr(at, series.find('"', at) - at);
}

// Sum of a family's samples grouped by one label ("" → one total under "").
std::map<std::string, double> by_label(const series_map& m, const std::string& family,
                                       const std::string& label) {
  std::map<std::string, double> out;
  for (const auto& [s, v] : m)
    if (s == family || s.rfind(family + "{", 0) == 0)
      out[label.empty() ? "" : label_of(s, label)] += v;
  return out;
}

std::map<std::string, double> minus(std::map<std::string, double> a,
                                    const std::map<std::string, double>& b) {
  for (const auto& [k, v] : b)
    a[k] -= v;
  return a;
}

double total(const std::map<std::string, double>& m) {
  double t = 0;
  for (const auto& [k, v] : m)
    t += v;
  return t;
}

json per_user(const std::map<std::string, double>& m, int n) {
  json j = json::object();
  for (const auto& [k, v] : m)
    if (v != 0)
      j[k.empty() ? "all" : k] = v / n;
  return j;
}

// --- the operator process -------------------------------------------------------------------

struct operator_proc {
  pid_t pid = -1;
  int port = 0;
  std::string log;
};

operator_proc start_operator(const options& o, const std::string& ns, const std::string& log) {
  operator_proc p;
  p.port = free_port();
  p.log = log;
  std::vector<std::string> args{o.operator_bin,
                                "--kubeconfig", must_env("KUBECONFIG"),
                                "--namespace", ns,
                                "--listen", "127.0.0.1:" + std::to_string(p.port),
                                "--log-level", "warn",
                                "--kube-qps", "500",
                                "--kube-burst", "1000",
                                "--db-pool-size", std::to_string(o.pool_size)};
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

// --- what the bench's watch sees ----------------------------------------------------------------

bool is_ready(const json& obj) {
  for (const auto& c : obj.value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == "Ready")
      return c.value("status", "") == "True";
  return false;
}

int index_of(const json& obj, const std::string& prefix) {
  const std::string name = obj.value("/metadata/name"_json_pointer, "");
  if (name.rfind(prefix, 0) != 0)
    return -1;
  try {
    return std::stoi(name.substr(prefix.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

struct observations {
  explicit observations(int n) : sent(n, -1), ready(n, -1), secret(n, -1), gone(n, -1) {}
  std::mutex m;
  std::condition_variable cv;
  std::vector<double> sent, ready, secret, gone; // seconds since t0; -1: not yet
  int n_ready = 0, n_secret = 0, n_gone = 0, create_errors = 0;
  std::string first_error;
  clock_type::time_point t0 = clock_type::now();

  void mark(std::vector<double>& v, int i, int& count) {
    std::lock_guard<std::mutex> l(m);
    if (i < 0 || i >= static_cast<int>(v.size()) || v[i] >= 0)
      return;
    v[i] = seconds_since(t0);
    ++count;
    cv.notify_all();
  }
};

// Waits until pred() (checked under the lock) or the deadline; prints progress every 10 s.
template <class Pred>
bool wait_until(observations& ob, seconds deadline, const char* what, Pred pred) {
  const auto end = clock_type::now() + deadline;
  auto next_print = clock_type::now() + seconds(10);
  std::unique_lock<std::mutex> l(ob.m);
  while (!pred()) {
    if (clock_type::now() > end)
      return false;
    ob.cv.wait_for(l, milliseconds(250));
    if (clock_type::now() > next_print) {
      std::cerr << "bench: " << what << ": ready " << ob.n_ready << ", secrets " << ob.n_secret
                << ", gone " << ob.n_gone << " (" << std::fixed << std::setprecision(0)
                << seconds_since(ob.t0) << " s)\n";
      next_print += seconds(10);
    }
  }
  return true;
}

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

struct sampler {
  std::atomic<bool> stop{false};
  std::atomic<long> peak_conns{0};       // admin connections
  std::atomic<long> peak_login_conns{0}; // login checks, as the users
  std::atomic<long> peak_rss_kb{0};
  std::atomic<long> samples{0};
  std::atomic<long> roles{-1};
  std::atomic<pid_t> pid{-1}; // the operator (a new one after the restart)
  std::thread thread;
  std::string role_prefix;

  void start(pid_t operator_pid) {
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
  void finish() {
    stop = true;
    if (thread.joinable())
      thread.join();
  }
};

options parse(int argc, char** argv) {
  options o;
  bool no_raw = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--n")
      o.n = std::stoi(next());
    else if (a == "--operator")
      o.operator_bin = next();
    else if (a == "--raw-baseline")
      o.raw_bin = next();
    else if (a == "--out-dir")
      o.out_dir = next();
    else if (a == "--concurrency")
      o.concurrency = std::stoi(next());
    else if (a == "--idle-seconds")
      o.idle_seconds = std::stoi(next());
    else if (a == "--db-pool-size")
      o.pool_size = std::stoi(next());
    else if (a == "--no-raw")
      no_raw = true;
    else if (a == "--no-restart")
      o.restart = false;
    else if (a == "--perf")
      o.perf_file = next();
    else if (a == "--") {
      for (++i; i < argc; ++i)
        o.operator_args.push_back(argv[i]);
    } else
      throw std::runtime_error(
        "unknown flag " + a
        + " (flags: --n N --operator BIN --raw-baseline BIN --out-dir DIR --concurrency C "
          "--idle-seconds S --db-pool-size P --perf FILE --no-raw --no-restart "
          "[-- operator flags])");
  }
  if (no_raw)
    o.raw_bin.clear();
  if (o.n <= 0 || o.concurrency <= 0)
    throw std::runtime_error("--n and --concurrency must be positive");
  return o;
}

std::string stamp() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

json run_raw(const options& o, const std::string& ns) {
  std::string cmd = o.raw_bin + " --n " + std::to_string(o.n) + " --namespace " + ns
                    + "-raw --concurrency " + std::to_string(o.concurrency) + " --pool "
                    + std::to_string(o.pool_size);
  std::cerr << "bench: raw baseline: " << cmd << "\n";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr)
    return json{{"error", "cannot run the raw baseline"}};
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, f) != nullptr)
    out += buf;
  int rc = ::pclose(f);
  auto at = out.find("RAW_JSON ");
  if (at == std::string::npos)
    return json{{"error", "the raw baseline printed no RAW_JSON line (exit " + std::to_string(rc) + ")"}};
  auto line = out.substr(at + 9, out.find('\n', at) - at - 9);
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded())
    return json{{"error", "the raw baseline's RAW_JSON line is not JSON"}};
  return j;
}

double mb(long kb) { return static_cast<double>(kb) / 1024.0; }

bool is_write(const std::string& verb) {
  return verb == "create" || verb == "patch" || verb == "update" || verb == "delete";
}

// 6. The restart storm: `op` is replaced by a new operator with the same flags. Peaks of the
// sampler cover the phase only (the run's are put back after it).
json restart_storm(const options& o, const std::string& ns, operator_proc& op, sampler& samp) {
  std::cerr << "bench: restarting the operator with " << o.n << " Ready users\n";
  const double old_cpu = read_proc(op.pid).cpu_s;
  const auto stop0 = clock_type::now();
  stop_operator(op);
  const double stop_seconds = seconds_since(stop0);
  const long conns_run = samp.peak_conns.exchange(0);
  const long logins_run = samp.peak_login_conns.exchange(0);
  op = start_operator(o, ns, op.log);
  const auto t0 = clock_type::now();
  samp.pid = op.pid;
  const auto machine0 = cpu_of_env(op.pid);
  auto reconciled = [&](const series_map& m) {
    return total(by_label(m, "dbuser_reconciles_total", "result"));
  };
  double t_ready = -1, t_all = -1;
  series_map m;
  const auto deadline = t0 + seconds(120 + o.n / 10);
  while (clock_type::now() < deadline && alive(op.pid)) {
    if (t_ready < 0 && http_get(op.port, "/readyz").first == 200)
      t_ready = seconds_since(t0);
    auto text = http_get(op.port, "/metrics");
    if (text.first == 200) {
      m = parse_metrics(text.second);
      if (reconciled(m) >= o.n) {
        t_all = seconds_since(t0);
        break;
      }
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  const auto machine1 = cpu_of_env(op.pid);
  // Status patches or Events of the last reconciles may still be in flight: count them too.
  std::this_thread::sleep_for(seconds(3));
  const auto after = parse_metrics(http_get(op.port, "/metrics").second);
  const auto proc = read_proc(op.pid);
  const auto verbs = by_label(after, "dbuser_kube_requests_total", "verb");
  double writes = 0;
  for (const auto& [verb, count] : verbs)
    if (is_write(verb))
      writes += count;
  json r{{"verified_all", t_all >= 0},
         {"reconciles", reconciled(after)},
         {"reconciles_by_result", per_user(by_label(after, "dbuser_reconciles_total", "result"), 1)},
         {"seconds_to_exit", stop_seconds},
         {"seconds_to_readyz", t_ready},
         {"seconds_to_all_verified", t_all},
         {"users_per_s", t_all > 0 ? o.n / t_all : 0},
         {"kube_requests", total(verbs)},
         {"kube_requests_by_verb", per_user(verbs, 1)},
         {"kube_writes", writes},
         {"db_jobs", total(by_label(after, "dbuser_db_pool_jobs_total", ""))},
         {"pg_connections_peak", samp.peak_conns.load()},
         {"pg_login_check_connections_peak", samp.peak_login_conns.load()},
         {"cpu_seconds", cpu_delta(machine0, machine1)},
         {"rss_after_mb", mb(proc.rss_kb)},
         {"previous_operator_cpu_seconds", old_cpu}};
  auto keep_max = [](std::atomic<long>& a, long v) { a = std::max(a.load(), v); };
  keep_max(samp.peak_conns, conns_run);
  keep_max(samp.peak_login_conns, logins_run);
  std::cerr << "bench: restart: " << (t_all >= 0 ? "every user reconciled again" : "TIMED OUT")
            << " after " << t_all << " s, " << writes << " Kubernetes writes\n";
  return r;
}

void print_table(const json& r) {
  auto row = [](const std::string& k, const std::string& v) {
    std::cout << "  " << std::left << std::setw(44) << k << v << "\n";
  };
  auto num = [](double v, int prec = 1) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(prec) << v;
    return s.str();
  };
  const auto& lat = r["latency_ms"];
  std::cout << "\ndbuser-operator benchmark: N=" << r["n"].get<int>() << " (namespace "
            << r["namespace"].get<std::string>() << ")\n";
  row("creates accepted by the API server", num(r["create_rate"].get<double>()) + " /s");
  row("first create → all Ready + Secrets", num(r["seconds_to_all_ready"].get<double>(), 2) + " s");
  row("throughput (operator)", num(r["users_per_s"].get<double>()) + " users/s");
  row("50 / 95 / 99 % of users Ready after",
      num(r["seconds_to_ready_fraction"]["p50"].get<double>(), 1) + " / "
        + num(r["seconds_to_ready_fraction"]["p95"].get<double>(), 1) + " / "
        + num(r["seconds_to_ready_fraction"]["p99"].get<double>(), 1) + " s");
  row("throughput of the first 95 %", num(r["users_per_s_first_95pct"].get<double>()) + " users/s");
  row("apply→Ready p50 / p95 / p99 / max",
      num(lat["p50"].get<double>(), 0) + " / " + num(lat["p95"].get<double>(), 0) + " / "
        + num(lat["p99"].get<double>(), 0) + " / " + num(lat["max"].get<double>(), 0) + " ms");
  row("RSS idle / peak / all Ready / +" + std::to_string(r["idle_seconds"].get<int>()) + " s",
      num(r["rss_idle_mb"].get<double>()) + " / " + num(r["rss_peak_mb"].get<double>()) + " / "
        + num(r["rss_at_all_ready_mb"].get<double>()) + " / "
        + num(r["rss_after_idle_mb"].get<double>()) + " MB");
  row("memory per managed user", num(r["memory_per_user_kb"].get<double>(), 2) + " KB");
  row("CPU during the run / whole process", num(r["cpu_seconds_run"].get<double>(), 2) + " / "
                                              + num(r["cpu_seconds_total"].get<double>(), 2) + " s");
  row("CPU per user", num(r["cpu_ms_per_user"].get<double>(), 2) + " ms");
  row("CPU s during the run, by process", r["machine_cpu_seconds_run"].dump());
  row("peak PostgreSQL connections (pool " + std::to_string(r["db_pool_size"].get<int>()) + ")",
      std::to_string(r["pg_connections_peak"].get<long>()) + " admin + "
        + std::to_string(r.value("pg_login_check_connections_peak", 0L)) + " login checks");
  row("Kubernetes requests per user", r["metrics_available"].get<bool>()
                                        ? num(r["kube_requests_per_user"].get<double>(), 2) + " "
                                            + r["kube_requests_per_user_by_verb"].dump()
                                        : std::string("n/a (no /metrics)"));
  if (r["metrics_available"].get<bool>()) {
    row("db pool jobs per user", num(r["db_jobs_per_user"].get<double>(), 2));
    row("Kubernetes requests while idle", num(r["kube_requests_idle"].get<double>(), 0));
  }
  if (r.contains("restart") && !r["restart"].contains("skipped")) {
    const auto& s = r["restart"];
    row("restart: exit / readyz / all verified again",
        num(s["seconds_to_exit"].get<double>(), 2) + " / "
          + num(s["seconds_to_readyz"].get<double>(), 2) + " / "
          + num(s["seconds_to_all_verified"].get<double>(), 2) + " s ("
          + num(s["users_per_s"].get<double>(), 0) + " users/s)");
    row("restart: Kubernetes requests (writes)", num(s["kube_requests"].get<double>(), 0) + " ("
                                                   + num(s["kube_writes"].get<double>(), 0) + ") "
                                                   + s["kube_requests_by_verb"].dump());
    row("restart: peak PostgreSQL connections",
        std::to_string(s["pg_connections_peak"].get<long>()) + " admin + "
          + std::to_string(s["pg_login_check_connections_peak"].get<long>()) + " login checks");
    row("restart: CPU s by process", s["cpu_seconds"].dump());
    row("restart: reconciles / pool jobs", num(s["reconciles"].get<double>(), 0) + " / "
                                            + num(s["db_jobs"].get<double>(), 0));
    row("restart: RSS of the new operator after", num(s["rss_after_mb"].get<double>()) + " MB");
  }
  row("delete all: time / rate", num(r["delete_seconds"].get<double>(), 2) + " s / "
                                   + num(r["delete_users_per_s"].get<double>()) + " users/s");
  if (r.contains("raw") && r["raw"].contains("users_per_s")) {
    row("raw baseline throughput", num(r["raw_users_per_s"].get<double>()) + " users/s ("
                                     + num(r["raw"]["seconds"].get<double>(), 2) + " s)");
    row("operator / raw (time ratio; 1.0 = raw speed)",
        num(r["ratio_operator_over_raw"].get<double>(), 2));
  } else {
    row("raw baseline", r.value("/raw/error"_json_pointer, std::string("not run")));
  }
  std::cout << std::endl;
}

int bench_main(const options& o) {
  auto kube = make_client();
  const std::string ns = "bench-" + std::to_string(std::time(nullptr));
  const int pg_port = std::stoi(must_env("PGPORT"));
  std::filesystem::create_directories(o.out_dir);
  const std::string tag = stamp() + "-n" + std::to_string(o.n);
  const std::string op_log = o.out_dir + "/operator-" + tag + ".log";

  std::cerr << "bench: dropping leftover bench_ roles and bench_db\n";
  (void)drop_roles("bench_", {"bench_db", "postgres"});
  (void)drop_roles(bench_groups, {"bench_db", "postgres"});
  drop_database("bench_db");
  bench_table("bench_before"); // a table before the run; bench_during is created halfway
  make_namespace(kube, ns, true);

  observations ob(o.n);
  k8s::informer_handlers uh;
  auto on_user = [&ob](const json& obj) {
    if (is_ready(obj))
      ob.mark(ob.ready, index_of(obj, "bench-"), ob.n_ready);
  };
  uh.on_add = on_user;
  uh.on_update = [on_user](const json&, const json& n) { on_user(n); };
  uh.on_delete = [&ob](const json& obj) { ob.mark(ob.gone, index_of(obj, "bench-"), ob.n_gone); };
  k8s::informer_handlers sh;
  sh.on_add = [&ob](const json& s) { ob.mark(ob.secret, index_of(s, "bench-"), ob.n_secret); };
  k8s::informer_options so;
  so.label_selector = "app.kubernetes.io/managed-by=dbuser-operator";
  auto users = k8s::informer::make(kube, k8s::resource::postgres_users(), ns, uh);
  auto secrets = k8s::informer::make(kube, k8s::resource::secrets(), ns, sh, so);
  users->start();
  secrets->start();

  auto op = start_operator(o, ns, op_log);
  struct guard {
    operator_proc& p;
    ~guard() { stop_operator(p); }
  } stop_on_exit{op};
  std::cerr << "bench: operator pid " << op.pid << ", log " << op_log << "\n";
  bool endpoint = false;
  for (int i = 0; i < 600 && alive(op.pid); ++i) {
    if (http_get(op.port, "/readyz").first == 200) {
      endpoint = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  if (!alive(op.pid))
    throw std::runtime_error("the operator exited at start; see " + op_log);
  while (!users->synced() || !secrets->synced())
    std::this_thread::sleep_for(milliseconds(50));
  std::this_thread::sleep_for(seconds(5));
  const auto idle = read_proc(op.pid);
  const auto machine0 = cpu_of_env(op.pid);
  // /metrics answers even when /readyz does not (e.g. an informer of another kind not synced).
  if (!endpoint)
    std::cerr << "bench: /readyz never answered 200; going on\n";
  auto metrics_text = http_get(op.port, "/metrics");
  const bool metrics = metrics_text.first == 200
                       && metrics_text.second.find("dbuser_kube_requests_total") != std::string::npos;
  const auto m0 = parse_metrics(metrics_text.second);

  sampler samp;
  samp.role_prefix = "bench_";
  samp.start(op.pid);

  // Optional: perf record of the operator (cpu-clock works where hardware counters do not).
  pid_t perf = -1;
  if (!o.perf_file.empty()) {
    perf = ::fork();
    if (perf == 0) {
      const std::string pid = std::to_string(op.pid);
      ::execlp("perf", "perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "--call-graph",
               "dwarf,16384", "-p", pid.c_str(), "-o", o.perf_file.c_str(), nullptr);
      ::_exit(127);
    }
    std::this_thread::sleep_for(seconds(1));
  }

  // 4. Create N PostgresUsers.
  std::cerr << "bench: creating " << o.n << " PostgresUsers\n";
  limiter lim(o.concurrency);
  ob.t0 = clock_type::now();
  std::atomic<int> created{0};
  for (int i = 0; i < o.n; ++i) {
    if (i == o.n / 2)
      bench_table("bench_during");
    lim.acquire();
    const auto name = user_name("bench", i);
    auto manifest = user_manifest(ns, name, role_name("bench", i), name, pg_port);
    {
      std::lock_guard<std::mutex> l(ob.m);
      ob.sent[i] = seconds_since(ob.t0);
    }
    with_retry(
      kube,
      [kube, ns, manifest](k8s::callback<json> cb) {
        kube->create(k8s::resource::postgres_users(), ns, manifest, cb);
      },
      [&](expected<json, k8s::error> r) {
        if (!r) {
          std::lock_guard<std::mutex> l(ob.m);
          if (ob.create_errors++ == 0)
            ob.first_error = r.error().to_string();
        }
        ++created;
        lim.release();
      });
  }
  lim.drain();
  const double create_seconds = seconds_since(ob.t0);

  // 5. All Ready with Secrets.
  // Refused reconciles wait for the resync (5 min by default): leave room for one.
  const auto deadline = seconds(420 + o.n / 4);
  const bool all_ready = wait_until(ob, deadline, "waiting for Ready", [&] {
    return ob.n_ready == o.n && ob.n_secret == o.n;
  });
  const auto at_ready = read_proc(op.pid);
  if (perf > 0) {
    ::kill(perf, SIGINT);
    int st = 0;
    ::waitpid(perf, &st, 0);
  }
  const auto machine1 = cpu_of_env(op.pid);
  double t_all = 0;
  std::vector<double> latencies, ready_times;
  {
    std::lock_guard<std::mutex> l(ob.m);
    for (int i = 0; i < o.n; ++i) {
      t_all = std::max({t_all, ob.ready[i], ob.secret[i]});
      if (ob.ready[i] >= 0) {
        latencies.push_back(ob.ready[i] - ob.sent[i]);
        ready_times.push_back(std::max(ob.ready[i], ob.secret[i]));
      }
    }
  }
  // When 50/95/99 % of all N were Ready: a tail of a few users (refusals that wait for the
  // resync) shows here and not in the throughput of the bulk.
  auto ready_at = [&](double q) {
    return static_cast<int>(ready_times.size()) == o.n ? quantile(ready_times, q) : 0.0;
  };
  const auto m1 = metrics ? parse_metrics(http_get(op.port, "/metrics").second) : series_map{};
  std::cerr << "bench: " << (all_ready ? "all Ready" : "TIMED OUT waiting for Ready") << " after "
            << t_all << " s; idling " << o.idle_seconds << " s\n";
  std::this_thread::sleep_for(seconds(o.idle_seconds));
  const auto after_idle = read_proc(op.pid);
  const auto m2 = metrics ? parse_metrics(http_get(op.port, "/metrics").second) : series_map{};
  const long rss_peak_run_kb = std::max(read_proc(op.pid).hwm_kb, samp.peak_rss_kb.load());

  // 6. The restart storm.
  const json restart = o.restart && all_ready ? restart_storm(o, ns, op, samp)
                                              : json{{"skipped", true}};
  const bool restarted = !restart.contains("skipped");
  const double delete_cpu0 = read_proc(op.pid).cpu_s;

  // 7. Delete every PostgresUser through the operator.
  std::cerr << "bench: deleting " << o.n << " PostgresUsers\n";
  const double del0 = seconds_since(ob.t0);
  for (int i = 0; i < o.n; ++i) {
    if (i == o.n / 2)
      bench_table("bench_during");
    lim.acquire();
    const auto name = user_name("bench", i);
    with_retry(
      kube,
      [kube, ns, name](k8s::callback<json> cb) {
        kube->remove(k8s::object_ref{k8s::resource::postgres_users(), ns, name, ""}, {}, cb);
      },
      [&](expected<json, k8s::error>) { lim.release(); });
  }
  lim.drain();
  const bool all_gone = wait_until(ob, deadline, "waiting for deletion", [&] {
    return ob.n_gone == o.n && samp.roles.load() == 0;
  });
  const double delete_seconds = seconds_since(ob.t0) - del0;
  const auto final_proc = read_proc(op.pid);
  samp.finish();
  stop_operator(op);
  users->stop();
  secrets->stop();

  // 8. The raw baseline.
  json raw = o.raw_bin.empty() ? json{{"error", "not run (no --raw-baseline)"}} : run_raw(o, ns);

  // 9. Cleanup.
  std::cerr << "bench: cleaning up\n";
  delete_namespace(kube, ns);
  (void)drop_roles("bench_", {"bench_db", "postgres"});
  (void)drop_roles(bench_groups, {"bench_db", "postgres"});
  drop_database("bench_db");

  const double users_per_s = t_all > 0 ? ob.n_ready / t_all : 0;
  const auto verbs_run = minus(by_label(m1, "dbuser_kube_requests_total", "verb"),
                               by_label(m0, "dbuser_kube_requests_total", "verb"));
  const auto verbs_idle = minus(by_label(m2, "dbuser_kube_requests_total", "verb"),
                                by_label(m1, "dbuser_kube_requests_total", "verb"));
  const auto codes_run = minus(by_label(m1, "dbuser_kube_requests_total", "code"),
                               by_label(m0, "dbuser_kube_requests_total", "code"));
  const auto jobs = total(by_label(m1, "dbuser_db_pool_jobs_total", ""))
                    - total(by_label(m0, "dbuser_db_pool_jobs_total", ""));
  const auto reconciles = minus(by_label(m1, "dbuser_reconciles_total", "result"),
                                by_label(m0, "dbuser_reconciles_total", "result"));
  json r{{"n", o.n},
         {"namespace", ns},
         {"operator", o.operator_bin},
         {"concurrency", o.concurrency},
         {"db_pool_size", o.pool_size},
         {"all_ready", all_ready},
         {"ready", ob.n_ready},
         {"create_errors", ob.create_errors},
         {"create_seconds", create_seconds},
         {"create_rate", create_seconds > 0 ? o.n / create_seconds : 0},
         {"seconds_to_all_ready", t_all},
         {"users_per_s", users_per_s},
         {"seconds_to_ready_fraction",
          {{"p50", ready_at(0.5)}, {"p95", ready_at(0.95)}, {"p99", ready_at(0.99)}}},
         {"users_per_s_first_95pct", ready_at(0.95) > 0 ? 0.95 * o.n / ready_at(0.95) : 0},
         {"latency_ms", latency_summary_ms(latencies)},
         {"rss_idle_mb", mb(idle.rss_kb)},
         {"rss_peak_mb", mb(std::max(rss_peak_run_kb, restarted ? 0L : final_proc.hwm_kb))},
         {"rss_at_all_ready_mb", mb(at_ready.rss_kb)},
         {"rss_after_idle_mb", mb(after_idle.rss_kb)},
         {"idle_seconds", o.idle_seconds},
         {"memory_per_user_kb",
          static_cast<double>(std::max(at_ready.rss_kb, after_idle.rss_kb) - idle.rss_kb) / o.n},
         {"cpu_seconds_run", at_ready.cpu_s - idle.cpu_s},
         {"cpu_seconds_idle_period", after_idle.cpu_s - at_ready.cpu_s},
         {"cpu_seconds_delete", final_proc.cpu_s - delete_cpu0},
         {"cpu_seconds_total",
          final_proc.cpu_s + restart.value("previous_operator_cpu_seconds", 0.0)},
         {"cpu_ms_per_user", (at_ready.cpu_s - idle.cpu_s) * 1000 / o.n},
         {"pg_connections_peak", samp.peak_conns.load()},
         {"pg_login_check_connections_peak", samp.peak_login_conns.load()},
         {"metrics_available", metrics},
         {"kube_requests_per_user", total(verbs_run) / o.n},
         {"kube_requests_per_user_by_verb", per_user(verbs_run, o.n)},
         {"kube_requests_by_code", per_user(codes_run, 1)},
         {"kube_requests_idle", total(verbs_idle)},
         {"kube_requests_idle_by_verb", per_user(verbs_idle, 1)},
         {"db_jobs_per_user", jobs / o.n},
         {"reconciles_per_user", per_user(reconciles, o.n)},
         {"all_deleted", all_gone},
         {"delete_seconds", delete_seconds},
         {"delete_users_per_s", delete_seconds > 0 ? o.n / delete_seconds : 0},
         {"machine_cpu_seconds_run", cpu_delta(machine0, machine1)},
         {"restart", restart},
         {"raw", raw},
         {"operator_log", op_log}};
  if (!ob.first_error.empty())
    r["first_create_error"] = ob.first_error;
  const double raw_rate = raw.value("users_per_s", 0.0);
  r["raw_users_per_s"] = raw_rate;
  r["ratio_operator_over_raw"] = users_per_s > 0 && raw_rate > 0 ? raw_rate / users_per_s : 0;

  print_table(r);
  std::cout << "BENCH_JSON " << r.dump() << std::endl;
  std::ofstream(o.out_dir + "/bench-" + tag + ".json") << r.dump() << "\n";
  const bool restart_ok = !restarted
                          || (restart["verified_all"].get<bool>()
                              && restart["kube_writes"].get<double>() == 0);
  return all_ready && all_gone && ob.create_errors == 0 && restart_ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return bench_main(parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "dbuser-bench: " << e.what() << "\n";
    return 2;
  }
}
