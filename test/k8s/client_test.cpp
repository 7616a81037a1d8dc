#include "k8s/client.hpp"
#include "k8s/events.hpp"
#include "k8s/lease.hpp"
#include "k8s/request.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "test/k8s/k8s_test_support.hpp"

using namespace dbuser::k8s;
using namespace dbuser::k8s::test;

TEST_CASE("config maps are created, read, updated, patched, listed and deleted") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "crud");
  auto created = sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("cm", {{"a", "1"}}), cb); });
  REQUIRE(created);
  CHECK((*created)["data"]["a"] == "1");
  const object_ref ref{resource::config_maps(), ns, "cm", ""};

  auto got = sync([&](auto cb) { c->get(ref, cb); });
  REQUIRE(got);
  CHECK(uid_of(*got) == uid_of(*created));

  json changed = *got;
  changed["data"]["a"] = "2";
  auto updated = sync([&](auto cb) { c->update(ref, changed, cb); });
  REQUIRE(updated);
  CHECK((*updated)["data"]["a"] == "2");
  CHECK(resource_version_of(*updated) != resource_version_of(*got));

  auto merged = sync([&](auto cb) { c->patch(ref, patch_type::merge, {{"data", {{"b", "x"}}}}, cb); });
  REQUIRE(merged);
  CHECK((*merged)["data"] == json{{"a", "2"}, {"b", "x"}});

  auto jsonpatched = sync([&](auto cb) {
    c->patch(ref, patch_type::json, json::array({{{"op", "remove"}, {"path", "/data/a"}}}), cb);
  });
  REQUIRE(jsonpatched);
  CHECK((*jsonpatched)["data"] == json{{"b", "x"}});

  auto listed = sync([&](auto cb) { c->list(resource::config_maps(), ns, {}, cb); });
  REQUIRE(listed);
  bool found = false;
  for (const auto& item : (*listed)["items"]) found = found || name_of(item) == "cm";
  CHECK(found);

  auto removed = sync([&](auto cb) { c->remove(ref, {}, cb); });
  REQUIRE(removed);
  CHECK(not_found(c, ref));
}

TEST_CASE("writes record the dbuser-operator field manager") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "fm");
  auto created = sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("cm", {{"a", "1"}}), cb); });
  REQUIRE(created);
  REQUIRE((*created)["metadata"]["managedFields"].is_array());
  CHECK((*created)["metadata"]["managedFields"][0]["manager"] == "dbuser-operator");
}

TEST_CASE("secrets keep their data and their type") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "sec");
  json s{{"apiVersion", "v1"},
         {"kind", "Secret"},
         {"metadata", {{"name", "creds"}}},
         {"type", "Opaque"},
         {"stringData", {{"username", "myapp"}}}};
  auto created = sync([&](auto cb) { c->create(resource::secrets(), ns, s, cb); });
  REQUIRE(created);
  const object_ref ref{resource::secrets(), ns, "creds", ""};
  auto got = sync([&](auto cb) { c->get(ref, cb); });
  REQUIRE(got);
  CHECK((*got)["data"]["username"] == "bXlhcHA="); // base64("myapp")
  auto patched = sync([&](auto cb) { c->patch(ref, patch_type::merge, {{"stringData", {{"port", "5432"}}}}, cb); });
  REQUIRE(patched);
  CHECK((*patched)["data"].contains("username"));
  CHECK((*patched)["data"]["port"] == "NTQzMg==");
  REQUIRE(sync([&](auto cb) { c->remove(ref, {}, cb); }));
}

TEST_CASE("an update with a stale resourceVersion fails with Conflict") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "conflict");
  auto v1 = sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("cm", {{"a", "1"}}), cb); });
  REQUIRE(v1);
  const object_ref ref{resource::config_maps(), ns, "cm", ""};
  json first = *v1;
  first["data"]["a"] = "2";
  REQUIRE(sync([&](auto cb) { c->update(ref, first, cb); }));
  json stale = *v1; // still carries the first resourceVersion
  stale["data"]["a"] = "3";
  auto r = sync([&](auto cb) { c->update(ref, stale, cb); });
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error::kind::conflict);
  CHECK(r.error().http_status == 409);
  CHECK(r.error().retryable());
}

TEST_CASE("creating an existing object fails with AlreadyExists") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "exists");
  REQUIRE(sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("cm"), cb); }));
  auto again = sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("cm"), cb); });
  REQUIRE_FALSE(again);
  CHECK(again.error().code == error::kind::already_exists);
  CHECK_FALSE(again.error().retryable());
}

namespace {
json postgres_user(const std::string& name) {
  return json{{"apiVersion", "database.example.com/v1alpha1"},
              {"kind", "PostgresUser"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"username", "myapp"},
                {"database", "myapp_db"},
                {"host", "127.0.0.1"},
                {"adminSecretRef", {{"name", "postgres-admin"}}},
                {"privileges", {"SELECT", "INSERT"}},
                {"secretName", "myapp-db-credentials"}}}};
}
// Deletes the test's PostgresUser when the case ends (finalizers stripped first): left behind, it
// would be claimed by any later operator that watches every namespace (the bench), and wait
// for an admin Secret forever.
struct user_cleanup {
  std::shared_ptr<client> c;
  std::string ns, name;
  ~user_cleanup() {
    const object_ref ref{resource::postgres_users(), ns, name, ""};
    (void)sync([&](auto cb) {
      c->patch(ref, patch_type::merge, json{{"metadata", {{"finalizers", nullptr}}}}, cb);
    });
    (void)sync([&](auto cb) { c->remove(ref, {}, cb); });
  }
};
} // namespace

TEST_CASE("a status patch of a PostgresUser changes its status and not its spec") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "status");
  user_cleanup cleanup{c, ns, "app-user"};
  auto created = sync([&](auto cb) { c->create(resource::postgres_users(), ns, postgres_user("app-user"), cb); });
  REQUIRE(created);
  object_ref status_ref{resource::postgres_users(), ns, "app-user", "status"};
  json patch{{"status", {{"ready", true}, {"message", "reconciled"}, {"observedGeneration", 1}}},
             {"spec", {{"database", "sneaky"}}}};
  auto patched = sync([&](auto cb) { c->patch(status_ref, patch_type::merge, patch, cb); });
  REQUIRE(patched);
  auto got = sync([&](auto cb) { c->get({resource::postgres_users(), ns, "app-user", ""}, cb); });
  REQUIRE(got);
  CHECK((*got)["status"]["ready"] == true);
  CHECK((*got)["status"]["message"] == "reconciled");
  CHECK((*got)["spec"] == (*created)["spec"]);
  CHECK((*got)["metadata"]["generation"] == (*created)["metadata"]["generation"]);
}

TEST_CASE("an invalid PostgresUser is rejected as Invalid with the offending field") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "invalid");
  json bad = postgres_user("bad");
  bad["spec"].erase("username");
  auto r = sync([&](auto cb) { c->create(resource::postgres_users(), ns, bad, cb); });
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error::kind::invalid);
  REQUIRE_FALSE(r.error().causes.empty());
  CHECK(r.error().to_string().find("username") != std::string::npos);
}

TEST_CASE("a delete with a wrong uid precondition fails and leaves the object") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "precond");
  auto created = sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map("cm"), cb); });
  REQUIRE(created);
  const object_ref ref{resource::config_maps(), ns, "cm", ""};
  delete_options wrong;
  wrong.uid = "00000000-0000-0000-0000-000000000000";
  auto r = sync([&](auto cb) { c->remove(ref, wrong, cb); });
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error::kind::conflict);
  REQUIRE(sync([&](auto cb) { c->get(ref, cb); }));

  delete_options right;
  right.uid = uid_of(*created);
  right.resource_version = resource_version_of(*created);
  right.propagation = "Background";
  REQUIRE(sync([&](auto cb) { c->remove(ref, right, cb); }));
  CHECK(not_found(c, ref));
}

TEST_CASE("list_all follows continue tokens across pages") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "pages");
  for (int i = 0; i < 7; ++i)
    REQUIRE(sync([&](auto cb) {
      c->create(resource::config_maps(), ns, config_map("cm-" + std::to_string(i), {}, {{"set", "paged"}}), cb);
    }));
  list_options o;
  o.limit = 3;
  o.label_selector = "set=paged";
  auto first = sync([&](auto cb) { c->list(resource::config_maps(), ns, o, cb); });
  REQUIRE(first);
  CHECK((*first)["items"].size() == 3);
  CHECK_FALSE((*first)["metadata"].value("continue", std::string()).empty());
  auto all = sync([&](auto cb) { c->list_all(resource::config_maps(), ns, o, cb); });
  REQUIRE(all);
  CHECK((*all)["items"].size() == 7);
  CHECK_FALSE((*all)["metadata"].value("resourceVersion", std::string()).empty());
}

TEST_CASE("server-side apply creates and then updates an object") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "apply");
  const object_ref ref{resource::config_maps(), ns, "applied", ""};
  json desired = config_map("applied", {{"k", "v1"}});
  desired["metadata"]["namespace"] = ns;
  auto first = sync([&](auto cb) { c->patch(ref, patch_type::apply, desired, cb); });
  REQUIRE(first);
  desired["data"]["k"] = "v2";
  auto second = sync([&](auto cb) { c->patch(ref, patch_type::apply, desired, cb); });
  REQUIRE(second);
  CHECK((*second)["data"]["k"] == "v2");
}

TEST_CASE("a repeated event is aggregated into one Event with a count") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "events");
  user_cleanup cleanup{c, ns, "app-user"};
  auto pu = sync([&](auto cb) { c->create(resource::postgres_users(), ns, postgres_user("app-user"), cb); });
  REQUIRE(pu);
  event_info info{"Warning", "RoleConflict", "role myapp exists without our marker", "dbuser-operator", ""};
  for (int i = 0; i < 3; ++i) REQUIRE(sync([&](auto cb) { record_event(c, *pu, info, cb); }));
  REQUIRE(sync([&](auto cb) { record_event(c, *pu, {"Normal", "Reconciled", "ok", "dbuser-operator", ""}, cb); }));
  auto events = sync([&](auto cb) { c->list(resource::events(), ns, {}, cb); });
  REQUIRE(events);
  REQUIRE((*events)["items"].size() == 2);
  for (const auto& e : (*events)["items"]) {
    CHECK(e["involvedObject"]["uid"] == uid_of(*pu));
    CHECK(e["count"] == (e["reason"] == "RoleConflict" ? 3 : 1));
  }
}

TEST_CASE("a lease is created and renewed, and a renewal from a stale copy conflicts") {
  auto c = admin_client();
  const auto ns = fresh_namespace(c, "lease");
  lease_spec s;
  s.holder = "a";
  s.acquire_time = s.renew_time = std::chrono::system_clock::now();
  auto created = sync([&](auto cb) { create_lease(c, ns, "dbuser-operator", s, cb); });
  REQUIRE(created);
  s.renew_time = std::chrono::system_clock::now();
  auto renewed = sync([&](auto cb) { update_lease(c, *created, s, cb); });
  REQUIRE(renewed);
  auto got = sync([&](auto cb) { get_lease(c, ns, "dbuser-operator", cb); });
  REQUIRE(got);
  CHECK(lease_spec_of(*got).holder == "a");
  s.holder = "b";
  auto stale = sync([&](auto cb) { update_lease(c, *created, s, cb); });
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == error::kind::conflict);
}

TEST_CASE("requests are counted by verb and HTTP code") {
  auto c = admin_client();
  (void)sync([&](auto cb) { c->get({resource::config_maps(), "default", "does-not-exist", ""}, cb); });
  bool seen = false;
  for (const auto& m : c->metrics()) seen = seen || (m.verb == "get" && m.code == 404 && m.count == 1);
  CHECK(seen);
}

TEST_CASE("get_metadata answers an object's metadata without its spec") {
  auto c = admin_client();
  const object_ref crd{resource::custom_resource_definitions(), "", "postgresusers.database.example.com",
                       ""};
  auto whole = sync([&](auto cb) { c->get(crd, cb); });
  REQUIRE(whole);
  auto meta = sync([&](auto cb) { c->get_metadata(crd, cb); });
  REQUIRE(meta);
  CHECK(meta->value("kind", "") == "PartialObjectMetadata");
  CHECK(meta->at("metadata").at("uid") == whole->at("metadata").at("uid"));
  CHECK_FALSE(meta->contains("spec"));
  CHECK(meta->dump().size() * 10 < whole->dump().size());
}

TEST_CASE("an unreachable server is a retryable transport error") {
  config cfg;
  cfg.server = "https://127.0.0.1:1";
  auto c = client::make(cfg);
  REQUIRE(c);
  auto r = sync([&](auto cb) { (*c)->get({resource::config_maps(), "default", "x", ""}, cb); });
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error::kind::transport);
  CHECK(r.error().retryable());
}

TEST_CASE("requests waiting for a connection take turns by namespace: one namespace's backlog does "
          "not hold back another's request") {
  client_options o;
  o.max_in_flight = 1; // every request but one waits
  auto c = admin_client(o);
  const auto busy = fresh_namespace(c, "busy");
  const auto other = fresh_namespace(c, "other");
  // The one connection is held for 2 s by a watch of the busy namespace sent as a plain request
  // (its answer ends at the server's timeout): every create below waits, queued in the order sent,
  // whatever the machine's load.
  watch_options hold;
  hold.timeout_seconds = 2;
  // Shared with the callback, which may run after this case ends (it runs after its slot passed on).
  auto held_done = std::make_shared<std::atomic<bool>>(false);
  c->raw(watch_request(resource::config_maps(), busy, hold),
         [held_done](dbuser::expected<json, error>) { *held_done = true; });
  std::mutex m;
  std::condition_variable cv;
  // Namespace and resourceVersion of each create: the server's order of the creates, which one
  // connection serialises, whatever order their callbacks run in.
  std::vector<std::pair<std::string, long long>> done;
  const auto create = [&](const std::string& ns, const std::string& name) {
    const json cm{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}};
    c->create(resource::config_maps(), ns, cm, [&, ns](dbuser::expected<json, error> r) {
      std::lock_guard<std::mutex> lock(m);
      done.emplace_back(ns, r ? std::stoll(r->at("metadata").at("resourceVersion").get<std::string>())
                              : -1);
      cv.notify_all();
    });
  };
  constexpr int backlog = 40;
  for (int i = 0; i < backlog; ++i)
    create(busy, "cm-" + std::to_string(i));
  create(other, "cm");
  REQUIRE_FALSE(*held_done); // all 41 were queued while the connection was held
  std::unique_lock<std::mutex> lock(m);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done.size() == backlog + 1; }));
  long long other_rv = -1;
  for (const auto& d : done) {
    REQUIRE(d.second > 0);
    if (d.first == other)
      other_rv = d.second;
  }
  const auto before = std::count_if(done.begin(), done.end(), [&](const auto& d) {
    return d.first == busy && d.second < other_rv;
  });
  INFO("the other namespace's create was served after " << before << " of the busy namespace's "
                                                        << backlog);
  // Turns by namespace: the busy namespace's first create at most, then the other's (FIFO: 40).
  CHECK(before <= 1);
}
