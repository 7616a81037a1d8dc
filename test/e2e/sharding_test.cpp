// Active-active shards (issue 32, docs/sharding.md): three operator processes with --shards 3
// split the users of two or more database targets between them, each user reconciled by exactly
// one process; when one is killed (SIGKILL: it releases nothing), the others take its shard over
// once its Lease expires and reconcile its users' next changes, with no password changed and no
// Secret written again.
//
// Targets: the dev PostgreSQL under several host spellings ("127.0.0.1", "localhost", "127.1",
// ...). Each spelling is a different shard key (postgresql://<host>:<port>), so to the operator
// they are different targets, with their own pools; the test picks spellings whose keys fall in
// different shards. One server behind them is what this machine has; the sharding does not look
// further than the key.
//
// Witnesses: each process's /debug/actors (its supervisors and the shards it holds), each
// process's log (which users it wrote about), the Secrets' resourceVersions and passwords.
//
// DBUSER_SHARDING_USERS sets how many users (default 240).
#include "api/shard.hpp"
#include "test/e2e/support/bulk.hpp"
#include "test/e2e/support/prelude.hpp"

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>


namespace {

constexpr int shards = 3;
constexpr auto lease_duration = seconds(6);

int users_wanted() {
  const char* v = std::getenv("DBUSER_SHARDING_USERS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 240;
}

std::unique_ptr<operator_process> start_replica(const e2e_env& env, int ordinal) {
  operator_options o;
  o.kubeconfig = env.k8s.kubeconfig();
  o.ns = env.ns;
  o.log_level = "info";
  o.resync_period = "10m"; // what the test sees comes from its changes and the takeover
  o.extra_args = {"--shards", std::to_string(shards), "--shard-ordinal", std::to_string(ordinal),
                  // The Leases live in the test's namespace: no other test sees them.
                  "--leader-election-namespace", env.ns, "--leader-election-name", "e2e",
                  "--leader-election-lease-duration", "6s", "--leader-election-renew-deadline",
                  "4s", "--leader-election-retry-period", "1s"};
  auto op = std::make_unique<operator_process>(o);
  op->start();
  return op;
}

json debug_of(const operator_process& op) {
  auto r = run({"curl", "-sf", "http://" + op.listen_address() + "/debug/actors"});
  auto j = json::parse(r.out, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// The PostgresUsers this process has a supervisor for, by name.
std::set<std::string> supervised(const operator_process& op) {
  std::set<std::string> out;
  for (const auto& s : debug_of(op).value("supervisors", json::array()))
    if (s.value("kind", "") == "PostgresUser")
      out.insert(s.value("name", ""));
  return out;
}

std::set<int> held(const operator_process& op) {
  std::set<int> out;
  for (const auto& s : debug_of(op).value("shards", json::array()))
    if (s.value("held", false))
      out.insert(s.value("shard", -1));
  return out;
}

// The users of `ns` this process's log writes about (json lines with namespace and name).
std::set<std::string> logged_users(const operator_process& op, const std::string& ns) {
  std::set<std::string> out;
  std::istringstream in(op.log());
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("namespace", "") == ns && !j.value("name", "").empty())
      out.insert(j.value("name", ""));
  }
  return out;
}

struct secret_seen {
  std::string resource_version;
  std::string password;
};

std::map<std::string, secret_seen> secrets_of(const e2e_env& env) {
  std::map<std::string, secret_seen> out;
  auto list = json::parse(env.k8s.must({"get", "secrets", "-n", env.ns, "-l",
                                        "app.kubernetes.io/managed-by=dbuser-operator", "-o",
                                        "json"}));
  for (const auto& s : list["items"])
    out[s["metadata"]["name"].get<std::string>()] = {
      s["metadata"]["resourceVersion"].get<std::string>(),
      base64_decode(s.value("/data/password"_json_pointer, std::string()))};
  return out;
}

// Every process's supervisors are pairwise disjoint and together cover `users`; each user is
// with the process holding its shard.
void check_one_owner_each(const std::vector<operator_process*>& live,
                          const std::map<std::string, int>& shard_of_user) {
  std::map<std::string, int> owners;
  for (auto* op : live) {
    const auto mine = held(*op);
    for (const auto& name : supervised(*op)) {
      ++owners[name];
      auto s = shard_of_user.find(name);
      REQUIRE(s != shard_of_user.end());
      INFO(name << " of shard " << s->second << " is supervised by pid " << op->pid());
      CHECK(mine.count(s->second) == 1);
    }
  }
  std::size_t once = 0;
  for (const auto& [name, n] : owners) {
    INFO(name << " has " << n << " supervisors");
    CHECK(n == 1);
    once += n == 1 ? 1 : 0;
  }
  CHECK(owners.size() == shard_of_user.size());
  CHECK(once == shard_of_user.size());
}

} // namespace

TEST_CASE("three processes with three shards reconcile each user exactly once and take over a "
          "killed process's shard within its Lease duration and 5 s") {
  const int n = users_wanted();
  e2e_options no_operator;
  no_operator.start_operator = false;
  e2e_env env(no_operator);

  // Host spellings of the dev server whose shard keys fall in different shards.
  std::map<int, std::string> spelling; // shard → host
  for (const std::string host : {"127.0.0.1", "localhost", "127.1", "127.0.1", "127.000.0.1",
                                 "localhost.", "127.0.0.01"}) {
    const json u{{"spec", {{"host", host}, {"port", env.pg.port()}}}};
    spelling.emplace(dbuser::api::shard_of(
                       dbuser::api::target_key(u, dbuser::api::engine::postgres), shards),
                     host);
  }
  REQUIRE(spelling.size() >= 2);

  std::vector<std::unique_ptr<operator_process>> replicas;
  for (int i = 0; i < shards; ++i)
    replicas.push_back(start_replica(env, i));
  for (int i = 0; i < shards; ++i) {
    INFO("replica " << i << ":\n" << tail_lines(replicas[i]->log(), 20));
    REQUIRE(wait_until([&] { return held(*replicas[i]).count(i) == 1; }, seconds(30)));
    // What the DBUserShardWithoutHolder alert reads.
    const auto metrics = run({"curl", "-sf", "http://" + replicas[i]->listen_address() + "/metrics"});
    CHECK(metrics.out.find("dbuser_shard_held{shard=\"" + std::to_string(i) + "\"} 1\n")
          != std::string::npos);
  }

  const auto db = env.database_name("shard_db");
  std::vector<std::string> roles;
  std::map<std::string, int> shard_of_user;
  std::vector<json> users;
  auto at = spelling.begin();
  for (int i = 0; i < n; ++i, ++at) {
    if (at == spelling.end())
      at = spelling.begin();
    const auto name = "u-" + std::to_string(i);
    roles.push_back(env.role_name("sh" + std::to_string(i)));
    auto user = env.user_manifest(name, roles.back(), db, name);
    user["spec"]["host"] = at->second;
    shard_of_user[name] = at->first;
    users.push_back(std::move(user));
  }
  // The first user alone: it creates the database and its privilege group.
  env.apply(users.front());
  users.erase(users.begin());
  REQUIRE_READY(env, "u-0", seconds(60));
  const auto start = steady_clock::now();
  create_bulk(env.k8s, users);
  int ready = 0;
  const bool all_ready = wait_until(
    [&] {
      ready = env.ready_count();
      return ready == n;
    },
    seconds(120 + n / 2), seconds(2));
  WARN(n << " PostgresUsers over " << spelling.size() << " targets in " << spelling.size()
         << " shards: " << ready << " Ready after "
         << duration<double>(steady_clock::now() - start).count() << " s");
  REQUIRE(all_ready);

  std::vector<operator_process*> live;
  for (auto& r : replicas)
    live.push_back(r.get());
  // Each user has exactly one supervisor, in the process that holds its shard...
  check_one_owner_each(live, shard_of_user);
  // ... and only that process ever wrote about it in its log.
  std::map<std::string, int> loggers;
  for (auto* op : live)
    for (const auto& name : logged_users(*op, env.ns))
      ++loggers[name];
  for (const auto& [name, count] : loggers) {
    INFO(name << " appears in " << count << " processes' logs");
    CHECK(count == 1);
  }

  const auto before = secrets_of(env);
  REQUIRE(static_cast<int>(before.size()) == n);

  // SIGKILL the process of the shard with the most users: it releases nothing.
  std::map<int, int> users_per_shard;
  for (const auto& [name, s] : shard_of_user)
    ++users_per_shard[s];
  const int victim_shard =
    std::max_element(users_per_shard.begin(), users_per_shard.end(),
                     [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
  auto& victim = *replicas[static_cast<std::size_t>(victim_shard)];
  REQUIRE(held(victim).count(victim_shard) == 1);
  victim.kill();
  const auto killed = steady_clock::now();
  live.erase(std::find(live.begin(), live.end(), &victim));

  // Its users' next changes: 10 of them lose DELETE.
  std::map<std::string, std::int64_t> changed; // name → generation to observe
  for (const auto& [name, s] : shard_of_user) {
    if (s != victim_shard || changed.size() == 10)
      continue;
    env.k8s.merge_patch(pguser, env.ns, name,
                        {{"spec", {{"privileges", {"SELECT", "INSERT", "UPDATE"}}}}});
    changed[name] = env.user(name)->value("/metadata/generation"_json_pointer, std::int64_t{0});
  }
  REQUIRE(!changed.empty());
  const auto observed = [&](const std::string& name) {
    auto u = env.user(name);
    return u && u->value("/status/observedGeneration"_json_pointer, std::int64_t{0}) == changed[name]
           && u->value("/status/ready"_json_pointer, false);
  };
  const bool in_time = wait_until(
    [&] {
      return std::all_of(changed.begin(), changed.end(),
                         [&](const auto& c) { return observed(c.first); });
    },
    lease_duration + seconds(5), milliseconds(200));
  const double took = duration<double>(steady_clock::now() - killed).count();
  WARN("shard " << victim_shard << " (" << users_per_shard[victim_shard]
                << " users): its 10 changes reconciled " << took
                << " s after its process was killed (Lease 6 s)");
  for (auto* op : live)
    UNSCOPED_INFO("pid " << op->pid() << ":\n" << tail_lines(op->log(), 10));
  REQUIRE(in_time);

  // The shard is held by exactly one survivor, and every user still has exactly one owner.
  int holders = 0;
  for (auto* op : live)
    holders += static_cast<int>(held(*op).count(victim_shard));
  CHECK(holders == 1);
  REQUIRE(wait_until([&] { return env.ready_count() == n; }, seconds(60), seconds(1)));
  check_one_owner_each(live, shard_of_user);

  // No password changed and no Secret was written again, by the takeover or the changes.
  const auto after = secrets_of(env);
  REQUIRE(after.size() == before.size());
  int rewritten = 0;
  int new_password = 0;
  for (const auto& [name, s] : before) {
    rewritten += after.at(name).resource_version != s.resource_version ? 1 : 0;
    new_password += after.at(name).password != s.password ? 1 : 0;
  }
  CHECK(rewritten == 0);
  CHECK(new_password == 0);

  // A Lease taken from its holder (as by a replica that saw it expire during a partition): the
  // holder stops that shard's supervisors at its next attempt, and once the intruder's Lease
  // expires, a replica takes the shard and its users are reconciled again, each by one process.
  auto& survivor = *live.front();
  const int own = *held(survivor).begin();
  const auto users_of = [&](int shard, const std::set<std::string>& names) {
    return std::count_if(names.begin(), names.end(),
                         [&](const std::string& u) { return shard_of_user.at(u) == shard; });
  };
  REQUIRE(users_of(own, supervised(survivor)) > 0);
  env.k8s.must({"patch", "lease", "e2e-shard-" + std::to_string(own), "-n", env.ns, "--type",
                "merge", "-p", R"({"spec":{"holderIdentity":"intruder"}})"});
  const auto stolen = steady_clock::now();
  CHECK(wait_until(
    [&] { return held(survivor).count(own) == 0 && users_of(own, supervised(survivor)) == 0; },
    seconds(4), milliseconds(100)));
  WARN("a Lease taken from its holder: its supervisors stopped "
       << duration<double>(steady_clock::now() - stolen).count() << " s later");
  CHECK(wait_until(
    [&] {
      int holders_now = 0;
      std::size_t supervised_now = 0;
      for (auto* op : live) {
        holders_now += static_cast<int>(held(*op).count(own));
        supervised_now += supervised(*op).size();
      }
      return holders_now == 1 && supervised_now == shard_of_user.size();
    },
    lease_duration + seconds(10), milliseconds(250)));
  check_one_owner_each(live, shard_of_user);

  // Deleting goes through the shards' owners too (the roles are dropped).
  (void)env.k8s.kubectl({"delete", pguser, "--all", "-n", env.ns, "--wait=false"});
  CHECK(wait_until([&] { return env.k8s.list(pguser, env.ns).empty(); }, seconds(60 + n / 2),
                   seconds(1)));
  CHECK(std::none_of(roles.begin(), roles.end(),
                     [&](const std::string& r) { return env.pg.role_exists(r); }));
}
