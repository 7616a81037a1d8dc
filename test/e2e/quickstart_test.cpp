// The original quick start, end to end: the sample resource of deploy/samples/ (host and port
// pointed at the dev PostgreSQL, names made unique) becomes a role that logs in, with exactly the
// table privileges it asks for, and a Secret a program can use as is.
#include "test/e2e/support/prelude.hpp"

#include <sstream>

namespace {

// deploy/samples/quickstart.yaml as JSON (kubectl converts it without sending anything).
json quickstart_sample(const e2e_env& env) {
  auto out = env.k8s.must({"create", "--dry-run=client", "-o", "json", "-f",
                           std::string(DBUSER_SOURCE_DIR) + "/deploy/samples/quickstart.yaml"});
  return json::parse(out);
}

} // namespace

TEST_CASE("the quick start becomes Ready within seconds with a Secret that logs in",
          "[label:k8s-matrix]") {
  e2e_env env;
  const auto name = env.object_name("app-user");
  const auto username = env.role_name("myapp");
  const auto database = env.database_name("myapp_db");
  const auto secret_name = env.object_name("myapp-db-credentials");

  json user = quickstart_sample(env);
  REQUIRE(user["spec"]["privileges"] == json({"SELECT", "INSERT", "UPDATE", "DELETE"}));
  user["metadata"]["name"] = name;
  user["metadata"]["namespace"] = env.ns;
  user["spec"]["username"] = username;
  user["spec"]["database"] = database;
  user["spec"]["secretName"] = secret_name;
  user["spec"]["host"] = "127.0.0.1";
  user["spec"]["port"] = env.pg.port();
  const auto applied = steady_clock::now();
  env.apply(user);

  REQUIRE_READY(env, name, seconds(20));
  const auto took = duration_cast<milliseconds>(steady_clock::now() - applied);
  WARN("Ready " << took.count() << " ms after kubectl apply");
  CHECK(took < seconds(10));

  {
    INFO("the status tells the truth");
    auto u = env.user(name);
    REQUIRE(u);
    CHECK((*u)["status"]["observedGeneration"] == (*u)["metadata"]["generation"]);
    CHECK((*u)["status"]["connection"]["verified"] == true);
    // --verify-credentials auto: the catalog proves them where the admin may read pg_authid.
    CHECK((*u)["status"]["connection"]["method"] == (env.least_privilege() ? "login" : "catalog"));
    const auto& finalizers = (*u)["metadata"]["finalizers"];
    CHECK(std::find(finalizers.begin(), finalizers.end(), "database.example.com/finalizer")
          != finalizers.end());
  }

  {
    INFO("the Secret holds everything a program needs, and is ours");
    auto data = env.secret(secret_name);
    REQUIRE(data);
    for (const char* key : {"username", "password", "host", "port", "database", "uri", "jdbc-url"})
      CHECK(data->count(key) == 1);
    CHECK((*data)["username"] == username);
    CHECK((*data)["password"].size() >= 32);
    CHECK((*data)["host"] == "127.0.0.1");
    CHECK((*data)["port"] == std::to_string(env.pg.port()));
    CHECK((*data)["database"] == database);
    CHECK((*data)["uri"].rfind("postgresql://" + username + ":", 0) == 0);
    CHECK((*data)["uri"].find("@127.0.0.1:" + std::to_string(env.pg.port()) + "/" + database)
          != std::string::npos);
    CHECK((*data)["jdbc-url"].rfind("jdbc:postgresql://127.0.0.1:", 0) == 0);

    auto s = env.k8s.get("secret", env.ns, secret_name);
    REQUIRE(s);
    CHECK((*s)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dbuser-operator");
    CHECK((*s)["metadata"]["labels"]["database.example.com/postgresuser"] == name);
    auto u = env.user(name);
    REQUIRE(u);
    REQUIRE((*s)["metadata"]["ownerReferences"].size() == 1);
    CHECK((*s)["metadata"]["ownerReferences"][0]["uid"] == (*u)["metadata"]["uid"]);
    CHECK((*s)["metadata"]["ownerReferences"][0]["kind"] == "PostgresUser");
  }

  {
    INFO("the user logs in to its database and can read and write a table created afterwards, "
          "but not drop it");
    CHECK(env.login_with_secret(secret_name).empty());
    auto data = *env.secret(secret_name);
    env.pg.exec("CREATE TABLE public.items (id int PRIMARY KEY, v text)", database);
    auto as_user = [&](const std::string& sql) {
      return env.pg.exec_as(username, data["password"], database, sql);
    };
    CHECK(as_user("INSERT INTO public.items VALUES (1, 'a'), (2, 'b')").empty());
    CHECK(as_user("SELECT * FROM public.items").empty());
    CHECK(as_user("UPDATE public.items SET v = 'c' WHERE id = 1").empty());
    CHECK(as_user("DELETE FROM public.items WHERE id = 2").empty());
    const auto drop = as_user("DROP TABLE public.items");
    CHECK_THAT(drop, Catch::Contains("must be owner"));
    CHECK(env.pg.exec_as(username, data["password"], database, "TRUNCATE public.items")
              .find("permission denied")
          != std::string::npos);
    auto c = env.pg.admin(database);
    pqxx::nontransaction w(c);
    CHECK(w.exec1("SELECT count(*) FROM public.items")[0].as<int>() == 1);
  }

  {
    INFO("kubectl get pguser shows username, database, readiness, reason and age");
    check_printed_columns(env.k8s, env.ns, "pguser", name, username, database);
  }

  CHECK_NO_SECRETS_IN_LOG(env);
}
