// The operator out of cluster as its own ServiceAccount: a token from the TokenRequest API and
// exactly the rules of deploy/rbac/cluster_role.yaml. Removing one rule it needs shows up as a
// specific, readable Forbidden error.
#include "test/e2e/support/prelude.hpp"
#include "test/support/dev_env.hpp"

#include <fstream>

namespace {

// The ClusterRole of deploy/rbac as JSON (kubectl reads the YAML), renamed for this test.
json cluster_role_from_deploy(const kube& k8s, const std::string& name) {
  auto out = k8s.must({"create", "--dry-run=client", "-o", "json", "-f",
                       std::string(DBUSER_SOURCE_DIR) + "/deploy/rbac/cluster_role.yaml"});
  auto role = json::parse(out);
  role["metadata"]["name"] = name;
  return role;
}

// A ServiceAccount in `ns` bound to `role`, and a kubeconfig that authenticates as it with a
// token from the TokenRequest API. Returns the kubeconfig's path.
std::string service_account_kubeconfig(e2e_env& env, const json& role) {
  const std::string sa = role["metadata"]["name"];
  env.k8s.must({"create", "serviceaccount", sa, "-n", env.ns});
  REQUIRE(env.k8s.apply(role).ok());
  env.k8s.must({"create", "clusterrolebinding", sa, "--clusterrole", sa,
                "--serviceaccount", env.ns + ":" + sa});
  const auto token = env.k8s.must({"create", "token", sa, "-n", env.ns, "--duration", "1h"});
  const auto& dev = dbuser::test::dev_env::get();
  const std::string path = dev.dir() + "/" + sa + ".kubeconfig";
  std::ofstream(path) << "apiVersion: v1\nkind: Config\n"
                      << "clusters:\n- name: dev\n  cluster:\n    server: "
                      << dev.at("DBUSER_APISERVER_URL")
                      << "\n    certificate-authority: " << dev.at("DBUSER_CA_FILE")
                      << "\nusers:\n- name: sa\n  user:\n    token: "
                      << token.substr(0, token.find_last_not_of("\n") + 1)
                      << "\ncontexts:\n- name: sa\n  context: {cluster: dev, user: sa}\n"
                      << "current-context: sa\n";
  return path;
}

void start_operator_as(e2e_env& env, const std::string& kubeconfig) {
  operator_options o;
  o.kubeconfig = kubeconfig;
  o.ns = env.ns;
  o.resync_period = "2s";
  env.op = std::make_unique<operator_process>(o);
  env.op->start();
}

void remove_cluster_objects(e2e_env& env, const std::string& name) {
  (void)env.k8s.kubectl({"delete", "clusterrolebinding", name, "--ignore-not-found"});
  (void)env.k8s.kubectl({"delete", "clusterrole", name, "--ignore-not-found"});
}

} // namespace

TEST_CASE("the quick start works with the operator authenticated as its ServiceAccount with "
          "exactly the RBAC of deploy/") {
  e2e_env env(e2e_options{true, false, false, "2s", {}});
  const auto name = env.object_name("rbac-op");
  auto kubeconfig = service_account_kubeconfig(env, cluster_role_from_deploy(env.k8s, name));
  start_operator_as(env, kubeconfig);

  const auto user = env.object_name("rbac-user");
  const auto secret = env.object_name("rbac-creds");
  env.apply(env.user_manifest(user, env.role_name("rbac"), env.database_name("rbac_db"), secret));
  REQUIRE_READY(env, user, seconds(30));
  CHECK(env.login_with_secret(secret).empty());
  CHECK(env.op->log_lines_with({"Forbidden"}).empty());
  // Deletion works with the same rules (finalizer removal, Secret deletion).
  env.k8s.remove(pguser, env.ns, user);
  CHECK(env.wait_gone(pguser, user, seconds(30)));
  CHECK(env.wait_gone("secret", secret, seconds(10)));
  CHECK_NO_SECRETS_IN_LOG(env);
  env.op->stop();
  remove_cluster_objects(env, name);
}

TEST_CASE("without the rule for postgresusers/status the operator reports a readable Forbidden "
          "error") {
  e2e_env env(e2e_options{true, false, false, "2s", {}});
  const auto name = env.object_name("rbac-nostatus");
  auto role = cluster_role_from_deploy(env.k8s, name);
  json rules = json::array();
  for (const auto& r : role["rules"]) {
    const auto resources = r.value("resources", json::array());
    if (std::find(resources.begin(), resources.end(), "postgresusers/status") == resources.end())
      rules.push_back(r);
  }
  REQUIRE(rules.size() + 1 == role["rules"].size());
  role["rules"] = rules;
  start_operator_as(env, service_account_kubeconfig(env, role));

  const auto user = env.object_name("rbac-user");
  env.apply(env.user_manifest(user, env.role_name("rbacns"), env.database_name("rbacns_db"),
                              env.object_name("rbac-creds")));
  // The role and Secret are made, but the status cannot be written: the log says why.
  INFO(env.describe(user));
  REQUIRE(env.op->wait_for_log({user, "Forbidden", "postgresusers/status"}, seconds(30)));
  CHECK(env.ready(user).status != "True");
  env.op->stop();
  remove_cluster_objects(env, name);
}
