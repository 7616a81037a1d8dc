#include "test/e2e/support/postgres.hpp"

#include "test/e2e/support/process.hpp"
#include "test/support/dev_env.hpp"
#include "test/support/wait.hpp"

#include "common/quote.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace dbuser::test::e2e {

namespace {

std::string conn_quote(const std::string& v) { return dbuser::quote_escaped(v, '\''); }

} // namespace

postgres::postgres() {
  const auto& env = dev_env::get();
  host_ = env.pg_host();
  port_ = env.pg_port();
  admin_user_ = env.pg_user();
  admin_password_ = env.pg_password();
  lp_user_ = env.value("DBUSER_PG_LP_USER");
  lp_password_ = env.value("DBUSER_PG_LP_PASSWORD");
}

int postgres::major_version() const {
  auto c = admin();
  pqxx::nontransaction w(c);
  return w.exec1("SELECT current_setting('server_version_num')::int / 10000")[0].as<int>();
}

std::string postgres::ident(const std::string& name) { return dbuser::quote_doubled(name, '"'); }

std::string postgres::conninfo(const std::string& user, const std::string& password,
                               const std::string& database) const {
  return "host=" + conn_quote(host_) + " port=" + std::to_string(port_) + " user="
         + conn_quote(user) + " password=" + conn_quote(password) + " dbname="
         + conn_quote(database) + " connect_timeout=10 application_name=dbuser-e2e-test";
}

pqxx::connection postgres::admin(const std::string& database) const {
  return pqxx::connection(conninfo(admin_user_, admin_password_, database));
}

void postgres::exec(const std::string& sql, const std::string& database) const {
  auto c = admin(database);
  pqxx::nontransaction w(c);
  w.exec(sql);
}

bool postgres::role_exists(const std::string& role) const {
  auto c = admin();
  pqxx::nontransaction w(c);
  return !w.exec("SELECT 1 FROM pg_roles WHERE rolname = " + w.quote(role)).empty();
}

std::optional<role_info> postgres::role(const std::string& role) const {
  auto c = admin();
  pqxx::nontransaction w(c);
  auto r = w.exec("SELECT coalesce(rolpassword, ''), rolcanlogin, rolsuper, rolcreaterole, "
                  "rolcreatedb, rolconnlimit, coalesce(shobj_description(oid, 'pg_authid'), '') "
                  "FROM pg_authid WHERE rolname = "
                  + w.quote(role));
  if (r.empty())
    return std::nullopt;
  role_info i;
  i.verifier = r[0][0].as<std::string>();
  i.can_login = r[0][1].as<bool>();
  i.superuser = r[0][2].as<bool>();
  i.create_role = r[0][3].as<bool>();
  i.create_db = r[0][4].as<bool>();
  i.connection_limit = r[0][5].as<int>();
  i.comment = r[0][6].as<std::string>();
  return i;
}

bool postgres::database_exists(const std::string& database) const {
  auto c = admin();
  pqxx::nontransaction w(c);
  return !w.exec("SELECT 1 FROM pg_database WHERE datname = " + w.quote(database)).empty();
}

std::string postgres::login_error(const std::string& user, const std::string& password,
                                  const std::string& database) const {
  return exec_as(user, password, database, "SELECT 1");
}

std::string postgres::exec_as(const std::string& user, const std::string& password,
                              const std::string& database, const std::string& sql) const {
  try {
    pqxx::connection c(conninfo(user, password, database));
    pqxx::nontransaction w(c);
    w.exec(sql);
    return "";
  } catch (const std::exception& e) {
    std::string m = e.what();
    return m.empty() ? "error" : m;
  }
}

void postgres::drop_role_everywhere(const std::string& role) const {
  if (!role_exists(role))
    return;
  // The databases where it owns or holds something (other tests create and drop databases all
  // the time beside this one: one dropped meanwhile is skipped, not an error).
  std::vector<std::string> databases;
  {
    auto c = admin();
    pqxx::nontransaction w(c);
    for (const auto& row : w.exec(
           "SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid "
           "WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles "
           "WHERE rolname = " + w.quote(role) + ") AND d.datallowconn"))
      databases.push_back(row[0].as<std::string>());
  }
  databases.emplace_back("postgres"); // shared objects (databases, their CONNECT) from any one
  for (const auto& db : databases) {
    try {
      exec("REASSIGN OWNED BY " + ident(role) + " TO " + ident(admin_user_) + "; DROP OWNED BY "
               + ident(role),
           db);
    } catch (const std::exception&) {
      auto c = admin();
      pqxx::nontransaction w(c);
      if (w.exec("SELECT 1 FROM pg_database WHERE datname = " + w.quote(db)).empty())
        continue; // dropped meanwhile
      throw;
    }
  }
  exec("DROP ROLE IF EXISTS " + ident(role));
}

void postgres::drop_database(const std::string& database) const {
  exec("DROP DATABASE IF EXISTS " + ident(database) + " WITH (FORCE)");
}

bool postgres::accepting() const {
  try {
    auto c = admin();
    return c.is_open();
  } catch (const std::exception&) {
    return false;
  }
}

void postgres::stop() const {
  const auto& env = dev_env::get();
  auto r = run({std::string(DBUSER_SOURCE_DIR) + "/hack/dev-down.sh", "--only", "postgres"}, "",
               {{"DBUSER_DEV_DIR", env.dir()}});
  if (!r.ok())
    throw std::runtime_error("pg_ctl stop failed: " + r.err + r.out);
  if (!wait_until([this] { return !accepting(); }, std::chrono::seconds(30)))
    throw std::runtime_error("PostgreSQL still accepts connections after pg_ctl stop");
}

void postgres::start() const {
  const auto& env = dev_env::get();
  auto r = run({std::string(DBUSER_SOURCE_DIR) + "/hack/dev-up.sh"}, "",
               {{"DBUSER_DEV_DIR", env.dir()}});
  if (!r.ok())
    throw std::runtime_error("hack/dev-up.sh failed: " + tail_lines(r.err, 20));
  if (!wait_until([this] { return accepting(); }, std::chrono::seconds(60)))
    throw std::runtime_error("PostgreSQL does not accept connections after hack/dev-up.sh");
}

restart_postgres_at_exit::~restart_postgres_at_exit() {
  try {
    if (!pg.accepting())
      pg.start();
  } catch (const std::exception& e) {
    std::cerr << "could not restart PostgreSQL: " << e.what() << "\n";
  }
}

server_log::server_log() : path_(dev_env::get().at("DBUSER_PG_LOG")), start_(size()) {}

std::uintmax_t server_log::size() const {
  return std::filesystem::file_size(path_);
}

std::string server_log::since(std::uintmax_t offset) const {
  std::ifstream in(path_);
  in.seekg(static_cast<std::streamoff>(offset));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

server_setting::server_setting(const postgres& pg, std::string name, const std::string& value,
                               const std::function<bool()>& took_effect)
    : pg_(pg), name_(std::move(name)) {
  pg_.exec("ALTER SYSTEM SET " + name_ + " = " + value);
  pg_.exec("SELECT pg_reload_conf()");
  if (!dbuser::test::wait_until(took_effect, std::chrono::seconds(20),
                                std::chrono::milliseconds(100))) {
    reset();
    throw std::runtime_error(name_ + " = " + value + " did not take effect");
  }
}

server_setting::~server_setting() { reset(); }

void server_setting::reset() const {
  try {
    pg_.exec("ALTER SYSTEM RESET " + name_);
    pg_.exec("SELECT pg_reload_conf()");
  } catch (const std::exception& e) {
    std::cerr << "resetting " << name_ << ": " << e.what() << "\n";
  }
}

} // namespace dbuser::test::e2e
