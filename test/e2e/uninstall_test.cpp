// An uninstall is not an intent: when the PostgresUser CRD is deleted, Kubernetes deletes every
// PostgresUser with it, and the operator lets them go without touching the database. A reinstall
// that applies the same users adopts the roles and the released Secrets, with no new password.
// It deletes and reinstalls the shared dev API server's CRD: serial (RUN_SERIAL).
#include "test/e2e/support/prelude.hpp"

namespace {

constexpr const char* crd = "customresourcedefinitions.apiextensions.k8s.io";
constexpr const char* crd_name = "postgresusers.database.example.com";

// Whatever happens, the dev API server gets its CRDs back (the next tests need them): a CRD
// deletion still waiting on finalizers is finished by hand (only what this test's operator did
// not release is left: nothing touches a database), then the CRDs are applied again.
struct reinstall_crds {
  const kube& k8s;
  void finish_deletion() const {
    if (!k8s.get(crd, "", crd_name))
      return;
    const auto left = k8s.kubectl({"get", pguser, "-A", "-o", "json"});
    const auto items = left.ok() ? json::parse(left.out).value("items", json::array())
                                 : json::array();
    for (const auto& item : items)
      (void)k8s.kubectl({"patch", pguser, "-n",
                         item.value("/metadata/namespace"_json_pointer, std::string()),
                         item.value("/metadata/name"_json_pointer, std::string()), "--type=merge",
                         "-p", R"({"metadata":{"finalizers":null}})"});
    (void)wait_until([&] { return !k8s.get(crd, "", crd_name); }, seconds(60));
  }
  bool install() const {
    if (auto c = k8s.get(crd, "", crd_name); c && c->contains("/metadata/deletionTimestamp"_json_pointer))
      finish_deletion();
    if (!k8s.kubectl({"apply", "--server-side", "--force-conflicts", "--field-manager=dbuser-dev",
                      "-k", std::string(DBUSER_SOURCE_DIR) + "/deploy/crd"})
           .ok())
      return false;
    return k8s.kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                        std::string(crd) + "/" + crd_name})
      .ok();
  }
  ~reinstall_crds() { (void)install(); }
};

} // namespace

TEST_CASE("deleting the PostgresUser CRD drops no role, and a reinstall adopts roles and Secrets "
          "with the same passwords") {
  // The operator watches every namespace: the CRD goes only when every PostgresUser of the API
  // server has been let go, including what earlier tests left behind in other namespaces (they
  // are released like the test's own: no SQL).
  e2e_options no_operator;
  no_operator.start_operator = false;
  e2e_env env(no_operator);
  reinstall_crds guard{env.k8s};
  operator_options o;
  o.kubeconfig = env.k8s.kubeconfig();
  o.resync_period = "5s";
  env.op = std::make_unique<operator_process>(o);
  env.op->start();
  struct user {
    std::string name, username, database, secret;
    std::string verifier, password;
  };
  std::vector<user> users;
  for (int i = 0; i < 3; ++i) {
    user u{env.object_name("kept" + std::to_string(i)), env.role_name("kept" + std::to_string(i)),
           env.database_name("kept_db"), env.object_name("kept-creds" + std::to_string(i)), "",
           ""};
    env.apply(env.user_manifest(u.name, u.username, u.database, u.secret)); // policy Delete
    users.push_back(u);
  }
  for (auto& u : users) {
    REQUIRE_READY(env, u.name, seconds(30));
    u.verifier = env.pg.role(u.username)->verifier;
    u.password = env.secret(u.secret)->at("password");
  }

  // The uninstall's cascade: the CRD goes, and every PostgresUser with it.
  REQUIRE(env.k8s.kubectl({"delete", crd, crd_name, "--wait=false"}).ok());
  CHECK(wait_until([&] { return !env.k8s.get(crd, "", crd_name); }, seconds(60)));
  for (const auto& u : users) {
    INFO(u.username);
    auto role = env.pg.role(u.username);
    REQUIRE(role);
    CHECK(role->can_login);
    CHECK(role->verifier == u.verifier);
    auto secret = env.k8s.get("secret", env.ns, u.secret);
    REQUIRE(secret);
    CHECK(secret->value("/metadata/ownerReferences"_json_pointer, json::array()).empty());
    CHECK(secret->value("/metadata/annotations/database.example.com~1released-by"_json_pointer,
                        std::string())
          == env.ns + "/" + u.name);
    CHECK(env.login_with_secret(u.secret).empty());
  }
  CHECK(env.op->log().find("is being deleted (an uninstall)") != std::string::npos);
  CHECK(env.op->log().find("finalized") != std::string::npos);

  // Reinstall, apply the same users: adopted, the same passwords, the Secrets owned again.
  REQUIRE(guard.install());
  for (const auto& u : users)
    CHECK(wait_until([&] { return env.try_apply(env.user_manifest(u.name, u.username, u.database,
                                                                  u.secret))
                                    .ok(); },
                     seconds(30)));
  for (const auto& u : users) {
    INFO(u.username);
    REQUIRE_READY(env, u.name, seconds(60));
    CHECK(env.pg.role(u.username)->verifier == u.verifier);
    auto secret = env.k8s.get("secret", env.ns, u.secret);
    REQUIRE(secret);
    CHECK(secret->value("/data/password"_json_pointer, std::string()) != "");
    CHECK(env.secret(u.secret)->at("password") == u.password);
    CHECK(secret->value("/metadata/ownerReferences/0/uid"_json_pointer, std::string())
          == env.user(u.name)->value("/metadata/uid"_json_pointer, std::string()));
    CHECK_FALSE(
      secret->contains("/metadata/annotations/database.example.com~1released-by"_json_pointer));
  }
  CHECK_NO_SECRETS_IN_LOG(env);
}
