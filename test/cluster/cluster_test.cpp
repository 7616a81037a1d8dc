// The operator as a Pod in the dev cluster (hack/cluster-up.sh): deploy/ applied with kubectl,
// the image built by hack/image.sh, PostgreSQL reached from the Pod through the bridge's gateway.
#include "test/e2e/support/prelude.hpp"
#include "test/cluster/operator_install.hpp"

#include <atomic>
#include <iostream>
#include <pqxx/pqxx>
#include <csignal>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace dbuser::test::cluster;

namespace {

e2e_options without_operator() {
  e2e_options o;
  o.start_operator = false;
  return o;
}

std::string pod_name(const json& pod) {
  return pod["metadata"]["name"];
}

// Samples about every 100 ms, until stopped, which Pods say they lead (dbuser_leader 1) and how
// many reconciles each has finished; records a sample in which two Pods led, and a reconcile that
// ended between two samples in which its Pod did not lead.
class leadership_watch {
public:
  explicit leadership_watch(const operator_install& op) : op_(op), thread_([this] { loop(); }) {}
  ~leadership_watch() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
    took_ = duration_cast<milliseconds>(steady_clock::now() - start_);
  }
  // Mean time between two samples.
  [[nodiscard]] milliseconds interval() const { return took_ / std::max(samples_, 1); }
  [[nodiscard]] const std::vector<std::string>& violations() const { return violations_; }
  [[nodiscard]] int samples() const { return samples_; }

private:
  void loop() {
    std::vector<json> pods;
    for (int round = 0; !stop_; ++round) {
      try {
        // The Pods (kubectl, slow) every 10th round; their /metrics (curl, fast) every round.
        if (round % 10 == 0 || stale_)
          pods = op_.pods(true);
        stale_ = false;
        std::vector<std::string> leaders;
        for (const auto& p : pods) {
          const auto name = pod_name(p);
          const auto body = op_.http_get(p, "/metrics", milliseconds(300)).value_or("");
          auto leading = sample_value(body, "dbuser_leader");
          auto reconciles = sample_value(body, "dbuser_reconciles_total{result=\"success\"}");
          stale_ = stale_ || !leading; // gone, or not serving yet: list the Pods again
          if (leading && *leading == 1)
            leaders.push_back(name);
          // Not leading at this sample nor at the one before, yet a reconcile ended between them.
          const bool standby = leading && *leading == 0 && was_standby_[name];
          if (standby && reconciles && last_.count(name) != 0 && last_[name] < *reconciles)
            violations_.push_back(name + " reconciled while not leading");
          if (reconciles)
            last_[name] = *reconciles;
          was_standby_[name] = leading && *leading == 0;
        }
        if (leaders.size() > 1)
          violations_.push_back("two leaders: " + leaders[0] + " and " + leaders[1]);
        ++samples_;
      } catch (const std::exception&) {
        // A Pod going away between the list and the scrape: the next sample sees it gone.
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  const operator_install& op_;
  steady_clock::time_point start_ = steady_clock::now();
  milliseconds took_{0};
  std::atomic<bool> stop_{false};
  std::map<std::string, double> last_;
  std::map<std::string, bool> was_standby_;
  bool stale_ = false;
  std::vector<std::string> violations_;
  int samples_ = 0;
  std::thread thread_;
};

// Follows a watch of one Pod (the API server's raw stream, one event per line) until the Pod is
// deleted or `deadline` passes; returns every state of the Pod seen, the deleted one last.
// `opened` becomes true with the first event (the Pod as it is when the watch starts).
std::vector<json> watch_pod_until_deleted(const std::string& kubeconfig, const std::string& pod,
                                          seconds deadline, std::atomic<bool>& opened) {
  const std::string path = "/api/v1/namespaces/" + std::string(operator_ns)
                           + "/pods?watch=1&fieldSelector=metadata.name%3D" + pod
                           + "&timeoutSeconds=" + std::to_string(deadline.count());
  int out[2];
  if (pipe(out) != 0)
    throw std::runtime_error("pipe failed");
  const pid_t child = fork();
  if (child == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    setenv("KUBECONFIG", kubeconfig.c_str(), 1);
    execlp("kubectl", "kubectl", "get", "--raw", path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::vector<json> states;
  std::string buffer;
  char chunk[4096];
  bool deleted = false;
  ssize_t n = 0;
  while (!deleted && (n = read(out[0], chunk, sizeof chunk)) > 0) {
    buffer.append(chunk, static_cast<size_t>(n));
    for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      auto event = json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (event.is_discarded() || !event.contains("object"))
        continue;
      states.push_back(event["object"]);
      opened = true;
      deleted = deleted || event.value("type", "") == "DELETED";
    }
  }
  kill(child, SIGTERM);
  close(out[0]);
  waitpid(child, nullptr, 0);
  return states;
}

// Deletes every PostgresUser of the namespace through the operator and waits until they are gone.
void delete_users(const e2e_env& env, seconds deadline) {
  (void)env.k8s.kubectl({"delete", pguser, "--all", "-n", env.ns, "--wait=false"});
  INFO("PostgresUsers left: " << env.k8s.list(pguser, env.ns).size());
  CHECK(wait_until([&] { return env.k8s.list(pguser, env.ns).empty(); }, deadline,
                   milliseconds(500)));
}

} // namespace

TEST_CASE("the quick start is reconciled by the operator running as a Pod, hardened as deploy/ "
          "says") {
  e2e_env env(without_operator());
  operator_install op(env.k8s, "default");

  const auto user = env.object_name("pod-user");
  const auto secret = env.object_name("pod-creds");
  env.apply(user_in_cluster(env, user, env.role_name("pod"), env.database_name("pod_db"), secret));
  INFO(op.describe());
  REQUIRE_READY(env, user, seconds(60));
  CHECK(env.wait_login_with_secret(secret, seconds(10)));
  CHECK(env.secret(secret).value()["host"] == cluster_env::get().gateway);

  // Both replicas Running and Ready (probes on /healthz and /readyz answer), never restarted.
  const auto pods = op.pods();
  REQUIRE(pods.size() == 2);
  for (const auto& p : pods) {
    INFO(pod_name(p));
    CHECK(p["status"]["phase"] == "Running");
    CHECK(p["status"]["containerStatuses"][0]["ready"] == true);
    CHECK(restarts(p) == 0);
    const auto& c = p["spec"]["containers"][0];
    CHECK(c["livenessProbe"]["httpGet"]["path"] == "/healthz");
    CHECK(c["readinessProbe"]["httpGet"]["path"] == "/readyz");
    CHECK(op.http_get(p, "/healthz").has_value());
    // What the kernel says about the container's process, not what the manifest asks for.
    auto proc = op.process(p);
    REQUIRE(proc.has_value());
    CHECK(proc->status["Uid"].rfind("65532\t", 0) == 0);
    CHECK(proc->status["Gid"].rfind("65532\t", 0) == 0);
    CHECK(proc->status["NoNewPrivs"] == "1");
    CHECK(proc->status["CapEff"] == "0000000000000000");
    CHECK(proc->status["CapBnd"] == "0000000000000000");
    CHECK(proc->status["Seccomp"] == "2"); // filter mode: RuntimeDefault
    CHECK((proc->root_mount_options.rfind("ro,", 0) == 0 || proc->root_mount_options == "ro"));
    CHECK(proc->memory_limit == 128LL * 1024 * 1024);
  }
  // The namespace enforces the restricted Pod Security Standard, which the Pods passed.
  CHECK(env.k8s.get("namespace", "", operator_ns)
            .value()["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted");

  delete_users(env, seconds(30));
  CHECK(env.wait_gone("secret", secret, seconds(10)));
}

TEST_CASE("two replicas with leader election: deleting the leader's Pod hands over within 30 s "
          "and two Pods never reconcile at once") {
  e2e_env env(without_operator());
  operator_install op(env.k8s, "default");
  INFO(op.describe());
  REQUIRE(wait_until([&] { return !op.current_leader().empty(); }, seconds(60)));
  leadership_watch watch(op);

  const auto before = env.object_name("before");
  env.apply(user_in_cluster(env, before, env.role_name("before"), env.database_name("lead_db"),
                            env.object_name("before-creds")));
  REQUIRE_READY(env, before, seconds(60));

  const auto old_leader = op.current_leader();
  REQUIRE_FALSE(old_leader.empty());
  const auto start = steady_clock::now();
  op.k8s.must({"delete", "pod", old_leader, "-n", operator_ns, "--wait=false"});
  // Until the kubelet's SIGTERM reaches it, the old leader still leads (and may reconcile): the
  // hand-over is another Pod holding the Lease.
  std::string new_leader;
  REQUIRE(wait_until(
    [&] {
      new_leader = op.current_leader();
      return !new_leader.empty() && new_leader != old_leader;
    },
    seconds(30), milliseconds(200)));
  const auto after = env.object_name("after");
  env.apply(user_in_cluster(env, after, env.role_name("after"), env.database_name("lead_db"),
                            env.object_name("after-creds")));
  REQUIRE_READY(env, after, seconds(30));
  const auto failover = duration_cast<milliseconds>(steady_clock::now() - start);
  std::cout << "failover: leader Pod deleted -> new PostgresUser Ready in " << failover.count()
            << " ms (" << old_leader << " -> " << new_leader << ")" << std::endl;
  CHECK(failover < seconds(30));

  // The Deployment replaces the deleted Pod; the new one stands by.
  CHECK(op.wait_rolled_out(seconds(120)));
  watch.stop();
  std::cout << "leadership: " << watch.samples() << " samples, one per "
            << watch.interval().count() << " ms" << std::endl;
  CHECK(watch.interval() < milliseconds(1000));
  CHECK(watch.violations().empty());
  for (const auto& v : watch.violations())
    UNSCOPED_INFO(v);
  delete_users(env, seconds(30));
}

TEST_CASE("a rollout restart of the operator changes no password and rewrites no Secret") {
  e2e_env env(without_operator());
  operator_install op(env.k8s, "default");
  INFO(op.describe());
  std::map<std::string, json> secrets; // name -> Secret before the restart
  std::vector<std::string> users;
  for (int i = 0; i < 3; ++i) {
    const auto user = env.object_name("rr");
    const auto secret = env.object_name("rr-creds");
    env.apply(user_in_cluster(env, user, env.role_name("rr"), env.database_name("rr_db"), secret));
    users.push_back(user);
    secrets[secret] = json();
  }
  for (const auto& u : users)
    REQUIRE_READY(env, u, seconds(60));
  for (auto& [name, s] : secrets) {
    REQUIRE(env.wait_login_with_secret(name, seconds(10)));
    s = env.k8s.get("secret", env.ns, name).value();
  }
  const auto old_pods = op.pods();

  op.k8s.must({"rollout", "restart", "deployment/" + std::string(deployment), "-n", operator_ns});
  REQUIRE(op.wait_rolled_out(seconds(180)));
  // The new leader has reconciled every user at least once since it started.
  REQUIRE(wait_until(
      [&] {
        for (const auto& p : op.pods()) {
          bool is_old = false;
          for (const auto& o : old_pods)
            is_old = is_old || pod_name(o) == pod_name(p);
          auto done = op.metric(p, "dbuser_reconciles_total{result=\"success\"}");
          if (!is_old && pod_name(p) == op.current_leader() && done && *done >= users.size())
            return true;
        }
        return false;
      },
      seconds(60), milliseconds(500)));
  for (const auto& [name, s] : secrets) {
    INFO(name);
    const auto now = env.k8s.get("secret", env.ns, name).value();
    CHECK(now["metadata"]["resourceVersion"] == s["metadata"]["resourceVersion"]);
    CHECK(secret_data(now)["password"] == secret_data(s)["password"]);
    CHECK(env.login_with_secret(name).empty());
  }
  for (const auto& p : op.pods())
    CHECK(restarts(p) == 0);
  delete_users(env, seconds(30));
}

TEST_CASE("the kubelet's SIGTERM ends the operator's container within its grace period with exit "
          "code 0") {
  e2e_env env(without_operator());
  operator_install op(env.k8s, "default");
  INFO(op.describe());
  // The leader: it has a Lease to release and watches to close.
  REQUIRE(wait_until([&] { return !op.current_leader().empty(); }, seconds(60)));
  const auto pod = op.current_leader();
  const auto grace = op.k8s.get("pod", operator_ns, pod)
                         .value()["spec"]["terminationGracePeriodSeconds"]
                         .get<int>();
  std::vector<json> states;
  std::atomic<bool> opened{false};
  std::thread watcher([&] {
    states = watch_pod_until_deleted(op.k8s.kubeconfig(), pod, seconds(grace + 30), opened);
  });
  if (!wait_until([&] { return opened.load(); }, seconds(10))) {
    watcher.join();
    FAIL("the watch of Pod " << pod << " did not open");
  }
  const auto start = steady_clock::now();
  op.k8s.must({"delete", "pod", pod, "-n", operator_ns, "--wait=false"});
  watcher.join();
  const auto took = duration_cast<milliseconds>(steady_clock::now() - start);
  REQUIRE(!states.empty());
  // The last state the kubelet reported before the Pod went: the container terminated.
  json terminated;
  for (const auto& s : states)
    for (const auto& c : s.value("/status/containerStatuses"_json_pointer, json::array()))
      if (c.contains("/state/terminated"_json_pointer))
        terminated = c["state"]["terminated"];
  INFO("last state: " << states.back().value("status", json()).dump());
  REQUIRE(terminated.is_object());
  CHECK(terminated["exitCode"] == 0);
  CHECK(terminated["reason"] == "Completed");
  // deletionTimestamp = time of the delete + the grace period; RFC 3339 strings of one format
  // compare as times.
  const std::string deadline = states.back()["metadata"]["deletionTimestamp"];
  CHECK(terminated["finishedAt"].get<std::string>() <= deadline);
  CHECK(took < seconds(grace));
  std::cout << "SIGTERM: Pod " << pod << " deleted -> gone in " << took.count()
            << " ms (grace " << grace << " s), exit code " << terminated["exitCode"] << std::endl;
}

// [soak]: load held on the memory-limited Pod for minutes; make test-soak and CI run it.
TEST_CASE("1,000 PostgresUsers are reconciled by the operator Pod within its memory limit, "
          "without a restart or an OOM kill",
          "[soak]") {
  constexpr int n = 1000;
  e2e_env env(without_operator());
  operator_install op(env.k8s, "default");
  INFO(op.describe());
  json list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
  const auto database = env.database_name("thousand_db");
  const auto prefix = env.role_name("k"); // roles prefix_0 ... prefix_999
  const auto roles_left = [&] {
    auto c = env.pg.admin();
    pqxx::nontransaction tx(c);
    return tx.exec1("SELECT count(*) FROM pg_roles WHERE starts_with(rolname, "
                    + tx.quote(prefix + "_") + ")")[0]
        .as<int>();
  };
  for (int i = 0; i < n; ++i) {
    auto u = user_in_cluster(env, "u" + std::to_string(i), prefix + "_" + std::to_string(i),
                             database, "u" + std::to_string(i) + "-creds");
    list["items"].push_back(u);
  }
  const auto start = steady_clock::now();
  // One request per 250 objects (kubectl apply of a List).
  for (int from = 0; from < n; from += 250) {
    json part = list;
    part["items"] = json(std::vector<json>(list["items"].begin() + from,
                                           list["items"].begin() + from + 250));
    env.k8s.must({"apply", "-f", "-", "-n", env.ns}, part.dump());
  }
  int ready = 0;
  const bool all_ready = wait_until(
      [&] {
        ready = 0;
        for (const auto& u : env.k8s.list(pguser, env.ns))
          for (const auto& c : u.value("/status/conditions"_json_pointer, json::array()))
            ready += c.value("type", "") == "Ready" && c.value("status", "") == "True";
        return ready == n;
      },
      seconds(240), seconds(2));
  const auto took = duration_cast<seconds>(steady_clock::now() - start);
  INFO(ready << " of " << n << " Ready after " << took.count() << " s");
  CHECK(all_ready);

  for (const auto& p : op.pods()) {
    INFO(pod_name(p));
    CHECK(restarts(p) == 0);
    CHECK_FALSE(oom_killed(p));
    auto proc = op.process(p);
    REQUIRE(proc.has_value());
    CHECK(proc->memory_max_usage < proc->memory_limit);
    const bool leads = pod_name(p) == op.leader();
    std::cout << "1000 users: Pod " << pod_name(p) << (leads ? " (leader)" : "")
              << ": all Ready in " << took.count() << " s; VmRSS " << proc->status["VmRSS"]
              << ", VmHWM " << proc->status["VmHWM"] << ", cgroup memory "
              << proc->memory_usage / 1048576 << " MiB (max " << proc->memory_max_usage / 1048576
              << " MiB, limit " << proc->memory_limit / 1048576 << " MiB)" << std::endl;
  }
  CHECK(roles_left() == n);
  const auto delete_start = steady_clock::now();
  delete_users(env, seconds(180));
  std::cout << "1000 users: deleted in "
            << duration_cast<seconds>(steady_clock::now() - delete_start).count() << " s"
            << std::endl;
  // Deleted through the operator: every role dropped (else dropped here, and the test fails).
  const int left = roles_left();
  CHECK(left == 0);
  for (int i = 0; left != 0 && i < n; ++i)
    env.pg.drop_role_everywhere(prefix + "_" + std::to_string(i));
  for (const auto& p : op.pods()) {
    CHECK(restarts(p) == 0);
    CHECK_FALSE(oom_killed(p));
  }
}

TEST_CASE("deploy/namespaced: the operator reconciles PostgresUsers of its own namespace only") {
  e2e_env env(without_operator()); // another namespace, which it must leave alone
  operator_install op(env.k8s, "namespaced");
  INFO(op.describe());
  // The installed operator stays (README: `kubectl get pods -n dbuser-system` after make test).
  op.keep_running();
  const std::string ns = operator_ns;
  env.apply(secret_manifest(ns, admin_secret_name,
                            {{"username", env.pg.admin_user()},
                             {"password", env.pg.admin_password()}}));
  const auto outside = env.object_name("outside");
  env.apply(user_in_cluster(env, outside, env.role_name("outside"), env.database_name("ns_db"),
                            env.object_name("outside-creds")));
  auto inside = user_in_cluster(env, env.object_name("inside"), env.role_name("inside"),
                                env.database_name("ns_db"), env.object_name("inside-creds"));
  inside["metadata"]["namespace"] = ns;
  const std::string name = inside["metadata"]["name"];
  const std::string secret = inside["spec"]["secretName"];
  env.apply(inside);
  REQUIRE(wait_until(
      [&] {
        auto u = env.k8s.get(pguser, ns, name);
        const auto conditions =
            u.value_or(json()).value("/status/conditions"_json_pointer, json::array());
        for (const auto& c : conditions)
          if (c.value("type", "") == "Ready" && c.value("status", "") == "True")
            return true;
        return false;
      },
      seconds(60)));
  const auto data = secret_data(env.k8s.get("secret", ns, secret).value());
  env.remember_password(data.at("password"));
  CHECK(env.pg.login_error(data.at("username"), data.at("password"), data.at("database")).empty());
  // The PostgresUser of the other namespace was created first and is still untouched.
  const auto other = env.user(outside).value();
  CHECK_FALSE(other.contains("status"));
  CHECK(other["metadata"].value("finalizers", json::array()).empty());
  for (const auto& p : op.pods()) {
    CHECK(p["status"]["containerStatuses"][0]["ready"] == true);
    CHECK(restarts(p) == 0);
  }
  // Deleted through the operator (role dropped, finalizer removed).
  env.k8s.remove(pguser, ns, name);
  CHECK(wait_until([&] { return !env.k8s.get(pguser, ns, name); }, seconds(30)));
}
