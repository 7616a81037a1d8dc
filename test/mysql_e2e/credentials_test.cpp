// Issue 17 for MySQLUser: a password policy, a templated DATABASE_URL (mysql://) and JDBC URL that
// carry the password, and a Secret rename, against the real operator, kube-apiserver and MariaDB.
#include "test/e2e/support/prelude.hpp"
#include "pg/password.hpp"
#include "test/mysql_e2e/support/mysql_checks.hpp"
#include "test/mysql_e2e/support/mysql_env.hpp"
#include "test/support/text.hpp"

#include <algorithm>

using dbuser::test::count_of;
using dbuser::test::percent_decode;

TEST_CASE("a MySQLUser's password follows its policy, its templated mysql:// URL logs in, and a "
          "rename moves the credentials and deletes the old Secret") {
  mysql_env env;
  const auto name = env.base.object_name("my-creds");
  const auto username = env.account_name("my_creds");
  const auto database = env.database_name("my_creds_db");
  const auto secret_name = env.base.object_name("my-creds-a");
  auto manifest = env.user_manifest(name, username, database, secret_name);
  manifest["spec"]["passwordPolicy"] = {{"length", 40}, {"symbols", 2}, {"uppercase", 2}};
  manifest["spec"]["secretTemplate"] = {
    {"data",
     {{"DATABASE_URL", "mysql://{{ username | urlencode }}:{{ password | urlencode }}@{{ host "
                       "}}:{{ port }}/{{ database | urlencode }}"},
      {"JDBC", "{{ jdbcUrl }}"}}}};
  env.apply(manifest);
  REQUIRE_MYSQL_READY(env, name, seconds(30));

  auto d = env.secret(secret_name).value();
  const auto password = d.at("password");
  CHECK(password.size() == 40);
  CHECK(count_of(password, dbuser::pg::default_symbols) >= 2);
  CHECK(count_of(password, dbuser::pg::uppercase_letters) >= 2);
  // The URL's user info, decoded, is what logs in.
  const auto& url = d.at("DATABASE_URL");
  const std::string prefix = "mysql://";
  REQUIRE(url.rfind(prefix, 0) == 0);
  const auto colon = url.find(':', prefix.size());
  const auto at = url.find('@', colon);
  REQUIRE(at != std::string::npos);
  const auto url_user = percent_decode(url.substr(prefix.size(), colon - prefix.size()));
  const auto url_password = percent_decode(url.substr(colon + 1, at - colon - 1));
  CHECK(url_user == username);
  CHECK(url_password == password);
  CHECK(env.db.login_error(url_user, url_password, database).empty());
  CHECK(d.at("JDBC") == d.at("jdbc-url"));

  // Rename: the new Secret holds the same password and logs in; the old one is gone.
  const auto renamed = env.base.object_name("my-creds-b");
  manifest["spec"]["secretName"] = renamed;
  env.apply(manifest);
  REQUIRE(wait_until([&] { return !env.base.k8s.get("secret", env.base.ns, secret_name); },
                     seconds(30), milliseconds(200)));
  REQUIRE(env.wait_login_with_secret(renamed, seconds(20)));
  CHECK(env.secret(renamed).value().at("password") == password);
  REQUIRE(wait_until(
    [&] {
      auto u = env.user(name);
      return u && u->value("/status/secretName"_json_pointer, "") == renamed;
    },
    seconds(20)));
  CHECK_NO_SECRETS_IN_LOG(env.base);
}
