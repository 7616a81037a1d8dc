#include "k8s/config.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <thread>

#include <catch2/catch.hpp>

#include "test/support/wait.hpp"

using namespace dbuser::k8s;

namespace {

std::string temp_dir() {
  std::string tmpl = "/tmp/k8s-config-test-XXXXXX";
  return mkdtemp(tmpl.data());
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const char* kubeconfig_text = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: pki/ca.crt
- name: c2
  cluster:
    server: https://10.0.0.1
    certificate-authority-data: aGVsbG8gY2E=
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context: {cluster: c1, user: admin, namespace: team-a}
- name: other
  context: {cluster: c2, user: robot}
users:
- name: admin
  user:
    client-certificate: /abs/admin.crt
    client-key: pki/admin.key
- name: robot
  user:
    token: abc.def
    client-key-data: a2V5IGJ5dGVz
    tokenFile: tok
)";

} // namespace

TEST_CASE("a kubeconfig's current context gives server, files relative to it and the namespace") {
  auto cfg = parse_kubeconfig(kubeconfig_text, "/home/x/.kube");
  REQUIRE(cfg);
  CHECK(cfg->server == "https://127.0.0.1:6443");
  CHECK(cfg->ca_file == "/home/x/.kube/pki/ca.crt");
  CHECK(cfg->client_cert_file == "/abs/admin.crt");
  CHECK(cfg->client_key_file == "/home/x/.kube/pki/admin.key");
  CHECK(cfg->namespace_ == "team-a");
  CHECK_FALSE(cfg->insecure_skip_tls_verify);
  CHECK(cfg->token.empty());
}

TEST_CASE("a named context selects its cluster and user, with inline data decoded") {
  auto cfg = parse_kubeconfig(kubeconfig_text, "/k", "other");
  REQUIRE(cfg);
  CHECK(cfg->server == "https://10.0.0.1");
  CHECK(cfg->ca_data == "hello ca");
  CHECK(cfg->client_key_data == "key bytes");
  CHECK(cfg->token == "abc.def");
  CHECK(cfg->token_file == "/k/tok");
  CHECK(cfg->insecure_skip_tls_verify);
  CHECK(cfg->namespace_ == "default");
}

TEST_CASE("an unknown context or broken YAML is a config error, not an exception") {
  auto missing = parse_kubeconfig(kubeconfig_text, "/k", "nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == error::kind::config);
  auto broken = parse_kubeconfig("clusters: [", "/k");
  REQUIRE_FALSE(broken);
  CHECK(broken.error().code == error::kind::config);
}

TEST_CASE("load_kubeconfig follows $KUBECONFIG to the first existing file") {
  auto dir = temp_dir();
  write(dir + "/config", kubeconfig_text);
  const char* old = std::getenv("KUBECONFIG");
  std::string saved = old != nullptr ? old : "";
  setenv("KUBECONFIG", (dir + "/missing:" + dir + "/config").c_str(), 1);
  auto cfg = load_kubeconfig();
  if (old != nullptr)
    setenv("KUBECONFIG", saved.c_str(), 1);
  else
    unsetenv("KUBECONFIG");
  REQUIRE(cfg);
  CHECK(cfg->ca_file == dir + "/pki/ca.crt");
}

TEST_CASE("in cluster, the service host and port and the mounted files make the config") {
  auto dir = temp_dir();
  write(dir + "/token", "tok-1\n");
  write(dir + "/ca.crt", "PEM");
  write(dir + "/namespace", "operators\n");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto cfg = load_in_cluster(dir);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  REQUIRE(cfg);
  CHECK(cfg->server == "https://10.96.0.1:443");
  CHECK(cfg->token_file == dir + "/token");
  CHECK(cfg->ca_file == dir + "/ca.crt");
  CHECK(cfg->namespace_ == "operators");
  auto outside = load_in_cluster(dir);
  REQUIRE_FALSE(outside);
  CHECK(outside.error().code == error::kind::config);
}

TEST_CASE("a token file is re-read when it changes") {
  auto dir = temp_dir();
  write(dir + "/token", "first\n");
  token_source src("", dir + "/token");
  CHECK(src.get() == "first");
  std::this_thread::sleep_for(std::chrono::milliseconds(20)); // a distinct mtime
  write(dir + "/token", "second-token\n");
  CHECK(src.get() == "second-token");
  token_source literal("lit", "");
  CHECK(literal.get() == "lit");
  CHECK(token_source("", "").empty());
}

TEST_CASE("base64 decoding accepts padding and the URL alphabet") {
  CHECK(base64_decode("aGVsbG8=") == "hello");
  CHECK(base64_decode("aGVsbG8") == "hello");
  CHECK(base64_decode("-_8=") == base64_decode("+/8="));
}

TEST_CASE("with the default trust file set aside, a system root is still found through the "
          "hashed directory") {
  const char* was = std::getenv(X509_get_default_cert_file_env());
  const std::string saved = was != nullptr ? was : "";
  unsetenv(X509_get_default_cert_file_env());
  const bool lazy = prefer_lazy_system_trust();
  // A root of the system store, by its hash name (the directory prefer_lazy_system_trust checked).
  std::string root;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(X509_get_default_cert_dir(), ec), end;
       !ec && it != end && root.empty(); it.increment(ec))
    if (it->path().filename().string().size() == 10)
      root = it->path().string();
  if (!lazy || root.empty()) {
    // No hashed directory here: nothing was changed.
    CHECK(std::getenv(X509_get_default_cert_file_env()) == nullptr);
  } else {
    CHECK(std::string(std::getenv(X509_get_default_cert_file_env())) == "/dev/null");
    CHECK_FALSE(prefer_lazy_system_trust()); // set already: left alone
    FILE* f = std::fopen(root.c_str(), "r");
    REQUIRE(f != nullptr);
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    REQUIRE(cert != nullptr);
    X509_STORE* store = X509_STORE_new();
    REQUIRE(X509_STORE_set_default_paths(store) == 1);
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    REQUIRE(X509_STORE_CTX_init(ctx, store, cert, nullptr) == 1);
    CHECK(X509_verify_cert(ctx) == 1); // the root found in the directory, not the bundle
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(cert);
  }
  if (saved.empty())
    unsetenv(X509_get_default_cert_file_env());
  else
    setenv(X509_get_default_cert_file_env(), saved.c_str(), 1);
}
