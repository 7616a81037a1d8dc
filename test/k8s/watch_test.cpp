#include <map>
#include <mutex>
#include <vector>

#include "k8s/client.hpp"
#include "test/k8s/k8s_test_support.hpp"

using namespace dbuser::k8s;
using namespace dbuser::k8s::test;
using dbuser::test::wait_until;
using dbuser::expected;

namespace {

struct recorded {
  std::mutex m;
  std::vector<watch_event> events;
  std::optional<expected<void, error>> closed;

  void add(const watch_event& ev) {
    if (published_by_cluster(ev.object))
      return;
    std::lock_guard<std::mutex> lock(m);
    events.push_back(ev);
  }
  bool is_closed() {
    std::lock_guard<std::mutex> lock(m);
    return closed.has_value();
  }
  size_t count(const std::string& type) {
    std::lock_guard<std::mutex> lock(m);
    size_t n = 0;
    for (const auto& e : events) n += e.type == type ? 1 : 0;
    return n;
  }
};

std::string list_rv(const std::shared_ptr<client>& c, const std::string& ns) {
  auto l = sync([&](auto cb) { c->list(resource::config_maps(), ns, {}, cb); });
  REQUIRE(l);
  return (*l)["metadata"]["resourceVersion"].get<std::string>();
}

// A watch of the namespace's ConfigMaps from `rv` whose events and end `rec` records;
// `timeout_seconds` as watch_options says.
std::shared_ptr<watch_handle> watch_config_maps(const std::shared_ptr<client>& c,
                                                const std::string& ns, const std::string& rv,
                                                const std::shared_ptr<recorded>& rec,
                                                std::optional<long> timeout_seconds = 300) {
  watch_options wo;
  wo.resource_version = rv;
  wo.timeout_seconds = timeout_seconds;
  return c->watch(resource::config_maps(), ns, wo, [rec](const watch_event& ev) { rec->add(ev); },
                  [rec](expected<void, error> r) {
                    std::lock_guard<std::mutex> lock(rec->m);
                    rec->closed = std::move(r);
                  });
}

} // namespace

TEST_CASE("a watch sees ADDED, MODIFIED and DELETED in order for 200 quick changes with none missing") {
  auto c = admin_client({100000, 100000});
  const auto ns = fresh_namespace(c, "watch");
  const auto rv = list_rv(c, ns);
  auto rec = std::make_shared<recorded>();
  auto w = watch_config_maps(c, ns, rv, rec);
  // 50 objects × (create, update, patch, delete) = 200 changes; remember each change's version.
  std::vector<std::pair<std::string, std::string>> expected_changes; // (type, resourceVersion)
  for (int i = 0; i < 50; ++i) {
    const std::string name = "cm-" + std::to_string(i);
    const object_ref ref{resource::config_maps(), ns, name, ""};
    auto a = sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map(name, {{"v", "0"}}), cb); });
    REQUIRE(a);
    expected_changes.emplace_back("ADDED", resource_version_of(*a));
    json u = *a;
    u["data"]["v"] = "1";
    auto b = sync([&](auto cb) { c->update(ref, u, cb); });
    REQUIRE(b);
    expected_changes.emplace_back("MODIFIED", resource_version_of(*b));
    auto p = sync([&](auto cb) { c->patch(ref, patch_type::merge, {{"data", {{"v", "2"}}}}, cb); });
    REQUIRE(p);
    expected_changes.emplace_back("MODIFIED", resource_version_of(*p));
    auto d = sync([&](auto cb) { c->remove(ref, {}, cb); });
    REQUIRE(d);
    expected_changes.emplace_back("DELETED", "");
  }
  REQUIRE(wait_until([&] { return rec->count("DELETED") == 50; }, std::chrono::seconds(30)));
  w->stop();
  std::lock_guard<std::mutex> lock(rec->m);
  std::vector<watch_event> changes;
  for (const auto& e : rec->events)
    if (e.type != "BOOKMARK") changes.push_back(e);
  REQUIRE(changes.size() == 200);
  for (size_t i = 0; i < changes.size(); ++i) {
    INFO("change " << i);
    CHECK(changes[i].type == expected_changes[i].first);
    CHECK(name_of(changes[i].object) == "cm-" + std::to_string(i / 4));
    if (!expected_changes[i].second.empty()) CHECK(resource_version_of(changes[i].object) == expected_changes[i].second);
  }
  CHECK_FALSE(rec->closed.has_value()); // stop() delivers no close callback
}

TEST_CASE("a watch from a compacted resourceVersion ends with Gone unless the watch cache serves it") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "compact");
  const auto old_rv = list_rv(c, ns);
  for (int i = 0; i < 5; ++i)
    REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("cm-" + std::to_string(i)), cb); }));
  const auto now_rv = list_rv(c, ns);
  const auto& env = dbuser::test::dev_env::get();
  auto compact = dbuser::test::run_command("curl -s -X POST " + env.at("DBUSER_ETCD_URL")
                                           + "/v3/kv/compaction -d '{\"revision\": \"" + now_rv + "\"}'");
  REQUIRE(compact.status == 0);
  // "1" and old_rv are older than the compaction. kube-apiserver serves a watch from its watch
  // cache when the cache holds every event since that resourceVersion, compacted in etcd or not:
  // on an API server whose etcd was new at its start (the cache listed at revision 1 and has
  // dropped no event since, as in a fresh `.dev/k8s-<minor>` of the Kubernetes version matrix:
  // seen on 1.35 and 1.37) even "1" is served. Where the cache does not hold it (an older
  // server, as in `make test`), the watch must end with Gone. The informer's relist after Gone
  // is asserted by k8s_informer_test, which forces it.
  for (const std::string& from : {std::string("1"), old_rv}) {
    auto rec = std::make_shared<recorded>();
    auto w = watch_config_maps(c, ns, from, rec);
    bool closed = wait_until([&] { return rec->is_closed(); },
                             from == "1" ? std::chrono::seconds(10) : std::chrono::seconds(2));
    w->stop();
    INFO("watch from resourceVersion " << from << " (compacted at " << now_rv << ")");
    if (closed) {
      // Not served from the watch cache: the error must be Gone.
      REQUIRE_FALSE(*rec->closed);
      CHECK(rec->closed->error().code == error::kind::gone);
    }
  }
}

TEST_CASE("a watch ends cleanly at the server's timeout") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "timeout");
  auto rec = std::make_shared<recorded>();
  auto w = watch_config_maps(c, ns, list_rv(c, ns), rec, 1);
  REQUIRE(wait_until([&] { return rec->is_closed(); }, std::chrono::seconds(15)));
  CHECK(rec->closed->has_value());
}

TEST_CASE("stopping a watch is immediate and silences it") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "stop");
  auto rec = std::make_shared<recorded>();
  auto w = watch_config_maps(c, ns, list_rv(c, ns), rec);
  REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("first"), cb); }));
  REQUIRE(wait_until([&] { return rec->count("ADDED") == 1; }, std::chrono::seconds(10)));
  const auto t0 = std::chrono::steady_clock::now();
  w->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(100));
  CHECK(w->stopped());
  REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("second"), cb); }));
  // Give a wrongly delivered event every chance to arrive before asserting it did not.
  (void)wait_until([&] { return rec->count("ADDED") > 1; }, std::chrono::seconds(1));
  CHECK(rec->count("ADDED") == 1);
  std::lock_guard<std::mutex> lock(rec->m);
  CHECK_FALSE(rec->closed.has_value());
}
