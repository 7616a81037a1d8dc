// A PostgresUser's life after creation: its privileges change, it is deleted (the role goes with
// it, even when it owns tables, unless deletionPolicy says Retain).
#include "test/e2e/support/prelude.hpp"

#include <algorithm>

TEST_CASE("deleting a PostgresUser drops its role even when it owns a table, and its Secret") {
  e2e_env env;
  const auto u = env.names_for("doomed");
  env.apply(env.user_manifest(u));
  REQUIRE_READY(env, u.name, seconds(20));
  REQUIRE(env.login_with_secret(u.secret_name).empty());

  // The role owns a table with a row in it: its data must survive the role.
  env.pg.exec("CREATE TABLE public.owned_by_user (id int); INSERT INTO public.owned_by_user "
              "VALUES (42); ALTER TABLE public.owned_by_user OWNER TO "
                  + postgres::ident(u.username),
              u.database);

  env.k8s.remove(pguser, env.ns, u.name);
  if (!env.wait_gone(pguser, u.name, seconds(30)))
    FAIL("the PostgresUser is still there\n" << env.describe(u.name));

  CHECK_FALSE(env.pg.role_exists(u.username));
  CHECK_FALSE(env.k8s.get("secret", env.ns, u.secret_name));
  auto c = env.pg.admin(u.database);
  pqxx::nontransaction w(c);
  auto row = w.exec1("SELECT (SELECT id FROM public.owned_by_user), tableowner FROM pg_tables "
                     "WHERE tablename = 'owned_by_user'");
  CHECK(row[0].as<int>() == 42);
  CHECK(row[1].as<std::string>() == env.pg.admin_user());
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("a PostgresUser deleted after its admin Secret (as a namespace deletion does) drops its "
          "role with the credentials the operator read last, and says so") {
  e2e_options o;
  o.extra_args = {"--admin-secret-ttl", "0"}; // no read cache: every read asks the API server
  e2e_env env(o);
  const auto name = env.object_name("orphan");
  const auto username = env.role_name("orphan");
  env.apply(env.user_manifest(name, username, env.database_name("orphan_db"),
                              env.object_name("orphan-creds")));
  REQUIRE_READY(env, name, seconds(20));
  env.k8s.remove("secret", env.ns, admin_secret_name);
  REQUIRE(wait_until([&] { return !env.k8s.get("secret", env.ns, admin_secret_name); },
                     seconds(10)));
  env.k8s.remove(pguser, env.ns, name);
  if (!env.wait_gone(pguser, name, seconds(30)))
    FAIL("the PostgresUser is still there\n" << env.describe(name));
  CHECK_FALSE(env.pg.role_exists(username));
  const auto said = env.warnings(name);
  CHECK(std::any_of(said.begin(), said.end(), [](const std::string& w) {
    return w.rfind("AdminSecretNotFound: ", 0) == 0
           && w.find("is gone; the role is dropped with what it held") != std::string::npos;
  }));
}

TEST_CASE("deleting a PostgresUser with deletionPolicy Retain leaves its role") {
  e2e_env env;
  const auto u = env.names_for("kept");
  auto user = env.user_manifest(u);
  user["spec"]["deletionPolicy"] = "Retain";
  env.apply(user);
  REQUIRE_READY(env, u.name, seconds(20));
  auto before = env.pg.role(u.username);
  REQUIRE(before);

  env.k8s.remove(pguser, env.ns, u.name);
  if (!env.wait_gone(pguser, u.name, seconds(30)))
    FAIL("the PostgresUser is still there\n" << env.describe(u.name));

  auto after = env.pg.role(u.username);
  REQUIRE(after);
  CHECK(after->can_login);
  CHECK(after->verifier == before->verifier);
  CHECK_NO_SECRETS_IN_LOG(env);
}

TEST_CASE("removing DELETE from privileges revokes it within seconds and observedGeneration "
          "follows") {
  e2e_env env;
  const auto u = env.names_for("narrowed");
  auto user = env.user_manifest(u);
  env.apply(user);
  REQUIRE_READY(env, u.name, seconds(20));
  auto data = *env.secret(u.secret_name);
  env.pg.exec("CREATE TABLE public.t (id int); INSERT INTO public.t SELECT generate_series(1, 10)",
              u.database);
  auto as_user = [&](const std::string& sql) {
    return env.pg.exec_as(u.username, data["password"], u.database, sql);
  };
  REQUIRE(as_user("DELETE FROM public.t WHERE id = 1").empty());

  user["spec"]["privileges"] = json{"SELECT", "INSERT", "UPDATE"};
  env.apply(user);
  const auto generation = env.user(u.name).value()["metadata"]["generation"].get<std::int64_t>();
  REQUIRE(generation >= 2);

  const bool revoked = wait_until(
      [&] {
        return as_user("DELETE FROM public.t WHERE id = 2").find("permission denied")
               != std::string::npos;
      },
      seconds(15), milliseconds(200));
  if (!revoked)
    FAIL("DELETE is still allowed\n" << env.describe(u.name));
  CHECK(as_user("SELECT * FROM public.t").empty());
  CHECK(as_user("UPDATE public.t SET id = id").empty());

  const bool observed = wait_until(
      [&] {
        auto got = env.user(u.name);
        return got && got->value("/status/observedGeneration"_json_pointer, std::int64_t{0})
                          == (*got)["metadata"]["generation"].get<std::int64_t>();
      },
      seconds(15), milliseconds(200));
  if (!observed)
    FAIL("observedGeneration does not follow metadata.generation\n" << env.describe(u.name));
  CHECK(env.ready(u.name).status == "True");

  // Default privileges follow too: a table created now is not deletable either.
  env.pg.exec("CREATE TABLE public.later (id int); INSERT INTO public.later VALUES (1)", u.database);
  CHECK(as_user("SELECT * FROM public.later").empty());
  CHECK_THAT(as_user("DELETE FROM public.later"), Catch::Contains("permission denied"));
  CHECK_NO_SECRETS_IN_LOG(env);
}

// One reconcile at a time (--max-concurrent-reconciles 1): every path gives its slot back — a
// success, a retry that keeps failing, a refusal, a deletion — so the others all get their turn.
TEST_CASE("with one reconcile slot, users that succeed, fail, are refused and are deleted all "
          "get their turn") {
  e2e_options opts;
  opts.extra_args = {"--max-concurrent-reconciles", "1"};
  e2e_env env(opts);
  const auto db = env.database_name("slot_db");
  auto failing = env.user_manifest(env.object_name("slot-noadmin"), env.role_name("slot_x"), db,
                                   env.object_name("slot-x-creds"));
  failing["spec"]["adminSecretRef"]["name"] = "no-such-admin-secret"; // retried with backoff
  env.apply(failing);
  // A Secret that is not ours: refused.
  const auto refused_name = env.object_name("slot-refused");
  const auto foreign_secret = env.object_name("slot-foreign");
  env.k8s.must({"create", "secret", "generic", foreign_secret, "-n", env.ns,
                "--from-literal=password=not-yours"});
  env.apply(env.user_manifest(refused_name, env.role_name("slot_r"), db, foreign_secret));
  std::vector<std::string> good;
  for (int i = 0; i < 5; ++i) {
    good.push_back(env.object_name("slot-good"));
    env.apply(env.user_manifest(good.back(), env.role_name("slot_g"), db, good.back() + "-creds"));
  }
  for (const auto& name : good)
    REQUIRE_READY(env, name, seconds(60));
  REQUIRE_CONDITION(env, refused_name, seconds(30), "False", "SecretConflict");
  REQUIRE_CONDITION(env, failing["metadata"]["name"].get<std::string>(), seconds(30), "False",
                    "AdminSecretNotFound");

  env.k8s.remove(pguser, env.ns, good.front());
  REQUIRE(env.wait_gone(pguser, good.front(), seconds(30)));
  // A change after all that still gets a slot.
  env.k8s.merge_patch(pguser, env.ns, good.back(), json{{"spec", {{"privileges", {"SELECT"}}}}});
  REQUIRE(wait_until(
    [&] {
      auto u = env.user(good.back());
      return u && u->value("/status/observedGeneration"_json_pointer, std::int64_t{0}) == 2;
    },
    seconds(30)));
  // Let the failing one be deleted with the namespace (its deletion needs the admin).
  env.k8s.merge_patch(pguser, env.ns, failing["metadata"]["name"].get<std::string>(),
                      json{{"spec", {{"adminSecretRef", {{"name", admin_secret_name}}}}}});
}
