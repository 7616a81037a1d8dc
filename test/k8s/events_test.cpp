#include "k8s/events.hpp"
#include "k8s/lease.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::k8s;
using nlohmann::json;

namespace {
json pguser() {
  return json{{"apiVersion", "database.example.com/v1alpha1"},
              {"kind", "PostgresUser"},
              {"metadata", {{"name", "app-user"}, {"namespace", "team-a"}, {"uid", "u-1"}, {"resourceVersion", "9"}}}};
}
} // namespace

TEST_CASE("the same object, reason and message always name the same Event") {
  event_info a{"Warning", "RoleConflict", "role exists", "dbuser-operator", ""};
  CHECK(event_name(pguser(), a) == event_name(pguser(), a));
  event_info b = a;
  b.message = "other";
  CHECK(event_name(pguser(), a) != event_name(pguser(), b));
  CHECK(event_name(pguser(), a).rfind("app-user.", 0) == 0);
}

TEST_CASE("an Event refers to its object and starts with count 1") {
  using namespace std::chrono;
  auto now = system_clock::from_time_t(1700000000);
  auto ev = make_event(pguser(), {"Normal", "Reconciled", "ok", "dbuser-operator", ""}, now);
  CHECK(ev["metadata"]["namespace"] == "team-a");
  CHECK(ev["involvedObject"]["kind"] == "PostgresUser");
  CHECK(ev["involvedObject"]["uid"] == "u-1");
  CHECK(ev["involvedObject"]["apiVersion"] == "database.example.com/v1alpha1");
  CHECK(ev["count"] == 1);
  CHECK(ev["type"] == "Normal");
  CHECK(ev["source"]["component"] == "dbuser-operator");
  CHECK(ev["firstTimestamp"] == "2023-11-14T22:13:20Z");
}

TEST_CASE("a repeated Event bumps count and lastTimestamp guarded by its resourceVersion") {
  json existing{{"metadata", {{"resourceVersion", "55"}}}, {"count", 4}};
  auto p = event_repeat_patch(existing, std::chrono::system_clock::from_time_t(1700000001));
  CHECK(p["count"] == 5);
  CHECK(p["metadata"]["resourceVersion"] == "55");
  CHECK(p["lastTimestamp"] == "2023-11-14T22:13:21Z");
}

TEST_CASE("a Lease round-trips holder, duration, times and transitions") {
  using namespace std::chrono;
  lease_spec s;
  s.holder = "pod-1";
  s.lease_duration_seconds = 20;
  s.acquire_time = system_clock::from_time_t(1700000000) + microseconds(250);
  s.renew_time = system_clock::from_time_t(1700000010);
  s.transitions = 3;
  auto l = make_lease("ns", "dbuser-operator", s);
  CHECK(l["apiVersion"] == "coordination.k8s.io/v1");
  CHECK(l["spec"]["acquireTime"] == "2023-11-14T22:13:20.000250Z");
  auto back = lease_spec_of(l);
  CHECK(back.holder == "pod-1");
  CHECK(back.lease_duration_seconds == 20);
  CHECK(back.transitions == 3);
  REQUIRE(back.acquire_time);
  CHECK(*back.acquire_time == *s.acquire_time);
  CHECK(*back.renew_time == *s.renew_time);
}

TEST_CASE("an Event refused because its namespace is being deleted is recorded on the Namespace, "
          "naming the object") {
  // The body kube-apiserver answers (NamespaceLifecycle admission) to a create in a namespace
  // that is being deleted.
  const auto refused = error_from_response(403, R"({"kind":"Status","apiVersion":"v1",
    "status":"Failure","reason":"Forbidden","code":403,
    "message":"events \"x\" is forbidden: unable to create new content in namespace team-a because it is being terminated",
    "details":{"name":"x","kind":"events","causes":[{"reason":"NamespaceTerminating",
    "message":"namespace team-a is being terminated","field":"metadata.namespace"}]}})");
  CHECK(namespace_terminating(refused));
  CHECK_FALSE(namespace_terminating(error_from_response(
    403, R"({"kind":"Status","reason":"Forbidden","code":403,"message":"no RBAC"})")));

  auto now = std::chrono::system_clock::from_time_t(1700000000);
  auto ev = make_namespace_event(pguser(), {"Warning", "Deleting", "cannot drop role x", "dbuser-operator", ""}, now);
  CHECK(ev["metadata"]["namespace"] == "default");
  CHECK(ev["involvedObject"]["kind"] == "Namespace");
  CHECK(ev["involvedObject"]["name"] == "team-a");
  CHECK(ev["involvedObject"]["namespace"] == "");
  CHECK(ev["type"] == "Warning");
  CHECK(ev["reason"] == "Deleting");
  CHECK(ev["message"] == "PostgresUser app-user: cannot drop role x");
}
