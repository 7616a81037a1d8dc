// Failure isolation between database servers (label faults). Two real PostgreSQL servers: A, the
// version matrix's server (hack/pg-matrix.sh up, a ctest fixture), and B, the dev environment's.
// A is made unreachable the way a dead host or a partition does it — packets to and from its port
// dropped on loopback (iptables), or, where the test may not touch the firewall, its processes
// stopped (SIGSTOP) — while users of both servers are reconciled by one operator.
#include "test/e2e/support/prelude.hpp"
#include "test/support/dev_env.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

using dbuser::test::dev_env;
using dbuser::test::run_command;

namespace {

// Server A: the version matrix's PostgreSQL that the fixture started (DBUSER_FAULTS_PG_MAJOR,
// default 18), with its superuser.
struct server {
  dev_env env;
  int port = 0;
  std::string user, password;

  static server second() {
    const char* m = std::getenv("DBUSER_FAULTS_PG_MAJOR");
    server s{dev_env::load(dev_env::get().dir() + "/pg" + (m != nullptr && *m ? m : "18")), 0,
             "", ""};
    s.port = std::stoi(s.env.at("PGPORT"));
    s.user = s.env.at("PGUSER");
    s.password = s.env.at("PGPASSWORD");
    return s;
  }

  std::string conninfo(const std::string& db = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port) + " user=" + user + " password='"
           + password + "' dbname=" + db + " connect_timeout=5 application_name=faults-test";
  }
  void exec(const std::string& sql, const std::string& db = "postgres") const {
    pqxx::connection c(conninfo(db));
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
  pid_t postmaster() const {
    std::ifstream in(env.at("DBUSER_PG_DATA") + "/postmaster.pid");
    pid_t pid = 0;
    in >> pid;
    return pid;
  }
};

// Every process of the server: the postmaster and its children.
std::vector<pid_t> server_processes(pid_t postmaster) {
  std::vector<pid_t> pids{postmaster};
  std::istringstream children(run_command("pgrep -P " + std::to_string(postmaster)).out);
  for (pid_t p; children >> p;)
    pids.push_back(p);
  return pids;
}

// Stops every process of the server (SIGSTOP) until lifted: connections are accepted by the
// kernel and then nothing answers, like a frozen host.
class freeze {
public:
  explicit freeze(pid_t postmaster) : pids_(server_processes(postmaster)) {
    for (pid_t p : pids_)
      ::kill(p, SIGSTOP);
  }
  ~freeze() { lift(); }
  freeze(const freeze&) = delete;
  freeze& operator=(const freeze&) = delete;
  void lift() {
    for (pid_t p : pids_)
      ::kill(p, SIGCONT);
    pids_.clear();
  }

private:
  std::vector<pid_t> pids_;
};

bool iptables_usable() {
  return ::geteuid() == 0 && run_command("iptables -w -L INPUT -n >/dev/null 2>&1").status == 0;
}

// Packets to and from `port` on loopback dropped (iptables, rules tagged with a comment and
// always removed), else the server frozen: either way, connections to it neither fail nor answer.
class blackhole {
public:
  blackhole(int port, pid_t postmaster) : port_(port) {
    if (iptables_usable()) {
      rules_ = true;
      for (const char* dir : {"--dport", "--sport"})
        if (run_command(rule("-I", dir)).status != 0)
          throw std::runtime_error("iptables refused the rule for port " + std::to_string(port));
    } else {
      frozen_ = std::make_unique<freeze>(postmaster);
    }
  }
  ~blackhole() { lift(); }
  blackhole(const blackhole&) = delete;
  blackhole& operator=(const blackhole&) = delete;
  void lift() {
    if (rules_)
      for (const char* dir : {"--dport", "--sport"})
        (void)run_command(rule("-D", dir));
    rules_ = false;
    frozen_.reset();
  }
  [[nodiscard]] const char* how() const { return rules_ ? "packets dropped" : "SIGSTOP"; }

private:
  std::string rule(const char* op, const char* dir) const {
    return std::string("iptables -w ") + op + " INPUT -i lo -p tcp " + dir + " "
           + std::to_string(port_) + " -m comment --comment dbuser-faults-test -j DROP";
  }
  int port_;
  bool rules_ = false;
  std::unique_ptr<freeze> frozen_;
};

json list_of(std::vector<json> items) {
  return json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", std::move(items)}};
}

// How many of `names` have Ready with `status` (and `reason` when given).
std::size_t count_ready(const e2e_env& env, const std::set<std::string>& names,
                        const std::string& status, const std::string& reason = "") {
  std::size_t n = 0;
  for (const auto& u : env.k8s.list(pguser, env.ns)) {
    if (names.count(u.value("/metadata/name"_json_pointer, "")) == 0)
      continue;
    for (const auto& c : u.value("/status/conditions"_json_pointer, json::array()))
      if (c.value("type", "") == "Ready" && c.value("status", "") == status
          && (reason.empty() || c.value("reason", "") == reason))
        ++n;
  }
  return n;
}

std::string http_get(const std::string& address, const std::string& path) {
  return run_command("curl -sf --max-time 5 http://" + address + path).out;
}

// The value of dbuser_db_target_up for the target on `port`, or -1 when not exported.
int target_up(const e2e_env& env, int port) {
  std::istringstream metrics(http_get(env.op->listen_address(), "/metrics"));
  const std::string prefix =
    "dbuser_db_target_up{target=\"postgresql://127.0.0.1:" + std::to_string(port) + "/";
  for (std::string line; std::getline(metrics, line);)
    if (line.rfind(prefix, 0) == 0)
      return line.back() == '1' ? 1 : 0;
  return -1;
}

struct user_set {
  std::set<std::string> names;
  std::vector<json> manifests;
};

// `n` PostgresUsers on server A (its admin Secret `a-admin`, database `db`).
user_set users_on_a(e2e_env& env, const server& a, const std::string& db, const std::string& prefix,
                    int n) {
  user_set out;
  for (int i = 0; i < n; ++i) {
    auto name = env.object_name(prefix);
    auto m = env.user_manifest(name, dbuser::test::unique_name(prefix + "_r"), db,
                               name + "-creds");
    // Role names in snake case: unique_name is DNS-style.
    std::string role = m["spec"]["username"];
    for (auto& ch : role)
      if (ch == '-')
        ch = '_';
    m["spec"]["username"] = role;
    m["spec"]["port"] = a.port;
    m["spec"]["adminSecretRef"]["name"] = "a-admin";
    out.names.insert(name);
    out.manifests.push_back(std::move(m));
  }
  return out;
}

user_set users_on_b(e2e_env& env, const std::string& db, const std::string& prefix, int n) {
  user_set out;
  for (int i = 0; i < n; ++i) {
    auto name = env.object_name(prefix);
    out.names.insert(name);
    out.manifests.push_back(env.user_manifest(name, env.role_name(prefix), db, name + "-creds"));
  }
  return out;
}

struct two_servers {
  e2e_env env;
  server a = server::second();
  std::string db_a, db_b;

  two_servers() {
    db_a = env.database_name("faults_a");
    db_b = env.database_name("faults_b");
    a.exec("CREATE DATABASE " + postgres::ident(db_a));
    env.pg.exec("CREATE DATABASE " + postgres::ident(db_b));
    env.apply(secret_manifest(env.ns, "a-admin", {{"username", a.user}, {"password", a.password}}));
    REQUIRE(env.op->wait_for_log({"PostgresUser cache synced"}));
  }
};

} // namespace

TEST_CASE("while one database server is unreachable, another server's new users go Ready within "
          "seconds, and the unreachable one's users fail fast and recover when it is back") {
  two_servers t;
  auto& env = t.env;

  // Three users on each server, Ready: the pool of A holds open connections when A goes away.
  auto a_old = users_on_a(env, t.a, t.db_a, "fa-old", 3);
  auto b_old = users_on_b(env, t.db_b, "fb-old", 3);
  env.apply(list_of(a_old.manifests));
  env.apply(list_of(b_old.manifests));
  REQUIRE(wait_until([&] { return count_ready(env, a_old.names, "True") == 3
                                  && count_ready(env, b_old.names, "True") == 3; },
                     seconds(60), milliseconds(250)));
  REQUIRE(target_up(env, t.a.port) == 1);

  blackhole hole(t.a.port, t.a.postmaster());
  std::cerr << "server A (port " << t.a.port << ") made unreachable: " << hole.how() << "\n";
  auto a_new = users_on_a(env, t.a, t.db_a, "fa-new", 100);
  auto b_new = users_on_b(env, t.db_b, "fb-new", 5);
  const auto a_applied = steady_clock::now();
  env.apply(list_of(a_new.manifests));
  env.apply(list_of(b_new.manifests));
  const auto b_applied = steady_clock::now();

  // B's users do not wait for A.
  const bool b_ready =
    wait_until([&] { return count_ready(env, b_new.names, "True") == 5; }, seconds(5),
               milliseconds(100));
  const auto b_took = duration_cast<milliseconds>(steady_clock::now() - b_applied);
  if (!b_ready)
    FAIL("B's users were not Ready within 5 s of being applied\n"
         << env.describe(*b_new.names.begin()));
  std::cerr << "B's 5 new users Ready in " << b_took.count() << " ms\n";

  // A's users say why, within the connect timeout (10 s) and 5 s more.
  const bool a_reported = wait_until(
    [&] { return count_ready(env, a_new.names, "False", "DatabaseUnreachable") == 100; },
    seconds(15) - duration_cast<milliseconds>(steady_clock::now() - a_applied),
    milliseconds(250));
  const auto a_took = duration_cast<milliseconds>(steady_clock::now() - a_applied);
  if (!a_reported)
    FAIL("A's users did not all report DatabaseUnreachable within 15 s ("
         << count_ready(env, a_new.names, "False", "DatabaseUnreachable") << " of 100)\n"
         << env.describe(*a_new.names.begin()));
  std::cerr << "A's 100 new users DatabaseUnreachable after " << a_took.count() << " ms\n";
  auto message = env.ready(*a_new.names.begin()).message;
  CHECK(message.find("127.0.0.1:" + std::to_string(t.a.port)) != std::string::npos);

  // The outage is visible: the metric, /debug/actors, one log line (not one per user).
  CHECK(target_up(env, t.a.port) == 0);
  auto debug = json::parse(http_get(env.op->listen_address(), "/debug/actors"));
  bool shown_down = false;
  for (const auto& p : debug["pools"])
    if (p.value("target", "").find(":" + std::to_string(t.a.port) + "/") != std::string::npos)
      shown_down = p.value("state", "") == "down" && p["down_since"].is_string()
                   && p["last_error"].is_string();
  CHECK(shown_down);

  // While it stays down, the operator idles: fast failures and backoff, no busy loop.
  const double cpu_before = cpu_seconds(env.op->pid());
  const auto window_start = steady_clock::now();
  std::this_thread::sleep_for(seconds(10)); // a measurement window, not a wait for a condition
  const double cpu_share = (cpu_seconds(env.op->pid()) - cpu_before)
                           / duration<double>(steady_clock::now() - window_start).count();
  std::cerr << "operator CPU during the outage: " << cpu_share * 100 << " % of one core\n";
  CHECK(cpu_share < 0.10);
  CHECK(env.op->log_lines_with({"database target", ":" + std::to_string(t.a.port) + "/",
                                "is down"})
          .size()
        == 1);
  // One Warning Event per resource for the outage, however often it was retried.
  for (const auto& name : a_new.names) {
    std::size_t unreachable = 0;
    for (const auto& w : env.warnings(name))
      unreachable += w.rfind("DatabaseUnreachable:", 0) == 0 ? 1 : 0;
    INFO(name);
    CHECK(unreachable == 1);
    break; // one is enough to read; they all take the same path
  }

  // A is back: every one of its users is Ready within 30 s.
  hole.lift();
  const auto restored = steady_clock::now();
  const bool a_ready =
    wait_until([&] { return count_ready(env, a_new.names, "True") == 100; }, seconds(30),
               milliseconds(250));
  if (!a_ready)
    FAIL("A's users were not all Ready within 30 s of A coming back ("
         << count_ready(env, a_new.names, "True") << " of 100)\n"
         << env.describe(*a_new.names.begin()));
  std::cerr << "A's 100 users Ready " << duration_cast<milliseconds>(steady_clock::now() - restored).count()
            << " ms after A came back\n";
  CHECK(wait_until([&] { return target_up(env, t.a.port) == 1; }, seconds(10)));
  CHECK(env.op->log_lines_with({"database target", ":" + std::to_string(t.a.port) + "/",
                                "answers again"})
          .size()
        == 1);
  CHECK(count_ready(env, a_old.names, "True") == 3);
}

TEST_CASE("a server frozen while a job runs is detected within 15 s, and the job is retried after "
          "it thaws and leaves nothing half done") {
  two_servers t;
  auto& env = t.env;
  t.a.exec("CREATE TABLE t (id int)", t.db_a);

  // The operator's write transactions in a database take one advisory lock first: holding it
  // keeps the job waiting inside its transaction.
  pqxx::connection holder(t.a.conninfo(t.db_a));
  pqxx::nontransaction hold(holder);
  hold.exec("SELECT pg_advisory_lock(7233473089994108271)");

  auto user = users_on_a(env, t.a, t.db_a, "fz", 1);
  const std::string name = *user.names.begin();
  const std::string role = user.manifests[0]["spec"]["username"];
  env.apply(user.manifests[0]);
  auto waiting_job = [&] {
    pqxx::connection c(t.a.conninfo());
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT 1 FROM pg_stat_activity WHERE application_name = 'dbuser-operator' "
                   "AND wait_event_type = 'Lock' AND datname = " + tx.quote(t.db_a))
             .size()
           == 1;
  };
  REQUIRE(wait_until(waiting_job, seconds(30), milliseconds(100)));

  freeze frozen(t.a.postmaster());
  const auto froze = steady_clock::now();
  const bool detected = wait_until(
    [&] {
      return !env.op->log_lines_with({"database target", ":" + std::to_string(t.a.port) + "/",
                                      "is down"})
                .empty();
    },
    seconds(15), milliseconds(100));
  if (!detected)
    FAIL("the frozen server was not detected within 15 s\n" << env.describe(name));
  std::cerr << "frozen server detected after "
            << duration_cast<milliseconds>(steady_clock::now() - froze).count() << " ms\n";
  CHECK(env.wait_ready(name, seconds(10), "False", "DatabaseUnreachable"));

  // Thaw and let the lock go; the retry converges from a clean state.
  frozen.lift();
  hold.exec("SELECT pg_advisory_unlock_all()");
  if (!env.wait_ready(name, seconds(40)))
    FAIL("not Ready after the server thawed\n" << env.describe(name));
  pqxx::connection c(t.a.conninfo(t.db_a));
  pqxx::nontransaction tx(c);
  for (const char* privilege : {"SELECT", "INSERT", "UPDATE", "DELETE"})
    CHECK(tx.exec("SELECT has_table_privilege(" + tx.quote(role) + ", 't', '" + privilege + "')")[0][0]
            .as<bool>());
  // The cut transaction left no session behind, and exactly one role.
  CHECK(tx.exec("SELECT 1 FROM pg_roles WHERE rolname = " + tx.quote(role)).size() == 1);
  CHECK(tx.exec("SELECT 1 FROM pg_stat_activity WHERE application_name = 'dbuser-operator' AND "
                "state LIKE 'idle in transaction%'")
          .empty());
}
