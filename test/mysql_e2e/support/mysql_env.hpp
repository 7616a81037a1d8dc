#pragma once

// One MySQLUser end-to-end test's world: the e2e harness's namespace and operator process
// (dbuser_e2e_support), plus a `mysql-admin` Secret holding the dev MariaDB's admin credentials,
// MySQLUser manifests pointing at that MariaDB, and cleanup of everything the test made: the
// MySQLUsers deleted through the operator (while it still runs), then leftover accounts, their
// rows in dbuser_operator.owners, and databases dropped.

#include "test/e2e/support/e2e_env.hpp"
#include "test/mysql_e2e/support/mariadb.hpp"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

namespace dbuser::test::e2e {

inline constexpr const char* mysql_admin_secret_name = "mysql-admin";
inline constexpr const char* myuser = "mysqlusers.database.example.com";
inline constexpr const char* rotate_annotation = "database.example.com/rotate";

class mysql_env {
public:
  explicit mysql_env(e2e_options opts = {});
  ~mysql_env();
  mysql_env(const mysql_env&) = delete;
  mysql_env& operator=(const mysql_env&) = delete;

  e2e_env base; // namespace, operator, kubectl, remembered passwords
  mariadb db;

  // Unique account and database names for this test (lower snake case, at most 32 bytes); they
  // are dropped at the end.
  std::string account_name(const std::string& prefix);
  std::string database_name(const std::string& prefix);
  void forget_account(const std::string& user); // e.g. when a test drops it itself
  void track_database(const std::string& database);
  // As e2e_env::names_for, the account from account_name.
  user_names names_for(const std::string& stem);

  // A MySQLUser in this namespace for 'username'@'%' on the dev MariaDB (127.0.0.1:MYSQL_PORT),
  // adminSecretRef mysql-admin, privileges SELECT INSERT UPDATE DELETE.
  [[nodiscard]] nlohmann::json user_manifest(const std::string& name, const std::string& username,
                                             const std::string& database,
                                             const std::string& secret_name) const;
  [[nodiscard]] nlohmann::json user_manifest(const user_names& u) const;
  void apply(const nlohmann::json& object) const { base.apply(object); }
  [[nodiscard]] exec_result try_apply(const nlohmann::json& object) const {
    return base.try_apply(object);
  }

  [[nodiscard]] std::optional<nlohmann::json> user(const std::string& name) const;
  [[nodiscard]] ready_state ready(const std::string& name) const {
    return base.ready_of(myuser, name);
  }
  bool wait_ready(const std::string& name, std::chrono::milliseconds deadline,
                  const std::string& status = "True", const std::string& reason = "") const {
    return base.wait_ready_of(myuser, name, deadline, status, reason);
  }
  bool wait_gone(const std::string& name, std::chrono::milliseconds deadline) const;
  void annotate_rotate(const std::string& name, const std::string& value) const;

  // The credentials Secret's decoded data (its password remembered); nullopt when absent.
  std::optional<std::map<std::string, std::string>> secret(const std::string& name) {
    return base.secret(name);
  }
  // Logs in with the Secret's username and password to its host, port and database: empty on
  // success, else why not.
  std::string login_with_secret(const std::string& secret_name);
  bool wait_login_with_secret(const std::string& secret_name, std::chrono::milliseconds deadline);

  // For failure messages: the MySQLUser's status and the operator log's tail.
  [[nodiscard]] std::string describe(const std::string& name) const {
    return base.describe_of("MySQLUser", myuser, name);
  }

private:
  std::set<std::string> accounts_;
  std::set<std::string> databases_;
};

} // namespace dbuser::test::e2e
