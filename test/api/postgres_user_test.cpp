#include "api/postgres_role.hpp"
#include "api/postgres_user.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace dbuser;
using nlohmann::json;

namespace {

json quick_start() {
  return json::parse(R"({
    "apiVersion": "database.example.com/v1alpha1", "kind": "PostgresUser",
    "metadata": {"name": "app-user", "namespace": "default", "uid": "u-1", "generation": 3,
                 "resourceVersion": "17", "finalizers": ["database.example.com/finalizer"],
                 "annotations": {"database.example.com/rotate": "now"}},
    "spec": {"username": "myapp", "database": "myapp_db", "host": "127.0.0.1",
             "adminSecretRef": {"name": "postgres-admin"},
             "privileges": ["SELECT", "INSERT", "UPDATE", "DELETE"],
             "secretName": "myapp-db-credentials"}})");
}

std::string refusal(const json& obj) {
  auto r = api::parse_spec(obj);
  REQUIRE_FALSE(r);
  return r.error().message;
}

} // namespace

TEST_CASE("the original quick start parses with the documented defaults") {
  auto r = api::parse_spec(quick_start());
  REQUIRE(r);
  CHECK(r->username == "myapp");
  CHECK(r->port == 5432);
  CHECK(r->ssl_mode == "prefer");
  CHECK(r->admin.username_key == "username");
  CHECK(r->admin.password_key == "password");
  CHECK(r->connection_limit == -1);
  CHECK(r->deletion == api::deletion_policy::remove);
  CHECK_FALSE(r->rotation_interval);
}

TEST_CASE("metadata is read: key, generation, finalizers, annotations, deletion") {
  auto obj = quick_start();
  auto m = api::parse_meta(obj);
  CHECK(m.key() == "default/app-user");
  CHECK(m.generation == 3);
  CHECK(m.has_finalizer(api::finalizer));
  CHECK(m.annotation(api::rotate_annotation) == "now");
  CHECK_FALSE(m.deleting);
  obj["metadata"]["deletionTimestamp"] = "2026-11-26T00:00:00Z";
  CHECK(api::parse_meta(obj).deleting);
}

TEST_CASE("a spec with a dangerous or reserved username is refused with the field named") {
  for (const char* bad : {"x\"; DROP ROLE postgres; --", "postgres", "pg_monitor", "public",
                          "Robert'); DROP TABLE t;--", "UPPER"}) {
    auto obj = quick_start();
    obj["spec"]["username"] = bad;
    CHECK(refusal(obj).rfind("spec.username", 0) == 0);
  }
  auto obj = quick_start();
  obj["spec"]["username"] = std::string(64, 'a');
  CHECK(refusal(obj).rfind("spec.username", 0) == 0);
}

TEST_CASE("privileges outside the allowlist and SQL in privileges are refused") {
  auto obj = quick_start();
  obj["spec"]["privileges"] = {"SELECT", "SELECT ON pg_authid TO public; --"};
  CHECK(refusal(obj).rfind("spec.privileges", 0) == 0);
}

TEST_CASE("sslMode verify-full without a CA secret is refused") {
  auto obj = quick_start();
  obj["spec"]["sslMode"] = "verify-full";
  CHECK(refusal(obj).find("caSecretRef") != std::string::npos);
  obj["spec"]["caSecretRef"] = {{"name", "pg-ca"}};
  auto r = api::parse_spec(obj);
  REQUIRE(r);
  CHECK(r->ca_secret_ref->key == "ca.crt");
}

TEST_CASE("a secretName that is not a DNS subdomain is refused") {
  auto obj = quick_start();
  obj["spec"]["secretName"] = "Bad_Name";
  CHECK(refusal(obj).rfind("spec.secretName", 0) == 0);
}

TEST_CASE("grants naming one database twice are refused") {
  auto obj = quick_start();
  obj["spec"]["grants"] = json::parse(R"([{"database": "other", "privileges": ["SELECT"]},
                                          {"database": "other", "privileges": ["INSERT"]}])");
  CHECK(refusal(obj).find("listed twice") != std::string::npos);
}

TEST_CASE("durations are read like Go's and a rotation below the minimum is refused") {
  CHECK(api::parse_duration("720h") == std::chrono::hours(720));
  CHECK(api::parse_duration("1h30m") == std::chrono::minutes(90));
  CHECK(api::parse_duration("1.5h") == std::chrono::minutes(90));
  CHECK(api::parse_duration("45s") == std::chrono::seconds(45));
  CHECK_FALSE(api::parse_duration("10"));
  CHECK_FALSE(api::parse_duration("h"));
  CHECK_FALSE(api::parse_duration("5d"));
  auto obj = quick_start();
  obj["spec"]["passwordRotation"] = {{"interval", "1s"}};
  CHECK(refusal(obj).find("at least") != std::string::npos);
  obj["spec"]["passwordRotation"] = {{"interval", "720h"}};
  REQUIRE(api::parse_spec(obj));
  CHECK(*api::parse_spec(obj)->rotation_interval == std::chrono::hours(720));
}

TEST_CASE("the desired role carries the owner marker, the main database first, then grants") {
  auto obj = quick_start();
  obj["spec"]["grants"] = json::parse(R"([{"database": "reports", "privileges": ["SELECT"]}])");
  obj["spec"]["memberOf"] = {"readers", "readers", "auditors"};
  auto spec = api::parse_spec(obj);
  REQUIRE(spec);
  auto d = api::desired_role(*spec, "default/app-user");
  CHECK(d.name == "myapp");
  CHECK(pg::marker_owner(d.marker) == std::optional<std::string>("default/app-user"));
  REQUIRE(d.grants.size() == 2);
  CHECK(d.grants[0].database == "myapp_db");
  CHECK(d.grants[0].schema == "public");
  CHECK(d.grants[1].database == "reports");
  CHECK(d.member_of == std::vector<std::string>{"auditors", "readers"});
}

TEST_CASE("defaultPrivilegesFor names the creators of future tables, validated like every role") {
  auto obj = quick_start();
  obj["spec"]["defaultPrivilegesFor"] = json::array({"app_migrator"});
  obj["spec"]["grants"] = json::parse(
    R"([{"database": "other", "privileges": ["SELECT"], "defaultPrivilegesFor": ["etl"]}])");
  auto spec = api::parse_spec(obj);
  REQUIRE(spec);
  auto d = api::desired_role(*spec, "default/app-user");
  REQUIRE(d.grants.size() == 2);
  CHECK(d.grants[0].default_creators == std::vector<std::string>{"app_migrator"});
  CHECK(d.grants[1].default_creators == std::vector<std::string>{"etl"});

  obj["spec"]["defaultPrivilegesFor"] = json::array({"x\"; DROP ROLE postgres; --"});
  CHECK_THAT(refusal(obj), Catch::Contains("spec.defaultPrivilegesFor"));
  obj["spec"]["defaultPrivilegesFor"] = json::array({"pg_write_all_data"});
  CHECK_THAT(refusal(obj), Catch::Contains("spec.defaultPrivilegesFor"));
  obj["spec"]["defaultPrivilegesFor"] = json::array({"myapp"});
  CHECK_THAT(refusal(obj), Catch::Contains("the user itself"));
}

TEST_CASE("sequencePrivileges are absent by default, read when given, and refused outside the "
          "allowlist") {
  auto plain = api::parse_spec(quick_start());
  REQUIRE(plain);
  CHECK_FALSE(plain->sequence_privileges);
  auto d = api::desired_role(*plain, "default/app-user");
  CHECK_FALSE(d.grants[0].sequence_privileges);
  CHECK(d.grants[0].sequences()
        == pg::sequence_privilege_set{pg::sequence_privilege::usage, pg::sequence_privilege::select,
                                      pg::sequence_privilege::update});

  auto obj = quick_start();
  obj["spec"]["sequencePrivileges"] = json::array(); // none, written out
  obj["spec"]["grants"] = json::parse(
    R"([{"database": "other", "schema": "app", "privileges": ["SELECT"],
         "sequencePrivileges": ["usage"]}])");
  auto s = api::parse_spec(obj);
  REQUIRE(s);
  REQUIRE(s->sequence_privileges);
  CHECK(s->sequence_privileges->empty());
  auto e = api::desired_role(*s, "default/app-user");
  CHECK(e.grants[0].sequences().empty());
  CHECK(e.grants[1].sequences() == pg::sequence_privilege_set{pg::sequence_privilege::usage});

  obj["spec"]["grants"][0]["sequencePrivileges"] = json::array({"INSERT"});
  CHECK(refusal(obj)
        == "spec.grants[0].sequencePrivileges: privilege \"INSERT\" is not allowed: use USAGE, "
           "SELECT, UPDATE or ALL");
}

TEST_CASE("memberOf takes the allowlisted predefined roles and refuses the others with the list") {
  auto obj = quick_start();
  obj["spec"]["memberOf"] = json::array({"pg_monitor", "pg_read_all_data"});
  CHECK(api::parse_spec(obj));
  obj["spec"]["memberOf"] = json::array({"pg_execute_server_program"});
  CHECK_THAT(refusal(obj), Catch::StartsWith("spec.memberOf: ")
                             && Catch::Contains("use pg_read_all_data, pg_write_all_data"));
}

TEST_CASE("schemaPrivileges and functionPrivileges are read per schema entry and checked against "
          "their allowlists") {
  auto obj = quick_start();
  obj["spec"]["schemaPrivileges"] = json::array({"USAGE", "CREATE"});
  obj["spec"]["grants"] = json::parse(
    R"([{"database": "other", "schema": "app", "functionPrivileges": ["EXECUTE"]}])");
  auto s = api::parse_spec(obj);
  REQUIRE(s);
  auto d = api::desired_role(*s, "default/app-user");
  CHECK(d.grants[0].schema_privileges.contains(pg::schema_privilege::create));
  CHECK(d.grants[0].function_privileges.empty());
  CHECK_FALSE(d.grants[1].schema_privileges.contains(pg::schema_privilege::create));
  CHECK(d.grants[1].function_privileges.contains(pg::function_privilege::execute));
  obj["spec"]["schemaPrivileges"] = json::array({"DROP"});
  CHECK(refusal(obj)
        == "spec.schemaPrivileges: privilege \"DROP\" is not allowed: use USAGE, CREATE or ALL");
  obj["spec"].erase("schemaPrivileges");
  obj["spec"]["grants"][0]["functionPrivileges"] = json::array({"SELECT"});
  CHECK(refusal(obj)
        == "spec.grants[0].functionPrivileges: privilege \"SELECT\" is not allowed: use EXECUTE "
           "or ALL");
}

TEST_CASE("databaseOwner and ownedSchemas are read into the desired role: public, system schemas "
          "and duplicates are refused") {
  auto obj = quick_start();
  obj["spec"]["databaseOwner"] = true;
  obj["spec"]["ownedSchemas"] = json::array({"app", "audit"});
  auto s = api::parse_spec(obj);
  REQUIRE(s);
  auto d = api::desired_role(*s, "default/app-user");
  CHECK(d.owns_database);
  CHECK(d.owned_schemas == std::vector<std::string>{"app", "audit"});
  obj["spec"]["databaseOwner"] = "yes";
  CHECK(refusal(obj) == "spec.databaseOwner must be true or false");
  obj["spec"]["databaseOwner"] = false;
  obj["spec"]["ownedSchemas"] = json::array({"app", "public"});
  CHECK_THAT(refusal(obj), Catch::StartsWith("spec.ownedSchemas[1]: schema public belongs to the "
                                             "database's owner"));
  obj["spec"]["ownedSchemas"] = json::array({"pg_app"});
  CHECK_THAT(refusal(obj), Catch::StartsWith("spec.ownedSchemas[0]: "));
  obj["spec"]["ownedSchemas"] = json::array({"app", "app"});
  CHECK(refusal(obj) == "spec.ownedSchemas[1]: app is listed twice");
  obj["spec"]["ownedSchemas"] = json::array({"a\"b"});
  CHECK_THAT(refusal(obj), Catch::StartsWith("spec.ownedSchemas[0]: "));
}

TEST_CASE("a PostgresRole parses like a user without credentials: NOLOGIN, its own owner key, and "
          "credential fields refused") {
  auto obj = json::parse(R"({
    "apiVersion": "database.example.com/v1alpha1", "kind": "PostgresRole",
    "metadata": {"name": "readonly", "namespace": "team-a", "uid": "u-2"},
    "spec": {"roleName": "app_readonly", "database": "myapp_db", "host": "127.0.0.1",
             "adminSecretRef": {"name": "postgres-admin"}, "privileges": ["SELECT"],
             "grants": [{"database": "reports", "privileges": ["SELECT"]}],
             "memberOf": ["app_base"]}})");
  auto s = api::postgres_role::parse_spec(obj);
  INFO((s ? std::string() : s.error().message));
  REQUIRE(s);
  CHECK_FALSE(s->credentials);
  CHECK(s->username == "app_readonly");
  const auto owner = api::postgres_role::owner_key(api::parse_meta(obj));
  CHECK(owner == "PostgresRole team-a/readonly");
  auto d = api::postgres_role::desired_role(*s, owner);
  CHECK(d.name == "app_readonly");
  CHECK(d.login == pg::login_mode::disabled);
  CHECK(d.logins.empty());
  CHECK(d.verifier.empty());
  CHECK(d.marker == pg::owner_marker("PostgresRole team-a/readonly"));
  CHECK(d.marker != pg::owner_marker("team-a/readonly")); // never a PostgresUser's
  CHECK(d.grants.size() == 2);
  CHECK(d.member_of == std::vector<std::string>{"app_base"});
  CHECK(d.use_groups);
  // A PostgresUser's spec is not a role's, and the other way round.
  CHECK_FALSE(api::parse_spec(obj));
  for (const char* field : {"secretName", "passwordRotation", "passwordPolicy", "secretTemplate"}) {
    auto bad = obj;
    bad["spec"][field] = field == std::string("secretName") ? json("x") : json::object();
    auto r = api::postgres_role::parse_spec(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().message
          == "spec." + std::string(field) + " is not supported for this kind: it has no credentials");
  }
  obj["spec"]["roleName"] = "pg_monitor";
  auto r = api::postgres_role::parse_spec(obj);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::StartsWith("spec.roleName: "));
}
