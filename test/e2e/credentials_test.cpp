// Credentials the way applications want them (issue 17): spec.passwordPolicy, spec.secretTemplate
// and renaming spec.secretName, against the real operator, kube-apiserver and PostgreSQL. Each
// templated form is checked by connecting with it (libpq parses the URI and the key/value string
// exactly as psql does; the pgpass line through PGPASSFILE), never by printing it.
#include "test/e2e/support/prelude.hpp"
#include "api/secret_template.hpp"
#include "pg/password.hpp"
#include "test/support/text.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sys/stat.h>

using dbuser::test::count_of;

namespace {

struct user_under_test {
  std::string name, role, database, secret;
};

user_under_test new_user(e2e_env& env, const std::string& prefix) {
  return {env.object_name(prefix), env.role_name(prefix), env.database_name(prefix + "_db"),
          env.object_name(prefix + "-creds")};
}

json manifest(e2e_env& env, const user_under_test& u, const json& extra_spec = json::object()) {
  auto m = env.user_manifest(u.name, u.role, u.database, u.secret);
  m["spec"].update(extra_spec);
  return m;
}

// A new user with `extra_spec`, applied and Ready.
user_under_test ready_user(e2e_env& env, const std::string& prefix,
                           const json& extra_spec = json::object()) {
  auto u = new_user(env, prefix);
  env.apply(manifest(env, u, extra_spec));
  REQUIRE_READY(env, u.name, seconds(30));
  return u;
}

// Empty when `conninfo` (a URI or a key/value string) logs in and runs a query; else why not,
// never holding `password`.
std::string connect_error(const std::string& conninfo, const std::string& password) {
  try {
    pqxx::connection c(conninfo);
    pqxx::nontransaction w(c);
    w.exec("SELECT 1");
    return "";
  } catch (const std::exception& e) {
    std::string m = e.what();
    return m.find(password) == std::string::npos ? m : "(a message holding the password)";
  }
}

// A .NET connection string ("Key=value;Key=\"quoted \"\" value\";...") as the key/value pairs
// DbConnectionStringBuilder reads from it.
std::map<std::string, std::string> parse_dotnet(const std::string& s) {
  std::map<std::string, std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto eq = s.find('=', i);
    REQUIRE(eq != std::string::npos);
    std::string key = s.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < s.size() && s[i] == '"') {
      for (++i; i < s.size(); ++i) {
        if (s[i] == '"' && i + 1 < s.size() && s[i + 1] == '"') {
          value += '"';
          ++i;
        } else if (s[i] == '"') {
          ++i;
          break;
        } else {
          value += s[i];
        }
      }
    } else {
      auto end = s.find(';', i);
      value = s.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? s.size() : end;
    }
    if (i < s.size() && s[i] == ';')
      ++i;
    out[key] = value;
  }
  return out;
}

json policy(const json& p) {
  return {{"passwordPolicy", p}};
}

json template_data(const json& data) {
  return {{"secretTemplate", {{"data", data}}}};
}

std::string status_secret_name(e2e_env& env, const user_under_test& u) {
  auto o = env.user(u.name);
  return o ? o->value("/status/secretName"_json_pointer, "") : "";
}

void patch_secret_password(e2e_env& env, const std::string& secret, const std::string& password) {
  env.remember_password(password);
  env.k8s.merge_patch("secret", env.ns, secret,
                      {{"stringData", {{"password", password}}}});
}

const json kTemplate = {
  {"labels", {{"team", "payments"}}},
  {"annotations", {{"example.com/owner", "payments"}}},
  {"data",
   {{"DATABASE_URL", "postgresql://{{ username | urlencode }}:{{ password | urlencode }}@{{ host "
                     "}}:{{ port }}/{{ database | urlencode }}?sslmode={{ sslmode }}"},
    {"LIBPQ", "host={{ host | libpq }} port={{ port }} dbname={{ database | libpq }} "
              "user={{ username | libpq }} password={{ password | libpq }} sslmode={{ sslmode }}"},
    {"DOTNET", "Host={{ host | dotnet }};Port={{ port }};Database={{ database | dotnet }};"
               "Username={{ username | dotnet }};Password={{ password | dotnet }}"},
    {"PGPASS", "{{ host | pgpass }}:{{ port }}:{{ database | pgpass }}:{{ username | pgpass "
               "}}:{{ password | pgpass }}"}}}};

// Every templated form of Secret `secret` connects, and each carries `password`.
void check_every_form_connects(e2e_env& env, const user_under_test& u,
                               const std::string& password) {
  auto data = env.secret(u.secret).value();
  CHECK(data.at("password") == password);
  CHECK(connect_error(data.at("DATABASE_URL"), password).empty());
  CHECK(connect_error(data.at("LIBPQ"), password).empty());
  // .NET: the values DbConnectionStringBuilder would read, handed to libpq.
  auto dotnet = parse_dotnet(data.at("DOTNET"));
  CHECK(dotnet["Password"] == password);
  CHECK(connect_error("host=" + dbuser::api::libpq_quote(dotnet["Host"]) + " port="
                        + dotnet["Port"] + " dbname=" + dbuser::api::libpq_quote(dotnet["Database"])
                        + " user=" + dbuser::api::libpq_quote(dotnet["Username"]) + " password="
                        + dbuser::api::libpq_quote(dotnet["Password"]),
                      password)
          .empty());
  // pgpass: a file of that one line (mode 0600, as libpq demands) and no password in conninfo.
  const std::string file = "/tmp/" + env.object_name("pgpass");
  {
    std::ofstream f(file);
    f << data.at("PGPASS") << "\n";
  }
  REQUIRE(::chmod(file.c_str(), 0600) == 0);
  ::setenv("PGPASSFILE", file.c_str(), 1);
  CHECK(connect_error("host=" + env.pg.host() + " port=" + std::to_string(env.pg.port())
                        + " dbname=" + dbuser::api::libpq_quote(u.database)
                        + " user=" + dbuser::api::libpq_quote(u.role),
                      password)
          .empty());
  ::unsetenv("PGPASSFILE");
  std::remove(file.c_str());
}

} // namespace

TEST_CASE("a password policy of length 40 with 2 symbols and 2 uppercase yields such a password "
          "that logs in, and a policy change waits for the next rotation") {
  e2e_env env;
  const auto u =
    ready_user(env, "policy", policy({{"length", 40}, {"symbols", 2}, {"uppercase", 2}}));
  const auto first = env.secret(u.secret).value().at("password");
  CHECK(first.size() == 40);
  CHECK(count_of(first, dbuser::pg::default_symbols) >= 2);
  CHECK(count_of(first, dbuser::pg::uppercase_letters) >= 2);
  CHECK(env.login_with_secret(u.secret).empty());

  // A new policy: the current password stays until the next rotation, which follows it.
  env.apply(manifest(
    env, u, policy({{"length", 64}, {"classes", {"lowercase", "digits"}}, {"digits", 10}})));
  REQUIRE(wait_until(
    [&] {
      auto o = env.user(u.name);
      return o && o->value("/status/observedGeneration"_json_pointer, 0) == 2;
    },
    seconds(20)));
  CHECK(env.secret(u.secret).value().at("password") == first);
  env.k8s.merge_patch(pguser, env.ns, u.name,
                      {{"metadata", {{"annotations", {{"database.example.com/rotate", "now"}}}}}});
  std::string second;
  REQUIRE(wait_until(
    [&] {
      auto s = env.secret(u.secret);
      second = s ? s->at("password") : "";
      return !second.empty() && second != first
             && s->count("dbuser-operator.internal.pending-password") == 0;
    },
    seconds(30)));
  CHECK(second.size() == 64);
  CHECK(second.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") == std::string::npos);
  CHECK(count_of(second, dbuser::pg::decimal_digits) >= 10);
  REQUIRE(env.wait_login_with_secret(u.secret, seconds(20)));
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("kubectl apply refuses a password policy that no password can satisfy") {
  e2e_options opts;
  opts.start_operator = false;
  e2e_env env(opts);
  auto u = new_user(env, "impossible");
  auto over =
    env.try_apply(manifest(env, u, policy({{"length", 16}, {"digits", 10}, {"symbols", 10}})));
  CHECK_FALSE(over.ok());
  CHECK_THAT(over.err, Catch::Contains("add up to more than length"));
  auto empty_set = env.try_apply(manifest(env, u, policy({{"symbols", 2}, {"symbolSet", ""}})));
  CHECK_FALSE(empty_set.ok());
  CHECK_THAT(empty_set.err, Catch::Contains("symbolSet is empty"));
  auto unused =
    env.try_apply(manifest(env, u, policy({{"symbols", 2}, {"classes", {"lowercase"}}})));
  CHECK_FALSE(unused.ok());
  CHECK_THAT(unused.err, Catch::Contains("must be listed in classes"));
  auto short_one = env.try_apply(manifest(env, u, policy({{"length", 8}})));
  CHECK_FALSE(short_one.ok());
  CHECK_THAT(short_one.err, Catch::Contains("should be greater than or equal to 16"));
  auto reserved = env.try_apply(manifest(env, u, template_data({{"password", "x"}})));
  CHECK_FALSE(reserved.ok());
  CHECK_THAT(reserved.err, Catch::Contains("are the operator's own"));
  CHECK_FALSE(env.user(u.name));
}

TEST_CASE("a Secret template yields a DATABASE_URL, a libpq string, a .NET string and a pgpass "
          "line that all connect, with a password holding every default symbol") {
  // A password edited in the Secret reaches the role at the next login check: check often.
  e2e_options opts;
  opts.extra_args = {"--login-check-period", "1s"};
  e2e_env env(opts);
  const auto u = ready_user(env, "tmpl", {{"secretTemplate", kTemplate}});
  auto secret = env.k8s.get("secret", env.ns, u.secret).value();
  CHECK(secret["metadata"]["labels"]["team"] == "payments");
  CHECK(secret["metadata"]["annotations"]["example.com/owner"] == "payments");
  check_every_form_connects(env, u, env.secret(u.secret).value().at("password"));

  // The Secret's password is the source of truth: set one holding every default symbol (and
  // the characters the default avoids); the operator sets the role's and re-renders each form.
  const std::string password = "Ab1" + std::string(dbuser::pg::default_symbols)
                               + "@:/?#%'\"\\;= x" + env.object_name("pw").substr(0, 8);
  patch_secret_password(env, u.secret, password);
  REQUIRE(wait_until(
    [&] {
      auto d = env.secret(u.secret);
      return d && d->at("password") == password
             && parse_dotnet(d->at("DOTNET"))["Password"] == password
             && env.pg.login_error(u.role, password, u.database).empty();
    },
    seconds(30), milliseconds(200)));
  check_every_form_connects(env, u, password);
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a template change updates the Secret at once, others' keys survive, and a broken "
          "template is InvalidSpec with its position and leaves the Secret as it was") {
  e2e_env env;
  const auto u =
    ready_user(env, "tmplchg", template_data({{"A", "{{ host }}"}, {"B", "{{ port }}"}}));
  // Someone else's key and label.
  env.k8s.merge_patch("secret", env.ns, u.secret,
                      {{"metadata", {{"labels", {{"someone", "else"}}}}},
                       {"stringData", {{"THEIRS", "x"}}}});

  env.apply(manifest(env, u, template_data({{"A", "{{ database }}"}, {"C", "{{ username }}"}})));
  REQUIRE(wait_until(
    [&] {
      auto d = env.secret(u.secret);
      return d && d->count("A") && d->at("A") == u.database && d->count("C") && d->count("B") == 0;
    },
    seconds(20), milliseconds(200)));
  auto d = env.secret(u.secret).value();
  CHECK(d.at("THEIRS") == "x");
  CHECK(env.k8s.get("secret", env.ns, u.secret).value()["metadata"]["labels"]["someone"] == "else");

  // Broken: Ready=False InvalidSpec naming the key, line and column; a Warning; Secret untouched.
  const auto before = env.k8s.get("secret", env.ns, u.secret).value();
  env.apply(manifest(env, u, template_data({{"A", "{{ pasword }}"}})));
  REQUIRE_CONDITION(env, u.name, seconds(20), "False", "InvalidSpec");
  CHECK_THAT(env.ready(u.name).message,
             Catch::Contains(
               "spec.secretTemplate.data.A: line 1, column 4: unknown field \"pasword\""));
  REQUIRE(wait_until(
    [&] {
      auto w = env.warnings(u.name);
      return std::any_of(w.begin(), w.end(),
                         [](const std::string& l) { return l.rfind("InvalidSpec: ", 0) == 0; });
    },
    seconds(20)));
  const auto after = env.k8s.get("secret", env.ns, u.secret).value();
  CHECK(after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]);
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a change of Secret type recreates the Secret with the same working password") {
  e2e_env env;
  const auto u = ready_user(env, "retype");
  const auto password = env.secret(u.secret).value().at("password");
  const auto uid = env.k8s.get("secret", env.ns, u.secret).value()["metadata"]["uid"];
  env.apply(manifest(env, u, {{"secretTemplate", {{"type", "kubernetes.io/basic-auth"}}}}));
  REQUIRE(wait_until(
    [&] {
      auto s = env.k8s.get("secret", env.ns, u.secret);
      return s && (*s)["type"] == "kubernetes.io/basic-auth";
    },
    seconds(30), milliseconds(200)));
  auto s = env.k8s.get("secret", env.ns, u.secret).value();
  CHECK(s["metadata"]["uid"] != uid);
  CHECK(env.secret(u.secret).value().at("password") == password);
  CHECK(env.login_with_secret(u.secret).empty());
  REQUIRE_READY(env, u.name, seconds(20));
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("renaming the Secret writes the new one with the same password and deletes the old "
          "one") {
  e2e_env env;
  auto u = ready_user(env, "rename");
  const auto password = env.secret(u.secret).value().at("password");
  REQUIRE(wait_until(
    [&] { return status_secret_name(env, u) == u.secret; },
    seconds(20)));

  const auto old_secret = u.secret;
  u.secret = env.object_name("renamed-creds");
  env.apply(manifest(env, u));
  REQUIRE(wait_until([&] { return !env.k8s.get("secret", env.ns, old_secret); }, seconds(30),
                     milliseconds(200)));
  REQUIRE(env.wait_login_with_secret(u.secret, seconds(20)));
  CHECK(env.secret(u.secret).value().at("password") == password);
  REQUIRE(wait_until(
    [&] { return status_secret_name(env, u) == u.secret; },
    seconds(20)));
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a rename never deletes a foreign Secret that holds the old name") {
  e2e_env env;
  auto u = ready_user(env, "renamefg");
  REQUIRE(wait_until(
    [&] { return status_secret_name(env, u) == u.secret; },
    seconds(20)));

  // While the operator is down, the old Secret is replaced by someone else's (with our labels
  // even, but no owner reference), and the resource is renamed.
  env.op->stop();
  env.k8s.remove("secret", env.ns, u.secret);
  REQUIRE(wait_until([&] { return !env.k8s.get("secret", env.ns, u.secret); }, seconds(20)));
  auto foreign = secret_manifest(env.ns, u.secret, {{"note", "not the operator's"}});
  foreign["metadata"]["labels"] = {{"app.kubernetes.io/managed-by", "dbuser-operator"},
                                   {"database.example.com/postgresuser", u.name}};
  env.apply(foreign);
  const auto old_secret = u.secret;
  u.secret = env.object_name("renamefg-new");
  env.apply(manifest(env, u));
  env.op->start();

  REQUIRE_READY(env, u.name, seconds(30));
  REQUIRE(env.wait_login_with_secret(u.secret, seconds(20)));
  REQUIRE(wait_until(
    [&] { return status_secret_name(env, u) == u.secret; },
    seconds(20)));
  auto kept = env.k8s.get("secret", env.ns, old_secret);
  REQUIRE(kept);
  CHECK(secret_data(*kept).at("note") == "not the operator's");
  CHECK_NO_SECRETS_IN_LOG(env);
}
