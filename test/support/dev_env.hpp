#pragma once

#include <map>
#include <string>

namespace dbuser::test {

// The dev environment written by hack/dev-up.sh: `.dev/env` (KUBECONFIG, PGHOST, PGPORT, PGUSER,
// PGPASSWORD, ...). The directory is $DBUSER_DEV_DIR, else <source>/.dev. Throws when absent.
class dev_env {
public:
  static const dev_env& get();
  // Another environment directory's env file (e.g. a version-matrix server's, .dev/pg18).
  static dev_env load(const std::string& dir);

  [[nodiscard]] const std::string& at(const std::string& key) const;
  // The variable, or `fallback` when the environment does not define it.
  [[nodiscard]] std::string value(const std::string& key, const std::string& fallback = "") const;
  [[nodiscard]] std::string kubeconfig() const { return at("KUBECONFIG"); }
  [[nodiscard]] std::string pg_host() const { return at("PGHOST"); }
  [[nodiscard]] int pg_port() const { return std::stoi(at("PGPORT")); }
  [[nodiscard]] std::string pg_user() const { return at("PGUSER"); }
  [[nodiscard]] std::string pg_password() const { return at("PGPASSWORD"); }
  // libpq keyword/value connection string for the admin, to `dbname` (default postgres).
  [[nodiscard]] std::string pg_admin_conninfo(const std::string& dbname = "postgres") const;
  [[nodiscard]] const std::string& dir() const { return dir_; }

private:
  std::string dir_;
  std::map<std::string, std::string> vars_;
};

// Runs a shell command; returns its exit status and captures stdout (stderr passes through).
struct command_result {
  int status = -1;
  std::string out;
};
command_result run_command(const std::string& cmd);

} // namespace dbuser::test
