#include "test/mysql_e2e/support/mariadb.hpp"

#include "test/support/dev_env.hpp"

#include "common/quote.hpp"

#include <memory>
#include <mysql.h>
#include <stdexcept>

namespace dbuser::test::e2e {

namespace {

struct closer {
  void operator()(MYSQL* m) const { mysql_close(m); }
};
using connection = std::unique_ptr<MYSQL, closer>;

// A connection over TCP, or the server's (or client library's) message.
struct connect_result {
  connection conn;
  std::string error;
};

connect_result connect(const std::string& host, int port, const std::string& user,
                       const std::string& password, const std::string& database) {
  connection m(mysql_init(nullptr));
  if (!m)
    return {nullptr, "mysql_init failed"};
  unsigned protocol = MYSQL_PROTOCOL_TCP;
  unsigned connect_timeout = 5;
  unsigned io_timeout = 30;
  mysql_options(m.get(), MYSQL_OPT_PROTOCOL, &protocol);
  mysql_options(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_options(m.get(), MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_options(m.get(), MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  if (mysql_real_connect(m.get(), host.c_str(), user.c_str(), password.c_str(),
                         database.empty() ? nullptr : database.c_str(),
                         static_cast<unsigned>(port), nullptr, 0)
      == nullptr) {
    std::string e = mysql_error(m.get());
    return {nullptr, e.empty() ? std::string("connection failed") : e};
  }
  return {std::move(m), ""};
}

// Empty on success, else the server's message. Results are read and discarded.
std::string run_statement(MYSQL* m, const std::string& sql) {
  if (mysql_real_query(m, sql.data(), sql.size()) != 0)
    return mysql_error(m);
  for (;;) {
    if (MYSQL_RES* r = mysql_store_result(m))
      mysql_free_result(r);
    else if (mysql_field_count(m) != 0)
      return mysql_error(m);
    const int more = mysql_next_result(m);
    if (more > 0)
      return mysql_error(m);
    if (more < 0)
      return "";
  }
}

} // namespace

mariadb::mariadb() {
  const auto& env = dev_env::get();
  host_ = env.at("MYSQL_HOST");
  port_ = std::stoi(env.at("MYSQL_PORT"));
  admin_user_ = env.at("MYSQL_USER");
  admin_password_ = env.at("MYSQL_PASSWORD");
}

void mariadb::exec(const std::vector<std::string>& statements, const std::string& database) const {
  auto c = connect(host_, port_, admin_user_, admin_password_, database);
  if (!c.conn)
    throw std::runtime_error("MariaDB admin connection: " + c.error);
  for (const auto& s : statements)
    if (auto e = run_statement(c.conn.get(), s); !e.empty())
      throw std::runtime_error(s + ": " + e);
}

std::vector<std::vector<std::string>> mariadb::rows(const std::string& query) const {
  auto c = connect(host_, port_, admin_user_, admin_password_, "");
  if (!c.conn)
    throw std::runtime_error("MariaDB admin connection: " + c.error);
  MYSQL* m = c.conn.get();
  if (mysql_real_query(m, query.data(), query.size()) != 0)
    throw std::runtime_error(query + ": " + mysql_error(m));
  std::unique_ptr<MYSQL_RES, void (*)(MYSQL_RES*)> r(mysql_store_result(m), mysql_free_result);
  std::vector<std::vector<std::string>> out;
  if (!r)
    return out;
  const unsigned n = mysql_num_fields(r.get());
  while (MYSQL_ROW row = mysql_fetch_row(r.get())) {
    const unsigned long* lengths = mysql_fetch_lengths(r.get());
    std::vector<std::string> cells;
    for (unsigned i = 0; i < n; ++i)
      cells.emplace_back(row[i] != nullptr ? std::string(row[i], lengths[i]) : std::string());
    out.push_back(std::move(cells));
  }
  return out;
}

std::string mariadb::value(const std::string& query) const {
  auto r = rows(query);
  return r.empty() || r.front().empty() ? std::string() : r.front().front();
}

bool mariadb::account_exists(const std::string& user, const std::string& host) const {
  return account_hash(user, host).has_value();
}

std::optional<std::string> mariadb::account_hash(const std::string& user,
                                                 const std::string& host) const {
  auto r = rows("SELECT authentication_string FROM mysql.user WHERE user = " + literal(user)
                + " AND host = " + literal(host));
  if (r.empty())
    return std::nullopt;
  return r.front().front();
}

std::vector<account_row> mariadb::accounts() const {
  std::vector<account_row> out;
  for (auto& r : rows("SELECT user, host, authentication_string FROM mysql.user"))
    out.push_back(account_row{r[0], r[1], r[2]});
  return out;
}

bool mariadb::database_exists(const std::string& database) const {
  return !rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " + literal(database))
            .empty();
}

std::optional<std::string> mariadb::owner_row(const std::string& user,
                                              const std::string& host) const {
  if (!database_exists("dbuser_operator"))
    return std::nullopt;
  auto r = rows("SELECT owner FROM dbuser_operator.owners WHERE user = " + literal(user)
                + " AND host = " + literal(host));
  if (r.empty())
    return std::nullopt;
  return r.front().front();
}

std::string mariadb::login_error(const std::string& user, const std::string& password,
                                 const std::string& database) const {
  auto c = connect(host_, port_, user, password, database);
  return c.conn ? std::string() : c.error;
}

std::string mariadb::exec_as(const std::string& user, const std::string& password,
                             const std::string& database, const std::string& sql) const {
  auto c = connect(host_, port_, user, password, database);
  if (!c.conn)
    return "login failed: " + c.error;
  return run_statement(c.conn.get(), sql);
}

void mariadb::drop_account(const std::string& user, const std::string& host) const {
  exec({"DROP USER IF EXISTS " + literal(user) + "@" + literal(host)});
  if (database_exists("dbuser_operator"))
    exec({"DELETE FROM dbuser_operator.owners WHERE user = " + literal(user)
          + " AND host = " + literal(host)});
}

void mariadb::drop_database(const std::string& database) const {
  exec({"DROP DATABASE IF EXISTS " + ident(database)});
}

std::string mariadb::ident(const std::string& name) { return dbuser::quote_doubled(name, '`'); }

std::string mariadb::literal(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'')
      out += '\\';
    if (c == '\0') {
      out += "\\0";
      continue;
    }
    out += c;
  }
  return out + "'";
}

} // namespace dbuser::test::e2e
