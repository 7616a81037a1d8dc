#include <csignal>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "k8s/informer.hpp"
#include "test/k8s/k8s_test_support.hpp"

using namespace dbuser::k8s;
using namespace dbuser::k8s::test;
using dbuser::test::wait_until;

namespace {

// Every callback the informer made, per key: ("add" | "update" | "delete", resourceVersion).
struct callbacks {
  std::mutex m;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_key;
  std::vector<std::string> problems; // updates whose resourceVersion did not change
  int errors = 0;
  bool synced = false;

  informer_handlers handlers() {
    informer_handlers h;
    h.on_add = [this](const json& o) { record(key_of(o), "add", resource_version_of(o)); };
    h.on_update = [this](const json& old_obj, const json& o) {
      if (resource_version_of(old_obj) == resource_version_of(o)) {
        std::lock_guard<std::mutex> lock(m);
        problems.push_back("update without a change for " + key_of(o));
      }
      record(key_of(o), "update", resource_version_of(o));
    };
    h.on_delete = [this](const json& o) { record(key_of(o), "delete", resource_version_of(o)); };
    h.on_synced = [this] {
      std::lock_guard<std::mutex> lock(m);
      synced = true;
    };
    h.on_error = [this](const error&) {
      std::lock_guard<std::mutex> lock(m);
      ++errors;
    };
    return h;
  }
  void record(const std::string& key, const char* what, const std::string& rv) {
    std::lock_guard<std::mutex> lock(m);
    by_key[key].emplace_back(what, rv);
  }
  std::vector<std::pair<std::string, std::string>> of(const std::string& key) {
    std::lock_guard<std::mutex> lock(m);
    return by_key[key];
  }
  int error_count() {
    std::lock_guard<std::mutex> lock(m);
    return errors;
  }
};

// key → resourceVersion of what the server holds.
std::map<std::string, std::string> server_state(const std::shared_ptr<client>& c, const std::string& ns,
                                                const std::string& selector = "") {
  list_options o;
  o.label_selector = selector;
  auto l = sync([&](auto cb) { c->list_all(resource::config_maps(), ns, o, cb); });
  std::map<std::string, std::string> out;
  if (!l) return out;
  for (const auto& item : (*l)["items"])
    if (!published_by_cluster(item))
      out[key_of(item)] = resource_version_of(item);
  return out;
}

std::map<std::string, std::string> cache_state(const informer& inf) {
  std::map<std::string, std::string> out;
  for (const auto& o : inf.list())
    if (!published_by_cluster(o))
      out[key_of(o)] = resource_version_of(o);
  return out;
}

enum class proc_state { running, zombie, gone };

proc_state state_of(pid_t pid) {
  if (::kill(pid, 0) != 0) return proc_state::gone;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, comm, state;
  stat >> pid_field >> comm >> state;
  return state == "Z" ? proc_state::zombie : proc_state::running;
}

// Kills kube-apiserver (etcd stays), waits until the informer noticed, then brings it back on the
// same port with hack/dev-up.sh.
void restart_apiserver(callbacks& seen) {
  const auto& env = dbuser::test::dev_env::get();
  const std::string pid_path = env.at("DBUSER_APISERVER_PID_FILE");
  pid_t pid = 0;
  std::ifstream(pid_path) >> pid;
  REQUIRE(pid > 0);
  const int errors_before = seen.error_count();
  REQUIRE(::kill(pid, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return state_of(pid) != proc_state::running; }, std::chrono::seconds(30),
                     std::chrono::milliseconds(50)));
  // The orphaned server is reaped by this machine's init only after a while, and dev-up.sh's
  // `kill -0` takes a zombie for a live server: empty the stale pid file so it starts a new one.
  if (state_of(pid) == proc_state::zombie) std::ofstream(pid_path, std::ios::trunc).flush();
  // The informer's watch broke and at least one reconnect failed: it really was down.
  REQUIRE(wait_until([&] { return seen.error_count() > errors_before; }, std::chrono::seconds(30)));
  auto up = dbuser::test::run_command(
      // setsid: the restarted server must not belong to this test's process group (whoever reaps
      // the group, e.g. a job runner, would take the shared dev server down with it).
      "setsid -w " + std::string(DBUSER_SOURCE_DIR) + "/hack/dev-up.sh >/tmp/k8s-test-dev-up.log 2>&1");
  REQUIRE(up.status == 0);
}

} // namespace

TEST_CASE("an informer lists, signals synced and follows changes") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "inf");
  REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("before"), cb); }));
  callbacks seen;
  auto inf = informer::make(c, resource::config_maps(), ns, seen.handlers());
  inf->start();
  REQUIRE(wait_until([&] { return inf->synced(); }));
  CHECK(inf->get(ns + "/before"));
  REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("after"), cb); }));
  REQUIRE(sync([&](auto cb) {
    c->patch({resource::config_maps(), ns, "before", ""}, patch_type::merge, {{"data", {{"x", "1"}}}}, cb);
  }));
  REQUIRE(sync([&](auto cb) { c->remove({resource::config_maps(), ns, "after", ""}, {}, cb); }));
  REQUIRE(wait_until([&] { return seen.of(ns + "/after").size() == 2 && seen.of(ns + "/before").size() == 2; }));
  CHECK(seen.of(ns + "/after")[0].first == "add");
  CHECK(seen.of(ns + "/after")[1].first == "delete");
  CHECK(seen.of(ns + "/before")[1].first == "update");
  CHECK((*inf->get(ns + "/before"))["data"]["x"] == "1");
  CHECK_FALSE(inf->get(ns + "/after"));
  inf->stop();
  REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("late"), cb); }));
  (void)wait_until([&] { return !seen.of(ns + "/late").empty(); }, std::chrono::seconds(1));
  CHECK(seen.of(ns + "/late").empty()); // nothing after stop()
}

TEST_CASE("after kube-apiserver restarts, the informer cache converges with no lost event and no duplicate callback") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "restart");
  const std::vector<std::string> keep{"keep-0", "keep-1", "keep-2", "keep-3"}, mod{"mod-0", "mod-1", "mod-2"},
      del{"del-0", "del-1"}, fresh{"new-0", "new-1", "new-2"};
  for (const auto* group : {&keep, &mod, &del})
    for (const auto& n : *group)
      REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map(n, {{"v", "0"}}), cb); }));

  callbacks seen;
  informer_options io;
  io.backoff_max = std::chrono::seconds(2); // keep the test short; the default is 30 s
  auto inf = informer::make(c, resource::config_maps(), ns, seen.handlers(), io);
  inf->start();
  REQUIRE(wait_until([&] { return inf->synced() && cache_state(*inf).size() == 9; }));

  restart_apiserver(seen);

  auto writer = admin_client();
  for (const auto& n : mod)
    REQUIRE(sync([&](auto cb) {
      writer->patch({resource::config_maps(), ns, n, ""}, patch_type::merge, {{"data", {{"v", "1"}}}}, cb);
    }));
  for (const auto& n : del) REQUIRE(sync([&](auto cb) { writer->remove({resource::config_maps(), ns, n, ""}, {}, cb); }));
  for (const auto& n : fresh)
    REQUIRE(sync([&](auto cb) { writer->create(resource::config_maps(), ns, config_map(n), cb); }));

  const auto want = server_state(writer, ns);
  REQUIRE(want.size() == 10);
  REQUIRE(wait_until([&] { return cache_state(*inf) == want; }, std::chrono::seconds(60)));
  inf->stop();

  for (const auto& n : keep) {
    INFO(n);
    CHECK(seen.of(ns + "/" + n).size() == 1); // the initial add only
  }
  for (const auto& n : mod) {
    INFO(n);
    auto cbs = seen.of(ns + "/" + n);
    REQUIRE(cbs.size() == 2);
    CHECK(cbs[1] == std::make_pair(std::string("update"), want.at(ns + "/" + n)));
  }
  for (const auto& n : del) {
    INFO(n);
    auto cbs = seen.of(ns + "/" + n);
    REQUIRE(cbs.size() == 2);
    CHECK(cbs[1].first == "delete");
  }
  for (const auto& n : fresh) {
    INFO(n);
    auto cbs = seen.of(ns + "/" + n);
    REQUIRE(cbs.size() == 1);
    CHECK(cbs[0].first == "add");
  }
  std::lock_guard<std::mutex> lock(seen.m);
  CHECK(seen.problems.empty());
}

TEST_CASE("an informer whose resourceVersion was compacted away relists and recovers") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "relist");
  REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("w", {}, {{"watched", "yes"}}), cb); }));
  callbacks seen;
  informer_options io;
  io.label_selector = "watched=yes";
  io.backoff_max = std::chrono::seconds(2);
  auto inf = informer::make(c, resource::config_maps(), ns, seen.handlers(), io);
  inf->start();
  REQUIRE(wait_until([&] { return inf->synced() && inf->size() == 1; }));
  const auto informer_rv = inf->last_resource_version();

  // Unwatched churn moves the server on without moving the informer's resourceVersion; compact
  // etcd past it, then restart the API server so its watch cache starts after it too.
  for (int i = 0; i < 20; ++i)
    REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("churn-" + std::to_string(i)), cb); }));
  auto l = sync([&](auto cb) { c->list(resource::config_maps(), ns, {}, cb); });
  REQUIRE(l);
  const std::string now_rv = (*l)["metadata"]["resourceVersion"];
  const auto& env = dbuser::test::dev_env::get();
  REQUIRE(dbuser::test::run_command("curl -s -X POST " + env.at("DBUSER_ETCD_URL") + "/v3/kv/compaction -d '{\"revision\": \""
                                    + now_rv + "\"}'")
              .status
          == 0);
  const auto relists_before = inf->relists();
  restart_apiserver(seen);

  auto writer = admin_client();
  REQUIRE(sync([&](auto cb) {
    writer->patch({resource::config_maps(), ns, "w", ""}, patch_type::merge, {{"data", {{"v", "1"}}}}, cb);
  }));
  REQUIRE(sync([&](auto cb) {
    writer->create(resource::config_maps(), ns, config_map("w2", {}, {{"watched", "yes"}}), cb);
  }));
  const auto want = server_state(writer, ns, "watched=yes");
  REQUIRE(want.size() == 2);
  REQUIRE(wait_until([&] { return cache_state(*inf) == want; }, std::chrono::seconds(60)));
  INFO("informer was at " << informer_rv << ", compacted at " << now_rv);
  CHECK(inf->relists() > relists_before);
  CHECK(seen.of(ns + "/w").size() == 2);
  CHECK(seen.of(ns + "/w2").size() == 1);
  inf->stop();
}

TEST_CASE("an informer of a kind the API server does not serve is synced and empty when asked to, "
          "and retries without syncing otherwise") {
  auto c = admin_client();
  const resource absent{"absent.example.com", "v1", "nothings", true};
  callbacks lenient_seen, strict_seen;
  informer_options lenient;
  lenient.absent_is_empty = true;
  auto inf = informer::make(c, absent, "", lenient_seen.handlers(), lenient);
  auto strict = informer::make(c, absent, "", strict_seen.handlers());
  inf->start();
  strict->start();
  REQUIRE(wait_until([&] { return inf->synced(); }));
  CHECK(inf->list().empty());
  CHECK(lenient_seen.error_count() >= 1); // the 404 was reported, once per list
  REQUIRE(wait_until([&] { return strict_seen.error_count() >= 2; }));
  CHECK_FALSE(strict->synced());
  inf->stop();
  strict->stop();
}
