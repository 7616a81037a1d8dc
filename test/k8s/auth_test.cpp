#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "k8s/client.hpp"
#include "test/k8s/k8s_test_support.hpp"

using namespace dbuser::k8s;
using namespace dbuser::k8s::test;
using dbuser::expected;

namespace {

// A ServiceAccount allowed only to get/list/create ConfigMaps in its namespace, and a token for it
// from the TokenRequest API.
struct service_account {
  std::string ns, name, token;
};

service_account make_service_account(const std::shared_ptr<client>& admin) {
  service_account sa{fresh_namespace(admin, "auth"), "limited", ""};
  REQUIRE(sync([&](auto cb) {
    admin->create(resource::service_accounts(), sa.ns,
                  json{{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", sa.name}}}}, cb);
  }));
  json role{{"apiVersion", "rbac.authorization.k8s.io/v1"},
            {"kind", "Role"},
            {"metadata", {{"name", "configmaps-only"}}},
            {"rules", json::array({{{"apiGroups", {""}}, {"resources", {"configmaps"}}, {"verbs", {"get", "list", "create"}}}})}};
  REQUIRE(sync([&](auto cb) { admin->create(resource::roles(), sa.ns, role, cb); }));
  json binding{{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "RoleBinding"},
               {"metadata", {{"name", "configmaps-only"}}},
               {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "configmaps-only"}}},
               {"subjects", json::array({{{"kind", "ServiceAccount"}, {"name", sa.name}, {"namespace", sa.ns}}})}};
  REQUIRE(sync([&](auto cb) { admin->create(resource::role_bindings(), sa.ns, binding, cb); }));
  http_request req{"POST", object_path({resource::service_accounts(), sa.ns, sa.name, "token"}),
                   json{{"apiVersion", "authentication.k8s.io/v1"},
                        {"kind", "TokenRequest"},
                        {"spec", {{"expirationSeconds", 3600}}}}
                       .dump(),
                   "application/json", "create"};
  auto tr = sync([&](auto cb) { admin->raw(req, cb); });
  REQUIRE(tr);
  sa.token = (*tr)["status"]["token"].get<std::string>();
  REQUIRE_FALSE(sa.token.empty());
  return sa;
}

config token_config(const std::string& token) {
  config cfg;
  cfg.server = dbuser::test::dev_env::get().at("DBUSER_APISERVER_URL");
  cfg.ca_file = dbuser::test::dev_env::get().at("DBUSER_CA_FILE");
  cfg.token = token;
  return cfg;
}

std::string temp_dir() {
  std::string tmpl = "/tmp/k8s-auth-test-XXXXXX";
  return mkdtemp(tmpl.data());
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Checks what the limited account may and may not do through `c`.
void check_limited_rights(const std::shared_ptr<client>& c, const std::string& ns) {
  auto created = sync([&](auto cb) { c->create(resource::config_maps(), ns, config_map(dbuser::test::unique_name("by-sa")), cb); });
  REQUIRE(created);
  CHECK(sync([&](auto cb) { c->list(resource::config_maps(), ns, {}, cb); }));
  auto secrets = sync([&](auto cb) { c->list(resource::secrets(), ns, {}, cb); });
  REQUIRE_FALSE(secrets);
  CHECK(secrets.error().code == error::kind::forbidden);
  CHECK_FALSE(secrets.error().retryable());
  auto del = sync([&](auto cb) { c->remove({resource::config_maps(), ns, name_of(*created), ""}, {}, cb); });
  REQUIRE_FALSE(del);
  CHECK(del.error().code == error::kind::forbidden);
  auto elsewhere = sync([&](auto cb) { c->list(resource::config_maps(), "default", {}, cb); });
  REQUIRE_FALSE(elsewhere);
  CHECK(elsewhere.error().code == error::kind::forbidden);
}

} // namespace

TEST_CASE("the kubeconfig's client certificate authenticates as an administrator") {
  auto c = admin_client();
  CHECK_FALSE(c->cfg().client_cert_file.empty());
  auto r = sync([&](auto cb) { c->list(resource::namespaces(), "", {}, cb); });
  REQUIRE(r);
  CHECK_FALSE((*r)["items"].empty());
}

TEST_CASE("client certificate and key given inline as data authenticate too") {
  auto cfg = load_kubeconfig(dbuser::test::dev_env::get().kubeconfig());
  REQUIRE(cfg);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  cfg->ca_data = slurp(cfg->ca_file);
  cfg->client_cert_data = slurp(cfg->client_cert_file);
  cfg->client_key_data = slurp(cfg->client_key_file);
  cfg->ca_file = cfg->client_cert_file = cfg->client_key_file = "";
  auto c = client::make(*cfg);
  REQUIRE(c);
  CHECK(sync([&](auto cb) { (*c)->list(resource::namespaces(), "", {}, cb); }));
}

TEST_CASE("a ServiceAccount token from TokenRequest authenticates with exactly its Role's rights") {
  auto admin = admin_client();
  auto sa = make_service_account(admin);
  auto c = client::make(token_config(sa.token));
  REQUIRE(c);
  check_limited_rights(*c, sa.ns);
}

TEST_CASE("a bad bearer token is Unauthorized") {
  auto c = client::make(token_config("not-a-token"));
  REQUIRE(c);
  auto r = sync([&](auto cb) { (*c)->list(resource::config_maps(), "default", {}, cb); });
  REQUIRE_FALSE(r);
  CHECK(r.error().code == error::kind::unauthorized);
}

TEST_CASE("in cluster, the service env vars and the mounted token, CA and namespace authenticate") {
  auto admin = admin_client();
  auto sa = make_service_account(admin);
  const auto dir = temp_dir();
  write(dir + "/token", "stale-token-before-rotation");
  write(dir + "/namespace", sa.ns);
  std::ifstream ca(dbuser::test::dev_env::get().at("DBUSER_CA_FILE"));
  std::stringstream ca_text;
  ca_text << ca.rdbuf();
  write(dir + "/ca.crt", ca_text.str());
  const std::string url = dbuser::test::dev_env::get().at("DBUSER_APISERVER_URL"); // https://127.0.0.1:PORT
  const auto colon = url.rfind(':');
  setenv("KUBERNETES_SERVICE_HOST", url.substr(8, colon - 8).c_str(), 1);
  setenv("KUBERNETES_SERVICE_PORT", url.substr(colon + 1).c_str(), 1);
  auto cfg = load_in_cluster(dir);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  REQUIRE(cfg);
  CHECK(cfg->namespace_ == sa.ns);
  auto c = client::make(*cfg);
  REQUIRE(c);
  // The projected token rotates: the client reads the file again when it changes.
  auto before = sync([&](auto cb) { (*c)->list(resource::config_maps(), sa.ns, {}, cb); });
  REQUIRE_FALSE(before);
  CHECK(before.error().code == error::kind::unauthorized);
  std::this_thread::sleep_for(std::chrono::milliseconds(20)); // a distinct modification time
  write(dir + "/token", sa.token + "\n");
  check_limited_rights(*c, cfg->namespace_);
}

TEST_CASE("a server certificate from an unknown CA fails as a TLS error that is not retried") {
  const auto dir = temp_dir();
  auto gen = dbuser::test::run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other-ca -keyout "
                                       + dir + "/k.pem -out " + dir + "/ca.pem 2>/dev/null");
  REQUIRE(gen.status == 0);
  config cfg = token_config("irrelevant");
  cfg.ca_file = dir + "/ca.pem";
  auto c = client::make(cfg);
  REQUIRE(c);
  auto r = sync([&](auto cb) { (*c)->list(resource::config_maps(), "default", {}, cb); });
  REQUIRE_FALSE(r);
  INFO(r.error().to_string());
  CHECK(r.error().code == error::kind::tls);
  CHECK(r.error().message.find("certificate verify failed") != std::string::npos);
  CHECK_FALSE(r.error().retryable());
}

TEST_CASE("insecure-skip-tls-verify connects without the CA") {
  auto admin = admin_client();
  config cfg = admin->cfg();
  cfg.ca_file.clear();
  cfg.insecure_skip_tls_verify = true;
  auto c = client::make(cfg);
  REQUIRE(c);
  CHECK(sync([&](auto cb) { (*c)->list(resource::namespaces(), "", {}, cb); }));
}

TEST_CASE("a configuration naming a missing file is refused up front") {
  config cfg = token_config("t");
  cfg.ca_file = "/nonexistent/ca.crt";
  auto c = client::make(cfg);
  REQUIRE_FALSE(c);
  CHECK(c.error().code == error::kind::config);
}
