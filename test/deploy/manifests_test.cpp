// The manifests of deploy/ against the real kube-apiserver: they render, the server accepts them,
// and the CRD's schema refuses bad PostgresUsers at `kubectl apply` with a readable message.
#include "test/support/dev_env.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>
#include <fstream>

using dbuser::test::dev_env;
using dbuser::test::run_command;

namespace {

std::string kubectl(const std::string& args) {
  return "KUBECONFIG='" + dev_env::get().kubeconfig() + "' kubectl " + args;
}

// Applies a PostgresUser built from the quick start with `spec_lines` replacing its spec fields;
// returns kubectl's exit status and output (stderr included).
dbuser::test::command_result apply_user(const std::string& name, const std::string& spec) {
  const std::string path = "/tmp/" + name + ".yaml";
  std::ofstream(path) << "apiVersion: database.example.com/v1alpha1\n"
                         "kind: PostgresUser\n"
                         "metadata: {name: " << name << ", namespace: default}\n"
                         "spec:\n" << spec;
  return run_command(kubectl("apply -f " + path + " 2>&1"));
}

std::string spec_with(const std::string& username_line, const std::string& extra = "") {
  return username_line
         + "  database: myapp_db\n"
           "  host: 127.0.0.1\n"
           "  adminSecretRef: {name: postgres-admin}\n"
           "  secretName: creds-x\n"
         + (extra.empty() ? "  privileges: [SELECT]\n" : extra);
}

void require_refused(const std::string& spec, const std::string& expected_text) {
  auto name = dbuser::test::unique_name("bad");
  auto r = apply_user(name, spec);
  INFO(r.out);
  CHECK(r.status != 0);
  CHECK(r.out.find("is invalid") != std::string::npos);
  CHECK(r.out.find(expected_text) != std::string::npos);
}

} // namespace

TEST_CASE("both install modes render with kustomize, and the CRDs only on their own") {
  auto crds = run_command(kubectl(std::string("kustomize ") + DBUSER_SOURCE_DIR + "/deploy/crd"));
  REQUIRE(crds.status == 0);
  CHECK(crds.out.find("name: postgresusers.database.example.com") != std::string::npos);
  CHECK(crds.out.find("kind: Deployment") == std::string::npos);
  for (const char* overlay : {"deploy/default", "deploy/namespaced", "deploy/multi-tenant"}) {
    auto r = run_command(kubectl(std::string("kustomize ") + DBUSER_SOURCE_DIR + "/" + overlay));
    INFO(overlay);
    REQUIRE(r.status == 0);
    // Deleting an overlay (an uninstall) must never delete the CRDs, and with them every user.
    CHECK(r.out.find("kind: CustomResourceDefinition") == std::string::npos);
    CHECK(r.out.find("kind: Deployment") != std::string::npos);
    CHECK(r.out.find("kind: ServiceAccount") != std::string::npos);
  }
  auto ns = run_command(kubectl(std::string("kustomize ") + DBUSER_SOURCE_DIR + "/deploy/namespaced"));
  CHECK(ns.out.find("--namespace=dbuser-system") != std::string::npos);
  // Cluster-wide, it only reads the target policies and its own Namespace.
  const auto cluster_role = ns.out.find("\nkind: ClusterRole\n");
  REQUIRE(cluster_role != std::string::npos);
  CHECK(ns.out.find("\nkind: ClusterRole\n", cluster_role + 1) == std::string::npos);
  CHECK(ns.out.find("name: dbuser-operator-target-policies") != std::string::npos);
  CHECK(ns.out.find("resourceNames:\n  - dbuser-system") != std::string::npos);
  auto mt = run_command(kubectl(std::string("kustomize ") + DBUSER_SOURCE_DIR
                                + "/deploy/multi-tenant"));
  CHECK(mt.out.find("kind: DatabaseTargetPolicy") != std::string::npos);
  CHECK(mt.out.find("rules: []") != std::string::npos);
}

TEST_CASE("the real API server accepts both install modes (server-side dry run)") {
  REQUIRE(run_command(kubectl("create namespace dbuser-system --dry-run=client -o yaml | "
                              + kubectl("apply -f - >/dev/null")))
            .status
          == 0);
  for (const char* overlay : {"deploy/default", "deploy/namespaced", "deploy/multi-tenant"}) {
    auto r = run_command(kubectl(std::string("apply --dry-run=server -k ") + DBUSER_SOURCE_DIR
                                 + "/" + overlay + " 2>&1"));
    INFO(r.out);
    CHECK(r.status == 0);
    // created, or configured/unchanged when an install is there (test/cluster leaves one).
    bool accepted = false;
    for (const char* verb : {"created", "configured", "unchanged"})
      accepted = accepted
                 || r.out.find(std::string("deployment.apps/dbuser-operator ") + verb
                               + " (server dry run)")
                        != std::string::npos;
    CHECK(accepted);
  }
}

TEST_CASE("every sample is accepted by the CRD schema") {
  // A fresh namespace: the samples' names may exist in `default` already.
  const auto ns = dbuser::test::unique_name("samples");
  REQUIRE(run_command(kubectl("create namespace " + ns + " >/dev/null")).status == 0);
  for (const char* sample :
       {"quickstart", "member-of", "grants", "rotation", "retain", "tls", "mysql-user",
        "app-credentials", "target-policy", "alternating"}) {
    auto r = run_command(kubectl("create --dry-run=server -n " + ns + " -f ")
                                 + DBUSER_SOURCE_DIR + "/deploy/samples/" + sample + ".yaml 2>&1");
    INFO(sample << ": " << r.out);
    CHECK(r.status == 0);
  }
  run_command(kubectl("delete namespace " + ns + " --wait=false >/dev/null"));
}

TEST_CASE("kubectl apply refuses a PostgresUser without a username") {
  require_refused(spec_with(""), "spec.username: Required value");
}

TEST_CASE("kubectl apply refuses reserved and malformed usernames") {
  require_refused(spec_with("  username: pg_x\n"), "reserved by PostgreSQL");
  require_refused(spec_with("  username: postgres\n"), "postgres and public are reserved");
  require_refused(spec_with("  username: 'a\"b'\n"), "spec.username in body should match");
  require_refused(spec_with("  username: " + std::string(64, 'a') + "\n"),
                  "may not be more than 63");
}

TEST_CASE("kubectl apply refuses unknown privileges and SQL in privileges") {
  require_refused(spec_with("  username: okname\n", "  privileges: [SELECT, CREATE]\n"),
                  "Unsupported value: \"CREATE\"");
  require_refused(spec_with("  username: okname\n",
                            "  privileges: [\"SELECT ON ALL TABLES IN SCHEMA public TO x; --\"]\n"),
                  "Unsupported value");
}

TEST_CASE("kubectl apply refuses an Alternating overlap out of bounds, a username too long for "
          "its login roles, and Alternating on a MySQLUser") {
  const std::string privileges = "  privileges: [SELECT]\n";
  require_refused(spec_with("  username: okname\n",
                            privileges + "  passwordRotation: {strategy: Alternating, overlap: 30s}\n"),
                  "overlap must be at least 1m");
  require_refused(spec_with("  username: okname\n",
                            privileges
                              + "  passwordRotation: {interval: 1h, overlap: 2h}\n"),
                  "overlap must not be longer than interval");
  require_refused(spec_with("  username: okname\n",
                            privileges + "  passwordRotation: {strategy: Sometimes}\n"),
                  "Unsupported value: \"Sometimes\"");
  require_refused(spec_with("  username: " + std::string(62, 'a') + "\n",
                            privileges + "  passwordRotation: {strategy: Alternating}\n"),
                  "username is at most 61 characters");
  const std::string path = "/tmp/" + dbuser::test::unique_name("myalt") + ".yaml";
  std::ofstream(path) << "apiVersion: database.example.com/v1alpha1\n"
                         "kind: MySQLUser\n"
                         "metadata: {name: my-alt, namespace: default}\n"
                         "spec:\n"
                         "  username: my_alt\n  database: myapp_db\n  host: 127.0.0.1\n"
                         "  adminSecretRef: {name: mysql-admin}\n  secretName: my-alt\n"
                         "  passwordRotation: {strategy: Alternating}\n";
  auto r = run_command(kubectl("create --dry-run=server -f " + path + " 2>&1"));
  INFO(r.out);
  CHECK(r.status != 0);
  CHECK(r.out.find("MySQLUser supports only strategy InPlace") != std::string::npos);
}

TEST_CASE("kubectl apply refuses a secretName with uppercase letters") {
  auto spec = std::string("  username: okname\n  database: myapp_db\n  host: 127.0.0.1\n"
                          "  adminSecretRef: {name: postgres-admin}\n  secretName: My-Creds\n");
  require_refused(spec, "spec.secretName in body should match");
}

TEST_CASE("kubectl apply refuses a change of username on an existing resource") {
  auto name = dbuser::test::unique_name("immutable");
  // Created with an adminSecretRef that does not exist, so no operator would act on it.
  auto created = apply_user(name, spec_with("  username: first_name\n"));
  REQUIRE(created.status == 0);
  auto changed = apply_user(name, spec_with("  username: second_name\n"));
  INFO(changed.out);
  CHECK(changed.status != 0);
  CHECK(changed.out.find("username is immutable") != std::string::npos);
  run_command(kubectl("patch pguser " + name
                      + " --type=json -p '[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]'"
                        " >/dev/null 2>&1"));
  CHECK(run_command(kubectl("delete pguser " + name + " --wait=false >/dev/null 2>&1")).status == 0);
}
