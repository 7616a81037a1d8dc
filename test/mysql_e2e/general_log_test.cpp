// What the operator sends to MariaDB never holds a plaintext password (issue 10): with the
// server's general log on, creating a MySQLUser and rotating its password leave every statement
// in the log, and neither password.
#include "test/e2e/support/prelude.hpp"
#include "api/credentials.hpp"
#include "test/mysql_e2e/support/mysql_checks.hpp"
#include "test/mysql_e2e/support/mysql_env.hpp"

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Turns the server's general log on into a fresh file of the test's for its lifetime, and back
// off (to the previous file) at the end, whatever happened.
class general_log {
public:
  explicit general_log(const mariadb& db) : db_(db) {
    char path[] = "/tmp/dbuser-mysql-e2e-general-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0)
      throw std::runtime_error("mkstemp failed");
    ::close(fd);
    // The server writes it as its own OS user.
    ::chmod(path, 0666);
    path_ = path;
    previous_file_ = db_.value("SELECT @@general_log_file");
    previous_on_ = db_.value("SELECT @@general_log");
    db_.exec({"SET GLOBAL general_log_file = " + mariadb::literal(path_),
              "SET GLOBAL general_log = 1"});
  }
  ~general_log() {
    try {
      db_.exec({"SET GLOBAL general_log = 0",
                "SET GLOBAL general_log_file = " + mariadb::literal(previous_file_)});
      if (previous_on_ == "1")
        db_.exec({"SET GLOBAL general_log = 1"});
    } catch (...) { // never throw from a destructor
    }
    ::unlink(path_.c_str());
  }
  general_log(const general_log&) = delete;
  general_log& operator=(const general_log&) = delete;

  [[nodiscard]] std::string text() const { return read_file(path_); }
  [[nodiscard]] bool on() const { return db_.value("SELECT @@general_log") == "1"; }

private:
  const mariadb& db_;
  std::string path_;
  std::string previous_file_;
  std::string previous_on_;
};

} // namespace

TEST_CASE("creating a MySQLUser and rotating its password leave no plaintext password in the "
          "server's general log") {
  mysql_env env(e2e_options{true, true, false, "2s", {}});
  general_log log(env.db);
  REQUIRE(log.on());
  const auto u = env.names_for("my-logged");

  env.apply(env.user_manifest(u));
  REQUIRE_MYSQL_READY(env, u.name, seconds(30));
  REQUIRE(env.login_with_secret(u.secret_name).empty());
  const auto first = env.secret(u.secret_name)->at("password");

  env.annotate_rotate(u.name, "logged");
  std::string second;
  const bool rotated = wait_until(
      [&] {
        auto d = env.secret(u.secret_name);
        if (!d || d->count(dbuser::api::key_pending_password) != 0)
          return false;
        second = d->at("password");
        return second != first;
      },
      seconds(30), milliseconds(100));
  INFO(env.describe(u.name));
  REQUIRE(rotated);
  REQUIRE(env.login_with_secret(u.secret_name).empty());
  REQUIRE(log.on());

  const auto text = log.text();
  INFO("general log of " << text.size() << " bytes");
  // The log did record the operator's statements: the check below is not vacuous.
  CHECK_THAT(text, Catch::Contains("CREATE USER '" + u.username + "'"));
  CHECK_THAT(text, Catch::Contains("ALTER USER '" + u.username + "'"));
  CHECK(text.find(first) == std::string::npos);
  CHECK(text.find(second) == std::string::npos);
  CHECK_NO_SECRETS_IN_LOG(env.base);
}
