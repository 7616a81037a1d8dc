// What an application needs from its role beyond table privileges: the sequences behind `serial`,
// `bigserial` and identity columns, for tables created before the user and after it (default
// privileges), revoked when the table privileges shrink. Runs as superuser and, in the version
// matrix (label `managed`), as the least-privilege admin too.
#include "test/e2e/support/prelude.hpp"

namespace {

// The operator's "reconciled" lines about `name`, in order: true where the reconcile changed
// something ("... (N changes)").
std::vector<bool> reconciles(const e2e_env& env, const std::string& name) {
  std::vector<bool> out;
  for (const auto& line : env.op->log_lines_about(env.ns, name, {"reconciled in"}))
    out.push_back(line.find(" changes)") != std::string::npos);
  return out;
}

} // namespace

TEST_CASE("a user with INSERT inserts into serial, bigserial and identity columns, of tables "
          "created before and after it") {
  e2e_env env;
  const auto u = env.names_for("seq");
  const auto admin = postgres::ident(env.admin_user());
  // The database and a table with a serial id exist before the user, made by the admin.
  env.pg.exec("CREATE DATABASE " + postgres::ident(u.database) + " OWNER " + admin);
  env.pg.exec("SET ROLE " + admin + "; CREATE TABLE public.before (id serial PRIMARY KEY, v text)",
              u.database);

  env.apply(env.user_manifest(u)); // SELECT INSERT UPDATE DELETE
  REQUIRE_READY(env, u.name, seconds(20));
  auto creds = *env.secret(u.secret_name);
  const auto& user = creds.at("username");
  const auto& password = creds.at("password");
  CHECK(env.pg.exec_as(user, password, u.database,
                       "INSERT INTO public.before (v) VALUES ('x'); "
                       "SELECT currval('public.before_id_seq'); "
                       "UPDATE public.before SET v = 'y'")
        == "");

  // Tables made after the user: nothing for the operator to do (default privileges).
  env.pg.exec("SET ROLE " + admin
                + "; CREATE TABLE public.after (id bigserial PRIMARY KEY, v text);"
                  " CREATE TABLE public.ident (id int GENERATED ALWAYS AS IDENTITY, v text)",
              u.database);
  CHECK(env.pg.exec_as(user, password, u.database,
                       "INSERT INTO public.after (v) VALUES ('x'); "
                       "SELECT currval('public.after_id_seq'); "
                       "INSERT INTO public.ident (v) VALUES ('x')")
        == "");
  // setval needs UPDATE, which UPDATE on the tables gives.
  CHECK(env.pg.exec_as(user, password, u.database, "SELECT setval('public.after_id_seq', 100)")
        == "");

  // Each sequence's ACL stays small: its owner and the privilege group.
  {
    auto c = env.pg.admin(u.database);
    pqxx::nontransaction tx(c);
    auto r = tx.exec1("SELECT max(cardinality(relacl)) FROM pg_class WHERE relkind = 'S'");
    CHECK(r[0].as<int>() <= 3);
  }

  // A later reconcile of the converged user changes nothing (resync every 5 s).
  INFO("reconciles (true: changed something): " << [&] {
    std::string out;
    for (bool changed : reconciles(env, u.name))
      out += changed ? "changed " : "unchanged ";
    return out;
  }());
  CHECK(wait_until([&] {
    auto r = reconciles(env, u.name);
    return r.size() >= 3 && !r[r.size() - 1] && !r[r.size() - 2];
  }, seconds(30)));

  // SELECT only: INSERT and nextval are refused again, currval of its own session is not.
  auto narrowed = env.user_manifest(u);
  narrowed["spec"]["privileges"] = json::array({"SELECT"});
  env.apply(narrowed);
  CHECK(wait_until([&] {
    return env.pg.exec_as(user, password, u.database, "SELECT nextval('public.before_id_seq')")
             .find("permission denied")
           != std::string::npos;
  }, seconds(20)));
  CHECK(env.pg.exec_as(user, password, u.database, "INSERT INTO public.after (v) VALUES ('z')")
          .find("permission denied")
        != std::string::npos);
  CHECK(env.pg.exec_as(user, password, u.database, "SELECT count(*) FROM public.after") == "");
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("explicit sequencePrivileges override what the table privileges imply") {
  e2e_env env;
  const auto u = env.names_for("seqx");
  auto manifest = env.user_manifest(u);
  manifest["spec"]["privileges"] = json::array({"SELECT"});
  manifest["spec"]["sequencePrivileges"] = json::array({"USAGE"});
  env.apply(manifest);
  REQUIRE_READY(env, u.name, seconds(20));
  auto creds = *env.secret(u.secret_name);
  env.pg.exec("SET ROLE " + postgres::ident(env.admin_user())
                + "; CREATE SEQUENCE public.counter",
              u.database);
  CHECK(wait_until([&] {
    return env.pg.exec_as(creds.at("username"), creds.at("password"), u.database,
                          "SELECT nextval('public.counter')")
           == "";
  }, seconds(10)));
  CHECK(env.pg.exec_as(creds.at("username"), creds.at("password"), u.database,
                       "SELECT setval('public.counter', 5)")
          .find("permission denied")
        != std::string::npos);
}
