// Acceptance tests of pg/ against the real PostgreSQL of the dev environment (hack/dev-up.sh).
// The test itself uses libpqxx directly, as the admin and as the managed role, to look at the
// state of the world independently of the executor.

#include "common/quote.hpp"
#include "pg/executor.hpp"
#include "pg/groups.hpp"
#include "pg/login.hpp"
#include "pg/scram.hpp"
#include "pg/password.hpp"
#include "pg/sql.hpp"
#include "pg/validation.hpp"
#include "test/support/dev_env.hpp"
#include "test/support/engine_checks.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace dbuser::pg;
using dbuser::test::dev_env;

namespace {

std::string name(const std::string& prefix) { return dbuser::test::sql_name(prefix); }

target admin_target() {
  const auto& env = dev_env::get();
  target t;
  t.host = env.pg_host();
  t.port = env.pg_port();
  t.admin_user = env.pg_user();
  t.admin_password = env.pg_password();
  t.connect_timeout = std::chrono::seconds(5);
  t.statement_timeout = std::chrono::milliseconds(10000);
  return t;
}

executor make_executor(target t = admin_target()) {
  return dbuser::test::created<executor>(std::move(t));
}

std::string quote_conninfo(const std::string& v) { return dbuser::quote_escaped(v, '\''); }

std::string role_conninfo(const std::string& role, const std::string& password,
                          const std::string& db) {
  const auto& env = dev_env::get();
  return "host=" + env.pg_host() + " port=" + std::to_string(env.pg_port())
         + " user=" + quote_conninfo(role) + " password=" + quote_conninfo(password)
         + " dbname=" + quote_conninfo(db) + " sslmode=disable";
}

// Runs statements as the admin in `db`, outside a transaction.
void admin_exec(const std::string& db, const std::vector<std::string>& statements) {
  pqxx::connection c(dev_env::get().pg_admin_conninfo(db));
  pqxx::nontransaction tx(c);
  for (const auto& s : statements)
    tx.exec(s);
}

std::string admin_value(const std::string& db, const std::string& query) {
  pqxx::connection c(dev_env::get().pg_admin_conninfo(db));
  pqxx::nontransaction tx(c);
  auto r = tx.exec(query);
  return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].as<std::string>();
}

// "" on success, else the SQLSTATE.
std::string try_exec(pqxx::connection& c, const std::string& statement) {
  try {
    pqxx::nontransaction tx(c);
    tx.exec(statement);
    return "";
  } catch (const pqxx::insufficient_privilege&) {
    return "42501"; // libpqxx 6.4 leaves sqlstate() empty for this one
  } catch (const pqxx::sql_error& e) {
    return e.sqlstate();
  }
}

std::string password() {
  auto p = generate_password();
  REQUIRE(p);
  return *p;
}

std::string verifier(const std::string& pw, const std::string& role) {
  auto v = scram_verifier(pw, role);
  REQUIRE(v);
  return *v;
}

// Drops what a test created, whatever happened.
struct cleanup {
  std::vector<std::string> roles;
  std::vector<std::string> databases;
  std::vector<std::string> groups;
  ~cleanup() {
    try {
      auto e = executor::create(admin_target());
      if (e)
        for (const auto& r : roles)
          (void)e->drop_role(r);
      if (e)
        e->close();
      for (const auto& d : databases)
        admin_exec("postgres", {"DROP DATABASE IF EXISTS " + sql::quote_ident(d) + " WITH (FORCE)"});
      for (const auto& g : groups)
        admin_exec("postgres", {"DROP ROLE IF EXISTS " + sql::quote_ident(g)});
    } catch (...) { // never throw from a destructor
    }
  }
};

desired_role desired(const std::string& role, const std::string& db, privilege_set privileges,
                     const std::string& pw) {
  desired_role d;
  d.name = role;
  d.marker = owner_marker("test/" + role);
  d.grants.push_back(grant_scope{db, "public", privileges, true});
  d.verifier = verifier(pw, role);
  return d;
}

// Whether one of the descriptions of what was done contains `text`.
bool did(const std::vector<std::string>& done, const std::string& text) {
  return std::any_of(done.begin(), done.end(),
                     [&](const std::string& d) { return d.find(text) != std::string::npos; });
}

bool converged(executor& ex, const desired_role& d) {
  auto o = ex.observe(d);
  REQUIRE(o);
  auto p = plan(d, *o, dev_env::get().pg_user());
  REQUIRE(p);
  for (const auto& a : *p)
    UNSCOPED_INFO("still planned: " << a.description);
  return p->empty();
}

} // namespace

TEST_CASE("a created role logs in over TCP with scram and holds exactly the granted privileges") {
  const auto role = name("app");
  const auto db = name("appdb");
  cleanup c{{role}, {db}, {}};
  auto ex = make_executor();
  REQUIRE(ex.ensure_database(db).value());
  admin_exec(db, {"CREATE TABLE before_t (id int)", "INSERT INTO before_t VALUES (1)"});

  const auto pw = password();
  auto d = desired(role, db, *parse_privileges({"SELECT", "INSERT", "UPDATE", "DELETE"}), pw);
  auto done = ex.converge(d);
  REQUIRE(done);
  CHECK(std::find(done->begin(), done->end(), "created role " + role) != done->end());
  // Granted once to the privilege group of (db, public, these privileges), the role a member.
  CHECK(did(*done, "granted SELECT, INSERT, UPDATE, DELETE on " + db + ".public (privilege group "));
  CHECK(did(*done, "granted membership in privilege group dbuser-g-"));
  admin_exec(db, {"CREATE TABLE after_t (id int)", "INSERT INTO after_t VALUES (1)"});

  CHECK(admin_value("postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'")
          .rfind("SCRAM-SHA-256$4096:", 0)
        == 0);
  auto login = ex.login_check(role, pw, db);
  CHECK(login.ok);
  CHECK(login.message.empty());
  CHECK_THAT(login.server_version, Catch::StartsWith(dev_env::get().value("DBUSER_PG_MAJOR", "15") + "."));
  CHECK(login.latency_ms > 0);

  pqxx::connection as_role(role_conninfo(role, pw, db));
  for (const std::string t : {"before_t", "after_t"}) {
    INFO(t);
    CHECK(try_exec(as_role, "SELECT * FROM " + t).empty());
    CHECK(try_exec(as_role, "INSERT INTO " + t + " VALUES (2)").empty());
    CHECK(try_exec(as_role, "UPDATE " + t + " SET id = 3 WHERE id = 2").empty());
    CHECK(try_exec(as_role, "DELETE FROM " + t + " WHERE id = 3").empty());
    CHECK(try_exec(as_role, "TRUNCATE " + t) == "42501");
  }

  SECTION("after the privilege list shrinks, the removed privileges are gone") {
    d.grants[0].privileges = *parse_privileges({"SELECT"});
    auto shrunk = ex.converge(d);
    REQUIRE(shrunk);
    // It moves to the group of SELECT alone; the old group, now unused, is dropped.
    CHECK(did(*shrunk, "granted SELECT on " + db + ".public (privilege group "));
    CHECK(did(*shrunk, "revoked membership in privilege group dbuser-g-"));
    CHECK(did(*shrunk, "dropped the unused privilege group dbuser-g-"));
    admin_exec(db, {"CREATE TABLE later_t (id int)"});
    for (const std::string t : {"before_t", "after_t", "later_t"}) {
      INFO(t);
      CHECK(try_exec(as_role, "SELECT * FROM " + t).empty());
      CHECK(try_exec(as_role, "INSERT INTO " + t + " VALUES (2)") == "42501");
      CHECK(try_exec(as_role, "DELETE FROM " + t) == "42501");
    }
    CHECK(converged(ex, d));
  }

  SECTION("a wrong password fails the login check with an auth error that does not echo it") {
    const std::string wrong = "wrong-" + pw;
    auto bad = ex.login_check(role, wrong, db);
    CHECK_FALSE(bad.ok);
    REQUIRE(bad.failure);
    CHECK(bad.failure->kind == error_kind::auth);
    CHECK_FALSE(bad.failure->transient());
    CHECK_THAT(bad.message, Catch::Contains("password authentication failed"));
    CHECK(bad.message.find(wrong) == std::string::npos);
  }
}

TEST_CASE("injection names are rejected by validation and inert through the builders") {
  const std::string admin = dev_env::get().pg_user();
  for (const std::string& bad : {std::string("x\"; DROP ROLE postgres; --"),
                                std::string("Robert'); DROP TABLE t;--"), std::string(64, 'a'),
                                std::string("pg_x"), std::string("postgres")}) {
    INFO(bad);
    CHECK_FALSE(validate_role_name(bad, admin));
  }

  const auto db = name("injdb");
  const std::string role1 = "x\"; DROP ROLE postgres; --";
  const std::string role2 = "Robert'); DROP TABLE t;--";
  cleanup c{{role1, role2}, {db}, {}};
  auto ex = make_executor();
  REQUIRE(ex.ensure_database(db).value());
  admin_exec(db, {"CREATE TABLE t (id int)", "INSERT INTO t VALUES (42)"});

  for (const auto& role : {role1, role2}) {
    INFO(role);
    const auto pw = password();
    auto d = desired(role, db, privilege_set{privilege::select}, pw);
    d.marker = owner_marker("ns/it's'; DROP TABLE t; --"); // a quote in a literal, too
    d.member_of = {"x\"; DROP ROLE postgres; --y"};          // a group that does not exist
    auto failed = ex.converge(d);
    REQUIRE_FALSE(failed); // the hostile group name is just a missing role
    CHECK(failed.error().sqlstate == "42704");
    CHECK(failed.error().kind == error_kind::invalid);
    d.member_of.clear();
    REQUIRE(ex.converge(d));
    CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                    + *sql::quote_literal(role))
          == "1");
    CHECK(ex.login_check(role, pw, db).ok);
    CHECK(converged(ex, d));
  }
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'postgres'") == "1");
  CHECK(admin_value(db, "SELECT id FROM t") == "42");
  for (const auto& role : {role1, role2}) {
    REQUIRE(ex.drop_role(role));
    CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                    + *sql::quote_literal(role))
          == "0");
  }
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'postgres'") == "1");
  CHECK(admin_value(db, "SELECT id FROM t") == "42");
}

TEST_CASE("with log_statement all no plaintext password reaches the server log or pg_stat_activity") {
  const auto& env = dev_env::get();
  const auto log_path = env.at("DBUSER_PG_LOG");
  const auto role = name("logged");
  const auto db = name("logdb");
  // The executor runs as an admin of its own whose sessions log every statement: a role setting,
  // applied when each session starts. (It used ALTER SYSTEM and a reload, which is server-wide
  // and asynchronous: any session not yet past the reload, or another test's reset, missed it.)
  const auto admin = name("logadmin");
  const auto admin_password = password();
  cleanup c{{role, admin}, {db}, {}};
  admin_exec("postgres", {"CREATE ROLE " + sql::quote_ident(admin)
                            + " LOGIN CREATEROLE CREATEDB PASSWORD "
                            + *sql::quote_literal(verifier(admin_password, admin)),
                          "ALTER ROLE " + sql::quote_ident(admin) + " SET log_statement = 'all'"});
  const auto log_start = std::filesystem::file_size(log_path);

  auto t = admin_target();
  t.admin_user = admin;
  t.admin_password = admin_password;
  auto ex = make_executor(t);
  const auto first = password();
  auto d = desired(role, db, privilege_set{privilege::select}, first);
  REQUIRE(ex.converge(d));
  const auto second = password();
  REQUIRE(ex.set_password(role, verifier(second, role)));
  CHECK(ex.login_check(role, second, db).ok);
  CHECK_FALSE(ex.login_check(role, first, db).ok);

  // pg_stat_activity: read every query text and search here, so the search itself sends nothing.
  {
    pqxx::connection superuser(env.pg_admin_conninfo("postgres"));
    pqxx::nontransaction tx(superuser);
    for (const auto& row : tx.exec("SELECT coalesce(query, '') FROM pg_stat_activity")) {
      const auto q = row[0].as<std::string>();
      CHECK(q.find(first) == std::string::npos);
      CHECK(q.find(second) == std::string::npos);
    }
  }
  // The server log: wait until the ALTER ROLE is there (logging is on), then search.
  auto log_since_start = [&] {
    std::ifstream in(log_path);
    in.seekg(static_cast<std::streamoff>(log_start));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  REQUIRE(dbuser::test::wait_until(
    [&] { return log_since_start().find("ALTER ROLE \"" + role + "\" PASSWORD") != std::string::npos; },
    std::chrono::seconds(10)));
  const auto log = log_since_start();
  CHECK(log.find("CREATE ROLE \"" + role + "\" LOGIN PASSWORD 'SCRAM-SHA-256$") != std::string::npos);
  CHECK(log.find(first) == std::string::npos);
  CHECK(log.find(second) == std::string::npos);
}

TEST_CASE("a role owning tables in two databases is dropped with its objects reassigned") {
  const auto role = name("owner");
  const auto db1 = name("owndb1");
  const auto db2 = name("owndb2");
  cleanup c{{role}, {db1, db2}, {}};
  auto ex = make_executor();
  auto d = desired(role, db1, privilege_set::all(), password());
  d.grants.push_back(grant_scope{db2, "public", privilege_set{privilege::select}, true});
  REQUIRE(ex.converge(d));
  for (const auto& db : {db1, db2})
    admin_exec(db, {"CREATE TABLE owned (id int)", "INSERT INTO owned VALUES (7)",
                    "ALTER TABLE owned OWNER TO " + sql::quote_ident(role)});
  CHECK(admin_value(db2, "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'") == role);

  auto dropped = ex.drop_role(role);
  REQUIRE(dropped);
  CHECK(did(*dropped, "dropped role " + role));
  CHECK(did(*dropped, "dropped the unused privilege group dbuser-g-")); // its two groups
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = '" + role + "'")
        == "0");
  for (const auto& db : {db1, db2}) {
    INFO(db);
    CHECK(admin_value(db, "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'")
          == dev_env::get().pg_user());
    CHECK(admin_value(db, "SELECT id FROM owned") == "7");
  }
  auto again = ex.drop_role(role); // idempotent
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE("converging twice changes nothing the second time") {
  const auto role = name("twice");
  const auto db = name("twicedb");
  const auto db2 = name("twicedb2");
  const auto group = name("grp");
  cleanup c{{role}, {db, db2}, {group}};
  admin_exec("postgres", {"CREATE ROLE " + sql::quote_ident(group) + " NOLOGIN"});
  auto ex = make_executor();
  auto d = desired(role, db, *parse_privileges({"SELECT", "UPDATE"}), password());
  d.connection_limit = 3;
  d.member_of = {group};
  d.grants.push_back(grant_scope{db2, "public", privilege_set{privilege::trigger}, true});
  REQUIRE(ex.ensure_database(db).value());
  admin_exec(db, {"CREATE TABLE t1 (id int)", "CREATE VIEW v1 AS SELECT * FROM t1"});

  auto first = ex.converge(d);
  REQUIRE(first);
  CHECK_FALSE(first->empty());
  auto second = ex.converge(d);
  REQUIRE(second);
  CHECK(second->empty());
  CHECK(converged(ex, d));

  auto o = ex.observe(d);
  REQUIRE(o);
  CHECK(o->role.exists);
  CHECK(o->role.login);
  CHECK_FALSE(o->role.superuser);
  CHECK(o->role.connection_limit == 3);
  CHECK(o->role.comment == owner_marker("test/" + role));
  CHECK(o->role.member_of == std::vector<std::string>{group});
  CHECK(ownership_of(o->role, "test/" + role).state == ownership::ours);
  CHECK(ownership_of(o->role, "test/other").state == ownership::owned_by_other);

  SECTION("drift made by hand is repaired") {
    admin_exec(db, {"REVOKE UPDATE ON t1 FROM " + sql::quote_ident(role),
                    "ALTER ROLE " + sql::quote_ident(role) + " CREATEDB CONNECTION LIMIT 9"});
    CHECK_FALSE(converged(ex, d));
    REQUIRE(ex.converge(d));
    CHECK(converged(ex, d));
  }
}

TEST_CASE("a role without our marker is reported unmanaged") {
  const auto role = name("handmade");
  cleanup c{{role}, {}, {}};
  admin_exec("postgres", {"CREATE ROLE " + sql::quote_ident(role) + " LOGIN SUPERUSER"});
  auto ex = make_executor();
  desired_role d;
  d.name = role;
  auto o = ex.observe(d);
  REQUIRE(o);
  CHECK(o->role.superuser);
  CHECK(ownership_of(o->role, "test/" + role).state == ownership::unmanaged);
}

TEST_CASE("login client: logs in natively in every sslmode it answers, as libpq would") {
  const auto& env = dev_env::get();
  const auto role = name("native");
  const auto db = name("nativedb");
  cleanup c{{role}, {db}, {}};
  auto ex = make_executor();
  const auto pw = password();
  auto secret = make_scram_secret(pw, role);
  REQUIRE(secret);
  REQUIRE(secret->keys);
  auto d = desired(role, db, privilege_set{privilege::select}, pw);
  d.verifier = secret->verifier;
  REQUIRE(ex.converge(d));
  const std::string major = env.value("DBUSER_PG_MAJOR", "15") + ".";
  auto endpoint = [&](const std::string& mode, bool with_ca) {
    login_endpoint e;
    e.host = env.pg_host();
    e.port = env.pg_port();
    e.ssl_mode = mode;
    e.ca_path = with_ca ? env.at("DBUSER_PG_CA") : "";
    e.connect_timeout = std::chrono::seconds(5);
    return e;
  };
  for (const auto& [mode, with_ca] : std::vector<std::pair<std::string, bool>>{
         {"disable", false}, {"prefer", false}, {"require", false}, {"require", true},
         {"verify-ca", true}, {"verify-full", true}}) {
    INFO(mode << (with_ca ? " with the CA" : ""));
    login_client client(endpoint(mode, with_ca));
    for (const scram_keys* known : {static_cast<const scram_keys*>(nullptr), static_cast<const scram_keys*>(&*secret->keys)}) {
      auto r = client.check(role, pw, db, known, nullptr, {});
      CHECK_FALSE(r.unsupported);
      CHECK(r.ok);
      CHECK_FALSE(r.failure);
      CHECK_THAT(r.server_version, Catch::StartsWith(major));
    }
    auto wrong = client.check(role, pw + "x", db, nullptr, nullptr, {pw});
    CHECK_FALSE(wrong.unsupported);
    CHECK_FALSE(wrong.ok);
    REQUIRE(wrong.failure);
    CHECK(wrong.failure->kind == error_kind::auth);
    CHECK(wrong.failure->sqlstate == "28P01");
    CHECK_THAT(wrong.failure->message, Catch::Contains("password authentication failed"));
    CHECK(wrong.failure->to_string().find(pw) == std::string::npos);
  }

  login_client client(endpoint("require", true));
  SECTION("keys made with another salt are not used: the server's salt decides") {
    auto other = make_scram_secret(password(), role);
    REQUIRE(other);
    REQUIRE(other->keys);
    CHECK(client.check(role, pw, db, &*other->keys, nullptr, {}).ok);
  }
  SECTION("a verifier of another iteration count logs in: the server's count decides") {
    auto fewer = make_scram_secret(pw, role, 1024);
    REQUIRE(fewer);
    REQUIRE(fewer->keys);
    d.verifier = fewer->verifier;
    d.set_password = true;
    REQUIRE(ex.converge(d));
    CHECK(client.check(role, pw, db, nullptr, nullptr, {}).ok);
    CHECK(client.check(role, pw, db, &*fewer->keys, nullptr, {}).ok);
    CHECK(client.check(role, pw, db, &*secret->keys, nullptr, {}).ok); // 4096: not used
  }
  SECTION("a database that does not exist is the server's 3D000") {
    auto r = client.check(role, pw, db + "_missing", nullptr, nullptr, {});
    REQUIRE(r.failure);
    CHECK(r.failure->sqlstate == "3D000");
    CHECK(r.failure->kind == error_kind::invalid);
  }
  SECTION("a role that may not log in is refused with 28000") {
    admin_exec("postgres", {"ALTER ROLE " + dbuser::pg::sql::quote_ident(role) + " NOLOGIN"});
    auto r = client.check(role, pw, db, nullptr, nullptr, {});
    REQUIRE(r.failure);
    CHECK(r.failure->kind == error_kind::auth);
    CHECK(r.failure->sqlstate == "28000");
    CHECK_FALSE(ex.login_check(role, pw, db).ok);
  }
  SECTION("a closed port is unavailable, quickly") {
    auto e = endpoint("prefer", false);
    e.port = 1;
    auto r = login_client(e).check(role, pw, db, nullptr, nullptr, {});
    REQUIRE(r.failure);
    CHECK(r.failure->kind == error_kind::unavailable);
    CHECK_THAT(r.failure->message, Catch::Contains("refused"));
  }
  SECTION("sslmode allow and verify-full without a CA are left to libpq") {
    CHECK(login_client(endpoint("allow", false)).check(role, pw, db, nullptr, nullptr, {}).unsupported);
    CHECK(login_client(endpoint("verify-full", false))
            .check(role, pw, db, nullptr, nullptr, {})
            .unsupported);
  }
}

TEST_CASE("TLS verify-full connects with the right CA and fails clearly with a wrong one") {
  const auto& env = dev_env::get();
  const auto role = name("tls");
  const auto db = name("tlsdb");
  cleanup c{{role}, {db}, {}};

  auto good = admin_target();
  good.ssl_mode = "verify-full";
  good.ca_file = env.at("DBUSER_PG_CA");
  auto ex = make_executor(good);
  const auto pw = password();
  REQUIRE(ex.converge(desired(role, db, privilege_set{privilege::select}, pw)));
  auto login = ex.login_check(role, pw, db);
  CHECK(login.ok);
  CHECK(login.message.empty());

  SECTION("the CA given as bytes works the same") {
    std::ifstream in(env.at("DBUSER_PG_CA"));
    std::stringstream pem;
    pem << in.rdbuf();
    auto bytes = admin_target();
    bytes.ssl_mode = "verify-full";
    bytes.ca_pem = pem.str();
    auto ex2 = make_executor(bytes);
    CHECK(ex2.database_exists(db).value());
    CHECK(ex2.login_check(role, pw, db).ok);
  }

  SECTION("a CA that did not sign the server certificate is refused") {
    const auto dir = std::filesystem::temp_directory_path() / name("wrongca");
    std::filesystem::create_directories(dir);
    const auto ca = (dir / "ca.crt").string();
    auto made = dbuser::test::run_command(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=wrong-ca -keyout "
      + (dir / "ca.key").string() + " -out " + ca + " 2>/dev/null");
    REQUIRE(made.status == 0);
    auto wrong = admin_target();
    wrong.ssl_mode = "verify-full";
    wrong.ca_file = ca;
    auto ex3 = make_executor(wrong);
    auto r = ex3.database_exists(db);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == error_kind::invalid);
    CHECK_FALSE(r.error().transient());
    CHECK_THAT(r.error().message, Catch::Contains("certificate verify failed"));
    auto bad_login = ex3.login_check(role, pw, db);
    CHECK_FALSE(bad_login.ok);
    CHECK_THAT(bad_login.message, Catch::Contains("certificate verify failed"));
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("memberships and a second database's grants converge added and removed") {
  const auto role = name("multi");
  const auto db_a = name("multia");
  const auto db_b = name("multib");
  const auto g1 = name("g1");
  const auto g2 = name("g2");
  cleanup c{{role}, {db_a, db_b}, {g1, g2}};
  admin_exec("postgres", {"CREATE ROLE " + sql::quote_ident(g1) + " NOLOGIN",
                          "CREATE ROLE " + sql::quote_ident(g2) + " NOLOGIN"});
  auto ex = make_executor();
  REQUIRE(ex.ensure_database(db_b).value());
  admin_exec(db_b, {"CREATE SCHEMA reports", "CREATE TABLE reports.r (id int)",
                    "INSERT INTO reports.r VALUES (5)"});
  const auto pw = password();
  auto d = desired(role, db_a, privilege_set{privilege::select}, pw);
  d.member_of = {g1};
  d.grants.push_back(grant_scope{db_b, "reports", privilege_set{privilege::select}, false});
  REQUIRE(ex.converge(d));
  CHECK(converged(ex, d));

  auto members = [&] {
    return admin_value("postgres",
                       "SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m "
                       "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member "
                       "WHERE g.rolname NOT LIKE 'dbuser-g-%' AND r.rolname = '"
                         + role + "'");
  };
  CHECK(members() == g1);
  {
    pqxx::connection as_role(role_conninfo(role, pw, db_b));
    CHECK(try_exec(as_role, "SELECT * FROM reports.r").empty());
  }

  d.member_of = {g2};
  d.grants.pop_back();
  const auto readable_b = db_b + "_reports_s-"; // the group's name: db, schema, privileges
  auto changed = ex.converge(d);
  REQUIRE(changed);
  CHECK(std::find(changed->begin(), changed->end(), "granted membership in " + g2) != changed->end());
  CHECK(std::find(changed->begin(), changed->end(), "revoked membership in " + g1) != changed->end());
  // Its grants on db_b were its privilege group's: it left the group, which was dropped.
  CHECK(did(*changed, "revoked membership in privilege group dbuser-g-" + readable_b));
  CHECK(did(*changed, "dropped the unused privilege group dbuser-g-" + readable_b));
  CHECK(members() == g2);
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a "
                                "WHERE d.datname = '"
                                  + db_b + "' AND a.grantee = '" + role + "'::regrole")
        == "0");
  {
    pqxx::connection as_role(role_conninfo(role, pw, db_b)); // PUBLIC still has CONNECT
    CHECK(try_exec(as_role, "SELECT * FROM reports.r") == "42501");
  }
  CHECK(converged(ex, d));
  auto o = ex.observe(d);
  REQUIRE(o);
  CHECK(std::none_of(o->schemas.begin(), o->schemas.end(),
                     [&](const observed_schema& s) { return s.database == db_b; }));
}

TEST_CASE("a failing statement reports its context and neither password nor verifier") {
  auto ex = make_executor();
  const auto role = name("missing");
  const auto v = verifier(password(), role);
  auto r = ex.set_password(role, v);
  REQUIRE_FALSE(r);
  CHECK(r.error().sqlstate == "42704");
  CHECK(r.error().context == "while setting the password of role " + role);
  CHECK(r.error().to_string().find("SCRAM") == std::string::npos);
  CHECK_FALSE(r.error().transient());
}

TEST_CASE("a statement the admin may not run is a permanent permission error") {
  const auto role = name("weak");
  const auto db = name("weakdb");
  cleanup c{{role}, {db}, {}};
  auto ex = make_executor();
  const auto pw = password();
  REQUIRE(ex.converge(desired(role, db, privilege_set{privilege::select}, pw)));
  admin_exec(db, {"CREATE TABLE secret_t (id int)", "REVOKE ALL ON secret_t FROM " + sql::quote_ident(role)});
  auto as_weak = admin_target();
  as_weak.admin_user = role;
  as_weak.admin_password = pw;
  auto weak = make_executor(as_weak);
  auto r = weak.apply({action{db, "TRUNCATE secret_t", "truncated", "while truncating secret_t"}});
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::permission);
  CHECK(r.error().sqlstate == "42501");
  CHECK(r.error().context == "while truncating secret_t");
  CHECK_FALSE(r.error().transient());
  weak.close();
}

TEST_CASE("an unreachable server is a transient error") {
  dbuser::test::check_unreachable<executor>(admin_target(), "postgres");
}

TEST_CASE("roles with superuser, createrole, replication or bypassrls are reported as privileged") {
  const std::string plain = name("plain"), creator = name("creator"), super = name("super");
  admin_exec("postgres", {"CREATE ROLE " + plain, "CREATE ROLE " + creator + " CREATEROLE",
                          "CREATE ROLE " + super + " SUPERUSER"});
  auto ex = make_executor();
  auto checked = ex.check_member_of({plain, creator, super, "no_such_role_here", "pg_no_such"});
  REQUIRE(checked);
  CHECK(checked->privileged == std::vector<std::string>{creator, super});
  // Missing, but for predefined roles (the plan names the version that has them).
  CHECK(checked->missing == std::vector<std::string>{"no_such_role_here"});
  admin_exec("postgres", {"DROP ROLE " + plain, "DROP ROLE " + creator, "DROP ROLE " + super});
}

namespace {

// The dev environment's least-privilege admin (LOGIN CREATEROLE CREATEDB), or an admin of the
// test's own with `attributes` (e.g. "CREATEROLE" alone), dropped by the test's cleanup.
target admin_with(const std::string& admin, const std::string& attributes,
                  const std::string& admin_password) {
  admin_exec("postgres", {"CREATE ROLE " + sql::quote_ident(admin) + " LOGIN " + attributes
                            + " PASSWORD " + *sql::quote_literal(verifier(admin_password, admin))});
  auto t = admin_target();
  t.admin_user = admin;
  t.admin_password = admin_password;
  return t;
}

} // namespace

TEST_CASE("a least-privilege admin drops a role that owns tables, taking its privileges first") {
  const auto admin = name("lpadmin");
  const auto role = name("lpowner");
  const auto db = name("lpdb");
  cleanup c{{role, admin}, {db}, {}};
  auto ex = make_executor(admin_with(admin, "CREATEROLE CREATEDB", password()));
  const auto pw = password();
  auto converged_now = ex.converge(desired(role, db, privilege_set{privilege::select}, pw));
  INFO((converged_now ? std::string() : converged_now.error().to_string()));
  REQUIRE(converged_now);
  // The role creates a table of its own (the admin owns the database and lets it).
  {
    auto as_admin = pqxx::connection(role_conninfo(admin, ex.where().admin_password, db));
    pqxx::nontransaction w(as_admin);
    w.exec("GRANT CREATE ON SCHEMA public TO " + sql::quote_ident(role));
  }
  {
    pqxx::connection as_role(role_conninfo(role, pw, db));
    pqxx::nontransaction w(as_role);
    w.exec("CREATE TABLE mine (id int)");
    w.exec("INSERT INTO mine VALUES (1)");
  }
  auto dropped = ex.drop_role(role);
  INFO((dropped ? std::string() : dropped.error().to_string()));
  REQUIRE(dropped);
  CHECK(std::any_of(dropped->begin(), dropped->end(), [&](const std::string& d) {
    return d.find("granted role " + role + " to the admin " + admin) != std::string::npos;
  }));
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                  + *sql::quote_literal(role))
        == "0");
  CHECK(admin_value(db, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'mine'")
        == admin);
  CHECK(admin_value(db, "SELECT count(*) FROM mine") == "1");
  ex.close();
}

TEST_CASE("an admin without CREATEDB is refused a missing database with the right it lacks "
          "named, and nothing is created") {
  const auto admin = name("nodbadmin");
  const auto role = name("nodbrole");
  const auto db = name("nodb");
  cleanup c{{role, admin}, {db}, {}};
  auto ex = make_executor(admin_with(admin, "CREATEROLE", password()));
  auto r = ex.converge(desired(role, db, privilege_set{privilege::select}, password()));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::permission);
  CHECK_THAT(r.error().message, Catch::Contains("lacks CREATEDB: create database " + db));
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_database WHERE datname = "
                                  + *sql::quote_literal(db))
        == "0");
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                  + *sql::quote_literal(role))
        == "0");
  ex.close();
}

TEST_CASE("tables whose owner's privileges the admin lacks are out of its reach and not retried") {
  const auto admin = name("reachadmin");
  const auto other = name("stranger");
  const auto role = name("reachrole");
  const auto db = name("reachdb");
  cleanup c{{role, admin}, {db}, {other}};
  auto ex = make_executor(admin_with(admin, "CREATEROLE CREATEDB", password()));
  auto d = desired(role, db, privilege_set{privilege::select}, password());
  REQUIRE(ex.converge(d));
  // A table of a role the admin has no part in (a superuser made it): GRANT would only warn.
  admin_exec("postgres", {"CREATE ROLE " + sql::quote_ident(other)});
  admin_exec(db, {"CREATE TABLE theirs (id int)", "ALTER TABLE theirs OWNER TO " + sql::quote_ident(other)});
  auto again = ex.converge(d);
  REQUIRE(again);
  CHECK(again->empty());
  ex.close();
}

namespace {

// Polls has_table_privilege(role, table, privilege) on its own connection, as fast as it can,
// until stopped: what any session sees at any moment of a change.
struct privilege_watch {
  std::atomic<bool> stop{false};
  std::atomic<int> samples{0};
  std::atomic<int> missing{0};
  std::string error;
  std::thread thread;

  privilege_watch(const std::string& db, const std::string& role, const std::string& table,
                  const std::string& privilege) {
    thread = std::thread([this, db, role, table, privilege] {
      try {
        pqxx::connection c(dev_env::get().pg_admin_conninfo(db));
        pqxx::nontransaction tx(c);
        const auto q = "SELECT has_table_privilege(" + *sql::quote_literal(role) + ", "
                       + *sql::quote_literal(table) + ", '" + privilege + "')";
        while (!stop) {
          if (!tx.exec(q)[0][0].as<bool>())
            ++missing;
          ++samples;
        }
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
  }
  // Stops once it has seen `at_least` more samples (the last change is seen, too).
  void finish(int at_least = 20) {
    const int target = samples + at_least;
    REQUIRE(dbuser::test::wait_until([&] { return samples >= target || !error.empty(); },
                                     std::chrono::seconds(30)));
    stop = true;
    thread.join();
  }
  ~privilege_watch() {
    stop = true;
    if (thread.joinable())
      thread.join();
  }
};

// The entries of a table's ACL, and whether `role` has one of its own.
int acl_entries(const std::string& db, const std::string& table) {
  return std::stoi(admin_value(db, "SELECT coalesce(array_length(relacl, 1), 0) FROM pg_class "
                                   "WHERE relname = "
                                     + *sql::quote_literal(table)));
}
bool direct_grantee(const std::string& db, const std::string& table, const std::string& role) {
  return admin_value(db, "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE "
                         "c.relname = "
                           + *sql::quote_literal(table) + " AND a.grantee = "
                           + *sql::quote_literal(role) + "::regrole")
         != "0";
}
std::string group_of(const desired_role& d, const std::string& admin) {
  return privilege_groups(d, admin).at(0).name;
}
bool role_exists(const std::string& role) {
  return admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                   + *sql::quote_literal(role))
         == "1";
}
// has_table_privilege(role, table, privilege) in `db`: "t" or "f" (memberships followed).
std::string holds(const std::string& db, const std::string& role, const std::string& table,
                  const std::string& privilege) {
  return admin_value(db, "SELECT has_table_privilege(" + *sql::quote_literal(role) + ", "
                           + *sql::quote_literal(table) + ", " + *sql::quote_literal(privilege)
                           + ")");
}
int server_version() { return std::stoi(admin_value("postgres", "SHOW server_version_num")); }

} // namespace

TEST_CASE("a privilege change moves a role between groups with no moment without a privilege it "
          "keeps, and the unused group is dropped") {
  const auto admin = name("grpadmin");
  const auto role = name("mover");
  const auto db = name("movedb");
  cleanup c{{role, admin}, {db}, {}};
  const auto admin_pw = password();
  auto ex = make_executor(admin_with(admin, "CREATEROLE CREATEDB", admin_pw));
  REQUIRE(ex.ensure_database(db).value());
  {
    pqxx::connection as_admin(role_conninfo(admin, admin_pw, db));
    pqxx::nontransaction w(as_admin);
    w.exec("CREATE TABLE t (id int)");
    w.exec("INSERT INTO t VALUES (1)");
  }
  const auto pw = password();
  auto d = desired(role, db, *parse_privileges({"SELECT", "INSERT"}), pw);
  auto first = ex.converge(d);
  INFO((first ? std::string() : first.error().to_string()));
  REQUIRE(first);
  const auto g1 = group_of(d, admin);
  CHECK(admin_value("postgres", "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles "
                                "WHERE rolname = " + *sql::quote_literal(g1))
        == privilege_groups(d, admin).at(0).marker);
  CHECK_FALSE(direct_grantee(db, "t", role));
  CHECK(direct_grantee(db, "t", g1));

  privilege_watch select(db, role, "t", "SELECT");
  std::string g2;
  for (int i = 0; i < 4; ++i) {
    d.grants[0].privileges = *parse_privileges({"SELECT", i % 2 == 0 ? "UPDATE" : "INSERT"});
    auto moved = ex.converge(d);
    INFO((moved ? std::string() : moved.error().to_string()));
    REQUIRE(moved);
    CHECK(did(*moved, "revoked membership in privilege group dbuser-g-"));
    CHECK(did(*moved, "dropped the unused privilege group dbuser-g-"));
    if (i == 0)
      g2 = group_of(d, admin);
  }
  d.grants[0].privileges = *parse_privileges({"SELECT", "UPDATE"});
  REQUIRE(ex.converge(d));
  select.finish();
  INFO(select.error);
  CHECK(select.error.empty());
  CHECK(select.samples > 20);
  CHECK(select.missing == 0);

  CHECK(holds(db, role, "t", "UPDATE") == "t");
  CHECK(holds(db, role, "t", "INSERT") == "f");
  CHECK_FALSE(role_exists(g1)); // unused: dropped
  CHECK(role_exists(g2));
  CHECK(acl_entries(db, "t") == 2); // the owner and one group
  CHECK(converged(ex, d));
  {
    pqxx::connection as_role(role_conninfo(role, pw, db));
    CHECK(try_exec(as_role, "UPDATE t SET id = 1").empty());
    CHECK(try_exec(as_role, "INSERT INTO t VALUES (2)") == "42501");
    // From PostgreSQL 16 the membership carries SET FALSE: no object can be made the group's.
    if (server_version() >= 160000)
      CHECK(try_exec(as_role, "SET ROLE " + sql::quote_ident(g2)) == "42501");
  }
  auto dropped = ex.drop_role(role);
  REQUIRE(dropped);
  CHECK(did(*dropped, "dropped the unused privilege group " + g2));
  CHECK_FALSE(role_exists(g2));
  CHECK(acl_entries(db, "t") == 1);
  ex.close();
}

TEST_CASE("an existing install's direct grants migrate to a group with no moment without them") {
  const auto role = name("legacy");
  const auto db = name("legacydb");
  cleanup c{{role}, {db}, {}};
  auto ex = make_executor();
  REQUIRE(ex.ensure_database(db).value());
  admin_exec(db, {"CREATE TABLE t (id int)"});
  auto d = desired(role, db, *parse_privileges({"SELECT", "DELETE"}), password());
  d.use_groups = false; // what the operator did before privilege groups
  REQUIRE(ex.converge(d));
  CHECK(direct_grantee(db, "t", role));

  privilege_watch select(db, role, "t", "DELETE");
  d.use_groups = true;
  auto migrated = ex.converge(d);
  REQUIRE(migrated);
  select.finish();
  CHECK(select.error.empty());
  CHECK(select.missing == 0);
  CHECK(did(*migrated, "granted membership in privilege group " + group_of(d, dev_env::get().pg_user())));
  CHECK(did(*migrated, "revoked SELECT, DELETE on " + db + ".public"));
  CHECK_FALSE(direct_grantee(db, "t", role));
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a "
                                "WHERE d.datname = " + *sql::quote_literal(db) + " AND a.grantee = "
                                + *sql::quote_literal(role) + "::regrole")
        == "0");
  admin_exec(db, {"CREATE TABLE later (id int)"});
  CHECK(holds(db, role, "later", "DELETE") == "t");
  CHECK(converged(ex, d));
}

TEST_CASE("drift on a group is repaired by its member's converge and drift on the role itself "
          "is revoked") {
  const auto role = name("drifty");
  const auto db = name("driftdb");
  cleanup c{{role}, {db}, {}};
  auto ex = make_executor();
  REQUIRE(ex.ensure_database(db).value());
  admin_exec(db, {"CREATE TABLE t (id int)"});
  auto d = desired(role, db, privilege_set{privilege::select}, password());
  REQUIRE(ex.converge(d));
  const auto g = sql::quote_ident(group_of(d, dev_env::get().pg_user()));
  admin_exec(db, {"REVOKE SELECT ON t FROM " + g, "GRANT TRUNCATE ON t TO " + g,
                  "GRANT INSERT ON t TO " + sql::quote_ident(role), "ALTER ROLE " + g + " LOGIN"});
  auto repaired = ex.converge(d);
  REQUIRE(repaired);
  for (const auto& [p, held] : std::vector<std::pair<std::string, std::string>>{
         {"SELECT", "t"}, {"TRUNCATE", "f"}, {"INSERT", "f"}}) {
    INFO(p);
    CHECK(holds(db, role, "t", p) == held);
  }
  CHECK(admin_value("postgres", "SELECT rolcanlogin FROM pg_roles WHERE rolname = "
                                  + *sql::quote_literal(group_of(d, dev_env::get().pg_user())))
        == "f");
  CHECK(converged(ex, d));
  auto again = ex.converge(d);
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE("drift on a group that an executor found converged before is repaired by the next "
          "member's converge on that executor") {
  const auto a = name("cacheda");
  const auto b = name("cachedb");
  const auto c2 = name("cachedc");
  const auto db = name("cachedb_db");
  cleanup c{{a, b, c2}, {db}, {}};
  auto ex = make_executor();
  REQUIRE(ex.ensure_database(db).value());
  admin_exec(db, {"CREATE TABLE t (id int)"});
  const auto pw = password();
  auto da = desired(a, db, privilege_set{privilege::select}, pw);
  REQUIRE(ex.converge(da));
  auto again = ex.converge(da); // the group is found converged: remembered by this executor
  REQUIRE(again);
  CHECK(again->empty());
  const auto group = group_of(da, dev_env::get().pg_user());
  const auto g = sql::quote_ident(group);
  // Privileges revoked by hand: the next member's converge on the same executor repairs them.
  admin_exec(db, {"REVOKE SELECT ON t FROM " + g, "REVOKE USAGE ON SCHEMA public FROM " + g,
                  "ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM " + g});
  auto db_ = desired(b, db, privilege_set{privilege::select}, pw);
  auto joined = ex.converge(db_);
  REQUIRE(joined);
  CHECK(did(*joined, "(privilege group " + group + ")"));
  CHECK(holds(db, a, "t", "SELECT") == "t");
  CHECK(holds(db, b, "t", "SELECT") == "t");
  admin_exec(db, {"CREATE TABLE later (id int)"});
  CHECK(holds(db, b, "later", "SELECT") == "t");
  // The group dropped by hand: the next member's converge creates it again.
  REQUIRE(ex.converge(db_)); // remembered again
  admin_exec(db, {"DROP OWNED BY " + g});
  admin_exec("postgres", {"DROP ROLE " + g});
  auto dc = desired(c2, db, privilege_set{privilege::select}, pw);
  auto recreated = ex.converge(dc);
  REQUIRE(recreated);
  CHECK(did(*recreated, "created role " + group));
  CHECK(holds(db, c2, "t", "SELECT") == "t");
  CHECK(converged(ex, da) == false); // a lost its membership with the group: its converge rejoins
  REQUIRE(ex.converge(da));
  CHECK(holds(db, a, "t", "SELECT") == "t");
}

TEST_CASE("a failing statement of a transaction is named by its context and the whole "
          "transaction is undone") {
  const auto role = name("undone");
  cleanup c{{role}, {}, {}};
  auto ex = make_executor();
  auto r = ex.apply({action{"", sql::create_role_nologin(role, -1), "created", "while creating"},
                     action{"", "ALTER ROLE " + sql::quote_ident(name("absent")) + " NOLOGIN",
                            "altered", "while altering the absent role"}});
  REQUIRE_FALSE(r);
  CHECK(r.error().sqlstate == "42704");
  CHECK(r.error().context == "while altering the absent role");
  CHECK_FALSE(role_exists(role));
}

TEST_CASE("a role with a group's name but without its marker is never used, adopted or dropped") {
  const auto role = name("squatted");
  const auto db = name("squatdb");
  auto d = desired(role, db, privilege_set{privilege::select}, password());
  const auto g = group_of(d, dev_env::get().pg_user());
  cleanup c{{role}, {db}, {g}};
  admin_exec("postgres", {"CREATE ROLE " + sql::quote_ident(g) + " LOGIN"});
  auto ex = make_executor();
  auto r = ex.converge(d);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::conflict);
  CHECK_THAT(r.error().message, Catch::Contains("is not the operator's privilege group"));
  CHECK_FALSE(role_exists(role));
  auto kept = ex.drop_group_if_unused(g);
  REQUIRE(kept);
  CHECK(kept->empty());
  CHECK(role_exists(g));
}

TEST_CASE("roles joining and leaving one group concurrently always hold their privileges when "
          "their converge returns") {
  const auto a = name("racea");
  const auto b = name("raceb");
  const auto db = name("racedb");
  cleanup c{{a, b}, {db}, {}};
  {
    auto ex = make_executor();
    REQUIRE(ex.ensure_database(db).value());
  }
  admin_exec(db, {"CREATE TABLE t (id int)"});
  const privilege_set p1{privilege::select};
  const privilege_set p2{privilege::select, privilege::insert};
  auto run = [&](const std::string& role, bool start_with_p1, std::string& failure) {
    try {
      auto ex = make_executor();
      auto d = desired(role, db, start_with_p1 ? p1 : p2, password());
      for (int i = 0; i < 12 && failure.empty(); ++i) {
        d.grants[0].privileges = (i % 2 == 0) == start_with_p1 ? p1 : p2;
        auto r = ex.converge(d);
        if (!r) {
          failure = r.error().to_string();
          break;
        }
        const auto insert = holds(db, role, "t", "INSERT");
        const auto select = holds(db, role, "t", "SELECT");
        const bool want_insert = d.grants[0].privileges.contains(privilege::insert);
        if (select != "t" || (insert == "t") != want_insert)
          failure = "after converge " + std::to_string(i) + " " + role + " holds SELECT " + select
                    + ", INSERT " + insert;
      }
      ex.close();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  };
  std::string fa;
  std::string fb;
  std::thread ta([&] { run(a, true, fa); });
  std::thread tb([&] { run(b, false, fb); });
  ta.join();
  tb.join();
  CHECK(fa.empty());
  CHECK(fb.empty());
  INFO(fa << " / " << fb);
  CHECK(acl_entries(db, "t") <= 3); // the owner and at most the two groups
}

TEST_CASE("a group whose last member was dropped by hand is swept when a role leaves a group of "
          "its database") {
  const auto a = name("sweepa");
  const auto b = name("sweepb");
  const auto db = name("sweepdb");
  cleanup c{{a, b}, {db}, {}};
  auto ex = make_executor();
  auto da = desired(a, db, privilege_set{privilege::select}, password());
  auto db_ = desired(b, db, privilege_set{privilege::select, privilege::insert}, password());
  REQUIRE(ex.converge(da));
  REQUIRE(ex.converge(db_));
  const auto ga = group_of(da, dev_env::get().pg_user());
  const auto gb = group_of(db_, dev_env::get().pg_user());
  admin_exec("postgres", {"DROP ROLE " + sql::quote_ident(a)}); // behind the operator's back
  CHECK(role_exists(ga));
  db_.grants[0].privileges = privilege_set{privilege::select, privilege::update};
  auto moved = ex.converge(db_);
  REQUIRE(moved);
  CHECK(did(*moved, "dropped the unused privilege group " + gb));
  CHECK(did(*moved, "dropped the unused privilege group " + ga));
  CHECK_FALSE(role_exists(ga));
  CHECK_FALSE(role_exists(gb));
  CHECK(converged(ex, db_));
}

TEST_CASE("sequences follow the table privileges through the group, and a sequence revoked by "
          "hand is granted again") {
  const auto role = name("seq");
  const auto db = name("seqdb");
  auto ex = make_executor();
  const auto pw = password();
  auto d = desired(role, db, privilege_set{privilege::select, privilege::insert}, pw);
  const auto group = privilege_groups(d, dev_env::get().pg_user()).at(0).name;
  cleanup c{{role}, {db}, {group}};
  REQUIRE(ex.ensure_database(db).value());
  admin_exec(db, {"CREATE TABLE before_t (id serial PRIMARY KEY, v text)"});
  auto first = ex.converge(d);
  REQUIRE(first);
  CHECK(converged(ex, d));
  admin_exec(db, {"CREATE TABLE after_t (id bigserial PRIMARY KEY, v text)"});

  pqxx::connection as_role(role_conninfo(role, pw, db));
  CHECK(try_exec(as_role, "INSERT INTO before_t (v) VALUES ('x')") == "");
  CHECK(try_exec(as_role, "INSERT INTO after_t (v) VALUES ('x')") == "");
  CHECK(try_exec(as_role, "SELECT currval('after_t_id_seq')") == "");
  CHECK(try_exec(as_role, "SELECT setval('after_t_id_seq', 10)") == "42501"); // no UPDATE
  // The group holds them, one ACL entry beside the owner's.
  CHECK(admin_value(db, "SELECT cardinality(relacl) FROM pg_class WHERE relname = 'before_t_id_seq'")
        == "2");

  admin_exec(db, {"REVOKE USAGE ON SEQUENCE before_t_id_seq FROM " + sql::quote_ident(group)});
  CHECK(try_exec(as_role, "INSERT INTO before_t (v) VALUES ('y')") == "42501");
  auto repaired = ex.converge(d);
  REQUIRE(repaired);
  CHECK(did(*repaired, "on the sequences of " + db + ".public"));
  CHECK(try_exec(as_role, "INSERT INTO before_t (v) VALUES ('y')") == "");
  auto again = ex.converge(d);
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE("a member of pg_monitor reads other roles' sessions in pg_stat_activity") {
  const auto role = name("mon");
  const auto db = name("mondb");
  cleanup c{{role}, {db}, {}};
  auto ex = make_executor();
  const auto pw = password();
  auto d = desired(role, db, privilege_set{}, pw);
  REQUIRE(ex.ensure_database(db).value());
  pqxx::connection other(dev_env::get().pg_admin_conninfo(db));
  const auto other_pid = std::to_string(other.backendpid());
  { pqxx::nontransaction tx(other); tx.exec("SELECT 'a query of the admin'"); }
  auto seen_query = [&] {
    pqxx::connection as_role(role_conninfo(role, pw, db));
    pqxx::nontransaction tx(as_role);
    return tx.exec1("SELECT coalesce(query, '') FROM pg_stat_activity WHERE pid = " + other_pid)[0]
      .as<std::string>();
  };
  REQUIRE(ex.converge(d));
  CHECK(seen_query() == "<insufficient privilege>");
  d.member_of = {"pg_monitor"};
  auto joined = ex.converge(d);
  REQUIRE(joined);
  CHECK(did(*joined, "granted membership in pg_monitor"));
  CHECK(seen_query() == "SELECT 'a query of the admin'");
  CHECK(converged(ex, d));
}

TEST_CASE("CREATE on a schema lets the role run its migrations there, and EXECUTE reaches "
          "functions whose PUBLIC EXECUTE was revoked") {
  const auto role = name("mig");
  const auto db = name("migdb");
  auto ex = make_executor();
  const auto pw = password();
  auto d = desired(role, db, privilege_set{privilege::select}, pw);
  d.grants[0].schema = "app";
  d.grants[0].schema_privileges = schema_privilege_set{schema_privilege::create};
  d.grants[0].function_privileges = function_privilege_set{function_privilege::execute};
  const auto group = privilege_groups(d, dev_env::get().pg_user()).at(0).name;
  cleanup c{{role}, {db}, {group}};
  REQUIRE(ex.ensure_database(db).value());
  admin_exec(db, {"CREATE SCHEMA app",
                  "CREATE FUNCTION app.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'",
                  "REVOKE EXECUTE ON FUNCTION app.answer() FROM PUBLIC"});
  REQUIRE(ex.converge(d));
  CHECK(converged(ex, d));
  pqxx::connection as_role(role_conninfo(role, pw, db));
  CHECK(try_exec(as_role, "SELECT app.answer()") == "");
  CHECK(try_exec(as_role, "CREATE TABLE app.own (id serial)") == "");
  // A function created later: EXECUTE through the default privileges, after revoking PUBLIC's.
  admin_exec(db, {"CREATE FUNCTION app.later() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                  "REVOKE EXECUTE ON FUNCTION app.later() FROM PUBLIC"});
  CHECK(try_exec(as_role, "SELECT app.later()") == "");
  // The role's own table is another creator's: the group gets SELECT on it at the next
  // converge (its future tables are covered only through defaultPrivilegesFor), then nothing.
  auto next = ex.converge(d);
  REQUIRE(next);
  CHECK(did(*next, "granted SELECT on " + db + ".app"));
  auto again = ex.converge(d);
  REQUIRE(again);
  CHECK(again->empty());

  // Without them: the role leaves for a group without CREATE and EXECUTE.
  d.grants[0].schema_privileges = {};
  d.grants[0].function_privileges = {};
  c.groups.push_back(privilege_groups(d, dev_env::get().pg_user()).at(0).name);
  REQUIRE(ex.converge(d));
  CHECK(try_exec(as_role, "SELECT app.answer()") == "42501");
  CHECK(try_exec(as_role, "CREATE TABLE app.other (id int)") == "42501");
}

namespace {

// A migrating owner: its database and schema `app` are its own, created or handed over by
// `admin` (its executor `ex`); it migrates; a second converge changes nothing; deleting it hands
// both back to the admin with their data.
void own_database_and_schema(executor& ex, const std::string& admin, const std::string& role,
                             const std::string& db) {
  const auto pw = password();
  auto d = desired(role, db, privilege_set{privilege::select}, pw);
  d.owns_database = true;
  d.owned_schemas = {"app"};
  auto done = ex.converge(d);
  INFO((done ? std::string() : done.error().to_string()));
  REQUIRE(done);
  CHECK(did(*done, "made role " + role + " the owner of database " + db));
  CHECK(did(*done, "created schema " + db + ".app owned by " + role));
  CHECK(admin_value("postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = "
                                  + *sql::quote_literal(db))
        == role);
  CHECK(admin_value(db, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app'")
        == role);
  auto again = ex.converge(d);
  INFO((again ? std::string() : again.error().to_string()));
  REQUIRE(again);
  for (const auto& a : *again)
    UNSCOPED_INFO("changed again: " << a);
  CHECK(again->empty());
  {
    pqxx::connection as_role(role_conninfo(role, pw, db));
    CHECK(try_exec(as_role, "CREATE TABLE app.orders (id serial PRIMARY KEY, v text)") == "");
    CHECK(try_exec(as_role, "INSERT INTO app.orders (v) VALUES ('x')") == "");
    CHECK(try_exec(as_role, "CREATE TABLE public.notes (id bigserial)") == "");
    CHECK(try_exec(as_role, "CREATE SCHEMA reports") == "");
  }
  // Its own tables in public are another creator's for its privilege group (granted once).
  REQUIRE(ex.converge(d));
  auto settled = ex.converge(d);
  REQUIRE(settled);
  CHECK(settled->empty());
  // Deleted: everything it owned goes to the admin, nothing is dropped.
  auto dropped = ex.drop_role(role);
  INFO((dropped ? std::string() : dropped.error().to_string()));
  REQUIRE(dropped);
  CHECK(admin_value("postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = "
                                  + *sql::quote_literal(db))
        == admin);
  CHECK(admin_value(db, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app'")
        == admin);
  CHECK(admin_value(db, "SELECT count(*) FROM app.orders") == "1");
}

} // namespace

TEST_CASE("a role owns the database and schema it asks for, migrates in them, and hands them back "
          "to the admin when it is dropped") {
  const auto role = name("owner");
  const auto db = name("owndb");
  auto ex = make_executor();
  auto d = desired(role, db, privilege_set{privilege::select}, password());
  cleanup c{{role}, {db}, {privilege_groups(d, dev_env::get().pg_user()).at(0).name}};
  own_database_and_schema(ex, dev_env::get().pg_user(), role, db);
  ex.close();
}

TEST_CASE("a least-privilege admin makes a role the owner of its database and schema, acting as "
          "the role with the membership options its version needs") {
  const auto admin = name("lpown");
  const auto role = name("lpowner");
  const auto db = name("lpowndb");
  auto d = desired(role, db, privilege_set{privilege::select}, password());
  cleanup c{{role, admin}, {db}, {privilege_groups(d, admin).at(0).name}};
  auto ex = make_executor(admin_with(admin, "CREATEROLE CREATEDB", password()));
  own_database_and_schema(ex, admin, role, db);
  ex.close();
}

TEST_CASE("a database or schema another role owns is refused untouched, and the role is not even "
          "created") {
  const auto role = name("taker");
  const auto other = name("theowner");
  const auto db = name("takendb");
  cleanup c{{role, other}, {db}, {}};
  admin_exec("postgres", {"CREATE ROLE " + sql::quote_ident(other),
                          "CREATE DATABASE " + sql::quote_ident(db) + " OWNER "
                            + sql::quote_ident(other)});
  admin_exec(db, {"CREATE SCHEMA theirs AUTHORIZATION " + sql::quote_ident(other)});
  auto ex = make_executor();
  auto d = desired(role, db, privilege_set{privilege::select}, password());
  d.owns_database = true;
  auto r = ex.converge(d);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::conflict);
  CHECK_THAT(r.error().message, Catch::StartsWith("database " + db + " is owned by role " + other
                                                  + ": refusing to take it over for " + role));
  d.owns_database = false;
  d.owned_schemas = {"theirs"};
  r = ex.converge(d);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::StartsWith("schema " + db + ".theirs is owned by role " + other));
  CHECK(admin_value("postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = "
                                  + *sql::quote_literal(db))
        == other);
  CHECK(admin_value(db, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = "
                        "'theirs'")
        == other);
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                  + *sql::quote_literal(role))
        == "0");
  // The admin's own database with another role's table in it is not handed over either.
  const auto db2 = name("shareddb");
  c.databases.push_back(db2);
  REQUIRE(ex.ensure_database(db2).value());
  admin_exec(db2, {"CREATE TABLE theirs (id int)",
                   "ALTER TABLE theirs OWNER TO " + sql::quote_ident(other)});
  auto d2 = desired(role, db2, privilege_set{privilege::select}, password());
  d2.owns_database = true;
  r = ex.converge(d2);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::StartsWith("database " + db2 + " holds 1 objects owned by roles other"));
  ex.close();
}

TEST_CASE("when a statement beside a new role's CREATE ROLE fails, the server log does not get the "
          "verifier") {
  const auto& env = dev_env::get();
  const auto log_path = env.at("DBUSER_PG_LOG");
  const auto role = name("echoed");
  const auto missing = name("nosuchrole");
  const auto db = name("echodb");
  auto ex = make_executor();
  auto d = desired(role, db, privilege_set{privilege::select}, password());
  d.member_of = {missing}; // GRANT "<missing>" TO the new role fails (42704)
  cleanup c{{role}, {db}, {privilege_groups(d, env.pg_user()).at(0).name}};
  const auto log_start = std::filesystem::file_size(log_path);
  auto r = ex.converge(d);
  REQUIRE_FALSE(r);
  CHECK(r.error().sqlstate == "42704");
  auto log_since_start = [&] {
    std::ifstream in(log_path);
    in.seekg(static_cast<std::streamoff>(log_start));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  // The failure is logged (log_min_error_statement), with its statement alone.
  REQUIRE(dbuser::test::wait_until(
    [&] { return log_since_start().find(missing + "\" does not exist") != std::string::npos; },
    std::chrono::seconds(10)));
  CHECK(log_since_start().find(d.verifier) == std::string::npos);
  CHECK(log_since_start().find("PASSWORD 'SCRAM-SHA-256$") == std::string::npos);
  CHECK(admin_value("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = "
                                  + *sql::quote_literal(role))
        == "0"); // its transaction was rolled back as a whole
}

TEST_CASE("the catalog proves what a login proves without logging in, and only for an admin that "
          "may read pg_authid") {
  const auto role = name("catrole");
  const auto db = name("catdb");
  const auto admin = name("catlp");
  cleanup c{{role, admin}, {db}, {}};
  admin_exec("postgres", {"CREATE DATABASE " + db});
  const auto pw = password();
  auto secret = make_scram_secret(pw, role);
  REQUIRE(secret);
  REQUIRE(secret->keys);
  admin_exec("postgres", {"CREATE ROLE " + role + " LOGIN PASSWORD "
                            + *sql::quote_literal(secret->verifier)});
  auto ex = make_executor();
  const bool super =
    admin_value("postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == "t";
  auto lp = make_executor(admin_with(admin, "CREATEROLE", password()));

  SECTION("an admin that may not read pg_authid logs in instead, and catalog alone fails clearly") {
    CHECK_FALSE(lp.catalog_check(role, pw, db));
    auto a = lp.verify_credentials(role, pw, db, nullptr, credential_proof::automatic);
    CHECK(a.ok);
    CHECK_FALSE(a.catalog);
    auto only = lp.verify_credentials(role, pw, db, nullptr, credential_proof::catalog);
    CHECK_FALSE(only.ok);
    REQUIRE(only.failure);
    CHECK(only.failure->kind == error_kind::permission);
    CHECK_THAT(only.message, Catch::Contains("pg_authid"));
  }
  if (!super)
    return; // the rest needs a superuser admin
  SECTION("an admin that loses SUPERUSER fails one catalog check, then logs in") {
    const auto was_super = name("catsuper");
    c.roles.push_back(was_super);
    auto ex2 = make_executor(admin_with(was_super, "SUPERUSER", password()));
    auto before = ex2.catalog_check(role, pw, db);
    REQUIRE(before);
    CHECK(before->ok);
    admin_exec("postgres", {"ALTER ROLE " + was_super + " NOSUPERUSER"});
    auto refused = ex2.catalog_check(role, pw, db);
    REQUIRE(refused);
    CHECK_FALSE(refused->ok);
    REQUIRE(refused->failure);
    CHECK(refused->failure->kind == error_kind::permission);
    CHECK_FALSE(ex2.catalog_check(role, pw, db)); // asked again: it may not read pg_authid now
    auto a = ex2.verify_credentials(role, pw, db, nullptr, credential_proof::automatic);
    CHECK(a.ok);
    CHECK_FALSE(a.catalog);
  }
  SECTION("each answer agrees with a real login's") {
    const auto both = [&](const std::string& password, const std::string& database) {
      auto cat = ex.catalog_check(role, password, database);
      REQUIRE(cat);
      CHECK(cat->catalog);
      auto login = ex.login_check(role, password, database);
      CHECK(cat->ok == login.ok);
      if (!login.ok) {
        REQUIRE(cat->failure);
        REQUIRE(login.failure);
        CHECK(cat->failure->kind == login.failure->kind);
        // Neither the password nor any verifier is in what is reported.
        CHECK(cat->message.find(password) == std::string::npos);
        CHECK(cat->message.find("SCRAM-SHA-256$") == std::string::npos);
      }
      return cat->ok;
    };
    auto known = ex.catalog_check(role, pw, db, &*secret->keys);
    REQUIRE(known);
    CHECK(known->ok);
    CHECK_THAT(known->server_version, Catch::StartsWith(dev_env::get().value("DBUSER_PG_MAJOR", "15") + "."));
    CHECK(ex.verify_credentials(role, pw, db, nullptr, credential_proof::automatic).catalog);
    CHECK_FALSE(ex.verify_credentials(role, pw, db, nullptr, credential_proof::login).catalog);
    CHECK(both(pw, db));
    CHECK_FALSE(both(pw + "x", db));
    CHECK_FALSE(both(pw, db + "_missing"));
    admin_exec("postgres", {"REVOKE CONNECT ON DATABASE " + db + " FROM PUBLIC"});
    CHECK_FALSE(both(pw, db));
    admin_exec("postgres", {"GRANT CONNECT ON DATABASE " + db + " TO " + role});
    CHECK(both(pw, db));
    admin_exec("postgres", {"ALTER ROLE " + role + " VALID UNTIL '2001-01-01'"});
    CHECK_FALSE(both(pw, db));
    admin_exec("postgres", {"ALTER ROLE " + role + " VALID UNTIL 'infinity' NOLOGIN"});
    CHECK_FALSE(both(pw, db));
    admin_exec("postgres", {"ALTER ROLE " + role + " LOGIN"});
    CHECK(both(pw, db));
    // A verifier with another salt and count (set by hand) is derived again, not trusted.
    admin_exec("postgres", {"ALTER ROLE " + role + " PASSWORD "
                              + *sql::quote_literal(verifier(pw, role))});
    CHECK(both(pw, db));
    auto stale = ex.catalog_check(role, pw, db, &*secret->keys);
    REQUIRE(stale);
    CHECK(stale->ok); // the keys' salt is not the stored one: derived again
  }
}
