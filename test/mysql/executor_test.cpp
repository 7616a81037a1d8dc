// Acceptance tests of mysql/ against the real MariaDB of the dev environment (hack/dev-up.sh).
// The test itself uses the MariaDB C API directly, as the admin and as the managed account, to
// look at the state of the world independently of the executor.

#include "mysql/executor.hpp"
#include "mysql/password.hpp"
#include "mysql/privileges.hpp"
#include "mysql/sql.hpp"
#include "mysql/validation.hpp"
#include "pg/password.hpp" // password generation is engine-neutral and lives in pg/
#include "test/support/dev_env.hpp"
#include "test/support/engine_checks.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>
#include <mysql.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

using namespace dbuser::mysql;
using dbuser::test::dev_env;

namespace {

std::string name(const std::string& prefix) { return dbuser::test::sql_name(prefix, 32); }

int port() { return std::stoi(dev_env::get().at("MYSQL_PORT")); }
std::string admin_user() { return dev_env::get().at("MYSQL_USER"); }

target admin_target() {
  const auto& env = dev_env::get();
  target t;
  t.host = env.at("MYSQL_HOST");
  t.port = port();
  t.admin_user = admin_user();
  t.admin_password = env.at("MYSQL_PASSWORD");
  t.tls_mode = "disable";
  t.connect_timeout = std::chrono::seconds(5);
  t.read_timeout = std::chrono::seconds(10);
  return t;
}

executor make_executor(target t = admin_target()) {
  return dbuser::test::created<executor>(std::move(t));
}

struct closer {
  void operator()(MYSQL* m) const { mysql_close(m); }
};
using connection = std::unique_ptr<MYSQL, closer>;

// A connection of the test's own, or nullptr with the error number in `code`.
connection connect_as(const std::string& user, const std::string& password,
                      const std::string& db = "", unsigned* code = nullptr) {
  MYSQL* m = mysql_init(nullptr);
  unsigned protocol = MYSQL_PROTOCOL_TCP;
  mysql_options(m, MYSQL_OPT_PROTOCOL, &protocol);
  if (mysql_real_connect(m, dev_env::get().at("MYSQL_HOST").c_str(), user.c_str(),
                         password.c_str(), db.empty() ? nullptr : db.c_str(),
                         static_cast<unsigned>(port()), nullptr, 0)
      == nullptr) {
    if (code != nullptr)
      *code = mysql_errno(m);
    mysql_close(m);
    return connection();
  }
  return connection(m);
}

connection admin() {
  auto c = connect_as(admin_user(), dev_env::get().at("MYSQL_PASSWORD"));
  REQUIRE(c);
  return c;
}

// 0 on success, else the MySQL error number.
unsigned try_exec(MYSQL* m, const std::string& statement) {
  if (mysql_real_query(m, statement.data(), statement.size()) != 0)
    return mysql_errno(m);
  if (MYSQL_RES* r = mysql_store_result(m))
    mysql_free_result(r);
  return 0;
}

void admin_exec(const std::vector<std::string>& statements) {
  auto c = admin();
  for (const auto& s : statements) {
    INFO(s << ": " << mysql_error(c.get()));
    REQUIRE(try_exec(c.get(), s) == 0);
  }
}

// The first column of the first row, or "" when there is none.
std::string admin_value(const std::string& query) {
  auto c = admin();
  REQUIRE(mysql_real_query(c.get(), query.data(), query.size()) == 0);
  MYSQL_RES* r = mysql_store_result(c.get());
  std::string out;
  if (r != nullptr) {
    if (MYSQL_ROW row = mysql_fetch_row(r); row != nullptr && row[0] != nullptr)
      out = row[0];
    mysql_free_result(r);
  }
  return out;
}

std::string password() {
  auto p = dbuser::pg::generate_password();
  REQUIRE(p);
  return *p;
}

std::string hash(const std::string& pw) {
  auto h = native_password_hash(pw);
  REQUIRE(h);
  return *h;
}

// Drops what a test created, whatever happened.
struct cleanup {
  std::vector<std::pair<std::string, std::string>> accounts;
  std::vector<std::string> databases;
  ~cleanup() {
    try {
      auto c = connect_as(admin_user(), dev_env::get().at("MYSQL_PASSWORD"));
      if (!c)
        return;
      for (const auto& [u, h] : accounts) {
        if (auto a = sql::account(u, h))
          (void)try_exec(c.get(), "DROP USER IF EXISTS " + *a);
        auto lu = sql::quote_literal(u);
        auto lh = sql::quote_literal(h);
        if (lu && lh)
          (void)try_exec(c.get(), "DELETE FROM dbuser_operator.owners WHERE user = " + *lu
                                    + " AND host = " + *lh);
      }
      for (const auto& d : databases)
        (void)try_exec(c.get(), "DROP DATABASE IF EXISTS " + sql::quote_ident(d));
    } catch (...) { // never throw from a destructor
    }
  }
};

desired_account desired(const std::string& user, const std::string& db, privilege_set privileges,
                        const std::string& pw) {
  desired_account d;
  d.user = user;
  d.host = "%";
  d.owner = "test/" + user;
  d.grants.push_back(database_grant{db, privileges, true});
  d.password_hash = hash(pw);
  return d;
}

bool converged(executor& ex, const desired_account& d) {
  auto o = ex.observe(d);
  REQUIRE(o);
  auto p = plan(d, *o);
  REQUIRE(p);
  for (const auto& a : *p)
    UNSCOPED_INFO("still planned: " << a.description);
  return p->empty();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace

TEST_CASE("a created account logs in, its privileges work on a later table, others are refused, "
          "and revoking works") {
  auto ex = make_executor();
  const auto user = name("my_app");
  const auto db = name("my_db");
  cleanup c{{{user, "%"}}, {db}};
  const auto pw = password();
  auto d = desired(user, db, {privilege::select, privilege::insert}, pw);

  auto done = ex.converge(d);
  INFO((done ? "" : done.error().to_string()));
  REQUIRE(done);
  CHECK(std::find(done->begin(), done->end(), "created account '" + user + "'@'%'")
        != done->end());
  CHECK(std::find(done->begin(), done->end(), "granted SELECT, INSERT on " + db + ".*")
        != done->end());

  // A table created afterwards, by the admin.
  admin_exec({"CREATE TABLE " + sql::quote_ident(db) + ".t (id INT PRIMARY KEY, v TEXT)",
              "INSERT INTO " + sql::quote_ident(db) + ".t VALUES (1, 'a')"});

  auto login = ex.login_check(user, pw, db);
  INFO(login.message);
  REQUIRE(login.ok);
  CHECK_THAT(login.server_version, Catch::Contains("MariaDB"));
  CHECK(login.latency_ms > 0);

  auto as_user = connect_as(user, pw, db);
  REQUIRE(as_user);
  CHECK(try_exec(as_user.get(), "SELECT * FROM t") == 0);
  CHECK(try_exec(as_user.get(), "INSERT INTO t VALUES (2, 'b')") == 0);
  CHECK(try_exec(as_user.get(), "DELETE FROM t") == 1142);          // not granted
  CHECK(try_exec(as_user.get(), "DROP TABLE t") == 1142);           // not granted
  CHECK(try_exec(as_user.get(), "SELECT * FROM mysql.user") == 1142); // nothing elsewhere
  CHECK(try_exec(as_user.get(), "SELECT * FROM dbuser_operator.owners") == 1142);

  // Revoking INSERT.
  d.grants[0].privileges = {privilege::select};
  auto revoked = ex.converge(d);
  REQUIRE(revoked);
  CHECK(*revoked == std::vector<std::string>{"revoked INSERT on " + db + ".*"});
  auto again = connect_as(user, pw, db);
  REQUIRE(again);
  CHECK(try_exec(again.get(), "INSERT INTO t VALUES (3, 'c')") == 1142);
  CHECK(try_exec(again.get(), "SELECT * FROM t") == 0);
}

TEST_CASE("converging twice changes nothing the second time") {
  auto ex = make_executor();
  const auto user = name("my_twice");
  const auto db = name("my_db_2x");
  cleanup c{{{user, "%"}}, {db}};
  auto d = desired(user, db, privilege_set::all(), password());
  d.max_user_connections = 7;
  REQUIRE(ex.converge(d));
  CHECK(converged(ex, d));
  auto second = ex.converge(d);
  REQUIRE(second);
  CHECK(second->empty());
  CHECK(admin_value("SELECT max_user_connections FROM mysql.user WHERE User = '" + user + "'")
        == "7");
  // Drift made by hand is repaired: an extra privilege, a global one, and GRANT OPTION.
  admin_exec({"GRANT LOCK TABLES ON " + sql::quote_ident(sql::database_pattern(db)) + ".* TO '"
                + user + "'@'%' WITH GRANT OPTION",
              "GRANT PROCESS ON *.* TO '" + user + "'@'%'"});
  CHECK_FALSE(converged(ex, d));
  auto repaired = ex.converge(d);
  REQUIRE(repaired);
  CHECK(converged(ex, d));
  CHECK(admin_value("SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = "
                    "\"'"
                    + user + "'@'%'\" AND PRIVILEGE_TYPE <> 'USAGE'")
        == "0");
}

TEST_CASE("creating and re-passwording an account leaves no plaintext password in the general "
          "log") {
  auto ex = make_executor();
  const auto user = name("my_log");
  const auto db = name("my_db_log");
  cleanup c{{{user, "%"}}, {db}};
  // The server writes the log as its own user: a fresh world-writable file of the test's.
  char path[] = "/tmp/dbuser-mysql-general-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  ::chmod(path, 0666);
  const auto previous = admin_value("SELECT @@general_log_file");
  admin_exec({"SET GLOBAL general_log_file = '" + std::string(path) + "'",
              "SET GLOBAL general_log = 1"});
  REQUIRE(admin_value("SELECT @@general_log") == "1");
  const auto pw1 = password();
  const auto pw2 = password();
  auto d = desired(user, db, {privilege::select}, pw1);
  auto created = ex.converge(d);
  auto rotated = ex.set_password(user, "%", hash(pw2));
  auto login = ex.login_check(user, pw2, db);
  auto refused = ex.login_check(user, pw1, db);
  admin_exec({"SET GLOBAL general_log = 0"});
  // Best effort: the server may be unable to open its configured file (it is not created).
  (void)try_exec(admin().get(), "SET GLOBAL general_log_file = " + *sql::quote_literal(previous));
  REQUIRE(created);
  REQUIRE(rotated);
  CHECK(login.ok);
  CHECK_FALSE(refused.ok);
  const auto log = read_file(path);
  ::unlink(path);
  CHECK_THAT(log, Catch::Contains("CREATE USER '" + user + "'"));
  CHECK_THAT(log, Catch::Contains("ALTER USER '" + user + "'"));
  CHECK(log.find(pw1) == std::string::npos);
  CHECK(log.find(pw2) == std::string::npos);
}

TEST_CASE("deletion drops the account and its claim, the data stays") {
  auto ex = make_executor();
  const auto user = name("my_del");
  const auto db = name("my_db_del");
  cleanup c{{{user, "%"}}, {db}};
  auto d = desired(user, db, {privilege::select}, password());
  REQUIRE(ex.converge(d));
  auto dropped = ex.drop_user(user, "%", d.owner);
  REQUIRE(dropped);
  CHECK(*dropped
        == std::vector<std::string>{"dropped account '" + user + "'@'%'",
                                    "released the claim on '" + user + "'@'%'"});
  CHECK(admin_value("SELECT COUNT(*) FROM mysql.user WHERE User = '" + user + "'") == "0");
  CHECK(admin_value("SELECT COUNT(*) FROM dbuser_operator.owners WHERE user = '" + user + "'")
        == "0");
  CHECK(admin_value("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '" + db
                    + "'")
        == "1");
  auto twice = ex.drop_user(user, "%", d.owner);
  REQUIRE(twice);
  CHECK(twice->empty());
}

TEST_CASE("a pre-existing account made by hand is reported unmanaged and never adopted") {
  auto ex = make_executor();
  const auto user = name("my_hand");
  const auto db = name("my_db_hand");
  cleanup c{{{user, "%"}}, {db}};
  const auto hand_pw = password();
  admin_exec({"CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + hand_pw + "'",
              "GRANT PROCESS ON *.* TO '" + user + "'@'%'"});
  auto d = desired(user, db, {privilege::select}, password());
  auto o = ex.observe_account(user, "%");
  REQUIRE(o);
  CHECK(ownership_of(*o, d.owner).state == ownership::unmanaged);
  auto r = ex.converge(d);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::conflict);
  auto dropped = ex.drop_user(user, "%", d.owner);
  REQUIRE_FALSE(dropped);
  CHECK(dropped.error().kind == error_kind::conflict);
  // Untouched: the hand-made password still works, the global privilege is still there.
  CHECK(connect_as(user, hand_pw));
  CHECK(admin_value("SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = "
                    "\"'"
                    + user + "'@'%'\" AND PRIVILEGE_TYPE = 'PROCESS'")
        == "1");
}

TEST_CASE("an account made by hand while we created it is not adopted: the claim is released") {
  auto ex = make_executor();
  const auto user = name("my_race");
  const auto db = name("my_db_race");
  cleanup c{{{user, "%"}}, {db}};
  auto d = desired(user, db, {privilege::select}, password());
  auto o = ex.observe(d);
  REQUIRE(o);
  auto p = plan(d, *o); // planned while the account was absent
  REQUIRE(p);
  admin_exec({"CREATE USER '" + user + "'@'%'"});
  auto r = ex.apply(*p);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == 1396);
  CHECK(r.error().kind == error_kind::conflict);
  auto after = ex.observe_account(user, "%");
  REQUIRE(after);
  CHECK(ownership_of(*after, d.owner).state == ownership::unmanaged);
}

TEST_CASE("a second owner cannot take an account of the first") {
  auto ex = make_executor();
  const auto user = name("my_two");
  const auto db = name("my_db_two");
  cleanup c{{{user, "%"}}, {db}};
  auto first = desired(user, db, {privilege::select}, password());
  REQUIRE(ex.converge(first));
  auto second = first;
  second.owner = "other/claimant";
  auto r = ex.converge(second);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::conflict);
  CHECK_THAT(r.error().message, Catch::Contains("test/" + user));
  CHECK_FALSE(ex.drop_user(user, "%", second.owner));
  CHECK(admin_value("SELECT COUNT(*) FROM mysql.user WHERE User = '" + user + "'") == "1");
}

TEST_CASE("injection attempts are refused by validation and inert through the builders") {
  auto ex = make_executor();
  const std::string evil_user = "x'@'%'; DROP USER root; --";
  const std::string evil_host = "%' IDENTIFIED BY 'p";
  const std::string evil_db = "d`; DROP DATABASE mysql; --";
  // 1. Validation refuses every one of them, and the privilege allowlist its own.
  CHECK_FALSE(validate_user_name(evil_user, admin_user()));
  CHECK_FALSE(validate_account_host(evil_host));
  CHECK_FALSE(validate_database_name(evil_db));
  CHECK_FALSE(parse_privileges({"SELECT ON *.* TO 'x'@'%'; DROP DATABASE mysql; --"}));
  CHECK_FALSE(parse_privileges({"ALL PRIVILEGES ON *.*"}));
  // 2. Had they passed, the builders keep them inert: names become literal names.
  const std::string weird_user = "q'@'%' --" + name("u").substr(0, 8);
  const std::string weird_db = evil_db.substr(0, 20) + name("d").substr(0, 8);
  cleanup c{{{weird_user, "%"}}, {weird_db}};
  auto d = desired(weird_user, weird_db, {privilege::select}, password());
  auto done = ex.converge(d);
  INFO((done ? "" : done.error().to_string()));
  REQUIRE(done);
  CHECK(admin_value("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "
                    + *sql::quote_literal(weird_db))
        == "1");
  CHECK(admin_value("SELECT COUNT(*) FROM mysql.user WHERE User = " + *sql::quote_literal(weird_user))
        == "1");
  CHECK(admin_value("SELECT COUNT(*) FROM mysql.user WHERE User = 'root'") != "0");
  CHECK(admin_value("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'mysql'")
        == "1");
  CHECK(converged(ex, d));
  // A host with a backslash cannot be written at all (its meaning depends on sql_mode).
  auto bs = d;
  bs.host = "h\\";
  auto r = ex.converge(bs);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::invalid);
}

TEST_CASE("server errors that echo the statement are redacted") {
  auto ex = make_executor();
  const auto h = hash(password());
  auto r = ex.apply({action{"ALTER USER 'nobody'@'%' IDENTIFIED WITH mysql_native_password AS '"
                              + h + "' BOGUS",
                            "set", "while setting the password of 'nobody'@'%'", true, {}}});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == 1064);
  CHECK(r.error().kind == error_kind::invalid);
  CHECK(r.error().message.find(h) == std::string::npos);
  CHECK(r.error().message.find(h.substr(1, 12)) == std::string::npos);
  CHECK_THAT(r.error().to_string(), Catch::Contains("while setting the password of"));
}

TEST_CASE("login failures are results with a reason that hides the password") {
  auto ex = make_executor();
  const auto user = name("my_login");
  const auto db = name("my_db_login");
  cleanup c{{{user, "%"}}, {db}};
  const auto pw = password();
  REQUIRE(ex.converge(desired(user, db, {privilege::select}, pw)));
  const auto wrong = password();
  auto bad = ex.login_check(user, wrong, db);
  CHECK_FALSE(bad.ok);
  REQUIRE(bad.failure);
  CHECK(bad.failure->kind == error_kind::auth);
  CHECK(bad.failure->code == 1045);
  CHECK(bad.message.find(wrong) == std::string::npos);
  auto other_db = ex.login_check(user, pw, "mysql");
  CHECK_FALSE(other_db.ok);
  REQUIRE(other_db.failure);
  CHECK(other_db.failure->kind == error_kind::permission); // 1044
}

TEST_CASE("admin connection failures are classified") {
  auto t = admin_target();
  t.admin_password = "wrong-password-123";
  auto bad = make_executor(t);
  auto r = bad.database_exists("mysql");
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == error_kind::auth);
  CHECK(r.error().message.find("wrong-password-123") == std::string::npos);

  dbuser::test::check_unreachable<executor>(admin_target(), "mysql");

  // The dev server has no TLS: required fails for good, preferred falls back to plaintext.
  auto required = admin_target();
  required.tls_mode = "required";
  auto tls = make_executor(required);
  auto t1 = tls.database_exists("mysql");
  REQUIRE_FALSE(t1);
  CHECK(t1.error().kind == error_kind::invalid);
  CHECK_THAT(t1.error().message, Catch::StartsWith("TLS"));
  auto preferred = admin_target();
  preferred.tls_mode = "preferred";
  auto p = make_executor(preferred);
  auto t2 = p.database_exists("mysql");
  REQUIRE(t2);
  CHECK(*t2);

  auto unknown = admin_target();
  unknown.tls_mode = "sometimes";
  CHECK_FALSE(executor::create(unknown));
  auto no_ca = admin_target();
  no_ca.tls_mode = "verify-ca";
  CHECK_FALSE(executor::create(no_ca));
}

TEST_CASE("a database is created when missing and never dropped") {
  auto ex = make_executor();
  const auto db = name("my_db_ens");
  cleanup c{{}, {db}};
  auto first = ex.ensure_database(db);
  REQUIRE(first);
  CHECK(*first);
  auto second = ex.ensure_database(db);
  REQUIRE(second);
  CHECK_FALSE(*second);
  CHECK(*ex.database_exists(db));
}
