#include "api/credentials.hpp"
#include "test/api/credentials_fixture.hpp"
#include "common/base64.hpp"

#include <catch2/catch.hpp>

using namespace dbuser;
using nlohmann::json;

namespace {

using test::creds;

api::user_spec spec() {
  api::user_spec s;
  s.username = "myapp";
  s.database = "my db";
  s.host = "127.0.0.1";
  s.port = 5433;
  s.secret_name = "myapp-db-credentials";
  return s;
}

api::object_meta owner() {
  api::object_meta m;
  m.ns = "team-a";
  m.name = "app-user";
  m.uid = "uid-1";
  return m;
}

} // namespace

TEST_CASE("base64 round-trips every length and rejects foreign characters") {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\x01\xff\x80 binary"}) {
    CHECK(base64_decode(base64_encode(s)) == s);
  }
  CHECK(base64_encode("abcd") == "YWJjZA==");
  CHECK_FALSE(base64_decode("YW*j"));
}

TEST_CASE("the uri and jdbc-url percent-encode what could break them") {
  auto s = spec();
  const std::string pw = "p@ss/w:rd?&#";
  CHECK(api::connection_uri(s, pw)
        == "postgresql://myapp:p%40ss%2Fw%3Ard%3F%26%23@127.0.0.1:5433/my%20db?sslmode=prefer");
  CHECK(api::jdbc_url(s, pw)
        == "jdbc:postgresql://127.0.0.1:5433/my%20db?user=myapp&password=p%40ss%2Fw%3Ard%3F%26%23"
           "&sslmode=prefer");
  s.host = "::1";
  CHECK(api::connection_uri(s, "x").find("@[::1]:5433/") != std::string::npos);
}

TEST_CASE("the credentials Secret holds every key, our labels and a controller reference") {
  auto secret = api::credentials_secret(spec(), owner(), creds("pw"));
  CHECK(secret["metadata"]["namespace"] == "team-a");
  CHECK(secret["metadata"]["labels"][api::managed_by_label] == "dbuser-operator");
  CHECK(secret["metadata"]["labels"][api::owner_label] == "app-user");
  for (const char* k : {"username", "password", "host", "port", "database", "uri", "jdbc-url"})
    CHECK(api::secret_value(secret, k));
  CHECK(api::secret_value(secret, "port") == std::optional<std::string>("5433"));
  CHECK_FALSE(api::secret_value(secret, api::key_pending_password));
  CHECK(api::owner_of_secret(&secret, owner()) == api::secret_owner::ours);
}

TEST_CASE("a Secret without our controller reference is someone else's") {
  json foreign = {{"metadata", {{"name", "myapp-db-credentials"}}}};
  CHECK(api::owner_of_secret(&foreign, owner()) == api::secret_owner::other);
  auto other_uid = api::credentials_secret(spec(), owner(), creds("pw"));
  other_uid["metadata"]["ownerReferences"][0]["uid"] = "uid-2";
  CHECK(api::owner_of_secret(&other_uid, owner()) == api::secret_owner::other);
  CHECK(api::owner_of_secret(nullptr, owner()) == api::secret_owner::absent);
}

TEST_CASE("the patch sets our keys and removes a settled pending password") {
  auto p = api::credentials_patch(spec(), owner(),
                                  creds("pw", std::nullopt, "v1", "2026-01-01T00:00:00Z"), nullptr);
  CHECK(p["data"][api::key_pending_password].is_null());
  CHECK(p["data"].contains(api::key_pending_password));
  CHECK(p["metadata"]["annotations"]["database.example.com/rotated-for"] == "v1");
  auto q = api::credentials_patch(spec(), owner(), creds("pw", std::string("next")), nullptr);
  CHECK(api::secret_value(q, api::key_pending_password) == std::optional<std::string>("next"));
}

namespace {

api::user_spec templated(const json& tmpl) {
  auto s = spec();
  auto t = api::parse_secret_template(tmpl, api::default_secret_keys(), {});
  REQUIRE(t);
  s.secret_tmpl = std::move(*t);
  return s;
}

} // namespace

TEST_CASE("a Secret template adds its keys, labels, annotations and type to the default ones") {
  auto s = templated({{"type", "kubernetes.io/basic-auth"},
                      {"labels", {{"team", "a"}}},
                      {"annotations", {{"note", "n"}}},
                      {"data", {{"PGPASS", "{{ host }}:{{ port }}:*:{{ username }}:{{ password "
                                           "| pgpass }}"}}}});
  auto secret = api::credentials_secret(s, owner(), creds("p:w"));
  CHECK(secret["type"] == "kubernetes.io/basic-auth");
  CHECK(api::secret_value(secret, "PGPASS")
        == std::optional<std::string>("127.0.0.1:5433:*:myapp:p\\:w"));
  CHECK(api::secret_value(secret, "password") == std::optional<std::string>("p:w"));
  CHECK(secret["metadata"]["labels"]["team"] == "a");
  CHECK(secret["metadata"]["labels"][api::managed_by_label] == "dbuser-operator");
  CHECK(secret["metadata"]["annotations"]["note"] == "n");
  CHECK(api::secret_type_differs(json{{"type", "Opaque"}}, s));
  CHECK_FALSE(api::secret_type_differs(json::object(), spec()));
}

TEST_CASE("what an earlier template added and the current one does not is removed, nothing "
          "else") {
  auto before = templated({{"labels", {{"old-label", "x"}, {"kept", "y"}}},
                           {"data", {{"OLD", "{{ host }}"}, {"KEPT", "{{ port }}"}}}});
  auto current = api::credentials_secret(before, owner(), creds("pw"));
  current["data"]["someone-elses"] = "eA==";
  current["metadata"]["labels"]["someone-elses"] = "z";
  auto after = templated({{"labels", {{"kept", "y"}}}, {"data", {{"KEPT", "{{ port }}"}}}});
  auto p = api::credentials_patch(after, owner(), creds("pw"), &current);
  CHECK(p["data"]["OLD"].is_null());
  CHECK(p["data"].contains("OLD"));
  CHECK(api::secret_value(p, "KEPT") == std::optional<std::string>("5433"));
  CHECK_FALSE(p["data"].contains("someone-elses"));
  CHECK(p["metadata"]["labels"]["old-label"].is_null());
  CHECK(p["metadata"]["labels"]["kept"] == "y");
  CHECK_FALSE(p["metadata"]["labels"].contains("someone-elses"));
  // No template left: its record goes too.
  auto none = api::credentials_patch(spec(), owner(), creds("pw"), &current);
  CHECK(none["data"]["KEPT"].is_null());
  CHECK(none["metadata"]["annotations"][api::template_keys_annotation].is_null());
}

TEST_CASE("a Secret released on uninstall is adopted by a resource of the same name only") {
  auto secret = api::credentials_secret(spec(), owner(), creds("pw"));
  auto patch = api::release_patch(secret, owner());
  REQUIRE(patch);
  json released = secret.patch(*patch);
  CHECK(released["metadata"]["ownerReferences"].empty());
  CHECK(released["metadata"]["annotations"][api::released_annotation] == "team-a/app-user");
  auto reinstalled = owner();
  reinstalled.uid = "uid-2"; // the same name applied again: a new object
  CHECK(api::owner_of_secret(&released, reinstalled) == api::secret_owner::ours);
  auto other = reinstalled;
  other.name = "someone-else";
  CHECK(api::owner_of_secret(&released, other) == api::secret_owner::other);
  // Owned again by anyone (a controller reference), it is no longer released.
  auto taken = released;
  taken["metadata"]["ownerReferences"] = json::array({{{"uid", "uid-9"}, {"controller", true}}});
  CHECK(api::owner_of_secret(&taken, reinstalled) == api::secret_owner::other);
  // Without our label it is not ours to adopt.
  auto unlabelled = released;
  unlabelled["metadata"]["labels"].erase(api::managed_by_label);
  CHECK(api::owner_of_secret(&unlabelled, reinstalled) == api::secret_owner::other);
  // The adopting write removes the annotation (merge patch null).
  auto adopt = api::credentials_patch(spec(), reinstalled, creds("pw"), &released);
  CHECK(adopt["metadata"]["annotations"][api::released_annotation].is_null());
  CHECK(adopt["metadata"]["ownerReferences"][0]["uid"] == "uid-2");
  // Someone else's Secret is never released by us.
  CHECK_FALSE(api::release_patch(released, owner()));
}
