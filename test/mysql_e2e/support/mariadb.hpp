#pragma once

// The test's own view of MariaDB: the admin connection of the dev environment (MYSQL_HOST,
// MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD), what an account looks like in mysql.user, logging in as
// a generated account, and removing what a test left behind. Independent of the operator's mysql/
// layer on purpose: the MariaDB C API, straight.

#include <optional>
#include <string>
#include <vector>

namespace dbuser::test::e2e {

// One row of mysql.user as the test compares it.
struct account_row {
  std::string user;
  std::string host;
  std::string authentication_string; // the stored hash
  bool operator==(const account_row& o) const {
    return user == o.user && host == o.host && authentication_string == o.authentication_string;
  }
  bool operator<(const account_row& o) const {
    return user != o.user ? user < o.user : host < o.host;
  }
};

class mariadb {
public:
  // From the dev environment (dev_env::get()).
  mariadb();

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& admin_user() const { return admin_user_; }
  [[nodiscard]] const std::string& admin_password() const { return admin_password_; }

  // Runs statements as the admin, one connection; throws std::runtime_error naming the failing
  // statement and the server's message.
  void exec(const std::vector<std::string>& statements, const std::string& database = "") const;
  // Every row of a query as the admin (NULL reads as ""); throws on error.
  [[nodiscard]] std::vector<std::vector<std::string>> rows(const std::string& query) const;
  // The first column of the first row, or "" when there is none.
  [[nodiscard]] std::string value(const std::string& query) const;

  [[nodiscard]] bool account_exists(const std::string& user, const std::string& host = "%") const;
  // mysql.user's authentication_string of the account; nullopt when it does not exist.
  [[nodiscard]] std::optional<std::string> account_hash(const std::string& user,
                                                        const std::string& host = "%") const;
  [[nodiscard]] std::vector<account_row> accounts() const; // all of mysql.user
  [[nodiscard]] bool database_exists(const std::string& database) const;
  // The owner recorded in dbuser_operator.owners for the account, or nullopt.
  [[nodiscard]] std::optional<std::string> owner_row(const std::string& user,
                                                     const std::string& host = "%") const;

  // Empty when `user` logs in (to `database`, when not empty) with `password`; else the
  // server's message (e.g. "Access denied for user ...").
  [[nodiscard]] std::string login_error(const std::string& user, const std::string& password,
                                        const std::string& database = "") const;
  // Runs `sql` as `user` in `database`; empty on success, else the error message.
  [[nodiscard]] std::string exec_as(const std::string& user, const std::string& password,
                                    const std::string& database, const std::string& sql) const;

  // DROP USER IF EXISTS and its row in dbuser_operator.owners; absent is fine.
  void drop_account(const std::string& user, const std::string& host = "%") const;
  // DROP DATABASE IF EXISTS.
  void drop_database(const std::string& database) const;

  // `name` in backticks; a string literal in single quotes (backslash and quote escaped).
  [[nodiscard]] static std::string ident(const std::string& name);
  [[nodiscard]] static std::string literal(const std::string& value);

private:
  std::string host_;
  int port_ = 0;
  std::string admin_user_;
  std::string admin_password_;
};

} // namespace dbuser::test::e2e
